package service

import (
	"context"
	"errors"
	"time"
)

// cmd is a control request from the service control manager; the values
// are Windows' SERVICE_CONTROL_*. Only the ones the service accepts, and
// Interrogate, are ever sent.
type cmd uint32

const (
	cmdStop        cmd = 1
	cmdInterrogate cmd = 4
	cmdShutdown    cmd = 5
	cmdPreShutdown cmd = 15 // SERVICE_CONTROL_PRESHUTDOWN: sent before Shutdown, with more time
)

// report is a status for the service control manager.
type report struct {
	state State
	// accepts is whether Stop, PreShutdown and Shutdown are accepted
	// (only while running).
	accepts    bool
	checkPoint uint32
	waitHint   time.Duration
}

const (
	// startGrace is how long run must keep running before Running is
	// reported: a daemon that fails at once (a bad configuration, files
	// others can write) never reports Running, so logmedic service
	// start, which waits for Running or Stopped, sees it stop and says
	// so.
	startGrace = 2 * time.Second
	// startHint is how long starting may take before the service
	// control manager gives up.
	startHint = 30 * time.Second
	// stopHint is how long the service control manager is told stopping
	// may take before the next report. While run persists its work,
	// StopPending is reported again, with a new checkpoint, every
	// stopHint/3.
	stopHint = 30 * time.Second
	// MaxStop bounds how long stopping may take: a run that has not
	// returned by then (a hung script, a hung network share) is given
	// up. Stopped is reported (with exit code 0, as for any requested
	// stop: a non-zero code would make the recovery actions restart a
	// service an administrator stopped; the Application log says what
	// happened) and the process exits, its in-flight work resumed at the
	// next start, rather than staying StopPending for ever, which
	// neither an administrator nor the recovery actions could get out of.
	MaxStop = 90 * time.Second
)

// execute is the Windows handler's logic, free of Windows: it reports
// StartPending, starts run and, once run has kept going for startGrace,
// reports Running (accepting Stop, PreShutdown and Shutdown). On any of
// them it reports StopPending, cancels run's context and waits for run
// to return, reporting progress meanwhile, for at most MaxStop.
// Interrogate is answered with the current status. Lifecycle messages
// go to elog.
//
// It returns the service-specific exit code for the Stopped report the
// caller makes: 0 after a requested stop, whatever run returned (an
// error then is logged: a non-zero code would make the recovery actions
// restart a service an administrator stopped), also when run did not
// return within MaxStop (that is logged as an error). When run returns by itself, before
// any stop request, the service failed: its error's ExitCode() if it has
// one and it is positive, else 1, so that the recovery actions restart
// the service. That holds for a nil error too: the daemon runs until it
// is stopped.
func execute(ctx context.Context, requests <-chan cmd, send func(report), elog Log, run func(context.Context) error) (exitCode uint32) {
	if elog == nil {
		elog = nopLog{}
	}
	cur := report{state: StartPending, waitHint: startHint}
	send(cur)
	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- run(runCtx) }()
	started := time.NewTimer(startGrace)
	defer started.Stop()

	// progress ticks while stopping.
	progress := time.NewTicker(stopHint / 3)
	progress.Stop()
	defer progress.Stop()
	stopping := false
	var giveUp time.Time // when stopping, MaxStop after the request
	for {
		select {
		case <-started.C:
			cur = report{state: Running, accepts: true}
			send(cur)
			elog.Info("logmedic service started")
		case c, ok := <-requests:
			if !ok {
				requests = nil
				continue
			}
			switch c {
			case cmdStop, cmdShutdown, cmdPreShutdown:
				if !stopping {
					stopping = true
					giveUp = time.Now().Add(MaxStop)
					started.Stop()
					if c == cmdStop {
						elog.Info("logmedic service stopping: stop requested")
					} else {
						elog.Info("logmedic service stopping: the system is shutting down")
					}
					cancel()
					progress.Reset(stopHint / 3)
				}
				cur = report{state: StopPending, checkPoint: cur.checkPoint + 1, waitHint: stopHint}
			}
			send(cur) // also the answer to Interrogate
		case <-progress.C:
			if !time.Now().Before(giveUp) {
				elog.Error("logmedic service did not stop within " + MaxStop.String() + ": it exits with its work in flight, which it resumes at the next start")
				return 0
			}
			cur.checkPoint++
			send(cur)
		case err := <-done:
			if !stopping {
				send(report{state: StopPending, checkPoint: cur.checkPoint + 1, waitHint: stopHint})
			}
			return finish(err, stopping, elog)
		}
	}
}

// errStoppedByItself is how a run that returns nil before a stop
// request failed.
var errStoppedByItself = errors.New("it stopped by itself, without a stop request")

// finish logs how run ended and returns the exit code.
func finish(err error, requested bool, elog Log) uint32 {
	switch {
	case requested && (err == nil || errors.Is(err, context.Canceled)):
		elog.Info("logmedic service stopped")
		return 0
	case requested:
		elog.Warning("logmedic service stopped; while stopping: " + err.Error())
		return 0
	case err == nil:
		err = errStoppedByItself
	}
	elog.Error("logmedic service failed: " + err.Error())
	var ec interface{ ExitCode() int }
	if errors.As(err, &ec) && ec.ExitCode() > 0 {
		return uint32(ec.ExitCode())
	}
	return 1
}
