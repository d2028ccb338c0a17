// Package alertmanager is the "alertmanager" handler: it pushes alerts to
// Prometheus Alertmanager's API v2 (POST /api/v2/alerts), following the
// client contract:
//
//   - every alert goes to every configured Alertmanager (never one of a
//     cluster only); a delivery succeeds when all of them accepted it;
//   - a firing alert is posted with endsAt = now + ttl and re-posted by
//     Resend every resend_interval, so it stays firing until resolved and
//     expires on its own if logmedic stops;
//   - a resolved alert is posted with endsAt = the time of resolution and
//     re-posted for 5 minutes, since Alertmanager's state is not durable.
//
// An alert's labels are alertname (the rule's name), computer, error_code
// (when the event has one) and the configured extra labels; they identify
// it, so a repeat of the same failure on the same computer updates the same
// alert. The alerts this handler has fired are kept in Options.State, keyed
// by their label fingerprint, so firing and resolution survive a restart.
//
// A resolving action (the rule's action has resolves:, say the rule for
// Windows Backup's success event 4) uses the same handler. It raises no
// alert of its own: it resolves the alerts of this handler firing for the
// event's computer whose alertname is one of the rules it names:
//
//	rules:
//	  - name: backup-succeeded
//	    match: {provider: Microsoft-Windows-Backup, event_id: 4}
//	    actions:
//	      - handler: alertmanager
//	        resolves: [backup-failed, backup-esp-locked]
//
// The configuration passes those names to Prepare as the template
// "resolves" (comma-separated) and marks the action Resolve; the prepared
// payload carries them as the list "resolves". A Resolve action without
// the list resolves every alert of this handler firing for the computer.
package alertmanager

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/logmedic/logmedic/handlers"
)

// Handler posts a configured handler's alerts to Alertmanager.
type Handler struct {
	urls        []string
	labels      map[string]*handlers.Template
	annotations map[string]*handlers.Template
	genURL      *handlers.Template
	ttl, every  time.Duration
	username    string
	password    handlers.Secret
	token       handlers.Secret
	secrets     []handlers.Secret // to redact from errors, with encoded forms
	secretErr   error             // why a secret could not be read
	client      *http.Client
	log         *zap.Logger
	state       handlers.KV
	now         func() time.Time

	// mu serializes the read-modify-write of state and the posts that
	// go with it, so a resolution cannot overtake the firing it ends.
	mu sync.Mutex
}

var (
	_ handlers.Handler   = (*Handler)(nil)
	_ handlers.Previewer = (*Handler)(nil)
)

// New returns the handler for c, which must have passed Validate. It
// reads the password or token; one that cannot be read makes Deliver and
// Resend fail, not New.
func New(c *Config, o handlers.Options) (*Handler, error) {
	h := &Handler{
		labels: c.Labels, annotations: map[string]*handlers.Template{},
		genURL: c.GeneratorURL, ttl: c.ttl(), every: c.resendInterval(),
		username: c.Username, log: o.Logger, state: o.State, now: o.Clock(),
	}
	if h.log == nil {
		h.log = zap.NewNop()
	}
	h.log = h.log.With(zap.String("handler_type", "alertmanager"))
	for _, raw := range c.URLs {
		u, err := alertsURL(raw)
		if err != nil {
			return nil, handlers.Errf("urls", "%v", err)
		}
		h.urls = append(h.urls, u)
	}
	if len(h.urls) == 0 {
		return nil, handlers.Errf("urls", "list at least one Alertmanager URL")
	}
	h.annotations["summary"] = handlers.MustTemplate(DefaultSummary)
	h.annotations["description"] = handlers.MustTemplate(DefaultDescription)
	for k, t := range c.Annotations {
		h.annotations[k] = t
	}
	if h.genURL == nil {
		h.genURL = handlers.MustTemplate(DefaultGeneratorURL)
	}
	var err error
	// A secret that cannot be read or is empty is not an error here
	// (logmedic test runs without production secrets); Deliver and Resend
	// refuse to send with it, rather than send without authentication.
	if h.password, err = handlers.LoadSecret(c.PasswordEnv, c.PasswordFile); err != nil {
		return nil, handlers.Errf(handlers.SecretKey("password", c.PasswordEnv), "%v", err)
	}
	if h.token, err = handlers.LoadSecret(c.TokenEnv, c.TokenFile); err != nil {
		return nil, handlers.Errf(handlers.SecretKey("token", c.TokenEnv), "%v", err)
	}
	if c.PasswordEnv != "" || c.PasswordFile != "" {
		h.secretErr = secretErr(h.password, handlers.SecretKey("password", c.PasswordEnv))
	}
	if h.secretErr == nil && (c.TokenEnv != "" || c.TokenFile != "") {
		h.secretErr = secretErr(h.token, handlers.SecretKey("token", c.TokenEnv))
	}
	h.secrets = []handlers.Secret{h.password, h.token}
	if h.password.IsSet() {
		basic := base64.StdEncoding.EncodeToString([]byte(h.username + ":" + h.password.Value()))
		h.secrets = append(h.secrets, handlers.NewSecret(basic))
	}
	if h.client, err = handlers.NewHTTPClient(&c.TLS); err != nil {
		return nil, handlers.Errf("tls", "%v", err)
	}
	return h, nil
}

// secretErr is the error Deliver and Resend return for a configured
// secret that could not be read or is empty, or nil.
func secretErr(s handlers.Secret, key string) error {
	switch {
	case s.Err() != nil:
		return fmt.Errorf("%s: %w", key, s.Err())
	case !s.IsSet():
		return fmt.Errorf("%s: the secret is empty", key)
	}
	return nil
}

// ResendInterval is how often the daemon should call Resend.
func (h *Handler) ResendInterval() time.Duration { return h.every }

// payload is a prepared action, as the outbox stores it.
type payload struct {
	Labels       map[string]string `json:"labels"`
	Annotations  map[string]string `json:"annotations,omitempty"`
	GeneratorURL string            `json:"generator_url"`
	// Resolves lists the alertnames a resolving action resolves (the
	// rule's resolves:); nil means every alert firing for the computer.
	Resolves *[]string `json:"resolves,omitempty"`
}

// Prepare renders the alert's labels, annotations and generator URL, and
// the list of rules a resolving action resolves (template "resolves").
func (h *Handler) Prepare(d *handlers.Data, with map[string]*handlers.Template) (json.RawMessage, error) {
	p := payload{Labels: map[string]string{}, Annotations: map[string]string{}}
	for _, k := range sortedKeys(h.labels) {
		v, err := h.labels[k].Execute(d)
		if err != nil {
			return nil, fmt.Errorf("labels: %s: %w", k, err)
		}
		if v = strings.TrimSpace(clean(v)); v != "" {
			p.Labels[k] = v
		}
	}
	p.Labels["alertname"] = clean(d.Rule)
	p.Labels["computer"] = clean(d.Computer)
	if d.ErrorCode != "" {
		p.Labels["error_code"] = clean(d.ErrorCode)
	}
	for _, k := range sortedKeys(h.annotations) {
		t := h.annotations[k]
		if w, ok := with[k]; ok && (k == "summary" || k == "description") {
			t = w
		}
		v, err := t.Execute(d)
		if err != nil {
			return nil, fmt.Errorf("annotations: %s: %w", k, err)
		}
		if v = strings.TrimSpace(clean(v)); v != "" {
			p.Annotations[k] = v
		}
	}
	gen, err := handlers.Render(d, with, "generator_url", h.genURL)
	if err != nil {
		return nil, err
	}
	if err := checkURI(gen); err != nil {
		t := h.genURL
		if w, ok := with["generator_url"]; ok {
			t = w
		}
		if s, serr := t.Execute(handlers.SampleData()); serr != nil || checkURI(s) != nil {
			// The template itself is wrong: the configuration check,
			// which prepares a sample event, reports it.
			return nil, fmt.Errorf("generator_url: %w", err)
		}
		// Event text made the link invalid; the alert matters more than
		// its link, so fall back to the default, which escapes its data.
		h.log.Warn("generator url invalid for this event; using the default", zap.String("rule", d.Rule), zap.Error(err))
		if gen, err = handlers.MustTemplate(DefaultGeneratorURL).Execute(d); err != nil {
			return nil, fmt.Errorf("generator_url: %w", err)
		}
	}
	p.GeneratorURL = gen
	if t, ok := with["resolves"]; ok {
		s, err := t.Execute(d)
		if err != nil {
			return nil, fmt.Errorf("resolves: %w", err)
		}
		list := splitList(s)
		p.Resolves = &list
	}
	return json.Marshal(p)
}

// clean makes s valid UTF-8, as label and annotation values must be.
func clean(s string) string { return strings.ToValidUTF8(s, "\uFFFD") }

// splitList splits a comma- or space-separated list, dropping blanks and
// repeats.
func splitList(s string) []string {
	out := []string{}
	for _, f := range strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == ' ' || r == '\t' || r == '\r' || r == '\n' }) {
		if !slices.Contains(out, f) {
			out = append(out, f)
		}
	}
	return out
}

func decode(a *handlers.Action) (*payload, error) {
	var p payload
	if err := json.Unmarshal(a.Payload, &p); err != nil {
		return nil, fmt.Errorf("decode payload: %w", err)
	}
	if p.Labels["alertname"] == "" {
		return nil, errors.New("decode payload: no alertname label")
	}
	return &p, nil
}

// record is a fired alert as State keeps it.
type record struct {
	Labels       map[string]string `json:"labels"`
	Annotations  map[string]string `json:"annotations,omitempty"`
	GeneratorURL string            `json:"generator_url,omitempty"`
	StartsAt     time.Time         `json:"starts_at"`
	// Resolved is when the alert was resolved (its endsAt from then on),
	// zero while it fires.
	Resolved   time.Time `json:"resolved,omitzero"`
	ResolvedBy string    `json:"resolved_by,omitempty"` // the resolving action's ID
	// ResolvedEvent is the time of the event that resolved the alert: a
	// firing action for an older event does not fire it again.
	ResolvedEvent time.Time `json:"resolved_event,omitzero"`
	// Delivered is when every Alertmanager last accepted the alert.
	Delivered time.Time `json:"delivered,omitzero"`
}

// alert is the API's postable alert.
type alert struct {
	Labels       map[string]string `json:"labels"`
	Annotations  map[string]string `json:"annotations,omitempty"`
	StartsAt     string            `json:"startsAt"`
	EndsAt       string            `json:"endsAt"`
	GeneratorURL string            `json:"generatorURL,omitempty"`
}

const timeLayout = "2006-01-02T15:04:05.000Z07:00"

func (r *record) alert(endsAt time.Time) alert {
	return alert{
		Labels: r.Labels, Annotations: r.Annotations, GeneratorURL: r.GeneratorURL,
		StartsAt: r.StartsAt.UTC().Format(timeLayout), EndsAt: endsAt.UTC().Format(timeLayout),
	}
}

// fingerprint identifies an alert by its labels, as State's key.
func fingerprint(labels map[string]string) string {
	h := sha256.New()
	for _, k := range sortedKeys(labels) {
		h.Write([]byte(k))
		h.Write([]byte{0})
		h.Write([]byte(labels[k]))
		h.Write([]byte{0})
	}
	return hex.EncodeToString(h.Sum(nil)[:16])
}

const keyPrefix = "alert/"

// Deliver posts a firing alert, or resolves the alerts a resolving action
// names, to every Alertmanager.
func (h *Handler) Deliver(ctx context.Context, a *handlers.Action) (retry bool, err error) {
	if err := ctx.Err(); err != nil {
		return true, err
	}
	p, err := decode(a)
	if err != nil {
		return false, err
	}
	if h.secretErr != nil {
		return false, h.secretErr
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if a.Resolve {
		return h.resolve(ctx, a, p)
	}
	return h.fire(ctx, a, p)
}

func (h *Handler) fire(ctx context.Context, a *handlers.Action, p *payload) (bool, error) {
	now := h.now().UTC()
	fp := fingerprint(p.Labels)
	rec, found, err := h.load(fp)
	if err != nil {
		return true, err
	}
	log := h.log.With(zap.String("action_id", a.ID), zap.String("rule", a.Rule), zap.String("fingerprint", fp))
	if found && !rec.Resolved.IsZero() && !a.Event.Time.IsZero() && a.Event.Time.Before(rec.ResolvedEvent) {
		log.Info("alert not fired: resolved by a later event", zap.Time("event_time", a.Event.Time), zap.Time("resolved_event", rec.ResolvedEvent))
		return false, nil
	}
	if !found || !rec.Resolved.IsZero() {
		start := now
		if t := a.Event.Time; !t.IsZero() && t.Before(now) {
			start = t.UTC()
		}
		rec = &record{StartsAt: start}
	}
	rec.Labels, rec.Annotations, rec.GeneratorURL = p.Labels, p.Annotations, p.GeneratorURL
	// Kept before posting: a failed post is re-sent by Resend too.
	if err := h.save(fp, rec); err != nil {
		return true, err
	}
	retry, err := h.post(ctx, []alert{rec.alert(now.Add(h.ttl))})
	if err != nil {
		log.Warn("alert delivery failed", zap.Bool("retry", retry), zap.Error(err))
		return retry, err
	}
	rec.Delivered = now
	if err := h.save(fp, rec); err != nil {
		return true, err
	}
	log.Info("alert fired", zap.Time("starts_at", rec.StartsAt), zap.Int("alertmanagers", len(h.urls)))
	return false, nil
}

func (h *Handler) resolve(ctx context.Context, a *handlers.Action, p *payload) (bool, error) {
	now := h.now().UTC()
	log := h.log.With(zap.String("action_id", a.ID), zap.String("rule", a.Rule))
	matches, err := h.resolvable(a, p)
	if err != nil {
		return true, err
	}
	if len(matches) == 0 {
		log.Info("no firing alerts to resolve", zap.String("computer", p.Labels["computer"]))
		return false, nil
	}
	alerts := make([]alert, 0, len(matches))
	for _, fp := range sortedKeys(matches) {
		rec := matches[fp]
		if rec.Resolved.IsZero() {
			rec.Resolved, rec.ResolvedBy, rec.ResolvedEvent = now, a.ID, a.Event.Time.UTC()
			if err := h.save(fp, rec); err != nil {
				return true, err
			}
		}
		alerts = append(alerts, rec.alert(rec.Resolved))
	}
	retry, err := h.post(ctx, alerts)
	if err != nil {
		log.Warn("alert resolution failed", zap.Int("alerts", len(alerts)), zap.Bool("retry", retry), zap.Error(err))
		return retry, err
	}
	for fp, rec := range matches {
		rec.Delivered = now
		if err := h.save(fp, rec); err != nil {
			return true, err
		}
	}
	log.Info("alerts resolved", zap.Int("alerts", len(alerts)), zap.Int("alertmanagers", len(h.urls)))
	return false, nil
}

// resolvable returns the alerts a resolves: firing for its computer with
// a listed alertname, or already resolved by a itself (a retry).
func (h *Handler) resolvable(a *handlers.Action, p *payload) (map[string]*record, error) {
	out := map[string]*record{}
	if h.state == nil {
		return out, nil
	}
	computer := p.Labels["computer"]
	err := h.state.Each(func(key string, v []byte) error {
		fp, ok := strings.CutPrefix(key, keyPrefix)
		if !ok {
			return nil
		}
		var rec record
		if err := json.Unmarshal(v, &rec); err != nil {
			h.log.Warn("state record unreadable; dropped", zap.String("fingerprint", fp), zap.Error(err))
			return nil
		}
		if !rec.Resolved.IsZero() && (a.ID == "" || rec.ResolvedBy != a.ID) {
			return nil
		}
		if !strings.EqualFold(rec.Labels["computer"], computer) {
			return nil
		}
		if p.Resolves != nil && !slices.Contains(*p.Resolves, rec.Labels["alertname"]) {
			return nil
		}
		out[fp] = &rec
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read state: %w", err)
	}
	return out, nil
}

// Resend re-posts every firing alert with a fresh endsAt and every alert
// resolved in the last 5 minutes, and forgets older resolved ones. The
// daemon calls it every ResendInterval.
func (h *Handler) Resend(ctx context.Context) error {
	if h.state == nil {
		return nil
	}
	if h.secretErr != nil {
		return h.secretErr
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	now := h.now().UTC()
	recs := map[string]*record{}
	var drop []string
	err := h.state.Each(func(key string, v []byte) error {
		fp, ok := strings.CutPrefix(key, keyPrefix)
		if !ok {
			return nil
		}
		var rec record
		if err := json.Unmarshal(v, &rec); err != nil {
			h.log.Warn("state record unreadable; dropped", zap.String("fingerprint", fp), zap.Error(err))
			drop = append(drop, key)
			return nil
		}
		if !rec.Resolved.IsZero() && now.Sub(rec.Resolved) >= ResolvedResend &&
			(!rec.Delivered.Before(rec.Resolved) || now.Sub(rec.Resolved) >= h.ttl) {
			// Every Alertmanager has had the resolution for 5 minutes,
			// or the firing alert has expired there anyway.
			drop = append(drop, key)
			return nil
		}
		recs[fp] = &rec
		return nil
	})
	if err != nil {
		return fmt.Errorf("read state: %w", err)
	}
	for _, key := range drop {
		if err := h.state.Delete(key); err != nil {
			return fmt.Errorf("write state: %w", err)
		}
	}
	if len(recs) == 0 {
		return nil
	}
	alerts := make([]alert, 0, len(recs))
	firing := 0
	for _, fp := range sortedKeys(recs) {
		rec := recs[fp]
		end := rec.Resolved
		if end.IsZero() {
			end = now.Add(h.ttl)
			firing++
		}
		alerts = append(alerts, rec.alert(end))
	}
	if _, err := h.post(ctx, alerts); err != nil {
		h.log.Warn("alert resend failed", zap.Int("alerts", len(alerts)), zap.Error(err))
		return err
	}
	for fp, rec := range recs {
		rec.Delivered = now
		if err := h.save(fp, rec); err != nil {
			return err
		}
	}
	h.log.Debug("alerts resent", zap.Int("firing", firing), zap.Int("resolved", len(alerts)-firing))
	return nil
}

func (h *Handler) load(fp string) (*record, bool, error) {
	if h.state == nil {
		return nil, false, nil
	}
	v, ok, err := h.state.Get(keyPrefix + fp)
	if err != nil || !ok {
		if err != nil {
			err = fmt.Errorf("read state: %w", err)
		}
		return nil, false, err
	}
	var rec record
	if err := json.Unmarshal(v, &rec); err != nil {
		h.log.Warn("state record unreadable; replaced", zap.String("fingerprint", fp), zap.Error(err))
		return nil, false, nil
	}
	return &rec, true, nil
}

func (h *Handler) save(fp string, rec *record) error {
	if h.state == nil {
		return nil
	}
	v, err := json.Marshal(rec)
	if err != nil {
		return err
	}
	if err := h.state.Put(keyPrefix+fp, v); err != nil {
		return fmt.Errorf("write state: %w", err)
	}
	return nil
}

// post sends alerts to every Alertmanager at once. It succeeds when all
// accepted them; retry is true unless every failure was one a retry
// cannot fix (a 4xx other than 408 and 429).
func (h *Handler) post(ctx context.Context, alerts []alert) (retry bool, err error) {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeoutCause(ctx, handlers.Timeout, errors.New("alertmanager: delivery timed out"))
		defer cancel()
	}
	errs := make([]error, len(h.urls))
	retries := make([]bool, len(h.urls))
	var wg sync.WaitGroup
	for i, u := range h.urls {
		wg.Go(func() {
			req, err := h.request(u, alerts)
			if err != nil {
				errs[i] = err
				return
			}
			_, retries[i], errs[i] = handlers.Do(ctx, h.client, req, h.secrets...)
		})
	}
	wg.Wait()
	for i, e := range errs {
		if e != nil && retries[i] {
			retry = true
		}
	}
	return retry, errors.Join(errs...)
}

func (h *Handler) request(u string, alerts []alert) (*http.Request, error) {
	req, err := handlers.JSONRequest(http.MethodPost, u, alerts)
	if err != nil {
		return nil, err
	}
	switch {
	case h.token.IsSet():
		req.Header.Set("Authorization", "Bearer "+h.token.Value())
	case h.username != "":
		req.SetBasicAuth(h.username, h.password.Value())
	}
	return req, nil
}

// Preview shows the request Deliver would send to the first Alertmanager;
// secrets are redacted.
func (h *Handler) Preview(a *handlers.Action) (handlers.Preview, error) {
	p, err := decode(a)
	if err != nil {
		return handlers.Preview{}, err
	}
	now := h.now().UTC()
	var alerts []alert
	var note string
	if a.Resolve {
		h.mu.Lock()
		matches, err := h.resolvable(a, p)
		h.mu.Unlock()
		if err != nil {
			return handlers.Preview{}, err
		}
		for _, fp := range sortedKeys(matches) {
			alerts = append(alerts, matches[fp].alert(now))
		}
		names := "every alert"
		if p.Resolves != nil {
			names = "the alerts named " + strings.Join(*p.Resolves, ", ")
		}
		note = fmt.Sprintf("resolves %s firing for computer %s (%d known now), with endsAt = now", names, p.Labels["computer"], len(alerts))
	} else {
		rec := record{Labels: p.Labels, Annotations: p.Annotations, GeneratorURL: p.GeneratorURL, StartsAt: now}
		alerts = []alert{rec.alert(now.Add(h.ttl))}
		note = fmt.Sprintf("fires the alert; re-sent every %v until resolved, endsAt = now + %v", h.every, h.ttl)
	}
	if alerts == nil {
		alerts = []alert{}
	}
	body, err := json.MarshalIndent(alerts, "", "  ")
	if err != nil {
		return handlers.Preview{}, err
	}
	req, err := h.request(h.urls[0], alerts)
	if err != nil {
		return handlers.Preview{}, err
	}
	headers := map[string]string{}
	for k := range req.Header {
		headers[k] = req.Header.Get(k)
	}
	switch {
	case h.token.IsSet():
		headers["Authorization"] = "Bearer " + handlers.Redacted
	case h.username != "":
		headers["Authorization"] = "Basic " + handlers.Redacted
	}
	if len(h.urls) > 1 {
		note += fmt.Sprintf("; also posted to %s", strings.Join(h.urls[1:], ", "))
	}
	return handlers.Preview{
		Method: http.MethodPost, URL: req.URL.String(), Headers: headers,
		Body: handlers.Redact(string(body), h.secrets...), Note: note,
	}, nil
}
