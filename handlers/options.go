package handlers

import (
	"fmt"
	"time"

	"go.uber.org/zap"
	"go.yaml.in/yaml/v3"
)

// Options are what New of every handler type receives besides its Config.
type Options struct {
	// Name is the handler's name in the configuration.
	Name string
	// Logger is the handler's logger, already carrying the handler's name
	// (the caller adds it); never nil (use zap.NewNop()).
	Logger *zap.Logger
	// State is durable key/value storage private to this handler (a
	// bucket of the outbox store), for handlers that keep state across
	// restarts, such as firing alerts. Nil in logmedic test --dry-run.
	State KV
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// SecretEnv names every environment variable the configuration reads
	// secrets from (all handlers' *_env keys), and Secrets holds every
	// secret value: a handler that runs programs keeps the variables out
	// of their environment and redacts the values from their output.
	SecretEnv []string
	Secrets   []Secret
}

// Clock returns o.Now or time.Now.
func (o Options) Clock() func() time.Time {
	if o.Now != nil {
		return o.Now
	}
	return time.Now
}

// KV is durable key/value storage.
type KV interface {
	Get(key string) ([]byte, bool, error)
	Put(key string, value []byte) error
	Delete(key string) error
	// Each calls fn for every pair in key order; fn must not modify the KV.
	Each(fn func(key string, value []byte) error) error
}

// Param is a template an action may set with with:, and its meaning.
type Param struct {
	Name string
	Doc  string
}

// FieldError is a problem with one key of a handler's configuration; the
// configuration loader reports it at that key's position.
type FieldError struct {
	Key string
	Msg string
}

func (e *FieldError) Error() string { return fmt.Sprintf("%s: %s", e.Key, e.Msg) }

// Errf returns a *FieldError.
func Errf(key, format string, args ...any) error {
	return &FieldError{Key: key, Msg: fmt.Sprintf(format, args...)}
}

// NodeError is a configuration error inside a value, such as a template
// deep in a webhook body; the loader reports it at Node's position.
type NodeError struct {
	Node *yaml.Node
	Err  error
}

func (e *NodeError) Error() string { return e.Err.Error() }
func (e *NodeError) Unwrap() error { return e.Err }
