package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/logmedic/logmedic/config"
	"github.com/logmedic/logmedic/internal/perm"
	"github.com/logmedic/logmedic/internal/service"
)

// TestServiceOffWindows runs logmedic service as a process: off Windows
// every form of it says where to go instead, with the usage exit code.
func TestServiceOffWindows(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("Windows has services")
	}
	const msg = "logmedic service: Windows services exist only on Windows; on Linux run `logmedic run` under systemd (see README)\n"
	for _, args := range [][]string{
		{"service"},
		{"service", "status"},
		{"service", "install", "-c", "logmedic.yaml"},
		{"service", "start", "--name", "other"},
		{"service", "no-such-command"},
	} {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			cmd := command(t, nil, args...)
			var stdout, stderr bytes.Buffer
			cmd.Stdout, cmd.Stderr = &stdout, &stderr
			err := cmd.Run()
			code := cmd.ProcessState.ExitCode()
			if code != exitUsage || stdout.Len() > 0 || stderr.String() != msg {
				t.Errorf("exit %d (%v), stdout %q, stderr %q; want exit %d and\n%s", code, err, stdout.String(), stderr.String(), exitUsage, msg)
			}
		})
	}
}

func TestRunAsServiceOffWindows(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("a test binary is not started by the service control manager, but asking costs a process list")
	}
	handled, err := runAsService(func(context.Context) error {
		t.Error("run called")
		return nil
	})
	if handled || err != nil {
		t.Errorf("runAsService = %v, %v; want not handled", handled, err)
	}
}

// fakeServices is the service control manager, as the service package
// would drive it.
type fakeServices struct {
	installed map[string]service.Config
	status    service.Status
	calls     []string
	err       error // returned by the next call
	deadline  time.Duration
}

func (f *fakeServices) control(t *testing.T, exe string) serviceControl {
	ctl := func(op string) func(ctx context.Context, name string) error {
		return func(ctx context.Context, name string) error {
			f.calls = append(f.calls, op+" "+name)
			if d, ok := ctx.Deadline(); ok {
				f.deadline = time.Until(d)
			}
			if f.err != nil {
				return f.err
			}
			if _, ok := f.installed[name]; !ok {
				return fmt.Errorf("service %s %w", name, service.ErrNotInstalled)
			}
			if op == "uninstall" {
				delete(f.installed, name)
			}
			return nil
		}
	}
	return serviceControl{
		install: func(c service.Config) error {
			f.calls = append(f.calls, "install "+c.Name)
			if f.err != nil {
				return f.err
			}
			if _, ok := f.installed[c.Name]; ok {
				return fmt.Errorf("service %s %w", c.Name, service.ErrExists)
			}
			f.installed[c.Name] = c
			return nil
		},
		uninstall: ctl("uninstall"),
		start:     ctl("start"),
		stop:      ctl("stop"),
		query: func(name string) (service.Status, error) {
			f.calls = append(f.calls, "query "+name)
			if f.err != nil {
				return service.Status{}, f.err
			}
			if _, ok := f.installed[name]; !ok {
				return service.Status{}, fmt.Errorf("service %s %w", name, service.ErrNotInstalled)
			}
			return f.status, nil
		},
		executable: func() (string, error) { return exe, nil },
	}
}

// serviceSetup writes a valid configuration with a script handler, and a
// program to be logmedic's.
func serviceSetup(t *testing.T) (dir, cfgPath, exe string) {
	t.Helper()
	dir = t.TempDir()
	exe = filepath.Join(dir, "logmedic.exe")
	fix := filepath.Join(dir, "fix")
	for _, p := range []string{exe, fix} {
		if err := os.WriteFile(p, []byte("#!/bin/sh\n"), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(dir, "fix.ps1"), []byte("exit 0\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	cfgPath = filepath.Join(dir, "logmedic.yaml")
	text := fmt.Sprintf(`state_dir: %[1]q
handlers:
  fix:
    type: script
    program: %[2]q
    args: ["-File", %[3]q, "{{.Computer}}", "relative.txt"]
    dir: %[4]q
  audit:
    type: log
rules:
  - name: r
    match:
      event_id: 1
    actions:
      - handler: fix
      - handler: audit
`, filepath.Join(dir, "state"), fix, filepath.Join(dir, "fix.ps1"), dir)
	if err := os.WriteFile(cfgPath, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return dir, cfgPath, exe
}

func TestServiceInstall(t *testing.T) {
	dir, cfgPath, exe := serviceSetup(t)
	f := &fakeServices{installed: map[string]service.Config{}}
	t.Chdir(dir)
	var stdout, stderr bytes.Buffer
	// A relative path is made absolute: the service runs elsewhere.
	code := serviceCommand([]string{"install", "-c", "logmedic.yaml"}, &stdout, &stderr, f.control(t, exe))
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	got := f.installed[service.DefaultName]
	logFile := filepath.Join(dir, "state", "logmedic.log")
	want := service.Config{Name: service.DefaultName, Exe: exe, Args: []string{"run", "-c", cfgPath, "--log-file", logFile}}
	if got.Name != want.Name || got.Exe != want.Exe || !slices.Equal(got.Args, want.Args) || got.Account != "" {
		t.Errorf("installed %+v\nwant %+v", got, want)
	}
	wantOut := fmt.Sprintf("installed service logmedic: automatic (delayed start), as LocalSystem, restarted on failure\n  command: %s run -c %s --log-file %s\nstart it with: logmedic service start\n", exe, cfgPath, logFile)
	if stdout.String() != wantOut {
		t.Errorf("stdout:\n%s\nwant:\n%s", stdout.String(), wantOut)
	}
	// Install checks as for SYSTEM (root): the test's files are root's
	// only when the test runs as root.
	warned := strings.Contains(stderr.String(), "warning: the service will refuse to start until this is fixed")
	if os.Geteuid() == 0 && stderr.Len() > 0 {
		t.Errorf("stderr: %s", stderr.String())
	} else if os.Geteuid() != 0 && !warned {
		t.Errorf("no warning that the service would refuse files owned by the test user: %s", stderr.String())
	}

	// Again: the service exists.
	stdout.Reset()
	stderr.Reset()
	code = serviceCommand([]string{"install", "--config", cfgPath}, &stdout, &stderr, f.control(t, exe))
	if code != exitFail || !strings.HasSuffix(stderr.String(), "logmedic service install: service logmedic already exists; run logmedic service uninstall first\n") {
		t.Errorf("exit %d, stderr %q", code, stderr.String())
	}

	// Another name and account.
	stdout.Reset()
	stderr.Reset()
	code = serviceCommand([]string{"install", "-c", cfgPath, "--name", "logmedic-test", "--account", "LocalService"}, &stdout, &stderr, f.control(t, exe))
	if code != exitOK || f.installed["logmedic-test"].Account != "LocalService" ||
		!strings.Contains(stdout.String(), "as LocalService") || !strings.Contains(stdout.String(), "logmedic service start --name logmedic-test\n") {
		t.Errorf("exit %d, installed %+v, stdout %q, stderr %q", code, f.installed["logmedic-test"], stdout.String(), stderr.String())
	}
	stderr.Reset()
	serviceCommand([]string{"install", "-c", cfgPath, "--name", "logmedic-test"}, &stdout, &stderr, f.control(t, exe))
	if !strings.HasSuffix(stderr.String(), "run logmedic service uninstall --name logmedic-test first\n") {
		t.Errorf("stderr %q", stderr.String())
	}
}

func TestServiceInstallRefuses(t *testing.T) {
	dir, cfgPath, exe := serviceSetup(t)
	bad := filepath.Join(dir, "bad.yaml")
	if err := os.WriteFile(bad, []byte("handlers: {}\nrules: [{name: r}]\nbogus: 1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name   string
		args   []string
		err    error
		stderr string
	}{
		{"missing configuration", []string{"install", "-c", filepath.Join(dir, "nope.yaml")}, nil,
			"logmedic service install: configuration " + filepath.Join(dir, "nope.yaml") + " does not exist: write it, check it with logmedic validate -c " + filepath.Join(dir, "nope.yaml") + ", then install\n"},
		{"a directory", []string{"install", "-c", dir}, nil, "is not a file\n"},
		{"invalid configuration", []string{"install", "-c", bad}, nil, "logmedic service install: fix the configuration first\n"},
		{"not an administrator", []string{"install", "-c", cfgPath}, fmt.Errorf("connect to the service control manager: %w", fs.ErrPermission),
			"logmedic service install: connect to the service control manager: permission denied (run it as an administrator, from an elevated prompt)\n"},
		{"bad account", []string{"install", "-c", cfgPath, "--account", `CORP\alice`}, errors.New(`account "CORP\\alice" needs a password`), `needs a password` + "\n"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := &fakeServices{installed: map[string]service.Config{}, err: tc.err}
			var stdout, stderr bytes.Buffer
			code := serviceCommand(tc.args, &stdout, &stderr, f.control(t, exe))
			if code != exitFail || stdout.Len() > 0 || !strings.HasSuffix(stderr.String(), tc.stderr) {
				t.Errorf("exit %d, stdout %q, stderr %q; want exit 1 and stderr ending %q", code, stdout.String(), stderr.String(), tc.stderr)
			}
		})
	}
}

func TestServiceControl(t *testing.T) {
	running := service.Status{
		Name: "logmedic", DisplayName: service.DefaultDisplayName, State: service.Running, PID: 4242,
		StartType: "automatic (delayed start)", Account: "LocalSystem",
		CommandLine: `"C:\Program Files\logmedic\logmedic.exe" run -c C:\ProgramData\logmedic\logmedic.yaml`,
		Exe:         `C:\Program Files\logmedic\logmedic.exe`, Args: []string{"run", "-c", `C:\ProgramData\logmedic\logmedic.yaml`},
	}
	failed := running
	failed.State, failed.PID, failed.Win32ExitCode, failed.ServiceExitCode = service.Stopped, 0, 1066, 1
	failed.CommandLine, failed.Args = "", []string{"run", "--config=C:\\my config.yaml"}
	cases := []struct {
		name      string
		args      []string
		installed bool
		status    service.Status
		err       error
		code      int
		stdout    string
		stderr    string
		calls     []string
	}{
		{
			name: "status", args: []string{"status"}, installed: true, status: running,
			stdout: `service:     logmedic (logmedic event-log watcher)
state:       running (pid 4242)
start type:  automatic (delayed start)
account:     LocalSystem
config:      C:\ProgramData\logmedic\logmedic.yaml
command:     "C:\Program Files\logmedic\logmedic.exe" run -c C:\ProgramData\logmedic\logmedic.yaml
`,
			calls: []string{"query logmedic"},
		},
		{
			name: "status after a failure", args: []string{"status"}, installed: true, status: failed,
			stdout: `service:     logmedic (logmedic event-log watcher)
state:       stopped
last exit:   failed with exit code 1; see the Application event log, source logmedic
start type:  automatic (delayed start)
account:     LocalSystem
config:      C:\my config.yaml
command:     "C:\Program Files\logmedic\logmedic.exe" run "--config=C:\my config.yaml"
`,
			calls: []string{"query logmedic"},
		},
		{
			name: "status of a service not installed", args: []string{"status", "--name", "other"}, code: exitFail,
			stderr: "logmedic service status: service other is not installed\n", calls: []string{"query other"},
		},
		{
			name: "start", args: []string{"start"}, installed: true, status: running,
			stdout: "service logmedic is running (pid 4242)\n", calls: []string{"start logmedic", "query logmedic"},
		},
		{
			name: "start fails", args: []string{"start"}, installed: true, err: errors.New("service logmedic stopped while starting: failed with exit code 1"), code: exitFail,
			stderr: "logmedic service start: service logmedic stopped while starting: failed with exit code 1\n", calls: []string{"start logmedic"},
		},
		{
			name: "stop", args: []string{"stop"}, installed: true,
			stdout: "service logmedic is stopped\n", calls: []string{"stop logmedic"},
		},
		{
			name: "uninstall", args: []string{"uninstall"}, installed: true,
			stdout: "removed service logmedic\n", calls: []string{"uninstall logmedic"},
		},
		{
			name: "uninstall a service not installed", args: []string{"uninstall"}, code: exitFail,
			stderr: "logmedic service uninstall: service logmedic is not installed\n", calls: []string{"uninstall logmedic"},
		},
		{name: "help", args: []string{"help"}, stdout: serviceUsage},
		{name: "no command", args: nil, code: exitUsage, stderr: serviceUsage},
		{name: "unknown command", args: []string{"restart"}, code: exitUsage, stderr: "logmedic service: unknown command \"restart\"\n\n" + serviceUsage},
		{name: "extra argument", args: []string{"stop", "logmedic"}, code: exitUsage, stderr: "Usage: logmedic service stop [--name NAME]\n"},
		{name: "install's flag elsewhere", args: []string{"status", "--account", "x"}, code: exitUsage, stderr: "flag provided but not defined: -account\n"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := &fakeServices{installed: map[string]service.Config{}, status: tc.status, err: tc.err}
			if tc.installed {
				f.installed["logmedic"] = service.Config{Name: "logmedic"}
			}
			var stdout, stderr bytes.Buffer
			code := serviceCommand(tc.args, &stdout, &stderr, f.control(t, "/logmedic.exe"))
			if code != tc.code || stdout.String() != tc.stdout || !strings.HasPrefix(stderr.String(), tc.stderr) || (tc.stderr == "" && stderr.Len() > 0) {
				t.Errorf("exit %d, stdout:\n%s\nstderr:\n%s\nwant exit %d, stdout:\n%s\nstderr:\n%s", code, stdout.String(), stderr.String(), tc.code, tc.stdout, tc.stderr)
			}
			if !slices.Equal(f.calls, tc.calls) {
				t.Errorf("calls %q, want %q", f.calls, tc.calls)
			}
			if f.deadline > serviceWait {
				t.Errorf("waits up to %v, more than %v", f.deadline, serviceWait)
			}
		})
	}
}

func TestPermTargets(t *testing.T) {
	dir, cfgPath, exe := serviceSetup(t)
	cfg, err := config.Load(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	state := config.StateDir("", cfg)
	got := permTargets(cfg, cfgPath, state, exe)
	want := []perm.Target{
		{Path: exe, What: "program"},
		{Path: cfgPath, What: "config"},
		{Path: filepath.Join(dir, "fix"), What: `program of handler "fix"`},
		{Path: filepath.Join(dir, "fix.ps1"), What: `file in the arguments of handler "fix"`},
		{Path: dir, What: `working directory of handler "fix"`},
		{Path: filepath.Join(dir, "state"), What: "state directory", Optional: true},
	}
	if !slices.Equal(got, want) {
		t.Errorf("targets:\n got %+v\nwant %+v", got, want)
	}

	// The daemon's check trusts the user it runs as: the test's files
	// pass, the missing state directory too.
	if err := checkPermissions(cfg, cfgPath, state); err != nil {
		t.Skipf("the temporary directory is not trusted on this machine: %v", err)
	}
	if err := os.Chmod(filepath.Join(dir, "fix.ps1"), 0o666); err != nil {
		t.Fatal(err)
	}
	err = checkPermissions(cfg, cfgPath, state)
	if err == nil || !strings.Contains(err.Error(), `file in the arguments of handler "fix" `+filepath.Join(dir, "fix.ps1")+" is writable by ") || !strings.Contains(err.Error(), "everyone; fix: chmod go-w") {
		t.Errorf("checkPermissions = %v, want the world-writable script refused", err)
	}
}
