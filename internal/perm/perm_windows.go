package perm

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"unsafe"

	"golang.org/x/sys/windows"
)

// sysInfo is a path's security descriptor, judged by acl.go.
type sysInfo = *descriptor

// trust is who may own and write what logmedic trusts; see sidTrust.
type trust = sidTrust

func newTrust(spec trustSpec) (trust, error) {
	if spec.strict {
		return trust{self: spec.service, limited: true}, nil
	}
	self, err := currentSID()
	if err != nil {
		return trust{}, err
	}
	return trust{self: self}, nil
}

func currentSID() (string, error) {
	u, err := windows.GetCurrentProcessToken().GetTokenUser()
	if err != nil {
		return "", fmt.Errorf("read the current account: %w", err)
	}
	return u.User.Sid.String(), nil
}

// judge judges a path's own descriptor: a link's too, which says who
// may delete or retarget the link; the walk judges its target apart.
func (t trust) judge(path string, n node, r role, write bool) (reason, fix string) {
	if n.sys == nil {
		return "", ""
	}
	return t.judgeDescriptor(object{path: path, dir: n.dir, link: n.link != "", role: r, write: write}, n.sys)
}

func inspect(path string) (node, error) {
	fi, err := os.Lstat(path)
	if err != nil {
		return node{}, err
	}
	n := node{dir: fi.IsDir()}
	// Symbolic links, and junctions (ModeIrregular since Go 1.23).
	if fi.Mode()&(fs.ModeSymlink|fs.ModeIrregular) != 0 {
		if dest, err := os.Readlink(path); err == nil {
			n.link = dest
			if fi, err := os.Stat(path); err == nil {
				n.dir = fi.IsDir()
			}
		}
	}
	d, err := readDescriptor(path)
	if err != nil {
		return node{}, err
	}
	n.sys = d
	return n, nil
}

// readDescriptor reads the owner and DACL of path itself: of a symbolic
// link or junction, not of what it leads to (GetNamedSecurityInfo would
// follow it), so that who may delete or retarget the link is judged.
func readDescriptor(path string) (*descriptor, error) {
	p, err := windows.UTF16PtrFromString(path)
	if err != nil {
		return nil, err
	}
	h, err := windows.CreateFile(p, windows.READ_CONTROL,
		windows.FILE_SHARE_READ|windows.FILE_SHARE_WRITE|windows.FILE_SHARE_DELETE, nil, windows.OPEN_EXISTING,
		windows.FILE_FLAG_OPEN_REPARSE_POINT|windows.FILE_FLAG_BACKUP_SEMANTICS, 0)
	if err != nil {
		return nil, &fs.PathError{Op: "open", Path: path, Err: err}
	}
	defer windows.CloseHandle(h)
	sd, err := windows.GetSecurityInfo(h, windows.SE_FILE_OBJECT, windows.OWNER_SECURITY_INFORMATION|windows.DACL_SECURITY_INFORMATION)
	if err != nil {
		return nil, fmt.Errorf("read security descriptor: %w", err)
	}
	defer runtime.KeepAlive(sd)
	d := &descriptor{}
	if sd == nil { // a file system without security (FAT)
		d.nullDACL = true
		return d, nil
	}
	owner, _, err := sd.Owner()
	if err != nil {
		return nil, fmt.Errorf("read owner: %w", err)
	}
	if owner != nil {
		d.owner = lookup(owner)
	}
	dacl, _, err := sd.DACL()
	switch {
	case errors.Is(err, windows.ERROR_OBJECT_NOT_FOUND), err == nil && dacl == nil:
		d.nullDACL = true
		return d, nil
	case err != nil:
		return nil, fmt.Errorf("read DACL: %w", err)
	}
	for i := range uint32(dacl.AceCount) {
		var a *windows.ACCESS_ALLOWED_ACE
		if err := windows.GetAce(dacl, i, &a); err != nil {
			return nil, fmt.Errorf("read ACE %d: %w", i, err)
		}
		e := ace{typ: a.Header.AceType, flags: a.Header.AceFlags, mask: uint32(a.Mask)}
		switch e.typ {
		case aceAllowed, aceDenied, aceAllowedCallback, aceDeniedCallback:
			// These types share ACCESS_ALLOWED_ACE's layout: the SID
			// starts at SidStart. Object ACEs (directory service
			// objects only) are kept without a SID and never count.
			e.who = lookup((*windows.SID)(unsafe.Pointer(&a.SidStart)))
		}
		d.aces = append(d.aces, e)
	}
	return d, nil
}

var names sync.Map // SID string -> name

// lookup names a SID for messages: `BUILTIN\Users`.
func lookup(sid *windows.SID) account {
	s := sid.String()
	if n, ok := names.Load(s); ok {
		return account{sid: s, name: n.(string)}
	}
	name := ""
	if acct, domain, _, err := sid.LookupAccount(""); err == nil {
		name = acct
		if domain != "" {
			name = domain + `\` + acct
		}
	}
	names.Store(s, name)
	return account{sid: s, name: name}
}

// MkdirPrivate creates the directory path and any missing parents with
// a protected DACL: full control for SYSTEM, Administrators and the
// account logmedic runs as, nothing inherited (so not the write access
// Users have in C:\ProgramData), nothing for anyone else.
func MkdirPrivate(path string) error {
	if fi, err := os.Stat(path); err == nil {
		if !fi.IsDir() {
			return &fs.PathError{Op: "mkdir", Path: path, Err: windows.ERROR_DIRECTORY}
		}
		return nil
	}
	if up := filepath.Dir(path); up != path {
		if err := MkdirPrivate(up); err != nil {
			return err
		}
	}
	sddl := "D:P(A;OICI;FA;;;SY)(A;OICI;FA;;;BA)"
	if self, err := currentSID(); err == nil && self != sidSystem && self != sidAdministrators {
		sddl += "(A;OICI;FA;;;" + self + ")"
	}
	sd, err := windows.SecurityDescriptorFromString(sddl)
	if err != nil {
		return &fs.PathError{Op: "mkdir", Path: path, Err: err}
	}
	sa := windows.SecurityAttributes{Length: uint32(unsafe.Sizeof(windows.SecurityAttributes{})), SecurityDescriptor: sd}
	p, err := windows.UTF16PtrFromString(path)
	if err != nil {
		return &fs.PathError{Op: "mkdir", Path: path, Err: err}
	}
	if err := windows.CreateDirectory(p, &sa); err != nil && err != windows.ERROR_ALREADY_EXISTS {
		return &fs.PathError{Op: "mkdir", Path: path, Err: err}
	}
	return nil
}
