// Package logger is the "log" handler: one structured log line per action,
// an audit trail of every match. Its logger must not sample (the daemon
// gives it an unsampled core), so no match is ever missing from the log.
package logger

import (
	"context"
	"encoding/json"
	"fmt"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/logmedic/logmedic/handlers"
)

// Config is the log handler's configuration.
type Config struct {
	Level   string             `yaml:"level" doc:"Level of the line: info, warn or error (default warn)."`
	Message *handlers.Template `yaml:"message" doc:"Text of the line; default: rule, computer and the error code's meaning."`
}

const defaultMessage = `{{.Rule}} on {{.Computer}}{{if .ErrorCode}}: {{.ErrorCode}} {{explain .ErrorCode}}{{end}}`

// Validate checks the level.
func (c *Config) Validate() error {
	if _, err := level(c.Level); err != nil {
		return handlers.Errf("level", "%v", err)
	}
	return nil
}

func level(s string) (zapcore.Level, error) {
	switch s {
	case "", "warn":
		return zapcore.WarnLevel, nil
	case "info":
		return zapcore.InfoLevel, nil
	case "error":
		return zapcore.ErrorLevel, nil
	}
	return 0, fmt.Errorf("unknown level %q; use info, warn or error", s)
}

// Params lists what an action's with: may set.
func Params() []handlers.Param {
	return []handlers.Param{{Name: "message", Doc: "Text of the line."}}
}

// Handler writes log lines.
type Handler struct {
	level   zapcore.Level
	message *handlers.Template
	log     *zap.Logger
}

// New returns a log handler writing to o.Logger.
func New(c *Config, o handlers.Options) (*Handler, error) {
	l, err := level(c.Level)
	if err != nil {
		return nil, handlers.Errf("level", "%v", err)
	}
	m := c.Message
	if m == nil {
		m = handlers.MustTemplate(defaultMessage)
	}
	return &Handler{level: l, message: m, log: o.Logger}, nil
}

type payload struct {
	Message string `json:"message"`
}

// Prepare renders the message.
func (h *Handler) Prepare(d *handlers.Data, with map[string]*handlers.Template) (json.RawMessage, error) {
	m, err := handlers.Render(d, with, "message", h.message)
	if err != nil {
		return nil, err
	}
	return json.Marshal(payload{Message: m})
}

// Deliver writes the line.
func (h *Handler) Deliver(_ context.Context, a *handlers.Action) (bool, error) {
	var p payload
	if err := json.Unmarshal(a.Payload, &p); err != nil {
		return false, fmt.Errorf("log payload: %w", err)
	}
	h.log.Log(h.level, "rule matched", h.fields(a, p)...)
	return false, nil
}

func (h *Handler) fields(a *handlers.Action, p payload) []zap.Field {
	return []zap.Field{
		zap.String("rule", a.Rule), zap.String("action_id", a.ID), zap.String("dedup_key", a.DedupKey),
		zap.Int("repeats", a.Repeats), zap.String("computer", a.Event.Computer), zap.String("channel", a.Event.Channel),
		zap.String("provider", a.Event.Provider), zap.Uint32("event_id", a.Event.EventID), zap.Uint64("record_id", a.Event.RecordID),
		zap.Strings("error_codes", a.Event.Codes), zap.String("text", p.Message),
	}
}

// Preview shows the line that would be written.
func (h *Handler) Preview(a *handlers.Action) (handlers.Preview, error) {
	var p payload
	if err := json.Unmarshal(a.Payload, &p); err != nil {
		return handlers.Preview{}, fmt.Errorf("log payload: %w", err)
	}
	return handlers.Preview{Note: h.level.String() + " log line", Body: p.Message}, nil
}
