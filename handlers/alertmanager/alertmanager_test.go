package alertmanager

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap/zaptest"

	"github.com/logmedic/logmedic/handlers"
	"github.com/logmedic/logmedic/handlers/handlertest"
)

// memKV is an in-memory handlers.KV.
type memKV struct {
	mu sync.Mutex
	m  map[string][]byte
}

func newKV() *memKV { return &memKV{m: map[string][]byte{}} }

func (k *memKV) Get(key string) ([]byte, bool, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	v, ok := k.m[key]
	return slices.Clone(v), ok, nil
}

func (k *memKV) Put(key string, v []byte) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.m[key] = slices.Clone(v)
	return nil
}

func (k *memKV) Delete(key string) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	delete(k.m, key)
	return nil
}

func (k *memKV) Each(fn func(string, []byte) error) error {
	k.mu.Lock()
	keys := slices.Sorted(maps.Keys(k.m))
	vals := make([][]byte, len(keys))
	for i, key := range keys {
		vals[i] = k.m[key]
	}
	k.mu.Unlock()
	for i, key := range keys {
		if err := fn(key, vals[i]); err != nil {
			return err
		}
	}
	return nil
}

func (k *memKV) len() int {
	k.mu.Lock()
	defer k.mu.Unlock()
	return len(k.m)
}

// clock is a settable clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// recorder is an Alertmanager API stand-in that keeps what it was sent.
type recorder struct {
	mu     sync.Mutex
	status int
	reqs   []*http.Request
	bodies [][]byte
}

func (r *recorder) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	b, _ := io.ReadAll(req.Body)
	r.mu.Lock()
	defer r.mu.Unlock()
	r.reqs = append(r.reqs, req)
	r.bodies = append(r.bodies, b)
	if r.status != 0 {
		// Echo the request's Authorization, as a careless proxy might.
		http.Error(w, "rejected: "+req.Header.Get("Authorization"), r.status)
	}
}

// last returns the last request and its decoded alerts.
func (r *recorder) last(t *testing.T) (*http.Request, []map[string]any) {
	t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.reqs) == 0 {
		t.Fatal("no request received")
	}
	var alerts []map[string]any
	if err := json.Unmarshal(r.bodies[len(r.bodies)-1], &alerts); err != nil {
		t.Fatalf("body is not a JSON array of alerts: %v\n%s", err, r.bodies[len(r.bodies)-1])
	}
	return r.reqs[len(r.reqs)-1], alerts
}

func (r *recorder) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.reqs)
}

var start = time.Date(2026, 11, 21, 1, 5, 0, 0, time.UTC)

func newHandler(t *testing.T, c *Config, kv handlers.KV, clk *clock) *Handler {
	t.Helper()
	if err := c.Validate(); err != nil {
		t.Fatalf("Validate: %v", err)
	}
	o := handlers.Options{Name: "am", Logger: zaptest.NewLogger(t), State: kv}
	if clk != nil {
		o.Now = clk.Now
	}
	h, err := New(c, o)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return h
}

func TestRequestShape(t *testing.T) {
	rec := &recorder{}
	srv := httptest.NewServer(rec)
	defer srv.Close()
	clk := &clock{t: start}
	h := newHandler(t, &Config{
		URLs:   []string{srv.URL + "/am/"},
		Labels: map[string]*handlers.Template{"team": handlers.MustTemplate("backup"), "empty": handlers.MustTemplate("")},
	}, newKV(), clk)

	a := handlertest.Action(t, h, handlertest.Event(), "backup-failed", nil)
	if retry, err := h.Deliver(context.Background(), a); err != nil {
		t.Fatalf("Deliver: retry %v, %v", retry, err)
	}
	req, alerts := rec.last(t)
	if req.Method != http.MethodPost || req.URL.Path != "/am/api/v2/alerts" {
		t.Errorf("request %s %s, want POST /am/api/v2/alerts", req.Method, req.URL.Path)
	}
	if ct := req.Header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type %q", ct)
	}
	if req.Header.Get("Authorization") != "" {
		t.Error("Authorization sent without credentials configured")
	}
	if len(alerts) != 1 {
		t.Fatalf("%d alerts, want 1", len(alerts))
	}
	al := alerts[0]
	wantLabels := map[string]any{"alertname": "backup-failed", "computer": "WS-0142.corp.example", "error_code": "0x807800B4", "team": "backup"}
	if got := al["labels"].(map[string]any); !maps.Equal(got, wantLabels) {
		t.Errorf("labels %v, want %v", got, wantLabels)
	}
	ann := al["annotations"].(map[string]any)
	if ann["summary"] != "backup-failed on WS-0142.corp.example (0x807800B4)" {
		t.Errorf("summary %q", ann["summary"])
	}
	desc, _ := ann["description"].(string)
	for _, want := range []string{"Backup failed.", "0x807800B4: ", "Event 5 from Microsoft-Windows-Backup at 2026-11-21 01:00:03Z: The backup operation"} {
		if !strings.Contains(desc, want) {
			t.Errorf("description lacks %q:\n%s", want, desc)
		}
	}
	gen, _ := al["generatorURL"].(string)
	if u, err := url.ParseRequestURI(gen); err != nil || !u.IsAbs() {
		t.Errorf("generatorURL %q is not an absolute URI: %v", gen, err)
	}
	if gen != "logmedic:///rules/backup-failed?computer=WS-0142.corp.example" {
		t.Errorf("generatorURL %q", gen)
	}
	if al["startsAt"] != "2026-11-21T01:00:03.118Z" {
		t.Errorf("startsAt %v, want the event's time", al["startsAt"])
	}
	if al["endsAt"] != "2026-11-21T02:05:00.000Z" {
		t.Errorf("endsAt %v, want now + 1h", al["endsAt"])
	}

	// A repeat keeps the first startsAt.
	clk.Add(10 * time.Minute)
	e := handlertest.Event()
	e.RecordID++
	e.Time = e.Time.Add(10 * time.Minute)
	if _, err := h.Deliver(context.Background(), handlertest.Action(t, h, e, "backup-failed", nil)); err != nil {
		t.Fatal(err)
	}
	_, alerts = rec.last(t)
	if alerts[0]["startsAt"] != "2026-11-21T01:00:03.118Z" || alerts[0]["endsAt"] != "2026-11-21T02:15:00.000Z" {
		t.Errorf("repeat: startsAt %v endsAt %v", alerts[0]["startsAt"], alerts[0]["endsAt"])
	}
}

func TestWithOverrides(t *testing.T) {
	rec := &recorder{}
	srv := httptest.NewServer(rec)
	defer srv.Close()
	h := newHandler(t, &Config{
		URLs:        []string{srv.URL},
		Annotations: map[string]*handlers.Template{"runbook_url": handlers.MustTemplate("https://wiki.example/{{.Rule}}")},
	}, newKV(), nil)
	a := handlertest.Action(t, h, handlertest.Event(), "r", map[string]string{
		"summary": "S {{.Computer}}", "generator_url": "https://wiki.example/rules#{{.Rule}}",
	})
	if _, err := h.Deliver(context.Background(), a); err != nil {
		t.Fatal(err)
	}
	_, alerts := rec.last(t)
	ann := alerts[0]["annotations"].(map[string]any)
	if ann["summary"] != "S WS-0142.corp.example" || ann["runbook_url"] != "https://wiki.example/r" || ann["description"] == nil {
		t.Errorf("annotations %v", ann)
	}
	if alerts[0]["generatorURL"] != "https://wiki.example/rules#r" {
		t.Errorf("generatorURL %v", alerts[0]["generatorURL"])
	}
}

func TestAuth(t *testing.T) {
	const password, token = "pa55-w0rd-secret", "t0ken-secret-value"
	t.Setenv("AM_PASSWORD", password)
	t.Setenv("AM_TOKEN", token)
	tests := []struct {
		name   string
		config Config
		want   string
		secret string
	}{
		{"basic", Config{Username: "logmedic", PasswordEnv: "AM_PASSWORD"}, "Basic bG9nbWVkaWM6cGE1NS13MHJkLXNlY3JldA==", password},
		{"bearer", Config{TokenEnv: "AM_TOKEN"}, "Bearer " + token, token},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := &recorder{}
			srv := httptest.NewServer(rec)
			defer srv.Close()
			tt.config.URLs = []string{srv.URL}
			h := newHandler(t, &tt.config, newKV(), nil)
			a := handlertest.Action(t, h, handlertest.Event(), "backup-failed", nil)
			if _, err := h.Deliver(context.Background(), a); err != nil {
				t.Fatal(err)
			}
			req, _ := rec.last(t)
			if got := req.Header.Get("Authorization"); got != tt.want {
				t.Errorf("Authorization %q, want %q", got, tt.want)
			}

			// A server that echoes the credentials in its error.
			rec.mu.Lock()
			rec.status = http.StatusInternalServerError
			rec.mu.Unlock()
			retry, err := h.Deliver(context.Background(), a)
			if err == nil || !retry {
				t.Fatalf("Deliver to a failing server: retry %v, err %v", retry, err)
			}
			p, perr := h.Preview(a)
			if perr != nil {
				t.Fatal(perr)
			}
			pj, _ := json.Marshal(p)
			if !strings.Contains(p.Headers["Authorization"], handlers.Redacted) {
				t.Errorf("Preview Authorization %q not redacted", p.Headers["Authorization"])
			}
			handlertest.NoSecret(t, tt.secret, err.Error(), string(pj), string(a.Payload))
			handlertest.NoSecret(t, "cGE1NS13MHJkLXNlY3JldA", err.Error(), string(pj))
		})
	}
}

func TestHostileEventStaysData(t *testing.T) {
	rec := &recorder{}
	srv := httptest.NewServer(rec)
	defer srv.Close()
	h := newHandler(t, &Config{
		URLs: []string{srv.URL},
		// A careless generator_url that pastes event text into the URI.
		GeneratorURL: handlers.MustTemplate("http://{{.Computer}}/logmedic/{{.Rule}}"),
	}, newKV(), nil)
	e := handlertest.HostileEvent()
	a := handlertest.Action(t, h, e, "backup-failed", nil)
	if _, err := h.Deliver(context.Background(), a); err != nil {
		t.Fatal(err)
	}
	req, alerts := rec.last(t)
	if len(alerts) != 1 {
		t.Fatalf("%d alerts", len(alerts))
	}
	if req.Header.Get("X-Injected") != "" {
		t.Error("event text injected a header")
	}
	labels := alerts[0]["labels"].(map[string]any)
	if labels["computer"] != e.Computer {
		t.Errorf("computer label %q, want the event's text verbatim", labels["computer"])
	}
	if d := alerts[0]["annotations"].(map[string]any)["description"].(string); !strings.Contains(d, handlertest.Hostile) {
		t.Errorf("description lost the event text: %q", d)
	}
	gen := alerts[0]["generatorURL"].(string)
	if u, err := url.ParseRequestURI(gen); err != nil || !u.IsAbs() {
		t.Errorf("generatorURL %q is not an absolute URI: %v", gen, err)
	}
	p, err := h.Preview(a)
	if err != nil {
		t.Fatal(err)
	}
	var back []map[string]any
	if err := json.Unmarshal([]byte(p.Body), &back); err != nil || len(back) != 1 {
		t.Errorf("Preview body is not a JSON array of one alert: %v", err)
	}
}

func TestResolveAndResend(t *testing.T) {
	rec := &recorder{}
	srv := httptest.NewServer(rec)
	defer srv.Close()
	clk := &clock{t: start}
	kv := newKV()
	h := newHandler(t, &Config{URLs: []string{srv.URL}}, kv, clk)
	ctx := context.Background()

	fire := func(rule, computer string) {
		t.Helper()
		e := handlertest.Event()
		e.Computer = computer
		if _, err := h.Deliver(ctx, handlertest.Action(t, h, e, rule, nil)); err != nil {
			t.Fatal(err)
		}
	}
	fire("backup-failed", "PC1")
	fire("backup-failed", "PC2")
	fire("backup-esp-locked", "PC1")
	fire("restore-failed", "PC1")
	if kv.len() != 4 {
		t.Fatalf("state holds %d alerts, want 4", kv.len())
	}

	// Backup succeeded on pc1 (case differs): resolves two of PC1's alerts.
	clk.Add(time.Minute)
	ok := handlertest.Event()
	ok.Computer, ok.EventID, ok.Codes, ok.Time = "pc1", 4, nil, start.Add(time.Minute)
	a := handlertest.Action(t, h, ok, "backup-succeeded", map[string]string{"resolves": "backup-failed, backup-esp-locked"})
	a.Resolve = true
	var p payload
	if err := json.Unmarshal(a.Payload, &p); err != nil || p.Resolves == nil || !slices.Equal(*p.Resolves, []string{"backup-failed", "backup-esp-locked"}) {
		t.Fatalf("payload resolves: %s", a.Payload)
	}
	n := rec.count()
	if _, err := h.Deliver(ctx, a); err != nil {
		t.Fatal(err)
	}
	if rec.count() != n+1 {
		t.Fatalf("resolve sent %d requests, want 1", rec.count()-n)
	}
	_, alerts := rec.last(t)
	var resolved []string
	for _, al := range alerts {
		l := al["labels"].(map[string]any)
		resolved = append(resolved, l["alertname"].(string)+"@"+l["computer"].(string))
		if al["endsAt"] != "2026-11-21T01:06:00.000Z" {
			t.Errorf("resolved endsAt %v, want now", al["endsAt"])
		}
	}
	slices.Sort(resolved)
	if !slices.Equal(resolved, []string{"backup-esp-locked@PC1", "backup-failed@PC1"}) {
		t.Errorf("resolved %v", resolved)
	}

	// A retry of the resolving action posts the same resolution again.
	if _, err := h.Deliver(ctx, a); err != nil {
		t.Fatal(err)
	}
	if _, again := rec.last(t); len(again) != 2 || again[0]["endsAt"] != "2026-11-21T01:06:00.000Z" {
		t.Errorf("retry of the resolution sent %v", again)
	}

	// A late firing action for an event older than the resolution does
	// not fire the alert again.
	n = rec.count()
	fire("backup-failed", "PC1")
	if rec.count() != n {
		t.Error("a stale firing action re-fired a resolved alert")
	}

	// Resend: firing alerts get a fresh endsAt, resolved ones keep theirs.
	clk.Add(2 * time.Minute)
	if err := h.Resend(ctx); err != nil {
		t.Fatal(err)
	}
	_, alerts = rec.last(t)
	if len(alerts) != 4 {
		t.Fatalf("Resend sent %d alerts, want 4", len(alerts))
	}
	for _, al := range alerts {
		l := al["labels"].(map[string]any)
		want := "2026-11-21T02:08:00.000Z"
		if l["computer"] == "PC1" && l["alertname"] != "restore-failed" {
			want = "2026-11-21T01:06:00.000Z"
		}
		if al["endsAt"] != want {
			t.Errorf("Resend %v@%v endsAt %v, want %v", l["alertname"], l["computer"], al["endsAt"], want)
		}
	}

	// 5 minutes after the resolution, resolved alerts are forgotten.
	clk.Add(3 * time.Minute)
	if err := h.Resend(ctx); err != nil {
		t.Fatal(err)
	}
	if _, alerts = rec.last(t); len(alerts) != 2 {
		t.Errorf("Resend after 5 minutes sent %d alerts, want the 2 firing", len(alerts))
	}
	if kv.len() != 2 {
		t.Errorf("state holds %d alerts, want 2", kv.len())
	}

	// Without resolves, a resolving action resolves everything firing for
	// its computer.
	b := handlertest.Action(t, h, ok, "backup-succeeded", nil)
	b.Resolve = true
	if _, err := h.Deliver(ctx, b); err != nil {
		t.Fatal(err)
	}
	if _, alerts = rec.last(t); len(alerts) != 1 || alerts[0]["labels"].(map[string]any)["alertname"] != "restore-failed" {
		t.Errorf("resolve-all sent %v", alerts)
	}

	// A new failure after the resolution fires a new alert.
	clk.Add(time.Minute)
	e := handlertest.Event()
	e.Computer, e.Time = "PC1", clk.Now().Add(-time.Second)
	if _, err := h.Deliver(ctx, handlertest.Action(t, h, e, "backup-failed", nil)); err != nil {
		t.Fatal(err)
	}
	if _, alerts = rec.last(t); alerts[0]["startsAt"] != "2026-11-21T01:11:59.000Z" {
		t.Errorf("new alert startsAt %v", alerts[0]["startsAt"])
	}
}

func TestRetry(t *testing.T) {
	tests := []struct {
		name   string
		status []int // one Alertmanager per entry; 0 is down
		retry  bool
	}{
		{"all accept", []int{200, 200}, false},
		{"one 503", []int{200, 503}, true},
		{"one down", []int{200, 0}, true},
		{"429", []int{429}, true},
		{"400", []int{400}, false},
		{"400 and down", []int{400, 0}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var urls []string
			var recs []*recorder
			for _, st := range tt.status {
				rec := &recorder{}
				if st != 200 {
					rec.status = st
				}
				srv := httptest.NewServer(rec)
				defer srv.Close()
				if st == 0 {
					srv.Close()
				}
				urls = append(urls, srv.URL)
				recs = append(recs, rec)
			}
			kv := newKV()
			h := newHandler(t, &Config{URLs: urls}, kv, nil)
			retry, err := h.Deliver(context.Background(), handlertest.Action(t, h, handlertest.Event(), "backup-failed", nil))
			wantErr := slices.ContainsFunc(tt.status, func(st int) bool { return st != 200 })
			if (err != nil) != wantErr || retry != tt.retry {
				t.Errorf("retry %v, err %v; want retry %v", retry, err, tt.retry)
			}
			for i, st := range tt.status {
				if st == 200 && recs[i].count() != 1 {
					t.Errorf("Alertmanager %d got %d requests, want 1", i, recs[i].count())
				}
			}
			if kv.len() != 1 {
				t.Errorf("the alert is not kept for Resend after a failure")
			}
		})
	}
}

func TestGeneratorURLOverrideChecked(t *testing.T) {
	h := newHandler(t, &Config{URLs: []string{"http://am"}}, nil, nil)
	d := handlers.SampleData()
	if _, err := h.Prepare(d, map[string]*handlers.Template{"generator_url": handlers.MustTemplate("runbooks/{{.Rule}}")}); err == nil || !strings.Contains(err.Error(), "generator_url") {
		t.Errorf("Prepare with a relative generator_url: %v", err)
	}
}

func TestPrepareHasNoIO(t *testing.T) {
	h := newHandler(t, &Config{URLs: []string{"http://192.0.2.1:9093"}}, nil, nil)
	a := handlertest.Action(t, h, handlertest.Event(), "backup-failed", nil)
	p, err := h.Preview(a)
	if err != nil {
		t.Fatal(err)
	}
	if p.Method != "POST" || p.URL != "http://192.0.2.1:9093/api/v2/alerts" || !strings.Contains(p.Body, `"alertname": "backup-failed"`) {
		t.Errorf("Preview %+v", p)
	}
	// Without State (dry-run), Resend does nothing.
	if err := h.Resend(context.Background()); err != nil {
		t.Fatal(err)
	}
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name string
		yaml string
		key  string // "" means valid
		msg  string
	}{
		{"minimal", "urls: [http://am:9093]", "", ""},
		{"full", `
urls: [https://am1:9093, https://am2:9093/prefix]
labels: {severity: critical}
annotations: {runbook_url: "https://wiki/{{.Rule}}"}
generator_url: "https://wiki/rules/{{.Rule}}"
ttl: 2h
resend_interval: 30s
username: logmedic
password_file: /etc/logmedic/am.pw
tls: {ca_file: /etc/ca.pem}`, "", ""},
		{"no urls", "ttl: 1h", "urls", "at least one"},
		{"relative url", "urls: [am:9093]", "urls", "absolute"},
		{"url with credentials", "urls: ['http://u:p@am:9093']", "urls", "credentials"},
		{"bad label name", "urls: [http://am]\nlabels: {bad-name: x}", "labels", "not a label name"},
		{"reserved label", "urls: [http://am]\nlabels: {alertname: x}", "labels", "set by the handler"},
		{"generator not a URI", "urls: [http://am]\ngenerator_url: 'rules/{{.Rule}}'", "generator_url", "URI"},
		{"ttl below resend", "urls: [http://am]\nttl: 1m\nresend_interval: 2m", "ttl", "exceed resend_interval"},
		{"ttl too short", "urls: [http://am]\nttl: 10s", "ttl", "at least 1m"},
		{"basic and bearer", "urls: [http://am]\nusername: u\npassword_env: P\ntoken_env: T", "token_env", "not both"},
		{"username alone", "urls: [http://am]\nusername: u", "username", "needs password"},
		{"password alone", "urls: [http://am]\npassword_env: P", "username", "needs a username"},
		{"both password forms", "urls: [http://am]\nusername: u\npassword_env: P\npassword_file: f", "password_env", "not both"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var c Config
			handlertest.DecodeConfig(t, tt.yaml, &c)
			err := c.Validate()
			if tt.key == "" {
				if err != nil {
					t.Fatalf("Validate: %v", err)
				}
				return
			}
			var fe *handlers.FieldError
			if !errors.As(err, &fe) || fe.Key != tt.key || !strings.Contains(fe.Msg, tt.msg) {
				t.Errorf("Validate = %v; want %s: ...%s...", err, tt.key, tt.msg)
			}
		})
	}
}

func TestUnreadableSecret(t *testing.T) {
	rec := &recorder{}
	srv := httptest.NewServer(rec)
	defer srv.Close()
	t.Setenv("LOGMEDIC_TEST_EMPTY", "")
	empty := filepath.Join(t.TempDir(), "empty")
	if err := os.WriteFile(empty, []byte("\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, key string
		config    Config
	}{
		{"password env unset", "password_env", Config{Username: "u", PasswordEnv: "LOGMEDIC_TEST_UNSET_VAR"}},
		{"token file missing", "token_file", Config{TokenFile: "/nonexistent/token"}},
		// An empty secret would send no credential at all.
		{"password env empty", "password_env", Config{Username: "u", PasswordEnv: "LOGMEDIC_TEST_EMPTY"}},
		{"password file empty", "password_file", Config{Username: "u", PasswordFile: empty}},
		{"token env empty", "token_env", Config{TokenEnv: "LOGMEDIC_TEST_EMPTY"}},
		{"token file empty", "token_file", Config{TokenFile: empty}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// New succeeds (logmedic test runs without production
			// secrets); Deliver and Resend refuse to send.
			tt.config.URLs = []string{srv.URL}
			kv := newKV()
			h := newHandler(t, &tt.config, kv, nil)
			retry, err := h.Deliver(context.Background(), handlertest.Action(t, h, handlertest.Event(), "r", nil))
			if err == nil || retry || !strings.HasPrefix(err.Error(), tt.key+": ") {
				t.Errorf("Deliver = %v, %v; want a %s error, no retry", retry, err, tt.key)
			}
			// A firing alert kept from before, as after a restart.
			rc := record{Labels: map[string]string{"alertname": "r", "computer": "PC"}, StartsAt: start}
			b, _ := json.Marshal(rc)
			kv.Put(keyPrefix+fingerprint(rc.Labels), b)
			if err := h.Resend(context.Background()); err == nil || !strings.HasPrefix(err.Error(), tt.key+": ") {
				t.Errorf("Resend = %v; want a %s error", err, tt.key)
			}
			if n := rec.count(); n != 0 {
				t.Errorf("%d requests sent without the secret", n)
			}
		})
	}
}

func TestParams(t *testing.T) {
	var names []string
	for _, p := range Params() {
		names = append(names, p.Name)
		if p.Doc == "" {
			t.Errorf("param %s has no doc", p.Name)
		}
	}
	if slices.Contains(names, "resolves") || !slices.Contains(names, "summary") {
		t.Errorf("Params %v", names)
	}
	if got := splitList(" a,b  c,,a\n"); !slices.Equal(got, []string{"a", "b", "c"}) {
		t.Errorf("splitList %q", got)
	}
}

func TestConfigTags(t *testing.T) {
	typ := reflect.TypeFor[Config]()
	for i := range typ.NumField() {
		f := typ.Field(i)
		if f.Tag.Get("yaml") == "" || f.Tag.Get("doc") == "" {
			t.Errorf("field %s lacks a yaml or doc tag", f.Name)
		}
	}
}
