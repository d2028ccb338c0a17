package servicenow

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/logmedic/logmedic/handlers"
	"github.com/logmedic/logmedic/handlers/handlertest"
)

const (
	user = "logmedic.api"
	pass = "pa55-s3cret-0123456789"
)

// incident is a record of the fake instance.
type incident struct {
	SysID, Number string
	Fields        map[string]string
	Active        bool
	Notes         []string
}

// fakeSN is a ServiceNow Table API that checks the shape of every request.
type fakeSN struct {
	t    *testing.T
	auth string // the Authorization header every request must carry

	mu        sync.Mutex
	incidents []*incident
	calls     []string // "METHOD path"
	fail      []int    // statuses to answer the next requests with; 0 lets one through
	// crashAfterCreate creates the record, then drops the connection
	// before answering: logmedic cannot know the record exists.
	crashAfterCreate bool
	// ignoreQuery answers searches with any row, as ServiceNow does for a
	// condition on a field the table lacks.
	ignoreQuery bool
	// echo answers every request with an error repeating it.
	echo func(w http.ResponseWriter, r *http.Request, body []byte)
}

var searchQuery = regexp.MustCompile(`^correlation_id=(logmedic-[0-9a-f]{40})\^active=true$`)

func (f *fakeSN) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, r.Method+" "+r.URL.Path)
	if f.echo != nil {
		f.echo(w, r, body)
		return
	}
	if len(f.fail) > 0 {
		status := f.fail[0]
		f.fail = f.fail[1:]
		if status != 0 {
			http.Error(w, `{"error":{"message":"injected"}}`, status)
			return
		}
	}
	if r.Header.Get("Authorization") != f.auth {
		http.Error(w, `{"error":{"message":"User Not Authenticated"}}`, http.StatusUnauthorized)
		return
	}
	if r.Header.Get("Accept") != "application/json" {
		f.t.Errorf("%s %s: Accept %q", r.Method, r.URL.Path, r.Header.Get("Accept"))
	}
	if r.Method != http.MethodGet && r.Header.Get("Content-Type") != "application/json" {
		f.t.Errorf("%s %s: Content-Type %q", r.Method, r.URL.Path, r.Header.Get("Content-Type"))
	}
	const table = "/api/now/table/incident"
	switch {
	case r.Method == http.MethodGet && r.URL.Path == table:
		f.search(w, r)
	case r.Method == http.MethodPost && r.URL.Path == table:
		f.create(w, r, body)
	case r.Method == http.MethodPatch && strings.HasPrefix(r.URL.Path, table+"/"):
		f.note(w, strings.TrimPrefix(r.URL.Path, table+"/"), body)
	default:
		f.t.Errorf("unexpected %s %s", r.Method, r.URL)
		http.Error(w, "{}", http.StatusBadRequest)
	}
}

func (f *fakeSN) search(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	if strings.Contains(r.URL.RawQuery, "^") {
		f.t.Errorf("query %q: ^ is not percent-encoded", r.URL.RawQuery)
	}
	m := searchQuery.FindStringSubmatch(q.Get("sysparm_query"))
	if m == nil || q.Get("sysparm_fields") != "sys_id,number,correlation_id" || q.Get("sysparm_limit") != "1" || len(q) != 3 {
		f.t.Errorf("search query %q", q)
		http.Error(w, "{}", http.StatusBadRequest)
		return
	}
	result := []map[string]string{}
	for _, in := range f.incidents {
		// ServiceNow compares without regard to case.
		if f.ignoreQuery || in.Active && strings.EqualFold(in.Fields["correlation_id"], m[1]) {
			result = append(result, map[string]string{"sys_id": in.SysID, "number": in.Number, "correlation_id": in.Fields["correlation_id"]})
			break
		}
	}
	writeJSON(w, http.StatusOK, map[string]any{"result": result})
}

func (f *fakeSN) create(w http.ResponseWriter, r *http.Request, body []byte) {
	var fields map[string]string
	if err := json.Unmarshal(body, &fields); err != nil {
		f.t.Errorf("create body %s: %v", body, err)
		http.Error(w, "{}", http.StatusBadRequest)
		return
	}
	if r.URL.Query().Get("sysparm_fields") != "sys_id,number" {
		f.t.Errorf("create query %q", r.URL.RawQuery)
	}
	if !regexp.MustCompile(`^logmedic-[0-9a-f]{40}$`).MatchString(fields["correlation_id"]) || fields["correlation_display"] != "logmedic" || fields["short_description"] == "" {
		f.t.Errorf("create fields %q", fields)
	}
	n := len(f.incidents) + 1
	in := &incident{SysID: fmt.Sprintf("%032x", n), Number: fmt.Sprintf("INC%07d", n), Fields: fields, Active: true}
	f.incidents = append(f.incidents, in)
	if f.crashAfterCreate {
		f.crashAfterCreate = false
		conn, _, err := w.(http.Hijacker).Hijack()
		if err == nil {
			conn.Close()
		}
		return
	}
	writeJSON(w, http.StatusCreated, map[string]any{"result": map[string]string{"sys_id": in.SysID, "number": in.Number}})
}

func (f *fakeSN) note(w http.ResponseWriter, id string, body []byte) {
	var fields map[string]string
	if err := json.Unmarshal(body, &fields); err != nil || len(fields) != 1 || fields["work_notes"] == "" {
		f.t.Errorf("patch body %s", body)
		http.Error(w, "{}", http.StatusBadRequest)
		return
	}
	for _, in := range f.incidents {
		if in.SysID == id {
			in.Notes = append(in.Notes, fields["work_notes"])
			writeJSON(w, http.StatusOK, map[string]any{"result": map[string]string{"sys_id": in.SysID, "number": in.Number}})
			return
		}
	}
	http.Error(w, `{"error":{"message":"No Record found"}}`, http.StatusNotFound)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

func (f *fakeSN) state() ([]incident, []string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []incident
	for _, in := range f.incidents {
		c := *in
		c.Notes = slices.Clone(in.Notes)
		out = append(out, c)
	}
	return out, slices.Clone(f.calls)
}

func (f *fakeSN) set(fn func(f *fakeSN)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	fn(f)
}

func basic(u, p string) string { return "Basic " + base64.StdEncoding.EncodeToString([]byte(u+":"+p)) }

// setup starts a fake instance and a handler using it with basic auth;
// extra is more configuration.
func setup(t *testing.T, extra string) (*fakeSN, *Handler) {
	t.Helper()
	f := &fakeSN{t: t, auth: basic(user, pass)}
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	t.Setenv("SN_PASSWORD", pass)
	h := newHandler(t, "instance: "+srv.URL+"/\nusername: "+user+"\npassword_env: SN_PASSWORD\n"+extra)
	return f, h
}

func parse(t *testing.T, text string) *Config {
	t.Helper()
	var c Config
	handlertest.DecodeConfig(t, text, &c)
	return &c
}

func newHandler(t *testing.T, text string) *Handler {
	t.Helper()
	h, err := New(parse(t, text), handlers.Options{Name: "sn", Logger: zap.NewNop()})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return h
}

// action prepares an action as the dispatcher does, with repeats
// suppressed matches before it.
func action(t *testing.T, h *Handler, e handlers.Event, repeats int, with map[string]string) *handlers.Action {
	t.Helper()
	a := handlertest.Action(t, h, e, "backup-failed", with)
	if repeats > 0 {
		w := map[string]*handlers.Template{}
		for k, v := range with {
			w[k] = handlers.MustTemplate(v)
		}
		d := handlers.NewData(&e, a.Rule, "Backup failed.")
		d.DedupKey, d.ActionID, d.Repeats = a.DedupKey, a.ID, repeats
		p, err := h.Prepare(d, w)
		if err != nil {
			t.Fatal(err)
		}
		a.Payload, a.Repeats = p, repeats
	}
	return a
}

// laterEvent is the same problem on the same computer, a day later.
func laterEvent(e handlers.Event) handlers.Event {
	e.RecordID++
	e.Time = e.Time.Add(24 * time.Hour)
	return e
}

func mustDeliver(t *testing.T, h *Handler, a *handlers.Action) {
	t.Helper()
	if retry, err := h.Deliver(t.Context(), a); err != nil {
		t.Fatalf("Deliver: retry %v, %v", retry, err)
	}
}

func TestValidate(t *testing.T) {
	const ok = "instance: https://acme.service-now.com\n"
	const auth = "username: u\npassword_env: P\n"
	tests := []struct {
		name string
		yaml string
		keys []string
	}{
		{"basic auth", ok + auth, nil},
		{"token", ok + "token_file: /run/sn-token", nil},
		{"no instance", auth, []string{"instance"}},
		{"http instance", "instance: http://acme.service-now.com\n" + auth, []string{"instance"}},
		{"http loopback", "instance: http://127.0.0.1:8080\n" + auth, nil},
		{"instance with path", "instance: https://acme.service-now.com/api/now\n" + auth, []string{"instance"}},
		{"instance with credentials", "instance: https://u:p@acme.service-now.com\n" + auth, []string{"instance"}},
		{"bad table", ok + auth + "table: Incident;drop", []string{"table"}},
		{"no auth", ok, []string{"username"}},
		{"username without password", ok + "username: u", []string{"username"}},
		{"password without username", ok + "password_env: P", []string{"username"}},
		{"both auths", ok + auth + "token_env: T", []string{"token_env"}},
		{"both password forms", ok + auth + "password_file: /f", []string{"password_env"}},
		{"reserved field", ok + auth + "fields: {correlation_id: x}", []string{"fields"}},
		{"bad field name", ok + auth + "fields: {Short Description: x}", []string{"fields"}},
		{"field fails on sample", ok + auth + "fields: {urgency: '{{.Nope}}'}", []string{"fields"}},
		{"note fails on sample", ok + auth + "work_notes: '{{.Data.Nope}}'", []string{"work_notes"}},
		{"all at once", "table: X\nfields: {sys_id: x}", []string{"instance", "table", "username", "fields"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := parse(t, tt.yaml).Validate()
			var keys []string
			for _, fe := range handlertest.FieldErrors(t, err) {
				keys = append(keys, fe.Key)
			}
			if !slices.Equal(keys, tt.keys) {
				t.Errorf("keys = %q, want %q (err: %v)", keys, tt.keys, err)
			}
		})
	}
}

func TestDedupFlow(t *testing.T) {
	f, h := setup(t, "fields: {assignment_group: 8a4dde73c6112278017a6a4baf547aa7, urgency: '2'}")
	e := handlertest.Event()
	first := action(t, h, e, 0, nil)
	mustDeliver(t, h, first)
	second := action(t, h, laterEvent(e), 3, nil)
	if second.ID == first.ID || second.DedupKey != first.DedupKey {
		t.Fatal("test actions must differ in ID and share the dedup key")
	}
	mustDeliver(t, h, second)

	incs, calls := f.state()
	wantCalls := []string{
		"GET /api/now/table/incident", "POST /api/now/table/incident",
		"GET /api/now/table/incident", "PATCH /api/now/table/incident/" + fmt.Sprintf("%032x", 1),
	}
	if !slices.Equal(calls, wantCalls) {
		t.Errorf("calls = %q\nwant %q", calls, wantCalls)
	}
	if len(incs) != 1 {
		t.Fatalf("%d incidents, want 1", len(incs))
	}
	in := incs[0]
	want := map[string]string{
		"correlation_id":      CorrelationID(first.DedupKey),
		"correlation_display": "logmedic",
		"short_description":   "WS-0142.corp.example: Backup failed. (0x807800B4)",
		"assignment_group":    "8a4dde73c6112278017a6a4baf547aa7",
		"urgency":             "2",
	}
	for k, v := range want {
		if in.Fields[k] != v {
			t.Errorf("%s = %q, want %q", k, in.Fields[k], v)
		}
	}
	if d := in.Fields["description"]; !strings.Contains(d, e.Message) || !strings.Contains(d, "Dedup key: "+first.DedupKey) {
		t.Errorf("description = %q", d)
	}
	if len(in.Notes) != 1 || !strings.Contains(in.Notes[0], "seen 3 more times") || !strings.Contains(in.Notes[0], "2026-11-22 01:00:03 UTC") {
		t.Errorf("notes = %q, want one saying it was seen 3 more times", in.Notes)
	}
}

func TestRedeliveryAfterCrash(t *testing.T) {
	f, h := setup(t, "")
	f.set(func(f *fakeSN) { f.crashAfterCreate = true })
	a := action(t, h, handlertest.Event(), 0, nil)
	retry, err := h.Deliver(t.Context(), a)
	if err == nil || !retry {
		t.Fatalf("lost reply: retry %v, err %v; want a retryable error", retry, err)
	}
	mustDeliver(t, h, a) // the outbox retries the same action
	incs, calls := f.state()
	if len(incs) != 1 {
		t.Fatalf("%d incidents after redelivery, want 1 (calls %q)", len(incs), calls)
	}
	if len(incs[0].Notes) != 1 || calls[len(calls)-1] != "PATCH /api/now/table/incident/"+incs[0].SysID {
		t.Errorf("redelivery: notes %q, calls %q", incs[0].Notes, calls)
	}
}

func TestConcurrentSameKey(t *testing.T) {
	f, h := setup(t, "")
	e := handlertest.Event()
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for i := range 8 {
		ev := e
		ev.RecordID += uint64(i)
		a := action(t, h, ev, 0, nil)
		wg.Go(func() {
			if _, err := h.Deliver(t.Context(), a); err != nil {
				errs <- err
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if incs, _ := f.state(); len(incs) != 1 || len(incs[0].Notes) != 7 {
		t.Errorf("%d incidents, want 1 with 7 notes", len(incs))
	}
}

func TestClosedIncidentOpensNew(t *testing.T) {
	f, h := setup(t, "")
	mustDeliver(t, h, action(t, h, handlertest.Event(), 0, nil))
	f.set(func(f *fakeSN) { f.incidents[0].Active = false })
	mustDeliver(t, h, action(t, h, laterEvent(handlertest.Event()), 0, nil))
	if incs, _ := f.state(); len(incs) != 2 || len(incs[0].Notes) != 0 {
		t.Errorf("after the first was closed: %d incidents, want 2", len(incs))
	}
}

func TestResolve(t *testing.T) {
	f, h := setup(t, "")
	a := action(t, h, handlertest.Event(), 0, map[string]string{"work_notes": "Backup succeeded on {{.Computer}}."})
	a.Resolve = true
	mustDeliver(t, h, a)
	if incs, calls := f.state(); len(incs) != 0 || len(calls) != 1 {
		t.Fatalf("resolve with nothing open: incidents %d, calls %q; want a search only", len(incs), calls)
	}
	mustDeliver(t, h, action(t, h, handlertest.Event(), 0, nil))
	mustDeliver(t, h, a)
	if incs, _ := f.state(); len(incs) != 1 || !slices.Equal(incs[0].Notes, []string{"Backup succeeded on WS-0142.corp.example."}) {
		t.Errorf("resolve: %+v", incs)
	}
}

func TestWithOverrides(t *testing.T) {
	f, h := setup(t, "fields: {urgency: '3', u_backup_target: '{{.Field \"BackupTarget\"}}'}")
	mustDeliver(t, h, action(t, h, handlertest.Event(), 0, map[string]string{
		"urgency": "1", "impact": "2", "short_description": "Backup of {{.Computer}}", "category": "",
	}))
	incs, _ := f.state()
	got := incs[0].Fields
	if got["urgency"] != "1" || got["impact"] != "2" || got["short_description"] != "Backup of WS-0142.corp.example" ||
		got["u_backup_target"] != `\\nas01\images` {
		t.Errorf("fields = %q", got)
	}
	if _, ok := got["category"]; ok {
		t.Error("a field rendering empty was sent")
	}
}

func TestHostileEvent(t *testing.T) {
	f, h := setup(t, "")
	e := handlertest.HostileEvent()
	e.Computer = "PC^active=false^ORnumberISNOTEMPTY^NQ" + handlertest.Hostile // tries to rewrite the encoded query
	a := action(t, h, e, 0, nil)
	mustDeliver(t, h, a)
	mustDeliver(t, h, action(t, h, laterEvent(e), 0, nil))
	incs, _ := f.state()
	if len(incs) != 1 || len(incs[0].Notes) != 1 {
		t.Fatalf("%d incidents, want 1 with a note", len(incs))
	}
	fields := incs[0].Fields
	if !strings.Contains(fields["description"], "\n\n"+handlertest.Hostile) {
		t.Errorf("description does not hold the message verbatim: %q", fields["description"])
	}
	if sd := fields["short_description"]; strings.ContainsAny(sd, "\r\n") || len([]rune(sd)) > 160 {
		t.Errorf("short_description = %q, want one line of at most 160 characters", sd)
	}
	if !strings.Contains(incs[0].Notes[0], handlertest.Hostile) {
		t.Errorf("note = %q", incs[0].Notes[0])
	}
}

func TestJournalText(t *testing.T) {
	tests := []struct{ in, want string }{
		{"plain [x] text", "plain [x] text"},
		{"[code]<img src=x onerror=alert(1)>[/code]", "[\u200bcode]<img src=x onerror=alert(1)>[\u200b/code]"},
		{"[CODE][/Code", "[\u200bCODE][\u200b/Code"},
		{"[cod", "[cod"},
	}
	for _, tt := range tests {
		if got := journalText(tt.in); got != tt.want {
			t.Errorf("journalText(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
	f, h := setup(t, "")
	e := handlertest.Event()
	mustDeliver(t, h, action(t, h, e, 0, nil))
	e.RecordID++
	e.Message = "[code]<a href=http://evil.example>x</a>[/code]"
	mustDeliver(t, h, action(t, h, e, 0, nil))
	incs, _ := f.state()
	if n := strings.Count(strings.ToLower(incs[0].Notes[0]), "[code]"); n != 0 {
		t.Errorf("note %q still holds [code]", incs[0].Notes[0])
	}
}

func TestCorrelationID(t *testing.T) {
	long := strings.Repeat("k", 500)
	for _, key := range []string{"", "a", long, "rule/PC^active=false", "RULE/pc"} {
		id := CorrelationID(key)
		if !regexp.MustCompile(`^logmedic-[0-9a-f]{40}$`).MatchString(id) || len(id) > 100 {
			t.Errorf("CorrelationID(%q) = %q", key, id)
		}
	}
	if CorrelationID("rule/PC") == CorrelationID("rule/pc") {
		t.Error("keys differing in case share a correlation_id")
	}
}

func TestStatusClassification(t *testing.T) {
	tests := []struct {
		name   string
		fail   []int
		retry  bool
		create bool // whether the incident exists afterwards
	}{
		{"search 500", []int{500}, true, false},
		{"search 503", []int{503}, true, false},
		{"search 429", []int{429}, true, false},
		{"search 400", []int{400}, false, false},
		{"search 401", []int{401}, false, false},
		{"create 500", []int{0, 500}, true, false},
		{"create 400", []int{0, 400}, false, false},
		{"create 403", []int{0, 403}, false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, h := setup(t, "")
			f.set(func(f *fakeSN) { f.fail = tt.fail })
			retry, err := h.Deliver(t.Context(), action(t, h, handlertest.Event(), 0, nil))
			if err == nil || retry != tt.retry {
				t.Errorf("retry %v, err %v; want retry %v", retry, err, tt.retry)
			}
			if incs, _ := f.state(); (len(incs) > 0) != tt.create {
				t.Errorf("%d incidents", len(incs))
			}
		})
	}
	t.Run("wrong password", func(t *testing.T) {
		f, h := setup(t, "")
		f.set(func(f *fakeSN) { f.auth = basic(user, "other") })
		if retry, err := h.Deliver(t.Context(), action(t, h, handlertest.Event(), 0, nil)); err == nil || retry {
			t.Errorf("401: retry %v, err %v", retry, err)
		}
	})
}

func TestBearerToken(t *testing.T) {
	f := &fakeSN{t: t, auth: "Bearer oauth-s3cret"}
	srv := httptest.NewServer(f)
	defer srv.Close()
	t.Setenv("SN_TOKEN", "oauth-s3cret")
	h := newHandler(t, "instance: "+srv.URL+"\ntoken_env: SN_TOKEN")
	mustDeliver(t, h, action(t, h, handlertest.Event(), 0, nil))
	if incs, _ := f.state(); len(incs) != 1 {
		t.Errorf("%d incidents", len(incs))
	}
}

func TestServerDownThenUp(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	t.Setenv("SN_PASSWORD", pass)
	h := newHandler(t, "instance: http://"+addr+"\nusername: "+user+"\npassword_env: SN_PASSWORD")
	a := action(t, h, handlertest.Event(), 0, nil)
	if retry, err := h.Deliver(t.Context(), a); err == nil || !retry {
		t.Fatalf("server down: retry %v, err %v", retry, err)
	}
	if l, err = net.Listen("tcp", addr); err != nil {
		t.Skipf("cannot listen again on %s: %v", addr, err)
	}
	f := &fakeSN{t: t, auth: basic(user, pass)}
	srv := httptest.NewUnstartedServer(f)
	srv.Listener = l
	srv.Start()
	defer srv.Close()
	mustDeliver(t, h, a)
	if incs, _ := f.state(); len(incs) != 1 {
		t.Errorf("%d incidents", len(incs))
	}
}

func TestWrongTableNeverNotesAStranger(t *testing.T) {
	f, h := setup(t, "")
	f.set(func(f *fakeSN) {
		f.incidents = append(f.incidents, &incident{SysID: fmt.Sprintf("%032x", 99), Number: "INC0000099", Active: true, Fields: map[string]string{}})
		f.ignoreQuery = true
	})
	retry, err := h.Deliver(t.Context(), action(t, h, handlertest.Event(), 0, nil))
	if err == nil || retry || !strings.Contains(err.Error(), "correlation_id") {
		t.Errorf("retry %v, err %v; want a permanent error about correlation_id", retry, err)
	}
	if incs, _ := f.state(); len(incs[0].Notes) != 0 {
		t.Error("a note went to an unrelated record")
	}
}

func TestNoSecretLeak(t *testing.T) {
	for _, auth := range []string{"basic", "bearer"} {
		t.Run(auth, func(t *testing.T) {
			f := &fakeSN{t: t}
			srv := httptest.NewServer(f)
			defer srv.Close()
			t.Setenv("SN_SECRET", pass)
			cfg := "instance: " + srv.URL + "\nusername: " + user + "\npassword_env: SN_SECRET"
			if auth == "bearer" {
				cfg = "instance: " + srv.URL + "\ntoken_env: SN_SECRET"
			}
			h := newHandler(t, cfg)
			a := action(t, h, handlertest.HostileEvent(), 0, nil)
			texts := []string{string(a.Payload)}
			for pad := 0; pad < 400; pad += 7 {
				for _, status := range []int{400, 500} {
					f.set(func(f *fakeSN) {
						f.echo = func(w http.ResponseWriter, r *http.Request, body []byte) {
							w.WriteHeader(status)
							io.WriteString(w, strings.Repeat("x", pad))
							r.Header.Write(w)
							w.Write(body)
						}
					})
					_, err := h.Deliver(t.Context(), a)
					if err == nil {
						t.Fatal("no error")
					}
					texts = append(texts, err.Error())
				}
			}
			pv, err := h.Preview(a)
			if err != nil {
				t.Fatal(err)
			}
			pb, _ := json.Marshal(pv)
			texts = append(texts, string(pb))
			handlertest.NoSecret(t, pass, texts...)
			handlertest.NoSecret(t, pass[:12], texts...)
			b64 := strings.TrimPrefix(basic(user, pass), "Basic ")
			handlertest.NoSecret(t, b64[:16], texts...)
		})
	}
}

func TestPreview(t *testing.T) {
	t.Setenv("SN_PASSWORD", pass)
	h := newHandler(t, "instance: https://acme.service-now.com\nusername: u\npassword_env: SN_PASSWORD\nfields: {urgency: '1'}")
	a := action(t, h, handlertest.Event(), 0, nil)
	pv, err := h.Preview(a)
	if err != nil {
		t.Fatal(err)
	}
	if pv.Method != "POST" || pv.URL != "https://acme.service-now.com/api/now/table/incident?sysparm_fields=sys_id%2Cnumber" ||
		pv.Headers["Authorization"] != "Basic "+handlers.Redacted || pv.Headers["Content-Type"] != "application/json" {
		t.Errorf("preview = %+v", pv)
	}
	var body map[string]string
	if err := json.Unmarshal([]byte(pv.Body), &body); err != nil || body["urgency"] != "1" || body["correlation_id"] != CorrelationID(a.DedupKey) {
		t.Errorf("preview body = %s (%v)", pv.Body, err)
	}
	if !strings.Contains(pv.Note, "sysparm_query=correlation_id%3D"+CorrelationID(a.DedupKey)+"%5Eactive%3Dtrue") || !strings.Contains(pv.Note, "PATCH") {
		t.Errorf("preview note = %q", pv.Note)
	}
}

func TestSecretErrors(t *testing.T) {
	dir := t.TempDir()
	// A secret that cannot be read does not fail New (logmedic test runs
	// without production secrets) but Deliver refuses to send.
	// Nor does an empty one, which Deliver refuses too rather than send
	// no credential.
	t.Setenv("LOGMEDIC_TEST_EMPTY", "")
	empty := filepath.Join(dir, "empty")
	if err := os.WriteFile(empty, []byte("\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	deferred := []struct{ name, yaml, key string }{
		{"password env unset", "username: u\npassword_env: LOGMEDIC_TEST_UNSET", "password_env"},
		{"password file missing", "username: u\npassword_file: " + filepath.Join(dir, "none"), "password_file"},
		{"token env unset", "token_env: LOGMEDIC_TEST_UNSET", "token_env"},
		{"token env empty", "token_env: LOGMEDIC_TEST_EMPTY", "token_env"},
		{"token file empty", "token_file: " + empty, "token_file"},
		{"password env empty", "username: u\npassword_env: LOGMEDIC_TEST_EMPTY", "password_env"},
		{"password file empty", "username: u\npassword_file: " + empty, "password_file"},
	}
	for _, tt := range deferred {
		t.Run(tt.name, func(t *testing.T) {
			f := &fakeSN{t: t}
			srv := httptest.NewServer(f)
			defer srv.Close()
			h := newHandler(t, "instance: "+srv.URL+"\n"+tt.yaml)
			a := action(t, h, handlertest.Event(), 0, nil)
			if _, err := h.Preview(a); err != nil {
				t.Errorf("Preview: %v", err)
			}
			retry, err := h.Deliver(t.Context(), a)
			if err == nil || retry || !strings.HasPrefix(err.Error(), tt.key+": ") {
				t.Errorf("retry %v, err %v; want a permanent error naming %s", retry, err, tt.key)
			}
			if _, calls := f.state(); len(calls) != 0 {
				t.Errorf("calls %q without the secret", calls)
			}
		})
	}
	const inst = "instance: https://acme.service-now.com\n"
	tok := filepath.Join(dir, "tok")
	if err := os.WriteFile(tok, []byte("tok\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	failing := []struct{ name, yaml, key string }{
		{"ca file missing", inst + "token_file: " + tok + "\ntls: {ca_file: " + filepath.Join(dir, "none") + "}", "tls.ca_file"},
	}
	for _, tt := range failing {
		t.Run(tt.name, func(t *testing.T) {
			_, err := New(parse(t, tt.yaml), handlers.Options{})
			var fe *handlers.FieldError
			if !errors.As(err, &fe) || fe.Key != tt.key {
				t.Errorf("err = %v, want a FieldError at %s", err, tt.key)
			}
		})
	}
}

func TestParams(t *testing.T) {
	var names []string
	for _, p := range Params() {
		if p.Doc == "" {
			t.Errorf("%s has no doc", p.Name)
		}
		names = append(names, p.Name)
	}
	want := []string{"short_description", "description", "assignment_group", "caller_id", "urgency", "impact", "category", "cmdb_ci", "work_notes"}
	if !slices.Equal(names, want) {
		t.Errorf("Params = %q", names)
	}
}
