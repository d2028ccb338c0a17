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
		{0xC000006D, []string{"severity:  failure", "code:      109 (0x006D)", "ntstatus:  also the NTSTATUS error layout (severity bits 11): facility 0x0, code 0x006D"}},
		{0x00000005, []string{"severity:  success", "FACILITY_NULL"}},
		{0, []string{"0x00000000  (unsigned 0, signed 0, insert %%0)", "name:      S_OK", "meaning:   success: no error"}},
		// An SPP HRESULT with both top bits set: an HRESULT first.
		{0xC004F014, []string{"severity:  failure", "facility:  4 (0x4) FACILITY_ITF", "code:      61460 (0xF014)", "NTSTATUS error layout", "facility 0x4, code 0xF014"}},
		// HRESULT_FROM_NT(STATUS_ACCESS_DENIED).
		{0xD0000022, []string{"severity:  failure", "HRESULT_FROM_NT", "NTSTATUS 0xC0000022"}},
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
		0:          "S_OK: success, no error",
		0xD0000022: "NTSTATUS 0xC0000022 mapped to an HRESULT (HRESULT_FROM_NT)",
	} {
		if got := Summary(code); got != want {
			t.Errorf("Summary(%#x) = %q, want %q", code, got, want)
		}
	}
	if got := Summary(0x807800B4); !strings.Contains(got, "2040 GB") {
		t.Errorf("Summary(0x807800B4) = %q", got)
	}
}

func TestExplainNeverMixesLayouts(t *testing.T) {
	for _, tt := range []struct {
		code   uint32
		lacks  string
		reason string
	}{
		{0, "not in logmedic's catalog", "0 is S_OK"},
		{0xC004F014, "layout:    NTSTATUS", "0xC004F014 is an HRESULT first"},
		{0x80070005, "NTSTATUS", "only bit 31 set"},
		{0xC000006D, "HRESULT_FROM_NT", "bit 28 clear"},
	} {
		if got := Explain(tt.code); strings.Contains(got, tt.lacks) {
			t.Errorf("Explain(%#x) says %q, but %s:\n%s", tt.code, tt.lacks, tt.reason, got)
		}
	}
}
