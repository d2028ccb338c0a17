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
	"crypto/sha1"
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"strconv"
	"strings"
	"time"
	"unicode/utf16"
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
	acct, err := accountFor(c.Account)
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

// accountFor returns the account name CreateService takes ("" is
// LocalSystem), or an error for accounts that need a password.
func accountFor(a string) (string, error) {
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

// AccountSID returns the SID of the account a service configured with
// account (Config.Account) runs as: S-1-5-18 for LocalSystem, S-1-5-19
// for LocalService, S-1-5-20 for NetworkService, VirtualAccountSID for a
// virtual account (NT SERVICE\name); a group managed service account's
// is looked up, on Windows only. Accounts Install refuses are refused
// with the same error.
func AccountSID(account string) (string, error) {
	a, err := accountFor(account)
	if err != nil {
		return "", err
	}
	switch a {
	case "":
		return "S-1-5-18", nil
	case `NT AUTHORITY\LocalService`:
		return "S-1-5-19", nil
	case `NT AUTHORITY\NetworkService`:
		return "S-1-5-20", nil
	}
	if len(a) >= len(virtualPrefix) && strings.EqualFold(a[:len(virtualPrefix)], virtualPrefix) {
		name := a[len(virtualPrefix):]
		if name == "" {
			return "", fmt.Errorf("account %q names no service", account)
		}
		return VirtualAccountSID(name), nil
	}
	return lookupSID(a)
}

const virtualPrefix = `NT SERVICE\`

// VirtualAccountSID returns the SID of the virtual account NT
// SERVICE\service, which Windows derives from the service's name alone:
// S-1-5-80 followed by the SHA-1 of the name, upper-cased, in UTF-16LE,
// as five little-endian 32-bit numbers. So the account's SID is known
// before the service exists, on any OS.
func VirtualAccountSID(service string) string {
	u := utf16.Encode([]rune(strings.ToUpper(service)))
	b := make([]byte, 0, 2*len(u))
	for _, c := range u {
		b = binary.LittleEndian.AppendUint16(b, c)
	}
	h := sha1.Sum(b)
	sid := "S-1-5-80"
	for i := 0; i < len(h); i += 4 {
		sid += "-" + strconv.FormatUint(uint64(binary.LittleEndian.Uint32(h[i:])), 10)
	}
	return sid
}

// accountName is how status shows the account a service runs as.
func accountName(a string) string {
	if a == "" {
		return "LocalSystem"
	}
	return a
}

// pollInterval is how often Start, Stop and Uninstall query the state
// they wait for.
const pollInterval = 250 * time.Millisecond

// awaitStart waits, until ctx is done, for a service just started to
// report Running, or Stopped: a daemon that fails at start reports
// StopPending on its way to Stopped, which is no start. lastExit
// describes how it stopped (Status.LastExit).
func awaitStart(ctx context.Context, name string, query func() (State, error), lastExit func() string) error {
	st, err := waitFor(ctx, query, func(st State) bool { return st == Running || st == Stopped }, pollInterval)
	if err != nil {
		return fmt.Errorf("start service %s: %w", name, err)
	}
	if st == Stopped {
		if why := lastExit(); why != "" {
			return fmt.Errorf("service %s stopped while starting: %s", name, why)
		}
		return fmt.Errorf("service %s stopped while starting; see the Application event log, source %s", name, name)
	}
	return nil
}

// uninstallOps are the steps of Uninstall, on Windows the service
// control manager's.
type uninstallOps struct {
	// markDelete marks the service for deletion; already says it was.
	markDelete func() (already bool, err error)
	// stop stops it, waiting until ctx is done.
	stop func(ctx context.Context) error
	// removeSource removes its event source.
	removeSource func() error
}

// uninstallSteps marks the service for deletion first, so that it goes
// away however stopping ends (Windows deletes a service marked so once
// it has stopped and every handle to it is closed, and starts it no
// more, not even through its recovery actions), then stops it, then
// removes its event source.
func uninstallSteps(ctx context.Context, name string, o uninstallOps) error {
	already, err := o.markDelete()
	if err != nil {
		return fmt.Errorf("delete service %s: %w", name, err)
	}
	stopErr := o.stop(ctx)
	// Its last messages may lack their text; but once it is gone
	// nothing would remove the source any more.
	srcErr := o.removeSource()
	switch {
	case stopErr != nil:
		return fmt.Errorf("service %s is marked for deletion, but did not stop: %w; Windows removes it once it stops", name, stopErr)
	case srcErr != nil && !errors.Is(srcErr, fs.ErrNotExist):
		return fmt.Errorf("remove event source %s: %w (the service was deleted)", name, srcErr)
	case already:
		return fmt.Errorf("service %s was already marked for deletion: Windows removes it once every program holding it, such as the Services console (services.msc), lets go of it", name)
	}
	return nil
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
