// Package webhook sends an action as a JSON HTTP request.
//
// The body is configured as YAML whose strings are templates; each is
// rendered on its own and the whole is then JSON-encoded, as Alertmanager's
// notify/webhook renderPayload does, so event text is always data. Every
// request carries "Idempotency-Key: <action ID>": a redelivered action
// (after a timeout or a crash) has the same key, so receivers can drop it.
package webhook

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/logmedic/logmedic/handlers"
)

// Handler sends actions to one webhook.
type Handler struct {
	method        string
	url           string
	secretURL     bool
	headers       map[string]*handlers.Template
	secretHeaders map[string]handlers.Secret // canonical name → value
	token         handlers.Secret
	body          *Body
	client        *http.Client
	secrets       []handlers.Secret // every form of every secret, for redaction
	secretErr     error             // why a secret could not be read
	log           *zap.Logger
}

var (
	_ handlers.Handler   = (*Handler)(nil)
	_ handlers.Previewer = (*Handler)(nil)
)

// New validates c, reads its secrets and returns its handler.
func New(c *Config, o handlers.Options) (*Handler, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	h := &Handler{
		method:        strings.ToUpper(c.Method),
		url:           c.URL,
		headers:       c.Headers,
		secretHeaders: map[string]handlers.Secret{},
		body:          c.Body,
		log:           o.Logger,
	}
	if h.method == "" {
		h.method = http.MethodPost
	}
	if h.log == nil {
		h.log = zap.NewNop()
	}
	// A variable that is not set or empty, or a file that cannot be read
	// or is empty, does not fail New (logmedic test runs without
	// production secrets; the loader checks them where they must exist):
	// Deliver refuses to send, rather than send without them.
	loaded := func(s handlers.Secret, key string) {
		if err := unusable(s, key); err != nil && h.secretErr == nil {
			h.secretErr = err
		}
	}
	var raw []string
	if c.URL == "" {
		key := handlers.SecretKey("url", c.URLEnv)
		s, err := handlers.LoadSecret(c.URLEnv, c.URLFile)
		if err != nil {
			return nil, handlers.Errf(key, "%v", err)
		}
		loaded(s, key)
		if err := checkURL(s.Value()); unusable(s, key) == nil && err != nil {
			// The address is secret: do not quote it.
			return nil, handlers.Errf(key, "the address read %v", err)
		}
		h.url, h.secretURL = s.Value(), true
		// Redact the address in every form a reply may echo it.
		if u, err := url.Parse(h.url); err == nil && s.IsSet() {
			raw = append(raw, h.url, handlers.RedactURL(u), u.RawQuery)
			for _, part := range []string{u.RequestURI(), u.EscapedPath(), u.Path} {
				if len(part) > 1 {
					raw = append(raw, part)
				}
			}
		}
	}
	tok, err := handlers.LoadSecret(c.TokenEnv, c.TokenFile)
	if err != nil {
		return nil, handlers.Errf(handlers.SecretKey("token", c.TokenEnv), "%v", err)
	}
	if c.TokenEnv != "" || c.TokenFile != "" {
		loaded(tok, handlers.SecretKey("token", c.TokenEnv))
	}
	h.token = tok
	raw = append(raw, tok.Value())
	for _, name := range sortedKeys(c.SecretHeaders) {
		sh := c.SecretHeaders[name]
		s, err := handlers.LoadSecret(sh.ValueEnv, sh.ValueFile)
		if err != nil {
			return nil, handlers.Errf("secret_headers", "%s: %v", name, err)
		}
		loaded(s, "secret_headers."+name)
		if v := s.Value(); v != handlers.OneLine(v) {
			return nil, handlers.Errf("secret_headers", "%s: the value holds control characters", name)
		}
		h.secretHeaders[http.CanonicalHeaderKey(name)] = s
		raw = append(raw, s.Value())
	}
	h.secrets = handlers.SecretForms(raw...)
	if h.client, err = handlers.NewClient(&c.TLS, h.secrets); err != nil {
		return nil, handlers.Errf("tls.ca_file", "%v", err)
	}
	return h, nil
}

// unusable says why a configured secret cannot be sent: it could not be
// read, or it is empty (which would send no credential at all).
func unusable(s handlers.Secret, key string) error {
	switch {
	case s.Err() != nil:
		return fmt.Errorf("%s: %w", key, s.Err())
	case !s.IsSet():
		return fmt.Errorf("%s: the secret is empty", key)
	}
	return nil
}

// payload is what the outbox stores: the rendered headers and body, and
// never a secret or the address.
type payload struct {
	Headers map[string]string `json:"headers,omitempty"`
	Body    json.RawMessage   `json:"body"`
}

// Prepare renders the headers and the body.
func (h *Handler) Prepare(d *handlers.Data, _ map[string]*handlers.Template) (json.RawMessage, error) {
	var p payload
	for name, t := range h.headers {
		v, err := t.Execute(d)
		if err != nil {
			return nil, fmt.Errorf("headers: %s: %w", name, err)
		}
		if p.Headers == nil {
			p.Headers = map[string]string{}
		}
		p.Headers[http.CanonicalHeaderKey(name)] = strings.TrimSpace(handlers.OneLine(v))
	}
	var body any
	if h.body == nil {
		body = defaultBody(d)
	} else {
		var err error
		if body, err = h.body.Render(d); err != nil {
			return nil, fmt.Errorf("body: %w", err)
		}
	}
	b, err := json.Marshal(body)
	if err != nil {
		return nil, fmt.Errorf("body: %w", err)
	}
	p.Body = b
	return json.Marshal(p)
}

// Deliver sends the action. 2xx is success; a transport error, 408, 429
// and 5xx may succeed later; other statuses cannot.
func (h *Handler) Deliver(ctx context.Context, a *handlers.Action) (retry bool, err error) {
	if err := ctx.Err(); err != nil {
		return true, err
	}
	if h.secretErr != nil {
		return false, h.secretErr
	}
	req, err := h.request(a, true)
	if err != nil {
		return false, handlers.RedactErr(err, h.secrets)
	}
	ctx, cancel := handlers.WithTimeout(ctx)
	defer cancel()
	_, retry, err = handlers.Do(ctx, h.client, req, h.secrets...)
	if err != nil {
		return retry, handlers.RedactErr(err, h.secrets)
	}
	h.log.Debug("webhook delivered", zap.String("action_id", a.ID))
	return false, nil
}

// Preview shows the request Deliver would send, secrets redacted.
func (h *Handler) Preview(a *handlers.Action) (handlers.Preview, error) {
	req, err := h.request(a, false)
	if err != nil {
		return handlers.Preview{}, handlers.RedactErr(err, h.secrets)
	}
	pv := handlers.Preview{Method: req.Method, URL: handlers.RedactURL(req.URL), Headers: map[string]string{}}
	if h.secretURL {
		pv.URL = handlers.Redacted
	}
	for k := range req.Header {
		pv.Headers[k] = req.Header.Get(k)
	}
	if req.Body != nil {
		b, _ := io.ReadAll(req.Body)
		pv.Body = string(b)
	}
	return pv, nil
}

// request builds the request for a; with reveal false, secrets are
// replaced by <redacted> (for Preview).
func (h *Handler) request(a *handlers.Action, reveal bool) (*http.Request, error) {
	var p payload
	if err := json.Unmarshal(a.Payload, &p); err != nil {
		return nil, fmt.Errorf("action %s: bad payload: %w", a.ID, err)
	}
	if len(p.Body) == 0 {
		return nil, fmt.Errorf("action %s: payload has no body", a.ID)
	}
	u := h.url
	if !reveal && h.secretURL {
		u = "https://redacted.invalid/"
	}
	req, err := handlers.JSONRequest(h.method, u, p.Body)
	if err != nil {
		return nil, err
	}
	for k, v := range p.Headers {
		// The payload may come from an older configuration: keep to the
		// same rules as Validate.
		canon := http.CanonicalHeaderKey(k)
		if !validHeaderName(k) || canon == "Authorization" || containsFold(reserved, canon) {
			continue
		}
		req.Header.Set(canon, handlers.OneLine(v))
	}
	show := func(s handlers.Secret) string {
		if reveal {
			return s.Value()
		}
		return handlers.Redacted
	}
	for k, s := range h.secretHeaders {
		req.Header.Set(k, show(s))
	}
	if h.token.IsSet() {
		req.Header.Set("Authorization", "Bearer "+show(h.token))
	}
	if a.ID != "" {
		req.Header.Set("Idempotency-Key", handlers.OneLine(a.ID))
	}
	return req, nil
}

func containsFold(list []string, s string) bool {
	for _, v := range list {
		if strings.EqualFold(v, s) {
			return true
		}
	}
	return false
}

// defaultBody is the body when none is configured.
func defaultBody(d *handlers.Data) any {
	type event struct {
		Computer   string            `json:"computer"`
		Channel    string            `json:"channel"`
		Provider   string            `json:"provider"`
		EventID    uint32            `json:"event_id"`
		Level      string            `json:"level"`
		RecordID   uint64            `json:"record_id"`
		Time       string            `json:"time"`
		Message    string            `json:"message"`
		ErrorCode  string            `json:"error_code"`
		ErrorCodes []string          `json:"error_codes"`
		Data       map[string]string `json:"data"`
	}
	type body struct {
		Rule        string `json:"rule"`
		Description string `json:"description"`
		DedupKey    string `json:"dedup_key"`
		Repeats     int    `json:"repeats"`
		ActionID    string `json:"action_id"`
		Summary     string `json:"summary"`
		Event       event  `json:"event"`
	}
	summary, _ := explain.Execute(d)
	codes := d.ErrorCodes
	if codes == nil {
		codes = []string{}
	}
	data := d.Data
	if data == nil {
		data = map[string]string{}
	}
	return body{
		Rule: d.Rule, Description: d.Description, DedupKey: d.DedupKey, Repeats: d.Repeats, ActionID: d.ActionID,
		Summary: summary,
		Event: event{
			Computer: d.Computer, Channel: d.Channel, Provider: d.Provider, EventID: d.EventID, Level: d.Level,
			RecordID: d.RecordID, Time: d.Time.UTC().Format(time.RFC3339Nano), Message: d.Message,
			ErrorCode: d.ErrorCode, ErrorCodes: codes, Data: data,
		},
	}
}

var explain = handlers.MustTemplate(`{{with .ErrorCode}}{{explain .}}{{end}}`)
