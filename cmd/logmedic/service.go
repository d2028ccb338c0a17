package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/logmedic/logmedic/config"
	"github.com/logmedic/logmedic/handlers/script"
	"github.com/logmedic/logmedic/internal/perm"
	"github.com/logmedic/logmedic/internal/service"
)

const serviceUsage = `Usage:
  logmedic service install [-c FILE] [--name NAME] [--account ACCOUNT]
                          install the Windows service (automatic, delayed start,
                          restarted on failure) running: logmedic run -c FILE
  logmedic service uninstall [--name NAME]   stop and remove it
  logmedic service start [--name NAME]       start it and wait until it runs
  logmedic service stop [--name NAME]        stop it and wait until it has stopped
  logmedic service status [--name NAME]      its state, PID, start type and command line

FILE defaults to %ProgramData%\logmedic\logmedic.yaml; NAME to logmedic. ACCOUNT
defaults to LocalSystem (scripts run as SYSTEM). Install, uninstall, start
and stop need an administrator.
`

// serviceWait bounds how long start, stop and uninstall wait for the
// service: stopping, logmedic persists its in-flight work first.
const serviceWait = 30 * time.Second

// serviceControl is what logmedic service asks of the service control
// manager: the service package, or a fake in tests.
type serviceControl struct {
	install    func(service.Config) error
	uninstall  func(ctx context.Context, name string) error
	start      func(ctx context.Context, name string) error
	stop       func(ctx context.Context, name string) error
	query      func(name string) (service.Status, error)
	executable func() (string, error)
}

var windowsServices = serviceControl{
	install:    service.Install,
	uninstall:  service.Uninstall,
	start:      service.Start,
	stop:       service.Stop,
	query:      service.Query,
	executable: os.Executable,
}

// cmdService installs and controls the Windows service.
func cmdService(args []string, stdout, stderr io.Writer) int {
	if !servicesSupported {
		fmt.Fprintln(stderr, "logmedic service: Windows services exist only on Windows; on Linux run `logmedic run` under systemd (see README)")
		return exitUsage
	}
	return serviceCommand(args, stdout, stderr, windowsServices)
}

func serviceCommand(args []string, stdout, stderr io.Writer, sc serviceControl) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, serviceUsage)
		return exitUsage
	}
	sub, rest := args[0], args[1:]
	var synopsis string
	switch sub {
	case "install":
		synopsis = "[-c FILE] [--name NAME] [--account ACCOUNT]"
	case "uninstall", "start", "stop", "status":
		synopsis = "[--name NAME]"
	case "help", "-h", "-help", "--help":
		fmt.Fprint(stdout, serviceUsage)
		return exitOK
	default:
		fmt.Fprintf(stderr, "logmedic service: unknown command %q\n\n%s", sub, serviceUsage)
		return exitUsage
	}
	flags := newFlagSet("service "+sub, synopsis, stderr)
	name := flags.String("name", service.DefaultName, "the service's `name`")
	var cfgPath, account *string
	if sub == "install" {
		cfgPath = flags.String("c", defaultServiceConfig(), "configuration `FILE`")
		flags.StringVar(cfgPath, "config", defaultServiceConfig(), "configuration `FILE` (same as -c)")
		account = flags.String("account", "", "the `account` it runs as: LocalSystem (default), LocalService, NetworkService, NT SERVICE\\NAME or DOMAIN\\gMSA$")
	}
	pos, err := parseInterspersed(flags, rest)
	if err != nil {
		return usageErr(stderr, err)
	}
	if len(pos) > 0 || *name == "" {
		flags.Usage()
		return exitUsage
	}
	ctx, cancel := context.WithTimeoutCause(context.Background(), serviceWait, fmt.Errorf("gave up after %s", serviceWait))
	defer cancel()
	fail := func(err error) int {
		msg := err.Error()
		switch {
		case errors.Is(err, service.ErrExists):
			msg += "; run logmedic service uninstall" + nameFlag(*name) + " first"
		case errors.Is(err, fs.ErrPermission):
			msg += " (run it as an administrator, from an elevated prompt)"
		}
		fmt.Fprintf(stderr, "logmedic service %s: %s\n", sub, msg)
		return exitFail
	}
	switch sub {
	case "install":
		return serviceInstall(*cfgPath, *name, *account, stdout, stderr, sc, fail)
	case "uninstall":
		if err := sc.uninstall(ctx, *name); err != nil {
			return fail(err)
		}
		fmt.Fprintf(stdout, "removed service %s\n", *name)
	case "start":
		if err := sc.start(ctx, *name); err != nil {
			return fail(err)
		}
		st, err := sc.query(*name)
		if err != nil {
			return fail(err)
		}
		fmt.Fprintf(stdout, "service %s is %s\n", *name, stateText(st))
	case "stop":
		if err := sc.stop(ctx, *name); err != nil {
			return fail(err)
		}
		fmt.Fprintf(stdout, "service %s is stopped\n", *name)
	case "status":
		st, err := sc.query(*name)
		if err != nil {
			return fail(err)
		}
		printServiceStatus(stdout, st)
	}
	return exitOK
}

// defaultServiceConfig is %ProgramData%\logmedic\logmedic.yaml on
// Windows: the configuration sits in the default state directory.
func defaultServiceConfig() string {
	return filepath.Join(config.StateDir("", nil), "logmedic.yaml")
}

func nameFlag(name string) string {
	if name == service.DefaultName {
		return ""
	}
	return " --name " + name
}

func serviceInstall(cfgPath, name, account string, stdout, stderr io.Writer, sc serviceControl, fail func(error) int) int {
	abs, err := filepath.Abs(cfgPath)
	if err != nil {
		return fail(err)
	}
	switch fi, err := os.Stat(abs); {
	case errors.Is(err, fs.ErrNotExist):
		return fail(fmt.Errorf("configuration %s does not exist: write it, check it with logmedic validate -c %s, then install", abs, abs))
	case err != nil:
		return fail(err)
	case !fi.Mode().IsRegular():
		return fail(fmt.Errorf("configuration %s is not a file", abs))
	}
	// The service's environment is not this shell's: secrets' variables
	// and scripts are checked when the service starts.
	cfg, err := config.LoadWith(abs, config.Options{SkipHostChecks: true})
	if err != nil {
		fmt.Fprintln(stderr, err)
		return fail(errors.New("fix the configuration first"))
	}
	exe, err := sc.executable()
	if err != nil {
		return fail(fmt.Errorf("find logmedic's own program: %w", err))
	}
	stateDir := config.StateDir("", cfg)
	// Under the service control manager standard error goes nowhere:
	// the log goes to a file in the state directory.
	args := []string{"run", "-c", abs, "--log-file", filepath.Join(stateDir, "logmedic.log")}

	if ps := perm.CheckSystem(permTargets(cfg, abs, stateDir, exe)); len(ps) > 0 {
		fmt.Fprintf(stderr, "logmedic service install: warning: the service will refuse to start until this is fixed: %v\n", perm.Err(ps))
	}
	if err := sc.install(service.Config{Name: name, Exe: exe, Args: args, Account: account}); err != nil {
		return fail(err)
	}
	acct := account
	if acct == "" {
		acct = "LocalSystem"
	}
	fmt.Fprintf(stdout, "installed service %s: automatic (delayed start), as %s, restarted on failure\n  command: %s\nstart it with: logmedic service start%s\n",
		name, acct, service.CommandLine(exe, args), nameFlag(name))
	return exitOK
}

func stateText(st service.Status) string {
	if st.PID != 0 {
		return fmt.Sprintf("%s (pid %d)", st.State, st.PID)
	}
	return st.State.String()
}

// printServiceStatus shows what logmedic service status reports.
func printServiceStatus(w io.Writer, st service.Status) {
	name := st.Name
	if st.DisplayName != "" {
		name += " (" + st.DisplayName + ")"
	}
	fmt.Fprintf(w, "service:     %s\n", name)
	fmt.Fprintf(w, "state:       %s\n", stateText(st))
	if last := st.LastExit(); last != "" {
		fmt.Fprintf(w, "last exit:   %s\n", last)
	}
	fmt.Fprintf(w, "start type:  %s\n", st.StartType)
	fmt.Fprintf(w, "account:     %s\n", st.Account)
	if cfg := configArg(st.Args); cfg != "" {
		fmt.Fprintf(w, "config:      %s\n", cfg)
	}
	line := st.CommandLine
	if line == "" {
		line = service.CommandLine(st.Exe, st.Args)
	}
	fmt.Fprintf(w, "command:     %s\n", line)
}

// configArg finds run's configuration among a service's arguments.
func configArg(args []string) string {
	for i, a := range args {
		flag, value, hasValue := strings.Cut(strings.TrimLeft(a, "-"), "=")
		if !strings.HasPrefix(a, "-") || (flag != "c" && flag != "config") {
			continue
		}
		if hasValue {
			return value
		}
		if i+1 < len(args) {
			return args[i+1]
		}
	}
	return ""
}

// permTargets lists what decides the code logmedic runs with its
// privileges: logmedic's own program (exe, unless ""), the
// configuration, each script handler's program, the files its constant
// arguments name and its working directory, and the state directory
// (which the daemon creates if missing).
func permTargets(cfg *config.Config, cfgPath, stateDir, exe string) []perm.Target {
	var targets []perm.Target
	if exe != "" {
		targets = append(targets, perm.Target{Path: exe, What: "program"})
	}
	targets = append(targets, perm.Target{Path: cfgPath, What: "config"})
	names := make([]string, 0, len(cfg.Handlers))
	for name := range cfg.Handlers {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		sc, ok := cfg.Handlers[name].Config.(*script.Config)
		if !ok || sc == nil {
			continue
		}
		if sc.Program != "" {
			targets = append(targets, perm.Target{Path: sc.Program, What: fmt.Sprintf("program of handler %q", name)})
		}
		for _, a := range sc.Args {
			// A script passed to an interpreter: powershell.exe -File
			// C:\fix.ps1, /bin/sh /opt/fix.sh.
			if a == nil || strings.Contains(a.Text, "{{") || !filepath.IsAbs(a.Text) {
				continue
			}
			if fi, err := os.Stat(a.Text); err == nil && fi.Mode().IsRegular() {
				targets = append(targets, perm.Target{Path: a.Text, What: fmt.Sprintf("file in the arguments of handler %q", name)})
			}
		}
		if sc.Dir != "" {
			targets = append(targets, perm.Target{Path: sc.Dir, What: fmt.Sprintf("working directory of handler %q", name)})
		}
	}
	return append(targets, perm.Target{Path: stateDir, What: "state directory", Optional: true})
}

// checkPermissions is the daemon's start-up check: logmedic's program,
// the configuration, the scripts it names and the state directory must
// be changeable only by administrators (root; SYSTEM, Administrators,
// TrustedInstaller) and the account logmedic runs as. It returns nil, or
// an error listing every problem with its fix.
func checkPermissions(cfg *config.Config, cfgPath, stateDir string) error {
	exe, err := os.Executable()
	if err != nil {
		exe = "" // the configuration and scripts are still checked
	}
	return perm.Err(perm.Check(permTargets(cfg, cfgPath, stateDir, exe)))
}
