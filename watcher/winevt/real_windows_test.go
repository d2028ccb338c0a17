package winevt

// These tests run the channel source and the wevtapi adapter against the
// real Event Log service: what the other tests could only play with the
// fake (winevttest). They write a few events to the Application log
// under a provider name of their own (logmedic-test-<random>, not
// registered: Windows logs them with "the description cannot be found")
// and read them back; events cannot be deleted from a log, so those
// stay. Run them on Windows with
//
//	go test -v -run Real ./watcher/winevt/
//
// as any user who may read and write the Application log (an
// administrator, or an interactive user: a network logon may lack the
// right, and the tests then skip).

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap/zaptest"
	"golang.org/x/sys/windows"

	"github.com/logmedic/logmedic/watcher"
	"github.com/logmedic/logmedic/watcher/decode"
)

const (
	realChannel = "Application"
	// realTimeout bounds every wait for the Event Log service.
	realTimeout = 30 * time.Second
	// realEventID is the event ID the tests write.
	realEventID = 1
	// realQuiet is how long a test waits, after the events it expects
	// arrived, for duplicates that should not come.
	realQuiet = time.Second
)

// realWriter writes events to the Application log under a provider name
// of its own.
type realWriter struct {
	source string
	h      windows.Handle
}

func newRealWriter(t *testing.T) *realWriter {
	t.Helper()
	var b [6]byte
	if _, err := rand.Read(b[:]); err != nil {
		t.Fatal(err)
	}
	source := "logmedic-test-" + hex.EncodeToString(b[:])
	p, err := windows.UTF16PtrFromString(source)
	if err != nil {
		t.Fatal(err)
	}
	h, err := windows.RegisterEventSource(nil, p)
	if err != nil {
		t.Skipf("cannot write to the %s log: RegisterEventSource(%q): %v", realChannel, source, err)
	}
	t.Cleanup(func() {
		if err := windows.DeregisterEventSource(h); err != nil {
			t.Errorf("DeregisterEventSource: %v", err)
		}
	})
	t.Logf("writing events as provider %s to the %s log", source, realChannel)
	return &realWriter{source: source, h: h}
}

// marker is the text of the i-th event the writer writes.
func (w *realWriter) marker(i int) string { return fmt.Sprintf("%s marker %d", w.source, i) }

// write writes an information event, ID realEventID, whose only insertion
// string is text.
func (w *realWriter) write(t *testing.T, text string) {
	t.Helper()
	s, err := windows.UTF16PtrFromString(text)
	if err != nil {
		t.Fatal(err)
	}
	strs := []*uint16{s}
	err = windows.ReportEvent(w.h, windows.EVENTLOG_INFORMATION_TYPE, 0, realEventID, 0, 1, 0, &strs[0], nil)
	if errors.Is(err, windows.ERROR_ACCESS_DENIED) {
		t.Skipf("cannot write to the %s log: ReportEvent: %v", realChannel, err)
	}
	if err != nil {
		t.Fatalf("ReportEvent(%q): %v", text, err)
	}
}

// writeMarkers writes the markers from to to, inclusive.
func (w *realWriter) writeMarkers(t *testing.T, from, to int) {
	t.Helper()
	for i := from; i <= to; i++ {
		w.write(t, w.marker(i))
	}
}

// markers returns the markers from to to, inclusive.
func (w *realWriter) markers(from, to int) []string {
	var ms []string
	for i := from; i <= to; i++ {
		ms = append(ms, w.marker(i))
	}
	return ms
}

// query selects the writer's events.
func (w *realWriter) query() string {
	return "*[System[Provider[@Name='" + w.source + "']]]"
}

// markerOf returns the writer's marker in ev, or a description of ev
// when it has none.
func (w *realWriter) markerOf(ev *watcher.Event) string {
	for _, f := range ev.EventData {
		if strings.HasPrefix(f.Value, w.source+" marker ") {
			return f.Value
		}
	}
	return fmt.Sprintf("<no marker in record %d: provider %q, event data %+v>", ev.RecordID, ev.Provider.Name, ev.EventData)
}

// realSkipDenied skips the test when err is access denied: the account
// may not read the log.
func realSkipDenied(t *testing.T, what string, err error) {
	t.Helper()
	if errors.Is(err, ErrAccessDenied) {
		t.Skipf("%s: %v: this account may not read the %s log (add it to Event Log Readers, or log on interactively)", what, err, realChannel)
	}
}

// realDecode renders and decodes one event.
func realDecode(api API, h Handle) (watcher.Event, error) {
	var ev watcher.Event
	raw, err := api.RenderXML(h)
	if err != nil {
		return ev, fmt.Errorf("RenderXML: %s: %w", ErrName(err), err)
	}
	if bytes.IndexByte(raw, '\r') >= 0 {
		raw = []byte(decode.NormalizeNewlines(string(raw)))
	}
	if err := (decode.XML{}).Decode(&ev, raw); err != nil {
		return ev, fmt.Errorf("decode %q: %w", raw, err)
	}
	return ev, nil
}

// realNothingWaiting reports EvtNext's ways of saying nothing is ready.
func realNothingWaiting(n int, err error) bool {
	return n == 0 && (err == nil || errors.Is(err, ErrNoMoreItems) || errors.Is(err, ErrInvalidOperation) || errors.Is(err, ErrTimeout))
}

// realRead subscribes to query on the Application log with flags (and
// bookmark, for SubscribeStartAfterBookmark) and reads until want events
// arrived, calling fn on each with its handle, which is closed after.
// Then it reads what else is ready, for at most realQuiet, and returns
// every event. It fails the test when fewer than want arrive within
// realTimeout.
func realRead(t *testing.T, api API, query string, bookmark Handle, flags SubscribeFlags, want int, fn func(Handle, *watcher.Event)) []watcher.Event {
	t.Helper()
	sig, err := api.NewSignal()
	if err != nil {
		t.Fatalf("NewSignal: %v", err)
	}
	defer sig.Close()
	sub, err := api.Subscribe(sig, realChannel, query, bookmark, flags)
	if err != nil {
		realSkipDenied(t, "subscribe", err)
		t.Fatalf("Subscribe(%s, %q, flags %#x): %s: %v", realChannel, query, flags, ErrName(err), err)
	}
	defer api.Close(sub)
	ctx, cancel := context.WithTimeout(context.Background(), realTimeout)
	defer cancel()
	var got []watcher.Event
	hs := make([]Handle, 16)
	var quietUntil time.Time
	// enough reports that want events arrived, and then realQuiet
	// passed.
	enough := func() bool {
		if len(got) < want {
			return false
		}
		if quietUntil.IsZero() {
			quietUntil = time.Now().Add(realQuiet)
		}
		return !time.Now().Before(quietUntil)
	}
	for !enough() {
		// Read whether the signal woke or not: a missed signal is
		// TestRealSignal's and the source test's to find.
		if _, err := sig.Wait(ctx, 200*time.Millisecond); err != nil {
			t.Fatalf("got %d of %d events within %v: %v", len(got), want, realTimeout, err)
		}
		for !enough() {
			n, err := api.Next(sub, hs)
			if realNothingWaiting(n, err) {
				break
			}
			if err != nil {
				for _, h := range hs[:n] {
					api.Close(h)
				}
				t.Fatalf("Next: %s: %v", ErrName(err), err)
			}
			for _, h := range hs[:n] {
				ev, err := realDecode(api, h)
				if err != nil {
					t.Errorf("event %d: %v", len(got), err)
				} else {
					if fn != nil {
						fn(h, &ev)
					}
					got = append(got, ev)
				}
				api.Close(h)
			}
		}
	}
	return got
}

// realBatch is one call of emit.
type realBatch struct {
	records []uint64
	data    []byte
}

// realCollector is a source's emit: it records what it was given.
type realCollector struct {
	w       *realWriter
	mu      sync.Mutex
	markers []string
	batches []realBatch
	errs    []string
	changed chan struct{}
}

func newRealCollector(w *realWriter) *realCollector {
	return &realCollector{w: w, changed: make(chan struct{}, 1)}
}

func (c *realCollector) emit(_ context.Context, items []watcher.Item, cp watcher.Checkpoint) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	b := realBatch{data: bytes.Clone(cp.Data)}
	for _, it := range items {
		if it.Err != nil {
			c.errs = append(c.errs, fmt.Sprintf("%s %s: %v", it.Input, it.Where, it.Err))
			continue
		}
		c.markers = append(c.markers, c.w.markerOf(it.Event))
		b.records = append(b.records, it.Event.RecordID)
	}
	c.batches = append(c.batches, b)
	select {
	case c.changed <- struct{}{}:
	default:
	}
	return nil
}

func (c *realCollector) got() ([]string, []realBatch, []string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.markers), slices.Clone(c.batches), slices.Clone(c.errs)
}

// realRunning is a Source's Run in a goroutine.
type realRunning struct {
	cancel context.CancelFunc
	done   chan error
	once   sync.Once
	err    error
}

func realStart(t *testing.T, src *Source, checkpoints map[string][]byte, emit watcher.Emit) *realRunning {
	ctx, cancel := context.WithCancel(context.Background())
	r := &realRunning{cancel: cancel, done: make(chan error, 1)}
	go func() { r.done <- src.Run(ctx, checkpoints, emit) }()
	t.Cleanup(func() { r.stop() })
	return r
}

// stop cancels Run and returns its error.
func (r *realRunning) stop() error {
	r.once.Do(func() {
		r.cancel()
		select {
		case r.err = <-r.done:
		case <-time.After(realTimeout):
			r.err = fmt.Errorf("Run did not return within %v of its context being cancelled", realTimeout)
		}
	})
	return r.err
}

// wait waits until c holds n markers, then for realQuiet more, and fails
// the test when they do not arrive within realTimeout or Run returns.
func (r *realRunning) wait(t *testing.T, c *realCollector, n int) {
	t.Helper()
	deadline := time.NewTimer(realTimeout)
	defer deadline.Stop()
	for {
		ms, _, _ := c.got()
		if len(ms) >= n {
			break
		}
		select {
		case <-c.changed:
		case err := <-r.done:
			r.once.Do(func() { r.err = err })
			realSkipDenied(t, "Run", err)
			t.Fatalf("Run returned with %d of %d events: %v", len(ms), n, err)
		case <-deadline.C:
			t.Fatalf("%d of %d events within %v: %q", len(ms), n, realTimeout, ms)
		}
	}
	time.Sleep(realQuiet)
}

// TestRealSubscribeReadsWrittenEvents runs the source on the Application
// log: a backlog and live events arrive once each, in order, with a
// checkpoint per batch holding the bookmark of its last event; a restart
// from the last checkpoint reads exactly the events written since.
func TestRealSubscribeReadsWrittenEvents(t *testing.T) {
	w := newRealWriter(t)
	opts := Options{
		Channel:   realChannel,
		Query:     w.query(),
		Providers: []string{w.source},
		Start:     StartBookmark,
		Lookback:  10 * time.Minute,
		// Only the signal can deliver live events within realTimeout.
		SafetyNet: 10 * time.Minute,
		Batch:     2,
		// The provider is not registered: formatting its messages
		// fails, and the events are kept without them.
		Message: true,
		Logger:  zaptest.NewLogger(t),
	}

	// First run: a backlog written before it starts, then live events.
	began := time.Now()
	w.writeMarkers(t, 1, 3)
	c1 := newRealCollector(w)
	r1 := realStart(t, New("real", NewAPI(), opts), nil, c1.emit)
	r1.wait(t, c1, 3)
	w.writeMarkers(t, 4, 6)
	r1.wait(t, c1, 6)
	if err := r1.stop(); err != nil {
		t.Fatalf("first Run: %v", err)
	}
	ms, batches, errs := c1.got()
	if !slices.Equal(ms, w.markers(1, 6)) {
		t.Errorf("first run got %q, want markers 1 to 6 once each, in order", ms)
	}
	if len(errs) > 0 {
		t.Errorf("first run: items with errors: %q", errs)
	}
	if len(batches) == 0 {
		t.Fatal("first run: no checkpoint")
	}
	// Without a saved position it first commits when it began reading.
	cp, since, err := decodeCheckpoint(batches[0].data)
	switch {
	case err != nil:
		t.Errorf("first checkpoint %s: %v", batches[0].data, err)
	case len(batches[0].records) > 0 || cp.Bookmark != "" || since.IsZero():
		t.Errorf("first checkpoint %s with %d events: want when reading began, without events", batches[0].data, len(batches[0].records))
	case since.Before(began.Add(-opts.Lookback-time.Minute)) || since.After(time.Now()):
		t.Errorf("first checkpoint reads since %v, want about %v before %v", since, opts.Lookback, began)
	}
	last := realCheckBatches(t, "first run", batches[1:], 0, opts.Batch)

	// Second run, from the last checkpoint: the events written while
	// it was stopped, then live ones.
	w.writeMarkers(t, 7, 9)
	c2 := newRealCollector(w)
	r2 := realStart(t, New("real", NewAPI(), opts), map[string][]byte{"": last}, c2.emit)
	r2.wait(t, c2, 3)
	w.writeMarkers(t, 10, 11)
	r2.wait(t, c2, 5)
	if err := r2.stop(); err != nil {
		t.Fatalf("second Run: %v", err)
	}
	ms, batches, errs = c2.got()
	if !slices.Equal(ms, w.markers(7, 11)) {
		t.Errorf("restart from %s got %q, want markers 7 to 11 once each, in order", last, ms)
	}
	if len(errs) > 0 {
		t.Errorf("second run: items with errors: %q", errs)
	}
	prev, _ := bookmarkRecord(realBookmarkOf(t, last), realChannel)
	realCheckBatches(t, "second run", batches, prev, opts.Batch)
}

// realBookmarkOf returns a checkpoint's bookmark XML.
func realBookmarkOf(t *testing.T, data []byte) string {
	t.Helper()
	cp, _, err := decodeCheckpoint(data)
	if err != nil {
		t.Fatalf("checkpoint %s: %v", data, err)
	}
	return cp.Bookmark
}

// realCheckBatches checks that each batch has at most batch events, with
// record numbers rising from after prev, and a checkpoint holding the
// bookmark of its last event. It returns the last checkpoint.
func realCheckBatches(t *testing.T, what string, batches []realBatch, prev uint64, batch int) []byte {
	t.Helper()
	var last []byte
	for i, b := range batches {
		cp, _, err := decodeCheckpoint(b.data)
		if err != nil || cp.Bookmark == "" {
			t.Errorf("%s: checkpoint %d = %s (%v), want a bookmark", what, i, b.data, err)
			continue
		}
		last = b.data
		if len(b.records) > batch {
			t.Errorf("%s: batch %d has %d events, more than the batch size %d", what, i, len(b.records), batch)
		}
		for _, rec := range b.records {
			if rec <= prev {
				t.Errorf("%s: record %d after record %d", what, rec, prev)
			}
			prev = rec
		}
		bm, ok := bookmarkRecord(cp.Bookmark, realChannel)
		switch {
		case !ok:
			t.Errorf("%s: checkpoint %d: no RecordId for %s in %q", what, i, realChannel, cp.Bookmark)
		case bm != prev || cp.Record != prev || !strings.EqualFold(cp.Channel, realChannel):
			t.Errorf("%s: checkpoint %d = %s: want the bookmark and record %d (the batch's last event) in channel %s",
				what, i, b.data, prev, realChannel)
		}
	}
	if last == nil {
		t.Fatalf("%s: no checkpoint with a bookmark", what)
	}
	return last
}

// realWithRecord returns a bookmark's XML with its record ID replaced.
func realWithRecord(xml string, rec uint64) string {
	return regexp.MustCompile(`RecordId\s*=\s*['"]\d+['"]`).ReplaceAllString(xml, "RecordId='"+strconv.FormatUint(rec, 10)+"'")
}

// realSubscribeAt subscribes to query from a bookmark given as XML.
func realSubscribeAt(t *testing.T, api API, query, xml string, flags SubscribeFlags) (Handle, error) {
	t.Helper()
	bm, err := api.CreateBookmark(xml)
	if err != nil {
		t.Fatalf("CreateBookmark(%q): %s: %v", xml, ErrName(err), err)
	}
	t.Cleanup(func() { api.Close(bm) })
	sig, err := api.NewSignal()
	if err != nil {
		t.Fatalf("NewSignal: %v", err)
	}
	t.Cleanup(func() { sig.Close() })
	sub, err := api.Subscribe(sig, realChannel, query, bm, flags)
	if err == nil {
		t.Cleanup(func() { api.Close(sub) })
	}
	return sub, err
}

// realFirst returns the record ID of the first event sub delivers, or
// why there is none.
func realFirst(api API, sub Handle) string {
	hs := make([]Handle, 1)
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		n, err := api.Next(sub, hs)
		if realNothingWaiting(n, err) {
			time.Sleep(100 * time.Millisecond)
			continue
		}
		if err != nil {
			return "EvtNext failed: " + ErrName(err)
		}
		defer api.Close(hs[0])
		ev, err := realDecode(api, hs[0])
		if err != nil {
			return err.Error()
		}
		return fmt.Sprintf("record %d", ev.RecordID)
	}
	return "no event within 5s"
}

// TestRealStaleBookmark checks what EvtSubscribe does with bookmarks
// that are not in the log, which docs/windows.md assumes (a strict
// subscription fails with a stale error, a lax one starts after the
// closest record), and with a channel that does not exist.
func TestRealStaleBookmark(t *testing.T) {
	api := NewAPI()
	w := newRealWriter(t)
	w.writeMarkers(t, 1, 2)
	var recs []uint64
	var bookmarks []string
	bm, err := api.CreateBookmark("")
	if err != nil {
		t.Fatalf("CreateBookmark: %v", err)
	}
	defer api.Close(bm)
	realRead(t, api, w.query(), 0, SubscribeStartAtOldestRecord, 2, func(h Handle, ev *watcher.Event) {
		if err := api.UpdateBookmark(bm, h); err != nil {
			t.Fatalf("UpdateBookmark: %v", err)
		}
		xml, err := api.RenderBookmark(bm)
		if err != nil {
			t.Fatalf("RenderBookmark: %v", err)
		}
		if n, ok := bookmarkRecord(xml, realChannel); !ok || n != ev.RecordID {
			t.Errorf("bookmark on record %d is %q", ev.RecordID, xml)
		}
		recs, bookmarks = append(recs, ev.RecordID), append(bookmarks, xml)
	})
	if len(recs) != 2 {
		t.Fatalf("read records %v, want the 2 written", recs)
	}
	t.Logf("bookmark XML: %q", bookmarks[0])
	info, err := api.LogInfo(realChannel)
	if err != nil {
		t.Fatalf("LogInfo: %v", err)
	}
	t.Logf("%s: oldest record %d, %d records, newest %d", realChannel, info.OldestRecord, info.Records, info.Newest())

	t.Run("in the log", func(t *testing.T) {
		// After the first event: exactly the second.
		b, err := api.CreateBookmark(bookmarks[0])
		if err != nil {
			t.Fatalf("CreateBookmark: %v", err)
		}
		defer api.Close(b)
		got := realRead(t, api, w.query(), b, SubscribeStartAfterBookmark|SubscribeStrict, 1, nil)
		var ids []uint64
		for _, ev := range got {
			ids = append(ids, ev.RecordID)
		}
		if !slices.Equal(ids, recs[1:]) {
			t.Errorf("after the bookmark on record %d: records %v, want %v", recs[0], ids, recs[1:])
		}
	})

	strictStale := func(t *testing.T, rec uint64) {
		xml := realWithRecord(bookmarks[0], rec)
		sub, err := realSubscribeAt(t, api, "*", xml, SubscribeStartAfterBookmark|SubscribeStrict)
		if err == nil {
			t.Errorf("a strict subscription after record %d (oldest %d, newest %d) succeeded, and reads %s: "+
				"the assumption in docs/windows.md that a stale bookmark fails EvtSubscribe with EvtSubscribeStrict "+
				"(ERROR_NOT_FOUND, ERROR_EVT_QUERY_RESULT_STALE or ERROR_EVT_QUERY_RESULT_INVALID_POSITION) is wrong here",
				rec, info.OldestRecord, info.Newest(), realFirst(api, sub))
			return
		}
		t.Logf("strict subscription after record %d: %s (%d): %v", rec, ErrName(err), uint32(errnoOf(err)), err)
		if !staleBookmark(err) {
			t.Errorf("strict subscription after record %d: %s: %v, want ERROR_NOT_FOUND, ERROR_EVT_QUERY_RESULT_STALE or ERROR_EVT_QUERY_RESULT_INVALID_POSITION (staleBookmark)",
				rec, ErrName(err), err)
		}
	}

	t.Run("past the newest record", func(t *testing.T) {
		strictStale(t, info.Newest()+1_000_000)
	})

	t.Run("before the oldest record", func(t *testing.T) {
		if info.OldestRecord <= 1 {
			t.Skipf("the %s log's oldest record is %d: it never wrapped nor was cleared, so no record before it is gone", realChannel, info.OldestRecord)
		}
		strictStale(t, info.OldestRecord-1)
		// Without Strict (how ForwardedEvents is read) Windows starts
		// after the closest record.
		sub, err := realSubscribeAt(t, api, "*", realWithRecord(bookmarks[0], info.OldestRecord-1), SubscribeStartAfterBookmark)
		if err != nil {
			t.Errorf("a subscription without Strict after record %d (gone): %s: %v; docs/windows.md assumes it starts after the closest record",
				info.OldestRecord-1, ErrName(err), err)
			return
		}
		t.Logf("a subscription without Strict after record %d (gone) reads %s first", info.OldestRecord-1, realFirst(api, sub))
	})

	t.Run("missing channel", func(t *testing.T) {
		const missing = "logmedic-no-such-channel"
		sig, err := api.NewSignal()
		if err != nil {
			t.Fatalf("NewSignal: %v", err)
		}
		defer sig.Close()
		sub, err := api.Subscribe(sig, missing, "*", 0, SubscribeToFutureEvents)
		if err == nil {
			api.Close(sub)
			t.Fatalf("Subscribe(%s) succeeded", missing)
		}
		t.Logf("Subscribe(%s): %s: %v", missing, ErrName(err), err)
		// Both have the source wait for the channel; anything else
		// ends it or backs off as an error.
		if !errors.Is(err, ErrEvtChannelNotFound) && !errors.Is(err, ErrEvtQueryChannel) {
			t.Errorf("Subscribe(%s): %s: %v, want ERROR_EVT_CHANNEL_NOT_FOUND", missing, ErrName(err), err)
		}
		_, err = api.LogInfo(missing)
		t.Logf("LogInfo(%s): %s: %v", missing, ErrName(err), err)
		if err == nil {
			t.Errorf("LogInfo(%s) succeeded", missing)
		}
	})
}

// errnoOf returns the Windows error in err, or 0.
func errnoOf(err error) windows.Errno {
	var e windows.Errno
	errors.As(err, &e)
	return e
}

// realNoMessage reports the errors documented for an event whose message
// cannot be formatted (see message.go).
func realNoMessage(err error) bool {
	return notRegistered(err) || localeMissing(err) || partialMessage(err) ||
		errors.Is(err, ErrEvtMessageNotFound) || errors.Is(err, ErrEvtMessageIDMissing)
}

// TestRealRenderAndFormat renders and decodes an event written here, and
// formats messages: of that event (its provider is not registered) and
// of the oldest events of other providers in the Application log.
func TestRealRenderAndFormat(t *testing.T) {
	api := NewAPI()
	w := newRealWriter(t)
	written := time.Now()
	w.write(t, w.marker(1))
	realRead(t, api, w.query(), 0, SubscribeStartAtOldestRecord, 1, func(h Handle, ev *watcher.Event) {
		if ev.RecordID == 0 || !strings.EqualFold(ev.Provider.Name, w.source) || !strings.EqualFold(ev.Channel, realChannel) ||
			ev.EventID != realEventID || ev.Level != 4 || ev.Computer == "" {
			t.Errorf("decoded %+v: want a record ID, provider %s, channel %s, event ID %d, level 4 (information), a computer",
				ev, w.source, realChannel, realEventID)
		}
		if m := w.markerOf(ev); m != w.marker(1) {
			t.Errorf("event data: %s, want %q; XML: %s", m, w.marker(1), ev.Raw)
		}
		if d := ev.TimeCreated.Sub(written); d < -time.Minute || d > time.Minute {
			t.Errorf("TimeCreated %v, written at %v", ev.TimeCreated, written)
		}
		pub, err := api.OpenPublisherMetadata(w.source, 0)
		if err != nil {
			t.Logf("OpenPublisherMetadata(%s), not registered: %s: %v", w.source, ErrName(err), err)
			if !notRegistered(err) {
				t.Errorf("OpenPublisherMetadata(%s), not registered: %s: %v, want ERROR_EVT_PUBLISHER_METADATA_NOT_FOUND, ERROR_NOT_FOUND or ERROR_FILE_NOT_FOUND (notRegistered)",
					w.source, ErrName(err), err)
			}
		} else {
			msg, err := api.FormatMessage(pub, h)
			api.Close(pub)
			t.Logf("OpenPublisherMetadata(%s), not registered, succeeded; FormatMessage: %q, %s: %v", w.source, msg, ErrName(err), err)
			if err != nil && !realNoMessage(err) {
				t.Errorf("FormatMessage: %s: %v, want a message or a documented no-message error", ErrName(err), err)
			}
		}
		// What the source does with it: no message, and no retry.
		m := newMessageCache(api, 0, time.Now)
		defer m.close()
		msg, err := m.format(w.source, h)
		t.Logf("message cache: %q, %v", msg, err)
		if err != nil && transient(err) {
			t.Errorf("message cache: %v: a transient error has the source read the event again", err)
		}
	})

	// Other providers' events: the oldest few of each of up to 10
	// providers in the log.
	seen := map[string]bool{}
	var formatted, none int
	var fail []string
	realRead(t, api, "*", 0, SubscribeStartAtOldestRecord, 1, func(h Handle, ev *watcher.Event) {
		p := ev.Provider.Name
		if p == "" || strings.EqualFold(p, w.source) || seen[strings.ToLower(p)] || len(seen) >= 10 {
			return
		}
		seen[strings.ToLower(p)] = true
		pub, err := api.OpenPublisherMetadata(p, 0)
		if err != nil {
			t.Logf("%s (record %d, event %d): OpenPublisherMetadata: %s: %v", p, ev.RecordID, ev.EventID, ErrName(err), err)
			if !realNoMessage(err) {
				fail = append(fail, fmt.Sprintf("%s: OpenPublisherMetadata: %s: %v", p, ErrName(err), err))
			}
			none++
			return
		}
		defer api.Close(pub)
		msg, err := api.FormatMessage(pub, h)
		switch {
		case err == nil && cleanMessage(msg) != "":
			formatted++
			t.Logf("%s (record %d, event %d): %q", p, ev.RecordID, ev.EventID, abbrevReal(cleanMessage(msg)))
		case err == nil:
			fail = append(fail, fmt.Sprintf("%s (record %d, event %d): FormatMessage returned no error and no text", p, ev.RecordID, ev.EventID))
		case realNoMessage(err):
			none++
			t.Logf("%s (record %d, event %d): no message: %s, partial %q", p, ev.RecordID, ev.EventID, ErrName(err), abbrevReal(cleanMessage(msg)))
		default:
			fail = append(fail, fmt.Sprintf("%s (record %d, event %d): FormatMessage: %s: %v", p, ev.RecordID, ev.EventID, ErrName(err), err))
		}
	})
	t.Logf("other providers: %d messages formatted, %d without a message", formatted, none)
	for _, f := range fail {
		t.Errorf("%s: want a message or a documented no-message error (ERROR_EVT_PUBLISHER_METADATA_NOT_FOUND, ERROR_NOT_FOUND, ERROR_FILE_NOT_FOUND, ERROR_EVT_MESSAGE_NOT_FOUND, ERROR_EVT_MESSAGE_ID_NOT_FOUND, the locale errors or 15029-15031)", f)
	}
}

func abbrevReal(s string) string {
	if r := []rune(s); len(r) > 100 {
		return string(r[:100]) + "…"
	}
	return s
}

// TestRealLogInfo checks EvtGetLogInfo's numbers (the EVT_VARIANT
// reading) against the record numbers of events written here.
func TestRealLogInfo(t *testing.T) {
	api := NewAPI()
	w := newRealWriter(t)
	w.write(t, w.marker(1))
	first := realRead(t, api, w.query(), 0, SubscribeStartAtOldestRecord, 1, nil)
	rec := first[0].RecordID
	info, err := api.LogInfo(realChannel)
	if err != nil {
		realSkipDenied(t, "LogInfo", err)
		t.Fatalf("LogInfo(%s): %s: %v", realChannel, ErrName(err), err)
	}
	t.Logf("%s: %+v, newest %d; written record %d", realChannel, info, info.Newest(), rec)
	if info.Records == 0 || info.OldestRecord == 0 || info.OldestRecord > rec || info.Newest() < rec {
		t.Errorf("LogInfo = %+v (newest %d), want records from oldest to newest around record %d, just written", info, info.Newest(), rec)
	}
	// Another event: the newest record moves on.
	w.write(t, w.marker(2))
	got := realRead(t, api, w.query(), 0, SubscribeStartAtOldestRecord, 2, nil)
	rec2 := got[len(got)-1].RecordID
	info2, err := api.LogInfo(realChannel)
	if err != nil {
		t.Fatalf("LogInfo: %v", err)
	}
	if rec2 <= rec || info2.Newest() < rec2 || info2.Newest() <= info.Newest() {
		t.Errorf("after writing record %d: LogInfo = %+v (newest %d), before %+v (newest %d)", rec2, info2, info2.Newest(), info, info.Newest())
	}
}

// TestRealSignal checks the signal on real Windows events: created set,
// auto-reset, woken by SetEvent, and left at once when its context is
// done, with no stop left over for the next wait.
func TestRealSignal(t *testing.T) {
	api := NewAPI()
	sig, err := api.NewSignal()
	if err != nil {
		t.Fatalf("NewSignal: %v", err)
	}
	closed := false
	t.Cleanup(func() {
		if !closed {
			sig.Close()
		}
	})
	ctx := context.Background()
	timed := func(ctx context.Context, timeout time.Duration) (bool, time.Duration, error) {
		start := time.Now()
		woke, err := sig.Wait(ctx, timeout)
		return woke, time.Since(start), err
	}

	if woke, d, err := timed(ctx, 10*time.Second); !woke || err != nil || d > time.Second {
		t.Errorf("first Wait = %v, %v after %v: want set at creation", woke, err, d)
	}
	// Auto-reset: not set any more.
	if woke, d, err := timed(ctx, 100*time.Millisecond); woke || err != nil || d < 50*time.Millisecond || d > 5*time.Second {
		t.Errorf("second Wait(100ms) = %v, %v after %v: want a time-out", woke, err, d)
	}
	// Set as Windows sets it when events arrive.
	s, ok := sig.(*signal)
	if !ok {
		t.Fatalf("NewSignal returned a %T", sig)
	}
	if err := windows.SetEvent(s.event); err != nil {
		t.Fatal(err)
	}
	if woke, d, err := timed(ctx, 10*time.Second); !woke || err != nil || d > time.Second {
		t.Errorf("Wait after SetEvent = %v, %v after %v", woke, err, d)
	}
	if woke, _, err := timed(ctx, 50*time.Millisecond); woke || err != nil {
		t.Errorf("Wait after the wake-up = %v, %v: want a time-out (auto-reset)", woke, err)
	}

	// Cancelled during the wait: left at once.
	cctx, cancel := context.WithCancel(ctx)
	time.AfterFunc(100*time.Millisecond, cancel)
	if woke, d, err := timed(cctx, time.Minute); woke || !errors.Is(err, context.Canceled) || d > 5*time.Second {
		t.Errorf("Wait cancelled after 100ms = %v, %v after %v: want context.Canceled at once", woke, err, d)
	}
	// Cancelled before: no wait.
	if woke, d, err := timed(cctx, time.Minute); woke || !errors.Is(err, context.Canceled) || d > time.Second {
		t.Errorf("Wait with a done context = %v, %v after %v", woke, err, d)
	}
	// The stop of the cancelled wait does not end the next one.
	if woke, d, err := timed(ctx, 200*time.Millisecond); woke || err != nil || d < 100*time.Millisecond {
		t.Errorf("Wait after a cancelled one = %v, %v after %v: want a time-out", woke, err, d)
	}
	// A wake-up during a wait.
	time.AfterFunc(100*time.Millisecond, func() { windows.SetEvent(s.event) })
	if woke, d, err := timed(ctx, time.Minute); !woke || err != nil || d > 5*time.Second {
		t.Errorf("Wait with SetEvent after 100ms = %v, %v after %v", woke, err, d)
	}

	closed = true
	if err := sig.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
}
