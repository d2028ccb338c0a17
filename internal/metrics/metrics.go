package metrics

import (
	"runtime"
	"runtime/debug"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// Outcome is what happened to an action; its values are the outcome
// label of logmedic_actions_total.
type Outcome uint8

// The outcomes of an action.
const (
	Queued     Outcome = iota // written to the outbox
	Suppressed                // dropped by deduplication or throttling
	Replayed                  // ignored: already queued, delivered or dead
	Unprepared                // could not be prepared (template error); a dead letter
	Delivered                 // the handler succeeded
	Retry                     // the handler failed; another attempt is due
	Dead                      // moved to the dead letters
	numOutcomes
)

var outcomeNames = [numOutcomes]string{"queued", "suppressed", "replayed", "unprepared", "delivered", "retry", "dead"}

// String returns the outcome's label value.
func (o Outcome) String() string {
	if o >= numOutcomes {
		return "unknown"
	}
	return outcomeNames[o]
}

// OutboxFunc reports the outbox at scrape time: the number of pending
// actions and dead letters, and the age of the oldest pending action (0
// when none is pending).
type OutboxFunc func() (pending, dead int, oldest time.Duration)

// Metrics holds logmedic's metrics on a registry of its own. Its methods
// are safe for concurrent use.
type Metrics struct {
	reg *prometheus.Registry

	events    *prometheus.CounterVec
	matches   *prometheus.CounterVec
	actions   *prometheus.CounterVec
	reloads   *prometheus.CounterVec
	reloadOK  prometheus.Gauge
	reloadAt  prometheus.Gauge
	buildInfo *prometheus.GaugeVec

	reloadSuccess, reloadFailure prometheus.Counter

	// Children resolved once per name, so the hot path neither hashes
	// label values nor allocates.
	mu       sync.RWMutex
	sources  map[string]*sourceSeries
	rules    map[string]prometheus.Counter
	handlers map[string]*[numOutcomes]prometheus.Counter

	outbox atomic.Pointer[OutboxFunc]

	channelOnce sync.Once
	channel     *Channel
}

type sourceSeries struct {
	decoded, failed prometheus.Counter
	last            atomic.Int64 // Unix nanoseconds of the last read, or of first sight
}

var (
	idleDesc = prometheus.NewDesc("logmedic_source_idle_seconds",
		"Seconds since the source last emitted events (decoded or not), or since it was first seen. Not the event log's own lag.",
		[]string{"source"}, nil)
	outboxDesc = prometheus.NewDesc("logmedic_outbox_actions",
		"Actions in the outbox, by state: pending (queued or waiting to retry) or dead (dead letters).",
		[]string{"state"}, nil)
	oldestDesc = prometheus.NewDesc("logmedic_outbox_oldest_pending_age_seconds",
		"Age of the oldest pending action in the outbox, 0 when none is pending.",
		nil, nil)
)

// New returns Metrics registered on a new registry, with the Go runtime
// and process collectors. The build info carries the module version
// until SetVersion replaces it.
func New() *Metrics {
	m := &Metrics{
		reg: prometheus.NewRegistry(),
		events: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "logmedic_events_read_total",
			Help: "Events read from each source, by result: decoded, or failed to decode.",
		}, []string{"source", "result"}),
		matches: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "logmedic_rule_matches_total",
			Help: "Events matched, by rule.",
		}, []string{"rule"}),
		actions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "logmedic_actions_total",
			Help: "Actions by handler and outcome: queued, suppressed, replayed, unprepared, delivered, retry or dead.",
		}, []string{"handler", "outcome"}),
		reloads: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "logmedic_config_reloads_total",
			Help: "Configuration reloads, by result: success or failure.",
		}, []string{"result"}),
		reloadOK: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "logmedic_config_last_reload_successful",
			Help: "Whether the last configuration load succeeded (1) or failed (0).",
		}),
		reloadAt: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "logmedic_config_last_reload_success_timestamp_seconds",
			Help: "Unix time of the last successful configuration load.",
		}),
		buildInfo: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "logmedic_build_info",
			Help: "Always 1, labeled with the logmedic version and the Go version that built it.",
		}, []string{"version", "goversion"}),
		sources:  map[string]*sourceSeries{},
		rules:    map[string]prometheus.Counter{},
		handlers: map[string]*[numOutcomes]prometheus.Counter{},
	}
	m.reloadSuccess = m.reloads.WithLabelValues("success")
	m.reloadFailure = m.reloads.WithLabelValues("failure")
	m.SetVersion(moduleVersion())
	m.reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		m.events, m.matches, m.actions, m.reloads, m.reloadOK, m.reloadAt, m.buildInfo,
		scrapeCollector{m},
	)
	return m
}

// SetVersion sets the version label of logmedic_build_info.
func (m *Metrics) SetVersion(version string) {
	if version == "" {
		version = "unknown"
	}
	m.buildInfo.Reset()
	m.buildInfo.WithLabelValues(label(version), runtime.Version()).Set(1)
}

func moduleVersion() string {
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		return bi.Main.Version
	}
	return "devel"
}

// Events counts events a source read: decoded ones, and ones that failed
// to decode. Unless both are 0 it also restarts the source's idle clock;
// calling it with zeros when a source starts makes its series appear.
func (m *Metrics) Events(source string, decoded, failed int) {
	s := m.source(source)
	if decoded > 0 {
		s.decoded.Add(float64(decoded))
	}
	if failed > 0 {
		s.failed.Add(float64(failed))
	}
	if decoded > 0 || failed > 0 {
		s.last.Store(time.Now().UnixNano())
	}
}

func (m *Metrics) source(name string) *sourceSeries {
	m.mu.RLock()
	s, ok := m.sources[name]
	m.mu.RUnlock()
	if ok {
		return s
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if s, ok := m.sources[name]; ok {
		return s
	}
	l := label(name)
	s = &sourceSeries{decoded: m.events.WithLabelValues(l, "decoded"), failed: m.events.WithLabelValues(l, "failed")}
	s.last.Store(time.Now().UnixNano())
	m.sources[name] = s
	return s
}

// Match counts one event matched by the rule.
func (m *Metrics) Match(rule string) {
	m.mu.RLock()
	c, ok := m.rules[rule]
	m.mu.RUnlock()
	if !ok {
		m.mu.Lock()
		if c, ok = m.rules[rule]; !ok {
			c = m.matches.WithLabelValues(label(rule))
			m.rules[rule] = c
		}
		m.mu.Unlock()
	}
	c.Inc()
}

// Actions counts n actions of the handler with the outcome. The first
// call for a handler makes its series for every outcome appear, at 0;
// an outcome that is not one of the constants is ignored.
func (m *Metrics) Actions(handler string, o Outcome, n int) {
	if o >= numOutcomes || n < 0 {
		return
	}
	m.mu.RLock()
	cs, ok := m.handlers[handler]
	m.mu.RUnlock()
	if !ok {
		m.mu.Lock()
		if cs, ok = m.handlers[handler]; !ok {
			cs = new([numOutcomes]prometheus.Counter)
			l := label(handler)
			for i := range cs {
				cs[i] = m.actions.WithLabelValues(l, outcomeNames[i])
			}
			m.handlers[handler] = cs
		}
		m.mu.Unlock()
	}
	if n > 0 {
		cs[o].Add(float64(n))
	}
}

// ConfigLoaded records the initial, successful configuration load: the
// last-reload gauges are set, the reload counter is not.
func (m *Metrics) ConfigLoaded() {
	m.reloadOK.Set(1)
	m.reloadAt.Set(float64(time.Now().UnixNano()) / 1e9)
}

// Reload records a configuration reload, failed when err is not nil.
func (m *Metrics) Reload(err error) {
	if err != nil {
		m.reloadFailure.Inc()
		m.reloadOK.Set(0)
		return
	}
	m.reloadSuccess.Inc()
	m.ConfigLoaded()
}

// SetOutbox sets the function that reports the outbox at each scrape;
// until it is called, or after it is called with nil, the outbox metrics
// are absent. Concurrent scrapes call f concurrently.
func (m *Metrics) SetOutbox(f OutboxFunc) {
	if f == nil {
		m.outbox.Store(nil)
		return
	}
	m.outbox.Store(&f)
}

// scrapeCollector reports what is computed at scrape time: source idle
// times and the outbox.
type scrapeCollector struct{ m *Metrics }

func (c scrapeCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- idleDesc
	ch <- outboxDesc
	ch <- oldestDesc
}

func (c scrapeCollector) Collect(ch chan<- prometheus.Metric) {
	now := time.Now().UnixNano()
	c.m.mu.RLock()
	for name, s := range c.m.sources {
		idle := max(time.Duration(now-s.last.Load()), 0)
		ch <- prometheus.MustNewConstMetric(idleDesc, prometheus.GaugeValue, idle.Seconds(), label(name))
	}
	c.m.mu.RUnlock()
	if f := c.m.outbox.Load(); f != nil {
		pending, dead, oldest := (*f)()
		ch <- prometheus.MustNewConstMetric(outboxDesc, prometheus.GaugeValue, float64(pending), "pending")
		ch <- prometheus.MustNewConstMetric(outboxDesc, prometheus.GaugeValue, float64(dead), "dead")
		ch <- prometheus.MustNewConstMetric(oldestDesc, prometheus.GaugeValue, max(oldest, 0).Seconds())
	}
}

// label makes a name a valid label value: client_golang panics on
// invalid UTF-8.
func label(s string) string {
	if utf8.ValidString(s) {
		return s
	}
	return strings.ToValidUTF8(s, "\uFFFD")
}
