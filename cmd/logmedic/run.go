package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/fsnotify/fsnotify"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"gopkg.in/natefinch/lumberjack.v2"

	"github.com/logmedic/logmedic/config"
	"github.com/logmedic/logmedic/handlers"
	"github.com/logmedic/logmedic/handlers/outbox"
	"github.com/logmedic/logmedic/handlers/script"
	"github.com/logmedic/logmedic/internal/metrics"
	"github.com/logmedic/logmedic/internal/perm"
	"github.com/logmedic/logmedic/watcher"
	"github.com/logmedic/logmedic/watcher/match"
	"github.com/logmedic/logmedic/watcher/source"
	"github.com/logmedic/logmedic/watcher/winevt"
)

// cmdRun is the daemon: sources -> decode -> match -> outbox -> handlers.
func cmdRun(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	fs := newFlagSet("run", "-c FILE [--stdin] [--state-dir DIR] [--log-format console|json]", stderr)
	cfgPath := fs.String("c", "", "configuration `FILE`")
	fs.StringVar(cfgPath, "config", "", "configuration `FILE` (same as -c)")
	useStdin := fs.Bool("stdin", false, "also read a stream of event XML from standard input; with no other source, stop when it ends and the outbox is drained")
	stateDir := fs.String("state-dir", "", "state `directory` (default: the config's state_dir, else the platform's)")
	logFormat := fs.String("log-format", "console", "log `format` on standard error: console (for people) or json")
	logFile := fs.String("log-file", "", "also write JSON logs to `FILE`, rotated at 50 MB (5 old files kept, 30 days)")
	httpAddr := fs.String("http", metrics.DefaultAddr, "`address` for /metrics, /healthz and /readyz, or off")
	httpRemote := fs.Bool("http-allow-remote", false, "allow a --http address that is not loopback")
	pos, err := parseInterspersed(fs, args)
	if err != nil {
		return usageErr(stderr, err)
	}
	if *cfgPath == "" || len(pos) > 0 || (*logFormat != "console" && *logFormat != "json") {
		fs.Usage()
		return exitUsage
	}
	// Started by the Windows service control manager, the daemon runs
	// under it: stopped by the service's Stop, with its standard error
	// (which goes nowhere then) reported to the Application log.
	daemon := func(ctx context.Context, stdin io.Reader, logs, errs io.Writer) int {
		return runDaemon(ctx, stdin, logs, errs, *cfgPath, *stateDir, *logFormat, *logFile, *httpAddr, *httpRemote, *useStdin)
	}
	handled, err := runAsService(func(ctx context.Context) error {
		// Its logs go only to --log-file (service install sets it):
		// the Application log, which users can read, gets only why it
		// stopped, not event fields or script output.
		errs := &headWriter{max: 8 << 10}
		if code := daemon(ctx, strings.NewReader(""), io.Discard, errs); code != exitOK {
			return serviceExit{code: code, text: errs.String()}
		}
		return nil
	})
	if handled {
		if err != nil {
			return exitFail
		}
		return exitOK
	}
	if err != nil {
		fmt.Fprintln(stderr, "logmedic run:", err)
		return exitFail
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	return daemon(ctx, stdin, stderr, stderr)
}

// headWriter keeps the first max bytes written to it: a fatal error's
// own words come first.
type headWriter struct {
	mu  sync.Mutex
	max int
	buf []byte
}

func (w *headWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if room := w.max - len(w.buf); room > 0 {
		w.buf = append(w.buf, p[:min(len(p), room)]...)
	}
	return len(p), nil
}

func (w *headWriter) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return string(w.buf)
}

// loadConfig loads the daemon's configuration; tests of the channel
// source on other systems skip the host checks that refuse it there.
var loadConfig = config.Load

// serviceExit is a failed daemon's exit code and what it wrote on
// standard error, for the service control manager and its event log.
type serviceExit struct {
	code int
	text string
}

func (e serviceExit) Error() string {
	if t := strings.TrimSpace(e.text); t != "" {
		return t
	}
	return fmt.Sprintf("logmedic run exited with status %d", e.code)
}

func (e serviceExit) ExitCode() int { return e.code }

// runDaemon is logmedic run until ctx is done.
//
// Logs go to logs (and logFile); a fatal error is written to stderr.
func runDaemon(ctx context.Context, stdin io.Reader, logs, stderr io.Writer, cfgPath, stateDirFlag, logFormat, logFile, httpAddr string, httpRemote, useStdin bool) int {
	if logFile != "" {
		// The log is written, rotated and deleted with the daemon's
		// privileges: its directory is made private like the state
		// directory (and checked with it below).
		if err := perm.MkdirPrivate(filepath.Dir(logFile)); err != nil {
			fmt.Fprintln(stderr, "logmedic run: --log-file:", err)
			return exitFail
		}
	}
	log := daemonLogger(logs, logFormat, logFile)
	defer log.Sync()
	cfg, err := loadConfig(cfgPath)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return exitUsage
	}
	if len(cfg.Sources) == 0 && !useStdin {
		fmt.Fprintf(stderr, "logmedic run: %s has no sources: and --stdin is not set: there is nothing to read\n", cfgPath)
		return exitUsage
	}
	dir := config.StateDir(stateDirFlag, cfg)
	// The configuration can run programs with the daemon's privileges
	// (SYSTEM as a service): it, the scripts it names and the state
	// directory must be changeable only by administrators. The state
	// directory is made private first, so that a new one does not
	// inherit write access for users (C:\ProgramData grants it).
	if err := perm.MkdirPrivate(dir); err != nil {
		fmt.Fprintln(stderr, "logmedic run: state directory:", err)
		return exitFail
	}
	if err := checkPermissions(cfg, cfgPath, dir, logFile); err != nil {
		fmt.Fprintln(stderr, "logmedic run:", err)
		return exitFail
	}
	store, err := outbox.Open(config.OutboxPath(dir))
	if err != nil {
		fmt.Fprintln(stderr, "logmedic run:", err)
		return exitFail
	}
	defer store.Close()

	d := &daemon{cfgPath: cfgPath, logFile: logFile, stateDir: dir, store: store, log: log, started: time.Now().UTC(), stats: map[string]*sourceStatus{}, metrics: metrics.New(), sourcesKick: make(chan struct{}, 1)}
	d.metrics.SetVersion(buildVersion())
	d.metrics.ConfigLoaded()
	d.metrics.SetOutbox(func() (int, int, time.Duration) {
		pending, dead, oldest, err := store.Counts()
		if err != nil || oldest.IsZero() {
			return pending, dead, 0
		}
		return pending, dead, time.Since(oldest)
	})
	st, err := d.build(cfg)
	if err != nil {
		fmt.Fprintln(stderr, "logmedic run:", err)
		return exitFail
	}
	d.state.Store(st)
	d.dispatcher = outbox.NewDispatcher(store, st.routes, 0, log.Named("outbox"))
	d.dispatcher.Observe(func(handler, outcome string) {
		d.metrics.Actions(handler, map[string]metrics.Outcome{"delivered": metrics.Delivered, "retry": metrics.Retry, "dead": metrics.Dead}[outcome], 1)
	})

	if httpAddr != "off" {
		// Bind before reading anything: a busy port is a start-up error.
		ready := func() error {
			if !d.ready.Load() {
				return errors.New("starting or stopping")
			}
			return nil
		}
		served := make(chan error, 1)
		go func() {
			served <- metrics.Serve(ctx, httpAddr, httpRemote, d.metrics.Handler(ready), log.Named("http"))
		}()
		select {
		case err := <-served:
			if err != nil {
				fmt.Fprintln(stderr, "logmedic run: --http:", err)
				return exitFail
			}
		case <-time.After(50 * time.Millisecond): // a busy port fails at once
		}
	}
	var fixed []watcher.Source
	if useStdin {
		fixed = append(fixed, source.NewStdin("stdin", stdin))
	}
	return d.run(ctx, fixed, useStdin && len(cfg.Sources) == 0)
}

// daemon holds the running configuration; a reload swaps it whole.
type daemon struct {
	cfgPath    string
	logFile    string
	stateDir   string
	started    time.Time
	store      *outbox.Store
	dispatcher *outbox.Dispatcher
	log        *zap.Logger
	state      atomic.Pointer[runState]
	mu         sync.Mutex // serializes reloads

	statsMu     sync.Mutex
	statusMu    sync.Mutex // one status write at a time
	statusDirty atomic.Bool
	ready       atomic.Bool
	sourcesKick chan struct{} // the configuration's sources changed
	metrics     *metrics.Metrics
	stats       map[string]*sourceStatus
	lastReload  *reloadStatus
}

// runState is one loaded configuration, ready to use.
type runState struct {
	cfg     *config.Config
	matcher *match.Matcher
	built   map[string]handlers.Handler
	routes  map[string]outbox.Route
}

func (d *daemon) build(cfg *config.Config) (*runState, error) {
	built, routes, err := buildRoutes(cfg, d.store, d.log.Named("handler"))
	if err != nil {
		return nil, err
	}
	return &runState{cfg: cfg, matcher: match.New(cfg.MatchRules()), built: built, routes: routes}, nil
}

// buildRoutes builds the configuration's handlers and the dispatcher's
// routes to them, for the daemon and for logmedic outbox deliver. What a
// script handler runs is checked again right before each run: a file
// made writable after the start is never run.
func buildRoutes(cfg *config.Config, store *outbox.Store, log *zap.Logger) (map[string]handlers.Handler, map[string]outbox.Route, error) {
	built := map[string]handlers.Handler{}
	routes := map[string]outbox.Route{}
	for name, h := range cfg.Handlers {
		b, err := h.Build(handlers.Options{Logger: log.With(zap.String("handler", name)), State: store.KV(name)})
		if err != nil {
			return nil, nil, fmt.Errorf("handler %q: %w", name, err)
		}
		built[name] = b
		r := h.Route(b)
		if sc, ok := h.Config.(*script.Config); ok {
			r.Handler = checkedScript{Handler: b, check: func() error { return perm.Err(perm.Check(scriptTargets(name, sc))) }}
		}
		routes[name] = r
	}
	return built, routes, nil
}

// checkedScript runs a script handler only while what it runs can be
// changed by administrators alone.
type checkedScript struct {
	handlers.Handler
	check func() error
}

func (c checkedScript) Deliver(ctx context.Context, a *handlers.Action) (bool, error) {
	if err := c.check(); err != nil {
		return true, fmt.Errorf("not run: %w", err)
	}
	return c.Handler.Deliver(ctx, a)
}

// run runs the sources (those of the configuration, kept in step with
// it across reloads, and the fixed ones such as standard input) and the
// dispatcher until ctx is done, or until every source has ended on its
// own (standard input closed, or sources failed).
func (d *daemon) run(ctx context.Context, fixed []watcher.Source, exitWhenDone bool) int {
	st := d.state.Load()
	// The dispatcher, the resend loop, the status writer and the
	// configuration watch all end, and are waited for, before run
	// returns and the caller closes the outbox.
	bgCtx, stopBackground := context.WithCancel(context.WithoutCancel(ctx))
	var wg sync.WaitGroup
	defer func() {
		stopBackground()
		wg.Wait()
	}()
	for _, f := range []func(context.Context){
		func(ctx context.Context) { d.dispatcher.Run(ctx) },
		d.resend,
		func(ctx context.Context) { d.writeStatusEvery(ctx, 5*time.Second) },
	} {
		wg.Add(1)
		go func() { defer wg.Done(); f(bgCtx) }()
	}

	rs := &runningSources{d: d, ctx: ctx, running: map[string]*runningSource{}, zombies: map[string]*runningSource{},
		ended: make(chan *runningSource), exit: make(chan struct{})}
	defer rs.stopAll()
	for _, s := range fixed {
		if err := rs.start(s, ""); err != nil {
			d.log.Error("source not started", zap.String("source", s.Name()), zap.Error(err))
			return exitFail
		}
	}
	if errs := rs.reconcile(st); len(errs) > 0 {
		// At start a source that cannot run is an error, as a bad
		// configuration is; after a reload it is logged and retried at
		// the next one.
		return exitFail
	}
	watchCtx, stopWatch := context.WithCancel(ctx)
	wg.Add(1)
	go func() { defer wg.Done(); d.watchConfig(watchCtx) }()
	d.ready.Store(true)
	// Started: every source is reading (its folder exists), the
	// configuration is watched.
	d.log.Info("logmedic started", zap.String("config", d.cfgPath), zap.Int("sources", len(st.cfg.Sources)+len(fixed)),
		zap.Int("rules", len(st.cfg.Rules)), zap.Int("handlers", len(st.built)))

	status := exitOK
wait:
	for {
		select {
		case r := <-rs.ended:
			if r.stopping {
				// Stopped for a new configuration. One that had not
				// stopped in time may now have a successor.
				if r.err != nil && !errors.Is(r.err, context.Canceled) {
					d.log.Error("source stopped", zap.String("source", r.src.Name()), zap.Error(r.err))
				}
				if rs.zombies[r.src.Name()] == r {
					delete(rs.zombies, r.src.Name())
					rs.reconcile(d.state.Load())
				}
				continue
			}
			delete(rs.running, r.src.Name())
			if r.err != nil && !errors.Is(r.err, context.Canceled) {
				d.log.Error("source stopped", zap.String("source", r.src.Name()), zap.Error(r.err))
				status = exitFail
			}
			if len(rs.running) == 0 {
				break wait
			}
		case <-d.sourcesKick:
			rs.reconcile(d.state.Load())
		case <-ctx.Done():
			break wait
		}
	}
	stopWatch()
	if len(rs.running) == 0 && exitWhenDone && status == exitOK {
		// Standard input ended: deliver what is due, then stop.
		if err := d.dispatcher.Drain(ctx); err != nil && !errors.Is(err, context.Canceled) {
			d.log.Error("draining the outbox failed", zap.Error(err))
		}
	}
	d.log.Info("logmedic stopping")
	d.ready.Store(false)
	rs.stopAll()
	stopBackground()
	wg.Wait()
	d.writeStatus()
	d.log.Info("logmedic stopped")
	return status
}

// runningSources are the daemon's running sources. Only run's goroutine
// uses it.
type runningSources struct {
	d       *daemon
	ctx     context.Context
	running map[string]*runningSource
	// zombies are sources told to stop that have not yet: no successor
	// of the same name starts until they have (two readers of one
	// source would act twice and move its position back).
	zombies map[string]*runningSource
	ended   chan *runningSource
	exit    chan struct{} // closed by stopAll: nobody reads ended any more
	stopped bool
}

type runningSource struct {
	src      watcher.Source
	key      string // what it reads, for reconcile; "" for a fixed source
	cancel   context.CancelFunc
	done     chan struct{}
	err      error // set before done is closed
	stopping bool  // stopped by reconcile or stopAll
}

// stopWait is how long a source may take to stop; one that takes longer
// is left running, logged, and not replaced until it stops.
const stopWait = 30 * time.Second

// start runs src from its committed positions.
func (rs *runningSources) start(src watcher.Source, key string) error {
	cps, err := rs.d.store.Positions(src.Name())
	if err != nil {
		return fmt.Errorf("read its positions: %w", err)
	}
	ctx, cancel := context.WithCancel(rs.ctx)
	r := &runningSource{src: src, key: key, cancel: cancel, done: make(chan struct{})}
	rs.running[src.Name()] = r
	rs.d.metrics.Events(src.Name(), 0, 0)
	go func() {
		r.err = src.Run(ctx, cps, rs.d.emit(src.Name()))
		close(r.done)
		select {
		case rs.ended <- r:
		case <-rs.exit:
		}
	}()
	return nil
}

// stop stops the sources rs together and waits for them, up to stopWait
// in all, or until the daemon is stopping: their last batches are
// committed or not at all, so successors resume at the right place. One
// that has not stopped by then is a zombie until it does.
func (rs *runningSources) stop(sources []*runningSource) {
	for _, r := range sources {
		r.stopping = true
		r.cancel()
		delete(rs.running, r.src.Name())
	}
	deadline := time.NewTimer(stopWait)
	defer deadline.Stop()
	for i, r := range sources {
		select {
		case <-r.done:
			continue
		case <-deadline.C:
		case <-rs.ctx.Done():
		}
		for _, z := range sources[i:] {
			select {
			case <-z.done:
			default:
				rs.zombies[z.src.Name()] = z
				rs.d.log.Error("source has not stopped; it is not restarted until it does", zap.String("source", z.src.Name()))
			}
		}
		return
	}
}

// stopAll stops every source, zombies included, and waits for them (up
// to stopWait). It is safe to call twice.
func (rs *runningSources) stopAll() {
	if rs.stopped {
		return
	}
	rs.stopped = true
	all := make([]*runningSource, 0, len(rs.running)+len(rs.zombies))
	for _, r := range rs.running {
		all = append(all, r)
	}
	for _, r := range rs.zombies {
		all = append(all, r)
	}
	clear(rs.zombies)
	for _, r := range all {
		r.stopping = true
		r.cancel()
	}
	deadline := time.After(stopWait)
	for _, r := range all {
		select {
		case <-r.done:
		case <-deadline:
			rs.d.log.Error("source did not stop within 30s", zap.String("source", r.src.Name()))
		}
	}
	clear(rs.running)
	close(rs.exit)
}

// reconcile makes the running configuration sources those of st: stops
// the ones gone or changed, then starts the new or changed ones, each
// from its committed positions. It returns the errors of sources that
// could not start.
func (rs *runningSources) reconcile(st *runState) []error {
	if rs.stopped {
		return nil
	}
	want := map[string]string{}
	for _, s := range st.cfg.Sources {
		want[s.Name] = sourceKey(s, st.cfg)
	}
	var stop []*runningSource
	for name, r := range rs.running {
		if r.key == "" {
			continue // a fixed source
		}
		if k, ok := want[name]; !ok || k != r.key {
			stop = append(stop, r)
		}
	}
	rs.stop(stop)
	for _, r := range stop {
		rs.d.log.Info("source stopped for the new configuration", zap.String("source", r.src.Name()))
	}
	var errs []error
	for _, s := range st.cfg.Sources {
		if _, ok := rs.running[s.Name]; ok {
			continue
		}
		if _, ok := rs.zombies[s.Name]; ok {
			continue // started once its predecessor has stopped
		}
		src, err := rs.d.newSource(s, st.cfg)
		if err == nil {
			err = rs.start(src, sourceKey(s, st.cfg))
		}
		if err != nil {
			rs.d.log.Error("source not started", zap.String("source", s.Name), zap.Error(err))
			errs = append(errs, err)
			continue
		}
		rs.d.log.Info("source started", zap.String("source", s.Name))
	}
	return errs
}

// newSource makes the source a configuration names.
func (d *daemon) newSource(s config.Source, cfg *config.Config) (watcher.Source, error) {
	if s.Channel != "" {
		return d.newChannelSource(s, cfg)
	}
	// A drop folder that does not exist yet is made, private to the
	// daemon's account and administrators (whoever can drop files in it
	// chooses the events the daemon acts on); admins copy files into it.
	if err := perm.MkdirPrivate(s.Folder); err != nil {
		return nil, err
	}
	return source.NewFolder(s.Name, s.Folder, source.FolderOptions{
		Settle:  s.Settle,
		CutWait: 2 * time.Second, // a writer may pause; a cut end is reported only after this much quiet
		Logger:  d.log.Named("source").With(zap.String("source", s.Name)),
	}), nil
}

// emit is the pipeline for one source: match each event, prepare its
// actions, and queue them with the source's checkpoint in one
// transaction.
func (d *daemon) emit(sourceName string) watcher.Emit {
	log := d.log.Named("pipeline").With(zap.String("source", sourceName))
	return func(ctx context.Context, items []watcher.Item, cp watcher.Checkpoint) error {
		failed := d.count(sourceName, items)
		d.metrics.Events(sourceName, len(items)-failed, failed)
		st := d.state.Load()
		var batches []outbox.Batch
		var matches []match.Match
		now := time.Now().UTC()
		for _, it := range items {
			if it.Err != nil {
				log.Warn("input could not be decoded", zap.String("input", it.Input), zap.String("where", it.Where), zap.Error(it.Err))
				continue
			}
			matches = st.matcher.Match(it.Event, matches[:0])
			for _, m := range matches {
				d.metrics.Match(m.Rule.Name)
				log.Info("rule matched", zap.String("rule", m.Rule.Name), zap.String("input", it.Input), zap.String("where", it.Where),
					zap.String("computer", it.Event.Computer), zap.Uint32("event_id", it.Event.EventID), zap.Uint64("record_id", it.Event.RecordID))
			}
			b, err := st.cfg.Batches(it.Event, it.Input, matches, st.built, now)
			if err != nil {
				// A template that cannot render this event: the event is
				// reported, the rest of the input goes on.
				log.Error("preparing actions failed", zap.String("input", it.Input), zap.String("where", it.Where), zap.Error(err))
				continue
			}
			batches = append(batches, b...)
		}
		res, err := d.store.Accept(batches, outbox.Position{Source: sourceName, Key: cp.Key, Data: cp.Data, Forget: cp.Forget})
		if err != nil {
			return fmt.Errorf("queue actions: %w", err)
		}
		if res.Queued > 0 {
			d.dispatcher.Kick()
		}
		for h, r := range res.ByHandler {
			d.metrics.Actions(h, metrics.Queued, r.Queued)
			d.metrics.Actions(h, metrics.Suppressed, r.Suppressed)
			d.metrics.Actions(h, metrics.Replayed, r.Replayed)
			d.metrics.Actions(h, metrics.Unprepared, r.Failed)
		}
		d.statusSoon()
		if res.Queued+res.Suppressed+res.Replayed > 0 {
			log.Info("actions queued", zap.Int("queued", res.Queued), zap.Int("suppressed", res.Suppressed), zap.Int("replayed", res.Replayed))
		}
		return nil
	}
}

// resend re-posts what handlers keep firing on the remote side
// (Alertmanager alerts), each at its own interval.
func (d *daemon) resend(ctx context.Context) {
	last := map[string]time.Time{}
	t := time.NewTicker(5 * time.Second)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			for name, b := range d.state.Load().built {
				r, ok := b.(interface {
					Resend(context.Context) error
					ResendInterval() time.Duration
				})
				if !ok || now.Sub(last[name]) < r.ResendInterval() {
					continue
				}
				last[name] = now
				if err := r.Resend(ctx); err != nil {
					d.log.Warn("re-sending handler state failed", zap.String("handler", name), zap.Error(err))
				}
			}
		}
	}
}

// watchConfig reloads the configuration when its file changes (editors
// save by rename, so the directory is watched) or on SIGHUP.
func (d *daemon) watchConfig(ctx context.Context) {
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	w, err := fsnotify.NewWatcher()
	if err != nil {
		d.log.Error("watching the configuration failed; reload with SIGHUP", zap.Error(err))
	} else {
		defer w.Close()
		if err := w.Add(filepath.Dir(d.cfgPath)); err != nil {
			d.log.Error("watching the configuration failed; reload with SIGHUP", zap.Error(err))
		}
	}
	var events <-chan fsnotify.Event
	var errs <-chan error
	if w != nil {
		events, errs = w.Events, w.Errors
	}
	base := filepath.Base(d.cfgPath)
	var debounce <-chan time.Time
	for {
		select {
		case <-ctx.Done():
			return
		case <-hup:
			d.reload("SIGHUP")
		case e, ok := <-events:
			if !ok {
				events = nil
				continue
			}
			if filepath.Base(e.Name) == base && e.Op&(fsnotify.Create|fsnotify.Write|fsnotify.Rename) != 0 {
				debounce = time.After(300 * time.Millisecond)
			}
		case err, ok := <-errs:
			if !ok {
				errs = nil
				continue
			}
			d.log.Warn("watching the configuration", zap.Error(err))
		case <-debounce:
			debounce = nil
			d.reload("file changed")
		}
	}
}

// reload loads, checks and swaps in the configuration, or keeps the
// running one and logs every error.
func (d *daemon) reload(why string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	log := d.log.With(zap.String("config", d.cfgPath), zap.String("trigger", why))
	cfg, err := loadConfig(d.cfgPath)
	if err == nil {
		// A new script, or a file made writable since the start, is
		// refused as at start.
		err = checkPermissions(cfg, d.cfgPath, d.stateDir, d.logFile)
	}
	if err == nil {
		var st *runState
		if st, err = d.build(cfg); err == nil {
			old := d.state.Load()
			d.state.Store(st)
			d.dispatcher.SetRoutes(st.routes)
			added, removed, changed := diffRules(old.cfg, cfg)
			d.reloaded(why, nil)
			log.Info("configuration reloaded", zap.Strings("rules_added", added), zap.Strings("rules_removed", removed),
				zap.Strings("rules_changed", changed), zap.Int("rules", len(cfg.Rules)), zap.Int("handlers", len(st.built)))
			select {
			case d.sourcesKick <- struct{}{}:
			default: // a reconcile is already due; it reads the newest state
			}
			return
		}
	}
	var es config.Errors
	if errors.As(err, &es) {
		var msgs []string
		for _, e := range es {
			msgs = append(msgs, e.Error())
			log.Error("configuration not reloaded; the running one stays", zap.String("error", e.Error()))
		}
		d.reloaded(why, msgs)
		return
	}
	d.reloaded(why, []string{err.Error()})
	log.Error("configuration not reloaded; the running one stays", zap.Error(err))
}

func diffRules(old, cur *config.Config) (added, removed, changed []string) {
	was := map[string]string{}
	for _, r := range old.Rules {
		was[r.Name] = r.Hash
	}
	for _, r := range cur.Rules {
		h, ok := was[r.Name]
		switch {
		case !ok:
			added = append(added, r.Name)
		case h != r.Hash:
			changed = append(changed, r.Name)
		}
		delete(was, r.Name)
	}
	for name := range was {
		removed = append(removed, name)
	}
	sort.Strings(removed)
	return added, removed, changed
}

// daemonLogger logs for people (console) or machines (json) on w, and
// with file set also as JSON to file, rotated by lumberjack. Never
// sampled: every match and every action's outcome is written.
func daemonLogger(w io.Writer, format, file string) *zap.Logger {
	enc := zap.NewProductionEncoderConfig()
	enc.EncodeTime = zapcore.ISO8601TimeEncoder
	var core zapcore.Core
	if format == "json" {
		core = zapcore.NewCore(zapcore.NewJSONEncoder(enc), zapcore.AddSync(w), zapcore.InfoLevel)
	} else {
		core = newLogger(w).Core()
	}
	if file != "" {
		rot := &lumberjack.Logger{Filename: file, MaxSize: 50, MaxBackups: 5, MaxAge: 30, Compress: true}
		core = zapcore.NewTee(core, zapcore.NewCore(zapcore.NewJSONEncoder(enc), zapcore.AddSync(rot), zapcore.InfoLevel))
	}
	return zap.New(core)
}

// count records what a source emitted, for logmedic status, and returns
// how many items were undecodable.
func (d *daemon) count(source string, items []watcher.Item) (failed int) {
	d.statsMu.Lock()
	defer d.statsMu.Unlock()
	s := d.stats[source]
	if s == nil {
		s = &sourceStatus{}
		d.stats[source] = s
	}
	for _, it := range items {
		if it.Err != nil {
			s.Failed++
			failed++
		} else {
			s.Events++
		}
	}
	if len(items) > 0 {
		s.LastEmit = time.Now().UTC()
	}
	return failed
}

func (d *daemon) reloaded(trigger string, errs []string) {
	if len(errs) == 0 {
		d.metrics.Reload(nil)
	} else {
		d.metrics.Reload(errors.New(errs[0]))
	}
	d.statsMu.Lock()
	d.lastReload = &reloadStatus{Time: time.Now().UTC(), OK: len(errs) == 0, Trigger: trigger, Errors: errs}
	d.statsMu.Unlock()
	d.writeStatus()
}

func (d *daemon) writeStatusEvery(ctx context.Context, every time.Duration) {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	var last time.Time
	for {
		if d.statusDirty.Swap(false) || time.Since(last) >= every {
			d.writeStatus()
			last = time.Now()
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// statusSoon marks the status file for rewriting after new input;
// writeStatusEvery writes it within a second.
func (d *daemon) statusSoon() { d.statusDirty.Store(true) }

// writeStatus writes the status file logmedic status reads.
func (d *daemon) writeStatus() {
	d.statusMu.Lock()
	defer d.statusMu.Unlock()
	st := &statusFile{PID: os.Getpid(), Version: buildVersion(), Config: d.cfgPath, Started: d.started, Updated: time.Now().UTC(), Sources: map[string]sourceStatus{}}
	if ob, err := outboxSummary(d.store); err == nil {
		st.Outbox = ob
	}
	names := map[string]bool{}
	for _, s := range d.state.Load().cfg.Sources {
		names[s.Name] = true
	}
	d.statsMu.Lock()
	for n := range d.stats {
		names[n] = true
	}
	for n := range names {
		var s sourceStatus
		if p := d.stats[n]; p != nil {
			s = *p
		}
		if cps, err := d.store.Positions(n); err == nil {
			s.Inputs = len(cps)
			if cp, ok := cps[""]; ok && len(cps) == 1 {
				s.Position = winevt.DescribeCheckpoint(cp)
			}
		}
		st.Sources[n] = s
	}
	st.LastReload = d.lastReload
	d.statsMu.Unlock()
	if err := writeStatus(d.stateDir, st); err != nil {
		d.log.Warn("writing the status file failed", zap.Error(err))
	}
}

// sourceKey is what a source reads, with everything that decides how:
// a running source whose key changes on reload is restarted.
func sourceKey(s config.Source, cfg *config.Config) string {
	if s.Channel == "" {
		return fmt.Sprintf("folder %q settle %s", s.Folder, s.Settle)
	}
	o := channelOptions(s, cfg)
	return fmt.Sprintf("channel %q query %q providers %q start %s lookback %s stale %s batch %d message %t locale %d",
		o.Channel, o.Query, o.Providers, o.Start, o.Lookback, o.OnStale, o.Batch, o.Message, o.Locale)
}
