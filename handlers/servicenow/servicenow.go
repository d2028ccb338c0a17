// Package servicenow opens ServiceNow records (incidents by default)
// through the Table API, one per open problem.
//
// Every record logmedic opens carries correlation_id = CorrelationID(the
// action's dedup key) and correlation_display = "logmedic". The dedup key
// itself is not used: it may exceed the field's 100 characters, it holds
// event text (a computer name) that could contain "^", which would split
// the encoded query, and ServiceNow compares strings without regard to
// case. Its hash is 49 characters of [a-z0-9-] and cannot do any of that;
// the default description still shows the key itself.
//
// Deliver first searches
//
//	GET /api/now/table/<table>?sysparm_query=correlation_id=<id>^active=true&sysparm_fields=sys_id,number,correlation_id&sysparm_limit=1
//
// and if an active record exists, it PATCHes work_notes onto it;
// otherwise it POSTs a new record. A redelivered action (logmedic crashed
// after the record was created) therefore adds a note instead of opening
// a second record. An action that resolves a problem only adds a note,
// and does nothing when no record is open.
//
// Fields are plain text. In work notes, a journal field where ServiceNow
// renders [code]...[/code] as HTML, every "[code" and "[/code" gets a
// zero-width space after its bracket, so event text cannot inject HTML. Deliveries for one key are
// serialized within the process; two logmedic instances sending the same
// key at the same moment can still race (ServiceNow has no unique
// constraint to stop them).
package servicenow

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"

	"go.uber.org/zap"

	"github.com/logmedic/logmedic/handlers"
)

// Handler opens and annotates records of one ServiceNow instance.
type Handler struct {
	base     string // the instance's address, without a trailing slash
	table    string
	username string
	password handlers.Secret
	token    handlers.Secret
	fields   map[string]*handlers.Template
	note     *handlers.Template
	client   *http.Client
	secrets  []handlers.Secret
	// secretErr says why the password or token could not be read.
	secretErr error
	locks     handlers.KeyLocks
	log       *zap.Logger
}

var (
	_ handlers.Handler   = (*Handler)(nil)
	_ handlers.Previewer = (*Handler)(nil)
)

// CorrelationID returns the correlation_id of records for a dedup key:
// "logmedic-" and the first 40 hex digits of the key's SHA-256.
func CorrelationID(dedupKey string) string { return "logmedic-" + handlers.HashKey(dedupKey, 40) }

// CorrelationDisplay is the correlation_display of records logmedic opens.
const CorrelationDisplay = "logmedic"

// New validates c, reads its secrets and returns its handler.
func New(c *Config, o handlers.Options) (*Handler, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	h := &Handler{
		base:     strings.TrimRight(c.Instance, "/"),
		table:    c.Table,
		username: c.Username,
		fields:   map[string]*handlers.Template{"short_description": defaultShort, "description": defaultDesc},
		note:     c.WorkNotes,
		log:      o.Logger,
	}
	if h.table == "" {
		h.table = "incident"
	}
	if h.note == nil {
		h.note = defaultNote
	}
	if h.log == nil {
		h.log = zap.NewNop()
	}
	for k, t := range c.Fields {
		h.fields[k] = t
	}
	// A variable that is not set or empty, or a file that cannot be read
	// or is empty, does not fail New (logmedic test runs without
	// production secrets; the loader checks them where they must exist):
	// Deliver refuses to send.
	var err error
	key := handlers.SecretKey("password", c.PasswordEnv)
	sec := &h.password
	if h.username == "" {
		key, sec = handlers.SecretKey("token", c.TokenEnv), &h.token
	}
	if h.password, err = handlers.LoadSecret(c.PasswordEnv, c.PasswordFile); err != nil {
		return nil, handlers.Errf(handlers.SecretKey("password", c.PasswordEnv), "%v", err)
	}
	if h.token, err = handlers.LoadSecret(c.TokenEnv, c.TokenFile); err != nil {
		return nil, handlers.Errf(handlers.SecretKey("token", c.TokenEnv), "%v", err)
	}
	switch {
	case sec.Err() != nil:
		h.secretErr = fmt.Errorf("%s: %w", key, sec.Err())
	case !sec.IsSet():
		h.secretErr = fmt.Errorf("%s: the secret is empty", key)
	}
	h.secrets = handlers.SecretForms(h.password.Value(), h.username+":"+h.password.Value(), h.token.Value())
	if h.client, err = handlers.NewClient(&c.TLS, h.secrets); err != nil {
		return nil, handlers.Errf("tls.ca_file", "%v", err)
	}
	return h, nil
}

// payload is what the outbox stores: rendered fields and note, never a
// credential or the instance.
type payload struct {
	CorrelationID string            `json:"correlation_id"`
	Fields        map[string]string `json:"fields"`
	WorkNotes     string            `json:"work_notes,omitempty"`
}

// Prepare renders the record's fields and the work note.
func (h *Handler) Prepare(d *handlers.Data, with map[string]*handlers.Template) (json.RawMessage, error) {
	key := d.DedupKey
	if key == "" {
		key = d.ActionID
	}
	if key == "" {
		return nil, errors.New("the action has neither a dedup key nor an ID")
	}
	p := payload{CorrelationID: CorrelationID(key), Fields: map[string]string{}}
	names := sortedKeys(h.fields)
	for _, prm := range Params() {
		if _, ok := with[prm.Name]; ok && prm.Name != "work_notes" && !slices.Contains(names, prm.Name) {
			names = append(names, prm.Name)
		}
	}
	for _, name := range names {
		v, err := handlers.Render(d, with, name, h.fields[name])
		if err != nil {
			return nil, err
		}
		if name == "short_description" {
			v = handlers.SummaryLine(v, 160)
		}
		if strings.TrimSpace(v) != "" {
			p.Fields[name] = v
		}
	}
	note, err := handlers.Render(d, with, "work_notes", h.note)
	if err != nil {
		return nil, err
	}
	p.WorkNotes = journalText(strings.TrimSpace(note))
	return json.Marshal(p)
}

// journalText keeps ServiceNow from rendering [code]...[/code] in a
// journal entry (work_notes) as HTML: a zero-width space goes after the
// "[" of every "[code" and "[/code", in any case. Event text then shows
// as typed. The other fields are plain text already.
func journalText(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		b.WriteByte(s[i])
		if s[i] == '[' && (hasPrefixFold(s[i+1:], "code") || hasPrefixFold(s[i+1:], "/code")) {
			b.WriteString("\u200b")
		}
	}
	return b.String()
}

// hasPrefixFold is strings.HasPrefix ignoring ASCII case.
func hasPrefixFold(s, prefix string) bool {
	if len(s) < len(prefix) {
		return false
	}
	for i := 0; i < len(prefix); i++ {
		c := s[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != prefix[i] {
			return false
		}
	}
	return true
}

func decode(a *handlers.Action) (payload, error) {
	var p payload
	if err := json.Unmarshal(a.Payload, &p); err != nil {
		return p, fmt.Errorf("action %s: bad payload: %w", a.ID, err)
	}
	if p.CorrelationID == "" {
		return p, fmt.Errorf("action %s: payload has no correlation_id", a.ID)
	}
	return p, nil
}

// record is a row as the searches and creates return it.
type record struct {
	SysID         string `json:"sys_id"`
	Number        string `json:"number"`
	CorrelationID string `json:"correlation_id"`
}

var sysID = regexp.MustCompile(`^[0-9a-f]{32}$`)

// Deliver adds a work note to the active record with the action's
// correlation_id, or opens one.
func (h *Handler) Deliver(ctx context.Context, a *handlers.Action) (retry bool, err error) {
	if err := ctx.Err(); err != nil {
		return true, err
	}
	if h.secretErr != nil {
		return false, h.secretErr
	}
	p, err := decode(a)
	if err != nil {
		return false, err
	}
	return handlers.DeliverTicket(ctx, &h.locks, p.CorrelationID, a, p.WorkNotes != "", &tracker{h, &p}, h.log)
}

// tracker is the incident table for one action.
type tracker struct {
	h *Handler
	p *payload
}

func (t *tracker) Find(ctx context.Context) (string, bool, error) {
	rec, retry, err := t.h.find(ctx, t.p.CorrelationID)
	if rec == nil || err != nil {
		return "", retry, err
	}
	return rec.SysID, false, nil
}

func (t *tracker) Note(ctx context.Context, sysID string) (bool, error) {
	_, retry, err := t.h.send(ctx, http.MethodPatch, t.h.recordURL(sysID), map[string]string{"work_notes": t.p.WorkNotes})
	return retry, err
}

func (t *tracker) Open(ctx context.Context) (string, bool, error) {
	resp, retry, err := t.h.send(ctx, http.MethodPost, t.h.tableURL()+"?sysparm_fields=sys_id%2Cnumber", createBody(*t.p))
	if err != nil {
		return "", retry, err
	}
	var created struct {
		Result record `json:"result"`
	}
	_ = json.Unmarshal(resp.Body, &created) // the record exists either way
	return created.Result.Number, false, nil
}

// find returns the active record with correlation ID id, or nil.
func (h *Handler) find(ctx context.Context, id string) (*record, bool, error) {
	resp, retry, err := h.send(ctx, http.MethodGet, h.searchURL(id), nil)
	if err != nil {
		return nil, retry, err
	}
	var found struct {
		Result []record `json:"result"`
	}
	if err := json.Unmarshal(resp.Body, &found); err != nil {
		// A hibernating or misrouted instance answers 200 with HTML.
		return nil, true, fmt.Errorf("search %s: reply is not Table API JSON: %v", h.table, err)
	}
	if len(found.Result) == 0 {
		return nil, false, nil
	}
	r := found.Result[0]
	if r.CorrelationID != id {
		// ServiceNow drops a condition on a field the table lacks and
		// returns any row: never annotate a stranger's record.
		return nil, false, fmt.Errorf("search %s by correlation_id returned %s, whose correlation_id is %q: does the table have correlation_id and active fields?", h.table, r.Number, r.CorrelationID)
	}
	if !sysID.MatchString(r.SysID) {
		return nil, false, fmt.Errorf("search %s returned %s with a malformed sys_id %q", h.table, r.Number, r.SysID)
	}
	return &r, false, nil
}

func createBody(p payload) map[string]string {
	body := make(map[string]string, len(p.Fields)+2)
	for k, v := range p.Fields {
		if !slices.Contains(reservedFields, k) {
			body[k] = v
		}
	}
	body["correlation_id"] = p.CorrelationID
	body["correlation_display"] = CorrelationDisplay
	return body
}

func (h *Handler) tableURL() string { return h.base + "/api/now/table/" + url.PathEscape(h.table) }

func (h *Handler) recordURL(sysID string) string { return h.tableURL() + "/" + url.PathEscape(sysID) }

func (h *Handler) searchURL(id string) string {
	q := url.Values{
		"sysparm_query":  {"correlation_id=" + id + "^active=true"},
		"sysparm_fields": {"sys_id,number,correlation_id"},
		"sysparm_limit":  {"1"},
	}
	return h.tableURL() + "?" + q.Encode()
}

// send makes one Table API call.
func (h *Handler) send(ctx context.Context, method, u string, body any) (handlers.Response, bool, error) {
	req, err := handlers.JSONRequest(method, u, body)
	if err != nil {
		return handlers.Response{}, false, err
	}
	h.auth(req, true)
	resp, retry, err := handlers.Do(ctx, h.client, req, h.secrets...)
	return resp, retry, handlers.RedactErr(err, h.secrets)
}

// auth sets the Authorization header; with reveal false, redacted.
func (h *Handler) auth(req *http.Request, reveal bool) {
	switch {
	case h.token.IsSet() && reveal:
		req.Header.Set("Authorization", "Bearer "+h.token.Value())
	case h.token.IsSet():
		req.Header.Set("Authorization", "Bearer "+handlers.Redacted)
	case reveal:
		req.Header.Set("Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte(h.username+":"+h.password.Value())))
	default:
		req.Header.Set("Authorization", "Basic "+handlers.Redacted)
	}
}

// Preview shows the request that opens a record, and in its note the
// search before it and the work note sent instead when a record is open.
func (h *Handler) Preview(a *handlers.Action) (handlers.Preview, error) {
	p, err := decode(a)
	if err != nil {
		return handlers.Preview{}, err
	}
	body, err := json.Marshal(createBody(p))
	if err != nil {
		return handlers.Preview{}, err
	}
	req, err := handlers.JSONRequest(http.MethodPost, h.tableURL()+"?sysparm_fields=sys_id%2Cnumber", nil)
	if err != nil {
		return handlers.Preview{}, err
	}
	req.Header.Set("Content-Type", "application/json")
	h.auth(req, false)
	pv := handlers.Preview{Method: req.Method, URL: req.URL.String(), Headers: map[string]string{}, Body: string(body)}
	for k := range req.Header {
		pv.Headers[k] = req.Header.Get(k)
	}
	note, _ := json.Marshal(map[string]string{"work_notes": p.WorkNotes})
	pv.Note = fmt.Sprintf("first GET %s; if an active record is found, PATCH %s with %s instead", h.searchURL(p.CorrelationID), h.tableURL()+"/<sys_id>", note)
	if a.Resolve {
		pv.Note += "; this action resolves a problem: with no active record, nothing is sent"
	}
	return pv, nil
}
