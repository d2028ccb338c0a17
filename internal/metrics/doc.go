// Package metrics exposes logmedic's Prometheus metrics and its health
// checks over HTTP.
//
// New builds a Metrics on its own registry; the daemon calls its small
// methods on the hot path (Events, Match, Actions) and at reloads
// (Reload), and hands Handler's result to Serve, which listens on
// DefaultAddr unless told otherwise. Serve refuses a non-loopback address
// unless the caller passes allowRemote: exposing the endpoints beyond the
// host is a deliberate choice.
//
// Labels are bounded by configuration: source, rule and handler names,
// and fixed enumerations (result, outcome, state). Event text and computer
// names never become labels.
package metrics
