package perm

// These tests read and change real security descriptors in a temporary
// directory: what acl_test.go can only judge as tables. They need no
// administrator; run them on Windows with
//
//	go test -v -run Windows ./internal/perm/

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/sys/windows"
)

// sidEveryone is the Everyone group.
const sidEveryone = "S-1-1-0"

// winTrustedDir returns a temporary directory Check accepts, or skips
// the test where even that is not the case.
func winTrustedDir(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	if ps := Check([]Target{{Path: dir, What: "test directory"}}); len(ps) > 0 {
		t.Skipf("the temporary directory is not trusted on this machine: %v", Err(ps))
	}
	return dir
}

func winWrite(t *testing.T, path string) string {
	t.Helper()
	if err := os.WriteFile(path, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// winSelf returns the SID of the account the test runs as.
func winSelf(t *testing.T) string {
	t.Helper()
	self, err := currentSID()
	if err != nil {
		t.Fatal(err)
	}
	return self
}

// winDefaultOwner returns the owner Windows gives what this process
// creates: the token's default owner, the user or, for an elevated
// administrator, possibly the Administrators group.
func winDefaultOwner(t *testing.T) string {
	t.Helper()
	tok := windows.GetCurrentProcessToken()
	var n uint32
	err := windows.GetTokenInformation(tok, windows.TokenOwner, nil, 0, &n)
	if n == 0 {
		t.Fatalf("GetTokenInformation(TokenOwner): %v", err)
	}
	const ptr = uint32(unsafe.Sizeof(uintptr(0)))
	buf := make([]uintptr, (n+ptr-1)/ptr) // aligned for TOKEN_OWNER
	if err := windows.GetTokenInformation(tok, windows.TokenOwner, (*byte)(unsafe.Pointer(&buf[0])), uint32(len(buf))*ptr, &n); err != nil {
		t.Fatalf("GetTokenInformation(TokenOwner): %v", err)
	}
	owner := (*struct{ Owner *windows.SID })(unsafe.Pointer(&buf[0])).Owner.String()
	runtime.KeepAlive(buf)
	return owner
}

// winRun runs a command line with cmd.exe, as an administrator would
// paste a fix.
func winRun(t *testing.T, line string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c := exec.CommandContext(ctx, "cmd.exe")
	c.SysProcAttr = &syscall.SysProcAttr{CmdLine: `cmd.exe /d /s /c "` + line + `"`}
	out, err := c.CombinedOutput()
	if err != nil {
		t.Fatalf("%s: %v: %s", line, err, out)
	}
	t.Logf("%s: %s", line, strings.TrimSpace(string(out)))
}

// winRead reads path's descriptor as the check does.
func winRead(t *testing.T, path string) *descriptor {
	t.Helper()
	d, err := readDescriptor(path)
	if err != nil {
		t.Fatalf("readDescriptor(%s): %v", path, err)
	}
	return d
}

func winDump(d *descriptor) string {
	var b strings.Builder
	b.WriteString("owner " + d.owner.String())
	if d.nullDACL {
		b.WriteString(", no DACL")
	}
	for _, a := range d.aces {
		fmt.Fprintf(&b, "\n\t%s: type %d, flags %#x, mask %#x", a.who, a.typ, a.flags, a.mask)
	}
	return b.String()
}

// winProblemsFor returns the problems of ps at path.
func winProblemsFor(ps []Problem, path string) []Problem {
	var out []Problem
	for _, p := range ps {
		if strings.EqualFold(p.Path, path) {
			out = append(out, p)
		}
	}
	return out
}

// winProtected reports whether path's DACL is protected (inherits
// nothing).
func winProtected(t *testing.T, path string) bool {
	t.Helper()
	sd, err := windows.GetNamedSecurityInfo(path, windows.SE_FILE_OBJECT, windows.DACL_SECURITY_INFORMATION)
	if err != nil {
		t.Fatalf("GetNamedSecurityInfo(%s): %v", path, err)
	}
	control, _, err := sd.Control()
	if err != nil {
		t.Fatalf("security descriptor control of %s: %v", path, err)
	}
	return control&windows.SE_DACL_PROTECTED != 0
}

// TestReadDescriptorWindows reads a new file's owner and DACL.
func TestReadDescriptorWindows(t *testing.T) {
	dir := winTrustedDir(t)
	f := winWrite(t, filepath.Join(dir, "logmedic.yaml"))
	d := winRead(t, f)
	self, owner := winSelf(t), winDefaultOwner(t)
	t.Logf("running as %s, default owner %s; %s: %s", self, owner, f, winDump(d))
	if d.owner.sid != owner {
		t.Errorf("owner %s, want %s, the default owner of what this process creates", d.owner, owner)
	}
	if d.nullDACL || len(d.aces) == 0 {
		t.Fatalf("no ACE read: %s", winDump(d))
	}
	trusted := sidTrust{self: self}
	control := false
	for _, a := range d.aces {
		if !strings.HasPrefix(a.who.sid, "S-1-") {
			t.Errorf("ACE without a SID: %s", winDump(d))
		}
		if a.who.sid == sidSystem && a.who.name == "" {
			t.Errorf("SYSTEM not named: %s", winDump(d))
		}
		if a.typ == aceAllowed && trusted.trusted(a.who.sid) && expand(a.mask)&rightWriteData != 0 {
			control = true
		}
	}
	if !control {
		t.Errorf("no ACE lets a trusted account (SYSTEM, Administrators, %s) write the file it created: %s", self, winDump(d))
	}
	if ps := Check([]Target{{Path: f, What: "config"}}); len(ps) > 0 {
		t.Errorf("Check of a new file in a trusted directory: %v", Err(ps))
	}
}

// TestCheckWindowsEveryoneWrite grants Everyone write with icacls, has
// Check find it, and runs the fix Check gives: the fix is never run
// elsewhere.
func TestCheckWindowsEveryoneWrite(t *testing.T) {
	t.Run("file", func(t *testing.T) {
		dir := winTrustedDir(t)
		f := winWrite(t, filepath.Join(dir, "logmedic.yaml"))
		targets := []Target{{Path: f, What: "config"}}
		winRun(t, `icacls "`+f+`" /grant *`+sidEveryone+`:(W)`)
		d := winRead(t, f)
		if !slices.ContainsFunc(d.aces, func(a ace) bool {
			return a.typ == aceAllowed && a.who.sid == sidEveryone && a.mask&rightWriteData != 0 && a.flags&aceInherited == 0
		}) {
			t.Fatalf("no explicit write ACE for Everyone read after icacls /grant: %s", winDump(d))
		}
		ps := Check(targets)
		got := winProblemsFor(ps, f)
		if len(got) != 1 || !strings.Contains(got[0].Reason, sidEveryone) || !strings.Contains(got[0].Reason, "write") ||
			!strings.Contains(got[0].Fix, "/remove:g *"+sidEveryone) {
			t.Fatalf("Check = %v; want %s writable by Everyone (%s), with an icacls fix", Err(ps), f, sidEveryone)
		}
		t.Logf("problem: %s", got[0].Error())
		for _, line := range strings.Split(got[0].Fix, ", then ") {
			winRun(t, line)
		}
		if ps := Check(targets); len(ps) > 0 {
			t.Errorf("Check after running the fix: %v", Err(ps))
		}
		d = winRead(t, f)
		if !winProtected(t, f) || slices.ContainsFunc(d.aces, func(a ace) bool { return a.who.sid == sidEveryone }) {
			t.Errorf("after the fix: protected %v, %s", winProtected(t, f), winDump(d))
		}
	})

	t.Run("state directory", func(t *testing.T) {
		dir := winTrustedDir(t)
		state := filepath.Join(dir, "state")
		if err := os.Mkdir(state, 0o700); err != nil {
			t.Fatal(err)
		}
		targets := []Target{{Path: state, What: "state directory", Write: true}}
		// Everyone may add files, and change what is created in it.
		winRun(t, `icacls "`+state+`" /grant *`+sidEveryone+`:(OI)(CI)(W)`)
		inside := winWrite(t, filepath.Join(state, "outbox.db"))
		if d := winRead(t, inside); !slices.ContainsFunc(d.aces, func(a ace) bool { return a.who.sid == sidEveryone && a.flags&aceInherited != 0 }) {
			t.Fatalf("a file created in the directory did not inherit Everyone's grant: %s", winDump(d))
		}
		ps := Check(targets)
		got := winProblemsFor(ps, state)
		if len(got) != 1 || !strings.Contains(got[0].Reason, sidEveryone) || !strings.Contains(got[0].Reason, "add file") ||
			!strings.Contains(got[0].Reason, "on what is created in it") || !strings.Contains(got[0].Fix, "/reset /T /C") {
			t.Fatalf("Check = %v; want %s changeable by Everyone (%s), and what is created in it, with an icacls fix", Err(ps), state, sidEveryone)
		}
		t.Logf("problem: %s", got[0].Error())
		for _, line := range strings.Split(got[0].Fix, ", then ") {
			winRun(t, line)
		}
		if ps := Check(targets); len(ps) > 0 {
			t.Errorf("Check after running the fix: %v", Err(ps))
		}
		// The fix resets what was created while it was open.
		if d := winRead(t, inside); slices.ContainsFunc(d.aces, func(a ace) bool { return a.who.sid == sidEveryone }) {
			t.Errorf("%s keeps Everyone's grant after the fix: %s", inside, winDump(d))
		}
		if ps := Check([]Target{{Path: inside, What: "outbox"}}); len(ps) > 0 {
			t.Errorf("Check of the file in the directory after the fix: %v", Err(ps))
		}
	})
}

// TestMkdirPrivateWindows checks the DACL MkdirPrivate sets: protected,
// full control for SYSTEM, Administrators and the current account only,
// inherited by what is created in it.
func TestMkdirPrivateWindows(t *testing.T) {
	dir := winTrustedDir(t)
	a := filepath.Join(dir, "a")
	d := filepath.Join(a, "b")
	if err := MkdirPrivate(d); err != nil {
		t.Fatal(err)
	}
	if err := MkdirPrivate(d); err != nil {
		t.Errorf("MkdirPrivate of an existing directory: %v", err)
	}
	self := winSelf(t)
	want := []string{sidSystem, sidAdministrators}
	if self != sidSystem && self != sidAdministrators {
		want = append(want, self)
	}
	slices.Sort(want)
	for _, p := range []string{a, d} {
		desc := winRead(t, p)
		t.Logf("%s: %s", p, winDump(desc))
		var got []string
		for _, e := range desc.aces {
			got = append(got, e.who.sid)
			if e.typ != aceAllowed || e.mask != fileAllAccess || e.flags != aceObjectInherit|aceContainerInherit {
				t.Errorf("%s: ACE %s: type %d, mask %#x, flags %#x; want allowed, full control (0x1f01ff), object and container inherit, not inherited",
					p, e.who, e.typ, e.mask, e.flags)
			}
		}
		slices.Sort(got)
		if !slices.Equal(got, want) {
			t.Errorf("%s: ACEs for %v, want %v", p, got, want)
		}
		if !winProtected(t, p) {
			t.Errorf("%s: DACL not protected: it inherits from %s", p, filepath.Dir(p))
		}
	}
	if ps := Check([]Target{{Path: d, What: "state directory", Write: true}}); len(ps) > 0 {
		t.Errorf("Check of the private directory: %v", Err(ps))
	}
	// What the daemon creates in it inherits the same ACEs.
	f := winWrite(t, filepath.Join(d, "outbox.db"))
	fd := winRead(t, f)
	var got []string
	for _, e := range fd.aces {
		got = append(got, e.who.sid)
		if e.flags&aceInherited == 0 {
			t.Errorf("%s: ACE %s not inherited", f, e.who)
		}
	}
	slices.Sort(got)
	if !slices.Equal(got, want) {
		t.Errorf("%s: ACEs for %v, want %v: %s", f, got, want, winDump(fd))
	}
	if ps := Check([]Target{{Path: f, What: "outbox"}}); len(ps) > 0 {
		t.Errorf("Check of a file in the private directory: %v", Err(ps))
	}
	// A file in the way.
	if err := MkdirPrivate(f); err == nil {
		t.Errorf("MkdirPrivate(%s), a file: no error", f)
	}
}

// TestInspectJunctionWindows checks that a junction is read itself, not
// its target (FILE_FLAG_OPEN_REPARSE_POINT), and judged as a link.
func TestInspectJunctionWindows(t *testing.T) {
	dir := winTrustedDir(t)
	target := filepath.Join(dir, "target")
	if err := os.Mkdir(target, 0o700); err != nil {
		t.Fatal(err)
	}
	winWrite(t, filepath.Join(target, "logmedic.yaml"))
	link := filepath.Join(dir, "link")
	winRun(t, `mklink /J "`+link+`" "`+target+`"`)
	n, err := inspect(link)
	if err != nil {
		t.Fatal(err)
	}
	if n.link == "" || !n.dir || n.sys == nil {
		t.Fatalf("inspect(%s) = %+v: want a link to a directory, with its descriptor", link, n)
	}
	lfi, err1 := os.Stat(n.link)
	tfi, err2 := os.Stat(target)
	if err1 != nil || err2 != nil || !os.SameFile(lfi, tfi) {
		t.Errorf("the junction's target %q is not %s (%v, %v)", n.link, target, err1, err2)
	}
	through := filepath.Join(link, "logmedic.yaml")
	if ps := Check([]Target{{Path: through, What: "config"}}); len(ps) > 0 {
		t.Errorf("Check through a junction nobody else can change: %v", Err(ps))
	}

	// Everyone may write the junction itself (retarget it): /L changes
	// the junction, not its target.
	winRun(t, `icacls "`+link+`" /grant *`+sidEveryone+`:(W) /L`)
	if d := winRead(t, target); slices.ContainsFunc(d.aces, func(a ace) bool { return a.who.sid == sidEveryone }) {
		t.Fatalf("icacls /L changed the target: %s", winDump(d))
	}
	d := winRead(t, link)
	if !slices.ContainsFunc(d.aces, func(a ace) bool { return a.who.sid == sidEveryone }) {
		t.Fatalf("readDescriptor(%s) did not read the junction's own DACL (no Everyone ACE): %s", link, winDump(d))
	}
	ps := Check([]Target{{Path: through, What: "config"}})
	got := winProblemsFor(ps, link)
	if len(got) != 1 || !strings.Contains(got[0].Reason, "(the link itself)") || !strings.Contains(got[0].Reason, sidEveryone) ||
		!strings.Contains(got[0].Fix, "/L") {
		t.Fatalf("Check = %v; want the junction %s, changeable by Everyone, with an icacls /L fix", Err(ps), link)
	}
	if others := winProblemsFor(ps, target); len(others) > 0 {
		t.Errorf("the junction's target is reported, though only the junction changed: %v", Err(others))
	}
	t.Logf("problem: %s", got[0].Error())
	for _, line := range strings.Split(got[0].Fix, ", then ") {
		winRun(t, line)
	}
	if ps := Check([]Target{{Path: through, What: "config"}}); len(ps) > 0 {
		t.Errorf("Check after running the fix: %v", Err(ps))
	}
}
