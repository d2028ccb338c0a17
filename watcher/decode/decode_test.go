package decode

import (
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

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
		"backup-4-success-truncated.txt":    "backup-4-success-truncated.txt:31:1: unexpected end of input inside <Data Name='VolumesInfo'> (opened at 30:4)",
		"backup-5-0x8078011e-truncated.txt": "backup-5-0x8078011e-truncated.txt:29:1: unexpected end of input inside <Data Name='VolumesInfo'> (opened at 28:1)",
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
		{"cut in a tag", good + "<Event><System><Provider Name='x", 1, []string{"unexpected end of input in an attribute of <Provider>"}},
		{"odd UTF-16", "\xff\xfe<\x00E", 0, []string{"x: UTF-16 text has an odd number of bytes"}},
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
