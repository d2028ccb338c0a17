package hostfacts

import (
	"os"
	"runtime"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/sys/windows"
)

// These read the Windows machine the tests run on (go test -v -run
// Windows ./internal/hostfacts/, no administrator needed), so they check
// the shape of the facts and what every Windows a Go 1.26 program runs
// on has in common.

func TestCollectOnWindows(t *testing.T) {
	f, err := Collect()
	t.Logf("Collect = %+v", f)
	if err != nil {
		t.Errorf("Collect: %v", err)
	}
	if !strings.HasPrefix(f.OS, "Windows") {
		t.Errorf("OS %q, want the product name, Windows ...", f.OS)
	}
	// Go runs on Windows 10, Server 2016 and later, all 10.0; GetVersion
	// would say 6.2 without a compatibility manifest.
	if f.Version != "10.0" {
		t.Errorf("Version %q, want 10.0 (RtlGetVersion)", f.Version)
	}
	build, err := strconv.ParseUint(f.Build, 10, 32)
	if err != nil || build < 10240 {
		t.Errorf("Build %q, want a number from 10240 (Windows 10's first) on", f.Build)
	}
	if v := windows.RtlGetVersion(); uint64(v.BuildNumber) != build {
		t.Errorf("Build %q, RtlGetVersion says %d", f.Build, v.BuildNumber)
	}
	if build >= 22000 && strings.HasPrefix(f.OS, "Windows 10") {
		t.Errorf("OS %q on build %d: Windows 11 is still called Windows 10 in the registry, and should be corrected", f.OS, build)
	}
	if f.Revision != "" {
		if _, err := strconv.ParseUint(f.Revision, 10, 32); err != nil {
			t.Errorf("Revision %q, want a number (UBR)", f.Revision)
		}
	}
	switch f.Arch {
	case "x86_64", "arm64":
		// The machine's, not the program's: an amd64 program on an
		// arm64 machine says arm64.
	default:
		t.Errorf("Arch %q, want x86_64 or arm64 (GOARCH %s)", f.Arch, runtime.GOARCH)
	}
	if h, _ := os.Hostname(); f.Hostname == "" || f.Hostname != h {
		t.Errorf("Hostname %q, os.Hostname %q", f.Hostname, h)
	}
	if f.MemTotal == 0 || f.MemAvailable == 0 || f.MemAvailable > f.MemTotal || f.Uptime <= 0 {
		t.Errorf("Collect = %+v: want memory and uptime", f)
	}
	g, _ := Collect()
	if g.OS != f.OS || g.Build != f.Build || g.Uptime < f.Uptime {
		t.Errorf("second Collect = %+v after %+v", g, f)
	}
}

func TestVolumesOnWindows(t *testing.T) {
	sys := os.Getenv("SystemDrive") // "C:"
	if !isDrive(sys) {
		sys = "C:"
	}
	guid, err := windows.UTF16PtrFromString(sys + `\`)
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]uint16, windows.MAX_PATH)
	names := []string{sys, strings.ToLower(sys) + `\`, sys + `\Windows`}
	if err := windows.GetVolumeNameForVolumeMountPoint(guid, &buf[0], uint32(len(buf))); err != nil {
		t.Logf("GetVolumeNameForVolumeMountPoint(%s\\): %v; the GUID path is not checked", sys, err)
	} else {
		names = append(names, windows.UTF16ToString(buf)) // \\?\Volume{...}\
	}
	missing := ""
	drives, err := windows.GetLogicalDrives()
	if err != nil {
		t.Fatal(err)
	}
	for c := 'Z'; c >= 'D'; c-- {
		if drives&(1<<(c-'A')) == 0 {
			missing = string(c) + ":"
			break
		}
	}
	if missing != "" {
		names = append(names, missing)
	}
	names = append(names, `\\?\Volume{65ac9a70-a2ac-11e0-bc35-00155d009e00}\`, "System Reserved")

	got := Volumes(names)
	t.Logf("Volumes(%q) = %+v", names, got)
	if len(got) != len(names) {
		t.Fatalf("%d volumes for %d names", len(got), len(names))
	}
	first := got[0]
	for i, v := range got {
		switch n := names[i]; {
		case n == missing, n == "System Reserved", strings.Contains(n, "65ac9a70"):
			if v.Err != ErrNotFound.Error() || v.Size != 0 || v.Free != 0 {
				t.Errorf("%s: %+v, want %q", n, v, ErrNotFound)
			}
		default:
			if v.Err != "" || v.Size == 0 || v.Free > v.Size {
				t.Errorf("%s: %+v, want size and free space", n, v)
			}
			// The same volume each time (free space may move a little).
			if v.Size != first.Size {
				t.Errorf("%s: size %d, %s's %d", n, v.Size, sys, first.Size)
			}
		}
	}
	if p := got[0].Path; p != strings.ToUpper(sys)+`\` {
		t.Errorf("%s queried as %q, want %s\\", sys, p, sys)
	}
}
