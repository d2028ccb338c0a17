package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os/signal"
	"syscall"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/logmedic/logmedic/config"
	"github.com/logmedic/logmedic/handlers/outbox"
)

const outboxUsage = `Usage:
  logmedic outbox list [--dead] [--format text|json] [-c FILE | --state-dir DIR]
  logmedic outbox retry [-c FILE | --state-dir DIR] ID...    deliver again now (dead letters too)
  logmedic outbox drop [-c FILE | --state-dir DIR] ID...     remove without delivering
  logmedic outbox deliver -c FILE [--state-dir DIR]         deliver everything due now, then exit
`

func cmdOutbox(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, outboxUsage)
		return exitUsage
	}
	sub, args := args[0], args[1:]
	fs := newFlagSet("outbox "+sub, "", stderr)
	fs.Usage = func() { fmt.Fprint(stderr, outboxUsage) }
	cfgPath := fs.String("c", "", "configuration `FILE` (for its state_dir and handlers)")
	fs.StringVar(cfgPath, "config", "", "configuration `FILE` (same as -c)")
	stateDir := fs.String("state-dir", "", "state `directory` holding the outbox")
	dead := fs.Bool("dead", false, "list the dead letters instead of the queue")
	format := fs.String("format", "text", "output `format`: text or json")
	ids, err := parseInterspersed(fs, args)
	if err != nil {
		return usageErr(stderr, err)
	}
	var cfg *config.Config
	if *cfgPath != "" {
		if cfg, err = config.LoadWith(*cfgPath, config.Options{SkipHostChecks: sub != "deliver"}); err != nil {
			fmt.Fprintln(stderr, err)
			return exitUsage
		}
	}
	switch sub {
	case "list", "deliver":
		if len(ids) > 0 {
			fmt.Fprint(stderr, outboxUsage)
			return exitUsage
		}
	case "retry", "drop":
		if len(ids) == 0 {
			fmt.Fprint(stderr, outboxUsage)
			return exitUsage
		}
	default:
		fmt.Fprintf(stderr, "logmedic outbox: unknown command %q\n%s", sub, outboxUsage)
		return exitUsage
	}
	if sub == "deliver" && cfg == nil {
		fmt.Fprintln(stderr, "logmedic outbox deliver: needs -c FILE: the handlers come from the configuration")
		return exitUsage
	}
	store, err := outbox.Open(config.OutboxPath(config.StateDir(*stateDir, cfg)))
	if err != nil {
		fmt.Fprintln(stderr, "logmedic outbox:", err)
		return exitFail
	}
	defer store.Close()
	switch sub {
	case "list":
		return outboxList(store, *dead, *format == "json", stdout, stderr)
	case "retry", "drop":
		status := exitOK
		for _, id := range ids {
			op, verb := store.Requeue, "queued for delivery now"
			if sub == "drop" {
				op, verb = store.Drop, "dropped"
			}
			if err := op(id); err != nil {
				fmt.Fprintln(stderr, "logmedic outbox:", err)
				status = exitFail
				continue
			}
			fmt.Fprintf(stdout, "%s %s\n", id, verb)
		}
		return status
	}
	return outboxDeliver(cfg, store, config.StateDir(*stateDir, cfg), stderr)
}

func outboxList(store *outbox.Store, dead, asJSON bool, stdout, stderr io.Writer) int {
	list, err := store.Pending()
	if dead {
		list, err = store.Dead()
	}
	if err != nil {
		fmt.Fprintln(stderr, "logmedic outbox:", err)
		return exitFail
	}
	if asJSON {
		enc := json.NewEncoder(stdout)
		for _, a := range list {
			a.Payload = nil // rendered content stays in the store; list shows state
			if err := enc.Encode(a); err != nil {
				return exitFail
			}
		}
		return exitOK
	}
	for _, a := range list {
		next := "now"
		if !a.NextAttempt.IsZero() {
			next = a.NextAttempt.Local().Format(time.DateTime)
		}
		if dead {
			next = "dead"
		}
		fmt.Fprintf(stdout, "%s  %-12s %-28s %-22s attempts %d, next %s\n", a.ID, a.Handler, a.Rule, a.Event.Computer, a.Attempts, next)
		if a.LastError != "" {
			fmt.Fprintf(stdout, "    last error: %s\n", a.LastError)
		}
	}
	what := "queued"
	if dead {
		what = "dead"
	}
	fmt.Fprintf(stdout, "%d actions %s\n", len(list), what)
	return exitOK
}

// outboxDeliver delivers what is due, then exits: for cron-style use and
// for draining the outbox while the daemon is stopped.
func outboxDeliver(cfg *config.Config, store *outbox.Store, stateDir string, stderr io.Writer) int {
	log := newLogger(stderr)
	defer log.Sync()
	// Delivering runs scripts as the daemon would: the same check first.
	if err := checkPermissions(cfg, cfg.File, stateDir, ""); err != nil {
		fmt.Fprintln(stderr, "logmedic outbox deliver:", err)
		return exitFail
	}
	built, routes, err := buildRoutes(cfg, store, log)
	if err != nil {
		fmt.Fprintln(stderr, "logmedic outbox deliver:", err)
		return exitFail
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	d := outbox.NewDispatcher(store, routes, 0, log)
	if err := d.Drain(ctx); err != nil && !errors.Is(err, context.Canceled) {
		fmt.Fprintln(stderr, "logmedic outbox deliver:", err)
		return exitFail
	}
	// Handlers that keep state on the remote side (firing alerts) re-send
	// it, as a scheduled run of deliver must keep them alive.
	for name, b := range built {
		if r, ok := b.(resender); ok {
			if err := r.Resend(ctx); err != nil {
				log.Warn("re-sending handler state failed", zap.String("handler", name), zap.Error(err))
			}
		}
	}
	pending, _ := store.Pending()
	deadList, _ := store.Dead()
	fmt.Fprintf(stderr, "outbox: %d actions waiting for a retry, %d dead\n", len(pending), len(deadList))
	if len(deadList) > 0 {
		return exitFail
	}
	return exitOK
}

// newLogger logs for people on a terminal, without sampling: every
// action's outcome is written.
func newLogger(w io.Writer) *zap.Logger {
	enc := zap.NewDevelopmentEncoderConfig()
	enc.EncodeTime = zapcore.ISO8601TimeEncoder
	core := zapcore.NewCore(zapcore.NewConsoleEncoder(enc), zapcore.AddSync(w), zapcore.InfoLevel)
	return zap.New(core)
}

// resender is a handler that re-sends what it keeps firing on the remote
// side (the alertmanager handler).
type resender interface {
	Resend(ctx context.Context) error
}
