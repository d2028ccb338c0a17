package servicenow

import (
	"errors"
	"net"
	"net/url"
	"regexp"
	"slices"
	"strings"

	"github.com/logmedic/logmedic/handlers"
)

// Config is the configuration of a handler of type servicenow.
//
// Authentication is basic (username with password_env or password_file)
// or OAuth bearer (token_env or token_file), exactly one of the two.
type Config struct {
	Instance     string                        `yaml:"instance" doc:"The instance's address, https://<name>.service-now.com (http is accepted only for loopback addresses, for testing)."`
	Table        string                        `yaml:"table" doc:"Table to open records in; it must extend task (it needs active, correlation_id and work_notes). Default: incident."`
	Username     string                        `yaml:"username" doc:"User for basic authentication; needs password_env or password_file."`
	PasswordEnv  string                        `yaml:"password_env" doc:"Environment variable holding the basic authentication password."`
	PasswordFile string                        `yaml:"password_file" doc:"File holding the basic authentication password."`
	TokenEnv     string                        `yaml:"token_env" doc:"Environment variable holding an OAuth bearer token, instead of username and password."`
	TokenFile    string                        `yaml:"token_file" doc:"File holding an OAuth bearer token, instead of username and password."`
	Fields       map[string]*handlers.Template `yaml:"fields" doc:"Fields of a new record, each a template: short_description, description, assignment_group, caller_id, urgency, impact, category, cmdb_ci or any other field of the table. Reference fields take a sys_id. Fields that render empty are not sent. Defaults: short_description and description describe the event."`
	WorkNotes    *handlers.Template            `yaml:"work_notes" doc:"Template of the work note added to an open record with the same dedup key, instead of opening another. Default: the event's summary and, when matches were suppressed, \"seen N more times\"."`
	TLS          handlers.TLS                  `yaml:"tls" doc:"TLS settings."`
}

// Params returns the templates an action's with: may override.
func Params() []handlers.Param {
	return []handlers.Param{
		{Name: "short_description", Doc: "The record's one-line summary (at most 160 characters, newlines become spaces)."},
		{Name: "description", Doc: "The record's description."},
		{Name: "assignment_group", Doc: "Group to assign the record to (a sys_id)."},
		{Name: "caller_id", Doc: "The caller (a sys_user sys_id)."},
		{Name: "urgency", Doc: "Urgency, 1 (high) to 3 (low)."},
		{Name: "impact", Doc: "Impact, 1 (high) to 3 (low)."},
		{Name: "category", Doc: "Category (a choice value, such as software)."},
		{Name: "cmdb_ci", Doc: "Configuration item (a cmdb_ci sys_id)."},
		{Name: "work_notes", Doc: "Work note added to an open record with the same dedup key."},
	}
}

// Defaults of the fields and the note.
var (
	defaultShort = handlers.MustTemplate(`{{.Computer}}: {{default .Rule .Description}}{{with .ErrorCode}} ({{.}}){{end}}`)
	defaultDesc  = handlers.MustTemplate(`{{.Description}}

Computer: {{.Computer}}
Time: {{time .Time "2006-01-02 15:04:05 MST"}}
Event: {{.Provider}} {{.EventID}} ({{.Level}}), {{.Channel}} record {{.RecordID}}
{{with .ErrorCode}}Error: {{.}}{{with explain .}} - {{.}}{{end}}
{{end}}Rule: {{.Rule}}
Dedup key: {{.DedupKey}}

{{.Message}}`)
	defaultNote = handlers.MustTemplate(`logmedic: {{.Rule}} matched again on {{.Computer}} at {{time .Time "2006-01-02 15:04:05 MST"}}: event {{.EventID}}{{with .ErrorCode}}, error {{.}}{{with explain .}} ({{.}}){{end}}{{end}}.
{{- if gt .Repeats 0}} Also seen {{.Repeats}} more times since the previous notice.{{end}}

{{.Message}}`)
)

// reservedFields are set by logmedic.
var reservedFields = []string{"correlation_id", "correlation_display", "work_notes", "sys_id", "number", "active"}

var (
	fieldName = regexp.MustCompile(`^[a-z][a-z0-9_]*$`)
	tableName = regexp.MustCompile(`^[a-z][a-z0-9_]*$`)
)

// Validate checks c without reading secrets or files, and renders every
// template on handlers.SampleData.
func (c *Config) Validate() error {
	var errs []error
	add := func(key, format string, args ...any) { errs = append(errs, handlers.Errf(key, format, args...)) }

	if c.Instance == "" {
		add("instance", "is required (https://<name>.service-now.com)")
	} else if err := checkInstance(c.Instance); err != nil {
		add("instance", "%v", err)
	}
	if c.Table != "" && !tableName.MatchString(c.Table) {
		add("table", "%q is not a table name (lower case letters, digits and _)", c.Table)
	}
	if c.PasswordEnv != "" && c.PasswordFile != "" {
		add("password_env", "set either password_env or password_file, not both")
	}
	if c.TokenEnv != "" && c.TokenFile != "" {
		add("token_env", "set either token_env or token_file, not both")
	}
	hasPass := c.PasswordEnv != "" || c.PasswordFile != ""
	hasToken := c.TokenEnv != "" || c.TokenFile != ""
	switch {
	case c.Username != "" && !hasPass:
		add("username", "needs password_env or password_file")
	case c.Username == "" && hasPass:
		add("username", "is required with a password")
	case c.Username != "" && hasToken:
		add("token_env", "set either username and a password, or a token, not both")
	case c.Username == "" && !hasToken:
		add("username", "set username and password_env (or password_file), or token_env (or token_file)")
	}

	d := handlers.SampleData()
	for _, name := range sortedKeys(c.Fields) {
		t := c.Fields[name]
		switch {
		case !fieldName.MatchString(name):
			add("fields", "%q is not a field name (lower case letters, digits and _)", name)
		case slices.Contains(reservedFields, name):
			add("fields", "%s is set by logmedic", name)
		case t == nil:
			add("fields", "%s: value is empty", name)
		default:
			if _, err := t.Execute(d); err != nil {
				add("fields", "%s: %v", name, err)
			}
		}
	}
	if _, err := c.WorkNotes.Execute(d); err != nil {
		add("work_notes", "%v", err)
	}
	return errors.Join(errs...)
}

// checkInstance accepts https://host[:port][/]; http only for loopback.
func checkInstance(raw string) error {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return errors.New("must be an address like https://<name>.service-now.com")
	}
	switch u.Scheme {
	case "https":
	case "http":
		if !isLoopback(u.Hostname()) {
			return errors.New("must use https: it carries credentials")
		}
	default:
		return errors.New("must start with https://")
	}
	if u.User != nil {
		return errors.New("must not hold credentials: use username and password_env")
	}
	if strings.Trim(u.Path, "/") != "" || u.RawQuery != "" || u.Fragment != "" {
		return errors.New("must be the instance's address only, without a path or query")
	}
	return nil
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
