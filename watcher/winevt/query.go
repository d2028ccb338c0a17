package winevt

import (
	"cmp"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/logmedic/logmedic/watcher/match"
)

// MaxClauses is the most comparisons a generated pre-filter holds.
// Windows rejects an XPath of more than about 20 (the EvtSubscribe and
// Consuming Events docs; Beats #1491 saw "The specified query is invalid"
// past 21 or 22).
const MaxClauses = 20

// Prefilter is the query a channel source subscribes with, and why.
type Prefilter struct {
	// Query is what to pass to Subscribe: "*" or a QueryList XML.
	Query string
	// Clauses is the number of XPath comparisons in Query (0 for "*").
	Clauses int
	// Reason says why Query is "*": "no rule reads this channel", "23
	// clauses, more than the 20 Windows accepts", `rule "x" matches any
	// event ID and level (provider names are checked in Go, not in the
	// query)`. The query never tests providers, so a rule whose only
	// System condition is a provider gives "*". Reason is empty when
	// Query holds the rules' conditions.
	Reason string
}

// forwardedEvents is the channel Windows Event Forwarding writes to.
const forwardedEvents = "ForwardedEvents"

// BuildPrefilter builds the query a source reading channel subscribes
// with: an XPath on the System fields that lets through every event some
// rule for the channel could match, so that Windows renders fewer events.
// Rules are still evaluated on every event delivered: the query is only a
// pre-filter, never narrower than the rules, and "*" whenever it would
// not stay small.
//
// A rule applies when its Channels are empty or name the channel (any
// case). Each applicable rule contributes the conjunction of its event ID
// and level conditions; the query is their disjunction. Level 4
// (information) also admits 0 (LogAlways), as the matcher does. Rules
// with the same levels, or the same IDs, are merged, and a rule that
// another covers is dropped, so the output is deterministic and small.
//
// Provider names are never written into the query: neither the rules'
// nor the source's (providers goes unused: the source checks its
// providers in Go on every event). The matcher compares provider names
// ignoring case, and whether Windows' XPath compares @Name that way was
// never verified; if it does not, a rule spelling a provider in another
// case than the events would have Windows drop every event of that
// provider before Go saw it. Event IDs and levels are numbers, which both
// compare alike. A rule's field and code conditions only narrow it, so
// they are left to Go too; a rule whose only System condition is a
// provider thus makes the query "*".
func BuildPrefilter(channel string, providers []string, rules []*match.Rule) Prefilter {
	star := func(reason string, args ...any) Prefilter {
		return Prefilter{Query: "*", Reason: fmt.Sprintf(reason, args...)}
	}
	var applicable []*match.Rule
	for _, r := range rules {
		if r != nil && (len(r.Channels) == 0 || anyFold(r.Channels, channel)) {
			applicable = append(applicable, r)
		}
	}
	switch {
	case len(applicable) == 0:
		return star("no rule reads this channel")
	case channel == "":
		return star("the source names no channel")
	case !xmlText(channel):
		return star("the channel name %q cannot be written in a query", channel)
	case strings.EqualFold(channel, forwardedEvents):
		// Forwarded events keep the channel they were logged in, so any
		// rule may match them; and Windows Server 2025's Event Log
		// service can crash on filtered reads of forwarded events (Beats
		// PR #44042).
		return star("forwarded events are read unfiltered")
	}

	var terms []term
	for _, r := range applicable {
		t, never := termOf(r)
		if never {
			continue
		}
		if t.any() {
			if len(r.Providers) > 0 {
				return star("rule %q matches any event ID and level (provider names are checked in Go, not in the query)", r.Name)
			}
			return star("rule %q matches any event ID and level", r.Name)
		}
		terms = append(terms, t)
	}
	if len(terms) == 0 {
		return star("no rule for this channel can match an event")
	}
	terms = simplify(terms)
	if slices.ContainsFunc(terms, term.any) {
		// Merged, the rules' event IDs cover every ID.
		return star("the rules together match any event ID and level")
	}
	if n := clauses(terms); n > MaxClauses {
		return star("%d clauses, more than the %d Windows accepts", n, MaxClauses)
	}
	return Prefilter{Query: queryList(channel, xpath(terms)), Clauses: clauses(terms)}
}

// term is one rule's event ID and level conditions, both of which must
// hold. A nil list is no condition.
type term struct {
	ids    []match.IDRange // sorted, disjoint, not adjacent
	levels []uint8         // sorted, unique
}

func (t term) any() bool { return t.ids == nil && t.levels == nil }

// termOf returns r's term. never is set when r cannot match any event (its
// ID ranges are all empty).
func termOf(r *match.Rule) (t term, never bool) {
	if len(r.IDs) > 0 {
		var ids []match.IDRange
		for _, x := range r.IDs {
			if x.Lo <= x.Hi {
				ids = append(ids, x)
			}
		}
		if len(ids) == 0 {
			return term{}, true
		}
		t.ids = normalizeRanges(ids)
	}
	if len(r.Levels) > 0 {
		t.levels = slices.Clone(r.Levels)
		for _, l := range r.Levels {
			// The matcher reads LogAlways (0) as information (4).
			switch l {
			case 0:
				t.levels = append(t.levels, 4)
			case 4:
				t.levels = append(t.levels, 0)
			}
		}
		slices.Sort(t.levels)
		t.levels = slices.Compact(t.levels)
	}
	return t, false
}

// normalizeRanges returns rs (at least one) sorted, with those that
// overlap or touch merged; nil when they cover every ID. It overwrites
// rs.
func normalizeRanges(rs []match.IDRange) []match.IDRange {
	slices.SortFunc(rs, func(x, y match.IDRange) int {
		if c := cmp.Compare(x.Lo, y.Lo); c != 0 {
			return c
		}
		return cmp.Compare(x.Hi, y.Hi)
	})
	out := rs[:1]
	for _, r := range rs[1:] {
		last := &out[len(out)-1]
		if last.Hi == math.MaxUint32 || r.Lo <= last.Hi+1 {
			last.Hi = max(last.Hi, r.Hi)
			continue
		}
		out = append(out, r)
	}
	if len(out) == 1 && out[0] == (match.IDRange{Lo: 0, Hi: math.MaxUint32}) {
		return nil
	}
	return out
}

// simplify merges terms with the same levels (the union of their IDs) or
// the same IDs (the union of their levels), which admits exactly the same
// events, drops terms another covers, and sorts them, until nothing
// changes.
func simplify(terms []term) []term {
	for {
		n := len(terms)
		terms = mergeOn(terms, true)
		terms = mergeOn(terms, false)
		terms = dropCovered(terms)
		if len(terms) == n {
			return terms
		}
	}
}

// mergeOn merges the terms with the same levels, uniting their IDs (ids
// set), or with the same IDs, uniting their levels.
func mergeOn(terms []term, ids bool) []term {
	sortTerms(terms)
	at := map[string]int{}
	var out []term
	for _, t := range terms {
		k := t.idsKey()
		if ids {
			k = t.levelsKey()
		}
		i, ok := at[k]
		if !ok {
			at[k] = len(out)
			out = append(out, t)
			continue
		}
		u := &out[i]
		if ids {
			if u.ids != nil && t.ids != nil {
				u.ids = normalizeRanges(slices.Concat(u.ids, t.ids))
			} else {
				u.ids = nil
			}
		} else {
			if u.levels != nil && t.levels != nil {
				u.levels = slices.Concat(u.levels, t.levels)
				slices.Sort(u.levels)
				u.levels = slices.Compact(u.levels)
			} else {
				u.levels = nil
			}
		}
	}
	return out
}

// dropCovered drops the terms that admit no event another term does not,
// and sorts the rest.
func dropCovered(terms []term) []term {
	sortTerms(terms)
	terms = slices.CompactFunc(terms, func(a, b term) bool { return a.key() == b.key() })
	var out []term
	for i, t := range terms {
		covered := false
		for j, u := range terms {
			if i != j && u.covers(t) {
				covered = true
				break
			}
		}
		if !covered {
			out = append(out, t)
		}
	}
	return out
}

func sortTerms(terms []term) {
	slices.SortFunc(terms, func(a, b term) int { return strings.Compare(a.key(), b.key()) })
}

// covers reports whether every event t admits, u admits.
func (u term) covers(t term) bool {
	if u.levels != nil && (t.levels == nil || slices.ContainsFunc(t.levels, func(l uint8) bool { return !slices.Contains(u.levels, l) })) {
		return false
	}
	if u.ids == nil {
		return true
	}
	if t.ids == nil {
		return false
	}
	for _, r := range t.ids {
		// u's ranges are disjoint and not adjacent, so one holds r whole.
		if !slices.ContainsFunc(u.ids, func(x match.IDRange) bool { return x.Lo <= r.Lo && r.Hi <= x.Hi }) {
			return false
		}
	}
	return true
}

// key identifies t's conditions; idsKey and levelsKey one of them each.
func (t term) key() string { return t.idsKey() + "|" + t.levelsKey() }

func (t term) idsKey() string {
	if t.ids == nil {
		return "*"
	}
	var b strings.Builder
	for _, r := range t.ids {
		fmt.Fprintf(&b, "%010d-%010d,", r.Lo, r.Hi)
	}
	return b.String()
}

func (t term) levelsKey() string {
	if t.levels == nil {
		return "*"
	}
	var b strings.Builder
	for _, l := range t.levels {
		fmt.Fprintf(&b, "%03d,", l)
	}
	return b.String()
}

// clauses counts the comparisons of terms: one per level and single ID
// or one-sided range, two per range.
func clauses(terms []term) int {
	n := 0
	for _, t := range terms {
		n += len(t.levels)
		for _, r := range t.ids {
			n += len(rangeClauses(r))
		}
	}
	return n
}

// rangeClauses writes an ID range as comparisons.
func rangeClauses(r match.IDRange) []string {
	lo, hi := strconv.FormatUint(uint64(r.Lo), 10), strconv.FormatUint(uint64(r.Hi), 10)
	switch {
	case r.Lo == r.Hi:
		return []string{"EventID=" + lo}
	case r.Lo == 0:
		return []string{"EventID<=" + hi}
	case r.Hi == math.MaxUint32:
		return []string{"EventID>=" + lo}
	}
	return []string{"EventID>=" + lo, "EventID<=" + hi}
}

// xpath writes the disjunction of terms as an XPath on the event's System
// element.
func xpath(terms []term) string {
	alts := make([]string, len(terms))
	for i, t := range terms {
		alts[i] = t.xpath(len(terms) > 1)
	}
	return "*[System[" + strings.Join(alts, " or ") + "]]"
}

// xpath writes t's conditions, in parentheses when paren is set and
// there are several.
func (t term) xpath(paren bool) string {
	var parts []string
	if t.ids != nil {
		var alts []string
		for _, r := range t.ids {
			c := rangeClauses(r)
			if len(c) == 1 {
				alts = append(alts, c[0])
			} else {
				alts = append(alts, "("+strings.Join(c, " and ")+")")
			}
		}
		parts = append(parts, anyOf(alts))
	}
	if t.levels != nil {
		alts := make([]string, len(t.levels))
		for i, l := range t.levels {
			alts[i] = "Level=" + strconv.Itoa(int(l))
		}
		parts = append(parts, anyOf(alts))
	}
	s := strings.Join(parts, " and ")
	if paren && len(parts) > 1 {
		s = "(" + s + ")"
	}
	return s
}

// anyOf joins alternatives with or, in parentheses when there are several.
func anyOf(alts []string) string {
	if len(alts) == 1 {
		return alts[0]
	}
	return "(" + strings.Join(alts, " or ") + ")"
}

// xmlText reports whether s is valid UTF-8 made of characters XML 1.0
// allows.
func xmlText(s string) bool {
	for i, r := range s {
		if r == utf8.RuneError {
			if _, n := utf8.DecodeRuneInString(s[i:]); n == 1 {
				return false
			}
		}
		if !(r == 0x9 || r == 0xA || r == 0xD || r >= 0x20 && r <= 0xD7FF || r >= 0xE000 && r <= 0xFFFD || r >= 0x10000 && r <= 0x10FFFF) {
			return false
		}
	}
	return true
}

// queryList wraps xpath in the structured query Windows takes for
// channel.
func queryList(channel, xpath string) string {
	path := escapeXML(channel, true)
	return `<QueryList><Query Id="0" Path="` + path + `"><Select Path="` + path + `">` + escapeXML(xpath, false) + `</Select></Query></QueryList>`
}

// escapeXML escapes s for element text or, with attr, a double-quoted
// attribute value (where whitespace other than spaces must be escaped to
// survive attribute normalization).
func escapeXML(s string, attr bool) string {
	var b strings.Builder
	for _, r := range s {
		switch {
		case r == '&':
			b.WriteString("&amp;")
		case r == '<':
			b.WriteString("&lt;")
		case r == '>':
			b.WriteString("&gt;")
		case r == '\r':
			b.WriteString("&#xD;")
		case attr && r == '"':
			b.WriteString("&quot;")
		case attr && r == '\t':
			b.WriteString("&#x9;")
		case attr && r == '\n':
			b.WriteString("&#xA;")
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}

func anyFold(list []string, s string) bool {
	return slices.ContainsFunc(list, func(x string) bool { return strings.EqualFold(x, s) })
}
