package winevt_test

import (
	"fmt"
	"slices"
	"syscall"
	"testing"
	"testing/synctest"
	"time"

	"github.com/logmedic/logmedic/watcher/winevt"
	"github.com/logmedic/logmedic/watcher/winevt/winevttest"
)

// messages returns the messages of the events emitted, in order.
func (r *recorder) messages() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var m []string
	for _, e := range r.items {
		if e.Err == nil {
			m = append(m, e.Message)
		}
	}
	return m
}

// opens returns the OpenPublisherMetadata calls' arguments.
func opens(f *winevttest.Fake) []string {
	var a []string
	for _, c := range f.Calls() {
		if c.Name == "OpenPublisherMetadata" {
			a = append(a, c.Arg)
		}
	}
	return a
}

func TestMessageOpensPublisherOnce(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := winevttest.New()
		f.AddMessage("Prov-A", 0, 100, "A hundred.\r\nSecond line.\r\n\x00")
		f.AddMessage("Prov-A", 0, 101, "A hundred and one.")
		f.AddMessage("Prov-B", 0, 100, "B hundred.")
		f.Append(app, events(2, "Prov-A", time.Now())...)
		f.Append(app, events(1, "Prov-B", time.Now())...)
		f.Append(app, events(1, "prov-a", time.Now())...) // same provider
		r := start(t, f, winevt.Options{Start: winevt.StartOldest, Message: true}, nil, nil)
		synctest.Wait()
		f.Append(app, events(1, "Prov-B", time.Now())...) // a later batch
		synctest.Wait()
		want := []string{"A hundred.\nSecond line.", "A hundred and one.", "B hundred.", "A hundred.\nSecond line.", "B hundred."}
		if got := r.rec.messages(); !slices.Equal(got, want) {
			t.Errorf("messages = %q, want %q", got, want)
		}
		if got := opens(f); !slices.Equal(got, []string{"Prov-A, 0", "Prov-B, 0"}) {
			t.Errorf("OpenPublisherMetadata calls = %v, want one per provider", got)
		}
		if n := f.Count("FormatMessage"); n != 5 {
			t.Errorf("%d FormatMessage calls, want 5", n)
		}
		if err := r.stop(); err != nil { // publisher handles closed
			t.Fatal(err)
		}
	})
}

func TestMessageLocaleFallback(t *testing.T) {
	const fr = 1036
	for _, tc := range []struct {
		name  string
		setup func(f *winevttest.Fake)
		want  string
		opens []string
	}{
		{"message in the locale", func(f *winevttest.Fake) {
			f.AddMessage("P", fr, 100, "Sauvegarde réussie.")
			f.AddMessage("P", 0, 100, "Backup succeeded.")
		}, "Sauvegarde réussie.", []string{"P, 1036"}},
		{"no message in the locale", func(f *winevttest.Fake) {
			f.AddMessage("P", 0, 100, "Backup succeeded.")
		}, "Backup succeeded.", []string{"P, 1036", "P, 0"}},
		{"no MUI file for the locale", func(f *winevttest.Fake) {
			f.AddMessage("P", fr, 100, "Sauvegarde réussie.")
			f.AddMessage("P", 0, 100, "Backup succeeded.")
			f.Fail("OpenPublisherMetadata", 1, winevt.ErrMUIFileNotFound)
		}, "Backup succeeded.", []string{"P, 1036", "P, 0"}},
		{"locale metadata missing", func(f *winevttest.Fake) {
			f.AddMessage("P", 0, 100, "Backup succeeded.")
			f.Fail("OpenPublisherMetadata", 1, winevt.ErrEvtMessageLocale)
		}, "Backup succeeded.", []string{"P, 1036", "P, 0"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				f := winevttest.New()
				tc.setup(f)
				xml := winevttest.Event{Provider: "P", EventID: 100, Time: time.Now()}.XML()
				f.Append(app, xml, xml, xml)
				r := start(t, f, winevt.Options{Start: winevt.StartOldest, Message: true, Locale: fr}, nil, nil)
				synctest.Wait()
				if got := r.rec.messages(); !slices.Equal(got, []string{tc.want, tc.want, tc.want}) {
					t.Errorf("messages = %q, want %q", got, tc.want)
				}
				if got := opens(f); !slices.Equal(got, tc.opens) {
					t.Errorf("OpenPublisherMetadata calls = %v, want %v (once for all events)", got, tc.opens)
				}
				if err := r.stop(); err != nil {
					t.Fatal(err)
				}
			})
		})
	}
}

func TestMessagePublisherMissing(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := winevttest.New()
		f.Append(app, events(3, "Later-Installed", time.Now())...)
		r := start(t, f, winevt.Options{Start: winevt.StartOldest, Message: true}, nil, nil)
		synctest.Wait()
		if got := r.rec.messages(); !slices.Equal(got, []string{"", "", ""}) {
			t.Fatalf("messages = %q: the events must be kept, without a message", got)
		}
		// Remembered as missing: not reopened for each event.
		time.Sleep(5 * time.Minute)
		f.AddMessage("Later-Installed", 0, 100, "Installed now.")
		f.Append(app, events(1, "Later-Installed", time.Now())...)
		synctest.Wait()
		if n := len(opens(f)); n != 1 {
			t.Errorf("%d OpenPublisherMetadata calls within 5 minutes, want 1", n)
		}
		// Retried later: software installs add providers.
		time.Sleep(6 * time.Minute)
		f.Append(app, events(1, "Later-Installed", time.Now())...)
		synctest.Wait()
		if got := r.rec.messages(); !slices.Equal(got, []string{"", "", "", "", "Installed now."}) {
			t.Errorf("messages = %q", got)
		}
		if n := len(opens(f)); n != 2 {
			t.Errorf("%d OpenPublisherMetadata calls, want 2", n)
		}
		if m := r.met.get(); m.render != 0 {
			t.Errorf("render failures = %d: a missing message is not one", m.render)
		}
		if err := r.stop(); err != nil {
			t.Fatal(err)
		}
	})
}

func TestMessageFailureKeepsEvent(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := winevttest.New()
		f.AddMessage("P", 0, 100, "Known.")
		f.Append(app, events(2, "P", time.Now())...) // 101 has no message
		f.Append(app, events(1, "P", time.Now())...)
		f.FailNext("FormatMessage", 1, winevt.ErrEvtMessageIDMissing)
		f.Fail("FormatMessage", 3, winevt.ErrEvtUnresolvedInsert) // with no text
		r := start(t, f, winevt.Options{Start: winevt.StartOldest, Message: true}, nil, nil)
		synctest.Wait()
		if got := r.rec.records(); !slices.Equal(got, seq(1, 3)) {
			t.Fatalf("got records %v", got)
		}
		if got := r.rec.messages(); !slices.Equal(got, []string{"", "", ""}) {
			t.Errorf("messages = %q", got)
		}
		if r.returned() {
			t.Fatal("Run returned")
		}
		if err := r.stop(); err != nil {
			t.Fatal(err)
		}
	})
}

func TestMessageNotFormatted(t *testing.T) {
	for _, tc := range []struct {
		name    string
		message bool
		xml     string
		want    string
	}{
		{"option off", false, winevttest.Event{Provider: "P", EventID: 100}.XML(), ""},
		{"message in RenderingInfo", true, winevttest.Event{Provider: "P", EventID: 100, Message: "Forwarded text."}.XML(), "Forwarded text."},
		{"no provider", true, winevttest.Event{EventID: 100}.XML(), ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				f := winevttest.New()
				f.AddMessage("P", 0, 100, "Local text.")
				f.Append(app, tc.xml)
				r := start(t, f, winevt.Options{Start: winevt.StartOldest, Message: tc.message}, nil, nil)
				synctest.Wait()
				if got := r.rec.messages(); !slices.Equal(got, []string{tc.want}) {
					t.Errorf("messages = %q, want %q", got, tc.want)
				}
				if n := f.Count("OpenPublisherMetadata") + f.Count("FormatMessage"); n != 0 {
					t.Errorf("%d metadata calls, want none", n)
				}
				if err := r.stop(); err != nil {
					t.Fatal(err)
				}
			})
		})
	}
}

func TestMessageCacheBounded(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := winevttest.New()
		var xs []string
		for i := range 300 {
			p := fmt.Sprintf("P%03d", i)
			f.AddMessage(p, 0, 100, "Message of "+p+".")
			xs = append(xs, winevttest.Event{Provider: p, EventID: 100, Time: time.Now()}.XML())
		}
		f.Append(app, xs...)
		r := start(t, f, winevt.Options{Start: winevt.StartOldest, Message: true}, nil, nil)
		synctest.Wait()
		if n := len(r.rec.messages()); n != 300 {
			t.Fatalf("%d events", n)
		}
		// 256 publishers at most, plus the subscription, bookmark and signal.
		if n := f.Open(); n > 256+3 {
			t.Errorf("%d handles open, want at most %d", n, 256+3)
		}
		// P000 was evicted: reopened. P299 is still cached.
		f.Append(app, xs[0], xs[299])
		synctest.Wait()
		got := opens(f)
		if len(got) != 301 || got[300] != "P000, 0" {
			t.Errorf("%d OpenPublisherMetadata calls, the last %q; want 301, P000 reopened", len(got), got[len(got)-1])
		}
		if m := r.rec.messages(); m[300] != "Message of P000." || m[301] != "Message of P299." {
			t.Errorf("messages = %q", m[300:])
		}
		if err := r.stop(); err != nil {
			t.Fatal(err)
		}
	})
}

// TestMessageTransientFailureRetried: a message that cannot be formatted
// for a reason that may go away is formatted again at once, without
// reading the event again.
func TestMessageTransientFailureRetried(t *testing.T) {
	for _, tc := range []struct {
		call string
		err  error
	}{
		{"FormatMessage", winevt.ErrRPCServerUnavail},
		{"FormatMessage", syscall.Errno(1726)},         // RPC_S_CALL_FAILED
		{"OpenPublisherMetadata", syscall.Errno(1723)}, // RPC_S_SERVER_TOO_BUSY
	} {
		t.Run(tc.call+" "+winevt.ErrName(tc.err), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				f := winevttest.New()
				f.AddMessage("P", 0, 100, "Known.")
				f.Append(app, events(1, "P", time.Now())...)
				f.FailNext(tc.call, 1, tc.err)
				r := start(t, f, winevt.Options{Start: winevt.StartOldest, Message: true, MinBackoff: time.Second}, nil, nil)
				synctest.Wait()
				time.Sleep(time.Second)
				synctest.Wait()
				if got := r.rec.messages(); !slices.Equal(got, []string{"Known."}) {
					t.Errorf("messages = %q, want [Known.]: formatted again", got)
				}
				if n := f.Count("Subscribe"); n != 1 {
					t.Errorf("%d subscriptions, want 1: the event is not read again", n)
				}
				if err := r.stop(); err != nil {
					t.Fatal(err)
				}
			})
		})
	}
}

// TestMessageCacheDropsFailedPublisher: a provider's cached metadata
// whose use fails for a transient reason is closed and opened again.
func TestMessageCacheDropsFailedPublisher(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := winevttest.New()
		f.AddMessage("P", 0, 100, "Known.")
		f.Append(app, events(1, "P", time.Now())...)
		r := start(t, f, winevt.Options{Start: winevt.StartOldest, Message: true, MinBackoff: time.Second}, nil, nil)
		synctest.Wait()
		// The service restarted: the metadata handle is no longer valid.
		f.FailNext("FormatMessage", 1, winevt.ErrInvalidHandle)
		f.Append(app, events(1, "P", time.Now())...)
		synctest.Wait()
		time.Sleep(time.Second)
		synctest.Wait()
		if got := r.rec.messages(); !slices.Equal(got, []string{"Known.", "Known."}) {
			t.Errorf("messages = %q", got)
		}
		if got := opens(f); !slices.Equal(got, []string{"P, 0", "P, 0"}) {
			t.Errorf("OpenPublisherMetadata calls = %v, want P reopened", got)
		}
		if err := r.stop(); err != nil { // the first handle closed too
			t.Fatal(err)
		}
	})
}

// TestConnectionLostClearsMessageCache: after the Event Log service went
// away, every cached publisher is opened again.
func TestConnectionLostClearsMessageCache(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := winevttest.New()
		f.AddMessage("P", 0, 100, "Known.")
		f.Append(app, events(1, "P", time.Now())...)
		r := start(t, f, winevt.Options{Start: winevt.StartOldest, Message: true, MinBackoff: time.Second}, nil, nil)
		synctest.Wait()
		f.FailNext("Next", 1, winevt.ErrRPCServerUnavail)
		f.Append(app, events(1, "P", time.Now())...)
		synctest.Wait()
		time.Sleep(time.Second)
		synctest.Wait()
		if got := r.rec.messages(); !slices.Equal(got, []string{"Known.", "Known."}) {
			t.Errorf("messages = %q", got)
		}
		if got := opens(f); !slices.Equal(got, []string{"P, 0", "P, 0"}) {
			t.Errorf("OpenPublisherMetadata calls = %v, want P reopened", got)
		}
		if err := r.stop(); err != nil {
			t.Fatal(err)
		}
	})
}

// TestPartialMessageKept: Windows returns what it could format with
// ERROR_EVT_UNRESOLVED_VALUE_INSERT and its kin; it is kept.
func TestPartialMessageKept(t *testing.T) {
	for _, e := range []error{syscall.Errno(15029), syscall.Errno(15030), syscall.Errno(15031)} {
		t.Run(winevt.ErrName(e), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				f := winevttest.New()
				f.AddPartialMessage("P", 0, 100, "Backup of %1 failed.\r\n", e)
				f.AddPartialMessage("P", 0, 101, "", e) // nothing formatted
				f.Append(app, events(2, "P", time.Now())...)
				r := start(t, f, winevt.Options{Start: winevt.StartOldest, Message: true}, nil, nil)
				synctest.Wait()
				if got := r.rec.messages(); !slices.Equal(got, []string{"Backup of %1 failed.", ""}) {
					t.Errorf("messages = %q", got)
				}
				if err := r.stop(); err != nil {
					t.Fatal(err)
				}
			})
		})
	}
}

// TestMessageTransientFailureRemembered: a provider whose messages keep
// failing for a reason that may go away costs neither backoffs nor
// re-reads: after messageTries at once, the event is kept without its
// message, and the provider's next events are not formatted for 30 s.
func TestMessageTransientFailureRemembered(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := winevttest.New()
		for i := range 21 {
			f.AddPartialMessage("P", 0, uint32(100+i), "", winevt.ErrTimeout)
		}
		f.AddMessage("Q", 0, 100, "Q's.")
		f.Append(app, events(20, "P", time.Now())...)
		f.Append(app, events(1, "Q", time.Now())...)
		r := start(t, f, winevt.Options{Start: winevt.StartOldest, Message: true}, nil, nil)
		synctest.Wait()
		if got := r.rec.records(); !slices.Equal(got, seq(1, 21)) {
			t.Fatalf("at once: records %v, want 1-21", got)
		}
		want := make([]string, 21)
		want[20] = "Q's."
		if got := r.rec.messages(); !slices.Equal(got, want) {
			t.Errorf("messages = %q, want P's empty, Q's", got)
		}
		if n := f.Count("Subscribe"); n != 1 {
			t.Errorf("%d subscriptions, want 1", n)
		}
		if n := f.Count("FormatMessage"); n != 3+1 {
			t.Errorf("%d FormatMessage calls, want 3 for P's first event and 1 for Q's", n)
		}
		if n := r.logCount("message not formatted: the event is kept without it, and the provider's messages are not formatted for a while"); n != 1 {
			t.Errorf("%d warnings, want 1", n)
		}
		// Tried again after 30 s.
		time.Sleep(31 * time.Second)
		f.Append(app, events(1, "P", time.Now())...)
		synctest.Wait()
		if n := f.Count("FormatMessage"); n != 3+1+3 {
			t.Errorf("%d FormatMessage calls, want 3 more after 30 s", n)
		}
		if err := r.stop(); err != nil {
			t.Fatal(err)
		}
	})
}
