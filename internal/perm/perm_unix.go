//go:build unix

package perm

import (
	"fmt"
	"io/fs"
	"os"
	"os/user"
	"strconv"
	"strings"
	"syscall"
)

type sysInfo struct {
	mode     fs.FileMode
	uid, gid uint32
	// acl is the POSIX access ACL (Linux), or nil without one.
	acl posixACL
}

func inspect(path string) (node, error) {
	fi, err := os.Lstat(path)
	if err != nil {
		return node{}, err
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return node{}, fmt.Errorf("no owner information for %s", path)
	}
	n := node{dir: fi.IsDir(), sys: sysInfo{mode: fi.Mode(), uid: st.Uid, gid: st.Gid}}
	if fi.Mode()&fs.ModeSymlink != 0 {
		if n.link, err = os.Readlink(path); err != nil {
			return node{}, err
		}
		if fi, err := os.Stat(path); err == nil {
			n.dir = fi.IsDir()
		}
		return n, nil
	}
	if n.sys.acl, err = readACL(path); err != nil {
		return node{}, &fs.PathError{Op: "read POSIX ACL", Path: path, Err: err}
	}
	return n, nil
}

// trust is who may own and write what logmedic trusts: root, and the
// user it runs as unless strict.
type trust struct {
	self uint32 // the effective uid
	// strict trusts only root.
	strict bool
}

func newTrust(spec trustSpec) (trust, error) {
	return trust{self: uint32(os.Geteuid()), strict: spec.strict}, nil
}

func (t trust) trusted(uid uint32) bool {
	return uid == 0 || (!t.strict && uid == t.self)
}

// judge says what is wrong with path in role r, and how to fix it.
func (t trust) judge(path string, n node, r role, _ bool) (reason, fix string) {
	var what []string
	badOwner := !t.trusted(n.sys.uid)
	if badOwner {
		what = append(what, "is owned by "+userName(n.sys.uid))
	}
	if n.link == "" { // a link's own mode means nothing
		var writers []string
		// In a sticky directory only an entry's owner, the directory's
		// owner and root may rename or remove the entry, and the walk
		// checks every entry's owner: others may add names, not
		// replace ours. A directory target is not excused: others
		// could add files to it.
		sticky := n.dir && n.sys.mode&fs.ModeSticky != 0 && r != asTarget
		if !sticky {
			// With a POSIX ACL the mode's group bits are its mask: the
			// owning group's own entry says what it may do, and named
			// users and groups may write too.
			groupWrite := n.sys.mode&0o020 != 0
			var users, groups []uint32
			if n.sys.acl != nil {
				users, groups, groupWrite = n.sys.acl.writers()
			}
			for _, uid := range users {
				if !t.trusted(uid) {
					writers = append(writers, "user "+userName(uid))
				}
			}
			if groupWrite && n.sys.gid != 0 && !t.privateGroup(n.sys.gid) {
				writers = append(writers, "group "+groupName(n.sys.gid))
			}
			for _, gid := range groups {
				if gid != 0 && !t.privateGroup(gid) {
					writers = append(writers, "group "+groupName(gid))
				}
			}
			if n.sys.mode&0o002 != 0 {
				writers = append(writers, "everyone")
			}
		}
		if len(writers) > 0 {
			what = append(what, "is writable by "+list(writers))
		}
	}
	if len(what) == 0 {
		return "", ""
	}
	reason = strings.Join(what, " and ")
	var cmd string
	switch {
	case badOwner && n.link != "":
		cmd = "chown -h " + t.ownerSpec() + " " + shellQuote(path)
	case badOwner:
		cmd = "chown " + t.ownerSpec() + " " + shellQuote(path) + " && chmod go-w " + shellQuote(path)
	default:
		cmd = "chmod go-w " + shellQuote(path)
	}
	if n.sys.acl != nil && n.link == "" {
		// setfacl -b drops the named entries and the mask; chmod then
		// works on the owning group's own permissions.
		cmd = "setfacl -b " + shellQuote(path) + " && " + cmd
	}
	if r == asAncestor {
		return reason, "move what logmedic uses to a directory only root can change (such as /etc/logmedic), or run: " + cmd
	}
	return reason, cmd
}

// privateGroup reports whether gid is the user-private group of the
// non-root user logmedic runs as (a group named as the user, the user's
// own): with a umask of 002, as Debian and Ubuntu give such users, every
// file they make is writable by it, and nobody else is in it. Not for
// root and not in strict mode (CheckSystem).
func (t trust) privateGroup(gid uint32) bool {
	if t.self == 0 || t.strict || int(gid) != os.Getegid() {
		return false
	}
	u, err := user.LookupId(strconv.FormatUint(uint64(t.self), 10))
	if err != nil {
		return false
	}
	g, err := user.LookupGroupId(strconv.FormatUint(uint64(gid), 10))
	return err == nil && g.Name == u.Username && u.Gid == g.Gid
}

// ownerSpec is the owner a fix gives a file: root, or the user logmedic
// runs as (who must be able to write its state directory).
func (t trust) ownerSpec() string {
	if t.self == 0 || t.strict {
		return "root:root"
	}
	id := strconv.FormatUint(uint64(t.self), 10)
	if u, err := user.LookupId(id); err == nil && u.Username != "" {
		return u.Username
	}
	return id
}

func userName(uid uint32) string {
	id := strconv.FormatUint(uint64(uid), 10)
	if u, err := user.LookupId(id); err == nil && u.Username != "" {
		return u.Username + " (uid " + id + ")"
	}
	return "uid " + id
}

func groupName(gid uint32) string {
	id := strconv.FormatUint(uint64(gid), 10)
	if g, err := user.LookupGroupId(id); err == nil && g.Name != "" {
		return g.Name + " (gid " + id + ")"
	}
	return "gid " + id
}

// shellQuote quotes s for a POSIX shell when it needs it.
func shellQuote(s string) string {
	if s != "" && strings.Trim(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789/._-+:,@%=") == "" {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// MkdirPrivate creates the directory path and any missing parents,
// private to the account logmedic runs as (mode 0700).
func MkdirPrivate(path string) error {
	return os.MkdirAll(path, 0o700)
}
