package jira

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
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
	"unicode/utf8"

	"go.uber.org/zap"

	"github.com/logmedic/logmedic/handlers"
	"github.com/logmedic/logmedic/handlers/handlertest"
)

const (
	email = "ops@example.com"
	token = "jira-tok-s3cret-0123456789"
)

type issue struct {
	Key      string
	Project  string
	Type     string
	Summary  string
	Desc     any // v2: a string; v3: an ADF document
	Labels   []string
	Priority string
	Done     bool
	Comments []any
	Created  int  // the number of the request that created it
	Deleted  bool // answers 404
}

// fakeJira is a Jira REST API of one version that checks the shape of
// every request.
type fakeJira struct {
	t       *testing.T
	version int
	prefix  string // context path
	auth    string

	mu               sync.Mutex
	issues           []*issue
	calls            []string
	fail             []int // statuses for the next requests; 0 lets one through
	crashAfterCreate bool
	echo             func(w http.ResponseWriter, r *http.Request, body []byte)
	// lag is how many requests after its creation an issue stays out of
	// search results, as in Jira Cloud, whose search is not
	// read-after-write consistent.
	lag int
}

var jqlRe = regexp.MustCompile(`^project = "([A-Z][A-Z0-9_]*)" AND labels = "(logmedic-[0-9a-f]{16})" AND statusCategory != Done$`)

func (f *fakeJira) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	f.mu.Lock()
	defer f.mu.Unlock()
	path := strings.TrimPrefix(r.URL.Path, f.prefix)
	f.calls = append(f.calls, r.Method+" "+path)
	if f.echo != nil {
		f.echo(w, r, body)
		return
	}
	if len(f.fail) > 0 {
		status := f.fail[0]
		f.fail = f.fail[1:]
		if status != 0 {
			http.Error(w, `{"errorMessages":["injected"],"errors":{}}`, status)
			return
		}
	}
	if r.Header.Get("Authorization") != f.auth {
		http.Error(w, `{"errorMessages":["unauthorized"]}`, http.StatusUnauthorized)
		return
	}
	if r.Header.Get("Accept") != "application/json" || r.Method == http.MethodPost && r.Header.Get("Content-Type") != "application/json" {
		f.t.Errorf("%s %s: Accept %q, Content-Type %q", r.Method, path, r.Header.Get("Accept"), r.Header.Get("Content-Type"))
	}
	api := fmt.Sprintf("/rest/api/%d/", f.version)
	search := api + "search"
	if f.version == 3 {
		search += "/jql"
	}
	switch {
	case r.Method == http.MethodGet && path == search:
		f.search(w, r)
	case r.Method == http.MethodPost && path == api+"issue":
		f.create(w, body)
	case r.Method == http.MethodGet && strings.HasPrefix(path, api+"issue/") && !strings.Contains(strings.TrimPrefix(path, api+"issue/"), "/"):
		f.get(w, r, strings.TrimPrefix(path, api+"issue/"))
	case r.Method == http.MethodPost && strings.HasPrefix(path, api+"issue/") && strings.HasSuffix(path, "/comment"):
		f.addComment(w, strings.TrimSuffix(strings.TrimPrefix(path, api+"issue/"), "/comment"), body)
	default:
		f.t.Errorf("unexpected %s %s", r.Method, r.URL)
		http.Error(w, "{}", http.StatusNotFound)
	}
}

func (f *fakeJira) search(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	m := jqlRe.FindStringSubmatch(q.Get("jql"))
	if m == nil || q.Get("maxResults") != "1" || q.Get("fields") != "summary" || len(q) != 3 || strings.Contains(r.URL.RawQuery, "+") {
		f.t.Errorf("search query %q", r.URL.RawQuery)
		http.Error(w, `{"errorMessages":["bad jql"]}`, http.StatusBadRequest)
		return
	}
	found := []map[string]any{}
	for i, is := range f.issues {
		if len(f.calls)-is.Created <= f.lag {
			continue // not indexed yet
		}
		if is.Project == m[1] && slices.Contains(is.Labels, m[2]) && !is.Done && !is.Deleted {
			found = append(found, map[string]any{"id": fmt.Sprint(10000 + i), "key": is.Key, "fields": map[string]string{"summary": is.Summary}})
			break
		}
	}
	if f.version == 2 {
		writeJSON(w, 200, map[string]any{"startAt": 0, "maxResults": 1, "total": len(found), "issues": found})
	} else {
		writeJSON(w, 200, map[string]any{"issues": found, "isLast": true})
	}
}

func (f *fakeJira) create(w http.ResponseWriter, body []byte) {
	var req struct {
		Fields struct {
			Project   struct{ Key string }   `json:"project"`
			IssueType struct{ Name string }  `json:"issuetype"`
			Summary   string                 `json:"summary"`
			Desc      any                    `json:"description"`
			Labels    []string               `json:"labels"`
			Priority  *struct{ Name string } `json:"priority"`
		} `json:"fields"`
	}
	dec := json.NewDecoder(strings.NewReader(string(body)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		f.t.Errorf("create body %s: %v", body, err)
		http.Error(w, `{"errorMessages":["bad body"]}`, http.StatusBadRequest)
		return
	}
	fl := req.Fields
	if fl.Summary == "" || utf8.RuneCountInString(fl.Summary) > 255 || strings.ContainsAny(fl.Summary, "\r\n") {
		f.t.Errorf("summary %q", fl.Summary)
	}
	for _, l := range fl.Labels {
		if strings.ContainsAny(l, " \t\r\n") {
			f.t.Errorf("label %q has spaces", l)
		}
	}
	f.checkText("description", fl.Desc)
	is := &issue{Key: fmt.Sprintf("%s-%d", fl.Project.Key, len(f.issues)+1), Project: fl.Project.Key, Type: fl.IssueType.Name,
		Summary: fl.Summary, Desc: fl.Desc, Labels: fl.Labels, Created: len(f.calls)}
	if fl.Priority != nil {
		is.Priority = fl.Priority.Name
	}
	f.issues = append(f.issues, is)
	if f.crashAfterCreate {
		f.crashAfterCreate = false
		if conn, _, err := w.(http.Hijacker).Hijack(); err == nil {
			conn.Close()
		}
		return
	}
	writeJSON(w, http.StatusCreated, map[string]string{"id": "10000", "key": is.Key, "self": "http://jira/rest/api/2/issue/10000"})
}

// get answers GET /issue/<key>?fields=status, as Jira does.
func (f *fakeJira) get(w http.ResponseWriter, r *http.Request, key string) {
	if q := r.URL.Query(); q.Get("fields") != "status" || len(q) != 1 {
		f.t.Errorf("get issue query %q", r.URL.RawQuery)
	}
	for i, is := range f.issues {
		if is.Key != key || is.Deleted {
			continue
		}
		name, category := "To Do", "new"
		if is.Done {
			name, category = "Done", "done"
		}
		writeJSON(w, http.StatusOK, map[string]any{"id": fmt.Sprint(10000 + i), "key": is.Key,
			"fields": map[string]any{"status": map[string]any{"name": name, "statusCategory": map[string]any{"key": category, "name": name}}}})
		return
	}
	http.Error(w, `{"errorMessages":["Issue does not exist or you do not have permission to see it."],"errors":{}}`, http.StatusNotFound)
}

func (f *fakeJira) addComment(w http.ResponseWriter, key string, body []byte) {
	var req map[string]any
	if err := json.Unmarshal(body, &req); err != nil || len(req) != 1 || req["body"] == nil {
		f.t.Errorf("comment body %s", body)
		http.Error(w, "{}", http.StatusBadRequest)
		return
	}
	f.checkText("comment", req["body"])
	for _, is := range f.issues {
		if is.Key == key && !is.Deleted {
			is.Comments = append(is.Comments, req["body"])
			writeJSON(w, http.StatusCreated, map[string]string{"id": "1"})
			return
		}
	}
	http.Error(w, `{"errorMessages":["Issue does not exist"]}`, http.StatusNotFound)
}

// checkText checks a description or comment has the version's shape.
func (f *fakeJira) checkText(what string, v any) {
	if v == nil {
		return
	}
	if f.version == 2 {
		if _, ok := v.(string); !ok {
			f.t.Errorf("v2 %s is %T, want a wiki markup string", what, v)
		}
		return
	}
	doc, ok := v.(map[string]any)
	if !ok || doc["type"] != "doc" || doc["version"] != 1.0 {
		f.t.Errorf("v3 %s = %v, want an ADF doc", what, v)
		return
	}
	var walk func(n map[string]any, parent string)
	walk = func(n map[string]any, parent string) {
		allowed := map[string][]string{"doc": {"paragraph"}, "paragraph": {"text", "hardBreak"}}
		typ, _ := n["type"].(string)
		if parent != "" && !slices.Contains(allowed[parent], typ) {
			f.t.Errorf("v3 %s: %q node inside %q", what, typ, parent)
		}
		if typ == "text" {
			if s, _ := n["text"].(string); s == "" {
				f.t.Errorf("v3 %s: empty text node", what)
			}
			if n["marks"] != nil {
				f.t.Errorf("v3 %s: text node with marks", what)
			}
		}
		content, _ := n["content"].([]any)
		for _, c := range content {
			cm, _ := c.(map[string]any)
			walk(cm, typ)
		}
	}
	walk(doc, "")
}

// adfText turns an ADF document back into text.
func adfText(v any) string {
	doc, _ := v.(map[string]any)
	var paras []string
	content, _ := doc["content"].([]any)
	for _, p := range content {
		var b strings.Builder
		pc, _ := p.(map[string]any)["content"].([]any)
		for _, n := range pc {
			nm := n.(map[string]any)
			if nm["type"] == "hardBreak" {
				b.WriteString("\n")
			} else {
				b.WriteString(nm["text"].(string))
			}
		}
		paras = append(paras, b.String())
	}
	return strings.Join(paras, "\n\n")
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

func (f *fakeJira) state() ([]issue, []string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []issue
	for _, is := range f.issues {
		c := *is
		c.Comments = slices.Clone(is.Comments)
		out = append(out, c)
	}
	return out, slices.Clone(f.calls)
}

func (f *fakeJira) set(fn func(f *fakeJira)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	fn(f)
}

func basic(u, p string) string { return "Basic " + base64.StdEncoding.EncodeToString([]byte(u+":"+p)) }

// setup starts a fake Jira of the given version and a handler for it:
// version 3 with Cloud basic authentication, 2 with a Data Center PAT.
func setup(t *testing.T, version int, extra string) (*fakeJira, *Handler) {
	t.Helper()
	return setupState(t, version, extra, nil)
}

// setupState is setup with a handler whose Options.State is kv.
func setupState(t *testing.T, version int, extra string, kv handlers.KV) (*fakeJira, *Handler) {
	t.Helper()
	f := &fakeJira{t: t, version: version, auth: "Bearer " + token}
	cfg := "project: OPS\ntoken_env: JIRA_TOKEN\n"
	if version == 3 {
		f.auth = basic(email, token)
		cfg += "email: " + email + "\n"
	}
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	t.Setenv("JIRA_TOKEN", token)
	h, err := New(parse(t, cfg+"url: "+srv.URL+"/\n"+extra), handlers.Options{Name: "jira", Logger: zap.NewNop(), State: kv})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return f, h
}

// memKV is a handlers.KV in memory.
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
	defer k.mu.Unlock()
	for _, key := range slices.Sorted(maps.Keys(k.m)) {
		if err := fn(key, k.m[key]); err != nil {
			return err
		}
	}
	return nil
}

func (k *memKV) get(key string) string {
	v, _, _ := k.Get(key)
	return string(v)
}

func parse(t *testing.T, text string) *Config {
	t.Helper()
	var c Config
	handlertest.DecodeConfig(t, text, &c)
	return &c
}

func newHandler(t *testing.T, text string) *Handler {
	t.Helper()
	h, err := New(parse(t, text), handlers.Options{Name: "jira", Logger: zap.NewNop()})
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
	const ok = "url: https://acme.atlassian.net\nproject: OPS\n"
	const tok = "token_env: T\n"
	tests := []struct {
		name string
		yaml string
		keys []string
	}{
		{"cloud", ok + tok + "email: a@b.c", nil},
		{"data center", "url: https://jira.corp.example/jira\nproject: OPS\ntoken_file: /run/pat\napi_version: 2", nil},
		{"no url", "project: OPS\n" + tok, []string{"url"}},
		{"url with rest path", "url: https://acme.atlassian.net/rest/api/2\nproject: OPS\n" + tok, []string{"url"}},
		{"url with credentials", "url: https://u:p@acme.atlassian.net\nproject: OPS\n" + tok, []string{"url"}},
		{"bad version", ok + tok + "api_version: 1", []string{"api_version"}},
		{"no token", ok, []string{"token_env"}},
		{"both token forms", ok + tok + "token_file: /f", []string{"token_env"}},
		{"bad email", ok + tok + "email: ops", []string{"email"}},
		{"no project", "url: https://a.atlassian.net\n" + tok, []string{"project"}},
		{"bad project", "url: https://a.atlassian.net\nproject: 'OPS\" OR 1=1'\n" + tok, []string{"project"}},
		{"label with space", ok + tok + "labels: [backup, 'bad label']", []string{"labels"}},
		{"empty label", ok + tok + "labels: ['']", []string{"labels"}},
		{"summary fails on sample", ok + tok + "summary: '{{.Nope}}'", []string{"summary"}},
		{"priority fails on sample", ok + tok + "priority: '{{.Data.Nope}}'", []string{"priority"}},
		{"all at once", "api_version: 4\nlabels: ['a b']", []string{"url", "api_version", "token_env", "project", "labels"}},
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
	for _, version := range []int{2, 3} {
		t.Run(fmt.Sprint("v", version), func(t *testing.T) {
			f, h := setup(t, version, "labels: [backup, windows]\npriority: High\nissue_type: Incident")
			e := handlertest.Event()
			first := action(t, h, e, 0, nil)
			mustDeliver(t, h, first)
			second := action(t, h, laterEvent(e), 3, nil)
			if second.ID == first.ID || second.DedupKey != first.DedupKey {
				t.Fatal("test actions must differ in ID and share the dedup key")
			}
			mustDeliver(t, h, second)

			issues, calls := f.state()
			search := fmt.Sprintf("GET /rest/api/%d/search", version)
			if version == 3 {
				search += "/jql"
			}
			api := fmt.Sprintf("/rest/api/%d/", version)
			want := []string{search, "POST " + api + "issue", search, "POST " + api + "issue/OPS-1/comment"}
			if !slices.Equal(calls, want) {
				t.Errorf("calls = %q\nwant %q", calls, want)
			}
			if len(issues) != 1 {
				t.Fatalf("%d issues, want 1", len(issues))
			}
			is := issues[0]
			if is.Project != "OPS" || is.Type != "Incident" || is.Priority != "High" ||
				is.Summary != "WS-0142.corp.example: Backup failed. (0x807800B4)" ||
				!slices.Equal(is.Labels, []string{"backup", "windows", Label(first.DedupKey)}) {
				t.Errorf("issue = %+v", is)
			}
			desc := textOf(version, is.Desc)
			if !strings.Contains(desc, e.Message) || !strings.Contains(desc, "Dedup key: "+first.DedupKey) {
				t.Errorf("description = %q", desc)
			}
			if len(is.Comments) != 1 || !strings.Contains(textOf(version, is.Comments[0]), "seen 3 more times") {
				t.Errorf("comments = %v, want one saying it was seen 3 more times", is.Comments)
			}
		})
	}
}

// textOf returns the text of a description or comment.
func textOf(version int, v any) string {
	if version == 3 {
		return adfText(v)
	}
	s, _ := v.(string)
	s = strings.TrimPrefix(s, "{noformat}\n")
	return strings.TrimSuffix(s, "\n{noformat}")
}

func TestRedeliveryAfterCrash(t *testing.T) {
	for _, version := range []int{2, 3} {
		t.Run(fmt.Sprint("v", version), func(t *testing.T) {
			f, h := setup(t, version, "")
			f.set(func(f *fakeJira) { f.crashAfterCreate = true })
			a := action(t, h, handlertest.Event(), 0, nil)
			if retry, err := h.Deliver(t.Context(), a); err == nil || !retry {
				t.Fatalf("lost reply: retry %v, err %v; want a retryable error", retry, err)
			}
			mustDeliver(t, h, a)
			issues, calls := f.state()
			if len(issues) != 1 || len(issues[0].Comments) != 1 {
				t.Errorf("after redelivery: %d issues (calls %q), want 1 with a comment", len(issues), calls)
			}
		})
	}
}

// TestSearchLag delivers against a Jira whose search does not yet see
// issues created in the last few requests.
func TestSearchLag(t *testing.T) {
	for _, version := range []int{2, 3} {
		api := fmt.Sprintf("/rest/api/%d/", version)
		search := "GET " + api + "search"
		if version == 3 {
			search += "/jql"
		}
		e := handlertest.Event()
		label := Label(action(t, newHandler(t, "url: https://a.atlassian.net\nproject: OPS\ntoken_env: JIRA_TOKEN"), e, 0, nil).DedupKey)

		t.Run(fmt.Sprint("v", version, " second match comments"), func(t *testing.T) {
			kv := newKV()
			f, h := setupState(t, version, "", kv)
			f.set(func(f *fakeJira) { f.lag = 10 })
			first := action(t, h, e, 0, nil)
			mustDeliver(t, h, first)
			if got := kv.get(label); got != "OPS-1" {
				t.Errorf("state[%s] = %q, want OPS-1", label, got)
			}
			mustDeliver(t, h, action(t, h, laterEvent(e), 0, nil))
			// A redelivery, as after a crash before the outbox learned
			// of the success.
			mustDeliver(t, h, first)
			issues, calls := f.state()
			if len(issues) != 1 || len(issues[0].Comments) != 2 {
				t.Fatalf("%d issues (calls %q), want 1 with 2 comments", len(issues), calls)
			}
			get := "GET " + api + "issue/OPS-1"
			want := []string{search, "POST " + api + "issue", search, get, "POST " + api + "issue/OPS-1/comment", search, get, "POST " + api + "issue/OPS-1/comment"}
			if !slices.Equal(calls, want) {
				t.Errorf("calls = %q\nwant %q", calls, want)
			}
		})

		t.Run(fmt.Sprint("v", version, " search caught up"), func(t *testing.T) {
			kv := newKV()
			f, h := setupState(t, version, "", kv)
			f.set(func(f *fakeJira) { f.lag = 1 })
			mustDeliver(t, h, action(t, h, e, 0, nil))
			f.set(func(f *fakeJira) { f.lag = 0 })
			mustDeliver(t, h, action(t, h, laterEvent(e), 0, nil))
			issues, calls := f.state()
			if len(issues) != 1 || len(issues[0].Comments) != 1 || slices.Contains(calls, "GET "+api+"issue/OPS-1") {
				t.Errorf("%d issues, calls %q; want 1 with a comment, found by search", len(issues), calls)
			}
			if _, ok, _ := kv.Get(label); ok {
				t.Error("the issue is still remembered after the search found it")
			}
		})

		for _, gone := range []string{"done", "deleted"} {
			t.Run(fmt.Sprint("v", version, " remembered issue ", gone), func(t *testing.T) {
				kv := newKV()
				f, h := setupState(t, version, "", kv)
				f.set(func(f *fakeJira) { f.lag = 10 })
				mustDeliver(t, h, action(t, h, e, 0, nil))
				f.set(func(f *fakeJira) {
					f.issues[0].Done = gone == "done"
					f.issues[0].Deleted = gone == "deleted"
				})
				mustDeliver(t, h, action(t, h, laterEvent(e), 0, nil))
				issues, calls := f.state()
				if len(issues) != 2 || len(issues[0].Comments) != 0 || len(issues[1].Comments) != 0 {
					t.Fatalf("%d issues (calls %q), want a second one opened", len(issues), calls)
				}
				if !slices.Contains(calls, "GET "+api+"issue/OPS-1") {
					t.Errorf("calls %q do not read the remembered issue", calls)
				}
				if got := kv.get(label); got != "OPS-2" {
					t.Errorf("state[%s] = %q, want OPS-2", label, got)
				}
			})
		}

		t.Run(fmt.Sprint("v", version, " without state"), func(t *testing.T) {
			// A dry run has no State: only the search is used.
			f, h := setup(t, version, "")
			mustDeliver(t, h, action(t, h, e, 0, nil))
			mustDeliver(t, h, action(t, h, laterEvent(e), 0, nil))
			if issues, calls := f.state(); len(issues) != 1 || len(calls) != 4 {
				t.Errorf("%d issues, calls %q", len(issues), calls)
			}
		})
	}
}

func TestSearchLagErrors(t *testing.T) {
	kv := newKV()
	f, h := setupState(t, 3, "", kv)
	f.set(func(f *fakeJira) { f.lag = 10 })
	mustDeliver(t, h, action(t, h, handlertest.Event(), 0, nil))
	label := Label(action(t, h, handlertest.Event(), 0, nil).DedupKey)
	for _, tt := range []struct {
		name  string
		fail  []int
		retry bool
	}{
		{"get 503", []int{0, 503}, true},
		{"get 401", []int{0, 401}, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			f.set(func(f *fakeJira) { f.fail = tt.fail })
			retry, err := h.Deliver(t.Context(), action(t, h, laterEvent(handlertest.Event()), 0, nil))
			if err == nil || retry != tt.retry || !strings.Contains(err.Error(), "/rest/api/3/issue/OPS-1?") {
				t.Errorf("retry %v, err %v; want retry %v and the GET's error", retry, err, tt.retry)
			}
			if issues, _ := f.state(); len(issues) != 1 {
				t.Errorf("%d issues: a failed read of the remembered issue opened another", len(issues))
			}
			if got := kv.get(label); got != "OPS-1" {
				t.Errorf("state[%s] = %q, want OPS-1 kept", label, got)
			}
		})
	}
	// A malformed entry is dropped.
	kv.Put(label, []byte("not a key"))
	f.set(func(f *fakeJira) { f.lag = 0 })
	mustDeliver(t, h, action(t, h, laterEvent(handlertest.Event()), 0, nil))
	if _, ok, _ := kv.Get(label); ok {
		t.Error("a malformed entry was kept")
	}
}

func TestConcurrentSameKey(t *testing.T) {
	f, h := setup(t, 2, "")
	var wg sync.WaitGroup
	for i := range 6 {
		e := handlertest.Event()
		e.RecordID += uint64(i)
		a := action(t, h, e, 0, nil)
		wg.Go(func() {
			if _, err := h.Deliver(t.Context(), a); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if issues, _ := f.state(); len(issues) != 1 || len(issues[0].Comments) != 5 {
		t.Errorf("%d issues, want 1 with 5 comments", len(issues))
	}
}

func TestDoneIssueOpensNew(t *testing.T) {
	f, h := setup(t, 2, "")
	mustDeliver(t, h, action(t, h, handlertest.Event(), 0, nil))
	f.set(func(f *fakeJira) { f.issues[0].Done = true })
	mustDeliver(t, h, action(t, h, laterEvent(handlertest.Event()), 0, nil))
	if issues, _ := f.state(); len(issues) != 2 || len(issues[0].Comments) != 0 {
		t.Errorf("%d issues, want 2", len(issues))
	}
}

func TestResolve(t *testing.T) {
	f, h := setup(t, 3, "")
	a := action(t, h, handlertest.Event(), 0, map[string]string{"comment": "Backup succeeded on {{.Computer}}."})
	a.Resolve = true
	mustDeliver(t, h, a)
	if issues, calls := f.state(); len(issues) != 0 || len(calls) != 1 {
		t.Fatalf("resolve with nothing open: %d issues, calls %q; want a search only", len(issues), calls)
	}
	mustDeliver(t, h, action(t, h, handlertest.Event(), 0, nil))
	mustDeliver(t, h, a)
	issues, _ := f.state()
	if len(issues) != 1 || len(issues[0].Comments) != 1 || adfText(issues[0].Comments[0]) != "Backup succeeded on WS-0142.corp.example." {
		t.Errorf("resolve: %+v", issues)
	}
}

func TestHostileV2(t *testing.T) {
	f, h := setup(t, 2, "")
	e := handlertest.HostileEvent()
	const markup = "{noformat}{NoFormat} {code}x{code} [click|http://evil.example] *bold* {panel}!http://evil.example/i.png! h1. Big"
	e.Message = markup + "\n" + handlertest.Hostile
	mustDeliver(t, h, action(t, h, e, 0, nil))
	mustDeliver(t, h, action(t, h, laterEvent(e), 0, nil))
	issues, _ := f.state()
	if len(issues) != 1 || len(issues[0].Comments) != 1 {
		t.Fatalf("%d issues, want 1 with a comment", len(issues))
	}
	for what, v := range map[string]any{"description": issues[0].Desc, "comment": issues[0].Comments[0]} {
		s := v.(string)
		if !strings.HasPrefix(s, "{noformat}\n") || !strings.HasSuffix(s, "\n{noformat}") {
			t.Errorf("%s is not one noformat block: %q", what, s)
		}
		if n := len(regexp.MustCompile(`(?i)\{noformat`).FindAllStringIndex(s, -1)); n != 2 {
			t.Errorf("%s has %d {noformat tokens, want 2 (its own): %q", what, n, s)
		}
		inner := strings.ReplaceAll(textOf(2, s), "\u200b", "")
		if !strings.Contains(inner, markup) || !strings.Contains(inner, plainText(handlertest.Hostile)) {
			t.Errorf("%s lost the event text: %q", what, inner)
		}
	}
	if s := issues[0].Summary; strings.ContainsAny(s, "\r\n") {
		t.Errorf("summary %q", s)
	}
}

func TestHostileV3(t *testing.T) {
	f, h := setup(t, 3, "")
	e := handlertest.HostileEvent()
	e.Message = `"}]},{"type":"inlineCard","attrs":{"url":"http://evil"}}` + handlertest.Hostile
	mustDeliver(t, h, action(t, h, e, 0, nil))
	issues, _ := f.state()
	got := adfText(issues[0].Desc)
	if !strings.Contains(got, plainText(e.Message)) {
		t.Errorf("ADF text %q does not hold the message", got)
	}
}

func TestNoformat(t *testing.T) {
	tests := []struct{ in, want string }{
		{"", ""},
		{"plain", "{noformat}\nplain\n{noformat}"},
		{"a\r\nb\rc", "{noformat}\na\nb\nc\n{noformat}"},
		{"x{noformat}y{NOFORMAT:title=t}", "{noformat}\nx{\u200bnoformat}y{\u200bNOFORMAT:title=t}\n{noformat}"},
		{"{noformat", "{noformat}\n{\u200bnoformat\n{noformat}"},
		{"nul\x00bell\a", "{noformat}\nnulbell\n{noformat}"},
	}
	for _, tt := range tests {
		if got := noformat(tt.in); got != tt.want {
			t.Errorf("noformat(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestADF(t *testing.T) {
	got, _ := json.Marshal(adf("one\ntwo\n\n\n\nthree\r\n"))
	want := `{"type":"doc","version":1,"content":[` +
		`{"type":"paragraph","content":[{"type":"text","text":"one"},{"type":"hardBreak"},{"type":"text","text":"two"}]},` +
		`{"type":"paragraph","content":[{"type":"text","text":"three"}]}]}`
	if string(got) != want {
		t.Errorf("adf = %s\nwant %s", got, want)
	}
	if got, _ := json.Marshal(adf("")); string(got) != `{"type":"doc","version":1,"content":[{"type":"paragraph"}]}` {
		t.Errorf("empty adf = %s", got)
	}
}

func TestSummaryLimit(t *testing.T) {
	f, h := setup(t, 2, "")
	e := handlertest.Event()
	e.Computer = strings.Repeat("é", 300) + "\nline two"
	mustDeliver(t, h, action(t, h, e, 0, nil))
	issues, _ := f.state()
	s := issues[0].Summary
	if utf8.RuneCountInString(s) != 255 || !strings.HasSuffix(s, "…") || strings.Contains(s, "\n") {
		t.Errorf("summary has %d characters: %q", utf8.RuneCountInString(s), s)
	}
}

func TestWithOverrides(t *testing.T) {
	f, h := setup(t, 2, "priority: Low")
	mustDeliver(t, h, action(t, h, handlertest.Event(), 0, map[string]string{
		"summary": "Backup of {{.Computer}}\nfailed", "priority": "Highest", "description": "See {{.Field \"BackupTarget\"}}.",
	}))
	is, _ := f.state()
	if is[0].Summary != "Backup of WS-0142.corp.example failed" || is[0].Priority != "Highest" ||
		is[0].Desc != "{noformat}\nSee \\\\nas01\\images.\n{noformat}" {
		t.Errorf("issue = %+v", is[0])
	}
}

func TestContextPath(t *testing.T) {
	f := &fakeJira{t: t, version: 2, prefix: "/jira", auth: "Bearer " + token}
	srv := httptest.NewServer(f)
	defer srv.Close()
	t.Setenv("JIRA_TOKEN", token)
	h := newHandler(t, "url: "+srv.URL+"/jira\nproject: OPS\ntoken_env: JIRA_TOKEN")
	mustDeliver(t, h, action(t, h, handlertest.Event(), 0, nil))
	if issues, _ := f.state(); len(issues) != 1 {
		t.Errorf("%d issues", len(issues))
	}
}

func TestLabel(t *testing.T) {
	l := Label("backup-failed/PC 1/0x807800B4")
	if !regexp.MustCompile(`^logmedic-[0-9a-f]{16}$`).MatchString(l) || l != Label("backup-failed/PC 1/0x807800B4") || l == Label("backup-failed/PC 2/0x807800B4") {
		t.Errorf("Label = %q", l)
	}
	if got := jql(`OPS`, l); got != `project = "OPS" AND labels = "`+l+`" AND statusCategory != Done` {
		t.Errorf("jql = %q", got)
	}
	if got := jqlString(`a"b\c`); got != `"a\"b\\c"` {
		t.Errorf("jqlString = %s", got)
	}
}

func TestStatusClassification(t *testing.T) {
	tests := []struct {
		name  string
		fail  []int
		retry bool
	}{
		{"search 500", []int{500}, true},
		{"search 429", []int{429}, true},
		{"search 400", []int{400}, false},
		{"search 401", []int{401}, false},
		{"create 500", []int{0, 500}, true},
		{"create 400", []int{0, 400}, false},
		{"comment 503", []int{0, 0, 0, 503}, true},
		{"comment 404", []int{0, 0, 0, 404}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, h := setup(t, 3, "")
			f.set(func(f *fakeJira) { f.fail = tt.fail })
			a := action(t, h, handlertest.Event(), 0, nil)
			retry, err := h.Deliver(t.Context(), a)
			if len(tt.fail) > 2 { // the first delivery creates; the second comments
				if err != nil {
					t.Fatalf("first delivery: %v", err)
				}
				retry, err = h.Deliver(t.Context(), action(t, h, laterEvent(handlertest.Event()), 0, nil))
			}
			if err == nil || retry != tt.retry {
				t.Errorf("retry %v, err %v; want retry %v", retry, err, tt.retry)
			}
		})
	}
}

func TestServerDownThenUp(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	t.Setenv("JIRA_TOKEN", token)
	h := newHandler(t, "url: http://"+addr+"\nproject: OPS\ntoken_env: JIRA_TOKEN")
	a := action(t, h, handlertest.Event(), 0, nil)
	if retry, err := h.Deliver(t.Context(), a); err == nil || !retry {
		t.Fatalf("server down: retry %v, err %v", retry, err)
	}
	if l, err = net.Listen("tcp", addr); err != nil {
		t.Skipf("cannot listen again on %s: %v", addr, err)
	}
	f := &fakeJira{t: t, version: 2, auth: "Bearer " + token}
	srv := httptest.NewUnstartedServer(f)
	srv.Listener = l
	srv.Start()
	defer srv.Close()
	mustDeliver(t, h, a)
	if issues, _ := f.state(); len(issues) != 1 {
		t.Errorf("%d issues", len(issues))
	}
}

func TestNoSecretLeak(t *testing.T) {
	for _, version := range []int{2, 3} {
		t.Run(fmt.Sprint("v", version), func(t *testing.T) {
			f, h := setup(t, version, "")
			a := action(t, h, handlertest.HostileEvent(), 0, nil)
			texts := []string{string(a.Payload)}
			for pad := 0; pad < 400; pad += 7 {
				for _, status := range []int{400, 500} {
					f.set(func(f *fakeJira) {
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
			handlertest.NoSecret(t, token, texts...)
			handlertest.NoSecret(t, token[:12], texts...)
			b64 := strings.TrimPrefix(basic(email, token), "Basic ")
			handlertest.NoSecret(t, b64[16:32], texts...)
		})
	}
}

func TestPreview(t *testing.T) {
	t.Setenv("JIRA_TOKEN", token)
	h := newHandler(t, "url: https://acme.atlassian.net\nemail: "+email+"\ntoken_env: JIRA_TOKEN\nproject: OPS")
	a := action(t, h, handlertest.Event(), 0, nil)
	pv, err := h.Preview(a)
	if err != nil {
		t.Fatal(err)
	}
	if pv.Method != "POST" || pv.URL != "https://acme.atlassian.net/rest/api/3/issue" || pv.Headers["Authorization"] != "Basic "+handlers.Redacted {
		t.Errorf("preview = %+v", pv)
	}
	var body struct {
		Fields struct {
			Summary string
			Labels  []string
			Desc    map[string]any `json:"description"`
		}
	}
	if err := json.Unmarshal([]byte(pv.Body), &body); err != nil || body.Fields.Desc["type"] != "doc" || !slices.Contains(body.Fields.Labels, Label(a.DedupKey)) {
		t.Errorf("preview body = %s (%v)", pv.Body, err)
	}
	if !strings.Contains(pv.Note, "/rest/api/3/search/jql?") || !strings.Contains(pv.Note, "/comment") {
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
	for _, tt := range []struct{ name, yaml, key string }{
		{"token env unset", "token_env: LOGMEDIC_TEST_UNSET", "token_env"},
		{"token file missing", "token_file: " + filepath.Join(dir, "none"), "token_file"},
		{"token env empty", "token_env: LOGMEDIC_TEST_EMPTY", "token_env"},
		{"token file empty", "token_file: " + empty, "token_file"},
		{"cloud token env empty", "email: " + email + "\ntoken_env: LOGMEDIC_TEST_EMPTY", "token_env"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			f := &fakeJira{t: t, version: 2}
			srv := httptest.NewServer(f)
			defer srv.Close()
			h := newHandler(t, "url: "+srv.URL+"\nproject: OPS\n"+tt.yaml)
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
	const base = "url: https://a.atlassian.net\nproject: OPS\n"
	tok := filepath.Join(dir, "tok")
	if err := os.WriteFile(tok, []byte("t\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct{ name, yaml, key string }{
		{"ca file missing", base + "token_file: " + tok + "\ntls: {ca_file: " + filepath.Join(dir, "none") + "}", "tls.ca_file"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := New(parse(t, tt.yaml), handlers.Options{})
			var fe *handlers.FieldError
			if !errors.As(err, &fe) || fe.Key != tt.key {
				t.Errorf("err = %v, want a FieldError at %s", err, tt.key)
			}
		})
	}
}

func TestAPIVersionDefault(t *testing.T) {
	t.Setenv("JIRA_TOKEN", token)
	for cfg, want := range map[string]int{
		"email: " + email:                      3,
		"":                                     2,
		"email: " + email + "\napi_version: 2": 2,
	} {
		h := newHandler(t, "url: https://a.atlassian.net\nproject: OPS\ntoken_env: JIRA_TOKEN\n"+cfg)
		if h.version != want {
			t.Errorf("%q: version %d, want %d", cfg, h.version, want)
		}
	}
}

func TestParams(t *testing.T) {
	var names []string
	for _, p := range Params() {
		names = append(names, p.Name)
	}
	if !slices.Equal(names, []string{"summary", "description", "comment", "priority"}) {
		t.Errorf("Params = %q", names)
	}
}
