// Package match evaluates compiled rules against events. Rules are indexed
// by channel, provider and event ID, so the cost of an event grows with the
// rules that could match it, not with the size of the rule set.
package match

import (
	"math"
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
//
// Equals and In compare numerically when both the operand and the field's
// value read as integers, decimal (with an optional '-') or 0x hex, up to
// 64 bits: "0" equals "0x0", "2155348148" equals "0x807800b4". Otherwise
// they compare text, so "10" does not equal "10.0". Numbers have no case.
//
// Gt and Lt read the field as a number, an integer or a decimal float, and
// hold only when it is one. Integers compare exactly as integers over their
// whole 64-bit range, and an integer with a float exactly by value, so
// System fields such as Keywords and EventRecordID never lose bits.
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
	Kind OpKind
	// Str is the operand of Equals, Contains, StartsWith and EndsWith. For
	// Gt and Lt it may hold the operand as written (decimal, 0x hex or a
	// float); when it reads as a number it is used instead of Num, so
	// integers beyond 2^53 compare exactly.
	Str    string
	List   []string       // In
	Re     *regexp.Regexp // Regex
	Num    float64        // Gt, Lt, unless Str is set
	Exists bool           // Exists
	Sub    []Op           // Not: true when not all of Sub hold
	Cased  bool           // compare strings case-sensitively
}

// value is a field's value as found in an event.
type value struct {
	s     string
	u     uint64
	isNum bool // u is set from a System number
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
	num := func(n uint64) value { return value{u: n, isNum: true, found: true} }
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
		return strconv.FormatUint(v.u, 10)
	}
	return v.s
}

// integer reads v as Equals and In compare numbers.
func (v value) integer() (number, bool) {
	if v.isNum {
		return number{kind: intNumber, abs: v.u}, true
	}
	return parseInteger(v.s)
}

// number reads v as Gt and Lt compare numbers.
func (v value) number() (number, bool) {
	if v.isNum {
		return number{kind: intNumber, abs: v.u}, true
	}
	return parseNumber(v.s)
}

// ParseNumber reads a number as rules write them: decimal, 0x hex or a
// float. A float64 holds integers exactly only up to 2^53; matching reads
// Equals and In operands, and a Gt or Lt operand kept in Op.Str, as exact
// integers instead.
func ParseNumber(s string) (float64, bool) {
	s = strings.TrimSpace(s)
	if len(s) > 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X') {
		n, err := strconv.ParseUint(s[2:], 16, 64)
		return float64(n), err == nil
	}
	f, err := strconv.ParseFloat(s, 64)
	return f, err == nil
}

// numberKind says which of number's fields hold the value.
type numberKind uint8

const (
	intNumber   numberKind = iota + 1 // neg, abs
	floatNumber                       // f
)

// number is a value read as a number: an integer, held exactly as a sign
// and a 64-bit magnitude, or a float.
type number struct {
	kind numberKind
	neg  bool // never set for zero
	abs  uint64
	f    float64
}

// parseInteger reads decimal (with an optional '-') or 0x hex of up to 64
// bits, around blanks. It never allocates.
func parseInteger(s string) (number, bool) {
	s = strings.TrimSpace(s)
	n := number{kind: intNumber}
	if len(s) > 1 && s[0] == '-' && s[1] >= '0' && s[1] <= '9' {
		n.neg, s = true, s[1:]
	}
	v, ok := watcher.ParseUint(s, 64)
	if !ok || (n.neg && len(s) > 2 && (s[1] == 'x' || s[1] == 'X')) {
		return number{}, false
	}
	n.abs = v
	n.neg = n.neg && n.abs != 0
	return n, true
}

// parseNumber reads an integer as parseInteger does, else a decimal float
// ("12.5", "1e3"). It allocates only for floats out of range.
func parseNumber(s string) (number, bool) {
	if n, ok := parseInteger(s); ok {
		return n, true
	}
	s = strings.TrimSpace(s)
	if !isDecimalFloat(s) {
		return number{}, false
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return number{}, false
	}
	return number{kind: floatNumber, f: f}, true
}

// isDecimalFloat reports whether s is [+-]digits[.digits][e[+-]digits]
// with a digit in the mantissa, so ParseFloat fails on it only by range
// (its errors allocate) and never reads "inf", "nan" or hex floats.
func isDecimalFloat(s string) bool {
	i := 0
	if i < len(s) && (s[i] == '+' || s[i] == '-') {
		i++
	}
	digits := 0
	for ; i < len(s) && s[i] >= '0' && s[i] <= '9'; i++ {
		digits++
	}
	if i < len(s) && s[i] == '.' {
		for i++; i < len(s) && s[i] >= '0' && s[i] <= '9'; i++ {
			digits++
		}
	}
	if digits == 0 {
		return false
	}
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		i++
		if i < len(s) && (s[i] == '+' || s[i] == '-') {
			i++
		}
		start := i
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			i++
		}
		if i == start {
			return false
		}
	}
	return i == len(s)
}

// compare returns -1, 0 or 1 as a is less than, equal to or greater than
// b, exactly.
func compare(a, b number) int {
	switch {
	case a.kind == floatNumber && b.kind == floatNumber:
		return cmpFloat(a.f, b.f)
	case a.kind == floatNumber:
		return -compareIntFloat(b, a.f)
	case b.kind == floatNumber:
		return compareIntFloat(a, b.f)
	}
	return compareInt(a, b)
}

func compareInt(a, b number) int {
	if a.neg != b.neg {
		if a.neg {
			return -1
		}
		return 1
	}
	c := 0
	switch {
	case a.abs < b.abs:
		c = -1
	case a.abs > b.abs:
		c = 1
	}
	if a.neg {
		return -c
	}
	return c
}

// compareIntFloat compares an integer with a float without rounding
// either: the float's integer part is exact in a number below 2^64.
func compareIntFloat(a number, f float64) int {
	switch {
	case f >= 0x1p64:
		return -1
	case f <= -0x1p64:
		return 1
	}
	t := math.Trunc(f)
	c := compareInt(a, number{kind: intNumber, neg: t < 0, abs: uint64(math.Abs(t))})
	if c != 0 {
		return c
	}
	return cmpFloat(0, f-t)
}

func cmpFloat(a, b float64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// operand returns a Gt or Lt operand: Str when it reads as a number, else
// Num.
func (op *Op) operand() number {
	if op.Str != "" {
		if n, ok := parseNumber(op.Str); ok {
			return n
		}
	}
	return number{kind: floatNumber, f: op.Num}
}

// formatFloat writes f without float artifacts: integers in full
// (9223372036854775808, not 9223372036854776000), others as short as
// reads back.
func formatFloat(f float64) string {
	if f == math.Trunc(f) && !math.IsInf(f, 0) {
		return strconv.FormatFloat(f, 'f', 0, 64)
	}
	return strconv.FormatFloat(f, 'f', -1, 64)
}

// equal reports whether v equals the operand s: as numbers when both read
// as integers, else as text.
func (op *Op) equal(v value, vn number, vIsInt bool, s string) bool {
	if vIsInt {
		if n, ok := parseInteger(s); ok {
			return n == vn
		}
	}
	if v.isNum {
		return op.eq(v.text(), s)
	}
	return op.eq(v.s, s)
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
		c := compare(n, op.operand())
		if op.Kind == Gt {
			return c > 0
		}
		return c < 0
	case Equals:
		vn, isInt := v.integer()
		return op.equal(v, vn, isInt, op.Str)
	case In:
		vn, isInt := v.integer()
		for _, s := range op.List {
			if op.equal(v, vn, isInt, s) {
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
