// Package handlertest holds what every handler's tests share: events whose
// text tries to break out of every sink, building actions the way the
// dispatcher does, and checks that secrets never leak.
package handlertest

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/logmedic/logmedic/handlers"
	"github.com/logmedic/logmedic/watcher"
)

// Hostile is text that breaks shells, JSON, XML, HTML, markup, headers and
// command lines if it is pasted anywhere unescaped.
const Hostile = `$(touch /tmp/pwned) ; rm -rf / & echo "x" 'y' <b>z</b> ]]> {{.Rule}} %PATH% ` + "`id`" + "\r\nX-Injected: yes\n\n.\r\n|| del C:\\*"

// Event returns a Windows Backup failure event.
func Event() handlers.Event {
	return handlers.Event{
		Source: "test.xml", Channel: "Microsoft-Windows-Backup", Provider: "Microsoft-Windows-Backup",
		EventID: 5, Level: "error", RecordID: 1412, Time: time.Date(2026, 11, 21, 1, 0, 3, 118204500, time.UTC),
		Computer: "WS-0142.corp.example", UserID: "S-1-5-18",
		Message: "The backup operation that started at '2026-11-21T00:58:41Z' has failed with following error code '0x807800B4'.",
		Codes:   []string{"0x807800B4"},
		Data: []watcher.Field{
			{Name: "HRESULT", Value: "0x807800b4"},
			{Name: "BackupTarget", Value: `\\nas01\images`},
		},
	}
}

// HostileEvent returns an event with Hostile in every text field an
// attacker who can write events (any local program can) controls.
func HostileEvent() handlers.Event {
	e := Event()
	e.Computer = "PC" + Hostile
	e.Message = Hostile
	e.Data = append(e.Data, watcher.Field{Name: "Evil", Value: Hostile})
	return e
}

// Action prepares an action for e through h, as the dispatcher would when
// rule matches, with the given with: templates (text, compiled here).
func Action(t testing.TB, h handlers.Handler, e handlers.Event, rule string, with map[string]string) *handlers.Action {
	t.Helper()
	w := map[string]*handlers.Template{}
	for k, v := range with {
		tm, err := handlers.NewTemplate(v)
		if err != nil {
			t.Fatalf("with %s: %v", k, err)
		}
		w[k] = tm
	}
	d := handlers.NewData(&e, rule, "Backup failed.")
	d.DedupKey = rule + "/" + e.Computer + "/" + strings.Join(e.Codes, ",")
	a := &handlers.Action{Rule: rule, Handler: "h", DedupKey: d.DedupKey, Event: e, Created: time.Now().UTC()}
	a.ID = handlers.ActionID(&e, rule, "h", 0)
	d.ActionID = a.ID
	p, err := h.Prepare(d, w)
	if err != nil {
		t.Fatalf("Prepare: %v", err)
	}
	a.Payload = p
	// The outbox stores actions as JSON: deliver what comes back.
	b, err := json.Marshal(a)
	if err != nil {
		t.Fatal(err)
	}
	var back handlers.Action
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	return &back
}

// NoSecret fails the test if secret occurs in any of texts.
func NoSecret(t testing.TB, secret string, texts ...string) {
	t.Helper()
	if secret == "" {
		t.Fatal("NoSecret needs a non-empty secret")
	}
	for _, s := range texts {
		if strings.Contains(s, secret) {
			t.Errorf("secret leaked into %q", s)
		}
	}
}

// DecodeConfig decodes text into cfg strictly (unknown keys are errors),
// as the configuration loader decodes a handler's own keys.
func DecodeConfig(t testing.TB, text string, cfg any) {
	t.Helper()
	dec := yaml.NewDecoder(strings.NewReader(text))
	dec.KnownFields(true)
	if err := dec.Decode(cfg); err != nil {
		t.Fatalf("decode: %v", err)
	}
}

// FieldErrors flattens err, joined and nested, into its
// *handlers.FieldErrors; any other error fails the test.
func FieldErrors(t testing.TB, err error) []*handlers.FieldError {
	t.Helper()
	if err == nil {
		return nil
	}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		var out []*handlers.FieldError
		for _, e := range j.Unwrap() {
			out = append(out, FieldErrors(t, e)...)
		}
		return out
	}
	var fe *handlers.FieldError
	if !errors.As(err, &fe) {
		t.Fatalf("%T %v is not a *handlers.FieldError", err, err)
	}
	return []*handlers.FieldError{fe}
}
