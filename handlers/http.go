package handlers

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"
)

// TLS is the TLS setting shared by the HTTP handlers.
type TLS struct {
	CAFile             string `yaml:"ca_file" doc:"PEM file of CA certificates to trust instead of the system's."`
	InsecureSkipVerify bool   `yaml:"insecure_skip_verify" doc:"Do not verify the server's certificate (testing only)."`
	ServerName         string `yaml:"server_name" doc:"Name to verify the certificate against, when it differs from the URL's host."`
}

// Config returns the *tls.Config for t.
func (t *TLS) Config() (*tls.Config, error) {
	c := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: t.ServerName, InsecureSkipVerify: t.InsecureSkipVerify}
	if t.CAFile != "" {
		pem, err := os.ReadFile(t.CAFile)
		if err != nil {
			return nil, fmt.Errorf("read ca_file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("ca_file %s holds no PEM certificate", t.CAFile)
		}
		c.RootCAs = pool
	}
	return c, nil
}

// NewHTTPClient returns a client with t's TLS settings that does not
// follow redirects to other hosts with credentials.
func NewHTTPClient(t *TLS) (*http.Client, error) {
	tc, err := t.Config()
	if err != nil {
		return nil, err
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = tc
	return &http.Client{Transport: tr}, nil
}

// Response is what an HTTP handler needs of a reply.
type Response struct {
	Status int
	Body   []byte // at most 1 MiB
}

// maxBody bounds what is read of a reply.
const maxBody = 1 << 20

// Do sends req and classifies the outcome: a transport error, 408, 429 or
// 5xx can succeed later (retry true); any other status outside 2xx cannot.
// Errors name the method and the URL without credentials, and never hold
// secrets.
func Do(ctx context.Context, client *http.Client, req *http.Request, secrets ...Secret) (resp Response, retry bool, err error) {
	req = req.WithContext(ctx)
	r, err := client.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return resp, true, fmt.Errorf("%s %s: %s", req.Method, RedactURL(req.URL), Redact(err.Error(), secrets...))
	}
	defer r.Body.Close()
	resp.Status = r.StatusCode
	resp.Body, _ = io.ReadAll(io.LimitReader(r.Body, maxBody))
	io.Copy(io.Discard, r.Body)
	if r.StatusCode >= 200 && r.StatusCode < 300 {
		return resp, false, nil
	}
	retry = r.StatusCode >= 500 || r.StatusCode == http.StatusTooManyRequests || r.StatusCode == http.StatusRequestTimeout
	// Redact the whole reply before cutting it, so that no part of a
	// secret the cut splits can show.
	snippet := Redact(string(bytes.TrimSpace(resp.Body)), secrets...)
	if len(snippet) > 300 {
		snippet = strings.ToValidUTF8(snippet[:300], "") + "..."
	}
	return resp, retry, fmt.Errorf("%s %s: %s: %s", req.Method, RedactURL(req.URL), r.Status, snippet)
}

// JSONRequest builds a request with a JSON body encoded from v: event text
// inside v cannot break out of the JSON.
func JSONRequest(method, rawURL string, v any) (*http.Request, error) {
	var body io.Reader
	if v != nil {
		b, err := json.Marshal(v)
		if err != nil {
			return nil, err
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, rawURL, body)
	if err != nil {
		return nil, err
	}
	if v != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", "logmedic")
	return req, nil
}

// RedactURL returns u without a password and without query values, which
// often carry tokens.
func RedactURL(u *url.URL) string {
	c := *u
	if c.User != nil {
		c.User = url.User(c.User.Username())
	}
	if c.RawQuery != "" {
		q := c.Query()
		for k := range q {
			q.Set(k, "REDACTED")
		}
		c.RawQuery = q.Encode()
	}
	return c.String()
}

// Timeout bounds one delivery attempt; handlers use it when the context
// has no deadline of its own.
const Timeout = 30 * time.Second
