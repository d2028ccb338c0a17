// Package winevttest is a scripted, cross-platform fake of winevt.API: a
// Windows event log held in memory that plays Windows' real failure
// modes, so that the channel source's state machine is tested on any OS.
//
// A Fake holds channels of records with increasing record IDs. A
// subscription reads the records after its position; Append wakes every
// subscription of the channel through its Signal, an auto-reset event
// created set, as Windows does. Bookmarks render as Windows renders them.
// Clear, ClearAndRenumber, Wrap and RemoveChannel make bookmarks stale
// and subscriptions fail as they do on Windows, and any call can be
// scripted to fail (Fail, FailNext, OnCall, FailRender, RejectQuery).
// Events appended to ForwardedEvents keep the record ID and channel their
// XML was written with, as forwarded events do. SetMaxBatchBytes makes EvtNext fail with
// RPC_S_INVALID_BOUND when a batch's XML is too big, after moving the
// subscription's read position past the batch as Windows does.
//
// The fake records every call (Calls, Subscribes) and tracks open handles
// and signals (Open, OpenHandles) so that tests can assert what was
// called and that nothing leaked. It is safe for concurrent use.
package winevttest

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/logmedic/logmedic/watcher/winevt"
)

// maxNext is the largest batch EvtNext accepts.
const maxNext = 1024

// Call is one recorded call of the API.
type Call struct {
	// Name is the method's name: "Subscribe", "Next", "RenderXML", ...
	Name string
	// Arg describes the arguments: a channel, a record ID, a provider.
	Arg string
	// Err is the error the call returned.
	Err error
}

func (c Call) String() string {
	s := c.Name + "(" + c.Arg + ")"
	if c.Err != nil {
		s += " -> " + winevt.ErrName(c.Err)
	}
	return s
}

// SubscribeCall is one recorded call of Subscribe.
type SubscribeCall struct {
	Channel string
	Query   string
	Flags   winevt.SubscribeFlags
	// Bookmark is the bookmark handle's XML at the time of the call, ""
	// when none was given; Record is its record ID, 0 when none.
	Bookmark string
	Record   uint64
	Err      error
}

// Event is a template of an event's XML as EvtRender renders it.
type Event struct {
	Provider string
	EventID  uint32
	Level    uint8
	Time     time.Time
	// Data are the event's EventData values, named Param1, Param2...
	Data []string
	// Message, when set, is rendered in a RenderingInfo block, as in
	// forwarded events.
	Message string
	// RecordID and Channel are the event's EventRecordID and Channel as
	// written; Append replaces them, except in ForwardedEvents (where an
	// event keeps those of the machine that logged it).
	RecordID uint64
	Channel  string
}

// XML renders the event.
func (e Event) XML() string {
	var b strings.Builder
	b.WriteString("<Event xmlns='http://schemas.microsoft.com/win/2004/08/events/event'><System>")
	fmt.Fprintf(&b, "<Provider Name='%s'/><EventID>%d</EventID><Version>0</Version><Level>%d</Level>", xmlEscape(e.Provider), e.EventID, e.Level)
	b.WriteString("<Task>0</Task><Opcode>0</Opcode><Keywords>0x80000000000000</Keywords>")
	if !e.Time.IsZero() {
		fmt.Fprintf(&b, "<TimeCreated SystemTime='%s'/>", e.Time.UTC().Format("2006-01-02T15:04:05.0000000Z"))
	}
	fmt.Fprintf(&b, "<EventRecordID>%d</EventRecordID><Correlation/><Execution ProcessID='4' ThreadID='8'/>", e.RecordID)
	fmt.Fprintf(&b, "<Channel>%s</Channel><Computer>host.example</Computer><Security/></System>", xmlEscape(e.Channel))
	if len(e.Data) > 0 {
		b.WriteString("<EventData>")
		for i, d := range e.Data {
			fmt.Fprintf(&b, "<Data Name='Param%d'>%s</Data>", i+1, xmlEscape(d))
		}
		b.WriteString("</EventData>")
	}
	if e.Message != "" {
		fmt.Fprintf(&b, "<RenderingInfo Culture='en-US'><Message>%s</Message></RenderingInfo>", xmlEscape(e.Message))
	}
	b.WriteString("</Event>")
	return b.String()
}

func xmlEscape(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;", "'", "&apos;", `"`, "&quot;").Replace(s)
}

// Fake is the fake API. Create it with New.
type Fake struct {
	mu       sync.Mutex
	channels map[string]*channel // by lower-case name
	objects  map[winevt.Handle]any
	last     winevt.Handle
	signals  map[*Signal]bool // open signals

	counts   map[string]int
	failures []failure
	hook     func(call string, n int) error
	calls    []Call
	subs     []SubscribeCall

	maxBatchBytes int
	staleErr      error
	renderFail    map[recordKey]error
	rejected      map[string]bool           // queries Subscribe refuses
	publishers    map[string]*publisherInfo // by lower-case name
}

// New returns an empty fake: no channels, no publishers.
func New() *Fake {
	return &Fake{
		channels:   map[string]*channel{},
		objects:    map[winevt.Handle]any{},
		signals:    map[*Signal]bool{},
		counts:     map[string]int{},
		staleErr:   winevt.ErrNotFound,
		renderFail: map[recordKey]error{},
		rejected:   map[string]bool{},
		publishers: map[string]*publisherInfo{},
	}
}

var _ winevt.API = (*Fake)(nil)

type channel struct {
	name    string
	records []record // in record ID order
	nextID  uint64
	subs    map[*subscription]bool
	gone    bool
}

type record struct {
	id  uint64
	xml string
}

func (c *channel) oldest() uint64 {
	if len(c.records) == 0 {
		return 0
	}
	return c.records[0].id
}

func (c *channel) has(id uint64) bool {
	return len(c.records) > 0 && id >= c.records[0].id && id <= c.records[len(c.records)-1].id
}

type subscription struct {
	ch    *channel
	sig   *Signal
	pos   uint64 // the last record ID delivered (or skipped)
	stale bool   // the result set was invalidated: Next fails
}

type eventObj struct {
	channel string
	id      uint64
	xml     string
}

type bookmarkObj struct {
	channel string // "" for an empty bookmark
	id      uint64
}

type publisherObj struct {
	provider string
	locale   uint32
}

type publisherInfo struct {
	messages map[uint32]map[uint32]message // by locale, then event ID
}

// message is a message's text and the error FormatMessage returns with
// it (a partial message).
type message struct {
	text string
	err  error
}

type recordKey struct {
	channel string
	id      uint64
}

type failure struct {
	call     string
	from, to int // call numbers, 1-based
	err      error
}

// AddChannel creates an empty channel; nothing when it exists.
func (f *Fake) AddChannel(name string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.channel(name)
}

func (f *Fake) channel(name string) *channel {
	key := strings.ToLower(name)
	c := f.channels[key]
	if c == nil {
		c = &channel{name: name, nextID: 1, subs: map[*subscription]bool{}}
		f.channels[key] = c
	}
	return c
}

var (
	recordIDRE = regexp.MustCompile(`<EventRecordID>[^<]*</EventRecordID>`)
	channelRE  = regexp.MustCompile(`<Channel>[^<]*</Channel>|<Channel/>`)
	eventIDRE  = regexp.MustCompile(`<EventID[^>]*>\s*(\d+)\s*</EventID>`)
)

// Append writes events to a channel, creating it if needed, and returns
// their record IDs. Each event's <EventRecordID> and (first) <Channel>
// element, when present, are set to its record ID and the channel's
// name, except in ForwardedEvents, where events keep those they were
// written with (those of the machine that logged them). Every
// subscription of the channel is signalled.
func (f *Fake) Append(channelName string, xml ...string) []uint64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	c := f.channel(channelName)
	forwarded := strings.EqualFold(c.name, "ForwardedEvents")
	ids := make([]uint64, 0, len(xml))
	for _, x := range xml {
		id := c.nextID
		c.nextID++
		if !forwarded {
			x = replaceFirst(recordIDRE, x, "<EventRecordID>"+strconv.FormatUint(id, 10)+"</EventRecordID>")
			x = replaceFirst(channelRE, x, "<Channel>"+xmlEscape(c.name)+"</Channel>")
		}
		c.records = append(c.records, record{id: id, xml: x})
		ids = append(ids, id)
	}
	if len(xml) > 0 {
		for s := range c.subs {
			s.sig.Set()
		}
	}
	return ids
}

func replaceFirst(re *regexp.Regexp, s, repl string) string {
	loc := re.FindStringIndex(s)
	if loc == nil {
		return s
	}
	return s[:loc[0]] + repl + s[loc[1]:]
}

// Clear clears a channel as EvtClearLog does: its records are gone
// (record IDs go on from where they were), a bookmark pointing into them
// is stale, and the channel's live subscriptions fail their next Next
// with ERROR_EVT_QUERY_RESULT_STALE (they are signalled so that they
// notice).
func (f *Fake) Clear(channelName string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.clear(channelName)
}

// ClearAndRenumber clears a channel as Clear does, and the records
// written after it are numbered from 1 again, as Windows may do: an old
// bookmark can then name a record of the new log.
func (f *Fake) ClearAndRenumber(channelName string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.clear(channelName).nextID = 1
}

func (f *Fake) clear(channelName string) *channel {
	c := f.channel(channelName)
	c.records = nil
	for s := range c.subs {
		s.stale = true
		s.sig.Set()
	}
	return c
}

// Wrap drops the n oldest records of a channel, as when a full log
// overwrites them. A subscription that had not read them all fails its
// next Next with ERROR_EVT_QUERY_RESULT_STALE.
func (f *Fake) Wrap(channelName string, n int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	c := f.channel(channelName)
	n = min(n, len(c.records))
	if n == 0 {
		return
	}
	lastDropped := c.records[n-1].id
	c.records = append([]record(nil), c.records[n:]...)
	for s := range c.subs {
		if s.pos < lastDropped {
			s.stale = true
			s.sig.Set()
		}
	}
}

// RemoveChannel deletes a channel, as uninstalling its provider does:
// subscribing to it fails with ERROR_EVT_CHANNEL_NOT_FOUND, and so does
// Next on its live subscriptions.
func (f *Fake) RemoveChannel(name string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	key := strings.ToLower(name)
	c := f.channels[key]
	if c == nil {
		return
	}
	c.gone = true
	for s := range c.subs {
		s.sig.Set()
	}
	delete(f.channels, key)
}

// Newest returns the newest record ID of a channel, 0 when there is none.
func (f *Fake) Newest(channelName string) uint64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	c := f.channels[strings.ToLower(channelName)]
	if c == nil || len(c.records) == 0 {
		return 0
	}
	return c.records[len(c.records)-1].id
}

// SetStaleError sets the error a Strict subscription from a bookmark no
// longer in the log fails with: ERROR_NOT_FOUND (the default),
// ERROR_EVT_QUERY_RESULT_STALE or ERROR_EVT_QUERY_RESULT_INVALID_POSITION.
func (f *Fake) SetStaleError(err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.staleErr = err
}

// SetMaxBatchBytes makes Next fail with RPC_S_INVALID_BOUND when the
// events it would return, more than one, total more than n bytes of XML;
// as on Windows, the subscription's position has then already moved past
// them. 0 removes the limit.
func (f *Fake) SetMaxBatchBytes(n int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.maxBatchBytes = n
}

// FailRender makes RenderXML of a record fail with err, every time.
func (f *Fake) FailRender(channelName string, id uint64, err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.renderFail[recordKey{strings.ToLower(channelName), id}] = err
}

// RejectQuery makes Subscribe with this query fail with
// ERROR_EVT_INVALID_QUERY, as Windows does with a query too complex for
// it.
func (f *Fake) RejectQuery(query string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.rejected[query] = true
}

// AddPublisher registers a provider's metadata: OpenPublisherMetadata
// succeeds for it in any locale. Its messages are added with AddMessage.
func (f *Fake) AddPublisher(provider string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.publisher(provider)
}

func (f *Fake) publisher(provider string) *publisherInfo {
	key := strings.ToLower(provider)
	p := f.publishers[key]
	if p == nil {
		p = &publisherInfo{messages: map[uint32]map[uint32]message{}}
		f.publishers[key] = p
	}
	return p
}

// AddMessage gives a provider (registering it) the message of an event
// ID in a locale (0 is the system's). FormatMessage with the metadata of
// a locale the provider has no message in fails with
// ERROR_EVT_MESSAGE_LOCALE_NOT_FOUND, and for an event ID without a
// message with ERROR_EVT_MESSAGE_NOT_FOUND.
func (f *Fake) AddMessage(provider string, locale, eventID uint32, text string) {
	f.AddPartialMessage(provider, locale, eventID, text, nil)
}

// AddPartialMessage is AddMessage for a message FormatMessage returns
// with an error, as Windows returns what it could format with
// ERROR_EVT_UNRESOLVED_VALUE_INSERT and its kin.
func (f *Fake) AddPartialMessage(provider string, locale, eventID uint32, text string, err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	p := f.publisher(provider)
	if p.messages[locale] == nil {
		p.messages[locale] = map[uint32]message{}
	}
	p.messages[locale][eventID] = message{text, err}
}

// RemovePublisher unregisters a provider: opening its metadata fails
// with ERROR_EVT_PUBLISHER_METADATA_NOT_FOUND.
func (f *Fake) RemovePublisher(provider string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.publishers, strings.ToLower(provider))
}

// Fail makes the n-th call (1-based, counted since New) of the method
// named call fail with err. A Next failing with RPC_S_INVALID_BOUND moves
// the read position past the events it would have returned, as Windows
// does.
func (f *Fake) Fail(call string, n int, err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.failures = append(f.failures, failure{call: call, from: n, to: n, err: err})
}

// FailNext makes the next times calls of the method named call fail with
// err.
func (f *Fake) FailNext(call string, times int, err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := f.counts[call]
	f.failures = append(f.failures, failure{call: call, from: n + 1, to: n + times, err: err})
}

// OnCall sets a hook called before every call, with the method's name
// and the call's number (1-based, per method): a non-nil error fails the
// call. The hook runs with the fake locked: it must not call the fake.
// nil removes it.
func (f *Fake) OnCall(hook func(call string, n int) error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.hook = hook
}

// Count returns how many times the method named call was called.
func (f *Fake) Count(call string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.counts[call]
}

// Calls returns the calls made so far, except Signal.Wait.
func (f *Fake) Calls() []Call {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.calls)
}

// Subscribes returns the Subscribe calls made so far.
func (f *Fake) Subscribes() []SubscribeCall {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.subs)
}

// Open returns how many handles and signals are open.
func (f *Fake) Open() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.objects) + len(f.signals)
}

// OpenHandles describes the open handles and signals, for test failures.
func (f *Fake) OpenHandles() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []string
	for h, o := range f.objects {
		out = append(out, fmt.Sprintf("%d: %s", h, describe(o)))
	}
	sort.Strings(out)
	for range f.signals {
		out = append(out, "signal")
	}
	return out
}

func describe(o any) string {
	switch o := o.(type) {
	case *subscription:
		return "subscription to " + o.ch.name
	case *eventObj:
		return fmt.Sprintf("event %s/%d", o.channel, o.id)
	case *bookmarkObj:
		return fmt.Sprintf("bookmark %s/%d", o.channel, o.id)
	case *publisherObj:
		return fmt.Sprintf("publisher %s/%d", o.provider, o.locale)
	}
	return fmt.Sprintf("%T", o)
}

// begin counts a call and returns the scripted error for it. f.mu is
// held.
func (f *Fake) begin(call string) error {
	f.counts[call]++
	n := f.counts[call]
	if f.hook != nil {
		if err := f.hook(call, n); err != nil {
			return err
		}
	}
	for _, fl := range f.failures {
		if fl.call == call && n >= fl.from && n <= fl.to {
			return fl.err
		}
	}
	return nil
}

func (f *Fake) record(name, arg string, err error) {
	f.calls = append(f.calls, Call{Name: name, Arg: arg, Err: err})
}

func (f *Fake) add(o any) winevt.Handle {
	f.last++
	f.objects[f.last] = o
	return f.last
}

// NewSignal implements winevt.API.
func (f *Fake) NewSignal() (winevt.Signal, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.begin("NewSignal"); err != nil {
		f.record("NewSignal", "", err)
		return nil, err
	}
	s := &Signal{f: f, ch: make(chan struct{}, 1)}
	s.ch <- struct{}{} // created set
	f.signals[s] = true
	f.record("NewSignal", "", nil)
	return s, nil
}

// Subscribe implements winevt.API. The query is not evaluated: every
// event of the channel is delivered (but a query given to RejectQuery is
// refused). With an empty channel, the query must be a QueryList; its
// first Path names the channel. After a bookmark no longer in the log, a
// Strict subscription fails (see SetStaleError); one that is not strict
// starts after the record closest to the bookmarked one, as Microsoft
// documents: the first with a greater record ID.
func (f *Fake) Subscribe(sig winevt.Signal, channelName, query string, bookmark winevt.Handle, flags winevt.SubscribeFlags) (winevt.Handle, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	call := SubscribeCall{Channel: channelName, Query: query, Flags: flags}
	if bm, ok := f.objects[bookmark].(*bookmarkObj); ok {
		call.Bookmark, call.Record = renderBookmark(bm), bm.id
	}
	h, err := f.subscribe(sig, channelName, query, bookmark, flags)
	call.Err = err
	f.subs = append(f.subs, call)
	arg := channelName
	if call.Bookmark != "" {
		arg += fmt.Sprintf(", after record %d", call.Record)
	}
	f.record("Subscribe", arg, err)
	return h, err
}

var pathRE = regexp.MustCompile(`Path\s*=\s*(?:"([^"]*)"|'([^']*)')`)

func (f *Fake) subscribe(sig winevt.Signal, channelName, query string, bookmark winevt.Handle, flags winevt.SubscribeFlags) (winevt.Handle, error) {
	if err := f.begin("Subscribe"); err != nil {
		return 0, err
	}
	s, ok := sig.(*Signal)
	if !ok || !f.signals[s] {
		return 0, winevt.ErrInvalidParameter
	}
	if f.rejected[query] {
		return 0, winevt.ErrEvtInvalidQuery
	}
	if channelName == "" {
		m := pathRE.FindStringSubmatch(query)
		if m == nil {
			return 0, winevt.ErrEvtInvalidQuery
		}
		channelName = m[1] + m[2]
	}
	c := f.channels[strings.ToLower(channelName)]
	if c == nil {
		return 0, winevt.ErrEvtChannelNotFound
	}
	sub := &subscription{ch: c, sig: s}
	newest := uint64(0)
	if len(c.records) > 0 {
		newest = c.records[len(c.records)-1].id
	}
	switch flags &^ winevt.SubscribeStrict {
	case winevt.SubscribeToFutureEvents:
		sub.pos = max(newest, c.nextID-1)
	case winevt.SubscribeStartAtOldestRecord:
		sub.pos = 0
	case winevt.SubscribeStartAfterBookmark:
		bm, ok := f.objects[bookmark].(*bookmarkObj)
		if !ok {
			return 0, winevt.ErrInvalidHandle
		}
		same := strings.EqualFold(bm.channel, c.name)
		switch {
		case same && c.has(bm.id):
			sub.pos = bm.id
		case flags&winevt.SubscribeStrict != 0:
			return 0, f.staleErr
		case same:
			// Not strict: after the record closest to the bookmarked one,
			// the first with a greater ID.
			sub.pos = bm.id
		default:
			sub.pos = 0 // another channel's bookmark: from the oldest record
		}
	default:
		return 0, winevt.ErrInvalidParameter
	}
	c.subs[sub] = true
	return f.add(sub), nil
}

// Next implements winevt.API.
func (f *Fake) Next(sub winevt.Handle, events []winevt.Handle) (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	n, arg, err := f.next(sub, events)
	f.record("Next", arg, err)
	return n, err
}

func (f *Fake) next(h winevt.Handle, events []winevt.Handle) (int, string, error) {
	arg := fmt.Sprintf("%d", len(events))
	s, ok := f.objects[h].(*subscription)
	if !ok {
		f.counts["Next"]++
		return 0, arg, winevt.ErrInvalidHandle
	}
	arg = s.ch.name + ", " + arg
	if err := f.begin("Next"); err != nil {
		if errors.Is(err, winevt.ErrRPCInvalidBound) {
			s.pos = f.batchEnd(s, len(events)) // the position has moved
		}
		return 0, arg, err
	}
	if len(events) == 0 || len(events) > maxNext {
		return 0, arg, winevt.ErrInvalidParameter
	}
	if s.ch.gone {
		return 0, arg, winevt.ErrEvtChannelNotFound
	}
	if s.stale {
		return 0, arg, winevt.ErrEvtQueryStale
	}
	batch := f.batch(s, len(events))
	if len(batch) == 0 {
		return 0, arg, winevt.ErrNoMoreItems
	}
	if f.maxBatchBytes > 0 && len(batch) > 1 {
		size := 0
		for _, r := range batch {
			size += len(r.xml)
		}
		if size > f.maxBatchBytes {
			s.pos = batch[len(batch)-1].id
			return 0, arg, winevt.ErrRPCInvalidBound
		}
	}
	for i, r := range batch {
		events[i] = f.add(&eventObj{channel: s.ch.name, id: r.id, xml: r.xml})
	}
	s.pos = batch[len(batch)-1].id
	return len(batch), fmt.Sprintf("%s: records %d-%d", arg, batch[0].id, s.pos), nil
}

// batch returns up to n records after s's position.
func (f *Fake) batch(s *subscription, n int) []record {
	recs := s.ch.records
	i := sort.Search(len(recs), func(i int) bool { return recs[i].id > s.pos })
	return recs[i:min(len(recs), i+n)]
}

// batchEnd is the position after a batch of n.
func (f *Fake) batchEnd(s *subscription, n int) uint64 {
	if b := f.batch(s, n); len(b) > 0 {
		return b[len(b)-1].id
	}
	return s.pos
}

// RenderXML implements winevt.API.
func (f *Fake) RenderXML(event winevt.Handle) ([]byte, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	e, ok := f.objects[event].(*eventObj)
	if !ok {
		f.counts["RenderXML"]++
		f.record("RenderXML", "?", winevt.ErrInvalidHandle)
		return nil, winevt.ErrInvalidHandle
	}
	arg := fmt.Sprintf("%s/%d", e.channel, e.id)
	err := f.begin("RenderXML")
	if err == nil {
		err = f.renderFail[recordKey{strings.ToLower(e.channel), e.id}]
	}
	f.record("RenderXML", arg, err)
	if err != nil {
		return nil, err
	}
	return []byte(e.xml), nil
}

var bookmarkRE = regexp.MustCompile(`<Bookmark\s+Channel=(?:'([^']*)'|"([^"]*)")\s+RecordId=(?:'(\d+)'|"(\d+)")`)

// CreateBookmark implements winevt.API. The XML must be a BookmarkList
// as RenderBookmark writes it; ERROR_INVALID_PARAMETER otherwise.
func (f *Fake) CreateBookmark(xml string) (winevt.Handle, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	bm := &bookmarkObj{}
	err := f.begin("CreateBookmark")
	if err == nil && xml != "" {
		m := bookmarkRE.FindStringSubmatch(xml)
		switch {
		case !strings.HasPrefix(strings.TrimSpace(xml), "<BookmarkList") || !strings.HasSuffix(strings.TrimSpace(xml), "</BookmarkList>"):
			err = winevt.ErrInvalidParameter
		case m != nil:
			bm.channel = m[1] + m[2]
			bm.id, _ = strconv.ParseUint(m[3]+m[4], 10, 64)
		}
	}
	f.record("CreateBookmark", bookmarkArg(bm), err)
	if err != nil {
		return 0, err
	}
	return f.add(bm), nil
}

func bookmarkArg(bm *bookmarkObj) string {
	if bm.channel == "" {
		return "empty"
	}
	return fmt.Sprintf("%s/%d", bm.channel, bm.id)
}

// UpdateBookmark implements winevt.API.
func (f *Fake) UpdateBookmark(bookmark, event winevt.Handle) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	err := f.begin("UpdateBookmark")
	bm, ok1 := f.objects[bookmark].(*bookmarkObj)
	e, ok2 := f.objects[event].(*eventObj)
	if err == nil && (!ok1 || !ok2) {
		err = winevt.ErrInvalidHandle
	}
	arg := "?"
	if ok2 {
		arg = fmt.Sprintf("%s/%d", e.channel, e.id)
	}
	f.record("UpdateBookmark", arg, err)
	if err != nil {
		return err
	}
	bm.channel, bm.id = e.channel, e.id
	return nil
}

// RenderBookmark implements winevt.API.
func (f *Fake) RenderBookmark(bookmark winevt.Handle) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	err := f.begin("RenderBookmark")
	bm, ok := f.objects[bookmark].(*bookmarkObj)
	if err == nil && !ok {
		err = winevt.ErrInvalidHandle
	}
	if err != nil {
		f.record("RenderBookmark", "?", err)
		return "", err
	}
	f.record("RenderBookmark", bookmarkArg(bm), nil)
	return renderBookmark(bm), nil
}

// BookmarkXML is a bookmark's XML as Windows renders it.
func BookmarkXML(channelName string, id uint64) string {
	return renderBookmark(&bookmarkObj{channel: channelName, id: id})
}

func renderBookmark(bm *bookmarkObj) string {
	if bm.channel == "" {
		return "<BookmarkList>\r\n</BookmarkList>"
	}
	return fmt.Sprintf("<BookmarkList>\r\n  <Bookmark Channel='%s' RecordId='%d' IsCurrent='true'/>\r\n</BookmarkList>", bm.channel, bm.id)
}

// OpenPublisherMetadata implements winevt.API: it fails with
// ERROR_EVT_PUBLISHER_METADATA_NOT_FOUND for a provider not added.
func (f *Fake) OpenPublisherMetadata(provider string, locale uint32) (winevt.Handle, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	err := f.begin("OpenPublisherMetadata")
	if err == nil && f.publishers[strings.ToLower(provider)] == nil {
		err = winevt.ErrEvtPublisherMissing
	}
	f.record("OpenPublisherMetadata", fmt.Sprintf("%s, %d", provider, locale), err)
	if err != nil {
		return 0, err
	}
	return f.add(&publisherObj{provider: provider, locale: locale}), nil
}

// FormatMessage implements winevt.API.
func (f *Fake) FormatMessage(publisher, event winevt.Handle) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	msg, arg, err := f.formatMessage(publisher, event)
	f.record("FormatMessage", arg, err)
	return msg, err
}

func (f *Fake) formatMessage(publisher, event winevt.Handle) (string, string, error) {
	err := f.begin("FormatMessage")
	p, ok1 := f.objects[publisher].(*publisherObj)
	e, ok2 := f.objects[event].(*eventObj)
	if err == nil && (!ok1 || !ok2) {
		err = winevt.ErrInvalidHandle
	}
	if err != nil {
		return "", "?", err
	}
	arg := fmt.Sprintf("%s, %d, %s/%d", p.provider, p.locale, e.channel, e.id)
	info := f.publishers[strings.ToLower(p.provider)]
	if info == nil {
		return "", arg, winevt.ErrEvtPublisherMissing
	}
	msgs := info.messages[p.locale]
	if msgs == nil {
		return "", arg, winevt.ErrEvtMessageLocale
	}
	m := eventIDRE.FindStringSubmatch(e.xml)
	if m == nil {
		return "", arg, winevt.ErrEvtMessageNotFound
	}
	id, _ := strconv.ParseUint(m[1], 10, 32)
	msg, ok := msgs[uint32(id)]
	if !ok {
		return "", arg, winevt.ErrEvtMessageNotFound
	}
	return msg.text, arg, msg.err
}

// LogInfo implements winevt.API.
func (f *Fake) LogInfo(channelName string) (winevt.LogInfo, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	err := f.begin("LogInfo")
	c := f.channels[strings.ToLower(channelName)]
	if err == nil && c == nil {
		err = winevt.ErrEvtChannelNotFound
	}
	f.record("LogInfo", channelName, err)
	if err != nil {
		return winevt.LogInfo{}, err
	}
	return winevt.LogInfo{OldestRecord: c.oldest(), Records: uint64(len(c.records))}, nil
}

// Close implements winevt.API.
func (f *Fake) Close(h winevt.Handle) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.counts["Close"]++
	o, ok := f.objects[h]
	if !ok {
		f.record("Close", strconv.FormatUint(uint64(h), 10), winevt.ErrInvalidHandle)
		return winevt.ErrInvalidHandle
	}
	if s, ok := o.(*subscription); ok {
		delete(s.ch.subs, s)
	}
	delete(f.objects, h)
	f.record("Close", describe(o), nil)
	return nil
}

// Signal is the fake's auto-reset wake-up event.
type Signal struct {
	f  *Fake
	ch chan struct{} // holds a value while set
}

// Set sets the signal, as Windows does when events arrive.
func (s *Signal) Set() {
	select {
	case s.ch <- struct{}{}:
	default:
	}
}

// Wait implements winevt.Signal. Wait on a closed signal fails with
// ERROR_INVALID_HANDLE; its calls can be scripted to fail as "Wait".
func (s *Signal) Wait(ctx context.Context, timeout time.Duration) (bool, error) {
	s.f.mu.Lock()
	open := s.f.signals[s]
	err := s.f.begin("Wait")
	s.f.mu.Unlock()
	if err != nil {
		return false, err
	}
	if !open {
		return false, winevt.ErrInvalidHandle
	}
	if err := ctx.Err(); err != nil {
		return false, err
	}
	select {
	case <-s.ch:
		return true, nil
	default:
	}
	if timeout <= 0 {
		return false, nil
	}
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false, ctx.Err()
	case <-s.ch:
		return true, nil
	case <-t.C:
		return false, nil
	}
}

// Close implements winevt.Signal.
func (s *Signal) Close() error {
	s.f.mu.Lock()
	defer s.f.mu.Unlock()
	s.f.counts["CloseSignal"]++
	if !s.f.signals[s] {
		s.f.record("CloseSignal", "", winevt.ErrInvalidHandle)
		return winevt.ErrInvalidHandle
	}
	delete(s.f.signals, s)
	s.f.record("CloseSignal", "", nil)
	return nil
}
