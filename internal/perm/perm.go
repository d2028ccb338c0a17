// Package perm refuses files that others could change. logmedic's
// configuration decides which programs run as SYSTEM (root on Linux), so
// the configuration, the scripts it names, the state directory and every
// directory above them must be writable only by administrators: anyone
// else who could write one of them could run code with logmedic's
// privileges.
//
// What counts as "writable by someone else" depends on the OS:
//
//   - Unix (perm_unix.go): every path on the way, the target and each
//     directory up to /, must be owned by root or by the user logmedic
//     runs as. The target must not be group-writable (unless its group
//     is root, gid 0) or world-writable. A directory above it must not
//     be either, except with the sticky bit (like /tmp): there only an
//     entry's owner, the directory's owner and root may rename or delete
//     an entry, and every entry on the way is owner-checked, so others
//     can add names next to ours but not replace ours. A directory
//     target (the state directory) gets no such excuse: others could
//     add files to it. On Linux a POSIX access ACL (posixacl.go) is read
//     too: a named user other than root and the user logmedic runs as,
//     or a named group other than root, whose entry grants write through
//     the mask, is refused like group write; with an ACL, the owning
//     group's write is its ACL entry's, not the mode's group bits (the
//     mask). Default ACLs and capabilities are not read.
//   - Windows (perm_windows.go, judged in acl.go): the owner must be
//     SYSTEM, Administrators, TrustedInstaller or the account logmedic
//     runs as (an owner can always rewrite the DACL), and no other
//     account may hold, through an allow ACE that applies to the object,
//     a right that lets it change the target: write or append data,
//     DELETE, WRITE_DAC, WRITE_OWNER; on a directory target or a file's
//     own directory also add file, add subdirectory and delete child.
//     A directory target's inheritable ACEs count too (inherit-only ones
//     included, CREATOR OWNER excepted): every file the daemon creates
//     in it gets them. Directories further up are only refused for
//     delete child, DELETE, WRITE_DAC and WRITE_OWNER: C:\ and
//     C:\ProgramData let Users create folders, which cannot replace
//     ours.
//
// Symbolic links are followed: both the directories holding the link and
// the ones holding its target are checked, and the link's target in the
// link's role. The link itself is judged too: on Unix its owner, on
// Windows its own owner and DACL (a symbolic link or junction, opened
// without following it), where DELETE, WRITE_DAC, WRITE_OWNER, write
// data and write attributes (which retarget it) are refused.
package perm

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
)

// Target is one path logmedic trusts.
type Target struct {
	Path string
	// What it is, for messages: "config", "script", "state directory".
	What string
	// Optional means the path may not exist yet (the daemon creates the
	// state directory), or may go away (a temporary file in it): then
	// the directories above it are checked. Otherwise a missing path is
	// a problem: whoever can create it would choose what it holds.
	Optional bool
	// Write says the daemon writes in the path (the state directory,
	// the log file's directory): a fix from CheckService grants the
	// service account modify there rather than read and execute.
	Write bool
	// Refuse, when set, is reported as the target's problem, with no
	// fix but what it says, without looking at the file system: a path
	// that cannot be judged, such as a Windows path relative to the
	// current drive (\fix.ps1).
	Refuse string
}

// Problem is a path on the way to a target that someone other than an
// administrator can change, or that cannot be checked.
type Problem struct {
	What   string // the target's What
	Target string // the target's absolute path
	Path   string // the path at fault: the target, a directory above it, or a link's target
	// Reason says what is wrong: "is writable by group staff (gid 50)",
	// "does not exist".
	Reason string
	// Fix is how to fix it: a command to run as an administrator, or
	// advice.
	Fix string
}

// Error reads as "config /etc/logmedic/logmedic.yaml: directory
// /etc/logmedic is writable by everyone; fix: chmod go-w /etc/logmedic".
func (p Problem) Error() string {
	var b strings.Builder
	b.WriteString(p.What)
	b.WriteString(" ")
	b.WriteString(p.Target)
	if p.Path != p.Target {
		b.WriteString(": ")
		b.WriteString(p.Path)
	}
	b.WriteString(" ")
	b.WriteString(p.Reason)
	if p.Fix != "" {
		b.WriteString("; fix: ")
		b.WriteString(p.Fix)
	}
	return b.String()
}

// Problems is every problem Check found, as one error.
type Problems []Problem

func (ps Problems) Error() string {
	var b strings.Builder
	if len(ps) == 1 {
		b.WriteString("a file logmedic trusts can be changed by non-administrators, who could then run code with logmedic's privileges:")
	} else {
		fmt.Fprintf(&b, "%d files logmedic trusts can be changed by non-administrators, who could then run code with logmedic's privileges:", len(ps))
	}
	for _, p := range ps {
		b.WriteString("\n\t")
		b.WriteString(p.Error())
	}
	return b.String()
}

// Err returns ps as an error, or nil when there are none.
func Err(ps []Problem) error {
	if len(ps) == 0 {
		return nil
	}
	return Problems(ps)
}

// Check checks targets for the account logmedic runs as now: on Unix
// root and the current user are trusted, on Windows SYSTEM,
// Administrators, TrustedInstaller and the current account. It returns
// every problem, each path reported once.
func Check(targets []Target) []Problem {
	return check(targets, trustSpec{})
}

// CheckSystem checks targets for a daemon that will run as SYSTEM (root):
// it trusts only the system's own accounts and administrators, not the
// current user.
func CheckSystem(targets []Target) []Problem {
	return check(targets, trustSpec{strict: true})
}

// CheckService checks targets for a Windows service that will run as the
// account whose SID is sid (S-1-5-19 for LocalService; "" or S-1-5-18
// for LocalSystem): it trusts the system's own accounts, administrators
// and that account, not the current user, and its fixes grant that
// account read and execute, or modify where the daemon writes
// (Target.Write), so that the service can still read its files.
// logmedic service install uses it, before the service refuses to start.
// Elsewhere it is CheckSystem.
func CheckService(targets []Target, sid string) []Problem {
	return check(targets, trustSpec{strict: true, service: sid})
}

// trustSpec is whom a check trusts besides the system's own accounts and
// administrators.
type trustSpec struct {
	// strict: not the current account.
	strict bool
	// service is a Windows service account's SID, trusted under strict.
	service string
}

func check(targets []Target, spec trustSpec) []Problem {
	c := &checker{seen: map[seenKey]bool{}, reported: map[string]bool{}}
	tr, err := newTrust(spec)
	if err != nil {
		for _, t := range targets {
			c.report(Problem{What: t.What, Target: t.Path, Path: t.Path, Reason: "cannot be checked: " + err.Error()})
		}
		return c.problems
	}
	c.trust = tr
	for _, t := range targets {
		c.target(t)
	}
	return c.problems
}

// role is what a path is to the target being checked: the rights that
// matter differ.
type role uint8

const (
	// asTarget is the path named (or, for a link, the link's target).
	asTarget role = iota
	// asParent is the directory holding a file target: on Windows nobody
	// else may add entries to it either (an executable loads DLLs from
	// its own directory).
	asParent
	// asAncestor is any other directory on the way: nobody else may
	// remove or rename its entries or change its permissions.
	asAncestor
)

// node is what the platform knows of one path, without following a
// final symbolic link.
type node struct {
	dir  bool   // a directory (for a link: its final target is one)
	link string // a symbolic link's or junction's target as stored, else ""
	sys  sysInfo
}

type seenKey struct {
	path string
	role role
}

type checker struct {
	trust    trust
	seen     map[seenKey]bool
	reported map[string]bool
	problems []Problem
	// write is the current target's Write.
	write bool
}

func (c *checker) report(p Problem) {
	if c.reported[p.Path] {
		return
	}
	c.reported[p.Path] = true
	c.problems = append(c.problems, p)
}

// maxLinks bounds symbolic link chains, as the kernel does.
const maxLinks = 40

func (c *checker) target(t Target) {
	what := t.What
	if what == "" {
		what = "file"
	}
	if t.Refuse != "" {
		c.report(Problem{What: what, Target: t.Path, Path: t.Path, Reason: t.Refuse})
		return
	}
	p, err := filepath.Abs(t.Path)
	if err != nil {
		c.report(Problem{What: what, Target: t.Path, Path: t.Path, Reason: "cannot be checked: " + err.Error()})
		return
	}
	c.write = t.Write
	defer func() { c.write = false }()
	// An optional path that goes away while it is checked (a temporary
	// file in the state directory) is looked for again, once.
	for try := 0; ; try++ {
		if t.Optional {
			// The daemon creates what is missing, private to itself:
			// check from the closest existing directory up.
			q := p
			for {
				_, err := inspect(q)
				if err == nil {
					if q != p {
						c.walk(what, p, q, asAncestor, 0, false)
						return
					}
					break
				}
				// A path under a file cannot exist (ENOTDIR): the
				// daemon will fail to create it, and nobody else can
				// without replacing the file, which its directory's
				// check covers.
				if !errors.Is(err, fs.ErrNotExist) && !errors.Is(err, syscall.ENOTDIR) || filepath.Dir(q) == q {
					break
				}
				q = filepath.Dir(q)
			}
		}
		// A link loop, or a directory on the way that cannot be
		// searched: the walk would not say. A missing path it reports
		// precisely.
		if _, err := os.Stat(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
			c.report(Problem{What: what, Target: p, Path: p, Reason: "cannot be checked: " + err.Error()})
			return
		}
		if !c.walk(what, p, p, asTarget, 0, t.Optional && try == 0) {
			return
		}
	}
}

// walk checks p in role r, then each directory above it. A symbolic
// link is checked where it points, in its own role, recursively. With
// vanish set, a target p that does not exist is not reported: walk
// returns true instead, for the caller to look again.
func (c *checker) walk(what, target, p string, r role, links int, vanish bool) (vanished bool) {
	if links > maxLinks {
		c.report(Problem{What: what, Target: target, Path: p, Reason: "has too many levels of symbolic links"})
		return false
	}
	for {
		k := seenKey{p, r}
		if c.seen[k] {
			return false // this path and everything above it were checked
		}
		c.seen[k] = true
		n, err := inspect(p)
		switch {
		case errors.Is(err, fs.ErrNotExist) && vanish && p == target:
			delete(c.seen, k)
			return true
		case errors.Is(err, fs.ErrNotExist):
			reason, fix := "does not exist", ""
			if r == asTarget {
				reason = "does not exist: whoever can create it would choose what logmedic uses"
				fix = "create it, changeable only by administrators, or correct the path in the configuration"
			}
			c.report(Problem{What: what, Target: target, Path: p, Reason: reason, Fix: fix})
			return false
		case err != nil:
			c.report(Problem{What: what, Target: target, Path: p, Reason: "cannot be checked: " + err.Error()})
			return false
		}
		if n.link != "" {
			dest := n.link
			if !filepath.IsAbs(dest) {
				dest = filepath.Join(filepath.Dir(p), dest)
			}
			c.walk(what, target, filepath.Clean(dest), r, links+1, false)
		}
		if reason, fix := c.trust.judge(p, n, r, c.write && r == asTarget); reason != "" {
			c.report(Problem{What: what, Target: target, Path: p, Reason: reason, Fix: fix})
		}
		up := filepath.Dir(p)
		if up == p {
			return false
		}
		if r == asTarget && !n.dir {
			r = asParent
		} else {
			r = asAncestor
		}
		p = up
	}
}

// list joins names as "a", "a and b", "a, b and c".
func list(names []string) string {
	switch len(names) {
	case 0:
		return ""
	case 1:
		return names[0]
	}
	return strings.Join(names[:len(names)-1], ", ") + " and " + names[len(names)-1]
}
