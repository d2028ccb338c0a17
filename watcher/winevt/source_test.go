package winevt_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"testing/synctest"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest"
	"go.uber.org/zap/zaptest/observer"

	"github.com/logmedic/logmedic/watcher"
	"github.com/logmedic/logmedic/watcher/decode"
	"github.com/logmedic/logmedic/watcher/winevt"
	"github.com/logmedic/logmedic/watcher/winevt/winevttest"
)

const app = "Application"

func TestBacklogThenLive(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := winevttest.New()
		f.Append(app, events(25, "P", time.Now())...)
		r := start(t, f, winevt.Options{Start: winevt.StartOldest, Batch: 10}, nil, nil)
		synctest.Wait()
		if got := r.rec.records(); !slices.Equal(got, seq(1, 25)) {
			t.Fatalf("backlog: got records %v", got)
		}
		cps := r.rec.checkpoints()
		if len(cps) != 3 {
			t.Fatalf("%d checkpoints, want 3 (batches of 10, 10, 5)", len(cps))
		}
		for i, want := range []uint64{10, 20, 25} {
			c := cps[i]
			if c.Key != "" || c.Record != want || c.Channel != app || c.Bookmark != winevttest.BookmarkXML(app, want) {
				t.Errorf("checkpoint %d = %+v, want record %d", i, c, want)
			}
		}
		if m := r.met.get(); !slices.Equal(m.lag, []uint64{15}) {
			t.Errorf("lag = %v, want [15] (at most every 5s)", m.lag)
		}

		// Idle: no polling before the safety net.
		next := f.Count("Next")
		time.Sleep(29 * time.Second)
		synctest.Wait()
		if n := f.Count("Next"); n != next {
			t.Errorf("%d EvtNext calls while idle, before the safety net", n-next)
		}

		// Live events wake the source at once.
		f.Append(app, events(3, "P", time.Now())...)
		synctest.Wait()
		if got := r.rec.records(); !slices.Equal(got, seq(1, 28)) {
			t.Fatalf("live: got records %v", got)
		}
		if m := r.met.get(); !slices.Equal(m.lag, []uint64{15, 0}) {
			t.Errorf("lag = %v, want [15 0]", m.lag)
		}
		it := r.rec.all()[27]
		if it.Input != app || it.Where != "record 28" || it.Provider != "P" {
			t.Errorf("item = %+v", it)
		}
		if err := r.stop(); err != nil {
			t.Fatalf("Run: %v", err)
		}
		if m := r.met.get(); !slices.Equal(m.states, []string{"running", "stopped"}) || len(m.resubs) != 0 || len(m.loss) != 0 {
			t.Errorf("metrics = %+v", m)
		}
	})
}

func TestSafetyNet(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := winevttest.New()
		f.Append(app, events(5, "P", time.Now())...)
		r := start(t, f, winevt.Options{Start: winevt.StartOldest, SafetyNet: 10 * time.Second}, nil, nil)
		synctest.Wait()
		next, info := f.Count("Next"), f.Count("LogInfo")
		time.Sleep(10*time.Second + time.Millisecond)
		synctest.Wait()
		if f.Count("Next") != next+1 || f.Count("LogInfo") != info+1 {
			t.Errorf("after the safety net: %d EvtNext, %d LogInfo calls, want 1 each", f.Count("Next")-next, f.Count("LogInfo")-info)
		}
		// LogInfo failing is not fatal.
		f.FailNext("LogInfo", 1, winevt.ErrRPCServerUnavail)
		time.Sleep(10*time.Second + time.Millisecond)
		synctest.Wait()
		if r.returned() {
			t.Fatal("Run returned after LogInfo failed")
		}
		if m := r.met.get(); !slices.Equal(m.lag, []uint64{0, 0}) {
			t.Errorf("lag = %v, want [0 0] (batch, first safety net)", m.lag)
		}
		if err := r.stop(); err != nil {
			t.Fatal(err)
		}
	})
}

func TestInvalidBoundBySize(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := winevttest.New()
		xs := events(100, "P", time.Now())
		f.Append(app, xs...)
		// At most 8 events per batch: Append adds the channel and record ID.
		f.SetMaxBatchBytes(8 * (len(xs[0]) + 20))
		limitSubscribes(f, 20)
		r := start(t, f, winevt.Options{Start: winevt.StartOldest}, nil, nil)
		synctest.Wait()
		if got := r.rec.records(); !slices.Equal(got, seq(1, 100)) {
			t.Fatalf("got records %v", got)
		}
		m := r.met.get()
		if !slices.Equal(m.halved, []int{32, 16, 8}) {
			t.Errorf("batch halved to %v, want [32 16 8]", m.halved)
		}
		if want := []string{"RPC_S_INVALID_BOUND", "RPC_S_INVALID_BOUND", "RPC_S_INVALID_BOUND"}; !slices.Equal(m.resubs, want) {
			t.Errorf("resubscribes = %v", m.resubs)
		}
		if m.state() != "running" {
			t.Errorf("state = %q", m.state())
		}
		for _, c := range r.rec.checkpoints() {
			if c.Items > 8 {
				t.Errorf("a batch of %d after halving to 8", c.Items)
			}
		}
		if err := r.stop(); err != nil {
			t.Fatal(err)
		}
	})
}

func (m metricsSnapshot) state() string {
	if len(m.states) == 0 {
		return ""
	}
	return m.states[len(m.states)-1]
}

func TestInvalidBoundResubscribesFromCommitted(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := winevttest.New()
		f.Append(app, events(30, "P", time.Now())...)
		// The second EvtNext fails after Windows moved past records 11-20.
		f.Fail("Next", 2, winevt.ErrRPCInvalidBound)
		limitSubscribes(f, 20)
		r := start(t, f, winevt.Options{Start: winevt.StartOldest, Batch: 10}, nil, nil)
		synctest.Wait()
		if got := r.rec.records(); !slices.Equal(got, seq(1, 30)) {
			t.Fatalf("got records %v (records 11-20 lost or repeated)", got)
		}
		subs := f.Subscribes()
		if len(subs) != 2 {
			t.Fatalf("%d subscriptions, want 2", len(subs))
		}
		if s := subs[1]; s.Flags != winevt.SubscribeStartAfterBookmark|winevt.SubscribeStrict || s.Record != 10 || s.Bookmark != winevttest.BookmarkXML(app, 10) {
			t.Errorf("re-subscription = %+v, want strict after record 10", s)
		}
		if m := r.met.get(); !slices.Equal(m.halved, []int{5}) || !slices.Equal(m.resubs, []string{"RPC_S_INVALID_BOUND"}) {
			t.Errorf("metrics = %+v", m)
		}
		if err := r.stop(); err != nil {
			t.Fatal(err)
		}
	})
}

// limitSubscribes makes subscriptions past the n-th fail with an error
// the source cannot recover from, so that a loop fails the test.
func limitSubscribes(f *winevttest.Fake, n int) {
	f.OnCall(func(call string, i int) error {
		if call == "Subscribe" && i > n {
			return errors.New("too many subscriptions: a loop")
		}
		return nil
	})
}

func TestBookmarkFailureResubscribesFromCommitted(t *testing.T) {
	for _, call := range []string{"UpdateBookmark", "RenderBookmark"} {
		t.Run(call, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				f := winevttest.New()
				f.Append(app, events(20, "P", time.Now())...)
				// The second batch's bookmark fails after (or as) it moved.
				f.Fail(call, 2, winevt.ErrInvalidHandle)
				r := start(t, f, winevt.Options{Start: winevt.StartOldest, Batch: 10, MinBackoff: time.Second}, nil, nil)
				synctest.Wait()
				time.Sleep(time.Second)
				synctest.Wait()
				if got := r.rec.records(); !slices.Equal(got, seq(1, 20)) {
					t.Fatalf("got records %v", got)
				}
				if subs := f.Subscribes(); len(subs) != 2 || subs[1].Record != 10 {
					t.Errorf("subscriptions = %+v, want the second after record 10", subs)
				}
				if err := r.stop(); err != nil {
					t.Fatal(err)
				}
			})
		})
	}
}

func TestInvalidBoundAtBatchOneBacksOff(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := winevttest.New()
		f.Append(app, events(4, "P", time.Now())...)
		f.Fail("Next", 2, winevt.ErrRPCInvalidBound)
		f.Fail("Next", 3, winevt.ErrRPCInvalidBound)
		r := start(t, f, winevt.Options{Start: winevt.StartOldest, Batch: 1, MinBackoff: time.Second}, nil, nil)
		synctest.Wait()
		// The batch cannot be halved: no busy loop, a backoff.
		if got := f.Count("Subscribe"); got != 1 || r.met.state() != "backing off" {
			t.Fatalf("%d subscriptions, state %q; want 1, backing off", got, r.met.state())
		}
		time.Sleep(time.Second)
		synctest.Wait()
		if got := f.Count("Subscribe"); got != 2 || r.met.state() != "backing off" {
			t.Fatalf("after 1s: %d subscriptions, state %q; want 2, backing off", got, r.met.state())
		}
		time.Sleep(2 * time.Second) // doubled
		synctest.Wait()
		if got := r.rec.records(); !slices.Equal(got, seq(1, 4)) {
			t.Fatalf("got records %v", got)
		}
		for _, s := range f.Subscribes()[1:] {
			if s.Record != 1 {
				t.Errorf("re-subscription = %+v, want after record 1", s)
			}
		}
		if m := r.met.get(); len(m.halved) != 0 || len(m.resubs) != 2 || m.state() != "running" {
			t.Errorf("metrics = %+v", m)
		}
		if err := r.stop(); err != nil {
			t.Fatal(err)
		}
	})
}

func TestInvalidOperation(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := winevttest.New()
		f.Append(app, events(3, "P", time.Now())...)
		// With nothing returned, ERROR_INVALID_OPERATION means no more items.
		f.Fail("Next", 1, winevt.ErrInvalidOperation)
		r := start(t, f, winevt.Options{Start: winevt.StartOldest}, nil, nil)
		synctest.Wait()
		if got := r.rec.records(); !slices.Equal(got, seq(1, 3)) {
			t.Fatalf("got records %v", got)
		}
		if m := r.met.get(); len(m.resubs) != 0 {
			t.Errorf("resubscribes = %v", m.resubs)
		}
		if err := r.stop(); err != nil {
			t.Fatal(err)
		}
	})
}

func TestStaleBookmark(t *testing.T) {
	for _, tc := range []struct {
		name    string
		err     error
		onStale winevt.Start
		want    []uint64 // records read after the restart, 14 appended live
	}{
		{"not found, oldest", winevt.ErrNotFound, winevt.StartOldest, []uint64{11, 12, 13, 14}},
		{"stale, default", winevt.ErrEvtQueryStale, winevt.StartBookmark, []uint64{11, 12, 13, 14}},
		{"invalid position, now", winevt.ErrEvtInvalidPosition, winevt.StartNow, []uint64{14}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				f := winevttest.New()
				f.SetStaleError(tc.err)
				f.Append(app, events(10, "P", time.Now())...)
				opts := winevt.Options{Start: winevt.StartOldest, OnStale: tc.onStale}
				r := start(t, f, opts, nil, nil)
				synctest.Wait()
				if err := r.stop(); err != nil {
					t.Fatal(err)
				}
				saved := r.rec.last()

				f.Clear(app)
				f.Append(app, events(3, "P", time.Now())...)
				r = start(t, f, opts, saved, nil)
				synctest.Wait()
				f.Append(app, events(1, "P", time.Now())...)
				synctest.Wait()
				if got := r.rec.records(); !slices.Equal(got, tc.want) {
					t.Errorf("got records %v, want %v", got, tc.want)
				}
				m := r.met.get()
				if want := []string{winevt.ErrName(tc.err)}; !slices.Equal(m.loss, want) {
					t.Errorf("possible loss = %v, want %v", m.loss, want)
				}
				if n := r.logCount("the saved bookmark is no longer in the log (cleared or wrapped): events since it may have been missed"); n != 1 {
					t.Errorf("%d possible-loss log lines, want 1", n)
				}
				if cps := r.rec.checkpoints(); len(cps) == 0 || cps[len(cps)-1].Record != 14 {
					t.Errorf("checkpoints = %+v, want the last at record 14", cps)
				}
				subs := f.Subscribes()
				if first := subs[len(subs)-2]; first.Record != 10 || first.Err == nil {
					t.Errorf("first subscription after restart = %+v, want a failed one after record 10", first)
				}
				if err := r.stop(); err != nil {
					t.Fatal(err)
				}
			})
		})
	}
}

func TestStaleWhileReading(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := winevttest.New()
		f.Append(app, events(10, "P", time.Now())...)
		r := start(t, f, winevt.Options{Start: winevt.StartOldest}, nil, nil)
		synctest.Wait()
		// The log is cleared under the subscription: EvtNext fails stale,
		// the re-subscription from record 10 fails as it is gone.
		f.Clear(app)
		f.Append(app, events(2, "P", time.Now())...)
		synctest.Wait()
		if got := r.rec.records(); !slices.Equal(got, seq(1, 12)) {
			t.Fatalf("got records %v", got)
		}
		m := r.met.get()
		if !slices.Equal(m.resubs, []string{"ERROR_EVT_QUERY_RESULT_STALE"}) || !slices.Equal(m.loss, []string{"ERROR_NOT_FOUND"}) {
			t.Errorf("metrics = %+v", m)
		}
		subs := f.Subscribes()
		if len(subs) != 3 || subs[1].Record != 10 || subs[2].Flags != winevt.SubscribeStartAtOldestRecord {
			t.Errorf("subscriptions = %+v, want: oldest, after 10 (fails), oldest", subs)
		}
		if err := r.stop(); err != nil {
			t.Fatal(err)
		}
	})
}

func TestStaleReadResumesFromBookmark(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := winevttest.New()
		f.Append(app, events(20, "P", time.Now())...)
		f.Fail("Next", 2, winevt.ErrEvtQueryStale)
		r := start(t, f, winevt.Options{Start: winevt.StartOldest, Batch: 10}, nil, nil)
		synctest.Wait()
		if got := r.rec.records(); !slices.Equal(got, seq(1, 20)) {
			t.Fatalf("got records %v", got)
		}
		m := r.met.get()
		if !slices.Equal(m.resubs, []string{"ERROR_EVT_QUERY_RESULT_STALE"}) || len(m.loss) != 0 || len(m.halved) != 0 {
			t.Errorf("metrics = %+v", m)
		}
		if subs := f.Subscribes(); len(subs) != 2 || subs[1].Record != 10 {
			t.Errorf("subscriptions = %+v", subs)
		}
		if err := r.stop(); err != nil {
			t.Fatal(err)
		}
	})
}

func TestStaleReadRepeatedBacksOff(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := winevttest.New()
		f.Append(app, events(3, "P", time.Now())...)
		f.FailNext("Next", 2, winevt.ErrEvtQueryStale)
		r := start(t, f, winevt.Options{Start: winevt.StartOldest, MinBackoff: time.Second}, nil, nil)
		synctest.Wait()
		// The first stale read re-subscribes at once, the second backs off.
		if n := f.Count("Subscribe"); n != 2 || r.met.state() != "backing off" {
			t.Fatalf("%d subscriptions, state %q; want 2, backing off", n, r.met.state())
		}
		time.Sleep(time.Second)
		synctest.Wait()
		if got := r.rec.records(); !slices.Equal(got, seq(1, 3)) || f.Count("Subscribe") != 3 {
			t.Fatalf("got records %v after %d subscriptions", got, f.Count("Subscribe"))
		}
		if m := r.met.get(); len(m.resubs) != 2 || len(m.loss) != 0 {
			t.Errorf("metrics = %+v", m)
		}
		if err := r.stop(); err != nil {
			t.Fatal(err)
		}
	})
}

func TestChannelMissingThenCreated(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := winevttest.New()
		opts := winevt.Options{Start: winevt.StartOldest, MinBackoff: 5 * time.Second, MaxBackoff: 20 * time.Second}
		r := start(t, f, opts, nil, nil)
		synctest.Wait()
		if st := r.met.state(); st != "waiting for channel" {
			t.Fatalf("state = %q", st)
		}
		// Attempts at 0s, 5s, 15s, 35s, 55s, 75s: 5s doubling up to 20s.
		t0 := time.Now()
		for _, tc := range []struct {
			at   time.Duration
			subs int
		}{{4 * time.Second, 1}, {6 * time.Second, 2}, {16 * time.Second, 3}, {34 * time.Second, 3}, {36 * time.Second, 4}, {56 * time.Second, 5}, {76 * time.Second, 6}} {
			time.Sleep(time.Until(t0.Add(tc.at)))
			synctest.Wait()
			if n := f.Count("Subscribe"); n != tc.subs {
				t.Fatalf("at %v: %d subscribe attempts, want %d", tc.at, n, tc.subs)
			}
		}
		if n := r.logCount("channel not found: waiting for it to be created"); n != 1 {
			t.Errorf("%d 'channel not found' log lines, want 1", n)
		}
		f.Append(app, events(2, "P", time.Now())...)
		time.Sleep(20 * time.Second)
		synctest.Wait()
		if got := r.rec.records(); !slices.Equal(got, seq(1, 2)) {
			t.Fatalf("got records %v", got)
		}
		if err := r.stop(); err != nil {
			t.Fatal(err)
		}
		m := r.met.get()
		if want := []string{"waiting for channel", "running", "stopped"}; !slices.Equal(m.states, want) {
			t.Errorf("states = %v, want %v", m.states, want)
		}
		if len(m.resubs) != 0 || len(m.loss) != 0 {
			t.Errorf("metrics = %+v", m)
		}
	})
}

func TestChannelRemovedWhileReading(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := winevttest.New()
		f.Append(app, events(3, "P", time.Now())...)
		r := start(t, f, winevt.Options{Start: winevt.StartOldest, MinBackoff: time.Second}, nil, nil)
		synctest.Wait()
		f.RemoveChannel(app)
		synctest.Wait()
		if st := r.met.state(); st != "waiting for channel" {
			t.Fatalf("state = %q", st)
		}
		// Reinstalled: a new log, whose records the old bookmark is not in.
		f.Append(app, events(2, "P", time.Now())...)
		time.Sleep(2 * time.Second)
		synctest.Wait()
		if got := r.rec.records(); !slices.Equal(got, []uint64{1, 2, 3, 1, 2}) {
			t.Fatalf("got records %v", got)
		}
		m := r.met.get()
		if !slices.Equal(m.resubs, []string{"ERROR_EVT_CHANNEL_NOT_FOUND"}) || !slices.Equal(m.loss, []string{"record numbers restarted"}) {
			t.Errorf("metrics = %+v", m)
		}
		if err := r.stop(); err != nil {
			t.Fatal(err)
		}
	})
}

func TestRecoverableReadError(t *testing.T) {
	for _, e := range []error{winevt.ErrRPCServerUnavail, winevt.ErrRPCCallCancelled, winevt.ErrInvalidHandle, winevt.ErrEvtPublisherOff} {
		t.Run(winevt.ErrName(e), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				f := winevttest.New()
				f.Append(app, events(20, "P", time.Now())...)
				f.Fail("Next", 2, fmt.Errorf("wrapped: %w", e))
				r := start(t, f, winevt.Options{Start: winevt.StartOldest, Batch: 10, MinBackoff: 5 * time.Second}, nil, nil)
				synctest.Wait()
				if got := r.rec.records(); !slices.Equal(got, seq(1, 10)) || r.met.state() != "backing off" {
					t.Fatalf("before the backoff: records %v, state %q", got, r.met.state())
				}
				time.Sleep(5 * time.Second)
				synctest.Wait()
				if got := r.rec.records(); !slices.Equal(got, seq(1, 20)) {
					t.Fatalf("got records %v", got)
				}
				if subs := f.Subscribes(); len(subs) != 2 || subs[1].Record != 10 {
					t.Errorf("subscriptions = %+v", subs)
				}
				m := r.met.get()
				if !slices.Equal(m.resubs, []string{winevt.ErrName(e)}) {
					t.Errorf("resubscribes = %v", m.resubs)
				}
				if want := []string{"running", "backing off", "running"}; !slices.Equal(m.states, want) {
					t.Errorf("states = %v, want %v", m.states, want)
				}
				if err := r.stop(); err != nil {
					t.Fatal(err)
				}
			})
		})
	}
}

func TestRecoverableSubscribeError(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := winevttest.New()
		f.Append(app, events(2, "P", time.Now())...)
		f.FailNext("Subscribe", 3, winevt.ErrRPCServerUnavail)
		r := start(t, f, winevt.Options{Start: winevt.StartOldest, MinBackoff: time.Second, MaxBackoff: 3 * time.Second}, nil, nil)
		t0 := time.Now()
		synctest.Wait()
		// Attempts at 0s, 1s, 3s, then 6s succeeds.
		time.Sleep(5 * time.Second)
		synctest.Wait()
		if n := f.Count("Subscribe"); n != 3 || len(r.rec.records()) != 0 {
			t.Fatalf("at 5s: %d attempts, %d events", n, len(r.rec.records()))
		}
		time.Sleep(time.Until(t0.Add(6 * time.Second)))
		synctest.Wait()
		if got := r.rec.records(); !slices.Equal(got, seq(1, 2)) {
			t.Fatalf("got records %v", got)
		}
		if n := r.logCount("reading failed: re-subscribing after a backoff"); n != 1 {
			t.Errorf("%d backoff log lines, want 1", n)
		}
		if err := r.stop(); err != nil {
			t.Fatal(err)
		}
	})
}

func TestFatalErrors(t *testing.T) {
	for _, tc := range []struct {
		name, call string
		err        error
		want       string
	}{
		{"invalid query", "Subscribe", winevt.ErrEvtInvalidQuery, `subscribe to channel "Application": ERROR_EVT_INVALID_QUERY`},
		{"access denied at subscribe", "Subscribe", syscall.Errno(5), `subscribe to channel "Application": ERROR_ACCESS_DENIED`},
		{"invalid channel path", "Subscribe", syscall.Errno(15000), `subscribe to channel "Application": ERROR_EVT_INVALID_CHANNEL_PATH`},
		{"direct channel", "Subscribe", syscall.Errno(15009), `subscribe to channel "Application": ERROR_EVT_SUBSCRIPTION_TO_DIRECT_CHANNEL`},
		{"filter too complex", "Subscribe", syscall.Errno(15026), `subscribe to channel "Application": ERROR_EVT_FILTER_TOO_COMPLEX`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				f := winevttest.New()
				f.Append(app, events(2, "P", time.Now())...)
				f.Fail(tc.call, 1, tc.err)
				r := start(t, f, winevt.Options{Start: winevt.StartOldest}, nil, nil)
				err := r.end()
				if err == nil || !strings.Contains(err.Error(), tc.want) || !errors.Is(err, tc.err) {
					t.Fatalf("Run = %v, want an error containing %q", err, tc.want)
				}
			})
		})
	}
}

func TestRenderFailure(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := winevttest.New()
		f.Append(app, events(5, "P", time.Now())...)
		f.FailRender(app, 3, winevt.ErrInvalidParameter)
		f.FailRender(app, 5, winevt.ErrInsufficientBuffer) // the batch's last
		r := start(t, f, winevt.Options{Start: winevt.StartOldest, MinBackoff: time.Second}, nil, nil)
		synctest.Wait()
		time.Sleep(time.Minute) // each is read 3 times, with a backoff
		synctest.Wait()
		items := r.rec.all()
		if len(items) != 5 {
			t.Fatalf("%d items, want 5: %+v", len(items), items)
		}
		for i, it := range items {
			rec := uint64(i + 1)
			if it.Where != fmt.Sprintf("record %d", rec) {
				t.Errorf("item %d: Where = %q", i, it.Where)
			}
			if rec == 3 || rec == 5 {
				if it.Err == nil || !strings.Contains(it.Err.Error(), `channel "Application"`) || !strings.Contains(it.Err.Error(), "ERROR_") || it.Input != app {
					t.Errorf("item %d = %+v, want an error naming the channel and the Windows error", i, it)
				}
				continue
			}
			if it.Err != nil || it.Record != rec {
				t.Errorf("item %d = %+v", i, it)
			}
		}
		if !errors.Is(items[2].Err, winevt.ErrInvalidParameter) {
			t.Errorf("item 3 error = %v", items[2].Err)
		}
		// Committed before each: at 2, at 4 (with 3's error), at 5.
		cps := r.rec.checkpoints()
		if len(cps) != 3 || cps[0].Record != 2 || cps[1].Record != 4 || cps[1].Items != 2 || cps[2].Record != 5 || cps[2].Bookmark != winevttest.BookmarkXML(app, 5) {
			t.Errorf("checkpoints = %+v, want at 2, 4, 5", cps)
		}
		if n, m := renderCalls(f, 3), renderCalls(f, 5); n != 3 || m != 3 {
			t.Errorf("records 3 and 5 rendered %d and %d times, want 3", n, m)
		}
		if m := r.met.get(); m.render != 2 {
			t.Errorf("render failures = %d, want 2", m.render)
		}
		// The poison records do not block the channel.
		f.Append(app, events(1, "P", time.Now())...)
		synctest.Wait()
		if got := r.rec.records(); !slices.Equal(got, []uint64{1, 2, 4, 6}) {
			t.Errorf("got records %v", got)
		}
		if err := r.stop(); err != nil {
			t.Fatal(err)
		}
	})
}

func TestRenderFailsServiceGone(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := winevttest.New()
		f.Append(app, events(20, "P", time.Now())...)
		// The service stops in the middle of the second batch.
		f.Fail("RenderXML", 13, winevt.ErrRPCServerUnavail)
		r := start(t, f, winevt.Options{Start: winevt.StartOldest, Batch: 10, MinBackoff: time.Second}, nil, nil)
		synctest.Wait()
		time.Sleep(time.Second)
		synctest.Wait()
		if items := r.rec.all(); len(items) != 20 || !slices.Equal(r.rec.records(), seq(1, 20)) {
			t.Fatalf("items = %+v, want records 1-20 and no error", items)
		}
		m := r.met.get()
		if m.render != 0 || !slices.Equal(m.resubs, []string{"RPC_S_SERVER_UNAVAILABLE"}) {
			t.Errorf("metrics = %+v", m)
		}
		// Records 11 and 12 were committed before the failing one.
		if subs := f.Subscribes(); len(subs) != 2 || subs[1].Record != 12 {
			t.Errorf("subscriptions = %+v", subs)
		}
		if err := r.stop(); err != nil {
			t.Fatal(err)
		}
	})
}

func TestDecodeFailure(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := winevttest.New()
		f.Append(app, events(1, "P", time.Now())...)
		f.Append(app, "<Event><System><EventRecordID>0</EventRecordID>")
		f.Append(app, events(1, "P", time.Now())...)
		r := start(t, f, winevt.Options{Start: winevt.StartOldest}, nil, nil)
		synctest.Wait()
		items := r.rec.all()
		if len(items) != 3 || items[1].Err == nil || items[1].Where != "record 2" {
			t.Fatalf("items = %+v, want the second an error at record 2", items)
		}
		var se *decode.SyntaxError
		if !errors.As(items[1].Err, &se) {
			t.Errorf("error = %T %v, want the decoder's", items[1].Err, items[1].Err)
		}
		if got := r.rec.records(); !slices.Equal(got, []uint64{1, 3}) {
			t.Errorf("got records %v", got)
		}
		if err := r.stop(); err != nil {
			t.Fatal(err)
		}
	})
}

func TestRealEventXML(t *testing.T) {
	raw, err := os.ReadFile("../../testdata/samples/real/backup-50-no-space.xml")
	if err != nil {
		t.Fatal(err)
	}
	// As EvtRender gives it: the event alone, CRLF line ends.
	x := string(raw)
	x = x[strings.Index(x, "<Event "):]
	x = strings.ReplaceAll(x, "\n", "\r\n")
	synctest.Test(t, func(t *testing.T) {
		f := winevttest.New()
		f.Append("Microsoft-Windows-Backup", x)
		var got *watcher.Event
		src := winevt.New("backup", f, winevt.Options{Channel: "Microsoft-Windows-Backup", Start: winevt.StartOldest})
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error)
		go func() {
			done <- src.Run(ctx, nil, func(_ context.Context, items []watcher.Item, _ watcher.Checkpoint) error {
				for _, it := range items {
					if it.Err != nil {
						t.Errorf("item error: %v", it.Err)
						continue
					}
					got = it.Event.Clone()
				}
				return nil
			})
		}()
		synctest.Wait()
		cancel()
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		if got == nil {
			t.Fatal("no event")
		}
		if got.EventID != 50 || got.Provider.Name != "Microsoft-Windows-Backup" || got.RecordID != 1 || got.Computer != "Sealab" || got.Channel != "Microsoft-Windows-Backup" {
			t.Errorf("event = %+v", got)
		}
		if v, _ := got.Data("VolumeFriendlyName"); v != "Sealab 2011_06_30 10:07 DISK_01 [NoMount]" {
			t.Errorf("VolumeFriendlyName = %q", v)
		}
		if strings.Contains(got.Raw, "\r") {
			t.Errorf("Raw keeps CR")
		}
		if f.Open() != 0 {
			t.Errorf("handles left open: %v", f.OpenHandles())
		}
	})
}

func TestStop(t *testing.T) {
	for _, tc := range []struct {
		name  string
		setup func(f *winevttest.Fake)
		state string
	}{
		{"during a wait", func(f *winevttest.Fake) { f.Append(app, events(3, "P", time.Now())...) }, "running"},
		{"waiting for the channel", func(*winevttest.Fake) {}, "waiting for channel"},
		{"backing off", func(f *winevttest.Fake) {
			f.Append(app, events(3, "P", time.Now())...)
			f.Fail("Next", 1, winevt.ErrRPCServerUnavail)
		}, "backing off"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				f := winevttest.New()
				f.AddPublisher("P")
				tc.setup(f)
				r := start(t, f, winevt.Options{Start: winevt.StartOldest, Message: true}, nil, nil)
				synctest.Wait()
				if st := r.met.state(); st != tc.state {
					t.Fatalf("state = %q, want %q", st, tc.state)
				}
				if err := r.stop(); err != nil { // checks for leaks
					t.Fatalf("Run = %v, want nil", err)
				}
			})
		})
	}
}

func TestStopDuringEmit(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := winevttest.New()
		f.Append(app, events(30, "P", time.Now())...)
		gate := make(chan struct{})
		r := start(t, f, winevt.Options{Start: winevt.StartOldest, Batch: 10}, nil, func(n int) error {
			if n == 2 {
				<-gate // the store is slow; the daemon stops meanwhile
				return context.Canceled
			}
			return nil
		})
		synctest.Wait()
		r.cancel()
		close(gate)
		if err := r.end(); err != nil {
			t.Fatalf("Run = %v, want nil after ctx is done", err)
		}
		if got := r.rec.records(); !slices.Equal(got, seq(1, 10)) {
			t.Errorf("got records %v", got)
		}
	})
}

func TestEmitErrorIsFatal(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := winevttest.New()
		f.Append(app, events(30, "P", time.Now())...)
		errStore := errors.New("store is full")
		r := start(t, f, winevt.Options{Start: winevt.StartOldest, Batch: 10}, nil, func(n int) error {
			if n == 2 {
				return errStore
			}
			return nil
		})
		if err := r.end(); !errors.Is(err, errStore) {
			t.Fatalf("Run = %v, want the store's error", err)
		}
		if cps := r.rec.checkpoints(); len(cps) != 1 || cps[0].Record != 10 {
			t.Errorf("checkpoints = %+v", cps)
		}
	})
}

func TestRestartResumesAfterCheckpoint(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := winevttest.New()
		f.Append(app, events(10, "P", time.Now())...)
		r := start(t, f, winevt.Options{Lookback: time.Hour}, nil, nil)
		synctest.Wait()
		if err := r.stop(); err != nil {
			t.Fatal(err)
		}
		if got := r.rec.records(); !slices.Equal(got, seq(1, 10)) {
			t.Fatalf("first run: records %v", got)
		}
		f.Append(app, events(5, "P", time.Now())...) // while stopped
		for _, startAt := range []winevt.Start{winevt.StartBookmark, winevt.StartOldest} {
			r2 := start(t, f, winevt.Options{Start: startAt, Lookback: time.Hour}, r.rec.last(), nil)
			synctest.Wait()
			if got := r2.rec.records(); !slices.Equal(got, seq(11, 15)) {
				t.Errorf("start %v: after the restart, records %v, want 11-15", startAt, got)
			}
			if subs := f.Subscribes(); subs[len(subs)-1].Record != 10 || subs[len(subs)-1].Flags != winevt.SubscribeStartAfterBookmark|winevt.SubscribeStrict {
				t.Errorf("start %v: subscription = %+v", startAt, subs[len(subs)-1])
			}
			if err := r2.stop(); err != nil {
				t.Fatal(err)
			}
			if m := r2.met.get(); len(m.loss) != 0 {
				t.Errorf("possible loss = %v", m.loss)
			}
		}
	})
}

func TestStartPositions(t *testing.T) {
	for _, tc := range []struct {
		name       string
		opts       winevt.Options
		checkpoint bool
		flags      winevt.SubscribeFlags
		want       []uint64 // records 1-4 are 3h, 2h, 30m and 10m old; 5 is live
	}{
		{"bookmark, no lookback, first run", winevt.Options{}, false, winevt.SubscribeToFutureEvents, []uint64{5}},
		{"bookmark, lookback, first run", winevt.Options{Lookback: time.Hour}, false, winevt.SubscribeStartAtOldestRecord, []uint64{3, 4, 5}},
		{"bookmark, resume", winevt.Options{Lookback: time.Hour}, true, winevt.SubscribeStartAfterBookmark | winevt.SubscribeStrict, []uint64{2, 3, 4, 5}},
		{"now ignores the bookmark", winevt.Options{Start: winevt.StartNow}, true, winevt.SubscribeToFutureEvents, []uint64{5}},
		{"now with lookback", winevt.Options{Start: winevt.StartNow, Lookback: 20 * time.Minute}, true, winevt.SubscribeStartAtOldestRecord, []uint64{4, 5}},
		{"oldest, first run", winevt.Options{Start: winevt.StartOldest, Lookback: time.Hour}, false, winevt.SubscribeStartAtOldestRecord, []uint64{1, 2, 3, 4, 5}},
		{"oldest, resume", winevt.Options{Start: winevt.StartOldest}, true, winevt.SubscribeStartAfterBookmark | winevt.SubscribeStrict, []uint64{2, 3, 4, 5}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				f := winevttest.New()
				now := time.Now()
				for _, age := range []time.Duration{3 * time.Hour, 2 * time.Hour, 30 * time.Minute, 10 * time.Minute} {
					f.Append(app, events(1, "P", now.Add(-age))...)
				}
				var cp []byte
				if tc.checkpoint {
					cp = cpFor(t, app, 1)
				}
				r := start(t, f, tc.opts, cp, nil)
				synctest.Wait()
				f.Append(app, events(1, "P", now)...)
				synctest.Wait()
				if got := r.rec.records(); !slices.Equal(got, tc.want) {
					t.Errorf("got records %v, want %v", got, tc.want)
				}
				if subs := f.Subscribes(); subs[0].Flags != tc.flags {
					t.Errorf("subscribed with flags %#x, want %#x", subs[0].Flags, tc.flags)
				}
				// The bookmark moves past skipped events.
				if cps := r.rec.checkpoints(); len(cps) == 0 || cps[len(cps)-1].Record != 5 {
					t.Errorf("checkpoints = %+v, want the last at record 5", cps)
				}
				if err := r.stop(); err != nil {
					t.Fatal(err)
				}
			})
		})
	}
}

func TestLookbackEndsWhenCaughtUp(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := winevttest.New()
		now := time.Now()
		f.Append(app, events(1, "P", now.Add(-2*time.Hour))...)
		f.Append(app, events(1, "P", now.Add(-time.Minute))...)
		r := start(t, f, winevt.Options{Lookback: time.Hour}, nil, nil)
		synctest.Wait()
		// A live event with an old timestamp (a late forwarded one) is new.
		f.Append(app, events(1, "P", now.Add(-3*time.Hour))...)
		synctest.Wait()
		if got := r.rec.records(); !slices.Equal(got, []uint64{2, 3}) {
			t.Errorf("got records %v, want [2 3]", got)
		}
		if err := r.stop(); err != nil {
			t.Fatal(err)
		}
	})
}

func TestNoBookmarkYetResubscribeLosesNothing(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := winevttest.New()
		f.Append(app, events(3, "P", time.Now().Add(-time.Hour))...) // before the start: not read
		r := start(t, f, winevt.Options{MinBackoff: time.Second}, nil, nil)
		synctest.Wait()
		time.Sleep(time.Minute)
		// The service restarts before any new event: nothing is committed.
		f.Fail("Next", f.Count("Next")+1, winevt.ErrRPCServerUnavail)
		f.Append(app, events(1, "P", time.Now())...)
		synctest.Wait()
		f.Append(app, events(1, "P", time.Now())...) // during the backoff
		time.Sleep(time.Second)
		synctest.Wait()
		if got := r.rec.records(); !slices.Equal(got, []uint64{4, 5}) {
			t.Errorf("got records %v, want [4 5]", got)
		}
		// Re-subscribed after the newest record when reading began, not
		// from the oldest record.
		subs := f.Subscribes()
		if len(subs) != 2 || subs[0].Flags != winevt.SubscribeToFutureEvents ||
			subs[1].Flags != winevt.SubscribeStartAfterBookmark|winevt.SubscribeStrict || subs[1].Record != 3 {
			t.Errorf("subscriptions = %+v, want new events, then strictly after record 3", subs)
		}
		if err := r.stop(); err != nil {
			t.Fatal(err)
		}
	})
}

func TestProviders(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := winevttest.New()
		f.Append(app, events(2, "Microsoft-Windows-Backup", time.Now())...)
		f.Append(app, events(2, "Other", time.Now())...)
		r := start(t, f, winevt.Options{Start: winevt.StartOldest, Providers: []string{"microsoft-windows-BACKUP", " "}}, nil, nil)
		synctest.Wait()
		if got := r.rec.records(); !slices.Equal(got, []uint64{1, 2}) {
			t.Errorf("got records %v", got)
		}
		// A batch of skipped events only is still committed.
		f.Append(app, events(3, "Other", time.Now())...)
		synctest.Wait()
		cps := r.rec.checkpoints()
		if len(cps) != 2 || cps[0].Record != 4 || cps[1].Record != 7 || cps[1].Items != 0 {
			t.Errorf("checkpoints = %+v, want at 4 and 7 (empty)", cps)
		}
		if err := r.stop(); err != nil {
			t.Fatal(err)
		}
	})
}

func TestBadCheckpoint(t *testing.T) {
	for _, tc := range []struct {
		name string
		data string
	}{
		{"not JSON", "garbage"},
		{"no bookmark", `{"record":3}`},
		{"bookmark XML refused", `{"bookmark":"<BookmarkList><Bookmark Channel='Application' RecordId='3'","record":3}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				f := winevttest.New()
				f.Append(app, events(4, "P", time.Now())...)
				r := start(t, f, winevt.Options{}, []byte(tc.data), nil)
				synctest.Wait()
				if got := r.rec.records(); !slices.Equal(got, seq(1, 4)) {
					t.Errorf("got records %v, want all (on_stale_bookmark oldest)", got)
				}
				if m := r.met.get(); !slices.Equal(m.loss, []string{"bad checkpoint"}) {
					t.Errorf("possible loss = %v", m.loss)
				}
				if n := r.logCount("bad checkpoint: events since it may have been missed"); n != 1 {
					t.Errorf("%d log lines", n)
				}
				if err := r.stop(); err != nil {
					t.Fatal(err)
				}
			})
		})
	}
}

func TestCheckpointOfAnotherChannel(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := winevttest.New()
		f.Append(app, events(4, "P", time.Now())...)
		r := start(t, f, winevt.Options{Start: winevt.StartOldest}, cpFor(t, "System", 2), nil)
		synctest.Wait()
		if got := r.rec.records(); !slices.Equal(got, seq(1, 4)) {
			t.Errorf("got records %v", got)
		}
		if m := r.met.get(); len(m.loss) != 0 {
			t.Errorf("possible loss = %v", m.loss)
		}
		if err := r.stop(); err != nil {
			t.Fatal(err)
		}
	})
}

func TestQueryList(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := winevttest.New()
		f.Append("Setup", events(2, "P", time.Now())...)
		q := `<QueryList><Query Id="0"><Select Path="Setup">*</Select></Query></QueryList>`
		r := start(t, f, winevt.Options{Query: q, Start: winevt.StartOldest}, nil, nil)
		synctest.Wait()
		items := r.rec.all()
		if len(items) != 2 || items[0].Input != "app" {
			t.Errorf("items = %+v, want Input the source's name", items)
		}
		if cps := r.rec.checkpoints(); len(cps) != 1 || cps[0].Channel != "" || cps[0].Record != 2 {
			t.Errorf("checkpoints = %+v", cps)
		}
		if n := f.Count("LogInfo"); n != 0 {
			t.Errorf("LogInfo called %d times for a QueryList", n)
		}
		if subs := f.Subscribes(); subs[0].Channel != "" || subs[0].Query != q {
			t.Errorf("subscription = %+v", subs[0])
		}
		if err := r.stop(); err != nil {
			t.Fatal(err)
		}
	})
}

// Test helpers.

// emitted is an item as a test keeps it.
type emitted struct {
	Record   uint64
	Provider string
	Message  string
	Input    string
	Where    string
	Err      error
}

// savedCP is a checkpoint as emitted.
type savedCP struct {
	Bookmark string `json:"bookmark"`
	Since    string `json:"since"`
	Record   uint64 `json:"record"`
	Channel  string `json:"channel"`
	Cutoff   string `json:"cutoff"`
	Until    uint64 `json:"until"`
	Key      string `json:"-"`
	Data     []byte `json:"-"`
	Items    int    `json:"-"` // items emitted with it
}

// recorder is an Emit that keeps what it is given.
type recorder struct {
	t     *testing.T
	mu    sync.Mutex
	items []emitted
	cps   []savedCP
	fail  func(n int) error // n: the emit's number, 1-based
}

func (r *recorder) emit(_ context.Context, items []watcher.Item, cp watcher.Checkpoint) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.fail != nil {
		if err := r.fail(len(r.cps) + 1); err != nil {
			return err
		}
	}
	for _, it := range items {
		e := emitted{Input: it.Input, Where: it.Where, Err: it.Err}
		if (it.Event == nil) == (it.Err == nil) {
			r.t.Errorf("item %+v: exactly one of Event and Err must be set", it)
		}
		if it.Event != nil {
			e.Record, e.Provider, e.Message = it.Event.RecordID, it.Event.Provider.Name, it.Event.Rendering.Message
		}
		r.items = append(r.items, e)
	}
	c := savedCP{Key: cp.Key, Data: cp.Data, Items: len(items)}
	if err := json.Unmarshal(cp.Data, &c); err != nil {
		r.t.Errorf("checkpoint %q: %v", cp.Data, err)
	}
	r.cps = append(r.cps, c)
	return nil
}

// records returns the record IDs of the events emitted, in order.
func (r *recorder) records() []uint64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	var ids []uint64
	for _, e := range r.items {
		if e.Err == nil {
			ids = append(ids, e.Record)
		}
	}
	return ids
}

func (r *recorder) all() []emitted {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.items)
}

func (r *recorder) checkpoints() []savedCP {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.cps)
}

// last returns the last checkpoint's Data, nil when none.
func (r *recorder) last() []byte {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.cps) == 0 {
		return nil
	}
	return r.cps[len(r.cps)-1].Data
}

// metrics records what a source counts.
type metrics struct {
	mu     sync.Mutex
	loss   []string
	resubs []string
	halved []int
	render int
	lag    []uint64
	states []string
}

func (m *metrics) PossibleLoss(_, reason string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.loss = append(m.loss, reason)
}

func (m *metrics) Resubscribe(_, reason string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.resubs = append(m.resubs, reason)
}

func (m *metrics) BatchHalved(_ string, batch int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.halved = append(m.halved, batch)
}

func (m *metrics) RenderFailed(string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.render++
}

func (m *metrics) Lag(_ string, records uint64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.lag = append(m.lag, records)
}

func (m *metrics) State(_, state string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.states = append(m.states, state)
}

type metricsSnapshot struct {
	loss, resubs []string
	halved       []int
	render       int
	lag          []uint64
	states       []string
}

func (m *metrics) get() metricsSnapshot {
	m.mu.Lock()
	defer m.mu.Unlock()
	return metricsSnapshot{slices.Clone(m.loss), slices.Clone(m.resubs), slices.Clone(m.halved), m.render, slices.Clone(m.lag), slices.Clone(m.states)}
}

func (m *metrics) state() string {
	m.mu.Lock()
	defer m.mu.Unlock()
	if len(m.states) == 0 {
		return ""
	}
	return m.states[len(m.states)-1]
}

// running is one Run of a source against a fake.
type running struct {
	t      *testing.T
	f      *winevttest.Fake
	rec    *recorder
	met    *metrics
	logs   *observer.ObservedLogs
	cancel context.CancelFunc
	done   chan error
	err    error
	ended  bool
}

// start runs a source named "app" with opts, resuming from checkpoint
// (nil: none). Unset timings are short; tests run in a synctest bubble.
func start(t *testing.T, f *winevttest.Fake, opts winevt.Options, checkpoint []byte, emitFail func(int) error) *running {
	t.Helper()
	return startAPI(t, f, f, opts, checkpoint, emitFail)
}

// startAPI is start with api, which wraps f.
func startAPI(t *testing.T, f *winevttest.Fake, api winevt.API, opts winevt.Options, checkpoint []byte, emitFail func(int) error) *running {
	t.Helper()
	core, logs := observer.New(zap.DebugLevel)
	r := &running{t: t, f: f, rec: &recorder{t: t, fail: emitFail}, met: &metrics{}, logs: logs, done: make(chan error, 1)}
	opts.Logger = zap.New(zapcore.NewTee(core, zaptest.NewLogger(t).Core()))
	opts.Metrics = r.met
	if opts.Channel == "" && opts.Query == "" {
		opts.Channel = app
	}
	src := winevt.New("app", api, opts)
	if src.Name() != "app" {
		t.Fatalf("Name() = %q", src.Name())
	}
	var cps map[string][]byte
	if checkpoint != nil {
		cps = map[string][]byte{"": checkpoint}
	}
	ctx, cancel := context.WithCancel(context.Background())
	r.cancel = cancel
	go func() { r.done <- src.Run(ctx, cps, r.rec.emit) }()
	t.Cleanup(func() {
		// After a failed test: let the bubble end.
		if !r.ended {
			cancel()
			<-r.done
		}
	})
	return r
}

// stop cancels Run and returns its error, checking that no handle is
// left open.
func (r *running) stop() error {
	r.t.Helper()
	r.cancel()
	return r.end()
}

// end waits for Run to return by itself.
func (r *running) end() error {
	r.t.Helper()
	if !r.ended {
		r.err = <-r.done
		r.ended = true
		r.cancel()
		if n := r.f.Open(); n != 0 {
			r.t.Errorf("%d handles left open after Run: %v", n, r.f.OpenHandles())
		}
		if st := r.met.state(); st != "stopped" {
			r.t.Errorf("state after Run = %q, want stopped", st)
		}
	}
	return r.err
}

// returned reports whether Run has returned.
func (r *running) returned() bool {
	if r.ended {
		return true
	}
	select {
	case err := <-r.done:
		r.done <- err
		return true
	default:
		return false
	}
}

// logCount counts the log entries with the message msg.
func (r *running) logCount(msg string) int {
	return r.logs.FilterMessage(msg).Len()
}

// events returns n events' XML for provider, created at t.
func events(n int, provider string, t time.Time) []string {
	xs := make([]string, n)
	for i := range xs {
		xs[i] = winevttest.Event{Provider: provider, EventID: uint32(100 + i), Level: 4, Time: t}.XML()
	}
	return xs
}

// seq returns from..to.
func seq(from, to uint64) []uint64 {
	var s []uint64
	for i := from; i <= to; i++ {
		s = append(s, i)
	}
	return s
}

func cpFor(t *testing.T, channel string, record uint64) []byte {
	t.Helper()
	b, err := json.Marshal(map[string]any{"bookmark": winevttest.BookmarkXML(channel, record), "record": record, "channel": channel})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// invalidOpAPI fails one EvtNext with ERROR_INVALID_OPERATION after it
// returned events, which Windows has then moved past.
type invalidOpAPI struct {
	*winevttest.Fake
	fail int // the Next call to fail
	n    int
}

func (a *invalidOpAPI) Next(sub winevt.Handle, events []winevt.Handle) (int, error) {
	n, err := a.Fake.Next(sub, events)
	a.n++
	if a.n == a.fail && err == nil {
		return n, winevt.ErrInvalidOperation
	}
	return n, err
}

func TestInvalidOperationWithEvents(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := winevttest.New()
		f.Append(app, events(30, "P", time.Now())...)
		rec, met := &recorder{t: t}, &metrics{}
		src := winevt.New("app", &invalidOpAPI{Fake: f, fail: 2}, winevt.Options{Channel: app, Start: winevt.StartOldest, Batch: 10, Metrics: met})
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error)
		go func() { done <- src.Run(ctx, nil, rec.emit) }()
		synctest.Wait()
		cancel()
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		if got := rec.records(); !slices.Equal(got, seq(1, 30)) {
			t.Errorf("got records %v", got)
		}
		// Re-subscribed at once from the committed bookmark, the batch
		// kept: only RPC_S_INVALID_BOUND halves it.
		if m := met.get(); len(m.halved) != 0 || !slices.Equal(m.resubs, []string{"ERROR_INVALID_OPERATION"}) {
			t.Errorf("metrics = %+v", m)
		}
		if subs := f.Subscribes(); len(subs) != 2 || subs[1].Record != 10 {
			t.Errorf("subscriptions = %+v, want the second after record 10", subs)
		}
		if f.Open() != 0 {
			t.Errorf("handles left open: %v", f.OpenHandles())
		}
	})
}

func TestBatchBounds(t *testing.T) {
	for _, tc := range []struct {
		batch int
		want  []int // events per batch
	}{{0, []int{64, 64, 2}}, {5000, []int{130}}, {-3, []int{64, 64, 2}}} {
		t.Run(fmt.Sprint(tc.batch), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				f := winevttest.New()
				f.Append(app, events(130, "P", time.Now())...)
				r := start(t, f, winevt.Options{Start: winevt.StartOldest, Batch: tc.batch}, nil, nil)
				synctest.Wait()
				var sizes []int
				for _, c := range r.rec.checkpoints() {
					sizes = append(sizes, c.Items)
				}
				if !slices.Equal(sizes, tc.want) {
					t.Errorf("batches of %v, want %v", sizes, tc.want)
				}
				if err := r.stop(); err != nil {
					t.Fatal(err)
				}
			})
		})
	}
}

// Review fixes.

// TestReadErrorsNeverEndRun: no error while reading ends Run: a stale
// one re-subscribes from the committed bookmark at once, any other after
// a backoff.
func TestReadErrorsNeverEndRun(t *testing.T) {
	for _, tc := range []struct {
		err   error
		stale bool
	}{
		{syscall.Errno(15012), true}, // ERROR_EVT_QUERY_RESULT_INVALID_POSITION
		{syscall.Errno(1168), true},  // ERROR_NOT_FOUND
		{syscall.Errno(1726), false}, // RPC_S_CALL_FAILED
		{syscall.Errno(1723), false}, // RPC_S_SERVER_TOO_BUSY
		{syscall.Errno(14), false},   // ERROR_OUTOFMEMORY
		{syscall.Errno(8), false},    // ERROR_NOT_ENOUGH_MEMORY
		{syscall.Errno(5), false},    // ERROR_ACCESS_DENIED: fatal only at subscribe time
		{syscall.Errno(87), false},   // ERROR_INVALID_PARAMETER
		{syscall.Errno(4242), false}, // unknown
	} {
		t.Run(winevt.ErrName(tc.err), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				f := winevttest.New()
				f.Append(app, events(20, "P", time.Now())...)
				f.Fail("Next", 2, fmt.Errorf("wrapped: %w", tc.err))
				r := start(t, f, winevt.Options{Start: winevt.StartOldest, Batch: 10, MinBackoff: 5 * time.Second}, nil, nil)
				synctest.Wait()
				if r.returned() {
					t.Fatalf("Run returned: %v", r.end())
				}
				want := seq(1, 10)
				if tc.stale {
					want = seq(1, 20) // re-subscribed at once
				}
				if got := r.rec.records(); !slices.Equal(got, want) {
					t.Fatalf("before the backoff: records %v, want %v", got, want)
				}
				time.Sleep(5 * time.Second)
				synctest.Wait()
				if got := r.rec.records(); !slices.Equal(got, seq(1, 20)) {
					t.Fatalf("got records %v", got)
				}
				if subs := f.Subscribes(); len(subs) != 2 || subs[1].Record != 10 || subs[1].Err != nil {
					t.Errorf("subscriptions = %+v, want the second after record 10", subs)
				}
				if m := r.met.get(); !slices.Equal(m.resubs, []string{winevt.ErrName(tc.err)}) || len(m.loss) != 0 {
					t.Errorf("metrics = %+v", m)
				}
				if err := r.stop(); err != nil {
					t.Fatal(err)
				}
			})
		})
	}
}

// TestSubscribeErrorsRetried: at subscribe time only errors that cannot
// go away are fatal (TestFatalErrors); others are retried.
func TestSubscribeErrorsRetried(t *testing.T) {
	for _, e := range []error{syscall.Errno(1726), syscall.Errno(87), syscall.Errno(1460), syscall.Errno(4242)} {
		t.Run(winevt.ErrName(e), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				f := winevttest.New()
				f.Append(app, events(2, "P", time.Now())...)
				f.Fail("Subscribe", 1, e)
				r := start(t, f, winevt.Options{Start: winevt.StartOldest, MinBackoff: time.Second}, nil, nil)
				synctest.Wait()
				if r.returned() {
					t.Fatalf("Run returned: %v", r.end())
				}
				if st := r.met.state(); st != "backing off" {
					t.Errorf("state = %q", st)
				}
				time.Sleep(time.Second)
				synctest.Wait()
				if got := r.rec.records(); !slices.Equal(got, seq(1, 2)) {
					t.Fatalf("got records %v", got)
				}
				if err := r.stop(); err != nil {
					t.Fatal(err)
				}
			})
		})
	}
}

// renderCalls counts the RenderXML calls of a record.
func renderCalls(f *winevttest.Fake, record uint64) int {
	n := 0
	for _, c := range f.Calls() {
		if c.Name == "RenderXML" && c.Arg == fmt.Sprintf("%s/%d", app, record) {
			n++
		}
	}
	return n
}

// TestRenderFailureRetriedBeforeSkipped: a record that cannot be
// rendered is read again twice, after a backoff, before it is reported
// and skipped; the events before it are committed first.
func TestRenderFailureRetriedBeforeSkipped(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := winevttest.New()
		f.Append(app, events(5, "P", time.Now())...)
		f.FailRender(app, 3, syscall.Errno(13)) // ERROR_INVALID_DATA, every time
		r := start(t, f, winevt.Options{Start: winevt.StartOldest, MinBackoff: time.Second}, nil, nil)
		synctest.Wait()
		if items := r.rec.all(); len(items) != 2 || items[0].Record != 1 || items[1].Record != 2 {
			t.Fatalf("at once: items %+v, want records 1 and 2 only", items)
		}
		if cps := r.rec.checkpoints(); len(cps) != 1 || cps[0].Record != 2 {
			t.Errorf("checkpoints = %+v, want one at record 2", cps)
		}
		time.Sleep(time.Second)
		synctest.Wait()
		if n := renderCalls(f, 3); n != 2 || len(r.rec.all()) != 2 {
			t.Fatalf("after 1s: record 3 rendered %d times, %d items; want 2, 2", n, len(r.rec.all()))
		}
		time.Sleep(2 * time.Second) // doubled
		synctest.Wait()
		items := r.rec.all()
		if len(items) != 5 || items[2].Err == nil || items[2].Where != "record 3" || !errors.Is(items[2].Err, syscall.Errno(13)) {
			t.Fatalf("items = %+v, want record 3 reported", items)
		}
		if got := r.rec.records(); !slices.Equal(got, []uint64{1, 2, 4, 5}) {
			t.Errorf("got records %v", got)
		}
		if n := renderCalls(f, 3); n != 3 {
			t.Errorf("record 3 rendered %d times, want 3", n)
		}
		if m := r.met.get(); m.render != 1 || len(m.resubs) != 2 {
			t.Errorf("metrics = %+v, want 1 render failure, 2 re-subscriptions", m)
		}
		if err := r.stop(); err != nil {
			t.Fatal(err)
		}
	})
}

// TestRenderTransientFailureNotSkipped: a render that fails for a reason
// that goes away loses nothing.
func TestRenderTransientFailureNotSkipped(t *testing.T) {
	for _, e := range []error{syscall.Errno(1726), syscall.Errno(1723), syscall.Errno(1727), syscall.Errno(14), syscall.Errno(8), syscall.Errno(1460), winevt.ErrInvalidParameter} {
		t.Run(winevt.ErrName(e), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				f := winevttest.New()
				f.Append(app, events(5, "P", time.Now())...)
				f.Fail("RenderXML", 3, e)
				r := start(t, f, winevt.Options{Start: winevt.StartOldest, MinBackoff: time.Second}, nil, nil)
				synctest.Wait()
				time.Sleep(time.Second)
				synctest.Wait()
				if items := r.rec.all(); len(items) != 5 || !slices.Equal(r.rec.records(), seq(1, 5)) {
					t.Fatalf("items = %+v, want records 1-5 and no error", items)
				}
				if m := r.met.get(); m.render != 0 {
					t.Errorf("render failures = %d", m.render)
				}
				if err := r.stop(); err != nil {
					t.Fatal(err)
				}
			})
		})
	}
}

// TestForwardedEvents: ForwardedEvents is resumed without Strict (its
// bookmarks go stale, Beats #36020), and its lag counts its own record
// numbers, not those of the machines the events come from.
func TestForwardedEvents(t *testing.T) {
	for _, tc := range []struct {
		name    string
		channel string
		query   string
	}{
		{"channel", "forwardedEvents", ""},
		{"QueryList", "", `<QueryList><Query Id="0"><Select Path="ForwardedEvents">*</Select></Query></QueryList>`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				const fwd = "ForwardedEvents"
				fx := func(id uint64) string {
					return winevttest.Event{Provider: "P", EventID: 1, Time: time.Now(), RecordID: id, Channel: "System"}.XML()
				}
				f := winevttest.New()
				f.Append(fwd, fx(9001), fx(9002), fx(9003))
				opts := winevt.Options{Channel: tc.channel, Query: tc.query, Start: winevt.StartOldest, Batch: 2}
				r := start(t, f, opts, nil, nil)
				synctest.Wait()
				if got := r.rec.records(); !slices.Equal(got, []uint64{9001, 9002, 9003}) {
					t.Fatalf("got records %v", got)
				}
				cps := r.rec.checkpoints()
				if len(cps) != 2 || cps[1].Record != 3 || cps[1].Bookmark != winevttest.BookmarkXML(fwd, 3) {
					t.Errorf("checkpoints = %+v, want the last at the local record 3", cps)
				}
				if m := r.met.get(); tc.channel != "" && (len(m.lag) == 0 || m.lag[0] != 1) {
					t.Errorf("lag = %v, want 1 after the first batch (local record 2 of 3)", m.lag)
				}
				if err := r.stop(); err != nil {
					t.Fatal(err)
				}

				f.Clear(fwd) // the bookmark is gone: Windows starts after the closest record
				f.Append(fwd, fx(9004))
				r = start(t, f, opts, r.rec.last(), nil)
				synctest.Wait()
				if got := r.rec.records(); !slices.Equal(got, []uint64{9004}) {
					t.Errorf("after the restart: records %v", got)
				}
				subs := f.Subscribes()
				if s := subs[len(subs)-1]; s.Flags != winevt.SubscribeStartAfterBookmark || s.Record != 3 || s.Err != nil {
					t.Errorf("subscription = %+v, want after record 3, not strict", s)
				}
				if m := r.met.get(); len(m.loss) != 0 {
					t.Errorf("possible loss = %v", m.loss)
				}
				if err := r.stop(); err != nil {
					t.Fatal(err)
				}
			})
		})
	}
}

// TestOnStaleNowSkipsLookback: on_stale_bookmark now reads new events
// only, whatever the lookback.
func TestOnStaleNowSkipsLookback(t *testing.T) {
	for _, tc := range []struct {
		name string
		cp   func(t *testing.T) []byte
		loss string
	}{
		{"stale bookmark", func(t *testing.T) []byte { return cpFor(t, app, 5) }, "ERROR_NOT_FOUND"},
		{"bad checkpoint", func(*testing.T) []byte { return []byte("garbage") }, "bad checkpoint"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				f := winevttest.New()
				f.Append(app, events(10, "P", time.Now().Add(-time.Hour))...)
				f.Wrap(app, 7) // 8-10 are left, an hour old
				r := start(t, f, winevt.Options{Lookback: 24 * time.Hour, OnStale: winevt.StartNow}, tc.cp(t), nil)
				synctest.Wait()
				f.Append(app, events(1, "P", time.Now())...)
				synctest.Wait()
				if got := r.rec.records(); !slices.Equal(got, []uint64{11}) {
					t.Errorf("got records %v, want [11]: new events only", got)
				}
				if m := r.met.get(); !slices.Equal(m.loss, []string{tc.loss}) {
					t.Errorf("possible loss = %v", m.loss)
				}
				if err := r.stop(); err != nil {
					t.Fatal(err)
				}
			})
		})
	}
}

// TestFreshStartCommitsWhereItBegan: without a bookmark, the source
// commits when it began reading, so that the events logged while it is
// down are read at the next start, even when it delivered nothing before
// (a quiet channel, or one the pre-filter keeps quiet) and the downtime
// is longer than the lookback.
func TestFreshStartCommitsWhereItBegan(t *testing.T) {
	for _, tc := range []struct {
		lookback time.Duration
		old      bool     // events created before the start's since are in the log
		want     []uint64 // read after the restart
		record   uint64   // the since checkpoint's record: resumed after it
		flags    winevt.SubscribeFlags
	}{
		{0, true, []uint64{3, 4}, 2, winevt.SubscribeStartAfterBookmark | winevt.SubscribeStrict},
		{time.Hour, false, []uint64{1, 2}, 0, winevt.SubscribeStartAtOldestRecord},
	} {
		t.Run(tc.lookback.String(), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				f := winevttest.New()
				f.AddChannel(app)
				t0 := time.Now()
				if tc.old {
					f.Append(app, events(2, "P", t0.Add(-2*time.Hour))...) // never read
				}
				opts := winevt.Options{Lookback: tc.lookback}
				r := start(t, f, opts, nil, nil)
				synctest.Wait()
				cps := r.rec.checkpoints()
				if len(cps) != 1 || cps[0].Items != 0 || cps[0].Bookmark != "" || cps[0].Channel != app {
					t.Fatalf("checkpoints = %+v, want one, empty, without a bookmark", cps)
				}
				if since, err := time.Parse(time.RFC3339Nano, cps[0].Since); err != nil || !since.Equal(t0.Add(-tc.lookback)) {
					t.Errorf("since = %q, want %v", cps[0].Since, t0.Add(-tc.lookback))
				}
				if cps[0].Record != tc.record {
					t.Errorf("since checkpoint record = %d, want %d", cps[0].Record, tc.record)
				}
				if err := r.stop(); err != nil {
					t.Fatal(err)
				}

				time.Sleep(time.Hour)
				f.Append(app, events(2, "P", time.Now())...) // while down
				time.Sleep(2 * time.Hour)
				r2 := start(t, f, opts, r.rec.last(), nil)
				synctest.Wait()
				if got := r2.rec.records(); !slices.Equal(got, tc.want) {
					t.Errorf("after the restart: records %v, want %v", got, tc.want)
				}
				last := tc.want[len(tc.want)-1]
				cps = r2.rec.checkpoints()
				if tc.record == 0 {
					// Read from the oldest record: the since checkpoint
					// is saved again with the catch-up's end (the log
					// was empty at the first start: nothing to skip).
					if len(cps) != 2 || cps[0].Bookmark != "" || cps[0].Since == "" || cps[0].Until != last || cps[0].Record != 0 {
						t.Errorf("checkpoints = %+v, want since up to record %d, then a bookmark", cps, last)
					}
					cps = cps[1:]
				}
				if len(cps) != 1 || cps[0].Bookmark != winevttest.BookmarkXML(app, last) || cps[0].Since != "" {
					t.Errorf("checkpoints = %+v, want a bookmark at %d replacing since", cps, last)
				}
				if m := r2.met.get(); len(m.loss) != 0 {
					t.Errorf("possible loss = %v", m.loss)
				}
				if subs := f.Subscribes(); subs[len(subs)-1].Flags != tc.flags || tc.record > 0 && subs[len(subs)-1].Record != tc.record {
					t.Errorf("subscription = %+v, want flags %#x", subs[len(subs)-1], tc.flags)
				}
				if err := r2.stop(); err != nil {
					t.Fatal(err)
				}
			})
		})
	}
}

// TestFallbackQuery: a pre-filter Windows rejects is replaced by the
// fallback, with a warning.
func TestFallbackQuery(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := winevttest.New()
		q := `<QueryList><Query Id="0" Path="Application"><Select Path="Application">*[System[EventID=100]]</Select></Query></QueryList>`
		f.RejectQuery(q)
		f.Append(app, events(2, "P", time.Now())...)
		f.Fail("Next", 3, winevt.ErrRPCServerUnavail)
		r := start(t, f, winevt.Options{Channel: app, Query: q, Fallback: "*", Start: winevt.StartOldest, MinBackoff: time.Second}, nil, nil)
		synctest.Wait()
		if r.returned() {
			t.Fatalf("Run returned: %v", r.end())
		}
		f.Append(app, events(1, "P", time.Now())...)
		time.Sleep(time.Second)
		synctest.Wait()
		if got := r.rec.records(); !slices.Equal(got, seq(1, 3)) {
			t.Errorf("got records %v", got)
		}
		subs := f.Subscribes()
		if len(subs) != 3 || subs[0].Query != q || !errors.Is(subs[0].Err, winevt.ErrEvtInvalidQuery) || subs[1].Query != "*" || subs[2].Query != "*" {
			t.Errorf("subscriptions = %+v, want the query refused, then the fallback (also after an error)", subs)
		}
		if n := r.logCount("the query was rejected as invalid: subscribing with the fallback query"); n != 1 {
			t.Errorf("%d warnings", n)
		}
		if err := r.stop(); err != nil {
			t.Fatal(err)
		}
	})
}

// TestRenumberedLogBookmarkIsStale: a log whose newest record is older
// than the bookmark's was cleared and renumbered: the bookmark is stale.
func TestRenumberedLogBookmarkIsStale(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := winevttest.New()
		f.Append(app, events(10, "P", time.Now())...)
		opts := winevt.Options{Start: winevt.StartOldest, MinBackoff: time.Second}
		r := start(t, f, opts, nil, nil)
		synctest.Wait()
		if err := r.stop(); err != nil {
			t.Fatal(err)
		}
		f.ClearAndRenumber(app)
		f.Append(app, events(3, "P", time.Now())...) // records 1-3
		r = start(t, f, opts, r.rec.last(), nil)
		synctest.Wait()
		if got := r.rec.records(); !slices.Equal(got, seq(1, 3)) {
			t.Errorf("got records %v", got)
		}
		if m := r.met.get(); !slices.Equal(m.loss, []string{"record numbers restarted"}) {
			t.Errorf("possible loss = %v", m.loss)
		}
		for _, s := range f.Subscribes()[1:] {
			if s.Record == 10 {
				t.Errorf("subscribed after the renumbered bookmark: %+v", s)
			}
		}

		// The same while reading: re-subscribing checks too. (The source
		// backs off meanwhile, so that it sees the new log, not an empty
		// one.)
		f.FailNext("Next", 1, winevt.ErrRPCServerUnavail)
		f.Append(app, events(1, "P", time.Now())...)
		synctest.Wait()
		f.ClearAndRenumber(app)
		f.Append(app, events(2, "P", time.Now())...) // records 1-2, under bookmark 3
		time.Sleep(time.Second)
		synctest.Wait()
		if got := r.rec.records(); !slices.Equal(got, []uint64{1, 2, 3, 1, 2}) {
			t.Errorf("got records %v", got)
		}
		if m := r.met.get(); !slices.Equal(m.loss, []string{"record numbers restarted", "record numbers restarted"}) {
			t.Errorf("possible loss = %v", m.loss)
		}
		if err := r.stop(); err != nil {
			t.Fatal(err)
		}
	})
}

// flappingAPI fails every second EvtNext: the first finds nothing and
// wakes the source again, the second fails as a restarting service does.
type flappingAPI struct {
	*winevttest.Fake
	mu    sync.Mutex
	flap  bool
	sig   *winevttest.Signal
	n     int
	times []time.Time // of the subscriptions
}

func (a *flappingAPI) Subscribe(sig winevt.Signal, channel, query string, bm winevt.Handle, flags winevt.SubscribeFlags) (winevt.Handle, error) {
	h, err := a.Fake.Subscribe(sig, channel, query, bm, flags)
	a.mu.Lock()
	defer a.mu.Unlock()
	a.sig = sig.(*winevttest.Signal)
	a.times = append(a.times, time.Now())
	return h, err
}

func (a *flappingAPI) Next(sub winevt.Handle, events []winevt.Handle) (int, error) {
	a.mu.Lock()
	a.n++
	n, flap, sig := a.n, a.flap, a.sig
	a.mu.Unlock()
	if flap && n%2 == 0 {
		return 0, winevt.ErrRPCServerUnavail
	}
	got, err := a.Fake.Next(sub, events)
	if flap {
		sig.Set()
	}
	return got, err
}

func (a *flappingAPI) gaps() []time.Duration {
	a.mu.Lock()
	defer a.mu.Unlock()
	var d []time.Duration
	for i := 1; i < len(a.times); i++ {
		d = append(d, a.times[i].Sub(a.times[i-1]))
	}
	return d
}

// TestBackoffGrowsWhileFailing: a failure that recurs after each
// successful subscription is retried with a growing backoff; the backoff
// starts over once the subscription has lasted a safety-net interval.
func TestBackoffGrowsWhileFailing(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := winevttest.New()
		f.AddChannel(app)
		api := &flappingAPI{Fake: f, flap: true}
		met := &metrics{}
		src := winevt.New("app", api, winevt.Options{Channel: app, Start: winevt.StartOldest, MinBackoff: time.Second, MaxBackoff: 8 * time.Second, SafetyNet: 20 * time.Second, Metrics: met})
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error)
		go func() { done <- src.Run(ctx, nil, (&recorder{t: t}).emit) }()
		time.Sleep(30 * time.Second)
		synctest.Wait()
		want := []time.Duration{time.Second, 2 * time.Second, 4 * time.Second, 8 * time.Second, 8 * time.Second}
		if got := api.gaps(); len(got) < len(want) || !slices.Equal(got[:len(want)], want) {
			t.Errorf("time between subscriptions = %v, want %v...", got, want)
		}
		// The service is steady again: after a safety-net interval
		// without error, a failure backs off from the start.
		api.mu.Lock()
		api.flap = false
		api.mu.Unlock()
		time.Sleep(time.Minute)
		synctest.Wait()
		f.FailNext("Next", 1, winevt.ErrRPCServerUnavail)
		failed := time.Now()
		f.Append(app, events(1, "P", time.Now())...)
		time.Sleep(10 * time.Second)
		synctest.Wait()
		api.mu.Lock()
		last := api.times[len(api.times)-1]
		api.mu.Unlock()
		if d := last.Sub(failed); d != time.Second {
			t.Errorf("after a quiet minute: re-subscribed %v after a failure, want 1s", d)
		}
		cancel()
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		if f.Open() != 0 {
			t.Errorf("handles left open: %v", f.OpenHandles())
		}
	})
}

// TestLagThrottled: the log's size is asked at most every 5 s while
// batches flow, and at each safety-net wake-up.
func TestLagThrottled(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := winevttest.New()
		f.Append(app, events(100, "P", time.Now())...)
		r := start(t, f, winevt.Options{Start: winevt.StartOldest, Batch: 10, SafetyNet: time.Minute}, nil, nil)
		synctest.Wait()
		if n := f.Count("LogInfo"); n != 1 {
			t.Errorf("%d LogInfo calls for 10 batches at once, want 1", n)
		}
		time.Sleep(4 * time.Second)
		f.Append(app, events(1, "P", time.Now())...)
		synctest.Wait()
		if n := f.Count("LogInfo"); n != 1 {
			t.Errorf("%d LogInfo calls 4s later, want 1", n)
		}
		time.Sleep(time.Second)
		f.Append(app, events(1, "P", time.Now())...)
		synctest.Wait()
		if n := f.Count("LogInfo"); n != 2 {
			t.Errorf("%d LogInfo calls 5s later, want 2", n)
		}
		time.Sleep(time.Minute + time.Millisecond)
		synctest.Wait()
		if n := f.Count("LogInfo"); n != 3 {
			t.Errorf("%d LogInfo calls after the safety net, want 3", n)
		}
		if m := r.met.get(); !slices.Equal(m.lag, []uint64{90, 0, 0}) {
			t.Errorf("lag = %v, want [90 0 0]", m.lag)
		}
		if err := r.stop(); err != nil {
			t.Fatal(err)
		}
	})
}

// TestStaleForgetsRecord: after a stale bookmark, its record is no
// longer the position (lag, logs), and the possible loss is counted once
// even if the source restarts before it commits anything.
func TestStaleForgetsRecord(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := winevttest.New()
		f.Append(app, events(13, "P", time.Now())...)
		f.Wrap(app, 12) // record 13 is left
		opts := winevt.Options{OnStale: winevt.StartNow, SafetyNet: 10 * time.Second}
		r := start(t, f, opts, cpFor(t, app, 10), nil)
		synctest.Wait()
		time.Sleep(11 * time.Second)
		synctest.Wait()
		// The position is after the newest record when reading began
		// (13), not the stale bookmark's record.
		if m := r.met.get(); slices.ContainsFunc(m.lag, func(l uint64) bool { return l != 0 }) {
			t.Errorf("lag = %v, want 0 (after record 13, not 10)", m.lag)
		}
		if n := r.logs.FilterField(zap.String("from", "new events")).Len(); n != 1 {
			t.Errorf("no 'subscribed from new events' log line")
		}
		if err := r.stop(); err != nil {
			t.Fatal(err)
		}
		saved := r.rec.last()
		if saved == nil {
			saved = cpFor(t, app, 10) // nothing committed: the stale bookmark is still saved
		}
		r2 := start(t, f, opts, saved, nil)
		synctest.Wait()
		if m := r2.met.get(); len(m.loss) != 0 {
			t.Errorf("possible loss counted again after a restart: %v", m.loss)
		}
		if err := r2.stop(); err != nil {
			t.Fatal(err)
		}

		// The same with on_stale_bookmark oldest and a cleared log:
		// nothing to read, but the stale bookmark is replaced.
		f.Clear(app)
		opts.OnStale = winevt.StartOldest
		r3 := start(t, f, opts, cpFor(t, app, 13), nil)
		synctest.Wait()
		if m := r3.met.get(); !slices.Equal(m.loss, []string{"ERROR_NOT_FOUND"}) {
			t.Errorf("possible loss = %v", m.loss)
		}
		if err := r3.stop(); err != nil {
			t.Fatal(err)
		}
		saved = r3.rec.last()
		if saved == nil {
			saved = cpFor(t, app, 13)
		}
		r4 := start(t, f, opts, saved, nil)
		synctest.Wait()
		f.Append(app, events(1, "P", time.Now())...)
		synctest.Wait()
		if m := r4.met.get(); len(m.loss) != 0 {
			t.Errorf("possible loss counted again after a restart: %v", m.loss)
		}
		if got := r4.rec.records(); !slices.Equal(got, []uint64{14}) {
			t.Errorf("got records %v", got)
		}
		if err := r4.stop(); err != nil {
			t.Fatal(err)
		}
	})
}

// TestNextTimeout: ERROR_TIMEOUT from EvtNext means nothing is ready.
func TestNextTimeout(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := winevttest.New()
		f.Append(app, events(3, "P", time.Now())...)
		f.Fail("Next", 1, syscall.Errno(1460))
		r := start(t, f, winevt.Options{Start: winevt.StartOldest}, nil, nil)
		synctest.Wait()
		if got := r.rec.records(); !slices.Equal(got, seq(1, 3)) {
			t.Fatalf("got records %v", got)
		}
		if m := r.met.get(); len(m.resubs) != 0 || m.state() != "running" {
			t.Errorf("metrics = %+v", m)
		}
		if err := r.stop(); err != nil {
			t.Fatal(err)
		}
	})
}

// Second review fixes.

// TestLookbackCutoffSavedAcrossRestart: a restart in the middle of the
// lookback's catch-up keeps skipping the events older than the lookback:
// the cutoff, and the newest record when the catch-up began, are saved in
// every checkpoint until a committed record reaches it. Without a single
// named channel (a QueryList), the cutoff alone is saved.
func TestLookbackCutoffSavedAcrossRestart(t *testing.T) {
	const ql = `<QueryList><Query Id="0"><Select Path="Application">*</Select></Query></QueryList>`
	for _, tc := range []struct {
		name  string
		opts  winevt.Options
		until uint64
	}{
		{"channel", winevt.Options{Lookback: time.Hour, Batch: 2}, 10},
		{"QueryList", winevt.Options{Query: ql, Lookback: time.Hour, Batch: 2}, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				f := winevttest.New()
				f.Append(app, events(10, "P", time.Now().Add(-3*time.Hour))...)
				cutoff := time.Now().Add(-time.Hour)
				// The first run stops (emit fails: a shutdown) after two
				// batches, all skipped.
				r := start(t, f, tc.opts, nil, func(n int) error {
					if n >= 4 {
						return errors.New("stop")
					}
					return nil
				})
				synctest.Wait()
				_ = r.end()
				cps := r.rec.checkpoints()
				if len(cps) != 3 || cps[0].Bookmark != "" || cps[0].Until != tc.until || cps[2].Record != 4 {
					t.Fatalf("first run: checkpoints %+v, want since (up to record %d), then at records 2 and 4", cps, tc.until)
				}
				for _, c := range cps[1:] {
					if c.Cutoff != cutoff.UTC().Format(time.RFC3339Nano) || c.Until != tc.until {
						t.Errorf("checkpoint %+v: want the cutoff %v up to record %d", c, cutoff, tc.until)
					}
				}
				if got := r.rec.records(); len(got) != 0 {
					t.Fatalf("first run delivered %v", got)
				}

				r2 := start(t, f, tc.opts, r.rec.last(), nil)
				synctest.Wait()
				if got := r2.rec.records(); len(got) != 0 {
					t.Errorf("after a restart in the lookback's catch-up, records older than the lookback delivered: %v", got)
				}
				if tc.until > 0 {
					// Caught up: the cutoff is no longer saved.
					if cps := r2.rec.checkpoints(); len(cps) == 0 || cps[len(cps)-1].Record != 10 || cps[len(cps)-1].Cutoff != "" || cps[len(cps)-1].Until != 0 {
						t.Errorf("checkpoints = %+v, want the last at record 10 without the cutoff", cps)
					}
				}
				f.Append(app, events(1, "P", time.Now())...)
				synctest.Wait()
				if got := r2.rec.records(); !slices.Equal(got, []uint64{11}) {
					t.Errorf("got records %v, want [11]", got)
				}
				if err := r2.stop(); err != nil {
					t.Fatal(err)
				}
			})
		})
	}
}

// TestSinceRestoreCutoffSavedAcrossRestart: the same from a since
// checkpoint without a record (as saved before, or when the log could not
// be read): the catch-up from the oldest record is bounded by the newest
// record when it began, and saved.
func TestSinceRestoreCutoffSavedAcrossRestart(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := winevttest.New()
		f.Append(app, events(100, "P", time.Now().Add(-48*time.Hour))...)
		since := time.Now()
		cp := []byte(`{"since":"` + since.UTC().Format(time.RFC3339Nano) + `","channel":"Application"}`)
		time.Sleep(time.Hour)
		f.Append(app, events(5, "P", time.Now())...) // 101-105, while down
		opts := winevt.Options{Batch: 10}
		r := start(t, f, opts, cp, func(n int) error {
			if n >= 3 {
				return errors.New("stop")
			}
			return nil
		})
		synctest.Wait()
		_ = r.end()
		if cps := r.rec.checkpoints(); len(cps) != 2 || cps[0].Bookmark != "" || cps[0].Until != 105 || cps[1].Record != 10 || cps[1].Until != 105 || cps[1].Cutoff != since.UTC().Format(time.RFC3339Nano) {
			t.Errorf("checkpoints = %+v, want since up to record 105, then the cutoff up to 105 with the bookmark", cps)
		}
		r2 := start(t, f, opts, r.rec.last(), nil)
		synctest.Wait()
		if got := r2.rec.records(); !slices.Equal(got, seq(101, 105)) {
			t.Errorf("after a restart in the catch-up from since: records %v, want 101-105 only", got)
		}
		if subs := f.Subscribes(); subs[0].Flags != winevt.SubscribeStartAtOldestRecord {
			t.Errorf("subscription = %+v, want from the oldest record (no record saved)", subs[0])
		}
		if err := r2.stop(); err != nil {
			t.Fatal(err)
		}
	})
}

// lateAPI appends an event right after the first subscription, as a
// late forwarded event or a skewed clock would log it during a catch-up.
type lateAPI struct {
	*winevttest.Fake
	channel string
	xml     string
	done    bool
}

func (a *lateAPI) Subscribe(sig winevt.Signal, channel, query string, bm winevt.Handle, flags winevt.SubscribeFlags) (winevt.Handle, error) {
	h, err := a.Fake.Subscribe(sig, channel, query, bm, flags)
	if !a.done {
		a.done = true
		a.Fake.Append(a.channel, a.xml)
	}
	return h, err
}

// TestCatchUpBoundedByRecord: the lookback's cutoff applies only to the
// records the log held when the catch-up began: an event logged after,
// created before the cutoff, is delivered.
func TestCatchUpBoundedByRecord(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := winevttest.New()
		f.Append(app, events(3, "P", time.Now().Add(-3*time.Hour))...)
		api := &lateAPI{Fake: f, channel: app, xml: events(1, "Late", time.Now().Add(-3*time.Hour))[0]}
		r := startAPI(t, f, api, winevt.Options{Lookback: time.Hour}, nil, nil)
		synctest.Wait()
		if got := r.rec.all(); len(got) != 1 || got[0].Record != 4 || got[0].Provider != "Late" {
			t.Errorf("items = %+v, want record 4 only (logged after the catch-up began)", got)
		}
		if err := r.stop(); err != nil {
			t.Fatal(err)
		}
	})
}

// TestSinceResumesAfterRecord: a since checkpoint holds the newest record
// number when reading began; a restart resumes after it, so an event
// logged after it but created before since (a late forwarded event, a
// skewed clock, a clock set back) is read. A log no longer holding that
// record applies on_stale_bookmark; without the record (the log could
// not be read) the time is used.
func TestSinceResumesAfterRecord(t *testing.T) {
	for _, tc := range []struct {
		name   string
		setup  func(f *winevttest.Fake) // at the first start
		down   func(f *winevttest.Fake) // while down
		record uint64                   // in the since checkpoint
		want   []uint64
		loss   []string
		flags  winevt.SubscribeFlags // of the restart's first subscription
	}{
		{"after the record", nil, nil, 3, []uint64{4, 5}, nil, winevt.SubscribeStartAfterBookmark | winevt.SubscribeStrict},
		{"record gone", nil, func(f *winevttest.Fake) { f.Wrap(app, 3) }, 3, []uint64{4, 5}, []string{"ERROR_NOT_FOUND"}, winevt.SubscribeStartAfterBookmark | winevt.SubscribeStrict},
		{"log not read", func(f *winevttest.Fake) { f.FailNext("LogInfo", 1, winevt.ErrRPCServerUnavail) }, nil, 0, []uint64{5}, nil, winevt.SubscribeStartAtOldestRecord},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				f := winevttest.New()
				f.Append(app, events(3, "P", time.Now().Add(-48*time.Hour))...)
				if tc.setup != nil {
					tc.setup(f)
				}
				t0 := time.Now()
				r := start(t, f, winevt.Options{}, nil, nil)
				synctest.Wait()
				if err := r.stop(); err != nil {
					t.Fatal(err)
				}
				cps := r.rec.checkpoints()
				if len(cps) != 1 || cps[0].Record != tc.record || cps[0].Since != t0.UTC().Format(time.RFC3339Nano) || cps[0].Bookmark != "" {
					t.Fatalf("checkpoints = %+v, want since %v after record %d", cps, t0, tc.record)
				}
				time.Sleep(time.Hour)
				f.Append(app, events(1, "P", t0.Add(-10*time.Minute))...) // 4: logged while down, created before since
				f.Append(app, events(1, "P", time.Now())...)              // 5
				if tc.down != nil {
					tc.down(f)
				}
				n := len(f.Subscribes())
				r2 := start(t, f, winevt.Options{}, r.rec.last(), nil)
				synctest.Wait()
				if got := r2.rec.records(); !slices.Equal(got, tc.want) {
					t.Errorf("after the restart: records %v, want %v", got, tc.want)
				}
				if m := r2.met.get(); !slices.Equal(m.loss, tc.loss) {
					t.Errorf("possible loss = %v, want %v", m.loss, tc.loss)
				}
				s := f.Subscribes()[n]
				if s.Flags != tc.flags || tc.record > 0 && (s.Record != tc.record || s.Bookmark != winevttest.BookmarkXML(app, tc.record)) {
					t.Errorf("subscription = %+v, want flags %#x after record %d", s, tc.flags, tc.record)
				}
				if err := r2.stop(); err != nil {
					t.Fatal(err)
				}
			})
		})
	}
}

// TestSinceRecordRefused: a since checkpoint's record that Windows will
// not take as a bookmark (EvtCreateBookmark or EvtSubscribe refusing it
// as invalid) falls back to the time, without a loss.
func TestSinceRecordRefused(t *testing.T) {
	for _, call := range []string{"CreateBookmark", "Subscribe"} {
		t.Run(call, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				f := winevttest.New()
				f.Append(app, events(3, "P", time.Now().Add(-48*time.Hour))...)
				since := time.Now().Add(-time.Hour)
				cp := []byte(`{"since":"` + since.UTC().Format(time.RFC3339Nano) + `","record":3,"channel":"Application"}`)
				f.Append(app, events(1, "P", time.Now())...)
				f.FailNext(call, 1, winevt.ErrInvalidParameter)
				r := start(t, f, winevt.Options{}, cp, nil)
				synctest.Wait()
				if got := r.rec.records(); !slices.Equal(got, []uint64{4}) {
					t.Errorf("got records %v, want [4]", got)
				}
				if m := r.met.get(); len(m.loss) != 0 {
					t.Errorf("possible loss = %v", m.loss)
				}
				if n := r.logCount("the position after the saved record number was refused as a bookmark: reading from the oldest record, skipping the events created before the time saved"); n != 1 {
					t.Errorf("%d warnings", n)
				}
				if subs := f.Subscribes(); subs[len(subs)-1].Flags != winevt.SubscribeStartAtOldestRecord {
					t.Errorf("subscription = %+v, want from the oldest record", subs[len(subs)-1])
				}
				if err := r.stop(); err != nil {
					t.Fatal(err)
				}
			})
		})
	}
}

// TestRenderTransientFailureRetriedWithoutLimit: an event whose rendering
// fails because of the service (here for 16 s, longer than 3 tries) is
// read again until it succeeds, never skipped.
func TestRenderTransientFailureRetriedWithoutLimit(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := winevttest.New()
		f.Append(app, events(5, "P", time.Now())...)
		f.FailRender(app, 3, winevt.ErrRPCServerUnavail)
		r := start(t, f, winevt.Options{Start: winevt.StartOldest, MinBackoff: time.Second, MaxBackoff: 4 * time.Second}, nil, nil)
		time.Sleep(16 * time.Second)
		synctest.Wait()
		if n := renderCalls(f, 3); n <= 3 {
			t.Errorf("record 3 rendered %d times in 16s, want more than 3", n)
		}
		if items := r.rec.all(); len(items) != 2 {
			t.Fatalf("items = %+v, want records 1 and 2 only while rendering fails", items)
		}
		f.FailRender(app, 3, nil)
		time.Sleep(5 * time.Second)
		synctest.Wait()
		if items := r.rec.all(); len(items) != 5 || !slices.Equal(r.rec.records(), seq(1, 5)) {
			t.Errorf("items = %+v, want records 1-5 and no error", items)
		}
		if m := r.met.get(); m.render != 0 {
			t.Errorf("render failures = %d, want 0", m.render)
		}
		if err := r.stop(); err != nil {
			t.Fatal(err)
		}
	})
}

// TestEmptyReadKeepsCutoff: ERROR_TIMEOUT or ERROR_INVALID_OPERATION from
// EvtNext with nothing returned says nothing is ready, not that the
// catch-up is over: the lookback's cutoff still applies to the backlog,
// with a record bound (a channel) or without (a QueryList).
func TestEmptyReadKeepsCutoff(t *testing.T) {
	const ql = `<QueryList><Query Id="0"><Select Path="Application">*</Select></Query></QueryList>`
	for _, e := range []error{winevt.ErrTimeout, winevt.ErrInvalidOperation} {
		for _, q := range []string{"", ql} {
			t.Run(fmt.Sprintf("%s %v", winevt.ErrName(e), q != ""), func(t *testing.T) {
				synctest.Test(t, func(t *testing.T) {
					f := winevttest.New()
					f.Append(app, events(3, "P", time.Now().Add(-3*time.Hour))...)
					f.Append(app, events(1, "P", time.Now())...)
					f.Fail("Next", 1, e)
					r := start(t, f, winevt.Options{Query: q, Lookback: time.Hour}, nil, nil)
					time.Sleep(31 * time.Second) // the safety net
					synctest.Wait()
					if got := r.rec.records(); !slices.Equal(got, []uint64{4}) {
						t.Errorf("got records %v, want [4]: the lookback still applies", got)
					}
					if err := r.stop(); err != nil {
						t.Fatal(err)
					}
				})
			})
		}
	}
}

// TestForwardedEventsRenumbered: ForwardedEvents cleared with its record
// numbers restarted: its bookmark (a local record number) is past the
// newest record, which is a possible loss, and reading starts as
// on_stale_bookmark says rather than waiting for records past the old
// bookmark.
func TestForwardedEventsRenumbered(t *testing.T) {
	for _, tc := range []struct {
		name    string
		channel string
		query   string
	}{
		{"channel", "ForwardedEvents", ""},
		{"QueryList", "", `<QueryList><Query Id="0"><Select Path="ForwardedEvents">*</Select></Query></QueryList>`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				const fwd = "ForwardedEvents"
				fx := func(id uint64) string {
					return winevttest.Event{Provider: "P", EventID: 1, Time: time.Now(), RecordID: id, Channel: "System"}.XML()
				}
				f := winevttest.New()
				for i := uint64(1); i <= 10; i++ {
					f.Append(fwd, fx(9000+i))
				}
				opts := winevt.Options{Channel: tc.channel, Query: tc.query, Start: winevt.StartOldest}
				r := start(t, f, opts, nil, nil)
				synctest.Wait()
				if err := r.stop(); err != nil {
					t.Fatal(err)
				}
				f.ClearAndRenumber(fwd)
				for i := uint64(1); i <= 5; i++ {
					f.Append(fwd, fx(9100+i))
				}
				r2 := start(t, f, opts, r.rec.last(), nil)
				synctest.Wait()
				if got := r2.rec.records(); !slices.Equal(got, seq(9101, 9105)) {
					t.Errorf("got records %v, want 9101-9105", got)
				}
				if m := r2.met.get(); !slices.Equal(m.loss, []string{"record numbers restarted"}) {
					t.Errorf("possible loss = %v", m.loss)
				}
				if err := r2.stop(); err != nil {
					t.Fatal(err)
				}
			})
		})
	}
}

// TestSignalErrorsRetried: a signal that cannot be created, or waited on,
// does not end Run: it is made again after a backoff, with a new
// subscription.
func TestSignalErrorsRetried(t *testing.T) {
	for _, tc := range []struct {
		call string
		err  error
	}{
		{"NewSignal", syscall.Errno(8)},
		{"Wait", winevt.ErrInvalidHandle},
	} {
		t.Run(tc.call, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				f := winevttest.New()
				f.Append(app, events(2, "P", time.Now())...)
				f.Fail(tc.call, 1, tc.err)
				r := start(t, f, winevt.Options{Start: winevt.StartOldest, MinBackoff: time.Second}, nil, nil)
				synctest.Wait()
				if r.returned() {
					t.Fatalf("Run returned: %v", r.end())
				}
				if st := r.met.state(); st != "backing off" {
					t.Errorf("state = %q, want backing off", st)
				}
				time.Sleep(time.Second)
				synctest.Wait()
				f.Append(app, events(1, "P", time.Now())...)
				synctest.Wait()
				if got := r.rec.records(); !slices.Equal(got, seq(1, 3)) {
					t.Errorf("got records %v", got)
				}
				if n := f.Count("NewSignal"); n != 2 {
					t.Errorf("%d signals created, want 2", n)
				}
				if err := r.stop(); err != nil { // the first signal closed too
					t.Fatal(err)
				}
			})
		})
	}
}

// TestRestoredBookmarkTransientError: a saved bookmark that cannot be
// made a bookmark handle because the service is unavailable is not a bad
// checkpoint: it is tried again after a backoff.
func TestRestoredBookmarkTransientError(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := winevttest.New()
		f.Append(app, events(8, "P", time.Now())...)
		f.FailNext("CreateBookmark", 2, winevt.ErrRPCServerUnavail)
		r := start(t, f, winevt.Options{Start: winevt.StartOldest, MinBackoff: time.Second}, cpFor(t, app, 5), nil)
		synctest.Wait()
		if st := r.met.state(); st != "backing off" {
			t.Errorf("state = %q, want backing off", st)
		}
		time.Sleep(3 * time.Second)
		synctest.Wait()
		if got := r.rec.records(); !slices.Equal(got, seq(6, 8)) {
			t.Errorf("got records %v, want 6-8", got)
		}
		if m := r.met.get(); len(m.loss) != 0 {
			t.Errorf("possible loss = %v", m.loss)
		}
		if subs := f.Subscribes(); len(subs) != 1 || subs[0].Record != 5 {
			t.Errorf("subscriptions = %+v, want one after record 5", subs)
		}
		if err := r.stop(); err != nil {
			t.Fatal(err)
		}
	})
}

// TestLookbackSinceCheckpointKeepsBound: a restart from the since
// checkpoint of a lookback's first start (nothing committed yet) skips
// the old events among the records the log held then only: one logged
// after, even with an old time, is read.
func TestLookbackSinceCheckpointKeepsBound(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := winevttest.New()
		f.Append(app, events(5, "P", time.Now().Add(-3*time.Hour))...)
		opts := winevt.Options{Lookback: time.Hour}
		r := start(t, f, opts, nil, func(n int) error {
			if n >= 2 {
				return errors.New("stop") // before the first batch is committed
			}
			return nil
		})
		synctest.Wait()
		_ = r.end()
		cps := r.rec.checkpoints()
		if len(cps) != 1 || cps[0].Bookmark != "" || cps[0].Until != 5 || cps[0].Record != 0 {
			t.Fatalf("checkpoints = %+v, want since up to record 5", cps)
		}
		f.Append(app, events(1, "Late", time.Now().Add(-3*time.Hour))...) // 6
		r2 := start(t, f, opts, r.rec.last(), nil)
		synctest.Wait()
		if got := r2.rec.all(); len(got) != 1 || got[0].Record != 6 {
			t.Errorf("items = %+v, want record 6 only", got)
		}
		if n := f.Count("LogInfo"); n != 1+1 {
			t.Errorf("%d LogInfo calls, want 1 at the first start and 1 for the lag: the bound is saved", n)
		}
		if err := r2.stop(); err != nil {
			t.Fatal(err)
		}
	})
}
