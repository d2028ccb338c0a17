package evtxfile

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/logmedic/logmedic/internal/tooltest"
	"github.com/logmedic/logmedic/watcher"
	"github.com/logmedic/logmedic/watcher/decode"
)

const dir = "../../testdata/evtx"

type result struct {
	events []*watcher.Event
	where  []string // each event's chunk and record
	errs   []error
}

func read(t *testing.T, name string) result {
	t.Helper()
	f, err := os.Open(filepath.Join(dir, name))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	return readFrom(t, name, f)
}

func readFrom(t *testing.T, name string, r io.ReadSeeker) result {
	t.Helper()
	var res result
	err := Read(name, r, func(ev *watcher.Event, pos decode.Pos, err error) error {
		if err != nil {
			res.errs = append(res.errs, err)
			return nil
		}
		if pos.Source != name || !strings.HasPrefix(pos.Where, "chunk ") {
			t.Errorf("bad position %+v", pos)
		}
		res.events = append(res.events, ev.Clone())
		res.where = append(res.where, pos.Where)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return res
}

// Record counts: libevtx's evtxexport agrees on all of these but two.
// Application_no_crc32.evtx is flagged NoCRC32 and stores no checksums.
var counts = map[string]int{
	"2-vss_7-System.evtx":            1160,
	"Application_no_crc32.evtx":      17,
	"MSExchange_Management_wec.evtx": 1, // evtxexport: 0
	"Security_1_record.evtx":         1,
	"new-user-security.evtx":         4,
	// Chunks 0, 7 and 9 fail their event records checksum and are
	// skipped whole (the Velocidex parser read 141 records from them
	// before the checksums were checked); evtxexport reads 267, parsing
	// damaged chunks anyway.
	"sample_with_a_bad_chunk_magic.evtx": 129,
	"security.evtx":                      2261,
	"sysmon.evtx":                        358,
	"system.evtx":                        1881,
}

var disagree = map[string]bool{"MSExchange_Management_wec.evtx": true, "sample_with_a_bad_chunk_magic.evtx": true}

func TestRecordCounts(t *testing.T) {
	for name, want := range counts {
		res := read(t, name)
		if len(res.events) != want {
			t.Errorf("%s: %d records, want %d", name, len(res.events), want)
		}
		if name != "sample_with_a_bad_chunk_magic.evtx" && len(res.errs) > 0 {
			t.Errorf("%s: errors %v", name, res.errs)
		}
	}
}

func TestRecordCountsMatchEvtxexport(t *testing.T) {
	bin := tooltest.Require(t, "evtxexport", "libevtx-utils")
	for name := range counts {
		if disagree[name] {
			continue
		}
		out, err := exec.Command(bin, filepath.Join(dir, name)).Output()
		if err != nil {
			t.Fatalf("evtxexport %s: %v", name, err)
		}
		theirs := bytes.Count(out, []byte("\nEvent number"))
		if bytes.HasPrefix(out, []byte("Event number")) {
			theirs++
		}
		if ours := len(read(t, name).events); ours != theirs {
			t.Errorf("%s: logmedic reads %d records, evtxexport %d", name, ours, theirs)
		}
	}
}

func TestDamagedChunksAreReportedAndSkipped(t *testing.T) {
	res := read(t, "sample_with_a_bad_chunk_magic.evtx")
	want := []string{
		"sample_with_a_bad_chunk_magic.evtx: chunk 0 (offset 0x1000): event records checksum mismatch (stored 0xDED42440, computed 0x292F55E7); its 130 records (46728 to 46857) are skipped",
		"sample_with_a_bad_chunk_magic.evtx: chunk 7 (offset 0x71000): event records checksum mismatch (stored 0x43BDD697, computed 0x88EA44A0); its 78 records (47628 to 47705) are skipped",
		"sample_with_a_bad_chunk_magic.evtx: chunk 9 (offset 0x91000): event records checksum mismatch (stored 0x32A22F80, computed 0xE232CBC1); its 130 records (45820 to 45949) are skipped",
	}
	if len(res.errs) != len(want) {
		t.Fatalf("errors %v, want %d", res.errs, len(want))
	}
	for i, e := range res.errs {
		if !strings.HasPrefix(e.Error(), want[i]) {
			t.Errorf("error %d:\n got %s\nwant %s...", i, e, want[i])
		}
	}
	if len(res.events) != 129 {
		t.Errorf("%d records read around the damage, want 129", len(res.events))
	}
}

func TestFields(t *testing.T) {
	ev := read(t, "system.evtx").events[0]
	// Positional data with an empty value kept in place (a parser that
	// drops it shifts every later value).
	var vals []string
	for _, f := range ev.EventData {
		vals = append(vals, f.Value)
	}
	if want := []string{"10.00.", "15063", "", "Multiprocessor Free", "0"}; !reflect.DeepEqual(vals, want) {
		t.Errorf("system.evtx record 1 data %q, want %q", vals, want)
	}
	if ev.Channel != "System" || ev.Provider.Name != "EventLog" || ev.EventID != 6009 || !ev.HasQualifiers || ev.Qualifiers != 32768 || ev.RecordID != 1 {
		t.Errorf("system.evtx record 1: %+v", ev)
	}
	sec := read(t, "security.evtx").events[1]
	if sec.EventID != 4624 || sec.EventData[0].Name != "SubjectUserSid" || sec.Provider.GUID != "{54849625-5478-4994-A5BA-3E3B0328C30D}" {
		t.Errorf("security.evtx record 2: id %d, first field %q, guid %q", sec.EventID, sec.EventData[0].Name, sec.Provider.GUID)
	}
	if v, _ := sec.Data("TargetUserName"); v != "SYSTEM" {
		t.Errorf("TargetUserName = %q", v)
	}
}

// TestRenderedXMLDecodesToTheSameEvent checks the XML each record carries
// against the record itself, through the live decoder.
func TestRenderedXMLDecodesToTheSameEvent(t *testing.T) {
	for name := range counts {
		for i, ev := range read(t, name).events {
			var back watcher.Event
			if err := (decode.XML{}).Decode(&back, []byte(ev.Raw)); err != nil {
				t.Fatalf("%s record %d: rendered XML does not decode: %v\n%s", name, i, err, ev.Raw)
			}
			back.Raw = ev.Raw
			if fmt.Sprintf("%+v", back) != fmt.Sprintf("%+v", *ev) {
				t.Fatalf("%s record %d differs after rendering:\n got %+v\nwant %+v", name, i, back, *ev)
			}
		}
	}
}

func TestNotEvtx(t *testing.T) {
	tmp := t.TempDir()
	full, err := os.ReadFile(filepath.Join(dir, "system.evtx"))
	if err != nil {
		t.Fatal(err)
	}
	cases := map[string][]byte{
		"garbage":         append([]byte(Magic), bytes.Repeat([]byte{0xA5}, 200000)...),
		"header only":     full[:4096],
		"cut mid chunk":   full[:4096+30000],
		"not evtx at all": []byte("hello"),
	}
	for name, data := range cases {
		p := filepath.Join(tmp, strings.ReplaceAll(name, " ", "_"))
		if err := os.WriteFile(p, data, 0o600); err != nil {
			t.Fatal(err)
		}
		f, err := os.Open(p)
		if err != nil {
			t.Fatal(err)
		}
		res := readFrom(t, name, f)
		f.Close()
		if len(res.errs) == 0 {
			t.Errorf("%s: no error reported (%d events)", name, len(res.events))
		}
		for _, e := range res.errs {
			if !strings.HasPrefix(e.Error(), name+": ") {
				t.Errorf("%s: error does not name the file: %v", name, e)
			}
		}
	}
}

// TestUntypedValues pins the renderings the package comment documents:
// the parser drops value types, so these differ from EvtRender's (0x3e7,
// {00000000-...} and 2018-07-06T18:37:44.4858177Z). If they change, update
// the package comment.
func TestUntypedValues(t *testing.T) {
	sec := read(t, "security.evtx").events[1]
	sys := read(t, "2-vss_7-System.evtx").events[0]
	for _, c := range []struct {
		ev          *watcher.Event
		name, value string
	}{
		{sec, "TargetLogonId", "999"},                              // HexInt64
		{sec, "LogonGuid", "00000000-0000-0000-0000-000000000000"}, // GUID
		{sys, "StartTime", "1530902264.4858177"},                   // FILETIME
	} {
		if v, _ := c.ev.Data(c.name); v != c.value {
			t.Errorf("%s = %q, want %q", c.name, v, c.value)
		}
	}
	// The System fields are typed by name.
	if sec.Provider.GUID != "{54849625-5478-4994-A5BA-3E3B0328C30D}" || !strings.Contains(sec.Raw, "<Keywords>0x8020000000000000</Keywords>") {
		t.Errorf("system fields not as EvtRender writes them: %.300s", sec.Raw)
	}
}
