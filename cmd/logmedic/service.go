package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"time"

	"github.com/logmedic/logmedic/config"
	"github.com/logmedic/logmedic/handlers/script"
	"github.com/logmedic/logmedic/internal/perm"
	"github.com/logmedic/logmedic/internal/service"
)

const serviceUsage = `Usage:
  logmedic service install [-c FILE] [--name NAME] [--account ACCOUNT] [--force]
                          install the Windows service (automatic, delayed start,
                          restarted on failure) running: logmedic run -c FILE
  logmedic service uninstall [--name NAME]   remove it, stopping it if it runs
  logmedic service start [--name NAME]       start it and wait until it runs
  logmedic service stop [--name NAME]        stop it and wait until it has stopped
  logmedic service status [--name NAME]      its state, PID, start type and command line

FILE defaults to %ProgramData%\logmedic\logmedic.yaml; NAME to logmedic. ACCOUNT
defaults to LocalSystem (scripts run as SYSTEM). Install refuses while
logmedic's program, the configuration, the scripts it names or the state
directory can be changed by others than administrators; --force installs
anyway. Install, uninstall, start and stop need an administrator.
`

// serviceStartWait bounds how long start waits for the service to run.
const serviceStartWait = 30 * time.Second

// serviceStopWait bounds how long stop and uninstall wait for the service
// to stop: longer than the service itself takes at most (it persists its
// in-flight work first, and gives up after service.MaxStop).
const serviceStopWait = service.MaxStop + 10*time.Second

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
		synopsis = "[-c FILE] [--name NAME] [--account ACCOUNT] [--force]"
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
	var force *bool
	if sub == "install" {
		cfgPath = flags.String("c", defaultServiceConfig(), "configuration `FILE`")
		flags.StringVar(cfgPath, "config", defaultServiceConfig(), "configuration `FILE` (same as -c)")
		account = flags.String("account", "", "the `account` it runs as: LocalSystem (default), LocalService, NetworkService, NT SERVICE\\NAME or DOMAIN\\gMSA$")
		force = flags.Bool("force", false, "install even though files the service trusts can be changed by others than administrators")
	}
	pos, err := parseInterspersed(flags, rest)
	if err != nil {
		return usageErr(stderr, err)
	}
	if len(pos) > 0 || *name == "" {
		flags.Usage()
		return exitUsage
	}
	wait := serviceStopWait
	if sub == "start" {
		wait = serviceStartWait
	}
	ctx, cancel := context.WithTimeoutCause(context.Background(), wait, fmt.Errorf("gave up after %s", wait))
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
		return serviceInstall(*cfgPath, *name, *account, *force, stdout, stderr, sc, fail)
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

func serviceInstall(cfgPath, name, account string, force bool, stdout, stderr io.Writer, sc serviceControl, fail func(error) int) int {
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
	// The account's SID is trusted by the check, and granted what it
	// needs by the fixes it suggests.
	sid, err := service.AccountSID(account)
	if err != nil {
		return fail(err)
	}
	acct := account
	if acct == "" {
		acct = "LocalSystem"
	}
	stateDir := config.StateDir("", cfg)
	// Under the service control manager standard error goes nowhere:
	// the log goes to a file in the state directory.
	logFile := filepath.Join(stateDir, "logmedic.log")
	args := []string{"run", "-c", abs, "--log-file", logFile}

	wd := serviceWorkDir()
	inService := func(name string, h *script.Config) []perm.Target {
		return scriptTargetsAt(name, h, wd, runtime.GOOS == "windows")
	}
	if ps := perm.CheckService(permTargetsWith(cfg, abs, stateDir, logFile, exe, inService), sid); len(ps) > 0 {
		program := slices.ContainsFunc(ps, func(p perm.Problem) bool { return p.What == "program" })
		if !force {
			fmt.Fprintf(stderr, "logmedic service install: %v\n", perm.Err(ps))
			return fail(fmt.Errorf("not installed: whoever can change these files could run code as %s; fix them, or install anyway with --force", acct))
		}
		fmt.Fprintf(stderr, "logmedic service install: warning: installing anyway (--force): %v\n", perm.Err(ps))
		if program {
			fmt.Fprintf(stderr, "logmedic service install: warning: logmedic's own program can be replaced: a replaced program runs as %s at the next start, and no check of logmedic's stops it; fix that first\n", acct)
		} else {
			fmt.Fprintln(stderr, "logmedic service install: warning: the service refuses to start until this is fixed")
		}
	}
	if err := sc.install(service.Config{Name: name, Exe: exe, Args: args, Account: account}); err != nil {
		return fail(err)
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
// privileges, for the daemon's check (checkPermissions):
//
//   - logmedic's own program (exe, unless "") and the configuration;
//   - each script handler's targets (scriptTargets);
//   - the state directory, which the daemon creates if missing, and
//     every entry directly in it: the outbox's payload becomes the
//     arguments and environment of scripts, so whoever could write
//     outbox.db would choose what runs. Every entry rather than a list
//     of names: the daemon keeps nothing else there, a name added later
//     is covered, and any other file there that others can change is a
//     sign of trouble. The entries are optional: a temporary file may go
//     between listing and checking;
//   - with a log file (--log-file), its directory and the file, which
//     the logger creates, appends to following links, renames,
//     compresses and deletes with the daemon's privileges;
//   - each drop folder: whoever can add files to it chooses the events
//     logmedic acts on, and so the values scripts get.
func permTargets(cfg *config.Config, cfgPath, stateDir, logFile, exe string) []perm.Target {
	return permTargetsWith(cfg, cfgPath, stateDir, logFile, exe, scriptTargets)
}

// permTargetsWith is permTargets with each script handler's targets
// from scripts: service install finds relative arguments in the
// service's working directory, not its own.
func permTargetsWith(cfg *config.Config, cfgPath, stateDir, logFile, exe string, scripts func(name string, sc *script.Config) []perm.Target) []perm.Target {
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
		targets = append(targets, scripts(name, sc)...)
	}
	for _, s := range cfg.Sources {
		if s.Folder != "" {
			targets = append(targets, perm.Target{Path: s.Folder, What: fmt.Sprintf("drop folder of source %q", s.Name), Optional: true})
		}
	}
	targets = append(targets, perm.Target{Path: stateDir, What: "state directory", Optional: true, Write: true})
	targets = append(targets,
		perm.Target{Path: config.OutboxPath(stateDir), What: "outbox (its actions become scripts' arguments)", Optional: true, Write: true},
		perm.Target{Path: filepath.Join(stateDir, statusName), What: "status file", Optional: true, Write: true})
	skip := []string{config.OutboxPath(stateDir), filepath.Join(stateDir, statusName), cfgPath, logFile}
	targets = append(targets, dirEntries(stateDir, "", "state directory", "file in the state directory", skip)...)
	if logFile != "" {
		dir := filepath.Dir(logFile)
		targets = append(targets,
			perm.Target{Path: dir, What: "log file's directory", Optional: true, Write: true},
			perm.Target{Path: logFile, What: "log file", Optional: true, Write: true})
		// Old logs: lumberjack names them logmedic-<time>.log(.gz). In
		// the state directory (as service install sets it) they are
		// listed already.
		if !sameFile(dir, stateDir) {
			base := filepath.Base(logFile)
			prefix := strings.TrimSuffix(base, filepath.Ext(base)) + "-"
			targets = append(targets, dirEntries(dir, prefix, "log file's directory", "old log file", skip)...)
		}
	}
	return targets
}

// dirEntries returns the entries of dir (dirWhat) whose names start with
// prefix, but not the paths in skip, as optional targets the daemon
// writes. A missing dir has none; one that cannot be listed is refused.
func dirEntries(dir, prefix, dirWhat, what string, skip []string) []perm.Target {
	entries, err := os.ReadDir(dir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil
	case err != nil:
		return []perm.Target{{Path: dir, What: dirWhat, Refuse: "cannot be checked: " + err.Error()}}
	}
	var targets []perm.Target
	for _, e := range entries {
		p := filepath.Join(dir, e.Name())
		if !strings.HasPrefix(e.Name(), prefix) || slices.ContainsFunc(skip, func(s string) bool { return s != "" && sameFile(s, p) }) {
			continue
		}
		targets = append(targets, perm.Target{Path: p, What: what, Optional: true, Write: true})
	}
	return targets
}

// sameFile reports whether a and b name the same path, made absolute
// and cleaned (without regard to case on Windows).
func sameFile(a, b string) bool {
	a, errA := filepath.Abs(a)
	b, errB := filepath.Abs(b)
	if errA != nil || errB != nil {
		return false
	}
	if runtime.GOOS == "windows" {
		return strings.EqualFold(a, b)
	}
	return a == b
}

// scriptTargets lists what decides the code the script handler name
// runs, for run.go to check again right before each run: its program,
// the files its constant arguments name, and its working directory.
//
// An argument names a file when it looks like a path (it holds a path
// separator, or ends in a script's extension such as .ps1, .py or .sh),
// and is found relative to dir, or to the daemon's working directory
// without one. The script an interpreter runs (what follows
// powershell.exe's -File, or the first operand of a shell, python,
// perl, wscript...; see scriptOperand) and any argument with a script's
// extension must exist: a missing one is a problem, since whoever can
// create it would choose what runs. Other arguments are checked when
// they name an existing file. Constant arguments only: an interpreter's
// templated arguments are refused when the configuration loads. On
// Windows a path relative to the current drive's root (\fix.ps1) or to
// a drive's working directory (C:fix.ps1) is refused: what it names
// depends on the daemon's state.
func scriptTargets(name string, sc *script.Config) []perm.Target {
	return scriptTargetsAt(name, sc, daemonWorkDir(), runtime.GOOS == "windows")
}

// scriptTargetsAt is scriptTargets for a daemon whose working directory
// is wd, judging paths as Windows does when windows is set (on any OS:
// what must exist is not looked up).
func scriptTargetsAt(name string, sc *script.Config, wd string, windows bool) []perm.Target {
	targets := []perm.Target{{Path: sc.Program, What: fmt.Sprintf("program of handler %q", name)}}
	if sc.Program == "" {
		targets = nil
	}
	base := sc.Dir
	if base == "" {
		base = wd
	}
	texts := make([]string, len(sc.Args))
	for i, a := range sc.Args {
		if a == nil || strings.Contains(a.Text, "{{") {
			texts[i] = "{{" // not constant: never a file here
			continue
		}
		texts[i] = a.Text
	}
	operand := scriptOperand(script.ProgramName(sc.Program), texts, windows)
	for i, text := range texts {
		if text == "" || strings.Contains(text, "{{") || strings.Contains(text, "://") {
			continue
		}
		isOperand := i == operand
		code := hasScriptExt(text)
		if !isOperand && (isOption(text, windows) || !code && !hasSeparator(text, windows)) {
			continue
		}
		p, refuse := argPath(text, base, windows)
		pathLike := code || hasSeparator(text, windows)
		switch {
		case refuse != "" && pathLike:
			targets = append(targets, perm.Target{Path: text, What: fmt.Sprintf("script in the arguments of handler %q", name), Refuse: refuse})
		case refuse != "":
		case pathLike && (isOperand || code):
			targets = append(targets, perm.Target{Path: p, What: fmt.Sprintf("script in the arguments of handler %q", name)})
		default:
			if fi, err := os.Stat(p); err == nil && (fi.Mode().IsRegular() || isOperand) {
				targets = append(targets, perm.Target{Path: p, What: fmt.Sprintf("file in the arguments of handler %q", name)})
			}
		}
	}
	if sc.Dir != "" {
		targets = append(targets, perm.Target{Path: sc.Dir, What: fmt.Sprintf("working directory of handler %q", name)})
	}
	return targets
}

// daemonWorkDir is the daemon's working directory, "" if unknown.
func daemonWorkDir() string {
	wd, err := os.Getwd()
	if err != nil {
		return ""
	}
	return wd
}

// scriptExts are the extensions of files that programs run as code.
var scriptExts = []string{
	".ps1", ".psm1", ".py", ".pyw", ".sh", ".bash", ".zsh", ".ksh", ".csh", ".fish",
	".vbs", ".vbe", ".js", ".jse", ".mjs", ".cjs", ".wsf", ".wsh", ".hta",
	".pl", ".pm", ".rb", ".php", ".lua", ".tcl", ".r", ".bat", ".cmd",
}

func hasScriptExt(text string) bool {
	base := text[strings.LastIndexAny(text, `/\`)+1:]
	i := strings.LastIndexByte(base, '.')
	return i > 0 && slices.Contains(scriptExts, strings.ToLower(base[i:]))
}

func hasSeparator(text string, windows bool) bool {
	return strings.Contains(text, "/") || windows && strings.Contains(text, `\`)
}

// isOption reports whether an argument is an option rather than a file:
// -x, --x, and on Windows /x and //x (but not /dir/x or \\server\x).
func isOption(text string, windows bool) bool {
	switch {
	case strings.HasPrefix(text, "-"):
		return true
	case !windows || !strings.HasPrefix(text, "/"):
		return false
	}
	rest := strings.TrimLeft(text, "/")
	return !strings.ContainsAny(rest, `/\`) && !hasScriptExt(rest)
}

// argPath resolves a constant argument against base: the path it names,
// or why it cannot be judged.
func argPath(text, base string, windows bool) (path, refuse string) {
	if windows {
		switch {
		case isAbsWindows(text):
			return text, ""
		case strings.HasPrefix(text, `\`) || strings.HasPrefix(text, "/"):
			return "", `is relative to the root of the current drive: write the drive, as in C:\fix.ps1`
		case len(text) >= 2 && text[1] == ':' && isLetter(text[0]):
			return "", "is relative to the working directory of drive " + strings.ToUpper(text[:2]) + `: write the whole path, as in C:\fix.ps1`
		case base == "":
			return "", "is a relative path, and the daemon's working directory is unknown: write the whole path"
		}
		return strings.TrimRight(base, `\/`) + `\` + text, ""
	}
	switch {
	case filepath.IsAbs(text):
		return text, ""
	case base == "":
		return "", "is a relative path, and the daemon's working directory is unknown: write the whole path"
	}
	return filepath.Join(base, text), ""
}

// isAbsWindows reports whether p is an absolute Windows path: C:\x,
// C:/x, or \\server\share\x (also \\?\C:\x).
func isAbsWindows(p string) bool {
	if strings.HasPrefix(p, `\\`) || strings.HasPrefix(p, "//") {
		return len(p) > 2
	}
	return len(p) >= 3 && p[1] == ':' && isLetter(p[0]) && (p[2] == '\\' || p[2] == '/')
}

func isLetter(c byte) bool { return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' }

// interpreter is how a script interpreter takes its script: after its
// options, unless one of them makes it run text (sh -c, python -c and
// -m, perl -e, node -e...) instead of a file.
type interpreter struct {
	inline     string   // option letters after which it runs text, not a file: "c" for sh -c
	values     string   // option letters whose value may be the next argument: "W" for python -W ignore
	attached   string   // option letters whose value is the rest of the option: perl -i.bak
	file       string   // option letters whose value is the script: php -f fix.php
	longInline []string // long options after which it runs text
	longValues []string // long options whose value is the next argument
	plus       bool     // +o options too (shells)
	slash      bool     // //B options (wscript, cscript)
}

// interpreters are the programs whose first operand is a script they
// run, by script.ProgramName. Runners of other programs (env, sudo, timeout...)
// take options with values that cannot be told apart here: what they
// run is found by its path or its extension alone. The script
// handler's own list (handlers/script) decides which programs take
// templated arguments; this one only where their script is.
var interpreters = func() map[string]interpreter {
	shell := interpreter{inline: "c", values: "oO", longInline: []string{"--command"}, longValues: []string{"--init-file", "--rcfile"}, plus: true}
	python := interpreter{inline: "cm", values: "WX", longValues: []string{"--check-hash-based-pycs"}}
	m := map[string]interpreter{
		"perl":  {inline: "eE", attached: "iIlMmxCdD0"},
		"ruby":  {inline: "e", values: "IrC", attached: "xiKTWl0E"},
		"node":  {inline: "ep", values: "rC", longInline: []string{"--eval", "--print"}, longValues: []string{"--require", "--import", "--loader", "--experimental-loader", "--conditions", "--input-type"}},
		"php":   {inline: "r", values: "cdz", file: "f"},
		"lua":   {inline: "e", values: "l"},
		"tclsh": {}, "wish": {},
		"expect":    {inline: "c", file: "f"},
		"rscript":   {inline: "e"},
		"julia":     {inline: "eE", longInline: []string{"--eval", "--print"}},
		"guile":     {inline: "c", values: "lLx", file: "s"},
		"osascript": {inline: "e", values: "l"},
		"wscript":   {slash: true}, "cscript": {slash: true}, "mshta": {slash: true},
	}
	for _, n := range []string{"sh", "bash", "dash", "zsh", "ksh", "ksh93", "mksh", "pdksh", "ash", "yash", "fish", "csh", "tcsh"} {
		m[n] = shell
	}
	for _, n := range []string{"python", "pythonw", "py", "pypy"} {
		m[n] = python
	}
	m["nodejs"], m["luajit"] = m["node"], m["lua"]
	return m
}()

// versionedName is an interpreter installed under a versioned name:
// python3.12, perl5.36, lua5.4.
var versionedName = regexp.MustCompile(`^(python|pythonw|pypy|perl|ruby|node|php|lua|luajit|tclsh|wish|bash|ksh|guile)[0-9]+(\.[0-9]+)*[a-z]?$`)

// scriptOperand returns the index in args of the script the program
// named prog (see script.ProgramName) runs: the value of PowerShell's -File,
// or an interpreter's first operand; -1 when there is none, or the
// program is no interpreter. Templated arguments are "{{".
func scriptOperand(prog string, args []string, windows bool) int {
	if prog == "powershell" || prog == "pwsh" {
		for i, a := range args {
			name := strings.ToLower(strings.TrimLeft(a, "-/"))
			if name != a && (name == "file" || name == "f") && i+1 < len(args) {
				return i + 1
			}
		}
		return -1
	}
	in, ok := interpreters[prog]
	if !ok {
		m := versionedName.FindStringSubmatch(prog)
		if m == nil {
			return -1
		}
		in = interpreters[m[1]]
	}
	for i := 0; i < len(args); i++ {
		a := args[i]
		switch {
		case a == "--":
			if i+1 < len(args) {
				return i + 1
			}
			return -1
		case a == "-" || a == "{{":
			return -1 // stdin, or chosen by the event
		case strings.HasPrefix(a, "--"):
			name, _, hasValue := strings.Cut(a, "=")
			if slices.Contains(in.longInline, name) {
				return -1
			}
			if !hasValue && slices.Contains(in.longValues, name) {
				i++
			}
		case strings.HasPrefix(a, "-") || in.plus && strings.HasPrefix(a, "+"):
			for j := 1; j < len(a); j++ {
				c := a[j]
				rest := a[j+1:]
				switch {
				case strings.IndexByte(in.inline, c) >= 0:
					return -1
				case strings.IndexByte(in.file, c) >= 0:
					if rest == "" && i+1 < len(args) {
						return i + 1
					}
					return -1
				case strings.IndexByte(in.values, c) >= 0:
					if rest == "" {
						i++
					}
				case strings.IndexByte(in.attached, c) >= 0:
				default:
					continue
				}
				break
			}
		case in.slash && strings.HasPrefix(a, "/") && isOption(a, true):
		default:
			return i
		}
	}
	return -1
}

// checkPermissions is the daemon's start-up check: logmedic's
// program, the configuration, the scripts it names, the state directory
// and what is in it, the log file (logFile, the --log-file flag; "" for
// none) and its directory, and the drop folders must be changeable only
// by administrators (root; SYSTEM, Administrators, TrustedInstaller) and
// the account logmedic runs as. It returns nil, or an error listing
// every problem with its fix.
func checkPermissions(cfg *config.Config, cfgPath, stateDir, logFile string) error {
	exe, err := os.Executable()
	if err != nil {
		exe = "" // the configuration and scripts are still checked
	}
	return perm.Err(perm.Check(permTargets(cfg, cfgPath, stateDir, logFile, exe)))
}
