package metrics

import (
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"
)

func TestChannel(t *testing.T) {
	m := New()
	if strings.Contains(scrape(t, m), "logmedic_source_state") {
		t.Errorf("channel metrics appear before any channel source")
	}
	c := m.Channel()
	if m.Channel() != c {
		t.Fatal("Channel() returned a second set")
	}
	c.State("backup", "waiting for channel")
	c.State("backup", "running")
	c.PossibleLoss("backup", "ERROR_EVT_QUERY_RESULT_STALE")
	c.PossibleLoss("backup", "ERROR_EVT_QUERY_RESULT_STALE")
	c.Resubscribe("backup", "RPC_S_INVALID_BOUND")
	c.BatchHalved("backup", 32)
	c.RenderFailed("backup")
	c.Lag("backup", 17)
	got := scrape(t, m)
	for _, want := range []string{
		`logmedic_source_possible_loss_total{reason="ERROR_EVT_QUERY_RESULT_STALE",source="backup"} 2`,
		`logmedic_source_resubscribes_total{reason="RPC_S_INVALID_BOUND",source="backup"} 1`,
		`logmedic_source_batch_size{source="backup"} 32`,
		`logmedic_source_render_failures_total{source="backup"} 1`,
		`logmedic_source_lag_records{source="backup"} 17`,
		`logmedic_source_state{source="backup",state="running"} 1`,
		`logmedic_source_state{source="backup",state="waiting for channel"} 0`,
		`logmedic_source_state{source="backup",state="backing off"} 0`,
		`logmedic_source_state{source="backup",state="stopped"} 0`,
	} {
		if !strings.Contains(got, want+"\n") {
			t.Errorf("missing %s in\n%s", want, got)
		}
	}
	problems, err := testutil.GatherAndLint(m.reg)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		if strings.HasPrefix(p.Metric, "logmedic_source") {
			t.Errorf("%s: %s", p.Metric, p.Text)
		}
	}
}
