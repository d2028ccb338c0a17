package handlers

import (
	"errors"
	"fmt"
	"os"
	"strings"
)

// Secret is a credential read from an environment variable or a file. It
// never shows in logs, errors, previews or the outbox: String and
// MarshalJSON print <redacted>.
type Secret struct {
	value string
	err   error // why it could not be read
}

// Redacted is what a secret prints as.
const Redacted = "<redacted>"

// LoadSecret reads a secret from the environment variable env or the
// file path (trailing newlines trimmed). Setting both is an error. A
// variable that is not set or a file that cannot be read is not an error
// here but a secret whose Err says why: the configuration loader checks
// secrets where they must exist (validate, the daemon) and not where they
// need not (logmedic test on an admin's workstation), and a handler
// refuses to send with a secret that has an Err.
func LoadSecret(env, file string) (Secret, error) {
	switch {
	case env != "" && file != "":
		return Secret{}, errors.New("set either the _env or the _file form, not both")
	case env != "":
		v, ok := os.LookupEnv(env)
		switch {
		case !ok:
			return Secret{err: fmt.Errorf("environment variable %s is not set", env)}, nil
		case v == "":
			// An empty credential would silently drop authentication.
			return Secret{err: fmt.Errorf("environment variable %s is empty", env)}, nil
		}
		return Secret{value: v}, nil
	case file != "":
		b, err := os.ReadFile(file)
		if err != nil {
			return Secret{err: fmt.Errorf("read secret file: %w", err)}, nil
		}
		v := strings.TrimRight(string(b), "\r\n")
		if v == "" {
			return Secret{err: fmt.Errorf("secret file %s is empty", file)}, nil
		}
		return Secret{value: v}, nil
	}
	return Secret{}, nil
}

// Err says why the secret could not be read, or nil.
func (s Secret) Err() error { return s.err }

// NewSecret wraps a value known in code (tests).
func NewSecret(v string) Secret { return Secret{value: v} }

// Value returns the secret itself, for the request that needs it.
func (s Secret) Value() string { return s.value }

// IsSet reports whether the secret has a value.
func (s Secret) IsSet() bool { return s.value != "" }

func (s Secret) String() string               { return Redacted }
func (s Secret) GoString() string             { return Redacted }
func (s Secret) MarshalJSON() ([]byte, error) { return []byte(`"` + Redacted + `"`), nil }

// Redact replaces every secret value in s with <redacted>, for error
// texts that may echo a request.
func Redact(s string, secrets ...Secret) string {
	for _, sec := range secrets {
		if sec.value != "" {
			s = strings.ReplaceAll(s, sec.value, Redacted)
		}
	}
	return s
}

// SecretKey names the configuration key a secret came from, prefix_env or
// prefix_file, for errors that point at it.
func SecretKey(prefix, env string) string {
	if env != "" {
		return prefix + "_env"
	}
	return prefix + "_file"
}
