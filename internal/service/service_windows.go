package service

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"time"
	"unsafe"

	"golang.org/x/sys/windows"
	"golang.org/x/sys/windows/svc"
	"golang.org/x/sys/windows/svc/eventlog"
	"golang.org/x/sys/windows/svc/mgr"
)

// State's values are Windows': these fail to compile otherwise.
var (
	_ = [1]struct{}{}[svc.Stopped-svc.State(Stopped)]
	_ = [1]struct{}{}[svc.StartPending-svc.State(StartPending)]
	_ = [1]struct{}{}[svc.StopPending-svc.State(StopPending)]
	_ = [1]struct{}{}[svc.Running-svc.State(Running)]
	_ = [1]struct{}{}[svc.ContinuePending-svc.State(ContinuePending)]
	_ = [1]struct{}{}[svc.PausePending-svc.State(PausePending)]
	_ = [1]struct{}{}[svc.Paused-svc.State(Paused)]
	_ = [1]struct{}{}[mgr.StartAutomatic-startAutomatic]
	_ = [1]struct{}{}[mgr.StartManual-startManual]
	_ = [1]struct{}{}[mgr.StartDisabled-startDisabled]
)

// IsService reports whether the service control manager started this
// process.
func IsService() (bool, error) { return svc.IsWindowsService() }

// Run runs run as the service: see execute for the states reported. It
// returns when the service has stopped; the process should then exit.
// name is the service's name (the service control manager ignores it for
// a service in its own process). With elog nil, Run opens the event
// source named as the service control manager started the service (so a
// service installed under another name logs under that name) and closes
// it at the end.
func Run(name string, elog Log, run func(ctx context.Context) error) error {
	return svc.Run(name, &handler{elog: elog, run: run})
}

// handler adapts execute to svc.Handler.
type handler struct {
	elog Log
	run  func(ctx context.Context) error
}

func (h *handler) Execute(args []string, r <-chan svc.ChangeRequest, s chan<- svc.Status) (svcSpecificEC bool, exitCode uint32) {
	elog := h.elog
	if elog == nil {
		name := DefaultName
		if len(args) > 0 && args[0] != "" {
			name = args[0]
		}
		if l, err := OpenLog(name); err == nil {
			elog = l
			defer l.Close()
		}
	}
	requests := make(chan cmd)
	stop := make(chan struct{})
	defer close(stop)
	go func() {
		for {
			select {
			case c := <-r:
				select {
				case requests <- fromSvcCmd(c.Cmd):
				case <-stop:
					return
				}
			case <-stop:
				return
			}
		}
	}()
	code := execute(context.Background(), requests, func(rep report) { s <- toSvcStatus(rep) }, elog, h.run)
	return true, code
}

// Control codes are Windows': these fail to compile otherwise.
var (
	_ = [1]struct{}{}[svc.Stop-svc.Cmd(cmdStop)]
	_ = [1]struct{}{}[svc.Interrogate-svc.Cmd(cmdInterrogate)]
	_ = [1]struct{}{}[svc.Shutdown-svc.Cmd(cmdShutdown)]
	_ = [1]struct{}{}[svc.PreShutdown-svc.Cmd(cmdPreShutdown)]
)

func fromSvcCmd(c svc.Cmd) cmd {
	switch c {
	case svc.Stop:
		return cmdStop
	case svc.Shutdown:
		return cmdShutdown
	case svc.PreShutdown:
		return cmdPreShutdown
	case svc.Interrogate:
		return cmdInterrogate
	}
	return cmd(c) // not accepted: answered with the current status
}

func toSvcStatus(r report) svc.Status {
	st := svc.Status{State: svc.State(r.state), CheckPoint: r.checkPoint, WaitHint: uint32(r.waitHint / time.Millisecond)}
	if r.accepts {
		// PreShutdown comes before Shutdown, with the time set at
		// install (preshutdownTimeout) rather than the few seconds
		// Shutdown leaves.
		st.Accepts = svc.AcceptStop | svc.AcceptShutdown | svc.AcceptPreShutdown
	}
	return st
}

// Event IDs: the message file, EventCreate.exe, takes IDs 1 to 1000 and
// shows the text as is.
const (
	eventInfo    = 1
	eventWarning = 2
	eventError   = 3
)

type eventLog struct{ l *eventlog.Log }

// OpenLog opens the event source name (registered by Install) in the
// Application log.
func OpenLog(name string) (Log, error) {
	l, err := eventlog.Open(name)
	if err != nil {
		return nil, fmt.Errorf("open event source %s: %w", name, err)
	}
	return eventLog{l}, nil
}

func (e eventLog) Info(msg string) error    { return e.l.Info(eventInfo, msg) }
func (e eventLog) Warning(msg string) error { return e.l.Warning(eventWarning, msg) }
func (e eventLog) Error(msg string) error   { return e.l.Error(eventError, msg) }
func (e eventLog) Close() error             { return e.l.Close() }

// Install creates the service: its own process, automatic with delayed
// start, restarted on failure (see recoveryDelays), also when it stops
// with an error rather than crashing; and registers its event source in
// the Application log. It needs an administrator. If the service exists
// it returns ErrExists; on failure it removes what it created.
func Install(c Config) error {
	c, err := c.withDefaults()
	if err != nil {
		return err
	}
	m, err := mgr.Connect()
	if err != nil {
		return fmt.Errorf("connect to the service control manager: %w", err)
	}
	defer m.Disconnect()
	if s, err := m.OpenService(c.Name); err == nil {
		s.Close()
		return fmt.Errorf("service %s %w", c.Name, ErrExists)
	}
	s, err := m.CreateService(c.Name, c.Exe, mgr.Config{
		ServiceType:      windows.SERVICE_WIN32_OWN_PROCESS,
		StartType:        mgr.StartAutomatic,
		DelayedAutoStart: true,
		ErrorControl:     mgr.ErrorNormal,
		DisplayName:      c.DisplayName,
		Description:      c.Description,
		ServiceStartName: c.Account,
	}, c.Args...)
	switch {
	case errors.Is(err, windows.ERROR_SERVICE_EXISTS), errors.Is(err, windows.ERROR_DUPLICATE_SERVICE_NAME):
		return fmt.Errorf("service %s %w", c.Name, ErrExists)
	case err != nil:
		return fmt.Errorf("create service %s: %w", c.Name, err)
	}
	defer s.Close()
	undo := func(step string, err error) error {
		s.Delete()
		return fmt.Errorf("%s: %w (service %s not installed)", step, err, c.Name)
	}
	actions := make([]mgr.RecoveryAction, len(recoveryDelays))
	for i, d := range recoveryDelays {
		actions[i] = mgr.RecoveryAction{Type: mgr.ServiceRestart, Delay: d}
	}
	if err := s.SetRecoveryActions(actions, uint32(recoveryReset/time.Second)); err != nil {
		return undo("set recovery actions", err)
	}
	if err := s.SetRecoveryActionsOnNonCrashFailures(true); err != nil {
		return undo("set recovery on non-crash failures", err)
	}
	info := servicePreshutdownInfo{PreshutdownTimeout: uint32(preshutdownTimeout / time.Millisecond)}
	if err := windows.ChangeServiceConfig2(s.Handle, windows.SERVICE_CONFIG_PRESHUTDOWN_INFO, (*byte)(unsafe.Pointer(&info))); err != nil {
		return undo("set the pre-shutdown time-out", err)
	}
	// A source left by an earlier install may name another message file.
	eventlog.Remove(c.Name)
	if err := eventlog.InstallAsEventCreate(c.Name, eventlog.Error|eventlog.Warning|eventlog.Info); err != nil {
		return undo("register event source", err)
	}
	return nil
}

// preshutdownTimeout is how long Windows waits, at shutdown, for the
// service to stop after PreShutdown (SERVICE_PRESHUTDOWN_INFO).
const preshutdownTimeout = 30 * time.Second

// servicePreshutdownInfo is SERVICE_PRESHUTDOWN_INFO, which x/sys/windows
// does not define.
type servicePreshutdownInfo struct {
	PreshutdownTimeout uint32 // milliseconds
}

// Uninstall marks the service for deletion, stops it if it runs,
// waiting for it until ctx is done, and removes its event source (see
// uninstallSteps). A service that does not stop in time is still
// removed once it stops.
func Uninstall(ctx context.Context, name string) error {
	s, done, err := open(name, windows.SERVICE_STOP|windows.SERVICE_QUERY_STATUS|windows.DELETE)
	if err != nil {
		return err
	}
	defer done()
	return uninstallSteps(ctx, name, uninstallOps{
		markDelete: func() (bool, error) {
			err := s.Delete()
			if errors.Is(err, windows.ERROR_SERVICE_MARKED_FOR_DELETE) {
				return true, nil
			}
			return false, err
		},
		stop: func(ctx context.Context) error { return stop(ctx, s) },
		removeSource: func() error {
			err := eventlog.Remove(name)
			if errors.Is(err, windows.ERROR_FILE_NOT_FOUND) {
				return fs.ErrNotExist
			}
			return err
		},
	})
}

// Start starts the service and waits, until ctx is done, for it to
// report Running. A service already running is not an error; one that
// stops while starting is.
func Start(ctx context.Context, name string) error {
	s, done, err := open(name, windows.SERVICE_START|windows.SERVICE_QUERY_STATUS)
	if err != nil {
		return err
	}
	defer done()
	if err := s.Start(); err != nil {
		if errors.Is(err, windows.ERROR_SERVICE_ALREADY_RUNNING) {
			return nil
		}
		return fmt.Errorf("start service %s: %w", name, err)
	}
	return awaitStart(ctx, name, query(s), func() string {
		q, err := s.Query()
		if err != nil {
			return ""
		}
		return Status{Name: name, State: Stopped, Win32ExitCode: q.Win32ExitCode, ServiceExitCode: q.ServiceSpecificExitCode}.LastExit()
	})
}

// lookupSID looks up a group managed service account's SID.
func lookupSID(account string) (string, error) {
	sid, _, _, err := windows.LookupSID("", account)
	if err != nil {
		return "", fmt.Errorf("look up account %s: %w", account, err)
	}
	return sid.String(), nil
}

// Stop asks the service to stop and waits, until ctx is done, for it to
// stop: logmedic persists its in-flight work first. A stopped service is
// not an error.
func Stop(ctx context.Context, name string) error {
	s, done, err := open(name, windows.SERVICE_STOP|windows.SERVICE_QUERY_STATUS)
	if err != nil {
		return err
	}
	defer done()
	if err := stop(ctx, s); err != nil {
		return fmt.Errorf("stop service %s: %w", name, err)
	}
	return nil
}

// Query returns the service's state and configuration. It needs no
// administrator.
func Query(name string) (Status, error) {
	s, done, err := open(name, windows.SERVICE_QUERY_STATUS|windows.SERVICE_QUERY_CONFIG)
	if err != nil {
		return Status{}, err
	}
	defer done()
	q, err := s.Query()
	if err != nil {
		return Status{}, fmt.Errorf("query service %s: %w", name, err)
	}
	c, err := s.Config()
	if err != nil {
		return Status{}, fmt.Errorf("query service %s configuration: %w", name, err)
	}
	exe, args := splitCommandLine(c.BinaryPathName)
	return Status{
		Name:            name,
		DisplayName:     c.DisplayName,
		State:           State(q.State),
		PID:             q.ProcessId,
		StartType:       startTypeName(c.StartType, c.DelayedAutoStart),
		Account:         accountName(c.ServiceStartName),
		CommandLine:     c.BinaryPathName,
		Exe:             exe,
		Args:            args,
		Win32ExitCode:   q.Win32ExitCode,
		ServiceExitCode: q.ServiceSpecificExitCode,
	}, nil
}

// open opens the service with only the access it needs, so that status
// works without an administrator. done closes it.
func open(name string, access uint32) (s *mgr.Service, done func(), err error) {
	if err := checkName(name); err != nil {
		return nil, nil, err
	}
	scm, err := windows.OpenSCManager(nil, nil, windows.SC_MANAGER_CONNECT)
	if err != nil {
		return nil, nil, fmt.Errorf("connect to the service control manager: %w", err)
	}
	n, err := windows.UTF16PtrFromString(name)
	if err != nil {
		windows.CloseServiceHandle(scm)
		return nil, nil, err
	}
	h, err := windows.OpenService(scm, n, access)
	if err != nil {
		windows.CloseServiceHandle(scm)
		if errors.Is(err, windows.ERROR_SERVICE_DOES_NOT_EXIST) {
			return nil, nil, fmt.Errorf("service %s %w", name, ErrNotInstalled)
		}
		return nil, nil, fmt.Errorf("open service %s: %w", name, err)
	}
	s = &mgr.Service{Name: name, Handle: h}
	return s, func() { s.Close(); windows.CloseServiceHandle(scm) }, nil
}

func query(s *mgr.Service) func() (State, error) {
	return func() (State, error) {
		q, err := s.Query()
		return State(q.State), err
	}
}

// stop sends Stop and waits for Stopped. A service still starting
// cannot take Stop: it is waited for, then stopped.
func stop(ctx context.Context, s *mgr.Service) error {
	for {
		_, err := s.Control(svc.Stop)
		if err == nil || errors.Is(err, windows.ERROR_SERVICE_NOT_ACTIVE) {
			break
		}
		if !errors.Is(err, windows.ERROR_SERVICE_CANNOT_ACCEPT_CTRL) {
			return err
		}
		st, err := waitFor(ctx, query(s), func(st State) bool {
			return st != StartPending && st != ContinuePending && st != PausePending
		}, pollInterval)
		if err != nil {
			return err
		}
		if st == StopPending || st == Stopped {
			break
		}
	}
	_, err := waitFor(ctx, query(s), func(st State) bool { return st == Stopped }, pollInterval)
	return err
}
