package handlers

import (
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"slices"
	"strings"
	"text/template"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/logmedic/logmedic/internal/hostfacts"
	"github.com/logmedic/logmedic/watcher"
	"github.com/logmedic/logmedic/watcher/hresult"
)

// Data is what templates see, as {{.Computer}}, {{.ErrorCode}} and so on.
type Data struct {
	Rule        string
	Description string
	DedupKey    string
	Repeats     int // matches suppressed in the dedup window before this one
	ActionID    string

	Computer   string
	Channel    string
	Provider   string
	EventID    uint32
	Level      string
	RecordID   uint64
	Time       time.Time
	Message    string
	ErrorCode  string   // the event's first error code (lowest), 0x%08X, or ""
	ErrorCodes []string // every error code, sorted
	Data       map[string]string
	Source     string

	// fields are the event's fields in order, for volumes.
	fields []watcher.Field
}

// NewData builds template data for a rule's match of e.
func NewData(e *Event, rule, description string) *Data {
	d := &Data{
		Rule: rule, Description: description,
		Computer: e.Computer, Channel: e.Channel, Provider: e.Provider, EventID: e.EventID,
		Level: e.Level, RecordID: e.RecordID, Time: e.Time, Message: e.Message,
		ErrorCodes: e.Codes, Data: make(map[string]string, len(e.Data)), Source: e.Source,
		fields: e.Data,
	}
	if len(e.Codes) > 0 {
		d.ErrorCode = e.Codes[0]
	}
	for _, f := range e.Data {
		if _, dup := d.Data[f.Name]; !dup {
			d.Data[f.Name] = f.Value
		}
	}
	return d
}

// Field returns an EventData or UserData value by name, ignoring case, or
// "" when the event has no such field: {{.Field "BackupTarget"}}.
func (d *Data) Field(name string) string {
	if v, ok := d.Data[name]; ok {
		return v
	}
	for k, v := range d.Data {
		if strings.EqualFold(k, name) {
			return v
		}
	}
	return ""
}

// SampleData is a complete event for checking templates when the
// configuration is loaded: a template that fails on it fails at validate
// time, not at 3 a.m.
func SampleData() *Data {
	e := &Event{
		Source: "sample.xml", Channel: "Microsoft-Windows-Backup", Provider: "Microsoft-Windows-Backup",
		EventID: 5, Level: "error", RecordID: 1412, Time: time.Date(2026, 11, 21, 1, 0, 3, 0, time.UTC),
		Computer: "WS-0142.corp.example", UserID: "S-1-5-18",
		Message: "The backup operation that started at '2026-11-21T00:58:41Z' has failed with following error code '0x807800B4'.",
		Codes:   []string{"0x807800B4"},
		Data:    []watcher.Field{{Name: "HRESULT", Value: "0x807800b4"}, {Name: "BackupTarget", Value: "E:"}},
	}
	d := NewData(e, "sample-rule", "A sample rule.")
	d.DedupKey = "sample-rule/WS-0142.corp.example/0x807800B4"
	d.ActionID = "0123456789abcdef01234567"
	return d
}

// funcs are the helpers every template has.
var funcs = template.FuncMap{
	// explain gives a code's one-line meaning: {{explain .ErrorCode}}.
	"explain": func(code string) string {
		v, err := watcher.ParseCode(code)
		if err != nil {
			return ""
		}
		return hresult.Summary(v)
	},
	// code normalizes a code in any form to 0x%08X.
	"code": func(s string) (string, error) {
		v, err := watcher.ParseCode(s)
		if err != nil {
			return "", fmt.Errorf("code %q: %w", s, err)
		}
		return watcher.FormatCode(v), nil
	},
	"json": func(v any) (string, error) {
		b, err := json.Marshal(v)
		return string(b), err
	},
	"upper": strings.ToUpper,
	"lower": strings.ToLower,
	"join":  strings.Join,
	// time formats a time with a Go layout: {{time .Time "2006-01-02 15:04"}}.
	"time": func(t time.Time, layout string) string { return t.Format(layout) },
	// default gives def when s is empty: {{default "unknown" .ErrorCode}}.
	"default": func(def, s string) string {
		if s == "" {
			return def
		}
		return s
	},
	// host gives the facts of the host logmedic runs on, read when the
	// template renders: {{host.OS}} build {{host.Build}}, {{host.Uptime}}.
	"host": hostFacts,
	// volumes gives the size and free space of the volumes the event
	// names: {{range volumes .}}{{.Name}}: {{bytes .Free}} free{{end}}.
	"volumes": eventVolumes,
	// bytes formats a byte count: {{bytes .Free}} is "1.82 TiB".
	"bytes": hostfacts.Bytes,
}

// What host and volumes read; tests replace them.
var (
	collectFacts  = hostfacts.Collect
	queryVolumes  = hostfacts.Volumes
	localHostname = os.Hostname
)

// hostFacts never fails a template: what could not be read is empty, and
// Err says why.
func hostFacts() hostfacts.Facts {
	f, err := collectFacts()
	if err != nil {
		f.Err = err.Error()
	}
	return f
}

// eventVolumes queries the volumes an event names. The argument is the
// template's data (.) or an Event; anything else is a template error, so
// a wrong argument fails at validate time. An event from another computer
// (a forwarded event, an exported file) names that computer's volumes:
// they are listed, with Err saying so, not looked up here.
func eventVolumes(v any) ([]hostfacts.Volume, error) {
	var computer string
	var fields []watcher.Field
	switch e := v.(type) {
	case *Data:
		if e == nil {
			return nil, nil
		}
		computer, fields = e.Computer, e.fields
		if fields == nil { // built without NewData: the map, in name order
			for _, k := range slices.Sorted(maps.Keys(e.Data)) {
				fields = append(fields, watcher.Field{Name: k, Value: e.Data[k]})
			}
		}
	case *Event:
		if e == nil {
			return nil, nil
		}
		computer, fields = e.Computer, e.Data
	case Event:
		computer, fields = e.Computer, e.Data
	default:
		return nil, fmt.Errorf("volumes: want the event (.), not %T", v)
	}
	names := hostfacts.VolumeNames(&watcher.Event{EventData: fields})
	if h, _ := localHostname(); !hostfacts.SameHost(computer, h) {
		out := make([]hostfacts.Volume, len(names))
		for i, n := range names {
			out[i] = hostfacts.Volume{Name: n, Err: "on " + computer + ", not on this host"}
		}
		return out, nil
	}
	return queryVolumes(names), nil
}

// Template is a text/template from the configuration. Missing map keys
// are errors. It is compiled when the configuration is loaded.
type Template struct {
	Text string
	t    *template.Template
}

// NewTemplate compiles text.
func NewTemplate(text string) (*Template, error) {
	t, err := template.New("").Option("missingkey=error").Funcs(funcs).Parse(text)
	if err != nil {
		return nil, cleanTemplateErr(err)
	}
	return &Template{Text: text, t: t}, nil
}

// MustTemplate compiles a template known to be valid (built-in defaults).
func MustTemplate(text string) *Template {
	t, err := NewTemplate(text)
	if err != nil {
		panic(err)
	}
	return t
}

// UnmarshalYAML compiles the template while the configuration loads.
func (t *Template) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return fmt.Errorf("expected a template (text), found a %s", kindName(n))
	}
	c, err := NewTemplate(n.Value)
	if err != nil {
		return err
	}
	*t = *c
	return nil
}

// Execute renders the template for d.
func (t *Template) Execute(d *Data) (string, error) {
	if t == nil || t.t == nil {
		return "", nil
	}
	var b strings.Builder
	if err := t.t.Execute(&b, d); err != nil {
		return "", cleanTemplateErr(err)
	}
	return b.String(), nil
}

// cleanTemplateErr drops text/template's "template: :1:5:" prefix noise
// down to the position in the template text.
func cleanTemplateErr(err error) error {
	msg := strings.TrimPrefix(err.Error(), "template: ")
	msg = strings.TrimPrefix(msg, ":")
	return fmt.Errorf("template: %s", msg)
}

func kindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "mapping"
	case yaml.SequenceNode:
		return "list"
	}
	return "value"
}

// Render executes the template named key: the action's with: override
// when present, else def. A nil result renders as "".
func Render(d *Data, with map[string]*Template, key string, def *Template) (string, error) {
	t := def
	if w, ok := with[key]; ok {
		t = w
	}
	s, err := t.Execute(d)
	if err != nil {
		return "", fmt.Errorf("%s: %w", key, err)
	}
	return s, nil
}
