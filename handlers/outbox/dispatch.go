package outbox

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/logmedic/logmedic/handlers"
)

// Retry is a handler's retry policy.
type Retry struct {
	MaxAttempts int           // then the action is dead; default 10
	MaxAge      time.Duration // or when it is this old; default 24h
	Initial     time.Duration // first backoff; default 2s
	Max         time.Duration // backoff cap; default 5m
}

// Defaults fills unset fields.
func (r Retry) Defaults() Retry {
	if r.MaxAttempts <= 0 {
		r.MaxAttempts = 10
	}
	if r.MaxAge <= 0 {
		r.MaxAge = 24 * time.Hour
	}
	if r.Initial <= 0 {
		r.Initial = 2 * time.Second
	}
	if r.Max <= 0 {
		r.Max = 5 * time.Minute
	}
	return r
}

// Backoff is the wait before attempt n+1 after n failed ones: exponential
// from Initial, capped at Max, with jitter in [d/2, d] so a fleet that
// failed together does not retry together.
func (r Retry) Backoff(n int, rng *rand.Rand) time.Duration {
	d := r.Initial
	for i := 1; i < n && d < r.Max; i++ {
		d *= 2
	}
	d = min(d, r.Max)
	return d/2 + time.Duration(rng.Int64N(int64(d/2)+1))
}

// Route is how actions for one handler are delivered.
type Route struct {
	Handler     handlers.Handler
	Timeout     time.Duration // per attempt; default handlers.Timeout
	Concurrency int           // attempts at once for this handler; default 4
	Retry       Retry
}

// Dispatcher delivers queued actions. Actions with the same dedup key are
// delivered in the order they were queued, one at a time; others run in
// parallel up to each handler's concurrency and the global limit.
type Dispatcher struct {
	store  *Store
	log    *zap.Logger
	global chan struct{}
	kick   chan struct{}
	now    func() time.Time
	rng    *rand.Rand

	observe func(handler, outcome string)

	mu        sync.Mutex
	routes    map[string]*route
	inflight  map[string]bool // action IDs being delivered
	warned    map[string]bool // handlers missing from the configuration, logged once
	buryLater []buried
	wg        sync.WaitGroup
}

type route struct {
	Route
	sem chan struct{}
}

// NewDispatcher returns a dispatcher for the store; maxInFlight bounds all
// handlers together (default 16).
func NewDispatcher(s *Store, routes map[string]Route, maxInFlight int, log *zap.Logger) *Dispatcher {
	if maxInFlight <= 0 {
		maxInFlight = 16
	}
	d := &Dispatcher{
		store: s, log: log, global: make(chan struct{}, maxInFlight), kick: make(chan struct{}, 1),
		now: s.now, rng: rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 0x6c6f676d)),
		inflight: map[string]bool{}, warned: map[string]bool{},
	}
	d.SetRoutes(routes)
	return d
}

// Observe sets a function told each attempt's outcome: "delivered",
// "retry" or "dead" (for metrics). Call it before Run.
func (d *Dispatcher) Observe(fn func(handler, outcome string)) { d.observe = fn }

func (d *Dispatcher) outcome(handler, o string) {
	if d.observe != nil {
		d.observe(handler, o)
	}
}

// SetRoutes replaces the handlers, as a configuration reload does.
// Attempts under way finish with the handler they started with.
func (d *Dispatcher) SetRoutes(routes map[string]Route) {
	rs := make(map[string]*route, len(routes))
	for name, r := range routes {
		if r.Timeout <= 0 {
			r.Timeout = handlers.Timeout
		}
		if r.Concurrency <= 0 {
			r.Concurrency = 4
		}
		r.Retry = r.Retry.Defaults()
		rs[name] = &route{Route: r, sem: make(chan struct{}, r.Concurrency)}
	}
	d.mu.Lock()
	d.routes = rs
	d.warned = map[string]bool{}
	d.mu.Unlock()
	d.Kick()
}

// Kick tells the dispatcher that new actions were queued.
func (d *Dispatcher) Kick() {
	select {
	case d.kick <- struct{}{}:
	default:
	}
}

// Run delivers until ctx is done, then waits for attempts under way (each
// bounded by its timeout) and returns.
func (d *Dispatcher) Run(ctx context.Context) error {
	defer d.wg.Wait()
	for {
		next, err := d.round(ctx)
		if err != nil {
			d.log.Error("outbox read failed", zap.Error(err))
			next = d.now().Add(time.Second)
		}
		var timer <-chan time.Time
		var t *time.Timer
		if !next.IsZero() {
			t = time.NewTimer(max(next.Sub(d.now()), time.Millisecond))
			timer = t.C
		}
		select {
		case <-ctx.Done():
			return nil
		case <-d.kick:
		case <-timer:
		}
		if t != nil {
			t.Stop()
		}
	}
}

// Drain delivers until nothing is queued that is due now and nothing is
// under way, or ctx is done. Actions waiting for a later retry stay queued.
func (d *Dispatcher) Drain(ctx context.Context) error {
	for {
		started, err := d.start(ctx)
		if err != nil {
			return err
		}
		if started == 0 && d.idle() {
			return nil
		}
		select {
		case <-ctx.Done():
			d.wg.Wait()
			return ctx.Err()
		case <-d.kick:
		case <-time.After(50 * time.Millisecond):
		}
	}
}

func (d *Dispatcher) idle() bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return len(d.inflight) == 0
}

// round starts what is due and returns when the next waiting action is.
func (d *Dispatcher) round(ctx context.Context) (time.Time, error) {
	_, next, err := d.startDue(ctx)
	return next, err
}

// start launches every due action it has room for and returns how many.
func (d *Dispatcher) start(ctx context.Context) (int, error) {
	n, _, err := d.startDue(ctx)
	return n, err
}

// startDue walks the queue in order, starting due actions while there is
// room, and returns how many it started and the earliest time a waiting
// action it saw becomes due. It stops walking once every attempt slot is
// taken: actions further back cannot start now anyway, and the end of an
// attempt starts a new walk.
func (d *Dispatcher) startDue(ctx context.Context) (int, time.Time, error) {
	// Walk the queue under the lock: an attempt leaves inflight only after
	// its outcome is committed, so the walk never sees an action as
	// pending whose attempt has already ended.
	d.mu.Lock()
	defer d.mu.Unlock()
	now := d.now()
	blocked := map[string]bool{}
	started := 0
	var next time.Time
	err := d.store.Scan(func(a *handlers.Action) bool {
		if len(d.global) == cap(d.global) {
			return false // no room: the end of an attempt walks again
		}
		// Order is kept per handler and problem: a ticket system that is
		// down does not hold back the alert or the log line.
		key := a.Handler + "\x00" + a.DedupKey
		if a.DedupKey == "" {
			key = a.ID
		}
		if blocked[key] {
			return true // an earlier action for this handler and problem goes first
		}
		blocked[key] = true
		if d.inflight[a.ID] {
			return true
		}
		for _, t := range []time.Time{a.NextAttempt, a.InFlightUntil} {
			if t.After(now) {
				// Waiting for its retry, or maybe still running for a
				// process that died.
				if next.IsZero() || t.Before(next) {
					next = t
				}
				return true
			}
		}
		r := d.routes[a.Handler]
		if r == nil {
			if !d.warned[a.Handler] {
				d.warned[a.Handler] = true
				d.log.Warn("actions wait for a handler that is no longer configured; add it back or drop them (logmedic outbox drop)", zap.String("handler", a.Handler))
			}
			return true
		}
		if a.Attempts >= r.Retry.MaxAttempts {
			// Its attempts never finished: the process stopped during
			// each of them (a crash loop).
			err := fmt.Errorf("gave up after %d attempts that did not finish (the process stopped during them); last error: %s", a.Attempts, a.LastError)
			d.log.Error("action failed too often; moved to dead letters", zap.String("action_id", a.ID), zap.Error(err))
			d.buryLater = append(d.buryLater, buried{a.Handler, a.ID, err})
			return true
		}
		select {
		case r.sem <- struct{}{}:
		default:
			return true
		}
		d.global <- struct{}{}
		d.inflight[a.ID] = true
		started++
		d.wg.Add(1)
		go d.deliver(ctx, r, a)
		return true
	})
	// Burying writes to the store, which the walk's read transaction
	// must not wait for.
	for _, b := range d.buryLater {
		d.bury(d.log, b.handler, b.id, b.err)
	}
	d.buryLater = d.buryLater[:0]
	return started, next, err
}

type buried struct {
	handler, id string
	err         error
}

func (d *Dispatcher) deliver(ctx context.Context, r *route, a *handlers.Action) {
	defer d.wg.Done()
	defer func() {
		<-r.sem
		<-d.global
		d.mu.Lock()
		delete(d.inflight, a.ID)
		d.mu.Unlock()
		d.Kick()
	}()
	attempt := a.Attempts + 1 // Begin counts it
	log := d.log.With(zap.String("action_id", a.ID), zap.String("rule", a.Rule), zap.String("handler", a.Handler),
		zap.String("dedup_key", a.DedupKey), zap.Int("attempt", attempt))
	start := d.now()
	// Written before the attempt: if this process dies during it, the
	// next one waits out the timeout before trying again.
	if err := d.store.Begin(a.ID, start.Add(r.Timeout)); err != nil {
		log.Error("recording the start of an attempt failed; not attempting", zap.Error(err))
		return
	}
	actx, cancel := context.WithTimeoutCause(context.WithoutCancel(ctx), r.Timeout, fmt.Errorf("handler %s: attempt timed out after %s", a.Handler, r.Timeout))
	defer cancel()
	retry, err := deliverSafely(actx, r.Handler, a)
	took := d.now().Sub(start)
	if err == nil {
		if serr := d.store.Delivered(a.ID); serr != nil {
			log.Error("action delivered but not recorded; it will be delivered again", zap.Error(serr))
			return
		}
		log.Info("action delivered", zap.Duration("took", took))
		d.outcome(a.Handler, "delivered")
		return
	}
	if errors.Is(err, context.DeadlineExceeded) && context.Cause(actx) != nil {
		err, retry = context.Cause(actx), true
	}
	now := d.now()
	switch {
	case !retry:
		log.Error("action failed and cannot succeed; moved to dead letters", zap.Error(err))
		d.bury(log, a.Handler, a.ID, err)
	case attempt >= r.Retry.MaxAttempts:
		log.Error("action failed too often; moved to dead letters", zap.Error(err))
		d.bury(log, a.Handler, a.ID, fmt.Errorf("gave up after %d attempts: %w", attempt, err))
	case now.Sub(a.Created) >= r.Retry.MaxAge:
		log.Error("action too old to retry; moved to dead letters", zap.Error(err))
		d.bury(log, a.Handler, a.ID, fmt.Errorf("gave up after %s: %w", now.Sub(a.Created).Round(time.Second), err))
	default:
		d.mu.Lock()
		wait := r.Retry.Backoff(attempt, d.rng)
		d.mu.Unlock()
		next := now.Add(wait)
		log.Warn("action failed; will retry", zap.Error(err), zap.Time("next_attempt", next))
		d.outcome(a.Handler, "retry")
		if serr := d.store.Failed(a.ID, err, next); serr != nil {
			log.Error("recording a failed attempt failed", zap.Error(serr))
		}
	}
}

func (d *Dispatcher) bury(log *zap.Logger, handler, id string, err error) {
	d.outcome(handler, "dead")
	if serr := d.store.Bury(id, err); serr != nil {
		log.Error("moving an action to the dead letters failed", zap.Error(serr))
	}
}

// deliverSafely turns a handler panic into a non-retryable error, so one
// bad handler cannot take the daemon down.
func deliverSafely(ctx context.Context, h handlers.Handler, a *handlers.Action) (retry bool, err error) {
	defer func() {
		if p := recover(); p != nil {
			retry, err = false, fmt.Errorf("handler panicked: %v", p)
		}
	}()
	return h.Deliver(ctx, a)
}
