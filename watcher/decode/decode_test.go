package decode

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/logmedic/logmedic/watcher"
)

const samples = "../../testdata/samples"

// collect decodes one input and returns clones of its events and its
// errors.
func collect(t *testing.T, name string, data []byte) ([]*watcher.Event, []error) {
	t.Helper()
	var evs []*watcher.Event
	var errs []error
	err := Text(name, data, func(ev *watcher.Event, pos Pos, err error) error {
		if err != nil {
			errs = append(errs, err)
			return nil
		}
		if pos.Source != name || pos.Line < 1 || pos.Col < 1 {
			t.Errorf("%s: event at bad position %+v", name, pos)
		}
		evs = append(evs, ev.Clone())
		return nil
	})
	if err != nil {
		t.Fatalf("Text(%s): %v", name, err)
	}
	return evs, errs
}

func readSample(t *testing.T, rel string) []byte {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(samples, rel))
	if err != nil {
		t.Fatal(err)
	}
	return data
}

type want struct {
	channel  string
	id       uint32
	level    uint8
	record   uint64
	computer string
	codes    []uint32 // unique, in first-seen order
}

func uniqueCodes(ev *watcher.Event) []uint32 {
	var out []uint32
	for _, c := range ev.Codes() {
		if !slices.Contains(out, c.Value) {
			out = append(out, c.Value)
		}
	}
	return out
}

func TestSamples(t *testing.T) {
	const bk, app = "Microsoft-Windows-Backup", "Application"
	tests := map[string][]want{
		"real/backup-50-no-space.xml":                      {{bk, 50, 2, 139, "Sealab", nil}},
		"real/backup-524-catalog-deleted-eventviewer.txt":  {{app, 524, 4, 457, "atc-win-2k12.atc.lab", nil}},
		"constructed/application-517-eventviewer-copy.txt": {{app, 517, 2, 90211, "SRV-DC02", []uint32{0x8078010D}}},
		"constructed/backup-4-v3-success.xml":              {{bk, 4, 4, 1415, "WS-0142.corp.example", nil}},
		"constructed/backup-5-v1-decimal-2155348148.xml":   {{bk, 5, 2, 388, "LAB-W7SP1", []uint32{0x807800B4}}},
		"constructed/backup-5-v3-0x807800b4.xml":           {{bk, 5, 2, 1412, "WS-0142.corp.example", []uint32{0x807800B4}}},
		"constructed/restore-244-0x80070002.xml":           {{bk, 244, 2, 77, "WS-0077.corp.example", []uint32{0x80070002}}},
		"constructed/wevtutil-export-3-events.xml":         {{bk, 1, 4, 2001, "SRV-FS01", nil}, {bk, 14, 4, 2002, "SRV-FS01", []uint32{0x8078015B, 0x80070035}}, {bk, 5, 2, 2003, "SRV-FS01", []uint32{0x8078015B, 0x80070035}}},
		"forms/wevtutil-export-utf16le-bom-crlf.xml":       {{bk, 1, 4, 2001, "SRV-FS01", nil}, {bk, 14, 4, 2002, "SRV-FS01", []uint32{0x8078015B, 0x80070035}}, {bk, 5, 2, 2003, "SRV-FS01", []uint32{0x8078015B, 0x80070035}}},
		"forms/eventviewer-copy-utf16le-bom-crlf.txt":      {{app, 517, 2, 90211, "SRV-DC02", []uint32{0x8078010D}}},
		"forms/wevtutil-qe-concatenated.xml":               {{bk, 5, 2, 1412, "WS-0142.corp.example", []uint32{0x807800B4}}, {bk, 244, 2, 77, "WS-0077.corp.example", []uint32{0x80070002}}, {bk, 4, 4, 1415, "WS-0142.corp.example", nil}},
		"forms/eventviewer-xml-view-807800b4.xml":          {{bk, 5, 2, 1412, "WS-0142.corp.example", []uint32{0x807800B4}}},
		"forms/security-4739-control-char.xml":             {{"Security", 4739, 0, 55, "WIN-03DLIIOFRRA", nil}},
	}
	// Every file under testdata/samples must be listed above.
	err := filepath.WalkDir(samples, func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			rel, _ := filepath.Rel(samples, p)
			if _, ok := tests[filepath.ToSlash(rel)]; !ok {
				t.Errorf("sample %s has no expectations in TestSamples", rel)
			}
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	for rel, wants := range tests {
		t.Run(rel, func(t *testing.T) {
			evs, errs := collect(t, rel, readSample(t, rel))
			for _, err := range errs {
				t.Errorf("error: %v", err)
			}
			if len(evs) != len(wants) {
				t.Fatalf("got %d events, want %d", len(evs), len(wants))
			}
			for i, w := range wants {
				ev := evs[i]
				got := want{ev.Channel, ev.EventID, ev.Level, ev.RecordID, ev.Computer, uniqueCodes(ev)}
				if !reflect.DeepEqual(got, w) {
					t.Errorf("event %d:\n got %+v\nwant %+v", i, got, w)
				}
				if ev.Provider.Name == "" || ev.TimeCreated.IsZero() || ev.Raw == "" {
					t.Errorf("event %d: provider %q, time %v, raw %d bytes", i, ev.Provider.Name, ev.TimeCreated, len(ev.Raw))
				}
			}
		})
	}
}

func TestBackupEventFields(t *testing.T) {
	evs, errs := collect(t, "x", readSample(t, "constructed/backup-5-v3-0x807800b4.xml"))
	if len(errs) > 0 || len(evs) != 1 {
		t.Fatalf("events %d, errors %v", len(evs), errs)
	}
	ev := evs[0]
	if ev.Provider.GUID != "{1DB28F2E-8F80-4027-8C5A-A11F7F10F62D}" || ev.Version != 3 || ev.Keywords != 0x4000000000000000 ||
		ev.ProcessID != 2208 || ev.ThreadID != 4312 || ev.UserID != "S-1-5-18" {
		t.Errorf("system fields: %+v", ev)
	}
	if want := time.Date(2026, 11, 21, 1, 0, 3, 118204500, time.UTC); !ev.TimeCreated.Equal(want) {
		t.Errorf("TimeCreated = %v, want %v (100 ns precision)", ev.TimeCreated, want)
	}
	if len(ev.EventData) != 43 {
		t.Errorf("EventData has %d fields, want the 43 of the v3 template", len(ev.EventData))
	}
	if ev.EventData[0].Name != "BackupTemplateID" || ev.EventData[42].Name != "ComponentInfoSummary" {
		t.Errorf("EventData order lost: first %q, last %q", ev.EventData[0].Name, ev.EventData[42].Name)
	}
	if v, ok := ev.Data("ComponentInfo"); !ok || v != "" {
		t.Errorf("empty ComponentInfo = %q, %v; want kept as empty", v, ok)
	}
	if v, _ := ev.Data("VolumesInfo"); !strings.HasPrefix(v, `<VolumeInfo><VolumeInfoItem Name="C:"`) {
		t.Errorf("VolumesInfo not unescaped: %.60q", v)
	}
}

func TestEventViewerFormsEqualTheOriginal(t *testing.T) {
	// The XML view (collapse markers, unescaped VolumesInfo) and the
	// UTF-16 re-encodings must yield the same events as their sources.
	pairs := [][2]string{
		{"constructed/backup-5-v3-0x807800b4.xml", "forms/eventviewer-xml-view-807800b4.xml"},
		{"constructed/wevtutil-export-3-events.xml", "forms/wevtutil-export-utf16le-bom-crlf.xml"},
		{"constructed/application-517-eventviewer-copy.txt", "forms/eventviewer-copy-utf16le-bom-crlf.txt"},
	}
	for _, p := range pairs {
		a, _ := collect(t, p[0], readSample(t, p[0]))
		b, _ := collect(t, p[1], readSample(t, p[1]))
		if len(a) != len(b) {
			t.Fatalf("%s: %d events, %s: %d", p[0], len(a), p[1], len(b))
		}
		for i := range a {
			a[i].Raw, b[i].Raw = "", ""
			a[i].Codes()
			b[i].Codes()
			if !reflect.DeepEqual(a[i].EventData, b[i].EventData) || a[i].Rendering.Message != b[i].Rendering.Message ||
				a[i].TimeCreated != b[i].TimeCreated || a[i].RecordID != b[i].RecordID {
				t.Errorf("%s event %d differs from %s", p[1], i, p[0])
			}
		}
	}
}

func TestEventViewerCopyTakesHeader(t *testing.T) {
	evs, _ := collect(t, "x", readSample(t, "constructed/application-517-eventviewer-copy.txt"))
	ev := evs[0]
	if !strings.HasPrefix(ev.Rendering.Message, "Backup started at '\u200e2026") || ev.Rendering.Level != "Error" || ev.Rendering.Task != "None" {
		t.Errorf("header not used: message %.40q, level %q, task %q", ev.Rendering.Message, ev.Rendering.Level, ev.Rendering.Task)
	}
}

func TestControlCharactersAreKept(t *testing.T) {
	evs, errs := collect(t, "x", readSample(t, "forms/security-4739-control-char.xml"))
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	if v, _ := evs[0].Data("MinPasswordAge"); v != "\x03" {
		t.Errorf("MinPasswordAge = %q, want U+0003 kept", v)
	}
	if v, ok := evs[0].Data("MaxPasswordAge"); !ok || v != "" {
		t.Errorf("self-closed <Data/> = %q, %v; want an empty value", v, ok)
	}
}

func TestTruncatedPastes(t *testing.T) {
	tests := map[string]string{
		// FILE:LINE:COL is where the input stops; the message names where
		// the unclosed element and its event start.
		"backup-4-success-truncated.txt":    "backup-4-success-truncated.txt:31:1: unexpected end of input inside <Data Name='VolumesInfo'> (opened at 30:4) in the event that starts at 4:2;",
		"backup-5-0x8078011e-truncated.txt": "backup-5-0x8078011e-truncated.txt:29:1: unexpected end of input inside <Data Name='VolumesInfo'> (opened at 28:1) in the event that starts at 2:3;",
	}
	for name, prefix := range tests {
		data, err := os.ReadFile(filepath.Join("../../testdata/broken", name))
		if err != nil {
			t.Fatal(err)
		}
		evs, errs := collect(t, name, data)
		if len(evs) != 0 || len(errs) != 1 {
			t.Fatalf("%s: %d events, errors %v; want one error", name, len(evs), errs)
		}
		if !strings.HasPrefix(errs[0].Error(), prefix) {
			t.Errorf("%s:\n got %s\nwant %s...", name, errs[0], prefix)
		}
	}
}

func TestBrokenInputKeepsTheRest(t *testing.T) {
	good := string(readSample(t, "constructed/restore-244-0x80070002.xml"))
	if !strings.HasSuffix(good, "\n") {
		good += "\n"
	}
	// The line after good, where a cut event is appended.
	next := strings.Count(good, "\n") + 1
	utf16le := func(s string) string {
		b := []byte{0xFF, 0xFE}
		for _, r := range s { // ASCII only
			b = append(b, byte(r), 0)
		}
		return string(b)
	}
	deep := "<Event><EventData>" + strings.Repeat("<a>", 2_000_000) + strings.Repeat("</a>", 2_000_000) + "</EventData></Event>\n"
	tests := []struct {
		name, input string
		events      int
		errs        []string
	}{
		{"stray text before", "hello there\n" + good, 1, []string{"x:1:1: text outside any <Event>: \"hello there\""}},
		{"bad event then good", "<Event><System><EventID>abc</EventID></System></Event>\n" + good, 1, []string{"x:1:16: EventID \"abc\" is not a number"}},
		{"mismatched end tag", "<Event><System><Channel>A</Computer></System></Event>\n" + good, 1, []string{"x:1:26: found </Computer> where </Channel> was expected"}},
		{"other root", "<Foo/>\n" + good, 1, []string{"x:1:1: expected <Event>, found <Foo>"}},
		{"not an event", "just a note\nof two lines\n", 0, []string{"x:1:1: text outside any <Event>"}},
		{"empty", "", 0, []string{"x:1:1: no <Event> found"}},
		{"cut in an attribute", good + "<Event><System><Provider Name='x", 1, []string{fmt.Sprintf("x:%d:33: unexpected end of input in an attribute of <Provider> (opened at %[1]d:16) in the event that starts at %[1]d:1;", next)}},
		{"cut in a start tag", good + "<Event><System><Provider Name='x'", 1, []string{fmt.Sprintf("x:%d:34: unexpected end of input in the start tag <Provider> (opened at %[1]d:16) in the event that starts at %[1]d:1;", next)}},
		{"cut in the event tag", good + "<Event xmlns='", 1, []string{fmt.Sprintf("x:%d:15: unexpected end of input in an attribute of <Event> (opened at %[1]d:1);", next)}},
		{"cut in an element", good + "<Event><System><Channel>Sys", 1, []string{fmt.Sprintf("x:%d:28: unexpected end of input inside <Channel> (opened at %[1]d:16) in the event that starts at %[1]d:1;", next)}},
		{"odd UTF-16", "\xff\xfe<\x00E", 0, []string{"x:1:1: expected <Event>, found <>", "x:1:2: UTF-16 text has an odd number of bytes (3)"}},
		{"odd UTF-16 after an event", utf16le(good) + "<", 1, []string{fmt.Sprintf("x:%d:1: UTF-16 text has an odd number of bytes", next)}},
		{"nested too deep", deep + good, 1, []string{"x:1:208: elements nested more than 64 deep"}},
		{"bad time", "<Event><System><TimeCreated SystemTime='yesterday'/></System></Event>", 0, []string{"x:1:16: TimeCreated SystemTime \"yesterday\" is not a time"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			evs, errs := collect(t, "x", []byte(tt.input))
			if len(evs) != tt.events {
				t.Errorf("%d events, want %d", len(evs), tt.events)
			}
			if len(errs) != len(tt.errs) {
				t.Fatalf("errors %v, want %d", errs, len(tt.errs))
			}
			for i, e := range errs {
				if !strings.Contains(e.Error(), tt.errs[i]) {
					t.Errorf("error %q, want it to contain %q", e, tt.errs[i])
				}
			}
		})
	}
}

func TestXMLDetails(t *testing.T) {
	in := `<?xml version="1.0"?>
<!-- comment -->
<Event xmlns='http://schemas.microsoft.com/win/2004/08/events/event'>
 <System>
  <Provider Name = 'P&amp;Q' Guid="{G}" EventSourceName='Src'/>
  <EventID Qualifiers='16384'>7036</EventID>
  <Keywords>0x8080000000000000</Keywords>
  <TimeCreated SystemTime='2024-01-02T03:04:05.1234567+02:00'/>
  <Correlation ActivityID='{A}' RelatedActivityID='{B}'/>
  <Unknown><Deep>x</Deep></Unknown>
 </System>
 <EventData>
  <Data>first</Data><Data Name='Empty'/><Data Name='Ents'>&lt;a&gt; &#65;&#x42; &bogus; &amp;</Data>
  <Data Name='CData'><![CDATA[<raw> & ]]>tail</Data>
  <Data Name='Comment'>a<!-- c -->b</Data>
  <Binary>0A0B</Binary>
 </EventData>
 <UserData><EventXML xmlns='x'><Param1>v1</Param1><Nested><Param2>v2</Param2></Nested><Empty/></EventXML></UserData>
 <RenderingInfo Culture='en-US'><Message>m</Message><Level>Information</Level><Keywords><Keyword>Classic</Keyword></Keywords></RenderingInfo>
</Event>
`
	var ev watcher.Event
	if err := (XML{}).Decode(&ev, []byte(in)); err != nil {
		t.Fatal(err)
	}
	checks := map[string][2]any{
		"provider":  {ev.Provider, watcher.Provider{Name: "P&Q", GUID: "{G}", EventSourceName: "Src"}},
		"id":        {ev.EventID, uint32(7036)},
		"qualifier": {[2]any{ev.Qualifiers, ev.HasQualifiers}, [2]any{uint16(16384), true}},
		"keywords":  {ev.Keywords, uint64(0x8080000000000000)},
		"time":      {ev.TimeCreated.UTC(), time.Date(2024, 1, 2, 1, 4, 5, 123456700, time.UTC)},
		"activity":  {[2]string{ev.ActivityID, ev.RelatedActivityID}, [2]string{"{A}", "{B}"}},
		"data": {ev.EventData, []watcher.Field{
			{Name: "", Value: "first"}, {Name: "Empty", Value: ""}, {Name: "Ents", Value: "<a> AB &bogus; &"},
			{Name: "CData", Value: "<raw> & tail"}, {Name: "Comment", Value: "ab"},
		}},
		"binary":   {ev.Binary, "0A0B"},
		"userdata": {[2]any{ev.UserDataName, ev.UserData}, [2]any{"EventXML", []watcher.Field{{Name: "Param1", Value: "v1"}, {Name: "Param2", Value: "v2"}, {Name: "Empty", Value: ""}}}},
		"render":   {[3]any{ev.Rendering.Culture, ev.Rendering.Message, ev.Rendering.Keywords}, [3]any{"en-US", "m", []string{"Classic"}}},
	}
	for name, c := range checks {
		if !reflect.DeepEqual(c[0], c[1]) {
			t.Errorf("%s:\n got %#v\nwant %#v", name, c[0], c[1])
		}
	}
	if !strings.HasPrefix(ev.Raw, "<Event ") || !strings.HasSuffix(ev.Raw, "</Event>") {
		t.Errorf("Raw is not the event element: %.30q...%.30q", ev.Raw, ev.Raw[max(0, len(ev.Raw)-30):])
	}
	if err := (XML{}).Decode(&ev, []byte(in+"<Event/>")); err == nil {
		t.Error("Decode accepted two events")
	}
}

func TestHeaderOnlyCopy(t *testing.T) {
	in := "Log Name:      Microsoft-Windows-Backup\nSource:        Microsoft-Windows-Backup\nEvent ID:      5\nLevel:         Error\nComputer:      PC1\nDescription:\nThe backup operation that started at 'x' has failed with following error code '0x807800B4' (Volumes larger than 2088958 megabytes cannot be protected.).\n"
	evs, errs := collect(t, "x", []byte(in))
	if len(errs) > 0 || len(evs) != 1 {
		t.Fatalf("events %d, errors %v", len(evs), errs)
	}
	ev := evs[0]
	if ev.EventID != 5 || ev.Level != 2 || ev.Channel != "Microsoft-Windows-Backup" || ev.Computer != "PC1" || !slices.Equal(uniqueCodes(ev), []uint32{0x807800B4}) {
		t.Errorf("header-only copy decoded as %+v", ev)
	}
	_, errs = collect(t, "x", []byte("Log Name: Application\nSource: x\n"))
	if len(errs) != 1 || !strings.Contains(errs[0].Error(), `no "Event Xml:" part`) {
		t.Errorf("copy without XML or ID: %v", errs)
	}
}

func FuzzText(f *testing.F) {
	for _, rel := range []string{"constructed/backup-5-v3-0x807800b4.xml", "constructed/application-517-eventviewer-copy.txt", "real/backup-524-catalog-deleted-eventviewer.txt"} {
		data, err := os.ReadFile(filepath.Join(samples, rel))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Add([]byte("<Event><System><EventID>1</EventID></System><EventData><Data Name='a'>&lt;x&gt;</Data></EventData></Event>"))
	f.Fuzz(func(t *testing.T, data []byte) {
		err := Text("f", data, func(ev *watcher.Event, pos Pos, err error) error {
			if err != nil {
				e, ok := err.(*Error)
				if !ok || e.Source != "f" || (e.Line < 1 && e.Msg == "") {
					t.Fatalf("error without a position: %#v", err)
				}
				return nil
			}
			ev.Codes()
			if !strings.HasPrefix(ev.Raw, "<Event") && !strings.HasPrefix(strings.TrimSpace(ev.Raw), "Log Name:") {
				t.Fatalf("Raw %.40q is not an event", ev.Raw)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	})
}

func TestDecodeAcceptsTrailingNULs(t *testing.T) {
	const ev = "<Event><System><EventID>7</EventID></System></Event>"
	for name, in := range map[string]string{
		"EvtRender's NUL":     ev + "\x00",
		"NULs and whitespace": ev + "\r\n\x00\x00 \x00",
		"whitespace":          " \n" + ev + "\n\t",
	} {
		var dst watcher.Event
		if err := (XML{}).Decode(&dst, []byte(in)); err != nil || dst.EventID != 7 || dst.Raw != ev {
			t.Errorf("%s: id %d, raw %q, error %v", name, dst.EventID, dst.Raw, err)
		}
	}
	var dst watcher.Event
	err := (XML{}).Decode(&dst, []byte(ev+"\x00x"))
	if se, ok := err.(*SyntaxError); !ok || se.Offset != len(ev)+1 || se.Msg != "unexpected content after </Event>" {
		t.Errorf("content after a NUL: %#v", err)
	}
}

func TestNestingIsCapped(t *testing.T) {
	nest := func(n int) string { return strings.Repeat("<a>", n) + "x" + strings.Repeat("</a>", n) }
	const huge = 2_000_000
	tests := map[string]struct {
		prefix, suffix string
		ok             int // the deepest nesting accepted
	}{
		// The level below <Event> of the first <a>: 1 under <Event>, 3 in
		// <Data> and in <UserData>'s element.
		"under Event":    {"<Event>", "</Event>", 64},
		"in System":      {"<Event><System>", "</System></Event>", 63},
		"in a Data":      {"<Event><EventData><Data Name='d'>", "</Data></EventData></Event>", 62},
		"in UserData":    {"<Event><UserData><X>", "</X></UserData></Event>", 62},
		"in a Rendering": {"<Event><RenderingInfo><Message>", "</Message></RenderingInfo></Event>", 62},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			var ev watcher.Event
			if err := (XML{}).Decode(&ev, []byte(tt.prefix+nest(tt.ok)+tt.suffix)); err != nil {
				t.Errorf("%d levels: %v", tt.ok, err)
			}
			for _, n := range []int{tt.ok + 1, huge} {
				err := (XML{}).Decode(&ev, []byte(tt.prefix+nest(n)+tt.suffix))
				// The <a> one level too deep.
				off := len(tt.prefix) + 3*tt.ok
				if se, ok := err.(*SyntaxError); !ok || se.Msg != "elements nested more than 64 deep" || se.Offset != off {
					t.Errorf("%d levels: error %#v, want nesting at offset %d", n, err, off)
				}
			}
		})
	}
}

// naiveLineCol is lineCol as a full count from the start.
func naiveLineCol(s string, off int) (int, int) {
	off = min(off, len(s))
	start := strings.LastIndexByte(s[:off], '\n') + 1
	return 1 + strings.Count(s[:off], "\n"), 1 + utf8.RuneCountInString(s[start:off])
}

func TestLineColCountsOnePass(t *testing.T) {
	ev := string(readSample(t, "constructed/restore-244-0x80070002.xml"))
	s := strings.Repeat(ev+"\n<!-- é€ -->\n", 20_000) + strings.Repeat(ev, 500) // and a long last line
	d := textDecoder{s: s}
	var offs []int
	for off := nextEvent(s, 0); off < len(s); off = nextEvent(s, off+1) {
		offs = append(offs, off)
	}
	for i, off := range offs {
		l, c := d.lineCol(off)
		if i%997 == 0 || i == len(offs)-1 {
			if wl, wc := naiveLineCol(s, off); l != wl || c != wc {
				t.Fatalf("offset %d: %d:%d, want %d:%d", off, l, c, wl, wc)
			}
		}
	}
	if d.scanned > len(s) {
		t.Errorf("lineCol scanned %d bytes for %d events in order, over an input of %d: not one pass", d.scanned, len(offs), len(s))
	}
	// Back and forth, and into the middle of a character.
	mid := strings.Index(s, "é") + 1
	for _, off := range []int{len(s), 5, offs[10], mid, mid + 1, offs[3], len(s) + 10, 0, offs[len(offs)-1] - 1} {
		l, c := d.lineCol(off)
		if wl, wc := naiveLineCol(s, off); l != wl || c != wc {
			t.Errorf("offset %d: %d:%d, want %d:%d", off, l, c, wl, wc)
		}
	}
}

// BenchmarkText decodes exports of growing size: the time per event must
// stay flat.
func BenchmarkText(b *testing.B) {
	ev, err := os.ReadFile(filepath.Join(samples, "constructed/restore-244-0x80070002.xml"))
	if err != nil {
		b.Fatal(err)
	}
	for _, n := range []int{100, 1_000, 10_000, 40_000} {
		data := []byte("<Events>\n" + strings.Repeat(string(ev)+"\n", n) + "</Events>\n")
		b.Run(fmt.Sprintf("events=%d", n), func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(data)))
			for b.Loop() {
				got := 0
				if err := Text("x", data, func(ev *watcher.Event, pos Pos, err error) error {
					if err != nil {
						return err
					}
					got++
					return nil
				}); err != nil || got != n {
					b.Fatalf("%d events, error %v", got, err)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/event")
		})
	}
}

func TestDecodeCutIsASyntaxError(t *testing.T) {
	for _, in := range []string{"<Event><System>", "<Event><System><Provider Name='x", "<Event><Sys"} {
		var ev watcher.Event
		err := (XML{}).Decode(&ev, []byte(in))
		var se *SyntaxError
		if !errors.As(err, &se) || se.Offset != len(in) {
			t.Errorf("%q: error %#v, want a *SyntaxError at the end", in, err)
		}
	}
}
