// Package match evaluates compiled rules against events. Rules are indexed
// by channel, provider and event ID, so the cost of an event grows with the
// rules that could match it, not with the size of the rule set.
package match

import (
	"regexp"
	"strconv"
	"strings"

	"github.com/logmedic/logmedic/watcher"
)

// Rule is one compiled rule. Every non-empty condition must hold; a list
// within a condition means "any of".
type Rule struct {
	Name  string
	Index int // position in the configuration, for ordering results

	Channels  []string // case-insensitive
	Providers []string // case-insensitive
	IDs       []IDRange
	Levels    []uint8
	Codes     []uint32
	Fields    []FieldCond
}

// IDRange is an inclusive range of event IDs; a single ID has Lo == Hi.
type IDRange struct{ Lo, Hi uint32 }

// FieldCond holds conditions on one field; all its Ops must hold.
type FieldCond struct {
	Field string
	Ops   []Op

	kind fieldKind
	pos  int
}

// OpKind is a field operator.
type OpKind uint8

// The field operators. String comparisons ignore case unless Cased is set;
// Regex is RE2 as written.
const (
	Equals OpKind = iota
	Contains
	StartsWith
	EndsWith
	Regex
	In
	Not
	Exists
	Gt
	Lt
)

var opNames = [...]string{"equals", "contains", "startswith", "endswith", "regex", "in", "not", "exists", "gt", "lt"}

func (k OpKind) String() string { return opNames[k] }

// Op is one operator with its operand.
type Op struct {
	Kind   OpKind
	Str    string         // Equals, Contains, StartsWith, EndsWith
	List   []string       // In
	Re     *regexp.Regexp // Regex
	Num    float64        // Gt, Lt
	Exists bool           // Exists
	Sub    []Op           // Not: true when not all of Sub hold
	Cased  bool           // compare strings case-sensitively
}

// value is a field's value as found in an event.
type value struct {
	s     string
	n     float64
	isNum bool // n is set from a System number
	found bool
}

// fieldKind says where a field name points; resolved once in New.
type fieldKind uint8

const (
	fData fieldKind = iota // EventData or UserData by name
	fPositional
	fChannel
	fProvider
	fProviderGUID
	fEventID
	fVersion
	fLevel
	fTask
	fOpcode
	fKeywords
	fRecordID
	fComputer
	fProcessID
	fThreadID
	fUserID
	fActivityID
	fMessage
)

var systemFields = map[string]fieldKind{
	"channel": fChannel, "provider": fProvider, "providername": fProvider,
	"providerguid": fProviderGUID, "eventid": fEventID, "version": fVersion,
	"level": fLevel, "task": fTask, "opcode": fOpcode, "keywords": fKeywords,
	"eventrecordid": fRecordID, "recordid": fRecordID, "computer": fComputer,
	"processid": fProcessID, "threadid": fThreadID, "userid": fUserID,
	"activityid": fActivityID, "message": fMessage,
}

// SystemFields lists the names that address System fields rather than
// EventData, for documentation and the schema.
func SystemFields() []string {
	return []string{"Channel", "Provider", "ProviderGuid", "EventID", "Version", "Level", "Task", "Opcode",
		"Keywords", "EventRecordID", "Computer", "ProcessID", "ThreadID", "UserID", "ActivityID", "Message"}
}

// resolve sets where fc's name points: System names first (any case),
// then Data[N] for the N-th unnamed value, then EventData/UserData names.
func (fc *FieldCond) resolve() {
	if k, ok := systemFields[strings.ToLower(fc.Field)]; ok {
		fc.kind = k
		return
	}
	if strings.HasPrefix(fc.Field, "Data[") && strings.HasSuffix(fc.Field, "]") {
		if i, err := strconv.Atoi(fc.Field[5 : len(fc.Field)-1]); err == nil && i >= 1 {
			fc.kind, fc.pos = fPositional, i
			return
		}
	}
	fc.kind = fData
}

// value returns fc's field in ev.
func (fc *FieldCond) value(ev *watcher.Event) value {
	num := func(n uint64) value { return value{n: float64(n), isNum: true, found: true} }
	str := func(s string) value { return value{s: s, found: true} }
	switch fc.kind {
	case fChannel:
		return str(ev.Channel)
	case fProvider:
		return str(ev.Provider.Name)
	case fProviderGUID:
		return str(ev.Provider.GUID)
	case fEventID:
		return num(uint64(ev.EventID))
	case fVersion:
		return num(uint64(ev.Version))
	case fLevel:
		return num(uint64(ev.Level))
	case fTask:
		return num(uint64(ev.Task))
	case fOpcode:
		return num(uint64(ev.Opcode))
	case fKeywords:
		return num(ev.Keywords)
	case fRecordID:
		return num(ev.RecordID)
	case fComputer:
		return str(ev.Computer)
	case fProcessID:
		return num(uint64(ev.ProcessID))
	case fThreadID:
		return num(uint64(ev.ThreadID))
	case fUserID:
		return str(ev.UserID)
	case fActivityID:
		return str(ev.ActivityID)
	case fMessage:
		if ev.Rendering.Message != "" {
			return str(ev.Rendering.Message)
		}
		if v, ok := ev.Data("Message"); ok {
			return str(v)
		}
		return value{}
	case fPositional:
		n := 0
		for _, f := range ev.EventData {
			if f.Name == "" {
				n++
				if n == fc.pos {
					return str(f.Value)
				}
			}
		}
		return value{}
	}
	if v, ok := ev.Data(fc.Field); ok {
		return str(v)
	}
	return value{}
}

func (v value) text() string {
	if v.isNum {
		return strconv.FormatFloat(v.n, 'f', -1, 64)
	}
	return v.s
}

func (v value) number() (float64, bool) {
	if v.isNum {
		return v.n, true
	}
	return ParseNumber(v.s)
}

// ParseNumber reads a number as rules compare them: decimal, 0x hex or a
// float.
func ParseNumber(s string) (float64, bool) {
	s = strings.TrimSpace(s)
	if len(s) > 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X') {
		n, err := strconv.ParseUint(s[2:], 16, 64)
		return float64(n), err == nil
	}
	f, err := strconv.ParseFloat(s, 64)
	return f, err == nil
}

// holds reports whether op holds for v.
func (op *Op) holds(v value) bool {
	switch op.Kind {
	case Exists:
		return v.found == op.Exists
	case Not:
		for i := range op.Sub {
			if !op.Sub[i].holds(v) {
				return true
			}
		}
		return false
	}
	if !v.found {
		return false
	}
	switch op.Kind {
	case Gt, Lt:
		n, ok := v.number()
		if !ok {
			return false
		}
		if op.Kind == Gt {
			return n > op.Num
		}
		return n < op.Num
	case Equals:
		if v.isNum {
			n, ok := ParseNumber(op.Str)
			return ok && n == v.n
		}
		return op.eq(v.s, op.Str)
	case In:
		for _, s := range op.List {
			if v.isNum {
				if n, ok := ParseNumber(s); ok && n == v.n {
					return true
				}
			} else if op.eq(v.s, s) {
				return true
			}
		}
		return false
	case Regex:
		return op.Re.MatchString(v.text())
	}
	s := v.text()
	switch op.Kind {
	case Contains:
		if op.Cased {
			return strings.Contains(s, op.Str)
		}
		return watcher.ContainsFold(s, op.Str)
	case StartsWith:
		return len(s) >= len(op.Str) && op.eq(s[:len(op.Str)], op.Str)
	case EndsWith:
		return len(s) >= len(op.Str) && op.eq(s[len(s)-len(op.Str):], op.Str)
	}
	return false
}

func (op *Op) eq(a, b string) bool {
	if op.Cased {
		return a == b
	}
	return strings.EqualFold(a, b)
}

// level is the level rules compare: LogAlways (0) counts as information,
// as Event Viewer shows it.
func level(ev *watcher.Event) uint8 {
	if ev.Level == watcher.LevelLogAlways {
		return watcher.LevelInformation
	}
	return ev.Level
}

// matches evaluates every condition of r on ev.
func (r *Rule) matches(ev *watcher.Event) bool {
	if len(r.Channels) > 0 && !anyFold(r.Channels, ev.Channel) {
		return false
	}
	if len(r.Providers) > 0 && !anyFold(r.Providers, ev.Provider.Name) {
		return false
	}
	if len(r.IDs) > 0 && !inRanges(r.IDs, ev.EventID) {
		return false
	}
	if len(r.Levels) > 0 {
		l, ok := level(ev), false
		for _, x := range r.Levels {
			if x == l {
				ok = true
				break
			}
		}
		if !ok {
			return false
		}
	}
	for i := range r.Fields {
		fc := &r.Fields[i]
		v := fc.value(ev)
		for j := range fc.Ops {
			if !fc.Ops[j].holds(v) {
				return false
			}
		}
	}
	if len(r.Codes) > 0 {
		for _, c := range ev.Codes() {
			for _, want := range r.Codes {
				if c.Value == want {
					return true
				}
			}
		}
		return false
	}
	return true
}

func anyFold(list []string, s string) bool {
	for _, x := range list {
		if strings.EqualFold(x, s) {
			return true
		}
	}
	return false
}

func inRanges(rs []IDRange, id uint32) bool {
	for _, r := range rs {
		if id >= r.Lo && id <= r.Hi {
			return true
		}
	}
	return false
}
