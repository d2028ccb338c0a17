// Package jira opens Jira issues, one per open problem, through the REST
// API version 2 (Data Center and Cloud) or 3 (Cloud).
//
// Jira has no server-side dedup, so every issue logmedic opens carries
// the label Label(dedup key), "logmedic-" and 16 hex digits of the key's
// SHA-256 (labels cannot hold spaces, and the key holds event text).
// Deliver first searches
//
//	project = "<project>" AND labels = "<label>" AND statusCategory != Done
//
// (v2: GET /rest/api/2/search, v3: GET /rest/api/3/search/jql), and if an
// open issue exists it comments on it (POST /rest/api/N/issue/<key>/comment)
// instead of opening another (POST /rest/api/N/issue). A redelivered action
// (logmedic crashed after the issue was created) therefore comments rather
// than duplicating. statusCategory is never empty, unlike resolution, so
// the search cannot miss issues the way a "resolution = Unresolved" search
// can. An action that resolves a problem only comments, and does nothing
// when no issue is open. Deliveries for one key are serialized within the
// process; two logmedic instances may still race.
//
// The search is not read-after-write consistent: Atlassian documents
// that an issue just created can take a while to show in
// /rest/api/3/search/jql results. So the handler also remembers, in
// Options.State, the issue it created for each label. When the search
// finds nothing but an issue is remembered, it reads that issue
// (GET /rest/api/N/issue/<key>?fields=status) and comments on it unless
// its status category is Done; a done or deleted issue is forgotten and a
// new one opened. Once the search finds the remembered issue, it is
// forgotten too: the index has caught up. Without State (a dry run) only
// the search is used.
//
// Descriptions and comments are plain text. Version 2 sends them as wiki
// markup inside one {noformat} block, any "{noformat" inside broken by a
// zero-width space so that it cannot close the block: event text such as
// {code}, [text|http://...] or *bold* shows as typed. Version 3 builds an
// Atlassian Document Format document: paragraphs of text nodes, with hard
// breaks for single newlines.
package jira

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"

	"go.uber.org/zap"

	"github.com/logmedic/logmedic/handlers"
)

// Handler opens and comments on issues of one Jira project.
type Handler struct {
	base      string // without a trailing slash
	version   int
	email     string
	token     handlers.Secret
	project   string
	issueType string
	labels    []string
	summary   *handlers.Template
	desc      *handlers.Template
	comment   *handlers.Template
	priority  *handlers.Template
	client    *http.Client
	secrets   []handlers.Secret
	secretErr error // why the token could not be read
	locks     handlers.KeyLocks
	log       *zap.Logger
	// state maps a label to the key of the issue this handler created
	// for it, until the search finds that issue; nil in dry runs.
	state handlers.KV
}

var (
	_ handlers.Handler   = (*Handler)(nil)
	_ handlers.Previewer = (*Handler)(nil)
)

// Label returns the label that marks issues for a dedup key.
func Label(dedupKey string) string { return "logmedic-" + handlers.HashKey(dedupKey, 16) }

// maxSummary is the length limit of an issue's summary, in characters.
const maxSummary = 255

// New validates c, reads its token and returns its handler.
func New(c *Config, o handlers.Options) (*Handler, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	h := &Handler{
		base:      strings.TrimRight(c.URL, "/"),
		version:   c.APIVersion,
		email:     c.Email,
		project:   c.Project,
		issueType: c.IssueType,
		labels:    c.Labels,
		summary:   c.Summary,
		desc:      c.Description,
		comment:   c.Comment,
		priority:  c.Priority,
		log:       o.Logger,
		state:     o.State,
	}
	if h.version == 0 {
		h.version = 2
		if h.email != "" {
			h.version = 3
		}
	}
	if h.issueType == "" {
		h.issueType = "Task"
	}
	if h.summary == nil {
		h.summary = defaultSummary
	}
	if h.desc == nil {
		h.desc = defaultDesc
	}
	if h.comment == nil {
		h.comment = defaultComment
	}
	if h.log == nil {
		h.log = zap.NewNop()
	}
	key := "token_file"
	if c.TokenEnv != "" {
		key = "token_env"
	}
	// A variable that is not set or empty, or a file that cannot be read
	// or is empty, does not fail New (logmedic test runs without
	// production secrets; the loader checks them where they must exist):
	// Deliver refuses to send.
	tok, err := handlers.LoadSecret(c.TokenEnv, c.TokenFile)
	switch {
	case err != nil:
		return nil, handlers.Errf(key, "%v", err)
	case tok.Err() != nil:
		h.secretErr = fmt.Errorf("%s: %w", key, tok.Err())
	case !tok.IsSet():
		h.secretErr = fmt.Errorf("%s: the secret is empty", key)
	}
	h.token = tok
	h.secrets = handlers.SecretForms(tok.Value(), h.email+":"+tok.Value())
	if h.client, err = handlers.NewClient(&c.TLS, h.secrets); err != nil {
		return nil, handlers.Errf("tls.ca_file", "%v", err)
	}
	return h, nil
}

// payload is what the outbox stores: rendered plain text, formatted for
// the API version at delivery, and never the token.
type payload struct {
	Label       string `json:"label"`
	Summary     string `json:"summary"`
	Description string `json:"description"`
	Comment     string `json:"comment,omitempty"`
	Priority    string `json:"priority,omitempty"`
}

// Prepare renders the summary, description, comment and priority.
func (h *Handler) Prepare(d *handlers.Data, with map[string]*handlers.Template) (json.RawMessage, error) {
	key := d.DedupKey
	if key == "" {
		key = d.ActionID
	}
	if key == "" {
		return nil, errors.New("the action has neither a dedup key nor an ID")
	}
	p := payload{Label: Label(key)}
	for _, f := range []struct {
		name string
		def  *handlers.Template
		dst  *string
	}{{"summary", h.summary, &p.Summary}, {"description", h.desc, &p.Description}, {"comment", h.comment, &p.Comment}, {"priority", h.priority, &p.Priority}} {
		v, err := handlers.Render(d, with, f.name, f.def)
		if err != nil {
			return nil, err
		}
		*f.dst = v
	}
	p.Summary = handlers.SummaryLine(p.Summary, maxSummary)
	if p.Summary == "" {
		return nil, errors.New("summary: renders empty")
	}
	p.Description = plainText(p.Description)
	p.Comment = plainText(p.Comment)
	p.Priority = strings.TrimSpace(handlers.OneLine(p.Priority))
	return json.Marshal(p)
}

func decode(a *handlers.Action) (payload, error) {
	var p payload
	if err := json.Unmarshal(a.Payload, &p); err != nil {
		return p, fmt.Errorf("action %s: bad payload: %w", a.ID, err)
	}
	if p.Label == "" || p.Summary == "" {
		return p, fmt.Errorf("action %s: payload has no label or summary", a.ID)
	}
	return p, nil
}

// Deliver comments on the open issue with the action's label, or opens
// one.
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
	return handlers.DeliverTicket(ctx, &h.locks, p.Label, a, p.Comment != "", &tracker{h, &p}, h.log)
}

// tracker is the project's issues for one action.
type tracker struct {
	h *Handler
	p *payload
}

func (t *tracker) Find(ctx context.Context) (string, bool, error) {
	found, retry, err := t.h.find(ctx, t.p.Label)
	if err != nil || t.h.state == nil {
		return found, retry, err
	}
	known, err := t.h.remembered(t.p.Label)
	switch {
	case err != nil && found != "":
		return found, false, nil
	case err != nil:
		return "", true, err
	case known == "":
		return found, false, nil
	}
	if found != "" {
		if found == known {
			// The search sees it now: the index has caught up.
			t.h.forget(t.p.Label, known, "found by search")
		}
		return found, false, nil
	}
	// The search may not see an issue created moments ago: ask for the
	// one this handler created.
	open, retry, err := t.h.isOpen(ctx, known)
	if err != nil {
		return "", retry, err
	}
	if !open {
		t.h.forget(t.p.Label, known, "done or deleted")
		return "", false, nil
	}
	return known, false, nil
}

func (t *tracker) Note(ctx context.Context, issue string) (bool, error) {
	_, retry, err := t.h.send(ctx, http.MethodPost, t.h.api("issue/"+url.PathEscape(issue)+"/comment"), map[string]any{"body": t.h.text(t.p.Comment)})
	return retry, err
}

func (t *tracker) Open(ctx context.Context) (string, bool, error) {
	resp, retry, err := t.h.send(ctx, http.MethodPost, t.h.api("issue"), t.h.createBody(*t.p))
	if err != nil {
		return "", retry, err
	}
	var created struct {
		Key string `json:"key"`
	}
	_ = json.Unmarshal(resp.Body, &created) // the issue exists either way
	if t.h.state != nil && issueRef.MatchString(created.Key) {
		// Failing here would retry and open another issue: the worst a
		// lost entry does is the same, so it is only logged.
		if err := t.h.state.Put(t.p.Label, []byte(created.Key)); err != nil {
			t.h.log.Warn("created issue not remembered", zap.String("issue", created.Key), zap.String("label", t.p.Label), zap.Error(err))
		}
	}
	return created.Key, false, nil
}

// remembered returns the key of the issue this handler created for
// label, or "".
func (h *Handler) remembered(label string) (string, error) {
	v, ok, err := h.state.Get(label)
	if err != nil {
		return "", fmt.Errorf("read state: %w", err)
	}
	if !ok {
		return "", nil
	}
	if key := string(v); issueRef.MatchString(key) {
		return key, nil
	}
	h.forget(label, string(v), "malformed")
	return "", nil
}

// forget drops label's remembered issue.
func (h *Handler) forget(label, issue, why string) {
	if err := h.state.Delete(label); err != nil {
		h.log.Warn("remembered issue not forgotten", zap.String("issue", issue), zap.String("label", label), zap.String("why", why), zap.Error(err))
	}
}

// isOpen reports whether issue exists, is still the same issue (not
// moved to another key), and its status category is not Done.
func (h *Handler) isOpen(ctx context.Context, issue string) (bool, bool, error) {
	resp, retry, err := h.send(ctx, http.MethodGet, h.issueURL(issue), nil)
	if resp.Status == http.StatusNotFound || resp.Status/100 == 3 {
		return false, false, nil // deleted, or moved to another key
	}
	if err != nil {
		return false, retry, err
	}
	var got struct {
		Key    string `json:"key"`
		Fields struct {
			Status struct {
				StatusCategory struct {
					Key string `json:"key"`
				} `json:"statusCategory"`
			} `json:"status"`
		} `json:"fields"`
	}
	if err := json.Unmarshal(resp.Body, &got); err != nil {
		return false, true, fmt.Errorf("get %s: reply is not Jira JSON: %v", issue, err)
	}
	if got.Key != "" && got.Key != issue {
		return false, false, nil // moved to another project
	}
	return !strings.EqualFold(got.Fields.Status.StatusCategory.Key, "done"), false, nil
}

func (h *Handler) issueURL(issue string) string {
	return h.api("issue/"+url.PathEscape(issue)) + "?fields=status"
}

var issueRef = regexp.MustCompile(`^([A-Z][A-Z0-9_]*-[0-9]+|[0-9]+)$`)

// find returns the key of an open issue of the project with label, or "".
func (h *Handler) find(ctx context.Context, label string) (string, bool, error) {
	resp, retry, err := h.send(ctx, http.MethodGet, h.searchURL(label), nil)
	if err != nil {
		return "", retry, err
	}
	var found struct {
		Issues []struct {
			ID  string `json:"id"`
			Key string `json:"key"`
		} `json:"issues"`
	}
	if err := json.Unmarshal(resp.Body, &found); err != nil {
		return "", true, fmt.Errorf("search %s: reply is not Jira JSON: %v", h.project, err)
	}
	if len(found.Issues) == 0 {
		return "", false, nil
	}
	ref := found.Issues[0].Key
	if ref == "" {
		ref = found.Issues[0].ID
	}
	if !issueRef.MatchString(ref) {
		return "", false, fmt.Errorf("search %s returned a malformed issue key %q", h.project, ref)
	}
	return ref, false, nil
}

// jql returns the search for open issues of project with label.
func jql(project, label string) string {
	return "project = " + jqlString(project) + " AND labels = " + jqlString(label) + " AND statusCategory != Done"
}

// jqlString quotes s as a JQL string.
func jqlString(s string) string {
	r := strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`, "\r", `\r`, "\t", `\t`)
	return `"` + r.Replace(s) + `"`
}

func (h *Handler) api(path string) string {
	return h.base + "/rest/api/" + strconv.Itoa(h.version) + "/" + path
}

func (h *Handler) searchURL(label string) string {
	q := url.Values{"jql": {jql(h.project, label)}, "fields": {"summary"}, "maxResults": {"1"}}
	path := "search"
	if h.version == 3 {
		path = "search/jql"
	}
	// Encode writes spaces as "+"; %20 reads the same to every server.
	return h.api(path) + "?" + strings.ReplaceAll(q.Encode(), "+", "%20")
}

func (h *Handler) createBody(p payload) map[string]any {
	labels := make([]string, 0, len(h.labels)+1)
	for _, l := range h.labels {
		if l != p.Label {
			labels = append(labels, l)
		}
	}
	labels = append(labels, p.Label)
	fields := map[string]any{
		"project":   map[string]string{"key": h.project},
		"issuetype": map[string]string{"name": h.issueType},
		"summary":   p.Summary,
		"labels":    labels,
	}
	if p.Description != "" {
		fields["description"] = h.text(p.Description)
	}
	if p.Priority != "" {
		fields["priority"] = map[string]string{"name": p.Priority}
	}
	return map[string]any{"fields": fields}
}

// text formats plain text for the API version: wiki markup in {noformat}
// for 2, an ADF document for 3.
func (h *Handler) text(s string) any {
	if h.version == 3 {
		return adf(s)
	}
	return noformat(s)
}

// send makes one REST call.
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
	case h.email != "" && reveal:
		req.Header.Set("Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte(h.email+":"+h.token.Value())))
	case h.email != "":
		req.Header.Set("Authorization", "Basic "+handlers.Redacted)
	case reveal:
		req.Header.Set("Authorization", "Bearer "+h.token.Value())
	default:
		req.Header.Set("Authorization", "Bearer "+handlers.Redacted)
	}
}

// Preview shows the request that opens an issue, and in its note the
// search before it and the comment sent instead when an issue is open.
func (h *Handler) Preview(a *handlers.Action) (handlers.Preview, error) {
	p, err := decode(a)
	if err != nil {
		return handlers.Preview{}, err
	}
	body, err := json.Marshal(h.createBody(p))
	if err != nil {
		return handlers.Preview{}, err
	}
	req, err := handlers.JSONRequest(http.MethodPost, h.api("issue"), nil)
	if err != nil {
		return handlers.Preview{}, err
	}
	req.Header.Set("Content-Type", "application/json")
	h.auth(req, false)
	pv := handlers.Preview{Method: req.Method, URL: req.URL.String(), Headers: map[string]string{}, Body: string(body)}
	for k := range req.Header {
		pv.Headers[k] = req.Header.Get(k)
	}
	comment, _ := json.Marshal(map[string]any{"body": h.text(p.Comment)})
	pv.Note = fmt.Sprintf("first GET %s (and, when it finds nothing but this handler created an issue for the label, GET %s); if an open issue is found, POST %s with %s instead",
		h.searchURL(p.Label), h.api("issue/<key>")+"?fields=status", h.api("issue/<key>/comment"), comment)
	if a.Resolve {
		pv.Note += "; this action resolves a problem: with no open issue, nothing is sent"
	}
	return pv, nil
}

// plainText normalizes newlines to \n, drops other control characters
// but tabs, and trims surrounding blank space.
func plainText(s string) string {
	s = strings.ReplaceAll(s, "\r\n", "\n")
	s = strings.ReplaceAll(s, "\r", "\n")
	s = strings.Map(func(r rune) rune {
		if r < 0x20 && r != '\n' && r != '\t' || r == 0x7f {
			return -1
		}
		return r
	}, s)
	return strings.TrimSpace(s)
}

// noformat returns plain text as Jira wiki markup that shows it as typed:
// one {noformat} block, inside which every "{noformat" (in any case) gets
// a zero-width space after its brace so that it cannot end the block.
func noformat(s string) string {
	s = plainText(s)
	if s == "" {
		return ""
	}
	var b strings.Builder
	b.WriteString("{noformat}\n")
	for i := 0; i < len(s); i++ {
		b.WriteByte(s[i])
		if s[i] == '{' && len(s)-i > len("noformat") && asciiEqualFold(s[i+1:i+1+len("noformat")], "noformat") {
			b.WriteString("\u200b")
		}
	}
	b.WriteString("\n{noformat}")
	return b.String()
}

func asciiEqualFold(a, b string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := 0; i < len(a); i++ {
		x, y := a[i], b[i]
		if 'A' <= x && x <= 'Z' {
			x += 'a' - 'A'
		}
		if 'A' <= y && y <= 'Z' {
			y += 'a' - 'A'
		}
		if x != y {
			return false
		}
	}
	return true
}

// adfNode is an Atlassian Document Format node.
type adfNode struct {
	Type    string    `json:"type"`
	Version int       `json:"version,omitempty"`
	Text    string    `json:"text,omitempty"`
	Content []adfNode `json:"content,omitempty"`
}

// adf returns plain text as an ADF document: blank lines separate
// paragraphs, single newlines become hard breaks, and the text is only
// ever a text node's value.
func adf(s string) adfNode {
	doc := adfNode{Type: "doc", Version: 1}
	for _, para := range strings.Split(plainText(s), "\n\n") {
		var p adfNode
		for _, line := range strings.Split(para, "\n") {
			if line == "" {
				continue
			}
			if len(p.Content) > 0 {
				p.Content = append(p.Content, adfNode{Type: "hardBreak"})
			}
			p.Content = append(p.Content, adfNode{Type: "text", Text: line})
		}
		if len(p.Content) > 0 {
			p.Type = "paragraph"
			doc.Content = append(doc.Content, p)
		}
	}
	if len(doc.Content) == 0 {
		// A doc must have content; an empty paragraph is valid.
		doc.Content = append(doc.Content, adfNode{Type: "paragraph"})
	}
	return doc
}
