package handlers

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"unicode/utf8"
)

// NewClient returns the HTTP client for tls that the HTTP handlers use: it
// does not follow redirects (a redirected POST becomes a GET that
// "succeeds" without delivering), and it redacts secrets from error
// replies before anything reads them, since servers echo requests.
func NewClient(tls *TLS, secrets []Secret) (*http.Client, error) {
	c, err := NewHTTPClient(tls)
	if err != nil {
		return nil, err
	}
	base := c.Transport
	if base == nil {
		base = http.DefaultTransport
	}
	c.Transport = &redactTransport{base: base, secrets: secrets}
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return c, nil
}

type redactTransport struct {
	base    http.RoundTripper
	secrets []Secret
}

func (t *redactTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := t.base.RoundTrip(r)
	if err != nil || resp.StatusCode/100 == 2 || len(t.secrets) == 0 {
		return resp, err
	}
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	resp.Body.Close()
	b = []byte(Redact(string(b), t.secrets...))
	resp.Body = io.NopCloser(bytes.NewReader(b))
	resp.ContentLength = int64(len(b))
	resp.Header.Del("Content-Length")
	return resp, nil
}

// SecretForms returns the secrets to redact for values: each value as
// is, JSON-escaped and base64-encoded, as a server echoing a request may
// show it.
func SecretForms(values ...string) []Secret {
	var out []Secret
	add := func(s string) {
		if s == "" {
			return
		}
		for _, o := range out {
			if o.Value() == s {
				return
			}
		}
		out = append(out, NewSecret(s))
	}
	for _, v := range values {
		add(v)
		if b, err := json.Marshal(v); err == nil {
			add(strings.Trim(string(b), `"`))
		}
		var buf bytes.Buffer
		enc := json.NewEncoder(&buf)
		enc.SetEscapeHTML(false)
		if enc.Encode(v) == nil {
			add(strings.Trim(strings.TrimSpace(buf.String()), `"`))
		}
		add(base64.StdEncoding.EncodeToString([]byte(v)))
	}
	// Longest first, so that a secret holding another is replaced whole.
	slices.SortStableFunc(out, func(a, b Secret) int { return len(b.Value()) - len(a.Value()) })
	return out
}

// RedactErr rewrites err's text without secrets.
func RedactErr(err error, secrets []Secret) error {
	if err == nil {
		return nil
	}
	s := Redact(err.Error(), secrets...)
	if s == err.Error() {
		return err
	}
	return errors.New(s)
}

// ErrTimeout is the cause of a delivery cut by Timeout.
var ErrTimeout = errors.New("delivery timed out")

// WithTimeout bounds a delivery by Timeout unless ctx already
// has a deadline.
func WithTimeout(ctx context.Context) (context.Context, context.CancelFunc) {
	if _, ok := ctx.Deadline(); ok {
		return context.WithCancel(ctx)
	}
	return context.WithTimeoutCause(ctx, Timeout, ErrTimeout)
}

// OneLine replaces control characters (CR, LF and the like) with spaces,
// for header values and single-line fields.
func OneLine(s string) string {
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return ' '
		}
		return r
	}, s)
}

// KeyLocks serializes deliveries per dedup key, so that two actions for
// one problem cannot both search, find nothing and both create a ticket.
type KeyLocks struct {
	mu sync.Mutex
	m  map[string]*keyLock
}

type keyLock struct {
	ch      chan struct{}
	waiters int
}

// Lock takes key's lock, or gives up when ctx ends.
func (k *KeyLocks) Lock(ctx context.Context, key string) (unlock func(), err error) {
	k.mu.Lock()
	if k.m == nil {
		k.m = map[string]*keyLock{}
	}
	l := k.m[key]
	if l == nil {
		l = &keyLock{ch: make(chan struct{}, 1)}
		k.m[key] = l
	}
	l.waiters++
	k.mu.Unlock()
	release := func() {
		k.mu.Lock()
		if l.waiters--; l.waiters == 0 {
			delete(k.m, key)
		}
		k.mu.Unlock()
	}
	select {
	case l.ch <- struct{}{}:
		return func() { <-l.ch; release() }, nil
	case <-ctx.Done():
		release()
		return nil, context.Cause(ctx)
	}
}

// SummaryLine makes s one line of at most max runes: control characters
// become spaces, runs of spaces collapse, and a cut ends in "…".
func SummaryLine(s string, max int) string {
	s = strings.Join(strings.Fields(OneLine(s)), " ")
	if utf8.RuneCountInString(s) <= max {
		return s
	}
	r := []rune(s)
	return strings.TrimSpace(string(r[:max-1])) + "…"
}

// HashKey returns the first n hex digits of the SHA-256 of key.
func HashKey(key string, n int) string {
	sum := sha256.Sum256([]byte(key))
	return hex.EncodeToString(sum[:])[:n]
}
