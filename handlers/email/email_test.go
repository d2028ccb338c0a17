package email

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"mime"
	"mime/quotedprintable"
	"net"
	"net/mail"
	"net/smtp"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"

	"go.uber.org/zap/zaptest"

	"github.com/logmedic/logmedic/handlers"
	"github.com/logmedic/logmedic/handlers/handlertest"
	"github.com/logmedic/logmedic/watcher"
)

func newHandler(t *testing.T, c *Config) *Handler {
	t.Helper()
	if err := c.Validate(); err != nil {
		t.Fatalf("Validate: %v", err)
	}
	h, err := New(c, handlers.Options{Name: "mail", Logger: zaptest.NewLogger(t)})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return h
}

// parsed is a message split into headers and decoded body.
type parsed struct {
	header mail.Header
	raw    string // the header block as sent
	body   string // decoded, with \n line ends
}

func parse(t *testing.T, msg []byte) parsed {
	t.Helper()
	m, err := mail.ReadMessage(bytes.NewReader(msg))
	if err != nil {
		t.Fatalf("message does not parse: %v\n%s", err, msg)
	}
	if got := m.Header.Get("Content-Transfer-Encoding"); got != "quoted-printable" {
		t.Fatalf("Content-Transfer-Encoding %q", got)
	}
	b, err := io.ReadAll(quotedprintable.NewReader(m.Body))
	if err != nil {
		t.Fatalf("body is not quoted-printable: %v", err)
	}
	raw, _, _ := strings.Cut(string(msg), "\r\n\r\n")
	return parsed{header: m.Header, raw: raw, body: strings.ReplaceAll(string(b), "\r\n", "\n")}
}

// lines normalizes line ends as the quoted-printable encoder does.
func lines(s string) string {
	return strings.ReplaceAll(strings.ReplaceAll(s, "\r\n", "\n"), "\r", "\n")
}

func checkHeaders(t *testing.T, p parsed, a *handlers.Action, wantSubject string) {
	t.Helper()
	for name := range p.header {
		if strings.EqualFold(name, "X-Injected") {
			t.Errorf("event text injected a header: %q", p.raw)
		}
	}
	for _, l := range strings.Split(p.raw, "\r\n") {
		if len(l) > 998 {
			t.Errorf("header line of %d bytes", len(l))
		}
		if strings.ContainsAny(l, "\r\n") {
			t.Errorf("bare CR or LF in header line %q", l)
		}
	}
	subject, err := new(mime.WordDecoder).DecodeHeader(p.header.Get("Subject"))
	if err != nil || subject != wantSubject {
		t.Errorf("Subject %q (%v), want %q", subject, err, wantSubject)
	}
	if got := p.header.Get("Message-ID"); got != "<"+a.ID+"@logmedic>" {
		t.Errorf("Message-ID %q, want <%s@logmedic>", got, a.ID)
	}
	if d, err := p.header.Date(); err != nil || !d.Equal(a.Created.Truncate(1e9)) {
		t.Errorf("Date %v (%v), want %v", d, err, a.Created)
	}
	want := map[string]string{"MIME-Version": "1.0", "Content-Type": "text/plain; charset=utf-8", "Auto-Submitted": "auto-generated"}
	for k, v := range want {
		if got := p.header.Get(k); got != v {
			t.Errorf("%s %q, want %q", k, got, v)
		}
	}
}

func TestMessage(t *testing.T) {
	h := newHandler(t, &Config{
		Host: "smtp.corp.example", From: "logmedic <logmedic@corp.example>",
		To: []string{"helpdesk@corp.example", "jm@corp.example"},
	})
	e := handlertest.HostileEvent()
	a := handlertest.Action(t, h, e, "backup-failed", map[string]string{
		"subject": "Sicherung fehlgeschlagen auf {{.Computer}}: {{.Message}}",
	})
	m, err := h.mailing(a)
	if err != nil {
		t.Fatal(err)
	}
	p := parse(t, m.msg)
	checkHeaders(t, p, a, headerText("Sicherung fehlgeschlagen auf "+e.Computer+": "+e.Message))
	if strings.Contains(p.header.Get("Subject"), "ü") {
		t.Error("non-ASCII subject not RFC 2047 encoded")
	}
	to, err := p.header.AddressList("To")
	if err != nil || len(to) != 2 || to[0].Address != "helpdesk@corp.example" || to[1].Address != "jm@corp.example" {
		t.Errorf("To %v (%v)", to, err)
	}
	from, err := p.header.AddressList("From")
	if err != nil || from[0].Address != "logmedic@corp.example" {
		t.Errorf("From %v (%v)", from, err)
	}
	var pl payload
	if err := json.Unmarshal(a.Payload, &pl); err != nil {
		t.Fatal(err)
	}
	if p.body != lines(pl.Body) {
		t.Errorf("body\n%q\nwant\n%q", p.body, lines(pl.Body))
	}
	for _, want := range []string{"Backup failed.", "Computer:  PC$(touch", "Error:     0x807800B4 ", "\n.\n", "X-Injected: yes", "logmedic, action " + a.ID} {
		if !strings.Contains(p.body, want) {
			t.Errorf("body lacks %q:\n%s", want, p.body)
		}
	}
}

func TestHeaderText(t *testing.T) {
	tests := []struct{ name, in, want string }{
		{"plain", "Backup failed", "Backup failed"},
		{"crlf", "a\r\nBcc: x@y\n\nbody", "a Bcc: x@y body"},
		{"controls", "a\x00b\tc\x1bd\u2028e\u0085f", "a b c d e f"},
		{"invalid utf-8", "a\xffb", "a\uFFFDb"},
		{"long", strings.Repeat("x", 500), strings.Repeat("x", maxSubject-3) + "..."},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := headerText(tt.in); got != tt.want {
				t.Errorf("headerText(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
	long := strings.Repeat("Sicherung für Jürgen fehlgeschlagen ", 10)
	enc := encodeHeader(headerText(long))
	for _, l := range strings.Split(enc, "\r\n") {
		if len(l) > 78 {
			t.Errorf("encoded subject line of %d bytes: %q", len(l), l)
		}
	}
	if dec, err := new(mime.WordDecoder).DecodeHeader(strings.ReplaceAll(enc, "\r\n", "")); err != nil || dec != headerText(long) {
		t.Errorf("encoded subject decodes to %q (%v)", dec, err)
	}
}

func TestWithTo(t *testing.T) {
	// A closed port: an action that got as far as connecting would fail
	// with retry true.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	h := newHandler(t, &Config{Host: "127.0.0.1", Port: port, From: "a@x", To: []string{"b@x"}})
	owner := func(v string) handlers.Event {
		e := handlertest.Event()
		e.Data = append(e.Data, watcher.Field{Name: "Owner", Value: v})
		return e
	}
	const fromEvent = `{{.Field "Owner"}}`

	for _, tt := range []struct {
		name, with, owner string
		want              []string
	}{
		{"constant", "c@x, d@x", "", []string{"c@x", "d@x"}},
		{"from the event", fromEvent, " c@x ,d.e+f@sub.corp-1.example,", []string{"c@x", "d.e+f@sub.corp-1.example"}},
		{"handler's", "", "", []string{"b@x"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var with map[string]string
			if tt.with != "" {
				with = map[string]string{"to": tt.with}
			}
			m, err := h.mailing(handlertest.Action(t, h, owner(tt.owner), "r", with))
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, r := range m.rcpts {
				got = append(got, r.Address)
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("recipients %q, want %q", got, tt.want)
			}
		})
	}

	// Event text that is not a list of plain addresses fails its action
	// at delivery, without retry and without connecting; Prepare keeps
	// it, so that the event's other actions still go.
	for _, tt := range []struct{ name, owner, bad string }{
		{"smtp parameters", `attacker@evil.example, "x> NOTIFY=SUCCESS"@evil.example`, `"\"x> NOTIFY=SUCCESS\"@evil.example"`},
		{"angle brackets", "Boss <boss@corp.example>", `"Boss <boss@corp.example>"`},
		{"space", "x> NOTIFY=SUCCESS@evil.example", `"x> NOTIFY=SUCCESS@evil.example"`},
		{"line break", "a@x\r\nRCPT TO:<b@x>", `"a@x\r\nRCPT TO:<b@x>"`},
		{"quoted local part", `"a b"@x`, `"\"a b\"@x"`},
		{"no domain", "root", `"root"`},
		{"route", "@relay:a@x", `"@relay:a@x"`},
		{"empty", " , ", ""},
		{"hostile", handlertest.Hostile, ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			a := handlertest.Action(t, h, owner(tt.owner), "r", map[string]string{"to": fromEvent})
			retry, err := h.Deliver(context.Background(), a)
			want := "to: recipient " + tt.bad + " is not one plain address"
			if tt.bad == "" {
				want = "to: "
			}
			if err == nil || retry || !strings.HasPrefix(err.Error(), want) {
				t.Errorf("Deliver = %v, %v; want no retry and an error starting %q", retry, err, want)
			}
			if _, err := h.Preview(a); err == nil {
				t.Error("Preview accepted the recipients")
			}
		})
	}

	// A template that renders bad recipients for the sample event is
	// wrong itself: the configuration check, which prepares the sample
	// event, reports it.
	for _, with := range []string{"Ops <ops@corp.example>", "{{.Computer}}", `"x y"@corp.example`} {
		d := handlers.SampleData()
		if _, err := h.Prepare(d, map[string]*handlers.Template{"to": handlers.MustTemplate(with)}); err == nil || !strings.Contains(err.Error(), "to: for a sample event: recipient") {
			t.Errorf("Prepare with to %q = %v, want an error", with, err)
		}
	}
}

func TestPlainAddress(t *testing.T) {
	for _, s := range []string{"a@x", "ops@corp.example", "first.last+tag@sub-1.corp.example", "!#$%&'*+/=?^_`{|}~-@x", strings.Repeat("a", 64) + "@x"} {
		if !plainAddress(s) {
			t.Errorf("%q refused", s)
		}
	}
	for _, s := range []string{"", "a", "@x", "a@", "a@@x", ".a@x", "a.@x", "a..b@x", "a@-x", "a@x-", "a@x..y", "a@.x", "a@[127.0.0.1]",
		"A <a@x>", "<a@x>", `"a"@x`, "a b@x", "a@x y", "a,b@x", "a@x,b@x", "a@x>", "a@x NOTIFY=NEVER", "jürgen@x", "a@ü.example",
		"a@x\r\n", "a\x00@x", strings.Repeat("a", 65) + "@x", "a@" + strings.Repeat("x.", 130) + "x"} {
		if plainAddress(s) {
			t.Errorf("%q accepted", s)
		}
	}
}

func TestNetworkErrorRetries(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	const password = "s3cret-pa55word"
	t.Setenv("SMTP_PASSWORD", password)
	h := newHandler(t, &Config{Host: "127.0.0.1", Port: port, From: "a@x", To: []string{"b@x"}, Username: "u", PasswordEnv: "SMTP_PASSWORD"})
	a := handlertest.Action(t, h, handlertest.Event(), "r", nil)
	retry, err := h.Deliver(context.Background(), a)
	if err == nil || !retry {
		t.Fatalf("Deliver to a closed port: retry %v, err %v", retry, err)
	}
	p, perr := h.Preview(a)
	if perr != nil {
		t.Fatal(perr)
	}
	pj, _ := json.Marshal(p)
	handlertest.NoSecret(t, password, err.Error(), string(pj), string(a.Payload))
	if p.Method != "SMTP" || p.URL != "smtp://127.0.0.1:"+strconv.Itoa(port) || p.Headers["Message-ID"] != "<"+a.ID+"@logmedic>" ||
		!strings.Contains(p.Note, "STARTTLS required, AUTH PLAIN as u") {
		t.Errorf("Preview %+v", p)
	}
}

// TestReplyClassification runs a scripted SMTP server that answers one
// command with a given reply.
func TestReplyClassification(t *testing.T) {
	tests := []struct {
		name  string
		at    string // command that gets the reply
		reply string
		retry bool
	}{
		{"greeting 421", "", "421 4.3.2 shutting down", true},
		{"greeting 554", "", "554 5.3.2 no service", false},
		{"mail 451", "MAIL", "451 4.3.0 try later", true},
		{"mail 550", "MAIL", "550 5.7.1 sender refused", false},
		{"rcpt 452", "RCPT", "452 4.2.2 mailbox full", true},
		{"rcpt 550", "RCPT", "550 5.1.1 no such user", false},
		{"data end 451", ".", "451 4.3.0 queue full", true},
		{"data end 554", ".", "554 5.6.0 message refused", false},
		{"data 500", "DATA", "500 5.5.1 no", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			defer l.Close()
			go scripted(l, tt.at, tt.reply)
			h := newHandler(t, &Config{Host: "127.0.0.1", Port: l.Addr().(*net.TCPAddr).Port, TLSMode: ModeNone, From: "a@x", To: []string{"b@x"}})
			retry, err := h.Deliver(context.Background(), handlertest.Action(t, h, handlertest.Event(), "r", nil))
			if err == nil || retry != tt.retry {
				t.Errorf("retry %v, err %v; want retry %v", retry, err, tt.retry)
			}
		})
	}
}

// scripted serves one SMTP session, answering the command at with reply.
func scripted(l net.Listener, at, reply string) {
	c, err := l.Accept()
	if err != nil {
		return
	}
	defer c.Close()
	r := bufio.NewReader(c)
	say := func(s string) { io.WriteString(c, s+"\r\n") }
	if at == "" {
		say(reply)
		return
	}
	say("220 test")
	data := false
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return
		}
		line = strings.TrimRight(line, "\r\n")
		if data {
			if line != "." {
				continue
			}
			data = false
			if at == "." {
				say(reply)
			} else {
				say("250 ok")
			}
			continue
		}
		cmd, _, _ := strings.Cut(line, " ")
		cmd = strings.TrimSuffix(strings.ToUpper(cmd), ":")
		if strings.HasPrefix(cmd, "MAIL") {
			cmd = "MAIL"
		} else if strings.HasPrefix(cmd, "RCPT") {
			cmd = "RCPT"
		}
		switch {
		case cmd == at:
			say(reply)
		case cmd == "EHLO":
			say("250 test")
		case cmd == "DATA":
			data = true
			say("354 go")
		case cmd == "QUIT":
			say("221 bye")
			return
		default:
			say("250 ok")
		}
	}
}

func TestPlainAuthRefusesCleartext(t *testing.T) {
	a := &plainAuth{username: "u", password: handlers.NewSecret("p")}
	if _, _, err := a.Start(&smtp.ServerInfo{Name: "smtp.corp.example", TLS: false, Auth: []string{"PLAIN"}}); err == nil || isTemporary(err) {
		t.Errorf("AUTH over cleartext to a remote host: %v", err)
	}
	if mech, resp, err := a.Start(&smtp.ServerInfo{Name: "smtp.corp.example", TLS: true}); err != nil || mech != "PLAIN" || string(resp) != "\x00u\x00p" {
		t.Errorf("Start = %q %q %v", mech, resp, err)
	}
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name string
		yaml string
		key  string // "" means valid
		msg  string
	}{
		{"minimal", "host: smtp.corp.example\nfrom: a@x\nto: [b@x]", "", ""},
		{"full", `
host: smtp.corp.example
port: 587
tls_mode: starttls
username: logmedic
password_file: /etc/logmedic/smtp.pw
from: "logmedic <logmedic@corp.example>"
to: [helpdesk@corp.example, ops@corp.example]
subject: "[backup] {{.Computer}}"
body: "{{.Message}}"
tls: {ca_file: /etc/ca.pem, server_name: smtp.corp.example}
hello: ws-0142.corp.example`, "", ""},
		{"none to loopback with auth", "host: 127.0.0.1\ntls_mode: none\nusername: u\npassword_env: P\nfrom: a@x\nto: [b@x]", "", ""},
		{"none to a relay without auth", "host: relay.corp.example\ntls_mode: none\nfrom: a@x\nto: [b@x]", "", ""},
		{"no host", "from: a@x\nto: [b@x]", "host", "missing"},
		{"bad host", "host: 'smtp corp'\nfrom: a@x\nto: [b@x]", "host", "not a host name"},
		{"bad port", "host: h\nport: 70000\nfrom: a@x\nto: [b@x]", "port", "1-65535"},
		{"bad mode", "host: h\ntls_mode: ssl\nfrom: a@x\nto: [b@x]", "tls_mode", "starttls, tls or none"},
		{"cleartext auth", "host: smtp.corp.example\ntls_mode: none\nusername: u\npassword_env: P\nfrom: a@x\nto: [b@x]", "tls_mode", "clear text"},
		{"username without password", "host: h\nusername: u\nfrom: a@x\nto: [b@x]", "username", "password_env"},
		{"password without username", "host: h\npassword_env: P\nfrom: a@x\nto: [b@x]", "username", "needs a username"},
		{"both password forms", "host: h\nusername: u\npassword_env: P\npassword_file: f\nfrom: a@x\nto: [b@x]", "password_env", "not both"},
		{"no from", "host: h\nto: [b@x]", "from", "missing"},
		{"bad from", "host: h\nfrom: 'not an address'\nto: [b@x]", "from", "address"},
		{"header in from", "host: h\nfrom: \"a@x\\r\\nBcc: c@x\"\nto: [b@x]", "from", "control character"},
		{"no to", "host: h\nfrom: a@x", "to", "at least one"},
		{"bad to", "host: h\nfrom: a@x\nto: [b]", "to", "address"},
		{"to with a name", "host: h\nfrom: a@x\nto: ['Ops <ops@corp.example>']", "to", `recipient "Ops <ops@corp.example>" is not one plain address`},
		{"to in angle brackets", "host: h\nfrom: a@x\nto: ['<ops@corp.example>']", "to", "not one plain address"},
		{"two in one to", "host: h\nfrom: a@x\nto: ['a@x, b@x']", "to", "not one plain address"},
		{"to with smtp parameters", "host: h\nfrom: a@x\nto: ['\"x> NOTIFY=SUCCESS\"@evil.example']", "to", "not one plain address"},
		{"quoted from", "host: h\nfrom: '\"a> NOTIFY=NEVER\"@x'\nto: [b@x]", "from", "not one plain address"},
		{"bad hello", "host: h\nfrom: a@x\nto: [b@x]\nhello: 'a b'", "hello", "not a host name"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var c Config
			handlertest.DecodeConfig(t, tt.yaml, &c)
			err := c.Validate()
			if tt.key == "" {
				if err != nil {
					t.Fatalf("Validate: %v", err)
				}
				return
			}
			var fe *handlers.FieldError
			if !errors.As(err, &fe) || fe.Key != tt.key || !strings.Contains(fe.Msg, tt.msg) {
				t.Errorf("Validate = %v; want %s: ...%s...", err, tt.key, tt.msg)
			}
		})
	}
}

func TestUnreadableSecret(t *testing.T) {
	t.Setenv("LOGMEDIC_TEST_EMPTY", "")
	empty := filepath.Join(t.TempDir(), "empty")
	if err := os.WriteFile(empty, []byte("\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c := &Config{Host: "127.0.0.1", Port: 1, From: "a@x", To: []string{"b@x"}, Username: "u"}
	for _, tt := range []struct{ env, file, key string }{
		{"LOGMEDIC_TEST_UNSET_VAR", "", "password_env"},
		{"", "/nonexistent/pw", "password_file"},
		{"LOGMEDIC_TEST_EMPTY", "", "password_env"},
		{"", empty, "password_file"},
	} {
		c.PasswordEnv, c.PasswordFile = tt.env, tt.file
		// New succeeds (logmedic test runs without production secrets);
		// Deliver refuses to send.
		h := newHandler(t, c)
		retry, err := h.Deliver(context.Background(), handlertest.Action(t, h, handlertest.Event(), "r", nil))
		if err == nil || retry || !strings.HasPrefix(err.Error(), tt.key+": ") {
			t.Errorf("%s %s: Deliver = %v, %v; want a %s error, no retry", tt.env, tt.file, retry, err, tt.key)
		}
	}
	c.PasswordEnv = "P"
	if _, err := New(c, handlers.Options{Logger: zaptest.NewLogger(t)}); err == nil {
		t.Error("New accepted both password forms")
	}
}

func TestParams(t *testing.T) {
	for _, p := range Params() {
		if p.Name == "" || p.Doc == "" {
			t.Errorf("param %+v", p)
		}
	}
}

func TestConfigTags(t *testing.T) {
	typ := reflect.TypeFor[Config]()
	for i := range typ.NumField() {
		f := typ.Field(i)
		if f.Tag.Get("yaml") == "" || f.Tag.Get("doc") == "" {
			t.Errorf("field %s lacks a yaml or doc tag", f.Name)
		}
	}
}
