package match

import (
	"fmt"
	"math/rand/v2"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/logmedic/logmedic/watcher"
)

func backupEvent() *watcher.Event {
	return &watcher.Event{
		Channel:  "Microsoft-Windows-Backup",
		Provider: watcher.Provider{Name: "Microsoft-Windows-Backup"},
		EventID:  5, Level: watcher.LevelError, Computer: "WS-0142", RecordID: 1412,
		EventData: []watcher.Field{
			{Name: "HRESULT", Value: "0x807800b4"},
			{Name: "BackupTarget", Value: `\\nas01\images`},
			{Name: "NumOfVolumes", Value: "2"},
			{Name: "Empty", Value: ""},
			{Name: "", Value: "positional one"},
			{Name: "", Value: "0x10"},
		},
		Rendering: watcher.Rendering{Message: "The backup failed."},
	}
}

func names(ms []Match) []string {
	var out []string
	for _, m := range ms {
		out = append(out, m.Rule.Name)
	}
	return out
}

func op(k OpKind, s string) Op { return Op{Kind: k, Str: s} }

func TestOperators(t *testing.T) {
	re := func(s string) Op { return Op{Kind: Regex, Re: regexp.MustCompile(s)} }
	tests := []struct {
		field string
		op    Op
		want  bool
	}{
		{"BackupTarget", op(Equals, `\\NAS01\images`), true}, // case ignored
		{"BackupTarget", Op{Kind: Equals, Str: `\\NAS01\images`, Cased: true}, false},
		{"BackupTarget", op(Equals, `\\nas01`), false},
		{"backuptarget", op(Equals, `\\nas01\images`), true}, // field names ignore case
		{"BackupTarget", op(Contains, "NAS01"), true},
		{"BackupTarget", Op{Kind: Contains, Str: "NAS01", Cased: true}, false},
		{"BackupTarget", op(Contains, "tape"), false},
		{"BackupTarget", op(StartsWith, `\\`), true},
		{"BackupTarget", op(StartsWith, `E:`), false},
		{"BackupTarget", op(EndsWith, "IMAGES"), true},
		{"BackupTarget", op(EndsWith, "nas01"), false},
		{"BackupTarget", re(`^\\\\nas\d+\\`), true},
		{"BackupTarget", re(`^E:`), false},
		{"BackupTarget", Op{Kind: In, List: []string{"E:", `\\nas01\IMAGES`}}, true},
		{"BackupTarget", Op{Kind: In, List: []string{"E:", "F:"}}, false},
		{"NumOfVolumes", Op{Kind: Gt, Num: 1}, true},
		{"NumOfVolumes", Op{Kind: Gt, Num: 2}, false},
		{"NumOfVolumes", Op{Kind: Lt, Num: 3}, true},
		{"NumOfVolumes", Op{Kind: Lt, Num: 2}, false},
		{"Data[2]", Op{Kind: Gt, Num: 15}, true},      // 0x10 read as hex
		{"BackupTarget", Op{Kind: Gt, Num: 1}, false}, // not a number
		{"Empty", Op{Kind: Exists, Exists: true}, true},
		{"Missing", Op{Kind: Exists, Exists: true}, false},
		{"Missing", Op{Kind: Exists, Exists: false}, true},
		{"Missing", op(Equals, ""), false}, // an absent field equals nothing
		{"Missing", Op{Kind: Not, Sub: []Op{op(Equals, "x")}}, true},
		{"BackupTarget", Op{Kind: Not, Sub: []Op{op(Contains, "nas")}}, false},
		{"BackupTarget", Op{Kind: Not, Sub: []Op{op(Contains, "nas"), op(Contains, "tape")}}, true}, // not (a and b)
		{"Data[1]", op(Equals, "positional one"), true},
		{"Data[3]", Op{Kind: Exists, Exists: true}, false},
		{"EventID", op(Equals, "5"), true},
		{"EventID", Op{Kind: In, List: []string{"4", "5"}}, true},
		{"Level", op(Equals, "2"), true},
		{"Computer", op(StartsWith, "ws-"), true},
		{"Channel", op(EndsWith, "-backup"), true},
		{"RecordID", Op{Kind: Gt, Num: 1000}, true},
		{"Message", op(Contains, "FAILED"), true},
	}
	for _, tt := range tests {
		r := &Rule{Name: "r", Fields: []FieldCond{{Field: tt.field, Ops: []Op{tt.op}}}}
		m := New([]*Rule{r})
		got := len(m.Match(backupEvent(), nil)) == 1
		if got != tt.want {
			t.Errorf("%s %s: matched %v, want %v", tt.field, tt.op.describe(), got, tt.want)
		}
	}
}

func TestTopLevelConditions(t *testing.T) {
	tests := []struct {
		rule Rule
		want bool
	}{
		{Rule{Channels: []string{"microsoft-windows-BACKUP"}}, true},
		{Rule{Channels: []string{"Application"}}, false},
		{Rule{Providers: []string{"MICROSOFT-WINDOWS-BACKUP"}}, true},
		{Rule{Providers: []string{"VSS"}}, false},
		{Rule{IDs: []IDRange{{4, 4}, {5, 5}}}, true},
		{Rule{IDs: []IDRange{{517, 521}}}, false},
		{Rule{IDs: []IDRange{{1, 10}}}, true},
		{Rule{IDs: []IDRange{{0, 65535}}}, true}, // wide: checked per rule
		{Rule{IDs: []IDRange{{6, 65535}}}, false},
		{Rule{Levels: []uint8{watcher.LevelCritical, watcher.LevelError}}, true},
		{Rule{Levels: []uint8{watcher.LevelWarning}}, false},
		{Rule{Codes: []uint32{0x80070002, 0x807800B4}}, true},
		{Rule{Codes: []uint32{0x80070002}}, false},
		{Rule{Channels: []string{"Microsoft-Windows-Backup"}, IDs: []IDRange{{5, 5}}, Codes: []uint32{0x80070002}}, false}, // all must hold
	}
	for i, tt := range tests {
		r := tt.rule
		r.Name = fmt.Sprint(i)
		got := len(New([]*Rule{&r}).Match(backupEvent(), nil)) == 1
		if got != tt.want {
			t.Errorf("rule %d %+v: matched %v, want %v", i, tt.rule, got, tt.want)
		}
	}
	// LogAlways (0) counts as information, as Event Viewer shows it.
	ev := backupEvent()
	ev.Level = 0
	if len(New([]*Rule{{Name: "i", Levels: []uint8{watcher.LevelInformation}}}).Match(ev, nil)) != 1 {
		t.Error("level 0 did not match information")
	}
}

func TestResultsInConfigOrder(t *testing.T) {
	rules := []*Rule{
		{Name: "any"},
		{Name: "by-id", IDs: []IDRange{{5, 5}}},
		{Name: "by-channel", Channels: []string{"Microsoft-Windows-Backup"}},
		{Name: "by-provider", Providers: []string{"Microsoft-Windows-Backup"}},
		{Name: "all-three", Channels: []string{"Microsoft-Windows-Backup", "Application"}, Providers: []string{"Microsoft-Windows-Backup"}, IDs: []IDRange{{5, 5}, {1, 9}}},
		{Name: "other", Channels: []string{"System"}},
	}
	for i, r := range rules {
		r.Index = i
	}
	got := names(New(rules).Match(backupEvent(), nil))
	if want := []string{"any", "by-id", "by-channel", "by-provider", "all-three"}; !slices.Equal(got, want) {
		t.Errorf("matched %q, want %q", got, want)
	}
}

func TestExplain(t *testing.T) {
	r := &Rule{
		Name: "x", Channels: []string{"Microsoft-Windows-Backup"}, IDs: []IDRange{{5, 5}, {517, 521}},
		Levels: []uint8{2}, Codes: []uint32{0x807800B4},
		Fields: []FieldCond{{Field: "BackupTarget", Ops: []Op{op(StartsWith, `\\`)}}},
	}
	New([]*Rule{r})
	got := strings.Join(Explain(r, backupEvent()), "\n")
	for _, want := range []string{
		`channel "Microsoft-Windows-Backup" is one of ["Microsoft-Windows-Backup"]`,
		"event_id 5 is in [5, 517-521]",
		"level error is one of [error]",
		`field BackupTarget "\\nas01\images" startswith "\\"`,
		`error_code 0x807800B4 found in HRESULT ("0x807800b4")`,
	} {
		if !strings.Contains(got, want) {
			t.Errorf("Explain lacks %q:\n%s", want, got)
		}
	}
}

// TestIndexAgreesWithBruteForce checks the index against evaluating every
// rule, on random rules and events.
func TestIndexAgreesWithBruteForce(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	chans := []string{"Microsoft-Windows-Backup", "Application", "System", "security"}
	provs := []string{"Microsoft-Windows-Backup", "VSS", "EventLog", "Microsoft-Windows-Security-Auditing"}
	pick := func(list []string) []string {
		var out []string
		for _, s := range list {
			if rng.IntN(3) == 0 {
				if rng.IntN(2) == 0 {
					s = strings.ToUpper(s)
				}
				out = append(out, s)
			}
		}
		return out
	}
	var rules []*Rule
	for i := range 300 {
		r := &Rule{Name: fmt.Sprint(i), Index: i, Channels: pick(chans), Providers: pick(provs)}
		for range rng.IntN(3) {
			lo := uint32(rng.IntN(30))
			hi := lo + uint32(rng.IntN(3))
			if rng.IntN(20) == 0 {
				hi = lo + 5000
			}
			r.IDs = append(r.IDs, IDRange{lo, hi})
		}
		rules = append(rules, r)
	}
	m := New(rules)
	for range 2000 {
		ev := &watcher.Event{Channel: chans[rng.IntN(len(chans))], Provider: watcher.Provider{Name: provs[rng.IntN(len(provs))]}, EventID: uint32(rng.IntN(40))}
		var want []string
		for _, r := range rules {
			if r.matches(ev) {
				want = append(want, r.Name)
			}
		}
		if got := names(m.Match(ev, nil)); !slices.Equal(got, want) {
			t.Fatalf("event %+v:\nindex  %q\nbrute  %q", ev, got, want)
		}
	}
}

func TestMatchAllocatesNothing(t *testing.T) {
	rules := []*Rule{
		{Name: "a", Channels: []string{"Microsoft-Windows-Backup"}, IDs: []IDRange{{5, 5}}, Codes: []uint32{0x807800B4}},
		{Name: "b", Providers: []string{"microsoft-windows-backup"}, Fields: []FieldCond{{Field: "BackupTarget", Ops: []Op{op(Contains, "NAS")}}}},
	}
	m := New(rules)
	ev := backupEvent()
	dst := make([]Match, 0, 4)
	ev.Codes()
	if n := testing.AllocsPerRun(100, func() { dst = m.Match(ev, dst[:0]) }); n != 0 {
		t.Errorf("Match allocates %.1f times per event", n)
	}
	if len(dst) != 2 {
		t.Errorf("matched %d rules, want 2", len(dst))
	}
}

func TestNumbersCompareExactly(t *testing.T) {
	ev := backupEvent()
	ev.Keywords = 0x8000000000000080
	ev.RecordID = 1<<53 + 1
	ev.EventData = append(ev.EventData,
		watcher.Field{Name: "BackupFlags", Value: "0x0"},
		watcher.Field{Name: "Signed", Value: "-2139619148"},
		watcher.Field{Name: "Ratio", Value: "12.5"},
		watcher.Field{Name: "FileVersion", Value: "10.0"},
		watcher.Field{Name: "Big", Value: "18446744073709551615"},
	)
	in := func(list ...string) Op { return Op{Kind: In, List: list} }
	tests := []struct {
		field string
		op    Op
		want  bool
	}{
		// 64-bit System fields compare as integers, not float64.
		{"Keywords", op(Equals, "0x8000000000000000"), false},
		{"Keywords", op(Equals, "0x8000000000000080"), true},
		{"Keywords", op(Equals, "9223372036854775936"), true},
		{"Keywords", in("0x8000000000000000", "0x1"), false},
		{"Keywords", in("0x8000000000000000", "0x8000000000000080"), true},
		{"Keywords", Op{Kind: Gt, Num: 0x1p63}, true},
		{"Keywords", Op{Kind: Gt, Str: "0x8000000000000080", Num: 0x1p63}, false}, // Str, when set, is exact
		{"Keywords", Op{Kind: Gt, Str: "0x800000000000007F", Num: 0x1p63}, true},
		{"Keywords", Op{Kind: Lt, Num: 0x1p63}, false},
		{"RecordID", op(Equals, "9007199254740992"), false},
		{"RecordID", op(Equals, "9007199254740993"), true},
		{"RecordID", Op{Kind: Lt, Num: 9007199254740992.5}, false},
		{"RecordID", Op{Kind: Gt, Num: 9007199254740992.5}, true},
		{"EventID", op(Equals, "0x5"), true},
		{"EventID", op(Equals, "five"), false},
		// EventData values compare as numbers when both sides read as
		// integers (decimal or 0x hex), else as text.
		{"BackupFlags", op(Equals, "0"), true},
		{"BackupFlags", in("1", "0"), true},
		{"HRESULT", op(Equals, "2155348148"), true},
		{"HRESULT", in("0x80070002", "2155348148"), true},
		{"HRESULT", op(Equals, "0x807800B4"), true},
		{"HRESULT", Op{Kind: Equals, Str: "0X807800B4", Cased: true}, true}, // numbers have no case
		{"HRESULT", op(Equals, "2155348149"), false},
		{"Signed", op(Equals, "-2139619148"), true},
		{"Signed", op(Equals, "2155348148"), false}, // numbers, not codes: use error_code
		{"Signed", Op{Kind: Lt, Num: 0}, true},
		{"FileVersion", op(Equals, "10"), false}, // 10.0 is no integer: text
		{"FileVersion", op(Equals, "10.0"), true},
		{"Ratio", Op{Kind: Gt, Num: 12}, true},
		{"Ratio", Op{Kind: Lt, Num: 12.75}, true},
		{"Big", op(Equals, "0xFFFFFFFFFFFFFFFF"), true},
		{"Big", Op{Kind: Gt, Num: 0x1p64 - 2048}, true},
		{"Big", Op{Kind: Lt, Num: 0x1p64}, true},
		{"Big", op(Equals, "18446744073709551616"), false}, // too big: text
		{"NumOfVolumes", op(Equals, "02"), true},
		{"BackupTarget", op(Equals, "0"), false},
	}
	for _, tt := range tests {
		r := &Rule{Name: "r", Fields: []FieldCond{{Field: tt.field, Ops: []Op{tt.op}}}}
		got := len(New([]*Rule{r}).Match(ev, nil)) == 1
		if got != tt.want {
			t.Errorf("%s %s: matched %v, want %v", tt.field, tt.op.describe(), got, tt.want)
		}
	}
}

func TestExplainShowsExactNumbers(t *testing.T) {
	ev := backupEvent()
	ev.Keywords = 0x8000000000000000
	r := &Rule{Name: "k", Fields: []FieldCond{
		{Field: "Keywords", Ops: []Op{{Kind: Gt, Num: 0x1p63 - 1024}, {Kind: Lt, Num: 0x1p64}}},
		{Field: "RecordID", Ops: []Op{{Kind: Gt, Num: 12.5}}},
	}}
	New([]*Rule{r})
	got := strings.Join(Explain(r, ev), "\n")
	for _, want := range []string{
		`field Keywords "9223372036854775808" > 9223372036854774784`,
		`field Keywords "9223372036854775808" < 18446744073709551616`,
		`field RecordID "1412" > 12.5`,
	} {
		if !strings.Contains(got, want) {
			t.Errorf("Explain lacks %q:\n%s", want, got)
		}
	}
}

func TestNumericEqualsAllocatesNothing(t *testing.T) {
	rules := []*Rule{
		{Name: "a", Fields: []FieldCond{{Field: "HRESULT", Ops: []Op{op(Equals, "2155348148")}}}},
		{Name: "b", Fields: []FieldCond{{Field: "Keywords", Ops: []Op{{Kind: In, List: []string{"0x1", "0"}}}}}},
		{Name: "c", Fields: []FieldCond{{Field: "NumOfVolumes", Ops: []Op{{Kind: Gt, Num: 1.5}}}}},
		{Name: "d", Fields: []FieldCond{{Field: "BackupTarget", Ops: []Op{{Kind: In, List: []string{"1", `\\nas01\images`}}}}}},
	}
	m := New(rules)
	ev := backupEvent()
	dst := make([]Match, 0, 4)
	if n := testing.AllocsPerRun(100, func() { dst = m.Match(ev, dst[:0]) }); n != 0 {
		t.Errorf("Match allocates %.1f times per event", n)
	}
	if len(dst) != 4 {
		t.Errorf("matched %d rules, want 4", len(dst))
	}
}
