package source

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/logmedic/logmedic/watcher"
	"github.com/logmedic/logmedic/watcher/decode"
)

// stdinInput is the Item.Input of Stdin's items.
const stdinInput = "-"

// maxElement is the longest event (or comment, or declaration) Stdin
// waits for the end of; longer ones are reported and skipped.
const maxElement = 16 << 20

// Stdin is a source that decodes a stream of rendered event XML as it
// arrives: events one after another, as "wevtutil qe /f:xml" prints them,
// possibly inside an <Events> wrapper, in UTF-8 or in UTF-16 with a BOM.
// Each event is emitted as soon as its </Event> has arrived. Text that is
// not an event is reported as an Item with Err, placed at its line and
// column, and decoding goes on at the next <Event>.
type Stdin struct {
	name string
	r    io.Reader
}

// NewStdin returns a source named name that reads r.
func NewStdin(name string, r io.Reader) *Stdin {
	return &Stdin{name: name, r: r}
}

// Name returns the source's name.
func (s *Stdin) Name() string { return s.name }

// Run decodes the stream until its end or until ctx is done, and returns
// nil then. A stream cannot resume: checkpoints are ignored, and every
// chunk is emitted with Checkpoint{} (Key "", Data nil). An event cut by
// the end of the stream, and a read error, are reported as items with
// Err.
//
// The reads run in a goroutine of their own so that Run can return when
// ctx is done; a read blocked then ends in the background when the
// reader returns.
func (s *Stdin) Run(ctx context.Context, _ map[string][]byte, emit watcher.Emit) error {
	type read struct {
		data []byte
		err  error
	}
	reads := make(chan read)
	stop := make(chan struct{})
	defer close(stop)
	go func() {
		for {
			buf := make([]byte, 32<<10)
			n, err := s.r.Read(buf)
			if n == 0 && err == nil {
				continue
			}
			select {
			case reads <- read{buf[:n], err}:
			case <-stop:
				return
			}
			if err != nil {
				return
			}
		}
	}()
	st := stream{line: 1, col: 1}
	for {
		var rd read
		select {
		case <-ctx.Done():
			return nil
		case rd = <-reads:
		}
		eof := rd.err != nil
		st.write(rd.data, eof)
		st.split(eof)
		if eof {
			st.finish(rd.err)
		}
		for len(st.items) > 0 {
			n := min(len(st.items), maxChunk)
			if err := emit(ctx, st.items[:n], watcher.Checkpoint{}); err != nil {
				return done(ctx, err)
			}
			st.items = st.items[n:]
		}
		st.items = nil
		if eof {
			return nil
		}
	}
}

// stream splits a stream of event XML into events.
type stream struct {
	head    []byte // the first bytes, until the encoding is known
	started bool
	u16     *utf16Stream // the stream is UTF-16

	buf []byte // text not yet consumed
	// cur is an offset in buf, at line and col (1-based, in characters);
	// positions are asked for in order, from cur on.
	cur       int
	line, col int
	skip      bool // discarding text after an error, up to the next event
	searched  int  // how far the event at buf[0] was searched for its end

	ev    watcher.Event
	items []watcher.Item
}

// write adds data read to the stream, as UTF-8.
func (s *stream) write(data []byte, eof bool) {
	if !s.started {
		s.head = append(s.head, data...)
		if len(s.head) < 4 && !eof {
			return
		}
		s.started = true
		data, s.head = s.head, nil
		switch {
		case bytes.HasPrefix(data, []byte{0xEF, 0xBB, 0xBF}):
			data = data[3:]
		case bytes.HasPrefix(data, []byte{0xFF, 0xFE}):
			s.u16, data = &utf16Stream{}, data[2:]
		case bytes.HasPrefix(data, []byte{0xFE, 0xFF}):
			s.u16, data = &utf16Stream{big: true}, data[2:]
		case len(data) >= 4 && data[0] != 0 && data[1] == 0 && data[2] != 0 && data[3] == 0:
			s.u16 = &utf16Stream{} // UTF-16LE without a BOM
		}
	}
	if s.u16 != nil {
		data = s.u16.decode(data, eof)
	}
	s.buf = append(s.buf, data...)
}

// finish reports, at the end of the stream, half a UTF-16 character and
// a read error.
func (s *stream) finish(err error) {
	if s.u16 != nil && len(s.u16.carry) > 0 {
		s.fail(len(s.buf), "UTF-16 input has an odd number of bytes: it ends in half a character, which is dropped; the input is cut")
	}
	if err != io.EOF {
		s.fail(len(s.buf), "read standard input: "+err.Error())
	}
}

// pos returns the line and column of buf[i]; i never goes back between
// two calls to consume.
func (s *stream) pos(i int) (int, int) {
	seg := s.buf[s.cur:i]
	if n := bytes.Count(seg, []byte{'\n'}); n > 0 {
		s.line += n
		s.col = 1
		seg = seg[bytes.LastIndexByte(seg, '\n')+1:]
	}
	s.col += utf8.RuneCount(seg)
	s.cur = i
	return s.line, s.col
}

// consume drops buf[:i].
func (s *stream) consume(i int) {
	s.pos(i)
	s.buf = append(s.buf[:0], s.buf[i:]...)
	s.cur = 0
}

func (s *stream) fail(i int, msg string) {
	l, c := s.pos(i)
	s.items = append(s.items, watcher.Item{
		Input: stdinInput,
		Where: fmt.Sprintf("%d:%d", l, c),
		Err:   &decode.Error{Source: stdinInput, Line: l, Col: c, Msg: msg},
	})
}

// split turns the complete events in buf into items, and at the end of
// the stream everything left.
func (s *stream) split(eof bool) {
	b := s.buf
	i := 0
	// wait is called when b[i:] is incomplete: it reports whether to
	// wait for more, and otherwise reports the element as too long or
	// cut by the end of the stream.
	wait := func(what string) bool {
		switch {
		case len(b)-i > maxElement:
			s.fail(i, fmt.Sprintf("%s has no end within %d MiB", what, maxElement>>20))
		case !eof:
			return true
		default:
			s.fail(len(b), "unexpected end of input inside "+what+"; the input is cut")
		}
		s.skip = true
		i++
		return false
	}
loop:
	for {
		if s.skip {
			j, found := resync(b[i:])
			i += j
			if !found {
				if eof {
					i = len(b)
				}
				break
			}
			s.skip = false
		}
		for i < len(b) && isSpace(b[i]) {
			i++
		}
		if i == len(b) {
			break
		}
		r := b[i:]
		if r[0] != '<' {
			if !bytes.ContainsAny(r, "<\n") && len(r) < 80 && !eof {
				break // wait for a line to quote
			}
			s.fail(i, "text outside any <Event>: "+quote(r))
			s.skip = true
			i++
			continue
		}
		switch {
		case bytes.HasPrefix(r, []byte("<?")):
			if !s.skipPast(&i, "?>", "<?", wait) {
				break loop
			}
		case bytes.HasPrefix(r, []byte("<!--")):
			if !s.skipPast(&i, "-->", "<!--", wait) {
				break loop
			}
		case bytes.HasPrefix(r, []byte("<!DOCTYPE")):
			if !s.skipPast(&i, ">", "<!DOCTYPE", wait) {
				break loop
			}
		default:
			k := 1
			if len(r) > 1 && r[1] == '/' {
				k = 2
			}
			for k < len(r) && isNameChar(r[k]) {
				k++
			}
			if k == len(r) {
				if wait("<" + string(r[1:min(k, 41)])) {
					break loop
				}
				continue
			}
			name := string(r[1:k])
			switch {
			case name == "Events" || name == "/Events":
				if !s.skipPast(&i, ">", "<"+name+">", wait) {
					break loop
				}
			case name == "Event":
				from := 0
				if i == 0 {
					from = s.searched
				}
				s.searched = 0
				end, ok := eventEnd(r, from)
				if ok {
					s.event(i, r[:end], false)
					i += end
					continue
				}
				if !eof && len(r) <= maxElement {
					s.searched = end
					break loop
				}
				if eof {
					s.event(i, r, true)
					i = len(b)
					break loop
				}
				s.fail(i, fmt.Sprintf("<Event> has no </Event> within %d MiB", maxElement>>20))
				s.skip = true
				i++
			default:
				s.fail(i, "expected <Event>, found <"+name+">")
				s.skip = true
				i++
			}
		}
	}
	s.consume(i)
}

// skipPast moves *i past the first end after it, as for a comment.
// It returns false to wait for more input.
func (s *stream) skipPast(i *int, end, what string, wait func(string) bool) bool {
	r := s.buf[*i:]
	if k := bytes.Index(r, []byte(end)); k >= 0 {
		*i += k + len(end)
		return true
	}
	return !wait(what)
}

// event decodes one event, or what the stream ended inside.
func (s *stream) event(i int, raw []byte, cut bool) {
	text := raw
	if bytes.IndexByte(raw, '\r') >= 0 {
		text = []byte(decode.NormalizeNewlines(string(raw)))
	}
	l, c := s.pos(i)
	err := decode.XML{}.Decode(&s.ev, text)
	if err == nil {
		s.items = append(s.items, watcher.Item{Event: s.ev.Clone(), Input: stdinInput, Where: fmt.Sprintf("%d:%d", l, c)})
		return
	}
	off, msg := i, err.Error()
	var se *decode.SyntaxError
	if errors.As(err, &se) {
		off, msg = i+rawOffset(raw, se.Offset), se.Msg
	}
	if cut {
		msg += fmt.Sprintf("; the input ends inside the event that starts at %d:%d: it is cut", l, c)
	}
	s.fail(off, msg)
}

// rawOffset maps an offset into raw with its newlines normalized back
// into raw.
func rawOffset(raw []byte, off int) int {
	i := 0
	for n := 0; n < off && i < len(raw); n++ {
		if raw[i] == '\r' && i+1 < len(raw) && raw[i+1] == '\n' {
			i++
		}
		i++
	}
	return i
}

// eventEnd returns the end of the </Event> tag that closes the event b
// starts with, searching from from; when there is none yet, it returns
// where to search from once more has arrived.
func eventEnd(b []byte, from int) (int, bool) {
	tag := []byte("</Event")
	for k := from; ; {
		j := bytes.Index(b[k:], tag)
		if j < 0 {
			return max(len(b)-len(tag)+1, k), false
		}
		p := k + j + len(tag)
		for p < len(b) && isSpace(b[p]) {
			p++
		}
		if p == len(b) {
			return k + j, false
		}
		if b[p] == '>' {
			return p + 1, true
		}
		k += j + 1
	}
}

// resync returns the offset of the next <Event>, <Events> or </Events>
// tag in b, or how much of b can be dropped while looking for one.
func resync(b []byte) (int, bool) {
	for k := 0; k < len(b); k++ {
		if b[k] != '<' {
			continue
		}
		for _, lit := range [...]string{"<Event", "<Events", "</Events"} {
			rest := b[k:]
			if len(rest) <= len(lit) {
				if strings.HasPrefix(lit, string(rest)) {
					return k, false // may be one: wait
				}
				continue
			}
			if bytes.HasPrefix(rest, []byte(lit)) && !isNameChar(rest[len(lit)]) {
				return k, true
			}
		}
	}
	return len(b), false
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

func isNameChar(c byte) bool {
	return c != ' ' && c != '\t' && c != '\n' && c != '\r' && c != '>' && c != '/' && c != '=' && c != '<'
}

// quote quotes the start of the first line of b.
func quote(b []byte) string {
	if i := bytes.IndexAny(b, "<\n"); i >= 0 {
		b = b[:i]
	}
	s := strings.TrimSpace(string(b))
	if len(s) > 40 {
		n := 40
		for n > 0 && !utf8.RuneStart(s[n]) {
			n--
		}
		return strconv.Quote(s[:n]) + "..."
	}
	return strconv.Quote(s)
}

// utf16Stream turns UTF-16 read in pieces into UTF-8.
type utf16Stream struct {
	big   bool
	carry []byte // an odd byte, or a high surrogate, left from the last piece
}

func (u *utf16Stream) decode(b []byte, eof bool) []byte {
	b = append(u.carry, b...)
	units := make([]uint16, len(b)/2)
	for i := range units {
		if u.big {
			units[i] = uint16(b[2*i])<<8 | uint16(b[2*i+1])
		} else {
			units[i] = uint16(b[2*i]) | uint16(b[2*i+1])<<8
		}
	}
	n := len(units)
	if !eof && n > 0 && units[n-1] >= 0xD800 && units[n-1] < 0xDC00 {
		n-- // a high surrogate: its pair comes next
	}
	u.carry = append([]byte(nil), b[2*n:]...)
	var out []byte
	for _, r := range utf16.Decode(units[:n]) {
		out = utf8.AppendRune(out, r)
	}
	return out
}
