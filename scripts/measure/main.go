// Command measure times a built logmedic daemon from the outside, for
// scripts/measure-daemon.sh and docs/performance.md ("Daemon"):
//
//	measure -bin PATH latency    [-events 1000] [-interval 20ms]
//	measure -bin PATH idle       [-seconds 60]
//	measure -bin PATH throughput [-events 100000] [-files 100] [-actions] [-deliver 20s]
//	measure -bin PATH fsync      [-n 300]
//
// Each mode runs `logmedic run` on a fresh drop folder and state
// directory, prints what it sees as it goes and ends with lines
// "RESULT name value" that the script collects. Nothing here asserts a
// goal: it reports numbers.
package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

func main() {
	bin := flag.String("bin", "", "the logmedic `binary` to run")
	flag.Usage = func() {
		fmt.Fprintln(os.Stderr, "usage: measure -bin PATH latency|idle|throughput|fsync [flags]")
		flag.PrintDefaults()
	}
	flag.Parse()
	if *bin == "" || flag.NArg() < 1 {
		flag.Usage()
		os.Exit(2)
	}
	var err error
	switch mode, args := flag.Arg(0), flag.Args()[1:]; mode {
	case "latency":
		err = latency(*bin, args)
	case "idle":
		err = idle(*bin, args)
	case "throughput":
		err = throughput(*bin, args)
	case "fsync":
		err = fsync(args)
	default:
		flag.Usage()
		os.Exit(2)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "measure:", err)
		os.Exit(1)
	}
}

func result(name string, format string, args ...any) {
	fmt.Printf("RESULT %s %s\n", name, fmt.Sprintf(format, args...))
}

// event renders one Windows Backup failure (event 5, 0x807800B4) from its
// own computer, with record ID rec.
func event(b *bytes.Buffer, rec int) {
	fmt.Fprintf(b, `<Event xmlns='http://schemas.microsoft.com/win/2004/08/events/event'><System><Provider Name='Microsoft-Windows-Backup'/><EventID>5</EventID><Version>3</Version><Level>2</Level><TimeCreated SystemTime='2026-11-21T01:%02d:%02d.000000000Z'/><EventRecordID>%d</EventRecordID><Channel>Microsoft-Windows-Backup</Channel><Computer>WS-%06d</Computer></System><EventData><Data Name='HRESULT'>0x807800b4</Data><Data Name='BackupTarget'>E:</Data><Data Name='DetailedHRESULT'>0x80070005</Data></EventData></Event>`+"\n",
		(rec/60)%60, rec%60, rec, rec)
}

func eventFile(first, n int) []byte {
	var b bytes.Buffer
	b.WriteString("<Events>\n")
	for i := range n {
		event(&b, first+i)
	}
	b.WriteString("</Events>\n")
	return b.Bytes()
}

// dropAtomic writes a file under another name and renames it into the
// folder, as a copy tool that wants readers to see whole files does.
func dropAtomic(path string, data []byte) error {
	if err := os.WriteFile(path+".part", data, 0o600); err != nil {
		return err
	}
	return os.Rename(path+".part", path)
}

// filler returns n rules shaped like admins' rules (a channel, a
// provider, two event IDs) that the generated events never match, like
// most of the decode+match benchmark's 100 rules.
func filler(n int) string {
	var b strings.Builder
	channels := []string{"Security", "System", "Application", "Microsoft-Windows-Sysmon/Operational", "MSExchange Management"}
	for i := range n {
		ch := channels[i%len(channels)]
		fmt.Fprintf(&b, "  - name: filler-%03d\n    match: {channel: %q, provider: Provider-%d, event_id: [%d, %d]}\n", i, ch, i, 1000+i, 2000+i)
	}
	return b.String()
}

// daemon is a running logmedic run.
type daemon struct {
	cmd     *exec.Cmd
	started time.Time   // the time on its "logmedic started" line
	lines   chan string // log lines that contain one of watch
	done    chan error
	quit    chan struct{}
	logPath string
	once    sync.Once
}

// logTime is the time on a JSON log line (zap's ISO 8601, milliseconds).
func logTime(line string) time.Time {
	var l struct{ TS string }
	json.Unmarshal([]byte(line), &l)
	t, _ := time.Parse("2006-01-02T15:04:05.000Z0700", l.TS)
	return t
}

// startDaemon runs bin on cfg with its JSON log going straight to the
// file logPath (so that reading the log never slows the daemon down),
// and waits until it has started. Log lines containing any of watch are
// sent on lines as a tail of the file finds them.
func startDaemon(bin, cfg, logPath string, watch ...string) (*daemon, error) {
	logFile, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	defer logFile.Close()
	// A port of its own (the default, 127.0.0.1:9464, may be taken by
	// another daemon): the metrics server still runs, as by default.
	cmd := exec.Command(bin, "run", "-c", cfg, "--log-format", "json", "--http", "127.0.0.1:0")
	cmd.Stderr = logFile
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	d := &daemon{cmd: cmd, lines: make(chan string, 1<<16), done: make(chan error, 1), quit: make(chan struct{}), logPath: logPath}
	started := make(chan time.Time, 1)
	go d.tail(started, append(watch, `"msg":"logmedic started"`))
	go func() { d.done <- cmd.Wait() }()
	select {
	case d.started = <-started:
	case err := <-d.done:
		b, _ := os.ReadFile(logPath)
		return nil, fmt.Errorf("the daemon exited before it started: %v\n%s", err, b)
	case <-time.After(30 * time.Second):
		cmd.Process.Kill()
		return nil, errors.New("the daemon did not start within 30s")
	}
	return d, nil
}

// tail follows the log file until stop.
func (d *daemon) tail(started chan<- time.Time, watch []string) {
	defer close(d.lines)
	f, err := os.Open(d.logPath)
	if err != nil {
		return
	}
	defer f.Close()
	r := bufio.NewReaderSize(f, 1<<20)
	var partial string
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			// At the end of what is written so far.
			partial += line
			select {
			case <-d.quit:
				return
			case <-time.After(2 * time.Millisecond):
			}
			continue
		}
		line, partial = partial+line, ""
		if started != nil && strings.Contains(line, `"msg":"logmedic started"`) {
			started <- logTime(line)
			started = nil
			continue
		}
		for _, w := range watch {
			if strings.Contains(line, w) {
				d.lines <- line
				break
			}
		}
	}
}

// stop ends the daemon with SIGTERM (SIGKILL after 30s).
func (d *daemon) stop() {
	d.once.Do(func() {
		d.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-d.done:
		case <-time.After(30 * time.Second):
			d.cmd.Process.Kill()
			<-d.done
		}
		close(d.quit)
	})
}

// procStatus reads fields of /proc/PID/status in kB.
func procStatus(pid int, field string) (int, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for line := range strings.Lines(string(b)) {
		if v, ok := strings.CutPrefix(line, field+":"); ok {
			return strconv.Atoi(strings.TrimSuffix(strings.TrimSpace(v), " kB"))
		}
	}
	return 0, fmt.Errorf("no %s in /proc/%d/status", field, pid)
}

// cpuTicks returns utime+stime of /proc/PID/stat, in clock ticks (USER_HZ,
// 100 per second on Linux), every thread included.
func cpuTicks(pid int) (int, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// The command name is in parentheses and may hold spaces.
	rest := string(b[bytes.LastIndexByte(b, ')')+2:])
	f := strings.Fields(rest)
	// rest starts at field 3 (state); utime and stime are fields 14, 15.
	u, err1 := strconv.Atoi(f[11])
	s, err2 := strconv.Atoi(f[12])
	if err := errors.Join(err1, err2); err != nil {
		return 0, fmt.Errorf("/proc/%d/stat: %w", pid, err)
	}
	return u + s, nil
}

// cpuNanos sums the time on CPU of the process's live threads from
// /proc/PID/task/*/schedstat (nanoseconds: finer than cpuTicks).
func cpuNanos(pid int) (int64, error) {
	tasks, err := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/schedstat", pid))
	if err != nil {
		return 0, err
	}
	var sum int64
	for _, t := range tasks {
		b, err := os.ReadFile(t)
		if err != nil {
			continue // the thread ended
		}
		f := strings.Fields(string(b))
		if len(f) > 0 {
			n, _ := strconv.ParseInt(f[0], 10, 64)
			sum += n
		}
	}
	return sum, nil
}

func percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(p/100*float64(len(sorted))+0.5) - 1
	return sorted[min(max(i, 0), len(sorted)-1)]
}

func ms(d time.Duration) string { return fmt.Sprintf("%.1f", float64(d.Microseconds())/1000) }

// latency times each of -events files from the moment it is renamed
// into the drop folder to the moment its webhook request reaches a
// receiver in this process (the handler has started and sent).
func latency(bin string, args []string) error {
	fs := flag.NewFlagSet("latency", flag.ExitOnError)
	n := fs.Int("events", 1000, "events, one file each")
	interval := fs.Duration("interval", 20*time.Millisecond, "pause between files")
	warm := fs.Int("warmup", 20, "events sent first and not counted")
	csvPath := fs.String("csv", "", "also write each event's times to `FILE` (seq, landed and arrived in Unix ns, latency in ms), and keep the daemon's log beside it")
	fs.Parse(args)

	var mu sync.Mutex
	arrived := map[int]time.Time{}
	all := make(chan struct{})
	total := *n + *warm
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		now := time.Now()
		var body struct {
			Seq string `json:"seq"`
		}
		json.NewDecoder(r.Body).Decode(&body)
		seq, _ := strconv.Atoi(body.Seq)
		mu.Lock()
		if _, dup := arrived[seq]; !dup {
			arrived[seq] = now
			if len(arrived) == total {
				close(all)
			}
		}
		mu.Unlock()
	}))
	defer srv.Close()

	dir, err := os.MkdirTemp("", "logmedic-latency-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	drop := filepath.Join(dir, "drop")
	cfg := filepath.Join(dir, "logmedic.yaml")
	text := fmt.Sprintf(`state_dir: %q
sources:
  - {name: drop, folder: %q}
handlers:
  hook: {type: webhook, url: %q, body: {seq: "{{.RecordID}}"}}
rules:
  - name: volume-too-large
    match: {provider: Microsoft-Windows-Backup, error_code: 0x807800B4}
    actions: [{handler: hook}]
%s`, filepath.Join(dir, "state"), drop, srv.URL, filler(99))
	if err := os.WriteFile(cfg, []byte(text), 0o600); err != nil {
		return err
	}
	d, err := startDaemon(bin, cfg, filepath.Join(dir, "daemon.log"))
	if err != nil {
		return err
	}
	defer d.stop()

	landed := make(map[int]time.Time, total)
	for i := 1; i <= total; i++ {
		path := filepath.Join(drop, fmt.Sprintf("ev-%06d.xml", i))
		if err := dropAtomic(path, eventFile(i, 1)); err != nil {
			return err
		}
		landed[i] = time.Now()
		time.Sleep(*interval)
	}
	select {
	case <-all:
	case <-time.After(60 * time.Second):
		mu.Lock()
		got := len(arrived)
		mu.Unlock()
		return fmt.Errorf("only %d of %d events arrived within 60s of the last file", got, total)
	}
	var lat []time.Duration
	var csv strings.Builder
	csv.WriteString("seq,landed_ns,arrived_ns,latency_ms\n")
	mu.Lock()
	for i := *warm + 1; i <= total; i++ {
		lat = append(lat, arrived[i].Sub(landed[i]))
		fmt.Fprintf(&csv, "%d,%d,%d,%s\n", i, landed[i].UnixNano(), arrived[i].UnixNano(), ms(arrived[i].Sub(landed[i])))
	}
	mu.Unlock()
	if *csvPath != "" {
		if err := os.WriteFile(*csvPath, []byte(csv.String()), 0o644); err != nil {
			return err
		}
		d.stop()
		if b, err := os.ReadFile(d.logPath); err == nil {
			os.WriteFile(*csvPath+".daemon.log", b, 0o644)
		}
	}
	slices.Sort(lat)
	fmt.Printf("latency over %d events (one file each, %s apart, after %d warm-up events): min %s, p50 %s, p90 %s, p99 %s, max %s ms\n",
		len(lat), *interval, *warm, ms(lat[0]), ms(percentile(lat, 50)), ms(percentile(lat, 90)), ms(percentile(lat, 99)), ms(lat[len(lat)-1]))
	// Where the time goes: the "rule matched" line (the daemon's clock,
	// milliseconds) splits it into the folder source's part (waiting for
	// the file to settle, reading, decoding, matching) and the rest
	// (committing the actions and the checkpoint, dispatching, recording
	// the attempt, sending).
	if b, err := os.ReadFile(d.logPath); err == nil {
		var toMatch, fromMatch []time.Duration
		for line := range strings.Lines(string(b)) {
			if !strings.Contains(line, `"msg":"rule matched"`) {
				continue
			}
			var l struct {
				RecordID int `json:"record_id"`
			}
			json.Unmarshal([]byte(line), &l)
			if l.RecordID <= *warm || l.RecordID > total {
				continue
			}
			t := logTime(line)
			mu.Lock()
			toMatch = append(toMatch, t.Sub(landed[l.RecordID]))
			fromMatch = append(fromMatch, arrived[l.RecordID].Sub(t))
			mu.Unlock()
		}
		slices.Sort(toMatch)
		slices.Sort(fromMatch)
		fmt.Printf("  landed -> matched (settle, read, decode, match): p50 %s, p99 %s, max %s ms\n", ms(percentile(toMatch, 50)), ms(percentile(toMatch, 99)), ms(percentile(toMatch, 100)))
		fmt.Printf("  matched -> received (enqueue, dispatch, send):   p50 %s, p99 %s, max %s ms (log times have 1 ms steps)\n", ms(percentile(fromMatch, 50)), ms(percentile(fromMatch, 99)), ms(percentile(fromMatch, 100)))
		result("latency_to_match_p50_ms", "%s", ms(percentile(toMatch, 50)))
		result("latency_to_match_p99_ms", "%s", ms(percentile(toMatch, 99)))
		result("latency_after_match_p50_ms", "%s", ms(percentile(fromMatch, 50)))
		result("latency_after_match_p99_ms", "%s", ms(percentile(fromMatch, 99)))
	}
	result("latency_events", "%d", len(lat))
	result("latency_min_ms", "%s", ms(lat[0]))
	result("latency_p50_ms", "%s", ms(percentile(lat, 50)))
	result("latency_p90_ms", "%s", ms(percentile(lat, 90)))
	result("latency_p99_ms", "%s", ms(percentile(lat, 99)))
	result("latency_max_ms", "%s", ms(lat[len(lat)-1]))
	return nil
}

// idle reads the daemon's resident memory and CPU time after it started
// and after -seconds of idling (a drop folder, a webhook and a log
// handler, 100 rules, no events).
func idle(bin string, args []string) error {
	fs := flag.NewFlagSet("idle", flag.ExitOnError)
	seconds := fs.Int("seconds", 60, "idle period")
	settle := fs.Duration("settle", 2*time.Second, "wait after start before the first reading")
	fs.Parse(args)

	dir, err := os.MkdirTemp("", "logmedic-idle-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	cfg := filepath.Join(dir, "logmedic.yaml")
	text := fmt.Sprintf(`state_dir: %q
sources:
  - {name: drop, folder: %q}
handlers:
  hook: {type: webhook, url: "http://127.0.0.1:9/"}
  audit: {type: log}
rules:
  - name: volume-too-large
    match: {provider: Microsoft-Windows-Backup, error_code: 0x807800B4}
    actions: [{handler: hook}, {handler: audit}]
%s`, filepath.Join(dir, "state"), filepath.Join(dir, "drop"), filler(99))
	if err := os.WriteFile(cfg, []byte(text), 0o600); err != nil {
		return err
	}
	d, err := startDaemon(bin, cfg, filepath.Join(dir, "daemon.log"))
	if err != nil {
		return err
	}
	defer d.stop()
	pid := d.cmd.Process.Pid
	time.Sleep(*settle)
	rss0, err := procStatus(pid, "VmRSS")
	if err != nil {
		return err
	}
	t0, err := cpuTicks(pid)
	if err != nil {
		return err
	}
	n0, _ := cpuNanos(pid)
	start := time.Now()
	time.Sleep(time.Duration(*seconds) * time.Second)
	rss1, err := procStatus(pid, "VmRSS")
	if err != nil {
		return err
	}
	hwm, _ := procStatus(pid, "VmHWM")
	t1, err := cpuTicks(pid)
	if err != nil {
		return err
	}
	n1, _ := cpuNanos(pid)
	wall := time.Since(start)
	cpuMs := float64(t1-t0) * 10 // USER_HZ is 100 on Linux
	per60 := cpuMs * 60 / wall.Seconds()
	nsMs := float64(n1-n0) / 1e6
	fmt.Printf("idle: RSS %d kB after start (+%s), %d kB after %s idle (peak %d kB); CPU %.0f ms (utime+stime, 10 ms ticks; %.1f ms by schedstat) = %.1f ms per 60 s\n",
		rss0, *settle, rss1, wall.Round(time.Second), hwm, cpuMs, nsMs, per60)
	result("idle_seconds", "%.0f", wall.Seconds())
	result("idle_rss_start_kb", "%d", rss0)
	result("idle_rss_end_kb", "%d", rss1)
	result("idle_rss_peak_kb", "%d", hwm)
	result("idle_cpu_ms", "%.0f", cpuMs)
	result("idle_cpu_schedstat_ms", "%.1f", nsMs)
	result("idle_cpu_ms_per_60s", "%.1f", per60)
	result("idle_cpu_schedstat_ms_per_60s", "%.1f", nsMs*60/wall.Seconds())
	return nil
}

// throughput puts -events events in -files files in the drop folder,
// starts the daemon and times it from its "logmedic started" line until
// the log accounts for every event: decode, 100 rules, the match log
// line, and one outbox transaction per chunk. With -actions each event
// also queues one log-handler action (counted by the "actions queued"
// lines), and delivery is then watched for -deliver, or until all are
// delivered.
func throughput(bin string, args []string) error {
	fs := flag.NewFlagSet("throughput", flag.ExitOnError)
	n := fs.Int("events", 100000, "events")
	files := fs.Int("files", 100, "files they are spread over")
	withActions := fs.Bool("actions", false, "each event queues one action for a log handler")
	deliver := fs.Duration("deliver", 20*time.Second, "with -actions, how long to watch delivery after queueing")
	label := fs.String("label", "", "prefix of the RESULT names")
	fs.Parse(args)

	dir, err := os.MkdirTemp("", "logmedic-throughput-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	drop := filepath.Join(dir, "drop")
	if err := os.MkdirAll(drop, 0o700); err != nil {
		return err
	}
	per := (*n + *files - 1) / *files
	bytesTotal := 0
	for f, first := 0, 1; first <= *n; f, first = f+1, first+per {
		data := eventFile(first, min(per, *n-first+1))
		bytesTotal += len(data)
		if err := os.WriteFile(filepath.Join(drop, fmt.Sprintf("replay-%04d.xml", f)), data, 0o600); err != nil {
			return err
		}
	}
	actions := ""
	if *withActions {
		actions = "    actions: [{handler: audit}]\n"
	}
	cfg := filepath.Join(dir, "logmedic.yaml")
	text := fmt.Sprintf(`state_dir: %q
sources:
  - {name: drop, folder: %q}
handlers:
  audit: {type: log, level: info}
rules:
  - name: volume-too-large
    match: {provider: Microsoft-Windows-Backup, error_code: 0x807800B4}
%s%s`, filepath.Join(dir, "state"), drop, actions, filler(99))
	if err := os.WriteFile(cfg, []byte(text), 0o600); err != nil {
		return err
	}
	logPath := filepath.Join(dir, "daemon.log")
	d, err := startDaemon(bin, cfg, logPath, `"msg":"rule matched"`, `"msg":"actions queued"`, `"msg":"action delivered"`, `"msg":"input could not be decoded"`)
	if err != nil {
		return err
	}
	defer d.stop()
	pid := d.cmd.Process.Pid
	startedAt := d.started
	cpu0, _ := cpuTicks(pid)
	// The times come from the log lines themselves (the daemon's clock,
	// milliseconds), not from when this process read them.
	var queuedAt, drainedAt time.Time
	matched, queued, delivered, undecodable, peak, cpuQueued := 0, 0, 0, 0, 0, 0
	// VmHWM counts the outbox's memory-mapped file too (bbolt maps it):
	// the anonymous (heap) and file-backed parts are sampled apart.
	anonPeak, filePeak := 0, 0
	timeout := time.After(30 * time.Minute)
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	var deliverEnd <-chan time.Time
	for queuedAt.IsZero() || deliverEnd != nil {
		select {
		case line, ok := <-d.lines:
			if !ok {
				return fmt.Errorf("the daemon stopped (log: %s)", logPath)
			}
			switch {
			case strings.Contains(line, `"msg":"rule matched"`):
				matched++
			case strings.Contains(line, `"msg":"action delivered"`):
				delivered++
				if delivered == *n {
					drainedAt, deliverEnd = logTime(line), nil
				}
			case strings.Contains(line, `"msg":"actions queued"`):
				var l struct{ Queued int }
				json.Unmarshal([]byte(line), &l)
				queued += l.Queued
			default:
				undecodable++
			}
			// Without actions nothing is queued: the match lines, logged
			// just before each chunk's checkpoint is written, show the
			// progress.
			if queuedAt.IsZero() && ((*withActions && queued >= *n) || (!*withActions && matched >= *n)) {
				queuedAt = logTime(line)
				cpuQueued, _ = cpuTicks(pid)
				if rss, err := procStatus(pid, "VmHWM"); err == nil {
					peak = max(peak, rss)
				}
				if *withActions && delivered < *n {
					fmt.Printf("queued %d actions after %s; %d delivered so far; watching delivery for %s\n", queued, queuedAt.Sub(startedAt).Round(time.Millisecond), delivered, *deliver)
					deliverEnd = time.After(*deliver)
				}
			}
		case <-tick.C:
			if rss, err := procStatus(pid, "VmHWM"); err == nil {
				peak = max(peak, rss)
			}
			if a, err := procStatus(pid, "RssAnon"); err == nil {
				anonPeak = max(anonPeak, a)
			}
			if f, err := procStatus(pid, "RssFile"); err == nil {
				filePeak = max(filePeak, f)
			}
		case <-deliverEnd:
			deliverEnd = nil
		case <-timeout:
			return fmt.Errorf("timed out: %d matched, %d queued, %d delivered", matched, queued, delivered)
		}
	}
	el := queuedAt.Sub(startedAt)
	rate := float64(*n) / el.Seconds()
	what := "decode + 100 rules + match log line + checkpoint"
	if *withActions {
		what = "decode + 100 rules + match log line + enqueue (one action per event) + checkpoint, with the dispatcher delivering alongside"
	}
	fmt.Printf("throughput (%s): %d events (%d files, %.1f MB) in %s = %.0f events/s; CPU %d ms; peak RSS %d kB (sampled: anonymous up to %d kB, file-backed up to %d kB)\n",
		what, *n, *files, float64(bytesTotal)/1e6, el.Round(time.Millisecond), rate, (cpuQueued-cpu0)*10, peak, anonPeak, filePeak)
	p := *label
	result(p+"events", "%d", *n)
	result(p+"seconds", "%.3f", el.Seconds())
	result(p+"events_per_s", "%.0f", rate)
	result(p+"cpu_ms", "%d", (cpuQueued-cpu0)*10)
	result(p+"peak_rss_kb", "%d", peak)
	result(p+"peak_anon_kb", "%d", anonPeak)
	result(p+"peak_file_kb", "%d", filePeak)
	if undecodable > 0 {
		return fmt.Errorf("%d inputs could not be decoded", undecodable)
	}
	if *withActions {
		end := time.Now() // of the watch: delivery still going on
		if !drainedAt.IsZero() {
			end = drainedAt
		}
		rate := float64(delivered) / end.Sub(startedAt).Seconds()
		if drainedAt.IsZero() {
			fmt.Printf("delivery: %d of %d actions delivered by %s after all were queued (%.0f actions/s since start); the rest were still queued\n",
				delivered, *n, end.Sub(queuedAt).Round(time.Second), rate)
		} else {
			fmt.Printf("delivery: all %d actions delivered %s after start (%.0f actions/s)\n", *n, end.Sub(startedAt).Round(time.Millisecond), rate)
		}
		result(p+"delivered", "%d", delivered)
		result(p+"delivery_seconds", "%.3f", end.Sub(startedAt).Seconds())
		result(p+"delivered_per_s", "%.0f", rate)
	}
	return nil
}

// fsync times small writes each followed by fsync in the temporary
// directory, where the daemon's outbox lives during the measurements:
// every outbox commit waits for one (bbolt syncs each transaction).
func fsync(args []string) error {
	fs := flag.NewFlagSet("fsync", flag.ExitOnError)
	n := fs.Int("n", 300, "writes")
	fs.Parse(args)
	f, err := os.CreateTemp("", "logmedic-fsync-")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	defer f.Close()
	page := make([]byte, 4096)
	var lat []time.Duration
	for i := range *n {
		start := time.Now()
		if _, err := f.WriteAt(page, int64(i%64)*4096); err != nil {
			return err
		}
		if err := f.Sync(); err != nil {
			return err
		}
		lat = append(lat, time.Since(start))
	}
	slices.Sort(lat)
	fmt.Printf("fsync of a 4 KiB write, %d times: p50 %s, p99 %s, max %s ms\n", *n, ms(percentile(lat, 50)), ms(percentile(lat, 99)), ms(lat[len(lat)-1]))
	result("fsync_p50_ms", "%s", ms(percentile(lat, 50)))
	result("fsync_p99_ms", "%s", ms(percentile(lat, 99)))
	result("fsync_max_ms", "%s", ms(lat[len(lat)-1]))
	return nil
}
