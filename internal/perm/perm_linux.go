package perm

import (
	"errors"

	"golang.org/x/sys/unix"
)

// readACL reads path's POSIX access ACL, without following a final
// symbolic link. A file without one, or on a file system without ACLs,
// has none: nil, nil.
func readACL(path string) (posixACL, error) {
	const name = "system.posix_acl_access"
	for range 4 { // the ACL may grow between the two calls
		n, err := unix.Lgetxattr(path, name, nil)
		if err == nil && n > 0 {
			buf := make([]byte, n)
			n, err = unix.Lgetxattr(path, name, buf)
			if err == nil {
				return parsePOSIXACL(buf[:n])
			}
		}
		switch {
		case err == nil: // an empty value
			return nil, nil
		case errors.Is(err, unix.ENODATA), errors.Is(err, unix.ENOTSUP), errors.Is(err, unix.EOPNOTSUPP):
			return nil, nil
		case !errors.Is(err, unix.ERANGE):
			return nil, err
		}
	}
	return nil, errors.New("its POSIX ACL keeps changing")
}
