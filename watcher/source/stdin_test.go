package source

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"testing"
	"testing/iotest"
	"time"
	"unicode/utf16"

	"github.com/logmedic/logmedic/watcher"
)

// stdinSummary describes items as "#1@2:1" for the event with record ID 1
// at line 2 column 1, "!2:1" for an error there.
func stdinSummary(items []watcher.Item) []string {
	var s []string
	for _, it := range items {
		if it.Input != "-" {
			s = append(s, "input "+it.Input)
		}
		if it.Err != nil {
			s = append(s, "!"+it.Where)
		} else {
			s = append(s, fmt.Sprintf("#%d@%s", it.Event.RecordID, it.Where))
		}
	}
	return s
}

// runStdin runs a Stdin on r to its end.
func runStdin(t *testing.T, r io.Reader) (*recorder, error) {
	t.Helper()
	rec := newRecorder(nil)
	errc := make(chan error, 1)
	go func() { errc <- NewStdin("stdin", r).Run(context.Background(), nil, rec.emit) }()
	select {
	case err := <-errc:
		return rec, err
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return at the end of the input")
	}
	return nil, nil
}

func TestStdinSlowEvents(t *testing.T) {
	pr, pw := io.Pipe()
	rec := newRecorder(nil)
	errc := make(chan error, 1)
	go func() { errc <- NewStdin("stdin", pr).Run(context.Background(), nil, rec.emit) }()
	write := func(s string) {
		t.Helper()
		if _, err := io.WriteString(pw, s); err != nil {
			t.Fatal(err)
		}
	}
	have := func(want ...string) {
		t.Helper()
		waitFor(t, fmt.Sprint(want), func() bool { return len(rec.items()) >= len(want) })
		if got := stdinSummary(rec.items()); !slices.Equal(got, want) {
			t.Fatalf("items %v, want %v", got, want)
		}
	}
	write("<?xml version='1.0'?>\r\n<Events>\r\n")
	write(event(1))
	have("#1@3:1")
	ev := event(2)
	for _, part := range []string{ev[:10], ev[10:100], ev[100 : len(ev)-4]} {
		write(part)
		time.Sleep(20 * time.Millisecond)
		have("#1@3:1")
	}
	write(ev[len(ev)-4:])
	have("#1@3:1", "#2@4:1")
	write("<!-- a comment -->" + event(3) + "</Events>\n")
	have("#1@3:1", "#2@4:1", "#3@5:19")
	pw.Close()
	select {
	case err := <-errc:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return at the end of the input")
	}
	for _, c := range rec.calls {
		if c.cp.Key != "" || c.cp.Data != nil || c.cp.Forget {
			t.Errorf("checkpoint %+v", c.cp)
		}
	}
}

func TestStdin(t *testing.T) {
	ev2 := event(2)
	tests := []struct {
		name string
		in   string
		want []string
		msgs []string // in the errors, in order
	}{
		{
			name: "wrapper",
			in:   "<Events>\n" + events(1, 2) + "</Events>\n",
			want: []string{"#1@2:1", "#2@3:1"},
		},
		{
			name: "garbage between events",
			in:   "junk text\n" + event(1) + "<Foo>bar</Foo>\nmore\n" + event(2) + "tail",
			want: []string{"!1:1", "#1@2:1", "!3:1", "#2@5:1", "!6:1"},
			msgs: []string{`text outside any <Event>: "junk text"`, "expected <Event>, found <Foo>", `text outside any <Event>: "tail"`},
		},
		{
			name: "cut at the end",
			in:   event(1) + ev2[:len(ev2)/2],
			want: []string{"#1@1:1", fmt.Sprintf("!2:%d", len(ev2)/2+1)},
			msgs: []string{"unexpected end of input inside <"},
		},
		{
			name: "cut in the start tag",
			in:   event(1) + "<Eve",
			want: []string{"#1@1:1", "!2:5"},
			msgs: []string{"unexpected end of input inside <Eve"},
		},
		{
			name: "bad event",
			in:   "<Event><System><EventID>x</EventID></System></Event>\n" + event(1),
			want: []string{"!1:16", "#1@2:1"},
			msgs: []string{"EventID"},
		},
		{
			name: "end tag with spaces",
			in:   strings.Replace(event(1), "</Event>", "</Event          \n >", 1) + event(2),
			want: []string{"#1@1:1", "#2@3:1"},
		},
		{
			name: "empty",
			in:   " \n",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rec, err := runStdin(t, iotest.HalfReader(strings.NewReader(tc.in)))
			if err != nil {
				t.Fatal(err)
			}
			// Byte by byte, the same.
			rec1, err := runStdin(t, iotest.OneByteReader(strings.NewReader(tc.in)))
			if err != nil {
				t.Fatal(err)
			}
			if got, want := stdinSummary(rec1.items()), stdinSummary(rec.items()); !slices.Equal(got, want) {
				t.Errorf("byte by byte: items %v, want %v", got, want)
			}
			items := rec.items()
			if got := stdinSummary(items); !slices.Equal(got, tc.want) {
				t.Errorf("items %v, want %v", got, tc.want)
			}
			var msgs []string
			for _, it := range items {
				if it.Err != nil {
					msgs = append(msgs, it.Err.Error())
				}
			}
			if len(msgs) != len(tc.msgs) {
				t.Fatalf("errors %q, want %q", msgs, tc.msgs)
			}
			for i, m := range msgs {
				if !strings.Contains(m, tc.msgs[i]) {
					t.Errorf("error %q, want it to contain %q", m, tc.msgs[i])
				}
			}
		})
	}
}

func TestStdinUTF16(t *testing.T) {
	in := strings.ReplaceAll("<Events>\n"+events(1, 2)+"</Events>\n", "\n", "\r\n")
	b := []byte{0xFF, 0xFE}
	for _, u := range utf16.Encode([]rune(in + "é😀")) {
		b = append(b, byte(u), byte(u>>8))
	}
	rec, err := runStdin(t, iotest.OneByteReader(strings.NewReader(string(b))))
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"#1@2:1", "#2@3:1", "!5:1"}
	if got := stdinSummary(rec.items()); !slices.Equal(got, want) {
		t.Errorf("items %v, want %v", got, want)
	}
	if msg := rec.items()[2].Err.Error(); !strings.Contains(msg, `"é😀"`) {
		t.Errorf("error %q", msg)
	}
}

func TestStdinChunks(t *testing.T) {
	ids := make([]int, 1500)
	for i := range ids {
		ids[i] = i + 1
	}
	rec, err := runStdin(t, strings.NewReader(events(ids...)))
	if err != nil {
		t.Fatal(err)
	}
	if n := len(rec.items()); n != 1500 {
		t.Fatalf("%d items", n)
	}
	for i, it := range rec.items() {
		if it.Err != nil || it.Event.RecordID != uint64(i+1) {
			t.Fatalf("item %d: %+v", i, it)
		}
	}
	for _, c := range rec.calls {
		if len(c.items) > maxChunk || len(c.items) == 0 {
			t.Errorf("chunk of %d items", len(c.items))
		}
	}
}

func TestStdinStops(t *testing.T) {
	t.Run("emit error", func(t *testing.T) {
		errStore := errors.New("store full")
		rec := newRecorder(nil)
		rec.fail = errStore
		pr, pw := io.Pipe()
		defer pw.Close()
		go io.WriteString(pw, event(1))
		err := NewStdin("stdin", pr).Run(context.Background(), nil, rec.emit)
		if !errors.Is(err, errStore) {
			t.Fatalf("Run = %v, want %v", err, errStore)
		}
	})
	t.Run("cancel while reading", func(t *testing.T) {
		pr, pw := io.Pipe()
		defer pw.Close()
		ctx, cancel := context.WithCancel(context.Background())
		errc := make(chan error, 1)
		go func() { errc <- NewStdin("stdin", pr).Run(ctx, nil, newRecorder(nil).emit) }()
		cancel()
		select {
		case err := <-errc:
			if err != nil {
				t.Fatalf("Run = %v, want nil", err)
			}
		case <-time.After(time.Second):
			t.Fatal("Run did not return after cancel")
		}
	})
	t.Run("read error", func(t *testing.T) {
		rec, err := runStdin(t, io.MultiReader(strings.NewReader(event(1)), iotest.ErrReader(errors.New("broken pipe"))))
		if err != nil {
			t.Fatal(err)
		}
		items := rec.items()
		if len(items) != 2 || items[1].Err == nil || !strings.Contains(items[1].Err.Error(), "broken pipe") {
			t.Fatalf("items %v", stdinSummary(items))
		}
	})
}
