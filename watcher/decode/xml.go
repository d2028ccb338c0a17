// Package decode turns rendered Windows event XML, in every form Windows and
// admins produce it, into watcher.Events.
//
// XML (EvtRender, wevtutil qe /f:xml and /f:RenderedXml) is read by a
// purpose-built scanner rather than encoding/xml: it lives on the daemon's
// hot path, it must accept what Windows really emits (control characters
// such as U+0003 that are not legal XML 1.0, Event Viewer's unescaped
// VolumesInfo markup), it reports truncation with the element that was
// left open, and it refuses elements nested deeper than real events nest.
// Text is the entry point for whole inputs: files with an <Events> wrapper
// or several events, Event Viewer "Copy details" text and XML view, UTF-16
// and CRLF.
package decode

import (
	"fmt"
	"strings"
	"time"

	"github.com/logmedic/logmedic/watcher"
)

// XML decodes one rendered event. It implements watcher.Decoder.
type XML struct{}

var _ watcher.Decoder = XML{}

// Decode fills dst from one <Event> element in raw. Leading and trailing
// whitespace, an XML declaration and comments are allowed around it, and
// NUL bytes after it (EvtRender's buffer ends in one).
func (XML) Decode(dst *watcher.Event, raw []byte) error {
	s := string(raw)
	p := parser{s: s}
	p.skipMisc()
	if !p.at("<Event") {
		return p.errorf(p.pos, "expected <Event>")
	}
	if err := p.event(dst); err != nil {
		return err
	}
	// EvtRender's buffer ends in a NUL character, which callers may pass
	// on.
	for {
		p.skipMisc()
		if p.pos == len(s) || s[p.pos] != 0 {
			break
		}
		p.pos++
	}
	if p.pos < len(s) {
		return p.errorf(p.pos, "unexpected content after </Event>")
	}
	return nil
}

// SyntaxError is a problem at a byte offset of an input.
type SyntaxError struct {
	Offset int
	Msg    string
}

func (e *SyntaxError) Error() string { return e.Msg }

// maxDepth is how deep elements may nest below <Event>. Real events nest
// a few levels; the cap keeps hostile input from exhausting the stack.
const maxDepth = 64

type parser struct {
	s     string
	pos   int
	depth int // elements open below <Event>
}

func (p *parser) errorf(off int, msg string) error {
	return &SyntaxError{Offset: off, Msg: msg}
}

func (p *parser) at(prefix string) bool { return strings.HasPrefix(p.s[p.pos:], prefix) }

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

func (p *parser) skipSpace() {
	for p.pos < len(p.s) && isSpace(p.s[p.pos]) {
		p.pos++
	}
}

// skipMisc skips whitespace, a BOM, XML declarations, processing
// instructions, comments and DOCTYPE.
func (p *parser) skipMisc() {
	for {
		p.skipSpace()
		switch {
		case p.at("\uFEFF"):
			p.pos += 3
		case p.at("<?"):
			p.skipPast("?>")
		case p.at("<!--"):
			p.skipPast("-->")
		case p.at("<!DOCTYPE"):
			p.skipPast(">")
		default:
			return
		}
	}
}

func (p *parser) skipPast(end string) {
	i := strings.Index(p.s[p.pos:], end)
	if i < 0 {
		p.pos = len(p.s)
		return
	}
	p.pos += i + len(end)
}

// tag is a parsed start tag.
type tag struct {
	name      string
	attrs     string // raw text between the name and '>' or '/>'
	selfClose bool
	off       int // offset of '<'
}

func isNameChar(c byte) bool {
	return c != ' ' && c != '\t' && c != '\n' && c != '\r' && c != '>' && c != '/' && c != '=' && c != '<'
}

// startTag reads a start tag at p.pos, which must be '<'.
func (p *parser) startTag() (tag, error) {
	t := tag{off: p.pos}
	i := p.pos + 1
	j := i
	for j < len(p.s) && isNameChar(p.s[j]) {
		j++
	}
	if j == i {
		return t, p.errorf(p.pos, "expected an element name after '<'")
	}
	t.name = p.s[i:j]
	// Find the end of the tag, skipping quoted attribute values.
	k := j
	for k < len(p.s) {
		c := p.s[k]
		if c == '"' || c == '\'' {
			e := strings.IndexByte(p.s[k+1:], c)
			if e < 0 {
				return t, p.cut(t, "unexpected end of input in an attribute of <"+t.name+">")
			}
			k += e + 2
			continue
		}
		if c == '>' {
			t.attrs = p.s[j:k]
			if k > j && p.s[k-1] == '/' {
				t.attrs = p.s[j : k-1]
				t.selfClose = true
			}
			p.pos = k + 1
			return t, nil
		}
		if c == '<' {
			return t, p.errorf(k, "unexpected '<' inside the start tag <"+t.name+">")
		}
		k++
	}
	return t, p.cut(t, "unexpected end of input in the start tag <"+t.name+">")
}

// attr returns the unescaped value of attribute name in a tag's attribute
// text, or "" if it has none.
func attr(attrs, name string) string {
	for i := 0; i < len(attrs); {
		j := strings.Index(attrs[i:], name)
		if j < 0 {
			return ""
		}
		j += i
		k := j + len(name)
		before := j == 0 || isSpace(attrs[j-1])
		// Allow spaces around '='.
		m := k
		for m < len(attrs) && isSpace(attrs[m]) {
			m++
		}
		if before && m < len(attrs) && attrs[m] == '=' {
			m++
			for m < len(attrs) && isSpace(attrs[m]) {
				m++
			}
			if m < len(attrs) && (attrs[m] == '"' || attrs[m] == '\'') {
				e := strings.IndexByte(attrs[m+1:], attrs[m])
				if e >= 0 {
					return unescape(attrs[m+1 : m+1+e])
				}
			}
			return ""
		}
		i = k
	}
	return ""
}

// open describes the element being read, for error messages.
func open(t tag) string {
	if n := attr(t.attrs, "Name"); n != "" && t.name == "Data" {
		return "<Data Name='" + n + "'>"
	}
	return "<" + t.name + ">"
}

// text reads character data up to the end tag of t and consumes the end
// tag. If the content holds markup (Event Viewer's friendly view shows
// VolumesInfo unescaped), the raw inner markup is returned as the value.
func (p *parser) text(t tag) (string, error) {
	if t.selfClose {
		return "", nil
	}
	start := p.pos
	i := strings.IndexByte(p.s[p.pos:], '<')
	if i < 0 {
		return "", p.eof(t)
	}
	p.pos += i
	if p.at("</") {
		v := p.s[start:p.pos]
		if err := p.endTag(t); err != nil {
			return "", err
		}
		if strings.IndexByte(v, '&') >= 0 || strings.IndexByte(v, '\r') >= 0 {
			v = unescape(v)
		}
		return v, nil
	}
	// Mixed content: comments, CDATA or child elements.
	var b strings.Builder
	b.WriteString(unescape(p.s[start:p.pos]))
	markup := false
	rawStart := start
	for depth := 0; ; {
		switch {
		case p.at("<!--"):
			p.skipPast("-->")
		case p.at("<![CDATA["):
			e := strings.Index(p.s[p.pos+9:], "]]>")
			if e < 0 {
				return "", p.eof(t)
			}
			b.WriteString(p.s[p.pos+9 : p.pos+9+e])
			p.pos += 9 + e + 3
		case p.at("</"):
			if depth == 0 {
				end := p.pos
				if err := p.endTag(t); err != nil {
					return "", err
				}
				if markup {
					return p.s[rawStart:end], nil
				}
				return b.String(), nil
			}
			markup = true
			depth--
			p.skipPast(">")
		default:
			c, err := p.startTag()
			if err != nil {
				if _, ok := err.(*openError); ok {
					return "", p.eof(t)
				}
				return "", err
			}
			markup = true
			if !c.selfClose {
				depth++
				if p.depth+depth > maxDepth {
					return "", p.tooDeep(c.off)
				}
			}
		}
		j := strings.IndexByte(p.s[p.pos:], '<')
		if j < 0 {
			return "", p.eof(t)
		}
		b.WriteString(unescape(p.s[p.pos : p.pos+j]))
		p.pos += j
	}
}

func (p *parser) eof(t tag) error {
	return p.cut(t, "unexpected end of input inside "+open(t))
}

// cut reports the end of input inside t or its start tag.
func (p *parser) cut(t tag, msg string) error {
	return &openError{SyntaxError{Offset: len(p.s), Msg: msg}, t.off}
}

// openError is an end of input inside an element or its start tag;
// Opened is where the element started.
type openError struct {
	SyntaxError
	Opened int
}

func (e *openError) Unwrap() error { return &e.SyntaxError }

// tooDeep reports an element nested more than maxDepth levels below
// <Event>.
func (p *parser) tooDeep(off int) error {
	return p.errorf(off, fmt.Sprintf("elements nested more than %d deep", maxDepth))
}

// endTag consumes </name>, which must close t.
func (p *parser) endTag(t tag) error {
	off := p.pos
	i := p.pos + 2
	j := i
	for j < len(p.s) && isNameChar(p.s[j]) {
		j++
	}
	name := p.s[i:j]
	for j < len(p.s) && isSpace(p.s[j]) {
		j++
	}
	if j >= len(p.s) {
		return p.eof(t)
	}
	if p.s[j] != '>' || name != t.name {
		return p.errorf(off, "found </"+name+"> where </"+t.name+"> was expected")
	}
	p.pos = j + 1
	return nil
}

// children calls fn for each child element of t, then consumes t's end
// tag. Text between children is ignored.
func (p *parser) children(t tag, fn func(c tag) error) error {
	if t.selfClose {
		return nil
	}
	for {
		i := strings.IndexByte(p.s[p.pos:], '<')
		if i < 0 {
			return p.eof(t)
		}
		p.pos += i
		switch {
		case p.at("</"):
			return p.endTag(t)
		case p.at("<!--"):
			p.skipPast("-->")
			if p.pos == len(p.s) {
				return p.eof(t)
			}
		case p.at("<?"):
			p.skipPast("?>")
		case p.at("<![CDATA["):
			p.skipPast("]]>")
		default:
			c, err := p.startTag()
			if err != nil {
				return err
			}
			if p.depth >= maxDepth {
				return p.tooDeep(c.off)
			}
			p.depth++
			err = fn(c)
			p.depth--
			if err != nil {
				return err
			}
		}
	}
}

// skip consumes the rest of element t.
func (p *parser) skip(t tag) error {
	return p.children(t, p.skip)
}

// event reads <Event>...</Event> at p.pos into ev.
func (p *parser) event(ev *watcher.Event) error {
	start := p.pos
	t, err := p.startTag()
	if err != nil {
		return err
	}
	if t.name != "Event" {
		return p.errorf(t.off, "expected <Event>, found <"+t.name+">")
	}
	ev.Reset()
	p.depth = 0
	err = p.children(t, func(c tag) error {
		switch c.name {
		case "System":
			return p.children(c, func(c tag) error { return p.system(ev, c) })
		case "EventData":
			return p.children(c, func(c tag) error {
				switch c.name {
				case "Data":
					v, err := p.text(c)
					ev.EventData = append(ev.EventData, watcher.Field{Name: attr(c.attrs, "Name"), Value: v})
					return err
				case "Binary":
					v, err := p.text(c)
					ev.Binary = v
					return err
				}
				return p.skip(c)
			})
		case "UserData":
			return p.children(c, func(c tag) error {
				ev.UserDataName = c.name
				return p.userData(ev, c)
			})
		case "RenderingInfo":
			ev.Rendering.Culture = attr(c.attrs, "Culture")
			return p.children(c, func(c tag) error { return p.rendering(ev, c) })
		}
		return p.skip(c)
	})
	if err != nil {
		return err
	}
	ev.Raw = p.s[start:p.pos]
	return nil
}

func (p *parser) system(ev *watcher.Event, c tag) error {
	var err error
	switch c.name {
	case "Provider":
		ev.Provider.Name = attr(c.attrs, "Name")
		ev.Provider.GUID = attr(c.attrs, "Guid")
		ev.Provider.EventSourceName = attr(c.attrs, "EventSourceName")
		return p.skip(c)
	case "EventID":
		if q := attr(c.attrs, "Qualifiers"); q != "" {
			v, ok := watcher.ParseUint(q, 16)
			if !ok {
				return p.errorf(c.off, "EventID Qualifiers "+quote(q)+" is not a number")
			}
			ev.Qualifiers, ev.HasQualifiers = uint16(v), true
		}
		var v uint64
		v, err = p.number(c, 32)
		ev.EventID = uint32(v)
	case "Version":
		var v uint64
		v, err = p.number(c, 8)
		ev.Version = uint8(v)
	case "Level":
		var v uint64
		v, err = p.number(c, 8)
		ev.Level = uint8(v)
	case "Task":
		var v uint64
		v, err = p.number(c, 16)
		ev.Task = uint16(v)
	case "Opcode":
		var v uint64
		v, err = p.number(c, 8)
		ev.Opcode = uint8(v)
	case "Keywords":
		ev.Keywords, err = p.number(c, 64)
	case "TimeCreated":
		if st := attr(c.attrs, "SystemTime"); st != "" {
			t, ok := parseTime(st)
			if !ok {
				return p.errorf(c.off, "TimeCreated SystemTime "+quote(st)+" is not a time")
			}
			ev.TimeCreated = t
		}
		return p.skip(c)
	case "EventRecordID":
		ev.RecordID, err = p.number(c, 64)
	case "Correlation":
		ev.ActivityID = attr(c.attrs, "ActivityID")
		ev.RelatedActivityID = attr(c.attrs, "RelatedActivityID")
		return p.skip(c)
	case "Execution":
		if v, ok := watcher.ParseUint(attr(c.attrs, "ProcessID"), 32); ok {
			ev.ProcessID = uint32(v)
		}
		if v, ok := watcher.ParseUint(attr(c.attrs, "ThreadID"), 32); ok {
			ev.ThreadID = uint32(v)
		}
		return p.skip(c)
	case "Channel":
		ev.Channel, err = p.text(c)
	case "Computer":
		ev.Computer, err = p.text(c)
	case "Security":
		ev.UserID = attr(c.attrs, "UserID")
		return p.skip(c)
	default:
		return p.skip(c)
	}
	return err
}

// number reads an element's text as an unsigned number of the given bits;
// 0x hex is accepted. Empty text is 0.
func (p *parser) number(c tag, bits int) (uint64, error) {
	s, err := p.text(c)
	if err != nil {
		return 0, err
	}
	s = strings.TrimSpace(s)
	if s == "" {
		return 0, nil
	}
	v, ok := watcher.ParseUint(s, bits)
	if !ok {
		return 0, p.errorf(c.off, c.name+" "+quote(s)+" is not a number")
	}
	return v, nil
}

func (p *parser) userData(ev *watcher.Event, t tag) error {
	return p.children(t, func(c tag) error {
		if c.selfClose {
			ev.UserData = append(ev.UserData, watcher.Field{Name: c.name})
			return nil
		}
		// A leaf holds only text; an element with children is walked.
		save := p.pos
		i := strings.IndexByte(p.s[p.pos:], '<')
		if i >= 0 && p.pos+i+1 < len(p.s) && p.s[p.pos+i+1] != '/' && p.s[p.pos+i+1] != '!' {
			p.pos = save
			return p.userData(ev, c)
		}
		v, err := p.text(c)
		ev.UserData = append(ev.UserData, watcher.Field{Name: c.name, Value: v})
		return err
	})
}

func (p *parser) rendering(ev *watcher.Event, c tag) error {
	var err error
	r := &ev.Rendering
	switch c.name {
	case "Message":
		r.Message, err = p.text(c)
	case "Level":
		r.Level, err = p.text(c)
	case "Task":
		r.Task, err = p.text(c)
	case "Opcode":
		r.Opcode, err = p.text(c)
	case "Channel":
		r.Channel, err = p.text(c)
	case "Provider":
		r.Provider, err = p.text(c)
	case "Keywords":
		return p.children(c, func(k tag) error {
			v, err := p.text(k)
			if v != "" {
				r.Keywords = append(r.Keywords, v)
			}
			return err
		})
	default:
		return p.skip(c)
	}
	return err
}

func quote(s string) string {
	if len(s) > 40 {
		s = s[:40] + "..."
	}
	return "\"" + s + "\""
}

// parseTime reads SystemTime: 2016-11-13T09:23:21.208126900Z, with any
// number of fraction digits, Z or a numeric offset.
func parseTime(s string) (time.Time, bool) {
	if len(s) < 20 || s[4] != '-' || s[7] != '-' || s[10] != 'T' || s[13] != ':' || s[16] != ':' {
		t, err := time.Parse(time.RFC3339Nano, s)
		return t, err == nil
	}
	num := func(a, b int) int {
		n := 0
		for i := a; i < b; i++ {
			c := s[i]
			if c < '0' || c > '9' {
				return -1
			}
			n = n*10 + int(c-'0')
		}
		return n
	}
	y, mo, d, h, mi, se := num(0, 4), num(5, 7), num(8, 10), num(11, 13), num(14, 16), num(17, 19)
	if y < 0 || mo < 1 || mo > 12 || d < 1 || d > 31 || h < 0 || h > 23 || mi < 0 || mi > 59 || se < 0 || se > 60 {
		return time.Time{}, false
	}
	i := 19
	ns := 0
	if s[i] == '.' {
		i++
		scale := 100000000
		for ; i < len(s) && s[i] >= '0' && s[i] <= '9'; i++ {
			ns += int(s[i]-'0') * scale
			scale /= 10
		}
	}
	if i == len(s)-1 && s[i] == 'Z' {
		return time.Date(y, time.Month(mo), d, h, mi, se, ns, time.UTC), true
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	return t, err == nil
}

// unescape resolves XML entity and character references and, as XML
// requires, turns CRLF and lone CR into LF. Unknown or malformed
// references are kept as written.
func unescape(s string) string {
	s = NormalizeNewlines(s)
	i := strings.IndexByte(s, '&')
	if i < 0 {
		return s
	}
	var b strings.Builder
	b.Grow(len(s))
	for i >= 0 {
		b.WriteString(s[:i])
		s = s[i:]
		semi := strings.IndexByte(s, ';')
		if semi < 0 || semi > 12 {
			b.WriteByte('&')
			s = s[1:]
		} else {
			ent := s[1:semi]
			switch ent {
			case "lt":
				b.WriteByte('<')
			case "gt":
				b.WriteByte('>')
			case "amp":
				b.WriteByte('&')
			case "apos":
				b.WriteByte('\'')
			case "quot":
				b.WriteByte('"')
			default:
				r, ok := charRef(ent)
				if !ok {
					b.WriteString(s[:semi+1])
				} else {
					b.WriteRune(r)
				}
			}
			s = s[semi+1:]
		}
		i = strings.IndexByte(s, '&')
	}
	b.WriteString(s)
	return b.String()
}

func charRef(ent string) (rune, bool) {
	if len(ent) < 2 || ent[0] != '#' {
		return 0, false
	}
	var v uint64
	var ok bool
	if ent[1] == 'x' || ent[1] == 'X' {
		v, ok = watcher.ParseUint("0x"+ent[2:], 32)
	} else {
		v, ok = watcher.ParseUint(ent[1:], 32)
	}
	if !ok || v > 0x10FFFF {
		return 0, false
	}
	return rune(v), true
}
