package decode

import (
	"bytes"
	"fmt"
	"strings"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/logmedic/logmedic/watcher"
)

// Error is an input that could not be decoded, with where: FILE:LINE:COL
// for text, FILE: chunk N (offset X) for .evtx files.
type Error struct {
	Source string
	Line   int // 1-based; 0 when the position is not a text position
	Col    int // 1-based, in characters
	Where  string
	Msg    string
}

func (e *Error) Error() string {
	switch {
	case e.Line > 0:
		return fmt.Sprintf("%s:%d:%d: %s", e.Source, e.Line, e.Col, e.Msg)
	case e.Where != "":
		return fmt.Sprintf("%s: %s: %s", e.Source, e.Where, e.Msg)
	}
	return e.Source + ": " + e.Msg
}

// Pos is where an event was found: the input's name, and a line and
// column for text or a chunk and record for .evtx files.
type Pos struct {
	Source    string
	Line, Col int    // text inputs
	Where     string // .evtx: "chunk 3 record 17"
}

func (p Pos) String() string {
	if p.Where != "" {
		return p.Where
	}
	return fmt.Sprintf("%d:%d", p.Line, p.Col)
}

// Func receives each event of an input in order, or an error for a part
// that could not be decoded; decoding goes on after an error. The Event is
// reused for the next call. Returning a non-nil error stops decoding.
type Func func(ev *watcher.Event, pos Pos, err error) error

// Text decodes every event in data, the whole content of one input named
// source: rendered XML (one event, several, or an <Events> wrapper), Event
// Viewer "Copy details" text, or Event Viewer's XML view with "- " markers;
// UTF-8, or UTF-16 with a BOM; LF or CRLF.
//
// UTF-16 text with an odd number of bytes is cut: the whole characters are
// decoded, and the cut is reported at the end of the text.
func Text(source string, data []byte, fn Func) error {
	s, cut := normalize(data)
	d := textDecoder{source: source, s: s, fn: fn, ev: new(watcher.Event)}
	var err error
	if isEventViewerText(s) {
		err = d.copies()
	} else {
		err = d.xmlStream(0, len(s), nil)
	}
	if err != nil || cut == "" {
		return err
	}
	return d.fail(len(d.s), cut)
}

// normalize returns data as UTF-8 text with LF line ends and, for UTF-16
// text cut in half a character, a message saying so.
func normalize(data []byte) (string, string) {
	switch {
	case bytes.HasPrefix(data, []byte{0xEF, 0xBB, 0xBF}):
		data = data[3:]
	case bytes.HasPrefix(data, []byte{0xFF, 0xFE}):
		return normalizeUTF16(data[2:], false)
	case bytes.HasPrefix(data, []byte{0xFE, 0xFF}):
		return normalizeUTF16(data[2:], true)
	case len(data) >= 4 && data[0] != 0 && data[1] == 0 && data[2] != 0 && data[3] == 0:
		return normalizeUTF16(data, false) // UTF-16LE without a BOM
	}
	return NormalizeNewlines(string(data)), ""
}

func normalizeUTF16(b []byte, bigEndian bool) (string, string) {
	u := make([]uint16, len(b)/2)
	for i := range u {
		if bigEndian {
			u[i] = uint16(b[2*i])<<8 | uint16(b[2*i+1])
		} else {
			u[i] = uint16(b[2*i]) | uint16(b[2*i+1])<<8
		}
	}
	s := NormalizeNewlines(string(utf16.Decode(u)))
	if len(b)%2 != 0 {
		return s, fmt.Sprintf("UTF-16 text has an odd number of bytes (%d): it ends in half a character, which is dropped; the input is cut", len(b))
	}
	return s, ""
}

// NormalizeNewlines turns CRLF and lone CR into LF, as XML requires of
// parsed text.
func NormalizeNewlines(s string) string {
	if strings.IndexByte(s, '\r') < 0 {
		return s
	}
	return strings.ReplaceAll(strings.ReplaceAll(s, "\r\n", "\n"), "\r", "\n")
}

type textDecoder struct {
	source string
	s      string
	fn     Func
	ev     *watcher.Event
	at     textPos // the last position lineCol computed
	// scanned counts the bytes lineCol looked at, for tests.
	scanned int
}

// textPos is a byte offset of the text with its 1-based line and column.
type textPos struct{ off, line, col int }

// lineCol converts a byte offset of d.s into a 1-based line and column,
// counting columns in characters. It counts from the last offset it was
// asked for, so walking an input's events in order costs one pass over
// it.
func (d *textDecoder) lineCol(off int) (int, int) {
	off = min(max(off, 0), len(d.s))
	at := d.at
	if at.line == 0 {
		at = textPos{0, 1, 1}
	}
	if off >= at.off {
		seg := d.s[at.off:off]
		d.scanned += len(seg)
		if n := strings.Count(seg, "\n"); n > 0 {
			at.line += n
			seg = seg[strings.LastIndexByte(seg, '\n')+1:]
			at.col = 1
		}
		at.col += utf8.RuneCountInString(seg)
	} else {
		// Back: uncount the lines in between, then find the start of
		// the line.
		seg := d.s[off:at.off]
		at.line -= strings.Count(seg, "\n")
		start := strings.LastIndexByte(d.s[:off], '\n') + 1
		d.scanned += len(seg) + off - start
		at.col = 1 + utf8.RuneCountInString(d.s[start:off])
	}
	at.off = off
	// Only remember a character boundary: counting on from the middle of
	// a character would count its bytes as characters.
	if off == len(d.s) || utf8.RuneStart(d.s[off]) {
		d.at = at
	}
	return at.line, at.col
}

func (d *textDecoder) fail(off int, msg string) error {
	l, c := d.lineCol(off)
	return d.fn(nil, Pos{Source: d.source, Line: l, Col: c}, &Error{Source: d.source, Line: l, Col: c, Msg: msg})
}

// syntax reports a parser error in the event that starts at offset start.
// The error is placed where the parser stopped; for an input that ends
// inside the event, the message also says where the event and the
// unclosed element started.
func (d *textDecoder) syntax(err error, start int) error {
	switch e := err.(type) {
	case *openError:
		// In order, so lineCol counts forward.
		el, ec := d.lineCol(start)
		ol, oc := d.lineCol(e.Opened)
		in := ""
		if e.Opened != start {
			in = fmt.Sprintf(" in the event that starts at %d:%d", el, ec)
		}
		return d.fail(e.Offset, fmt.Sprintf("%s (opened at %d:%d)%s; the input is cut or not well-formed", e.Msg, ol, oc, in))
	case *SyntaxError:
		return d.fail(e.Offset, e.Msg)
	}
	return d.fail(start, err.Error())
}

// xmlStream decodes the events in d.s[from:to]. hdr, if set, fills what an
// Event Viewer text header knows and the XML lacks.
func (d *textDecoder) xmlStream(from, to int, hdr *header) error {
	seg := d.s[:to]
	if hasCollapseMarkers(seg[from:]) {
		// Blank out Event Viewer's "- " markers, keeping every column.
		d.s = d.s[:from] + stripCollapseMarkers(seg[from:]) + d.s[to:]
		seg = d.s[:to]
	}
	p := parser{s: seg, pos: from}
	found := false
	for {
		p.skipMisc()
		if p.pos >= to {
			break
		}
		if p.at("<Events") || p.at("</Events") {
			p.skipPast(">")
			continue
		}
		if p.s[p.pos] != '<' {
			// Stray text at top level: report it and resynchronize at the
			// next event.
			off := p.pos
			next := nextEvent(seg, off)
			if err := d.fail(off, "text outside any <Event>: "+quote(strings.TrimSpace(firstLine(seg[off:])))); err != nil {
				return err
			}
			found = true
			p.pos = next
			continue
		}
		if !p.at("<Event") || (p.pos+6 < len(seg) && isNameChar(seg[p.pos+6])) {
			off := p.pos
			t, _ := p.startTag()
			if err := d.fail(off, "expected <Event>, found <"+t.name+">"); err != nil {
				return err
			}
			found = true
			p.pos = nextEvent(seg, off+1)
			continue
		}
		start := p.pos
		found = true
		if err := p.event(d.ev); err != nil {
			if err := d.syntax(err, start); err != nil {
				return err
			}
			p.pos = nextEvent(seg, start+1)
			continue
		}
		if hdr != nil {
			hdr.fill(d.ev)
		}
		l, c := d.lineCol(start)
		if err := d.fn(d.ev, Pos{Source: d.source, Line: l, Col: c}, nil); err != nil {
			return err
		}
	}
	if !found {
		return d.fail(from, "no <Event> found: not an event, an event export or an Event Viewer copy")
	}
	return nil
}

// nextEvent returns the offset of the next "<Event" start tag at or after
// off, or len(s).
func nextEvent(s string, off int) int {
	for off < len(s) {
		i := strings.Index(s[off:], "<Event")
		if i < 0 {
			return len(s)
		}
		off += i
		if off+6 < len(s) && !isNameChar(s[off+6]) {
			return off
		}
		off += 6
	}
	return len(s)
}

func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i]
	}
	return s
}

// hasCollapseMarkers reports whether lines start with Event Viewer's
// "- <" collapse markers.
func hasCollapseMarkers(s string) bool {
	for i := 0; i < len(s); {
		j := i
		for j < len(s) && (s[j] == ' ' || s[j] == '\t') {
			j++
		}
		if strings.HasPrefix(s[j:], "- <") {
			return true
		}
		k := strings.IndexByte(s[i:], '\n')
		if k < 0 {
			break
		}
		i += k + 1
	}
	return false
}

func stripCollapseMarkers(s string) string {
	b := []byte(s)
	for i := 0; i < len(b); {
		j := i
		for j < len(b) && (b[j] == ' ' || b[j] == '\t') {
			j++
		}
		if j+2 < len(b) && b[j] == '-' && b[j+1] == ' ' && b[j+2] == '<' {
			b[j] = ' '
		}
		k := bytes.IndexByte(b[i:], '\n')
		if k < 0 {
			break
		}
		i += k + 1
	}
	return string(b)
}
