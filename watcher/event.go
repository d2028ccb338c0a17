// Package watcher holds logmedic's normalized Windows event and the
// interfaces that connect event sources, decoders, matchers and sinks.
//
// The subpackages do the work: decode turns rendered event XML (and every
// text form admins copy events in) into an Event, evtxfile reads exported
// .evtx files, hresult extracts and explains error codes, and match
// evaluates compiled rules.
package watcher

import (
	"strings"
	"time"
)

// Event is one Windows event, normalized from whatever form it arrived in.
//
// Decoders fill a caller-owned Event and reuse its slices, so an Event and
// the strings it holds stay valid only until the next decode into it; call
// Clone to keep one.
type Event struct {
	Channel  string
	Provider Provider

	EventID       uint32
	Qualifiers    uint16
	HasQualifiers bool
	Version       uint8
	Level         uint8
	Task          uint16
	Opcode        uint8
	Keywords      uint64

	TimeCreated time.Time
	RecordID    uint64
	Computer    string
	ProcessID   uint32
	ThreadID    uint32
	UserID      string

	ActivityID        string
	RelatedActivityID string

	// EventData holds the <EventData> values in document order. Positional
	// values (no Name attribute) have an empty Name; empty values are kept.
	EventData []Field
	// Binary is the hex text of <EventData><Binary>, if any.
	Binary string
	// UserDataName is the name of the element under <UserData>, if any, and
	// UserData its leaf elements in document order.
	UserDataName string
	UserData     []Field

	// Rendering holds what <RenderingInfo> (wevtutil /f:RenderedXml,
	// forwarded events) or an Event Viewer text copy carried.
	Rendering Rendering

	// Raw is the event's XML as it was decoded, or for .evtx records an
	// EvtRender-style XML rendering of it.
	Raw string

	codes     []Code
	codesDone bool
}

// Provider identifies the event's publisher.
type Provider struct {
	Name            string
	GUID            string
	EventSourceName string
}

// Field is one named or positional value.
type Field struct {
	Name  string
	Value string
}

// Rendering is the localized text Windows rendered for an event.
type Rendering struct {
	Culture  string
	Message  string
	Level    string
	Task     string
	Opcode   string
	Channel  string
	Provider string
	Keywords []string
}

// Code is one error code found in an event, with where it was found.
type Code struct {
	Value uint32
	// Where names the place: a field name, "VolumesInfo[C:].HResult",
	// "Message".
	Where string
	// Text is the code as it was written there.
	Text string
}

// Levels as Windows defines them (winmeta.xml).
const (
	LevelLogAlways   = 0
	LevelCritical    = 1
	LevelError       = 2
	LevelWarning     = 3
	LevelInformation = 4
	LevelVerbose     = 5
)

var levelNames = [...]string{"information", "critical", "error", "warning", "information", "verbose"}

// LevelName returns the lower-case name of a level: "critical" (1),
// "error" (2), "warning" (3), "information" (4) or "verbose" (5). Level 0
// (LogAlways), which Event Viewer shows as Information, is "information".
// Levels above 5 (6-15 are reserved, 16-255 provider-defined) are "level"
// and the number ("level6", "level16"); ParseLevel does not read them back.
func LevelName(level uint8) string {
	if int(level) < len(levelNames) {
		return levelNames[level]
	}
	return "level" + itoa(uint64(level))
}

// ParseLevel returns the level number for a name as LevelName writes it.
func ParseLevel(name string) (uint8, bool) {
	switch strings.ToLower(name) {
	case "critical":
		return LevelCritical, true
	case "error":
		return LevelError, true
	case "warning":
		return LevelWarning, true
	case "information", "informational", "info":
		return LevelInformation, true
	case "verbose":
		return LevelVerbose, true
	}
	return 0, false
}

// Reset clears ev for reuse, keeping its slices' memory.
func (ev *Event) Reset() {
	ed, ud, kw, codes := ev.EventData[:0], ev.UserData[:0], ev.Rendering.Keywords[:0], ev.codes[:0]
	*ev = Event{EventData: ed, UserData: ud, codes: codes}
	ev.Rendering.Keywords = kw
}

// Clone returns a deep copy of ev that no later decode will change.
func (ev *Event) Clone() *Event {
	c := *ev
	c.EventData = append([]Field(nil), ev.EventData...)
	c.UserData = append([]Field(nil), ev.UserData...)
	c.Rendering.Keywords = append([]string(nil), ev.Rendering.Keywords...)
	c.codes = append([]Code(nil), ev.codes...)
	return &c
}

// Data returns the value of the first EventData or UserData field with the
// given name, compared without regard to case.
func (ev *Event) Data(name string) (string, bool) {
	for i := range ev.EventData {
		if strings.EqualFold(ev.EventData[i].Name, name) {
			return ev.EventData[i].Value, true
		}
	}
	for i := range ev.UserData {
		if strings.EqualFold(ev.UserData[i].Name, name) {
			return ev.UserData[i].Value, true
		}
	}
	return "", false
}

// Codes returns the error codes the event carries, in the order found (see
// AppendCodes). It computes them once per decoded event.
func (ev *Event) Codes() []Code {
	if !ev.codesDone {
		ev.codesDone = true
		ev.codes = AppendCodes(ev.codes[:0], ev)
	}
	return ev.codes
}

func itoa(v uint64) string {
	var b [20]byte
	i := len(b)
	for {
		i--
		b[i] = byte('0' + v%10)
		v /= 10
		if v == 0 {
			return string(b[i:])
		}
	}
}

// Decoder fills dst from one event in raw, as a source delivers it
// (EvtRender XML on Windows). Implementations reuse dst's memory.
type Decoder interface {
	Decode(dst *Event, raw []byte) error
}
