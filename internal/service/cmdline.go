package service

import "strings"

// Windows passes a program one command line, which the program splits.
// Go programs split it as the Microsoft C runtime does
// (https://learn.microsoft.com/en-us/cpp/c-language/parsing-c-command-line-arguments):
// arguments are separated by spaces and tabs; double quotes group;
// backslashes are literal except before a double quote, where each pair
// is one backslash and an odd one escapes the quote; "" inside quotes is
// a quote. The program's name, first, ends at the next space or, quoted,
// at the next quote, backslashes literal.

// CommandLine joins exe and args into a command line that splits back
// into them, as the service control manager stores it.
func CommandLine(exe string, args []string) string {
	var b strings.Builder
	if exe == "" || strings.ContainsAny(exe, " \t") {
		b.WriteString(`"` + exe + `"`)
	} else {
		b.WriteString(exe)
	}
	for _, a := range args {
		b.WriteByte(' ')
		b.WriteString(quoteArg(a))
	}
	return b.String()
}

// quoteArg quotes an argument when it needs it.
func quoteArg(s string) string {
	if s != "" && !strings.ContainsAny(s, " \t\n\v\"") {
		return s
	}
	var b strings.Builder
	b.WriteByte('"')
	slashes := 0
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case '\\':
			slashes++
			continue
		case '"':
			// Backslashes before a quote are doubled, and one more
			// escapes the quote.
			b.WriteString(strings.Repeat(`\`, 2*slashes+1))
		default:
			b.WriteString(strings.Repeat(`\`, slashes))
		}
		b.WriteByte(s[i])
		slashes = 0
	}
	// Backslashes before the closing quote are doubled.
	b.WriteString(strings.Repeat(`\`, 2*slashes))
	b.WriteByte('"')
	return b.String()
}

// splitCommandLine splits a command line into the program and its
// arguments.
func splitCommandLine(s string) (exe string, args []string) {
	s = strings.TrimLeft(s, " \t")
	if s == "" {
		return "", nil
	}
	// The program's name.
	if s[0] == '"' {
		end := strings.IndexByte(s[1:], '"')
		if end < 0 {
			return s[1:], nil
		}
		exe, s = s[1:1+end], s[2+end:]
	} else {
		end := strings.IndexAny(s, " \t")
		if end < 0 {
			return s, nil
		}
		exe, s = s[:end], s[end:]
	}
	for {
		s = strings.TrimLeft(s, " \t")
		if s == "" {
			return exe, args
		}
		var arg strings.Builder
		quoted := false
		i := 0
	scan:
		for i < len(s) {
			switch c := s[i]; {
			case (c == ' ' || c == '\t') && !quoted:
				break scan
			case c == '\\':
				n := 0
				for i < len(s) && s[i] == '\\' {
					n++
					i++
				}
				if i < len(s) && s[i] == '"' {
					arg.WriteString(strings.Repeat(`\`, n/2))
					if n%2 == 1 {
						arg.WriteByte('"')
						i++
					}
				} else {
					arg.WriteString(strings.Repeat(`\`, n))
				}
			case c == '"':
				if quoted && i+1 < len(s) && s[i+1] == '"' {
					arg.WriteByte('"')
					i += 2
					continue
				}
				quoted = !quoted
				i++
			default:
				arg.WriteByte(c)
				i++
			}
		}
		args = append(args, arg.String())
		s = s[i:]
	}
}
