package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/logmedic/logmedic/config"
)

// The daemon's reliability under SIGKILL and under configuration edits.
// Both tests run the real command (TestMain) on a drop folder and a
// webhook receiver; neither asserts on timing. docs/reliability.md says
// what they prove and how to run them longer (KILLS, RELOADS).

// handlerConcurrency is the webhook's default concurrency: at most this
// many attempts are under way when a kill lands, so at most this many
// actions can be delivered again because of it.
const handlerConcurrency = 4

// delivery is one request the receiver got.
type delivery struct {
	rule, event string
}

// idReceiver is a webhook endpoint that records every request by its
// Idempotency-Key (the action ID) and the event its body names. With
// lag set, it replies only after a random pause, so a kill often lands
// after the request arrived and before the daemon recorded the success:
// the window in which at-least-once delivery delivers twice.
type idReceiver struct {
	lag bool

	mu    sync.Mutex
	byID  map[string][]delivery
	total int
	noKey int
	cut   int // replies the client was gone for (killed mid-attempt)
}

func newIDReceiver(lag bool) *idReceiver {
	return &idReceiver{lag: lag, byID: map[string][]delivery{}}
}

func (r *idReceiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	var body struct {
		Rule  string `json:"rule"`
		Event string `json:"event"`
	}
	raw, err := io.ReadAll(req.Body)
	if err != nil {
		return // the client died while sending: nothing arrived
	}
	if err := json.Unmarshal(raw, &body); err != nil {
		http.Error(w, "bad body", http.StatusBadRequest)
		return
	}
	id := req.Header.Get("Idempotency-Key")
	r.mu.Lock()
	r.total++
	if id == "" {
		r.noKey++
	}
	r.byID[id] = append(r.byID[id], delivery{body.Rule, body.Event})
	r.mu.Unlock()
	if r.lag {
		select {
		case <-time.After(time.Duration(rand.IntN(15)) * time.Millisecond):
		case <-req.Context().Done():
			r.mu.Lock()
			r.cut++
			r.mu.Unlock()
			return
		}
	}
}

// distinct returns how many action IDs arrived.
func (r *idReceiver) distinct() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.byID)
}

// snapshot returns a copy of what arrived.
func (r *idReceiver) snapshot() (byID map[string][]delivery, total, noKey, cut int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	byID = make(map[string][]delivery, len(r.byID))
	for id, ds := range r.byID {
		byID[id] = slices.Clone(ds)
	}
	return byID, r.total, r.noKey, r.cut
}

// backupEvents renders n Windows Backup failures (event 5, 0x807800B4),
// each from its own computer, with record IDs first, first+1, ...
func backupEvents(prefix string, first, n int) []byte {
	var b bytes.Buffer
	b.WriteString("<Events>\n")
	for i := range n {
		rec := first + i
		fmt.Fprintf(&b, `<Event xmlns='http://schemas.microsoft.com/win/2004/08/events/event'><System><Provider Name='Microsoft-Windows-Backup'/><EventID>5</EventID><Version>3</Version><Level>2</Level><TimeCreated SystemTime='2026-11-21T01:%02d:%02d.000000000Z'/><EventRecordID>%d</EventRecordID><Channel>Microsoft-Windows-Backup</Channel><Computer>%s-%05d</Computer></System><EventData><Data Name='HRESULT'>0x807800b4</Data><Data Name='BackupTarget'>E:</Data></EventData></Event>`+"\n",
			(rec/60)%60, rec%60, rec, prefix, rec)
	}
	b.WriteString("</Events>\n")
	return b.Bytes()
}

// dropFile puts data into dir/name as a copy tool would: atomically
// (written under another extension, then renamed) or in place, in two
// writes with a pause between them, so the daemon may read half of it.
func dropFile(dir, name string, data []byte, atomic bool) error {
	path := filepath.Join(dir, name)
	if atomic {
		if err := os.WriteFile(path+".part", data, 0o600); err != nil {
			return err
		}
		return os.Rename(path+".part", path)
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	half := len(data) / 2
	if _, err := f.Write(data[:half]); err != nil {
		f.Close()
		return err
	}
	time.Sleep(time.Duration(rand.IntN(40)) * time.Millisecond)
	if _, err := f.Write(data[half:]); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// expectedActions asks 'logmedic test --dry-run' which actions the files
// in dir give: action ID -> the rule and event it is for. It is worked
// out apart from the daemon, which must deliver exactly these.
func expectedActions(t *testing.T, cfg, dir string) map[string]delivery {
	t.Helper()
	out, err := command(t, nil, "test", "-c", cfg, "--dry-run", "--format", "json", dir).Output()
	if err != nil {
		t.Fatalf("dry run: %v\n%s", err, out)
	}
	want := map[string]delivery{}
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var res result
		if err := json.Unmarshal(sc.Bytes(), &res); err != nil {
			t.Fatalf("dry run: %v: %s", err, sc.Bytes())
		}
		for _, a := range res.Actions {
			want[a.ID] = delivery{a.Rule, fmt.Sprintf("%s/%d", res.Computer, res.RecordID)}
		}
	}
	return want
}

// skipOnWindows skips a test that stops the daemon with SIGTERM, or
// reloads it with SIGHUP: Windows has neither (the service stops and
// reloads through the service manager).
func skipOnWindows(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("needs SIGTERM and SIGHUP")
	}
}

// envInt reads a positive count from the environment, for longer runs.
func envInt(t *testing.T, name string, def int) int {
	t.Helper()
	s := os.Getenv(name)
	if s == "" {
		return def
	}
	n, err := strconv.Atoi(s)
	if err != nil || n <= 0 {
		t.Fatalf("%s=%q: want a positive number", name, s)
	}
	return n
}

// daemonProc is one run of 'logmedic run', its log going to a buffer
// shared by every run of a test.
type daemonProc struct {
	cmd  *exec.Cmd
	done chan error
}

func spawnDaemon(t *testing.T, cfg string, logs *syncBuffer) *daemonProc {
	t.Helper()
	cmd := command(t, nil, "run", "-c", cfg, "--log-format", "json", "--http", "127.0.0.1:0")
	cmd.Stderr = logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &daemonProc{cmd: cmd, done: make(chan error, 1)}
	go func() { p.done <- cmd.Wait() }()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-p.done
		p.done <- nil
	})
	return p
}

// spawnStarted starts the daemon and waits until it says it started (it
// handles SIGTERM from then on).
func spawnStarted(t *testing.T, cfg string, logs *syncBuffer) *daemonProc {
	t.Helper()
	before := strings.Count(logs.String(), `"msg":"logmedic started"`)
	p := spawnDaemon(t, cfg, logs)
	waitFor(t, "the daemon to start", func() bool {
		return strings.Count(logs.String(), `"msg":"logmedic started"`) > before
	})
	return p
}

// kill ends the daemon with SIGKILL, as a crash or power loss would.
func (p *daemonProc) kill() {
	p.cmd.Process.Signal(syscall.SIGKILL)
	p.done <- <-p.done
}

// stop ends the daemon with SIGTERM and checks that it exits cleanly.
func (p *daemonProc) stop(t *testing.T) {
	t.Helper()
	p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-p.done:
		p.done <- err
		if err != nil {
			t.Fatalf("daemon exited with %v after SIGTERM", err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("daemon did not stop after SIGTERM")
	}
}

// exited reports whether the daemon has ended, and how.
func (p *daemonProc) exited() (bool, error) {
	select {
	case err := <-p.done:
		p.done <- err
		return true, err
	default:
		return false, nil
	}
}

// logLines parses a JSON daemon log; lines that are not JSON (a kill can
// cut the last one) are skipped.
func logLines(s string) []map[string]any {
	var out []map[string]any
	for line := range strings.Lines(s) {
		var m map[string]any
		if json.Unmarshal([]byte(line), &m) == nil {
			out = append(out, m)
		}
	}
	return out
}

// logTail returns the last n lines of a log, for failure messages.
func logTail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}

func waitLonger(t *testing.T, what string, limit time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", limit, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// outboxEmpty runs 'logmedic outbox list' (the daemon must be stopped:
// it holds the outbox) and reports whether nothing is queued, and the
// dead letters' listing.
func outboxEmpty(t *testing.T, cfg string) (bool, string) {
	t.Helper()
	list, err := command(t, nil, "outbox", "list", "-c", cfg).Output()
	if err != nil {
		t.Fatalf("outbox list: %v\n%s", err, list)
	}
	dead, err := command(t, nil, "outbox", "list", "--dead", "-c", cfg).Output()
	if err != nil {
		t.Fatalf("outbox list --dead: %v\n%s", err, dead)
	}
	return strings.HasSuffix(string(list), "\n0 actions queued\n") || string(list) == "0 actions queued\n", string(dead)
}

// crashConfig puts the rules first and the handler after them, so that
// a prefix of the file never loads with the rules but without the
// handler (see TestDaemonReloadTorture).
const crashConfig = `rules:
  - name: volume-too-large
    actions: [{handler: hook}]
    match: {error_code: 0x807800B4}
  - name: backup-failed
    actions: [{handler: hook}]
    match: {provider: Microsoft-Windows-Backup, event_id: 5}
handlers:
  hook: {type: webhook, url: "%URL%", timeout: 1s, retry: {initial_backoff: 20ms, max_backoff: 200ms, max_attempts: 1000}, body: {rule: "{{.Rule}}", event: "{{.Computer}}/{{.RecordID}}"}}
sources:
  - {name: drop, folder: "%DROP%"}
state_dir: "%STATE%"
`

// TestDaemonSurvivesKills drops event files into the folder while the
// daemon is killed with SIGKILL at random moments (KILLS times, default
// 20) and restarted, then lets it finish. The contract is at-least-once
// delivery with stable IDs: every action 'logmedic test --dry-run'
// derives from the files reaches the receiver; no action ID arrives for
// two different events or rules; an action arrives more than once only
// when a kill cut its attempt (at most the handler's concurrency per
// kill); nothing is left queued and nothing is dead.
func TestDaemonSurvivesKills(t *testing.T) {
	skipOnWindows(t)
	kills := envInt(t, "KILLS", 20)
	files := max(30, kills*3/2)
	const perFile = 10
	rcv := newIDReceiver(true)
	srv := httptest.NewServer(rcv)
	defer srv.Close()

	dir := t.TempDir()
	drop, gen := filepath.Join(dir, "drop"), filepath.Join(dir, "gen")
	for _, d := range []string{drop, gen} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			t.Fatal(err)
		}
	}
	cfg := filepath.Join(dir, "logmedic.yaml")
	text := strings.NewReplacer("%URL%", srv.URL, "%DROP%", drop, "%STATE%", filepath.Join(dir, "state")).Replace(crashConfig)
	if err := os.WriteFile(cfg, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	contents := make([][]byte, files)
	for i := range contents {
		contents[i] = backupEvents("CR", 10000+i*perFile, perFile)
		if err := os.WriteFile(filepath.Join(gen, fmt.Sprintf("batch-%04d.xml", i)), contents[i], 0o600); err != nil {
			t.Fatal(err)
		}
	}
	want := expectedActions(t, cfg, gen)
	if len(want) != 2*files*perFile {
		t.Fatalf("the dry run gives %d actions for %d events, want 2 per event", len(want), files*perFile)
	}

	// The files land while the daemon runs, spread over its runs (each
	// run tells the writer it has started): half atomically, half in
	// place in two writes, so a kill may find one half written.
	running := make(chan int, kills)
	writerDone := make(chan struct{})
	go func() {
		defer close(writerDone)
		next := 0
		land := func(end int) bool {
			for ; next < end; next++ {
				time.Sleep(time.Duration(rand.IntN(100)) * time.Millisecond)
				if err := dropFile(drop, fmt.Sprintf("batch-%04d.xml", next), contents[next], next%2 == 0); err != nil {
					t.Errorf("drop file %d: %v", next, err)
					return false
				}
			}
			return true
		}
		for k := range running {
			if !land((k + 1) * files / kills) {
				return
			}
		}
		land(files)
	}()

	logs := &syncBuffer{}
	defer func() {
		if t.Failed() {
			t.Logf("daemon log (last lines):\n%s", logTail(logs.String(), 80))
		}
	}()
	busyKills := 0 // kills that landed while actions were still outstanding
	for k := range kills {
		fmt.Fprintf(logs, "--- start %d\n", k)
		p := spawnStarted(t, cfg, logs)
		running <- k
		time.Sleep(time.Duration(rand.IntN(350)) * time.Millisecond)
		if ok, err := p.exited(); ok {
			t.Fatalf("start %d: the daemon exited by itself: %v", k, err)
		}
		if rcv.distinct() < len(want) {
			busyKills++
		}
		p.kill()
	}
	close(running)
	<-writerDone

	// Let it finish. An action whose attempt a kill cut waits out the
	// attempt's timeout (1s) before it is tried again, so the outbox may
	// still hold a few once every ID has arrived: stop, look, and run
	// again until it is empty.
	fmt.Fprintln(logs, "--- final")
	p := spawnStarted(t, cfg, logs)
	waitLonger(t, "every action to arrive", 90*time.Second, func() bool { return rcv.distinct() >= len(want) })
	p.stop(t)
	for try := 0; ; try++ {
		empty, dead := outboxEmpty(t, cfg)
		if !strings.HasSuffix(dead, "0 actions dead\n") {
			t.Errorf("dead letters:\n%s", dead)
		}
		if empty {
			break
		}
		if try == 5 {
			list, _ := command(t, nil, "outbox", "list", "-c", cfg).Output()
			t.Fatalf("the outbox is not empty after %d more runs:\n%s", try, list)
		}
		fmt.Fprintf(logs, "--- drain %d\n", try)
		p = spawnStarted(t, cfg, logs)
		time.Sleep(1500 * time.Millisecond) // past the attempt timeout
		p.stop(t)
	}

	byID, total, noKey, cut := rcv.snapshot()
	if noKey > 0 {
		t.Errorf("%d requests without an Idempotency-Key", noKey)
	}
	missing := 0
	for id, w := range want {
		ds := byID[id]
		if len(ds) == 0 {
			missing++
			continue
		}
		for _, d := range ds {
			if d != w {
				t.Errorf("action %s arrived for %s %s, want %s %s", id, d.rule, d.event, w.rule, w.event)
			}
		}
	}
	if missing > 0 {
		t.Errorf("%d of %d actions never arrived", missing, len(want))
	}
	for id := range byID {
		if _, ok := want[id]; !ok {
			t.Errorf("unexpected action ID %q arrived: %v", id, byID[id])
		}
	}
	redelivered := total - len(byID)
	t.Logf("%d kills (%d while actions were outstanding), %d events, %d actions, %d requests: %d redeliveries, %d attempts cut by a kill after the request arrived",
		kills, busyKills, files*perFile, len(want), total, redelivered, cut)
	if redelivered > kills*handlerConcurrency {
		t.Errorf("%d redeliveries after %d kills; at most %d attempts (the handler's concurrency) can be cut by each", redelivered, kills, handlerConcurrency)
	}
	if busyKills < min(5, kills) {
		t.Errorf("only %d kills landed while actions were outstanding; the test proves little", busyKills)
	}
}

// reloadConfig builds configuration versions for the reload torture.
// The rules come first and the handler after them, then sources and
// state_dir: a prefix of any version either fails to load or holds all
// of that version's rules and its handler (checked in the test), so a
// daemon that reads a file being written can never load a poisoned
// version without its error.
type reloadConfig struct {
	url, drop, state string
}

func (c reloadConfig) tail(extraHandlers string) string {
	return "handlers:\n" + extraHandlers +
		`  hook: {type: webhook, url: "` + c.url + `", timeout: 2s, retry: {initial_backoff: 20ms, max_backoff: 200ms}, body: {rule: "{{.Rule}}", event: "{{.Computer}}/{{.RecordID}}"}}` + "\n" +
		"sources:\n  - {name: drop, folder: \"" + c.drop + "\"}\nstate_dir: \"" + c.state + "\"\n"
}

const (
	ruleBackupFailed = "  - name: backup-failed\n    actions: [{handler: hook}]\n    match: {provider: Microsoft-Windows-Backup, event_id: 5}\n"
	// rulePoison matches every event; it is only in versions that must be
	// refused, so a delivery for it is a half-loaded configuration.
	rulePoison = "  - name: poison\n    actions: [{handler: hook}]\n    match: {event_id: 5}\n"
)

// valid is a good version: backup-failed, and k rules that never match
// (so consecutive versions differ, and their lengths differ too).
func (c reloadConfig) valid(k int) string {
	s := "rules:\n" + ruleBackupFailed
	for i := range k%3 + 1 {
		s += fmt.Sprintf("  - name: never-%d-%d\n    actions: [{handler: hook}]\n    match: {event_id: %d}\n", k, i, 9000+i)
	}
	return s + c.tail("")
}

// broken returns versions that must be refused, each with the poison
// rule and its error before the hook handler's line.
func (c reloadConfig) broken() map[string]string {
	pre := "rules:\n" + rulePoison + ruleBackupFailed
	return map[string]string{
		"unknown key":      pre + "  - name: typo\n    actions: [{handler: hook}]\n    match: {chanel: x}\n" + c.tail(""),
		"unknown handler":  pre + "  - name: orphan\n    actions: [{handler: nohook}]\n    match: {event_id: 7}\n" + c.tail(""),
		"bad code":         pre + "  - name: bad-code\n    actions: [{handler: hook}]\n    match: {error_code: 0xZZ}\n" + c.tail(""),
		"duplicate rule":   pre + rulePoison + c.tail(""),
		"yaml syntax":      pre + "  - name: [unclosed\n    actions: [{handler: hook}]\n" + c.tail(""),
		"bad handler":      pre + c.tail("  other: {type: webhook, url: \"ftp://example.invalid/\"}\n"),
		"unknown type":     pre + c.tail("  other: {type: pager}\n"),
		"negative timeout": pre + c.tail("  other: {type: webhook, url: \"http://127.0.0.1:9/\", timeout: -1s}\n"),
	}
}

// poisoned is a version that would load, with the poison rule: only its
// prefixes that fail to load are written.
func (c reloadConfig) poisoned() string {
	return "rules:\n" + rulePoison + ruleBackupFailed + c.tail("")
}

// TestDaemonReloadTorture replaces the configuration over and over
// (RELOADS times, default 50) while events flow into the folder: good
// versions, broken ones, truncated ones left half-written, written by
// atomic rename, in place, and in place in two writes, some followed by
// SIGHUP. The daemon must never exit, must deliver every event of the
// rule all good versions share exactly once, and must never load a
// version it refused: a poison rule present only in refused versions
// never matches, and every reload it logs is of a good version.
func TestDaemonReloadTorture(t *testing.T) {
	skipOnWindows(t)
	reloads := envInt(t, "RELOADS", 50)
	rcv := newIDReceiver(false)
	srv := httptest.NewServer(rcv)
	defer srv.Close()
	dir := t.TempDir()
	drop := filepath.Join(dir, "drop")
	cfg := filepath.Join(dir, "logmedic.yaml")
	rc := reloadConfig{url: srv.URL, drop: drop, state: filepath.Join(dir, "state")}

	// The versions, checked first: good ones load, every other one and
	// every prefix of every version is refused or carries no poison.
	type version struct{ name, text string }
	var good, bad []version
	for k := range 3 {
		good = append(good, version{fmt.Sprintf("good %d", k), rc.valid(k)})
	}
	for name, text := range rc.broken() {
		bad = append(bad, version{name, text})
	}
	slices.SortFunc(bad, func(a, b version) int { return strings.Compare(a.name, b.name) })
	// Truncated versions: prefixes of the poisoned one that end before
	// its handler is complete.
	p := rc.poisoned()
	if c := mustParse(t, cfg, p); c.Rules[0].Name != "poison" {
		t.Fatalf("the poisoned version loads without its poison rule")
	}
	var truncated []version
	for _, cut := range cuts(p[:strings.Index(p, "  hook:")+40]) {
		if _, err := config.Parse(cfg, []byte(p[:cut])); err == nil {
			t.Fatalf("the first %d bytes of the poisoned version load", cut)
		}
		truncated = append(truncated, version{"truncated", p[:cut]})
	}
	for _, v := range good {
		rules := len(mustParse(t, cfg, v.text).Rules)
		for _, i := range cuts(v.text) {
			if c, err := config.Parse(cfg, []byte(v.text[:i])); err == nil && len(c.Rules) != rules {
				t.Fatalf("%s: its first %d bytes load with %d of its %d rules", v.name, i, len(c.Rules), rules)
			}
		}
	}
	for _, v := range bad {
		for _, i := range append(cuts(v.text), len(v.text)) {
			if _, err := config.Parse(cfg, []byte(v.text[:i])); err == nil {
				t.Fatalf("%s: its first %d bytes load", v.name, i)
			}
		}
	}

	write := func(text string, how int) error {
		switch how {
		case 0: // atomic, as editors save
			if err := os.WriteFile(cfg+".tmp", []byte(text), 0o600); err != nil {
				return err
			}
			return os.Rename(cfg+".tmp", cfg)
		case 1: // in place
			return os.WriteFile(cfg, []byte(text), 0o600)
		default: // in place, in two writes
			return dropFile(dir, filepath.Base(cfg), []byte(text), false)
		}
	}
	if err := write(good[0].text, 0); err != nil {
		t.Fatal(err)
	}
	logs := &syncBuffer{}
	defer func() {
		if t.Failed() {
			t.Logf("daemon log (last lines):\n%s", logTail(logs.String(), 80))
		}
	}()
	d := spawnStarted(t, cfg, logs)

	// Events flow all along: a file of 5 events every 100 ms or so.
	const perFile = 5
	stopEvents := make(chan struct{})
	eventsDone := make(chan int)
	go func() {
		n := 0
		defer func() { eventsDone <- n }()
		for i := 0; ; i++ {
			select {
			case <-stopEvents:
				return
			case <-time.After(time.Duration(50+rand.IntN(100)) * time.Millisecond):
			}
			if err := dropFile(drop, fmt.Sprintf("flow-%04d.xml", i), backupEvents("RL", 20000+i*perFile, perFile), i%2 == 0); err != nil {
				t.Errorf("drop file %d: %v", i, err)
				return
			}
			n += perFile
		}
	}()

	written := map[string]int{}
	for r := range reloads {
		var v version
		switch r % 3 {
		case 0:
			v = good[rand.IntN(len(good))]
		case 1:
			v = bad[rand.IntN(len(bad))]
		default:
			v = truncated[rand.IntN(len(truncated))]
		}
		how := rand.IntN(3)
		if err := write(v.text, how); err != nil {
			t.Fatal(err)
		}
		switch {
		case strings.HasPrefix(v.name, "good"), v.name == "truncated":
			written[strings.Fields(v.name)[0]]++
		default:
			written["broken"]++
		}
		if rand.IntN(3) == 0 {
			d.cmd.Process.Signal(syscall.SIGHUP)
		}
		time.Sleep(time.Duration(20+rand.IntN(230)) * time.Millisecond)
		if ok, err := d.exited(); ok {
			t.Fatalf("the daemon exited during the reloads: %v", err)
		}
	}
	// End on a good version, loaded for sure.
	reloadsBefore := strings.Count(logs.String(), `"msg":"configuration reloaded"`)
	if err := write(good[1].text, 0); err != nil {
		t.Fatal(err)
	}
	d.cmd.Process.Signal(syscall.SIGHUP)
	waitFor(t, "the last reload", func() bool {
		return strings.Count(logs.String(), `"msg":"configuration reloaded"`) > reloadsBefore
	})
	close(stopEvents)
	events := <-eventsDone
	waitLonger(t, "every event to be delivered", 60*time.Second, func() bool { return rcv.distinct() >= events })
	time.Sleep(300 * time.Millisecond) // a late duplicate would arrive now
	if ok, err := d.exited(); ok {
		t.Fatalf("the daemon exited: %v", err)
	}
	d.stop(t)

	byID, total, noKey, _ := rcv.snapshot()
	if noKey > 0 {
		t.Errorf("%d requests without an Idempotency-Key", noKey)
	}
	perEvent := map[string]int{}
	for id, ds := range byID {
		if len(ds) != 1 {
			t.Errorf("action %s arrived %d times: %v", id, len(ds), ds)
		}
		for _, dl := range ds {
			if dl.rule != "backup-failed" {
				t.Errorf("rule %q acted on %s: a refused version was loaded", dl.rule, dl.event)
			}
			perEvent[dl.event]++
		}
	}
	if len(perEvent) != events {
		t.Errorf("%d of %d events delivered", len(perEvent), events)
	}
	for ev, n := range perEvent {
		if n != 1 {
			t.Errorf("event %s acted %d times", ev, n)
		}
	}

	// The log: every reload it reports is of a good version (it has the
	// shared rule and never-* rules only); the poison never matched.
	var loaded, refused, sourceRestarts int
	goodRules := map[string]bool{"backup-failed": true}
	for k := range 3 {
		for i := range k%3 + 1 {
			goodRules[fmt.Sprintf("never-%d-%d", k, i)] = true
		}
	}
	for _, l := range logLines(logs.String()) {
		switch l["msg"] {
		case "configuration reloaded":
			loaded++
			for _, key := range []string{"rules_added", "rules_changed"} {
				list, _ := l[key].([]any)
				for _, name := range list {
					if s, _ := name.(string); !goodRules[s] {
						t.Errorf("a reload added rule %v: %v", name, l)
					}
				}
			}
			if n, _ := l["rules"].(float64); n < 2 || n > 4 {
				t.Errorf("a reload loaded %v rules: %v", l["rules"], l)
			}
		case "configuration not reloaded; the running one stays":
			refused++
		case "source stopped for the new configuration":
			// The sources never change here, wherever the block moves:
			// a restart would re-read from the positions for nothing.
			sourceRestarts++
		case "rule matched":
			if l["rule"] != "backup-failed" {
				t.Errorf("rule %v matched: %v", l["rule"], l)
			}
		}
	}
	t.Logf("%d config writes (%d good, %d broken, %d truncated); %d reloads, %d refusal lines; %d events, %d requests",
		reloads, written["good"], written["broken"], written["truncated"], loaded, refused, events, total)
	if sourceRestarts > 0 {
		t.Errorf("%d sources restarted although the sources never changed", sourceRestarts)
	}
	if loaded < 2 || refused == 0 {
		t.Errorf("%d reloads and %d refusals: the torture did not exercise both", loaded, refused)
	}
}

// cuts returns where a reader may find a file being written cut short:
// at the end of each line, with and without its newline, and every 11
// bytes within lines (every byte would cost seconds under -race).
func cuts(text string) []int {
	var out []int
	for i := range len(text) {
		if text[i] == '\n' {
			out = append(out, i, i+1)
		} else if i%11 == 0 {
			out = append(out, i)
		}
	}
	return out
}

func mustParse(t *testing.T, file, text string) *config.Config {
	t.Helper()
	c, err := config.Parse(file, []byte(text))
	if err != nil {
		t.Fatal(err)
	}
	return c
}
