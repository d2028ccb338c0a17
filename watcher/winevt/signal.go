package winevt

import (
	"context"
	"time"
)

// signalEvents is what Signal.Wait needs of the two auto-reset events
// behind a Signal: the wake-up event Windows sets when events arrive, and
// a stop event that Wait sets when its context is done. api_windows.go
// implements it on Windows events; the logic on top, waitSignal, is here
// so that it is tested on every OS.
type signalEvents interface {
	// waitEither waits up to timeout for either event, resets the one
	// that is set and reports which: wokeSignal when both are (as
	// WaitForMultipleObjects reports the first), wokeNothing when
	// timeout passes.
	waitEither(timeout time.Duration) (woke, error)
	// setStop sets the stop event.
	setStop()
	// resetStop clears the stop event.
	resetStop() error
}

// woke is what ended a waitEither.
type woke int

const (
	wokeNothing woke = iota // the timeout passed
	wokeSignal              // the wake-up event
	wokeStop                // the stop event
)

// waitSignal is Signal.Wait on ev. It must not run concurrently with
// itself, nor with closing ev's events.
//
// Each call arms a stop of its own: it clears the stop event, which an
// earlier call may have left set (its context ended as it returned for
// another reason), and has wakeOnDone set it once ctx is done. As
// wakeOnDone's stop waits for a setting already started, no call's
// setting outlives it: none reaches a later call, whose context may be
// live, and none reaches an event closed after the call returned, whose
// handle value Windows may have given to another object by then (say a
// new source's event, after a configuration reload). So the stop event,
// when it wakes a call, was set by that call's own wakeOnDone, and ctx is
// done.
func waitSignal(ctx context.Context, timeout time.Duration, ev signalEvents) (bool, error) {
	if err := ctx.Err(); err != nil {
		return false, err
	}
	if err := ev.resetStop(); err != nil {
		return false, err
	}
	stop := wakeOnDone(ctx, ev.setStop)
	defer stop()
	w, err := ev.waitEither(timeout)
	switch {
	case err != nil:
		return false, err
	case w == wokeSignal:
		return true, nil
	case w == wokeStop:
		return false, ctx.Err()
	}
	return false, nil
}

// wakeOnDone calls wake, in a goroutine of its own, once ctx is done,
// unless the stop it returns is called first. When stop returns, wake is
// not running and never will: unlike the stop of context.AfterFunc,
// which it wraps, stop waits for a call of wake already started. stop
// must be called once.
func wakeOnDone(ctx context.Context, wake func()) (stop func()) {
	done := make(chan struct{})
	stopAfter := context.AfterFunc(ctx, func() {
		defer close(done)
		wake()
	})
	return func() {
		if !stopAfter() {
			// ctx is done and wake has been started (stop is called
			// once, so it was not stopped before).
			<-done
		}
	}
}

// waitInfinite is WaitForMultipleObjects' INFINITE (winbase.h).
const waitInfinite = 0xFFFFFFFF

// millis converts a wait to WaitForMultipleObjects' milliseconds, rounding
// up: 0 for none left, never INFINITE.
func millis(d time.Duration) uint32 {
	if d <= 0 {
		return 0
	}
	ms := d / time.Millisecond
	if d%time.Millisecond != 0 {
		ms++ // not d+time.Millisecond-1, which overflows near the maximum
	}
	if ms >= waitInfinite {
		return waitInfinite - 1
	}
	return uint32(ms)
}
