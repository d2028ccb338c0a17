package config

import (
	"cmp"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Error is one problem in a configuration file, at a 1-based line and
// column.
type Error struct {
	File string
	Line int
	Col  int
	Msg  string
}

func (e *Error) Error() string {
	return fmt.Sprintf("%s:%d:%d: %s", e.File, e.Line, e.Col, e.Msg)
}

// Errors is every problem found in one load, in file order. Loading
// reports all of them at once.
type Errors []*Error

func (es Errors) Error() string {
	lines := make([]string, len(es))
	for i, e := range es {
		lines[i] = e.Error()
	}
	return strings.Join(lines, "\n")
}

// errs collects errors while a file is checked.
type errs struct {
	file           string
	list           Errors
	skipHostChecks bool
}

func (c *errs) at(n *yaml.Node, format string, args ...any) {
	line, col := 1, 1
	if n != nil {
		line, col = max(n.Line, 1), max(n.Column, 1)
	}
	c.list = append(c.list, &Error{File: c.file, Line: line, Col: col, Msg: fmt.Sprintf(format, args...)})
}

func (c *errs) result() error {
	if len(c.list) == 0 {
		return nil
	}
	slices.SortStableFunc(c.list, func(a, b *Error) int {
		return cmp.Or(cmp.Compare(a.Line, b.Line), cmp.Compare(a.Col, b.Col))
	})
	return c.list
}

var yamlLine = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

// syntaxError turns a YAML parser error into an Error with a position.
func syntaxError(file string, data []byte, err error) *Error {
	// The parser's own line is 0-based for some errors and 1-based for
	// others, and absent for a few, so the line is found by parsing ever
	// shorter prefixes; the parser's line is the fallback.
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	line := firstFailingLine(data, err.Error())
	if m := yamlLine.FindStringSubmatch(err.Error()); m != nil {
		msg = m[2]
		if line == 0 {
			line, _ = strconv.Atoi(m[1])
		}
	}
	lines := strings.Split(string(data), "\n")
	col := 1
	if line >= 1 && line <= len(lines) {
		l := lines[line-1]
		if i := tokenStart(l); i >= 0 && strings.Contains(msg, "cannot start any token") {
			col = i + 1
			switch l[i] {
			case '\t':
				msg += " (a tab: YAML indents with spaces only)"
			case '%':
				msg += " (quote values that start with %, such as '%%2155348148')"
			default:
				msg += fmt.Sprintf(" (%q cannot start a plain value; quote it)", l[i])
			}
		} else {
			col = len(l) - len(strings.TrimLeft(l, " ")) + 1
		}
	}
	if line < 1 {
		line = 1
	}
	return &Error{File: file, Line: line, Col: col, Msg: msg}
}

// tokenStart finds, outside quotes, the first tab, %, @ or ` where a YAML
// token would start (line start, after blanks or after one of :,[{-),
// the characters that "cannot start any token"; -1 if none.
func tokenStart(l string) int {
	var quote byte
	for i := 0; i < len(l); i++ {
		c := l[i]
		switch {
		case quote != 0:
			if c == quote {
				quote = 0
			}
			continue
		case c == '#' && (i == 0 || l[i-1] == ' '):
			return -1 // a comment
		case (c == '"' || c == '\'') && (i == 0 || strings.IndexByte(" \t:,[{-", l[i-1]) >= 0):
			quote = c
			continue
		}
		if c == '\t' && strings.TrimLeft(l[:i], " \t") == "" {
			return i
		}
		if strings.IndexByte("%@`", c) >= 0 && (i == 0 || strings.IndexByte(" \t:,[{-", l[i-1]) >= 0) {
			return i
		}
	}
	return -1
}

// firstFailingLine returns the smallest number of leading lines of data
// whose parse fails with the same message, or 0.
func firstFailingLine(data []byte, msg string) int {
	lines := strings.SplitAfter(string(data), "\n")
	fails := func(k int) bool {
		var n yaml.Node
		err := yaml.Unmarshal([]byte(strings.Join(lines[:k], "")), &n)
		return err != nil && err.Error() == msg
	}
	lo, hi := 1, len(lines)
	if !fails(hi) {
		return 0
	}
	for lo < hi {
		mid := (lo + hi) / 2
		if fails(mid) {
			hi = mid
		} else {
			lo = mid + 1
		}
	}
	return lo
}

// suggest returns ` (did you mean "x"?)` for the known word closest to s,
// if any is close.
func suggest(s string, known []string) string {
	best, bestD := "", 3
	for _, k := range known {
		if d := distance(strings.ToLower(s), k); d < bestD {
			best, bestD = k, d
		}
	}
	if best == "" {
		return ""
	}
	return fmt.Sprintf(" (did you mean %q?)", best)
}

// distance is the Levenshtein distance between a and b.
func distance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			c := 1
			if a[i-1] == b[j-1] {
				c = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+c)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
