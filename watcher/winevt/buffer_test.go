package winevt

import (
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"
	"unicode/utf16"
	"unsafe"
)

// step is one scripted Windows call: what it writes, what it reports in
// BufferUsed and the error.
type step struct {
	write string
	nul   bool // write a NUL after write
	used  uint32
	err   error
}

// script plays steps in order, recording the buffer length of each call
// and failing the test when a call writes past buf (plus the one code unit
// of slack renderLoop promises).
type script struct {
	t     *testing.T
	steps []step
	lens  []int
}

func (s *script) call(buf []uint16) (uint32, error) {
	s.t.Helper()
	if len(s.lens) == len(s.steps) {
		s.t.Fatalf("call %d: no more steps", len(s.lens)+1)
	}
	st := s.steps[len(s.lens)]
	s.lens = append(s.lens, len(buf))
	if buf[0] != 0 {
		s.t.Errorf("call %d: buf[0] = %#x, want NUL", len(s.lens), buf[0])
	}
	if cap(buf) < len(buf)+1 {
		s.t.Fatalf("call %d: no slack past the buffer (len %d, cap %d)", len(s.lens), len(buf), cap(buf))
	}
	w := utf16.Encode([]rune(st.write))
	if st.nul {
		w = append(w, 0)
	}
	if len(w) > len(buf)+1 {
		s.t.Fatalf("call %d: script writes %d units into %d", len(s.lens), len(w), len(buf))
	}
	copy(buf[:len(buf)+1], w)
	return st.used, st.err
}

func TestRenderLoop(t *testing.T) {
	long := strings.Repeat("x", initialChars+10)
	tests := []struct {
		name  string
		steps []step
		want  string
		err   error
		lens  []int // buffer lengths of the calls
	}{
		{
			name:  "fits",
			steps: []step{{write: "<Event/>", nul: true, used: 9}},
			want:  "<Event/>",
			lens:  []int{initialChars - 1},
		},
		{
			name:  "over-reported used on success",
			steps: []step{{write: "abc", nul: true, used: 1 << 30}},
			want:  "abc",
			lens:  []int{initialChars - 1},
		},
		{
			name:  "under-reported used on success",
			steps: []step{{write: "abcdef", nul: true, used: 2}},
			want:  "abcdef",
		},
		{
			name:  "empty",
			steps: []step{{nul: true, used: 1}},
			want:  "",
		},
		{
			name: "grows to used",
			steps: []step{
				{used: uint32(len(long) + 1), err: ErrInsufficientBuffer},
				{write: long, nul: true, used: uint32(len(long) + 1)},
			},
			want: long,
			lens: []int{initialChars - 1, len(long) + 1},
		},
		{
			name: "insufficient twice",
			steps: []step{
				{used: initialChars + 5, err: ErrInsufficientBuffer},
				{used: uint32(len(long) + 1), err: ErrInsufficientBuffer},
				{write: long, nul: true, used: 3},
			},
			want: long,
			lens: []int{initialChars - 1, initialChars + 5, len(long) + 1},
		},
		{
			name: "insufficient without a bigger size doubles",
			steps: []step{
				{used: 10, err: ErrInsufficientBuffer},
				{write: "ok", nul: true, used: 3},
			},
			want: "ok",
			lens: []int{initialChars - 1, 2 * (initialChars - 1)},
		},
		{
			name: "odd length",
			steps: []step{
				{used: initialChars + 1, err: ErrInsufficientBuffer},
				{write: strings.Repeat("y", initialChars), nul: true, used: initialChars + 1},
			},
			want: strings.Repeat("y", initialChars),
			lens: []int{initialChars - 1, initialChars + 1},
		},
		{
			name: "text fills the buffer exactly, NUL in the slack",
			steps: []step{
				{write: strings.Repeat("z", initialChars-1), nul: true, used: initialChars},
			},
			want: strings.Repeat("z", initialChars-1),
		},
		{
			name:  "partial message with an error",
			steps: []step{{write: "The %1 service", nul: true, used: 15, err: ErrEvtUnresolvedInsert}},
			want:  "The %1 service",
			err:   ErrEvtUnresolvedInsert,
		},
		{
			name:  "error without text",
			steps: []step{{used: 0, err: ErrEvtMessageNotFound}},
			want:  "",
			err:   ErrEvtMessageNotFound,
		},
		{
			name:  "asks for too much",
			steps: []step{{used: maxChars + 1, err: ErrInsufficientBuffer}},
			err:   ErrInsufficientBuffer,
		},
		{
			name: "never enough",
			steps: func() []step {
				s := make([]step, maxRenderCalls)
				for i := range s {
					s[i] = step{used: 1, err: ErrInsufficientBuffer}
				}
				return s
			}(),
			err: ErrInsufficientBuffer,
		},
		{
			name:  "surrogate pair",
			steps: []step{{write: "disk \U0001F4BE full é", nul: true, used: 20}},
			want:  "disk \U0001F4BE full é",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			resetPool()
			s := &script{t: t, steps: tc.steps}
			got, err := renderLoop(nil, s.call)
			if !errors.Is(err, tc.err) || (tc.err == nil) != (err == nil) {
				t.Fatalf("err = %v, want %v", err, tc.err)
			}
			if string(got) != tc.want {
				t.Errorf("got %q (%d bytes), want %q (%d bytes)", abbrev(string(got)), len(got), abbrev(tc.want), len(tc.want))
			}
			if len(s.lens) != len(tc.steps) {
				t.Errorf("%d calls, want %d", len(s.lens), len(tc.steps))
			}
			if tc.lens != nil && !slices.Equal(s.lens, tc.lens) {
				t.Errorf("buffer lengths %v, want %v", s.lens, tc.lens)
			}
		})
	}
}

// TestRenderLoopPoolReuse checks that a pooled buffer holding a longer
// earlier text gives neither that text nor its tail.
func TestRenderLoopPoolReuse(t *testing.T) {
	for range 3 {
		s := &script{t: t, steps: []step{{write: strings.Repeat("old", 1000), nul: true, used: 3001}}}
		if _, err := renderLoop(nil, s.call); err != nil {
			t.Fatal(err)
		}
		s = &script{t: t, steps: []step{{write: "new", nul: true, used: 1 << 20}}}
		got, err := renderLoop(nil, s.call)
		if err != nil || string(got) != "new" {
			t.Fatalf("got %q, %v; want new", abbrev(string(got)), err)
		}
		s = &script{t: t, steps: []step{{used: 0, err: ErrEvtMessageNotFound}}}
		if got, _ := renderLoop(nil, s.call); len(got) != 0 {
			t.Fatalf("failed call gave %q, want nothing", abbrev(string(got)))
		}
	}
}

// resetPool empties the buffer pool so the next render starts with a new
// buffer of initialChars.
func resetPool() { charPool = sync.Pool{New: newChars} }

func TestTextOf(t *testing.T) {
	u := func(s string) []uint16 { return utf16.Encode([]rune(s)) }
	tests := []struct {
		name string
		buf  []uint16
		used uint32
		want string
	}{
		{"NUL ends", u("ab\x00cd"), 5, "ab"},
		{"NUL wins over used", u("ab\x00cd"), 1, "ab"},
		{"NUL first", u("\x00ab"), 3, ""},
		{"no NUL, used bounds", u("abcdef"), 4, "abcd"},
		{"no NUL, used zero", u("abcdef"), 0, ""},
		{"no NUL, used over", u("abcdef"), 1 << 31, "abcdef"},
		{"no NUL, used exact", u("abcdef"), 6, "abcdef"},
		{"empty", nil, 10, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := string(utf16.Decode(textOf(tc.buf, tc.used))); got != tc.want {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
}

func TestRenderLoopAppends(t *testing.T) {
	s := &script{t: t, steps: []step{{write: "b", nul: true, used: 2}}}
	got, err := renderLoop([]byte("a"), s.call)
	if err != nil || string(got) != "ab" {
		t.Fatalf("got %q, %v", got, err)
	}
}

func TestAppendUTF16(t *testing.T) {
	tests := []struct {
		name string
		in   []uint16
		want string
	}{
		{"ascii", []uint16{'a', 'b'}, "ab"},
		{"bmp", []uint16{0xe9, 0x4e2d}, "é中"},
		{"pair", []uint16{0xd83d, 0xdcbe}, "\U0001F4BE"},
		{"lone high at end", []uint16{'a', 0xd83d}, "a\uFFFD"},
		{"lone high then ascii", []uint16{0xd83d, 'a'}, "\uFFFDa"},
		{"lone low", []uint16{0xdcbe, 'a'}, "\uFFFDa"},
		{"two highs then low", []uint16{0xd83d, 0xd83d, 0xdcbe}, "\uFFFD\U0001F4BE"},
		{"empty", nil, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := string(appendUTF16(nil, tc.in)); got != tc.want {
				t.Errorf("got %q, want %q", got, tc.want)
			}
			// The standard library agrees.
			if got, want := string(appendUTF16(nil, tc.in)), string(utf16.Decode(tc.in)); got != want {
				t.Errorf("got %q, utf16.Decode gives %q", got, want)
			}
		})
	}
}

func TestGrow(t *testing.T) {
	tests := []struct {
		name string
		have int
		used uint32
		want int
		ok   bool
	}{
		{"bigger", 100, 150, 150, true},
		{"same", 100, 100, 200, true},
		{"smaller", 100, 3, 200, true},
		{"limit", 100, maxChars, maxChars, true},
		{"past limit", 100, maxChars + 1, 0, false},
		{"doubling past limit", maxChars, 1, 0, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := grow(tc.have, tc.used)
			if ok != tc.ok || (ok && got != tc.want) {
				t.Errorf("grow(%d, %d) = %d, %v; want %d, %v", tc.have, tc.used, got, ok, tc.want, tc.ok)
			}
		})
	}
}

func TestEvtVariantLayout(t *testing.T) {
	var v evtVariant
	if unsafe.Sizeof(v) != 16 || unsafe.Offsetof(v.count) != 8 || unsafe.Offsetof(v.typ) != 12 || unsafe.Alignof(v) != 8 {
		t.Fatalf("EVT_VARIANT layout: size %d, count at %d, type at %d, align %d; want 16, 8, 12, 8",
			unsafe.Sizeof(v), unsafe.Offsetof(v.count), unsafe.Offsetof(v.typ), unsafe.Alignof(v))
	}
}

func TestEvtVariantUint64(t *testing.T) {
	tests := []struct {
		name string
		v    evtVariant
		want uint64
		ok   bool
	}{
		{"uint64", evtVariant{value: 1 << 40, typ: evtVarTypeUInt64}, 1 << 40, true},
		{"hex uint64", evtVariant{value: 7, typ: evtVarTypeHexInt64}, 7, true},
		{"uint32 ignores the high half", evtVariant{value: 0xdeadbeef_00000005, typ: evtVarTypeUInt32}, 5, true},
		{"null is zero", evtVariant{value: 99, typ: evtVarTypeNull}, 0, true},
		{"string", evtVariant{typ: 1}, 0, false},
		{"array", evtVariant{count: 2, typ: evtVarTypeUInt64 | evtVarTypeArray}, 0, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := tc.v.uint64Value()
			if (err == nil) != tc.ok || got != tc.want {
				t.Errorf("got %d, %v; want %d, ok %v", got, err, tc.want, tc.ok)
			}
		})
	}
}

func abbrev(s string) string {
	if len(s) > 40 {
		return s[:20] + "…" + s[len(s)-20:]
	}
	return s
}
