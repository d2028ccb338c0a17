package winevt

import (
	"errors"
	"fmt"
	"sync"
	"unicode/utf16"
	"unicode/utf8"
)

// The buffers EvtRender and EvtFormatMessage write into, in UTF-16 code
// units. Most events and messages fit the first one, so each renders in a
// single call (Beats PR #39544).
const (
	initialChars   = 8 << 10   // 16 KiB
	maxPooledChars = 256 << 10 // 512 KiB: bigger buffers are not kept
	maxChars       = 16 << 20  // 32 MiB: Windows asking for more is a bug
	maxRenderCalls = 8
)

var charPool = sync.Pool{New: newChars}

func newChars() any {
	b := make([]uint16, initialChars)
	return &b
}

// renderCall fills buf as EvtRender or EvtFormatMessage do, returning
// what Windows puts in BufferUsed converted to UTF-16 code units, and its
// error.
type renderCall func(buf []uint16) (used uint32, err error)

// renderLoop runs call with a pooled buffer, growing it after
// ErrInsufficientBuffer, and returns the text as UTF-8. It appends to dst.
//
// It trusts used only after ErrInsufficientBuffer, as the size to ask for
// next: EvtFormatMessage has been seen to report more than it wrote, even
// more than the buffer holds (Beats PRs #34005 and #35437). Otherwise the
// text ends at the first NUL in buf; used bounds it only when there is
// none.
//
// call gets buf with one more code unit reserved past its end, because
// EvtFormatMessage writes a second NUL past BufferSize (DataDog PR
// #20760). buf[0] is NUL before each call, so a call that fails without
// writing gives "".
//
// On any other error, renderLoop returns what the call wrote (Windows
// writes partial messages with ERROR_EVT_UNRESOLVED_VALUE_INSERT and its
// kin) with the error unchanged: the caller decides.
func renderLoop(dst []byte, call renderCall) ([]byte, error) {
	p := charPool.Get().(*[]uint16)
	full := *p
	defer func() {
		if cap(full) <= maxPooledChars {
			*p = full
			charPool.Put(p)
		}
	}()
	var err error
	for range maxRenderCalls {
		buf := full[:len(full)-1]
		buf[0] = 0
		var used uint32
		used, err = call(buf)
		if !errors.Is(err, ErrInsufficientBuffer) {
			return appendUTF16(dst, textOf(buf, used)), err
		}
		n, ok := grow(len(buf), used)
		if !ok {
			return dst, fmt.Errorf("render: Windows asks for %d characters: %w", used, err)
		}
		full = make([]uint16, n+1)
	}
	return dst, fmt.Errorf("render: buffer still short after %d calls: %w", maxRenderCalls, err)
}

// grow returns the next buffer length after ErrInsufficientBuffer with
// have code units when Windows said it needs used: used, or twice have
// when used is no more than have (Windows contradicting itself), false
// past maxChars.
func grow(have int, used uint32) (int, bool) {
	n := int(used)
	if used <= uint32(have) {
		n = 2 * have
	}
	return n, n <= maxChars
}

// textOf returns the text Windows wrote into buf: up to the first NUL, or
// when there is none the first used code units (all of buf if used
// claims more).
func textOf(buf []uint16, used uint32) []uint16 {
	for i, c := range buf {
		if c == 0 {
			return buf[:i]
		}
	}
	if uint64(used) < uint64(len(buf)) {
		return buf[:used]
	}
	return buf
}

// appendUTF16 appends s, UTF-16, to dst as UTF-8. An unpaired surrogate
// becomes U+FFFD.
func appendUTF16(dst []byte, s []uint16) []byte {
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c < utf8.RuneSelf:
			dst = append(dst, byte(c))
		case utf16.IsSurrogate(rune(c)) && i+1 < len(s):
			r := utf16.DecodeRune(rune(c), rune(s[i+1]))
			if r != utf8.RuneError {
				i++
			}
			dst = utf8.AppendRune(dst, r)
		default:
			if utf16.IsSurrogate(rune(c)) {
				c = utf8.RuneError
			}
			dst = utf8.AppendRune(dst, rune(c))
		}
	}
	return dst
}

// evtVariant is an EVT_VARIANT: an 8-byte union, the count of values
// when the type is an array, and the type. It is 16 bytes on the 64-bit
// targets (amd64, arm64); buffer_test.go checks the layout.
type evtVariant struct {
	value uint64
	count uint32
	typ   uint32
}

// EVT_VARIANT_TYPE values that log properties use (winevt.h).
const (
	evtVarTypeNull     = 0
	evtVarTypeUInt32   = 8
	evtVarTypeUInt64   = 10
	evtVarTypeHexInt64 = 21
	evtVarTypeArray    = 128 // EVT_VARIANT_TYPE_ARRAY
	evtVarTypeMask     = 0x7f
)

// uint64Value reads a log property that Windows documents as
// EvtVarTypeUInt64 (EvtLogOldestRecordNumber, EvtLogNumberOfLogRecords).
// EvtVarTypeNull (no value, such as the oldest record of an empty log)
// reads as 0.
func (v evtVariant) uint64Value() (uint64, error) {
	if v.typ&evtVarTypeArray != 0 {
		return 0, fmt.Errorf("log property: an array of %d values of type %d", v.count, v.typ&evtVarTypeMask)
	}
	switch v.typ {
	case evtVarTypeNull:
		return 0, nil
	case evtVarTypeUInt64, evtVarTypeHexInt64:
		return v.value, nil
	case evtVarTypeUInt32:
		return uint64(uint32(v.value)), nil
	}
	return 0, fmt.Errorf("log property: variant type %d, not UInt64", v.typ)
}
