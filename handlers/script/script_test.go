package script

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/logmedic/logmedic/handlers"
	"github.com/logmedic/logmedic/handlers/handlertest"
	"github.com/logmedic/logmedic/watcher"
)

// The test binary is also the program under test: run with
// SCRIPT_TEST_HELPER set, TestMain does what that mode says instead of
// running tests. SCRIPT_TEST_OUT names the file a mode writes to.
const (
	helperEnv = "SCRIPT_TEST_HELPER"
	outEnv    = "SCRIPT_TEST_OUT"
)

// helpers are the modes; OS-specific test files add theirs.
var helpers = map[string]func() int{
	// report writes what the program received to SCRIPT_TEST_OUT.
	"report": func() int {
		stdin, err := io.ReadAll(os.Stdin)
		if err != nil {
			return 10
		}
		wd, _ := os.Getwd()
		b, _ := json.Marshal(report{Argv: os.Args, Env: os.Environ(), Stdin: string(stdin), Dir: wd})
		if err := os.WriteFile(os.Getenv(outEnv), b, 0o600); err != nil {
			return 11
		}
		fmt.Println("reported")
		return 0
	},
	// fail explains itself on stderr and exits 3.
	"fail": func() int {
		fmt.Println("checking E:")
		fmt.Fprintln(os.Stderr, "disk full")
		return 3
	},
	// flood writes 10,000 bytes of digits and exits 1.
	"flood": func() int {
		os.Stdout.WriteString(strings.Repeat("0123456789", 1000))
		return 1
	},
	// say writes SCRIPT_TEST_SAY and then LM_TEST_SECRET_VAR, when set,
	// to stdout and exits 2.
	"say": func() int {
		os.Stdout.WriteString(os.Getenv("SCRIPT_TEST_SAY"))
		if v, ok := os.LookupEnv("LM_TEST_SECRET_VAR"); ok {
			os.Stdout.WriteString(" inherited " + v)
		}
		return 2
	},
	// sleep writes its PID to SCRIPT_TEST_OUT and sleeps.
	"sleep": func() int {
		writePID(os.Getenv(outEnv), os.Getpid())
		time.Sleep(time.Hour)
		return 0
	},
}

func TestMain(m *testing.M) {
	if mode := os.Getenv(helperEnv); mode != "" {
		f := helpers[mode]
		if f == nil {
			fmt.Fprintf(os.Stderr, "no helper mode %q\n", mode)
			os.Exit(100)
		}
		os.Exit(f())
	}
	// Under -race a program exiting 0 sleeps a second to report races;
	// the helpers need not.
	os.Setenv("GORACE", "atexit_sleep_ms=0")
	os.Exit(m.Run())
}

type report struct {
	Argv  []string
	Env   []string
	Stdin string
	Dir   string
}

// writePID writes pid to path atomically.
func writePID(path string, pid int) {
	tmp := path + ".tmp"
	os.WriteFile(tmp, []byte(fmt.Sprint(pid)), 0o600)
	os.Rename(tmp, path)
}

// self is the test binary's path: an absolute, existing executable.
func self(t *testing.T) string {
	t.Helper()
	p, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func tmpls(t *testing.T, texts ...string) []*handlers.Template {
	t.Helper()
	var ts []*handlers.Template
	for _, s := range texts {
		tm, err := handlers.NewTemplate(s)
		if err != nil {
			t.Fatal(err)
		}
		ts = append(ts, tm)
	}
	return ts
}

func envTmpls(t *testing.T, kv ...string) map[string]*handlers.Template {
	t.Helper()
	m := map[string]*handlers.Template{}
	for i := 0; i < len(kv); i += 2 {
		m[kv[i]] = tmpls(t, kv[i+1])[0]
	}
	return m
}

// helperConfig runs the test binary in mode, writing to out.
func helperConfig(t *testing.T, mode, out string, args ...string) *Config {
	return &Config{Program: self(t), Args: tmpls(t, args...), Env: envTmpls(t, helperEnv, mode, outEnv, out)}
}

func newHandler(t *testing.T, c *Config) (*Handler, *observer.ObservedLogs) {
	t.Helper()
	core, logs := observer.New(zapcore.InfoLevel)
	h, err := New(c, handlers.Options{Name: "fix", Logger: zap.New(core)})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return h, logs
}

func readReport(t *testing.T, path string) report {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("the program did not report: %v", err)
	}
	var r report
	if err := json.Unmarshal(b, &r); err != nil {
		t.Fatal(err)
	}
	return r
}

// envMap maps names to values, failing on a name given twice.
func envMap(t *testing.T, env []string) map[string]string {
	t.Helper()
	m := map[string]string{}
	for _, kv := range env {
		k, v, _ := strings.Cut(kv, "=")
		if _, dup := m[k]; dup {
			t.Errorf("environment has %s twice", k)
		}
		m[k] = v
	}
	return m
}

// oneLog returns the only log entry, failing unless its message is msg.
func oneLog(t *testing.T, logs *observer.ObservedLogs, msg string) map[string]any {
	t.Helper()
	all := logs.All()
	if len(all) != 1 || all[0].Message != msg {
		t.Fatalf("logs = %+v, want one %q", all, msg)
	}
	return all[0].ContextMap()
}

func TestDeliverPassesArgsEnvStdin(t *testing.T) {
	t.Setenv("SCRIPT_TEST_DAEMON", "inherited")
	t.Setenv("LOGMEDIC_RULE", "from the daemon, overridden")
	out := filepath.Join(t.TempDir(), "report.json")
	dir := t.TempDir()
	c := helperConfig(t, "report", out, "--target", `{{.Field "BackupTarget"}}`, "{{.ErrorCode}}", "", "two words")
	c.Env["TARGET"] = tmpls(t, `{{.Field "backuptarget"}}`)[0]
	c.Dir = dir
	h, logs := newHandler(t, c)

	a := handlertest.Action(t, h, handlertest.Event(), "backup-failed", nil)
	a.Repeats = 4
	retry, err := h.Deliver(context.Background(), a)
	if err != nil || retry {
		t.Fatalf("Deliver = %v, %v; want false, nil", retry, err)
	}
	r := readReport(t, out)

	wantArgv := []string{self(t), "--target", `\\nas01\images`, "0x807800B4", "", "two words"}
	if !slices.Equal(r.Argv, wantArgv) {
		t.Errorf("argv = %q, want %q", r.Argv, wantArgv)
	}
	env := envMap(t, r.Env)
	for k, v := range map[string]string{
		"LOGMEDIC_RULE":        "backup-failed",
		"LOGMEDIC_ACTION_ID":   a.ID,
		"LOGMEDIC_DEDUP_KEY":   "backup-failed/WS-0142.corp.example/0x807800B4",
		"LOGMEDIC_COMPUTER":    "WS-0142.corp.example",
		"LOGMEDIC_CHANNEL":     "Microsoft-Windows-Backup",
		"LOGMEDIC_PROVIDER":    "Microsoft-Windows-Backup",
		"LOGMEDIC_EVENT_ID":    "5",
		"LOGMEDIC_RECORD_ID":   "1412",
		"LOGMEDIC_LEVEL":       "error",
		"LOGMEDIC_ERROR_CODE":  "0x807800B4",
		"LOGMEDIC_ERROR_CODES": "0x807800B4",
		"LOGMEDIC_REPEATS":     "4",
		"TARGET":               `\\nas01\images`,
		"SCRIPT_TEST_DAEMON":   "inherited",
	} {
		if got, ok := env[k]; !ok || got != v {
			t.Errorf("env %s = %q (set %v), want %q", k, got, ok, v)
		}
	}
	if got, want := evalDir(t, r.Dir), evalDir(t, dir); got != want {
		t.Errorf("working directory = %s, want %s", got, want)
	}

	var in input
	if err := json.Unmarshal([]byte(r.Stdin), &in); err != nil {
		t.Fatalf("stdin %q: %v", r.Stdin, err)
	}
	want := input{Rule: "backup-failed", Handler: "h", ActionID: a.ID, DedupKey: env["LOGMEDIC_DEDUP_KEY"], Repeats: 4, Event: handlertest.Event()}
	if !reflect.DeepEqual(in, want) {
		t.Errorf("stdin = %+v\nwant %+v", in, want)
	}

	f := oneLog(t, logs, "script finished")
	if f["action_id"] != a.ID || f["rule"] != "backup-failed" || f["exit_code"] != int64(0) || f["truncated"] != false ||
		f["output_bytes"] != int64(len("reported\n")) || f["duration"].(time.Duration) <= 0 {
		t.Errorf("log fields = %v", f)
	}
	// Env values from the configuration stay out of the log.
	handlertest.NoSecret(t, `\\nas01\images`, fmt.Sprint(logs.All()))
}

func evalDir(t *testing.T, d string) string {
	t.Helper()
	p, err := filepath.EvalSymlinks(d)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestDeliverHostileTextArrivesVerbatim(t *testing.T) {
	tmp := t.TempDir()
	marker := filepath.Join(tmp, "pwned")
	evil := "$(touch " + marker + ") ; touch " + marker + " & `touch " + marker + "` | touch " + marker +
		` && "x" 'y' <b>z</b> ]]> {{.Rule}} %PATH% ^& \"` + "\r\n-rf\n" + `\` + ` $HOME ${IFS} !! ~`
	e := handlertest.HostileEvent()
	e.Message = evil
	e.Data = append(e.Data, watcher.Field{Name: "Mine", Value: evil})
	_, statErr := os.Stat("/tmp/pwned")
	pwnedBefore := statErr == nil

	out := filepath.Join(tmp, "report.json")
	c := helperConfig(t, "report", out, "{{.Computer}}", "{{.Message}}", `{{.Field "Evil"}}`, `{{.Field "Mine"}}`)
	c.Env["EVIL"] = tmpls(t, `{{.Field "Mine"}}`)[0]
	h, _ := newHandler(t, c)
	a := handlertest.Action(t, h, e, "backup-failed", nil)
	if retry, err := h.Deliver(context.Background(), a); err != nil {
		t.Fatalf("Deliver = %v, %v", retry, err)
	}
	r := readReport(t, out)

	if want := []string{self(t), "PC" + handlertest.Hostile, evil, handlertest.Hostile, evil}; !slices.Equal(r.Argv, want) {
		t.Errorf("argv =\n%q\nwant\n%q", r.Argv, want)
	}
	env := envMap(t, r.Env)
	if env["EVIL"] != evil {
		t.Errorf("EVIL = %q, want %q", env["EVIL"], evil)
	}
	if env["LOGMEDIC_COMPUTER"] != "PC"+handlertest.Hostile {
		t.Errorf("LOGMEDIC_COMPUTER = %q", env["LOGMEDIC_COMPUTER"])
	}
	var in input
	if err := json.Unmarshal([]byte(r.Stdin), &in); err != nil {
		t.Fatal(err)
	}
	if in.Event.Computer != "PC"+handlertest.Hostile || in.Event.Message != evil || !reflect.DeepEqual(in.Event.Data, e.Data) {
		t.Errorf("stdin event = %+v", in.Event)
	}
	if _, err := os.Stat(marker); err == nil {
		t.Errorf("%s exists: event text was run", marker)
	}
	if _, err := os.Stat("/tmp/pwned"); err == nil && !pwnedBefore {
		t.Error("/tmp/pwned exists: event text was run")
	}
}

func TestDeliverNonZeroExit(t *testing.T) {
	h, logs := newHandler(t, helperConfig(t, "fail", ""))
	a := handlertest.Action(t, h, handlertest.Event(), "backup-failed", nil)
	retry, err := h.Deliver(context.Background(), a)
	if err == nil || !retry {
		t.Fatalf("Deliver = %v, %v; want retry and an error", retry, err)
	}
	for _, s := range []string{"exit code 3", "checking E:", "disk full"} {
		if !strings.Contains(err.Error(), s) {
			t.Errorf("error %q lacks %q", err, s)
		}
	}
	if f := oneLog(t, logs, "script failed"); f["exit_code"] != int64(3) || f["action_id"] != a.ID || f["timed_out"] != false {
		t.Errorf("log fields = %v", f)
	}
}

func TestDeliverCapsOutput(t *testing.T) {
	c := helperConfig(t, "flood", "")
	c.MaxOutput = 100
	h, logs := newHandler(t, c)
	a := handlertest.Action(t, h, handlertest.Event(), "backup-failed", nil)
	_, err := h.Deliver(context.Background(), a)
	if err == nil {
		t.Fatal("Deliver succeeded; the program exits 1")
	}
	head := strings.Repeat("0123456789", 10)
	if !strings.Contains(err.Error(), "output (truncated, first 100 of 10000 bytes): "+head) || strings.Contains(err.Error(), head+"0") {
		t.Errorf("error = %q, want the first 100 bytes and a truncation note", err)
	}
	if f := oneLog(t, logs, "script failed"); f["output_bytes"] != int64(10000) || f["truncated"] != true || f["exit_code"] != int64(1) {
		t.Errorf("log fields = %v", f)
	}
}

func TestCapped(t *testing.T) {
	tests := []struct {
		name   string
		writes []string
		max    int
		want   string
	}{
		{"under", []string{"ab", "c"}, 4, "abc"},
		{"exactly", []string{"ab", "cd"}, 4, "abcd"},
		{"split write", []string{"ab", "cdef"}, 3, "abc"},
		{"after full", []string{"abc", "d", "e"}, 3, "abc"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := &capped{max: tt.max}
			total := 0
			for _, w := range tt.writes {
				if n, err := c.Write([]byte(w)); n != len(w) || err != nil {
					t.Fatalf("Write = %d, %v", n, err)
				}
				total += len(w)
			}
			if string(c.buf) != tt.want || c.n != int64(total) {
				t.Errorf("kept %q of %d, want %q of %d", c.buf, c.n, tt.want, total)
			}
		})
	}
}

func TestDeliverProgramMissing(t *testing.T) {
	prog := filepath.Join(t.TempDir(), "fix.exe")
	if err := os.WriteFile(prog, []byte("#!/bin/sh\nexit 0\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	h, _ := newHandler(t, &Config{Program: prog})
	a := handlertest.Action(t, h, handlertest.Event(), "backup-failed", nil)
	if err := os.Remove(prog); err != nil {
		t.Fatal(err)
	}
	retry, err := h.Deliver(context.Background(), a)
	if err == nil || retry {
		t.Fatalf("Deliver = %v, %v; want no retry and an error", retry, err)
	}
	if !errors.Is(err, os.ErrNotExist) || !strings.Contains(err.Error(), "removed since the configuration was loaded") {
		t.Errorf("error = %v", err)
	}
}

func TestDeliverCancelledRunsNothing(t *testing.T) {
	out := filepath.Join(t.TempDir(), "report.json")
	h, _ := newHandler(t, helperConfig(t, "report", out))
	a := handlertest.Action(t, h, handlertest.Event(), "backup-failed", nil)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if retry, err := h.Deliver(ctx, a); !retry || !errors.Is(err, context.Canceled) {
		t.Errorf("Deliver = %v, %v; want retry and context.Canceled", retry, err)
	}
	if _, err := os.Stat(out); err == nil {
		t.Error("the program ran")
	}
}

func TestNULIsRefused(t *testing.T) {
	e := handlertest.Event()
	e.Data = append(e.Data, watcher.Field{Name: "Evil", Value: "a\x00b"})
	h, _ := newHandler(t, &Config{Program: self(t), Args: tmpls(t, "ok", `{{.Field "Evil"}}`)})
	d := handlers.NewData(&e, "r", "")
	if _, err := h.Prepare(d, nil); err == nil || !strings.Contains(err.Error(), "args element 2") || !strings.Contains(err.Error(), "NUL") {
		t.Errorf("Prepare = %v, want a NUL error at args element 2", err)
	}

	// Event text in LOGMEDIC_* is checked at delivery.
	h, _ = newHandler(t, &Config{Program: self(t)})
	e = handlertest.Event()
	e.Provider = "Microsoft-Windows-Backup\x00"
	a := handlertest.Action(t, h, e, "r", nil)
	if retry, err := h.Deliver(context.Background(), a); retry || err == nil || !strings.Contains(err.Error(), "LOGMEDIC_PROVIDER") {
		t.Errorf("Deliver = %v, %v; want no retry and a LOGMEDIC_PROVIDER error", retry, err)
	}
}

func TestPrepareRefusesWith(t *testing.T) {
	h, _ := newHandler(t, &Config{Program: self(t)})
	d := handlers.SampleData()
	if _, err := h.Prepare(d, map[string]*handlers.Template{"args": tmpls(t, "x")[0]}); err == nil || !strings.Contains(err.Error(), "with: args") {
		t.Errorf("Prepare = %v, want an error naming with: args", err)
	}
	if len(Params()) != 0 {
		t.Errorf("Params = %v, want none: Prepare refuses every with: key", Params())
	}
}

func TestPreviewRunsNothing(t *testing.T) {
	out := filepath.Join(t.TempDir(), "report.json")
	dir := t.TempDir()
	c := helperConfig(t, "report", out, "--computer", "{{.Computer}}")
	c.Dir = dir
	h, logs := newHandler(t, c)
	a := handlertest.Action(t, h, handlertest.Event(), "backup-failed", nil)
	p, err := h.Preview(a)
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{self(t), "--computer", "WS-0142.corp.example"}; !slices.Equal(p.Argv, want) {
		t.Errorf("argv = %q, want %q", p.Argv, want)
	}
	env := envMap(t, p.Env)
	if len(env) != 14 || env["LOGMEDIC_RULE"] != "backup-failed" || env["LOGMEDIC_RECORD_ID"] != "1412" || env[outEnv] != out || env[helperEnv] != "report" {
		t.Errorf("env = %q, want the 12 LOGMEDIC_* variables and the 2 configured", p.Env)
	}
	if p.Dir != dir {
		t.Errorf("dir = %q, want %q", p.Dir, dir)
	}
	var in input
	if err := json.Unmarshal([]byte(p.Stdin), &in); err != nil || in.ActionID != a.ID || in.Event.RecordID != 1412 {
		t.Errorf("stdin = %q (%v)", p.Stdin, err)
	}
	if _, err := os.Stat(out); err == nil {
		t.Error("Preview ran the program")
	}
	if n := logs.Len(); n != 0 {
		t.Errorf("Preview logged %d entries", n)
	}
}

// validateCase is a configuration and the one problem Validate must
// report, as key and part of the message; an empty key means none.
type validateCase struct {
	name string
	c    *Config
	key  string
	msg  string
}

func runValidateCases(t *testing.T, tests []validateCase) {
	t.Helper()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// What the loader runs: Validate, then, if it passed, CheckHost.
			err := tt.c.Validate()
			if err == nil {
				err = tt.c.CheckHost()
			}
			fes := handlertest.FieldErrors(t, err)
			if tt.key == "" {
				if len(fes) != 0 {
					t.Fatalf("Validate = %v, want nil", fes)
				}
				if _, err := New(tt.c, handlers.Options{}); err != nil {
					t.Errorf("New: %v", err)
				}
				return
			}
			if len(fes) != 1 || fes[0].Key != tt.key || !strings.Contains(fes[0].Msg, tt.msg) {
				t.Fatalf("Validate = %v, want one error at %s containing %q", fes, tt.key, tt.msg)
			}
			if _, err := New(tt.c, handlers.Options{}); err == nil && tt.c.Validate() != nil {
				t.Error("New accepted what Validate refuses")
			}
		})
	}
}

func TestValidate(t *testing.T) {
	tmp := t.TempDir()
	prog := self(t)
	ps := filepath.Join(tmp, "powershell.exe")
	if err := os.WriteFile(ps, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(tmp, "file")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	sh := filepath.Join(tmp, "sh")
	if err := os.WriteFile(sh, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	withEnv := func(kv ...string) *Config { return &Config{Program: prog, Env: envTmpls(t, kv...)} }
	psArgs := func(args ...string) *Config { return &Config{Program: ps, Args: tmpls(t, args...)} }

	runValidateCases(t, []validateCase{
		{"valid", &Config{Program: prog, Args: tmpls(t, "-x", "{{.Computer}}"), Env: envTmpls(t, "X", "{{.ErrorCode}}", "_y2", ""), Dir: tmp, MaxOutput: 1 << 20}, "", ""},
		{"no program", &Config{}, "program", "required"},
		{"relative program", &Config{Program: "bin/fix"}, "program", "not an absolute path"},
		{"bare name", &Config{Program: "fix.exe"}, "program", "not an absolute path"},
		{"missing program", &Config{Program: filepath.Join(tmp, "nope")}, "program", "does not exist"},
		{"directory", &Config{Program: tmp}, "program", "not a regular file"},
		{"bat", &Config{Program: `C:\scripts\fix.bat`}, "program", "batch file: Windows runs it through cmd.exe"},
		{"BAT on this OS", &Config{Program: filepath.Join(tmp, "FIX.BAT")}, "program", "golang/go#27199"},
		{"cmd", &Config{Program: `C:\scripts\fix.cmd`}, "program", "batch file"},
		{"cmd.exe", &Config{Program: `C:\Windows\System32\cmd.exe`}, "program", "command shell: Go cannot quote arguments for cmd.exe"},
		{"CMD.EXE", &Config{Program: `C:\Windows\System32\CMD.EXE`}, "program", "powershell.exe"},
		{"cmd without extension", &Config{Program: `C:\Windows\System32\cmd`}, "program", "command shell"},
		{"trailing dot", &Config{Program: `C:\scripts\fix.bat.`}, "program", "ends with a dot or a space"},
		{"stream", &Config{Program: `C:\scripts\fix.exe:evil.bat`}, "program", "colon"},
		{"powershell -File", psArgs("-NoProfile", "-NonInteractive", "-File", `C:\fix.ps1`, "{{.Computer}}"), "", ""},
		{"powershell -Command", psArgs("-NoProfile", "-Command", "Repair {{.Computer}}"), "args", "element 2, -Command, makes PowerShell run text as code"},
		{"powershell -c", psArgs("-c", "x"), "args", "-c, makes PowerShell run"},
		{"powershell -enc", psArgs("-enc", "AAAA"), "args", "-enc, makes PowerShell run"},
		{"powershell no -File", psArgs("Repair-Backup"), "args", "no -File"},
		{"powershell template first", psArgs("{{.Computer}}", "-File", `C:\fix.ps1`), "args", "element 1 is a template before -File"},
		{"powershell templated script", psArgs("-File", `C:\{{.Computer}}.ps1`), "args", "the script after -File, is a template"},
		{"args template fails on sample", &Config{Program: prog, Args: tmpls(t, "ok", "{{.Nope}}")}, "args", "element 2: template:"},
		{"args NUL", &Config{Program: prog, Args: tmpls(t, `{{printf "%c" 0}}`)}, "args", "NUL"},
		{"env name digit", withEnv("1X", ""), "env", `"1X": a name must be`},
		{"env name dash", withEnv("A-B", ""), "env", "a name must be"},
		{"env name equals", withEnv("A=B", ""), "env", "a name must be"},
		{"env LOGMEDIC_", withEnv("LOGMEDIC_RULE", ""), "env", "set by logmedic"},
		{"env logmedic_", withEnv("logmedic_x", ""), "env", "set by logmedic"},
		{"env case twins", withEnv("Path", "a", "PATH", "b"), "env", "by case"},
		{"env template", withEnv("X", "{{.Field}}"), "env", `"X": template:`},
		{"dir relative", &Config{Program: prog, Dir: "work"}, "dir", "not an absolute path"},
		{"dir missing", &Config{Program: prog, Dir: filepath.Join(tmp, "nope")}, "dir", "does not exist"},
		{"dir file", &Config{Program: prog, Dir: file}, "dir", "not a directory"},
		{"sh -c with event text", &Config{Program: "/bin/sh", Args: tmpls(t, "-c", `echo {{.Field "BackupTarget"}}`)}, "args",
			`element 2 is a template, and sh runs its arguments as code or commands, so event text would run: event text reaches such a program only through the LOGMEDIC_* environment variables and stdin; use "$LOGMEDIC_COMPUTER" inside a constant script`},
		{"sh -c constant", &Config{Program: sh, Args: tmpls(t, "-c", `fix --computer "$LOGMEDIC_COMPUTER" --target "$TARGET"`), Env: envTmpls(t, "TARGET", `{{.Field "BackupTarget"}}`)}, "", ""},
		{"bash.exe", &Config{Program: `C:\Windows\System32\bash.exe`, Args: tmpls(t, "{{.Computer}}")}, "args", "bash runs its arguments"},
		{"two templates", &Config{Program: "/usr/bin/bash", Args: tmpls(t, "{{.Rule}}", "-x", "{{.Computer}}")}, "args", "elements 1, 3 are templates"},
		{"python script with templated argument", &Config{Program: "/usr/bin/python3", Args: tmpls(t, "/opt/fix.py", "{{.Computer}}")}, "args", "python3 runs"},
		{"python3.12", &Config{Program: "/usr/bin/python3.12", Args: tmpls(t, "{{.Computer}}")}, "args", "python3.12 runs"},
		{"PYTHON.EXE", &Config{Program: `C:\Python312\PYTHON.EXE`, Args: tmpls(t, "-c", "print('{{.Computer}}')")}, "args", "python runs"},
		{"env", &Config{Program: "/usr/bin/env", Args: tmpls(t, "{{.Computer}}")}, "args", "env runs"},
		{"xargs", &Config{Program: "/usr/bin/xargs", Args: tmpls(t, "-I{}", "sh", "-c", "{{.Message}}")}, "args", "element 4"},
		{"find -exec", &Config{Program: "/usr/bin/find", Args: tmpls(t, "/", "-name", "{{.Computer}}")}, "args", "find runs"},
		{"awk", &Config{Program: "/usr/bin/gawk", Args: tmpls(t, "BEGIN{system(\"{{.Message}}\")}")}, "args", "gawk runs"},
		{"sed", &Config{Program: "/bin/sed", Args: tmpls(t, "{{.Message}}")}, "args", "sed runs"},
		{"busybox", &Config{Program: "/bin/busybox", Args: tmpls(t, "sh", "-c", "{{.Message}}")}, "args", "busybox runs"},
		{"perl", &Config{Program: "/usr/bin/perl", Args: tmpls(t, "-e", "{{.Message}}")}, "args", "perl runs"},
		{"node.exe", &Config{Program: `C:\Program Files\nodejs\node.exe`, Args: tmpls(t, "-e", "{{.Message}}")}, "args", "node runs"},
		{"osascript", &Config{Program: "/usr/bin/osascript", Args: tmpls(t, "-e", "{{.Message}}")}, "args", "osascript runs"},
		{"wsl.exe", &Config{Program: `C:\Windows\System32\wsl.exe`, Args: tmpls(t, "{{.Message}}")}, "args", "wsl runs"},
		{"wscript.exe", &Config{Program: `C:\Windows\System32\wscript.exe`, Args: tmpls(t, `C:\fix.vbs`, "{{.Computer}}")}, "args", "wscript runs"},
		{"cscript.exe", &Config{Program: `C:\Windows\System32\cscript.exe`, Args: tmpls(t, "{{.Computer}}")}, "args", "cscript runs"},
		{"mshta.exe", &Config{Program: `C:\Windows\System32\mshta.exe`, Args: tmpls(t, "{{.Message}}")}, "args", "mshta runs"},
		{"rundll32.exe", &Config{Program: `C:\Windows\System32\rundll32.exe`, Args: tmpls(t, "{{.Message}}")}, "args", "rundll32 runs"},
		{"forfiles.exe", &Config{Program: `C:\Windows\System32\forfiles.exe`, Args: tmpls(t, "/c", "{{.Message}}")}, "args", "forfiles runs"},
		{"sudo", &Config{Program: "/usr/bin/sudo", Args: tmpls(t, "{{.Message}}")}, "args", "sudo runs"},
		{"max_output negative", &Config{Program: prog, MaxOutput: -1}, "max_output", "outside"},
		{"max_output huge", &Config{Program: prog, MaxOutput: 1<<20 + 1}, "max_output", "outside"},
	})
}

func TestValidateReportsEveryProblem(t *testing.T) {
	c := &Config{Program: "fix", Dir: "work", MaxOutput: -1, Env: envTmpls(t, "1X", "")}
	var keys []string
	for _, fe := range handlertest.FieldErrors(t, c.Validate()) {
		keys = append(keys, fe.Key)
	}
	if want := []string{"program", "env", "dir", "max_output"}; !slices.Equal(keys, want) {
		t.Errorf("keys = %q, want %q", keys, want)
	}
}

func TestNewDefaults(t *testing.T) {
	h, err := New(&Config{Program: self(t)}, handlers.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if h.maxOutput != DefaultMaxOutput || h.log == nil {
		t.Errorf("maxOutput = %d, log = %v", h.maxOutput, h.log)
	}
}

func TestIsInterpreter(t *testing.T) {
	for _, program := range []string{
		"/bin/sh", "/bin/dash", "/usr/bin/zsh", "/bin/ksh", "/bin/mksh", "/bin/ash", "/usr/bin/fish", "/bin/csh", "/bin/tcsh",
		"/usr/bin/python", "/usr/bin/python2", "/usr/bin/python3.11", "/usr/bin/ruby", "/usr/bin/nodejs", "/usr/bin/php",
		"/usr/bin/lua5.4", "/usr/bin/tclsh8.6", "/usr/bin/wish", "/usr/bin/awk", "/usr/bin/mawk", `C:\x\PWSH.EXE`,
		`C:\Windows\System32\WSL.com`, `C:\Windows\System32\forfiles.exe`, "/usr/bin/ssh",
	} {
		name := programName(program)
		if !isInterpreter(name) && name != "pwsh" {
			t.Errorf("%s (%s) is not an interpreter", program, name)
		}
	}
	for _, program := range []string{"/usr/local/bin/fix", `C:\Tools\repair-backup.exe`, "/usr/bin/wbadmin", `C:\shell\fix.exe`, "/usr/bin/shred"} {
		if name := programName(program); isInterpreter(name) {
			t.Errorf("%s (%s) is taken for an interpreter", program, name)
		}
	}
}

func TestDeliverKeepsSecretsFromTheProgram(t *testing.T) {
	const (
		jiraToken = "jira-t0ken-0123456789"
		password  = "smtp-pa55word-abcdef"
	)
	t.Setenv("LM_TEST_SECRET_VAR", jiraToken)
	t.Setenv("SCRIPT_TEST_DAEMON", "inherited")
	o := func(logger *zap.Logger) handlers.Options {
		return handlers.Options{
			Name: "fix", Logger: logger,
			SecretEnv: []string{"LM_TEST_SECRET_VAR", "LM_TEST_SMTP_PASSWORD"},
			Secrets:   []handlers.Secret{handlers.NewSecret(jiraToken), handlers.NewSecret(password)},
		}
	}

	t.Run("environment", func(t *testing.T) {
		out := filepath.Join(t.TempDir(), "report.json")
		h, err := New(helperConfig(t, "report", out), o(zap.NewNop()))
		if err != nil {
			t.Fatal(err)
		}
		a := handlertest.Action(t, h, handlertest.Event(), "backup-failed", nil)
		if retry, err := h.Deliver(context.Background(), a); err != nil {
			t.Fatalf("Deliver = %v, %v", retry, err)
		}
		env := envMap(t, readReport(t, out).Env)
		if v, ok := env["LM_TEST_SECRET_VAR"]; ok {
			t.Errorf("the program got LM_TEST_SECRET_VAR=%q", v)
		}
		if env["SCRIPT_TEST_DAEMON"] != "inherited" || env["LOGMEDIC_RULE"] != "backup-failed" {
			t.Errorf("env = %v, want the daemon's other variables and LOGMEDIC_*", env)
		}
		p, err := h.Preview(a)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(p.Note, "without LM_TEST_SECRET_VAR, LM_TEST_SMTP_PASSWORD") {
			t.Errorf("preview note %q does not name the variables kept out", p.Note)
		}
	})

	t.Run("output", func(t *testing.T) {
		b64 := base64.StdEncoding.EncodeToString([]byte(password))
		c := helperConfig(t, "say", "")
		c.Env["SCRIPT_TEST_SAY"] = tmpls(t, "password "+password+" base64 "+b64+` json "a\"b"`)[0]
		core, logs := observer.New(zapcore.DebugLevel)
		opts := o(zap.New(core))
		opts.Secrets = append(opts.Secrets, handlers.NewSecret(`a"b`))
		h, err := New(c, opts)
		if err != nil {
			t.Fatal(err)
		}
		a := handlertest.Action(t, h, handlertest.Event(), "backup-failed", nil)
		retry, err := h.Deliver(context.Background(), a)
		if err == nil || !retry {
			t.Fatalf("Deliver = %v, %v; want retry and an error", retry, err)
		}
		if !strings.Contains(err.Error(), "password <redacted> base64 <redacted> json \"<redacted>\"") {
			t.Errorf("error %q, want the output with every secret redacted", err)
		}
		handlertest.NoSecret(t, password, err.Error(), fmt.Sprint(logs.All()))
		handlertest.NoSecret(t, b64, err.Error(), fmt.Sprint(logs.All()))
		handlertest.NoSecret(t, jiraToken, err.Error(), fmt.Sprint(logs.All()))
	})

	t.Run("secret cut by max_output", func(t *testing.T) {
		c := helperConfig(t, "say", "")
		c.Env["SCRIPT_TEST_SAY"] = tmpls(t, "0123456789"+password+" and more")[0]
		c.MaxOutput = 15 // the cut falls inside the password
		h, err := New(c, o(zap.NewNop()))
		if err != nil {
			t.Fatal(err)
		}
		_, err = h.Deliver(context.Background(), handlertest.Action(t, h, handlertest.Event(), "backup-failed", nil))
		if err == nil || !strings.Contains(err.Error(), "output (truncated, first 15 of ") || !strings.HasSuffix(err.Error(), ": 0123456789<redacted>") {
			t.Errorf("error %q, want the first 15 bytes, the cut password redacted whole", err)
		}
		handlertest.NoSecret(t, password[:5], err.Error())
	})
}

func TestWithoutVars(t *testing.T) {
	environ := []string{"PATH=/bin", "Jira_Token=t", "JIRA_TOKEN=u", "=C:=C:\\dir", "SMTP_PW=p=q", "X=JIRA_TOKEN", "EMPTY="}
	names := []string{"JIRA_TOKEN", "SMTP_PW", "EMPTY"}
	if got, want := withoutVars(environ, names, false), []string{"PATH=/bin", "Jira_Token=t", "=C:=C:\\dir", "X=JIRA_TOKEN"}; !slices.Equal(got, want) {
		t.Errorf("case-sensitive: %q, want %q", got, want)
	}
	if got, want := withoutVars(environ, names, true), []string{"PATH=/bin", "=C:=C:\\dir", "X=JIRA_TOKEN"}; !slices.Equal(got, want) {
		t.Errorf("ignoring case: %q, want %q", got, want)
	}
	if got := withoutVars(environ, []string{"=C:"}, true); slices.Contains(got, "=C:=C:\\dir") {
		t.Errorf("a name starting with = was not matched: %q", got)
	}
}

func TestRedactHead(t *testing.T) {
	secrets := handlers.SecretForms("s3cret", "abab")
	tests := []struct {
		name  string
		out   string
		limit int
		want  string
	}{
		{"none", "plain text", 100, "plain text"},
		{"cut without secrets", "plain text", 5, "plain"},
		{"inside", "a s3cret b", 100, "a <redacted> b"},
		{"cut inside a secret", "xx s3cret yy", 5, "xx <redacted>"},
		{"secret after the cut", "xx s3cret yy", 3, "xx "},
		{"overlapping occurrences", "ababab!", 100, "<redacted>!"},
		{"base64 form", "token czNjcmV0 end", 100, "token <redacted> end"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := string(redactHead([]byte(tt.out), tt.limit, secrets)); got != tt.want {
				t.Errorf("redactHead(%q, %d) = %q, want %q", tt.out, tt.limit, got, tt.want)
			}
		})
	}
}
