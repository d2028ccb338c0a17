package logger

import (
	"testing"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/logmedic/logmedic/handlers"
	"github.com/logmedic/logmedic/handlers/handlertest"
)

func TestEveryActionIsOneLine(t *testing.T) {
	core, logs := observer.New(zapcore.InfoLevel)
	h, err := New(&Config{Level: "error"}, handlers.Options{Logger: zap.New(core)})
	if err != nil {
		t.Fatal(err)
	}
	for range 3 {
		a := handlertest.Action(t, h, handlertest.HostileEvent(), "volume-too-large", nil)
		if retry, err := h.Deliver(t.Context(), a); err != nil || retry {
			t.Fatal(retry, err)
		}
	}
	if logs.Len() != 3 {
		t.Fatalf("%d lines, want 3", logs.Len())
	}
	e := logs.All()[0]
	ctx := e.ContextMap()
	if e.Level != zapcore.ErrorLevel || e.Message != "rule matched" || ctx["rule"] != "volume-too-large" || ctx["computer"] != "PC"+handlertest.Hostile {
		t.Errorf("line %+v %v", e.Entry, ctx)
	}
	want := "volume-too-large on PC" + handlertest.Hostile + ": 0x807800B4 The volume is too large to be protected: a system image stores each volume in a VHD, and the VHD format holds at most 2040 GB, so a source volume larger than 2,088,958 MB cannot be imaged."
	if ctx["text"] != want {
		t.Errorf("text %q\nwant %q", ctx["text"], want)
	}
}

func TestWithOverridesMessage(t *testing.T) {
	core, logs := observer.New(zapcore.InfoLevel)
	h, _ := New(&Config{}, handlers.Options{Logger: zap.New(core)})
	a := handlertest.Action(t, h, handlertest.Event(), "r", map[string]string{"message": "backup on {{.Computer}} seen {{.Repeats}} more times"})
	h.Deliver(t.Context(), a)
	if got := logs.All()[0].ContextMap()["text"]; got != "backup on WS-0142.corp.example seen 0 more times" {
		t.Errorf("text %q", got)
	}
	if logs.All()[0].Level != zapcore.WarnLevel {
		t.Error("default level is not warn")
	}
	p, err := h.Preview(a)
	if err != nil || p.Body != "backup on WS-0142.corp.example seen 0 more times" {
		t.Errorf("preview %+v %v", p, err)
	}
}

func TestValidate(t *testing.T) {
	if err := (&Config{Level: "debug"}).Validate(); err == nil || err.Error() != `level: unknown level "debug"; use info, warn or error` {
		t.Errorf("Validate = %v", err)
	}
}
