package winevt

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/logmedic/logmedic/watcher"
	"github.com/logmedic/logmedic/watcher/decode"
)

const (
	defaultBatch      = 64
	maxBatch          = 1024
	defaultSafetyNet  = 30 * time.Second
	defaultMinBackoff = 5 * time.Second
	defaultMaxBackoff = time.Minute
)

// The states a Source reports to Metrics.State.
const (
	stateRunning        = "running"
	stateWaitingChannel = "waiting for channel"
	stateBackingOff     = "backing off"
	stateStopped        = "stopped"
)

// reasonBadCheckpoint is the PossibleLoss reason of a checkpoint that
// cannot be resumed from.
const reasonBadCheckpoint = "bad checkpoint"

// Source is a live Windows event log channel (or a QueryList over
// several) read through a pull subscription. It implements
// watcher.Source.
//
// Run subscribes with a signal created set, so the backlog is read at
// once, then waits for the signal (at most SafetyNet) and drains EvtNext
// in batches until nothing is waiting; it never polls at a fixed
// interval. Each batch's events are rendered as XML, decoded, filtered by
// Providers and by the start's Lookback, and emitted with a checkpoint
// holding the bookmark of the batch's last event, skipped ones included.
// The position resumed from after an error or a restart is always the
// last checkpoint emit accepted, so no event is lost; an event may be
// emitted again after an error.
//
// Windows' failures are handled as Winlogbeat and Datadog learnt to:
//   - a saved bookmark no longer in the log (cleared or wrapped) is
//     counted as a possible loss and logged, then reading starts as
//     OnStale says;
//   - RPC_S_INVALID_BOUND (a batch too big) re-subscribes from the last
//     committed bookmark with half the batch (down to 1; it does not
//     grow back);
//   - ERROR_EVT_QUERY_RESULT_STALE while reading re-subscribes from the
//     last committed bookmark;
//   - a missing channel is waited for, re-subscribing with exponential
//     backoff (MinBackoff to MaxBackoff), and so are a restarting Event
//     Log service and the other recoverable errors;
//   - a record that cannot be rendered is reported as an Item with Err
//     and skipped, so that it cannot block the channel (but a batch
//     whose rendering fails because the service went away is read
//     again);
//   - a message that cannot be formatted leaves the event's message
//     empty; the event is kept.
//
// Any other error, such as an invalid query or access denied, ends Run
// with an error naming the channel and the Windows error.
type Source struct {
	name      string
	api       API
	opts      Options
	input     string // Item.Input
	what      string // the channel, for errors
	providers []string
	log       *zap.Logger
	met       Metrics
	now       func() time.Time
}

var _ watcher.Source = (*Source)(nil)

// New returns a channel source named name that reads through api. Zero
// options take their defaults (see Options).
func New(name string, api API, opts Options) *Source {
	if opts.Batch <= 0 {
		opts.Batch = defaultBatch
	}
	opts.Batch = min(opts.Batch, maxBatch)
	opts.Query = cmp.Or(opts.Query, "*")
	opts.SafetyNet = cmp.Or(opts.SafetyNet, defaultSafetyNet)
	opts.MinBackoff = cmp.Or(opts.MinBackoff, defaultMinBackoff)
	opts.MaxBackoff = max(cmp.Or(opts.MaxBackoff, defaultMaxBackoff), opts.MinBackoff)
	s := &Source{name: name, api: api, opts: opts, met: opts.Metrics, now: opts.Now}
	if s.met == nil {
		s.met = nopMetrics{}
	}
	if s.now == nil {
		s.now = time.Now
	}
	log := opts.Logger
	if log == nil {
		log = zap.NewNop()
	}
	if opts.Channel != "" {
		s.input = opts.Channel
		s.what = fmt.Sprintf("channel %q", opts.Channel)
		s.log = log.With(zap.String("source", name), zap.String("channel", opts.Channel))
	} else {
		s.input = name
		s.what = fmt.Sprintf("the query of source %q", name)
		s.log = log.With(zap.String("source", name))
	}
	for _, p := range opts.Providers {
		if p = strings.TrimSpace(p); p != "" {
			s.providers = append(s.providers, p)
		}
	}
	return s
}

// Name returns the source's name.
func (s *Source) Name() string { return s.name }

// Run reads the channel until ctx is done, and then returns nil, having
// closed every handle it opened. It resumes after the checkpoint under
// key "" (see Options.Start). It returns an error when emit fails and on
// the errors it cannot recover from.
func (s *Source) Run(ctx context.Context, checkpoints map[string][]byte, emit watcher.Emit) error {
	r := &sourceRun{
		Source:  s,
		emit:    emit,
		batch:   s.opts.Batch,
		handles: make([]Handle, s.opts.Batch),
		events:  make([]watcher.Event, s.opts.Batch),
		items:   make([]watcher.Item, 0, s.opts.Batch),
	}
	defer r.stop()
	if s.opts.Message {
		r.msgs = newMessageCache(s.api, s.opts.Locale, s.now)
	}
	r.restore(checkpoints[""])
	sig, err := s.api.NewSignal()
	if err != nil {
		return fmt.Errorf("create the signal of %s: %s: %w", s.what, ErrName(err), err)
	}
	r.sig = sig
	for {
		if r.sub == 0 {
			if !r.sleep(ctx) {
				return nil
			}
			ok, err := r.subscribe()
			if err != nil {
				return err
			}
			if !ok {
				continue
			}
		} else {
			woke, err := r.sig.Wait(ctx, s.opts.SafetyNet)
			if ctx.Err() != nil {
				return nil
			}
			if err != nil {
				return fmt.Errorf("wait for events of %s: %s: %w", s.what, ErrName(err), err)
			}
			if !woke {
				r.reportLag()
			}
		}
		if err := r.drain(ctx); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			if err := r.readFailed(err); err != nil {
				return err
			}
		}
	}
}

// sourceRun is the state of one Run.
type sourceRun struct {
	*Source
	emit watcher.Emit
	sig  Signal
	sub  Handle
	bm   Handle // at the committed position, but while a batch is processed
	msgs *messageCache

	batch   int
	handles []Handle
	events  []watcher.Event
	items   []watcher.Item

	// bookmark and record are the committed position: the last
	// checkpoint emit returned nil for, or the one Run resumed from.
	// bookmark is "" when there is none.
	bookmark string
	record   uint64
	// Without a bookmark, future subscribes to future events; otherwise
	// reading starts at the oldest record, skipping the events created
	// before since.
	future bool
	since  time.Time
	// cutoff, when set, skips the events created before it, until the
	// subscription has caught up with the log.
	cutoff time.Time

	state        string
	delay        time.Duration // before the next subscription
	backoff      time.Duration // the last backoff; 0 after progress
	staleRetried bool          // re-subscribed after a stale read without progress since
}

// opError is an API call's failure while reading.
type opError struct {
	op  string
	err error
}

func (e *opError) Error() string { return e.op + ": " + e.err.Error() }
func (e *opError) Unwrap() error { return e.err }

// emitError is emit's failure.
type emitError struct{ err error }

func (e *emitError) Error() string { return e.err.Error() }
func (e *emitError) Unwrap() error { return e.err }

// startFresh sets where to read from without a bookmark, as
// Options.Start says.
func (r *sourceRun) startFresh(start Start, now time.Time) {
	r.future, r.since, r.cutoff = false, time.Time{}, time.Time{}
	switch {
	case start == StartOldest:
	case r.opts.Lookback > 0:
		r.since = now.Add(-r.opts.Lookback)
	default:
		r.future, r.since = true, now
	}
}

// restore resumes from the saved checkpoint, if any.
func (r *sourceRun) restore(data []byte) {
	now := r.now()
	r.startFresh(r.opts.Start, now)
	if len(data) == 0 {
		return
	}
	if r.opts.Start == StartNow {
		r.log.Info("start is now: the saved bookmark is ignored")
		return
	}
	cp, err := decodeCheckpoint(data)
	if err == nil && cp.Channel != "" && r.opts.Channel != "" && !strings.EqualFold(cp.Channel, r.opts.Channel) {
		r.log.Warn("the saved bookmark is for another channel: ignored", zap.String("bookmark_channel", cp.Channel))
		return
	}
	if err == nil {
		var bm Handle
		if bm, err = r.api.CreateBookmark(cp.Bookmark); err == nil {
			r.bm, r.bookmark, r.record = bm, cp.Bookmark, cp.Record
			return
		}
	}
	r.log.Warn("bad checkpoint: events since it may have been missed",
		zap.String("on_stale_bookmark", r.onStale().String()), zap.Error(err))
	r.met.PossibleLoss(r.name, reasonBadCheckpoint)
	r.startFresh(r.onStale(), now)
}

func (r *sourceRun) onStale() Start {
	if r.opts.OnStale == StartNow {
		return StartNow
	}
	return StartOldest
}

// subscribe subscribes from the committed position. It returns false
// with r.delay set when it is to be retried.
func (r *sourceRun) subscribe() (bool, error) {
	if r.bm == 0 {
		bm, err := r.api.CreateBookmark(r.bookmark)
		if err != nil {
			return r.subscribeFailed("create the bookmark of", err)
		}
		r.bm = bm
	}
	var flags SubscribeFlags
	var bm Handle
	switch {
	case r.bookmark != "":
		flags, bm = SubscribeStartAfterBookmark|SubscribeStrict, r.bm
	case r.future:
		flags = SubscribeToFutureEvents
	default:
		flags = SubscribeStartAtOldestRecord
	}
	sub, err := r.api.Subscribe(r.sig, r.opts.Channel, r.opts.Query, bm, flags)
	if err != nil {
		if bm != 0 && staleBookmark(err) {
			r.stale(err)
			return false, nil
		}
		return r.subscribeFailed("subscribe to", err)
	}
	r.sub = sub
	switch flags {
	case SubscribeToFutureEvents:
		// Re-subscribing before a bookmark is committed reads from the
		// oldest record, skipping what came before this subscription.
		r.future = false
	case SubscribeStartAtOldestRecord:
		r.cutoff = r.since
	}
	if r.state == "" {
		r.log.Info("subscribed", zap.String("from", describeStart(flags, r.record, r.since)))
	}
	r.setState(stateRunning, nil)
	return true, nil
}

func describeStart(flags SubscribeFlags, record uint64, since time.Time) string {
	switch {
	case flags&^SubscribeStrict == SubscribeStartAfterBookmark:
		return fmt.Sprintf("bookmark (record %d)", record)
	case flags == SubscribeToFutureEvents:
		return "new events"
	case since.IsZero():
		return "oldest record"
	}
	return "events since " + since.UTC().Format(time.RFC3339)
}

// staleBookmark reports a Strict subscription's error for a bookmark no
// longer in the log.
func staleBookmark(err error) bool {
	return errors.Is(err, ErrNotFound) || errors.Is(err, ErrEvtQueryStale) || errors.Is(err, ErrEvtInvalidPosition)
}

// recoverable reports the errors after which the subscription is made
// again, after a backoff: the Event Log service restarting, mostly.
func recoverable(err error) bool {
	for _, e := range [...]error{ErrRPCServerUnavail, ErrRPCCallCancelled, ErrInvalidHandle, ErrEvtPublisherOff, ErrEvtQueryStale} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}

// connectionLost reports a failure of the Event Log service or of the
// subscription rather than of one record: rendering the batch is given
// up, to be read again from the committed bookmark.
func connectionLost(err error) bool {
	return errors.Is(err, ErrRPCServerUnavail) || errors.Is(err, ErrRPCCallCancelled) || errors.Is(err, ErrInvalidHandle)
}

// stale applies OnStale after the committed bookmark was not found.
func (r *sourceRun) stale(err error) {
	reason := ErrName(err)
	r.met.PossibleLoss(r.name, reason)
	r.log.Warn("the saved bookmark is no longer in the log (cleared or wrapped): events since it may have been missed",
		zap.Uint64("record", r.record), zap.String("reason", reason),
		zap.String("on_stale_bookmark", r.onStale().String()), zap.Error(err))
	r.bookmark = ""
	r.closeBookmark()
	r.startFresh(r.onStale(), r.now())
	r.delay = 0
}

func (r *sourceRun) subscribeFailed(op string, err error) (bool, error) {
	switch {
	case errors.Is(err, ErrEvtChannelNotFound):
		r.retry(stateWaitingChannel, err)
	case recoverable(err):
		r.retry(stateBackingOff, err)
	default:
		return false, fmt.Errorf("%s %s: %s: %w", op, r.what, ErrName(err), err)
	}
	return false, nil
}

// retry backs off before the next subscription.
func (r *sourceRun) retry(state string, err error) {
	if r.backoff == 0 {
		r.backoff = r.opts.MinBackoff
	} else {
		r.backoff = min(2*r.backoff, r.opts.MaxBackoff)
	}
	r.delay = r.backoff
	r.setState(state, err)
}

// progress resets the backoff after events were read.
func (r *sourceRun) progress() {
	r.backoff = 0
	r.staleRetried = false
}

func (r *sourceRun) setState(state string, err error) {
	if state == r.state {
		return
	}
	prev := r.state
	r.state = state
	r.met.State(r.name, state)
	switch state {
	case stateRunning:
		if prev != "" {
			r.log.Info("reading again", zap.String("was", prev))
		}
	case stateWaitingChannel:
		r.log.Warn("channel not found: waiting for it to be created", zap.Error(err))
	case stateBackingOff:
		r.log.Warn("reading failed: re-subscribing after a backoff", zap.String("reason", ErrName(err)), zap.Error(err))
	}
}

// sleep waits r.delay, and reports false when ctx is done.
func (r *sourceRun) sleep(ctx context.Context) bool {
	d := r.delay
	r.delay = 0
	if d <= 0 {
		return ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// drain reads batches until nothing is waiting.
func (r *sourceRun) drain(ctx context.Context) error {
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		hs := r.handles[:r.batch]
		n, err := r.api.Next(r.sub, hs)
		n = max(0, min(n, len(hs)))
		if err != nil {
			r.closeEvents(hs[:n])
			if n == 0 && (errors.Is(err, ErrNoMoreItems) || errors.Is(err, ErrInvalidOperation)) {
				r.caughtUp()
				return nil
			}
			return &opError{"read events of", err}
		}
		if n == 0 {
			r.caughtUp()
			return nil
		}
		if err := r.process(ctx, hs[:n]); err != nil {
			return err
		}
	}
}

// caughtUp notes that the subscription has read all there is.
func (r *sourceRun) caughtUp() {
	r.cutoff = time.Time{}
	r.progress()
}

// process renders, decodes and emits one batch, with the bookmark of its
// last event, and closes its handles.
func (r *sourceRun) process(ctx context.Context, hs []Handle) error {
	defer r.closeEvents(hs)
	items := r.items[:0]
	var rec, prev uint64 // the current event's record ID (0: unknown), the last known one
	prev = r.record
	for i, h := range hs {
		ev := &r.events[i]
		raw, err := r.api.RenderXML(h)
		if err != nil && connectionLost(err) {
			// Not this record's fault: the batch is read again.
			return &opError{"render the events of", err}
		}
		if err != nil {
			r.met.RenderFailed(r.name)
			var where string
			rec, where = r.locate(h, prev)
			r.log.Debug("event not rendered: skipped", zap.String("where", where), zap.Error(err))
			items = append(items, watcher.Item{Input: r.input, Where: where,
				Err: fmt.Errorf("render an event of %s (%s): %s: %w", r.what, where, ErrName(err), err)})
			prev = max(prev, rec)
			continue
		}
		if bytes.IndexByte(raw, '\r') >= 0 {
			raw = []byte(decode.NormalizeNewlines(string(raw)))
		}
		if err := (decode.XML{}).Decode(ev, raw); err != nil {
			var where string
			rec, where = r.locate(h, prev)
			items = append(items, watcher.Item{Input: r.input, Where: where, Err: err})
			prev = max(prev, rec)
			continue
		}
		rec = ev.RecordID
		prev = max(prev, rec)
		if r.skip(ev) {
			continue
		}
		if r.msgs != nil && ev.Rendering.Message == "" && ev.Provider.Name != "" {
			if msg, err := r.msgs.format(ev.Provider.Name, h); err != nil {
				r.log.Debug("message not formatted", zap.Uint64("record", rec), zap.Error(err))
			} else {
				ev.Rendering.Message = msg
			}
		}
		items = append(items, watcher.Item{Event: ev, Input: r.input, Where: fmt.Sprintf("record %d", rec)})
	}
	if err := r.api.UpdateBookmark(r.bm, hs[len(hs)-1]); err != nil {
		return &opError{"update the bookmark of", err}
	}
	bm, err := r.api.RenderBookmark(r.bm)
	if err != nil {
		return &opError{"render the bookmark of", err}
	}
	if rec == 0 {
		if n, ok := bookmarkRecord(bm); ok {
			rec = n
		} else {
			rec = r.record
		}
	}
	data := encodeCheckpoint(sourceCheckpoint{Bookmark: bm, Record: rec, Channel: r.opts.Channel})
	err = r.emit(ctx, items, watcher.Checkpoint{Data: data})
	clear(items)
	if err != nil {
		return &emitError{err}
	}
	r.bookmark, r.record = bm, rec
	r.progress()
	r.reportLag()
	return nil
}

// locate returns the record ID of an event that could not be rendered
// or decoded, from a bookmark on it, and how to name its place.
func (r *sourceRun) locate(h Handle, prev uint64) (uint64, string) {
	if r.api.UpdateBookmark(r.bm, h) == nil {
		if xml, err := r.api.RenderBookmark(r.bm); err == nil {
			if n, ok := bookmarkRecord(xml); ok {
				return n, fmt.Sprintf("record %d", n)
			}
		}
	}
	if prev > 0 {
		return 0, fmt.Sprintf("after record %d", prev)
	}
	return 0, "unknown record"
}

// skip reports an event the source does not deliver: created before the
// start's cutoff, or of a provider not asked for.
func (r *sourceRun) skip(ev *watcher.Event) bool {
	if !r.cutoff.IsZero() && !ev.TimeCreated.IsZero() && ev.TimeCreated.Before(r.cutoff) {
		return true
	}
	if len(r.providers) == 0 {
		return false
	}
	for _, p := range r.providers {
		if strings.EqualFold(p, ev.Provider.Name) {
			return false
		}
	}
	return true
}

// readFailed handles an error of drain: it closes the subscription and
// sets when to re-subscribe from the committed position, or returns the
// error that ends Run.
func (r *sourceRun) readFailed(err error) error {
	var ee *emitError
	if errors.As(err, &ee) {
		return ee.err
	}
	op := "read events of"
	var oe *opError
	if errors.As(err, &oe) {
		op, err = oe.op, oe.err
	}
	r.closeSub()
	r.closeBookmark()
	reason := ErrName(err)
	switch {
	case errors.Is(err, ErrRPCInvalidBound) || (oe != nil && oe.op == "read events of" && errors.Is(err, ErrInvalidOperation)):
		r.met.Resubscribe(r.name, reason)
		if r.batch == 1 {
			r.retry(stateBackingOff, err)
			break
		}
		r.batch = max(1, r.batch/2)
		r.met.BatchHalved(r.name, r.batch)
		r.log.Warn("batch too big: re-subscribing from the last committed bookmark with half the batch",
			zap.Int("batch", r.batch), zap.String("reason", reason))
	case errors.Is(err, ErrEvtQueryStale):
		r.met.Resubscribe(r.name, reason)
		if r.staleRetried {
			r.retry(stateBackingOff, err)
			break
		}
		r.staleRetried = true
		r.log.Warn("subscription went stale: re-subscribing from the last committed bookmark", zap.Uint64("record", r.record))
	case errors.Is(err, ErrEvtChannelNotFound):
		r.met.Resubscribe(r.name, reason)
		r.retry(stateWaitingChannel, err)
	case recoverable(err) || errors.Is(err, ErrInvalidParameter):
		r.met.Resubscribe(r.name, reason)
		r.retry(stateBackingOff, err)
	default:
		return fmt.Errorf("%s %s: %s: %w", op, r.what, reason, err)
	}
	return nil
}

// reportLag sets the lag metric: the records the log holds after the
// committed one. With a Query that filters, the records it filtered out
// after the last committed event count too.
func (r *sourceRun) reportLag() {
	if r.opts.Channel == "" || r.record == 0 {
		return
	}
	info, err := r.api.LogInfo(r.opts.Channel)
	if err != nil {
		r.log.Debug("log info not read", zap.Error(err))
		return
	}
	var lag uint64
	if n := info.Newest(); n > r.record {
		lag = n - r.record
	}
	r.met.Lag(r.name, lag)
}

func (r *sourceRun) closeEvents(hs []Handle) {
	for i, h := range hs {
		if h != 0 {
			r.closeHandle(h)
			hs[i] = 0
		}
	}
}

func (r *sourceRun) closeSub() {
	if r.sub != 0 {
		r.closeHandle(r.sub)
		r.sub = 0
	}
}

func (r *sourceRun) closeBookmark() {
	if r.bm != 0 {
		r.closeHandle(r.bm)
		r.bm = 0
	}
}

func (r *sourceRun) closeHandle(h Handle) {
	if err := r.api.Close(h); err != nil {
		r.log.Debug("handle not closed", zap.Error(err))
	}
}

// stop closes everything Run opened.
func (r *sourceRun) stop() {
	r.closeEvents(r.handles)
	r.closeSub()
	r.closeBookmark()
	if r.msgs != nil {
		r.msgs.close()
	}
	if r.sig != nil {
		if err := r.sig.Close(); err != nil {
			r.log.Debug("signal not closed", zap.Error(err))
		}
	}
	r.setState(stateStopped, nil)
}

type nopMetrics struct{}

func (nopMetrics) PossibleLoss(string, string) {}
func (nopMetrics) Resubscribe(string, string)  {}
func (nopMetrics) BatchHalved(string, int)     {}
func (nopMetrics) RenderFailed(string)         {}
func (nopMetrics) Lag(string, uint64)          {}
func (nopMetrics) State(string, string)        {}
