package main

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// syncBuffer collects a child's log while the test reads it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

type receiver struct {
	mu     sync.Mutex
	bodies []string
}

func (r *receiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	b, _ := io.ReadAll(req.Body)
	r.mu.Lock()
	r.bodies = append(r.bodies, string(b))
	r.mu.Unlock()
}

func (r *receiver) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.bodies)
}

const runConfig = `state_dir: %STATE%
sources:
  - name: drop
    folder: %DROP%
handlers:
  hook:
    type: webhook
    url: %URL%
    body: {rule: "{{.Rule}}", computer: "{{.Computer}}"}
rules:
  - name: volume-too-large
    match: {error_code: 0x807800B4}
    actions: [{handler: hook}]
`

func startDaemon(t *testing.T, cfg string) (*exec.Cmd, *syncBuffer) {
	t.Helper()
	cmd := command(t, nil, "run", "-c", cfg, "--http", "127.0.0.1:0", "--log-file", filepath.Join(filepath.Dir(cfg), "logs", "logmedic.log"))
	logs := &syncBuffer{}
	cmd.Stderr = logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
		if t.Failed() {
			t.Logf("daemon log:\n%s", logs)
		}
	})
	waitFor(t, "the daemon to start", func() bool { return strings.Contains(logs.String(), "logmedic started") })
	return cmd, logs
}

func stopDaemon(t *testing.T, cmd *exec.Cmd) {
	t.Helper()
	cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("daemon exited with %v after SIGTERM", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("daemon did not stop after SIGTERM")
	}
}

// TestRunDropFolderRestartAndReload runs the daemon on a drop folder: a
// file dropped in fires its action once; after a restart it does not fire
// again; a config edit is reloaded, and a broken edit leaves the running
// configuration in place.
func TestRunDropFolderRestartAndReload(t *testing.T) {
	rcv := &receiver{}
	srv := httptest.NewServer(rcv)
	defer srv.Close()
	dir := t.TempDir()
	drop := filepath.Join(dir, "drop")
	cfg := filepath.Join(dir, "logmedic.yaml")
	text := strings.NewReplacer("%STATE%", filepath.Join(dir, "state"), "%DROP%", drop, "%URL%", srv.URL).Replace(runConfig)
	if err := os.WriteFile(cfg, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	sample, err := os.ReadFile(filepath.Join(samples, "constructed/backup-5-v3-0x807800b4.xml"))
	if err != nil {
		t.Fatal(err)
	}

	cmd, logs := startDaemon(t, cfg)
	if err := os.WriteFile(filepath.Join(drop, "failure.xml"), sample, 0o600); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the webhook", func() bool { return rcv.count() == 1 })
	if !strings.Contains(rcv.bodies[0], `"rule":"volume-too-large"`) {
		t.Errorf("body %s", rcv.bodies[0])
	}

	// An edit adding a rule is reloaded.
	edited := text + "  - name: restore-failed\n    match: {error_code: 0x80070002}\n    actions: [{handler: hook}]\n"
	os.WriteFile(cfg+".tmp", []byte(edited), 0o600)
	os.Rename(cfg+".tmp", cfg) // as editors save
	waitFor(t, "the reload", func() bool { return strings.Contains(logs.String(), `"rules_added": ["restore-failed"]`) })
	restore, _ := os.ReadFile(filepath.Join(samples, "constructed/restore-244-0x80070002.xml"))
	os.WriteFile(filepath.Join(drop, "restore.xml"), restore, 0o600)
	waitFor(t, "the new rule to act", func() bool { return rcv.count() == 2 })

	// A broken edit is refused with its position; the running rules stay.
	os.WriteFile(cfg, []byte(edited+"  - name: broken\n    match: {chanel: x}\n"), 0o600)
	waitFor(t, "the refused reload", func() bool {
		return strings.Contains(logs.String(), "configuration not reloaded") && strings.Contains(logs.String(), `logmedic.yaml:18:13: rule \"broken\": match: unknown key \"chanel\"`)
	})
	os.WriteFile(filepath.Join(drop, "again.xml"), bytes.Replace(sample, []byte("1412"), []byte("1413"), 1), 0o600)
	waitFor(t, "the running rules to act", func() bool { return rcv.count() == 3 })

	// logmedic status reads what the daemon writes, while it runs.
	var statusOut []byte
	defer func() {
		if t.Failed() {
			t.Logf("last status:\n%s", statusOut)
		}
	}()
	waitFor(t, "the status", func() bool {
		out, _ := command(t, nil, "status", "-c", cfg).CombinedOutput()
		statusOut = out
		return strings.Contains(string(out), "running (pid") && strings.Contains(string(out), "source drop: 3 inputs read, 3 events") &&
			strings.Contains(string(out), "failed; the previous configuration stays") && strings.Contains(string(out), `unknown key "chanel"`)
	})
	// The metrics say the same.
	addr := regexp.MustCompile(`serving metrics\s+\{"addr": "([^"]+)"`).FindStringSubmatch(logs.String())
	if addr == nil {
		t.Fatalf("no metrics address in the log")
	}
	resp, err := http.Get("http://" + addr[1] + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{
		`logmedic_events_read_total{result="decoded",source="drop"} 3`,
		`logmedic_rule_matches_total{rule="volume-too-large"} 2`,
		`logmedic_actions_total{handler="hook",outcome="delivered"} 3`,
		`logmedic_config_reloads_total{result="failure"} 1`,
		`logmedic_config_last_reload_successful 0`,
		`logmedic_outbox_actions{state="pending"} 0`,
	} {
		if !bytes.Contains(body, []byte(want)) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	if resp, err := http.Get("http://" + addr[1] + "/readyz"); err != nil || resp.StatusCode != 200 {
		t.Errorf("/readyz: %v %v", resp, err)
	}
	stopDaemon(t, cmd)
	out, _ := command(t, nil, "status", "-c", cfg).Output()
	if !strings.Contains(string(out), "not running (last seen") || !strings.Contains(string(out), "outbox: 0 actions queued, 0 dead letters") {
		t.Errorf("status after stop:\n%s", out)
	}
	logFile := filepath.Join(dir, "logs", "logmedic.log")
	if st, err := os.Stat(logFile); err != nil || st.Mode().Perm() != 0o600 {
		t.Errorf("log file: %v %v", st, err)
	} else if b, _ := os.ReadFile(logFile); !bytes.Contains(b, []byte(`"msg":"rule matched"`)) {
		t.Errorf("log file lacks JSON match lines:\n%.500s", b)
	}
	// A broken configuration stops the daemon from starting at all.
	if out, err := command(t, nil, "run", "-c", cfg, "--http", "off").CombinedOutput(); err == nil || !strings.Contains(string(out), `unknown key "chanel"`) {
		t.Errorf("started with a broken configuration: %v\n%s", err, out)
	}
	// Once fixed, a restart resumes after what was read: nothing fires again.
	os.WriteFile(cfg, []byte(edited), 0o600)
	cmd, _ = startDaemon(t, cfg)
	time.Sleep(600 * time.Millisecond)
	if n := rcv.count(); n != 3 {
		t.Errorf("after a restart %d deliveries, want still 3", n)
	}
	stopDaemon(t, cmd)
}

// TestRunStdin reads events from standard input and stops when it ends,
// after delivering.
func TestRunStdin(t *testing.T) {
	rcv := &receiver{}
	srv := httptest.NewServer(rcv)
	defer srv.Close()
	dir := t.TempDir()
	cfg := filepath.Join(dir, "logmedic.yaml")
	text := strings.NewReplacer("%STATE%", filepath.Join(dir, "state"), "%URL%", srv.URL).Replace(runConfig)
	text = strings.Replace(text, "sources:\n  - name: drop\n    folder: %DROP%\n", "", 1)
	os.WriteFile(cfg, []byte(text), 0o600)
	sample, _ := os.ReadFile(filepath.Join(samples, "constructed/wevtutil-export-3-events.xml"))
	five, _ := os.ReadFile(filepath.Join(samples, "constructed/backup-5-v3-0x807800b4.xml"))
	cmd := command(t, nil, "run", "-c", cfg, "--stdin", "--http", "off")
	cmd.Stdin = bytes.NewReader(append(sample, five...))
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if rcv.count() != 1 {
		t.Errorf("%d deliveries, want 1\n%s", rcv.count(), out)
	}
	if code := run([]string{"run", "-c", cfg}, nil, io.Discard, io.Discard); code != exitUsage {
		t.Errorf("run without sources or --stdin: exit %d, want 2", code)
	}
}

// TestRunReloadSwapsSources edits the sources: block while the daemon
// runs. A source added starts, one whose settings change restarts where
// it was (its files do not fire again), one removed stops reading, and
// one that cannot start is logged while the others go on.
func TestRunReloadSwapsSources(t *testing.T) {
	rcv := &receiver{}
	srv := httptest.NewServer(rcv)
	defer srv.Close()
	dir := t.TempDir()
	one, two := filepath.Join(dir, "one"), filepath.Join(dir, "two")
	cfg := filepath.Join(dir, "logmedic.yaml")
	base := strings.NewReplacer("%STATE%", filepath.Join(dir, "state"), "%DROP%", one, "%URL%", srv.URL).Replace(runConfig)
	save := func(text string) {
		t.Helper()
		if err := os.WriteFile(cfg+".tmp", []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(cfg+".tmp", cfg); err != nil {
			t.Fatal(err)
		}
	}
	save(base)
	sample, err := os.ReadFile(filepath.Join(samples, "constructed/backup-5-v3-0x807800b4.xml"))
	if err != nil {
		t.Fatal(err)
	}
	event := func(n int) []byte { return bytes.Replace(sample, []byte("1412"), []byte(fmt.Sprint(2000+n)), 1) }

	cmd, logs := startDaemon(t, cfg)
	os.WriteFile(filepath.Join(one, "a.xml"), event(1), 0o600)
	waitFor(t, "the first delivery", func() bool { return rcv.count() == 1 })

	// Add a source and change the first one's settle: two starts, one
	// restarts from its position.
	withTwo := strings.Replace(base, "    folder: "+one+"\n", "    folder: "+one+"\n    settle: 30ms\n  - name: two\n    folder: "+two+"\n", 1)
	save(withTwo)
	waitFor(t, "source two to start", func() bool {
		return strings.Contains(logs.String(), "source started") && strings.Contains(logs.String(), `"source": "two"`)
	})
	if !strings.Contains(logs.String(), "source stopped for the new configuration") {
		t.Errorf("the changed source was not restarted")
	}
	os.WriteFile(filepath.Join(two, "b.xml"), event(2), 0o600)
	waitFor(t, "the second source's delivery", func() bool { return rcv.count() == 2 })

	// Remove the first source; add one that cannot start (its folder is
	// under a file).
	blocker := filepath.Join(dir, "file")
	os.WriteFile(blocker, nil, 0o600)
	onlyTwo := strings.Replace(withTwo, "  - name: drop\n    folder: "+one+"\n    settle: 30ms\n", "  - name: broken\n    folder: "+filepath.Join(blocker, "sub")+"\n", 1)
	save(onlyTwo)
	waitFor(t, "the broken source to be reported", func() bool {
		return strings.Contains(logs.String(), "source not started") && strings.Contains(logs.String(), `"source": "broken"`)
	})
	os.WriteFile(filepath.Join(one, "c.xml"), event(3), 0o600)
	os.WriteFile(filepath.Join(two, "d.xml"), event(4), 0o600)
	waitFor(t, "the remaining source's delivery", func() bool { return rcv.count() == 3 })
	time.Sleep(300 * time.Millisecond) // a removed source that still read c.xml would deliver by now
	if n := rcv.count(); n != 3 {
		t.Errorf("%d deliveries, want 3: the removed source still reads, or a restarted one fired again", n)
	}
	for id, want := range map[string]int{"2001": 1, "2002": 1, "2003": 0, "2004": 1} {
		if n := strings.Count(logs.String(), `"record_id": `+id+`}`); n != want {
			t.Errorf("record %s matched %d times, want %d", id, n, want)
		}
	}
	stopDaemon(t, cmd)
}

// TestRunRefusesWritableConfig: the configuration can run programs with
// the daemon's privileges, so one others can change stops the start.
func TestRunRefusesWritableConfig(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "logmedic.yaml")
	text := strings.NewReplacer("%STATE%", filepath.Join(dir, "state"), "%DROP%", filepath.Join(dir, "drop"), "%URL%", "http://127.0.0.1:1/").Replace(runConfig)
	if err := os.WriteFile(cfg, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(cfg, 0o666); err != nil {
		t.Fatal(err)
	}
	out, err := command(t, nil, "run", "-c", cfg, "--http", "off").CombinedOutput()
	if err == nil || !strings.Contains(string(out), cfg) || !strings.Contains(string(out), "writable by everyone") || !strings.Contains(string(out), "chmod go-w") {
		t.Errorf("started with a world-writable configuration: %v\n%s", err, out)
	}

	// Made writable while the daemon runs: the reload is refused, and
	// the running configuration stays.
	os.Chmod(cfg, 0o600)
	cmd, logs := startDaemon(t, cfg)
	os.Chmod(cfg, 0o666)
	cmd.Process.Signal(syscall.SIGHUP)
	waitFor(t, "the refused reload", func() bool {
		return strings.Contains(logs.String(), "configuration not reloaded") && strings.Contains(logs.String(), "writable by everyone")
	})
	stopDaemon(t, cmd)
}

// TestRunRechecksScriptBeforeEachRun: a script made writable by others
// after the start is not run; the action waits in the outbox.
func TestRunRechecksScriptBeforeEachRun(t *testing.T) {
	dir := t.TempDir()
	drop, out := filepath.Join(dir, "drop"), filepath.Join(dir, "ran")
	fix := filepath.Join(dir, "fix.sh")
	if err := os.WriteFile(fix, []byte("#!/bin/sh\necho ran >> "+out+"\n"), 0o700); err != nil {
		t.Fatal(err)
	}
	cfg := filepath.Join(dir, "logmedic.yaml")
	text := "state_dir: " + filepath.Join(dir, "state") + "\nsources:\n  - name: drop\n    folder: " + drop + "\n" +
		"handlers:\n  fix:\n    type: script\n    program: /bin/sh\n    args: [" + fix + "]\n" +
		"rules:\n  - name: volume-too-large\n    match: {error_code: 0x807800B4}\n    actions: [{handler: fix}]\n"
	if err := os.WriteFile(cfg, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	sample, err := os.ReadFile(filepath.Join(samples, "constructed/backup-5-v3-0x807800b4.xml"))
	if err != nil {
		t.Fatal(err)
	}
	cmd, logs := startDaemon(t, cfg)
	os.WriteFile(filepath.Join(drop, "a.xml"), sample, 0o600)
	waitFor(t, "the script to run", func() bool { _, err := os.Stat(out); return err == nil })

	if err := os.Chmod(fix, 0o777); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(drop, "b.xml"), bytes.Replace(sample, []byte("1412"), []byte("1499"), 1), 0o600)
	waitFor(t, "the refusal", func() bool {
		return strings.Contains(logs.String(), "not run: ") && strings.Contains(logs.String(), "writable by everyone")
	})
	if b, _ := os.ReadFile(out); strings.Count(string(b), "ran") != 1 {
		t.Errorf("the script ran %d times, want once (before it became writable)", strings.Count(string(b), "ran"))
	}
	stopDaemon(t, cmd)
}

// TestOutboxDeliverChecksPermissions: logmedic outbox deliver runs
// scripts as the daemon would, so it makes the daemon's check first.
func TestOutboxDeliverChecksPermissions(t *testing.T) {
	dir := t.TempDir()
	fix := filepath.Join(dir, "fix.sh")
	if err := os.WriteFile(fix, []byte("#!/bin/sh\n"), 0o700); err != nil {
		t.Fatal(err)
	}
	cfg := filepath.Join(dir, "logmedic.yaml")
	text := "state_dir: " + filepath.Join(dir, "state") + "\nhandlers:\n  fix:\n    type: script\n    program: /bin/sh\n    args: [" + fix + "]\n" +
		"rules:\n  - name: volume-too-large\n    match: {error_code: 0x807800B4}\n    actions: [{handler: fix}]\n"
	if err := os.WriteFile(cfg, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	if out, err := command(t, nil, "outbox", "deliver", "-c", cfg).CombinedOutput(); err != nil {
		t.Fatalf("deliver with safe files: %v\n%s", err, out)
	}
	if err := os.Chmod(fix, 0o777); err != nil {
		t.Fatal(err)
	}
	out, err := command(t, nil, "outbox", "deliver", "-c", cfg).CombinedOutput()
	if err == nil || !strings.Contains(string(out), fix) || !strings.Contains(string(out), "writable by everyone") {
		t.Errorf("deliver ran with a world-writable script: %v\n%s", err, out)
	}
}
