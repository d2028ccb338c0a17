//go:build !windows

package script

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/logmedic/logmedic/handlers/handlertest"
)

func init() {
	// hang starts a child that sleeps, sharing its output, writes the
	// child's PID to SCRIPT_TEST_OUT and sleeps too.
	helpers["hang"] = func() int { return startChild(nil, true) }
	// background starts a sleeping child, writes its PID and exits 0.
	helpers["background"] = func() int { return startChild(nil, false) }
	// escape is background with a child that leaves the process group
	// (setsid) and keeps the output pipe open.
	helpers["escape"] = func() int { return startChild(&syscall.SysProcAttr{Setsid: true}, false) }
}

func startChild(attr *syscall.SysProcAttr, hang bool) int {
	out := os.Getenv(outEnv)
	child := exec.Command(os.Args[0])
	child.Env = append(os.Environ(), helperEnv+"=sleep", outEnv+"="+out+".self")
	child.Stdout, child.Stderr = os.Stdout, os.Stderr
	child.SysProcAttr = attr
	if err := child.Start(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 20
	}
	writePID(out, child.Process.Pid)
	fmt.Println("started")
	if hang {
		time.Sleep(time.Hour)
	}
	return 0
}

// alive reports whether pid is a process that has not exited: a zombie
// waiting for a parent that does not reap it counts as gone.
func alive(pid int) bool {
	if syscall.Kill(pid, 0) != nil {
		return false
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return !os.IsNotExist(err)
	}
	s := string(b)
	fields := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	return len(fields) == 0 || (fields[0] != "Z" && fields[0] != "X")
}

// gone waits up to a second for pid to exit.
func gone(pid int) bool {
	for range 100 {
		if !alive(pid) {
			return true
		}
		time.Sleep(10 * time.Millisecond)
	}
	return false
}

// childPID reads the PID the program wrote and kills that process when
// the test ends, should it still live.
func childPID(t *testing.T, path string) int {
	t.Helper()
	pid := readPID(t, path)
	t.Cleanup(func() {
		if alive(pid) {
			syscall.Kill(pid, syscall.SIGKILL)
		}
	})
	return pid
}

func TestDeliverTimeoutKillsProcessTree(t *testing.T) {
	out := filepath.Join(t.TempDir(), "pid")
	h, logs := newHandler(t, helperConfig(t, "hang", out))
	a := handlertest.Action(t, h, handlertest.Event(), "backup-failed", nil)

	const timeout = 800 * time.Millisecond
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	start := time.Now()
	retry, err := h.Deliver(ctx, a)
	late := time.Since(start) - timeout
	pid := childPID(t, out)

	if err == nil || !retry {
		t.Fatalf("Deliver = %v, %v; want retry and an error", retry, err)
	}
	for _, s := range []string{"killed with its child processes", "context deadline exceeded", "started"} {
		if !strings.Contains(err.Error(), s) {
			t.Errorf("error %q lacks %q", err, s)
		}
	}
	if late > 500*time.Millisecond {
		t.Errorf("Deliver returned %v after the deadline", late)
	}
	if !gone(pid) {
		t.Errorf("child %d still runs after the timeout", pid)
	}
	if f := oneLog(t, logs, "script failed"); f["timed_out"] != true {
		t.Errorf("log fields = %v", f)
	}
}

func TestDeliverKillsWhatTheProgramLeftRunning(t *testing.T) {
	out := filepath.Join(t.TempDir(), "pid")
	h, _ := newHandler(t, helperConfig(t, "background", out))
	a := handlertest.Action(t, h, handlertest.Event(), "backup-failed", nil)
	start := time.Now()
	if retry, err := h.Deliver(context.Background(), a); err != nil {
		t.Fatalf("Deliver = %v, %v", retry, err)
	}
	// The child holds the output pipe until it dies: a prompt return
	// means it was killed, not waited for.
	if d := time.Since(start); d >= h.drainWait {
		t.Errorf("Deliver took %v", d)
	}
	if pid := childPID(t, out); !gone(pid) {
		t.Errorf("child %d still runs after the program exited", pid)
	}
}

func TestDeliverReturnsWhenAnEscapedChildHoldsOutput(t *testing.T) {
	out := filepath.Join(t.TempDir(), "pid")
	h, logs := newHandler(t, helperConfig(t, "escape", out))
	h.drainWait = 200 * time.Millisecond
	a := handlertest.Action(t, h, handlertest.Event(), "backup-failed", nil)
	start := time.Now()
	retry, err := h.Deliver(context.Background(), a)
	d := time.Since(start)
	childPID(t, out) // killed at cleanup: it left the group, so Deliver cannot
	if err != nil || retry {
		t.Fatalf("Deliver = %v, %v; want success", retry, err)
	}
	if d > time.Second {
		t.Errorf("Deliver took %v with drainWait %v", d, h.drainWait)
	}
	if f := oneLog(t, logs, "script finished"); f["output_bytes"] != int64(len("started\n")) {
		t.Errorf("log fields = %v", f)
	}
}

func TestValidateUnixModes(t *testing.T) {
	tmp := t.TempDir()
	mk := func(name string, mode os.FileMode) string {
		p := filepath.Join(tmp, name)
		if err := os.WriteFile(p, []byte("#!/bin/sh\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(p, mode); err != nil {
			t.Fatal(err)
		}
		return p
	}
	runValidateCases(t, []validateCase{
		{"executable", &Config{Program: mk("ok", 0o755)}, "", ""},
		{"not executable", &Config{Program: mk("plain", 0o644)}, "program", "not executable"},
		{"world-writable", &Config{Program: mk("open", 0o777)}, "program", "writable by every user"},
		{"symlink to executable", &Config{Program: symlink(t, mk("target", 0o755), filepath.Join(tmp, "link"))}, "", ""},
		{"symlink to a shell", &Config{Program: symlink(t, mk("bash", 0o755), filepath.Join(tmp, "fix")), Args: tmpls(t, "{{.Computer}}")},
			"args", "bash: element 1 is a template, and bash runs its arguments"},
		{"symlink to a shell, constant args", &Config{Program: filepath.Join(tmp, "fix"), Args: tmpls(t, "-c", "fix")}, "", ""},
	})
}

func symlink(t *testing.T, target, link string) string {
	t.Helper()
	if err := os.Symlink(target, link); err != nil {
		t.Fatal(err)
	}
	return link
}

func readPID(t *testing.T, path string) int {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("the program did not start its child before the timeout: %v", err)
	}
	var pid int
	if _, err := fmt.Sscan(string(b), &pid); err != nil || pid <= 0 {
		t.Fatalf("bad PID file %q", b)
	}
	return pid
}
