// Package config loads and checks logmedic's YAML configuration: the
// rules admins write, and (in later versions) handlers and sources.
//
// Loading is strict. Unknown keys, wrong types, bad regular expressions,
// codes and ranges, and duplicate names are all reported at once, each as
// FILE:LINE:COL: message, and nothing is half-loaded.
package config

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/xml"
	"fmt"
	"math"
	"os"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/logmedic/logmedic/handlers"
	"github.com/logmedic/logmedic/watcher"
	"github.com/logmedic/logmedic/watcher/match"
)

// Config is a loaded, checked configuration.
type Config struct {
	File     string
	StateDir string // as configured; see StateDir for the default
	Sources  []Source
	Handlers map[string]*Handler
	Rules    []*Rule
}

// Source is where the daemon reads events from: a drop folder or a
// Windows event log channel.
type Source struct {
	Name   string // stable: checkpoints are kept under it
	Folder string // a drop folder of exported event files
	// Settle is how long a file must be quiet before it is read (writers
	// write in pieces): default 25ms.
	Settle time.Duration

	// Channel is a Windows event log channel, read live (Windows only).
	Channel string
	// Providers keeps only these providers' events (checked in Go).
	Providers []string
	// Query is an expert's XPath or QueryList, passed to Windows as is.
	Query string
	// Start is "bookmark" (default), "now" or "oldest"; Lookback is how
	// far back a start without a bookmark reads (default 24h).
	Start    string
	Lookback time.Duration
	// OnStale is "oldest" (default) or "now": where to go when the
	// saved bookmark is no longer in the log.
	OnStale string
	// Batch is how many events one EvtNext asks for (default 64).
	Batch int
	// Locale is the LCID messages are rendered in (0: the system's).
	Locale uint32

	Line int
	Col  int
}

// Rule is one rule as configured.
type Rule struct {
	Name        string
	Description string
	Match       *match.Rule
	Dedup       Dedup
	Actions     []Action
	Line, Col   int    // where the rule starts
	Hash        string // of the rule's text, to tell a changed rule on reload
}

// Action is one step a rule takes when it matches.
type Action struct {
	Handler string
	// With overrides the handler's templates for this rule.
	With map[string]*handlers.Template
	// Resolves names the rules whose problem this action resolves for the
	// event's computer (a success event resolving a failure alert).
	Resolves []string

	handlerNode *yaml.Node
	withNodes   map[string]*yaml.Node
}

// templates returns the action's with: templates, plus "resolves" (the
// resolved rule names, comma-separated) when it resolves.
func (a *Action) templates(*Rule) map[string]*handlers.Template {
	if len(a.Resolves) == 0 {
		return a.With
	}
	w := make(map[string]*handlers.Template, len(a.With)+1)
	for k, v := range a.With {
		w[k] = v
	}
	w["resolves"] = handlers.MustTemplate(literal(strings.Join(a.Resolves, ",")))
	return w
}

// literal quotes text for text/template so it renders as itself.
func literal(s string) string { return "{{" + strconv.Quote(s) + "}}" }

// Options change what loading checks.
type Options struct {
	// SkipHostChecks skips what only the machine that runs the
	// configuration can tell: that the environment variables and files
	// handlers' *_env and *_file keys name exist, and that scripts'
	// programs do. For logmedic test on an admin's workstation without the
	// production secrets; validate and the daemon check them.
	SkipHostChecks bool
}

// Load reads and checks the configuration file at path. Its error, if
// any, is an Errors listing every problem.
func Load(path string) (*Config, error) { return LoadWith(path, Options{}) }

// LoadWith is Load with options.
func LoadWith(path string, o Options) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, Errors{{File: path, Line: 1, Col: 1, Msg: err.Error()}}
	}
	return ParseWith(path, data, o)
}

// Parse checks a configuration held in memory; file names it in errors.
func Parse(file string, data []byte) (*Config, error) { return ParseWith(file, data, Options{}) }

// ParseWith is Parse with options.
func ParseWith(file string, data []byte, o Options) (*Config, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, Errors{syntaxError(file, data, err)}
	}
	c := &errs{file: file, skipHostChecks: o.SkipHostChecks}
	cfg := &Config{File: file}
	// yaml.Unmarshal reads the first document only; a second one would be
	// ignored without a word.
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var first, second yaml.Node
	if dec.Decode(&first) == nil && dec.Decode(&second) == nil {
		c.at(&second, "a second YAML document (after ---): logmedic reads one; merge them or remove the ---")
	}
	if len(doc.Content) == 0 {
		c.at(&doc, "the file is empty; it needs a rules: list")
		return nil, c.result()
	}
	root := resolve(&doc.Content[0])
	if root.Kind != yaml.MappingNode {
		c.at(root, "the top level must be a mapping with a rules: key, found %s", kind(root))
		return nil, c.result()
	}
	var rulesNode *yaml.Node
	cfg.Handlers = map[string]*Handler{}
	for _, kv := range pairs(c, root, "the top level", topKeys) {
		switch kv.key.Value {
		case "rules":
			rulesNode = kv.val
		case "handlers":
			cfg.Handlers = parseHandlers(c, kv.val)
		case "sources":
			cfg.Sources = parseSources(c, kv.val)
		case "state_dir":
			if kv.val.Kind != yaml.ScalarNode || kv.val.Value == "" {
				c.at(kv.val, "state_dir: expected a directory path, found %s", kind(kv.val))
			}
			cfg.StateDir = kv.val.Value
		}
	}
	if rulesNode == nil {
		c.at(root, "missing the rules: list")
	} else {
		var actionNodes map[*Rule][]*yaml.Node
		cfg.Rules, actionNodes = rules(c, rulesNode)
		checkActions(c, cfg, cfg.Rules, actionNodes)
	}
	if err := c.result(); err != nil {
		return nil, err
	}
	return cfg, nil
}

// MatchRules returns the compiled rules, in order, for match.New.
func (cfg *Config) MatchRules() []*match.Rule {
	out := make([]*match.Rule, len(cfg.Rules))
	for i, r := range cfg.Rules {
		out[i] = r.Match
	}
	return out
}

// Key tables: the loader accepts exactly these keys and the JSON Schema
// (schema.go) is built from them.
type keyDoc struct{ name, doc string }

var (
	topKeys = []keyDoc{
		{"sources", "Where logmedic run reads events: folder (a drop folder of exported .xml, .txt and .evtx files) or channel (a live Windows event log channel; Windows only)."},
		{"handlers", "Named handlers that rules' actions run: tickets, alerts, email, scripts, log lines."},
		{"rules", "The rules, evaluated in order for every event."},
		{"state_dir", "Directory for the outbox and other state (default: %ProgramData%\\logmedic on Windows, $STATE_DIRECTORY or /var/lib/logmedic as root on Linux, else the XDG state directory)."},
	}
	ruleKeys = []keyDoc{
		{"name", "Unique name of the rule; shown in reports and tickets."},
		{"description", "What the rule detects and why, for the people who read its alerts."},
		{"match", "Conditions, all of which must hold; a list inside a condition means any of."},
		{"dedup", "Which matches are the same problem (key) and how long repeats are suppressed (window)."},
		{"actions", "What to do on a match, in order. A rule without actions only records its match."},
	}
	matchKeys = []keyDoc{
		{"channel", "Channel (log) name, such as Microsoft-Windows-Backup or Application; case-insensitive."},
		{"provider", "Provider (source) name, such as Microsoft-Windows-Backup; case-insensitive."},
		{"event_id", "Event IDs: numbers and \"low-high\" ranges."},
		{"level", "critical, error, warning, information or verbose (any case), or 1 to 5."},
		{"error_code", "Error codes in any form (0x807800B4, 2155348148, -2139619148, '%%2155348148'); true if the event carries one anywhere."},
		{"fields", "Conditions on System, EventData and UserData fields by name."},
	}
	opKeys = []keyDoc{
		{"equals", "The field equals this text (or number)."},
		{"contains", "The field contains this text."},
		{"startswith", "The field starts with this text."},
		{"endswith", "The field ends with this text."},
		{"regex", "The field matches this RE2 regular expression (unanchored; case is ignored unless case_sensitive is true)."},
		{"in", "The field equals one of these values."},
		{"not", "Not all of these conditions hold (a single condition: it does not hold); true when the field is absent."},
		{"exists", "true: the field is present (even empty); false: it is absent."},
		{"gt", "The field, read as a number (decimal or 0x hex), is greater than this."},
		{"lt", "The field, read as a number (decimal or 0x hex), is less than this."},
		{"case_sensitive", "Compare text in this condition with case (default: ignore case)."},
	}
	actionKeys = []keyDoc{
		{"handler", "Name of the handler to run."},
		{"with", "Templates that override the handler's own for this rule, such as short_description or message."},
		{"resolves", "Rules whose problem this action resolves for the event's computer, such as a backup failure resolved by a success event."},
	}
)

func names(keys []keyDoc) []string {
	out := make([]string, len(keys))
	for i, k := range keys {
		out[i] = k.name
	}
	return out
}

type pair struct{ key, val *yaml.Node }

// pairs returns a mapping's key/value pairs, reporting unknown and
// repeated keys; merge keys (<<) are expanded.
func pairs(c *errs, n *yaml.Node, where string, known []keyDoc) []pair {
	var out []pair
	seen := map[string]*yaml.Node{}
	merged := map[*yaml.Node]bool{} // each mapping merged once: no cycles, no alias bombs
	var walk func(n *yaml.Node)
	walk = func(n *yaml.Node) {
		if merged[n] {
			return
		}
		merged[n] = true
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], resolve(&n.Content[i+1])
			if k.Kind != yaml.ScalarNode {
				c.at(k, "%s: keys must be plain names, found %s", where, kind(k))
				continue
			}
			if k.Value == "<<" && k.Tag == "!!merge" {
				switch v.Kind {
				case yaml.MappingNode:
					walk(v)
				case yaml.SequenceNode:
					for j := range v.Content {
						if m := resolve(&v.Content[j]); m.Kind == yaml.MappingNode {
							walk(m)
						} else {
							c.at(m, "%s: a merge key (<<) takes mappings, found %s", where, kind(m))
						}
					}
				default:
					c.at(v, "%s: a merge key (<<) takes a mapping or a list of mappings, found %s", where, kind(v))
				}
				continue
			}
			if prev, ok := seen[k.Value]; ok {
				c.at(k, "%s: key %q repeated (first at %d:%d)", where, k.Value, prev.Line, prev.Column)
				continue
			}
			seen[k.Value] = k
			if known != nil && !isKnown(k.Value, known) {
				c.at(k, "%s: unknown key %q%s; known keys: %s", where, k.Value, suggest(k.Value, names(known)), strings.Join(names(known), ", "))
				continue
			}
			out = append(out, pair{k, v})
		}
	}
	walk(n)
	return out
}

func isKnown(s string, keys []keyDoc) bool {
	for _, k := range keys {
		if k.name == s {
			return true
		}
	}
	return false
}

// resolve follows aliases.
func resolve(np **yaml.Node) *yaml.Node {
	n := *np
	for n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	return n
}

func kind(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		if n.Tag == "!!null" {
			return "nothing"
		}
		return fmt.Sprintf("%q", n.Value)
	}
	return "something else"
}

// scalars returns a scalar or each scalar of a list.
func scalars(c *errs, n *yaml.Node, where string) []*yaml.Node {
	switch n.Kind {
	case yaml.ScalarNode:
		if n.Tag == "!!null" {
			c.at(n, "%s: needs a value", where)
			return nil
		}
		return []*yaml.Node{n}
	case yaml.SequenceNode:
		if len(n.Content) == 0 {
			c.at(n, "%s: the list is empty", where)
		}
		var out []*yaml.Node
		for i := range n.Content {
			e := resolve(&n.Content[i])
			if e.Kind != yaml.ScalarNode || e.Tag == "!!null" {
				c.at(e, "%s: list items must be single values, found %s", where, kind(e))
				continue
			}
			out = append(out, e)
		}
		return out
	}
	c.at(n, "%s: expected a value or a list of values, found %s", where, kind(n))
	return nil
}

func rules(c *errs, n *yaml.Node) ([]*Rule, map[*Rule][]*yaml.Node) {
	actionNodes := map[*Rule][]*yaml.Node{}
	if n.Kind != yaml.SequenceNode {
		c.at(n, "rules: expected a list of rules, found %s", kind(n))
		return nil, actionNodes
	}
	var out []*Rule
	byName := map[string]*yaml.Node{}
	for i := range n.Content {
		rn := resolve(&n.Content[i])
		where := fmt.Sprintf("rules[%d]", i)
		if rn.Kind != yaml.MappingNode {
			c.at(rn, "%s: expected a rule (a mapping with name and match), found %s", where, kind(rn))
			continue
		}
		r := &Rule{Line: rn.Line, Col: rn.Column, Match: &match.Rule{Index: i}, Dedup: Dedup{Key: handlers.MustTemplate(DefaultDedupKey)}, Hash: nodeHash(rn)}
		var matchNode, nameNode *yaml.Node
		kvs := pairs(c, rn, where, ruleKeys)
		for _, kv := range kvs {
			// Name the rule in messages about its other keys.
			if kv.key.Value == "name" && kv.val.Kind == yaml.ScalarNode && strings.TrimSpace(kv.val.Value) != "" {
				where = fmt.Sprintf("rule %q", kv.val.Value)
			}
		}
		for _, kv := range kvs {
			switch kv.key.Value {
			case "name":
				if kv.val.Kind != yaml.ScalarNode || strings.TrimSpace(kv.val.Value) == "" {
					c.at(kv.val, "%s.name: needs a non-empty name", where)
					continue
				}
				r.Name, nameNode = kv.val.Value, kv.val
			case "description":
				if kv.val.Kind != yaml.ScalarNode {
					c.at(kv.val, "%s.description: expected text, found %s", where, kind(kv.val))
				}
				r.Description = kv.val.Value
			case "match":
				matchNode = kv.val
			case "dedup":
				r.Dedup = parseDedup(c, kv.val, where+": dedup")
			case "actions":
				r.Actions, actionNodes[r] = actions(c, kv.val, where+": actions")
			}
		}
		if nameNode == nil {
			c.at(rn, "%s: missing name", where)
		} else {
			if prev, ok := byName[r.Name]; ok {
				c.at(nameNode, "%s: duplicate rule name (first at %d:%d)", where, prev.Line, prev.Column)
			}
			byName[r.Name] = nameNode
		}
		r.Match.Name = r.Name
		if matchNode == nil {
			c.at(rn, "%s: missing match (a rule without conditions would match every event)", where)
		} else {
			matchRule(c, matchNode, where+": match", r.Match)
		}
		out = append(out, r)
	}
	return out, actionNodes
}

func actions(c *errs, n *yaml.Node, where string) ([]Action, []*yaml.Node) {
	if n.Kind != yaml.SequenceNode {
		c.at(n, "%s: expected a list, found %s", where, kind(n))
		return nil, nil
	}
	var out []Action
	var nodes []*yaml.Node
	for i := range n.Content {
		an := resolve(&n.Content[i])
		w := fmt.Sprintf("%s[%d]", where, i)
		if an.Kind != yaml.MappingNode {
			c.at(an, "%s: expected a mapping with handler:, found %s", w, kind(an))
			continue
		}
		a := Action{withNodes: map[string]*yaml.Node{}}
		for _, kv := range pairs(c, an, w, actionKeys) {
			switch kv.key.Value {
			case "handler":
				if kv.val.Kind != yaml.ScalarNode || kv.val.Value == "" {
					c.at(kv.val, "%s.handler: expected a handler name, found %s", w, kind(kv.val))
					continue
				}
				a.Handler, a.handlerNode = kv.val.Value, kv.val
			case "with":
				if kv.val.Kind != yaml.MappingNode {
					c.at(kv.val, "%s.with: expected a mapping of parameter names to templates, found %s", w, kind(kv.val))
					continue
				}
				a.With = map[string]*handlers.Template{}
				for _, p := range pairs(c, kv.val, w+".with", nil) {
					var t handlers.Template
					if err := p.val.Decode(&t); err != nil {
						c.at(p.val, "%s.with.%s: %v", w, p.key.Value, err)
						continue
					}
					a.With[p.key.Value] = &t
					a.withNodes[p.key.Value] = p.key
				}
			case "resolves":
				for _, s := range scalars(c, kv.val, w+".resolves") {
					a.Resolves = append(a.Resolves, s.Value)
				}
			}
		}
		if a.handlerNode == nil {
			c.at(an, "%s: missing handler", w)
			continue
		}
		out = append(out, a)
		nodes = append(nodes, an)
	}
	return out, nodes
}

func matchRule(c *errs, n *yaml.Node, where string, r *match.Rule) {
	if n.Kind != yaml.MappingNode {
		c.at(n, "%s: expected a mapping of conditions, found %s", where, kind(n))
		return
	}
	reported := len(c.list)
	kvs := pairs(c, n, where, matchKeys)
	if len(kvs) == 0 && len(c.list) == reported {
		c.at(n, "%s: needs at least one condition (a rule without conditions would match every event)", where)
	}
	for _, kv := range kvs {
		w := where + "." + kv.key.Value
		switch kv.key.Value {
		case "channel":
			for _, s := range scalars(c, kv.val, w) {
				r.Channels = append(r.Channels, s.Value)
			}
		case "provider":
			for _, s := range scalars(c, kv.val, w) {
				r.Providers = append(r.Providers, s.Value)
			}
		case "event_id":
			for _, s := range scalars(c, kv.val, w) {
				if rg, ok := idRange(s.Value); ok {
					r.IDs = append(r.IDs, rg)
				} else {
					c.at(s, "%s: %q is not an event ID (0-65535) or a range such as \"517-521\"", w, s.Value)
				}
			}
		case "level":
			for _, s := range scalars(c, kv.val, w) {
				l, ok := watcher.ParseLevel(s.Value)
				if !ok {
					if v, err := strconv.ParseUint(s.Value, 10, 8); err == nil && v >= 1 && v <= 5 {
						l, ok = uint8(v), true
					}
				}
				if !ok {
					c.at(s, "%s: unknown level %q; use critical, error, warning, information or verbose", w, s.Value)
					continue
				}
				r.Levels = append(r.Levels, l)
			}
		case "error_code":
			for _, s := range scalars(c, kv.val, w) {
				v, err := watcher.ParseCode(s.Value)
				switch {
				case err != nil:
					c.at(s, "%s: %q is not an error code; write it as 0x807800B4, 2155348148, -2139619148 or '%%%%2155348148'", w, s.Value)
				case v == 0:
					c.at(s, "%s: 0 is S_OK (success), not an error; match the success event's ID instead", w)
				default:
					r.Codes = append(r.Codes, v)
				}
			}
		case "fields":
			if kv.val.Kind != yaml.MappingNode {
				c.at(kv.val, "%s: expected a mapping of field names to conditions, found %s", w, kind(kv.val))
				continue
			}
			byFold := map[string]*yaml.Node{}
			for _, fkv := range pairs(c, kv.val, w, nil) {
				fw := w + "." + fkv.key.Value
				// Field names match without case, so these would be
				// one field.
				if prev, ok := byFold[strings.ToLower(fkv.key.Value)]; ok {
					c.at(fkv.key, "%s: field %q is %q again (names match without case; first at %d:%d)", w, fkv.key.Value, prev.Value, prev.Line, prev.Column)
					continue
				}
				byFold[strings.ToLower(fkv.key.Value)] = fkv.key
				r.Fields = append(r.Fields, match.FieldCond{Field: fkv.key.Value, Ops: ops(c, fkv.val, fw, 0)})
			}
		}
	}
}

func idRange(s string) (match.IDRange, bool) {
	lo, hi, isRange := strings.Cut(strings.TrimSpace(s), "-")
	a, err := strconv.ParseUint(strings.TrimSpace(lo), 10, 16)
	if err != nil {
		return match.IDRange{}, false
	}
	if !isRange {
		return match.IDRange{Lo: uint32(a), Hi: uint32(a)}, true
	}
	b, err := strconv.ParseUint(strings.TrimSpace(hi), 10, 16)
	if err != nil || b < a {
		return match.IDRange{}, false
	}
	return match.IDRange{Lo: uint32(a), Hi: uint32(b)}, true
}

// maxNot bounds nested not: conditions (an alias can make them cyclic).
const maxNot = 8

// ops reads a field condition: a value (equals), a list (in), or a
// mapping of operators. depth counts the enclosing not: conditions.
func ops(c *errs, n *yaml.Node, where string, depth int) []match.Op {
	if depth > maxNot {
		c.at(n, "%s: not: nested more than %d deep", where, maxNot)
		return nil
	}
	switch n.Kind {
	case yaml.ScalarNode:
		if n.Tag == "!!null" {
			c.at(n, "%s: needs a condition", where)
			return nil
		}
		return []match.Op{{Kind: match.Equals, Str: n.Value}}
	case yaml.SequenceNode:
		var list []string
		for _, s := range scalars(c, n, where) {
			list = append(list, s.Value)
		}
		return []match.Op{{Kind: match.In, List: list}}
	case yaml.MappingNode:
	default:
		c.at(n, "%s: expected a value, a list or a mapping of operators, found %s", where, kind(n))
		return nil
	}
	kvs := pairs(c, n, where, opKeys)
	cased := false
	for _, kv := range kvs {
		if kv.key.Value == "case_sensitive" {
			b, ok := boolValue(kv.val)
			if !ok {
				c.at(kv.val, "%s.case_sensitive: expected true or false, found %s", where, kind(kv.val))
			}
			cased = b
		}
	}
	var out []match.Op
	for _, kv := range kvs {
		w := where + "." + kv.key.Value
		op := match.Op{Cased: cased}
		switch kv.key.Value {
		case "case_sensitive":
			continue
		case "equals", "contains", "startswith", "endswith":
			op.Kind = map[string]match.OpKind{"equals": match.Equals, "contains": match.Contains, "startswith": match.StartsWith, "endswith": match.EndsWith}[kv.key.Value]
			if kv.val.Kind != yaml.ScalarNode || kv.val.Tag == "!!null" {
				c.at(kv.val, "%s: expected one value, found %s", w, kind(kv.val))
				continue
			}
			op.Str = kv.val.Value
		case "regex":
			op.Kind = match.Regex
			if kv.val.Kind != yaml.ScalarNode {
				c.at(kv.val, "%s: expected a regular expression, found %s", w, kind(kv.val))
				continue
			}
			expr := kv.val.Value
			if !cased {
				// Like the other operators, regexes ignore case
				// unless case_sensitive is set.
				expr = "(?i)" + expr
			}
			re, err := regexp.Compile(expr)
			if err != nil {
				c.at(kv.val, "%s: invalid RE2 regular expression: %s", w, strings.TrimPrefix(err.Error(), "error parsing regexp: "))
				continue
			}
			op.Re = re
		case "in":
			op.Kind = match.In
			if kv.val.Kind != yaml.SequenceNode {
				c.at(kv.val, "%s: expected a list, found %s", w, kind(kv.val))
				continue
			}
			for _, s := range scalars(c, kv.val, w) {
				op.List = append(op.List, s.Value)
			}
		case "not":
			op.Kind = match.Not
			op.Sub = ops(c, kv.val, w, depth+1)
			if len(op.Sub) == 0 {
				continue
			}
		case "exists":
			op.Kind = match.Exists
			b, ok := boolValue(kv.val)
			if !ok {
				c.at(kv.val, "%s: expected true or false, found %s", w, kind(kv.val))
				continue
			}
			op.Exists = b
		case "gt", "lt":
			op.Kind = match.Gt
			if kv.key.Value == "lt" {
				op.Kind = match.Lt
			}
			f, ok := number(kv.val)
			if !ok {
				c.at(kv.val, "%s: expected a number, found %s", w, kind(kv.val))
				continue
			}
			op.Num, op.Str = f, kv.val.Value // Str keeps integers above 2^53 exact
		}
		out = append(out, op)
	}
	if len(n.Content) == 0 || len(n.Content) == 2 && n.Content[0].Value == "case_sensitive" {
		c.at(n, "%s: needs an operator (%s)", where, strings.Join(names(opKeys[:len(opKeys)-1]), ", "))
	}
	return out
}

func boolValue(n *yaml.Node) (bool, bool) {
	if n.Kind != yaml.ScalarNode {
		return false, false
	}
	switch strings.ToLower(n.Value) {
	case "true", "yes", "on":
		return true, true
	case "false", "no", "off":
		return false, true
	}
	return false, false
}

func number(n *yaml.Node) (float64, bool) {
	if n.Kind != yaml.ScalarNode {
		return 0, false
	}
	f, ok := match.ParseNumber(n.Value)
	return f, ok && !math.IsNaN(f) && !math.IsInf(f, 0)
}

// nodeHash fingerprints a node's YAML, to tell changed rules on reload.
func nodeHash(n *yaml.Node) string {
	b, err := yaml.Marshal(n)
	if err != nil {
		return ""
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:8])
}

var sourceKeys = []keyDoc{
	{"name", "Stable name of the source; its read positions are kept under it (default: folder:PATH or channel:NAME)."},
	{"folder", "A drop folder: exported event files (.xml, .txt, .evtx) copied into it are read once each, new events appended to a file too."},
	{"settle", "Folder sources: how long a file must be quiet before it is read, such as 25ms (default); a cut end waits 2s more before it is reported."},
	{"channel", "A Windows event log channel read live, such as Microsoft-Windows-Backup or Application (Windows only; Admin and Operational channels, not Analytic or Debug)."},
	{"providers", "Channel sources: only these providers' events, such as [Microsoft-Windows-Backup]; checked on every event."},
	{"query", "Channel sources, for experts: an XPath filter or a <QueryList> passed to Windows as is, instead of the pre-filter logmedic builds from the rules."},
	{"start", "Channel sources: bookmark (default: resume where the last run stopped), now (ignore the saved position) or oldest (a first run reads the whole channel)."},
	{"lookback", "Channel sources: how far back a start without a saved position reads, such as 24h (default) so a reboot does not hide last night's failure; 0s reads only new events."},
	{"on_stale_bookmark", "Channel sources: oldest (default) or now: where reading resumes when the saved position is no longer in the log (it was cleared or wrapped); a possible loss is logged and counted either way."},
	{"batch", "Channel sources: events per read from Windows, 1 to 1024 (default 64); halved automatically when Windows says a batch is too big."},
	{"locale", "Channel sources: the Windows locale ID messages are rendered in, such as 1033 for en-US (default 0: the system's)."},
}

func parseSources(c *errs, n *yaml.Node) []Source {
	if n.Kind != yaml.SequenceNode {
		c.at(n, "sources: expected a list of sources, found %s", kind(n))
		return nil
	}
	var out []Source
	names := map[string]*yaml.Node{}
	for i := range n.Content {
		sn := resolve(&n.Content[i])
		where := fmt.Sprintf("sources[%d]", i)
		if sn.Kind != yaml.MappingNode {
			c.at(sn, "%s: expected a mapping such as {folder: /path}, found %s", where, kind(sn))
			continue
		}
		src := Source{Line: sn.Line, Col: sn.Column, Settle: 25 * time.Millisecond, Start: "bookmark", OnStale: "oldest", Lookback: 24 * time.Hour, Batch: 64}
		var nameNode, channelNode *yaml.Node
		var channelOnly []*pair
		kinds := 0
		kvs := pairs(c, sn, where, sourceKeys)
		for i := range kvs {
			kv := &kvs[i]
			switch kv.key.Value {
			case "name":
				src.Name, nameNode = kv.val.Value, kv.val
			case "folder":
				kinds++
				if kv.val.Kind != yaml.ScalarNode || kv.val.Value == "" {
					c.at(kv.val, "%s.folder: expected a directory path, found %s", where, kind(kv.val))
					continue
				}
				src.Folder = kv.val.Value
			case "settle":
				if err := kv.val.Decode(&src.Settle); err != nil || src.Settle <= 0 || src.Settle > time.Minute {
					c.at(kv.val, "%s.settle: expected a duration from 1ms to 1m, such as 25ms, found %s", where, kind(kv.val))
				}
			case "channel":
				kinds++
				channelNode = kv.val
				src.Channel = parseChannel(c, kv.val, where)
			default:
				channelOnly = append(channelOnly, kv)
				parseChannelKey(c, kv, where, &src)
			}
		}
		if kinds != 1 {
			c.at(sn, "%s: needs exactly one of folder or channel", where)
			continue
		}
		if src.Folder != "" {
			for _, kv := range channelOnly {
				c.at(kv.key, "%s.%s: only for channel sources", where, kv.key.Value)
			}
		}
		if src.Channel != "" {
			if runtime.GOOS != "windows" && !c.skipHostChecks {
				c.at(channelNode, "%s.channel: event log channels can only be read on Windows (this is %s); use a folder source for exported files, or validate with --skip-host-checks", where, runtime.GOOS)
			}
			if src.Name == "" {
				src.Name = "channel:" + src.Channel
				nameNode = sn
			}
		}
		if src.Folder == "" && src.Channel == "" {
			continue
		}
		if src.Name == "" && src.Folder != "" {
			src.Name = "folder:" + src.Folder
			nameNode = sn
		}
		if prev, ok := names[src.Name]; ok {
			c.at(nameNode, "%s: source name %q used twice (first at %d:%d)", where, src.Name, prev.Line, prev.Column)
			continue
		}
		names[src.Name] = nameNode
		out = append(out, src)
	}
	return out
}

// parseChannel checks a channel name: Windows cannot subscribe to
// Analytic and Debug channels (EvtSubscribe fails with
// ERROR_EVT_INVALID_CHANNEL_TYPE), whose names end so by convention.
func parseChannel(c *errs, n *yaml.Node, where string) string {
	if n.Kind != yaml.ScalarNode || strings.TrimSpace(n.Value) == "" {
		c.at(n, "%s.channel: expected a channel name such as Microsoft-Windows-Backup, found %s", where, kind(n))
		return ""
	}
	name := strings.TrimSpace(n.Value)
	if i := strings.LastIndexByte(name, '/'); i >= 0 {
		if t := strings.ToLower(name[i+1:]); t == "analytic" || t == "debug" {
			c.at(n, "%s.channel: %s is %s channel; Windows delivers live events only from Admin and Operational channels", where, name, map[string]string{"analytic": "an Analytic", "debug": "a Debug"}[t])
			return ""
		}
	}
	return name
}

// parseChannelKey reads the keys only channel sources have.
func parseChannelKey(c *errs, kv *pair, where string, src *Source) {
	key, v := kv.key.Value, kv.val
	switch key {
	case "providers":
		if v.Kind == yaml.ScalarNode && v.Value != "" {
			src.Providers = []string{v.Value}
			return
		}
		if v.Kind != yaml.SequenceNode || len(v.Content) == 0 {
			c.at(v, "%s.providers: expected a list of provider names such as [Microsoft-Windows-Backup], found %s", where, kind(v))
			return
		}
		for _, p := range v.Content {
			if p.Kind != yaml.ScalarNode || strings.TrimSpace(p.Value) == "" {
				c.at(p, "%s.providers: expected a provider name, found %s", where, kind(p))
				continue
			}
			src.Providers = append(src.Providers, strings.TrimSpace(p.Value))
		}
	case "query":
		q := strings.TrimSpace(v.Value)
		if v.Kind != yaml.ScalarNode || q == "" {
			c.at(v, "%s.query: expected an XPath such as *[System[EventID=5]] or a <QueryList>, found %s", where, kind(v))
			return
		}
		if strings.HasPrefix(q, "<") {
			var x struct{}
			if err := xml.Unmarshal([]byte(q), &x); err != nil || !strings.HasPrefix(strings.ToLower(q), "<querylist") {
				c.at(v, "%s.query: a query starting with < must be a well-formed <QueryList>...</QueryList>", where)
				return
			}
		}
		src.Query = q
	case "start":
		if v.Value != "bookmark" && v.Value != "now" && v.Value != "oldest" {
			c.at(v, "%s.start: expected bookmark, now or oldest, found %q", where, v.Value)
			return
		}
		src.Start = v.Value
	case "on_stale_bookmark":
		if v.Value != "oldest" && v.Value != "now" {
			c.at(v, "%s.on_stale_bookmark: expected oldest or now, found %q", where, v.Value)
			return
		}
		src.OnStale = v.Value
	case "lookback":
		if err := v.Decode(&src.Lookback); err != nil || src.Lookback < 0 {
			c.at(v, "%s.lookback: expected a duration such as 24h or 0s, found %s", where, kind(v))
		}
	case "batch":
		if err := v.Decode(&src.Batch); err != nil || src.Batch < 1 || src.Batch > 1024 {
			c.at(v, "%s.batch: expected a number from 1 to 1024, found %s", where, kind(v))
		}
	case "locale":
		var lcid uint32
		if err := v.Decode(&lcid); err != nil || lcid > 0xFFFF {
			c.at(v, "%s.locale: expected a Windows locale ID such as 1033, found %s", where, kind(v))
			return
		}
		src.Locale = lcid
	}
}
