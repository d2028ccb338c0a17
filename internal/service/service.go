// Package service installs, controls and runs logmedic as a Windows
// service, through golang.org/x/sys/windows/svc and its mgr and eventlog
// packages.
//
// Only service_windows.go talks to Windows. What can be decided
// anywhere is here and tested on every OS: the handler's state machine
// (execute), names of states and start types, command-line quoting,
// recovery actions and configuration checks. Elsewhere the functions
// return ErrNotWindows and IsService reports false.
package service

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
)

// DefaultName is the service's name, and its event source's.
const DefaultName = "logmedic"

// Defaults for Config.
const (
	DefaultDisplayName = "logmedic event-log watcher"
	DefaultDescription = "Watches Windows event logs and runs remediation (tickets, alerts, scripts) when a rule matches. Configuration: the -c argument."
)

// Config describes the service to install.
type Config struct {
	Name        string // DefaultName if empty
	DisplayName string // DefaultDisplayName if empty
	Description string // DefaultDescription if empty
	// Exe is the absolute path of logmedic.exe.
	Exe string
	// Args follow Exe on the service's command line, e.g. ["run", "-c",
	// `C:\ProgramData\logmedic\logmedic.yaml`].
	Args []string
	// Account is the account the service runs as: "" or "LocalSystem"
	// for LocalSystem (the default: scripts run as SYSTEM),
	// "LocalService", "NetworkService", a virtual account (`NT
	// SERVICE\logmedic`) or a group managed service account
	// (`DOMAIN\name$`). Accounts with passwords are refused: install
	// takes no password.
	Account string
}

// Errors.
var (
	// ErrNotWindows is returned by every function off Windows. It
	// matches errors.ErrUnsupported.
	ErrNotWindows error = notWindows{}
	// ErrExists is returned by Install when a service of that name
	// exists: uninstall it first. Install does not update a service in
	// place: that would change, without notice, the account or the
	// configuration a running service was set up with. Errors read
	// "service logmedic already exists".
	ErrExists = errors.New("already exists")
	// ErrNotInstalled is returned when there is no service of that
	// name: "service logmedic is not installed".
	ErrNotInstalled = errors.New("is not installed")
)

type notWindows struct{}

func (notWindows) Error() string { return "windows services exist only on Windows" }
func (notWindows) Unwrap() error { return errors.ErrUnsupported }

// State is a service's state as the service control manager reports it.
// The values are Windows' SERVICE_STOPPED and so on.
type State uint32

// States (winsvc.h).
const (
	Stopped         State = 1
	StartPending    State = 2
	StopPending     State = 3
	Running         State = 4
	ContinuePending State = 5
	PausePending    State = 6
	Paused          State = 7
)

func (s State) String() string {
	switch s {
	case Stopped:
		return "stopped"
	case StartPending:
		return "start pending"
	case StopPending:
		return "stop pending"
	case Running:
		return "running"
	case ContinuePending:
		return "continue pending"
	case PausePending:
		return "pause pending"
	case Paused:
		return "paused"
	}
	return fmt.Sprintf("state %d", uint32(s))
}

// Status is what logmedic service status shows.
type Status struct {
	Name        string
	DisplayName string
	State       State
	PID         uint32 // while running, else 0
	StartType   string // "automatic (delayed start)", "manual", ...
	Account     string // "LocalSystem", `NT AUTHORITY\LocalService`, ...
	// CommandLine is the service's command line as registered; Exe and
	// Args are it split.
	CommandLine string
	Exe         string
	Args        []string
	// The last exit: Win32ExitCode is 1066 (ERROR_SERVICE_SPECIFIC_ERROR)
	// when ServiceExitCode holds logmedic's own code.
	Win32ExitCode   uint32
	ServiceExitCode uint32
}

// errServiceSpecific is ERROR_SERVICE_SPECIFIC_ERROR.
const errServiceSpecific = 1066

// LastExit describes how the service last stopped, or "" if cleanly (or
// while it runs).
func (s Status) LastExit() string {
	switch {
	case s.State != Stopped || s.Win32ExitCode == 0:
		return ""
	case s.Win32ExitCode == errServiceSpecific:
		return fmt.Sprintf("failed with exit code %d; see the Application event log, source %s", s.ServiceExitCode, s.Name)
	}
	return fmt.Sprintf("failed with Windows error %d", s.Win32ExitCode)
}

// Start types (winnt.h).
const (
	startBoot      = 0
	startSystem    = 1
	startAutomatic = 2
	startManual    = 3
	startDisabled  = 4
)

// startTypeName names a start type as services.msc does.
func startTypeName(t uint32, delayed bool) string {
	switch t {
	case startAutomatic:
		if delayed {
			return "automatic (delayed start)"
		}
		return "automatic"
	case startManual:
		return "manual"
	case startDisabled:
		return "disabled"
	case startBoot:
		return "boot"
	case startSystem:
		return "system"
	}
	return fmt.Sprintf("start type %d", t)
}

// Recovery: restart after 5s, 30s, then 60s; the failure count resets
// after a day without failures. They apply also when logmedic stops with
// an error of its own (a non-zero exit code), not only when it crashes.
var (
	recoveryDelays = []time.Duration{5 * time.Second, 30 * time.Second, 60 * time.Second}
	recoveryReset  = 24 * time.Hour
)

// maxNameLen is the longest service name the service control manager
// takes.
const maxNameLen = 256

// withDefaults checks c and fills in its defaults.
func (c Config) withDefaults() (Config, error) {
	if c.Name == "" {
		c.Name = DefaultName
	}
	if err := checkName(c.Name); err != nil {
		return c, err
	}
	if c.DisplayName == "" {
		c.DisplayName = DefaultDisplayName
	}
	if c.Description == "" {
		c.Description = DefaultDescription
	}
	if !isAbsWindows(c.Exe) {
		return c, fmt.Errorf("program %q is not an absolute path", c.Exe)
	}
	acct, err := account(c.Account)
	if err != nil {
		return c, err
	}
	c.Account = acct
	return c, nil
}

func checkName(name string) error {
	switch {
	case name == "":
		return errors.New("service name is empty")
	case len(name) > maxNameLen:
		return fmt.Errorf("service name is longer than %d characters", maxNameLen)
	case strings.ContainsAny(name, `/\`):
		return fmt.Errorf("service name %q contains a slash or backslash", name)
	}
	return nil
}

// isAbsWindows reports whether p is an absolute Windows path (C:\x or
// \\server\share\x), whatever OS judges.
func isAbsWindows(p string) bool {
	if strings.HasPrefix(p, `\\`) {
		return len(p) > 2
	}
	return len(p) >= 3 && p[1] == ':' && (p[2] == '\\' || p[2] == '/') &&
		('a' <= p[0] && p[0] <= 'z' || 'A' <= p[0] && p[0] <= 'Z')
}

// account returns the account name CreateService takes ("" is
// LocalSystem), or an error for accounts that need a password.
func account(a string) (string, error) {
	switch strings.ToLower(a) {
	case "", "localsystem", `.\localsystem`, `nt authority\system`:
		return "", nil
	case "localservice", `nt authority\localservice`, `nt authority\local service`:
		return `NT AUTHORITY\LocalService`, nil
	case "networkservice", `nt authority\networkservice`, `nt authority\network service`:
		return `NT AUTHORITY\NetworkService`, nil
	}
	if strings.HasPrefix(strings.ToLower(a), `nt service\`) || strings.HasSuffix(a, "$") {
		return a, nil // a virtual account, or a group managed service account
	}
	return "", fmt.Errorf("account %q needs a password, which logmedic service install does not take: use LocalSystem, LocalService, NetworkService, a virtual account (NT SERVICE\\name) or a group managed service account (DOMAIN\\name$), or set the password in services.msc after installing", a)
}

// accountName is how status shows the account a service runs as.
func accountName(a string) string {
	if a == "" {
		return "LocalSystem"
	}
	return a
}

// waitFor polls query every interval until done accepts the state, and
// returns that state; or returns the last state seen and the context's
// error.
func waitFor(ctx context.Context, query func() (State, error), done func(State) bool, interval time.Duration) (State, error) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		s, err := query()
		if err != nil {
			return s, err
		}
		if done(s) {
			return s, nil
		}
		select {
		case <-ctx.Done():
			return s, fmt.Errorf("still %s: %w", s, context.Cause(ctx))
		case <-t.C:
		}
	}
}

// Log writes the service's lifecycle messages to the Windows Application
// log, under the service's own event source. Messages are single
// sentences; Close releases the event source.
type Log interface {
	Info(msg string) error
	Warning(msg string) error
	Error(msg string) error
	Close() error
}

type nopLog struct{}

func (nopLog) Info(string) error    { return nil }
func (nopLog) Warning(string) error { return nil }
func (nopLog) Error(string) error   { return nil }
func (nopLog) Close() error         { return nil }
