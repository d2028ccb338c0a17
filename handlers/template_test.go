package handlers

import (
	"encoding/json"
	"errors"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/logmedic/logmedic/internal/hostfacts"
	"github.com/logmedic/logmedic/watcher"
)

// fakeHost replaces what host and volumes read for one test.
func fakeHost(t *testing.T, f hostfacts.Facts, err error, hostname string, volumes func([]string) []hostfacts.Volume) {
	t.Helper()
	oldC, oldV, oldH := collectFacts, queryVolumes, localHostname
	t.Cleanup(func() { collectFacts, queryVolumes, localHostname = oldC, oldV, oldH })
	collectFacts = func() (hostfacts.Facts, error) { return f, err }
	localHostname = func() (string, error) { return hostname, nil }
	if volumes != nil {
		queryVolumes = volumes
	}
}

func render(t *testing.T, src string, d *Data) string {
	t.Helper()
	tm, err := NewTemplate(src)
	if err != nil {
		t.Fatalf("%s: %v", src, err)
	}
	s, err := tm.Execute(d)
	if err != nil {
		t.Fatalf("%s: %v", src, err)
	}
	return s
}

var server2019 = hostfacts.Facts{
	Hostname: "WS-0142", OS: "Windows Server 2019 Datacenter", Version: "10.0", Build: "17763", Revision: "5458",
	DisplayVersion: "1809", Arch: "x86_64", Uptime: 26*time.Hour + 3*time.Minute, MemTotal: 16 << 30, MemAvailable: 5 << 29,
}

func TestHostFunction(t *testing.T) {
	fakeHost(t, server2019, nil, "WS-0142", nil)
	d := SampleData()
	tests := map[string]string{
		`{{ host.OS }} build {{ host.Build }}.{{ host.Revision }}`:     "Windows Server 2019 Datacenter build 17763.5458",
		`{{ host.Version }} {{ host.DisplayVersion }} {{ host.Arch }}`: "10.0 1809 x86_64",
		`up {{ host.Uptime }}`: "up 26h3m0s",
		`{{ bytes host.MemAvailable }} of {{ bytes host.MemTotal }}`: "2.50 GiB of 16.0 GiB",
		`{{ with host }}{{ .Hostname }}{{ end }}`:                    "WS-0142",
		`{{ bytes 1536 }}`: "1.50 KiB",
		`[{{ host.Err }}]`: "[]",
	}
	for src, want := range tests {
		if got := render(t, src, d); got != want {
			t.Errorf("%s = %q, want %q", src, got, want)
		}
	}
	var f hostfacts.Facts
	if err := json.Unmarshal([]byte(render(t, `{{ json host }}`, d)), &f); err != nil || f != server2019 {
		t.Errorf("json host = %+v, %v", f, err)
	}
}

func TestHostFunctionNeverFails(t *testing.T) {
	fakeHost(t, hostfacts.Facts{Hostname: "h", MemTotal: 1 << 30}, errors.New("os-release: no PRETTY_NAME or NAME"), "h", nil)
	got := render(t, `[{{ host.OS }}][{{ bytes host.MemTotal }}][{{ host.Uptime }}][{{ host.Err }}]`, SampleData())
	if want := "[][1.00 GiB][0s][os-release: no PRETTY_NAME or NAME]"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}

// The real collector, on the machine the tests run on: only the shape.
func TestHostFunctionReadsThisHost(t *testing.T) {
	got := render(t, `{{ host.OS }}|{{ host.Arch }}|{{ host.MemTotal }}|{{ host.Uptime }}`, SampleData())
	parts := strings.Split(got, "|")
	if len(parts) != 4 {
		t.Fatalf("got %q", got)
	}
	if parts[0] == "" || parts[1] == "" {
		t.Errorf("OS and Arch should be set: %q", got)
	}
	if runtime.GOOS == "linux" || runtime.GOOS == "windows" {
		if n, err := strconv.ParseUint(parts[2], 10, 64); err != nil || n == 0 {
			t.Errorf("MemTotal should be set: %q", got)
		}
		if d, err := time.ParseDuration(parts[3]); err != nil || d <= 0 {
			t.Errorf("Uptime should be set: %q", got)
		}
	}
}

func backupEvent(computer string) *Event {
	return &Event{
		Channel: "Microsoft-Windows-Backup", Provider: "Microsoft-Windows-Backup", EventID: 5, Computer: computer,
		Data: []watcher.Field{
			{Name: "HRESULT", Value: "0x807800b4"},
			{Name: "BackupTarget", Value: "E:"},
			{Name: "VolumesInfo", Value: `<VolumeInfo><VolumeInfoItem Name="C:" OriginalAccessPath="C:" State="12" /></VolumeInfo>`},
			{Name: "BackupFailureLogPath", Value: `C:\Windows\Logs\WindowsBackup\Backup_Error.log`},
		},
	}
}

func TestVolumesFunction(t *testing.T) {
	var asked [][]string
	fakeHost(t, server2019, nil, "ws-0142", func(names []string) []hostfacts.Volume {
		asked = append(asked, names)
		out := make([]hostfacts.Volume, len(names))
		for i, n := range names {
			out[i] = hostfacts.Volume{Name: n, Path: n + `\`, Size: 2_000_000_000_000, Free: 19_500_000_000}
			if n == "C:" {
				out[i] = hostfacts.Volume{Name: n, Path: `C:\`, Err: "The device is not ready."}
			}
		}
		return out
	})
	src := `{{ range volumes . }}{{ .Name }}: {{ if .Err }}{{ .Err }}{{ else }}{{ bytes .Free }} free of {{ bytes .Size }}{{ end }}; {{ end }}`
	d := NewData(backupEvent("WS-0142.corp.example"), "r", "")
	if got, want := render(t, src, d), "E:: 18.2 GiB free of 1.82 TiB; C:: The device is not ready.; "; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
	if len(asked) != 1 || strings.Join(asked[0], ",") != "E:,C:" {
		t.Errorf("volumes asked for %q", asked)
	}

	// Data built without NewData: the fields come from the map, by name.
	d = &Data{Computer: "WS-0142", Data: map[string]string{"VolumesInfo": `<VolumeInfoItem Name="D:"/>`, "BackupTarget": "E:"}}
	if got, want := render(t, `{{ range volumes . }}{{ .Name }} {{ end }}`, d), "E: D: "; got != want {
		t.Errorf("map data: got %q, want %q", got, want)
	}
	// An Event works too, and an event naming nothing renders nothing.
	e := backupEvent("")
	e.Data = e.Data[:1]
	if got := render(t, `[{{ range volumes . }}{{ .Name }}{{ end }}]`, NewData(e, "r", "")); got != "[]" {
		t.Errorf("no volumes: %q", got)
	}
	vs, err := eventVolumes(*backupEvent("ws-0142"))
	if err != nil || len(vs) != 2 || vs[0].Name != "E:" {
		t.Errorf("eventVolumes(Event) = %+v, %v", vs, err)
	}
	if vs, err := eventVolumes((*Data)(nil)); err != nil || vs != nil {
		t.Errorf("eventVolumes(nil) = %+v, %v", vs, err)
	}
}

func TestVolumesOfAnotherComputerAreNotLookedUp(t *testing.T) {
	fakeHost(t, server2019, nil, "logmedic-test", func([]string) []hostfacts.Volume {
		t.Error("volumes of another computer were queried")
		return nil
	})
	got := render(t, `{{ range volumes . }}{{ .Name }}={{ .Size }} ({{ .Err }}); {{ end }}`, NewData(backupEvent("SRV-DC02.corp.example"), "r", ""))
	if want := "E:=0 (on SRV-DC02.corp.example, not on this host); C:=0 (on SRV-DC02.corp.example, not on this host); "; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}

func TestVolumesTemplateErrors(t *testing.T) {
	for src, want := range map[string]string{
		`{{ volumes .Computer }}`: "volumes: want the event (.), not string",
		`{{ volumes }}`:           "wrong number of args for volumes",
		`{{ bytes "x" }}`:         "expected unsigned integer",
		`{{ host.Nope }}`:         "can't evaluate field Nope",
	} {
		tm, err := NewTemplate(src)
		if err != nil {
			t.Fatalf("%s: %v", src, err)
		}
		if _, err := tm.Execute(SampleData()); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: error %v, want %q", src, err, want)
		}
	}
}

// The sample event validates templates: volumes must render on it without
// touching this host's disks (it is from another computer).
func TestVolumesOnTheSampleEvent(t *testing.T) {
	got := render(t, `{{ range volumes . }}{{ .Name }}|{{ .Path }}|{{ .Err }}{{ end }}`, SampleData())
	if want := "E:||on WS-0142.corp.example, not on this host"; got != want {
		h, _ := localHostname()
		if !hostfacts.SameHost("WS-0142.corp.example", h) {
			t.Errorf("got %q, want %q", got, want)
		}
	}
}

// Host facts are values: the sinks escape them as they escape event text.
func TestHostFactsAreNotEscapedByTheTemplate(t *testing.T) {
	f := server2019
	f.OS = `Windows "Server" <b>&</b>`
	fakeHost(t, f, nil, "WS-0142", nil)
	if got := render(t, `{{ host.OS }}`, SampleData()); got != f.OS {
		t.Errorf("got %q", got)
	}
}
