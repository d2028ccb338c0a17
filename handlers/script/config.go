package script

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/logmedic/logmedic/handlers"
)

// Config is a script handler's type-specific configuration. The timeout
// is one of the keys every handler has: the dispatcher puts it on the
// context Deliver gets.
type Config struct {
	Program   string                        `yaml:"program" doc:"Absolute path of the program to run, an existing executable file (an .exe on Windows); it runs as the daemon's account (SYSTEM on Windows). Not a .bat or .cmd file and not cmd.exe: Go cannot quote arguments for cmd.exe (golang/go#27199), so event text could run commands. For PowerShell use powershell.exe with args -NoProfile -NonInteractive -File C:\\path\\fix.ps1."`
	Args      []*handlers.Template          `yaml:"args" doc:"Arguments after the program, one template per element, rendered for each event and passed as exactly one argument each: never joined, split or parsed by a shell. Event text is safer in env or on stdin: a value starting with - may be taken as an option. When the program runs its arguments as code or commands (a shell such as /bin/sh or bash, python, perl, node, awk, sed, env, xargs, find, sudo, ssh, wsl, wscript, mshta, rundll32 and the like), every element must be constant: such a script reads event text from the LOGMEDIC_* variables, env and stdin, as in [-c, 'fix --computer \"$LOGMEDIC_COMPUTER\"']."`
	Env       map[string]*handlers.Template `yaml:"env" doc:"Extra environment variables, name: template, rendered for each event. Names are letters, digits and _, not starting with a digit or with LOGMEDIC_. The program also gets the daemon's environment, without the variables the configuration reads secrets from, and the LOGMEDIC_* variables."`
	Dir       string                        `yaml:"dir" doc:"Absolute path of the working directory; empty means the daemon's (C:\\Windows\\System32 for the service)."`
	MaxOutput int                           `yaml:"max_output" doc:"Bytes of stdout and stderr (together, in the order written) kept for the log and the error, with every secret of the configuration redacted; the rest is dropped and marked truncated. Default 65536, at most 1048576."`
}

const (
	// DefaultMaxOutput is max_output when it is not set.
	DefaultMaxOutput = 64 << 10
	// maxMaxOutput bounds max_output: output is held in memory and in
	// the outbox's last error.
	maxMaxOutput = 1 << 20
)

// Params returns the with: keys an action of this handler may set: none.
// What a script gets is its handler's args and env; an action that needs
// other arguments uses another script handler.
func Params() []handlers.Param { return nil }

// envName is a variable name every OS and shell accepts.
var envName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// Validate checks c and returns every problem, each a *handlers.FieldError
// at its key. It does not look at the file system, so a configuration for
// Windows can be checked anywhere; CheckHost does.
func (c *Config) Validate() error {
	var errs []error
	if msg := checkProgram(c.Program); msg != "" {
		errs = append(errs, handlers.Errf("program", "%s", msg))
	}
	sample := handlers.SampleData()
	for i, t := range c.Args {
		if msg := checkTemplate(t, sample); msg != "" {
			errs = append(errs, handlers.Errf("args", "element %d: %s", i+1, msg))
		}
	}
	if msg := checkPowerShell(c.Program, c.Args); msg != "" {
		errs = append(errs, handlers.Errf("args", "%s", msg))
	}
	if msg := checkInterpreter(programName(c.Program), c.Args); msg != "" {
		errs = append(errs, handlers.Errf("args", "%s", msg))
	}
	names := make([]string, 0, len(c.Env))
	for name := range c.Env {
		names = append(names, name)
	}
	slices.Sort(names)
	for i, name := range names {
		switch {
		case !envName.MatchString(name):
			errs = append(errs, handlers.Errf("env", "%q: a name must be letters, digits and _, not starting with a digit", name))
		case strings.HasPrefix(strings.ToUpper(name), "LOGMEDIC_"):
			errs = append(errs, handlers.Errf("env", "%q: names starting with LOGMEDIC_ are set by logmedic", name))
		case i > 0 && strings.EqualFold(name, names[i-1]):
			errs = append(errs, handlers.Errf("env", "%q and %q: Windows does not tell names apart by case", names[i-1], name))
		}
		if msg := checkTemplate(c.Env[name], sample); msg != "" {
			errs = append(errs, handlers.Errf("env", "%q: %s", name, msg))
		}
	}
	if c.Dir != "" && !isAbs(c.Dir) {
		errs = append(errs, handlers.Errf("dir", "%q is not an absolute path: a relative one would depend on the daemon's working directory", c.Dir))
	}
	if c.MaxOutput < 0 || c.MaxOutput > maxMaxOutput {
		errs = append(errs, handlers.Errf("max_output", "%d is outside 0 (the default, %d) to %d bytes", c.MaxOutput, DefaultMaxOutput, maxMaxOutput))
	}
	return errors.Join(errs...)
}

// CheckHost checks what only the machine that runs the configuration can
// tell: that the program exists, is a regular executable file that not
// every user can change, and that dir is a directory. The loader calls it
// for validate and the daemon, not for logmedic test.
func (c *Config) CheckHost() error {
	var errs []error
	if fi, err := os.Stat(c.Program); err != nil {
		errs = append(errs, handlers.Errf("program", "%s", statMsg(err)))
	} else if !fi.Mode().IsRegular() {
		errs = append(errs, handlers.Errf("program", "%s is not a regular file", c.Program))
	} else if msg := checkProgramFile(c.Program, fi); msg != "" {
		errs = append(errs, handlers.Errf("program", "%s", msg))
	}
	// A link may give an interpreter another name: judge the file it
	// leads to as well (/usr/bin/fix -> /bin/sh, /bin/sh -> busybox).
	if target, err := filepath.EvalSymlinks(c.Program); err == nil && !isInterpreter(programName(c.Program)) {
		if msg := checkInterpreter(programName(target), c.Args); msg != "" {
			errs = append(errs, handlers.Errf("args", "%s is %s: %s", c.Program, target, msg))
		}
	}
	if c.Dir != "" {
		if fi, err := os.Stat(c.Dir); err != nil {
			errs = append(errs, handlers.Errf("dir", "%s", statMsg(err)))
		} else if !fi.IsDir() {
			errs = append(errs, handlers.Errf("dir", "%s is not a directory", c.Dir))
		}
	}
	return errors.Join(errs...)
}

// isAbs accepts the platform's absolute paths and, on any platform,
// Windows ones (C:\dir\x.exe, \\server\share\x.exe), so a configuration
// written for Windows servers can be checked on a Linux workstation.
func isAbs(p string) bool {
	if filepath.IsAbs(p) {
		return true
	}
	if len(p) >= 3 && (p[0]|0x20) >= 'a' && (p[0]|0x20) <= 'z' && p[1] == ':' && (p[2] == '\\' || p[2] == '/') {
		return true
	}
	return strings.HasPrefix(p, `\\`)
}

// checkProgram says what is wrong with program, or "".
func checkProgram(program string) string {
	if program == "" {
		return "required: the absolute path of the program to run"
	}
	// The base name is taken at either separator, so a Windows path is
	// judged the same when the configuration is checked elsewhere.
	base := program[strings.LastIndexAny(program, `/\`)+1:]
	if strings.HasSuffix(base, ".") || strings.HasSuffix(base, " ") {
		return fmt.Sprintf("%q ends with a dot or a space: Windows drops them, so the file run would not be the file named", program)
	}
	if strings.Contains(base, ":") {
		return fmt.Sprintf("%q holds a colon in its file name: on Windows it names a stream of the file, not a program", program)
	}
	lower := strings.ToLower(base)
	switch ext := filepath.Ext(lower); {
	case ext == ".bat" || ext == ".cmd":
		return fmt.Sprintf("%s is a batch file: Windows runs it through cmd.exe, whose quoting rules Go cannot follow (golang/go#27199), so event text in args could run commands; "+
			"use a PowerShell script (program: C:\\Windows\\System32\\WindowsPowerShell\\v1.0\\powershell.exe, args: [-NoProfile, -NonInteractive, -File, C:\\path\\fix.ps1]) or a real executable", base)
	case lower == "cmd.exe" || lower == "cmd" || lower == "command.com":
		return fmt.Sprintf("%s is a command shell: Go cannot quote arguments for cmd.exe (golang/go#27199), so event text in args could run commands; "+
			"use a PowerShell script (program: C:\\Windows\\System32\\WindowsPowerShell\\v1.0\\powershell.exe, args: [-NoProfile, -NonInteractive, -File, C:\\path\\fix.ps1]) or a real executable", base)
	}
	if !isAbs(program) {
		return fmt.Sprintf("%q is not an absolute path: the program is found by its path only, never through PATH or the working directory, so that no other file can take its place", program)
	}
	return checkProgramName(program)
}

// statMsg words a failed os.Stat of a configured path.
func statMsg(err error) string {
	var pe *os.PathError
	if errors.As(err, &pe) {
		if errors.Is(err, os.ErrNotExist) {
			return fmt.Sprintf("%s does not exist", pe.Path)
		}
		return fmt.Sprintf("%s: %v", pe.Path, pe.Err)
	}
	return err.Error()
}

// checkTemplate renders t for the sample event: a template that fails
// there fails at load time, not at 3 a.m.
func checkTemplate(t *handlers.Template, d *handlers.Data) string {
	s, err := t.Execute(d)
	if err != nil {
		return err.Error()
	}
	if strings.IndexByte(s, 0) >= 0 {
		return "renders a NUL byte, which no program can receive"
	}
	return ""
}

// checkPowerShell refuses PowerShell command lines whose templated
// arguments PowerShell would parse as code: -Command (the default of
// powershell.exe when no -File is given) and -EncodedCommand run their
// argument as script text. Every argument up to the script's path after
// -File must be constant.
func checkPowerShell(program string, args []*handlers.Template) string {
	base := strings.ToLower(program[strings.LastIndexAny(program, `/\`)+1:])
	if base != "powershell.exe" && base != "pwsh.exe" && base != "powershell" && base != "pwsh" {
		return ""
	}
	const use = "use -File with a script path: args: [-NoProfile, -NonInteractive, -File, C:\\path\\fix.ps1, ...]"
	for i, t := range args {
		text := ""
		if t != nil {
			text = t.Text
		}
		if strings.Contains(text, "{{") {
			return fmt.Sprintf("element %d is a template before -File and its script path: PowerShell would parse event text as code; %s", i+1, use)
		}
		name := strings.ToLower(strings.TrimLeft(text, "-/"))
		if name == "" || name == text {
			continue // not an option
		}
		if name == "file" || name == "f" {
			if i+1 < len(args) && args[i+1] != nil && strings.Contains(args[i+1].Text, "{{") {
				return fmt.Sprintf("element %d, the script after -File, is a template: event text must not choose the script; %s", i+2, use)
			}
			return ""
		}
		if name == "ec" || name == "cwa" || strings.HasPrefix("command", name) || strings.HasPrefix("encodedcommand", name) || strings.HasPrefix("commandwithargs", name) {
			return fmt.Sprintf("element %d, %s, makes PowerShell run text as code; %s", i+1, text, use)
		}
	}
	return "no -File: powershell.exe would run the arguments as a command; " + use
}

// programName is what identifies a program: the base name of its path
// (at either separator, so a Windows path is judged the same anywhere),
// lower-cased, without .exe or .com.
func programName(program string) string {
	base := strings.ToLower(program[strings.LastIndexAny(program, `/\`)+1:])
	for _, ext := range []string{".exe", ".com"} {
		if b, ok := strings.CutSuffix(base, ext); ok {
			return b
		}
	}
	return base
}

// interpreters are programs that run their arguments, or some of them,
// as code or as command lines: shells, script interpreters, and programs
// that run other programs (env, xargs, find -exec, sudo, ssh, wsl,
// rundll32...). PowerShell has its own rule (checkPowerShell) and
// cmd.exe is refused outright (checkProgram).
var interpreters = map[string]bool{
	// Shells, and busybox, which is all of them.
	"sh": true, "bash": true, "dash": true, "zsh": true, "ksh": true, "ksh93": true, "mksh": true, "pdksh": true,
	"ash": true, "yash": true, "fish": true, "csh": true, "tcsh": true, "busybox": true, "toybox": true,
	// Script interpreters.
	"python": true, "pythonw": true, "py": true, "pypy": true, "perl": true, "ruby": true, "irb": true,
	"node": true, "nodejs": true, "deno": true, "bun": true, "php": true, "php-cgi": true, "lua": true, "luajit": true,
	"tclsh": true, "wish": true, "expect": true, "rscript": true, "julia": true, "jshell": true, "guile": true,
	"osascript": true, "awk": true, "gawk": true, "mawk": true, "nawk": true, "busybox-awk": true, "sed": true, "gsed": true,
	"bc": true, "dc": true, "gdb": true, "vim": true,
	// Programs that run a command they are given.
	"env": true, "xargs": true, "find": true, "sudo": true, "doas": true, "su": true, "runuser": true, "pkexec": true,
	"nohup": true, "nice": true, "ionice": true, "timeout": true, "stdbuf": true, "setsid": true, "chroot": true,
	"taskset": true, "flock": true, "watch": true, "ssh": true, "systemd-run": true,
	"nsenter": true, "unshare": true, "parallel": true,
	// Windows.
	"wsl": true, "wslhost": true, "ubuntu": true, "debian": true, "kali": true, "wscript": true, "cscript": true, "mshta": true, "rundll32": true,
	"forfiles": true, "conhost": true, "runas": true, "schtasks": true, "wmic": true, "psexec": true, "psexec64": true,
	"regsvr32": true, "msbuild": true, "installutil": true, "bitsadmin": true,
}

// versioned are interpreters installed under a versioned name too:
// python3, python3.12, perl5.36, lua5.4, tclsh8.6, php8.2.
var versioned = regexp.MustCompile(`^(python|pythonw|pypy|perl|ruby|node|php|lua|luajit|tclsh|wish|bash|ksh|guile|jshell|ubuntu)[0-9]+(\.[0-9]+)*[a-z]?$`)

// isInterpreter reports whether name (see programName) runs arguments
// as code or commands.
func isInterpreter(name string) bool { return interpreters[name] || versioned.MatchString(name) }

// checkInterpreter refuses templated arguments to a program that would
// run them as code or commands, with name as programName gives it: a
// shell given -c "echo {{.Field "BackupTarget"}}" runs whatever the
// event says. Constant arguments are allowed; event text reaches the
// program through the environment and stdin, where it stays data.
func checkInterpreter(name string, args []*handlers.Template) string {
	if !isInterpreter(name) {
		return ""
	}
	var templated []string
	for i, t := range args {
		if t != nil && strings.Contains(t.Text, "{{") {
			templated = append(templated, strconv.Itoa(i+1))
		}
	}
	if len(templated) == 0 {
		return ""
	}
	what := "element " + templated[0] + " is a template"
	if len(templated) > 1 {
		what = "elements " + strings.Join(templated, ", ") + " are templates"
	}
	return fmt.Sprintf("%s, and %s runs its arguments as code or commands, so event text would run: "+
		"event text reaches such a program only through the LOGMEDIC_* environment variables and stdin; "+
		"use \"$LOGMEDIC_COMPUTER\" inside a constant script (args: [-c, 'fix --computer \"$LOGMEDIC_COMPUTER\"']), or env: for other fields", what, name)
}

// ProgramName is how logmedic names a program in its checks: the base
// name of its path, lower case, without .exe or .com.
func ProgramName(program string) string { return programName(program) }

// IsInterpreter reports whether the program named name (see
// ProgramName) runs its arguments as code or commands.
func IsInterpreter(name string) bool { return isInterpreter(name) }
