package alertmanager

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/logmedic/logmedic/handlers"
	"github.com/logmedic/logmedic/handlers/handlertest"
	"github.com/logmedic/logmedic/internal/tooltest"
)

// These tests run the real Alertmanager (Debian's prometheus-alertmanager),
// whose webhook receiver posts its notifications to a test server.

// notification is the part of a webhook notification the tests read.
type notification struct {
	Status      string            `json:"status"`
	GroupLabels map[string]string `json:"groupLabels"`
	Alerts      []struct {
		Status       string            `json:"status"`
		Labels       map[string]string `json:"labels"`
		Annotations  map[string]string `json:"annotations"`
		GeneratorURL string            `json:"generatorURL"`
		StartsAt     time.Time         `json:"startsAt"`
	} `json:"alerts"`
}

// webhook collects an Alertmanager's notifications.
type webhook struct {
	mu   sync.Mutex
	got  []notification
	srv  *httptest.Server
	errs []string
}

func newWebhook(t *testing.T) *webhook {
	w := &webhook{}
	w.srv = httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		var n notification
		b, _ := io.ReadAll(r.Body)
		w.mu.Lock()
		defer w.mu.Unlock()
		if err := json.Unmarshal(b, &n); err != nil {
			w.errs = append(w.errs, err.Error())
			return
		}
		w.got = append(w.got, n)
	}))
	t.Cleanup(w.srv.Close)
	return w
}

// wait polls until some notification satisfies ok.
func (w *webhook) wait(t *testing.T, what string, ok func(n notification) bool) notification {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		w.mu.Lock()
		for _, n := range w.got {
			if ok(n) {
				w.mu.Unlock()
				return n
			}
		}
		w.mu.Unlock()
		time.Sleep(50 * time.Millisecond)
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	t.Fatalf("no notification %s arrived; got %+v (decode errors %v)", what, w.got, w.errs)
	return notification{}
}

func (w *webhook) any(ok func(n notification) bool) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return slices.ContainsFunc(w.got, ok)
}

// freePort returns a loopback port nothing listens on.
func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// startAlertmanager runs Alertmanager on 127.0.0.1:port, notifying hook,
// and returns its URL once it is ready.
func startAlertmanager(t *testing.T, port int, hook string) string {
	t.Helper()
	bin := tooltest.Require(t, "prometheus-alertmanager", "prometheus-alertmanager")
	dir := t.TempDir()
	conf := fmt.Sprintf(`route:
  receiver: hook
  group_by: [alertname]
  group_wait: 1s
  group_interval: 1s
  repeat_interval: 1h
receivers:
  - name: hook
    webhook_configs:
      - url: %s
        send_resolved: true
`, hook)
	if err := os.WriteFile(filepath.Join(dir, "config.yml"), []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	addr := "127.0.0.1:" + strconv.Itoa(port)
	cmd := exec.Command(bin,
		"--config.file="+filepath.Join(dir, "config.yml"),
		"--storage.path="+filepath.Join(dir, "data"),
		"--web.listen-address="+addr,
		"--cluster.listen-address=",
		"--log.level=warn")
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-exited
		if t.Failed() {
			t.Logf("alertmanager output:\n%s", out.String())
		}
	})
	u := "http://" + addr
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case err := <-exited:
			exited <- err
			t.Fatalf("alertmanager exited: %v\n%s", err, out.String())
		default:
		}
		if r, err := http.Get(u + "/-/ready"); err == nil {
			r.Body.Close()
			if r.StatusCode == http.StatusOK {
				return u
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("alertmanager not ready:\n%s", out.String())
	return ""
}

// activeAlerts returns the alertnames@computers Alertmanager holds as firing.
func activeAlerts(t *testing.T, am string) []string {
	t.Helper()
	r, err := http.Get(am + "/api/v2/alerts?active=true&silenced=false&inhibited=false")
	if err != nil {
		t.Fatal(err)
	}
	defer r.Body.Close()
	var alerts []struct {
		Labels map[string]string `json:"labels"`
		Status struct {
			State string `json:"state"`
		} `json:"status"`
	}
	if err := json.NewDecoder(r.Body).Decode(&alerts); err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, a := range alerts {
		if a.Status.State == "active" {
			out = append(out, a.Labels["alertname"]+"@"+a.Labels["computer"])
		}
	}
	slices.Sort(out)
	return out
}

func event(computer string) handlers.Event {
	e := handlertest.Event()
	e.Computer = computer
	e.Time = time.Now().UTC().Add(-time.Second)
	return e
}

func TestAlertmanager(t *testing.T) {
	tooltest.Require(t, "prometheus-alertmanager", "prometheus-alertmanager")
	ctx := context.Background()

	t.Run("fire group resolve", func(t *testing.T) {
		t.Parallel()
		hook := newWebhook(t)
		am := startAlertmanager(t, freePort(t), hook.srv.URL)
		h := newHandler(t, &Config{
			URLs:        []string{am},
			Labels:      map[string]*handlers.Template{"severity": handlers.MustTemplate("critical")},
			Annotations: map[string]*handlers.Template{"runbook_url": handlers.MustTemplate("https://wiki.example/{{.Rule}}")},
		}, newKV(), nil)

		// Two computers, one rule: one notification of two alerts.
		e := handlertest.HostileEvent()
		e.Time = time.Now().UTC().Add(-time.Second)
		hostile := e.Computer
		for _, e := range []handlers.Event{event("PC1"), e} {
			if retry, err := h.Deliver(ctx, handlertest.Action(t, h, e, "backup-failed", nil)); err != nil {
				t.Fatalf("Deliver: retry %v, %v", retry, err)
			}
		}
		n := hook.wait(t, "firing with both computers", func(n notification) bool {
			return n.Status == "firing" && len(n.Alerts) == 2
		})
		if n.GroupLabels["alertname"] != "backup-failed" {
			t.Errorf("groupLabels %v", n.GroupLabels)
		}
		var computers []string
		for _, a := range n.Alerts {
			computers = append(computers, a.Labels["computer"])
			if a.Labels["alertname"] != "backup-failed" || a.Labels["error_code"] != "0x807800B4" || a.Labels["severity"] != "critical" {
				t.Errorf("labels %v", a.Labels)
			}
			if a.Annotations["runbook_url"] != "https://wiki.example/backup-failed" ||
				a.Annotations["summary"] != "backup-failed on "+a.Labels["computer"]+" (0x807800B4)" ||
				!strings.Contains(a.Annotations["description"], "0x807800B4") {
				t.Errorf("annotations %v", a.Annotations)
			}
			if !strings.HasPrefix(a.GeneratorURL, "logmedic:///rules/backup-failed?computer=") {
				t.Errorf("generatorURL %q", a.GeneratorURL)
			}
		}
		want := []string{"PC1", hostile}
		slices.Sort(computers)
		slices.Sort(want)
		if !slices.Equal(computers, want) {
			t.Errorf("computers %q", computers)
		}

		// Backup succeeded on PC1: a resolved notification for PC1 only.
		ok := event("PC1")
		ok.EventID, ok.Codes = 4, nil
		a := handlertest.Action(t, h, ok, "backup-succeeded", map[string]string{"resolves": "backup-failed"})
		a.Resolve = true
		if _, err := h.Deliver(ctx, a); err != nil {
			t.Fatal(err)
		}
		hook.wait(t, "with PC1 resolved", func(n notification) bool {
			for _, a := range n.Alerts {
				if a.Labels["computer"] == "PC1" && a.Status == "resolved" {
					return true
				}
			}
			return false
		})
		if got := activeAlerts(t, am); !slices.Equal(got, []string{"backup-failed@" + hostile}) {
			t.Errorf("active alerts %q", got)
		}
		if hook.any(func(n notification) bool { return n.Alerts[0].Labels["alertname"] == "backup-succeeded" }) {
			t.Error("the resolving action raised an alert of its own")
		}
	})

	t.Run("resend keeps firing", func(t *testing.T) {
		t.Parallel()
		hook := newWebhook(t)
		am := startAlertmanager(t, freePort(t), hook.srv.URL)
		h := newHandler(t, &Config{URLs: []string{am}}, newKV(), nil)
		h.ttl = 2 * time.Second // below what Validate allows, to keep the test short
		t0 := time.Now()
		if _, err := h.Deliver(ctx, handlertest.Action(t, h, event("PC1"), "backup-failed", nil)); err != nil {
			t.Fatal(err)
		}
		hook.wait(t, "firing", func(n notification) bool { return n.Status == "firing" })
		time.Sleep(time.Until(t0.Add(1200 * time.Millisecond)))
		if err := h.Resend(ctx); err != nil {
			t.Fatal(err)
		}
		// Past the first endsAt: still firing thanks to Resend.
		time.Sleep(time.Until(t0.Add(2500 * time.Millisecond)))
		if got := activeAlerts(t, am); !slices.Equal(got, []string{"backup-failed@PC1"}) {
			t.Errorf("after Resend, active alerts %q", got)
		}
		if hook.any(func(n notification) bool { return n.Status == "resolved" }) {
			t.Error("the alert resolved although it was re-sent")
		}
	})

	t.Run("every alertmanager gets every alert", func(t *testing.T) {
		t.Parallel()
		hook1, hook2 := newWebhook(t), newWebhook(t)
		am1 := startAlertmanager(t, freePort(t), hook1.srv.URL)
		port2 := freePort(t)
		am2 := "http://127.0.0.1:" + strconv.Itoa(port2)
		kv := newKV()
		h := newHandler(t, &Config{URLs: []string{am1, am2}}, kv, nil)
		a := handlertest.Action(t, h, event("PC1"), "backup-failed", nil)

		// am2 is down: the delivery fails and may be retried.
		retry, err := h.Deliver(ctx, a)
		if err == nil || !retry {
			t.Fatalf("with one Alertmanager down: retry %v, err %v", retry, err)
		}
		hook1.wait(t, "from the Alertmanager that is up", func(n notification) bool { return n.Status == "firing" })

		// am2 comes up: the retry succeeds and both have the alert.
		startAlertmanager(t, port2, hook2.srv.URL)
		if retry, err := h.Deliver(ctx, a); err != nil {
			t.Fatalf("retry: %v, %v", retry, err)
		}
		hook2.wait(t, "from the second Alertmanager", func(n notification) bool {
			return n.Status == "firing" && n.Alerts[0].Labels["computer"] == "PC1"
		})
		for _, am := range []string{am1, am2} {
			if got := activeAlerts(t, am); !slices.Equal(got, []string{"backup-failed@PC1"}) {
				t.Errorf("%s: active alerts %q", am, got)
			}
		}
	})
}
