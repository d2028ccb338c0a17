package hostfacts

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// The parsers below read Linux's /etc/os-release, /proc/uptime and
// /proc/meminfo, and fix Windows' product name. They are pure and build
// on every OS, so they are tested everywhere.

// parseOSRelease returns the OS name os-release(5) text gives:
// PRETTY_NAME, else NAME and VERSION. Values may be quoted ("..." with
// backslash escapes, or '...'). Lines it cannot read are skipped; it fails
// when no name is left.
func parseOSRelease(text string) (string, error) {
	vars := map[string]string{}
	var bad error
	for n, line := range strings.Split(text, "\n") {
		line = strings.TrimSpace(line)
		if line == "" || line[0] == '#' {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok || k == "" || strings.ContainsAny(k, " \t\"'") {
			bad = fmt.Errorf("line %d: not KEY=value", n+1)
			continue
		}
		val, err := unquoteShell(v)
		if err != nil {
			bad = fmt.Errorf("line %d: %s: %w", n+1, k, err)
			continue
		}
		vars[k] = val
	}
	name := vars["PRETTY_NAME"]
	if name == "" {
		name = strings.TrimSpace(vars["NAME"] + " " + vars["VERSION"])
	}
	if name == "" {
		if bad != nil {
			return "", fmt.Errorf("os-release: no PRETTY_NAME or NAME (%w)", bad)
		}
		return "", errors.New("os-release: no PRETTY_NAME or NAME")
	}
	return name, nil
}

// unquoteShell reads an os-release value: bare, '...', or "..." where a
// backslash escapes $ " \ and `.
func unquoteShell(v string) (string, error) {
	if v == "" || v[0] != '"' && v[0] != '\'' {
		if strings.ContainsAny(v, "\"'`$\\ \t") {
			return "", errors.New("unquoted value with shell characters")
		}
		return v, nil
	}
	q := v[0]
	var b strings.Builder
	for i := 1; i < len(v); i++ {
		c := v[i]
		switch {
		case c == q:
			if strings.TrimSpace(v[i+1:]) != "" {
				return "", errors.New("text after the closing quote")
			}
			return b.String(), nil
		case c == '\\' && q == '"' && i+1 < len(v) && strings.IndexByte("$\"\\`", v[i+1]) >= 0:
			i++
			b.WriteByte(v[i])
		default:
			b.WriteByte(c)
		}
	}
	return "", errors.New("unterminated quote")
}

// maxUptime is the longest uptime a time.Duration holds, in seconds.
const maxUptime = float64(math.MaxInt64 / int64(time.Second))

// parseUptime reads /proc/uptime ("9129.48 12239.95"): the first number
// is the seconds since boot.
func parseUptime(text string) (time.Duration, error) {
	f := strings.Fields(text)
	if len(f) == 0 {
		return 0, errors.New("uptime: empty")
	}
	s, err := strconv.ParseFloat(f[0], 64)
	if err != nil || math.IsNaN(s) || s < 0 || s >= maxUptime {
		return 0, fmt.Errorf("uptime: %q is no number of seconds", f[0])
	}
	return time.Duration(s * float64(time.Second)), nil
}

// parseMeminfo reads MemTotal and MemAvailable, in bytes, from
// /proc/meminfo ("MemTotal:       24684096 kB"). Without MemAvailable
// (kernels before 3.14) it returns MemTotal with an error.
func parseMeminfo(text string) (total, avail uint64, err error) {
	var haveTotal, haveAvail bool
	for line := range strings.SplitSeq(text, "\n") {
		k, v, ok := strings.Cut(line, ":")
		if !ok || k != "MemTotal" && k != "MemAvailable" {
			continue
		}
		n, err := meminfoBytes(v)
		if err != nil {
			return 0, 0, fmt.Errorf("meminfo: %s: %w", k, err)
		}
		if k == "MemTotal" {
			total, haveTotal = n, true
		} else {
			avail, haveAvail = n, true
		}
	}
	switch {
	case !haveTotal:
		return 0, 0, errors.New("meminfo: no MemTotal")
	case !haveAvail:
		return total, 0, errors.New("meminfo: no MemAvailable")
	}
	return total, avail, nil
}

// meminfoBytes reads " 24684096 kB" (or a bare byte count).
func meminfoBytes(v string) (uint64, error) {
	f := strings.Fields(v)
	if len(f) == 0 || len(f) > 2 || len(f) == 2 && f[1] != "kB" {
		return 0, fmt.Errorf("%q is not N kB", strings.TrimSpace(v))
	}
	n, err := strconv.ParseUint(f[0], 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%q is not N kB", strings.TrimSpace(v))
	}
	if len(f) == 2 {
		if n > math.MaxUint64/1024 {
			return 0, fmt.Errorf("%s kB is too large", f[0])
		}
		n *= 1024
	}
	return n, nil
}

// windowsProductName fixes the registry's ProductName for the build:
// Windows 11 kept Windows 10's "ProductName" value, so from build 22000
// (Windows 11 21H2) on, "Windows 10 Pro" is presented as "Windows 11 Pro".
// Server names ("Windows Server 2022 ...") are left as they are.
func windowsProductName(product string, build uint64) string {
	product = strings.TrimSpace(product)
	if build >= 22000 && strings.HasPrefix(product, "Windows 10") {
		return "Windows 11" + strings.TrimPrefix(product, "Windows 10")
	}
	return product
}
