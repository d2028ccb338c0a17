package hostfacts

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func readFixture(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestParseOSRelease(t *testing.T) {
	tests := []struct {
		name, file, want, err string
	}{
		{name: "debian", file: "os-release-debian12.txt", want: "Debian GNU/Linux 12 (bookworm)"},
		{name: "alpine", file: "os-release-alpine.txt", want: "Alpine Linux v3.19"},
		{name: "name and version", file: "os-release-no-pretty.txt", want: `Example OS 1.0 "Ant"`},
		{name: "broken", file: "os-release-broken.txt", err: "os-release: no PRETTY_NAME or NAME (line 3: NAME: unquoted value with shell characters)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseOSRelease(readFixture(t, tt.file))
			if tt.err != "" {
				if err == nil || err.Error() != tt.err {
					t.Fatalf("parseOSRelease = %q, %v; want error %q", got, err, tt.err)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("parseOSRelease = %q, %v; want %q", got, err, tt.want)
			}
		})
	}
	for name, text := range map[string]string{
		"empty":             "",
		"binary":            "\x00\xff\xfe=\x01\n\x7f",
		"only comments":     "# PRETTY_NAME=x\n",
		"CRLF unterminated": "PRETTY_NAME=\"x\r\n",
		"empty key":         "=x\n",
	} {
		if got, err := parseOSRelease(text); err == nil {
			t.Errorf("%s: parseOSRelease = %q, want an error", name, got)
		}
	}
	// CRLF line ends and text after a quote.
	if got, err := parseOSRelease("PRETTY_NAME=\"Windows? No\"\r\nNAME=\"x\" y\n"); err != nil || got != "Windows? No" {
		t.Errorf("CRLF: %q, %v", got, err)
	}
}

func TestParseUptime(t *testing.T) {
	tests := []struct {
		name, text string
		want       time.Duration
		ok         bool
	}{
		{name: "proc", text: "9129.48 12239.95\n", want: 9129480 * time.Millisecond, ok: true},
		{name: "zero", text: "0.00 0.00", want: 0, ok: true},
		{name: "integer", text: "17", want: 17 * time.Second, ok: true},
		{name: "empty", text: ""},
		{name: "blank", text: " \n"},
		{name: "words", text: "up 3 days"},
		{name: "negative", text: "-5 1"},
		{name: "NaN", text: "NaN 1"},
		{name: "Inf", text: "+Inf 1"},
		{name: "overflow", text: "1e300 1"},
		{name: "just too long", text: "9223372037 0"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseUptime(tt.text)
			if (err == nil) != tt.ok || got != tt.want {
				t.Fatalf("parseUptime(%q) = %v, %v; want %v, ok %v", tt.text, got, err, tt.want, tt.ok)
			}
		})
	}
}

func TestParseMeminfo(t *testing.T) {
	tests := []struct {
		name, text   string
		total, avail uint64
		err          string
	}{
		{name: "linux 6", text: readFixture(t, "meminfo-linux6.txt"), total: 24684096 * 1024, avail: 24113276 * 1024},
		{name: "old kernel", text: readFixture(t, "meminfo-linux3.2.txt"), total: 2056964 * 1024, err: "meminfo: no MemAvailable"},
		{name: "broken", text: readFixture(t, "meminfo-broken.txt"), err: `meminfo: MemTotal: "lots kB" is not N kB`},
		{name: "empty", text: "", err: "meminfo: no MemTotal"},
		{name: "bytes", text: "MemTotal: 4096\nMemAvailable: 1024\n", total: 4096, avail: 1024},
		{name: "MB", text: "MemTotal: 4 MB\n", err: `meminfo: MemTotal: "4 MB" is not N kB`},
		{name: "overflow", text: "MemTotal: 18446744073709551615 kB\n", err: "meminfo: MemTotal: 18446744073709551615 kB is too large"},
		{name: "too big", text: "MemTotal: 99999999999999999999999 kB\n", err: `meminfo: MemTotal: "99999999999999999999999 kB" is not N kB`},
		{name: "negative", text: "MemTotal: -1 kB\n", err: `meminfo: MemTotal: "-1 kB" is not N kB`},
		{name: "no value", text: "MemTotal:\nMemAvailable: 1 kB\n", err: `meminfo: MemTotal: "" is not N kB`},
		{name: "garbage", text: "\x00:\xff\n:::\nMemTotal", err: "meminfo: no MemTotal"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			total, avail, err := parseMeminfo(tt.text)
			if total != tt.total || avail != tt.avail {
				t.Errorf("parseMeminfo = %d, %d; want %d, %d", total, avail, tt.total, tt.avail)
			}
			if tt.err == "" && err != nil || tt.err != "" && (err == nil || err.Error() != tt.err) {
				t.Errorf("error %v, want %q", err, tt.err)
			}
		})
	}
}

func TestWindowsProductName(t *testing.T) {
	tests := []struct {
		product string
		build   uint64
		want    string
	}{
		{"Windows 10 Pro", 19045, "Windows 10 Pro"},
		{"Windows 10 Pro", 22631, "Windows 11 Pro"},
		{"Windows 10 Enterprise LTSC 2024", 26100, "Windows 11 Enterprise LTSC 2024"},
		{"Windows Server 2019 Datacenter", 17763, "Windows Server 2019 Datacenter"},
		{"Windows Server 2025 Standard", 26100, "Windows Server 2025 Standard"},
		{" Windows 7 Professional ", 7601, "Windows 7 Professional"},
		{"", 22000, ""},
	}
	for _, tt := range tests {
		if got := windowsProductName(tt.product, tt.build); got != tt.want {
			t.Errorf("windowsProductName(%q, %d) = %q, want %q", tt.product, tt.build, got, tt.want)
		}
	}
}

func TestParsersDoNotPanicOnNoise(t *testing.T) {
	noise := []string{strings.Repeat("=", 1<<16), strings.Repeat("\"", 999), "\xff\xfe\x00", strings.Repeat("MemTotal: 1 kB\n", 1000)}
	for _, s := range noise {
		_, _ = parseOSRelease(s)
		_, _ = parseUptime(s)
		_, _, _ = parseMeminfo(s)
	}
}
