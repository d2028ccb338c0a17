package webhook

import (
	"context"
	"encoding/json"
	"encoding/pem"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"

	"go.uber.org/zap"

	"github.com/logmedic/logmedic/handlers"
	"github.com/logmedic/logmedic/handlers/handlertest"
)

// parse decodes a handler configuration strictly, as the loader does.
func parse(t *testing.T, text string) *Config {
	t.Helper()
	var c Config
	handlertest.DecodeConfig(t, text, &c)
	return &c
}

func newHandler(t *testing.T, text string) *Handler {
	t.Helper()
	h, err := New(parse(t, text), handlers.Options{Name: "h", Logger: zap.NewNop()})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return h
}

// request is what the fake receiver saw.
type request struct {
	Method string
	Path   string
	Header http.Header
	Body   []byte
}

// receiver is a fake webhook receiver that records requests and answers
// with status (200 when 0).
type receiver struct {
	mu     sync.Mutex
	reqs   []request
	status int
	reply  func(w http.ResponseWriter, r *http.Request, body []byte)
}

func (rc *receiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	rc.mu.Lock()
	rc.reqs = append(rc.reqs, request{Method: r.Method, Path: r.URL.Path, Header: r.Header.Clone(), Body: body})
	status, reply := rc.status, rc.reply
	rc.mu.Unlock()
	if reply != nil {
		reply(w, r, body)
		return
	}
	if status == 0 {
		status = http.StatusOK
	}
	w.WriteHeader(status)
}

func (rc *receiver) requests() []request {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return slices.Clone(rc.reqs)
}

func serve(t *testing.T) (*receiver, *httptest.Server) {
	rc := &receiver{}
	srv := httptest.NewServer(rc)
	t.Cleanup(srv.Close)
	return rc, srv
}

func deliver(t *testing.T, h *Handler, a *handlers.Action) (bool, error) {
	t.Helper()
	return h.Deliver(t.Context(), a)
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name string
		yaml string
		keys []string // FieldError keys expected, in order
	}{
		{"minimal", "url: http://example.com/hook", nil},
		{"no url", "method: POST", []string{"url"}},
		{"url and url_env", "url: http://x/\nurl_env: X", []string{"url"}},
		{"relative url", "url: /hook", []string{"url"}},
		{"ftp url", "url: ftp://x/", []string{"url"}},
		{"bad method", "url: http://x/\nmethod: GET", []string{"method"}},
		{"lower-case method", "url: http://x/\nmethod: put", nil},
		{"token both forms", "url: http://x/\ntoken_env: A\ntoken_file: /f", []string{"token_env"}},
		{"reserved header", "url: http://x/\nheaders: {idempotency-key: x}", []string{"headers"}},
		{"authorization header", "url: http://x/\nheaders: {Authorization: Bearer x}", []string{"headers"}},
		{"bad header name", "url: http://x/\nheaders: {'X Bad': x}", []string{"headers"}},
		{"empty header", "url: http://x/\nheaders: {X-A: null}", []string{"headers"}},
		{"header fails on sample", "url: http://x/\nheaders: {X-A: '{{.Nope}}'}", []string{"headers"}},
		{"secret header twice", "url: http://x/\nheaders: {X-Key: a}\nsecret_headers: {x-key: {value_env: K}}", []string{"secret_headers"}},
		{"secret header no source", "url: http://x/\nsecret_headers: {X-Key: {}}", []string{"secret_headers"}},
		{"secret authorization and token", "url: http://x/\ntoken_env: T\nsecret_headers: {Authorization: {value_env: K}}", []string{"secret_headers"}},
		{"body fails on sample", "url: http://x/\nbody: {a: [1, '{{.Data.Nope}}']}", []string{"body"}},
		{"all at once", "method: GET\ntoken_env: A\ntoken_file: B", []string{"url", "method", "token_env"}},
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

func TestBodyCompileErrors(t *testing.T) {
	tests := []struct{ name, yaml, want string }{
		{"bad template", "a: '{{.Rule'", "a: template"},
		{"merge key", "base: &b {x: 1}\nc: {<<: *b}", "merge keys"},
		{"custom tag", "a: !secret x", "unsupported tag"},
		{"duplicate key", "a: 1\na: 2", "twice"},
		{"infinity", "a: .inf", "cannot be sent"},
		{"alias bomb", "a: &a [1,1,1,1,1,1,1,1,1,1]\nb: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a,*a]\nc: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b,*b]\nd: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c,*c]\ne: [*d,*d,*d,*d,*d,*d,*d,*d,*d,*d]", "too large"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := NewBody(tt.yaml)
			var ne *handlers.NodeError
			if !errors.As(err, &ne) || ne.Node == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("err = %v, want a NodeError containing %q", err, tt.want)
			}
		})
	}
	t.Run("position", func(t *testing.T) {
		_, err := NewBody("a: 1\nb:\n  - ok\n  - '{{.Rule'\n")
		var ne *handlers.NodeError
		if !errors.As(err, &ne) || ne.Node.Line != 4 || !strings.HasPrefix(err.Error(), "b[1]: template:") {
			t.Errorf("err = %v, want one at line 4 naming b[1]", err)
		}
	})
}

func TestHostileBodyStaysData(t *testing.T) {
	rc, srv := serve(t)
	h := newHandler(t, `
url: `+srv.URL+`/hook
body:
  text: "{{.Message}}"
  nested:
    - computer: "{{.Computer}}"
      evil: '{{.Field "Evil"}}'
    - 42
    - true
    - null
    - "5"
  attachments: []
  empty: {}
`)
	a := handlertest.Action(t, h, handlertest.HostileEvent(), "backup-failed", nil)
	if retry, err := deliver(t, h, a); err != nil {
		t.Fatalf("Deliver: retry %v, %v", retry, err)
	}
	reqs := rc.requests()
	if len(reqs) != 1 {
		t.Fatalf("%d requests, want 1", len(reqs))
	}
	var got any
	if err := json.Unmarshal(reqs[0].Body, &got); err != nil {
		t.Fatalf("body is not JSON: %v\n%s", err, reqs[0].Body)
	}
	want := map[string]any{
		"text": handlertest.Hostile,
		"nested": []any{
			map[string]any{"computer": "PC" + handlertest.Hostile, "evil": handlertest.Hostile},
			42.0, true, nil, "5",
		},
		"attachments": []any{},
		"empty":       map[string]any{},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("body = %#v\nwant %#v", got, want)
	}
}

func TestDefaultBody(t *testing.T) {
	rc, srv := serve(t)
	h := newHandler(t, "url: "+srv.URL)
	a := handlertest.Action(t, h, handlertest.HostileEvent(), "backup-failed", nil)
	if _, err := deliver(t, h, a); err != nil {
		t.Fatal(err)
	}
	var got struct {
		Rule     string `json:"rule"`
		DedupKey string `json:"dedup_key"`
		ActionID string `json:"action_id"`
		Summary  string `json:"summary"`
		Event    struct {
			Computer  string            `json:"computer"`
			EventID   int               `json:"event_id"`
			Message   string            `json:"message"`
			ErrorCode string            `json:"error_code"`
			Time      string            `json:"time"`
			Data      map[string]string `json:"data"`
		} `json:"event"`
	}
	if err := json.Unmarshal(rc.requests()[0].Body, &got); err != nil {
		t.Fatal(err)
	}
	if got.Rule != "backup-failed" || got.ActionID != a.ID || got.DedupKey != a.DedupKey ||
		got.Event.EventID != 5 || got.Event.Message != handlertest.Hostile || got.Event.ErrorCode != "0x807800B4" ||
		got.Event.Data["Evil"] != handlertest.Hostile || got.Event.Time != "2026-11-21T01:00:03.1182045Z" {
		t.Errorf("default body = %+v", got)
	}
	if got.Summary == "" {
		t.Error("default body has no summary of the error code")
	}
}

func TestRequestShape(t *testing.T) {
	rc, srv := serve(t)
	t.Setenv("HOOK_TOKEN", "tok-s3cret")
	t.Setenv("HOOK_KEY", "key-s3cret")
	h := newHandler(t, `
url: `+srv.URL+`/in/hook?team=ops
method: put
token_env: HOOK_TOKEN
secret_headers: {X-Api-Key: {value_env: HOOK_KEY}}
headers:
  X-Computer: "{{.Computer}}"
  X-Rule: "{{.Rule}}"
body: {rule: "{{.Rule}}"}
`)
	a := handlertest.Action(t, h, handlertest.HostileEvent(), "backup-failed", nil)
	if _, err := deliver(t, h, a); err != nil {
		t.Fatal(err)
	}
	r := rc.requests()[0]
	checks := []struct{ what, got, want string }{
		{"method", r.Method, "PUT"},
		{"path", r.Path, "/in/hook"},
		{"Content-Type", r.Header.Get("Content-Type"), "application/json"},
		{"Authorization", r.Header.Get("Authorization"), "Bearer tok-s3cret"},
		{"X-Api-Key", r.Header.Get("X-Api-Key"), "key-s3cret"},
		{"Idempotency-Key", r.Header.Get("Idempotency-Key"), a.ID},
		{"X-Rule", r.Header.Get("X-Rule"), "backup-failed"},
		{"X-Injected", r.Header.Get("X-Injected"), ""},
		{"body", string(r.Body), `{"rule":"backup-failed"}`},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s = %q, want %q", c.what, c.got, c.want)
		}
	}
	if v := r.Header.Values("X-Computer"); len(v) != 1 || strings.ContainsAny(v[0], "\r\n") || !strings.Contains(v[0], "X-Injected: yes") {
		t.Errorf("X-Computer = %q, want one line holding the hostile text", v)
	}
}

func TestRedeliverySameIdempotencyKey(t *testing.T) {
	rc, srv := serve(t)
	h := newHandler(t, "url: "+srv.URL)
	a := handlertest.Action(t, h, handlertest.Event(), "backup-failed", nil)
	for range 2 {
		if _, err := deliver(t, h, a); err != nil {
			t.Fatal(err)
		}
	}
	reqs := rc.requests()
	if len(reqs) != 2 || reqs[0].Header.Get("Idempotency-Key") != a.ID || reqs[1].Header.Get("Idempotency-Key") != a.ID {
		t.Errorf("redelivery does not repeat Idempotency-Key %s", a.ID)
	}
	b := handlertest.Action(t, h, handlertest.Event(), "other-rule", nil)
	if b.ID == a.ID {
		t.Fatal("different actions share an ID")
	}
}

func TestStatusClassification(t *testing.T) {
	tests := []struct {
		status  int
		wantErr bool
		retry   bool
	}{
		{200, false, false},
		{204, false, false},
		{302, true, false}, // not followed: a redirected POST would become a GET
		{400, true, false},
		{401, true, false},
		{404, true, false},
		{408, true, true},
		{429, true, true},
		{500, true, true},
		{503, true, true},
	}
	for _, tt := range tests {
		t.Run(http.StatusText(tt.status), func(t *testing.T) {
			rc, srv := serve(t)
			rc.reply = func(w http.ResponseWriter, r *http.Request, _ []byte) {
				if tt.status == 302 {
					http.Redirect(w, r, "/elsewhere", http.StatusFound)
					return
				}
				w.WriteHeader(tt.status)
			}
			h := newHandler(t, "url: "+srv.URL)
			retry, err := deliver(t, h, handlertest.Action(t, h, handlertest.Event(), "r", nil))
			if (err != nil) != tt.wantErr || retry != tt.retry {
				t.Errorf("retry %v, err %v; want retry %v, error %v", retry, err, tt.retry, tt.wantErr)
			}
			if n := len(rc.requests()); n != 1 {
				t.Errorf("%d requests, want 1", n)
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
	h := newHandler(t, "url: http://"+addr+"/hook")
	a := handlertest.Action(t, h, handlertest.Event(), "r", nil)
	retry, err := deliver(t, h, a)
	if err == nil || !retry {
		t.Fatalf("server down: retry %v, err %v; want a retryable error", retry, err)
	}
	l, err = net.Listen("tcp", addr)
	if err != nil {
		t.Skipf("cannot listen again on %s: %v", addr, err)
	}
	rc := &receiver{}
	srv := httptest.NewUnstartedServer(rc)
	srv.Listener = l
	srv.Start()
	defer srv.Close()
	if retry, err := deliver(t, h, a); err != nil {
		t.Fatalf("server up: retry %v, err %v", retry, err)
	}
	if n := len(rc.requests()); n != 1 {
		t.Errorf("%d requests, want 1", n)
	}
}

func TestContextCanceled(t *testing.T) {
	_, srv := serve(t)
	h := newHandler(t, "url: "+srv.URL)
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if retry, err := h.Deliver(ctx, handlertest.Action(t, h, handlertest.Event(), "r", nil)); err == nil || !retry {
		t.Errorf("canceled: retry %v, err %v", retry, err)
	}
}

// echo answers with an error that repeats the whole request, padded so
// that secrets straddle handlers.Do's 300-byte snippet limit.
func echo(status int, pad int) func(http.ResponseWriter, *http.Request, []byte) {
	return func(w http.ResponseWriter, r *http.Request, body []byte) {
		w.WriteHeader(status)
		io.WriteString(w, strings.Repeat("x", pad))
		r.Header.Write(w)
		w.Write(body)
		io.WriteString(w, r.URL.String())
	}
}

func TestNoSecretLeak(t *testing.T) {
	const tok, key, hookPath = "tok-s3cret-0123456789", "key-s3cret-0123456789", "/services/T000/B000/hook-s3cret"
	rc, srv := serve(t)
	t.Setenv("HOOK_TOKEN", tok)
	t.Setenv("HOOK_URL", srv.URL+hookPath+"?sig=sig-s3cret")
	t.Setenv("HOOK_KEY", key)
	h := newHandler(t, `
url_env: HOOK_URL
token_env: HOOK_TOKEN
secret_headers: {X-Api-Key: {value_env: HOOK_KEY}}
`)
	a := handlertest.Action(t, h, handlertest.HostileEvent(), "r", nil)
	texts := []string{string(a.Payload)}
	for pad := 0; pad < 400; pad += 7 {
		for _, status := range []int{400, 500} {
			rc.mu.Lock()
			rc.reply = echo(status, pad)
			rc.mu.Unlock()
			_, err := deliver(t, h, a)
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
	for _, s := range []string{tok, key, "hook-s3cret", "sig-s3cret"} {
		handlertest.NoSecret(t, s, texts...)
		handlertest.NoSecret(t, s[:min(len(s), 12)], texts...) // no part cut by a snippet limit
	}
	if pv.URL != handlers.Redacted || pv.Headers["Authorization"] != "Bearer "+handlers.Redacted ||
		pv.Headers["X-Api-Key"] != handlers.Redacted || pv.Headers["Idempotency-Key"] != a.ID {
		t.Errorf("preview = %+v", pv)
	}
	// The server did get the real request.
	r := rc.requests()[0]
	if r.Path != hookPath || r.Header.Get("Authorization") != "Bearer "+tok {
		t.Errorf("server saw path %q auth %q", r.Path, r.Header.Get("Authorization"))
	}
}

func TestPreview(t *testing.T) {
	h := newHandler(t, "url: https://hooks.example/x?token=abc\nheaders: {X-Rule: '{{.Rule}}'}\nbody: {t: '{{.Computer}}'}")
	a := handlertest.Action(t, h, handlertest.Event(), "backup-failed", nil)
	pv, err := h.Preview(a)
	if err != nil {
		t.Fatal(err)
	}
	want := handlers.Preview{
		Method: "POST",
		URL:    "https://hooks.example/x?token=REDACTED",
		Headers: map[string]string{
			"Accept": "application/json", "Content-Type": "application/json", "User-Agent": "logmedic",
			"X-Rule": "backup-failed", "Idempotency-Key": a.ID,
		},
		Body: `{"t":"WS-0142.corp.example"}`,
	}
	if !reflect.DeepEqual(pv, want) {
		t.Errorf("preview = %+v\nwant %+v", pv, want)
	}
}

func TestSecretErrors(t *testing.T) {
	dir := t.TempDir()
	// A secret that cannot be read does not fail New (logmedic test runs
	// without production secrets) but Deliver refuses to send.
	// An empty one is refused the same way: sending it would send no
	// credential at all.
	t.Setenv("LOGMEDIC_TEST_EMPTY", "")
	empty := filepath.Join(dir, "empty")
	if err := os.WriteFile(empty, []byte("\r\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	deferred := []struct{ name, yaml, key string }{
		{"token env unset", "token_env: LOGMEDIC_TEST_UNSET", "token_env"},
		{"token file missing", "token_file: " + filepath.Join(dir, "none"), "token_file"},
		{"secret header env unset", "secret_headers: {X-K: {value_env: LOGMEDIC_TEST_UNSET}}", "secret_headers.X-K"},
		{"token env empty", "token_env: LOGMEDIC_TEST_EMPTY", "token_env"},
		{"token file empty", "token_file: " + empty, "token_file"},
		{"secret header env empty", "secret_headers: {X-K: {value_env: LOGMEDIC_TEST_EMPTY}}", "secret_headers.X-K"},
		{"secret header file empty", "secret_headers: {Authorization: {value_file: " + empty + "}}", "secret_headers.Authorization"},
	}
	for _, tt := range deferred {
		t.Run(tt.name, func(t *testing.T) {
			rc, srv := serve(t)
			h := newHandler(t, "url: "+srv.URL+"\n"+tt.yaml)
			a := handlertest.Action(t, h, handlertest.Event(), "r", nil)
			if _, err := h.Preview(a); err != nil {
				t.Errorf("Preview: %v", err)
			}
			retry, err := deliver(t, h, a)
			if err == nil || retry || !strings.HasPrefix(err.Error(), tt.key+": ") {
				t.Errorf("retry %v, err %v; want a permanent error naming %s", retry, err, tt.key)
			}
			if n := len(rc.requests()); n != 0 {
				t.Errorf("%d requests sent without the secret", n)
			}
		})
	}
	for name, yaml := range map[string]string{"url env unset": "url_env: LOGMEDIC_TEST_UNSET", "url env empty": "url_env: LOGMEDIC_TEST_EMPTY", "url file empty": "url_file: " + empty} {
		t.Run(name, func(t *testing.T) {
			h := newHandler(t, yaml)
			key, _, _ := strings.Cut(yaml, ":")
			if retry, err := deliver(t, h, handlertest.Action(t, h, handlertest.Event(), "r", nil)); err == nil || retry || !strings.HasPrefix(err.Error(), key+": ") {
				t.Errorf("retry %v, err %v", retry, err)
			}
		})
	}
	failing := []struct{ name, yaml, key string }{
		{"ca file missing", "url: https://x/\ntls: {ca_file: " + filepath.Join(dir, "none") + "}", "tls.ca_file"},
		{"bad url in file", "url_file: " + filepath.Join(dir, "url"), "url_file"},
	}
	if err := os.WriteFile(filepath.Join(dir, "url"), []byte("s3cret-not-a-url\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tt := range failing {
		t.Run(tt.name, func(t *testing.T) {
			_, err := New(parse(t, tt.yaml), handlers.Options{Logger: zap.NewNop()})
			var fe *handlers.FieldError
			if !errors.As(err, &fe) || fe.Key != tt.key {
				t.Errorf("err = %v, want a FieldError at %s", err, tt.key)
			}
			if err != nil {
				handlertest.NoSecret(t, "s3cret", err.Error())
			}
		})
	}
}

func TestTLS(t *testing.T) {
	rc := &receiver{}
	srv := httptest.NewTLSServer(rc)
	defer srv.Close()
	ca := filepath.Join(t.TempDir(), "ca.pem")
	pemBytes := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})
	if err := os.WriteFile(ca, pemBytes, 0o600); err != nil {
		t.Fatal(err)
	}
	h := newHandler(t, "url: "+srv.URL+"\ntls: {ca_file: "+ca+"}")
	if _, err := deliver(t, h, handlertest.Action(t, h, handlertest.Event(), "r", nil)); err != nil {
		t.Fatalf("with ca_file: %v", err)
	}
	h = newHandler(t, "url: "+srv.URL)
	if retry, err := deliver(t, h, handlertest.Action(t, h, handlertest.Event(), "r", nil)); err == nil || !retry {
		t.Fatalf("untrusted certificate: retry %v, err %v", retry, err)
	}
}

func TestParams(t *testing.T) {
	if p := Params(); len(p) != 0 {
		t.Errorf("Params() = %v, want none", p)
	}
}
