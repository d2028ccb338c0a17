package watcher

import (
	"errors"
	"strconv"
	"strings"
)

// How an HRESULT-style code is written in Windows events, and what
// AppendCodes accepts where (see docs/error-codes.md):
//
//	0x807800b4, 0x807800B4, 0x0000002a   hex, any case and padding
//	2155348148                           unsigned decimal (UInt32 fields, old-OS messages)
//	-2139619148                          signed decimal (VolumesInfo HResult="%d")
//	%%2155348148                         parameter-message insert (ErrorMessage)
//	807800B4                             bare 8-digit hex (DPM and MARS wrappers; admin input only)

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
// carry it too. Numbers in free text count as codes only when it is set, so
// sizes, counts and IDs are never taken for codes.
const severityFailure = 0x80000000

// codeFieldKind tells how much of a field's value may be read as a code.
type codeFieldKind uint8

const (
	notCodeField codeFieldKind = iota
	codeField                  // HRESULT, DetailedHRESULT, ErrorCode, ...: every form
	hexOnlyField               // Status, SubStatus: NTSTATUS written as 0x hex
)

func classifyField(name string) codeFieldKind {
	n := len(name)
	switch {
	case hasSuffixFold(name, "hresult"), hasSuffixFold(name, "errorcode"),
		hasSuffixFold(name, "error_code"), hasSuffixFold(name, "statuscode"),
		hasSuffixFold(name, "resultcode"), hasSuffixFold(name, "returncode"),
		strings.EqualFold(name, "hr"), strings.EqualFold(name, "error"),
		strings.EqualFold(name, "win32error"):
		return codeField
	case n == 6 && strings.EqualFold(name, "status"), n == 9 && strings.EqualFold(name, "substatus"):
		return hexOnlyField
	}
	return notCodeField
}

func hasSuffixFold(s, suffix string) bool {
	return len(s) >= len(suffix) && strings.EqualFold(s[len(s)-len(suffix):], suffix)
}

// AppendCodes appends every error code ev carries to dst, in document order:
//
//   - fields named like HRESULT, DetailedHRESULT, ErrorCode (every form);
//     Status and SubStatus when written as 0x hex;
//   - %%N inserts in fields whose name mentions an error, or whose N has
//     the failure bit set;
//   - HResult/DetailedHResult/ErrorCode attributes in XML held in a field
//     (VolumesInfo), named after the item's Name attribute;
//   - in free text (values with spaces, and the rendered message): 0x hex
//     tokens and quoted decimals that have the failure bit set.
//
// Zero (S_OK) is never a code.
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
		dst = appendTextCodes(dst, "Message", ev.Rendering.Message)
	}
	return dst
}

func appendFieldCodes(dst []Code, name, value string) []Code {
	v := strings.TrimSpace(value)
	if v == "" {
		return dst
	}
	switch classifyField(name) {
	case codeField:
		if c, ok := parseFieldCode(v); ok {
			if c != 0 {
				dst = append(dst, Code{Value: c, Where: name, Text: v})
			}
			return dst
		}
	case hexOnlyField:
		if len(v) > 2 && v[0] == '0' && (v[1] == 'x' || v[1] == 'X') {
			if c, ok := parseHex(v[2:]); ok && c != 0 {
				dst = append(dst, Code{Value: c, Where: name, Text: v})
			}
			return dst
		}
	}
	if len(v) > 2 && v[0] == '%' && v[1] == '%' {
		if c, ok := parseDec(v[2:]); ok && c != 0 && (c&severityFailure != 0 || ContainsFold(name, "error")) {
			dst = append(dst, Code{Value: c, Where: name, Text: v})
		}
		return dst
	}
	if strings.IndexByte(v, '<') >= 0 && strings.IndexByte(v, '=') >= 0 {
		dst = appendAttrCodes(dst, name, v)
	}
	if strings.ContainsAny(v, " \t\n") {
		dst = appendTextCodes(dst, name, v)
	}
	return dst
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
			if classifyField(attr) != codeField {
				continue
			}
			if c, ok := parseFieldCode(val); ok && c != 0 {
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

// appendTextCodes scans free text for 0x hex tokens and quoted decimals
// whose failure bit is set: '0x807800B4', (0x807800B4), '2155348148'.
func appendTextCodes(dst []Code, where, s string) []Code {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == '0' && i+1 < len(s) && (s[i+1] == 'x' || s[i+1] == 'X') && (i == 0 || !isWordByte(s[i-1])) {
			j := i + 2
			for j < len(s) && isWordByte(s[j]) {
				j++
			}
			if v, ok := parseHex(s[i+2 : j]); ok && v&severityFailure != 0 {
				dst = append(dst, Code{Value: v, Where: where, Text: s[i:j]})
			}
			i = j - 1
			continue
		}
		if c == '\'' && i+1 < len(s) && s[i+1] >= '0' && s[i+1] <= '9' {
			j := i + 1
			for j < len(s) && s[j] >= '0' && s[j] <= '9' {
				j++
			}
			if j < len(s) && s[j] == '\'' {
				if v, ok := parseDec(s[i+1 : j]); ok && v&severityFailure != 0 {
					dst = append(dst, Code{Value: v, Where: where, Text: s[i+1 : j]})
				}
				i = j
			}
		}
	}
	return dst
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
func PositionalName(i int) string { return "Data[" + itoa(uint64(i+1)) + "]" }
