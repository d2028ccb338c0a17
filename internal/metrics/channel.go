package metrics

import (
	"sync"

	"github.com/prometheus/client_golang/prometheus"
)

// Channel holds the metrics of live event log channel sources. Its
// methods match winevt.Metrics; they are on rare paths (errors, one lag
// update per batch), so they resolve labels on each call.
type Channel struct {
	loss     *prometheus.CounterVec
	resubs   *prometheus.CounterVec
	batch    *prometheus.GaugeVec
	render   *prometheus.CounterVec
	lag      *prometheus.GaugeVec
	state    *prometheus.GaugeVec
	mu       sync.Mutex
	lastSeen map[string]string // source -> its current state
}

// channelStates are the states a channel source reports, each a series
// of logmedic_source_state (1 for the current one).
var channelStates = []string{"running", "waiting for channel", "backing off", "stopped"}

// Channel returns the channel-source metrics, registered on first use.
func (m *Metrics) Channel() *Channel {
	m.channelOnce.Do(func() {
		c := &Channel{
			loss: prometheus.NewCounterVec(prometheus.CounterOpts{
				Name: "logmedic_source_possible_loss_total",
				Help: "Times a channel source's saved position was gone from the log (cleared or wrapped) or unreadable, so events in between may have been missed; by Windows error.",
			}, []string{"source", "reason"}),
			resubs: prometheus.NewCounterVec(prometheus.CounterOpts{
				Name: "logmedic_source_resubscribes_total",
				Help: "Re-subscriptions of a channel source after an error, by Windows error.",
			}, []string{"source", "reason"}),
			batch: prometheus.NewGaugeVec(prometheus.GaugeOpts{
				Name: "logmedic_source_batch_size",
				Help: "Events a channel source asks Windows for per read; halved after RPC_S_INVALID_BOUND.",
			}, []string{"source"}),
			render: prometheus.NewCounterVec(prometheus.CounterOpts{
				Name: "logmedic_source_render_failures_total",
				Help: "Events a channel source could not render (reported and skipped).",
			}, []string{"source"}),
			lag: prometheus.NewGaugeVec(prometheus.GaugeOpts{
				Name: "logmedic_source_lag_records",
				Help: "Records in a channel after the last one whose actions are queued: the newest record number minus the committed one.",
			}, []string{"source"}),
			state: prometheus.NewGaugeVec(prometheus.GaugeOpts{
				Name: "logmedic_source_state",
				Help: "A channel source's state: 1 for the current one of running, waiting for channel, backing off, stopped.",
			}, []string{"source", "state"}),
			lastSeen: map[string]string{},
		}
		m.reg.MustRegister(c.loss, c.resubs, c.batch, c.render, c.lag, c.state)
		m.channel = c
	})
	return m.channel
}

// PossibleLoss counts a position lost for reason.
func (c *Channel) PossibleLoss(source, reason string) {
	c.loss.WithLabelValues(label(source), label(reason)).Inc()
}

// Resubscribe counts a re-subscription after reason.
func (c *Channel) Resubscribe(source, reason string) {
	c.resubs.WithLabelValues(label(source), label(reason)).Inc()
}

// BatchHalved sets the source's batch size.
func (c *Channel) BatchHalved(source string, batch int) {
	c.batch.WithLabelValues(label(source)).Set(float64(batch))
}

// RenderFailed counts an event that could not be rendered.
func (c *Channel) RenderFailed(source string) {
	c.render.WithLabelValues(label(source)).Inc()
}

// Lag sets the records after the last committed one.
func (c *Channel) Lag(source string, records uint64) {
	c.lag.WithLabelValues(label(source)).Set(float64(records))
}

// State sets the source's current state.
func (c *Channel) State(source, state string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	l := label(source)
	if c.lastSeen[source] == "" {
		for _, s := range channelStates {
			c.state.WithLabelValues(l, s).Set(0)
		}
	}
	if prev := c.lastSeen[source]; prev != "" {
		c.state.WithLabelValues(l, prev).Set(0)
	}
	c.state.WithLabelValues(l, label(state)).Set(1)
	c.lastSeen[source] = state
}
