package main

import (
	"context"
	"fmt"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/logmedic/logmedic/config"
	"github.com/logmedic/logmedic/handlers/outbox"
	"github.com/logmedic/logmedic/watcher/winevt"
	"github.com/logmedic/logmedic/watcher/winevt/winevttest"
)

const channelConfig = `state_dir: %STATE%
sources:
  - channel: Microsoft-Windows-Backup
    start: oldest
handlers:
  hook:
    type: webhook
    url: %URL%
    body: {rule: "{{.Rule}}", record: "{{.RecordID}}"}
rules:
  - name: volume-too-large
    match: {channel: Microsoft-Windows-Backup, event_id: 5, error_code: 0x807800B4}
    actions: [{handler: hook}]
`

// useFakeEventLog makes the daemon read channels from fake and load
// configurations without the host checks that refuse channels here.
func useFakeEventLog(t *testing.T, fake *winevttest.Fake) {
	oldAPI, oldLoad := newEventLogAPI, loadConfig
	newEventLogAPI = func() winevt.API { return fake }
	loadConfig = func(path string) (*config.Config, error) {
		return config.LoadWith(path, config.Options{SkipHostChecks: true})
	}
	t.Cleanup(func() { newEventLogAPI, loadConfig = oldAPI, oldLoad })
}

// TestRunChannelSource runs the daemon's whole pipeline on a live
// channel, played by the fake event log: events written to the channel
// fire their action once; a restart resumes after the committed
// bookmark; a cleared log is a counted possible loss, and reading goes
// on from what is left.
func TestRunChannelSource(t *testing.T) {
	fake := winevttest.New()
	fake.AddChannel("Microsoft-Windows-Backup")
	useFakeEventLog(t, fake)
	rcv := &receiver{}
	srv := httptest.NewServer(rcv)
	defer srv.Close()
	dir := t.TempDir()
	cfg := filepath.Join(dir, "logmedic.yaml")
	state := filepath.Join(dir, "state")
	os.WriteFile(cfg, []byte(strings.NewReplacer("%STATE%", state, "%URL%", srv.URL).Replace(channelConfig)), 0o600)
	sample, err := os.ReadFile(filepath.Join(samples, "constructed/backup-5-v3-0x807800b4.xml"))
	if err != nil {
		t.Fatal(err)
	}
	other, err := os.ReadFile(filepath.Join(samples, "constructed/backup-4-v3-success.xml"))
	if err != nil {
		t.Fatal(err)
	}

	start := func() (stop func() int, logs *syncBuffer) {
		logs = &syncBuffer{}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan int, 1)
		go func() {
			done <- runDaemon(ctx, strings.NewReader(""), logs, logs, cfg, "", "console", "", "off", false, false)
		}()
		waitFor(t, "the daemon to start", func() bool { return strings.Contains(logs.String(), "logmedic started") })
		return func() int { cancel(); return <-done }, logs
	}

	stop, logs := start()
	ids := fake.Append("Microsoft-Windows-Backup", string(sample), string(other), string(sample))
	waitFor(t, "two deliveries", func() bool { return rcv.count() == 2 })
	if code := stop(); code != exitOK {
		t.Fatalf("daemon exited %d:\n%s", code, logs)
	}
	for _, id := range []uint64{ids[0], ids[2]} {
		if !strings.Contains(strings.Join(rcv.bodies, "\n"), fmt.Sprintf(`"record":"%d"`, id)) {
			t.Errorf("no delivery for record %d: %q", id, rcv.bodies)
		}
	}
	// logmedic status says where the channel source stands.
	out, _ := command(t, nil, "status", "--state-dir", state).CombinedOutput()
	if want := fmt.Sprintf("source channel:Microsoft-Windows-Backup: after record %d, 3 events", ids[2]); !strings.Contains(string(out), want) {
		t.Errorf("status lacks %q:\n%s", want, out)
	}

	// A restart resumes after the bookmark: only the new event fires.
	stop, logs = start()
	more := fake.Append("Microsoft-Windows-Backup", string(sample))
	waitFor(t, "the new event's delivery", func() bool { return rcv.count() == 3 })
	if !strings.Contains(rcv.bodies[2], fmt.Sprintf(`"record":"%d"`, more[0])) {
		t.Errorf("third delivery %s, want record %d", rcv.bodies[2], more[0])
	}
	if code := stop(); code != exitOK {
		t.Fatalf("daemon exited %d:\n%s", code, logs)
	}

	// The log is cleared while the daemon is down: the saved bookmark is
	// stale. The loss is logged, and what is written after is read.
	fake.Clear("Microsoft-Windows-Backup")
	after := fake.Append("Microsoft-Windows-Backup", string(sample))
	stop, logs = start()
	waitFor(t, "the event after the clear", func() bool { return rcv.count() == 4 })
	if !strings.Contains(rcv.bodies[3], fmt.Sprintf(`"record":"%d"`, after[0])) {
		t.Errorf("fourth delivery %s, want record %d", rcv.bodies[3], after[0])
	}
	if !strings.Contains(logs.String(), "ERROR_NOT_FOUND") {
		t.Errorf("the stale bookmark was not logged:\n%s", logs)
	}
	if code := stop(); code != exitOK {
		t.Fatalf("daemon exited %d:\n%s", code, logs)
	}
	if n := fake.Open(); n != 0 {
		t.Errorf("%d handles left open: %v", n, fake.OpenHandles())
	}
	store, err := outbox.Open(config.OutboxPath(state))
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	pending, dead, _, err := store.Counts()
	if err != nil || pending != 0 || dead != 0 {
		t.Errorf("outbox: %d pending, %d dead, %v", pending, dead, err)
	}
}

// TestExplainQuery: the example's channel sources read every event (a
// rule with only a provider and an error code matches any event ID and
// level, and provider names stay out of the query), and say why; a
// config whose rules name event IDs gets a small pre-filter without
// them.
func TestExplainQuery(t *testing.T) {
	out, err := command(t, nil, "test", "-c", example, "--explain-query").CombinedOutput()
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	star := `query: * (every event; rule "backup-share-unreachable" matches any event ID and level (provider names are checked in Go, not in the query))`
	for _, want := range []string{
		"source channel:Microsoft-Windows-Backup (channel Microsoft-Windows-Backup):\n  " + star + "\n",
		"source channel:Application (channel Application):\n  " + star + "\n",
		"providers: Microsoft-Windows-Backup (checked on every event)",
		"messages: rendered",
	} {
		if !strings.Contains(string(out), want) {
			t.Errorf("missing %s in\n%s", want, out)
		}
	}
	if strings.Contains(string(out), "@Name") {
		t.Errorf("a provider in a query:\n%s", out)
	}
	// Rules with event IDs give a pre-filter; their providers stay out.
	dir := t.TempDir()
	cfg := filepath.Join(dir, "f.yaml")
	os.WriteFile(cfg, []byte("sources:\n  - channel: System\nrules:\n  - {name: r, match: {provider: service control manager, event_id: [7036, 7040]}}\n"), 0o600)
	out, err = command(t, nil, "test", "-c", cfg, "--explain-query").CombinedOutput()
	if err != nil || !strings.Contains(string(out), "query: 2 clauses (Windows accepts about 20):\n    <QueryList><Query Id=\"0\" Path=\"System\"><Select Path=\"System\">*[System[(EventID=7036 or EventID=7040)]]</Select></Query></QueryList>\n") {
		t.Errorf("%v\n%s", err, out)
	}
	// A source with a query of its own passes it as is.
	cfg = filepath.Join(dir, "c.yaml")
	os.WriteFile(cfg, []byte("sources:\n  - channel: System\n    query: \"*[System[EventID=7036]]\"\nrules:\n  - {name: r, match: {event_id: 5}}\n"), 0o600)
	out, err = command(t, nil, "test", "-c", cfg, "--explain-query").CombinedOutput()
	if err != nil || !strings.Contains(string(out), "the source's own, passed as is:\n    *[System[EventID=7036]]") || !strings.Contains(string(out), "messages: not rendered") {
		t.Errorf("%v\n%s", err, out)
	}
}
