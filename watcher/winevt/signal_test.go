package winevt

import (
	"context"
	"errors"
	"math"
	"runtime"
	"sync/atomic"
	"testing"
	"time"
)

// fakeEvents plays the two auto-reset Windows events of a Signal: a
// channel holding a value is a set event.
type fakeEvents struct {
	signal, stop chan struct{}
	// onWait runs as waitEither starts; setDelay delays setStop, so that
	// a setting still running when Wait returns would be seen.
	onWait   func()
	setDelay time.Duration
	closed   atomic.Bool
	late     atomic.Int32 // setStop calls after close
	waits    atomic.Int32
}

func newFakeEvents() *fakeEvents {
	return &fakeEvents{signal: make(chan struct{}, 1), stop: make(chan struct{}, 1)}
}

func set(c chan struct{}) {
	select {
	case c <- struct{}{}:
	default:
	}
}

func (f *fakeEvents) close() { f.closed.Store(true) }

func (f *fakeEvents) setStop() {
	time.Sleep(f.setDelay)
	if f.closed.Load() {
		f.late.Add(1)
		return
	}
	set(f.stop)
}

func (f *fakeEvents) resetStop() error {
	select {
	case <-f.stop:
	default:
	}
	return nil
}

func (f *fakeEvents) waitEither(timeout time.Duration) (woke, error) {
	f.waits.Add(1)
	if f.onWait != nil {
		f.onWait()
	}
	if f.closed.Load() {
		return wokeNothing, ErrInvalidHandle
	}
	select { // the wake-up event first, as WaitForMultipleObjects
	case <-f.signal:
		return wokeSignal, nil
	default:
	}
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case <-f.signal:
		return wokeSignal, nil
	case <-f.stop:
		return wokeStop, nil
	case <-t.C:
		return wokeNothing, nil
	}
}

func TestSignalWait(t *testing.T) {
	f := newFakeEvents()
	set(f.signal)
	if ok, err := waitSignal(context.Background(), time.Minute, f); !ok || err != nil {
		t.Fatalf("set: %v, %v; want true, nil", ok, err)
	}
	// The wake-up event reset: the next Wait times out.
	start := time.Now()
	if ok, err := waitSignal(context.Background(), 20*time.Millisecond, f); ok || err != nil {
		t.Fatalf("reset: %v, %v; want false, nil", ok, err)
	}
	if d := time.Since(start); d < 20*time.Millisecond {
		t.Errorf("timed out after %v", d)
	}
	// Set during a Wait.
	time.AfterFunc(10*time.Millisecond, func() { set(f.signal) })
	if ok, err := waitSignal(context.Background(), time.Minute, f); !ok || err != nil {
		t.Fatalf("set later: %v, %v; want true, nil", ok, err)
	}
}

func TestSignalWaitContext(t *testing.T) {
	f := newFakeEvents()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	set(f.signal)
	if ok, err := waitSignal(ctx, time.Minute, f); ok || !errors.Is(err, context.Canceled) || f.waits.Load() != 0 {
		t.Fatalf("done before: %v, %v after %d waits; want false, canceled, none", ok, err, f.waits.Load())
	}

	f = newFakeEvents()
	ctx, cancel = context.WithCancel(context.Background())
	time.AfterFunc(10*time.Millisecond, cancel)
	if ok, err := waitSignal(ctx, time.Minute, f); ok || !errors.Is(err, context.Canceled) {
		t.Fatalf("canceled during: %v, %v; want false, canceled", ok, err)
	}

	ctx, cancel = context.WithTimeout(context.Background(), 10*time.Millisecond)
	defer cancel()
	if ok, err := waitSignal(ctx, time.Minute, f); ok || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("deadline: %v, %v; want false, deadline exceeded", ok, err)
	}
}

// TestSignalStaleStop: a stop event left set by an earlier Wait, whose
// context ended as it returned for another reason, neither ends a later
// Wait early nor makes it report its (live) context's error.
func TestSignalStaleStop(t *testing.T) {
	f := newFakeEvents()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	f.onWait = func() {
		cancel()
		for len(f.stop) == 0 { // until the stop is set
			runtime.Gosched()
		}
		set(f.signal) // which wins
	}
	if ok, err := waitSignal(ctx, time.Minute, f); !ok || err != nil {
		t.Fatalf("first: %v, %v; want true, nil", ok, err)
	}
	if len(f.stop) != 1 {
		t.Fatal("the stop is not left set")
	}
	f.onWait = nil
	start := time.Now()
	if ok, err := waitSignal(context.Background(), 20*time.Millisecond, f); ok || err != nil {
		t.Fatalf("next: %v, %v; want false, nil", ok, err)
	}
	if d := time.Since(start); d < 20*time.Millisecond {
		t.Errorf("the next Wait returned after %v, before its timeout", d)
	}
}

// TestSignalNoStopAfterWait is the review finding: a context ending as
// Wait returns for another reason (here the wake-up event) starts the
// stop setting, which must be over when Wait returns, else it may set a
// closed handle (reused by then) or stop a later Wait.
func TestSignalNoStopAfterWait(t *testing.T) {
	for _, delay := range []time.Duration{0, time.Millisecond, 5 * time.Millisecond} {
		for range 20 {
			f := newFakeEvents()
			f.setDelay = delay
			ctx, cancel := context.WithCancel(context.Background())
			f.onWait = func() {
				cancel() // starts the stop setting
				set(f.signal)
			}
			if ok, err := waitSignal(ctx, time.Minute, f); !ok || err != nil {
				t.Fatalf("%v, %v; want true, nil", ok, err)
			}
			if len(f.stop) != 1 {
				t.Fatalf("delay %v: the stop setting was still running when Wait returned", delay)
			}
			f.close()
			time.Sleep(2 * delay)
			if n := f.late.Load(); n > 0 {
				t.Fatalf("delay %v: %d stop settings after close", delay, n)
			}
		}
	}
}

func TestWakeOnDone(t *testing.T) {
	var n atomic.Int32
	wake := func() {
		time.Sleep(5 * time.Millisecond)
		n.Add(1)
	}

	// Stopped before ctx is done: never wakes.
	ctx, cancel := context.WithCancel(context.Background())
	stop := wakeOnDone(ctx, wake)
	stop()
	cancel()
	time.Sleep(20 * time.Millisecond)
	if got := n.Load(); got != 0 {
		t.Errorf("stopped first: %d wakes, want 0", got)
	}

	// ctx done first: stop returns once wake has run.
	ctx, cancel = context.WithCancel(context.Background())
	stop = wakeOnDone(ctx, wake)
	cancel()
	stop()
	if got := n.Load(); got != 1 {
		t.Errorf("done first: %d wakes when stop returned, want 1", got)
	}

	// ctx done already.
	stop = wakeOnDone(ctx, wake)
	stop()
	if got := n.Load(); got != 2 {
		t.Errorf("done already: %d wakes when stop returned, want 2", got)
	}
}

func TestMillis(t *testing.T) {
	for _, tc := range []struct {
		d    time.Duration
		want uint32
	}{
		{-time.Second, 0},
		{0, 0},
		{1, 1},
		{time.Millisecond, 1},
		{time.Millisecond + 1, 2},
		{1500 * time.Microsecond, 2},
		{time.Minute, 60000},
		{(waitInfinite - 1) * time.Millisecond, waitInfinite - 1},
		{waitInfinite * time.Millisecond, waitInfinite - 1},
		{math.MaxInt64, waitInfinite - 1},
	} {
		if got := millis(tc.d); got != tc.want {
			t.Errorf("millis(%v) = %d, want %d", tc.d, got, tc.want)
		}
	}
}
