package watcher

import (
	"errors"
	"strconv"
	"strings"
)

// How an HRESULT-style code is written in Windows events (where
// AppendCodes accepts each form is listed on AppendCodes):
//
//	0x807800b4, 0x807800B4, 0x0000002a   hex, any case and padding
//	2155348148                           unsigned decimal (UInt32 fields, old-OS messages, NTSTATUS from .evtx)
//	-2139619148                          signed decimal (VolumesInfo HResult="%d")
//	%%2155348148                         parameter-message insert (ErrorMessage)
//	807800B4                             bare 8-digit hex (DPM and MARS wrappers, after "HResult:")

// ErrNotCode is returned by ParseCode for text that is no code.
var ErrNotCode = errors.New("not an error code")

// ParseCode reads an error code an admin typed, in any of the forms above,
// optionally quoted or in parentheses. Exactly eight hex digits without 0x
// are read as hex (the DPM form); other all-digit text as decimal. Values
// that do not fit in 32 bits are rejected.
func ParseCode(s string) (uint32, error) {
	s = strings.TrimSpace(s)
	for len(s) >= 2 && (s[0] == '\'' && s[len(s)-1] == '\'' || s[0] == '"' && s[len(s)-1] == '"' || s[0] == '(' && s[len(s)-1] == ')') {
		s = strings.TrimSpace(s[1 : len(s)-1])
	}
	if len(s) == 8 && isHexDigits(s) {
		v, err := strconv.ParseUint(s, 16, 32)
		if err == nil {
			return uint32(v), nil
		}
	}
	if v, ok := parseFieldCode(s); ok {
		return v, nil
	}
	return 0, ErrNotCode
}

// parseFieldCode reads a code field's value: 0x hex, unsigned or signed
// decimal, or a %%N insert. It never allocates.
func parseFieldCode(s string) (uint32, bool) {
	switch {
	case len(s) > 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X'):
		return parseHex(s[2:])
	case len(s) > 2 && s[0] == '%' && s[1] == '%':
		return parseDec(s[2:])
	case len(s) > 1 && s[0] == '-':
		v, ok := parseDec(s[1:])
		if !ok || v > 1<<31 {
			return 0, false
		}
		return uint32(-int64(v)), true
	}
	return parseDec(s)
}

func parseHex(s string) (uint32, bool) {
	s = strings.TrimLeft(s, "0")
	if len(s) > 8 {
		return 0, false
	}
	var v uint32
	for i := 0; i < len(s); i++ {
		d, ok := hexVal(s[i])
		if !ok {
			return 0, false
		}
		v = v<<4 | uint32(d)
	}
	return v, true
}

func parseDec(s string) (uint32, bool) {
	if s == "" || len(s) > 10 {
		return 0, false
	}
	var v uint64
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		v = v*10 + uint64(c-'0')
	}
	if v > 0xFFFFFFFF {
		return 0, false
	}
	return uint32(v), true
}

func hexVal(c byte) (byte, bool) {
	switch {
	case c >= '0' && c <= '9':
		return c - '0', true
	case c >= 'a' && c <= 'f':
		return c - 'a' + 10, true
	case c >= 'A' && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}

func isHexDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if _, ok := hexVal(s[i]); !ok {
			return false
		}
	}
	return s != ""
}

// FormatCode writes a code the way logmedic prints every code: 0x%08X.
func FormatCode(v uint32) string {
	const digits = "0123456789ABCDEF"
	b := [10]byte{'0', 'x'}
	for i := 9; i >= 2; i-- {
		b[i] = digits[v&0xF]
		v >>= 4
	}
	return string(b[:])
}

// severityFailure is the HRESULT severity bit; NTSTATUS errors and warnings
// carry it too. Outside the fields named as codes, a number counts only
// when it is set, so sizes, counts and IDs are never taken for codes.
const severityFailure = 0x80000000

// codeFieldKind tells how a field's whole value may be read as a code.
type codeFieldKind uint8

const (
	notCodeField codeFieldKind = iota
	codeField                  // *HRESULT, *ErrorCode, *ResultCode, *ReturnCode, hr, Error, Win32Error: every form
	statusField                // Status, SubStatus, *StatusCode: 0x hex, or unsigned decimal with the failure bit
	failureField               // Result, ReturnValue: every form, only with the failure bit
)

// classifyField classifies a field or attribute name. Names compare
// without case, spaces, underscores and hyphens: "Error Code", "error_code"
// and "ErrorCode" are one name.
func classifyField(name string) codeFieldKind {
	var buf [24]byte
	n, whole := normName(&buf, name)
	switch {
	case hasSuffix(n, "hresult"), hasSuffix(n, "errorcode"), hasSuffix(n, "resultcode"), hasSuffix(n, "returncode"):
		return codeField
	case hasSuffix(n, "statuscode"):
		return statusField
	case !whole:
		return notCodeField
	}
	switch string(n) {
	case "hr", "error", "win32error":
		return codeField
	case "status", "substatus":
		return statusField
	case "result", "returnvalue":
		return failureField
	}
	return notCodeField
}

// normName writes the end of name into buf, lower-cased, without spaces,
// underscores and hyphens. whole reports whether all of it fit; the end
// is enough to test suffixes.
func normName(buf *[24]byte, name string) (n []byte, whole bool) {
	i := len(buf)
	for j := len(name) - 1; j >= 0; j-- {
		c := name[j]
		switch {
		case c == ' ' || c == '_' || c == '-' || c == '\t':
			continue
		case c >= 'A' && c <= 'Z':
			c += 'a' - 'A'
		}
		if i == 0 {
			return buf[:], false
		}
		i--
		buf[i] = c
	}
	return buf[i:], true
}

func hasSuffix(b []byte, suffix string) bool {
	return len(b) >= len(suffix) && string(b[len(b)-len(suffix):]) == suffix
}

func hasSuffixFold(s, suffix string) bool {
	return len(s) >= len(suffix) && strings.EqualFold(s[len(s)-len(suffix):], suffix)
}

func hasHexPrefix(s string) bool {
	return len(s) > 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X')
}

// fieldValueCode reads v, the whole value of a field of kind k. done
// reports that v was read as a number of the kind's forms, so nothing else
// in it can be a code; ok that the number counts as a code.
func fieldValueCode(k codeFieldKind, v string) (c uint32, ok, done bool) {
	switch k {
	case codeField:
		c, done = parseFieldCode(v)
		return c, done && c != 0, done
	case statusField:
		if hasHexPrefix(v) {
			c, done = parseHex(v[2:])
			return c, done && c != 0, done
		}
		c, done = parseDec(v)
		return c, done && c&severityFailure != 0, done
	case failureField:
		c, done = parseFieldCode(v)
		return c, done && c&severityFailure != 0, done
	}
	return 0, false, false
}

// AppendCodes appends every error code ev carries to dst, in document
// order. It reads each EventData and UserData value, then the rendered
// message. Field and attribute names compare without case, spaces,
// underscores and hyphens ("Error Code" is ErrorCode). A code must fit in
// 32 bits, and zero (S_OK) is never a code.
//
// A whole field value counts when it is:
//
//   - in a field named hr, Error, Win32Error or *HRESULT, *ErrorCode,
//     *ResultCode, *ReturnCode: 0x hex, unsigned or signed decimal, or %%N;
//   - in Status, SubStatus or *StatusCode: 0x hex, or unsigned decimal with
//     the failure bit (0x80000000) set, as .evtx files write NTSTATUS
//     (an HTTP 404 is no code);
//   - in Result or ReturnValue: any of the forms, only with the failure bit
//     set (small results are enums; ExitCode is no code field: programs
//     exit with any number they like);
//   - in any other field, %%N whose N has the failure bit set or whose
//     field name contains "error" (ErrorMessage);
//   - a positional <Data> value that is exactly 0x and eight hex digits,
//     with the failure bit set.
//
// Code attributes (as above) of XML held in a field count as the fields
// do, named after the item's Name attribute: VolumesInfo[C:].HResult.
//
// Every other value, and the text in a code field that did not read as a
// number, is scanned as free text, as is the message, outside any XML
// tags. There, with the failure bit set:
//
//   - a 0x hex token counts when the word right before it is no ID word
//     (id, *Id, pid, tid, luid, handle, address, addr, offset, mask, flags,
//     ptr, pointer, and CamelCase words ending in Id, Handle, Address,
//     Offset, Mask, Flags) and either it is quoted or in parentheses
//     ('0x807800B4', "0x807800B4", (0x807800B4); not key="0x..."), or one
//     of the two words before it on the same line and sentence is a code
//     word (error, errors, err, code, hresult, hr, status, result, failed,
//     fail, fails, failure, reason, returned, and CamelCase words ending in
//     Error, Code, HResult, Status, Result), or it opens the value of a
//     code field;
//   - a single-quoted decimal ('2155348148') counts under the same rule;
//   - exactly eight hex digits without 0x count after a word ending in
//     HResult and ':' or '=' (the DPM and MARS form
//     "HResult: 80780049 DetailedHResult: 8007007B").
//
// Words are runs of letters, digits and '_'; blanks and : = ' " ( ) [ ] ,
// # - separate them, and any other character ends the look-back. It
// allocates only to grow dst.
func AppendCodes(dst []Code, ev *Event) []Code {
	for _, fields := range [2][]Field{ev.EventData, ev.UserData} {
		for i := range fields {
			n := len(dst)
			dst = appendFieldCodes(dst, fields[i].Name, fields[i].Value)
			for j := n; j < len(dst); j++ {
				if dst[j].Where == "" {
					dst[j].Where = PositionalName(i)
				}
			}
		}
	}
	if ev.Rendering.Message != "" {
		dst = appendTextCodes(dst, "Message", ev.Rendering.Message, false, false)
	}
	return dst
}

func appendFieldCodes(dst []Code, name, value string) []Code {
	v := strings.TrimSpace(value)
	if v == "" {
		return dst
	}
	kind := classifyField(name)
	if c, ok, done := fieldValueCode(kind, v); done {
		if ok {
			dst = append(dst, Code{Value: c, Where: name, Text: v})
		}
		return dst
	}
	if len(v) > 2 && v[0] == '%' && v[1] == '%' {
		if c, ok := parseDec(v[2:]); ok && c != 0 && (c&severityFailure != 0 || ContainsFold(name, "error")) {
			dst = append(dst, Code{Value: c, Where: name, Text: v})
		}
		return dst
	}
	if name == "" && len(v) == 10 && hasHexPrefix(v) {
		if c, ok := parseHex(v[2:]); ok && c&severityFailure != 0 {
			return append(dst, Code{Value: c, Where: name, Text: v})
		}
	}
	markup := strings.IndexByte(v, '<') >= 0 && strings.IndexByte(v, '=') >= 0
	if markup {
		dst = appendAttrCodes(dst, name, v)
	}
	return appendTextCodes(dst, name, v, kind != notCodeField, markup)
}

// appendAttrCodes reads code attributes out of XML kept in a string field,
// such as VolumesInfo's <VolumeInfoItem Name="C:" HResult="-2139619148" ...>.
func appendAttrCodes(dst []Code, field, s string) []Code {
	item := ""
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '<':
			item = ""
		case '=':
			j := i
			for j > 0 && isNameByte(s[j-1]) {
				j--
			}
			attr := s[j:i]
			k := i + 1
			if k >= len(s) || (s[k] != '"' && s[k] != '\'') {
				continue
			}
			end := strings.IndexByte(s[k+1:], s[k])
			if end < 0 {
				return dst
			}
			val := s[k+1 : k+1+end]
			i = k + 1 + end
			if strings.EqualFold(attr, "Name") {
				item = val
				continue
			}
			if c, ok, _ := fieldValueCode(classifyField(attr), val); ok {
				where := field + "." + attr
				if item != "" {
					where = field + "[" + item + "]." + attr
				}
				dst = append(dst, Code{Value: c, Where: where, Text: val})
			}
		}
	}
	return dst
}

func isNameByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-' || c == ':'
}

func isWordByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_'
}

// appendTextCodes scans free text for codes, by the rules AppendCodes
// lists. codeName says that s is the value of a code field, so a token
// opening it needs no code word; markup skips what sits inside <...>,
// which appendAttrCodes reads.
func appendTextCodes(dst []Code, where, s string, codeName, markup bool) []Code {
	inTag := false
	for i := 0; i < len(s); i++ {
		c := s[i]
		if markup {
			if c == '<' || c == '>' {
				inTag = c == '<'
				continue
			}
			if inTag {
				continue
			}
		}
		if c == '\'' {
			j := i + 1
			for j < len(s) && s[j] >= '0' && s[j] <= '9' {
				j++
			}
			if j > i+1 && j < len(s) && s[j] == '\'' {
				if v, ok := parseDec(s[i+1 : j]); ok && v&severityFailure != 0 && inContext(s, i+1, j, codeName) {
					dst = append(dst, Code{Value: v, Where: where, Text: s[i+1 : j]})
				}
				i = j
			}
			continue
		}
		if !isWordByte(c) || i > 0 && isWordByte(s[i-1]) {
			continue
		}
		j := i + 1
		for j < len(s) && isWordByte(s[j]) {
			j++
		}
		switch tok := s[i:j]; {
		case hasHexPrefix(tok):
			if v, ok := parseHex(tok[2:]); ok && v&severityFailure != 0 && inContext(s, i, j, codeName) {
				dst = append(dst, Code{Value: v, Where: where, Text: tok})
			}
		case len(tok) == 8 && isHexDigits(tok):
			if v, ok := parseHex(tok); ok && v&severityFailure != 0 && afterHResultKey(s, i) {
				dst = append(dst, Code{Value: v, Where: where, Text: tok})
			}
		}
		i = j - 1
	}
	return dst
}

// inContext reports whether the number in s[start:end] counts as a code:
// no ID word right before it, and quotes or parentheses around it or a
// code word shortly before it.
func inContext(s string, start, end int, codeName bool) bool {
	w, wstart, bos := wordBefore(s, start)
	if isIDWord(w) {
		return false
	}
	if start > 0 && end < len(s) {
		open, close := s[start-1], s[end]
		if (open == '\'' || open == '"') && close == open || open == '(' && close == ')' {
			if start < 2 || s[start-2] != '=' {
				return true
			}
		}
	}
	if w == "" {
		return bos && codeName
	}
	if isCodeWord(w) {
		return true
	}
	w, _, _ = wordBefore(s, wstart)
	return isCodeWord(w)
}

// wordBefore returns the word that ends before s[i], skipping separators,
// and where it starts. It returns "" when another character comes first,
// such as a newline or a full stop; bos reports that s starts first.
func wordBefore(s string, i int) (w string, start int, bos bool) {
	for i > 0 && isSep(s[i-1]) {
		i--
	}
	j := i
	for j > 0 && isWordByte(s[j-1]) {
		j--
	}
	return s[j:i], j, i == 0
}

func isSep(c byte) bool {
	switch c {
	case ' ', '\t', ':', '=', '\'', '"', '(', ')', '[', ']', ',', '#', '-':
		return true
	}
	return false
}

// isCodeWord reports whether w announces an error code.
func isCodeWord(w string) bool {
	switch len(w) {
	case 2, 3, 4, 5, 6, 7, 8:
		for _, k := range [...]string{"error", "errors", "err", "code", "hresult", "hr", "status", "result", "failed", "fail", "fails", "failure", "reason", "returned"} {
			if strings.EqualFold(w, k) {
				return true
			}
		}
	}
	return hasCamelSuffix(w, "error") || hasCamelSuffix(w, "code") || hasCamelSuffix(w, "hresult") ||
		hasCamelSuffix(w, "status") || hasCamelSuffix(w, "result")
}

// isIDWord reports whether w names an identifier, handle, address or
// bit mask: numbers that are never codes.
func isIDWord(w string) bool {
	switch len(w) {
	case 2, 3, 4, 5, 6, 7:
		for _, k := range [...]string{"id", "pid", "tid", "luid", "handle", "address", "addr", "offset", "mask", "flags", "ptr", "pointer"} {
			if strings.EqualFold(w, k) {
				return true
			}
		}
	}
	return hasCamelSuffix(w, "id") || hasCamelSuffix(w, "handle") || hasCamelSuffix(w, "address") ||
		hasCamelSuffix(w, "offset") || hasCamelSuffix(w, "mask") || hasCamelSuffix(w, "flags")
}

// hasCamelSuffix reports whether w ends in suffix as a part of its own:
// LogonId, ErrorCode, Win32Error, error_code; not Invalid or Unicode.
func hasCamelSuffix(w, suffix string) bool {
	i := len(w) - len(suffix)
	if i <= 0 || !strings.EqualFold(w[i:], suffix) {
		return false
	}
	p, c := w[i-1], w[i]
	return p == '_' || p >= '0' && p <= '9' || c >= 'A' && c <= 'Z' && p >= 'a' && p <= 'z'
}

// afterHResultKey reports whether the bare hex at s[i] follows a word
// ending in HResult and ':' or '=': "DetailedHResult: 8007007B".
func afterHResultKey(s string, i int) bool {
	for i > 0 && (s[i-1] == ' ' || s[i-1] == '\t') {
		i--
	}
	if i == 0 || s[i-1] != ':' && s[i-1] != '=' {
		return false
	}
	i--
	for i > 0 && (s[i-1] == ' ' || s[i-1] == '\t') {
		i--
	}
	j := i
	for j > 0 && isWordByte(s[j-1]) {
		j--
	}
	return hasSuffixFold(s[j:i], "hresult")
}

// ContainsFold is strings.Contains ignoring case, without allocating.
func ContainsFold(s, sub string) bool {
	if sub == "" {
		return true
	}
	c0 := sub[0]
	lc, uc := c0, c0
	if c0 >= 'a' && c0 <= 'z' {
		uc = c0 - 32
	} else if c0 >= 'A' && c0 <= 'Z' {
		lc = c0 + 32
	}
	for i := 0; i+len(sub) <= len(s); i++ {
		if (s[i] == lc || s[i] == uc || c0 >= 0x80) && strings.EqualFold(s[i:i+len(sub)], sub) {
			return true
		}
	}
	return false
}

// PositionalName is how rules and reports name the i-th (0-based) unnamed
// <Data> value: Data[1], Data[2], ... as the message inserts %1, %2 count.
func PositionalName(i int) string {
	if i < len(positionalNames) {
		return positionalNames[i]
	}
	return "Data[" + itoa(uint64(i+1)) + "]"
}

// positionalNames spares AppendCodes an allocation per positional code.
var positionalNames = func() (names [32]string) {
	for i := range names {
		names[i] = "Data[" + itoa(uint64(i+1)) + "]"
	}
	return names
}()

// ParseUint reads an unsigned decimal or 0x hex number that fits in bits,
// as event XML writes numbers (EventID, Keywords, ProcessID). It never
// allocates.
func ParseUint(s string, bits int) (uint64, bool) {
	if s == "" {
		return 0, false
	}
	var v uint64
	if len(s) > 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X') {
		h := strings.TrimLeft(s[2:], "0")
		if len(h) > bits/4 {
			return 0, false
		}
		for i := 0; i < len(h); i++ {
			c := h[i]
			var d byte
			switch {
			case c >= '0' && c <= '9':
				d = c - '0'
			case c >= 'a' && c <= 'f':
				d = c - 'a' + 10
			case c >= 'A' && c <= 'F':
				d = c - 'A' + 10
			default:
				return 0, false
			}
			v = v<<4 | uint64(d)
		}
	} else {
		if len(s) > 20 {
			return 0, false
		}
		for i := 0; i < len(s); i++ {
			c := s[i]
			if c < '0' || c > '9' {
				return 0, false
			}
			n := v*10 + uint64(c-'0')
			if n < v {
				return 0, false
			}
			v = n
		}
	}
	if bits < 64 && v >= 1<<uint(bits) {
		return 0, false
	}
	return v, true
}
