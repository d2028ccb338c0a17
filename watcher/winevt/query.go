package winevt

import (
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
	// Reason says why the rules gave no filter: why Query is "*" ("23
	// clauses, more than the 20 Windows accepts"; `rule "x" matches any
	// provider, event ID and level`), or why it keeps only the source's
	// providers. It is empty when Query holds the rules' conditions, and
	// when no rule reads the channel it is "no rule reads this channel".
	Reason string
}

// forwardedEvents is the channel Windows Event Forwarding writes to.
const forwardedEvents = "ForwardedEvents"

// BuildPrefilter builds the query a source reading channel subscribes
// with: an XPath on the System fields that lets through every event some
// rule for the channel could match, so that Windows renders fewer events.
// Rules are still evaluated on every event delivered: the query is only a
// pre-filter, never narrower than the rules, and "*" (or only the
// source's providers) whenever it would not stay small.
//
// A rule applies when its Channels are empty or name the channel (any
// case). Each applicable rule contributes the conjunction of its
// provider, event ID and level conditions (its field and code conditions
// only narrow further, so they are left to Go); the query is their
// disjunction, ANDed with the source's providers when it has any (Go
// checks those too, so that clause loses nothing). Level 4 (information)
// also admits 0 (LogAlways), as the matcher does. Rules with the same
// conditions in all but one of provider, ID and level are merged, and a
// rule that another covers is dropped, so the output is deterministic and
// small.
//
// Provider names are compared as Windows compares them, which logmedic
// assumes ignores case as the matcher does: each name is written as
// spelled in the rule, every spelling kept.
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

	src := sourceProviders(providers)
	q := query{src: src}
	for _, r := range applicable {
		t, never, bad := termOf(r)
		if never {
			continue
		}
		if t.any() {
			why := fmt.Sprintf("rule %q matches any provider, event ID and level", r.Name)
			if bad != "" {
				why = fmt.Sprintf("rule %q matches any event ID and level, and its provider %q cannot be written in a query", r.Name, bad)
			}
			return q.sourceOnly(channel, why)
		}
		q.terms = append(q.terms, t)
	}
	if len(q.terms) == 0 {
		return star("no rule for this channel can match an event")
	}
	q.terms = simplify(q.terms)
	if slices.ContainsFunc(q.terms, term.any) {
		// Merged, the rules' event IDs cover every ID.
		return q.sourceOnly(channel, "the rules together match any provider, event ID and level")
	}
	if n := q.clauses(); n > MaxClauses {
		return q.sourceOnly(channel, fmt.Sprintf("%d clauses, more than the %d Windows accepts", n, MaxClauses))
	}
	if q.srcImplied() {
		q.src = nil
	}
	return Prefilter{Query: queryList(channel, q.xpath()), Clauses: q.clauses()}
}

// srcImplied reports whether every term names only providers of the
// source's: the source's clause then adds nothing.
func (q query) srcImplied() bool {
	if len(q.src) == 0 {
		return false
	}
	for _, t := range q.terms {
		if len(t.providers) == 0 {
			return false
		}
		for _, p := range t.providers {
			if !anyFold(q.src, p) {
				return false
			}
		}
	}
	return true
}

// sourceOnly is the pre-filter when the rules give none: the source's
// providers when it has any, else "*".
func (q query) sourceOnly(channel, why string) Prefilter {
	if len(q.src) == 0 || len(q.src) > MaxClauses {
		return Prefilter{Query: "*", Reason: why}
	}
	only := query{src: q.src}
	return Prefilter{
		Query:   queryList(channel, only.xpath()),
		Clauses: only.clauses(),
		Reason:  why + "; the query keeps only the source's providers",
	}
}

// query is a pre-filter before it is written: the source's providers
// (none: any) ANDed with the disjunction of terms (none: true).
type query struct {
	src   []string
	terms []term
}

// term is one rule's System conditions, all of which must hold. A nil
// list is no condition.
type term struct {
	providers []string        // sorted, unique
	ids       []match.IDRange // sorted, disjoint, not adjacent
	levels    []uint8         // sorted, unique
}

func (t term) any() bool { return t.providers == nil && t.ids == nil && t.levels == nil }

// termOf returns r's term. never is set when r cannot match any event (its
// ID ranges are all empty). A provider that cannot be written in XPath
// drops the rule's provider condition (the term then admits more); bad
// names it.
func termOf(r *match.Rule) (t term, never bool, bad string) {
	if len(r.Providers) > 0 {
		t.providers = slices.Clone(r.Providers)
		for _, p := range t.providers {
			if _, ok := xpathString(p); !ok {
				t.providers, bad = nil, p
				break
			}
		}
		if t.providers != nil {
			slices.Sort(t.providers)
			t.providers = slices.Compact(t.providers)
		}
	}
	if len(r.IDs) > 0 {
		var ids []match.IDRange
		for _, x := range r.IDs {
			if x.Lo <= x.Hi {
				ids = append(ids, x)
			}
		}
		if len(ids) == 0 {
			return term{}, true, ""
		}
		t.ids = normalizeRanges(ids)
		if len(t.ids) == 1 && t.ids[0] == (match.IDRange{Lo: 0, Hi: math.MaxUint32}) {
			t.ids = nil
		}
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
	return t, false, bad
}

// sourceProviders returns the source's providers that can be written in
// XPath, sorted and unique; none when one cannot (Go checks them anyway).
func sourceProviders(providers []string) []string {
	src := slices.Clone(providers)
	for _, p := range src {
		if _, ok := xpathString(p); !ok {
			return nil
		}
	}
	slices.Sort(src)
	return slices.Compact(src)
}

// normalizeRanges sorts ranges and merges those that overlap or touch.
func normalizeRanges(rs []match.IDRange) []match.IDRange {
	rs = slices.Clone(rs)
	slices.SortFunc(rs, func(a, b match.IDRange) int {
		if a.Lo != b.Lo {
			return cmpUint32(a.Lo, b.Lo)
		}
		return cmpUint32(a.Hi, b.Hi)
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
	return out
}

func cmpUint32(a, b uint32) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// simplify merges terms that differ in one condition only (the union of
// that condition, which admits exactly the same events), drops terms
// another covers, and sorts them, until nothing changes.
func simplify(terms []term) []term {
	for {
		n := len(terms)
		for dim := range 3 {
			terms = mergeOn(terms, dim)
		}
		terms = dropCovered(terms)
		if len(terms) == n {
			return terms
		}
	}
}

// mergeOn merges the terms equal in every condition but dim.
func mergeOn(terms []term, dim int) []term {
	sortTerms(terms)
	at := map[string]int{}
	var out []term
	for _, t := range terms {
		k := t.keyWithout(dim)
		i, ok := at[k]
		if !ok {
			at[k] = len(out)
			out = append(out, t)
			continue
		}
		u := &out[i]
		switch dim {
		case 0:
			u.providers = unionStrings(u.providers, t.providers)
		case 1:
			u.ids = unionRanges(u.ids, t.ids)
		case 2:
			u.levels = unionLevels(u.levels, t.levels)
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
	if u.providers != nil && (t.providers == nil || !subset(t.providers, u.providers)) {
		return false
	}
	if u.levels != nil && (t.levels == nil || !subset(t.levels, u.levels)) {
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

func subset[T comparable](small, big []T) bool {
	for _, x := range small {
		if !slices.Contains(big, x) {
			return false
		}
	}
	return true
}

func unionStrings(a, b []string) []string {
	if a == nil || b == nil {
		return nil
	}
	u := append(slices.Clone(a), b...)
	slices.Sort(u)
	return slices.Compact(u)
}

func unionLevels(a, b []uint8) []uint8 {
	if a == nil || b == nil {
		return nil
	}
	u := append(slices.Clone(a), b...)
	slices.Sort(u)
	return slices.Compact(u)
}

func unionRanges(a, b []match.IDRange) []match.IDRange {
	if a == nil || b == nil {
		return nil
	}
	u := normalizeRanges(append(slices.Clone(a), b...))
	if len(u) == 1 && u[0] == (match.IDRange{Lo: 0, Hi: math.MaxUint32}) {
		return nil
	}
	return u
}

// key identifies t's conditions; keyWithout leaves one out (0 providers,
// 1 IDs, 2 levels).
func (t term) key() string { return t.keyWithout(-1) }

func (t term) keyWithout(dim int) string {
	var b strings.Builder
	if dim != 0 {
		if t.providers == nil {
			b.WriteString("*")
		}
		for _, p := range t.providers {
			b.WriteString(strconv.Quote(p))
		}
	}
	b.WriteByte('|')
	if dim != 1 {
		if t.ids == nil {
			b.WriteString("*")
		}
		for _, r := range t.ids {
			fmt.Fprintf(&b, "%010d-%010d,", r.Lo, r.Hi)
		}
	}
	b.WriteByte('|')
	if dim != 2 {
		if t.levels == nil {
			b.WriteString("*")
		}
		for _, l := range t.levels {
			fmt.Fprintf(&b, "%03d,", l)
		}
	}
	return b.String()
}

// clauses counts q's comparisons: one per provider, level and single ID
// or one-sided range, two per range.
func (q query) clauses() int {
	n := len(q.src)
	for _, t := range q.terms {
		n += len(t.providers) + len(t.levels)
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

// xpath writes q as an XPath on the event's System element.
func (q query) xpath() string {
	var parts []string
	if len(q.src) > 0 {
		parts = append(parts, providerTest(q.src))
	}
	if len(q.terms) > 0 {
		alts := make([]string, len(q.terms))
		for i, t := range q.terms {
			alts[i] = t.xpath(len(q.terms) > 1)
		}
		body := strings.Join(alts, " or ")
		if len(alts) > 1 && len(parts) > 0 {
			body = "(" + body + ")"
		}
		parts = append(parts, body)
	}
	return "*[System[" + strings.Join(parts, " and ") + "]]"
}

// xpath writes t's conditions, in parentheses when paren is set and
// there are several.
func (t term) xpath(paren bool) string {
	var parts []string
	if t.providers != nil {
		parts = append(parts, providerTest(t.providers))
	}
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

// providerTest tests the provider's name against names, which xpathString
// accepts.
func providerTest(names []string) string {
	alts := make([]string, len(names))
	for i, n := range names {
		lit, _ := xpathString(n)
		alts[i] = "@Name=" + lit
	}
	return "Provider[" + strings.Join(alts, " or ") + "]"
}

// xpathString writes s as an XPath string literal: in single quotes, or
// double quotes when s holds a single quote. XPath 1.0 has no escapes, so
// s holding both cannot be written; nor can s with characters XML cannot
// carry.
func xpathString(s string) (string, bool) {
	if !xmlText(s) {
		return "", false
	}
	switch {
	case !strings.Contains(s, "'"):
		return "'" + s + "'", true
	case !strings.Contains(s, `"`):
		return `"` + s + `"`, true
	}
	return "", false
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
