package metrics

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"
)

func TestHandler(t *testing.T) {
	notReady := errors.New("outbox not open")
	tests := []struct {
		name     string
		ready    func() error
		method   string
		path     string
		wantCode int
		wantBody string // exact, unless wantIn is set
		wantIn   string
	}{
		{name: "healthz", method: "GET", path: "/healthz", wantCode: 200, wantBody: "ok\n"},
		{name: "healthz while not ready", ready: func() error { return notReady }, method: "GET", path: "/healthz", wantCode: 200, wantBody: "ok\n"},
		{name: "readyz nil func", method: "GET", path: "/readyz", wantCode: 200, wantBody: "ok\n"},
		{name: "readyz ready", ready: func() error { return nil }, method: "GET", path: "/readyz", wantCode: 200, wantBody: "ok\n"},
		{name: "readyz not ready", ready: func() error { return notReady }, method: "GET", path: "/readyz", wantCode: 503, wantBody: "outbox not open\n"},
		{name: "readyz head", ready: func() error { return notReady }, method: "HEAD", path: "/readyz", wantCode: 503, wantBody: ""},
		{name: "metrics", method: "GET", path: "/metrics", wantCode: 200, wantIn: "\nlogmedic_config_reloads_total{result=\"success\"} 0\n"},
		{name: "post refused", method: "POST", path: "/healthz", wantCode: 405, wantIn: "Method Not Allowed"},
		{name: "unknown path", method: "GET", path: "/", wantCode: 404, wantIn: "not found"},
	}
	m := New()
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			srv := httptest.NewServer(m.Handler(tc.ready))
			defer srv.Close()
			req, err := http.NewRequest(tc.method, srv.URL+tc.path, nil)
			if err != nil {
				t.Fatal(err)
			}
			resp, err := srv.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			if err != nil {
				t.Fatal(err)
			}
			if resp.StatusCode != tc.wantCode {
				t.Errorf("%s %s: status %d, want %d", tc.method, tc.path, resp.StatusCode, tc.wantCode)
			}
			if tc.wantIn != "" {
				if !strings.Contains(string(body), tc.wantIn) {
					t.Errorf("%s %s: body lacks %q:\n%s", tc.method, tc.path, tc.wantIn, body)
				}
			} else if string(body) != tc.wantBody {
				t.Errorf("%s %s: body %q, want %q", tc.method, tc.path, body, tc.wantBody)
			}
		})
	}
}

// serve runs Serve in the background and returns the address it bound,
// read from its log, and the channel its result arrives on.
func serve(t *testing.T, ctx context.Context, addr string) (string, <-chan error) {
	t.Helper()
	core, logs := observer.New(zapcore.InfoLevel)
	errc := make(chan error, 1)
	go func() { errc <- Serve(ctx, addr, false, New().Handler(nil), zap.New(core)) }()
	deadline := time.After(10 * time.Second)
	for {
		if l := logs.FilterMessage("serving metrics").All(); len(l) > 0 {
			return l[0].ContextMap()["addr"].(string), errc
		}
		select {
		case err := <-errc:
			t.Fatalf("Serve(%q) returned early: %v", addr, err)
		case <-deadline:
			t.Fatalf("Serve(%q) did not start", addr)
		case <-time.After(5 * time.Millisecond):
		}
	}
}

func TestServe(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	addr, errc := serve(t, ctx, "127.0.0.1:0")
	for _, path := range []string{"/healthz", "/readyz", "/metrics"} {
		resp, err := http.Get("http://" + addr + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Errorf("GET %s: status %d", path, resp.StatusCode)
		}
	}
	cancel()
	select {
	case err := <-errc:
		if err != nil {
			t.Errorf("Serve after cancel: %v, want nil", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Serve did not stop after cancel")
	}
	if c, err := net.Dial("tcp", addr); err == nil {
		c.Close()
		t.Errorf("%s still accepts connections after Serve returned", addr)
	}
}

func TestServeLocalhost(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	addr, errc := serve(t, ctx, "localhost:0")
	cancel()
	if err := <-errc; err != nil {
		t.Errorf("Serve(localhost:0) bound %s, then: %v", addr, err)
	}
}

func TestServeRefusesRemote(t *testing.T) {
	for _, addr := range []string{"0.0.0.0:9464", "0.0.0.0:0", ":9464", "[::]:9464", "192.0.2.1:9464", "example.com:9464"} {
		t.Run(addr, func(t *testing.T) {
			err := Serve(t.Context(), addr, false, http.NotFoundHandler(), zap.NewNop())
			if !errors.Is(err, ErrNotLoopback) {
				t.Errorf("Serve(%q, allowRemote=false) = %v, want ErrNotLoopback", addr, err)
			}
		})
	}
}

func TestCheckLoopback(t *testing.T) {
	tests := []struct {
		addr string
		ok   bool
	}{
		{"127.0.0.1:9464", true},
		{"127.0.0.2:9464", true},
		{"[::1]:9464", true},
		{"localhost:9464", true},
		{"0.0.0.0:9464", false},
		{":9464", false},
		{"[::]:9464", false},
		{"10.0.0.1:9464", false},
		{"host.example:9464", false},
		{"127.0.0.1", false}, // no port
	}
	for _, tc := range tests {
		t.Run(tc.addr, func(t *testing.T) {
			if err := checkLoopback(tc.addr); (err == nil) != tc.ok {
				t.Errorf("checkLoopback(%q) = %v, want ok=%v", tc.addr, err, tc.ok)
			}
		})
	}
}

func TestServeBusyPort(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	errc := make(chan error, 1)
	go func() { errc <- Serve(t.Context(), ln.Addr().String(), false, http.NotFoundHandler(), zap.NewNop()) }()
	select {
	case err := <-errc:
		if err == nil {
			t.Errorf("Serve on busy %s = nil, want an error", ln.Addr())
		}
	case <-time.After(10 * time.Second):
		t.Fatalf("Serve on busy %s did not return", ln.Addr())
	}
}

func TestServeCanceledContext(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if err := Serve(ctx, "127.0.0.1:0", false, http.NotFoundHandler(), zap.NewNop()); !errors.Is(err, context.Canceled) {
		t.Errorf("Serve with a canceled context = %v, want context.Canceled", err)
	}
}
