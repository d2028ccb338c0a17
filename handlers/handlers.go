// Package handlers defines what a rule's actions are and how handlers
// deliver them: the Action stored in the outbox, the Handler interface each
// integration implements, templates with per-sink escaping, secrets, and
// the HTTP and retry helpers the integrations share.
//
// Each handler type lives in its own package (webhook, servicenow, jira,
// alertmanager, email, script, logger) with a Config, a New and its tests.
package handlers

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"slices"
	"strconv"
	"time"

	"github.com/logmedic/logmedic/watcher"
)

// Handler delivers actions of one configured handler.
type Handler interface {
	// Prepare renders, when a rule matches, what the action will send:
	// templates are executed here, with the sink's escaping, and the
	// result is stored in the outbox. Prepare does no I/O.
	Prepare(d *Data, with map[string]*Template) (json.RawMessage, error)
	// Deliver sends a prepared action. retry reports whether a later
	// attempt may succeed (a 5xx, a timeout); false means the action
	// cannot succeed as it is (a 400, a bad address) and goes to the dead
	// letters.
	Deliver(ctx context.Context, a *Action) (retry bool, err error)
}

// Previewer is implemented by handlers that can show, without sending,
// what Deliver would send: logmedic test --dry-run. Secrets are redacted.
type Previewer interface {
	Preview(a *Action) (Preview, error)
}

// Preview is a fully rendered request.
type Preview struct {
	Method  string            `json:"method,omitempty"`
	URL     string            `json:"url,omitempty"`
	Headers map[string]string `json:"headers,omitempty"`
	Body    string            `json:"body,omitempty"`
	Argv    []string          `json:"argv,omitempty"`
	Env     []string          `json:"env,omitempty"`
	Dir     string            `json:"dir,omitempty"`
	Stdin   string            `json:"stdin,omitempty"`
	Note    string            `json:"note,omitempty"`
}

// Event is the part of a matched event that actions carry: what templates,
// tickets and scripts need, small enough to keep in the outbox.
type Event struct {
	Source   string          `json:"source,omitempty"`
	Channel  string          `json:"channel"`
	Provider string          `json:"provider"`
	EventID  uint32          `json:"event_id"`
	Level    string          `json:"level"`
	RecordID uint64          `json:"record_id"`
	Time     time.Time       `json:"time"`
	Computer string          `json:"computer"`
	UserID   string          `json:"user_id,omitempty"`
	Message  string          `json:"message,omitempty"`
	Codes    []string        `json:"error_codes"`
	Data     []watcher.Field `json:"data"`
}

// EventFrom copies what actions need out of a decoded event.
func EventFrom(ev *watcher.Event, source string) Event {
	var codes []uint32
	for _, c := range ev.Codes() {
		codes = append(codes, c.Value)
	}
	slices.Sort(codes)
	codes = slices.Compact(codes)
	e := Event{
		Source: source, Channel: ev.Channel, Provider: ev.Provider.Name, EventID: ev.EventID,
		Level: watcher.LevelName(ev.Level), RecordID: ev.RecordID, Time: ev.TimeCreated.UTC(),
		Computer: ev.Computer, UserID: ev.UserID, Message: ev.Rendering.Message,
		Codes: make([]string, len(codes)),
		Data:  make([]watcher.Field, 0, len(ev.EventData)+len(ev.UserData)),
	}
	for i, c := range codes {
		e.Codes[i] = watcher.FormatCode(c)
	}
	for i, f := range ev.EventData {
		if f.Name == "" {
			f.Name = watcher.PositionalName(i)
		}
		e.Data = append(e.Data, f)
	}
	e.Data = append(e.Data, ev.UserData...)
	return e
}

// Action is one handler run for one rule match, as the outbox keeps it.
type Action struct {
	// ID is stable: the same event, rule, handler and step always give
	// the same ID, so a replayed event never acts twice.
	ID       string          `json:"id"`
	Rule     string          `json:"rule"`
	Handler  string          `json:"handler"`
	Step     int             `json:"step"`
	DedupKey string          `json:"dedup_key"`
	Repeats  int             `json:"repeats,omitempty"` // matches suppressed in the dedup window before this one
	Resolve  bool            `json:"resolve,omitempty"` // the action resolves, rather than raises, a problem
	Event    Event           `json:"event"`
	Payload  json.RawMessage `json:"payload,omitempty"`
	Created  time.Time       `json:"created"`

	Attempts    int       `json:"attempts,omitempty"`
	NextAttempt time.Time `json:"next_attempt,omitempty"`
	LastError   string    `json:"last_error,omitempty"`
	// InFlightUntil is set while an attempt runs, to the end of its
	// timeout. Found set after a crash, it means an attempt's outcome is
	// unknown: its request may still be completing on the server, so the
	// next attempt waits until then instead of racing it.
	InFlightUntil time.Time `json:"in_flight_until,omitempty"`
}

// ActionID derives an action's stable ID from the event's identity (its
// computer, channel, record ID, time and data), the rule, the handler and
// the step's position in the rule's actions.
func ActionID(e *Event, rule, handler string, step int) string {
	h := sha256.New()
	for _, s := range []string{e.Computer, e.Channel, e.Provider, strconv.FormatUint(e.RecordID, 10),
		e.Time.UTC().Format(time.RFC3339Nano), strconv.FormatUint(uint64(e.EventID), 10), rule, handler, strconv.Itoa(step)} {
		h.Write([]byte(s))
		h.Write([]byte{0})
	}
	// Inputs without record IDs (an Event Viewer text copy) still differ
	// in their data.
	for _, f := range e.Data {
		h.Write([]byte(f.Name))
		h.Write([]byte{0})
		h.Write([]byte(f.Value))
		h.Write([]byte{0})
	}
	return hex.EncodeToString(h.Sum(nil)[:12])
}
