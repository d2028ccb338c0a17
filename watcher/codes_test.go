package watcher

import (
	"slices"
	"testing"
)

func TestParseCodeEveryForm(t *testing.T) {
	// 0x807800B4 as Windows and admins write it (windows-backup-events.md §3).
	for _, s := range []string{
		"0x807800B4", "0x807800b4", "0X807800B4", "0x00807800B4", " 0x807800B4 ",
		"807800B4", "807800b4", "2155348148", "-2139619148", "%%2155348148",
		"'0x807800B4'", "(0x807800B4)", `"2155348148"`,
	} {
		v, err := ParseCode(s)
		if err != nil || v != 0x807800B4 {
			t.Errorf("ParseCode(%q) = %#x, %v; want 0x807800B4", s, v, err)
		}
	}
	// Eight hex digits without 0x are the DPM form, even when all digits.
	if v, _ := ParseCode("80780049"); v != 0x80780049 {
		t.Errorf("ParseCode(80780049) = %#x, want 0x80780049", v)
	}
	if v, _ := ParseCode("5"); v != 5 {
		t.Errorf("ParseCode(5) = %#x, want 5", v)
	}
}

func TestParseCodeRejects(t *testing.T) {
	for _, s := range []string{
		"", "0x", "%%", "-", "hello", "0x1FFFFFFFF", "4294967296", "-2147483649",
		"12.5", "0x80G", "%%-5", "--5", "1e9", "0x807800B4 0x1",
	} {
		if v, err := ParseCode(s); err == nil {
			t.Errorf("ParseCode(%q) = %#x, want an error", s, v)
		}
	}
}

func TestFormatCode(t *testing.T) {
	for v, want := range map[uint32]string{0x807800B4: "0x807800B4", 5: "0x00000005", 0: "0x00000000", 0xFFFFFFFF: "0xFFFFFFFF"} {
		if got := FormatCode(v); got != want {
			t.Errorf("FormatCode(%#x) = %s, want %s", v, got, want)
		}
	}
}

func codeList(ev *Event) []string {
	var out []string
	for _, c := range AppendCodes(nil, ev) {
		out = append(out, FormatCode(c.Value)+"@"+c.Where)
	}
	return out
}

func TestAppendCodesFindsEveryForm(t *testing.T) {
	ev := &Event{
		EventData: []Field{
			{"HRESULT", "0x807800b4"},         // HexInt32, lower case, as v3 events write it
			{"DetailedHRESULT", "2147942405"}, // UInt32 decimal (v0-v2)
			{"ErrorCode", "-2147024894"},      // signed decimal
			{"ErrorMessage", "%%2155348254"},  // parameter insert
			{"SppErrorCode", "0x81000031"},    // any *ErrorCode
			{"VolumesInfo", `<VolumeInfo><VolumeInfoItem Name="C:" State="12" HResult="-2139619042" DetailedHResult="-2147024891" TotalSize="2306867200000" /></VolumeInfo>`},
			{"", "the writer failed with 0x800423F4 after 3 tries"}, // free text, positional
			{"Status", "0xc000006d"},                                // NTSTATUS
		},
		Rendering: Rendering{Message: "Backup started at '\u200e2026\u200e-\u200e11' failed with following error code '2155348237' (Enumeration of the files failed.). See also (0x8078015B)."},
	}
	want := []string{
		"0x807800B4@HRESULT", "0x80070005@DetailedHRESULT", "0x80070002@ErrorCode",
		"0x8078011E@ErrorMessage", "0x81000031@SppErrorCode",
		"0x8078011E@VolumesInfo[C:].HResult", "0x80070005@VolumesInfo[C:].DetailedHResult",
		"0x800423F4@Data[7]", "0xC000006D@Status",
		"0x8078010D@Message", "0x8078015B@Message",
	}
	if got := codeList(ev); !slices.Equal(got, want) {
		t.Errorf("codes:\n got %q\nwant %q", got, want)
	}
}

func TestAppendCodesInventsNothing(t *testing.T) {
	// Ordinary numbers, IDs, sizes, flags and S_OK must never become codes.
	ev := &Event{
		EventData: []Field{
			{"HRESULT", "0x0"},          // S_OK
			{"ErrorMessage", "%%0"},     // S_OK insert
			{"SubjectLogonId", "0x3e7"}, // a logon ID in hex
			{"BackupFlags", "0x10"},     // flags
			{"NumOfVolumes", "3"},       // a count
			{"BackupState", "12"},       // an enum
			{"ComponentStatus", "3"},    // not a code field
			{"ElevatedToken", "%%1842"}, // Security parameter message, not an HRESULT
			{"ErrorCode", "4294967296"}, // does not fit in 32 bits
			{"HRESULT", "0x1807800B4"},  // does not fit in 32 bits
			{"Status", "5"},             // NTSTATUS fields count only as 0x hex
			{"VolumesInfo", `<VolumeInfoItem Name="C:" TotalSize="2306867200000" State="14" HResult="0" />`},
			{"Text", "process 0x1a4 exited after 2155 ms with 0x0"}, // hex without the failure bit
			{"Note", "took '5' tries and '4294967296' bytes"},       // quoted numbers without the failure bit, or too big
			{"Addr", "at 0x7ff6a1b2c3d4e5f6 in module"},             // a 64-bit address
		},
		Rendering: Rendering{Message: "The backup operation that started at '2016-11-13' has finished successfully with 0 errors."},
	}
	if got := codeList(ev); len(got) != 0 {
		t.Errorf("codes invented: %q", got)
	}
}

func TestEventCodesComputedOnceAndReset(t *testing.T) {
	ev := &Event{EventData: []Field{{"HRESULT", "0x80070002"}}}
	if c := ev.Codes(); len(c) != 1 || c[0].Value != 0x80070002 {
		t.Fatalf("Codes = %v", c)
	}
	ev.Reset()
	ev.EventData = append(ev.EventData, Field{"ErrorCode", "0x807800b4"})
	if c := ev.Codes(); len(c) != 1 || c[0].Value != 0x807800B4 {
		t.Fatalf("after Reset, Codes = %v; want the new event's code", c)
	}
}

func TestCloneIsIndependent(t *testing.T) {
	ev := &Event{EventData: []Field{{"A", "1"}}}
	c := ev.Clone()
	ev.Reset()
	ev.EventData = append(ev.EventData, Field{"B", "2"})
	if c.EventData[0] != (Field{"A", "1"}) {
		t.Errorf("clone changed with the original: %v", c.EventData)
	}
}

func TestLevelNames(t *testing.T) {
	for l, name := range map[uint8]string{0: "information", 1: "critical", 2: "error", 3: "warning", 4: "information", 5: "verbose", 6: "level6", 9: "level9", 255: "level255"} {
		if got := LevelName(l); got != name {
			t.Errorf("LevelName(%d) = %s, want %s", l, got, name)
		}
	}
	for _, name := range []string{"critical", "Error", "WARNING", "information", "verbose"} {
		if _, ok := ParseLevel(name); !ok {
			t.Errorf("ParseLevel(%q) failed", name)
		}
	}
	if _, ok := ParseLevel("fatal"); ok {
		t.Error("ParseLevel(fatal) succeeded")
	}
}

func FuzzParseCode(f *testing.F) {
	for _, s := range []string{"0x807800B4", "2155348148", "-2139619148", "%%2155348148", "807800B4", "'0x1'", "0x", "-"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		v, err := ParseCode(s)
		if err != nil {
			return
		}
		// Whatever parsed must read back the same from every form
		// logmedic and Windows write it in.
		forms := []string{FormatCode(v), FormatCode(v)[2:], "%%" + itoa(uint64(v))}
		if d := itoa(uint64(v)); len(d) != 8 { // eight digits read as hex, by design
			forms = append(forms, d)
		}
		for _, form := range forms {
			if w, err := ParseCode(form); err != nil || w != v {
				t.Fatalf("ParseCode(%q) = %#x, %v; want %#x (from %q)", form, w, err, v, s)
			}
		}
	})
}

func FuzzAppendCodes(f *testing.F) {
	f.Add("HRESULT", "0x807800b4")
	f.Add("VolumesInfo", `<VolumeInfoItem Name="C:" HResult="-2139619148" />`)
	f.Add("Message", "failed with '2155348148' (0x807800B4)")
	f.Add("ErrorMessage", "%%2155348148")
	f.Fuzz(func(t *testing.T, name, value string) {
		ev := &Event{EventData: []Field{{name, value}}, Rendering: Rendering{Message: value}}
		for _, c := range AppendCodes(nil, ev) {
			if c.Value == 0 {
				t.Fatalf("zero code from %q=%q", name, value)
			}
			if v, err := ParseCode(c.Text); err != nil || v != c.Value {
				if v2, ok := parseFieldCode(c.Text); !ok || v2 != c.Value {
					t.Fatalf("code %#x reported as text %q, which reads as %#x", c.Value, c.Text, v)
				}
			}
		}
	})
}

func TestAppendCodesContext(t *testing.T) {
	tests := []struct {
		name string
		ev   Event
		want []string
	}{
		{"logon ID in a message", Event{Rendering: Rendering{Message: "Subject:\n\tSecurity ID:\t\tSYSTEM\n\tLogon ID:\t\t0x8A3B1F20\n"}}, nil},
		{"camel-case ID names", Event{Rendering: Rendering{Message: "error in LogonId 0x8A3B1F20, ProcessID=0x8000AB12, AccessMask: 0x80000000"}}, nil},
		{"bare hex in text", Event{Rendering: Rendering{Message: "copied 0x80000000 bytes"}}, nil},
		{"ID veto beats quotes", Event{Rendering: Rendering{Message: "Logon ID: '0x8A3B1F20'"}}, nil},
		{"quoted attribute without a code name", Event{EventData: []Field{{"Info", `<Item Attrs="0x80000020" />`}}}, nil},
		{"positional logon ID shape in text", Event{EventData: []Field{{"", "session 0x8A3B1F20 opened"}}}, nil},
		{"named logon ID", Event{EventData: []Field{{"TargetLogonId", "0x8a3b1f20"}}}, nil},
		{"HTTP status", Event{EventData: []Field{{"StatusCode", "404"}, {"HttpStatusCode", "500"}}}, nil},
		{"result enum", Event{EventData: []Field{{"Result", "1"}, {"ReturnValue", "2"}, {"ExitCode", "1"}}}, nil},
		{"exit code is no code field", Event{EventData: []Field{{"ExitCode", "3221225477"}}}, nil},
		{"bare DPM hex without the failure bit", Event{Rendering: Rendering{Message: "HResult: 00000001 size: 80780049"}}, nil},

		{"status code as hex or failing decimal", Event{EventData: []Field{{"StatusCode", "0x80190194"}, {"Status Code", "2149122452"}}},
			[]string{"0x80190194@StatusCode", "0x80190194@Status Code"}},
		{"NTSTATUS in decimal from .evtx", Event{EventData: []Field{{"Status", "3221226341"}, {"SubStatus", "3221225572"}}},
			[]string{"0xC0000365@Status", "0xC0000064@SubStatus"}},
		{"names with spaces and underscores", Event{EventData: []Field{{"Error Code", "0x80508023"}, {"Detailed_HRESULT", "2147942405"}, {"hresult-value", "x"}}},
			[]string{"0x80508023@Error Code", "0x80070005@Detailed_HRESULT"}},
		{"whole positional value", Event{EventData: []Field{{"", "0x80070005"}, {"", "0x8a3b1f2"}}},
			[]string{"0x80070005@Data[1]"}},
		{"result fields with the failure bit", Event{EventData: []Field{{"Result", "0x8004230F"}, {"ReturnValue", "2147942405"}}},
			[]string{"0x8004230F@Result", "0x80070005@ReturnValue"}},
		{"hr= without spaces", Event{EventData: []Field{{"Detail", "hr=0x80070005"}, {"Call", "CreateFile:hr=0x80070002;"}}},
			[]string{"0x80070005@Detail", "0x80070002@Call"}},
		{"DPM and MARS form", Event{Rendering: Rendering{Message: "Backup failed. HResult: 80780049 DetailedHResult: 8007007B"}},
			[]string{"0x80780049@Message", "0x8007007B@Message"}},
		{"DPM form with =", Event{EventData: []Field{{"Details", "HResult=80780049"}}},
			[]string{"0x80780049@Details"}},
		{"code keywords", Event{Rendering: Rendering{Message: "WSB Error Code: 0x807800A1\nStatus: 0xC000006D Sub Status: 0xC000006A\nCreateFile returned 0x80070005; failure reason 0x8007045D"}},
			[]string{"0x807800A1@Message", "0xC000006D@Message", "0xC000006A@Message", "0x80070005@Message", "0x8007045D@Message"}},
		{"code field with trailing text", Event{EventData: []Field{{"HRESULT", "0x80070005 (Access is denied.)"}}},
			[]string{"0x80070005@HRESULT"}},
		{"text inside XML in a field, attributes once", Event{EventData: []Field{{"VolumesInfo", `<V Name="C:" HResult="0x80070005"><Msg>failed with 0x80070002</Msg></V>`}}},
			[]string{"0x80070005@VolumesInfo[C:].HResult", "0x80070002@VolumesInfo"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := codeList(&tt.ev); !slices.Equal(got, tt.want) {
				t.Errorf("codes:\n got %q\nwant %q", got, tt.want)
			}
		})
	}
}

func TestAppendCodesAllocatesOnlyResults(t *testing.T) {
	ev := &Event{
		EventData: []Field{
			{"HRESULT", "0x807800b4"}, {"Error Code", "0x80508023"}, {"SubjectLogonId", "0x3e7"},
			{"", "the writer failed with 0x800423F4 after 3 tries"}, {"Detail", "hr=0x80070005"},
			{"AVeryLongFieldNameThatGoesOnAndOnBeyondTheBufferForNormalizedNamesErrorCode", "0x80070002"},
		},
		Rendering: Rendering{Message: "Logon ID: 0x8A3B1F20. HResult: 80780049 DetailedHResult: 8007007B"},
	}
	dst := make([]Code, 0, 16)
	if n := testing.AllocsPerRun(100, func() { dst = AppendCodes(dst[:0], ev) }); n != 0 {
		t.Errorf("AppendCodes allocates %.1f times per event", n)
	}
	if len(dst) != 7 {
		t.Errorf("found %d codes, want 7: %v", len(dst), dst)
	}
}
