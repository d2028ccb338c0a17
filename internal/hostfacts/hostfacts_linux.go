package hostfacts

import (
	"errors"
	"fmt"
	"io/fs"
	"math"
	"math/bits"
	"os"

	"golang.org/x/sys/unix"
)

// osReleaseFiles are where os-release(5) may be, in order.
var osReleaseFiles = []string{"/etc/os-release", "/usr/lib/os-release"}

func collectStatic() (static, error) {
	var s static
	var errs []error
	s.OS = "Linux"
	for _, name := range osReleaseFiles {
		b, err := os.ReadFile(name)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err == nil {
			var pretty string
			if pretty, err = parseOSRelease(string(b)); err == nil {
				s.OS = pretty
			}
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", name, err))
		}
		break
	}
	var u unix.Utsname
	if err := unix.Uname(&u); err != nil {
		errs = append(errs, fmt.Errorf("uname: %w", err))
	} else {
		s.Version = unix.ByteSliceToString(u.Release[:])
		s.Arch = unix.ByteSliceToString(u.Machine[:])
	}
	return s, errors.Join(errs...)
}

func collectDynamic() (dynamic, error) {
	var d dynamic
	var errs []error
	if b, err := os.ReadFile("/proc/uptime"); err != nil {
		errs = append(errs, err)
	} else if d.Uptime, err = parseUptime(string(b)); err != nil {
		errs = append(errs, err)
	}
	if b, err := os.ReadFile("/proc/meminfo"); err != nil {
		errs = append(errs, err)
	} else if d.MemTotal, d.MemAvailable, err = parseMeminfo(string(b)); err != nil {
		errs = append(errs, err)
	}
	return d, errors.Join(errs...)
}

func queryPath(name string) (string, error) { return unixQueryPath(name) }

// volumeRoot is the mount point holding path, from /proc/self/mountinfo
// (reading it touches no mounted file system), or path itself.
func volumeRoot(path string) string {
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return path
	}
	return mountPointOf(path, parseMountInfo(string(b)))
}

// statVolume returns the size and the space available to unprivileged
// users (f_bavail) of the file system holding path. Block counts are in
// units of f_frsize, which Linux sets (like df does, falling back to
// f_bsize).
func statVolume(path string) (size, free uint64, err error) {
	var st unix.Statfs_t
	if err := unix.Statfs(path, &st); err != nil {
		return 0, 0, &fs.PathError{Op: "statfs", Path: path, Err: err}
	}
	bs := uint64(st.Frsize)
	if st.Frsize <= 0 {
		bs = uint64(st.Bsize)
	}
	return mulSat(uint64(st.Blocks), bs), mulSat(uint64(st.Bavail), bs), nil
}

// mulSat returns a*b, or the largest uint64 when that overflows.
func mulSat(a, b uint64) uint64 {
	hi, lo := bits.Mul64(a, b)
	if hi != 0 {
		return math.MaxUint64
	}
	return lo
}
