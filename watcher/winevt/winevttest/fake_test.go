package winevttest_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/logmedic/logmedic/watcher/winevt"
	"github.com/logmedic/logmedic/watcher/winevt/winevttest"
)

const ch = "Application"

func ev(id uint32) string {
	return winevttest.Event{Provider: "P", EventID: id, Time: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}.XML()
}

// next reads one batch and returns the record IDs in it, closing the
// event handles.
func next(t *testing.T, f *winevttest.Fake, sub winevt.Handle, n int) ([]string, error) {
	t.Helper()
	hs := make([]winevt.Handle, n)
	got, err := f.Next(sub, hs)
	var ids []string
	for _, h := range hs[:got] {
		x, rerr := f.RenderXML(h)
		if rerr != nil {
			t.Fatalf("RenderXML: %v", rerr)
		}
		s := string(x)
		i := strings.Index(s, "<EventRecordID>") + len("<EventRecordID>")
		ids = append(ids, s[i:i+strings.Index(s[i:], "<")])
		if err := f.Close(h); err != nil {
			t.Fatal(err)
		}
	}
	return ids, err
}

func subscribe(t *testing.T, f *winevttest.Fake, bm winevt.Handle, flags winevt.SubscribeFlags) (winevt.Signal, winevt.Handle, error) {
	t.Helper()
	sig, err := f.NewSignal()
	if err != nil {
		t.Fatal(err)
	}
	sub, err := f.Subscribe(sig, ch, "*", bm, flags)
	return sig, sub, err
}

func TestReadAndBookmark(t *testing.T) {
	f := winevttest.New()
	if ids := f.Append(ch, ev(1), ev(2), ev(3)); len(ids) != 3 || ids[0] != 1 || ids[2] != 3 {
		t.Fatalf("Append = %v", ids)
	}
	sig, sub, err := subscribe(t, f, 0, winevt.SubscribeStartAtOldestRecord)
	if err != nil {
		t.Fatal(err)
	}
	if ids, err := next(t, f, sub, 2); err != nil || strings.Join(ids, ",") != "1,2" {
		t.Fatalf("Next = %v, %v", ids, err)
	}
	// The bookmark, as Windows renders it.
	bm, _ := f.CreateBookmark("")
	if x, _ := f.RenderBookmark(bm); x != "<BookmarkList>\r\n</BookmarkList>" {
		t.Errorf("empty bookmark = %q", x)
	}
	hs := make([]winevt.Handle, 5)
	n, err := f.Next(sub, hs)
	if n != 1 || err != nil {
		t.Fatalf("Next = %d, %v", n, err)
	}
	raw, _ := f.RenderXML(hs[0])
	if !strings.Contains(string(raw), "<EventRecordID>3</EventRecordID>") || !strings.Contains(string(raw), "<Channel>Application</Channel>") {
		t.Errorf("event XML = %s", raw)
	}
	if err := f.UpdateBookmark(bm, hs[0]); err != nil {
		t.Fatal(err)
	}
	x, err := f.RenderBookmark(bm)
	if want := "<BookmarkList>\r\n  <Bookmark Channel='Application' RecordId='3' IsCurrent='true'/>\r\n</BookmarkList>"; x != want || err != nil {
		t.Errorf("bookmark = %q, %v; want %q", x, err, want)
	}
	if x != winevttest.BookmarkXML(ch, 3) {
		t.Errorf("BookmarkXML differs")
	}
	f.Close(hs[0])
	if _, err := f.Next(sub, hs); !errors.Is(err, winevt.ErrNoMoreItems) {
		t.Errorf("Next at the end = %v", err)
	}
	if _, err := f.Next(sub, make([]winevt.Handle, 1025)); !errors.Is(err, winevt.ErrInvalidParameter) {
		t.Errorf("Next of 1025 = %v", err)
	}

	// Resume after the bookmark, from its XML.
	f.Append(ch, ev(4))
	bm2, err := f.CreateBookmark(x)
	if err != nil {
		t.Fatal(err)
	}
	sig2, sub2, err := subscribe(t, f, bm2, winevt.SubscribeStartAfterBookmark|winevt.SubscribeStrict)
	if err != nil {
		t.Fatal(err)
	}
	if ids, _ := next(t, f, sub2, 10); strings.Join(ids, ",") != "4" {
		t.Errorf("after the bookmark: %v", ids)
	}
	if _, err := f.CreateBookmark("<Bookmark"); !errors.Is(err, winevt.ErrInvalidParameter) {
		t.Errorf("CreateBookmark of bad XML = %v", err)
	}
	if s := f.Subscribes(); len(s) != 2 || s[1].Record != 3 || s[1].Bookmark != x || s[0].Bookmark != "" {
		t.Errorf("Subscribes = %+v", s)
	}

	if info, err := f.LogInfo(ch); err != nil || info.OldestRecord != 1 || info.Newest() != 4 {
		t.Errorf("LogInfo = %+v, %v", info, err)
	}
	if f.Open() != 6 {
		t.Errorf("Open = %d, want 6: %v", f.Open(), f.OpenHandles())
	}
	for _, h := range []winevt.Handle{sub, sub2, bm, bm2} {
		if err := f.Close(h); err != nil {
			t.Error(err)
		}
	}
	sig.Close()
	sig2.Close()
	if f.Open() != 0 {
		t.Errorf("open: %v", f.OpenHandles())
	}
	if err := f.Close(sub); !errors.Is(err, winevt.ErrInvalidHandle) {
		t.Errorf("second Close = %v", err)
	}
	if err := sig.Close(); !errors.Is(err, winevt.ErrInvalidHandle) {
		t.Errorf("second signal Close = %v", err)
	}
	if _, err := f.Next(sub, hs); !errors.Is(err, winevt.ErrInvalidHandle) {
		t.Errorf("Next on a closed subscription = %v", err)
	}
}

func TestSignal(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := winevttest.New()
		f.AddChannel(ch)
		f.AddChannel("System")
		sig, sub, err := subscribe(t, f, 0, winevt.SubscribeToFutureEvents)
		if err != nil {
			t.Fatal(err)
		}
		ctx := context.Background()
		if ok, err := sig.Wait(ctx, time.Second); !ok || err != nil {
			t.Errorf("first Wait = %v, %v; want set at creation", ok, err)
		}
		if ok, _ := sig.Wait(ctx, time.Second); ok {
			t.Error("Wait after a wake: still set, want auto-reset")
		}
		f.Append("System", ev(1))
		if ok, _ := sig.Wait(ctx, time.Second); ok {
			t.Error("woken by another channel")
		}
		done := make(chan bool)
		go func() {
			ok, _ := sig.Wait(ctx, time.Hour)
			done <- ok
		}()
		synctest.Wait()
		f.Append(ch, ev(1), ev(2))
		if !<-done {
			t.Error("Append did not wake the waiting subscription")
		}
		if ids, _ := next(t, f, sub, 10); len(ids) != 2 {
			t.Errorf("future subscription read %v", ids)
		}
		cctx, cancel := context.WithCancel(ctx)
		cancel()
		if _, err := sig.Wait(cctx, time.Hour); !errors.Is(err, context.Canceled) {
			t.Errorf("Wait with ctx done = %v", err)
		}
		f.Close(sub)
		sig.Close()
		if _, err := sig.Wait(ctx, time.Second); !errors.Is(err, winevt.ErrInvalidHandle) {
			t.Errorf("Wait on a closed signal = %v", err)
		}
	})
}

func TestInvalidBoundMovesPosition(t *testing.T) {
	f := winevttest.New()
	x := ev(1)
	for range 10 {
		f.Append(ch, x)
	}
	_, sub, _ := subscribe(t, f, 0, winevt.SubscribeStartAtOldestRecord)
	f.SetMaxBatchBytes(3 * (len(x) + 20))
	if _, err := next(t, f, sub, 4); !errors.Is(err, winevt.ErrRPCInvalidBound) {
		t.Fatalf("Next of 4 = %v", err)
	}
	// Windows has moved past records 1-4.
	if ids, err := next(t, f, sub, 3); err != nil || strings.Join(ids, ",") != "5,6,7" {
		t.Errorf("then Next = %v, %v", ids, err)
	}
	// A scripted one moves too.
	f.FailNext("Next", 1, winevt.ErrRPCInvalidBound)
	if _, err := next(t, f, sub, 2); !errors.Is(err, winevt.ErrRPCInvalidBound) {
		t.Fatal(err)
	}
	if ids, _ := next(t, f, sub, 3); strings.Join(ids, ",") != "10" {
		t.Errorf("after a scripted INVALID_BOUND: %v", ids)
	}
}

func TestStale(t *testing.T) {
	f := winevttest.New()
	f.Append(ch, ev(1), ev(2), ev(3))
	bm, _ := f.CreateBookmark(winevttest.BookmarkXML(ch, 2))
	_, live, _ := subscribe(t, f, 0, winevt.SubscribeStartAtOldestRecord)
	_, caughtUp, _ := subscribe(t, f, 0, winevt.SubscribeStartAtOldestRecord)
	next(t, f, caughtUp, 10)

	f.Wrap(ch, 1) // record 1 overwritten
	if _, err := next(t, f, live, 10); !errors.Is(err, winevt.ErrEvtQueryStale) {
		t.Errorf("Next behind a wrap = %v", err)
	}
	f.Append(ch, ev(4))
	if ids, err := next(t, f, caughtUp, 10); err != nil || strings.Join(ids, ",") != "4" {
		t.Errorf("caught-up Next after a wrap = %v, %v", ids, err)
	}
	if _, _, err := subscribe(t, f, bm, winevt.SubscribeStartAfterBookmark|winevt.SubscribeStrict); err != nil {
		t.Errorf("bookmark still in the log: %v", err)
	}

	f.Clear(ch)
	f.Append(ch, ev(5))
	if _, err := next(t, f, caughtUp, 10); !errors.Is(err, winevt.ErrEvtQueryStale) {
		t.Errorf("Next after Clear = %v", err)
	}
	if _, _, err := subscribe(t, f, bm, winevt.SubscribeStartAfterBookmark|winevt.SubscribeStrict); !errors.Is(err, winevt.ErrNotFound) {
		t.Errorf("strict from a cleared bookmark = %v", err)
	}
	f.SetStaleError(winevt.ErrEvtQueryStale)
	if _, _, err := subscribe(t, f, bm, winevt.SubscribeStartAfterBookmark|winevt.SubscribeStrict); !errors.Is(err, winevt.ErrEvtQueryStale) {
		t.Errorf("strict from a cleared bookmark = %v", err)
	}
	_, sub, err := subscribe(t, f, bm, winevt.SubscribeStartAfterBookmark)
	if err != nil {
		t.Fatal(err)
	}
	if ids, _ := next(t, f, sub, 10); strings.Join(ids, ",") != "5" {
		t.Errorf("not strict from a cleared bookmark: %v, want from the first record after it (record IDs go on)", ids)
	}
	other, _ := f.CreateBookmark(winevttest.BookmarkXML("System", 5))
	if _, _, err := subscribe(t, f, other, winevt.SubscribeStartAfterBookmark|winevt.SubscribeStrict); err == nil {
		t.Error("strict from another channel's bookmark succeeded")
	}
}

func TestChannelLifecycle(t *testing.T) {
	f := winevttest.New()
	if _, _, err := subscribe(t, f, 0, winevt.SubscribeToFutureEvents); !errors.Is(err, winevt.ErrEvtChannelNotFound) {
		t.Errorf("Subscribe to a missing channel = %v", err)
	}
	if _, err := f.LogInfo(ch); !errors.Is(err, winevt.ErrEvtChannelNotFound) {
		t.Errorf("LogInfo of a missing channel = %v", err)
	}
	f.AddChannel(ch)
	_, sub, err := subscribe(t, f, 0, winevt.SubscribeToFutureEvents)
	if err != nil {
		t.Fatal(err)
	}
	f.RemoveChannel(ch)
	if _, err := next(t, f, sub, 1); !errors.Is(err, winevt.ErrEvtChannelNotFound) {
		t.Errorf("Next on a removed channel = %v", err)
	}
	// A QueryList names its channel.
	f.Append("Setup", ev(1))
	sig, _ := f.NewSignal()
	qsub, err := f.Subscribe(sig, "", `<QueryList><Query Id='0'><Select Path='Setup'>*</Select></Query></QueryList>`, 0, winevt.SubscribeStartAtOldestRecord)
	if err != nil {
		t.Fatal(err)
	}
	if ids, _ := next(t, f, qsub, 5); len(ids) != 1 {
		t.Errorf("QueryList read %v", ids)
	}
	if _, err := f.Subscribe(sig, "", "*", 0, winevt.SubscribeStartAtOldestRecord); !errors.Is(err, winevt.ErrEvtInvalidQuery) {
		t.Errorf("no channel, no QueryList = %v", err)
	}
}

func TestPublishers(t *testing.T) {
	f := winevttest.New()
	f.Append(ch, ev(100), ev(101))
	f.AddMessage("P", 0, 100, "Hello.")
	_, sub, _ := subscribe(t, f, 0, winevt.SubscribeStartAtOldestRecord)
	hs := make([]winevt.Handle, 2)
	f.Next(sub, hs)
	if _, err := f.OpenPublisherMetadata("Nope", 0); !errors.Is(err, winevt.ErrEvtPublisherMissing) {
		t.Errorf("unknown publisher = %v", err)
	}
	pub, _ := f.OpenPublisherMetadata("p", 0)
	if m, err := f.FormatMessage(pub, hs[0]); m != "Hello." || err != nil {
		t.Errorf("FormatMessage = %q, %v", m, err)
	}
	if _, err := f.FormatMessage(pub, hs[1]); !errors.Is(err, winevt.ErrEvtMessageNotFound) {
		t.Errorf("no message = %v", err)
	}
	fr, _ := f.OpenPublisherMetadata("P", 1036)
	if _, err := f.FormatMessage(fr, hs[0]); !errors.Is(err, winevt.ErrEvtMessageLocale) {
		t.Errorf("no message in the locale = %v", err)
	}
	f.FailRender(ch, 2, winevt.ErrInvalidParameter)
	if _, err := f.RenderXML(hs[1]); !errors.Is(err, winevt.ErrInvalidParameter) {
		t.Errorf("FailRender: %v", err)
	}
	f.RemovePublisher("P")
	if _, err := f.OpenPublisherMetadata("P", 0); !errors.Is(err, winevt.ErrEvtPublisherMissing) {
		t.Errorf("removed publisher = %v", err)
	}
}

func TestScript(t *testing.T) {
	f := winevttest.New()
	f.AddChannel(ch)
	f.Fail("LogInfo", 2, winevt.ErrRPCCallCancelled)
	f.FailNext("CreateBookmark", 2, winevt.ErrInvalidHandle)
	var seen []int
	f.OnCall(func(call string, n int) error {
		if call == "LogInfo" {
			seen = append(seen, n)
			if n == 4 {
				return winevt.ErrRPCServerUnavail
			}
		}
		return nil
	})
	var errs []error
	for range 4 {
		_, err := f.LogInfo(ch)
		errs = append(errs, err)
	}
	if errs[0] != nil || !errors.Is(errs[1], winevt.ErrRPCCallCancelled) || errs[2] != nil || !errors.Is(errs[3], winevt.ErrRPCServerUnavail) {
		t.Errorf("LogInfo errors = %v", errs)
	}
	if len(seen) != 4 || seen[3] != 4 {
		t.Errorf("hook saw %v", seen)
	}
	for i, want := range []bool{true, true, false} {
		_, err := f.CreateBookmark("")
		if (err != nil) != want {
			t.Errorf("CreateBookmark %d: %v", i+1, err)
		}
	}
	if f.Count("LogInfo") != 4 {
		t.Errorf("Count = %d", f.Count("LogInfo"))
	}
	calls := f.Calls()
	if len(calls) != 7 || calls[1].String() != "LogInfo(Application) -> RPC_S_CALL_CANCELLED" {
		t.Errorf("Calls = %v", calls)
	}
}

func TestConcurrentUse(t *testing.T) {
	f := winevttest.New()
	f.AddChannel(ch)
	sig, sub, _ := subscribe(t, f, 0, winevt.SubscribeStartAtOldestRecord)
	var wg sync.WaitGroup
	wg.Go(func() {
		for range 200 {
			f.Append(ch, ev(1))
		}
	})
	read := 0
	for read < 200 {
		hs := make([]winevt.Handle, 16)
		n, err := f.Next(sub, hs)
		if err != nil && !errors.Is(err, winevt.ErrNoMoreItems) {
			t.Fatal(err)
		}
		for _, h := range hs[:n] {
			f.Close(h)
		}
		read += n
		if n == 0 {
			sig.Wait(context.Background(), time.Millisecond)
		}
	}
	wg.Wait()
	if read != 200 {
		t.Errorf("read %d", read)
	}
}

func TestNotStrictStartsAfterClosest(t *testing.T) {
	f := winevttest.New()
	f.Append(ch, ev(1), ev(2), ev(3), ev(4), ev(5))
	bm, _ := f.CreateBookmark(winevttest.BookmarkXML(ch, 2))
	f.Wrap(ch, 3) // records 1-3 overwritten: 4 and 5 are left
	_, sub, err := subscribe(t, f, bm, winevt.SubscribeStartAfterBookmark)
	if err != nil {
		t.Fatal(err)
	}
	if ids, _ := next(t, f, sub, 10); strings.Join(ids, ",") != "4,5" {
		t.Errorf("not strict after a wrapped bookmark: %v, want 4,5", ids)
	}
	// Numbering restarted: the first record after the bookmark's is
	// still to come.
	late, _ := f.CreateBookmark(winevttest.BookmarkXML(ch, 10))
	f.ClearAndRenumber(ch)
	f.Append(ch, ev(1), ev(2), ev(3))
	_, sub, err = subscribe(t, f, late, winevt.SubscribeStartAfterBookmark)
	if err != nil {
		t.Fatal(err)
	}
	if ids, err := next(t, f, sub, 10); len(ids) != 0 || !errors.Is(err, winevt.ErrNoMoreItems) {
		t.Errorf("not strict after bookmark 10 in a log of 1-3: %v, %v; want nothing", ids, err)
	}
	for range 8 {
		f.Append(ch, ev(1))
	}
	if ids, _ := next(t, f, sub, 10); strings.Join(ids, ",") != "11" {
		t.Errorf("then: %v, want 11", ids)
	}
	// Another channel's bookmark: from the oldest record.
	other, _ := f.CreateBookmark(winevttest.BookmarkXML("System", 5))
	_, sub, _ = subscribe(t, f, other, winevt.SubscribeStartAfterBookmark)
	if ids, _ := next(t, f, sub, 2); strings.Join(ids, ",") != "1,2" {
		t.Errorf("not strict from another channel's bookmark: %v", ids)
	}
}

func TestClearAndRenumber(t *testing.T) {
	f := winevttest.New()
	f.Append(ch, ev(1), ev(2), ev(3))
	_, live, _ := subscribe(t, f, 0, winevt.SubscribeStartAtOldestRecord)
	bm, _ := f.CreateBookmark(winevttest.BookmarkXML(ch, 3))
	f.ClearAndRenumber(ch)
	if _, err := next(t, f, live, 10); !errors.Is(err, winevt.ErrEvtQueryStale) {
		t.Errorf("Next after ClearAndRenumber = %v", err)
	}
	if ids := f.Append(ch, ev(1), ev(2)); len(ids) != 2 || ids[0] != 1 || ids[1] != 2 {
		t.Errorf("record IDs after ClearAndRenumber = %v, want 1, 2", ids)
	}
	if info, err := f.LogInfo(ch); err != nil || info.Newest() != 2 || info.OldestRecord != 1 {
		t.Errorf("LogInfo = %+v, %v", info, err)
	}
	if _, _, err := subscribe(t, f, bm, winevt.SubscribeStartAfterBookmark|winevt.SubscribeStrict); !errors.Is(err, winevt.ErrNotFound) {
		t.Errorf("strict from bookmark 3 in a log of 1-2 = %v", err)
	}
	// Once the new log has a record 3, the old bookmark is "found".
	f.Append(ch, ev(3), ev(4))
	_, sub, err := subscribe(t, f, bm, winevt.SubscribeStartAfterBookmark|winevt.SubscribeStrict)
	if err != nil {
		t.Fatal(err)
	}
	if ids, _ := next(t, f, sub, 10); strings.Join(ids, ",") != "4" {
		t.Errorf("strict from bookmark 3 in a log of 1-4: %v", ids)
	}
}

func TestRejectQuery(t *testing.T) {
	f := winevttest.New()
	f.AddChannel(ch)
	q := `<QueryList><Query Id="0" Path="Application"><Select Path="Application">*[System[EventID=1]]</Select></Query></QueryList>`
	f.RejectQuery(q)
	sig, _ := f.NewSignal()
	if _, err := f.Subscribe(sig, ch, q, 0, winevt.SubscribeToFutureEvents); !errors.Is(err, winevt.ErrEvtInvalidQuery) {
		t.Errorf("Subscribe with a rejected query = %v", err)
	}
	if _, err := f.Subscribe(sig, ch, "*", 0, winevt.SubscribeToFutureEvents); err != nil {
		t.Errorf("Subscribe with another query = %v", err)
	}
}

func TestPartialMessage(t *testing.T) {
	f := winevttest.New()
	f.Append(ch, ev(100))
	f.AddPartialMessage("P", 0, 100, "Backup of %1 failed.", winevt.ErrEvtUnresolvedInsert)
	_, sub, _ := subscribe(t, f, 0, winevt.SubscribeStartAtOldestRecord)
	hs := make([]winevt.Handle, 1)
	f.Next(sub, hs)
	pub, _ := f.OpenPublisherMetadata("P", 0)
	if m, err := f.FormatMessage(pub, hs[0]); m != "Backup of %1 failed." || !errors.Is(err, winevt.ErrEvtUnresolvedInsert) {
		t.Errorf("FormatMessage = %q, %v; want the partial text with the error", m, err)
	}
}

func TestForwardedEventsKeepTheirIDs(t *testing.T) {
	f := winevttest.New()
	x := winevttest.Event{Provider: "P", EventID: 1, RecordID: 7012, Channel: "System"}.XML()
	if ids := f.Append("ForwardedEvents", x); len(ids) != 1 || ids[0] != 1 {
		t.Fatalf("Append = %v", ids)
	}
	f.Append(ch, x)
	sig, _ := f.NewSignal()
	for _, tc := range []struct{ channel, id, in string }{{"ForwardedEvents", "7012", "System"}, {ch, "1", ch}} {
		sub, err := f.Subscribe(sig, tc.channel, "*", 0, winevt.SubscribeStartAtOldestRecord)
		if err != nil {
			t.Fatal(err)
		}
		hs := make([]winevt.Handle, 1)
		f.Next(sub, hs)
		raw, _ := f.RenderXML(hs[0])
		if !strings.Contains(string(raw), "<EventRecordID>"+tc.id+"</EventRecordID>") || !strings.Contains(string(raw), "<Channel>"+tc.in+"</Channel>") {
			t.Errorf("%s: event XML = %s", tc.channel, raw)
		}
		bm, _ := f.CreateBookmark("")
		f.UpdateBookmark(bm, hs[0])
		if x, _ := f.RenderBookmark(bm); x != winevttest.BookmarkXML(tc.channel, 1) {
			t.Errorf("%s: bookmark = %q, want the local record 1", tc.channel, x)
		}
	}
}

// TestBookmarkFromRecord: a bookmark written by hand, as the channel
// source makes one from a record number, is read as Windows renders one.
func TestBookmarkFromRecord(t *testing.T) {
	f := winevttest.New()
	f.Append(ch, ev(1), ev(2), ev(3), ev(4))
	bm, err := f.CreateBookmark("<BookmarkList>\r\n  <Bookmark Channel='application' RecordId='2' IsCurrent='true'/>\r\n</BookmarkList>")
	if err != nil {
		t.Fatal(err)
	}
	xml, err := f.RenderBookmark(bm)
	if err != nil || xml != winevttest.BookmarkXML("application", 2) {
		t.Errorf("RenderBookmark = %q, %v", xml, err)
	}
	sig, sub, err := subscribe(t, f, bm, winevt.SubscribeStartAfterBookmark|winevt.SubscribeStrict)
	if err != nil {
		t.Fatal(err)
	}
	got, err := next(t, f, sub, 10)
	if err != nil || !slices.Equal(got, []string{"3", "4"}) {
		t.Errorf("after record 2: records %v, %v; want 3 and 4", got, err)
	}
	for _, h := range []winevt.Handle{sub, bm} {
		if err := f.Close(h); err != nil {
			t.Error(err)
		}
	}
	if err := sig.Close(); err != nil {
		t.Error(err)
	}
	if n := f.Open(); n != 0 {
		t.Errorf("%d open: %v", n, f.OpenHandles())
	}
}
