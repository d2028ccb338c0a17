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
	"github.com/logmedic/logmedic/handlers"
	"github.com/logmedic/logmedic/handlers/script"
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
	if os.Geteuid() != 0 {
		t.Skip("install checks files as for SYSTEM (root): the test's are the test user's; see TestServiceInstallRefusesWritableFiles")
	}
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
	// only when the test runs as root; else it needs --force.
	if stderr.Len() > 0 {
		t.Errorf("stderr: %s", stderr.String())
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
		{"bad account", []string{"install", "-c", cfgPath, "--account", `CORP\alice`}, nil, `or set the password in services.msc after installing` + "\n"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := &fakeServices{installed: map[string]service.Config{}, err: tc.err}
			var stdout, stderr bytes.Buffer
			// --force: what is refused here is not the test's files.
			code := serviceCommand(append(tc.args, "--force"), &stdout, &stderr, f.control(t, exe))
			if code != exitFail || stdout.Len() > 0 || !strings.HasSuffix(stderr.String(), tc.stderr) {
				t.Errorf("exit %d, stdout %q, stderr %q; want exit 1 and stderr ending %q", code, stdout.String(), stderr.String(), tc.stderr)
			}
		})
	}
}

// TestServiceInstallRefusesWritableFiles: install refuses while a file
// the service trusts can be changed by others, unless --force.
func TestServiceInstallRefusesWritableFiles(t *testing.T) {
	dir, cfgPath, exe := serviceSetup(t)
	for _, tc := range []struct {
		name, file string
		warning    string
	}{
		{"a script", filepath.Join(dir, "fix.ps1"), "logmedic service install: warning: the service refuses to start until this is fixed\n"},
		{"logmedic's program", exe, "logmedic service install: warning: logmedic's own program can be replaced: a replaced program runs as LocalSystem at the next start, and no check of logmedic's stops it; fix that first\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := os.Chmod(tc.file, 0o777); err != nil {
				t.Fatal(err)
			}
			defer os.Chmod(tc.file, 0o755)
			f := &fakeServices{installed: map[string]service.Config{}}
			var stdout, stderr bytes.Buffer
			code := serviceCommand([]string{"install", "-c", cfgPath}, &stdout, &stderr, f.control(t, exe))
			wantErr := "logmedic service install: not installed: whoever can change these files could run code as LocalSystem; fix them, or install anyway with --force\n"
			if code != exitFail || len(f.installed) > 0 || !strings.Contains(stderr.String(), tc.file+" is writable by ") || !strings.HasSuffix(stderr.String(), wantErr) {
				t.Errorf("exit %d, installed %v, stderr:\n%s\nwant exit 1, nothing installed and stderr ending\n%s", code, f.installed, stderr.String(), wantErr)
			}
			stderr.Reset()
			code = serviceCommand([]string{"install", "-c", cfgPath, "--force"}, &stdout, &stderr, f.control(t, exe))
			if code != exitOK || len(f.installed) != 1 || !strings.HasPrefix(stderr.String(), "logmedic service install: warning: installing anyway (--force): ") ||
				!strings.HasSuffix(stderr.String(), tc.warning) {
				t.Errorf("--force: exit %d, installed %v, stderr:\n%s\nwant it installed, stderr ending\n%s", code, f.installed, stderr.String(), tc.warning)
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
			switch {
			case len(tc.calls) == 0:
			case strings.HasPrefix(tc.calls[0], "start") && f.deadline > serviceStartWait:
				t.Errorf("start waits up to %v, more than %v", f.deadline, serviceStartWait)
			case (strings.HasPrefix(tc.calls[0], "stop") || strings.HasPrefix(tc.calls[0], "uninstall")) && f.deadline <= service.MaxStop:
				// The service gives up stopping after service.MaxStop:
				// the command outwaits it, not to report a failure for
				// a stop that ends well.
				t.Errorf("%s waits up to %v, not longer than the service may take, %v", tc.calls[0], f.deadline, service.MaxStop)
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
	got := permTargets(cfg, cfgPath, state, "", exe)
	want := []perm.Target{
		{Path: exe, What: "program"},
		{Path: cfgPath, What: "config"},
		{Path: filepath.Join(dir, "fix"), What: `program of handler "fix"`},
		{Path: filepath.Join(dir, "fix.ps1"), What: `script in the arguments of handler "fix"`},
		{Path: dir, What: `working directory of handler "fix"`},
		{Path: filepath.Join(dir, "state"), What: "state directory", Optional: true, Write: true},
		{Path: filepath.Join(dir, "state", "outbox.db"), What: "outbox (its actions become scripts' arguments)", Optional: true, Write: true},
		{Path: filepath.Join(dir, "state", "status.json"), What: "status file", Optional: true, Write: true},
	}
	if !slices.Equal(got, want) {
		t.Errorf("targets:\n got %+v\nwant %+v", got, want)
	}

	// The daemon's check trusts the user it runs as: the test's files
	// pass, the missing state directory too.
	if err := checkPermissions(cfg, cfgPath, state, ""); err != nil {
		t.Skipf("the temporary directory is not trusted on this machine: %v", err)
	}
	if err := os.Chmod(filepath.Join(dir, "fix.ps1"), 0o666); err != nil {
		t.Fatal(err)
	}
	err = checkPermissions(cfg, cfgPath, state, "")
	if err == nil || !strings.Contains(err.Error(), `script in the arguments of handler "fix" `+filepath.Join(dir, "fix.ps1")+" is writable by ") || !strings.Contains(err.Error(), "everyone; fix: chmod go-w") {
		t.Errorf("checkPermissions = %v, want the world-writable script refused", err)
	}
}

// scriptConfig is a script handler's configuration with these args.
func scriptConfig(program, dir string, args ...string) *script.Config {
	sc := &script.Config{Program: program, Dir: dir}
	for _, a := range args {
		sc.Args = append(sc.Args, handlers.MustTemplate(a))
	}
	return sc
}

func TestScriptTargetsWindowsPaths(t *testing.T) {
	// Judged as Windows would, on any OS: no file system is read for
	// what must exist.
	const ps = `C:\Windows\System32\WindowsPowerShell\v1.0\powershell.exe`
	prog := perm.Target{Path: ps, What: `program of handler "fix"`}
	scr := func(p string) perm.Target {
		return perm.Target{Path: p, What: `script in the arguments of handler "fix"`}
	}
	refused := func(p, why string) perm.Target {
		return perm.Target{Path: p, What: `script in the arguments of handler "fix"`, Refuse: why}
	}
	wd := func(p string) perm.Target { return perm.Target{Path: p, What: `working directory of handler "fix"`} }
	cases := []struct {
		name string
		sc   *script.Config
		wd   string // the daemon's working directory
		want []perm.Target
	}{
		{
			name: "a script that does not exist yet is required",
			sc:   scriptConfig(ps, "", "-NoProfile", "-File", `C:\scripts\fix.ps1`, "{{.Computer}}"),
			want: []perm.Target{prog, scr(`C:\scripts\fix.ps1`)},
		},
		{
			name: "a relative script is found in dir",
			sc:   scriptConfig(ps, `D:\ops`, "-NoProfile", "-ExecutionPolicy", "Bypass", "-File", "fix.ps1"),
			want: []perm.Target{prog, scr(`D:\ops\fix.ps1`), wd(`D:\ops`)},
		},
		{
			name: "a relative script without dir is found in the daemon's working directory",
			sc:   scriptConfig(ps, "", "-File", `sub\fix.ps1`),
			wd:   `C:\Windows\System32`,
			want: []perm.Target{prog, scr(`C:\Windows\System32\sub\fix.ps1`)},
		},
		{
			name: "relative to the current drive's root",
			sc:   scriptConfig(ps, `D:\ops`, "-File", `\fix.ps1`),
			want: []perm.Target{prog, refused(`\fix.ps1`, `is relative to the root of the current drive: write the drive, as in C:\fix.ps1`), wd(`D:\ops`)},
		},
		{
			name: "relative to a drive's working directory",
			sc:   scriptConfig(ps, `D:\ops`, "-File", `C:fix.ps1`),
			want: []perm.Target{prog, refused(`C:fix.ps1`, `is relative to the working directory of drive C:: write the whole path, as in C:\fix.ps1`), wd(`D:\ops`)},
		},
		{
			name: "PowerShell's options are not files; a UNC script is",
			sc:   scriptConfig(ps, "", "/NoProfile", "-f", `\\fs01\scripts\fix.ps1`),
			want: []perm.Target{prog, scr(`\\fs01\scripts\fix.ps1`)},
		},
		{
			name: "wscript's options start with //",
			sc:   scriptConfig(`C:\Windows\System32\wscript.exe`, `D:\ops`, "//B", "//Nologo", "fix.vbs", "arg"),
			want: []perm.Target{{Path: `C:\Windows\System32\wscript.exe`, What: `program of handler "fix"`}, scr(`D:\ops\fix.vbs`), wd(`D:\ops`)},
		},
		{
			name: "a script by its extension, whatever runs it",
			sc:   scriptConfig(`C:\tools\runner.exe`, `D:\ops`, "/quiet", "fix.py"),
			want: []perm.Target{{Path: `C:\tools\runner.exe`, What: `program of handler "fix"`}, scr(`D:\ops\fix.py`), wd(`D:\ops`)},
		},
		{
			name: "names that are no files: process names, URLs, option values",
			sc:   scriptConfig(`C:\Windows\System32\taskkill.exe`, "", "/F", "/IM", "explorer.exe", "https://example.com/x.js"),
			want: []perm.Target{{Path: `C:\Windows\System32\taskkill.exe`, What: `program of handler "fix"`}},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := scriptTargetsAt("fix", tc.sc, tc.wd, true)
			if !slices.Equal(got, tc.want) {
				t.Errorf("targets:\n got %+v\nwant %+v", got, tc.want)
			}
		})
	}
}

func TestScriptTargetsInterpreters(t *testing.T) {
	dir := t.TempDir()
	existing := filepath.Join(dir, "data.txt")
	if err := os.WriteFile(existing, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	prog := func(p string) perm.Target { return perm.Target{Path: p, What: `program of handler "h"`} }
	scr := func(p string) perm.Target {
		return perm.Target{Path: p, What: `script in the arguments of handler "h"`}
	}
	file := func(p string) perm.Target { return perm.Target{Path: p, What: `file in the arguments of handler "h"`} }
	wd := perm.Target{Path: dir, What: `working directory of handler "h"`}
	cases := []struct {
		name string
		sc   *script.Config
		want []perm.Target
	}{
		{
			name: "a shell's script, missing, without an extension",
			sc:   scriptConfig("/bin/sh", "", "-e", "/opt/fix"),
			want: []perm.Target{prog("/bin/sh"), scr("/opt/fix")},
		},
		{
			name: "a relative shell script in dir",
			sc:   scriptConfig("/bin/bash", dir, "--", "bin/fix"),
			want: []perm.Target{prog("/bin/bash"), scr(dir + "/bin/fix"), wd},
		},
		{
			name: "sh -c runs text, not a file",
			sc:   scriptConfig("/bin/sh", "", "-ec", `/opt/fix --computer "$LOGMEDIC_COMPUTER"`, "sh"),
			want: []perm.Target{prog("/bin/sh")},
		},
		{
			name: "python -m runs a module; an option's value is no script",
			sc:   scriptConfig("/usr/bin/python3.12", "", "-X", "pycache_prefix=/var/cache/x", "-m", "fixer"),
			want: []perm.Target{prog("/usr/bin/python3.12")},
		},
		{
			name: "python's script after options with values",
			sc:   scriptConfig("/usr/bin/python3", "", "-W", "ignore", "-u", "/opt/fix", "--out", "/var/log/out.txt"),
			want: []perm.Target{prog("/usr/bin/python3"), scr("/opt/fix")},
		},
		{
			name: "perl -e runs text",
			sc:   scriptConfig("/usr/bin/perl", "", "-ne", "print if /x/"),
			want: []perm.Target{prog("/usr/bin/perl")},
		},
		{
			name: "php -f names the script",
			sc:   scriptConfig("/usr/bin/php", "", "-d", "display_errors=1", "-f", "/opt/fix"),
			want: []perm.Target{prog("/usr/bin/php"), scr("/opt/fix")},
		},
		{
			name: "a bare operand is checked when it exists",
			sc:   scriptConfig("/bin/sh", dir, "data.txt"),
			want: []perm.Target{prog("/bin/sh"), file(existing), wd},
		},
		{
			name: "a bare operand that does not exist is left to dir's check",
			sc:   scriptConfig("/bin/sh", dir, "fix"),
			want: []perm.Target{prog("/bin/sh"), wd},
		},
		{
			name: "an existing file named to any program, relative to dir",
			sc:   scriptConfig("/usr/bin/fixer", dir, "--config", "./data.txt", "./missing.txt"),
			want: []perm.Target{prog("/usr/bin/fixer"), file(existing), wd},
		},
		{
			name: "a program run by a runner is found by its extension",
			sc:   scriptConfig("/usr/bin/timeout", dir, "30", "fix.sh"),
			want: []perm.Target{prog("/usr/bin/timeout"), scr(dir + "/fix.sh"), wd},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := scriptTargetsAt("h", tc.sc, "/", false)
			if !slices.Equal(got, tc.want) {
				t.Errorf("targets:\n got %+v\nwant %+v", got, tc.want)
			}
		})
	}
}

// TestPermTargetsRefusesAMissingScript runs the daemon's check on a
// script that does not exist yet: whoever could create it would choose
// what runs as root.
func TestPermTargetsRefusesAMissingScript(t *testing.T) {
	dir, cfgPath, exe := serviceSetup(t)
	cfg, err := config.Load(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	state := config.StateDir("", cfg)
	if err := checkPermissions(cfg, cfgPath, state, ""); err != nil {
		t.Skipf("the temporary directory is not trusted on this machine: %v", err)
	}
	_ = exe
	if err := os.Remove(filepath.Join(dir, "fix.ps1")); err != nil {
		t.Fatal(err)
	}
	err = checkPermissions(cfg, cfgPath, state, "")
	if err == nil || !strings.Contains(err.Error(), `script in the arguments of handler "fix" `+filepath.Join(dir, "fix.ps1")+" does not exist: whoever can create it") {
		t.Errorf("checkPermissions = %v, want the missing script refused", err)
	}
}

// TestPermTargetsStateDirectoryEntries checks what the daemon keeps in
// its state directory: the outbox's payload becomes scripts' arguments.
func TestPermTargetsStateDirectoryEntries(t *testing.T) {
	dir, cfgPath, _ := serviceSetup(t)
	cfg, err := config.Load(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	state := config.StateDir("", cfg)
	if err := perm.MkdirPrivate(state); err != nil {
		t.Fatal(err)
	}
	if err := checkPermissions(cfg, cfgPath, state, ""); err != nil {
		t.Skipf("the temporary directory is not trusted on this machine: %v", err)
	}
	for _, name := range []string{"outbox.db", "other.json"} {
		f := filepath.Join(state, name)
		if err := os.WriteFile(f, nil, 0o600); err != nil {
			t.Fatal(err)
		}
		if err := checkPermissions(cfg, cfgPath, state, ""); err != nil {
			t.Fatalf("a private %s refused: %v", name, err)
		}
		if err := os.Chmod(f, 0o666); err != nil {
			t.Fatal(err)
		}
		err := checkPermissions(cfg, cfgPath, state, "")
		if err == nil || !strings.Contains(err.Error(), f+" is writable by everyone") {
			t.Errorf("a world-writable %s: %v", name, err)
		}
		if err := os.Chmod(f, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	_ = dir
}

func TestPermTargetsLogFileAndDropFolders(t *testing.T) {
	dir, cfgPath, exe := serviceSetup(t)
	drop := filepath.Join(dir, "drop")
	text, err := os.ReadFile(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	text = append(text, fmt.Sprintf("sources:\n  - folder: %q\n", drop)...)
	if err := os.WriteFile(cfgPath, text, 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	state := config.StateDir("", cfg)
	logs := filepath.Join(dir, "logs")
	got := permTargets(cfg, cfgPath, state, filepath.Join(logs, "logmedic.log"), exe)
	for _, want := range []perm.Target{
		{Path: drop, What: `drop folder of source "folder:` + drop + `"`, Optional: true},
		{Path: logs, What: "log file's directory", Optional: true, Write: true},
		{Path: filepath.Join(logs, "logmedic.log"), What: "log file", Optional: true, Write: true},
	} {
		if !slices.Contains(got, want) {
			t.Errorf("no target %+v in\n%+v", want, got)
		}
	}
	if err := checkPermissions(cfg, cfgPath, state, filepath.Join(logs, "logmedic.log")); err != nil {
		t.Skipf("the temporary directory is not trusted on this machine: %v", err)
	}
	for _, d := range []string{drop, logs} {
		if err := os.Mkdir(d, 0o777); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(d, 0o777); err != nil {
			t.Fatal(err)
		}
		err := checkPermissions(cfg, cfgPath, state, filepath.Join(logs, "logmedic.log"))
		if err == nil || !strings.Contains(err.Error(), d+" is writable by ") {
			t.Errorf("a world-writable %s: %v", d, err)
		}
		if err := os.Chmod(d, 0o700); err != nil {
			t.Fatal(err)
		}
	}
}

func TestPermTargetsOldLogs(t *testing.T) {
	dir, cfgPath, exe := serviceSetup(t)
	cfg, err := config.Load(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	state := config.StateDir("", cfg)
	logs := filepath.Join(dir, "logs")
	for _, d := range []string{logs, state} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			t.Fatal(err)
		}
		for _, name := range []string{"logmedic.log", "logmedic-2026-01-02T03-04-05.000.log.gz", "other.txt"} {
			if err := os.WriteFile(filepath.Join(d, name), nil, 0o600); err != nil {
				t.Fatal(err)
			}
		}
	}
	old := perm.Target{Path: filepath.Join(logs, "logmedic-2026-01-02T03-04-05.000.log.gz"), What: "old log file", Optional: true, Write: true}
	got := permTargets(cfg, cfgPath, state, filepath.Join(logs, "logmedic.log"), exe)
	if !slices.Contains(got, old) || slices.ContainsFunc(got, func(t perm.Target) bool { return t.Path == filepath.Join(logs, "other.txt") }) {
		t.Errorf("a log directory of its own: targets %+v", got)
	}
	// In the state directory, as service install sets it, every entry
	// is a target once.
	got = permTargets(cfg, cfgPath, state, filepath.Join(state, "logmedic.log"), exe)
	seen := map[string]int{}
	for _, tg := range got {
		seen[tg.Path]++
	}
	for _, name := range []string{"logmedic.log", "logmedic-2026-01-02T03-04-05.000.log.gz", "other.txt"} {
		if seen[filepath.Join(state, name)] != 1 {
			t.Errorf("%s is a target %d times in %+v", name, seen[filepath.Join(state, name)], got)
		}
	}
}

// TestScriptOperandInterpretersAreInterpreters: every program whose
// script operand the check finds is one the script handler also treats
// as running its arguments as code, so the two lists cannot drift apart.
func TestScriptOperandInterpretersAreInterpreters(t *testing.T) {
	for name := range interpreters {
		if !script.IsInterpreter(name) {
			t.Errorf("%s has a script operand here but is no interpreter in handlers/script", name)
		}
	}
	for _, name := range []string{"python3.12", "perl5.36", "lua5.4", "bash5", "guile3.0"} {
		if versionedName.MatchString(name) && !script.IsInterpreter(name) {
			t.Errorf("versioned %s is no interpreter in handlers/script", name)
		}
	}
}
