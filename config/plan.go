package config

import (
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"strings"
	"time"

	"github.com/logmedic/logmedic/handlers"
	"github.com/logmedic/logmedic/handlers/outbox"
	"github.com/logmedic/logmedic/handlers/webhook"
	"github.com/logmedic/logmedic/watcher"
	"github.com/logmedic/logmedic/watcher/match"
)

// Batches turns an event's rule matches into outbox batches: one per
// matched rule with actions. The actions are prepared (templates
// rendered) by the batch's Prepare once the outbox knows their repeat
// count; built maps handler names to built handlers.
func (cfg *Config) Batches(ev *watcher.Event, source string, matches []match.Match, built map[string]handlers.Handler, now time.Time) ([]outbox.Batch, error) {
	var out []outbox.Batch
	var e *handlers.Event
	for _, m := range matches {
		r := cfg.Rules[m.Rule.Index]
		if len(r.Actions) == 0 {
			continue
		}
		if e == nil {
			x := handlers.EventFrom(ev, source)
			e = &x
		}
		base := handlers.NewData(e, r.Name, r.Description)
		key, err := r.Dedup.Key.Execute(base)
		if err != nil {
			return nil, fmt.Errorf("rule %q: dedup key: %w", r.Name, err)
		}
		base.DedupKey = key
		b := outbox.Batch{DedupKey: key, Window: r.Dedup.Window}
		for step := range r.Actions {
			a := &r.Actions[step]
			if built[a.Handler] == nil {
				return nil, fmt.Errorf("rule %q: handler %q is not built", r.Name, a.Handler)
			}
			b.Actions = append(b.Actions, &handlers.Action{
				ID: handlers.ActionID(e, r.Name, a.Handler, step), Rule: r.Name, Handler: a.Handler, Step: step,
				DedupKey: key, Resolve: len(a.Resolves) > 0, Event: *e, Created: now,
			})
		}
		b.Prepare = func(act *handlers.Action) error {
			d := *base
			d.ActionID, d.Repeats = act.ID, act.Repeats
			p, err := built[act.Handler].Prepare(&d, r.Actions[act.Step].templates(r))
			if err != nil {
				return fmt.Errorf("rule %q: actions[%d] (%s): %w", r.Name, act.Step, act.Handler, err)
			}
			act.Payload = p
			return nil
		}
		out = append(out, b)
	}
	return out, nil
}

// Prepare renders every action of batches as if none were repeats, for a
// dry run; errs has one entry per action that failed, by action ID.
func Prepare(batches []outbox.Batch) (errs map[string]error) {
	errs = map[string]error{}
	for _, b := range batches {
		for _, a := range b.Actions {
			if err := b.Prepare(a); err != nil {
				errs[a.ID] = err
			}
		}
	}
	return errs
}

// BuildHandlers builds every handler with o (Name is set per handler).
func (cfg *Config) BuildHandlers(o func(name string) handlers.Options) (map[string]handlers.Handler, error) {
	built := make(map[string]handlers.Handler, len(cfg.Handlers))
	for name, h := range cfg.Handlers {
		b, err := h.Build(o(name))
		if err != nil {
			return nil, fmt.Errorf("handler %q: %w", name, err)
		}
		built[name] = b
	}
	return built, nil
}

// StateDir returns where logmedic keeps its state: the flag's value, the
// configuration's state_dir, or the platform default:
// %ProgramData%\logmedic on Windows; $STATE_DIRECTORY (systemd) or
// /var/lib/logmedic for root on Linux; else $XDG_STATE_HOME/logmedic or
// ~/.local/state/logmedic.
func StateDir(flag string, cfg *Config) string {
	if flag != "" {
		return flag
	}
	if cfg != nil && cfg.StateDir != "" {
		return cfg.StateDir
	}
	if runtime.GOOS == "windows" {
		pd := os.Getenv("ProgramData")
		if pd == "" {
			pd = `C:\ProgramData`
		}
		return filepath.Join(pd, "logmedic")
	}
	if d := os.Getenv("STATE_DIRECTORY"); d != "" {
		return d
	}
	if os.Geteuid() == 0 {
		return "/var/lib/logmedic"
	}
	if d := os.Getenv("XDG_STATE_HOME"); d != "" {
		return filepath.Join(d, "logmedic")
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return filepath.Join(os.TempDir(), "logmedic-state")
	}
	return filepath.Join(home, ".local", "state", "logmedic")
}

// OutboxPath is the outbox file in a state directory.
func OutboxPath(stateDir string) string { return filepath.Join(stateDir, "outbox.db") }

// NeedsMessage reports whether anything in the configuration uses an
// event's rendered message: a rule's message condition, a template that
// names Message or encodes a whole value as JSON, or a handler whose
// defaults carry it (script, ticket, mail and alert handlers; a webhook
// without a body of its own). Only log handlers and webhooks with their
// own bodies can do without. Channel
// sources render messages (EvtFormatMessage, by far the most expensive
// step of reading an event) only then.
func (cfg *Config) NeedsMessage() bool {
	for _, r := range cfg.Rules {
		for _, f := range r.Match.Fields {
			if strings.EqualFold(f.Field, "message") {
				return true
			}
		}
		for _, a := range r.Actions {
			for _, t := range a.With {
				if templateNeedsMessage(t) {
					return true
				}
			}
		}
	}
	for _, h := range cfg.Handlers {
		switch h.Type {
		case "log":
		case "webhook":
			// Its default body carries the event, message included.
			if wc, ok := h.Config.(*webhook.Config); !ok || wc.Body == nil {
				return true
			}
		default:
			// Scripts get the event on standard input; the ticket, mail
			// and alert types' default texts quote the message.
			return true
		}
		if anyTemplate(reflect.ValueOf(h.Config), templateNeedsMessage) {
			return true
		}
	}
	return false
}

func templateNeedsMessage(t *handlers.Template) bool {
	return t != nil && (strings.Contains(t.Text, "Message") || strings.Contains(t.Text, "json"))
}

// anyTemplate reports whether f holds for a template inside v.
func anyTemplate(v reflect.Value, f func(*handlers.Template) bool) bool {
	switch v.Kind() {
	case reflect.Pointer, reflect.Interface:
		if v.IsNil() {
			return false
		}
		switch t := v.Interface().(type) {
		case *handlers.Template:
			return f(t)
		case interface{ Templates() []*handlers.Template }:
			// Templates kept in unexported fields (a webhook's body).
			for _, tt := range t.Templates() {
				if f(tt) {
					return true
				}
			}
		}
		return anyTemplate(v.Elem(), f)
	case reflect.Struct:
		if v.CanAddr() {
			if t, ok := v.Addr().Interface().(*handlers.Template); ok {
				return f(t)
			}
		}
		for i := range v.NumField() {
			if v.Type().Field(i).IsExported() && anyTemplate(v.Field(i), f) {
				return true
			}
		}
	case reflect.Slice, reflect.Array:
		for i := range v.Len() {
			if anyTemplate(v.Index(i), f) {
				return true
			}
		}
	case reflect.Map:
		for it := v.MapRange(); it.Next(); {
			if anyTemplate(it.Value(), f) {
				return true
			}
		}
	}
	return false
}
