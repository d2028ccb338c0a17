package email

import (
	"errors"
	"net"
	"net/mail"
	"regexp"
	"strconv"
	"strings"

	"github.com/logmedic/logmedic/handlers"
)

// Config is an email handler as configured.
type Config struct {
	Host         string             `yaml:"host" doc:"SMTP server name or address."`
	Port         int                `yaml:"port" doc:"SMTP server port. Default 587 for tls_mode starttls, 465 for tls, 25 for none."`
	TLSMode      string             `yaml:"tls_mode" doc:"starttls (default): connect in plain text and require STARTTLS before anything else; tls: TLS from the start (implicit TLS, port 465); none: no encryption at all, for a relay on the same machine or tests; AUTH is then refused unless host is a loopback address."`
	Username     string             `yaml:"username" doc:"User name for SMTP AUTH PLAIN; leave out for a relay that needs none."`
	PasswordEnv  string             `yaml:"password_env" doc:"Environment variable holding the SMTP password."`
	PasswordFile string             `yaml:"password_file" doc:"File holding the SMTP password."`
	From         string             `yaml:"from" doc:"Sender address, such as 'logmedic <logmedic@corp.example>'."`
	To           []string           `yaml:"to" doc:"Recipient addresses, one per entry, each one plain address (ops@corp.example): no display name, quotes, <>, spaces or commas."`
	Subject      *handlers.Template `yaml:"subject" doc:"Subject template; line breaks and control characters are replaced by spaces, non-ASCII text is RFC 2047 encoded. Default: [logmedic] RULE on COMPUTER (ERROR CODE)."`
	Body         *handlers.Template `yaml:"body" doc:"Body template, sent as UTF-8 text/plain in quoted-printable. Default: the rule's description, the event's facts and its message."`
	TLS          handlers.TLS       `yaml:"tls" doc:"TLS settings: CA file, server name, or insecure_skip_verify (testing only)."`
	Hello        string             `yaml:"hello" doc:"Name sent in EHLO. Default: this computer's host name, or localhost."`
}

// TLS modes.
const (
	ModeSTARTTLS = "starttls"
	ModeTLS      = "tls"
	ModeNone     = "none"
)

// Default templates, used when the configuration leaves them out.
const (
	DefaultSubject = `[logmedic] {{.Rule}} on {{.Computer}}{{with .ErrorCode}} ({{.}}){{end}}`
	DefaultBody    = `{{with .Description}}{{.}}

{{end}}Rule:      {{.Rule}}
Computer:  {{.Computer}}
Time:      {{time .Time "2006-01-02 15:04:05Z07:00"}}
Event:     {{.EventID}} ({{.Level}}) from {{.Provider}} in {{.Channel}}, record {{.RecordID}}
{{- with .ErrorCode}}
Error:     {{.}} {{explain .}}
{{- end}}
{{- if .Repeats}}
Repeats:   {{.Repeats}} more matches were suppressed before this one
{{- end}}
{{with .Message}}
{{.}}
{{end}}
-- 
logmedic, action {{.ActionID}}
`
)

// hostName is what EHLO and host accept: a domain name or an IP literal.
var hostName = regexp.MustCompile(`^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9]([A-Za-z0-9._-]*[A-Za-z0-9])?)$`)

// Validate checks c without reading secrets or the network.
func (c *Config) Validate() error {
	var errs []error
	switch {
	case c.Host == "":
		errs = append(errs, handlers.Errf("host", "the SMTP server's name is missing"))
	case net.ParseIP(c.Host) == nil && !hostName.MatchString(c.Host):
		errs = append(errs, handlers.Errf("host", "%q is not a host name or IP address", c.Host))
	}
	if c.Port < 0 || c.Port > 65535 {
		errs = append(errs, handlers.Errf("port", "must be 1-65535, found %d", c.Port))
	}
	switch c.TLSMode {
	case "", ModeSTARTTLS, ModeTLS, ModeNone:
	default:
		errs = append(errs, handlers.Errf("tls_mode", "must be starttls, tls or none, found %q", c.TLSMode))
	}
	if c.TLSMode == ModeNone && c.Username != "" && !loopback(c.Host) {
		errs = append(errs, handlers.Errf("tls_mode", "none would send the password in clear text to %s: use starttls or tls (none allows AUTH only to a loopback host)", c.Host))
	}
	if c.PasswordEnv != "" && c.PasswordFile != "" {
		errs = append(errs, handlers.Errf("password_env", "set either password_env or password_file, not both"))
	}
	if c.Username != "" && c.PasswordEnv == "" && c.PasswordFile == "" {
		errs = append(errs, handlers.Errf("username", "AUTH needs password_env or password_file"))
	}
	if c.Username == "" && (c.PasswordEnv != "" || c.PasswordFile != "") {
		errs = append(errs, handlers.Errf("username", "a password needs a username"))
	}
	if strings.ContainsAny(c.Username, "\x00\r\n") {
		errs = append(errs, handlers.Errf("username", "must not hold control characters"))
	}
	if c.From == "" {
		errs = append(errs, handlers.Errf("from", "the sender address is missing"))
	} else if _, err := parseFrom(c.From); err != nil {
		errs = append(errs, handlers.Errf("from", "%v", err))
	}
	if len(c.To) == 0 {
		errs = append(errs, handlers.Errf("to", "list at least one recipient"))
	}
	for _, to := range c.To {
		if _, err := parseRecipient(to); err != nil {
			errs = append(errs, handlers.Errf("to", "%v", err))
		}
	}
	if c.Hello != "" && !hostName.MatchString(c.Hello) {
		errs = append(errs, handlers.Errf("hello", "%q is not a host name or address literal", c.Hello))
	}
	return errors.Join(errs...)
}

// Params returns what an action's with: may set.
func Params() []handlers.Param {
	return []handlers.Param{
		{Name: "subject", Doc: "The subject, instead of the handler's."},
		{Name: "body", Doc: "The body (plain text), instead of the handler's."},
		{Name: "to", Doc: "Recipients instead of the handler's to:, as plain addresses (ops@corp.example) separated by commas: no display names, quotes, <> or spaces. An action whose rendered list holds anything else, or nothing, fails without retry. Event text here chooses who gets mail: keep it out."},
	}
}

func (c *Config) mode() string {
	if c.TLSMode == "" {
		return ModeSTARTTLS
	}
	return c.TLSMode
}

func (c *Config) port() int {
	if c.Port != 0 {
		return c.Port
	}
	switch c.mode() {
	case ModeTLS:
		return 465
	case ModeNone:
		return 25
	}
	return 587
}

// loopback reports whether host is this machine, where AUTH without
// encryption exposes nothing.
func loopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// parseAddress parses one address, refusing control characters, which
// could end a header or an SMTP command.
func parseAddress(s string) (*mail.Address, error) {
	if strings.IndexFunc(s, isControl) >= 0 {
		return nil, errors.New("address holds a control character")
	}
	a, err := mail.ParseAddress(s)
	if err != nil {
		return nil, errors.New("address " + quote(s) + ": " + strings.TrimPrefix(err.Error(), "mail: "))
	}
	return a, nil
}

// parseFrom parses the sender, which may have a display name
// ("logmedic <logmedic@corp.example>"); its address, sent in MAIL FROM,
// must be plain.
func parseFrom(s string) (*mail.Address, error) {
	a, err := parseAddress(s)
	if err != nil {
		return nil, err
	}
	if !plainAddress(a.Address) {
		return nil, errors.New("address " + quote(s) + ": " + quote(a.Address) + " " + notPlain)
	}
	return a, nil
}

// atext is RFC 5322's atext: what a dot-atom's parts are made of.
const atext = "[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+"

// label is a domain name's label: letters, digits and inner hyphens.
const label = "[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?"

// plainRe is local@domain with a dot-atom local part.
var plainRe = regexp.MustCompile(`^` + atext + `(\.` + atext + `)*@` + label + `(\.` + label + `)*$`)

// notPlain says what a recipient must be.
const notPlain = "is not one plain address: write local@domain, without a display name, quotes, <>, spaces or commas"

// plainAddress reports whether s is one address as RCPT TO carries it
// and as a header shows it without quoting: a local part of RFC 5322
// atext and dots, and a domain of letters, digits, dots and hyphens.
// Nothing in it can end the SMTP path, add parameters to the command
// (NOTIFY=, ORCPT=) or name a second recipient.
func plainAddress(s string) bool {
	local, _, _ := strings.Cut(s, "@")
	return len(s) <= 254 && len(local) <= 64 && plainRe.MatchString(s)
}

// parseRecipient parses one recipient, which must be a plain address.
func parseRecipient(s string) (*mail.Address, error) {
	if !plainAddress(s) {
		return nil, errors.New("recipient " + quote(s) + " " + notPlain)
	}
	return &mail.Address{Address: s}, nil
}

// splitRecipients splits a rendered to: on commas, trimming spaces
// around each part and dropping empty ones; the result is never nil. The
// parts are not checked.
func splitRecipients(s string) []string {
	out := []string{}
	for part := range strings.SplitSeq(s, ",") {
		if part = strings.TrimSpace(part); part != "" {
			out = append(out, part)
		}
	}
	return out
}

func quote(s string) string {
	if len(s) > 200 {
		s = s[:200] + "..."
	}
	return strconv.Quote(s)
}
