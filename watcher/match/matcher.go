package match

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/logmedic/logmedic/watcher"
)

// Match is one rule that matched an event.
type Match struct {
	Rule *Rule
}

// Matcher finds the rules an event matches. It is safe for concurrent use.
type Matcher struct {
	rules   []*Rule
	byChan  map[string]*provIndex // lower-case channel
	anyChan *provIndex            // rules with no channel condition
}

type provIndex struct {
	byProv  map[string]*idIndex // lower-case provider
	anyProv *idIndex
}

type idIndex struct {
	byID  map[uint32][]int32
	anyID []int32 // no event_id condition, or ranges too wide to expand
}

// wideRange is the widest event_id range expanded into the index; wider
// ones are checked rule by rule.
const wideRange = 1024

// New indexes rules, which keep their order for results.
func New(rules []*Rule) *Matcher {
	m := &Matcher{rules: rules, byChan: map[string]*provIndex{}, anyChan: newProvIndex()}
	for i, r := range rules {
		for j := range r.Fields {
			r.Fields[j].resolve()
		}
		chans := []*provIndex{m.anyChan}
		if len(r.Channels) > 0 {
			chans = chans[:0]
			for _, c := range uniqueLower(r.Channels) {
				pi := m.byChan[c]
				if pi == nil {
					pi = newProvIndex()
					m.byChan[c] = pi
				}
				chans = append(chans, pi)
			}
		}
		for _, pi := range chans {
			ids := []*idIndex{pi.anyProv}
			if len(r.Providers) > 0 {
				ids = ids[:0]
				for _, p := range uniqueLower(r.Providers) {
					ii := pi.byProv[p]
					if ii == nil {
						ii = &idIndex{byID: map[uint32][]int32{}}
						pi.byProv[p] = ii
					}
					ids = append(ids, ii)
				}
			}
			for _, ii := range ids {
				ii.add(int32(i), r.IDs)
			}
		}
	}
	return m
}

func newProvIndex() *provIndex {
	return &provIndex{byProv: map[string]*idIndex{}, anyProv: &idIndex{byID: map[uint32][]int32{}}}
}

func uniqueLower(list []string) []string {
	out := make([]string, 0, len(list))
	for _, s := range list {
		l := strings.ToLower(s)
		if !slices.Contains(out, l) {
			out = append(out, l)
		}
	}
	return out
}

func (ii *idIndex) add(rule int32, ids []IDRange) {
	if len(ids) == 0 {
		ii.anyID = append(ii.anyID, rule)
		return
	}
	for _, r := range ids {
		if r.Hi-r.Lo >= wideRange {
			ii.anyID = append(ii.anyID, rule)
			return
		}
	}
	for _, r := range ids {
		for id := r.Lo; ; id++ {
			if l := ii.byID[id]; len(l) == 0 || l[len(l)-1] != rule {
				ii.byID[id] = append(l, rule)
			}
			if id == r.Hi {
				break
			}
		}
	}
}

// Rules returns the rules in configuration order.
func (m *Matcher) Rules() []*Rule { return m.rules }

// Match appends to dst the rules ev matches, in configuration order.
func (m *Matcher) Match(ev *watcher.Event, dst []Match) []Match {
	var candBuf [64]int32
	cand := candBuf[:0]
	var keyBuf [128]byte
	cand = m.anyChan.collect(ev, &keyBuf, cand)
	if pi := m.byChan[string(lower(&keyBuf, ev.Channel))]; pi != nil {
		cand = pi.collect(ev, &keyBuf, cand)
	}
	// A rule sits in at most one of the buckets visited, so sorting
	// restores configuration order without duplicates.
	for i := 1; i < len(cand); i++ {
		for j := i; j > 0 && cand[j] < cand[j-1]; j-- {
			cand[j], cand[j-1] = cand[j-1], cand[j]
		}
	}
	for _, i := range cand {
		if r := m.rules[i]; r.matches(ev) {
			dst = append(dst, Match{Rule: r})
		}
	}
	return dst
}

func (pi *provIndex) collect(ev *watcher.Event, buf *[128]byte, cand []int32) []int32 {
	cand = pi.anyProv.collect(ev.EventID, cand)
	if len(pi.byProv) > 0 {
		if ii := pi.byProv[string(lower(buf, ev.Provider.Name))]; ii != nil {
			cand = ii.collect(ev.EventID, cand)
		}
	}
	return cand
}

func (ii *idIndex) collect(id uint32, cand []int32) []int32 {
	cand = append(cand, ii.anyID...)
	if len(ii.byID) > 0 {
		cand = append(cand, ii.byID[id]...)
	}
	return cand
}

// lower writes an ASCII-lower-cased s into buf when it fits, so map
// look-ups need no allocation.
func lower(buf *[128]byte, s string) []byte {
	if len(s) > len(buf) {
		return []byte(strings.ToLower(s))
	}
	b := buf[:len(s)]
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 'A' && c <= 'Z' {
			c += 'a' - 'A'
		}
		b[i] = c
	}
	return b
}

// Explain says why r matches ev: one line per condition, naming the value
// that satisfied it (for error codes, every field that carries the code).
// It is meant for reports, not the hot path.
func Explain(r *Rule, ev *watcher.Event) []string {
	var out []string
	if len(r.Channels) > 0 {
		out = append(out, fmt.Sprintf("channel %s is one of %s", show(ev.Channel), quoteList(r.Channels)))
	}
	if len(r.Providers) > 0 {
		out = append(out, fmt.Sprintf("provider %s is one of %s", show(ev.Provider.Name), quoteList(r.Providers)))
	}
	if len(r.IDs) > 0 {
		parts := make([]string, len(r.IDs))
		for i, x := range r.IDs {
			parts[i] = strconv.FormatUint(uint64(x.Lo), 10)
			if x.Hi != x.Lo {
				parts[i] += "-" + strconv.FormatUint(uint64(x.Hi), 10)
			}
		}
		out = append(out, fmt.Sprintf("event_id %d is in [%s]", ev.EventID, strings.Join(parts, ", ")))
	}
	if len(r.Levels) > 0 {
		names := make([]string, len(r.Levels))
		for i, l := range r.Levels {
			names[i] = watcher.LevelName(l)
		}
		out = append(out, fmt.Sprintf("level %s is one of [%s]", watcher.LevelName(level(ev)), strings.Join(names, ", ")))
	}
	for i := range r.Fields {
		fc := &r.Fields[i]
		v := fc.value(ev)
		shown := "absent"
		if v.found {
			shown = show(v.text())
		}
		for _, op := range fc.Ops {
			out = append(out, fmt.Sprintf("field %s %s %s", fc.Field, shown, op.describe()))
		}
	}
	if len(r.Codes) > 0 {
		for _, want := range r.Codes {
			var where []string
			for _, c := range ev.Codes() {
				if c.Value == want {
					where = append(where, fmt.Sprintf("%s (%s)", c.Where, show(c.Text)))
				}
			}
			if len(where) > 0 {
				out = append(out, fmt.Sprintf("error_code %s found in %s", watcher.FormatCode(want), strings.Join(where, ", ")))
			}
		}
	}
	if len(out) == 0 {
		out = append(out, "the rule has no conditions: it matches every event")
	}
	return out
}

func (op *Op) describe() string {
	cased := ""
	if op.Cased {
		cased = " (case-sensitive)"
	}
	switch op.Kind {
	case Equals, Contains, StartsWith, EndsWith:
		return op.Kind.String() + " " + show(op.Str) + cased
	case In:
		return "in " + quoteList(op.List) + cased
	case Regex:
		return "matches regex " + show(op.Re.String())
	case Exists:
		if op.Exists {
			return "exists"
		}
		return "does not exist"
	case Gt, Lt:
		sym := "> "
		if op.Kind == Lt {
			sym = "< "
		}
		if _, ok := parseNumber(op.Str); ok {
			return sym + strings.TrimSpace(op.Str)
		}
		return sym + formatFloat(op.Num)
	case Not:
		parts := make([]string, len(op.Sub))
		for i := range op.Sub {
			parts[i] = op.Sub[i].describe()
		}
		return "not (" + strings.Join(parts, " and ") + ")"
	}
	return op.Kind.String()
}

// show quotes s for people reading Windows paths: backslashes stay single,
// only quotes and control characters are escaped.
func show(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range s {
		switch {
		case r == '"':
			b.WriteString(`\"`)
		case r < 0x20 || r == 0x7f:
			fmt.Fprintf(&b, `\x%02x`, r)
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte('"')
	return b.String()
}

func quoteList(list []string) string {
	q := make([]string, len(list))
	for i, s := range list {
		q[i] = show(s)
	}
	return "[" + strings.Join(q, ", ") + "]"
}
