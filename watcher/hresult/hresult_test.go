package hresult

import (
	"strings"
	"testing"
)

func TestCatalogCoversTheVerifiedBackupCodes(t *testing.T) {
	// The codes of windows-backup-events.md section 4 whose meaning a
	// primary source confirms.
	verified := []uint32{
		0x807800B4, 0x8078011E, 0x8078015B, 0x807800A1, 0x8078010D, 0x80780102, 0x80780049, 0x8078002A,
		0x80070002, 0x80070001, 0x80070005, 0x80070037, 0x8007007B, 0x80070057, 0x8007045D,
		0x81000031, 0x8004230F, 0x80042308, 0x8004231F, 0x8004231D, 0x800423F0, 0x800423F2,
		0x800423F3, 0x800423F4, 0x8000FFFF,
	}
	for _, c := range verified {
		e, ok := Lookup(c)
		if !ok {
			t.Errorf("%#x missing from the catalog", c)
			continue
		}
		if e.Meaning == "" || e.Source == "" {
			t.Errorf("%#x: meaning %q, source %q", c, e.Meaning, e.Source)
		}
	}
	// Codes whose meaning no source confirms stay out.
	for _, c := range []uint32{0x807800C5, 0x80780119, 0x8078014B, 0x8078006B, 0x80780166, 0x81000019} {
		if _, ok := Lookup(c); ok {
			t.Errorf("%#x is in the catalog but its meaning is unverified", c)
		}
	}
	seen := map[uint32]bool{}
	for _, e := range Known() {
		if seen[e.Code] {
			t.Errorf("%#x listed twice", e.Code)
		}
		seen[e.Code] = true
	}
}

func TestExplain(t *testing.T) {
	tests := []struct {
		code uint32
		want []string
	}{
		{0x807800B4, []string{"0x807800B4  (unsigned 2155348148, signed -2139619148, insert %%2155348148)", "facility:  120 (0x78) FACILITY_BLB", "2,088,958 MB", "source:    KB2696906"}},
		{0x80070002, []string{"FACILITY_WIN32", "win32:     ERROR_FILE_NOT_FOUND", "KB2989057", "diskpart"}},
		{0x80780166, []string{"facility:  120 (0x78) FACILITY_BLB", "code:      358 (0x0166)", "not in logmedic's catalog"}},
		{0x80070035, []string{"win32:     ERROR_BAD_NETPATH: The network path was not found.", "not in logmedic's catalog"}},
		{0xC000006D, []string{"NTSTATUS error", "code 0x006D"}},
		{0x00000005, []string{"severity:  success", "FACILITY_NULL"}},
	}
	for _, tt := range tests {
		got := Explain(tt.code)
		for _, w := range tt.want {
			if !strings.Contains(got, w) {
				t.Errorf("Explain(%#x) lacks %q:\n%s", tt.code, w, got)
			}
		}
	}
}

func TestSummary(t *testing.T) {
	for code, want := range map[uint32]string{
		0x80070035: "The network path was not found.",
		0x80780166: "FACILITY_BLB (Windows Backup engine) error 0x0166",
		0xC000006D: "unknown error 0xC000006D",
	} {
		if got := Summary(code); got != want {
			t.Errorf("Summary(%#x) = %q, want %q", code, got, want)
		}
	}
	if got := Summary(0x807800B4); !strings.Contains(got, "2040 GB") {
		t.Errorf("Summary(0x807800B4) = %q", got)
	}
}
