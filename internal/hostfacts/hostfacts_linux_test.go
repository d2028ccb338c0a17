package hostfacts

import (
	"math"
	"os"
	"testing"
)

// These read the machine the tests run on, so they check the shape of the
// facts, not their values.

func TestCollectOnLinux(t *testing.T) {
	f, err := Collect()
	if err != nil {
		t.Logf("Collect: %v", err) // a container may lack /etc/os-release
	}
	if f.OS == "" || f.Version == "" || f.Arch == "" || f.Hostname == "" {
		t.Errorf("Collect = %+v: OS, Version, Arch and Hostname should be set", f)
	}
	if f.MemTotal == 0 || f.MemAvailable > f.MemTotal || f.Uptime <= 0 {
		t.Errorf("Collect = %+v: want memory and uptime", f)
	}
	if f.Build != "" || f.Revision != "" {
		t.Errorf("Collect = %+v: Linux has no build", f)
	}
	g, _ := Collect()
	if g.OS != f.OS || g.Uptime < f.Uptime {
		t.Errorf("second Collect = %+v after %+v", g, f)
	}
}

func TestVolumesOnLinux(t *testing.T) {
	dir := t.TempDir()
	got := Volumes([]string{"/", dir + "/", "C:", "/no/such/dir/here", `\\?\Volume{65ac9a70-a2ac-11e0-bc35-00155d009e00}\`})
	if v := got[0]; v.Err != "" || v.Path != "/" || v.Size == 0 || v.Free > v.Size {
		t.Errorf("/: %+v", v)
	}
	if v := got[1]; v.Err != "" || v.Path != dir || v.Size == 0 {
		t.Errorf("%s: %+v", dir, v)
	}
	for _, v := range got[2:] {
		if v.Err != "not found on this host" || v.Size != 0 || v.Free != 0 {
			t.Errorf("%s: %+v, want not found", v.Name, v)
		}
	}
	if os.Getuid() != 0 {
		if err := os.Chmod(dir, 0); err == nil {
			v := Volumes([]string{dir + "/x"})[0]
			if v.Err == "" || v.Err == "not found on this host" {
				t.Errorf("unreadable dir: %+v", v)
			}
		}
	}
}

func TestMulSat(t *testing.T) {
	if got := mulSat(1<<40, 4096); got != 1<<52 {
		t.Errorf("mulSat = %d", got)
	}
	if got := mulSat(1<<40, 1<<40); got != math.MaxUint64 {
		t.Errorf("mulSat overflow = %d", got)
	}
}
