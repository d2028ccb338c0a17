//go:build !linux && !windows

package hostfacts

import (
	"errors"
	"fmt"
	"runtime"
)

// On other systems (macOS, the BSDs, ...) logmedic knows only the OS and
// architecture Go was built for; uptime, memory and volumes are not
// supported.

var errUnsupported = fmt.Errorf("host facts on %s: %w", runtime.GOOS, errors.ErrUnsupported)

func collectStatic() (static, error) {
	return static{OS: runtime.GOOS, Arch: runtime.GOARCH}, nil
}

func collectDynamic() (dynamic, error) { return dynamic{}, errUnsupported }

func queryPath(name string) (string, error) { return unixQueryPath(name) }

func statVolume(string) (size, free uint64, err error) { return 0, 0, errUnsupported }

func volumeRoot(path string) string { return path }
