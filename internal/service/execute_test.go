package service

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"testing/synctest"
	"time"
)

// recorder is the service control manager's side: it collects reports,
// and the event log's lines.
type recorder struct {
	mu      sync.Mutex
	reports []report
	logs    []string
	closed  bool
}

func (r *recorder) send(rep report) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.reports = append(r.reports, rep)
}

func (r *recorder) log(level, msg string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.logs = append(r.logs, level+": "+msg)
	return nil
}

func (r *recorder) Info(msg string) error    { return r.log("info", msg) }
func (r *recorder) Warning(msg string) error { return r.log("warning", msg) }
func (r *recorder) Error(msg string) error   { return r.log("error", msg) }
func (r *recorder) Close() error             { r.closed = true; return nil }

func (r *recorder) snapshot() ([]report, []string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.reports), slices.Clone(r.logs)
}

// Reports as the service control manager sees them.
var (
	startPending = report{state: StartPending, waitHint: startHint}
	running      = report{state: Running, accepts: true}
)

func stopPending(checkPoint uint32) report {
	return report{state: StopPending, checkPoint: checkPoint, waitHint: stopHint}
}

type exitErr int

func (e exitErr) Error() string { return fmt.Sprintf("exit %d", int(e)) }
func (e exitErr) ExitCode() int { return int(e) }

func TestExecute(t *testing.T) {
	// persist is a daemon that runs until stopped, then takes a while
	// to persist its in-flight work.
	persist := func(took time.Duration, err error) func(context.Context) error {
		return func(ctx context.Context) error {
			<-ctx.Done()
			time.Sleep(took)
			if err != nil {
				return err
			}
			return ctx.Err()
		}
	}
	cases := []struct {
		name     string
		run      func(context.Context) error
		requests []cmd // sent one at a time, each once all is quiet
		early    bool  // send them while starting, not once running
		reports  []report
		logs     []string
		code     uint32
	}{
		{
			name:     "stop",
			run:      persist(0, nil),
			requests: []cmd{cmdStop},
			reports:  []report{startPending, running, stopPending(1)},
			logs:     []string{"info: logmedic service started", "info: logmedic service stopping: stop requested", "info: logmedic service stopped"},
		},
		{
			name:     "shutdown",
			run:      persist(0, nil),
			requests: []cmd{cmdShutdown},
			reports:  []report{startPending, running, stopPending(1)},
			logs:     []string{"info: logmedic service started", "info: logmedic service stopping: the system is shutting down", "info: logmedic service stopped"},
		},
		{
			name:     "a slow stop reports progress",
			run:      persist(25*time.Second, nil),
			requests: []cmd{cmdStop},
			// Every stopHint/3 = 10s a new checkpoint, until run returns.
			reports: []report{startPending, running, stopPending(1), stopPending(2), stopPending(3)},
			logs:    []string{"info: logmedic service started", "info: logmedic service stopping: stop requested", "info: logmedic service stopped"},
		},
		{
			name:     "interrogate is answered with the current status",
			run:      persist(0, nil),
			requests: []cmd{cmdInterrogate, cmdInterrogate, cmdStop},
			reports:  []report{startPending, running, running, running, stopPending(1)},
			logs:     []string{"info: logmedic service started", "info: logmedic service stopping: stop requested", "info: logmedic service stopped"},
		},
		{
			name:     "a control the service does not accept is answered with the current status",
			run:      persist(0, nil),
			requests: []cmd{cmd(2) /* pause */, cmdStop},
			reports:  []report{startPending, running, running, stopPending(1)},
			logs:     []string{"info: logmedic service started", "info: logmedic service stopping: stop requested", "info: logmedic service stopped"},
		},
		{
			name:     "stop while stopping, and interrogate",
			run:      persist(time.Second, nil),
			requests: []cmd{cmdStop, cmdStop, cmdInterrogate, cmdShutdown},
			reports:  []report{startPending, running, stopPending(1), stopPending(2), stopPending(2), stopPending(3)},
			logs:     []string{"info: logmedic service started", "info: logmedic service stopping: stop requested", "info: logmedic service stopped"},
		},
		{
			name:     "an error while stopping is logged; the exit is clean, so recovery does not restart a stopped service",
			run:      persist(0, errors.New("outbox: sync: disk full")),
			requests: []cmd{cmdStop},
			reports:  []report{startPending, running, stopPending(1)},
			logs:     []string{"info: logmedic service started", "info: logmedic service stopping: stop requested", "warning: logmedic service stopped; while stopping: outbox: sync: disk full"},
		},
		{
			name: "failing by itself exits with a service-specific code, for the recovery actions",
			run: func(context.Context) error {
				return errors.New("config: C:\\ProgramData\\logmedic\\logmedic.yaml: no such file")
			},
			reports: []report{startPending, stopPending(1)},
			logs:    []string{"error: logmedic service failed: config: C:\\ProgramData\\logmedic\\logmedic.yaml: no such file"},
			code:    1,
		},
		{
			name:    "an error's own exit code is kept",
			run:     func(context.Context) error { return fmt.Errorf("run: %w", exitErr(2)) },
			reports: []report{startPending, stopPending(1)},
			logs:    []string{"error: logmedic service failed: run: exit 2"},
			code:    2,
		},
		{
			name:    "ending by itself without an error is a failure too, for the recovery actions",
			run:     func(context.Context) error { return nil },
			reports: []report{startPending, stopPending(1)},
			logs:    []string{"error: logmedic service failed: it stopped by itself, without a stop request"},
			code:    1,
		},
		{
			name:     "pre-shutdown stops as shutdown does",
			run:      persist(0, nil),
			requests: []cmd{cmdPreShutdown},
			reports:  []report{startPending, running, stopPending(1)},
			logs:     []string{"info: logmedic service started", "info: logmedic service stopping: the system is shutting down", "info: logmedic service stopped"},
		},
		{
			name:     "a stop that hangs is given up after maxStop, as a requested stop (no recovery restart)",
			run:      persist(time.Hour, nil),
			requests: []cmd{cmdStop},
			// A checkpoint every 10s until 90s.
			reports: []report{startPending, running, stopPending(1), stopPending(2), stopPending(3), stopPending(4), stopPending(5),
				stopPending(6), stopPending(7), stopPending(8), stopPending(9)},
			logs: []string{"info: logmedic service started", "info: logmedic service stopping: stop requested",
				"error: logmedic service did not stop within 1m30s: it exits with its work in flight, which it resumes at the next start"},
			code: 0,
		},
		{
			name:     "stop while starting",
			run:      persist(0, nil),
			early:    true,
			requests: []cmd{cmdInterrogate, cmdStop},
			reports:  []report{startPending, startPending, stopPending(1)},
			logs:     []string{"info: logmedic service stopping: stop requested", "info: logmedic service stopped"},
		},
		{
			name: "failing after a while",
			run: func(ctx context.Context) error {
				time.Sleep(time.Hour)
				return errors.New("source stopped")
			},
			requests: []cmd{cmdInterrogate},
			reports:  []report{startPending, running, running, stopPending(1)},
			logs:     []string{"info: logmedic service started", "error: logmedic service failed: source stopped"},
			code:     1,
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				rec := &recorder{}
				requests := make(chan cmd)
				var code uint32
				done := make(chan struct{})
				go func() {
					defer close(done)
					code = execute(context.Background(), requests, rec.send, rec, tc.run)
				}()
				if !tc.early && len(tc.requests) > 0 {
					time.Sleep(startGrace + time.Millisecond)
				}
				for _, c := range tc.requests {
					synctest.Wait()
					requests <- c
				}
				<-done
				time.Sleep(2 * time.Hour) // a run given up on ends, in the bubble
				reports, logs := rec.snapshot()
				if !slices.Equal(reports, tc.reports) {
					t.Errorf("reports:\n got %+v\nwant %+v", reports, tc.reports)
				}
				if !slices.Equal(logs, tc.logs) {
					t.Errorf("logs:\n got %q\nwant %q", logs, tc.logs)
				}
				if code != tc.code {
					t.Errorf("exit code %d, want %d", code, tc.code)
				}
			})
		})
	}
}

func TestExecuteCancelsOnlyOnStop(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		requests := make(chan cmd)
		var canceledEarly bool
		run := func(ctx context.Context) error {
			time.Sleep(time.Minute)
			canceledEarly = ctx.Err() != nil
			<-ctx.Done()
			return ctx.Err()
		}
		done := make(chan struct{})
		go func() {
			defer close(done)
			execute(context.Background(), requests, func(report) {}, nil, run)
		}()
		time.Sleep(2 * time.Minute)
		requests <- cmdStop
		<-done
		if canceledEarly {
			t.Error("run's context was canceled before Stop")
		}
	})
}

func TestExecuteWaitsForRun(t *testing.T) {
	// Stopped is reported (by svc) when execute returns: run must have
	// returned by then, its work persisted.
	synctest.Test(t, func(t *testing.T) {
		requests := make(chan cmd)
		persisted := false
		run := func(ctx context.Context) error {
			<-ctx.Done()
			time.Sleep(5 * time.Second)
			persisted = true
			return nil
		}
		done := make(chan struct{})
		go func() {
			defer close(done)
			execute(context.Background(), requests, func(report) {}, nil, run)
			if !persisted {
				t.Error("execute returned before run")
			}
		}()
		synctest.Wait()
		requests <- cmdStop
		<-done
	})
}
