package main

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// TestMain lets the tests run this test binary as logmedic itself, so the
// end-to-end tests exercise the real command, process boundaries included.
func TestMain(m *testing.M) {
	if os.Getenv("LOGMEDIC_TEST_AS_MAIN") == "1" {
		os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
	}
	os.Exit(m.Run())
}

func command(t *testing.T, env []string, args ...string) *exec.Cmd {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(exe, args...)
	cmd.Env = append(append(os.Environ(), "LOGMEDIC_TEST_AS_MAIN=1"), env...)
	return cmd
}

// fakeServiceNow is the Table API's incident table: search by
// correlation_id, create, and work notes. Creating is slow, and the record
// is stored before the reply is sent, so a client killed in between
// believes nothing happened although the incident exists: the case the
// dedup flow must survive.
type fakeServiceNow struct {
	mu        sync.Mutex
	incidents map[string]string // correlation_id -> sys_id
	notes     map[string]int    // sys_id -> work notes added
	creates   atomic.Int32
	down      atomic.Bool
	auth      string
}

func newFakeServiceNow(t *testing.T, password string) (*fakeServiceNow, *httptest.Server) {
	f := &fakeServiceNow{incidents: map[string]string{}, notes: map[string]int{}, auth: "Basic " + basic("logmedic", password)}
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	return f, srv
}

func basic(user, pw string) string { return b64(user + ":" + pw) }

func b64(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }

func (f *fakeServiceNow) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if f.down.Load() {
		http.Error(w, "maintenance", http.StatusServiceUnavailable)
		return
	}
	if r.Header.Get("Authorization") != f.auth {
		http.Error(w, `{"error":{"message":"User Not Authenticated"}}`, http.StatusUnauthorized)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	switch {
	case r.Method == http.MethodGet && r.URL.Path == "/api/now/table/incident":
		q := r.URL.Query().Get("sysparm_query")
		var corr string
		for _, part := range strings.Split(q, "^") {
			if v, ok := strings.CutPrefix(part, "correlation_id="); ok {
				corr = v
			}
		}
		f.mu.Lock()
		id, ok := f.incidents[corr]
		f.mu.Unlock()
		result := []map[string]string{}
		if ok {
			result = append(result, map[string]string{"sys_id": id, "number": "INC" + id[:7], "correlation_id": corr})
		}
		json.NewEncoder(w).Encode(map[string]any{"result": result})
	case r.Method == http.MethodPost && r.URL.Path == "/api/now/table/incident":
		var body map[string]any
		json.NewDecoder(r.Body).Decode(&body)
		corr, _ := body["correlation_id"].(string)
		time.Sleep(time.Duration(rand.IntN(15)) * time.Millisecond)
		f.mu.Lock()
		id := fmt.Sprintf("%032x", len(f.incidents)+1)
		if _, dup := f.incidents[corr]; dup {
			id = fmt.Sprintf("dup%029x", f.creates.Load())
		} else {
			f.incidents[corr] = id
		}
		f.mu.Unlock()
		f.creates.Add(1)
		time.Sleep(time.Duration(rand.IntN(15)) * time.Millisecond) // stored, reply not yet sent
		w.WriteHeader(http.StatusCreated)
		json.NewEncoder(w).Encode(map[string]any{"result": map[string]string{"sys_id": id, "number": "INC" + id[:7]}})
	case r.Method == http.MethodPatch && strings.HasPrefix(r.URL.Path, "/api/now/table/incident/"):
		id := strings.TrimPrefix(r.URL.Path, "/api/now/table/incident/")
		f.mu.Lock()
		f.notes[id]++
		f.mu.Unlock()
		json.NewEncoder(w).Encode(map[string]any{"result": map[string]string{"sys_id": id}})
	default:
		http.Error(w, "unexpected "+r.Method+" "+r.URL.String(), http.StatusBadRequest)
	}
}

// backupFailures writes n Windows Backup failure events from n computers.
func backupFailures(t *testing.T, n int) string {
	t.Helper()
	var b bytes.Buffer
	b.WriteString("<Events>\n")
	for i := range n {
		fmt.Fprintf(&b, `<Event xmlns='http://schemas.microsoft.com/win/2004/08/events/event'><System><Provider Name='Microsoft-Windows-Backup'/><EventID>5</EventID><Version>3</Version><Level>2</Level><TimeCreated SystemTime='2026-11-21T01:00:%02d.000000000Z'/><EventRecordID>%d</EventRecordID><Channel>Microsoft-Windows-Backup</Channel><Computer>WS-%04d</Computer></System><EventData><Data Name='HRESULT'>0x807800b4</Data><Data Name='BackupTarget'>E:</Data></EventData></Event>`+"\n", i%60, 1000+i, i)
	}
	b.WriteString("</Events>\n")
	p := filepath.Join(t.TempDir(), "failures.xml")
	if err := os.WriteFile(p, b.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func writeConfig(t *testing.T, dir, instance string) string {
	t.Helper()
	cfg := fmt.Sprintf(`state_dir: %s
handlers:
  helpdesk:
    type: servicenow
    instance: %s
    username: logmedic
    password_env: LM_E2E_SN_PASSWORD
    timeout: 300ms
    retry: {initial_backoff: 20ms, max_backoff: 100ms, max_attempts: 1000}
rules:
  - name: volume-too-large
    match: {event_id: 5, error_code: 0x807800B4}
    actions:
      - handler: helpdesk
`, filepath.Join(dir, "state"), instance)
	p := filepath.Join(dir, "logmedic.yaml")
	if err := os.WriteFile(p, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestKilledMidDeliveryLosesNothingAndOpensNoDuplicate kills
// 'logmedic outbox deliver' with SIGKILL at random moments (up to 15
// times) while it opens tickets, restarts it, and checks that every
// problem got exactly one incident.
func TestKilledMidDeliveryLosesNothingAndOpensNoDuplicate(t *testing.T) {
	const password, events = "s3cr3t-pw-e2e", 150
	sn, srv := newFakeServiceNow(t, password)
	dir := t.TempDir()
	cfg := writeConfig(t, dir, srv.URL)
	env := []string{"LM_E2E_SN_PASSWORD=" + password}

	out, err := command(t, env, "test", "-c", cfg, "--enqueue", backupFailures(t, events)).CombinedOutput()
	if err != nil || !strings.Contains(string(out), fmt.Sprintf("outbox: %d actions queued", events)) {
		t.Fatalf("enqueue: %v\n%s", err, out)
	}
	kills := 0
	for attempt := 0; ; attempt++ {
		if attempt > 200 {
			t.Fatal("deliver never finished")
		}
		cmd := command(t, env, "outbox", "deliver", "-c", cfg)
		var logs bytes.Buffer
		cmd.Stderr = &logs
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		if kills < 15 {
			select {
			case err := <-done:
				if err != nil {
					t.Fatalf("deliver: %v\n%s", err, logs.String())
				}
			case <-time.After(time.Duration(10+rand.IntN(50)) * time.Millisecond):
				cmd.Process.Signal(syscall.SIGKILL)
				<-done
				kills++
				continue
			}
		} else if err := <-done; err != nil {
			t.Fatalf("deliver: %v\n%s", err, logs.String())
		}
		if strings.Contains(logs.String(), password) {
			t.Fatalf("the password is in the logs:\n%s", logs.String())
		}
		list, _ := command(t, env, "outbox", "list", "-c", cfg).Output()
		if strings.HasSuffix(string(list), "\n0 actions queued\n") || string(list) == "0 actions queued\n" {
			break
		}
		time.Sleep(50 * time.Millisecond) // attempts a killed process left may still be in flight
	}
	sn.mu.Lock()
	defer sn.mu.Unlock()
	if len(sn.incidents) != events || int(sn.creates.Load()) != events {
		t.Errorf("%d problems have incidents, %d incidents created; want %d and %d (after %d kills)", len(sn.incidents), sn.creates.Load(), events, events, kills)
	}
	t.Logf("%d kills; %d incidents; %d work notes from redeliveries", kills, len(sn.incidents), len(sn.notes))
	if kills < 5 {
		t.Errorf("only %d kills landed during delivery; the test proves little", kills)
	}
	dead, _ := command(t, env, "outbox", "list", "--dead", "-c", cfg).Output()
	if !strings.HasSuffix(string(dead), "0 actions dead\n") {
		t.Errorf("dead letters:\n%s", dead)
	}
}

// TestEndpointDownThenBack queues tickets while ServiceNow is down; once it
// is back, each is delivered exactly once.
func TestEndpointDownThenBack(t *testing.T) {
	const password = "another-pw"
	sn, srv := newFakeServiceNow(t, password)
	sn.down.Store(true)
	dir := t.TempDir()
	cfg := writeConfig(t, dir, srv.URL)
	env := []string{"LM_E2E_SN_PASSWORD=" + password}
	if out, err := command(t, env, "test", "-c", cfg, "--enqueue", backupFailures(t, 10)).CombinedOutput(); err != nil {
		t.Fatalf("enqueue: %v\n%s", err, out)
	}
	out, _ := command(t, env, "outbox", "deliver", "-c", cfg).CombinedOutput()
	if !strings.Contains(string(out), "503 Service Unavailable") || !strings.Contains(string(out), "outbox: 10 actions waiting for a retry, 0 dead") {
		t.Fatalf("while down:\n%s", out)
	}
	sn.down.Store(false)
	time.Sleep(150 * time.Millisecond) // past the backoff
	out, err := command(t, env, "outbox", "deliver", "-c", cfg).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "outbox: 0 actions waiting for a retry, 0 dead") {
		t.Fatalf("once back: %v\n%s", err, out)
	}
	if n := sn.creates.Load(); n != 10 || len(sn.incidents) != 10 {
		t.Errorf("%d incidents created for 10 problems", n)
	}
	// Replaying the same events changes nothing.
	out, _ = command(t, env, "test", "-c", cfg, "--enqueue", backupFailures(t, 10)).CombinedOutput()
	if !strings.Contains(string(out), "outbox: 0 actions queued, 10 already known") {
		t.Errorf("replay:\n%s", out)
	}
}

// TestDryRunRedactsSecrets shows every action rendered, without sending
// and without the password.
func TestDryRunRedactsSecrets(t *testing.T) {
	const password = "dry-run-pw-123"
	sn, srv := newFakeServiceNow(t, password)
	dir := t.TempDir()
	cfg := writeConfig(t, dir, srv.URL)
	out, err := command(t, []string{"LM_E2E_SN_PASSWORD=" + password}, "test", "-c", cfg, "--dry-run", backupFailures(t, 1)).CombinedOutput()
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	for _, want := range []string{"ACTION helpdesk", "POST " + srv.URL + "/api/now/table/incident", "Authorization: Basic <redacted>", "WS-0000"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("dry run lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(string(out), password) || strings.Contains(string(out), b64("logmedic:"+password)) {
		t.Errorf("dry run shows the password:\n%s", out)
	}
	if sn.creates.Load() != 0 {
		t.Error("the dry run sent a request")
	}
	if _, err := os.Stat(filepath.Join(dir, "state")); err == nil {
		t.Error("the dry run created the state directory")
	}
}

// TestDryRunShowsEveryHandlerOfTheExample renders the example's actions
// for the samples: every handler type it uses shows its request, and none
// of the secrets set in the environment appears.
func TestDryRunShowsEveryHandlerOfTheExample(t *testing.T) {
	secrets := map[string]string{
		"LOGMEDIC_SERVICENOW_PASSWORD": "sn-pw-4711",
		"LOGMEDIC_SMTP_PASSWORD":       "smtp-pw-4712",
		"LOGMEDIC_SECURITY_WEBHOOK":    "https://chat.example/hook/secret-path-4713",
	}
	var env []string
	for k, v := range secrets {
		env = append(env, k+"="+v)
	}
	// The ESP-lock failure of the real capture in testdata/broken, whole.
	esp := filepath.Join(t.TempDir(), "esp.xml")
	os.WriteFile(esp, []byte(`<Event xmlns='http://schemas.microsoft.com/win/2004/08/events/event'><System><Provider Name='Microsoft-Windows-Backup'/><EventID>5</EventID><Level>2</Level><TimeCreated SystemTime='2019-10-10T00:02:42.902860000Z'/><EventRecordID>254</EventRecordID><Channel>Microsoft-Windows-Backup</Channel><Computer>PC1</Computer></System><EventData><Data Name='HRESULT'>0x8078011e</Data><Data Name='DetailedHRESULT'>0x80070005</Data></EventData></Event>`), 0o600)
	out, err := command(t, env, "test", "-c", example, "--dry-run", "--format", "json", samples, esp).Output()
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	seen := map[string]int{}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		var res result
		if err := json.Unmarshal([]byte(line), &res); err != nil {
			t.Fatalf("%v: %s", err, line)
		}
		for _, a := range res.Actions {
			if a.Error != "" || a.Request == nil {
				t.Errorf("%s/%s: no preview: %s", a.Rule, a.Handler, a.Error)
				continue
			}
			seen[a.Handler]++
		}
	}
	for _, h := range []string{"helpdesk", "alerts", "backup-team", "security-chat", "retry-backup", "audit"} {
		if seen[h] == 0 {
			t.Errorf("no action of handler %s was rendered for the samples", h)
		}
	}
	for name, v := range secrets {
		if strings.Contains(string(out), v) {
			t.Errorf("the value of %s appears in the dry run", name)
		}
	}
}
