package handlers

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/logmedic/logmedic/watcher"
)

func TestTemplates(t *testing.T) {
	d := SampleData()
	d.Repeats = 7
	tests := map[string]string{
		`{{.Computer}}/{{.Rule}}/{{.ErrorCode}}`:        "WS-0142.corp.example/sample-rule/0x807800B4",
		`{{explain .ErrorCode}}`:                        "The volume is too large to be protected: a system image stores each volume in a VHD, and the VHD format holds at most 2040 GB, so a source volume larger than 2,088,958 MB cannot be imaged.",
		`{{code "-2139619148"}}`:                        "0x807800B4",
		`{{.Field "backuptarget"}}|{{.Data.HRESULT}}`:   "E:|0x807800b4",
		`{{upper .Level}} {{lower "ABC"}}`:              "ERROR abc",
		`{{time .Time "2006-01-02 15:04"}}`:             "2026-11-21 01:00",
		`{{json .ErrorCodes}} {{join .ErrorCodes ","}}`: `["0x807800B4"] 0x807800B4`,
		`{{default "none" .Description}} {{.Repeats}}`:  "A sample rule. 7",
	}
	for src, want := range tests {
		tm, err := NewTemplate(src)
		if err != nil {
			t.Fatalf("%s: %v", src, err)
		}
		if got, err := tm.Execute(d); err != nil || got != want {
			t.Errorf("%s = %q, %v; want %q", src, got, err, want)
		}
	}
	// Typos fail against the sample event, at validate time.
	for src, want := range map[string]string{
		`{{.Computr}}`:      "can't evaluate field Computr",
		`{{.Data.Missing}}`: `map has no entry for key "Missing"`,
		`{{code "nope"}}`:   `code "nope": not an error code`,
	} {
		tm, err := NewTemplate(src)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := tm.Execute(d); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: error %v, want %q", src, err, want)
		}
	}
	if _, err := NewTemplate(`{{.Rule`); err == nil || !strings.HasPrefix(err.Error(), "template: 1: unclosed action") {
		t.Errorf("syntax error: %v", err)
	}
}

func TestEventFromAndActionID(t *testing.T) {
	ev := &watcher.Event{Channel: "C", Computer: "PC", RecordID: 7, EventData: []watcher.Field{{Name: "", Value: "x"}, {Name: "HRESULT", Value: "0x80070002"}, {Name: "ErrorCode", Value: "0x807800b4"}}}
	e := EventFrom(ev, "src")
	if strings.Join(e.Codes, ",") != "0x80070002,0x807800B4" || e.Data[0].Name != "Data[1]" || e.Source != "src" {
		t.Errorf("EventFrom = %+v", e)
	}
	id := ActionID(&e, "r", "h", 0)
	if id != ActionID(&e, "r", "h", 0) || len(id) != 24 {
		t.Errorf("ActionID not stable: %s", id)
	}
	for name, other := range map[string]string{
		"step": ActionID(&e, "r", "h", 1), "rule": ActionID(&e, "r2", "h", 0), "handler": ActionID(&e, "r", "h2", 0),
	} {
		if other == id {
			t.Errorf("a different %s gives the same ID", name)
		}
	}
	e2 := e
	e2.Data = append([]watcher.Field(nil), e.Data...)
	e2.Data[0].Value = "y"
	if ActionID(&e2, "r", "h", 0) == id {
		t.Error("events differing only in data share an ID")
	}
}

func TestSecrets(t *testing.T) {
	t.Setenv("LM_TEST_SECRET", "hunter2")
	s, err := LoadSecret("LM_TEST_SECRET", "")
	if err != nil || s.Value() != "hunter2" {
		t.Fatal(s.Value(), err)
	}
	if fmt.Sprint(s) != Redacted || fmt.Sprintf("%v %+v %#v %s", s, s, s, s) != strings.Repeat(Redacted+" ", 3)+Redacted {
		t.Errorf("secret printed: %v", s)
	}
	f := filepath.Join(t.TempDir(), "pw")
	os.WriteFile(f, []byte("s3cret\r\n"), 0o600)
	if s, err := LoadSecret("", f); err != nil || s.Value() != "s3cret" {
		t.Errorf("file secret %q %v", s.Value(), err)
	}
	if s, err := LoadSecret("LM_TEST_UNSET_VAR", ""); err != nil || s.Err() == nil || s.Err().Error() != "environment variable LM_TEST_UNSET_VAR is not set" || s.IsSet() {
		t.Errorf("unset: %v %v", s.Err(), err)
	}
	if _, err := LoadSecret("A", "b"); err == nil {
		t.Error("both forms accepted")
	}
	if got := Redact("token hunter2 in body", s); got != "token <redacted> in body" {
		t.Errorf("Redact = %q", got)
	}
}

func TestDoClassifiesAndRedacts(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		code := map[string]int{"/ok": 201, "/bad": 400, "/busy": 503, "/slow": 429, "/gone": 404}[r.URL.Path]
		w.WriteHeader(code)
		fmt.Fprintf(w, "echo %s", r.Header.Get("Authorization"))
	}))
	defer srv.Close()
	secret := NewSecret("Bearer tok-123")
	for path, wantRetry := range map[string]bool{"/bad": false, "/gone": false, "/busy": true, "/slow": true} {
		req, _ := http.NewRequest("POST", srv.URL+path+"?token=tok-123", nil)
		req.Header.Set("Authorization", secret.Value())
		_, retry, err := Do(context.Background(), srv.Client(), req, secret)
		if err == nil || retry != wantRetry {
			t.Errorf("%s: retry %v, err %v", path, retry, err)
			continue
		}
		if strings.Contains(err.Error(), "tok-123") || !strings.Contains(err.Error(), "token=REDACTED") {
			t.Errorf("%s: error leaks or lacks redaction: %v", path, err)
		}
	}
	// A secret straddling the cut-off point of the error's excerpt.
	long := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(400)
		fmt.Fprint(w, strings.Repeat("x", 295)+"tok-123-very-long-secret-value")
	}))
	defer long.Close()
	lsec := NewSecret("tok-123-very-long-secret-value")
	req0, _ := http.NewRequest("POST", long.URL, nil)
	if _, _, err := Do(context.Background(), long.Client(), req0, lsec); err == nil || strings.Contains(err.Error(), "tok-1") {
		t.Errorf("a cut secret leaked: %v", err)
	}
	req, _ := http.NewRequest("POST", srv.URL+"/ok", nil)
	if resp, retry, err := Do(context.Background(), srv.Client(), req); err != nil || retry || resp.Status != 201 {
		t.Errorf("ok: %+v %v %v", resp, retry, err)
	}
	srv.Close()
	req, _ = http.NewRequest("POST", srv.URL+"/ok", nil)
	if _, retry, err := Do(context.Background(), http.DefaultClient, req); err == nil || !retry {
		t.Errorf("server down: retry %v, err %v", retry, err)
	}
	u, _ := url.Parse("https://admin:pw@example.com/x?a=1")
	if got := RedactURL(u); got != "https://admin@example.com/x?a=REDACTED" {
		t.Errorf("RedactURL = %s", got)
	}
}
