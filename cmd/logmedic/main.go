// Command logmedic watches Windows event logs and acts when an admin's
// rule matches. This build has the offline tools: validate, test,
// explain, schema and version.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"runtime"
	"runtime/debug"
)

// Exit codes. CI scripts rely on them.
const (
	exitOK    = 0
	exitFail  = 1 // invalid config (validate), undecodable input (test)
	exitUsage = 2 // bad arguments, or a config test cannot run with
)

// version is set at build time with -ldflags "-X main.version=v1.2.3";
// otherwise it comes from the module's build information.
var version = ""

func main() {
	os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

const usage = `logmedic watches Windows event logs and runs remediation when a rule matches.

Usage:
  logmedic validate -c FILE [--skip-host-checks]
                                               check a configuration
  logmedic test -c FILE [--format text|json] [--dry-run] [--enqueue] INPUT...
                                               show which rules match each event, and
                                               with --dry-run the actions they would send
  logmedic test -c FILE --explain-query        the query each channel source subscribes with
  logmedic outbox list|retry|drop|deliver      inspect and operate the action queue
  logmedic run -c FILE [--stdin]               the daemon: read sources, match, act
  logmedic status [-c FILE]                    what the daemon is doing (or did last)
  logmedic service install|uninstall|start|stop|status [-c FILE]
                                               the Windows service (Windows only)
  logmedic explain CODE...                     explain error codes (any form)
  logmedic explain --list                      list the codes logmedic knows
  logmedic schema                              print the configuration's JSON Schema
  logmedic version                             print the version

INPUT is a file (.xml, .evtx, Event Viewer text), a directory (read
recursively) or - for standard input.
`

func run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return exitUsage
	}
	cmd, rest := args[0], args[1:]
	switch cmd {
	case "validate":
		return cmdValidate(rest, stdout, stderr)
	case "test":
		return cmdTest(rest, stdin, stdout, stderr)
	case "explain":
		return cmdExplain(rest, stdout, stderr)
	case "schema":
		return cmdSchema(rest, stdout, stderr)
	case "outbox":
		return cmdOutbox(rest, stdout, stderr)
	case "run":
		return cmdRun(rest, stdin, stdout, stderr)
	case "status":
		return cmdStatus(rest, stdout, stderr)
	case "service":
		return cmdService(rest, stdout, stderr)
	case "version", "--version", "-version":
		fmt.Fprintf(stdout, "logmedic %s (%s %s/%s)\n", buildVersion(), runtime.Version(), runtime.GOOS, runtime.GOARCH)
		return exitOK
	case "help", "-h", "-help", "--help":
		fmt.Fprint(stdout, usage)
		return exitOK
	}
	fmt.Fprintf(stderr, "logmedic: unknown command %q\n\n%s", cmd, usage)
	return exitUsage
}

func buildVersion() string {
	if version != "" {
		return version
	}
	if bi, ok := debug.ReadBuildInfo(); ok {
		if v := bi.Main.Version; v != "" && v != "(devel)" {
			return v
		}
		for _, s := range bi.Settings {
			if s.Key == "vcs.revision" && len(s.Value) >= 12 {
				return "devel-" + s.Value[:12]
			}
		}
	}
	return "devel"
}

// parseInterspersed parses flags that may stand before, between or after
// the positional arguments, and returns the positional ones.
func parseInterspersed(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		args = fs.Args()
		if len(args) == 0 {
			return pos, nil
		}
		pos = append(pos, args[0])
		args = args[1:]
	}
}

func newFlagSet(name, synopsis string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: logmedic %s %s\n", name, synopsis)
		fs.PrintDefaults()
	}
	return fs
}

func usageErr(stderr io.Writer, err error) int {
	if !errors.Is(err, flag.ErrHelp) {
		fmt.Fprintln(stderr, "logmedic:", err)
	}
	return exitUsage
}
