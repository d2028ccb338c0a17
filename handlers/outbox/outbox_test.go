package outbox

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/zap/zaptest"

	"github.com/logmedic/logmedic/handlers"
)

func open(t *testing.T) (*Store, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "state", "outbox.db")
	s, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s, path
}

func act(id, handler, key string) *handlers.Action {
	return &handlers.Action{ID: id, Handler: handler, Rule: "r", DedupKey: key}
}

func ids(as []*handlers.Action) []string {
	var out []string
	for _, a := range as {
		out = append(out, a.ID)
	}
	return out
}

func TestAcceptIsIdempotentAndOrdered(t *testing.T) {
	s, _ := open(t)
	res, err := s.Accept([]Batch{{DedupKey: "k1", Actions: []*handlers.Action{act("a", "h", "k1"), act("b", "h", "k1")}}, {DedupKey: "k2", Actions: []*handlers.Action{act("c", "h", "k2")}}})
	if err != nil || res.Queued != 3 {
		t.Fatalf("Accept = %+v, %v", res, err)
	}
	// The same event replayed: nothing new.
	res, err = s.Accept([]Batch{{DedupKey: "k1", Actions: []*handlers.Action{act("a", "h", "k1")}}})
	if err != nil || res.Queued != 0 || res.Replayed != 1 {
		t.Fatalf("replay: %+v, %v", res, err)
	}
	p, _ := s.Pending()
	if got := ids(p); !slices.Equal(got, []string{"a", "b", "c"}) {
		t.Errorf("pending %q", got)
	}
	// Delivered and dropped IDs stay known.
	if err := s.Delivered("a"); err != nil {
		t.Fatal(err)
	}
	if err := s.Drop("b"); err != nil {
		t.Fatal(err)
	}
	res, _ = s.Accept([]Batch{{Actions: []*handlers.Action{act("a", "h", ""), act("b", "h", ""), act("d", "h", "")}}})
	if res.Queued != 1 || res.Replayed != 2 {
		t.Errorf("after delivery: %+v", res)
	}
	if err := s.Drop("zzz"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Drop(unknown) = %v", err)
	}
}

func TestDedupWindowSuppressesAndCounts(t *testing.T) {
	s, _ := open(t)
	now := time.Date(2026, 11, 21, 1, 0, 0, 0, time.UTC)
	s.SetClock(func() time.Time { return now })
	match := func(id string) Result {
		res, err := s.Accept([]Batch{{DedupKey: "rule/pc1/0x807800B4", Window: 24 * time.Hour, Actions: []*handlers.Action{act(id, "h", "rule/pc1/0x807800B4")}}})
		if err != nil {
			t.Fatal(err)
		}
		return res
	}
	if r := match("n1"); r.Queued != 1 {
		t.Fatalf("first match: %+v", r)
	}
	for i := range 7 {
		now = now.Add(time.Hour)
		if r := match(fmt.Sprint("r", i)); r.Suppressed != 1 || r.Queued != 0 {
			t.Fatalf("repeat %d: %+v", i, r)
		}
	}
	if r := match("r0"); r.Replayed != 1 || r.Suppressed != 0 {
		t.Errorf("a replayed repeat was counted again: %+v", r)
	}
	now = now.Add(24 * time.Hour)
	if r := match("n2"); r.Queued != 1 {
		t.Fatalf("after the window: %+v", r)
	}
	p, _ := s.Pending()
	if len(p) != 2 || p[1].ID != "n2" || p[1].Repeats != 7 {
		t.Errorf("pending %q, repeats %d; want n2 carrying 7 repeats", ids(p), p[len(p)-1].Repeats)
	}
}

func TestStateSurvivesReopenAndIsPrivate(t *testing.T) {
	s, path := open(t)
	s.Accept([]Batch{{Actions: []*handlers.Action{act("a", "h", ""), act("b", "h", "")}}})
	s.Begin("a", time.Now().Add(time.Minute))
	s.Failed("a", errors.New("503"), time.Now().Add(time.Hour))
	s.Begin("b", time.Now().Add(time.Minute))
	s.Bury("b", errors.New("400 bad request"))
	s.KV("am").Put("fp1", []byte("firing"))
	s.Close()
	s2, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	p, _ := s2.Pending()
	dead, _ := s2.Dead()
	if len(p) != 1 || p[0].Attempts != 1 || p[0].LastError != "503" || len(dead) != 1 || dead[0].LastError != "400 bad request" {
		t.Errorf("after reopen: pending %+v, dead %+v", p, dead)
	}
	if v, ok, _ := s2.KV("am").Get("fp1"); !ok || string(v) != "firing" {
		t.Errorf("handler state lost: %q %v", v, ok)
	}
	if _, ok, _ := s2.KV("other").Get("fp1"); ok {
		t.Error("handler state is shared between handlers")
	}
	if err := s2.Requeue("b"); err != nil {
		t.Fatal(err)
	}
	p, _ = s2.Pending()
	if got := ids(p); !slices.Equal(got, []string{"a", "b"}) || p[1].Attempts != 0 {
		t.Errorf("after requeue: %q", got)
	}
	for p, want := range map[string]os.FileMode{path: 0o600, filepath.Dir(path): 0o700} {
		st, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if st.Mode().Perm() != want {
			t.Errorf("%s has mode %v, want %v", p, st.Mode().Perm(), want)
		}
	}
}

// fake is a handler whose behaviour a test scripts.
type fake struct {
	mu        sync.Mutex
	delivered []string
	calls     map[string]int
	fail      func(a *handlers.Action, call int) (retry bool, err error)
	running   atomic.Int32
	maxSeen   atomic.Int32
	delay     time.Duration
}

func (f *fake) Prepare(*handlers.Data, map[string]*handlers.Template) (json.RawMessage, error) {
	return nil, nil
}

func (f *fake) Deliver(ctx context.Context, a *handlers.Action) (bool, error) {
	n := f.running.Add(1)
	defer f.running.Add(-1)
	for {
		m := f.maxSeen.Load()
		if n <= m || f.maxSeen.CompareAndSwap(m, n) {
			break
		}
	}
	if f.delay > 0 {
		select {
		case <-time.After(f.delay):
		case <-ctx.Done():
			return true, ctx.Err()
		}
	}
	f.mu.Lock()
	if f.calls == nil {
		f.calls = map[string]int{}
	}
	f.calls[a.ID]++
	call := f.calls[a.ID]
	f.mu.Unlock()
	if f.fail != nil {
		if retry, err := f.fail(a, call); err != nil {
			return retry, err
		}
	}
	f.mu.Lock()
	f.delivered = append(f.delivered, a.ID)
	f.mu.Unlock()
	return false, nil
}

var fast = Retry{MaxAttempts: 20, Initial: 5 * time.Millisecond, Max: 20 * time.Millisecond}

func drain(t *testing.T, d *Dispatcher) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	// Drain leaves actions waiting for a retry; wait for those too.
	for {
		if err := d.Drain(ctx); err != nil {
			t.Fatal(err)
		}
		p, _ := d.store.Pending()
		if len(p) == 0 {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("still pending: %q", ids(p))
		case <-time.After(5 * time.Millisecond):
		}
	}
}

func TestEndpointDownThenBackDeliversEachOnce(t *testing.T) {
	s, _ := open(t)
	var up atomic.Bool
	f := &fake{fail: func(a *handlers.Action, call int) (bool, error) {
		if !up.Load() {
			return true, errors.New("connection refused")
		}
		return false, nil
	}}
	var batch []*handlers.Action
	for i := range 30 {
		batch = append(batch, act(fmt.Sprint("a", i), "h", fmt.Sprint("k", i%5)))
	}
	s.Accept([]Batch{{Actions: batch}})
	d := NewDispatcher(s, map[string]Route{"h": {Handler: f, Retry: fast}}, 0, zaptest.NewLogger(t))
	go func() { time.Sleep(100 * time.Millisecond); up.Store(true) }()
	drain(t, d)
	if len(f.delivered) != 30 {
		t.Errorf("delivered %d actions, want 30", len(f.delivered))
	}
	seen := map[string]bool{}
	for _, id := range f.delivered {
		if seen[id] {
			t.Errorf("%s delivered twice", id)
		}
		seen[id] = true
	}
	// Per dedup key, delivery kept the queue order.
	for k := range 5 {
		var order []string
		for _, id := range f.delivered {
			var n int
			fmt.Sscanf(id, "a%d", &n)
			if n%5 == k {
				order = append(order, id)
			}
		}
		if !slices.IsSortedFunc(order, func(a, b string) int {
			var x, y int
			fmt.Sscanf(a, "a%d", &x)
			fmt.Sscanf(b, "a%d", &y)
			return x - y
		}) {
			t.Errorf("key k%d delivered out of order: %q", k, order)
		}
	}
}

func TestDeadLetters(t *testing.T) {
	s, _ := open(t)
	f := &fake{fail: func(a *handlers.Action, call int) (bool, error) {
		switch a.ID {
		case "bad-request":
			return false, errors.New("400 Bad Request")
		case "always-down":
			return true, errors.New("503 Service Unavailable")
		case "panics":
			panic("handler bug")
		}
		return false, nil
	}}
	s.Accept([]Batch{{Actions: []*handlers.Action{act("bad-request", "h", ""), act("always-down", "h", ""), act("panics", "h", ""), act("fine", "h", "")}}})
	d := NewDispatcher(s, map[string]Route{"h": {Handler: f, Retry: Retry{MaxAttempts: 3, Initial: time.Millisecond, Max: time.Millisecond}}}, 0, zaptest.NewLogger(t))
	drain(t, d)
	dead, _ := s.Dead()
	got := map[string]string{}
	for _, a := range dead {
		got[a.ID] = a.LastError
	}
	want := map[string]string{
		"bad-request": "400 Bad Request",
		"always-down": "gave up after 3 attempts: 503 Service Unavailable",
		"panics":      "handler panicked: handler bug",
	}
	for id, msg := range want {
		if got[id] != msg {
			t.Errorf("dead %s: %q, want %q", id, got[id], msg)
		}
	}
	if f.calls["bad-request"] != 1 || f.calls["always-down"] != 3 {
		t.Errorf("calls %v", f.calls)
	}
	if !slices.Equal(f.delivered, []string{"fine"}) {
		t.Errorf("delivered %q", f.delivered)
	}
}

func TestConcurrencyAndTimeout(t *testing.T) {
	s, _ := open(t)
	f := &fake{delay: 30 * time.Millisecond}
	var batch []*handlers.Action
	for i := range 12 {
		batch = append(batch, act(fmt.Sprint("a", i), "h", ""))
	}
	s.Accept([]Batch{{Actions: batch}})
	d := NewDispatcher(s, map[string]Route{"h": {Handler: f, Concurrency: 3, Retry: fast}}, 0, zaptest.NewLogger(t))
	drain(t, d)
	if m := f.maxSeen.Load(); m != 3 {
		t.Errorf("at most %d deliveries ran at once, want 3", m)
	}

	s2, _ := open(t)
	slow := &fake{delay: time.Hour}
	s2.Accept([]Batch{{Actions: []*handlers.Action{act("slow", "h", "")}}})
	d2 := NewDispatcher(s2, map[string]Route{"h": {Handler: slow, Timeout: 20 * time.Millisecond, Retry: Retry{MaxAttempts: 1}}}, 0, zaptest.NewLogger(t))
	start := time.Now()
	drain(t, d2)
	dead, _ := s2.Dead()
	if len(dead) != 1 || dead[0].LastError != "gave up after 1 attempts: handler h: attempt timed out after 20ms" {
		t.Errorf("dead %+v", dead)
	}
	if time.Since(start) > 5*time.Second {
		t.Error("the attempt was not cut at its timeout")
	}
}

func TestBackoffGrowsWithJitter(t *testing.T) {
	r := Retry{Initial: time.Second, Max: time.Minute}.Defaults()
	rng := newRand()
	for n, want := range map[int]time.Duration{1: time.Second, 2: 2 * time.Second, 4: 8 * time.Second, 10: time.Minute} {
		for range 50 {
			got := r.Backoff(n, rng)
			if got < want/2 || got > want {
				t.Errorf("Backoff(%d) = %v, want in [%v, %v]", n, got, want/2, want)
			}
		}
	}
}

func newRand() *rand.Rand { return rand.New(rand.NewPCG(1, 2)) }

func TestPrepareSeesRepeatsAndFailuresAreDeadLetters(t *testing.T) {
	s, _ := open(t)
	now := time.Date(2026, 11, 21, 1, 0, 0, 0, time.UTC)
	s.SetClock(func() time.Time { return now })
	prepare := func(a *handlers.Action) error {
		if a.Rule == "broken" {
			return errors.New(`template: 1:7: map has no entry for key "BackupTarget"`)
		}
		a.Payload = json.RawMessage(fmt.Sprintf(`{"note":"seen %d more times"}`, a.Repeats))
		return nil
	}
	batch := func(id string) Batch {
		return Batch{DedupKey: "k", Window: time.Hour, Prepare: prepare, Actions: []*handlers.Action{act(id, "h", "k")}}
	}
	s.Accept([]Batch{batch("a1")})
	for _, id := range []string{"a2", "a3", "a4"} {
		now = now.Add(time.Minute)
		s.Accept([]Batch{batch(id)})
	}
	now = now.Add(2 * time.Hour)
	bad := act("b1", "h", "other")
	bad.Rule = "broken"
	res, err := s.Accept([]Batch{batch("a5"), {Prepare: prepare, Actions: []*handlers.Action{bad}}})
	if err != nil || res.Queued != 1 || res.Failed != 1 {
		t.Fatalf("Accept = %+v, %v", res, err)
	}
	p, _ := s.Pending()
	if len(p) != 2 || string(p[1].Payload) != `{"note":"seen 3 more times"}` {
		t.Errorf("the payload was prepared before the repeat count was known: %s", p[len(p)-1].Payload)
	}
	dead, _ := s.Dead()
	if len(dead) != 1 || dead[0].ID != "b1" || !strings.HasPrefix(dead[0].LastError, "preparing the action failed: template:") {
		t.Errorf("dead %+v", dead)
	}
}

func TestOneHandlerDownDoesNotHoldBackAnother(t *testing.T) {
	s, _ := open(t)
	down := &fake{fail: func(*handlers.Action, int) (bool, error) { return true, errors.New("503") }}
	up := &fake{}
	// The same problem (dedup key) for a ticket system that is down and a
	// log line.
	s.Accept([]Batch{{DedupKey: "k", Actions: []*handlers.Action{act("ticket", "helpdesk", "k"), act("line", "audit", "k")}}})
	d := NewDispatcher(s, map[string]Route{"helpdesk": {Handler: down, Retry: Retry{MaxAttempts: 1000, Initial: time.Hour}}, "audit": {Handler: up}}, 0, zaptest.NewLogger(t))
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := d.Drain(ctx); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(up.delivered, []string{"line"}) {
		t.Errorf("the log line waited for the ticket system: delivered %q", up.delivered)
	}
}

func TestCrashLoopReachesDeadLetters(t *testing.T) {
	s, _ := open(t)
	s.Accept([]Batch{{Actions: []*handlers.Action{act("boom", "h", "")}}})
	// Three attempts that never finished: the process died during each.
	for range 3 {
		s.Begin("boom", time.Now().Add(-time.Second))
	}
	d := NewDispatcher(s, map[string]Route{"h": {Handler: &fake{}, Retry: Retry{MaxAttempts: 3}}}, 0, zaptest.NewLogger(t))
	if err := d.Drain(context.Background()); err != nil {
		t.Fatal(err)
	}
	dead, _ := s.Dead()
	if len(dead) != 1 || !strings.Contains(dead[0].LastError, "gave up after 3 attempts that did not finish") {
		t.Errorf("dead %+v", dead)
	}
}

func TestCountsAndResultByHandler(t *testing.T) {
	s, _ := open(t)
	now := time.Date(2026, 11, 21, 1, 0, 0, 0, time.UTC)
	s.SetClock(func() time.Time { return now })
	res, _ := s.Accept([]Batch{{Actions: []*handlers.Action{act("a", "ticket", ""), act("b", "audit", ""), act("c", "audit", "")}}})
	if res.ByHandler["audit"].Queued != 2 || res.ByHandler["ticket"].Queued != 1 {
		t.Errorf("by handler %+v %+v", res.ByHandler["audit"], res.ByHandler["ticket"])
	}
	s.Begin("b", now)
	s.Bury("b", errors.New("400"))
	pending, dead, oldest, err := s.Counts()
	if err != nil || pending != 2 || dead != 1 || !oldest.Equal(now) {
		t.Errorf("Counts = %d, %d, %v, %v", pending, dead, oldest, err)
	}
}
