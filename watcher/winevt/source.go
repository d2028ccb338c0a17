package winevt

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"syscall"
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
	// maxTries is how many times in a row an event is read when
	// rendering it fails for a reason that is not the service's
	// (transient errors are retried without limit): then it is given up,
	// reported as an Item with Err.
	maxTries = 3
	// lagInterval is the least time between two lag reports after
	// batches (each costs EvtOpenLog, EvtGetLogInfo and EvtClose).
	lagInterval = 5 * time.Second
)

// The states a Source reports to Metrics.State.
const (
	stateRunning        = "running"
	stateWaitingChannel = "waiting for channel"
	stateBackingOff     = "backing off"
	stateStopped        = "stopped"
)

// The PossibleLoss reasons that are not a Windows error's name.
const (
	// reasonBadCheckpoint is a checkpoint that cannot be resumed from.
	reasonBadCheckpoint = "bad checkpoint"
	// reasonRenumbered is a bookmark past the newest record of its log.
	reasonRenumbered = "record numbers restarted"
)

// forwardedChannel is the channel Windows Event Forwarding writes to by
// default. Its events keep the record numbers of the machines that
// logged them, and its bookmarks go stale (Beats #36020).
const forwardedChannel = "ForwardedEvents"

// forwardedPathRE finds ForwardedEvents among the paths of a QueryList.
var forwardedPathRE = regexp.MustCompile(`(?i)Path\s*=\s*["']\s*` + forwardedChannel + `\s*["']`)

// queryPathRE finds the paths of a QueryList.
var queryPathRE = regexp.MustCompile(`(?i)\bPath\s*=\s*(?:"([^"]*)"|'([^']*)')`)

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
// Before it has a bookmark, the source commits when it began reading (see
// sourceCheckpoint): for a single named channel, the newest record number
// of its log then, so that a restart reads the records after it; else the
// time. The Lookback's catch-up (and that of a restart from a time) skips
// the events created before its cutoff among the records the log held
// when it began, and only those, and is saved in every checkpoint until
// it is over, so that a restart during it does not deliver old events.
// The position resumed from after an error or a restart is always the
// last checkpoint emit accepted, so no event is lost; an event may be
// emitted again after an error.
//
// Windows' failures are handled as Winlogbeat and Datadog learnt to:
//   - a saved bookmark no longer in the log (cleared or wrapped), or past
//     the newest record of a log whose numbering restarted (checked for
//     ForwardedEvents too), is counted as a possible loss and logged, then
//     reading starts as OnStale says. ForwardedEvents is resumed without
//     EvtSubscribeStrict (its bookmarks go stale: Windows starts after the
//     closest record). A saved bookmark that cannot be made a bookmark
//     handle because the service is unavailable is retried with backoff;
//     for any other reason it is a bad checkpoint;
//   - RPC_S_INVALID_BOUND (a batch too big) re-subscribes from the last
//     committed bookmark with half the batch (down to 1; it does not
//     grow back);
//   - a stale result while reading (ERROR_EVT_QUERY_RESULT_STALE,
//     ERROR_EVT_QUERY_RESULT_INVALID_POSITION, ERROR_NOT_FOUND) and
//     ERROR_INVALID_OPERATION after events were returned re-subscribe
//     from the last committed bookmark at once, then after a backoff if
//     it happens again before anything is committed;
//   - a missing channel is waited for, re-subscribing with exponential
//     backoff (MinBackoff to MaxBackoff), and so are a restarting Event
//     Log service, a signal that cannot be created or waited on (it is
//     made again), and any other error while reading. The backoff starts
//     over after a batch is committed or after the subscription has
//     lasted SafetyNet without error;
//   - an event that cannot be rendered is read again from the committed
//     bookmark after a backoff, the events before it committed first:
//     without limit when the error is the service's (transient), else up
//     to maxTries times in a row; then it is given up: reported as an Item
//     with Err and skipped, so that it cannot block the channel;
//   - a message that cannot be formatted for a reason that may go away is
//     formatted again at once, up to messageTries times; then the event
//     is kept without it and its provider's messages are not formatted
//     for failedRetry (as for a provider without metadata), so that a
//     failing provider does not slow the channel;
//   - a message that cannot be formatted otherwise leaves the event's
//     message empty (but a partial message is kept); the event is kept;
//   - a query Windows rejects is replaced by Options.Fallback, if any.
//
// Only errors that cannot go away end Run, with an error naming the
// channel and the Windows error: at subscribe time, an invalid query
// (without Fallback), access denied or an invalid channel path; and
// emit's.
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
	// forwarded is a source reading ForwardedEvents: resumed without
	// Strict.
	forwarded bool
	// single is a source reading one named channel, not ForwardedEvents:
	// its events' record numbers are those of the channel's log, so that
	// record numbers bound the catch-up and place a since checkpoint.
	single bool
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
	s.forwarded = strings.EqualFold(opts.Channel, forwardedChannel) || forwardedPathRE.MatchString(opts.Query) ||
		forwardedPathRE.MatchString(opts.Fallback)
	s.single = opts.Channel != "" && !s.forwarded && onlyPath(opts.Query, opts.Channel) && onlyPath(opts.Fallback, opts.Channel)
	return s
}

// onlyPath reports a query whose paths, if any (a QueryList's), are all
// channel.
func onlyPath(query, channel string) bool {
	for _, m := range queryPathRE.FindAllStringSubmatch(query, -1) {
		if !strings.EqualFold(strings.TrimSpace(m[1]+m[2]), channel) {
			return false
		}
	}
	return true
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
		query:   s.opts.Query,
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
	for {
		if r.sub == 0 {
			if !r.sleep(ctx) {
				return nil
			}
			if r.sig == nil {
				sig, err := s.api.NewSignal()
				if err != nil {
					r.retry(stateBackingOff, fmt.Errorf("create the signal of %s: %w", s.what, err))
					continue
				}
				r.sig = sig
			}
			ok, err := r.subscribe()
			if err != nil {
				return err
			}
			if !ok {
				continue
			}
			if err := r.saveSince(ctx); err != nil {
				if ctx.Err() != nil {
					return nil
				}
				return err
			}
		} else {
			woke, err := r.sig.Wait(ctx, s.opts.SafetyNet)
			if ctx.Err() != nil {
				return nil
			}
			if err != nil {
				r.signalFailed(err)
				continue
			}
			if !woke {
				// The subscription has lasted a safety-net interval
				// without error.
				r.steady()
				r.reportLag(true)
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
	emit  watcher.Emit
	query string // Options.Query, or Options.Fallback once it was rejected
	sig   Signal
	sub   Handle
	bm    Handle // at the committed position, but while a batch is processed
	msgs  *messageCache

	batch   int
	handles []Handle
	events  []watcher.Event
	items   []watcher.Item

	// bookmark and record are the committed position: the last
	// checkpoint emit returned nil for, or the one Run resumed from.
	// bookmark is "" when there is none; record is the bookmarked
	// event's record number in the channel's log, 0 when unknown.
	bookmark string
	record   uint64
	// synthetic is a bookmark made from a since checkpoint's record (see
	// sourceCheckpoint), not committed as one: the since checkpoint is
	// still the one saved.
	synthetic bool
	// unverified is a bookmark restored from the checkpoint that has not
	// been made a bookmark handle yet: if Windows refuses it, but for a
	// transient error, the checkpoint is bad.
	unverified bool
	// Without a bookmark, future subscribes to future events; otherwise
	// reading starts at the oldest record, skipping the events created
	// before since.
	future bool
	since  time.Time
	// sinceDue is set when the position without a bookmark (since) is to
	// be committed once subscribed: it is not what a restart without a
	// checkpoint would do, or a saved checkpoint is to be replaced.
	sinceDue bool
	// cutoff, when set, skips the events created before it among the
	// records up to until, the newest record of the channel's log when
	// reading from the oldest record began, until a committed record
	// reaches it. until is 0 when it is not known: the cutoff then skips
	// the events created before it among all, until a read finds nothing
	// more (ERROR_NO_MORE_ITEMS).
	cutoff time.Time
	until  uint64

	state        string
	delay        time.Duration // before the next subscription
	backoff      time.Duration // the last backoff; 0 after steady
	quickRetried bool          // re-subscribed at once, without a backoff, and not steady since
	// tries counts the failures in a row, but transient ones, to render
	// the first event after the committed position.
	tries int
	lagAt time.Time // the last lag report
}

// opError is an API call's failure while reading.
type opError struct {
	op  string
	err error
}

func (e *opError) Error() string { return e.op + ": " + e.err.Error() }
func (e *opError) Unwrap() error { return e.err }

// opRead is the op of EvtNext's errors.
const opRead = "read events of"

// emitError is emit's failure.
type emitError struct{ err error }

func (e *emitError) Error() string { return e.err.Error() }
func (e *emitError) Unwrap() error { return e.err }

// startFresh sets where to read from without a bookmark, as
// Options.Start says.
func (r *sourceRun) startFresh(start Start, now time.Time) {
	r.clearPosition()
	switch {
	case start == StartOldest:
	case r.opts.Lookback > 0:
		r.since = now.Add(-r.opts.Lookback)
	default:
		r.future, r.since = true, now
	}
	r.sinceDue = !r.since.IsZero()
}

// startAfterLoss sets where to read from after the saved position was
// lost, as Options.OnStale says: the oldest record, or new events only
// (whatever the Lookback).
func (r *sourceRun) startAfterLoss(now time.Time) {
	r.clearPosition()
	if r.onStale() == StartNow {
		r.future, r.since = true, now
	}
	r.sinceDue = true // the lost position is replaced
}

// clearPosition forgets the position and the catch-up.
func (r *sourceRun) clearPosition() {
	r.bookmark, r.record, r.synthetic, r.unverified, r.tries = "", 0, false, false, 0
	r.closeBookmark()
	r.future, r.since, r.cutoff, r.until = false, time.Time{}, time.Time{}, 0
}

// restore resumes from the saved checkpoint, if any. The bookmark is
// made a handle when subscribing (see unverified).
func (r *sourceRun) restore(data []byte) {
	now := r.now()
	r.startFresh(r.opts.Start, now)
	if len(data) == 0 {
		return
	}
	r.sinceDue = true // the saved checkpoint is replaced unless resumed from
	if r.opts.Start == StartNow {
		r.log.Info("start is now: the saved bookmark is ignored")
		return
	}
	cp, since, err := decodeCheckpoint(data)
	if err != nil {
		r.badCheckpoint(err)
		return
	}
	if cp.Channel != "" && r.opts.Channel != "" && !strings.EqualFold(cp.Channel, r.opts.Channel) {
		r.log.Warn("the saved bookmark is for another channel: ignored", zap.String("bookmark_channel", cp.Channel))
		return
	}
	r.sinceDue = false
	if cp.Bookmark == "" {
		// Saved before any bookmark: read what came since.
		r.future, r.since = false, since
		if cp.Record > 0 && r.single {
			r.bookmark, r.record, r.synthetic = afterRecordBookmark(r.opts.Channel, cp.Record), cp.Record, true
			return
		}
		// From the oldest record, skipping what was created before since
		// (see subscribe).
		if r.single {
			r.until = cp.Until
		}
		return
	}
	r.bookmark, r.record, r.unverified = cp.Bookmark, r.recordOf(cp.Bookmark, cp.Record), true
	if r.cutoff = cp.cutoff(); !r.cutoff.IsZero() && r.single {
		r.until = cp.Until
		if r.until > 0 && r.record >= r.until {
			r.cutoff, r.until = time.Time{}, 0
		}
	}
}

// badCheckpoint gives up a saved checkpoint that cannot be resumed from.
func (r *sourceRun) badCheckpoint(err error) {
	r.log.Warn("bad checkpoint: events since it may have been missed",
		zap.String("on_stale_bookmark", r.onStale().String()), zap.Error(err))
	r.met.PossibleLoss(r.name, reasonBadCheckpoint)
	r.startAfterLoss(r.now())
}

// syntheticRefused falls back to the time of a since checkpoint whose
// record Windows would not take as a bookmark.
func (r *sourceRun) syntheticRefused(err error) {
	r.log.Warn("the position after the saved record number was refused as a bookmark: reading from the oldest record, skipping the events created before the time saved",
		zap.Uint64("record", r.record), zap.Time("since", r.since), zap.String("reason", ErrName(err)), zap.Error(err))
	r.bookmark, r.record, r.synthetic = "", 0, false
	r.future, r.cutoff, r.until = false, time.Time{}, 0
	r.sinceDue = true // the since checkpoint without its record
}

func (r *sourceRun) onStale() Start {
	if r.opts.OnStale == StartNow {
		return StartNow
	}
	return StartOldest
}

// recordOf returns the record number a bookmark's XML gives for the
// channel (its current entry's for a QueryList), or fallback.
func (r *sourceRun) recordOf(bookmark string, fallback uint64) uint64 {
	if r.opts.Channel != "" {
		if n, ok := bookmarkRecord(bookmark, r.opts.Channel); ok {
			return n
		}
	}
	if n, ok := bookmarkRecord(bookmark, ""); ok {
		return n
	}
	return fallback
}

// subscribe subscribes from the committed position. It returns false
// with r.delay set when it is to be retried.
func (r *sourceRun) subscribe() (bool, error) {
	if r.bookmark != "" && r.renumbered() {
		r.stale(reasonRenumbered, nil)
	}
	if r.bm == 0 {
		bm, err := r.api.CreateBookmark(r.bookmark)
		if err != nil {
			switch {
			case r.bookmark == "" || transient(err):
			case r.synthetic:
				r.syntheticRefused(err)
				r.delay = 0
				return false, nil
			case r.unverified:
				r.badCheckpoint(err)
				r.delay = 0
				return false, nil
			}
			return r.subscribeFailed("create the bookmark of", err)
		}
		r.bm, r.unverified = bm, false
	}
	var flags SubscribeFlags
	var bm Handle
	switch {
	case r.bookmark != "":
		flags, bm = SubscribeStartAfterBookmark, r.bm
		if !r.forwarded {
			flags |= SubscribeStrict
		}
	case r.future:
		flags = SubscribeToFutureEvents
	default:
		flags = SubscribeStartAtOldestRecord
		r.cutoff = r.since
	}
	// The newest record of the log, read before subscribing so that the
	// records after it are all new: where a restart without a bookmark
	// resumes, or the end of the catch-up.
	var newest uint64
	known := false
	if r.single && ((flags == SubscribeToFutureEvents && r.sinceDue) || (!r.cutoff.IsZero() && r.until == 0)) {
		newest, known = r.newest()
	}
	sub, err := r.api.Subscribe(r.sig, r.opts.Channel, r.query, bm, flags)
	if err != nil {
		if bm != 0 && staleBookmark(err) {
			r.stale(ErrName(err), err)
			return false, nil
		}
		if r.synthetic && errors.Is(err, ErrInvalidParameter) {
			r.syntheticRefused(err)
			r.delay = 0
			return false, nil
		}
		if queryRejected(err) && r.opts.Fallback != "" && r.query != r.opts.Fallback {
			r.log.Warn("the query was rejected as invalid: subscribing with the fallback query",
				zap.String("query", r.query), zap.String("fallback", r.opts.Fallback),
				zap.String("reason", ErrName(err)), zap.Error(err))
			r.met.Resubscribe(r.name, ErrName(err))
			r.query = r.opts.Fallback
			r.delay = 0
			return false, nil
		}
		return r.subscribeFailed("subscribe to", err)
	}
	r.sub = sub
	if flags == SubscribeToFutureEvents {
		// Re-subscribing before a bookmark is committed resumes after
		// the newest record when it is known, else reads from the oldest
		// record, skipping what was created before this subscription.
		r.future = false
		if known && newest > 0 {
			r.bookmark, r.record, r.synthetic = afterRecordBookmark(r.opts.Channel, newest), newest, true
		}
	}
	if known && !r.cutoff.IsZero() && r.until == 0 {
		if newest == 0 {
			r.cutoff = time.Time{} // an empty log: every record to come is new
		} else {
			r.until = newest
		}
		if r.bookmark == "" {
			r.sinceDue = true // with until
		}
	}
	if r.state == "" {
		r.log.Info("subscribed", zap.String("from", r.describeStart(flags)))
	}
	r.setState(stateRunning, nil)
	return true, nil
}

// newest returns the newest record number of the channel's log (0 when
// it is empty), and whether it could be read.
func (r *sourceRun) newest() (uint64, bool) {
	info, err := r.api.LogInfo(r.opts.Channel)
	if err != nil {
		r.log.Debug("log info not read", zap.Error(err))
		return 0, false
	}
	return info.Newest(), true
}

// renumbered reports a committed bookmark past the newest record of the
// channel's log: the log was cleared and its record numbers restarted
// (Windows may do so), and the bookmark could otherwise be "found" in the
// new log once it has grown, skipping its first records (or, for
// ForwardedEvents, which is resumed without Strict, waited after). It is
// checked for a named channel and for ForwardedEvents, each against its
// entry in the bookmark; an empty log, or one whose information cannot be
// read, is left to EvtSubscribe.
func (r *sourceRun) renumbered() bool {
	var channels []string
	if r.opts.Channel != "" {
		channels = append(channels, r.opts.Channel)
	}
	if r.forwarded && !strings.EqualFold(r.opts.Channel, forwardedChannel) {
		channels = append(channels, forwardedChannel)
	}
	for _, ch := range channels {
		rec, ok := bookmarkRecord(r.bookmark, ch)
		if !ok {
			continue
		}
		info, err := r.api.LogInfo(ch)
		if err != nil {
			r.log.Debug("log info not read", zap.String("log", ch), zap.Error(err))
			continue
		}
		if info.Records > 0 && info.Newest() < rec {
			return true
		}
	}
	return false
}

// saveSince commits, while there is no bookmark (or a synthetic one),
// where reading began when r.sinceDue says so (see sourceCheckpoint).
func (r *sourceRun) saveSince(ctx context.Context) error {
	if (r.bookmark != "" && !r.synthetic) || !r.sinceDue {
		return nil
	}
	var record, until uint64
	if r.synthetic {
		record = r.record
	} else if !r.cutoff.IsZero() {
		until = r.until
	}
	data := sinceCheckpoint(r.since, record, until, r.opts.Channel)
	if err := r.emit(ctx, r.items[:0], watcher.Checkpoint{Data: data}); err != nil {
		return err
	}
	r.sinceDue = false
	return nil
}

func (r *sourceRun) describeStart(flags SubscribeFlags) string {
	switch {
	case flags == SubscribeToFutureEvents:
		return "new events"
	case r.synthetic:
		return fmt.Sprintf("after record %d", r.record)
	case flags&^SubscribeStrict == SubscribeStartAfterBookmark:
		return fmt.Sprintf("bookmark (record %d)", r.record)
	case r.since.IsZero():
		return "oldest record"
	}
	return "events since " + r.since.UTC().Format(time.RFC3339)
}

// staleBookmark reports a Strict subscription's error for a bookmark no
// longer in the log, or EvtNext's for a result set that went stale.
func staleBookmark(err error) bool {
	return errors.Is(err, ErrNotFound) || errors.Is(err, ErrEvtQueryStale) || errors.Is(err, ErrEvtInvalidPosition)
}

// transient reports the errors of the Event Log service going away or
// being short of something, rather than of one record: what failed is
// tried again, and handles opened before (publisher metadata) are
// dropped.
func transient(err error) bool {
	for _, e := range [...]error{
		ErrRPCServerUnavail, ErrRPCServerTooBusy, ErrRPCCallFailed, ErrRPCCallFailedDNE, ErrRPCCallCancelled,
		ErrInvalidHandle, ErrOutOfMemory, ErrNotEnoughMemory, ErrTimeout,
	} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}

// queryRejected reports Windows refusing the query: invalid, or an XPath
// it cannot evaluate (the ERROR_EVT_FILTER_ errors).
func queryRejected(err error) bool {
	var e syscall.Errno
	if !errors.As(err, &e) {
		return false
	}
	return e == ErrEvtInvalidQuery || (e >= 15014 && e <= 15021) || e == ErrEvtFilterTooComplex || e == 15038
}

// permanent reports the errors at subscribe time that retrying cannot
// cure: the query, the channel path, the right to read it. An error that
// is no Windows error is one too (a string Windows cannot take).
func permanent(err error) bool {
	var e syscall.Errno
	if !errors.As(err, &e) {
		return true
	}
	return e == ErrAccessDenied || e == ErrEvtInvalidChannel || e == ErrEvtDirectChannel || queryRejected(err)
}

// stale applies OnStale after the committed bookmark was found stale,
// for reason (the Windows error err's name, or reasonRenumbered with a
// nil err).
func (r *sourceRun) stale(reason string, err error) {
	r.met.PossibleLoss(r.name, reason)
	fields := []zap.Field{zap.Uint64("record", r.record), zap.String("reason", reason),
		zap.String("on_stale_bookmark", r.onStale().String())}
	if err != nil {
		fields = append(fields, zap.Error(err))
	}
	r.log.Warn("the saved bookmark is no longer in the log (cleared or wrapped): events since it may have been missed", fields...)
	r.startAfterLoss(r.now())
	r.delay = 0
}

func (r *sourceRun) subscribeFailed(op string, err error) (bool, error) {
	switch {
	case errors.Is(err, ErrEvtChannelNotFound) || errors.Is(err, ErrEvtQueryChannel):
		r.retry(stateWaitingChannel, err)
	case permanent(err):
		return false, fmt.Errorf("%s %s: %s: %w", op, r.what, ErrName(err), err)
	default:
		r.retry(stateBackingOff, err)
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

// steady resets the backoff: a batch was committed, or the subscription
// has lasted a safety-net interval without error. (Reading nothing
// proves nothing: a failure that comes back after each subscription must
// back off more each time.)
func (r *sourceRun) steady() {
	r.backoff = 0
	r.quickRetried = false
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
			if n == 0 && errors.Is(err, ErrNoMoreItems) {
				r.caughtUp()
				return nil
			}
			if n == 0 && (errors.Is(err, ErrInvalidOperation) || errors.Is(err, ErrTimeout)) {
				return nil // nothing ready now, which does not say all was read
			}
			return &opError{opRead, err}
		}
		if n == 0 {
			return nil
		}
		if err := r.process(ctx, hs[:n]); err != nil {
			return err
		}
	}
}

// caughtUp notes that the subscription has read all there is
// (ERROR_NO_MORE_ITEMS): a catch-up without a record number to end at is
// over. (One with it ends when a committed record reaches it: see
// commit.)
func (r *sourceRun) caughtUp() {
	if r.until == 0 {
		r.cutoff = time.Time{}
	}
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
		before := rec // the record ID of the event before this one
		raw, err := r.api.RenderXML(h)
		if err != nil {
			if err := r.renderFailed(ctx, hs[:i], items, before, err); err != nil {
				return err
			}
			r.met.RenderFailed(r.name)
			var where string
			rec, where = r.locate(h, prev)
			r.log.Warn("event not rendered: skipped", zap.String("where", where), zap.Int("tries", maxTries),
				zap.String("reason", ErrName(err)), zap.Error(err))
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
			r.formatMessage(ev, h)
		}
		items = append(items, watcher.Item{Event: ev, Input: r.input, Where: fmt.Sprintf("record %d", rec)})
	}
	return r.commit(ctx, hs[len(hs)-1], items, rec)
}

// formatMessage sets the message of ev, whose event handle is h, when it
// can be formatted. One that fails for a reason that may go away is
// formatted again at once, up to messageTries times in all: then the
// event is kept without it, and its provider is remembered as failing
// (see messageCache.fail). The event is never read again for its message:
// the messages of a provider that keeps failing would otherwise cost each
// of its events a backoff.
func (r *sourceRun) formatMessage(ev *watcher.Event, h Handle) {
	provider := ev.Provider.Name
	msg, err := r.msgs.format(provider, h)
	tries := 1
	for ; err != nil && transient(err) && !remembered(err) && tries < messageTries; tries++ {
		msg, err = r.msgs.format(provider, h)
	}
	switch {
	case err == nil:
		ev.Rendering.Message = msg
	case transient(err) && !remembered(err):
		r.msgs.fail(provider, err)
		r.log.Warn("message not formatted: the event is kept without it, and the provider's messages are not formatted for a while",
			zap.Uint64("record", ev.RecordID), zap.String("provider", provider), zap.Int("tries", tries),
			zap.Duration("for", failedRetry), zap.String("reason", ErrName(err)), zap.Error(err))
	default:
		r.log.Debug("message not formatted", zap.Uint64("record", ev.RecordID), zap.Error(err))
	}
}

// renderFailed handles a failure to render the event after the batch's
// events done. The events done are committed first (with their items and
// the last one's record ID rec), so that the failing event comes first
// when read again. It returns the error that has it read again from the
// committed position, after a backoff: always for a transient error (the
// service's, not the event's), else until it has failed maxTries times in
// a row, when it returns nil: the event is then given up.
func (r *sourceRun) renderFailed(ctx context.Context, done []Handle, items []watcher.Item, rec uint64, err error) error {
	if len(done) > 0 {
		if err := r.commit(ctx, done[len(done)-1], items, rec); err != nil {
			return err
		}
	}
	if transient(err) {
		return &opError{"render the events of", err}
	}
	r.tries++
	if r.tries < maxTries {
		return &opError{"render the events of", err}
	}
	return nil
}

// commit emits items with the bookmark moved to last, the event after
// which reading is to resume (rec is its record ID, 0 when unknown), and
// makes that the committed position.
func (r *sourceRun) commit(ctx context.Context, last Handle, items []watcher.Item, rec uint64) error {
	if err := r.api.UpdateBookmark(r.bm, last); err != nil {
		return &opError{"update the bookmark of", err}
	}
	bm, err := r.api.RenderBookmark(r.bm)
	if err != nil {
		return &opError{"render the bookmark of", err}
	}
	// The bookmark's record number, not the event's: a forwarded event
	// keeps the one it had on the machine that logged it.
	rec = r.recordOf(bm, cmp.Or(rec, r.record))
	cp := sourceCheckpoint{Bookmark: bm, Record: rec, Channel: r.opts.Channel}
	cutoff, until := r.cutoff, r.until
	if until > 0 && rec >= until {
		// Caught up with the log as it was when reading began.
		cutoff, until = time.Time{}, 0
	}
	if !cutoff.IsZero() {
		cp.Cutoff, cp.Until = formatTime(cutoff), until
	}
	err = r.emit(ctx, items, watcher.Checkpoint{Data: encodeCheckpoint(cp)})
	clear(items)
	if err != nil {
		return &emitError{err}
	}
	r.bookmark, r.record, r.synthetic, r.unverified = bm, rec, false, false
	r.cutoff, r.until = cutoff, until
	r.tries = 0
	r.sinceDue = false
	r.steady()
	r.reportLag(false)
	return nil
}

// locate returns the record ID of an event that could not be rendered
// or decoded, from a bookmark on it, and how to name its place.
func (r *sourceRun) locate(h Handle, prev uint64) (uint64, string) {
	if r.api.UpdateBookmark(r.bm, h) == nil {
		if xml, err := r.api.RenderBookmark(r.bm); err == nil {
			if n, ok := bookmarkRecord(xml, ""); ok {
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
// catch-up's cutoff among the records up to until, or of a provider not
// asked for.
func (r *sourceRun) skip(ev *watcher.Event) bool {
	if !r.cutoff.IsZero() && !ev.TimeCreated.IsZero() && ev.TimeCreated.Before(r.cutoff) &&
		(r.until == 0 || ev.RecordID == 0 || ev.RecordID <= r.until) {
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
// sets when to re-subscribe from the committed position. Only emit's
// error ends Run.
func (r *sourceRun) readFailed(err error) error {
	var ee *emitError
	if errors.As(err, &ee) {
		return ee.err
	}
	op := opRead
	var oe *opError
	if errors.As(err, &oe) {
		op, err = oe.op, oe.err
	}
	r.closeSub()
	r.closeBookmark()
	if r.msgs != nil && transient(err) {
		// The service went away: the metadata handles went with it.
		r.msgs.close()
	}
	reason := ErrName(err)
	r.met.Resubscribe(r.name, reason)
	described := fmt.Errorf("%s %s: %w", op, r.what, err)
	switch {
	case errors.Is(err, ErrRPCInvalidBound):
		if r.batch == 1 {
			r.retry(stateBackingOff, described)
			break
		}
		r.batch = max(1, r.batch/2)
		r.met.BatchHalved(r.name, r.batch)
		r.log.Warn("batch too big: re-subscribing from the last committed bookmark with half the batch",
			zap.Int("batch", r.batch), zap.String("reason", reason))
	case staleBookmark(err) || (op == opRead && errors.Is(err, ErrInvalidOperation)):
		if r.quickRetried {
			r.retry(stateBackingOff, described)
			break
		}
		r.quickRetried = true
		r.log.Warn("subscription went stale: re-subscribing from the last committed bookmark",
			zap.Uint64("record", r.record), zap.String("reason", reason))
	case errors.Is(err, ErrEvtChannelNotFound):
		r.retry(stateWaitingChannel, described)
	default:
		r.retry(stateBackingOff, described)
	}
	return nil
}

// reportLag sets the lag metric: the records the log holds after the
// committed one. With a Query that filters, the records it filtered out
// after the last committed event count too. After a batch it is done at
// most every lagInterval; force is for the safety-net wake-ups.
func (r *sourceRun) reportLag(force bool) {
	if r.opts.Channel == "" || r.record == 0 {
		return
	}
	now := r.now()
	if !force && !r.lagAt.IsZero() && now.Sub(r.lagAt) < lagInterval {
		return
	}
	r.lagAt = now
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

// signalFailed drops the subscription and its signal after waiting on
// the signal failed: both are made again after a backoff.
func (r *sourceRun) signalFailed(err error) {
	r.closeSub()
	r.closeSignal()
	r.met.Resubscribe(r.name, ErrName(err))
	r.retry(stateBackingOff, fmt.Errorf("wait for events of %s: %w", r.what, err))
}

func (r *sourceRun) closeSignal() {
	if r.sig != nil {
		if err := r.sig.Close(); err != nil {
			r.log.Debug("signal not closed", zap.Error(err))
		}
		r.sig = nil
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
	r.closeSignal()
	r.setState(stateStopped, nil)
}

type nopMetrics struct{}

func (nopMetrics) PossibleLoss(string, string) {}
func (nopMetrics) Resubscribe(string, string)  {}
func (nopMetrics) BatchHalved(string, int)     {}
func (nopMetrics) RenderFailed(string)         {}
func (nopMetrics) Lag(string, uint64)          {}
func (nopMetrics) State(string, string)        {}
