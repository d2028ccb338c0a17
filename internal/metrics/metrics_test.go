package metrics

import (
	"bufio"
	"errors"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
)

// scrape GETs /metrics from m's handler and returns the logmedic_ lines,
// HELP and TYPE included.
func scrape(t *testing.T, m *Metrics) string {
	t.Helper()
	rec := httptest.NewRecorder()
	m.Handler(nil).ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	if rec.Code != http.StatusOK {
		t.Errorf("GET /metrics: status %d: %s", rec.Code, rec.Body)
		return ""
	}
	var b strings.Builder
	sc := bufio.NewScanner(rec.Body)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "logmedic_") || strings.HasPrefix(line, "# HELP logmedic_") || strings.HasPrefix(line, "# TYPE logmedic_") {
			b.WriteString(line)
			b.WriteByte('\n')
		}
	}
	return b.String()
}

func TestScrape(t *testing.T) {
	// The bubble's clock starts at 2000-01-01T00:00:00Z (946684800).
	synctest.Test(t, func(t *testing.T) {
		m := New()
		m.SetVersion("v1.2.3")
		m.ConfigLoaded()
		m.Events("security", 5, 2)
		m.Events("stdin", 0, 0) // appears, at 0
		time.Sleep(90 * time.Second)
		m.Events("security", 1, 0)
		m.Reload(nil)
		time.Sleep(30 * time.Second)
		m.Match("brute-force")
		m.Match("brute-force")
		m.Match("disk-full")
		m.Actions("ticket", Queued, 3)
		m.Actions("ticket", Delivered, 2)
		m.Actions("ticket", Retry, 1)
		m.Actions("page", Dead, 1)
		m.Actions("page", numOutcomes, 1) // ignored
		m.Reload(errors.New("bad rule"))
		m.SetOutbox(func() (int, int, time.Duration) { return 4, 1, 90*time.Second + 500*time.Millisecond })

		want := `# HELP logmedic_actions_total Actions by handler and outcome: queued, suppressed, replayed, unprepared, delivered, retry or dead.
# TYPE logmedic_actions_total counter
logmedic_actions_total{handler="page",outcome="dead"} 1
logmedic_actions_total{handler="page",outcome="delivered"} 0
logmedic_actions_total{handler="page",outcome="queued"} 0
logmedic_actions_total{handler="page",outcome="replayed"} 0
logmedic_actions_total{handler="page",outcome="retry"} 0
logmedic_actions_total{handler="page",outcome="suppressed"} 0
logmedic_actions_total{handler="page",outcome="unprepared"} 0
logmedic_actions_total{handler="ticket",outcome="dead"} 0
logmedic_actions_total{handler="ticket",outcome="delivered"} 2
logmedic_actions_total{handler="ticket",outcome="queued"} 3
logmedic_actions_total{handler="ticket",outcome="replayed"} 0
logmedic_actions_total{handler="ticket",outcome="retry"} 1
logmedic_actions_total{handler="ticket",outcome="suppressed"} 0
logmedic_actions_total{handler="ticket",outcome="unprepared"} 0
# HELP logmedic_build_info Always 1, labeled with the logmedic version and the Go version that built it.
# TYPE logmedic_build_info gauge
logmedic_build_info{goversion="` + runtime.Version() + `",version="v1.2.3"} 1
# HELP logmedic_config_last_reload_success_timestamp_seconds Unix time of the last successful configuration load.
# TYPE logmedic_config_last_reload_success_timestamp_seconds gauge
logmedic_config_last_reload_success_timestamp_seconds 9.4668489e+08
# HELP logmedic_config_last_reload_successful Whether the last configuration load succeeded (1) or failed (0).
# TYPE logmedic_config_last_reload_successful gauge
logmedic_config_last_reload_successful 0
# HELP logmedic_config_reloads_total Configuration reloads, by result: success or failure.
# TYPE logmedic_config_reloads_total counter
logmedic_config_reloads_total{result="failure"} 1
logmedic_config_reloads_total{result="success"} 1
# HELP logmedic_events_read_total Events read from each source, by result: decoded, or failed to decode.
# TYPE logmedic_events_read_total counter
logmedic_events_read_total{result="decoded",source="security"} 6
logmedic_events_read_total{result="decoded",source="stdin"} 0
logmedic_events_read_total{result="failed",source="security"} 2
logmedic_events_read_total{result="failed",source="stdin"} 0
# HELP logmedic_outbox_actions Actions in the outbox, by state: pending (queued or waiting to retry) or dead (dead letters).
# TYPE logmedic_outbox_actions gauge
logmedic_outbox_actions{state="dead"} 1
logmedic_outbox_actions{state="pending"} 4
# HELP logmedic_outbox_oldest_pending_age_seconds Age of the oldest pending action in the outbox, 0 when none is pending.
# TYPE logmedic_outbox_oldest_pending_age_seconds gauge
logmedic_outbox_oldest_pending_age_seconds 90.5
# HELP logmedic_rule_matches_total Events matched, by rule.
# TYPE logmedic_rule_matches_total counter
logmedic_rule_matches_total{rule="brute-force"} 2
logmedic_rule_matches_total{rule="disk-full"} 1
# HELP logmedic_source_idle_seconds Seconds since the source last emitted events (decoded or not), or since it was first seen. Not the event log's own lag.
# TYPE logmedic_source_idle_seconds gauge
logmedic_source_idle_seconds{source="security"} 30
logmedic_source_idle_seconds{source="stdin"} 120
`
		if got := scrape(t, m); got != want {
			t.Errorf("GET /metrics, logmedic_ lines:\n%s\nwant:\n%s", got, want)
		}
	})
}

func TestFreshMetrics(t *testing.T) {
	m := New()
	// Before any call: no source, rule or handler series, no outbox, and
	// reloads at zero.
	want := `# HELP logmedic_config_last_reload_successful Whether the last configuration load succeeded (1) or failed (0).
# TYPE logmedic_config_last_reload_successful gauge
logmedic_config_last_reload_successful 0
# HELP logmedic_config_reloads_total Configuration reloads, by result: success or failure.
# TYPE logmedic_config_reloads_total counter
logmedic_config_reloads_total{result="failure"} 0
logmedic_config_reloads_total{result="success"} 0
`
	names := []string{"logmedic_config_last_reload_successful", "logmedic_config_reloads_total",
		"logmedic_events_read_total", "logmedic_rule_matches_total", "logmedic_actions_total",
		"logmedic_outbox_actions", "logmedic_outbox_oldest_pending_age_seconds", "logmedic_source_idle_seconds"}
	if err := testutil.GatherAndCompare(m.reg, strings.NewReader(want), names...); err != nil {
		t.Error(err)
	}
	if n, err := testutil.GatherAndCount(m.reg, "logmedic_build_info"); err != nil || n != 1 {
		t.Errorf("logmedic_build_info series = %d, %v; want 1", n, err)
	}
	// The runtime and process collectors are on the registry.
	n, err := testutil.GatherAndCount(m.reg, "go_goroutines")
	if err != nil || n != 1 {
		t.Errorf("go_goroutines series = %d, %v; want 1", n, err)
	}
	if runtime.GOOS == "linux" || runtime.GOOS == "windows" {
		if n, err := testutil.GatherAndCount(m.reg, "process_start_time_seconds"); err != nil || n != 1 {
			t.Errorf("process_start_time_seconds series = %d, %v; want 1", n, err)
		}
	}
	// New does not touch the global registry.
	if m2 := New(); m2.reg == m.reg {
		t.Error("two Metrics share a registry")
	}
}

func TestLint(t *testing.T) {
	m := New()
	m.Events("s", 1, 1)
	m.Match("r")
	m.Actions("h", Queued, 1)
	m.Reload(nil)
	m.SetOutbox(func() (int, int, time.Duration) { return 0, 0, 0 })
	problems, err := testutil.GatherAndLint(m.reg)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		if strings.HasPrefix(p.Metric, "logmedic_") {
			t.Errorf("%s: %s", p.Metric, p.Text)
		}
	}
}

func TestInvalidUTF8Name(t *testing.T) {
	m := New()
	m.Events("bad\xffname", 1, 0) // would panic in client_golang unsanitized
	m.Match("rule\xfe")
	m.Actions("h\xff", Delivered, 1)
	if got := testutil.ToFloat64(m.events.WithLabelValues("bad\uFFFDname", "decoded")); got != 1 {
		t.Errorf("sanitized source counter = %v, want 1", got)
	}
	if got := scrape(t, m); !strings.Contains(got, `logmedic_source_idle_seconds{source="bad`+"\uFFFD"+`name"}`) {
		t.Errorf("idle series missing for the sanitized name:\n%s", got)
	}
}

func TestOutboxOff(t *testing.T) {
	m := New()
	m.SetOutbox(func() (int, int, time.Duration) { return 1, 2, time.Second })
	m.SetOutbox(nil)
	if n, err := testutil.GatherAndCount(m.reg, "logmedic_outbox_actions", "logmedic_outbox_oldest_pending_age_seconds"); err != nil || n != 0 {
		t.Errorf("outbox series after SetOutbox(nil) = %d, %v; want 0", n, err)
	}
}

func TestOutcomeString(t *testing.T) {
	for o, want := range map[Outcome]string{Queued: "queued", Suppressed: "suppressed", Replayed: "replayed",
		Unprepared: "unprepared", Delivered: "delivered", Retry: "retry", Dead: "dead", numOutcomes: "unknown"} {
		if got := o.String(); got != want {
			t.Errorf("Outcome(%d).String() = %q, want %q", o, got, want)
		}
	}
}

// TestHotPathAllocs checks that counting a known name allocates nothing.
func TestHotPathAllocs(t *testing.T) {
	m := New()
	m.Events("security", 1, 0)
	m.Match("r")
	m.Actions("h", Queued, 1)
	for name, f := range map[string]func(){
		"Events":  func() { m.Events("security", 3, 1) },
		"Match":   func() { m.Match("r") },
		"Actions": func() { m.Actions("h", Delivered, 1) },
	} {
		if n := testing.AllocsPerRun(100, f); n != 0 {
			t.Errorf("%s: %v allocations per call, want 0", name, n)
		}
	}
}

func TestConcurrent(t *testing.T) {
	m := New()
	m.SetOutbox(func() (int, int, time.Duration) { return 1, 0, time.Second })
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			src := []string{"a", "b"}[i%2]
			for range 200 {
				m.Events(src, 1, 0)
				m.Match(src)
				m.Actions(src, Queued, 1)
			}
		})
	}
	wg.Go(func() {
		for range 20 {
			scrape(t, m)
			m.Reload(nil)
		}
	})
	wg.Wait()
	if got := testutil.ToFloat64(m.events.WithLabelValues("a", "decoded")); got != 800 {
		t.Errorf(`events{source="a",result="decoded"} = %v, want 800`, got)
	}
}

func BenchmarkHotPath(b *testing.B) {
	m := New()
	b.Run("Events", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			m.Events("security", 10, 0)
		}
	})
	b.Run("Match", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			m.Match("brute-force")
		}
	})
	b.Run("Actions", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			m.Actions("ticket", Queued, 1)
		}
	})
}
