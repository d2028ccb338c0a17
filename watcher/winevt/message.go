package winevt

import (
	"errors"
	"fmt"
	"strings"
	"syscall"
	"time"

	"github.com/logmedic/logmedic/watcher/decode"
)

const (
	// maxPublishers bounds the publisher-metadata cache; the least
	// recently used provider is evicted, its handles closed.
	maxPublishers = 256
	// missingRetry is how long a provider whose metadata is not
	// registered is remembered as missing: a software install may add
	// it.
	missingRetry = 10 * time.Minute
	// failedRetry is how long any other failure to open a provider's
	// metadata, or a provider whose messages keep failing for a reason
	// that may go away (see messageCache.fail), is remembered, so that it
	// is not retried for every event.
	failedRetry = 30 * time.Second
	// messageTries is how many times in a row a message is formatted,
	// at once, when it fails for a reason that may go away (transient),
	// before the event is kept without it and its provider remembered as
	// failing.
	messageTries = 3
)

// rememberedError is the error of a provider remembered as failing:
// nothing was tried.
type rememberedError struct{ err error }

func (e *rememberedError) Error() string { return e.err.Error() + " (remembered)" }
func (e *rememberedError) Unwrap() error { return e.err }

// remembered reports an error of format that tried nothing: the
// provider is remembered as failing.
func remembered(err error) bool {
	var re *rememberedError
	return errors.As(err, &re)
}

// errFileNotFound is ERROR_FILE_NOT_FOUND: a classic event source's
// message file is gone.
const errFileNotFound = syscall.Errno(2)

// messageCache renders event messages with EvtFormatMessage through one
// publisher-metadata handle per provider, opened on first use and kept
// until a transient failure (the Event Log service went away: see
// transient) drops it. It is used by one goroutine.
type messageCache struct {
	api    API
	locale uint32
	now    func() time.Time
	pubs   map[string]*cachedPublisher // by lower-case provider name
	tick   uint64
}

// cachedPublisher is a provider's metadata, or the memory of its
// absence.
type cachedPublisher struct {
	h       Handle // metadata in the cache's locale, or the system's
	hLocale uint32 // the locale h was opened in
	// sys is the metadata in the system's locale, opened when a message
	// is missing in the cache's locale; sysErr and sysAt remember a
	// failure to open it.
	sys    Handle
	sysErr error
	sysAt  time.Time
	// err is why h could not be opened, at failedAt; retried after
	// retry.
	err      error
	failedAt time.Time
	retry    time.Duration
	used     uint64
}

func newMessageCache(api API, locale uint32, now func() time.Time) *messageCache {
	return &messageCache{api: api, locale: locale, now: now, pubs: map[string]*cachedPublisher{}}
}

// localeMissing reports an error that the system's locale may not have.
func localeMissing(err error) bool {
	return errors.Is(err, ErrEvtMessageLocale) || errors.Is(err, ErrMUIFileNotFound)
}

// partialMessage reports an error EvtFormatMessage returns with the
// part of the message it could format.
func partialMessage(err error) bool {
	return errors.Is(err, ErrEvtUnresolvedInsert) || errors.Is(err, ErrEvtUnresolvedParam) || errors.Is(err, ErrEvtMaxInserts)
}

// notRegistered reports an error saying the provider has no metadata.
func notRegistered(err error) bool {
	return errors.Is(err, ErrEvtPublisherMissing) || errors.Is(err, ErrNotFound) || errors.Is(err, errFileNotFound)
}

// format returns the message of event, from provider's metadata in the
// cache's locale, falling back to the system's locale when the message
// or the metadata is missing in that one. A partial message (an insert
// Windows could not resolve) is returned without error. After a
// transient error, which format returns, the provider's metadata is
// closed and dropped, to be opened again. For a provider remembered as
// failing (its metadata missing, or see fail) it returns the remembered
// error, wrapped in a rememberedError, without calling Windows.
func (m *messageCache) format(provider string, event Handle) (string, error) {
	p, err := m.publisher(provider)
	if err != nil {
		return "", fmt.Errorf("open publisher metadata of %s: %s: %w", provider, ErrName(err), err)
	}
	msg, err := m.api.FormatMessage(p.h, event)
	if err != nil && p.hLocale != 0 && localeMissing(err) {
		sys, serr := m.system(provider, p)
		if serr != nil && transient(serr) {
			err = serr
		} else if serr == nil {
			msg, err = m.api.FormatMessage(sys, event)
		}
	}
	if err != nil && partialMessage(err) {
		if msg = cleanMessage(msg); msg != "" {
			return msg, nil
		}
	}
	if err != nil {
		if transient(err) {
			m.drop(provider)
		}
		return "", fmt.Errorf("format message of %s: %s: %w", provider, ErrName(err), err)
	}
	return cleanMessage(msg), nil
}

// drop closes and forgets provider's metadata.
func (m *messageCache) drop(provider string) {
	key := strings.ToLower(provider)
	if p := m.pubs[key]; p != nil {
		m.closePublisher(p)
		delete(m.pubs, key)
	}
}

// publisher returns provider's cache entry with its metadata open.
func (m *messageCache) publisher(provider string) (*cachedPublisher, error) {
	m.tick++
	key := strings.ToLower(provider)
	now := m.now()
	p := m.pubs[key]
	if p != nil {
		p.used = m.tick
		if p.h != 0 {
			return p, nil
		}
		if now.Sub(p.failedAt) < p.retry {
			return nil, &rememberedError{p.err}
		}
	} else {
		if len(m.pubs) >= maxPublishers {
			m.evict()
		}
		p = &cachedPublisher{used: m.tick}
		m.pubs[key] = p
	}
	h, locale, err := m.open(provider)
	if err != nil && transient(err) {
		delete(m.pubs, key) // not the provider's fault: opened again next time
		return nil, err
	}
	if err != nil {
		p.err, p.failedAt, p.retry = err, now, failedRetry
		if notRegistered(err) {
			p.retry = missingRetry
		}
		return nil, err
	}
	p.h, p.hLocale, p.err = h, locale, nil
	return p, nil
}

// fail remembers provider as failing, with err, for failedRetry: its
// messages keep failing for a reason that may go away (transient), and
// trying again for each of its events would cost every event the
// failure's time. Its metadata is closed; it is opened again after
// failedRetry, or when the cache is closed (the service went away).
func (m *messageCache) fail(provider string, err error) {
	key := strings.ToLower(provider)
	p := m.pubs[key]
	if p == nil {
		if len(m.pubs) >= maxPublishers {
			m.evict()
		}
		m.tick++
		p = &cachedPublisher{used: m.tick}
		m.pubs[key] = p
	}
	m.closePublisher(p)
	p.sysErr = nil
	p.err, p.failedAt, p.retry = err, m.now(), failedRetry
}

// open opens provider's metadata in the cache's locale, or in the
// system's when that one is missing.
func (m *messageCache) open(provider string) (Handle, uint32, error) {
	h, err := m.api.OpenPublisherMetadata(provider, m.locale)
	if err != nil && m.locale != 0 && localeMissing(err) {
		h, err = m.api.OpenPublisherMetadata(provider, 0)
		return h, 0, err
	}
	return h, m.locale, err
}

// system returns provider's metadata in the system's locale.
func (m *messageCache) system(provider string, p *cachedPublisher) (Handle, error) {
	if p.sys != 0 {
		return p.sys, nil
	}
	now := m.now()
	if p.sysErr != nil && now.Sub(p.sysAt) < missingRetry {
		return 0, p.sysErr
	}
	h, err := m.api.OpenPublisherMetadata(provider, 0)
	if err != nil {
		if !transient(err) {
			p.sysErr, p.sysAt = err, now
		}
		return 0, err
	}
	p.sys, p.sysErr = h, nil
	return h, nil
}

// evict drops the least recently used provider.
func (m *messageCache) evict() {
	var oldest string
	var p *cachedPublisher
	for k, q := range m.pubs {
		if p == nil || q.used < p.used {
			oldest, p = k, q
		}
	}
	if p != nil {
		m.closePublisher(p)
		delete(m.pubs, oldest)
	}
}

func (m *messageCache) closePublisher(p *cachedPublisher) {
	if p.h != 0 {
		_ = m.api.Close(p.h)
		p.h = 0
	}
	if p.sys != 0 {
		_ = m.api.Close(p.sys)
		p.sys = 0
	}
}

// close closes every handle the cache holds.
func (m *messageCache) close() {
	for k, p := range m.pubs {
		m.closePublisher(p)
		delete(m.pubs, k)
	}
}

// cleanMessage drops the NULs and line breaks EvtFormatMessage ends a
// message with and, as the XML decoder does for RenderingInfo, turns
// CRLF into LF.
func cleanMessage(s string) string {
	s = strings.TrimRight(s, "\x00 \t\r\n")
	if strings.IndexByte(s, '\r') >= 0 {
		s = decode.NormalizeNewlines(s)
	}
	return s
}
