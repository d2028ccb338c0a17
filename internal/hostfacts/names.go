package hostfacts

import (
	"html"
	"path"
	"strings"

	"github.com/logmedic/logmedic/watcher"
)

// MaxVolumes is the most volumes VolumeNames returns for one event.
const MaxVolumes = 32

// maxNameLen is the longest volume name VolumeNames accepts.
const maxNameLen = 1024

// volumeFields are the Microsoft-Windows-Backup fields (manifest names,
// compared without regard to case) whose value is a volume, a path on one
// or a list of them.
var volumeFields = []string{
	"BackupTarget", "BackupTargetPath", "BackupTargetList", "TargetDeviceName",
	"VolumeAccessPath", "VolumeNames", "FailedVolumeNames", "RestoreTargetNameList",
	"AlternateRestoreTarget", "FileRestoreTargetPath", "AppRestoreAlternateTargetPath",
}

// VolumeNames returns the local volumes ev names, each once (compared as
// Windows compares them: "e:" and "E:\" are one volume), in the order its
// EventData and UserData fields name them, at most MaxVolumes:
//
//   - the items of VolumesInfo-style XML held in a field, escaped or not
//     (<VolumeInfoItem Name="C:" OriginalAccessPath="C:" .../>): the Name
//     when it is a drive, a path or a volume GUID path, else the
//     OriginalAccessPath when that is (so "System Reserved" without an
//     access path is left out);
//   - in the Backup fields that name volumes or paths (BackupTarget,
//     VolumeAccessPath, VolumeNames, FailedVolumeNames, RestoreTargetNameList,
//     FileRestoreTargetPath, ...): the whole value when it is one drive
//     ("E:", "E:\"), drive path ("C:\Mount\Data"), volume GUID path
//     (`\\?\Volume{...}`, with or without the final backslash) or
//     absolute Unix path ("/srv"); else every drive letter ("C:") and
//     volume GUID path in the text;
//   - in VolumeGuid, the GUID ("{...}") as a volume GUID path;
//   - in any other field, a value that is exactly a drive or a volume GUID
//     path.
//
// Network paths (\\server\share) are left out: querying them could wait
// on the network. The message text is not read.
func VolumeNames(ev *watcher.Event) []string {
	var c nameCollector
	for _, fields := range [2][]watcher.Field{ev.EventData, ev.UserData} {
		for _, f := range fields {
			if c.full() {
				return c.names
			}
			c.field(f.Name, f.Value)
		}
	}
	return c.names
}

type nameCollector struct {
	names []string
	seen  map[string]bool
}

func (c *nameCollector) full() bool { return len(c.names) >= MaxVolumes }

func (c *nameCollector) add(name string) {
	if c.full() {
		return
	}
	k := volumeKey(name)
	if c.seen[k] {
		return
	}
	if c.seen == nil {
		c.seen = map[string]bool{}
	}
	c.seen[k] = true
	c.names = append(c.names, name)
}

func (c *nameCollector) field(name, value string) {
	v := strings.TrimSpace(value)
	switch {
	case v == "":
	case strings.Contains(v, "<VolumeInfoItem") || strings.Contains(v, "&lt;VolumeInfoItem"):
		c.volumeInfo(v)
	case isVolumeField(name):
		// One volume or path, unless the text holds several ("E:\, C:").
		if isVolumeName(v, true) && len(scanNames(v, 2)) < 2 {
			c.add(v)
		} else {
			c.scan(v)
		}
	case strings.EqualFold(name, "VolumeGuid"):
		if g, ok := bracedGUID(v); ok {
			c.add(`\\?\Volume` + g + `\`)
		}
	case isDrive(v) || isGUIDPath(v):
		c.add(v)
	}
}

func isVolumeField(name string) bool {
	for _, f := range volumeFields {
		if strings.EqualFold(name, f) {
			return true
		}
	}
	return false
}

// volumeInfo adds the volumes of the <VolumeInfoItem> elements in s.
func (c *nameCollector) volumeInfo(s string) {
	if !strings.Contains(s, "<VolumeInfoItem") {
		s = html.UnescapeString(s) // escaped twice
	}
	const tag = "<VolumeInfoItem"
	for !c.full() {
		i := strings.Index(s, tag)
		if i < 0 {
			return
		}
		var name, access string
		name, access, s = itemAttrs(s[i+len(tag):])
		switch {
		case isVolumeName(name, true):
			c.add(name)
		case isVolumeName(access, true):
			c.add(access)
		}
	}
}

// itemAttrs reads the Name and OriginalAccessPath attributes of the tag
// that s is inside of, and returns the text after the tag.
func itemAttrs(s string) (name, access, rest string) {
	for i := 0; i < len(s); {
		switch s[i] {
		case '>':
			return name, access, s[i+1:]
		case '<':
			return name, access, s[i:]
		case '=':
			e := i
			for e > 0 && (s[e-1] == ' ' || s[e-1] == '\t' || s[e-1] == '\n') {
				e--
			}
			j := e
			for j > 0 && isAttrByte(s[j-1]) {
				j--
			}
			attr := s[j:e]
			k := i + 1
			for k < len(s) && (s[k] == ' ' || s[k] == '\t' || s[k] == '\n') {
				k++
			}
			if k >= len(s) || (s[k] != '"' && s[k] != '\'') {
				i = k
				continue
			}
			end := strings.IndexByte(s[k+1:], s[k])
			if end < 0 {
				return name, access, ""
			}
			val := s[k+1 : k+1+end]
			switch {
			case strings.EqualFold(attr, "Name"):
				name = strings.TrimSpace(html.UnescapeString(val))
			case strings.EqualFold(attr, "OriginalAccessPath"):
				access = strings.TrimSpace(html.UnescapeString(val))
			}
			i = k + 1 + end + 1
		default:
			i++
		}
	}
	return name, access, ""
}

func isAttrByte(c byte) bool {
	return isLetter(c) || c >= '0' && c <= '9' || c == '_' || c == '-' || c == ':' || c == '.'
}

// scan adds every drive letter ("C:") and volume GUID path in free text.
func (c *nameCollector) scan(s string) {
	for i := 0; i < len(s) && !c.full(); {
		n, skip := nextName(s, i)
		if n != "" {
			c.add(n)
		}
		i = skip
	}
}

// scanNames returns the first limit distinct names scan would add.
func scanNames(s string, limit int) []string {
	var c nameCollector
	for i := 0; i < len(s) && len(c.names) < limit; {
		n, skip := nextName(s, i)
		if n != "" {
			c.add(n)
		}
		i = skip
	}
	return c.names
}

// nextName returns the drive letter or volume GUID path at s[i:], if
// any, and where to look next.
func nextName(s string, i int) (string, int) {
	if s[i] == '\\' {
		if n := guidPathLen(s[i:]); n > 0 {
			return s[i : i+n], i + n
		}
		return "", i + 1
	}
	if isLetter(s[i]) && i+1 < len(s) && s[i+1] == ':' &&
		(i == 0 || !isWordByte(s[i-1]) && strings.IndexByte(".-:$%", s[i-1]) < 0) &&
		(i+2 == len(s) || endsDrive(s[i+2])) {
		return s[i : i+2], i + 2
	}
	return "", i + 1
}

// endsDrive reports whether c may follow a drive letter's colon in text.
func endsDrive(c byte) bool {
	return strings.IndexByte("\\/ \t\n\r,;'\")]>|", c) >= 0
}

// guidPathLen returns the length of the volume GUID path s starts with
// (`\\?\Volume{GUID}`, plus the final backslash if there is one), or 0.
func guidPathLen(s string) int {
	const prefix = `\\?\Volume`
	if len(s) < len(prefix)+38 || !strings.EqualFold(s[:len(prefix)], prefix) {
		return 0
	}
	if _, ok := bracedGUID(s[len(prefix) : len(prefix)+38]); !ok {
		return 0
	}
	n := len(prefix) + 38
	if n < len(s) && s[n] == '\\' {
		n++
	}
	return n
}

// bracedGUID reports whether s is a GUID in braces,
// {65ac9a70-a2ac-11e0-bc35-00155d009e00}, and returns it.
func bracedGUID(s string) (string, bool) {
	if len(s) != 38 || s[0] != '{' || s[37] != '}' {
		return "", false
	}
	for i := 1; i < 37; i++ {
		switch i {
		case 9, 14, 19, 24:
			if s[i] != '-' {
				return "", false
			}
		default:
			if !isHex(s[i]) {
				return "", false
			}
		}
	}
	return s, true
}

// isDrive reports whether s is a drive: "C:", "C:\" or "C:/".
func isDrive(s string) bool {
	return (len(s) == 2 || len(s) == 3 && (s[2] == '\\' || s[2] == '/')) && isLetter(s[0]) && s[1] == ':'
}

// isGUIDPath reports whether s is exactly a volume GUID path.
func isGUIDPath(s string) bool { return guidPathLen(s) == len(s) && s != "" }

// isDrivePath reports whether s is a path from a drive's root: "C:\Mount".
func isDrivePath(s string) bool {
	return len(s) >= 3 && isLetter(s[0]) && s[1] == ':' && (s[2] == '\\' || s[2] == '/') && validPath(s)
}

// isVolumeName reports whether s names something Volumes can query: a
// drive, a drive path, a volume GUID path or, when unix is set, an
// absolute Unix path.
func isVolumeName(s string, unix bool) bool {
	if s == "" || len(s) > maxNameLen {
		return false
	}
	return isDrive(s) || isGUIDPath(s) || isDrivePath(s) || unix && s[0] == '/' && validPath(s)
}

// validPath reports whether s has no character a Windows path cannot
// hold (controls, and " * < > ? | beyond the drive).
func validPath(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c == 0x7f || strings.IndexByte(`"*<>?|`, c) >= 0 {
			return false
		}
	}
	return true
}

// volumeKey is the form two names of one volume share: Windows names are
// case-insensitive and "C:" is "C:\".
func volumeKey(s string) string {
	if s != "" && s[0] == '/' {
		return path.Clean(s)
	}
	return strings.TrimRight(strings.ToLower(strings.ReplaceAll(s, "/", `\`)), `\`)
}

// windowsQueryPath maps a volume name to the path GetDiskFreeSpaceEx
// takes, a directory ending in a backslash: "C:" is "C:\", a volume GUID
// path gets its final backslash, "C:/Mount" is "C:\Mount\".
func windowsQueryPath(name string) (string, error) {
	switch {
	case isDrive(name):
		return strings.ToUpper(name[:1]) + `:\`, nil
	case isGUIDPath(name):
		return strings.TrimSuffix(name, `\`) + `\`, nil
	case isDrivePath(name) && len(name) <= maxNameLen:
		p := strings.ReplaceAll(name, "/", `\`)
		return strings.TrimRight(p, `\`) + `\`, nil
	}
	return "", ErrNotFound
}

// unixQueryPath maps a volume name to the path statfs takes: only an
// absolute path, cleaned. A Windows name ("C:") is not on a Unix host.
func unixQueryPath(name string) (string, error) {
	if name == "" || name[0] != '/' || len(name) > maxNameLen || strings.IndexByte(name, 0) >= 0 {
		return "", ErrNotFound
	}
	return path.Clean(name), nil
}

func isLetter(c byte) bool { return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' }

func isWordByte(c byte) bool { return isLetter(c) || c >= '0' && c <= '9' || c == '_' }

func isHex(c byte) bool { return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F' }

// parseMountInfo returns the mount points listed in /proc/self/mountinfo
// (proc(5)): the fifth field of each line, with its octal escapes (\040
// for a space) undone.
func parseMountInfo(text string) []string {
	var mounts []string
	for _, line := range strings.Split(text, "\n") {
		f := strings.Fields(line)
		if len(f) < 5 || !strings.HasPrefix(f[4], "/") {
			continue
		}
		mounts = append(mounts, unescapeOctal(f[4]))
	}
	return mounts
}

// unescapeOctal undoes the kernel's \ooo escapes.
func unescapeOctal(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) && isOctal(s[i+1]) && isOctal(s[i+2]) && isOctal(s[i+3]) {
			b.WriteByte((s[i+1]-'0')<<6 | (s[i+2]-'0')<<3 | (s[i+3] - '0'))
			i += 3
			continue
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

func isOctal(c byte) bool { return c >= '0' && c <= '7' }

// mountPointOf returns the longest of mounts that holds path, by whole
// path components; path itself when none does.
func mountPointOf(path string, mounts []string) string {
	best := ""
	for _, m := range mounts {
		holds := m == "/" || path == m || strings.HasPrefix(path, m+"/")
		if holds && len(m) > len(best) {
			best = m
		}
	}
	if best == "" {
		return path
	}
	return best
}
