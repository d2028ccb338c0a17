package config

import (
	"fmt"
	"os"
	"reflect"
	"slices"
	"strings"
	"time"

	"go.uber.org/zap"
	"go.yaml.in/yaml/v3"

	"github.com/logmedic/logmedic/handlers"
	"github.com/logmedic/logmedic/handlers/alertmanager"
	"github.com/logmedic/logmedic/handlers/email"
	"github.com/logmedic/logmedic/handlers/jira"
	"github.com/logmedic/logmedic/handlers/logger"
	"github.com/logmedic/logmedic/handlers/outbox"
	"github.com/logmedic/logmedic/handlers/script"
	"github.com/logmedic/logmedic/handlers/servicenow"
	"github.com/logmedic/logmedic/handlers/webhook"
)

// Handler is one configured handler.
type Handler struct {
	Name        string
	Type        string
	Timeout     time.Duration // per attempt
	Concurrency int
	Retry       outbox.Retry
	Config      any // the type's *Config
	Line, Col   int

	kind *handlerType
	// The whole configuration's secret variables and values, for
	// handlers that run programs (Options.SecretEnv, Options.Secrets).
	secretEnv []string
	secrets   []handlers.Secret
}

// Build makes the handler, with o.Name set to its name. Loading already
// built it once (with no State) to check it, so errors here are rare:
// a secret's file or variable changed since.
func (h *Handler) Build(o handlers.Options) (handlers.Handler, error) {
	o.Name = h.Name
	o.SecretEnv, o.Secrets = h.secretEnv, h.secrets
	return h.kind.build(h.Config, o)
}

// Route returns the dispatcher's route for a built handler.
func (h *Handler) Route(built handlers.Handler) outbox.Route {
	return outbox.Route{Handler: built, Timeout: h.Timeout, Concurrency: h.Concurrency, Retry: h.Retry}
}

// handlerType wires one handler package into the configuration. The list
// is explicit: there is no registration at init.
type handlerType struct {
	name   string
	doc    string
	config func() any // a new, empty *Config
	params func() []handlers.Param
	build  func(cfg any, o handlers.Options) (handlers.Handler, error)
}

var handlerTypes = []*handlerType{
	{
		name: "servicenow", doc: "Opens a ServiceNow incident (Table API); a match whose dedup key has an open incident adds a work note instead.",
		config: func() any { return new(servicenow.Config) }, params: servicenow.Params,
		build: func(c any, o handlers.Options) (handlers.Handler, error) {
			return servicenow.New(c.(*servicenow.Config), o)
		},
	},
	{
		name: "jira", doc: "Opens a Jira issue (REST v2 or v3); a match whose dedup key has an open issue adds a comment instead.",
		config: func() any { return new(jira.Config) }, params: jira.Params,
		build: func(c any, o handlers.Options) (handlers.Handler, error) { return jira.New(c.(*jira.Config), o) },
	},
	{
		name: "webhook", doc: "Sends a templated JSON body to a URL.",
		config: func() any { return new(webhook.Config) }, params: webhook.Params,
		build: func(c any, o handlers.Options) (handlers.Handler, error) { return webhook.New(c.(*webhook.Config), o) },
	},
	{
		name: "alertmanager", doc: "Pushes alerts to every Alertmanager of a cluster, re-sends them while firing, and resolves them when a resolving rule matches.",
		config: func() any { return new(alertmanager.Config) }, params: alertmanager.Params,
		build: func(c any, o handlers.Options) (handlers.Handler, error) {
			return alertmanager.New(c.(*alertmanager.Config), o)
		},
	},
	{
		name: "email", doc: "Sends a plain-text mail over SMTP with STARTTLS or TLS and AUTH.",
		config: func() any { return new(email.Config) }, params: email.Params,
		build: func(c any, o handlers.Options) (handlers.Handler, error) { return email.New(c.(*email.Config), o) },
	},
	{
		name: "script", doc: "Runs a program (a scripted fix) with the event as JSON on stdin and LOGMEDIC_* variables; argv only, never a shell.",
		config: func() any { return new(script.Config) }, params: script.Params,
		build: func(c any, o handlers.Options) (handlers.Handler, error) { return script.New(c.(*script.Config), o) },
	},
	{
		name: "log", doc: "A structured log line per action: the audit trail of every match.",
		config: func() any { return new(logger.Config) }, params: logger.Params,
		build: func(c any, o handlers.Options) (handlers.Handler, error) { return logger.New(c.(*logger.Config), o) },
	},
}

func typeNames() []string {
	var out []string
	for _, t := range handlerTypes {
		out = append(out, t.name)
	}
	return out
}

func findType(name string) *handlerType {
	for _, t := range handlerTypes {
		if t.name == name {
			return t
		}
	}
	return nil
}

// commonHandlerKeys are the keys every handler has besides its type's own.
var commonHandlerKeys = []keyDoc{
	{"type", "The handler type."},
	{"timeout", "How long one attempt may take, such as 30s (default 30s)."},
	{"concurrency", "Attempts of this handler at once (default 4)."},
	{"retry", "When to give up: max_attempts (default 10), max_age (default 24h), initial_backoff (2s), max_backoff (5m)."},
}

type retryConfig struct {
	MaxAttempts    int           `yaml:"max_attempts" doc:"Attempts before the action goes to the dead letters (default 10)."`
	MaxAge         time.Duration `yaml:"max_age" doc:"Age after which a failing action goes to the dead letters (default 24h)."`
	InitialBackoff time.Duration `yaml:"initial_backoff" doc:"Wait after the first failure; doubles each time, with jitter (default 2s)."`
	MaxBackoff     time.Duration `yaml:"max_backoff" doc:"Longest wait between attempts (default 5m)."`
}

// parseHandlers reads the handlers: mapping.
func parseHandlers(c *errs, n *yaml.Node) map[string]*Handler {
	out := map[string]*Handler{}
	if n.Kind != yaml.MappingNode {
		c.at(n, "handlers: expected a mapping of handler names to handlers, found %s", kind(n))
		return out
	}
	for _, kv := range pairs(c, n, "handlers", nil) {
		name := kv.key.Value
		where := fmt.Sprintf("handler %q", name)
		if h := parseHandler(c, kv.key, kv.val, where); h != nil {
			h.Name = name
			out[name] = h
		}
	}
	var env []string
	var secrets []handlers.Secret
	for _, h := range out {
		e, s := secretSources(reflect.ValueOf(h.Config).Elem())
		env, secrets = append(env, e...), append(secrets, s...)
	}
	slices.Sort(env)
	env = slices.Compact(env)
	for _, h := range out {
		h.secretEnv, h.secrets = env, secrets
	}
	return out
}

// secretSources collects the variables named by *_env keys and the values
// of those variables and of *_file keys (except ca_file, a certificate).
func secretSources(v reflect.Value) (env []string, secrets []handlers.Secret) {
	switch v.Kind() {
	case reflect.Pointer, reflect.Interface:
		if !v.IsNil() {
			return secretSources(v.Elem())
		}
	case reflect.Map:
		for _, k := range v.MapKeys() {
			e, s := secretSources(v.MapIndex(k))
			env, secrets = append(env, e...), append(secrets, s...)
		}
	case reflect.Slice:
		for i := range v.Len() {
			e, s := secretSources(v.Index(i))
			env, secrets = append(env, e...), append(secrets, s...)
		}
	case reflect.Struct:
		t := v.Type()
		for i := range t.NumField() {
			key, f := yamlKey(t.Field(i)), v.Field(i)
			if key == "" {
				continue
			}
			if f.Kind() != reflect.String {
				e, s := secretSources(f)
				env, secrets = append(env, e...), append(secrets, s...)
				continue
			}
			switch val := f.String(); {
			case val == "" || key == "ca_file":
			case strings.HasSuffix(key, "_env"):
				env = append(env, val)
				if s, _ := handlers.LoadSecret(val, ""); s.IsSet() {
					secrets = append(secrets, s)
				}
			case strings.HasSuffix(key, "_file"):
				if s, _ := handlers.LoadSecret("", val); s.IsSet() {
					secrets = append(secrets, s)
				}
			}
		}
	}
	return env, secrets
}

func parseHandler(c *errs, keyNode, n *yaml.Node, where string) *Handler {
	if n.Kind != yaml.MappingNode {
		c.at(n, "%s: expected a mapping with type: and its settings, found %s", where, kind(n))
		return nil
	}
	h := &Handler{Line: keyNode.Line, Col: keyNode.Column, Concurrency: 4, Timeout: handlers.Timeout}
	var typeNode *yaml.Node
	rest := &yaml.Node{Kind: yaml.MappingNode, Line: n.Line, Column: n.Column}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], resolve(&n.Content[i+1])
		switch k.Value {
		case "type":
			typeNode = v
		case "timeout":
			var d time.Duration
			if err := v.Decode(&d); err != nil || d <= 0 {
				c.at(v, "%s.timeout: expected a positive duration such as 30s, found %s", where, kind(v))
			}
			h.Timeout = d
		case "concurrency":
			var x int
			if err := v.Decode(&x); err != nil || x < 1 || x > 256 {
				c.at(v, "%s.concurrency: expected a number from 1 to 256, found %s", where, kind(v))
			}
			h.Concurrency = x
		case "retry":
			var r retryConfig
			nodes := decodeStrict(c, v, where+".retry", &r)
			for key, bad := range map[string]bool{"max_attempts": r.MaxAttempts < 0, "max_age": r.MaxAge < 0, "initial_backoff": r.InitialBackoff < 0, "max_backoff": r.MaxBackoff < 0} {
				if bad {
					c.at(nodes[key], "%s.retry.%s: must not be negative", where, key)
				}
			}
			h.Retry = outbox.Retry{MaxAttempts: r.MaxAttempts, MaxAge: r.MaxAge, Initial: r.InitialBackoff, Max: r.MaxBackoff}
		default:
			rest.Content = append(rest.Content, k, n.Content[i+1])
		}
	}
	if typeNode == nil {
		c.at(n, "%s: missing type (one of %s)", where, strings.Join(typeNames(), ", "))
		return nil
	}
	h.Type = typeNode.Value
	h.kind = findType(h.Type)
	if h.kind == nil {
		c.at(typeNode, "%s.type: unknown handler type %q%s; types: %s", where, h.Type, suggest(h.Type, typeNames()), strings.Join(typeNames(), ", "))
		return nil
	}
	h.Config = h.kind.config()
	reported := len(c.list)
	nodes := decodeStrict(c, rest, where, h.Config)
	if len(c.list) > reported {
		return nil
	}
	if v, ok := h.Config.(interface{ Validate() error }); ok {
		if err := v.Validate(); err != nil {
			fieldErrors(c, err, where, keyNode, nodes)
			return nil
		}
	}
	if !c.skipHostChecks {
		checkSecretSources(c, reflect.ValueOf(h.Config).Elem(), where, "", nodes)
		if v, ok := h.Config.(interface{ CheckHost() error }); ok {
			fieldErrors(c, v.CheckHost(), where, keyNode, nodes)
		}
	}
	// Build once now: secrets and files are read and checked at load.
	if _, err := h.kind.build(h.Config, handlers.Options{Name: "check", Logger: nopLogger}); err != nil {
		fieldErrors(c, err, where, keyNode, nodes)
		return nil
	}
	return h
}

// Dedup is a rule's duplicate suppression.
type Dedup struct {
	Key    *handlers.Template
	Window time.Duration
}

// DefaultDedupKey is the dedup key of a rule that sets none: the rule, the
// computer and the first error code.
const DefaultDedupKey = "{{.Rule}}/{{.Computer}}/{{.ErrorCode}}"

var dedupKeys = []keyDoc{
	{"key", "Template of the key; matches with the same key are one problem (default " + DefaultDedupKey + ")."},
	{"window", "Suppress repeats of the key for this long after a match that acted, such as 24h; the next action reports how many were suppressed (default 0: every match acts)."},
}

func parseDedup(c *errs, n *yaml.Node, where string) Dedup {
	d := Dedup{Key: handlers.MustTemplate(DefaultDedupKey)}
	if n.Kind != yaml.MappingNode {
		c.at(n, "%s: expected a mapping with key and window, found %s", where, kind(n))
		return d
	}
	for _, kv := range pairs(c, n, where, dedupKeys) {
		switch kv.key.Value {
		case "key":
			var t handlers.Template
			if err := kv.val.Decode(&t); err != nil {
				c.at(kv.val, "%s.key: %v", where, err)
				continue
			}
			if _, err := t.Execute(handlers.SampleData()); err != nil {
				c.at(kv.val, "%s.key: %v", where, err)
				continue
			}
			d.Key = &t
		case "window":
			if err := kv.val.Decode(&d.Window); err != nil || d.Window < 0 {
				c.at(kv.val, "%s.window: expected a duration such as 24h, found %s", where, kind(kv.val))
			}
		}
	}
	return d
}

// checkActions resolves each rule's actions against the handlers and
// renders them for the sample event, so a template typo is an error now.
func checkActions(c *errs, cfg *Config, rules []*Rule, nodes map[*Rule][]*yaml.Node) {
	names := map[string]bool{}
	for _, r := range rules {
		names[r.Name] = true
	}
	built := map[string]handlers.Handler{}
	for _, r := range rules {
		for i := range r.Actions {
			a := &r.Actions[i]
			n := nodes[r][i]
			where := fmt.Sprintf("rule %q: actions[%d]", r.Name, i)
			h := cfg.Handlers[a.Handler]
			if h == nil {
				var known []string
				for k := range cfg.Handlers {
					known = append(known, k)
				}
				slices.Sort(known)
				msg := "none are defined under handlers:"
				if len(known) > 0 {
					msg = "defined: " + strings.Join(known, ", ")
				}
				c.at(a.handlerNode, "%s: no handler named %q%s; %s", where, a.Handler, suggest(a.Handler, known), msg)
				continue
			}
			params := h.kind.params()
			for k, node := range a.withNodes {
				if !slices.ContainsFunc(params, func(p handlers.Param) bool { return p.Name == k }) {
					var ks []string
					for _, p := range params {
						ks = append(ks, p.Name)
					}
					c.at(node, "%s.with: handler type %s has no parameter %q%s; it takes: %s", where, h.Type, k, suggest(k, ks), strings.Join(ks, ", "))
				}
			}
			for _, res := range a.Resolves {
				if !names[res] {
					c.at(n, "%s.resolves: no rule named %q", where, res)
				}
			}
			hb := built[a.Handler]
			if hb == nil {
				var err error
				if hb, err = h.Build(handlers.Options{Logger: nopLogger}); err != nil {
					continue // reported with the handler
				}
				built[a.Handler] = hb
			}
			d := handlers.SampleData()
			d.Rule, d.Description = r.Name, r.Description
			if _, err := hb.Prepare(d, a.templates(r)); err != nil {
				at := n
				// Point at the with: template that failed, when it is one.
				if key, _, ok := strings.Cut(err.Error(), ":"); ok && a.withNodes[key] != nil {
					at = a.withNodes[key]
				}
				c.at(at, "%s: rendering it for a sample event fails: %v", where, err)
			}
		}
	}
}

// typeOf reports the Go type of a handler type's Config, for the schema.
func (t *handlerType) typeOf() reflect.Type { return reflect.TypeOf(t.config()).Elem() }

var nopLogger = zap.NewNop()

// checkSecretSources checks every *_env key names a set variable and every
// *_file key a readable file, at the key's position.
func checkSecretSources(c *errs, v reflect.Value, where, prefix string, nodes map[string]*yaml.Node) {
	switch v.Kind() {
	case reflect.Pointer, reflect.Interface:
		if !v.IsNil() {
			checkSecretSources(c, v.Elem(), where, prefix, nodes)
		}
	case reflect.Map:
		for _, k := range v.MapKeys() {
			checkSecretSources(c, v.MapIndex(k), where, prefix+fmt.Sprint(k.Interface())+".", nodes)
		}
	case reflect.Slice:
		for i := range v.Len() {
			checkSecretSources(c, v.Index(i), where, prefix, nodes)
		}
	case reflect.Struct:
		t := v.Type()
		for i := range t.NumField() {
			key := yamlKey(t.Field(i))
			if key == "" {
				continue
			}
			f := v.Field(i)
			if f.Kind() != reflect.String {
				checkSecretSources(c, f, where, prefix+key+".", nodes)
				continue
			}
			val := f.String()
			if val == "" {
				continue
			}
			at := nodes[prefix+key]
			switch {
			case key == "ca_file":
				// The handler reads it when built and reports it there.
			case strings.HasSuffix(key, "_env"):
				if v, ok := os.LookupEnv(val); !ok {
					c.at(at, "%s.%s%s: environment variable %s is not set", where, prefix, key, val)
				} else if v == "" {
					c.at(at, "%s.%s%s: environment variable %s is empty", where, prefix, key, val)
				}
			case strings.HasSuffix(key, "_file"):
				if f, err := os.Open(val); err != nil {
					c.at(at, "%s.%s%s: %v", where, prefix, key, err)
				} else {
					f.Close()
				}
			}
		}
	}
}
