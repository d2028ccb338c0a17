package webhook

import (
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/logmedic/logmedic/handlers"
)

// Config is the configuration of a handler of type webhook.
//
// Credentials never go in headers (which are rendered into the outbox):
// token_env/token_file send "Authorization: Bearer <token>", and
// secret_headers send any other header whose value is a secret, such as
// "X-Api-Key". Both are read when the configuration loads and added to
// each request at delivery, so the outbox never holds them.
type Config struct {
	URL           string                        `yaml:"url" doc:"Address to send to (http or https). When the address itself is a secret (Slack, Teams, Discord webhooks), use url_env or url_file instead."`
	URLEnv        string                        `yaml:"url_env" doc:"Environment variable holding the address, instead of url. The address is then redacted in errors and previews."`
	URLFile       string                        `yaml:"url_file" doc:"File holding the address, instead of url. The address is then redacted in errors and previews."`
	Method        string                        `yaml:"method" doc:"HTTP method: POST (default), PUT or PATCH."`
	Headers       map[string]*handlers.Template `yaml:"headers" doc:"Extra request headers; each value is a template. Control characters in rendered values become spaces, so event text cannot add headers. Never put credentials here: use token_env or secret_headers."`
	SecretHeaders map[string]SecretHeader       `yaml:"secret_headers" doc:"Headers whose values are secrets, each read from value_env or value_file: {X-Api-Key: {value_env: HOOK_KEY}}. Shown as <redacted> in previews."`
	TokenEnv      string                        `yaml:"token_env" doc:"Environment variable holding a bearer token, sent as Authorization: Bearer <token>."`
	TokenFile     string                        `yaml:"token_file" doc:"File holding a bearer token, sent as Authorization: Bearer <token>."`
	Body          *Body                         `yaml:"body" doc:"The JSON body, written as YAML: mappings, lists and scalars. Every string is a template rendered on its own and then JSON-encoded, so event text cannot break the JSON; numbers, booleans and null stay as they are. Default: a JSON object with the rule and the event."`
	TLS           handlers.TLS                  `yaml:"tls" doc:"TLS settings for https addresses."`
}

// SecretHeader is a header value read from the environment or a file.
type SecretHeader struct {
	ValueEnv  string `yaml:"value_env" doc:"Environment variable holding the header's value."`
	ValueFile string `yaml:"value_file" doc:"File holding the header's value."`
}

// Params returns the templates an action's with: may override. A webhook
// has none: its body is per handler, and templates may use .Rule and
// .Description to vary it per rule.
func Params() []handlers.Param { return nil }

// methods are the accepted methods; all carry a body.
var methods = []string{http.MethodPost, http.MethodPut, http.MethodPatch}

// reserved headers are set by logmedic or by the HTTP client.
var reserved = []string{"Host", "Content-Length", "Transfer-Encoding", "Connection", "Keep-Alive",
	"Proxy-Connection", "Te", "Trailer", "Upgrade", "Idempotency-Key"}

// Validate checks c without reading secrets or files, and renders every
// template on handlers.SampleData so that a template that fails, fails
// now.
func (c *Config) Validate() error {
	var errs []error
	add := func(key, format string, args ...any) { errs = append(errs, handlers.Errf(key, format, args...)) }

	switch n := countSet(c.URL, c.URLEnv, c.URLFile); {
	case n == 0:
		add("url", "is required (or url_env, or url_file)")
	case n > 1:
		key := "url_env"
		if c.URL != "" {
			key = "url"
		}
		add(key, "set only one of url, url_env and url_file")
	case c.URL != "":
		if err := checkURL(c.URL); err != nil {
			add("url", "%v", err)
		}
	}
	if c.Method != "" && !slices.Contains(methods, strings.ToUpper(c.Method)) {
		add("method", "must be POST, PUT or PATCH, not %q", c.Method)
	}
	if c.TokenEnv != "" && c.TokenFile != "" {
		add("token_env", "set either token_env or token_file, not both")
	}
	hasToken := c.TokenEnv != "" || c.TokenFile != ""

	seen := map[string]string{}
	for _, name := range sortedKeys(c.Headers) {
		canon := http.CanonicalHeaderKey(name)
		switch {
		case !validHeaderName(name):
			add("headers", "%q is not a valid header name", name)
		case slices.Contains(reserved, canon):
			add("headers", "%s is set by logmedic and cannot be configured", canon)
		case canon == "Authorization":
			add("headers", "Authorization carries credentials: use token_env, token_file or secret_headers")
		case c.Headers[name] == nil:
			add("headers", "%s: value is empty", name)
		case seen[canon] != "":
			add("headers", "%s and %s are the same header", seen[canon], name)
		}
		seen[canon] = name
	}
	for _, name := range sortedKeys(c.SecretHeaders) {
		canon := http.CanonicalHeaderKey(name)
		sh := c.SecretHeaders[name]
		switch {
		case !validHeaderName(name):
			add("secret_headers", "%q is not a valid header name", name)
		case slices.Contains(reserved, canon):
			add("secret_headers", "%s is set by logmedic and cannot be configured", canon)
		case seen[canon] != "":
			add("secret_headers", "%s is also set in headers", name)
		case canon == "Authorization" && hasToken:
			add("secret_headers", "Authorization is also set by token_env/token_file")
		case countSet(sh.ValueEnv, sh.ValueFile) != 1:
			add("secret_headers", "%s: set exactly one of value_env and value_file", name)
		}
		seen[canon] = name
	}

	d := handlers.SampleData()
	for _, name := range sortedKeys(c.Headers) {
		if _, err := c.Headers[name].Execute(d); err != nil {
			add("headers", "%s: %v", name, err)
		}
	}
	if c.Body != nil {
		if _, err := c.Body.Render(d); err != nil {
			add("body", "%v", err)
		}
	}
	return errors.Join(errs...)
}

// checkURL accepts absolute http and https addresses.
func checkURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil {
		return errors.New("is not a valid URL")
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return errors.New("must start with http:// or https://")
	}
	if u.Host == "" {
		return errors.New("has no host")
	}
	if u.Fragment != "" {
		return errors.New("must not have a #fragment")
	}
	return nil
}

func countSet(vals ...string) int {
	n := 0
	for _, v := range vals {
		if v != "" {
			n++
		}
	}
	return n
}

// validHeaderName reports whether s is an RFC 9110 token.
func validHeaderName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		ok := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' ||
			strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0
		if !ok {
			return false
		}
	}
	return true
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
