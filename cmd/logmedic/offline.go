package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/logmedic/logmedic/config"
	"github.com/logmedic/logmedic/handlers"
	"github.com/logmedic/logmedic/handlers/outbox"
	"github.com/logmedic/logmedic/watcher"
	"github.com/logmedic/logmedic/watcher/decode"
	"github.com/logmedic/logmedic/watcher/hresult"
	"github.com/logmedic/logmedic/watcher/input"
	"github.com/logmedic/logmedic/watcher/match"
	"github.com/logmedic/logmedic/watcher/winevt"
)

func cmdValidate(args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("validate", "-c FILE", stderr)
	cfgPath := fs.String("c", "", "configuration `FILE`")
	fs.StringVar(cfgPath, "config", "", "configuration `FILE` (same as -c)")
	skipHost := fs.Bool("skip-host-checks", false, "do not check what only the machine that runs the configuration can tell: secrets' variables and files, scripts' programs")
	pos, err := parseInterspersed(fs, args)
	if err != nil {
		return usageErr(stderr, err)
	}
	if *cfgPath == "" && len(pos) == 1 {
		*cfgPath, pos = pos[0], nil
	}
	if *cfgPath == "" || len(pos) > 0 {
		fs.Usage()
		return exitUsage
	}
	cfg, err := config.LoadWith(*cfgPath, config.Options{SkipHostChecks: *skipHost})
	if err != nil {
		fmt.Fprintln(stderr, err)
		return exitFail
	}
	fmt.Fprintf(stdout, "%s: %d rules, %d handlers, valid\n", *cfgPath, len(cfg.Rules), len(cfg.Handlers))
	return exitOK
}

func cmdTest(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	fs := newFlagSet("test", "-c FILE [--format text|json] INPUT... | -c FILE --explain-query", stderr)
	cfgPath := fs.String("c", "", "configuration `FILE`")
	fs.StringVar(cfgPath, "config", "", "configuration `FILE` (same as -c)")
	format := fs.String("format", "text", "output `format`: text, or json (one object per event per line)")
	dryRun := fs.Bool("dry-run", false, "also show each action fully rendered (URL, headers, body, argv, env), secrets redacted, without sending")
	enqueue := fs.Bool("enqueue", false, "write the actions to the outbox, for 'logmedic outbox deliver' or the daemon (replayed events are ignored)")
	stateDir := fs.String("state-dir", "", "state `directory` holding the outbox (default: the config's state_dir, else the platform's)")
	explainQuery := fs.Bool("explain-query", false, "print the query each channel source subscribes with, and why, instead of reading inputs")
	inputs, err := parseInterspersed(fs, args)
	if err != nil {
		return usageErr(stderr, err)
	}
	if *explainQuery && *cfgPath != "" && len(inputs) == 0 {
		cfg, err := config.LoadWith(*cfgPath, config.Options{SkipHostChecks: true})
		if err != nil {
			fmt.Fprintln(stderr, err)
			return exitUsage
		}
		explainQueries(stdout, cfg)
		return exitOK
	}
	if *cfgPath == "" || len(inputs) == 0 || *explainQuery || (*format != "text" && *format != "json") {
		if *format != "text" && *format != "json" {
			fmt.Fprintf(stderr, "logmedic test: unknown format %q\n", *format)
		}
		fs.Usage()
		return exitUsage
	}
	// Secrets are needed only to enqueue for real delivery; the report and
	// the dry run work on a machine without them.
	cfg, err := config.LoadWith(*cfgPath, config.Options{SkipHostChecks: !*enqueue})
	if err != nil {
		fmt.Fprintln(stderr, err)
		return exitUsage
	}
	m := match.New(cfg.MatchRules())
	w := bufio.NewWriter(stdout)
	defer w.Flush()
	r := &reporter{w: w, json: *format == "json", enc: json.NewEncoder(w)}
	r.enc.SetEscapeHTML(false)
	var built map[string]handlers.Handler
	var store *outbox.Store
	if *dryRun || *enqueue {
		// No handler state in a dry run: nothing is sent.
		built, err = cfg.BuildHandlers(func(string) handlers.Options { return handlers.Options{Logger: zap.NewNop()} })
		if err != nil {
			fmt.Fprintln(stderr, "logmedic test:", err)
			return exitUsage
		}
		r.built, r.dryRun = built, *dryRun
	}
	if *enqueue {
		store, err = outbox.Open(config.OutboxPath(config.StateDir(*stateDir, cfg)))
		if err != nil {
			fmt.Fprintln(stderr, "logmedic test:", err)
			return exitFail
		}
		defer store.Close()
	}
	var matches []match.Match
	err = input.Paths(inputs, stdin, func(ev *watcher.Event, pos decode.Pos, err error) error {
		if err != nil {
			r.failed++
			return r.fail(err)
		}
		r.events++
		matches = m.Match(ev, matches[:0])
		if len(matches) > 0 {
			r.matched++
		}
		var batches []outbox.Batch
		if built != nil {
			batches, err = cfg.Batches(ev, pos.Source, matches, built, time.Now().UTC())
			if err != nil {
				return err
			}
		}
		// The report (and dry run) first: Accept prepares the actions.
		if err := r.event(ev, pos, matches, batches); err != nil {
			return err
		}
		if store != nil && len(batches) > 0 {
			res, err := store.Accept(batches)
			if err != nil {
				return err
			}
			r.queued += res.Queued
			r.replayed += res.Replayed
			r.suppressed += res.Suppressed
			r.unprepared += res.Failed
		}
		return nil
	})
	if err != nil {
		fmt.Fprintln(stderr, "logmedic test:", err)
		return exitFail
	}
	if !r.json {
		fmt.Fprintf(w, "%d events, %d matched a rule, %d inputs or parts could not be decoded\n", r.events, r.matched, r.failed)
	}
	if store != nil {
		fmt.Fprintf(stderr, "outbox: %d actions queued, %d already known (replayed), %d matches suppressed by dedup windows, %d could not be prepared (dead letters)\n", r.queued, r.replayed, r.suppressed, r.unprepared)
	}
	if r.failed > 0 {
		return exitFail
	}
	return exitOK
}

type reporter struct {
	w                       *bufio.Writer
	json                    bool
	enc                     *json.Encoder
	built                   map[string]handlers.Handler // set with --dry-run or --enqueue
	dryRun                  bool
	events, matched, failed int
	queued, replayed        int
	suppressed, unprepared  int
}

// result is one line of --format json: a stable contract for CI scripts.
type result struct {
	Source     string        `json:"source"`
	Position   string        `json:"position,omitempty"`
	RecordID   uint64        `json:"record_id"`
	Time       string        `json:"time,omitempty"`
	Computer   string        `json:"computer"`
	Channel    string        `json:"channel"`
	Provider   string        `json:"provider"`
	EventID    uint32        `json:"event_id"`
	Level      string        `json:"level"`
	ErrorCodes []string      `json:"error_codes"`
	Rules      []string      `json:"rules"`
	Matches    []matchDetail `json:"matches"`
	Actions    []actionView  `json:"actions,omitempty"` // --dry-run
}

// actionView is one action as --dry-run shows it.
type actionView struct {
	Rule     string            `json:"rule"`
	Handler  string            `json:"handler"`
	ID       string            `json:"id"`
	DedupKey string            `json:"dedup_key"`
	Request  *handlers.Preview `json:"request,omitempty"`
	Error    string            `json:"error,omitempty"`
}

type matchDetail struct {
	Rule    string   `json:"rule"`
	Reasons []string `json:"reasons"`
}

type failure struct {
	Source   string `json:"source"`
	Position string `json:"position,omitempty"`
	Error    string `json:"error"`
}

func (r *reporter) fail(err error) error {
	f := failure{Error: err.Error()}
	if de, ok := err.(*decode.Error); ok {
		f.Source = de.Source
		switch {
		case de.Line > 0:
			f.Position = fmt.Sprintf("%d:%d", de.Line, de.Col)
		case de.Where != "":
			f.Position = de.Where
		}
	}
	if r.json {
		return r.enc.Encode(f)
	}
	_, err = fmt.Fprintf(r.w, "ERROR %s\n\n", f.Error)
	return err
}

func (r *reporter) event(ev *watcher.Event, pos decode.Pos, matches []match.Match, batches []outbox.Batch) error {
	codes := uniqueCodes(ev)
	codeText := make([]string, len(codes))
	for i, c := range codes {
		codeText[i] = watcher.FormatCode(c)
	}
	res := result{
		Source:     pos.Source,
		Position:   pos.String(),
		RecordID:   ev.RecordID,
		Computer:   ev.Computer,
		Channel:    ev.Channel,
		Provider:   ev.Provider.Name,
		EventID:    ev.EventID,
		Level:      watcher.LevelName(ev.Level),
		ErrorCodes: codeText,
		Rules:      []string{},
		Matches:    []matchDetail{},
	}
	if !ev.TimeCreated.IsZero() {
		res.Time = ev.TimeCreated.UTC().Format(time.RFC3339Nano)
	}
	for _, m := range matches {
		res.Rules = append(res.Rules, m.Rule.Name)
		res.Matches = append(res.Matches, matchDetail{Rule: m.Rule.Name, Reasons: match.Explain(m.Rule, ev)})
	}
	var prepErrs map[string]error
	if len(batches) > 0 && r.dryRun {
		prepErrs = config.Prepare(batches)
	}
	for _, b := range batches {
		for _, a := range b.Actions {
			v := actionView{Rule: a.Rule, Handler: a.Handler, ID: a.ID, DedupKey: a.DedupKey}
			if err := prepErrs[a.ID]; err != nil {
				v.Error = err.Error()
			} else if p, ok := r.built[a.Handler].(handlers.Previewer); ok {
				pv, err := p.Preview(a)
				if err != nil {
					v.Error = err.Error()
				} else {
					v.Request = &pv
				}
			}
			res.Actions = append(res.Actions, v)
		}
	}
	if r.json {
		return r.enc.Encode(res)
	}
	fmt.Fprintf(r.w, "%s:%s: event %d (%s) from %s in %s", res.Source, res.Position, res.EventID, res.Level, orDash(res.Provider), orDash(res.Channel))
	if res.Computer != "" {
		fmt.Fprintf(r.w, " on %s", res.Computer)
	}
	fmt.Fprintf(r.w, ", record %d", res.RecordID)
	if res.Time != "" {
		fmt.Fprintf(r.w, ", %s", res.Time)
	}
	fmt.Fprintln(r.w)
	if len(codes) > 0 {
		parts := make([]string, len(codes))
		for i, c := range codes {
			parts[i] = codeText[i] + " (" + hresult.Summary(c) + ")"
		}
		fmt.Fprintf(r.w, "  error codes: %s\n", strings.Join(parts, "; "))
	}
	if len(matches) == 0 {
		fmt.Fprintln(r.w, "  no rule matched")
	}
	for _, md := range res.Matches {
		fmt.Fprintf(r.w, "  MATCH %s\n", md.Rule)
		for _, why := range md.Reasons {
			fmt.Fprintf(r.w, "    - %s\n", why)
		}
		for _, a := range res.Actions {
			if a.Rule == md.Rule {
				printAction(r.w, a)
			}
		}
	}
	_, err := fmt.Fprintln(r.w)
	return err
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// uniqueCodes returns the event's codes sorted and unique.
func uniqueCodes(ev *watcher.Event) []uint32 {
	var vals []uint32
	for _, c := range ev.Codes() {
		vals = append(vals, c.Value)
	}
	slices.Sort(vals)
	return slices.Compact(vals)
}

func cmdExplain(args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("explain", "CODE... | --list", stderr)
	list := fs.Bool("list", false, "list every code logmedic knows")
	// Signed decimal codes (-2139619148) look like flags, so codes and the
	// one flag are told apart by hand, keeping the codes' order.
	var codes []string
	for _, a := range args {
		switch {
		case a == "-list" || a == "--list":
			*list = true
		case a == "-h" || a == "-help" || a == "--help":
			fs.Usage()
			return exitUsage
		case len(a) > 1 && a[0] == '-' && (a[1] < '0' || a[1] > '9'):
			fmt.Fprintf(stderr, "logmedic explain: unknown flag %s\n", a)
			fs.Usage()
			return exitUsage
		default:
			codes = append(codes, a)
		}
	}
	if *list {
		for _, e := range hresult.Known() {
			name := e.Name
			if name != "" {
				name += ": "
			}
			fmt.Fprintf(stdout, "%s  %s%s\n", watcher.FormatCode(e.Code), name, e.Meaning)
		}
		return exitOK
	}
	if len(codes) == 0 {
		fs.Usage()
		return exitUsage
	}
	status := exitOK
	for i, s := range codes {
		v, err := watcher.ParseCode(s)
		if err != nil {
			fmt.Fprintf(stderr, "logmedic explain: %q is not an error code; give it as 0x807800B4, 807800B4, 2155348148, -2139619148 or %%%%2155348148\n", s)
			status = exitUsage
			continue
		}
		if i > 0 {
			fmt.Fprintln(stdout)
		}
		fmt.Fprint(stdout, hresult.Explain(v))
	}
	return status
}

func cmdSchema(args []string, stdout, stderr io.Writer) int {
	if len(args) > 0 {
		fmt.Fprintf(stderr, "logmedic schema: takes no arguments, got %q\n", strings.Join(args, " "))
		return exitUsage
	}
	stdout.Write(config.Schema())
	return exitOK
}

// printAction shows a --dry-run action for people.
func printAction(w io.Writer, a actionView) {
	fmt.Fprintf(w, "    ACTION %s (id %s, dedup key %q)\n", a.Handler, a.ID, a.DedupKey)
	if a.Error != "" {
		fmt.Fprintf(w, "      cannot preview: %s\n", a.Error)
		return
	}
	p := a.Request
	if p == nil {
		return
	}
	if p.Note != "" {
		fmt.Fprintf(w, "      %s\n", p.Note)
	}
	if p.Method != "" || p.URL != "" {
		fmt.Fprintf(w, "      %s %s\n", p.Method, p.URL)
	}
	keys := make([]string, 0, len(p.Headers))
	for k := range p.Headers {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		fmt.Fprintf(w, "      %s: %s\n", k, p.Headers[k])
	}
	if len(p.Argv) > 0 {
		fmt.Fprintf(w, "      argv: %q\n", p.Argv)
	}
	if p.Dir != "" {
		fmt.Fprintf(w, "      dir: %s\n", p.Dir)
	}
	for _, e := range p.Env {
		fmt.Fprintf(w, "      env: %s\n", e)
	}
	if p.Stdin != "" {
		fmt.Fprintf(w, "      stdin: %s\n", indent(p.Stdin))
	}
	if p.Body != "" {
		fmt.Fprintf(w, "      body: %s\n", indent(p.Body))
	}
}

func indent(s string) string {
	return strings.ReplaceAll(strings.TrimRight(s, "\n"), "\n", "\n            ")
}

// explainQueries prints, for each channel source, the query it
// subscribes with: the pre-filter built from the rules (or "*", and why)
// or the source's own query.
func explainQueries(w io.Writer, cfg *config.Config) {
	n := 0
	for _, s := range cfg.Sources {
		if s.Channel == "" {
			continue
		}
		n++
		fmt.Fprintf(w, "source %s (channel %s):\n", s.Name, s.Channel)
		if s.Query != "" {
			fmt.Fprintf(w, "  query: the source's own, passed as is:\n    %s\n", s.Query)
		} else {
			p := winevt.BuildPrefilter(s.Channel, s.Providers, cfg.MatchRules())
			if p.Query == "*" {
				why := p.Reason
				if why == "" {
					why = "nothing to narrow"
				}
				fmt.Fprintf(w, "  query: * (every event; %s)\n", why)
			} else {
				fmt.Fprintf(w, "  query: %d clauses (Windows accepts about 20):\n    %s\n", p.Clauses, p.Query)
			}
		}
		if len(s.Providers) > 0 {
			fmt.Fprintf(w, "  providers: %s (checked on every event)\n", strings.Join(s.Providers, ", "))
		}
		fmt.Fprintln(w, "  rules are checked on every event the query lets through; the query only spares Windows rendering the rest")
		if cfg.NeedsMessage() {
			fmt.Fprintln(w, "  messages: rendered (a rule or handler uses them)")
		} else {
			fmt.Fprintln(w, "  messages: not rendered (nothing uses them)")
		}
	}
	if n == 0 {
		fmt.Fprintf(w, "%s has no channel sources\n", cfg.File)
	}
}
