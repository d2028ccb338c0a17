package hostfacts

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/logmedic/logmedic/watcher"
	"github.com/logmedic/logmedic/watcher/decode"
)

const samples = "../../testdata/samples"

// sampleNames decodes a sample file and returns each event's volume names.
func sampleNames(t *testing.T, rel string) [][]string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(samples, rel))
	if err != nil {
		t.Fatal(err)
	}
	var out [][]string
	err = decode.Text(rel, data, func(ev *watcher.Event, _ decode.Pos, err error) error {
		if err == nil {
			out = append(out, VolumeNames(ev))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestVolumeNamesOfSamples(t *testing.T) {
	// One entry per event; nil where the event names no volume.
	want := map[string][][]string{
		// VolumeAccessPath, as Windows wrote it (no final backslash).
		"real/backup-50-no-space.xml":                     {{`\\?\Volume{65ac9a70-a2ac-11e0-bc35-00155d009e00}`}},
		"real/backup-524-catalog-deleted-eventviewer.txt": {nil},
		// BackupTarget first, then VolumesInfo; BackupFailureLogPath's C:
		// is a log file, not a volume the event is about.
		"constructed/backup-4-v3-success.xml":    {{"E:", "C:"}},
		"constructed/backup-5-v3-0x807800b4.xml": {{"E:", "C:"}},
		// A network BackupTarget is left out; "System Reserved" has no
		// access path.
		"constructed/backup-5-v1-decimal-2155348148.xml":   {{"C:"}},
		"constructed/restore-244-0x80070002.xml":           {nil},
		"constructed/application-517-eventviewer-copy.txt": {nil},
		"constructed/wevtutil-export-3-events.xml":         {nil, {"D:"}, {"D:"}},
		// VolumesInfo un-escaped, as Event Viewer's XML view shows it.
		"forms/eventviewer-xml-view-807800b4.xml": {{"E:", "C:"}},
	}
	for rel, w := range want {
		t.Run(rel, func(t *testing.T) {
			if got := sampleNames(t, rel); !reflect.DeepEqual(got, w) {
				t.Errorf("VolumeNames = %q, want %q", got, w)
			}
		})
	}
	// Every other sample decodes to sensible names.
	err := filepath.WalkDir(samples, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(samples, p)
		for _, names := range sampleNames(t, filepath.ToSlash(rel)) {
			checkNames(t, rel, names)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// checkNames asserts what VolumeNames promises of any input.
func checkNames(t *testing.T, what string, names []string) {
	t.Helper()
	if len(names) > MaxVolumes {
		t.Errorf("%s: %d names, more than %d", what, len(names), MaxVolumes)
	}
	seen := map[string]bool{}
	for _, n := range names {
		if !isVolumeName(n, true) {
			t.Errorf("%s: %q is no volume name", what, n)
		}
		if seen[volumeKey(n)] {
			t.Errorf("%s: %q twice", what, n)
		}
		seen[volumeKey(n)] = true
	}
}

func fieldsEvent(kv ...string) *watcher.Event {
	ev := &watcher.Event{}
	for i := 0; i+1 < len(kv); i += 2 {
		ev.EventData = append(ev.EventData, watcher.Field{Name: kv[i], Value: kv[i+1]})
	}
	return ev
}

func TestVolumeNamesOfFields(t *testing.T) {
	guid := `\\?\Volume{65ac9a70-a2ac-11e0-bc35-00155d009e00}`
	item := func(attrs string) string {
		return "<VolumeInfo><VolumeInfoItem " + attrs + " State=\"12\" /></VolumeInfo>"
	}
	tests := []struct {
		name string
		ev   *watcher.Event
		want []string
	}{
		{"drive with backslash", fieldsEvent("BackupTarget", `E:\`), []string{`E:\`}},
		{"one volume, three spellings", fieldsEvent("BackupTarget", "e:", "VolumeNames", `E:\, C:`, "x", "E:/"), []string{"e:", "C:"}},
		{"guid path both ways", fieldsEvent("VolumeAccessPath", guid, "Other", strings.ToUpper(guid)+`\`), []string{guid}},
		{"mount point", fieldsEvent("BackupTarget", `C:\Mounts\Backup Disk`), []string{`C:\Mounts\Backup Disk`}},
		{"unix path in a volume field", fieldsEvent("BackupTarget", "/srv/backup"), []string{"/srv/backup"}},
		{"unix path elsewhere", fieldsEvent("Path", "/srv/backup"), nil},
		{"path elsewhere", fieldsEvent("BackupFailureLogPath", `C:\Windows\Logs\x.log`), nil},
		{"drive in any field", fieldsEvent("", "F:", "Target", "G:\\"), []string{"F:", `G:\`}},
		{"list", fieldsEvent("FailedVolumeNames", "'F:', 'G:';H:\nI:\\data"), []string{"F:", "G:", "H:", "I:"}},
		{"list of guid paths", fieldsEvent("RestoreTargetNameList", guid+`\,`+guid[:len(guid)-2]+`1}`), []string{guid + `\`, guid[:len(guid)-2] + "1}"}},
		{"UNC target", fieldsEvent("BackupTarget", `\\nas01\images`), nil},
		{"device path", fieldsEvent("BackupTarget", `\\?\C:\images`), []string{"C:"}},
		{"not drives", fieldsEvent("VolumeNames", "http://x a:b fe80::1 1601-01-01T00:00:00 $c: .d: x-e: %f:"), nil},
		{"prose drive", fieldsEvent("VolumeNames", "drive a: is gone"), []string{"a:"}},
		{"volume guid", fieldsEvent("VolumeGuid", "{65ac9a70-a2ac-11e0-bc35-00155d009e00}"), []string{guid + `\`}},
		{"bad volume guid", fieldsEvent("VolumeGuid", "{65ac9a70-a2ac-11e0-bc35-00155d009e0}"), nil},
		{"volumesinfo name", fieldsEvent("VolumesInfo", item(`Name="D:" OriginalAccessPath="D:"`)), []string{"D:"}},
		{"volumesinfo access path", fieldsEvent("VolumesInfo", item(`Name="Data" OriginalAccessPath="`+guid+`\"`)), []string{guid + `\`}},
		{"volumesinfo label only", fieldsEvent("VolumesInfo", item(`Name="System Reserved" OriginalAccessPath=""`)), nil},
		{"volumesinfo escaped twice", fieldsEvent("X", "&lt;VolumeInfoItem Name=&quot;K:&quot; /&gt;"), []string{"K:"}},
		{"volumesinfo single quotes", fieldsEvent("VolumesInfo", "<VolumeInfoItem Name = 'L:'/>"), []string{"L:"}},
		{"volumesinfo entity in name", fieldsEvent("VolumesInfo", `<VolumeInfoItem Name="C:\A&amp;B" />`), []string{`C:\A&B`}},
		{"volumesinfo unterminated", fieldsEvent("VolumesInfo", `<VolumeInfoItem Name="M:" /><VolumeInfoItem Name="N:`), []string{"M:"}},
		{"volumesinfo cut in the tag", fieldsEvent("VolumesInfo", `<VolumeInfoItem Name="M:" <VolumeInfoItem Name="N:"/>`), []string{"M:", "N:"}},
		{"volumesinfo attribute junk", fieldsEvent("VolumesInfo", `<VolumeInfoItem = == Name=x OriginalAccessPath="O:">`), []string{"O:"}},
		{"volumesinfo bad chars", fieldsEvent("VolumesInfo", `<VolumeInfoItem Name="C:\a|b" OriginalAccessPath="C:\a<b"/>`), nil},
		{"user data", &watcher.Event{UserData: []watcher.Field{{Name: "BackupTarget", Value: "Z:"}}}, []string{"Z:"}},
		{"empty", &watcher.Event{}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := VolumeNames(tt.ev)
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("VolumeNames = %q, want %q", got, tt.want)
			}
			checkNames(t, tt.name, got)
		})
	}
}

func TestVolumeNamesOfHostileInput(t *testing.T) {
	var guids strings.Builder
	for i := range 10000 {
		guids.WriteString(`\\?\Volume{00000000-0000-0000-0000-` + strings.Repeat("0", 7) + strings.ToUpper(string("0123456789abcdef"[i%16])) + string("0123456789abcdef"[i/16%16]) + string("0123456789abcdef"[i/256%16]) + string("0123456789abcdef"[i/4096%16]) + "0} ")
	}
	huge := strings.Repeat("C: D:\\ ", 1<<20)
	items := strings.Repeat(`<VolumeInfoItem Name="`, 1<<16)
	tests := map[string]*watcher.Event{
		"huge list":          fieldsEvent("VolumeNames", huge),
		"many guid paths":    fieldsEvent("VolumeNames", guids.String()),
		"unclosed items":     fieldsEvent("VolumesInfo", items),
		"many equals":        fieldsEvent("VolumesInfo", "<VolumeInfoItem "+strings.Repeat("a=", 1<<18)),
		"long name":          fieldsEvent("BackupTarget", `C:\`+strings.Repeat("x", 1<<20)),
		"NULs and controls":  fieldsEvent("BackupTarget", "C:\x00", "VolumesInfo", "<VolumeInfoItem Name=\"D:\x01\"/>"),
		"invalid UTF-8":      fieldsEvent("VolumeNames", "\xff\xfeE:\xff F:"),
		"many fields":        fieldsEvent(strings.Split(strings.Repeat("BackupTarget,E:,", 5000), ",")...),
		"only separators":    fieldsEvent("VolumeNames", strings.Repeat(`\\?\`, 1<<16)),
		"letters and colons": fieldsEvent("VolumeNames", strings.Repeat("a:", 1<<16)),
	}
	for name, ev := range tests {
		t.Run(name, func(t *testing.T) {
			got := VolumeNames(ev)
			checkNames(t, name, got)
			t.Logf("%d names", len(got))
		})
	}
	if got := VolumeNames(tests["huge list"]); !reflect.DeepEqual(got, []string{"C:", "D:"}) {
		t.Errorf("huge list: %q", got)
	}
	if got := VolumeNames(tests["many guid paths"]); len(got) != MaxVolumes {
		t.Errorf("many guid paths: %d names, want %d", len(got), MaxVolumes)
	}
	if got := VolumeNames(tests["invalid UTF-8"]); !reflect.DeepEqual(got, []string{"F:"}) {
		t.Errorf("invalid UTF-8: %q", got)
	}
}

func FuzzVolumeNames(f *testing.F) {
	f.Add("BackupTarget", "E:")
	f.Add("VolumesInfo", `<VolumeInfo><VolumeInfoItem Name="C:" OriginalAccessPath="C:" /></VolumeInfo>`)
	f.Add("VolumeAccessPath", `\\?\Volume{65ac9a70-a2ac-11e0-bc35-00155d009e00}`)
	f.Add("VolumeNames", `C:\, D:; \\?\Volume{65ac9a70-a2ac-11e0-bc35-00155d009e00}\`)
	f.Add("VolumeGuid", "{65ac9a70-a2ac-11e0-bc35-00155d009e00}")
	f.Add("X", "&lt;VolumeInfoItem Name=&quot;K:&quot; /&gt;")
	f.Fuzz(func(t *testing.T, name, value string) {
		names := VolumeNames(fieldsEvent(name, value, "VolumeNames", value))
		checkNames(t, "fuzz", names)
		for _, n := range names {
			if _, err := windowsQueryPath(n); err != nil && n[0] != '/' {
				t.Errorf("%q: no Windows path: %v", n, err)
			}
		}
	})
}
