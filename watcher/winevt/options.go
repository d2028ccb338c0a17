package winevt

import (
	"time"

	"go.uber.org/zap"
)

// Start says where a channel source begins reading.
type Start uint8

const (
	// StartBookmark resumes after the saved bookmark; with none (the
	// first run) it reads the events of the last Lookback, then new ones.
	// Until a bookmark is saved, the position saved is where reading
	// began: for a single named channel read for new events, the newest
	// record number of its log then, and a restart reads the records
	// after it; otherwise the time, and a restart reads the events
	// created since then. The Lookback's events are those created since
	// its cutoff among the records the log held when reading began (the
	// records after are all new, whatever their time); the cutoff is
	// saved with the position until that catch-up is over, so that a
	// restart during it does not read older events.
	StartBookmark Start = iota
	// StartNow ignores any saved position: each start reads the events of
	// the last Lookback (none when it is 0), then new ones.
	StartNow
	// StartOldest resumes after the saved bookmark; with none it reads
	// the whole channel from its oldest record.
	//
	// Every Start but StartNow resumes from a saved position, whichever
	// Start saved it: a position saved before any bookmark (where reading
	// began, see StartBookmark) is still honoured after the Start changes
	// to StartOldest, and a catch-up's cutoff saved with a bookmark still
	// applies.
	StartOldest
)

func (s Start) String() string {
	switch s {
	case StartNow:
		return "now"
	case StartOldest:
		return "oldest"
	}
	return "bookmark"
}

// Options configure a channel source. Zero values take the defaults.
type Options struct {
	// Channel is the channel path, such as Microsoft-Windows-Backup. It
	// may be given with a QueryList Query: Windows ignores it then, but it
	// still names the source's input, the log whose lag is reported and
	// whose record numbers are checked against the bookmark. It may be
	// empty with a QueryList naming its own channels (no lag then).
	//
	// ForwardedEvents (or a QueryList reading it) is resumed from its
	// bookmark without EvtSubscribeStrict: its bookmarks go stale, and
	// Windows then starts after the closest record rather than failing
	// (Beats #36020, #36309); only a bookmark past its newest record (its
	// numbering restarted) is found a possible loss. Other channels are
	// resumed strictly, and a bookmark no longer in the log is a possible
	// loss. In a QueryList over several channels, the subscription is
	// strict or not for all of them, as said above.
	Channel string
	// Query is an XPath filter or a QueryList; "" is "*". It is only a
	// pre-filter: rules are always evaluated on every event delivered.
	Query string
	// Fallback is the query subscribed with, after a warning, when
	// Windows rejects Query as invalid (ERROR_EVT_INVALID_QUERY or
	// another query error, such as ERROR_EVT_FILTER_TOO_COMPLEX): set it
	// for a generated pre-filter, to "*". Empty: the error is fatal (a
	// query the administrator wrote).
	Fallback string
	// Providers, when set, keeps only the events of these providers
	// (case-insensitive), checked in Go on every event whatever Query
	// says; the bookmark moves past the others.
	Providers []string
	// Start and Lookback say where to begin (see Start). Lookback
	// defaults to 0: set it explicitly (the config's default is 24h).
	Start    Start
	Lookback time.Duration
	// OnStale is what to do when the saved bookmark is no longer in the
	// log (the log was cleared or wrapped, or its record numbers
	// restarted) or the checkpoint cannot be read: StartOldest (default)
	// reads what is left, StartNow reads new events only, whatever
	// Lookback says. Either way a possible loss is logged and counted.
	OnStale Start
	// Batch is the EvtNext batch size: default 64, at most 1024. It is
	// halved (down to 1) after RPC_S_INVALID_BOUND.
	Batch int
	// SafetyNet is the longest wait for the signal before the source
	// checks the subscription anyway: default 30s. It is not a poll
	// interval: events wake the source at once.
	SafetyNet time.Duration
	// MinBackoff and MaxBackoff bound the exponential backoff before a
	// re-subscription after an error or a missing channel: default 5s
	// and 1m. It starts over after a batch is committed or once the
	// subscription has lasted SafetyNet without error.
	MinBackoff, MaxBackoff time.Duration
	// Message renders each event's message with EvtFormatMessage into
	// Event.Rendering.Message when the event XML has none. It costs more
	// than everything else together: set it only when a rule or template
	// uses the message. A message that cannot be formatted leaves it
	// empty; the event is always kept.
	Message bool
	// Locale is the LCID messages are asked for; 0 is the system's. A
	// message missing in that locale falls back to the system's.
	Locale uint32
	// Logger gets the source's warnings and errors. Default: none.
	Logger *zap.Logger
	// Metrics gets the source's counters. Default: none.
	Metrics Metrics
	// Now is the clock, for tests. Default time.Now.
	Now func() time.Time
}

// Metrics receives what a channel source counts, labelled by the source's
// name. Implementations must be safe for concurrent use.
type Metrics interface {
	// PossibleLoss counts a stale or missing bookmark: events between it
	// and where reading resumed may not have been seen. reason is the
	// Windows error's name, "bad checkpoint" or "record numbers
	// restarted" (a bookmark past the newest record of its log).
	PossibleLoss(source, reason string)
	// Resubscribe counts a re-subscription; reason is the error's name.
	Resubscribe(source, reason string)
	// BatchHalved reports the new batch size after RPC_S_INVALID_BOUND.
	BatchHalved(source string, batch int)
	// RenderFailed counts an event given up because it could not be
	// rendered (after 3 reads in a row failing for a reason that is not
	// the service's: a transient error is retried without limit).
	RenderFailed(source string)
	// Lag sets how many records the log holds after the last committed
	// one (the newest record number minus the committed record number,
	// both of the channel's own log). It is set at most every 5 s after
	// batches, and at each safety-net wake-up.
	Lag(source string, records uint64)
	// State sets the source's state: "running", "waiting for channel",
	// "backing off", "stopped".
	State(source, state string)
}
