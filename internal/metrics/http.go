package metrics

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.uber.org/zap"
)

// DefaultAddr is the address the daemon serves metrics on by default:
// loopback only, on the port registered for logmedic's exporter.
const DefaultAddr = "127.0.0.1:9464"

// ErrNotLoopback is returned by Serve for an address beyond the host when
// remote exposure was not allowed.
var ErrNotLoopback = errors.New("address is not loopback; remote exposure is not allowed")

// Server timeouts. Scrapes are small and local; a stalled client must not
// hold a connection for long.
const (
	readHeaderTimeout = 5 * time.Second
	readTimeout       = 10 * time.Second
	writeTimeout      = 30 * time.Second
	idleTimeout       = 60 * time.Second
	shutdownTimeout   = 5 * time.Second
	maxHeaderBytes    = 16 << 10
	maxScrapes        = 4 // concurrent /metrics requests; more get 503
)

// Handler returns the HTTP endpoints: /metrics in the Prometheus formats,
// /healthz answering 200 "ok" while the process serves, and /readyz
// answering 200 "ok" when ready returns nil (or is nil), else 503 with the
// error's text. Only GET and HEAD are allowed.
func (m *Metrics) Handler(ready func() error) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{
		ErrorHandling:       promhttp.ContinueOnError,
		MaxRequestsInFlight: maxScrapes,
	}))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		text(w, http.StatusOK, "ok")
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		if ready != nil {
			if err := ready(); err != nil {
				text(w, http.StatusServiceUnavailable, err.Error())
				return
			}
		}
		text(w, http.StatusOK, "ok")
	})
	return mux
}

func text(w http.ResponseWriter, code int, msg string) {
	h := w.Header()
	h.Set("Content-Type", "text/plain; charset=utf-8")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	fmt.Fprintln(w, msg)
}

// Serve serves h on addr (DefaultAddr when empty) until ctx ends, then
// shuts down gracefully and returns nil. It returns at once, with an
// error, when addr cannot be listened on (a busy port) or when addr is
// not a loopback address and allowRemote is false (ErrNotLoopback).
func Serve(ctx context.Context, addr string, allowRemote bool, h http.Handler, log *zap.Logger) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if log == nil {
		log = zap.NewNop()
	}
	if addr == "" {
		addr = DefaultAddr
	}
	if !allowRemote {
		if err := checkLoopback(addr); err != nil {
			return fmt.Errorf("serve metrics on %s: %w", addr, err)
		}
	}
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", addr)
	if err != nil {
		return fmt.Errorf("serve metrics: %w", err)
	}
	// A host name may resolve beyond the host: check what was bound.
	bound := ln.Addr().String()
	if !allowRemote {
		if ta, ok := ln.Addr().(*net.TCPAddr); !ok || !ta.IP.IsLoopback() {
			ln.Close()
			return fmt.Errorf("serve metrics on %s (%s): %w", addr, bound, ErrNotLoopback)
		}
	}
	errLog, _ := zap.NewStdLogAt(log, zap.WarnLevel) // fails only for an invalid level
	srv := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: readHeaderTimeout,
		ReadTimeout:       readTimeout,
		WriteTimeout:      writeTimeout,
		IdleTimeout:       idleTimeout,
		MaxHeaderBytes:    maxHeaderBytes,
		ErrorLog:          errLog,
	}
	log.Info("serving metrics", zap.String("addr", bound), zap.Bool("remote_allowed", allowRemote))
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("serve metrics: %w", err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeoutCause(context.WithoutCancel(ctx), shutdownTimeout, errors.New("metrics server shutdown timed out"))
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		log.Warn("metrics server did not stop gracefully", zap.Error(context.Cause(sctx)))
		srv.Close()
	}
	<-errc // http.ErrServerClosed
	log.Info("metrics server stopped", zap.String("addr", bound))
	return nil
}

// checkLoopback accepts "localhost" and loopback IP literals. An empty
// host means every interface.
func checkLoopback(addr string) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return err
	}
	if host == "localhost" {
		return nil
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsLoopback() {
		return nil
	}
	return ErrNotLoopback
}
