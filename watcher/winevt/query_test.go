package winevt

import (
	"encoding/xml"
	"fmt"
	"math"
	"math/rand/v2"
	"strconv"
	"strings"
	"testing"

	"github.com/logmedic/logmedic/watcher"
	"github.com/logmedic/logmedic/watcher/match"
)

func ids(pairs ...uint32) []match.IDRange {
	var rs []match.IDRange
	for i := 0; i < len(pairs); i += 2 {
		rs = append(rs, match.IDRange{Lo: pairs[i], Hi: pairs[i+1]})
	}
	return rs
}

func one(id ...uint32) []match.IDRange {
	var rs []match.IDRange
	for _, x := range id {
		rs = append(rs, match.IDRange{Lo: x, Hi: x})
	}
	return rs
}

// ql is the QueryList BuildPrefilter writes for xpath on Application.
func ql(xpath string) string {
	return `<QueryList><Query Id="0" Path="Application"><Select Path="Application">` + xpath + `</Select></Query></QueryList>`
}

func TestBuildPrefilter(t *testing.T) {
	odd := func(n int) []match.IDRange { // n IDs that no range merges
		var rs []match.IDRange
		for i := range n {
			rs = append(rs, match.IDRange{Lo: uint32(2*i + 1), Hi: uint32(2*i + 1)})
		}
		return rs
	}
	tests := []struct {
		name      string
		channel   string
		providers []string
		rules     []*match.Rule
		query     string
		clauses   int
		reason    string
	}{
		{
			name:   "no rules",
			reason: "no rule reads this channel",
		},
		{
			name:   "rule on another channel ignored",
			rules:  []*match.Rule{{Name: "sys", Channels: []string{"System"}, IDs: one(7036)}},
			reason: "no rule reads this channel",
		},
		{
			name:    "rule naming the channel in another case applies",
			rules:   []*match.Rule{{Name: "app", Channels: []string{"APPLICATION", "System"}, IDs: one(1000)}},
			query:   ql(`*[System[EventID=1000]]`),
			clauses: 1,
		},
		{
			name: "rules on other channels do not widen the query",
			rules: []*match.Rule{
				{Name: "app", Channels: []string{"Application"}, IDs: one(1000)},
				{Name: "sys", Channels: []string{"System"}},
			},
			query:   ql(`*[System[EventID=1000]]`),
			clauses: 1,
		},
		{
			name:    "a rule's provider is left to Go",
			rules:   []*match.Rule{{Name: "r", Providers: []string{"A"}, IDs: one(5)}},
			query:   ql(`*[System[EventID=5]]`),
			clauses: 1,
		},
		{
			name: "a provider spelled in another case than the source's is left to Go",
			// The review finding: were @Name in the query and compared
			// case-sensitively, Windows would drop every
			// Microsoft-Windows-Backup event 517.
			providers: []string{"Microsoft-Windows-Backup"},
			rules: []*match.Rule{
				{Name: "r1", Providers: []string{"microsoft-windows-backup"}, IDs: one(517)},
				{Name: "r2", Providers: []string{"MICROSOFT-WINDOWS-BACKUP"}, IDs: one(5)},
			},
			query:   ql(`*[System[(EventID=5 or EventID=517)]]`),
			clauses: 2,
		},
		{
			name:    "IDs and a range",
			rules:   []*match.Rule{{Name: "r", Providers: []string{"A"}, IDs: ids(8, 10, 5, 5)}},
			query:   ql(`*[System[(EventID=5 or (EventID&gt;=8 and EventID&lt;=10))]]`),
			clauses: 3,
		},
		{
			name: "rules are alternatives",
			rules: []*match.Rule{
				{Name: "b", IDs: one(5), Levels: []uint8{3}},
				{Name: "a", IDs: one(1), Levels: []uint8{2}},
			},
			query:   ql(`*[System[(EventID=1 and Level=2) or (EventID=5 and Level=3)]]`),
			clauses: 4,
		},
		{
			name: "same levels, IDs merged",
			rules: []*match.Rule{
				{Name: "r1", Providers: []string{"A"}, IDs: one(7), Levels: []uint8{2}},
				{Name: "r2", Providers: []string{"B"}, IDs: one(5), Levels: []uint8{2}},
			},
			query:   ql(`*[System[(EventID=5 or EventID=7) and Level=2]]`),
			clauses: 3,
		},
		{
			name: "same IDs, levels merged",
			rules: []*match.Rule{
				{Name: "r1", IDs: one(5), Levels: []uint8{3}},
				{Name: "r2", IDs: one(5), Levels: []uint8{2}},
			},
			query:   ql(`*[System[EventID=5 and (Level=2 or Level=3)]]`),
			clauses: 3,
		},
		{
			name: "rules differing only in provider deduplicated",
			rules: []*match.Rule{
				{Name: "r1", Providers: []string{"A", "A"}, IDs: one(5, 5), Levels: []uint8{2, 2}},
				{Name: "r2", Providers: []string{"B"}, IDs: one(5), Levels: []uint8{2}},
			},
			query:   ql(`*[System[EventID=5 and Level=2]]`),
			clauses: 2,
		},
		{
			name: "a rule covered by another dropped",
			rules: []*match.Rule{
				{Name: "narrow", IDs: one(5), Levels: []uint8{2}},
				{Name: "wide", IDs: ids(1, 10)},
			},
			query:   ql(`*[System[(EventID&gt;=1 and EventID&lt;=10)]]`),
			clauses: 2,
		},
		{
			name: "merges cascade",
			rules: []*match.Rule{
				{Name: "r1", IDs: one(1), Levels: []uint8{2}},
				{Name: "r2", IDs: one(2), Levels: []uint8{2}},
				{Name: "r3", IDs: one(1, 2), Levels: []uint8{3}},
			},
			query:   ql(`*[System[(EventID&gt;=1 and EventID&lt;=2) and (Level=2 or Level=3)]]`),
			clauses: 4,
		},
		{
			name:    "level 4 admits 0",
			rules:   []*match.Rule{{Name: "info", Providers: []string{"A"}, Levels: []uint8{4}}},
			query:   ql(`*[System[(Level=0 or Level=4)]]`),
			clauses: 2,
		},
		{
			name:    "level 0 admits 4",
			rules:   []*match.Rule{{Name: "always", Levels: []uint8{0}}},
			query:   ql(`*[System[(Level=0 or Level=4)]]`),
			clauses: 2,
		},
		{
			name:    "levels",
			rules:   []*match.Rule{{Name: "bad", Levels: []uint8{3, 1, 2}}},
			query:   ql(`*[System[(Level=1 or Level=2 or Level=3)]]`),
			clauses: 3,
		},
		{
			name: "a rule with only a provider reads everything",
			rules: []*match.Rule{
				{Name: "narrow", IDs: one(5)},
				{Name: "backup", Providers: []string{"Microsoft-Windows-Backup"}, Codes: []uint32{0x8078015B}},
			},
			reason: `rule "backup" matches any event ID and level (provider names are checked in Go, not in the query)`,
		},
		{
			name: "a rule with only field conditions reads everything",
			rules: []*match.Rule{
				{Name: "narrow", Providers: []string{"A"}, IDs: one(5)},
				{Name: "fields only", Fields: []match.FieldCond{{Field: "param1", Ops: []match.Op{{Kind: match.Equals, Str: "x"}}}}},
			},
			reason: `rule "fields only" matches any event ID and level`,
		},
		{
			name: "a rule with only codes reads everything",
			rules: []*match.Rule{
				{Name: "codes", Codes: []uint32{0x80070005}},
			},
			reason: `rule "codes" matches any event ID and level`,
		},
		{
			name:      "source providers are left to Go",
			providers: []string{"Y", "X", "Y"},
			rules: []*match.Rule{
				{Name: "r1", IDs: one(5)},
				{Name: "r2", IDs: one(7), Levels: []uint8{2}},
			},
			query:   ql(`*[System[EventID=5 or (EventID=7 and Level=2)]]`),
			clauses: 3,
		},
		{
			name:      "source providers and a rule matching anything",
			providers: []string{"X"},
			rules:     []*match.Rule{{Name: "r", IDs: one(5)}, {Name: "all"}},
			reason:    `rule "all" matches any event ID and level`,
		},
		{
			name:    "exactly 20 clauses",
			rules:   []*match.Rule{{Name: "many", IDs: odd(20)}},
			query:   ql(`*[System[(` + orIDs(20) + `)]]`),
			clauses: 20,
		},
		{
			name:   "21 clauses",
			rules:  []*match.Rule{{Name: "many", IDs: odd(21)}},
			reason: "21 clauses, more than the 20 Windows accepts",
		},
		{
			name:      "source providers add no clauses",
			providers: []string{"X", "Y"},
			rules:     []*match.Rule{{Name: "many", Providers: []string{"X"}, IDs: odd(20)}},
			query:     ql(`*[System[(` + orIDs(20) + `)]]`),
			clauses:   20,
		},
		{
			name: "20 with ranges counted twice",
			rules: []*match.Rule{
				{Name: "ranges", IDs: ids(1, 2, 4, 5, 7, 8, 10, 11, 13, 14, 16, 17, 19, 20, 22, 23, 25, 26, 28, 29)},
			},
			clauses: 20,
		},
		{
			name: "21 with ranges counted twice",
			rules: []*match.Rule{
				{Name: "ranges", IDs: ids(1, 2, 4, 5, 7, 8, 10, 11, 13, 14, 16, 17, 19, 20, 22, 23, 25, 26, 28, 29, 31, 31)},
			},
			reason: "21 clauses, more than the 20 Windows accepts",
		},
		{
			name:    "one-sided ranges",
			rules:   []*match.Rule{{Name: "r", IDs: ids(0, 10, 100, math.MaxUint32)}},
			query:   ql(`*[System[(EventID&lt;=10 or EventID&gt;=100)]]`),
			clauses: 2,
		},
		{
			name:    "the full range is no condition",
			rules:   []*match.Rule{{Name: "r", IDs: ids(0, 10, 11, math.MaxUint32), Levels: []uint8{2}}},
			query:   ql(`*[System[Level=2]]`),
			clauses: 1,
		},
		{
			name:    "adjacent and overlapping ranges merged",
			rules:   []*match.Rule{{Name: "r", IDs: ids(4, 6, 1, 3, 5, 9, 20, 20)}},
			query:   ql(`*[System[((EventID&gt;=1 and EventID&lt;=9) or EventID=20)]]`),
			clauses: 3,
		},
		{
			name: "an inverted range never matches",
			rules: []*match.Rule{
				{Name: "never", IDs: ids(9, 3)},
				{Name: "r", IDs: ids(9, 3, 4, 4)},
			},
			query:   ql(`*[System[EventID=4]]`),
			clauses: 1,
		},
		{
			name: "ranges that together cover every ID",
			rules: []*match.Rule{
				{Name: "low", IDs: ids(0, 10)},
				{Name: "high", IDs: ids(11, math.MaxUint32)},
			},
			reason: "the rules together match any event ID and level",
		},
		{
			name:      "ranges that together cover every ID, with source providers",
			providers: []string{"X"},
			rules: []*match.Rule{
				{Name: "low", IDs: ids(0, 10)},
				{Name: "high", IDs: ids(11, math.MaxUint32)},
			},
			reason: "the rules together match any event ID and level",
		},
		{
			name:   "no rule can match",
			rules:  []*match.Rule{{Name: "never", IDs: ids(9, 3)}},
			reason: "no rule for this channel can match an event",
		},
		{
			name:      "provider names XPath cannot hold do not matter",
			providers: []string{`it's "x"`, "Bad\x01"},
			rules:     []*match.Rule{{Name: "r", Providers: []string{`it's "x"`, "Bad\x01", "Tom & Jerry <Co>"}, IDs: one(5)}},
			query:     ql(`*[System[EventID=5]]`),
			clauses:   1,
		},
		{
			name:    "channel escaped",
			channel: `Odd "Log" & <Co>`,
			rules:   []*match.Rule{{Name: "r", IDs: one(5)}},
			query:   `<QueryList><Query Id="0" Path="Odd &quot;Log&quot; &amp; &lt;Co&gt;"><Select Path="Odd &quot;Log&quot; &amp; &lt;Co&gt;">*[System[EventID=5]]</Select></Query></QueryList>`,
			clauses: 1,
		},
		{
			name:    "control character in the channel",
			channel: "Bad\x01Log",
			rules:   []*match.Rule{{Name: "r", IDs: one(5)}},
			reason:  `the channel name "Bad\x01Log" cannot be written in a query`,
		},
		{
			name:    "forwarded events",
			channel: "forwardedevents",
			rules:   []*match.Rule{{Name: "r", IDs: one(5)}},
			reason:  "forwarded events are read unfiltered",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ch := tc.channel
			if ch == "" {
				ch = "Application"
			}
			p := BuildPrefilter(ch, tc.providers, tc.rules)
			want := tc.query
			if want == "" && tc.clauses == 0 {
				want = "*"
			}
			if want != "" && p.Query != want {
				t.Errorf("query\n got %s\nwant %s", p.Query, want)
			}
			if p.Clauses != tc.clauses {
				t.Errorf("clauses = %d, want %d", p.Clauses, tc.clauses)
			}
			if p.Reason != tc.reason {
				t.Errorf("reason = %q, want %q", p.Reason, tc.reason)
			}
			checkPrefilter(t, ch, p)
			// Rule order does not matter.
			rev := make([]*match.Rule, len(tc.rules))
			for i, r := range tc.rules {
				rev[len(rev)-1-i] = r
			}
			if q := BuildPrefilter(ch, tc.providers, rev); q.Query != p.Query || q.Clauses != p.Clauses {
				t.Errorf("rules reversed give\n%s", q.Query)
			}
		})
	}
}

func orIDs(n int) string {
	var s []string
	for i := range n {
		s = append(s, "EventID="+strconv.Itoa(2*i+1))
	}
	return strings.Join(s, " or ")
}

// checkPrefilter checks that p is "*" with a reason, or a well-formed
// QueryList on channel without one whose XPath parses (so tests only
// event IDs and levels, never providers), has p.Clauses comparisons and
// at most MaxClauses, and returns the parsed XPath (nil for "*").
func checkPrefilter(t *testing.T, channel string, p Prefilter) xexpr {
	t.Helper()
	if p.Query == "*" {
		if p.Clauses != 0 || p.Reason == "" {
			t.Errorf("query * with %d clauses, reason %q", p.Clauses, p.Reason)
		}
		return nil
	}
	if p.Reason != "" {
		t.Errorf("query %s with reason %q", p.Query, p.Reason)
	}
	var ql struct {
		XMLName xml.Name `xml:"QueryList"`
		Query   []struct {
			ID     string `xml:"Id,attr"`
			Path   string `xml:"Path,attr"`
			Select []struct {
				Path  string `xml:"Path,attr"`
				XPath string `xml:",chardata"`
			}
		}
	}
	d := xml.NewDecoder(strings.NewReader(p.Query))
	d.Strict = true
	if err := d.Decode(&ql); err != nil {
		t.Fatalf("query is not well-formed XML: %v\n%s", err, p.Query)
	}
	if len(ql.Query) != 1 || len(ql.Query[0].Select) != 1 {
		t.Fatalf("want one Query with one Select:\n%s", p.Query)
	}
	q := ql.Query[0]
	if q.ID != "0" || q.Path != channel || q.Select[0].Path != channel {
		t.Errorf("Query Id %q Path %q, Select Path %q; want 0, %q, %q", q.ID, q.Path, q.Select[0].Path, channel, channel)
	}
	e, n, err := parseXPath(q.Select[0].XPath)
	if err != nil {
		t.Fatalf("XPath %s: %v", q.Select[0].XPath, err)
	}
	if n != p.Clauses {
		t.Errorf("XPath has %d comparisons, Clauses says %d", n, p.Clauses)
	}
	if n == 0 || n > MaxClauses {
		t.Errorf("%d clauses", n)
	}
	return e
}

// A tiny evaluator of the XPath BuildPrefilter writes, on an event's
// System header. It parses what Windows would; it is not an XPath engine.
// It knows only comparisons of EventID and Level: a query testing
// anything else, a provider in particular, does not parse.

type header struct {
	id    uint32
	level uint8
}

type xexpr interface {
	eval(h header) bool
}

type (
	xor      []xexpr
	xand     []xexpr
	xcompare struct {
		field string // EventID or Level
		op    string // = <= >=
		n     uint64
	}
)

func (e xor) eval(h header) bool {
	for _, x := range e {
		if x.eval(h) {
			return true
		}
	}
	return false
}

func (e xand) eval(h header) bool {
	for _, x := range e {
		if !x.eval(h) {
			return false
		}
	}
	return true
}

func (e xcompare) eval(h header) bool {
	v := uint64(h.id)
	if e.field == "Level" {
		v = uint64(h.level)
	}
	switch e.op {
	case "=":
		return v == e.n
	case "<=":
		return v <= e.n
	case ">=":
		return v >= e.n
	}
	panic(e.op)
}

type xparser struct {
	toks []string
	n    int // comparisons
}

// parseXPath parses *[System[expr]] and counts its comparisons.
func parseXPath(s string) (xexpr, int, error) {
	toks, err := tokenize(s)
	if err != nil {
		return nil, 0, err
	}
	p := &xparser{toks: toks}
	for _, want := range []string{"*", "[", "System", "["} {
		if err := p.expect(want); err != nil {
			return nil, 0, err
		}
	}
	e, err := p.or()
	if err != nil {
		return nil, 0, err
	}
	for _, want := range []string{"]", "]"} {
		if err := p.expect(want); err != nil {
			return nil, 0, err
		}
	}
	if len(p.toks) > 0 {
		return nil, 0, fmt.Errorf("trailing %q", p.toks)
	}
	return e, p.n, nil
}

func (p *xparser) peek() string {
	if len(p.toks) == 0 {
		return ""
	}
	return p.toks[0]
}

func (p *xparser) next() string {
	t := p.peek()
	if len(p.toks) > 0 {
		p.toks = p.toks[1:]
	}
	return t
}

func (p *xparser) expect(want string) error {
	if got := p.next(); got != want {
		return fmt.Errorf("got %q, want %q", got, want)
	}
	return nil
}

func (p *xparser) or() (xexpr, error) {
	var e xor
	for {
		a, err := p.and()
		if err != nil {
			return nil, err
		}
		e = append(e, a)
		if p.peek() != "or" {
			return e, nil
		}
		p.next()
	}
}

func (p *xparser) and() (xexpr, error) {
	var e xand
	for {
		a, err := p.primary()
		if err != nil {
			return nil, err
		}
		e = append(e, a)
		if p.peek() != "and" {
			return e, nil
		}
		p.next()
	}
}

func (p *xparser) primary() (xexpr, error) {
	switch t := p.next(); t {
	case "(":
		e, err := p.or()
		if err != nil {
			return nil, err
		}
		return e, p.expect(")")
	case "EventID", "Level":
		op := p.next()
		if op != "=" && op != "<=" && op != ">=" {
			return nil, fmt.Errorf("want a comparison, got %q", op)
		}
		n, err := strconv.ParseUint(p.next(), 10, 32)
		if err != nil {
			return nil, err
		}
		p.n++
		return xcompare{field: t, op: op, n: n}, nil
	default:
		return nil, fmt.Errorf("unexpected %q", t)
	}
}

func tokenize(s string) ([]string, error) {
	var toks []string
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case c == ' ':
			i++
		case strings.HasPrefix(s[i:], "<=") || strings.HasPrefix(s[i:], ">="):
			toks = append(toks, s[i:i+2])
			i += 2
		case strings.IndexByte("*[]()=", c) >= 0:
			toks = append(toks, s[i:i+1])
			i++
		case c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9':
			j := i + 1
			for j < len(s) && (s[j] >= 'A' && s[j] <= 'Z' || s[j] >= 'a' && s[j] <= 'z' || s[j] >= '0' && s[j] <= '9') {
				j++
			}
			toks = append(toks, s[i:j])
			i = j
		default:
			return nil, fmt.Errorf("unexpected %q at %d", c, i)
		}
	}
	return toks, nil
}

func TestParseXPath(t *testing.T) {
	e, n, err := parseXPath(`*[System[(EventID=5 or (EventID>=8 and EventID<=10)) and (Level=0 or Level=4) or EventID<=1]]`)
	if err != nil {
		t.Fatal(err)
	}
	if n != 6 {
		t.Errorf("%d comparisons, want 6", n)
	}
	tests := []struct {
		h    header
		want bool
	}{
		{header{5, 4}, true},
		{header{9, 0}, true},
		{header{7, 4}, false},
		{header{10, 2}, false},
		{header{1, 2}, true},
		{header{2, 2}, false},
	}
	for _, tc := range tests {
		if got := e.eval(tc.h); got != tc.want {
			t.Errorf("%+v: %v, want %v", tc.h, got, tc.want)
		}
	}
	for _, bad := range []string{
		`*[System[EventID=5]`,
		`*[System[EventID 5]]`,
		`*[System[(EventID=5]]`,
		`*[System[Provider[@Name='A']]]`, // providers are left to Go
		`*[System[Provider[@Name='A'] and EventID=5]]`,
	} {
		if _, _, err := parseXPath(bad); err == nil {
			t.Errorf("%s parsed", bad)
		}
	}
}

// TestPrefilterLosesNothing is the property the pre-filter exists under:
// every event that some rule matches in Go, and that the source's
// providers keep, passes the pre-filter. Rules and events are random over
// small domains so that they often meet. Provider names are spelled in
// random case in rules, sources and events, as the matcher allows; the
// query never tests them (checkPrefilter's parser rejects a provider
// test), so Windows' way of comparing them cannot lose an event.
func TestPrefilterLosesNothing(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	g := gen{rng: rng}
	filtered, matched := 0, 0
	for iter := range 3000 {
		channel := "Application"
		rules := g.rules(iter)
		var providers []string
		if rng.IntN(4) == 0 {
			providers = g.providers()
		}
		source := g.spell(channel)
		p := BuildPrefilter(source, providers, rules)
		e := checkPrefilter(t, source, p)
		if e != nil {
			filtered++
		}
		m := match.New(rules)
		for range 100 {
			ev := g.event(channel)
			if len(m.Match(ev, nil)) == 0 {
				continue
			}
			if len(providers) > 0 && !anyFold(providers, ev.Provider.Name) {
				continue // the source drops it whatever the query
			}
			matched++
			if e == nil {
				continue
			}
			if !e.eval(header{ev.EventID, ev.Level}) {
				t.Fatalf("event %s/%d level %d matches but the pre-filter drops it\nrules: %s\nproviders: %q\nquery: %s",
					ev.Provider.Name, ev.EventID, ev.Level, showRules(rules), providers, p.Query)
			}
		}
	}
	t.Logf("%d of 3000 rule sets filtered, %d matching events checked", filtered, matched)
	// The test means something only if it often filters and often
	// matches.
	if filtered < 1000 || matched < 10000 {
		t.Errorf("only %d of 3000 rule sets filtered, %d events matched", filtered, matched)
	}
}

type gen struct {
	rng *rand.Rand
}

var (
	providerPool = []string{"Alpha", "Beta", "Service Control Manager", "O'Brien", `Say "Hi"`, "Tom & Jerry <Co>"}
	channelPool  = []string{"Application", "System"}
)

// spell returns s in a random case.
func (g gen) spell(s string) string {
	b := []byte(s)
	for i, c := range b {
		if g.rng.IntN(2) == 0 {
			if c >= 'a' && c <= 'z' {
				b[i] = c - 'a' + 'A'
			} else if c >= 'A' && c <= 'Z' {
				b[i] = c - 'A' + 'a'
			}
		}
	}
	return string(b)
}

func (g gen) providers() []string {
	var ps []string
	for range 1 + g.rng.IntN(3) {
		ps = append(ps, g.spell(providerPool[g.rng.IntN(len(providerPool))]))
	}
	return ps
}

func (g gen) rules(iter int) []*match.Rule {
	var rules []*match.Rule
	for i := range 1 + g.rng.IntN(4) {
		r := &match.Rule{Name: fmt.Sprintf("r%d.%d", iter, i), Index: i}
		if g.rng.IntN(4) == 0 {
			for range 1 + g.rng.IntN(2) {
				r.Channels = append(r.Channels, g.spell(channelPool[g.rng.IntN(len(channelPool))]))
			}
		}
		if g.rng.IntN(3) > 0 {
			r.Providers = g.providers()
		}
		if g.rng.IntN(3) > 0 {
			for range 1 + g.rng.IntN(3) {
				lo := uint32(g.rng.IntN(20))
				hi := lo
				switch g.rng.IntN(6) {
				case 0:
					hi = lo + uint32(g.rng.IntN(5))
				case 1:
					hi = math.MaxUint32
				case 2:
					lo = 0
				case 3:
					hi = lo - 1 // inverted (or wraps to the maximum)
				}
				r.IDs = append(r.IDs, match.IDRange{Lo: lo, Hi: hi})
			}
		}
		if g.rng.IntN(3) == 0 {
			for range 1 + g.rng.IntN(2) {
				r.Levels = append(r.Levels, uint8(g.rng.IntN(6)))
			}
		}
		if g.rng.IntN(5) == 0 {
			// A condition on a field only narrows the rule.
			r.Fields = []match.FieldCond{{Field: "EventID", Ops: []match.Op{{Kind: match.Lt, Num: float64(g.rng.IntN(25))}}}}
		}
		rules = append(rules, r)
	}
	return rules
}

func (g gen) event(channel string) *watcher.Event {
	ev := &watcher.Event{Channel: g.spell(channel), EventID: uint32(g.rng.IntN(25)), Level: uint8(g.rng.IntN(6))}
	if g.rng.IntN(10) == 0 {
		ev.EventID = math.MaxUint32 - uint32(g.rng.IntN(2))
	}
	if g.rng.IntN(8) == 0 {
		ev.Provider.Name = "Other"
	} else {
		ev.Provider.Name = g.spell(providerPool[g.rng.IntN(len(providerPool))])
	}
	return ev
}

func showRules(rules []*match.Rule) string {
	var b strings.Builder
	for _, r := range rules {
		fmt.Fprintf(&b, "\n  %s: channels %q providers %q ids %v levels %v fields %d", r.Name, r.Channels, r.Providers, r.IDs, r.Levels, len(r.Fields))
	}
	return b.String()
}
