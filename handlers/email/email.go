// Package email is the "email" handler: it sends a plain-text mail per
// action over SMTP, with STARTTLS (required by default) or implicit TLS,
// and AUTH PLAIN.
//
// Event text never reaches a header unescaped: line breaks and control
// characters in the subject become spaces, non-ASCII text is RFC 2047
// encoded, and addresses are parsed and re-formatted. Every recipient,
// configured or rendered by with: to, must be one plain address
// (local@domain of RFC 5322 atext, dots, letters, digits and hyphens), so
// event text cannot add SMTP parameters or recipients inside one. The
// body is UTF-8 text/plain in quoted-printable, so long lines and a line
// holding only "." arrive intact. The Message-ID is <ACTION-ID@logmedic>: a redelivered
// action (after a lost reply) carries the same one, so receivers can tell.
//
// A 4xx reply or a network error can succeed later (retry); a 5xx reply
// (a refused password, an unknown recipient) cannot.
package email

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"mime"
	"mime/quotedprintable"
	"net"
	"net/mail"
	"net/smtp"
	"net/textproto"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"go.uber.org/zap"

	"github.com/logmedic/logmedic/handlers"
)

// Handler sends a configured handler's mails.
type Handler struct {
	host      string
	addr      string // host:port
	mode      string
	username  string
	password  handlers.Secret
	secrets   []handlers.Secret // to redact from errors, with encoded forms
	secretErr error             // why the password could not be read
	from      *mail.Address
	to        []*mail.Address
	subject   *handlers.Template
	body      *handlers.Template
	tlsConfig *tls.Config
	hello     string
	log       *zap.Logger
	now       func() time.Time
}

var (
	_ handlers.Handler   = (*Handler)(nil)
	_ handlers.Previewer = (*Handler)(nil)
)

// New returns the handler for c, which must have passed Validate. It
// reads the password; one that cannot be read makes Deliver fail, not New.
func New(c *Config, o handlers.Options) (*Handler, error) {
	h := &Handler{
		host: c.Host, addr: net.JoinHostPort(c.Host, strconv.Itoa(c.port())), mode: c.mode(),
		username: c.Username, subject: c.Subject, body: c.Body, hello: c.Hello,
		log: o.Logger, now: o.Clock(),
	}
	if h.log == nil {
		h.log = zap.NewNop()
	}
	h.log = h.log.With(zap.String("handler_type", "email"), zap.String("server", h.addr))
	if h.subject == nil {
		h.subject = handlers.MustTemplate(DefaultSubject)
	}
	if h.body == nil {
		h.body = handlers.MustTemplate(DefaultBody)
	}
	if h.hello == "" {
		h.hello = "localhost"
		if name, err := os.Hostname(); err == nil && hostName.MatchString(name) {
			h.hello = name
		}
	}
	var err error
	if h.from, err = parseFrom(c.From); err != nil {
		return nil, handlers.Errf("from", "%v", err)
	}
	for _, s := range c.To {
		a, err := parseRecipient(s)
		if err != nil {
			return nil, handlers.Errf("to", "%v", err)
		}
		h.to = append(h.to, a)
	}
	if len(h.to) == 0 {
		return nil, handlers.Errf("to", "list at least one recipient")
	}
	if h.mode == ModeNone && c.Username != "" && !loopback(c.Host) {
		return nil, handlers.Errf("tls_mode", "none allows AUTH only to a loopback host")
	}
	// A password that cannot be read or is empty is not an error here
	// (logmedic test runs without production secrets); Deliver refuses to
	// send with it.
	key := "password_file"
	if c.PasswordEnv != "" {
		key = "password_env"
	}
	if h.password, err = handlers.LoadSecret(c.PasswordEnv, c.PasswordFile); err != nil {
		return nil, handlers.Errf(key, "%v", err)
	}
	switch {
	case h.password.Err() != nil:
		h.secretErr = fmt.Errorf("%s: %w", key, h.password.Err())
	case (c.PasswordEnv != "" || c.PasswordFile != "") && !h.password.IsSet():
		h.secretErr = fmt.Errorf("%s: the secret is empty", key)
	}
	h.secrets = []handlers.Secret{h.password}
	if h.password.IsSet() {
		plain := "\x00" + h.username + "\x00" + h.password.Value()
		h.secrets = append(h.secrets, handlers.NewSecret(base64.StdEncoding.EncodeToString([]byte(plain))))
	}
	if h.tlsConfig, err = c.TLS.Config(); err != nil {
		return nil, handlers.Errf("tls", "%v", err)
	}
	if h.tlsConfig.ServerName == "" {
		h.tlsConfig.ServerName = c.Host
	}
	return h, nil
}

// payload is a prepared action, as the outbox stores it.
type payload struct {
	Subject string `json:"subject"`
	Body    string `json:"body"`
	// To is the with: to list, split on commas but not checked: a bad
	// recipient fails the action at delivery, not every action of the
	// event at preparation. Nil means the handler's to:.
	To *[]string `json:"to,omitempty"`
}

// Prepare renders the subject, body and, when with: sets them, the
// recipients. A to: that is not a list of plain addresses even for the
// sample event is an error of the template (the configuration check
// reports it); one that only this event's text makes bad or empty is
// kept, and Deliver fails the action.
func (h *Handler) Prepare(d *handlers.Data, with map[string]*handlers.Template) (json.RawMessage, error) {
	subject, err := handlers.Render(d, with, "subject", h.subject)
	if err != nil {
		return nil, err
	}
	body, err := handlers.Render(d, with, "body", h.body)
	if err != nil {
		return nil, err
	}
	p := payload{Subject: headerText(subject), Body: strings.ToValidUTF8(body, "\uFFFD")}
	if t, ok := with["to"]; ok {
		s, err := t.Execute(d)
		if err != nil {
			return nil, fmt.Errorf("to: %w", err)
		}
		list := splitRecipients(s)
		if _, err := parseRecipients(list); err != nil {
			sample, serr := t.Execute(handlers.SampleData())
			if serr != nil {
				return nil, fmt.Errorf("to: %w", serr)
			}
			// A template that renders nothing for the sample event (a
			// field it lacks) cannot be judged on it.
			if list := splitRecipients(sample); len(list) > 0 {
				if _, err := parseRecipients(list); err != nil {
					return nil, fmt.Errorf("to: for a sample event: %w", err)
				}
			}
		}
		p.To = &list
	}
	return json.Marshal(p)
}

// mailing is a decoded action: what to send and to whom.
type mailing struct {
	rcpts []*mail.Address
	msg   []byte
	head  [][2]string
	body  string
}

func (h *Handler) mailing(a *handlers.Action) (*mailing, error) {
	var p payload
	if err := json.Unmarshal(a.Payload, &p); err != nil {
		return nil, fmt.Errorf("decode payload: %w", err)
	}
	m := &mailing{rcpts: h.to, body: p.Body}
	if p.To != nil {
		var err error
		if m.rcpts, err = parseRecipients(*p.To); err != nil {
			return nil, fmt.Errorf("to: %w", err)
		}
	}
	date := a.Created
	if date.IsZero() {
		date = h.now()
	}
	to := make([]string, len(m.rcpts))
	for i, r := range m.rcpts {
		to[i] = r.String()
	}
	m.head = [][2]string{
		{"Date", date.Format(time.RFC1123Z)},
		{"From", h.from.String()},
		{"To", strings.Join(to, ",\r\n ")},
		{"Subject", encodeHeader(headerText(p.Subject))},
		{"Message-ID", messageID(a)},
		{"MIME-Version", "1.0"},
		{"Content-Type", "text/plain; charset=utf-8"},
		{"Content-Transfer-Encoding", "quoted-printable"},
		{"Auto-Submitted", "auto-generated"},
	}
	var b bytes.Buffer
	for _, kv := range m.head {
		b.WriteString(kv[0] + ": " + kv[1] + "\r\n")
	}
	b.WriteString("\r\n")
	qp := quotedprintable.NewWriter(&b)
	body := p.Body
	if !strings.HasSuffix(body, "\n") {
		body += "\n"
	}
	if _, err := qp.Write([]byte(body)); err != nil {
		return nil, err
	}
	if err := qp.Close(); err != nil {
		return nil, err
	}
	m.msg = b.Bytes()
	return m, nil
}

// parseRecipients parses a rendered to: list, every part a plain
// address, at least one.
func parseRecipients(list []string) ([]*mail.Address, error) {
	if len(list) == 0 {
		return nil, errors.New("no recipients")
	}
	out := make([]*mail.Address, 0, len(list))
	for _, s := range list {
		a, err := parseRecipient(s)
		if err != nil {
			return nil, err
		}
		out = append(out, a)
	}
	return out, nil
}

// idText is what may stand in a Message-ID's left part as it is.
var idText = regexp.MustCompile(`^[A-Za-z0-9._-]{1,64}$`)

// messageID derives the Message-ID from the action's ID, so a redelivery
// carries the same one.
func messageID(a *handlers.Action) string {
	id := a.ID
	if !idText.MatchString(id) {
		sum := sha256.Sum256([]byte(a.ID + "\x00" + a.Rule + "\x00" + a.Created.Format(time.RFC3339Nano)))
		id = hex.EncodeToString(sum[:12])
	}
	return "<" + id + "@logmedic>"
}

// maxSubject bounds a subject, in characters.
const maxSubject = 200

// headerText makes s safe as unstructured header text: valid UTF-8, every
// control character and line or paragraph separator a space, runs of
// spaces one, at most maxSubject characters.
func headerText(s string) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	s = strings.Map(func(r rune) rune {
		if isControl(r) || unicode.In(r, unicode.Zl, unicode.Zp) {
			return ' '
		}
		return r
	}, s)
	s = strings.Join(strings.Fields(s), " ")
	if utf8.RuneCountInString(s) > maxSubject {
		s = string([]rune(s)[:maxSubject-3]) + "..."
	}
	return s
}

func isControl(r rune) bool { return unicode.IsControl(r) }

// encodeHeader RFC 2047-encodes non-ASCII text, one encoded word per
// folded line.
func encodeHeader(s string) string {
	enc := mime.QEncoding.Encode("utf-8", s)
	if enc == s {
		return s
	}
	return strings.ReplaceAll(enc, "?= =?", "?=\r\n =?")
}

// Deliver sends the action's mail.
func (h *Handler) Deliver(ctx context.Context, a *handlers.Action) (retry bool, err error) {
	if err := ctx.Err(); err != nil {
		return true, err
	}
	m, err := h.mailing(a)
	if err != nil {
		return false, err
	}
	if h.secretErr != nil {
		return false, h.secretErr
	}
	log := h.log.With(zap.String("action_id", a.ID), zap.String("rule", a.Rule))
	rejected, err := h.send(ctx, m)
	if err != nil {
		retry = isTemporary(err)
		err = errors.New(handlers.Redact(err.Error(), h.secrets...))
		log.Warn("email delivery failed", zap.Bool("retry", retry), zap.Error(err))
		return retry, err
	}
	if len(rejected) > 0 {
		err = fmt.Errorf("smtp %s: delivered to %d of %d recipients; refused: %s",
			h.addr, len(m.rcpts)-len(rejected), len(m.rcpts), strings.Join(rejected, "; "))
		log.Warn("email delivery partly failed", zap.Int("recipients", len(m.rcpts)), zap.Int("refused", len(rejected)), zap.Error(err))
		return false, err
	}
	log.Info("email sent", zap.Int("recipients", len(m.rcpts)), zap.String("message_id", messageID(a)))
	return false, nil
}

// permanent marks an error no retry can fix.
type permanent struct{ error }

func (e permanent) Unwrap() error { return e.error }

// isTemporary classifies a send error: 4xx replies and network errors
// may pass later, 5xx replies and permanent errors will not.
func isTemporary(err error) bool {
	var p permanent
	if errors.As(err, &p) {
		return false
	}
	var te *textproto.Error
	if errors.As(err, &te) {
		return te.Code < 500
	}
	return true
}

// send runs one SMTP session. It returns the recipients the server refused
// with a 5xx when it accepted the others and the message.
func (h *Handler) send(ctx context.Context, m *mailing) (rejected []string, err error) {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeoutCause(ctx, handlers.Timeout, errors.New("smtp: delivery timed out"))
		defer cancel()
	}
	step := "connect"
	wrap := func(err error) error { return fmt.Errorf("smtp %s: %s: %w", h.addr, step, err) }
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", h.addr)
	if err != nil {
		return nil, wrap(err)
	}
	defer conn.Close()
	if dl, ok := ctx.Deadline(); ok {
		conn.SetDeadline(dl)
	}
	stop := context.AfterFunc(ctx, func() { conn.SetDeadline(time.Unix(1, 0)) })
	defer stop()

	if h.mode == ModeTLS {
		step = "tls handshake"
		tc := tls.Client(conn, h.tlsConfig)
		if err := tc.HandshakeContext(ctx); err != nil {
			return nil, wrap(err)
		}
		conn = tc
	}
	step = "greeting"
	c, err := smtp.NewClient(conn, h.host)
	if err != nil {
		return nil, wrap(err)
	}
	defer c.Close()
	step = "ehlo"
	if err := c.Hello(h.hello); err != nil {
		return nil, wrap(err)
	}
	if h.mode == ModeSTARTTLS {
		step = "starttls"
		if ok, _ := c.Extension("STARTTLS"); !ok {
			return nil, wrap(permanent{errors.New("the server does not offer STARTTLS (tls_mode starttls requires it)")})
		}
		if err := c.StartTLS(h.tlsConfig); err != nil {
			return nil, wrap(err)
		}
	}
	if h.username != "" {
		step = "auth"
		ok, mechs := c.Extension("AUTH")
		if !ok {
			return nil, wrap(permanent{errors.New("the server does not offer AUTH")})
		}
		if !slices.Contains(strings.Fields(strings.ToUpper(mechs)), "PLAIN") {
			return nil, wrap(permanent{fmt.Errorf("the server does not offer AUTH PLAIN, only %s", mechs)})
		}
		if err := c.Auth(&plainAuth{username: h.username, password: h.password, plaintext: loopback(h.host)}); err != nil {
			return nil, wrap(err)
		}
	}
	step = "mail from"
	if err := c.Mail(h.from.Address); err != nil {
		return nil, wrap(err)
	}
	step = "rcpt to"
	accepted := 0
	for _, r := range m.rcpts {
		err := c.Rcpt(r.Address)
		if err == nil {
			accepted++
			continue
		}
		if isTemporary(err) {
			// Greylisting and full mailboxes pass later: send to
			// nobody now rather than to some twice.
			return nil, wrap(fmt.Errorf("%s: %w", r.Address, err))
		}
		rejected = append(rejected, r.Address+": "+err.Error())
	}
	if accepted == 0 {
		return nil, wrap(permanent{errors.New(strings.Join(rejected, "; "))})
	}
	step = "data"
	w, err := c.Data()
	if err != nil {
		return nil, wrap(err)
	}
	if _, err := w.Write(m.msg); err != nil {
		return nil, wrap(err)
	}
	if err := w.Close(); err != nil {
		return nil, wrap(err)
	}
	// The message is accepted; a failed QUIT changes nothing.
	_ = c.Quit()
	return rejected, nil
}

// plainAuth is AUTH PLAIN (RFC 4616) that refuses to run over an
// unencrypted connection unless the server is on this machine.
type plainAuth struct {
	username  string
	password  handlers.Secret
	plaintext bool
}

func (a *plainAuth) Start(server *smtp.ServerInfo) (string, []byte, error) {
	if !server.TLS && !a.plaintext {
		return "", nil, permanent{errors.New("refusing to send the password over an unencrypted connection")}
	}
	return "PLAIN", []byte("\x00" + a.username + "\x00" + a.password.Value()), nil
}

func (a *plainAuth) Next(_ []byte, more bool) ([]byte, error) {
	if more {
		return nil, permanent{errors.New("unexpected AUTH PLAIN challenge")}
	}
	return nil, nil
}

// Preview shows the mail Deliver would send; the body is shown decoded.
func (h *Handler) Preview(a *handlers.Action) (handlers.Preview, error) {
	m, err := h.mailing(a)
	if err != nil {
		return handlers.Preview{}, err
	}
	headers := map[string]string{}
	for _, kv := range m.head {
		headers[kv[0]] = kv[1]
	}
	scheme := "smtp"
	if h.mode == ModeTLS {
		scheme = "smtps"
	}
	rcpts := make([]string, len(m.rcpts))
	for i, r := range m.rcpts {
		rcpts[i] = r.Address
	}
	note := map[string]string{
		ModeSTARTTLS: "STARTTLS required",
		ModeTLS:      "implicit TLS",
		ModeNone:     "no encryption",
	}[h.mode]
	if h.username != "" {
		note += ", AUTH PLAIN as " + h.username
	}
	note += fmt.Sprintf("; MAIL FROM %s, RCPT TO %s", h.from.Address, strings.Join(rcpts, ", "))
	return handlers.Preview{
		Method: "SMTP", URL: scheme + "://" + h.addr, Headers: headers,
		Body: handlers.Redact(m.body, h.secrets...), Note: note,
	}, nil
}
