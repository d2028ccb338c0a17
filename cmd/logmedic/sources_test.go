package main

import (
	"context"
	"path/filepath"
	"testing"
	"testing/synctest"
	"time"

	"go.uber.org/zap"

	"github.com/logmedic/logmedic/config"
	"github.com/logmedic/logmedic/handlers/outbox"
	"github.com/logmedic/logmedic/internal/metrics"
	"github.com/logmedic/logmedic/watcher"
)

// hungSource ignores its context until released, as a source stuck in
// an API call does.
type hungSource struct {
	name    string
	release chan struct{}
}

func (h *hungSource) Name() string { return h.name }
func (h *hungSource) Run(context.Context, map[string][]byte, watcher.Emit) error {
	<-h.release
	return nil
}

// TestReconcileStopsSourcesTogether: sources removed by a reload that do
// not stop cost the run loop one stopWait together, not one each, and
// stay zombies (not replaced) until they stop.
func TestReconcileStopsSourcesTogether(t *testing.T) {
	store, err := outbox.Open(filepath.Join(t.TempDir(), "o.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	synctest.Test(t, func(t *testing.T) {
		d := &daemon{store: store, metrics: metrics.New(), log: zap.NewNop(), stats: map[string]*sourceStatus{}}
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		rs := &runningSources{d: d, ctx: ctx, running: map[string]*runningSource{}, zombies: map[string]*runningSource{},
			ended: make(chan *runningSource), exit: make(chan struct{})}
		release := make(chan struct{})
		for _, n := range []string{"a", "b", "c"} {
			if err := rs.start(&hungSource{name: n, release: release}, "k"); err != nil {
				t.Fatal(err)
			}
		}
		t0 := time.Now()
		rs.reconcile(&runState{cfg: &config.Config{}}) // all three removed
		if took := time.Since(t0); took != stopWait {
			t.Errorf("reconcile blocked the run loop for %v, want %v", took, stopWait)
		}
		if len(rs.zombies) != 3 || len(rs.running) != 0 {
			t.Errorf("%d zombies and %d running, want 3 and 0", len(rs.zombies), len(rs.running))
		}
		close(release)
		for range 3 {
			<-rs.ended
		}
		rs.stopAll()
	})
}
