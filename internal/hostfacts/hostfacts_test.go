package hostfacts

import (
	"errors"
	"fmt"
	"io/fs"
	"math"
	"reflect"
	"strings"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"
)

func TestBytes(t *testing.T) {
	tests := map[uint64]string{
		0:                         "0 B",
		1:                         "1 B",
		1023:                      "1023 B",
		1024:                      "1.00 KiB",
		1536:                      "1.50 KiB",
		10 * 1024:                 "10.0 KiB",
		1023 * 1024:               "1023 KiB",
		1024*1024 - 1:             "1.00 MiB",
		512 << 20:                 "512 MiB",
		2_000_000_000_000:         "1.82 TiB",
		2_306_867_200_000:         "2.10 TiB",
		966_367_641_600:           "900 GiB",
		19_500_000_000:            "18.2 GiB",
		1 << 50:                   "1.00 PiB",
		math.MaxUint64:            "16.0 EiB",
		99_950 * 1024 * 1024:      "97.6 GiB",
		1024 * 1024 * 1024 * 1000: "1000 GiB",
	}
	for n, want := range tests {
		if got := Bytes(n); got != want {
			t.Errorf("Bytes(%d) = %q, want %q", n, got, want)
		}
	}
}

func TestSameHost(t *testing.T) {
	tests := []struct {
		computer, hostname string
		want               bool
	}{
		{"WS-0142.corp.example", "WS-0142", true},
		{"ws-0142.corp.example", "WS-0142.corp.example", true},
		{"WS-0142", "ws-0142", true},
		{"", "anything", true},
		{"localhost", "srv", true},
		{"SRV-DC02", "WS-0142", false},
		{"WS-0142.corp.example", "WS-01", false},
		{"WS-0142.corp.example", "", false},
		{".", "x", true},
	}
	for _, tt := range tests {
		if got := SameHost(tt.computer, tt.hostname); got != tt.want {
			t.Errorf("SameHost(%q, %q) = %v, want %v", tt.computer, tt.hostname, got, tt.want)
		}
	}
}

func TestWindowsQueryPath(t *testing.T) {
	guid := `\\?\Volume{65ac9a70-a2ac-11e0-bc35-00155d009e00}`
	tests := []struct{ name, want string }{
		{"C:", `C:\`},
		{"e:", `E:\`},
		{`E:\`, `E:\`},
		{"E:/", `E:\`},
		{guid, guid + `\`},
		{guid + `\`, guid + `\`},
		{`C:\Mount\Data`, `C:\Mount\Data\`},
		{`C:/Mount/Data/`, `C:\Mount\Data\`},
		{"/srv", ""},
		{"System Reserved", ""},
		{`\\nas01\images`, ""},
		{"", ""},
		{"C:\\x\x00y", ""},
	}
	for _, tt := range tests {
		got, err := windowsQueryPath(tt.name)
		if got != tt.want || (err == nil) != (tt.want != "") {
			t.Errorf("windowsQueryPath(%q) = %q, %v; want %q", tt.name, got, err, tt.want)
		}
		if err != nil && !errors.Is(err, ErrNotFound) {
			t.Errorf("windowsQueryPath(%q): error %v is not ErrNotFound", tt.name, err)
		}
	}
}

func TestUnixQueryPath(t *testing.T) {
	tests := []struct{ name, want string }{
		{"/", "/"},
		{"/srv/", "/srv"},
		{"/srv/../var//lib", "/var/lib"},
		{"C:", ""},
		{`\\?\Volume{65ac9a70-a2ac-11e0-bc35-00155d009e00}\`, ""},
		{"srv", ""},
		{"", ""},
		{"/a\x00b", ""},
		{"/" + strings.Repeat("a", maxNameLen), ""},
	}
	for _, tt := range tests {
		got, err := unixQueryPath(tt.name)
		if got != tt.want || (err == nil) != (tt.want != "") {
			t.Errorf("unixQueryPath(%q) = %q, %v; want %q", tt.name, got, err, tt.want)
		}
	}
}

// fakeStat replaces statVolume for a test.
func fakeStat(t *testing.T, f func(path string) (uint64, uint64, error)) {
	t.Helper()
	old := statFunc
	statFunc = f
	t.Cleanup(func() { statFunc = old })
}

func TestVolumesReportsEachName(t *testing.T) {
	fakeStat(t, func(path string) (uint64, uint64, error) {
		switch path {
		case "/", `C:\`:
			return 100 << 30, 40 << 30, nil
		case "/denied", `D:\`:
			return 0, 0, &fs.PathError{Op: "statfs", Path: path, Err: errors.New("permission denied")}
		}
		return 0, 0, &fs.PathError{Op: "statfs", Path: path, Err: fs.ErrNotExist}
	})
	// Both kinds of names, whatever this OS makes of them.
	names := []string{"/", "C:", "/denied", "D:", "/missing", "Q:", "System Reserved", ""}
	got := Volumes(names)
	if len(got) != len(names) {
		t.Fatalf("Volumes returned %d volumes for %d names", len(got), len(names))
	}
	for i, v := range got {
		if v.Name != names[i] {
			t.Errorf("volume %d is %q, want %q", i, v.Name, names[i])
		}
		p, err := queryPath(v.Name)
		switch {
		case err != nil:
			if v.Err != ErrNotFound.Error() || v.Path != "" || v.Size != 0 {
				t.Errorf("%q: %+v, want not found", v.Name, v)
			}
		case p == "/" || p == `C:\`:
			if v.Err != "" || v.Size != 100<<30 || v.Free != 40<<30 || v.Path != p {
				t.Errorf("%q: %+v", v.Name, v)
			}
		case p == "/denied" || p == `D:\`:
			if !strings.Contains(v.Err, "permission denied") || v.Size != 0 {
				t.Errorf("%q: %+v", v.Name, v)
			}
		default:
			if v.Err != ErrNotFound.Error() || v.Path != p {
				t.Errorf("%q: %+v, want not found", v.Name, v)
			}
		}
	}
	if Volumes(nil) == nil || len(Volumes(nil)) != 0 {
		t.Error("Volumes(nil) should be an empty list")
	}
}

func TestVolumesTimesOutOnAHungVolume(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		release := make(chan struct{})
		var calls atomic.Int32
		fakeStat(t, func(path string) (uint64, uint64, error) {
			calls.Add(1)
			if strings.Contains(path, "hung") || strings.HasPrefix(path, "H") {
				<-release
			}
			return 1 << 30, 1 << 20, nil
		})
		hung, ok := "/hung", "/ok"
		if _, err := queryPath(hung); err != nil { // Windows
			hung, ok = "H:", "O:"
		}
		start := time.Now()
		got := Volumes([]string{hung, ok})
		if d := time.Since(start); d != volumeTimeout {
			t.Errorf("Volumes took %v, want %v", d, volumeTimeout)
		}
		if got[0].Err != "no answer within 2s" || got[0].Size != 0 {
			t.Errorf("hung volume: %+v", got[0])
		}
		if got[1].Err != "" || got[1].Size != 1<<30 {
			t.Errorf("answering volume: %+v", got[1])
		}
		// A second render does not start a second query of the hung path.
		got = Volumes([]string{hung})
		if got[0].Err == "" || calls.Load() != 2 {
			t.Errorf("second call: %+v after %d queries, want 2", got[0], calls.Load())
		}
		close(release)
		synctest.Wait()
		// Once it answers, the path is queried afresh.
		got = Volumes([]string{hung})
		if got[0].Err != "" || calls.Load() != 3 {
			t.Errorf("after the answer: %+v after %d queries", got[0], calls.Load())
		}
	})
}

func TestCollectKeepsWhatItCouldRead(t *testing.T) {
	oldStatic, oldDynamic, oldHost := staticFacts, readDynamic, hostname
	t.Cleanup(func() { staticFacts, readDynamic, hostname = oldStatic, oldDynamic, oldHost })
	staticFacts = func() (static, error) {
		return static{OS: "Windows Server 2019 Datacenter", Version: "10.0", Build: "17763", Revision: "5458", DisplayVersion: "1809", Arch: "x86_64"}, nil
	}
	readDynamic = func() (dynamic, error) {
		return dynamic{Uptime: 90*time.Minute + 1500*time.Millisecond, MemTotal: 8 << 30}, errors.New("meminfo: no MemAvailable")
	}
	hostname = func() (string, error) { return "", errors.New("no name") }
	f, err := Collect()
	want := Facts{OS: "Windows Server 2019 Datacenter", Version: "10.0", Build: "17763", Revision: "5458",
		DisplayVersion: "1809", Arch: "x86_64", Uptime: 90*time.Minute + time.Second, MemTotal: 8 << 30}
	if !reflect.DeepEqual(f, want) {
		t.Errorf("Collect = %+v\nwant %+v", f, want)
	}
	if err == nil || err.Error() != "meminfo: no MemAvailable\nhostname: no name" {
		t.Errorf("Collect error = %v", err)
	}
}

// fakeVolumeOf replaces volumeOf for a test.
func fakeVolumeOf(t *testing.T, f func(path string) string) {
	t.Helper()
	old := volumeOf
	volumeOf = f
	t.Cleanup(func() { volumeOf = old })
}

// hungStat makes every path containing "hung" (or on Windows drive H:)
// block until release is closed, and counts queries.
func hungStat(t *testing.T, calls *atomic.Int32) (release chan struct{}) {
	release = make(chan struct{})
	fakeStat(t, func(path string) (uint64, uint64, error) {
		calls.Add(1)
		if strings.Contains(path, "hung") || strings.HasPrefix(path, "H") {
			<-release
		}
		return 1 << 30, 1 << 20, nil
	})
	return release
}

func TestVolumesAnswersAtOnceForAQueryHungPastTheTimeout(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var calls atomic.Int32
		release := hungStat(t, &calls)
		hung := "/hung"
		if _, err := queryPath(hung); err != nil { // Windows
			hung = "H:"
		}
		Volumes([]string{hung})
		// Templates render inside the outbox's write transaction: a
		// later render must not wait the full timeout again.
		for range 3 {
			start := time.Now()
			got := Volumes([]string{hung})
			if d := time.Since(start); d != 0 {
				t.Errorf("a later call took %v, want no wait", d)
			}
			if !strings.HasPrefix(got[0].Err, "no answer within 2s") {
				t.Errorf("later call: %+v", got[0])
			}
		}
		if calls.Load() != 1 {
			t.Errorf("%d queries, want 1", calls.Load())
		}
		close(release)
		synctest.Wait()
	})
}

func TestVolumesDoesNotQueryAHungVolumeAgainThroughAnotherPath(t *testing.T) {
	if _, err := queryPath("/mnt/nfs/a"); err != nil {
		t.Skip("Windows volumes are keyed by the path queried")
	}
	synctest.Test(t, func(t *testing.T) {
		var calls atomic.Int32
		release := hungStat(t, &calls)
		fakeVolumeOf(t, func(path string) string {
			if strings.HasPrefix(path, "/mnt/hung/") {
				return "/mnt/hung"
			}
			return "/"
		})
		Volumes([]string{"/mnt/hung/a"})
		start := time.Now()
		got := Volumes([]string{"/mnt/hung/b", "/mnt/hung/c/d", "/srv"})
		if d := time.Since(start); d != 0 {
			t.Errorf("took %v, want no wait", d)
		}
		for _, v := range got[:2] {
			if !strings.HasPrefix(v.Err, "no answer within 2s") {
				t.Errorf("%s: %+v, want no answer", v.Name, v)
			}
		}
		if got[2].Err != "" || got[2].Size != 1<<30 {
			t.Errorf("another volume: %+v", got[2])
		}
		if calls.Load() != 2 {
			t.Errorf("%d queries, want 2: /mnt/hung/a and /srv", calls.Load())
		}
		close(release)
		synctest.Wait()
	})
}

func TestVolumesCapsOutstandingQueries(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var calls atomic.Int32
		release := hungStat(t, &calls)
		var names []string
		for i := range maxOutstanding + 2 {
			n := fmt.Sprintf("/hung%d", i)
			if _, err := queryPath(n); err != nil { // Windows: distinct mount folders on H:
				n = fmt.Sprintf(`H:\hung%d`, i)
			}
			names = append(names, n)
		}
		got := Volumes(names)
		for i, v := range got {
			want := "no answer within 2s"
			if i >= maxOutstanding {
				want = "no answer: 4 earlier volume queries have not returned"
			}
			if v.Err != want {
				t.Errorf("%s: %q, want %q", v.Name, v.Err, want)
			}
		}
		if calls.Load() != maxOutstanding {
			t.Errorf("%d queries, want %d", calls.Load(), maxOutstanding)
		}
		close(release)
		synctest.Wait()
		// Once they return, volumes are queried again.
		if got := Volumes(names[len(names)-1:]); got[0].Err != "" {
			t.Errorf("after the answers: %+v", got[0])
		}
	})
}

func TestMountPointOf(t *testing.T) {
	const mountinfo = `22 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw
23 22 0:21 / /proc rw,nosuid shared:12 - proc proc rw
40 22 0:35 / /mnt/nfs rw,relatime shared:20 - nfs4 srv:/export rw
41 40 0:36 / /mnt/nfs/inner rw,relatime shared:21 - nfs4 srv:/inner rw
42 22 0:37 / /mnt/my\040share rw - cifs //srv/share rw
bad line
`
	mounts := parseMountInfo(mountinfo)
	for _, tc := range []struct{ path, want string }{
		{"/", "/"},
		{"/srv/data", "/"},
		{"/mnt/nfs", "/mnt/nfs"},
		{"/mnt/nfs/a/b", "/mnt/nfs"},
		{"/mnt/nfsx", "/"},
		{"/mnt/nfs/inner/x", "/mnt/nfs/inner"},
		{"/mnt/my share/x", "/mnt/my share"},
	} {
		if got := mountPointOf(tc.path, mounts); got != tc.want {
			t.Errorf("mountPointOf(%s) = %s, want %s", tc.path, got, tc.want)
		}
	}
	if got := mountPointOf("/x", nil); got != "/x" {
		t.Errorf("without a mount table: %s", got)
	}
}
