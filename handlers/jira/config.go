package jira

import (
	"errors"
	"net/url"
	"regexp"
	"strings"
	"unicode"

	"github.com/logmedic/logmedic/handlers"
)

// Config is the configuration of a handler of type jira.
//
// Authentication: Jira Cloud takes email plus an API token (token_env or
// token_file) as basic authentication; Jira Data Center takes a personal
// access token (token_env or token_file, no email) as a bearer token.
type Config struct {
	URL         string             `yaml:"url" doc:"Jira's base address: https://<site>.atlassian.net, or a Data Center address with its context path (https://jira.corp.example/jira)."`
	APIVersion  int                `yaml:"api_version" doc:"REST API version, 2 or 3. 3 (Cloud only) sends descriptions and comments as Atlassian Document Format; 2 sends wiki markup. Default: 3 when email is set (Cloud), else 2 (Data Center)."`
	Email       string             `yaml:"email" doc:"Jira Cloud: the account's email; with the API token, sent as basic authentication. Leave empty for a Data Center personal access token."`
	TokenEnv    string             `yaml:"token_env" doc:"Environment variable holding the API token (Cloud) or personal access token (Data Center)."`
	TokenFile   string             `yaml:"token_file" doc:"File holding the API token (Cloud) or personal access token (Data Center)."`
	Project     string             `yaml:"project" doc:"Key of the project to open issues in, such as OPS."`
	IssueType   string             `yaml:"issue_type" doc:"Name of the issue type. Default: Task."`
	Summary     *handlers.Template `yaml:"summary" doc:"Template of the issue's summary; newlines become spaces and it is cut to 255 characters. Default: computer, rule description and error code."`
	Description *handlers.Template `yaml:"description" doc:"Template of the issue's description, as plain text: it is sent inside a {noformat} block (v2) or as ADF paragraphs (v3), so neither event text nor the template can use markup. Default: the event's details."`
	Comment     *handlers.Template `yaml:"comment" doc:"Template of the comment added, as plain text, to an open issue for the same dedup key instead of opening another. Default: the event's summary and, when matches were suppressed, \"seen N more times\"."`
	Labels      []string           `yaml:"labels" doc:"Labels for new issues (no spaces). logmedic adds logmedic-<hash of the dedup key>, which it searches for to find the open issue."`
	Priority    *handlers.Template `yaml:"priority" doc:"Template of the priority's name, such as High. Empty: the project's default."`
	TLS         handlers.TLS       `yaml:"tls" doc:"TLS settings."`
}

// Params returns the templates an action's with: may override.
func Params() []handlers.Param {
	return []handlers.Param{
		{Name: "summary", Doc: "The issue's summary (one line, at most 255 characters)."},
		{Name: "description", Doc: "The issue's description, as plain text."},
		{Name: "comment", Doc: "Comment added to an open issue for the same dedup key, as plain text."},
		{Name: "priority", Doc: "Name of the issue's priority, such as High."},
	}
}

// Defaults of the templates.
var (
	defaultSummary = handlers.MustTemplate(`{{.Computer}}: {{default .Rule .Description}}{{with .ErrorCode}} ({{.}}){{end}}`)
	defaultDesc    = handlers.MustTemplate(`{{.Description}}

Computer: {{.Computer}}
Time: {{time .Time "2006-01-02 15:04:05 MST"}}
Event: {{.Provider}} {{.EventID}} ({{.Level}}), {{.Channel}} record {{.RecordID}}
{{with .ErrorCode}}Error: {{.}}{{with explain .}} - {{.}}{{end}}
{{end}}Rule: {{.Rule}}
Dedup key: {{.DedupKey}}

{{.Message}}`)
	defaultComment = handlers.MustTemplate(`logmedic: {{.Rule}} matched again on {{.Computer}} at {{time .Time "2006-01-02 15:04:05 MST"}}: event {{.EventID}}{{with .ErrorCode}}, error {{.}}{{with explain .}} ({{.}}){{end}}{{end}}.
{{- if gt .Repeats 0}} Also seen {{.Repeats}} more times since the previous notice.{{end}}

{{.Message}}`)
)

var projectKey = regexp.MustCompile(`^[A-Z][A-Z0-9_]*$`)

// Validate checks c without reading secrets or files, and renders every
// template on handlers.SampleData.
func (c *Config) Validate() error {
	var errs []error
	add := func(key, format string, args ...any) { errs = append(errs, handlers.Errf(key, format, args...)) }

	if c.URL == "" {
		add("url", "is required")
	} else if err := checkURL(c.URL); err != nil {
		add("url", "%v", err)
	}
	if c.APIVersion != 0 && c.APIVersion != 2 && c.APIVersion != 3 {
		add("api_version", "must be 2 or 3")
	}
	switch {
	case c.TokenEnv == "" && c.TokenFile == "":
		add("token_env", "is required (or token_file): an API token with email, or a personal access token")
	case c.TokenEnv != "" && c.TokenFile != "":
		add("token_env", "set either token_env or token_file, not both")
	}
	if c.Email != "" && !strings.Contains(c.Email, "@") {
		add("email", "%q is not an email address", c.Email)
	}
	if c.Project == "" {
		add("project", "is required (a project key such as OPS)")
	} else if !projectKey.MatchString(c.Project) {
		add("project", "%q is not a project key (upper case letters, digits and _, starting with a letter)", c.Project)
	}
	if strings.TrimSpace(c.IssueType) != c.IssueType {
		add("issue_type", "must not start or end with spaces")
	}
	for _, l := range c.Labels {
		switch {
		case l == "":
			add("labels", "a label is empty")
		case strings.IndexFunc(l, unicode.IsSpace) >= 0:
			add("labels", "%q: labels cannot contain spaces", l)
		case len([]rune(l)) > 255:
			add("labels", "%q is longer than 255 characters", l)
		}
	}
	d := handlers.SampleData()
	for _, t := range []struct {
		key  string
		tmpl *handlers.Template
	}{{"summary", c.Summary}, {"description", c.Description}, {"comment", c.Comment}, {"priority", c.Priority}} {
		if _, err := t.tmpl.Execute(d); err != nil {
			add(t.key, "%v", err)
		}
	}
	return errors.Join(errs...)
}

// checkURL accepts an absolute http or https address with an optional
// context path.
func checkURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return errors.New("must be an address like https://<site>.atlassian.net")
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return errors.New("must start with https:// (or http://)")
	}
	if u.User != nil {
		return errors.New("must not hold credentials: use email and token_env")
	}
	if u.RawQuery != "" || u.Fragment != "" {
		return errors.New("must not have a query or fragment")
	}
	if strings.Contains(u.Path, "/rest/") {
		return errors.New("must be Jira's base address, without /rest/api")
	}
	return nil
}
