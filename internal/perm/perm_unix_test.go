//go:build unix

package perm

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/logmedic/logmedic/internal/tooltest"
)

// otherID is a uid and gid no account on a test machine has.
const otherID = 4242

// trustedDir returns a temporary directory the checks accept, or skips
// the test where even that is not the case (a temp directory under a
// group-writable home, say).
func trustedDir(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	if ps := Check([]Target{{Path: dir, What: "test directory"}}); len(ps) > 0 {
		t.Skipf("the temporary directory is not trusted on this machine: %v", Err(ps))
	}
	return dir
}

func write(t *testing.T, path string, mode os.FileMode) string {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	chmod(t, path, mode) // not subject to the umask
	return path
}

func mkdir(t *testing.T, path string, mode os.FileMode) string {
	t.Helper()
	if err := os.MkdirAll(path, 0o755); err != nil {
		t.Fatal(err)
	}
	chmod(t, path, mode)
	return path
}

func chmod(t *testing.T, path string, mode os.FileMode) {
	t.Helper()
	if err := os.Chmod(path, mode); err != nil {
		t.Fatal(err)
	}
}

func symlink(t *testing.T, dest, link string) string {
	t.Helper()
	if err := os.Symlink(dest, link); err != nil {
		t.Fatal(err)
	}
	return link
}

// want is one expected problem: its path and words of its reason and fix.
type want struct {
	path   string
	reason string
	fix    string
}

func expect(t *testing.T, got []Problem, wants ...want) {
	t.Helper()
	if len(got) != len(wants) {
		t.Fatalf("got %d problems, want %d:\n%v", len(got), len(wants), Err(got))
	}
	for i, w := range wants {
		p := got[i]
		if p.Path != w.path || !strings.Contains(p.Reason, w.reason) || !strings.Contains(p.Fix, w.fix) {
			t.Errorf("problem %d = %q\nwant path %s, reason with %q, fix with %q", i, p.Error(), w.path, w.reason, w.fix)
		}
	}
}

func TestCheckUnix(t *testing.T) {
	type testCase struct {
		name  string
		setup func(t *testing.T, dir string) ([]Target, []want)
	}
	cases := []testCase{
		{"owner-only file", func(t *testing.T, dir string) ([]Target, []want) {
			return []Target{{Path: write(t, dir+"/c.yaml", 0o600), What: "config"}}, nil
		}},
		{"readable by all", func(t *testing.T, dir string) ([]Target, []want) {
			return []Target{{Path: write(t, dir+"/fix.sh", 0o755), What: "script"}}, nil
		}},
		{"world-writable file", func(t *testing.T, dir string) ([]Target, []want) {
			f := write(t, dir+"/c.yaml", 0o646)
			return []Target{{Path: f, What: "config"}}, []want{{f, "everyone", "chmod go-w " + f}}
		}},
		{"group-writable file", func(t *testing.T, dir string) ([]Target, []want) {
			f := write(t, dir+"/c.yaml", 0o620)
			if os.Geteuid() == 0 {
				if err := os.Chown(f, -1, otherID); err != nil {
					t.Fatal(err)
				}
			} else if os.Getegid() == 0 {
				t.Skip("the test user's group is root, whose write access is trusted")
			}
			return []Target{{Path: f, What: "config"}}, []want{{f, "is writable by group ", "chmod go-w"}}
		}},
		{"group-writable by root's group", func(t *testing.T, dir string) ([]Target, []want) {
			f := write(t, dir+"/c.yaml", 0o660)
			if err := os.Chown(f, -1, 0); err != nil {
				t.Skip("cannot give a file to group root:", err)
			}
			return []Target{{Path: f, What: "config"}}, nil
		}},
		{"world-writable directory holding the file", func(t *testing.T, dir string) ([]Target, []want) {
			d := mkdir(t, dir+"/etc", 0o777)
			f := write(t, d+"/c.yaml", 0o600)
			return []Target{{Path: f, What: "config"}}, []want{{d, "everyone", "chmod go-w " + d}}
		}},
		{"world-writable directory further up", func(t *testing.T, dir string) ([]Target, []want) {
			d := mkdir(t, dir+"/opt", 0o777)
			f := write(t, d+"/tools/fix.sh", 0o700)
			return []Target{{Path: f, What: "script"}}, []want{{d, "everyone", "move what logmedic uses to a directory only root can change"}}
		}},
		{"sticky world-writable directory holding a trusted file", func(t *testing.T, dir string) ([]Target, []want) {
			d := mkdir(t, dir+"/tmp", os.ModeSticky|0o777)
			f := write(t, d+"/c.yaml", 0o600)
			return []Target{{Path: f, What: "config"}}, nil
		}},
		{"sticky world-writable state directory", func(t *testing.T, dir string) ([]Target, []want) {
			d := mkdir(t, dir+"/state", os.ModeSticky|0o777)
			return []Target{{Path: d, What: "state directory"}}, []want{{d, "everyone", "chmod go-w"}}
		}},
		{"group-writable state directory", func(t *testing.T, dir string) ([]Target, []want) {
			d := mkdir(t, dir+"/state", 0o777)
			return []Target{{Path: d, What: "state directory"}}, []want{{d, "is writable by ", "chmod go-w " + d}}
		}},
		{"symlink to a world-writable file", func(t *testing.T, dir string) ([]Target, []want) {
			f := write(t, dir+"/real/fix.sh", 0o777)
			l := symlink(t, f, dir+"/fix.sh")
			return []Target{{Path: l, What: "script"}}, []want{{f, "everyone", "chmod go-w " + f}}
		}},
		{"relative symlink into a world-writable directory", func(t *testing.T, dir string) ([]Target, []want) {
			d := mkdir(t, dir+"/shared", 0o777)
			write(t, d+"/fix.sh", 0o700)
			mkdir(t, dir+"/bin", 0o755)
			l := symlink(t, "../shared/fix.sh", dir+"/bin/fix.sh")
			return []Target{{Path: l, What: "script"}}, []want{{d, "everyone", "chmod go-w " + d}}
		}},
		{"symlink in a world-writable directory", func(t *testing.T, dir string) ([]Target, []want) {
			f := write(t, dir+"/real/c.yaml", 0o600)
			d := mkdir(t, dir+"/links", 0o777)
			l := symlink(t, f, d+"/c.yaml")
			return []Target{{Path: l, What: "config"}}, []want{{d, "everyone", "chmod go-w"}}
		}},
		{"symlink to a directory holding the file", func(t *testing.T, dir string) ([]Target, []want) {
			d := mkdir(t, dir+"/real", 0o777)
			f := write(t, d+"/c.yaml", 0o600)
			symlink(t, d, dir+"/etc")
			_ = f
			return []Target{{Path: dir + "/etc/c.yaml", What: "config"}}, []want{{d, "everyone", "chmod go-w"}}
		}},
		{"symlink loop", func(t *testing.T, dir string) ([]Target, []want) {
			symlink(t, dir+"/b", dir+"/a")
			symlink(t, dir+"/a", dir+"/b")
			return []Target{{Path: dir + "/a", What: "config"}}, []want{{dir + "/a", "too many levels of symbolic links", ""}}
		}},
		{"dangling symlink", func(t *testing.T, dir string) ([]Target, []want) {
			l := symlink(t, dir+"/gone", dir+"/fix.sh")
			return []Target{{Path: l, What: "script"}}, []want{{dir + "/gone", "does not exist", "create it"}}
		}},
		{"missing script", func(t *testing.T, dir string) ([]Target, []want) {
			return []Target{{Path: dir + "/fix.sh", What: "script"}}, []want{{dir + "/fix.sh", "does not exist: whoever can create it would choose what logmedic uses", "correct the path in the configuration"}}
		}},
		{"a path refused without looking", func(t *testing.T, dir string) ([]Target, []want) {
			return []Target{{Path: `\fix.ps1`, What: "script", Refuse: "is relative to the current drive"}}, []want{{`\fix.ps1`, "is relative to the current drive", ""}}
		}},
		{"a file the daemon writes, with a missing optional neighbour", func(t *testing.T, dir string) ([]Target, []want) {
			d := mkdir(t, dir+"/state", 0o700)
			return []Target{
				{Path: d, What: "state directory", Write: true},
				{Path: write(t, d+"/outbox.db", 0o600), What: "outbox", Optional: true, Write: true},
				{Path: d + "/status.json", What: "status file", Optional: true},
			}, nil
		}},
		{"a world-writable file in the state directory", func(t *testing.T, dir string) ([]Target, []want) {
			d := mkdir(t, dir+"/state", 0o700)
			f := write(t, d+"/outbox.db", 0o666)
			return []Target{{Path: d, What: "state directory"}, {Path: f, What: "outbox", Optional: true}}, []want{{f, "everyone", "chmod go-w"}}
		}},
		{"missing optional state directory", func(t *testing.T, dir string) ([]Target, []want) {
			return []Target{{Path: dir + "/var/lib/logmedic", What: "state directory", Optional: true}}, nil
		}},
		{"an optional directory under a file, which cannot exist", func(t *testing.T, dir string) ([]Target, []want) {
			f := write(t, dir+"/file", 0o600)
			return []Target{{Path: f + "/sub", What: "drop folder", Optional: true}}, nil
		}},
		{"missing optional state directory under a world-writable one", func(t *testing.T, dir string) ([]Target, []want) {
			d := mkdir(t, dir+"/var", 0o777)
			return []Target{{Path: d + "/lib/logmedic", What: "state directory", Optional: true}}, []want{{d, "everyone", ""}}
		}},
		{"a directory reported once for every target under it", func(t *testing.T, dir string) ([]Target, []want) {
			d := mkdir(t, dir+"/etc", 0o777)
			return []Target{
				{Path: write(t, d+"/c.yaml", 0o600), What: "config"},
				{Path: write(t, d+"/fix.sh", 0o700), What: "script"},
			}, []want{{d, "everyone", ""}}
		}},
		{"a file owned by another user", func(t *testing.T, dir string) ([]Target, []want) {
			if os.Geteuid() != 0 {
				t.Skip("only root can give a file away")
			}
			f := write(t, dir+"/c.yaml", 0o600)
			if err := os.Chown(f, otherID, otherID); err != nil {
				t.Fatal(err)
			}
			return []Target{{Path: f, What: "config"}}, []want{{f, "is owned by uid 4242", "chown root:root " + f + " && chmod go-w " + f}}
		}},
		{"a directory owned by another user", func(t *testing.T, dir string) ([]Target, []want) {
			if os.Geteuid() != 0 {
				t.Skip("only root can give a file away")
			}
			d := mkdir(t, dir+"/home/alice", 0o755)
			if err := os.Chown(d, otherID, otherID); err != nil {
				t.Fatal(err)
			}
			return []Target{{Path: write(t, d+"/c.yaml", 0o600), What: "config"}}, []want{{d, "is owned by uid 4242", "chown root:root"}}
		}},
		{"a symlink owned by another user", func(t *testing.T, dir string) ([]Target, []want) {
			if os.Geteuid() != 0 {
				t.Skip("only root can give a file away")
			}
			f := write(t, dir+"/real/c.yaml", 0o600)
			l := symlink(t, f, dir+"/c.yaml")
			if err := os.Lchown(l, otherID, otherID); err != nil {
				t.Fatal(err)
			}
			return []Target{{Path: l, What: "config"}}, []want{{l, "is owned by uid 4242", "chown -h root:root " + l}}
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := trustedDir(t)
			targets, wants := tc.setup(t, dir)
			got := Check(targets)
			expect(t, got, wants...)
			for _, p := range got {
				if p.Target == "" || p.What == "" || !strings.HasPrefix(p.Error(), p.What+" "+p.Target) {
					t.Errorf("problem %q does not name its target", p.Error())
				}
			}
		})
	}
}

func TestCheckSystemTrustsOnlyRoot(t *testing.T) {
	dir := trustedDir(t)
	f := write(t, dir+"/c.yaml", 0o600)
	got := CheckSystem([]Target{{Path: f, What: "config"}})
	if os.Geteuid() == 0 {
		expect(t, got)
		return
	}
	// The test's files are the test user's: trusted by Check, not by a
	// check for a daemon that will run as root.
	if len(got) == 0 || !strings.Contains(got[len(got)-1].Reason, "is owned by ") || !strings.Contains(got[len(got)-1].Fix, "chown root:root") {
		t.Errorf("CheckSystem = %v, want the test user's files refused", Err(got))
	}
}

func TestCheckServiceIsCheckSystemOnUnix(t *testing.T) {
	dir := trustedDir(t)
	f := write(t, dir+"/c.yaml", 0o600)
	a, b := CheckSystem([]Target{{Path: f, What: "config"}}), CheckService([]Target{{Path: f, What: "config"}}, "S-1-5-19")
	if Err(a) == nil != (Err(b) == nil) || (len(a) > 0 && a[0].Error() != b[0].Error()) {
		t.Errorf("CheckSystem = %v\nCheckService = %v", Err(a), Err(b))
	}
}

func TestFixQuotesForTheShell(t *testing.T) {
	dir := trustedDir(t)
	f := write(t, dir+"/it's here.yaml", 0o666)
	got := Check([]Target{{Path: f, What: "config"}})
	want := `chmod go-w '` + dir + `/it'\''s here.yaml'`
	if len(got) != 1 || got[0].Fix != want {
		t.Fatalf("got %v, want fix %s", Err(got), want)
	}
}

func TestMkdirPrivate(t *testing.T) {
	dir := trustedDir(t)
	d := filepath.Join(dir, "a", "b")
	if err := MkdirPrivate(d); err != nil {
		t.Fatal(err)
	}
	if ps := Check([]Target{{Path: d, What: "state directory"}}); len(ps) > 0 {
		t.Fatal(Err(ps))
	}
	fi, err := os.Stat(d)
	if err != nil || fi.Mode().Perm() != 0o700 {
		t.Fatalf("stat = %v, %v; want mode 0700", fi.Mode(), err)
	}
}

// setfacl runs setfacl(1), or skips the test when it is missing or the
// file system takes no POSIX ACLs.
func setfacl(t *testing.T, args ...string) {
	t.Helper()
	if runtime.GOOS != "linux" {
		t.Skip("POSIX ACLs are read on Linux only")
	}
	path := tooltest.Require(t, "setfacl", "acl")
	if out, err := exec.Command(path, args...).CombinedOutput(); err != nil {
		if strings.Contains(string(out), "Operation not supported") {
			t.Skipf("no POSIX ACLs on this file system: %s", out)
		}
		t.Fatalf("setfacl %s: %v: %s", strings.Join(args, " "), err, out)
	}
}

func TestCheckPOSIXACL(t *testing.T) {
	t.Run("a named user who may write", func(t *testing.T) {
		dir := trustedDir(t)
		f := write(t, dir+"/c.yaml", 0o644)
		if os.Geteuid() == 0 {
			// root:root -rw-rw-r--+: the group bits show the mask, and
			// group root's write access is trusted.
			if err := os.Chown(f, 0, 0); err != nil {
				t.Fatal(err)
			}
		}
		setfacl(t, "-m", fmt.Sprintf("u:%d:rw", otherID), f)
		expect(t, Check([]Target{{Path: f, What: "config"}}), want{f, "is writable by user uid 4242", "setfacl -b " + f + " && chmod go-w " + f})
	})
	t.Run("a named group who may write", func(t *testing.T) {
		dir := trustedDir(t)
		f := write(t, dir+"/c.yaml", 0o600)
		setfacl(t, "-m", fmt.Sprintf("g:%d:rwx", otherID), f)
		expect(t, Check([]Target{{Path: f, What: "config"}}), want{f, "is writable by group gid 4242", "setfacl -b"})
	})
	t.Run("a directory above with a named user who may write", func(t *testing.T) {
		dir := trustedDir(t)
		d := mkdir(t, dir+"/etc", 0o755)
		f := write(t, d+"/c.yaml", 0o600)
		setfacl(t, "-m", fmt.Sprintf("u:%d:rwx", otherID), d)
		expect(t, Check([]Target{{Path: f, What: "config"}}), want{d, "is writable by user uid 4242", "setfacl -b " + d})
	})
	t.Run("the mask takes write away", func(t *testing.T) {
		dir := trustedDir(t)
		f := write(t, dir+"/c.yaml", 0o600)
		setfacl(t, "-m", fmt.Sprintf("u:%d:rw,g:%d:rw,m::r", otherID, otherID), f)
		expect(t, Check([]Target{{Path: f, What: "config"}}))
	})
	t.Run("named readers are fine", func(t *testing.T) {
		dir := trustedDir(t)
		f := write(t, dir+"/c.yaml", 0o600)
		setfacl(t, "-m", fmt.Sprintf("u:%d:r,g:%d:rx", otherID, otherID), f)
		expect(t, Check([]Target{{Path: f, What: "config"}}))
	})
	t.Run("root and the user logmedic runs as may write", func(t *testing.T) {
		dir := trustedDir(t)
		f := write(t, dir+"/c.yaml", 0o600)
		setfacl(t, "-m", fmt.Sprintf("u:0:rw,u:%d:rw,g:0:rw", os.Geteuid()), f)
		expect(t, Check([]Target{{Path: f, What: "config"}}))
	})
	t.Run("a sticky directory above is excused as without ACLs", func(t *testing.T) {
		dir := trustedDir(t)
		d := mkdir(t, dir+"/tmp", os.ModeSticky|0o755)
		f := write(t, d+"/c.yaml", 0o600)
		setfacl(t, "-m", fmt.Sprintf("u:%d:rwx", otherID), d)
		expect(t, Check([]Target{{Path: f, What: "config"}}))
	})
}
