package config

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/logmedic/logmedic/watcher"
	"github.com/logmedic/logmedic/watcher/match"
)

var update = flag.Bool("update", false, "rewrite docs/logmedic.schema.json")

func TestExampleLoads(t *testing.T) {
	cfg, err := LoadWith("../example.yaml", Options{SkipHostChecks: true})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, r := range cfg.Rules {
		got = append(got, r.Name)
	}
	want := []string{"volume-too-large-for-system-image", "system-image-restore-file-not-found", "backup-succeeded",
		"backup-esp-locked", "backup-share-unreachable", "backup-catalog-deleted", "any-backup-error"}
	if !slices.Equal(got, want) {
		t.Errorf("rules %q, want %q", got, want)
	}
	r := cfg.Rules[0].Match
	if !slices.Equal(r.Codes, []uint32{0x807800B4}) || !slices.Equal(r.Channels, []string{"Microsoft-Windows-Backup", "Application"}) || len(r.IDs) != 5 {
		t.Errorf("first rule compiled as %+v", r)
	}
}

func TestParseRule(t *testing.T) {
	in := `
rules:
  - name: anchor-holder
    match: &backup
      channel: Microsoft-Windows-Backup
      provider: Microsoft-Windows-Backup
  - name: all-forms
    match:
      <<: *backup
      event_id: [5, "517-521", " 8 "]
      level: [error, Critical, 3]
      error_code: [0x807800B4, 2155348148, -2139619148, '%%2147942402', 8007007B]
      fields:
        BackupTarget: {startswith: '\\', case_sensitive: true}
        NumOfVolumes: {gt: 1, lt: 0x10}
        State: [12, 14]
        Computer: WS-0142
        Note: {not: {regex: 'temp'}}
        Path: {exists: false}
    actions: []
`
	cfg, err := Parse("c.yaml", []byte(in))
	if err != nil {
		t.Fatal(err)
	}
	r := cfg.Rules[1].Match
	if !slices.Equal(r.Channels, []string{"Microsoft-Windows-Backup"}) || !slices.Equal(r.Providers, []string{"Microsoft-Windows-Backup"}) {
		t.Errorf("merge key not applied: %+v", r)
	}
	if want := []match.IDRange{{Lo: 5, Hi: 5}, {Lo: 517, Hi: 521}, {Lo: 8, Hi: 8}}; !slices.Equal(r.IDs, want) {
		t.Errorf("IDs %v, want %v", r.IDs, want)
	}
	if want := []uint8{watcher.LevelError, watcher.LevelCritical, watcher.LevelWarning}; !slices.Equal(r.Levels, want) {
		t.Errorf("levels %v, want %v", r.Levels, want)
	}
	if want := []uint32{0x807800B4, 0x807800B4, 0x807800B4, 0x80070002, 0x8007007B}; !slices.Equal(r.Codes, want) {
		t.Errorf("codes %x, want %x", r.Codes, want)
	}
	if len(r.Fields) != 6 || !r.Fields[0].Ops[0].Cased || r.Fields[1].Ops[1].Num != 16 || r.Fields[2].Ops[0].Kind != match.In ||
		r.Fields[3].Ops[0].Kind != match.Equals || r.Fields[4].Ops[0].Kind != match.Not || r.Fields[5].Ops[0].Exists {
		t.Errorf("fields compiled as %+v", r.Fields)
	}
	if !r.Fields[4].Ops[0].Sub[0].Re.MatchString("TEMP") {
		t.Error("regex is not case-insensitive by default")
	}
}

func TestRejections(t *testing.T) {
	tests := []struct {
		name, yaml string
		want       []string
	}{
		{"empty file", "", []string{"c.yaml:1:1: the file is empty; it needs a rules: list"}},
		{"top level list", "- a\n", []string{"c.yaml:1:1: the top level must be a mapping"}},
		{"misspelt rules", "rule: []\n", []string{`c.yaml:1:1: the top level: unknown key "rule" (did you mean "rules"?)`, "c.yaml:1:1: missing the rules: list"}},
		{"rules not a list", "rules: {a: 1}\n", []string{"c.yaml:1:8: rules: expected a list of rules, found a mapping"}},
		{"rule not a mapping", "rules:\n  - just-a-name\n", []string{`c.yaml:2:5: rules[0]: expected a rule (a mapping with name and match), found "just-a-name"`}},
		{"unknown rule key", "rules:\n  - name: a\n    matches: {event_id: 5}\n", []string{
			`c.yaml:2:5: rule "a": missing match`, `c.yaml:3:5: rules[0]: unknown key "matches" (did you mean "match"?)`}},
		{"missing name", "rules:\n  - match: {event_id: 5}\n", []string{"c.yaml:2:5: rules[0]: missing name"}},
		{"duplicate names", "rules:\n  - name: a\n    match: {event_id: 5}\n  - name: a\n    match: {event_id: 4}\n", []string{
			`c.yaml:4:11: rule "a": duplicate rule name (first at 2:11)`}},
		{"repeated key", "rules:\n  - name: a\n    match: {event_id: 5, event_id: 4}\n", []string{`c.yaml:3:26: rule "a": match: key "event_id" repeated (first at 3:13)`}},
		{"empty match", "rules:\n  - name: a\n    match: {}\n", []string{`c.yaml:3:12: rule "a": match: needs at least one condition`}},
		{"two documents", "rules: []\n---\nrules:\n  - {name: a, match: {chanel: x}}\n", []string{
			"c.yaml:2:1: a second YAML document (after ---): logmedic reads one"}},
		{"percent inside a quoted value", "rules:\n  - name: a\n    description: \"50% done\" @x\n    match: {event_id: 5}\n", []string{
			"c.yaml:3:29: found character that cannot start any token ('@' cannot start a plain value; quote it)"}},
		{"fields differing in case", "rules:\n  - name: a\n    match:\n      fields: {BackupTarget: x, backuptarget: y}\n", []string{
			`c.yaml:4:33: rule "a": match.fields: field "backuptarget" is "BackupTarget" again (names match without case; first at 4:16)`}},
		{"sources", "sources:\n  - folder: /drop\n  - {folder: /drop}\n  - channel: Microsoft-Windows-Backup\n  - {}\n  - [x]\nrules: []\n", []string{
			`c.yaml:3:5: sources[1]: source name "folder:/drop" used twice (first at 2:5)`,
			`c.yaml:4:14: sources[2].channel: event log channels can only be read on Windows (this is linux); use a folder source for exported files`,
			`c.yaml:5:5: sources[3]: needs exactly one of folder or channel`,
			`c.yaml:6:5: sources[4]: expected a mapping such as {folder: /path}, found a list`}},
		{"cyclic not", "rules:\n  - name: a\n    match:\n      fields:\n        X: &x {not: *x}\n", []string{
			`c.yaml:5:12: rule "a": match.fields.X.not.not.not.not.not.not.not.not.not: not: nested more than 8 deep`}},
		{"self merge", "rules:\n  - name: a\n    match: &m {<<: *m}\n", []string{`c.yaml:3:12: rule "a": match: needs at least one condition`}},
		{"merge of a value", "rules:\n  - name: a\n    match: {<<: 5, event_id: 1}\n", []string{`c.yaml:3:17: rule "a": match: a merge key (<<) takes a mapping or a list of mappings, found "5"`}},
		{"unknown match key", "rules:\n  - name: a\n    match: {chanel: Application}\n", []string{
			`c.yaml:3:13: rule "a": match: unknown key "chanel" (did you mean "channel"?)`}},
		{"channel mapping", "rules:\n  - name: a\n    match: {channel: {x: 1}}\n", []string{
			`c.yaml:3:22: rule "a": match.channel: expected a value or a list of values, found a mapping`}},
		{"empty list", "rules:\n  - name: a\n    match: {provider: []}\n", []string{`c.yaml:3:23: rule "a": match.provider: the list is empty`}},
		{"bad event ids", "rules:\n  - name: a\n    match:\n      event_id: [abc, 70000, \"521-517\", \"5-\"]\n", []string{
			`c.yaml:4:18: rule "a": match.event_id: "abc" is not an event ID`,
			`c.yaml:4:23: rule "a": match.event_id: "70000" is not an event ID`,
			`c.yaml:4:30: rule "a": match.event_id: "521-517" is not an event ID`,
			`c.yaml:4:41: rule "a": match.event_id: "5-" is not an event ID`}},
		{"bad level", "rules:\n  - name: a\n    match: {level: fatal}\n", []string{`c.yaml:3:20: rule "a": match.level: unknown level "fatal"`}},
		{"bad codes", "rules:\n  - name: a\n    match:\n      error_code: [0xZZ, 0x1FFFFFFFF, 0]\n", []string{
			`c.yaml:4:20: rule "a": match.error_code: "0xZZ" is not an error code`,
			`c.yaml:4:26: rule "a": match.error_code: "0x1FFFFFFFF" is not an error code`,
			`c.yaml:4:39: rule "a": match.error_code: 0 is S_OK (success), not an error`}},
		{"unquoted insert", "rules:\n  - name: a\n    match:\n      error_code: %%2155348148\n", []string{
			`c.yaml:4:19: found character that cannot start any token (quote values that start with %, such as '%%2155348148')`}},
		{"tab", "rules:\n\t- name: a\n", []string{"c.yaml:2:1: found character that cannot start any token (a tab: YAML indents with spaces only)"}},
		{"unclosed list", "rules:\n  - name: a\n    match: {event_id: [5, 4}\n", []string{"c.yaml:3:5: did not find expected ',' or ']'"}},
		{"bad regex", "rules:\n  - name: a\n    match:\n      fields:\n        X: {regex: 'a(b'}\n", []string{
			`c.yaml:5:20: rule "a": match.fields.X.regex: invalid RE2 regular expression: missing closing ): ` + "`(?i)a(b`"}},
		{"unknown operator", "rules:\n  - name: a\n    match:\n      fields:\n        X: {contain: b}\n", []string{
			`c.yaml:5:13: rule "a": match.fields.X: unknown key "contain" (did you mean "contains"?)`}},
		{"no operator", "rules:\n  - name: a\n    match:\n      fields:\n        X: {case_sensitive: true}\n", []string{
			`c.yaml:5:12: rule "a": match.fields.X: needs an operator (equals, contains`}},
		{"operator types", "rules:\n  - name: a\n    match:\n      fields:\n        X: {exists: maybe, gt: big, in: one, equals: [a], case_sensitive: 2}\n", []string{
			`c.yaml:5:21: rule "a": match.fields.X.exists: expected true or false, found "maybe"`,
			`c.yaml:5:32: rule "a": match.fields.X.gt: expected a number, found "big"`,
			`c.yaml:5:41: rule "a": match.fields.X.in: expected a list, found "one"`,
			`c.yaml:5:54: rule "a": match.fields.X.equals: expected one value, found a list`,
			`c.yaml:5:75: rule "a": match.fields.X.case_sensitive: expected true or false, found "2"`}},
		{"null condition", "rules:\n  - name: a\n    match:\n      fields:\n        X:\n", []string{`c.yaml:5:11: rule "a": match.fields.X: needs a condition`}},
		{"undefined handler", "rules:\n  - name: a\n    match: {event_id: 5}\n    actions:\n      - handler: helpdesk\n", []string{
			`c.yaml:5:18: rule "a": actions[0]: no handler named "helpdesk"; none are defined under handlers:`}},
		{"handler problems", `handlers:
  audit: {type: log, level: debug}
  ticket: {type: servicenw}
  typeless: {level: info}
  extra: {type: log, levl: info, timeout: soon, concurrency: 0, retry: {max_attempts: x, tries: 3}}
rules: []
`, []string{
			`c.yaml:2:29: handler "audit".level: unknown level "debug"; use info, warn or error`,
			`c.yaml:3:18: handler "ticket".type: unknown handler type "servicenw"`,
			`c.yaml:4:13: handler "typeless": missing type`,
			`c.yaml:5:22: handler "extra": unknown key "levl" (did you mean "level"?)`,
			`c.yaml:5:43: handler "extra".timeout: expected a positive duration such as 30s, found "soon"`,
			`c.yaml:5:62: handler "extra".concurrency: expected a number from 1 to 256, found "0"`,
			`c.yaml:5:87: handler "extra".retry.max_attempts: cannot unmarshal !!str ` + "`x`" + ` into int`,
			`c.yaml:5:90: handler "extra".retry: unknown key "tries"`}},
		{"action problems", `handlers:
  audit: {type: log}
rules:
  - name: a
    match: {event_id: 5}
    dedup: {key: '{{.Computr}}', window: often}
    actions:
      - handler: audt
      - handler: audit
        with: {mesage: x, message: '{{.Rule'}
      - handler: audit
        with: {message: '{{.Data.Nope}}'}
        resolves: [b]
      - {with: {}}
`, []string{
			`c.yaml:6:18: rule "a": dedup.key: template: 1:2: executing "" at <.Computr>: can't evaluate field Computr`,
			`c.yaml:6:42: rule "a": dedup.window: expected a duration such as 24h, found "often"`,
			`c.yaml:8:18: rule "a": actions[0]: no handler named "audt" (did you mean "audit"?); defined: audit`,
			`c.yaml:10:16: rule "a": actions[1].with: handler type log has no parameter "mesage" (did you mean "message"?)`,
			`c.yaml:10:36: rule "a": actions[1].with.message: template: 1: unclosed action`,
			`c.yaml:11:9: rule "a": actions[2].resolves: no rule named "b"`,
			`c.yaml:12:16: rule "a": actions[2]: rendering it for a sample event fails: message: template: 1:7: executing "" at <.Data.Nope>: map has no entry for key "Nope"`,
			`c.yaml:14:9: rule "a": actions[3]: missing handler`}},
		{"actions not a list", "rules:\n  - name: a\n    match: {event_id: 5}\n    actions: helpdesk\n", []string{
			`c.yaml:4:14: rule "a": actions: expected a list, found "helpdesk"`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := Parse("c.yaml", []byte(tt.yaml))
			if cfg != nil {
				t.Errorf("a config was returned with errors")
			}
			var es Errors
			if !errors.As(err, &es) {
				t.Fatalf("err = %v, want Errors", err)
			}
			if len(es) != len(tt.want) {
				t.Fatalf("got %d errors, want %d:\n%v", len(es), len(tt.want), err)
			}
			for i, e := range es {
				if !strings.HasPrefix(e.Error(), tt.want[i]) {
					t.Errorf("error %d:\n got %s\nwant %s...", i, e, tt.want[i])
				}
			}
		})
	}
}

func TestAllErrorsAtOnceInFileOrder(t *testing.T) {
	in := "rules:\n  - name: a\n    match: {level: fatal}\n  - name: b\n    match: {chanel: x}\n  - name: a\n    match: {event_id: -1}\n"
	_, err := Parse("c.yaml", []byte(in))
	var es Errors
	if !errors.As(err, &es) || len(es) != 4 {
		t.Fatalf("err = %v", err)
	}
	for i := 1; i < len(es); i++ {
		if es[i].Line < es[i-1].Line {
			t.Errorf("errors out of order:\n%v", err)
		}
	}
}

func TestAliasBombIsCheap(t *testing.T) {
	// Merges that would expand to 2^24 keys must be walked once each.
	var b strings.Builder
	b.WriteString("rules:\n  - name: m0\n    match: &a0 {event_id: 1}\n")
	for i := 1; i < 25; i++ {
		fmt.Fprintf(&b, "  - name: m%d\n    match: &a%d {<<: [*a%d, *a%d]}\n", i, i, i-1, i-1)
	}
	cfg, err := Parse("c.yaml", []byte(b.String()))
	if err != nil {
		t.Fatal(err)
	}
	if ids := cfg.Rules[24].Match.IDs; len(ids) != 1 {
		t.Errorf("merged IDs %v, want one", ids)
	}
}

func TestLoadMissingFile(t *testing.T) {
	_, err := Load("does-not-exist.yaml")
	if err == nil || !strings.HasPrefix(err.Error(), "does-not-exist.yaml:1:1: open does-not-exist.yaml: no such file") {
		t.Errorf("err = %v", err)
	}
}

func TestSchemaIsCurrent(t *testing.T) {
	got := Schema()
	var v map[string]any
	if err := json.Unmarshal(got, &v); err != nil {
		t.Fatalf("schema is not JSON: %v", err)
	}
	const path = "../docs/logmedic.schema.json"
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s is out of date; run: go test ./config -run Schema -update", path)
	}
	// Every key the loader knows is in the schema.
	s := string(got)
	for _, table := range [][]keyDoc{topKeys, ruleKeys, matchKeys, opKeys, actionKeys} {
		for _, k := range table {
			if !strings.Contains(s, `"`+k.name+`": {`) {
				t.Errorf("schema lacks key %q", k.name)
			}
		}
	}
	ex, err := os.ReadFile("../example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(ex, []byte("# yaml-language-server: $schema=./docs/logmedic.schema.json\n")) {
		t.Error("example.yaml does not start with the yaml-language-server modeline")
	}
}

func FuzzParse(f *testing.F) {
	ex, err := os.ReadFile("../example.yaml")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(ex)
	f.Add([]byte("rules:\n  - name: a\n    match: {fields: {X: {not: {regex: 'a'}}}}\n"))
	f.Add([]byte("a: &x [*x]\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		cfg, err := Parse("f.yaml", data)
		if err == nil {
			if cfg == nil {
				t.Fatal("no config and no error")
			}
			match.New(cfg.MatchRules())
			return
		}
		var es Errors
		if !errors.As(err, &es) || len(es) == 0 {
			t.Fatalf("error %v is not Errors", err)
		}
		for _, e := range es {
			if e.Line < 1 || e.Col < 1 || e.File != "f.yaml" {
				t.Fatalf("error without a position: %#v", e)
			}
		}
	})
}

func TestChannelSources(t *testing.T) {
	const y = `sources:
  - channel: Microsoft-Windows-Backup
  - name: backup-app
    channel: Application
    providers: [Microsoft-Windows-Backup]
    start: oldest
    lookback: 0s
    on_stale_bookmark: now
    batch: 16
    locale: 1033
    query: "*[System[Level<=3]]"
rules:
  - {name: a, match: {event_id: 5}}
`
	cfg, err := ParseWith("c.yaml", []byte(y), Options{SkipHostChecks: true})
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.Sources) != 2 {
		t.Fatalf("got %d sources, want 2", len(cfg.Sources))
	}
	def, app := cfg.Sources[0], cfg.Sources[1]
	if def.Name != "channel:Microsoft-Windows-Backup" || def.Start != "bookmark" || def.Lookback != 24*time.Hour || def.OnStale != "oldest" || def.Batch != 64 {
		t.Errorf("defaults: %+v", def)
	}
	if app.Name != "backup-app" || app.Channel != "Application" || len(app.Providers) != 1 || app.Providers[0] != "Microsoft-Windows-Backup" ||
		app.Start != "oldest" || app.Lookback != 0 || app.OnStale != "now" || app.Batch != 16 || app.Locale != 1033 || app.Query != "*[System[Level<=3]]" {
		t.Errorf("parsed: %+v", app)
	}

	bad := `sources:
  - channel: Microsoft-Windows-Backup/Analytic
  - channel: System
    start: later
    on_stale_bookmark: never
    batch: 0
    locale: en-US
    lookback: -1h
    providers: []
    query: "<QueryList><Query>"
  - folder: /drop
    providers: [x]
rules:
  - {name: a, match: {event_id: 5}}
`
	_, err = ParseWith("c.yaml", []byte(bad), Options{SkipHostChecks: true})
	want := []string{
		"c.yaml:2:14: sources[0].channel: Microsoft-Windows-Backup/Analytic is an Analytic channel",
		`c.yaml:4:12: sources[1].start: expected bookmark, now or oldest, found "later"`,
		`c.yaml:5:24: sources[1].on_stale_bookmark: expected oldest or now, found "never"`,
		"c.yaml:6:12: sources[1].batch: expected a number from 1 to 1024",
		"c.yaml:7:13: sources[1].locale: expected a Windows locale ID such as 1033",
		"c.yaml:8:15: sources[1].lookback: expected a duration such as 24h",
		"c.yaml:9:16: sources[1].providers: expected a list of provider names",
		"c.yaml:10:12: sources[1].query: a query starting with < must be a well-formed <QueryList>",
		"c.yaml:12:5: sources[2].providers: only for channel sources",
	}
	var es Errors
	if !errors.As(err, &es) || len(es) != len(want) {
		t.Fatalf("got %v, want %d errors", err, len(want))
	}
	for i, e := range es {
		if !strings.HasPrefix(e.Error(), want[i]) {
			t.Errorf("error %d:\n got %s\nwant %s...", i, e, want[i])
		}
	}
}

func TestNeedsMessage(t *testing.T) {
	tests := []struct {
		name, yaml string
		want       bool
	}{
		{"codes only", "rules:\n  - {name: a, match: {event_id: 5}, actions: [{handler: w}]}\nhandlers:\n  w: {type: webhook, url: 'http://127.0.0.1:1/x', body: {id: '{{ .EventID }}'}}\n", false},
		{"rule on message", "rules:\n  - {name: a, match: {fields: {message: {contains: disk}}}}\n", true},
		{"handler template", "rules:\n  - {name: a, match: {event_id: 5}, actions: [{handler: w}]}\nhandlers:\n  w: {type: webhook, url: 'http://127.0.0.1:1/x', body: {text: '{{ .Message }}'}}\n", true},
		{"rule template", "rules:\n  - {name: a, match: {event_id: 5}, actions: [{handler: l, with: {message: '{{ .Message }}'}}]}\nhandlers:\n  l: {type: log}\n", true},
		{"webhook default body", "rules:\n  - {name: a, match: {event_id: 5}, actions: [{handler: w}]}\nhandlers:\n  w: {type: webhook, url: 'http://127.0.0.1:1/x'}\n", true},
		{"log only", "rules:\n  - {name: a, match: {event_id: 5}, actions: [{handler: l}]}\nhandlers:\n  l: {type: log}\n", false},
		{"script", "rules:\n  - {name: a, match: {event_id: 5}, actions: [{handler: s}]}\nhandlers:\n  s: {type: script, program: /bin/true}\n", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := ParseWith("c.yaml", []byte(tt.yaml), Options{SkipHostChecks: true})
			if err != nil {
				t.Fatal(err)
			}
			if got := cfg.NeedsMessage(); got != tt.want {
				t.Errorf("NeedsMessage() = %v, want %v", got, tt.want)
			}
		})
	}
}
