// Package script implements the "script" handler type: a scripted fix
// run as the daemon's account (SYSTEM on Windows). It is code execution,
// so it never uses a shell:
//
//   - The program is an absolute path to an existing file, checked when
//     the configuration loads. Batch files and cmd.exe are refused: Go
//     cannot quote arguments for cmd.exe (golang/go#27199). PowerShell is
//     allowed only with -File and constant arguments up to the script.
//     Other programs that run their arguments as code or commands (sh,
//     bash, python, perl, node, awk, sed, env, xargs, find, wsl, mshta,
//     rundll32...) take constant arguments only, judged by the program's
//     name and, on the machine that runs it, by the name of the file a
//     link leads to: such a script reads event text from its environment
//     and stdin, where it stays data.
//   - Each args element is rendered for the event and passed as exactly
//     one argument; nothing is joined, split or parsed by a shell.
//   - The environment is the daemon's, without the variables the
//     configuration reads secrets from (Options.SecretEnv, compared
//     without regard to case on Windows), plus LOGMEDIC_RULE,
//     LOGMEDIC_ACTION_ID, LOGMEDIC_DEDUP_KEY, LOGMEDIC_COMPUTER,
//     LOGMEDIC_CHANNEL, LOGMEDIC_PROVIDER, LOGMEDIC_EVENT_ID,
//     LOGMEDIC_RECORD_ID, LOGMEDIC_LEVEL, LOGMEDIC_ERROR_CODE (the lowest
//     code, 0x%08X, or empty), LOGMEDIC_ERROR_CODES (every code, comma
//     separated), LOGMEDIC_REPEATS, and then the configured env.
//   - Stdin is one JSON object, then end of file:
//     {"rule", "handler", "action_id", "dedup_key", "repeats", "resolve",
//     "event"}, where event is a handlers.Event.
//   - Stdout and stderr are captured together; the first max_output bytes
//     are kept for the log and the error, with every secret of the
//     configuration (Options.Secrets, and their JSON-escaped and base64
//     forms) replaced by <redacted>, a secret cut by the limit included.
//
// Exit code 0 is success. Any other exit code is an error that is retried
// (retry true): a fix usually fails for a reason that passes, such as a
// busy service or an unreachable share, and the retry policy bounds the
// attempts. A program that is missing or cannot be executed is not
// retried.
//
// At the timeout (the context's deadline; handlers.Timeout when it has
// none) the whole process tree is killed: a process group on Unix, a Job
// Object on Windows. When the program exits, whatever it left running in
// its group or job is killed too, so a fix cannot leave processes behind;
// long-lived work belongs to the service manager. Processes that leave
// the group (setsid) are not killed, but Deliver still returns promptly.
package script

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"go.uber.org/zap"

	"github.com/logmedic/logmedic/handlers"
)

// Handler runs one configured program for each action.
type Handler struct {
	program   string
	args      []*handlers.Template
	env       []namedTemplate
	dir       string
	maxOutput int
	log       *zap.Logger

	// secretEnv names the variables kept out of the program's
	// environment; secrets are redacted from its output, and overlap is
	// how many bytes past max_output are read to find a secret the limit
	// cuts (the longest one's length less one).
	secretEnv []string
	secrets   []handlers.Secret
	overlap   int

	// waitDelay is how long a killed program has to exit before it is
	// killed again, by itself.
	waitDelay time.Duration
	// drainWait is how long output is still read after the program and
	// its tree are gone, for processes that left the tree with its pipe.
	drainWait time.Duration
}

type namedTemplate struct {
	name string
	t    *handlers.Template
}

var (
	_ handlers.Handler   = (*Handler)(nil)
	_ handlers.Previewer = (*Handler)(nil)
)

// New returns the handler c configures. It validates c again.
func New(c *Config, o handlers.Options) (*Handler, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	log := o.Logger
	if log == nil {
		log = zap.NewNop()
	}
	h := &Handler{
		program:   c.Program,
		args:      slices.Clone(c.Args),
		dir:       c.Dir,
		maxOutput: c.MaxOutput,
		log:       log.With(zap.String("program", c.Program)),
		waitDelay: 2 * time.Second,
		drainWait: time.Second,
	}
	if h.maxOutput == 0 {
		h.maxOutput = DefaultMaxOutput
	}
	for _, name := range o.SecretEnv {
		if name != "" && !slices.Contains(h.secretEnv, name) {
			h.secretEnv = append(h.secretEnv, name)
		}
	}
	vals := make([]string, 0, len(o.Secrets))
	for _, sec := range o.Secrets {
		vals = append(vals, sec.Value())
	}
	h.secrets = handlers.SecretForms(vals...)
	for _, sec := range h.secrets {
		h.overlap = max(h.overlap, len(sec.Value())-1)
	}
	for name, t := range c.Env {
		h.env = append(h.env, namedTemplate{name, t})
	}
	slices.SortFunc(h.env, func(a, b namedTemplate) int { return strings.Compare(a.name, b.name) })
	return h, nil
}

// payload is what Prepare stores in the outbox.
type payload struct {
	Args []string `json:"args"`
	Env  []string `json:"env,omitempty"` // NAME=value, sorted by name
}

// Prepare renders args and env for the event. The script handler takes
// no with: parameters.
func (h *Handler) Prepare(d *handlers.Data, with map[string]*handlers.Template) (json.RawMessage, error) {
	if len(with) > 0 {
		keys := make([]string, 0, len(with))
		for k := range with {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		return nil, fmt.Errorf("with: %s: the script handler takes no parameters", strings.Join(keys, ", "))
	}
	p := payload{Args: make([]string, len(h.args))}
	for i, t := range h.args {
		s, err := t.Execute(d)
		if err != nil {
			return nil, fmt.Errorf("args element %d: %w", i+1, err)
		}
		if strings.IndexByte(s, 0) >= 0 {
			return nil, fmt.Errorf("args element %d: the event puts a NUL byte in it, which no program can receive", i+1)
		}
		p.Args[i] = s
	}
	for _, e := range h.env {
		s, err := e.t.Execute(d)
		if err != nil {
			return nil, fmt.Errorf("env %s: %w", e.name, err)
		}
		if strings.IndexByte(s, 0) >= 0 {
			return nil, fmt.Errorf("env %s: the event puts a NUL byte in it, which no program can receive", e.name)
		}
		p.Env = append(p.Env, e.name+"="+s)
	}
	return json.Marshal(p)
}

// input is the JSON the program reads on stdin.
type input struct {
	Rule     string         `json:"rule"`
	Handler  string         `json:"handler"`
	ActionID string         `json:"action_id"`
	DedupKey string         `json:"dedup_key"`
	Repeats  int            `json:"repeats"`
	Resolve  bool           `json:"resolve"`
	Event    handlers.Event `json:"event"`
}

// invocation is one fully rendered run.
type invocation struct {
	argv  []string
	env   []string // added to the daemon's environment
	stdin []byte
}

func (h *Handler) invocation(a *handlers.Action) (*invocation, error) {
	if len(a.Payload) == 0 {
		return nil, errors.New("action has no payload: it was not prepared")
	}
	var p payload
	if err := json.Unmarshal(a.Payload, &p); err != nil {
		return nil, fmt.Errorf("decode payload: %w", err)
	}
	e := &a.Event
	code := ""
	if len(e.Codes) > 0 {
		code = e.Codes[0]
	}
	env := []string{
		"LOGMEDIC_RULE=" + a.Rule,
		"LOGMEDIC_ACTION_ID=" + a.ID,
		"LOGMEDIC_DEDUP_KEY=" + a.DedupKey,
		"LOGMEDIC_COMPUTER=" + e.Computer,
		"LOGMEDIC_CHANNEL=" + e.Channel,
		"LOGMEDIC_PROVIDER=" + e.Provider,
		"LOGMEDIC_EVENT_ID=" + strconv.FormatUint(uint64(e.EventID), 10),
		"LOGMEDIC_RECORD_ID=" + strconv.FormatUint(e.RecordID, 10),
		"LOGMEDIC_LEVEL=" + e.Level,
		"LOGMEDIC_ERROR_CODE=" + code,
		"LOGMEDIC_ERROR_CODES=" + strings.Join(e.Codes, ","),
		"LOGMEDIC_REPEATS=" + strconv.Itoa(a.Repeats),
	}
	env = append(env, p.Env...)
	for _, kv := range env {
		if strings.IndexByte(kv, 0) >= 0 {
			name, _, _ := strings.Cut(kv, "=")
			return nil, fmt.Errorf("env %s: the event puts a NUL byte in it, which no program can receive", name)
		}
	}
	stdin, err := json.Marshal(input{
		Rule: a.Rule, Handler: a.Handler, ActionID: a.ID, DedupKey: a.DedupKey,
		Repeats: a.Repeats, Resolve: a.Resolve, Event: a.Event,
	})
	if err != nil {
		return nil, fmt.Errorf("encode stdin: %w", err)
	}
	return &invocation{argv: append([]string{h.program}, p.Args...), env: env, stdin: append(stdin, '\n')}, nil
}

// Preview shows the program, arguments, added environment, working
// directory and stdin Deliver would use, without running anything.
func (h *Handler) Preview(a *handlers.Action) (handlers.Preview, error) {
	inv, err := h.invocation(a)
	if err != nil {
		return handlers.Preview{}, err
	}
	env := "the daemon's environment"
	if len(h.secretEnv) > 0 {
		env += " without " + strings.Join(h.secretEnv, ", ") + " (they hold secrets)"
	}
	return handlers.Preview{
		Argv:  inv.argv,
		Env:   inv.env,
		Dir:   h.dir,
		Stdin: string(inv.stdin),
		Note:  "runs without a shell as the daemon's account, with " + env + " plus the variables shown; secrets are redacted from its output; the whole process tree is killed at the handler's timeout",
	}, nil
}

// Deliver runs the program for a. A non-zero exit code, a timeout and a
// failure to start for lack of resources are retried; a missing or
// unrunnable program and a bad payload are not.
func (h *Handler) Deliver(ctx context.Context, a *handlers.Action) (retry bool, err error) {
	if err := ctx.Err(); err != nil {
		return true, context.Cause(ctx)
	}
	inv, err := h.invocation(a)
	if err != nil {
		return false, err
	}
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeoutCause(ctx, handlers.Timeout, fmt.Errorf("script ran longer than %s", handlers.Timeout))
		defer cancel()
	}
	res, err := h.run(ctx, inv)
	if err != nil {
		var se *startError
		if errors.As(err, &se) {
			h.log.Warn("script did not start", zap.String("action_id", a.ID), zap.String("rule", a.Rule), zap.Error(err))
			return !permanent(se.err), err
		}
		return true, err
	}
	fields := []zap.Field{
		zap.String("action_id", a.ID), zap.String("rule", a.Rule), zap.Int("exit_code", res.exitCode),
		zap.Duration("duration", res.duration), zap.Int64("output_bytes", res.outputBytes),
		zap.Bool("truncated", res.truncated), zap.Bool("timed_out", res.killed),
	}
	if res.containErr != nil {
		fields = append(fields, zap.NamedError("contain_error", res.containErr))
	}
	if res.err == nil {
		h.log.Info("script finished", fields...)
		return false, nil
	}
	h.log.Warn("script failed", append(fields, zap.Error(res.err))...)
	return true, fmt.Errorf("run %s: %w%s", h.program, res.err, res.outputText())
}

// startError is a failure to start the program.
type startError struct{ err error }

func (e *startError) Error() string {
	if errors.Is(e.err, fs.ErrNotExist) {
		return fmt.Sprintf("start program: %v (was it removed since the configuration was loaded?)", e.err)
	}
	return "start program: " + e.err.Error()
}
func (e *startError) Unwrap() error { return e.err }

// result is how a started program ended.
type result struct {
	exitCode    int // -1 when it was killed by a signal
	duration    time.Duration
	output      []byte // the head of stdout and stderr, secrets redacted
	kept        int    // bytes of output as written that output shows
	outputBytes int64  // bytes written in all
	truncated   bool
	killed      bool  // killed at the timeout or cancellation
	err         error // why the run failed, or nil
	containErr  error // the process tree could not be set up (Windows)
}

// outputText is the kept output, for an error message.
func (r *result) outputText() string {
	out := strings.ToValidUTF8(strings.TrimSpace(string(r.output)), string(utf8.RuneError))
	switch {
	case out == "":
		return " (no output)"
	case r.truncated:
		return fmt.Sprintf(": output (truncated, first %d of %d bytes): %s", r.kept, r.outputBytes, out)
	}
	return ": output: " + out
}

// run starts the program, feeds it stdin, collects its output and waits
// for it; at ctx's end it kills the program's whole tree. The error is a
// *startError, or a failure to make pipes; how the program ended is in
// the result.
func (h *Handler) run(ctx context.Context, inv *invocation) (*result, error) {
	// The pipes are the package's own, not exec's: Wait then returns
	// when the program exits, the tree is killed right after, and a
	// process that escaped the tree with a pipe cannot block Deliver.
	inR, inW, err := os.Pipe()
	if err != nil {
		return nil, fmt.Errorf("stdin pipe: %w", err)
	}
	outR, outW, err := os.Pipe()
	if err != nil {
		inR.Close()
		inW.Close()
		return nil, fmt.Errorf("output pipe: %w", err)
	}
	defer outR.Close()
	defer inW.Close()

	cmd := exec.CommandContext(ctx, inv.argv[0], inv.argv[1:]...)
	cmd.Env = append(withoutVars(os.Environ(), h.secretEnv, foldEnv), inv.env...)
	cmd.Dir = h.dir
	cmd.Stdin, cmd.Stdout, cmd.Stderr = inR, outW, outW
	cmd.WaitDelay = h.waitDelay
	t := newTree(cmd)

	start := time.Now()
	err = cmd.Start()
	inR.Close()
	outW.Close()
	if err != nil {
		return nil, &startError{err}
	}
	res := &result{containErr: t.attach()}

	go func() {
		// An error means the program did not read all of stdin; that
		// is its choice.
		inW.Write(inv.stdin)
		inW.Close()
	}()
	out := &capped{max: h.maxOutput + h.overlap}
	copied := make(chan struct{})
	go func() {
		defer close(copied)
		io.Copy(out, outR)
	}()

	waitErr := cmd.Wait()
	res.duration = time.Since(start)
	t.release() // kills what the program left running

	drain := time.NewTimer(h.drainWait)
	select {
	case <-copied:
	case <-drain.C:
		outR.Close() // a process outside the tree holds the pipe
		<-copied
	}
	drain.Stop()
	res.output = redactHead(out.buf, h.maxOutput, h.secrets)
	res.kept = min(len(out.buf), h.maxOutput)
	res.outputBytes, res.truncated = out.n, out.n > int64(h.maxOutput)

	st := cmd.ProcessState
	switch {
	case st == nil:
		res.exitCode = -1
		res.err = fmt.Errorf("wait: %w", waitErr)
	case st.Success():
		res.exitCode = 0
	case ctx.Err() != nil:
		res.exitCode = st.ExitCode()
		res.killed = true
		res.err = fmt.Errorf("killed with its child processes after %s: %w", res.duration.Round(time.Millisecond), context.Cause(ctx))
	case st.ExitCode() < 0:
		res.exitCode = -1
		res.err = fmt.Errorf("%s", st) // "signal: killed"
	default:
		res.exitCode = st.ExitCode()
		res.err = fmt.Errorf("exit code %d", res.exitCode)
	}
	return res, nil
}

// capped keeps the first max bytes written to it and counts the rest.
type capped struct {
	max int
	buf []byte
	n   int64
}

func (c *capped) Write(p []byte) (int, error) {
	c.n += int64(len(p))
	if room := c.max - len(c.buf); room > 0 {
		c.buf = append(c.buf, p[:min(room, len(p))]...)
	}
	return len(p), nil
}

// foldEnv reports whether environment variable names are compared
// without regard to case, as on Windows.
const foldEnv = runtime.GOOS == "windows"

// withoutVars returns environ (NAME=value entries) without the variables
// named in names, ignoring case when fold is set.
func withoutVars(environ, names []string, fold bool) []string {
	if len(names) == 0 {
		return environ
	}
	out := make([]string, 0, len(environ))
	for _, kv := range environ {
		// Windows keeps per-drive directories in entries such as
		// "=C:=C:\dir": a name's first character may be "=".
		name := kv
		if i := strings.IndexByte(kv[min(1, len(kv)):], '='); i >= 0 {
			name = kv[:i+min(1, len(kv))]
		}
		drop := slices.ContainsFunc(names, func(n string) bool {
			if fold {
				return strings.EqualFold(n, name)
			}
			return n == name
		})
		if !drop {
			out = append(out, kv)
		}
	}
	return out
}

// redactHead returns the first limit bytes of out with every secret
// replaced by <redacted>. A secret that the cut at limit splits is
// replaced whole, so that no part of it shows; out must hold the bytes
// written past limit, up to the longest secret's length less one, for
// such a secret to be found.
func redactHead(out []byte, limit int, secrets []handlers.Secret) []byte {
	s := string(out)
	var hidden []bool // by byte of s
	for _, sec := range secrets {
		v := sec.Value()
		if v == "" {
			continue
		}
		done := 0 // bytes of s marked for this secret
		for i := 0; i < len(s); {
			k := strings.Index(s[i:], v)
			if k < 0 {
				break
			}
			if hidden == nil {
				hidden = make([]bool, len(s))
			}
			start, end := i+k, i+k+len(v)
			for j := max(start, done); j < end; j++ {
				hidden[j] = true
			}
			done = end
			i = start + 1 // occurrences may overlap
		}
	}
	if hidden == nil {
		return out[:min(limit, len(out))]
	}
	b := make([]byte, 0, min(limit, len(s)))
	for i := 0; i < len(s) && i < limit; {
		if !hidden[i] {
			b = append(b, s[i])
			i++
			continue
		}
		b = append(b, handlers.Redacted...)
		for i < len(s) && hidden[i] {
			i++
		}
	}
	return b
}
