package match_test

import (
	"encoding/xml"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/logmedic/logmedic/watcher"
	"github.com/logmedic/logmedic/watcher/decode"
	"github.com/logmedic/logmedic/watcher/evtxfile"
	"github.com/logmedic/logmedic/watcher/input"
	"github.com/logmedic/logmedic/watcher/match"
)

// The live path is rendered XML -> Event -> rule match. The corpus is
// every record of the real .evtx samples rendered to XML once (as
// EvtRender would hand them over), plus the Windows Backup samples.
var corpus = sync.OnceValues(func() ([][]byte, error) {
	var out [][]byte
	add := func(ev *watcher.Event, _ decode.Pos, err error) error {
		if err == nil {
			out = append(out, []byte(ev.Raw))
		}
		return nil
	}
	files, _ := filepath.Glob("../../testdata/evtx/*.evtx")
	for _, f := range files {
		fh, err := os.Open(f)
		if err != nil {
			return nil, err
		}
		err = evtxfile.Read(f, fh, add)
		fh.Close()
		if err != nil {
			return nil, err
		}
	}
	if err := input.Paths([]string{"../../testdata/samples"}, nil, add); err != nil {
		return nil, err
	}
	// encoding/xml rejects the control characters real renders contain
	// (U+0003 in security.evtx); the baseline gets them as spaces, and so
	// does ours, so both read the same bytes.
	for i, raw := range out {
		out[i] = []byte(strings.Map(func(r rune) rune {
			if r < 0x20 && r != '\t' && r != '\n' && r != '\r' {
				return ' '
			}
			return r
		}, string(raw)))
	}
	return out, nil
})

func loadCorpus(tb testing.TB) ([][]byte, int) {
	c, err := corpus()
	if err != nil {
		tb.Fatal(err)
	}
	if len(c) < 5000 {
		tb.Fatalf("corpus has %d events", len(c))
	}
	n := 0
	for _, raw := range c {
		n += len(raw)
	}
	return c, n
}

// xmlEvent is the encoding/xml baseline: the same fields ours fills,
// decoded into structs by the standard library.
type xmlEvent struct {
	System struct {
		Provider struct {
			Name            string `xml:"Name,attr"`
			GUID            string `xml:"Guid,attr"`
			EventSourceName string `xml:"EventSourceName,attr"`
		}
		EventID struct {
			Qualifiers string `xml:"Qualifiers,attr"`
			Value      uint32 `xml:",chardata"`
		}
		Version     uint8
		Level       uint8
		Task        uint16
		Opcode      uint8
		Keywords    string
		TimeCreated struct {
			SystemTime string `xml:"SystemTime,attr"`
		}
		EventRecordID uint64
		Correlation   struct {
			ActivityID        string `xml:"ActivityID,attr"`
			RelatedActivityID string `xml:"RelatedActivityID,attr"`
		}
		Execution struct {
			ProcessID uint32 `xml:"ProcessID,attr"`
			ThreadID  uint32 `xml:"ThreadID,attr"`
		}
		Channel  string
		Computer string
		Security struct {
			UserID string `xml:"UserID,attr"`
		}
	}
	EventData struct {
		Data []struct {
			Name  string `xml:"Name,attr"`
			Value string `xml:",chardata"`
		}
		Binary string
	}
	UserData struct {
		Inner []byte `xml:",innerxml"`
	}
	RenderingInfo struct {
		Message string
		Level   string
	}
}

func baselineDecode(raw []byte) (xmlEvent, error) {
	var e xmlEvent
	if err := xml.Unmarshal(raw, &e); err != nil {
		return e, err
	}
	// Finish the same work ours does: a real time and keywords number.
	if _, err := time.Parse(time.RFC3339Nano, e.System.TimeCreated.SystemTime); err != nil {
		return e, err
	}
	if _, err := strconv.ParseUint(strings.TrimPrefix(e.System.Keywords, "0x"), 16, 64); err != nil {
		return e, err
	}
	return e, nil
}

// TestDecoderAgreesWithEncodingXML decodes the whole corpus both ways and
// compares every field the baseline reads.
func TestDecoderAgreesWithEncodingXML(t *testing.T) {
	c, _ := loadCorpus(t)
	var ev watcher.Event
	for i, raw := range c {
		x, err := baselineDecode(raw)
		if err != nil {
			t.Fatalf("event %d: encoding/xml: %v", i, err)
		}
		if err := (decode.XML{}).Decode(&ev, raw); err != nil {
			t.Fatalf("event %d: %v", i, err)
		}
		s := x.System
		got := fmt.Sprint(ev.Provider.Name, ev.Provider.GUID, ev.EventID, ev.Version, ev.Level, ev.Task, ev.Opcode,
			ev.RecordID, ev.ProcessID, ev.ThreadID, ev.Channel, ev.Computer, ev.UserID, ev.ActivityID, ev.Rendering.Message)
		want := fmt.Sprint(s.Provider.Name, s.Provider.GUID, s.EventID.Value, s.Version, s.Level, s.Task, s.Opcode,
			s.EventRecordID, s.Execution.ProcessID, s.Execution.ThreadID, s.Channel, s.Computer, s.Security.UserID, s.Correlation.ActivityID, x.RenderingInfo.Message)
		if got != want {
			t.Fatalf("event %d:\n ours     %s\n encoding %s", i, got, want)
		}
		if len(ev.EventData) != len(x.EventData.Data) {
			t.Fatalf("event %d: %d data values, encoding/xml %d", i, len(ev.EventData), len(x.EventData.Data))
		}
		for j, d := range x.EventData.Data {
			if d.Value == "" && strings.HasPrefix(ev.EventData[j].Value, "<") {
				continue // Event Viewer's unescaped VolumesInfo: ours keeps the markup as the value, by design
			}
			if ev.EventData[j].Name != d.Name || ev.EventData[j].Value != d.Value {
				t.Fatalf("event %d data %d: ours %q=%q, encoding/xml %q=%q", i, j, ev.EventData[j].Name, ev.EventData[j].Value, d.Name, d.Value)
			}
		}
	}
}

// rules builds n rules shaped like the ones admins write: a channel and
// provider seen in the corpus, a few event IDs, and for some a level, a
// field condition or an error code. The Backup rules of example.yaml are
// always among them.
func rules(n int) []*match.Rule {
	rng := rand.New(rand.NewPCG(7, uint64(n)))
	type src struct{ channel, provider string }
	srcs := []src{
		{"Security", "Microsoft-Windows-Security-Auditing"},
		{"System", "Service Control Manager"},
		{"System", "Microsoft-Windows-Kernel-General"},
		{"System", "EventLog"},
		{"Application", "Microsoft-Windows-Backup"},
		{"Microsoft-Windows-Backup", "Microsoft-Windows-Backup"},
		{"Microsoft-Windows-Sysmon/Operational", "Microsoft-Windows-Sysmon"},
		{"Application", "Software Protection Platform Service"},
	}
	out := []*match.Rule{
		{Name: "volume-too-large", Channels: []string{"Microsoft-Windows-Backup", "Application"}, Providers: []string{"Microsoft-Windows-Backup"},
			IDs: []match.IDRange{{Lo: 5, Hi: 5}, {Lo: 8, Hi: 8}, {Lo: 19, Hi: 19}, {Lo: 517, Hi: 517}, {Lo: 521, Hi: 521}}, Codes: []uint32{0x807800B4}},
		{Name: "restore-file-not-found", Providers: []string{"Microsoft-Windows-Backup"}, IDs: []match.IDRange{{Lo: 241, Hi: 245}}, Codes: []uint32{0x80070002}},
		{Name: "backup-succeeded", Channels: []string{"Microsoft-Windows-Backup"}, IDs: []match.IDRange{{Lo: 4, Hi: 4}}},
	}
	for i := len(out); i < n; i++ {
		s := srcs[rng.IntN(len(srcs))]
		r := &match.Rule{Name: fmt.Sprint("rule-", i), Channels: []string{s.channel}, Providers: []string{s.provider}}
		for range 1 + rng.IntN(3) {
			id := uint32(rng.IntN(8000))
			r.IDs = append(r.IDs, match.IDRange{Lo: id, Hi: id})
		}
		switch rng.IntN(4) {
		case 0:
			r.Levels = []uint8{watcher.LevelError, watcher.LevelCritical}
		case 1:
			r.Fields = []match.FieldCond{{Field: "TargetUserName", Ops: []match.Op{{Kind: match.Contains, Str: "admin"}}}}
		case 2:
			r.Codes = []uint32{0x80070005}
		}
		out = append(out, r)
	}
	for i, r := range out {
		r.Index = i
	}
	return out
}

// perEvent runs fn over the corpus b.N times and reports per-event rates.
func perEvent(b *testing.B, c [][]byte, size int, fn func(raw []byte)) {
	b.SetBytes(int64(size))
	b.ReportAllocs()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	for b.Loop() {
		for _, raw := range c {
			fn(raw)
		}
	}
	runtime.ReadMemStats(&after)
	evs := float64(b.N) * float64(len(c))
	b.ReportMetric(evs/b.Elapsed().Seconds(), "events/s")
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/evs, "ns/event")
	b.ReportMetric(float64(after.Mallocs-before.Mallocs)/evs, "allocs/event")
	b.ReportMetric(float64(after.TotalAlloc-before.TotalAlloc)/evs, "B/event")
}

// decoded returns the corpus decoded once, for match-only benchmarks.
func decoded(b *testing.B, c [][]byte) []*watcher.Event {
	evs := make([]*watcher.Event, len(c))
	for i, raw := range c {
		evs[i] = new(watcher.Event)
		if err := (decode.XML{}).Decode(evs[i], raw); err != nil {
			b.Fatal(err)
		}
	}
	return evs
}

func matchOnly(evs []*watcher.Event, m *match.Matcher) func() {
	var dst []match.Match
	return func() {
		for _, ev := range evs {
			dst = m.Match(ev, dst[:0])
		}
	}
}

func baselineFn(c [][]byte) func(raw []byte) {
	return func(raw []byte) {
		if _, err := baselineDecode(raw); err != nil {
			panic(err)
		}
	}
}

func decodeMatchFn(b *testing.B, m *match.Matcher) func(raw []byte) {
	var ev watcher.Event
	var dst []match.Match
	return func(raw []byte) {
		if err := (decode.XML{}).Decode(&ev, raw); err != nil {
			b.Fatal(err)
		}
		if m != nil {
			dst = m.Match(&ev, dst[:0])
		}
	}
}

// nsPerEvent times fn over the corpus for at least a second, so ratios
// compare numbers taken in the same run on the same machine.
// (testing.Benchmark cannot be called from inside a benchmark.)
func nsPerEvent(c [][]byte, fn func([]byte)) float64 {
	for _, raw := range c { // warm up
		fn(raw)
	}
	start := time.Now()
	n := 0
	for time.Since(start) < time.Second {
		for _, raw := range c {
			fn(raw)
		}
		n += len(c)
	}
	return float64(time.Since(start).Nanoseconds()) / float64(n)
}

var baselineNs = sync.OnceValue(func() float64 {
	c, _ := corpus()
	return nsPerEvent(c, baselineFn(c))
})

// BenchmarkDecodeMatch reports events/s, ns and allocations per event for
// the encoding/xml baseline and for logmedic's decoder, alone and with 100
// rules; "x-baseline" is how many times faster than encoding/xml it ran,
// measured in the same run.
func BenchmarkDecodeMatch(b *testing.B) {
	c, size := loadCorpus(b)
	m100 := match.New(rules(100))
	b.Run("encoding-xml-baseline", func(b *testing.B) { perEvent(b, c, size, baselineFn(c)) })
	for _, tc := range []struct {
		name string
		m    *match.Matcher
	}{{"decode", nil}, {"decode+match-100-rules", m100}} {
		b.Run(tc.name, func(b *testing.B) {
			perEvent(b, c, size, decodeMatchFn(b, tc.m))
			b.ReportMetric(baselineNs()/(float64(b.Elapsed().Nanoseconds())/(float64(b.N)*float64(len(c)))), "x-baseline")
		})
	}
	b.Run("match-100-rules", func(b *testing.B) {
		run := matchOnly(decoded(b, c), m100)
		b.ReportAllocs()
		for b.Loop() {
			run()
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/(float64(b.N)*float64(len(c))), "ns/event")
	})
}

// BenchmarkRuleScaling reports the cost of 10, 100 and 1,000 rules, for
// decode+match and for matching alone; "x-10-rules" is the cost relative
// to 10 rules, measured in the same run. The index is meant to keep 1,000
// rules within 2x of 10.
func BenchmarkRuleScaling(b *testing.B) {
	c, size := loadCorpus(b)
	evs := decoded(b, c)
	ten := sync.OnceValue(func() float64 { return nsPerEvent(c, decodeMatchFn(b, match.New(rules(10)))) })
	tenMatch := sync.OnceValue(func() float64 {
		run := matchOnly(evs, match.New(rules(10)))
		one := [][]byte{nil}
		return nsPerEvent(one, func([]byte) { run() }) / float64(len(evs))
	})
	for _, n := range []int{10, 100, 1000} {
		m := match.New(rules(n))
		b.Run(fmt.Sprintf("decode+match/%d-rules", n), func(b *testing.B) {
			perEvent(b, c, size, decodeMatchFn(b, m))
			b.ReportMetric((float64(b.Elapsed().Nanoseconds())/(float64(b.N)*float64(len(c))))/ten(), "x-10-rules")
		})
		b.Run(fmt.Sprintf("match/%d-rules", n), func(b *testing.B) {
			run := matchOnly(evs, m)
			for b.Loop() {
				run()
			}
			ns := float64(b.Elapsed().Nanoseconds()) / (float64(b.N) * float64(len(evs)))
			b.ReportMetric(ns, "ns/event")
			b.ReportMetric(ns/tenMatch(), "x-10-rules")
		})
	}
}
