package alertmanager

import (
	"errors"
	"maps"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/logmedic/logmedic/handlers"
)

// Config is an alertmanager handler as configured.
type Config struct {
	URLs           []string                      `yaml:"urls" doc:"Base URLs of the Alertmanagers, such as http://am1:9093 (with the route prefix, if any). Every alert goes to every URL; list all members of a cluster, never a load balancer. A URL ending in /api/v2/alerts is used as it is."`
	Labels         map[string]*handlers.Template `yaml:"labels" doc:"Extra labels (templates), added to alertname (the rule), computer and error_code (when the event has one). Labels identify an alert: keep event text out of them. An empty result drops the label."`
	Annotations    map[string]*handlers.Template `yaml:"annotations" doc:"Annotations (templates). summary and description have defaults; the action's with: may override summary and description."`
	GeneratorURL   *handlers.Template            `yaml:"generator_url" doc:"Template of the alert's back-link; it must render to an absolute URI. Default: logmedic:///rules/RULE?computer=COMPUTER, which names the source but is not a web page; point it at your runbook instead."`
	TTL            time.Duration                 `yaml:"ttl" doc:"How long a firing alert stays firing without being re-sent: each post sets endsAt to now + ttl. Default 1h; must exceed resend_interval."`
	ResendInterval time.Duration                 `yaml:"resend_interval" doc:"How often firing alerts (and, for 5 minutes, resolved ones) are re-sent, as Alertmanager's client contract requires. Default 1m."`
	Username       string                        `yaml:"username" doc:"User name for HTTP basic authentication."`
	PasswordEnv    string                        `yaml:"password_env" doc:"Environment variable holding the basic authentication password."`
	PasswordFile   string                        `yaml:"password_file" doc:"File holding the basic authentication password."`
	TokenEnv       string                        `yaml:"token_env" doc:"Environment variable holding a bearer token (instead of basic authentication)."`
	TokenFile      string                        `yaml:"token_file" doc:"File holding a bearer token (instead of basic authentication)."`
	TLS            handlers.TLS                  `yaml:"tls" doc:"TLS settings for https URLs."`
}

// Defaults.
const (
	DefaultTTL            = time.Hour
	DefaultResendInterval = time.Minute
	// ResolvedResend is how long a resolved alert keeps being re-sent,
	// since Alertmanager's state is not durable.
	ResolvedResend = 5 * time.Minute
)

// Default templates, used when the configuration leaves them out.
const (
	DefaultSummary      = `{{.Rule}} on {{.Computer}}{{with .ErrorCode}} ({{.}}){{end}}`
	DefaultDescription  = `{{.Description}}{{with .ErrorCode}}{{"\n\n"}}{{.}}: {{explain .}}{{end}}{{with .Message}}{{"\n\n"}}Event {{$.EventID}} from {{$.Provider}} at {{time $.Time "2006-01-02 15:04:05Z07:00"}}: {{.}}{{end}}{{if .Repeats}}{{"\n\n"}}{{.Repeats}} more matches were suppressed.{{end}}`
	DefaultGeneratorURL = `logmedic:///rules/{{urlquery .Rule}}?computer={{urlquery .Computer}}`
)

// Reserved labels are set by the handler itself.
var reserved = []string{"alertname", "computer", "error_code"}

// labelName is Prometheus's label name syntax.
var labelName = regexp.MustCompile(`^[a-zA-Z_][a-zA-Z0-9_]*$`)

// Validate checks c without reading secrets or the network.
func (c *Config) Validate() error {
	var errs []error
	if len(c.URLs) == 0 {
		errs = append(errs, handlers.Errf("urls", "list at least one Alertmanager URL"))
	}
	for _, raw := range c.URLs {
		if _, err := alertsURL(raw); err != nil {
			errs = append(errs, handlers.Errf("urls", "%v", err))
		}
	}
	for _, k := range sortedKeys(c.Labels) {
		switch {
		case !labelName.MatchString(k):
			errs = append(errs, handlers.Errf("labels", "%q is not a label name ([a-zA-Z_][a-zA-Z0-9_]*)", k))
		case strings.HasPrefix(k, "__"):
			errs = append(errs, handlers.Errf("labels", "label names starting with __ are reserved: %q", k))
		case slices.Contains(reserved, k):
			errs = append(errs, handlers.Errf("labels", "label %q is set by the handler; pick another name", k))
		case c.Labels[k] == nil:
			errs = append(errs, handlers.Errf("labels", "label %q has no template", k))
		}
	}
	for _, k := range sortedKeys(c.Annotations) {
		switch {
		case !labelName.MatchString(k):
			errs = append(errs, handlers.Errf("annotations", "%q is not an annotation name ([a-zA-Z_][a-zA-Z0-9_]*)", k))
		case c.Annotations[k] == nil:
			errs = append(errs, handlers.Errf("annotations", "annotation %q has no template", k))
		}
	}
	if c.GeneratorURL != nil {
		if s, err := c.GeneratorURL.Execute(handlers.SampleData()); err != nil {
			errs = append(errs, handlers.Errf("generator_url", "%v", err))
		} else if err := checkURI(s); err != nil {
			errs = append(errs, handlers.Errf("generator_url", "on a sample event: %v", err))
		}
	}
	if c.TTL < 0 || c.TTL > 0 && c.TTL < time.Minute {
		errs = append(errs, handlers.Errf("ttl", "must be at least 1m, found %v", c.TTL))
	}
	if c.ResendInterval < 0 || c.ResendInterval > 0 && c.ResendInterval < time.Second {
		errs = append(errs, handlers.Errf("resend_interval", "must be at least 1s, found %v", c.ResendInterval))
	}
	if ttl, every := c.ttl(), c.resendInterval(); ttl > 0 && every > 0 && ttl <= every {
		errs = append(errs, handlers.Errf("ttl", "must exceed resend_interval (%v), or alerts resolve between re-sends; found %v", every, ttl))
	}
	basic := c.Username != "" || c.PasswordEnv != "" || c.PasswordFile != ""
	bearer := c.TokenEnv != "" || c.TokenFile != ""
	if basic && bearer {
		errs = append(errs, handlers.Errf("token_env", "use either basic authentication (username, password_*) or a bearer token (token_*), not both"))
	}
	if c.PasswordEnv != "" && c.PasswordFile != "" {
		errs = append(errs, handlers.Errf("password_env", "set either password_env or password_file, not both"))
	}
	if c.TokenEnv != "" && c.TokenFile != "" {
		errs = append(errs, handlers.Errf("token_env", "set either token_env or token_file, not both"))
	}
	if c.Username != "" && c.PasswordEnv == "" && c.PasswordFile == "" {
		errs = append(errs, handlers.Errf("username", "basic authentication needs password_env or password_file"))
	}
	if c.Username == "" && (c.PasswordEnv != "" || c.PasswordFile != "") {
		errs = append(errs, handlers.Errf("username", "a password needs a username"))
	}
	return errors.Join(errs...)
}

func (c *Config) ttl() time.Duration {
	if c.TTL == 0 {
		return DefaultTTL
	}
	return c.TTL
}

func (c *Config) resendInterval() time.Duration {
	if c.ResendInterval == 0 {
		return DefaultResendInterval
	}
	return c.ResendInterval
}

// Params returns what an action's with: may set. Resolving is not one:
// an action's resolves: key names the rules whose alerts it resolves.
func Params() []handlers.Param {
	return []handlers.Param{
		{Name: "summary", Doc: "The summary annotation, instead of the handler's."},
		{Name: "description", Doc: "The description annotation, instead of the handler's."},
		{Name: "generator_url", Doc: "The alert's back-link (an absolute URI), instead of the handler's."},
	}
}

// alertsURL returns the /api/v2/alerts endpoint of an Alertmanager URL.
func alertsURL(raw string) (string, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return "", err
	}
	if u.Scheme != "http" && u.Scheme != "https" || u.Host == "" {
		return "", errors.New("URL " + u.Redacted() + " must be absolute, http or https")
	}
	if u.User != nil {
		return "", errors.New("URL " + u.Redacted() + " must not hold credentials: use username and password_env or password_file")
	}
	if u.RawQuery != "" || u.Fragment != "" {
		return "", errors.New("URL " + u.Redacted() + " must not have a query or fragment")
	}
	if !strings.HasSuffix(u.Path, "/api/v2/alerts") {
		u = u.JoinPath("api", "v2", "alerts")
	}
	return u.String(), nil
}

// checkURI reports whether s is an absolute URI that Alertmanager's API
// accepts as generatorURL (OpenAPI format uri).
func checkURI(s string) error {
	u, err := url.ParseRequestURI(s)
	if err != nil {
		return errors.New("not a valid URI: " + strings.TrimPrefix(err.Error(), "parse "))
	}
	if !u.IsAbs() {
		return errors.New("not an absolute URI (scheme:...): " + s)
	}
	return nil
}

func sortedKeys[V any](m map[string]V) []string { return slices.Sorted(maps.Keys(m)) }
