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
	StartBookmark Start = iota
	// StartNow ignores any saved bookmark: each start reads the events of
	// the last Lookback (none when it is 0), then new ones.
	StartNow
	// StartOldest resumes after the saved bookmark; with none it reads
	// the whole channel from its oldest record.
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
	// Channel is the channel path, such as Microsoft-Windows-Backup.
	// Empty when Query is a QueryList naming its own channels.
	Channel string
	// Query is an XPath filter or a QueryList; "" is "*". It is only a
	// pre-filter: rules are always evaluated on every event delivered.
	Query string
	// Providers, when set, keeps only the events of these providers
	// (case-insensitive), checked in Go on every event whatever Query
	// says; the bookmark moves past the others.
	Providers []string
	// Start and Lookback say where to begin (see Start). Lookback
	// defaults to 0: set it explicitly (the config's default is 24h).
	Start    Start
	Lookback time.Duration
	// OnStale is what to do when the saved bookmark is no longer in the
	// log (the log was cleared or wrapped): StartOldest (default) reads
	// what is left, StartNow skips to new events. Either way a possible
	// loss is logged and counted.
	OnStale Start
	// Batch is the EvtNext batch size: default 64, at most 1024. It is
	// halved (down to 1) after RPC_S_INVALID_BOUND.
	Batch int
	// SafetyNet is the longest wait for the signal before the source
	// checks the subscription anyway: default 30s. It is not a poll
	// interval: events wake the source at once.
	SafetyNet time.Duration
	// MinBackoff and MaxBackoff bound the exponential backoff before a
	// re-subscription after a recoverable error or a missing channel:
	// default 5s and 1m.
	MinBackoff, MaxBackoff time.Duration
	// Message renders each event's message with EvtFormatMessage into
	// Event.Rendering.Message when the event XML has none. It costs more
	// than everything else together: set it only when a rule or template
	// uses the message.
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
	// Windows error's name.
	PossibleLoss(source, reason string)
	// Resubscribe counts a re-subscription; reason is the error's name.
	Resubscribe(source, reason string)
	// BatchHalved reports the new batch size after RPC_S_INVALID_BOUND.
	BatchHalved(source string, batch int)
	// RenderFailed counts an event that could not be rendered.
	RenderFailed(source string)
	// Lag sets how many records the log holds after the last committed
	// one (the newest record number minus the committed record number).
	Lag(source string, records uint64)
	// State sets the source's state: "running", "waiting for channel",
	// "backing off", "stopped".
	State(source, state string)
}
