package hostfacts

// This file only reads Windows; every decision is in the OS-neutral files,
// which are tested on Linux. It is compile-checked (GOOS=windows go vet,
// go test -c) but was not run on a Windows machine.

import (
	"errors"
	"fmt"
	"io/fs"
	"strconv"
	"time"

	gw "github.com/elastic/go-windows"
	"golang.org/x/sys/windows"
	"golang.org/x/sys/windows/registry"
)

// collectStatic reads the version from RtlGetVersion, which, unlike
// GetVersion (go-windows' GetWindowsVersion), is not capped at 6.2 for
// executables without a compatibility manifest. The product name, feature
// release and update revision come from the registry; ProductName still
// says "Windows 10" on Windows 11, which windowsProductName corrects.
func collectStatic() (static, error) {
	var s static
	var errs []error
	v := windows.RtlGetVersion()
	s.Version = fmt.Sprintf("%d.%d", v.MajorVersion, v.MinorVersion)
	build := uint64(v.BuildNumber)
	product := ""
	k, err := registry.OpenKey(registry.LOCAL_MACHINE, `SOFTWARE\Microsoft\Windows NT\CurrentVersion`, registry.QUERY_VALUE|registry.WOW64_64KEY)
	if err != nil {
		errs = append(errs, fmt.Errorf("open registry key CurrentVersion: %w", err))
	} else {
		defer k.Close()
		if product, _, err = k.GetStringValue("ProductName"); err != nil {
			errs = append(errs, fmt.Errorf("registry ProductName: %w", err))
		}
		// DisplayVersion exists from 20H2 on; ReleaseId before ("1809").
		if s.DisplayVersion, _, err = k.GetStringValue("DisplayVersion"); err != nil {
			s.DisplayVersion, _, _ = k.GetStringValue("ReleaseId")
		}
		if build == 0 {
			if cb, _, err := k.GetStringValue("CurrentBuild"); err == nil {
				build, _ = strconv.ParseUint(cb, 10, 32)
			}
		}
		if ubr, _, err := k.GetIntegerValue("UBR"); err == nil {
			s.Revision = strconv.FormatUint(ubr, 10)
		}
	}
	if build != 0 {
		s.Build = strconv.FormatUint(build, 10)
	}
	s.OS = windowsProductName(product, build)
	if s.OS == "" {
		s.OS = "Windows"
	}
	if si, err := gw.GetNativeSystemInfo(); err == nil {
		s.Arch = si.ProcessorArchitecture.String()
	}
	return s, errors.Join(errs...)
}

func collectDynamic() (dynamic, error) {
	var d dynamic
	var errs []error
	if ms, err := gw.GetTickCount64(); err != nil {
		errs = append(errs, fmt.Errorf("GetTickCount64: %w", err))
	} else {
		d.Uptime = time.Duration(ms) * time.Millisecond
	}
	if m, err := gw.GlobalMemoryStatusEx(); err != nil {
		errs = append(errs, err)
	} else {
		d.MemTotal, d.MemAvailable = m.TotalPhys, m.AvailPhys
	}
	return d, errors.Join(errs...)
}

func queryPath(name string) (string, error) { return windowsQueryPath(name) }

// statVolume calls GetDiskFreeSpaceEx on path, a directory ending in a
// backslash ("C:\", `\\?\Volume{...}\`, a mount point). Free is what the
// caller may use (quotas apply); for the SYSTEM account that is all of it.
func statVolume(path string) (size, free uint64, err error) {
	p, err := windows.UTF16PtrFromString(path)
	if err != nil {
		return 0, 0, &fs.PathError{Op: "GetDiskFreeSpaceEx", Path: path, Err: err}
	}
	var avail, total, totalFree uint64
	if err := windows.GetDiskFreeSpaceEx(p, &avail, &total, &totalFree); err != nil {
		if errors.Is(err, windows.ERROR_INVALID_DRIVE) || errors.Is(err, windows.ERROR_INVALID_NAME) {
			return 0, 0, ErrNotFound // a letter no volume has, a GUID no volume has
		}
		return 0, 0, &fs.PathError{Op: "GetDiskFreeSpaceEx", Path: path, Err: err}
	}
	return total, avail, nil
}

// volumeRoot is path: a drive's root, a volume GUID path or a mount
// folder, each a volume of its own.
func volumeRoot(path string) string { return path }
