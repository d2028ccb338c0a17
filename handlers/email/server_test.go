package email

import (
	"bufio"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/logmedic/logmedic/handlers"
	"github.com/logmedic/logmedic/handlers/handlertest"
	"github.com/logmedic/logmedic/internal/tooltest"
	"github.com/logmedic/logmedic/watcher"
)

// These tests send to a real SMTP server: testdata/smtpd.py, built on
// aiosmtpd (Debian's python3-aiosmtpd).

const (
	smtpUser     = "logmedic"
	smtpPassword = "c0rrect-h0rse-battery"
)

// python returns a python3 that can import aiosmtpd, or stops the test.
func python(t *testing.T) string {
	t.Helper()
	p := tooltest.Require(t, "python3", "python3-aiosmtpd")
	// Debian's package installs for Debian's python3, which another
	// python3 earlier in PATH may hide.
	for _, cand := range []string{p, "/usr/bin/python3"} {
		if exec.Command(cand, "-c", "import aiosmtpd").Run() == nil {
			return cand
		}
	}
	if os.Getenv("CI") != "" {
		t.Fatalf("python3 cannot import aiosmtpd: .ci/run must install it (apt-get install python3-aiosmtpd)")
	}
	t.Skipf("python3 cannot import aiosmtpd; install it to run this test: apt-get install python3-aiosmtpd")
	return ""
}

// selfSigned writes a certificate for 127.0.0.1 and its key to dir.
func selfSigned(t *testing.T, dir string) (cert, key string) {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "logmedic test SMTP"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
		DNSNames:     []string{"localhost"},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &k.PublicKey, k)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		t.Fatal(err)
	}
	cert, key = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(cert, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(key, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder}), 0o600); err != nil {
		t.Fatal(err)
	}
	return cert, key
}

// smtpd is a running test server.
type smtpd struct {
	port int
	ca   string // the certificate to trust
	dir  string // where messages land
}

// received is a message as the server saved it.
type received struct {
	MailFrom      string   `json:"mail_from"`
	RcptTos       []string `json:"rcpt_tos"`
	STARTTLS      bool     `json:"starttls"`
	TLS           bool     `json:"tls"`
	Authenticated bool     `json:"authenticated"`
	Login         string   `json:"login"`
	Data          []byte   `json:"data"`
}

func startSMTPD(t *testing.T, mode string, auth bool) *smtpd {
	t.Helper()
	py := python(t)
	dir := t.TempDir()
	s := &smtpd{dir: filepath.Join(dir, "mail")}
	if err := os.Mkdir(s.dir, 0o700); err != nil {
		t.Fatal(err)
	}
	var key string
	s.ca, key = selfSigned(t, dir)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s.port = l.Addr().(*net.TCPAddr).Port
	l.Close()
	args := []string{"testdata/smtpd.py", "--port", strconv.Itoa(s.port), "--mode", mode, "--dir", s.dir}
	if mode != ModeNone {
		args = append(args, "--cert", s.ca, "--key", key)
	}
	if auth {
		args = append(args, "--user", smtpUser, "--password", smtpPassword)
	}
	cmd := exec.Command(py, args...)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		stdin.Close() // the server stops at EOF
		done := make(chan struct{})
		go func() { cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			cmd.Process.Kill()
			<-done
		}
		if t.Failed() && stderr.Len() > 0 {
			t.Logf("smtpd stderr:\n%s", stderr.String())
		}
	})
	ready := make(chan bool, 1)
	go func() {
		line, _ := bufio.NewReader(stdout).ReadString('\n')
		ready <- strings.TrimSpace(line) == "ready"
	}()
	select {
	case ok := <-ready:
		if !ok {
			cmd.Wait()
			t.Fatalf("smtpd did not start:\n%s", stderr.String())
		}
	case <-time.After(20 * time.Second):
		t.Fatalf("smtpd not ready:\n%s", stderr.String())
	}
	return s
}

// messages returns what the server saved, in order.
func (s *smtpd) messages(t *testing.T) []received {
	t.Helper()
	names, err := filepath.Glob(filepath.Join(s.dir, "*.json"))
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(names)
	var out []received
	for _, n := range names {
		b, err := os.ReadFile(n)
		if err != nil {
			t.Fatal(err)
		}
		var r received
		if err := json.Unmarshal(b, &r); err != nil {
			t.Fatalf("%s: %v", n, err)
		}
		out = append(out, r)
	}
	return out
}

func (s *smtpd) config(mode string) *Config {
	return &Config{
		Host: "127.0.0.1", Port: s.port, TLSMode: mode,
		From: "logmedic <logmedic@corp.example>", To: []string{"helpdesk@corp.example", "jm@corp.example"},
		TLS: handlers.TLS{CAFile: s.ca}, Hello: "ws-0142.corp.example",
	}
}

func TestSMTP(t *testing.T) {
	python(t)
	ctx := context.Background()
	t.Setenv("LOGMEDIC_SMTP_PASSWORD", smtpPassword)
	t.Setenv("LOGMEDIC_SMTP_WRONG", "wr0ng-pa55word")

	t.Run("starttls auth", func(t *testing.T) {
		t.Parallel()
		s := startSMTPD(t, ModeSTARTTLS, true)
		c := s.config(ModeSTARTTLS)
		c.Username, c.PasswordEnv = smtpUser, "LOGMEDIC_SMTP_PASSWORD"
		h := newHandler(t, c)
		e := handlertest.HostileEvent()
		long := strings.Repeat("0123456789", 120)
		e.Message += "\n" + long + "\n.\nend"
		a := handlertest.Action(t, h, e, "backup-failed", map[string]string{
			"subject": "Sicherung fehlgeschlagen: {{.Message}}",
		})
		if retry, err := h.Deliver(ctx, a); err != nil {
			t.Fatalf("Deliver: retry %v, %v", retry, err)
		}
		msgs := s.messages(t)
		if len(msgs) != 1 {
			t.Fatalf("%d messages saved, want 1", len(msgs))
		}
		m := msgs[0]
		if !m.STARTTLS || !m.TLS || !m.Authenticated || m.Login != smtpUser {
			t.Errorf("session: starttls %v tls %v authenticated %v login %q", m.STARTTLS, m.TLS, m.Authenticated, m.Login)
		}
		if m.MailFrom != "logmedic@corp.example" || !slices.Equal(m.RcptTos, []string{"helpdesk@corp.example", "jm@corp.example"}) {
			t.Errorf("envelope from %q to %q", m.MailFrom, m.RcptTos)
		}
		p := parse(t, m.Data)
		checkHeaders(t, p, a, headerText("Sicherung fehlgeschlagen: "+e.Message))
		var pl payload
		if err := json.Unmarshal(a.Payload, &pl); err != nil {
			t.Fatal(err)
		}
		if p.body != lines(pl.Body) {
			t.Errorf("body\n%q\nwant\n%q", p.body, lines(pl.Body))
		}
		for _, want := range []string{"\n.\n", "\n" + long + "\n", "X-Injected: yes", "Computer:  PC$(touch"} {
			if !strings.Contains(p.body, want) {
				t.Errorf("body lacks %q", want)
			}
		}
		if to, err := p.header.AddressList("To"); err != nil || len(to) != 2 || to[1].Address != "jm@corp.example" {
			t.Errorf("To %v (%v)", to, err)
		}

		// A redelivery carries the same Message-ID.
		if _, err := h.Deliver(ctx, a); err != nil {
			t.Fatal(err)
		}
		if msgs = s.messages(t); len(msgs) != 2 || parse(t, msgs[1].Data).header.Get("Message-ID") != "<"+a.ID+"@logmedic>" {
			t.Errorf("redelivery: %d messages", len(msgs))
		}
	})

	t.Run("wrong password", func(t *testing.T) {
		t.Parallel()
		s := startSMTPD(t, ModeSTARTTLS, true)
		c := s.config(ModeSTARTTLS)
		c.Username, c.PasswordEnv = smtpUser, "LOGMEDIC_SMTP_WRONG"
		h := newHandler(t, c)
		retry, err := h.Deliver(ctx, handlertest.Action(t, h, handlertest.Event(), "backup-failed", nil))
		if err == nil || retry {
			t.Fatalf("wrong password: retry %v, err %v; want a permanent error", retry, err)
		}
		if !strings.Contains(err.Error(), "535") {
			t.Errorf("error %q does not show the server's reply", err)
		}
		handlertest.NoSecret(t, "wr0ng-pa55word", err.Error())
		handlertest.NoSecret(t, "AGxvZ21lZGljAHdyMG5nLXBhNTV3b3Jk", err.Error()) // base64 of the AUTH PLAIN blob
		if n := len(s.messages(t)); n != 0 {
			t.Errorf("%d messages saved", n)
		}
	})

	t.Run("implicit tls", func(t *testing.T) {
		t.Parallel()
		s := startSMTPD(t, ModeTLS, true)
		c := s.config(ModeTLS)
		c.Username, c.PasswordFile = smtpUser, filepath.Join(t.TempDir(), "pw")
		if err := os.WriteFile(c.PasswordFile, []byte(smtpPassword+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		h := newHandler(t, c)
		if retry, err := h.Deliver(ctx, handlertest.Action(t, h, handlertest.Event(), "backup-failed", nil)); err != nil {
			t.Fatalf("Deliver: retry %v, %v", retry, err)
		}
		msgs := s.messages(t)
		if len(msgs) != 1 || !msgs[0].TLS || msgs[0].STARTTLS || !msgs[0].Authenticated {
			t.Fatalf("messages %+v", msgs)
		}
		p := parse(t, msgs[0].Data)
		if got := p.header.Get("Subject"); got != "[logmedic] backup-failed on WS-0142.corp.example (0x807800B4)" {
			t.Errorf("default subject %q", got)
		}
	})

	t.Run("untrusted certificate", func(t *testing.T) {
		t.Parallel()
		s := startSMTPD(t, ModeSTARTTLS, false)
		c := s.config(ModeSTARTTLS)
		c.TLS = handlers.TLS{}
		h := newHandler(t, c)
		retry, err := h.Deliver(ctx, handlertest.Action(t, h, handlertest.Event(), "backup-failed", nil))
		if err == nil || !strings.Contains(err.Error(), "starttls") {
			t.Fatalf("STARTTLS to an untrusted certificate: retry %v, err %v", retry, err)
		}
		if n := len(s.messages(t)); n != 0 {
			t.Errorf("%d messages saved", n)
		}
	})

	t.Run("starttls missing", func(t *testing.T) {
		t.Parallel()
		s := startSMTPD(t, ModeNone, false)
		h := newHandler(t, s.config(ModeSTARTTLS))
		retry, err := h.Deliver(ctx, handlertest.Action(t, h, handlertest.Event(), "backup-failed", nil))
		if err == nil || retry || !strings.Contains(err.Error(), "does not offer STARTTLS") {
			t.Fatalf("server without STARTTLS: retry %v, err %v", retry, err)
		}
		if n := len(s.messages(t)); n != 0 {
			t.Errorf("%d messages sent in clear text", n)
		}
	})

	t.Run("none on loopback", func(t *testing.T) {
		t.Parallel()
		s := startSMTPD(t, ModeNone, true)
		c := s.config(ModeNone)
		c.Username, c.PasswordEnv = smtpUser, "LOGMEDIC_SMTP_PASSWORD"
		h := newHandler(t, c)
		if retry, err := h.Deliver(ctx, handlertest.Action(t, h, handlertest.Event(), "backup-failed", nil)); err != nil {
			t.Fatalf("Deliver: retry %v, %v", retry, err)
		}
		if msgs := s.messages(t); len(msgs) != 1 || msgs[0].TLS || !msgs[0].Authenticated {
			t.Fatalf("messages %+v", msgs)
		}
	})

	t.Run("recipients from the event", func(t *testing.T) {
		t.Parallel()
		s := startSMTPD(t, ModeSTARTTLS, false)
		h := newHandler(t, s.config(ModeSTARTTLS))
		e := handlertest.Event()
		e.Data = append(e.Data, watcher.Field{Name: "Owner", Value: `attacker@evil.example, "x> NOTIFY=SUCCESS"@evil.example`})
		with := map[string]string{"to": `{{.Field "Owner"}}`}
		retry, err := h.Deliver(ctx, handlertest.Action(t, h, e, "backup-failed", with))
		if err == nil || retry || !strings.Contains(err.Error(), "is not one plain address") {
			t.Errorf("SMTP parameters in a recipient: retry %v, err %v; want a permanent error", retry, err)
		}
		if n := len(s.messages(t)); n != 0 {
			t.Errorf("%d messages saved", n)
		}
		e.Data[len(e.Data)-1].Value = "ok@corp.example, other@corp.example"
		if retry, err := h.Deliver(ctx, handlertest.Action(t, h, e, "backup-failed", with)); err != nil {
			t.Fatalf("Deliver: retry %v, %v", retry, err)
		}
		if msgs := s.messages(t); len(msgs) != 1 || !slices.Equal(msgs[0].RcptTos, []string{"ok@corp.example", "other@corp.example"}) {
			t.Errorf("messages %+v", msgs)
		}
	})

	t.Run("recipients refused", func(t *testing.T) {
		t.Parallel()
		s := startSMTPD(t, ModeSTARTTLS, false)
		tests := []struct {
			name  string
			to    []string
			retry bool
			saved []string // recipients of a saved message
		}{
			{"temporary", []string{"ok@corp.example", "tempfail@corp.example"}, true, nil},
			{"one permanent", []string{"reject@corp.example", "ok@corp.example"}, false, []string{"ok@corp.example"}},
			{"all permanent", []string{"reject@corp.example"}, false, nil},
		}
		for _, tt := range tests {
			before := len(s.messages(t))
			c := s.config(ModeSTARTTLS)
			c.To = tt.to
			h := newHandler(t, c)
			retry, err := h.Deliver(ctx, handlertest.Action(t, h, handlertest.Event(), "backup-failed", nil))
			if err == nil || retry != tt.retry {
				t.Errorf("%s: retry %v, err %v; want retry %v", tt.name, retry, err, tt.retry)
			}
			msgs := s.messages(t)[before:]
			switch {
			case tt.saved == nil && len(msgs) != 0:
				t.Errorf("%s: %d messages saved", tt.name, len(msgs))
			case tt.saved != nil && (len(msgs) != 1 || !slices.Equal(msgs[0].RcptTos, tt.saved)):
				t.Errorf("%s: saved %+v, want one to %v", tt.name, msgs, tt.saved)
			}
		}
	})
}
