package perm

import (
	"slices"
	"strings"
)

// This file judges a Windows security descriptor. It builds everywhere
// so that its tests run on Linux; perm_windows.go only reads descriptors
// into this form.
//
// References: ACE_HEADER and ACCESS_ALLOWED_ACE
// (https://learn.microsoft.com/en-us/windows/win32/api/winnt/ns-winnt-ace_header),
// File Security and Access Rights
// (https://learn.microsoft.com/en-us/windows/win32/fileio/file-security-and-access-rights),
// well-known SIDs
// (https://learn.microsoft.com/en-us/windows/win32/secauthz/well-known-sids).

// descriptor is a file's owner and DACL.
type descriptor struct {
	owner account
	// nullDACL: the descriptor has no DACL, which grants everyone
	// full control (an empty DACL grants nobody anything).
	nullDACL bool
	aces     []ace
}

// account is a SID and, when Windows could name it, its name.
type account struct {
	sid  string // "S-1-5-32-545"
	name string // `BUILTIN\Users`
}

func (a account) String() string {
	switch {
	case a.sid == "":
		return "nobody (no owner)"
	case a.name == "":
		return a.sid
	}
	return a.name + " (" + a.sid + ")"
}

// ace is one access control entry.
type ace struct {
	typ   uint8  // ACE_HEADER.AceType
	flags uint8  // ACE_HEADER.AceFlags
	mask  uint32 // ACCESS_MASK
	who   account
}

// ACE types and flags (winnt.h).
const (
	aceAllowed         = 0x0 // ACCESS_ALLOWED_ACE_TYPE
	aceDenied          = 0x1 // ACCESS_DENIED_ACE_TYPE
	aceAllowedCallback = 0x9 // ACCESS_ALLOWED_CALLBACK_ACE_TYPE: conditional, counted as granted
	aceDeniedCallback  = 0xA // ACCESS_DENIED_CALLBACK_ACE_TYPE

	aceObjectInherit    = 0x01 // OBJECT_INHERIT_ACE
	aceContainerInherit = 0x02 // CONTAINER_INHERIT_ACE
	aceInheritOnly      = 0x08 // INHERIT_ONLY_ACE: applies to children only
	aceInherited        = 0x10 // INHERITED_ACE
)

// Access rights. On a directory, write data is add file, append data is
// add subdirectory.
const (
	rightWriteData       = 0x00000002 // FILE_WRITE_DATA, FILE_ADD_FILE
	rightAppendData      = 0x00000004 // FILE_APPEND_DATA, FILE_ADD_SUBDIRECTORY
	rightWriteEA         = 0x00000010 // FILE_WRITE_EA
	rightDeleteChild     = 0x00000040 // FILE_DELETE_CHILD
	rightWriteAttributes = 0x00000100 // FILE_WRITE_ATTRIBUTES
	rightDelete          = 0x00010000 // DELETE
	rightWriteDAC        = 0x00040000 // WRITE_DAC
	rightWriteOwner      = 0x00080000 // WRITE_OWNER
	genericAll           = 0x10000000 // GENERIC_ALL
	genericWrite         = 0x40000000 // GENERIC_WRITE
	fileAllAccess        = 0x001F01FF // FILE_ALL_ACCESS
	fileGenericWrite     = 0x00120116 // FILE_GENERIC_WRITE
)

// Well-known SIDs.
const (
	sidSystem         = "S-1-5-18"
	sidAdministrators = "S-1-5-32-544"
	sidTrustedInstall = "S-1-5-80-956008885-3418522649-1831038044-1853292631-2271478464"
	sidCreatorOwner   = "S-1-3-0"
	sidCreatorGroup   = "S-1-3-1"
	sidOwnerRights    = "S-1-3-4"
)

// exampleProgramData is where a fix suggests moving files.
const exampleProgramData = `C:\ProgramData\logmedic`

// sidTrust is who may own and write what logmedic trusts: SYSTEM,
// Administrators, TrustedInstaller, and self (the account logmedic runs
// as, when it is another).
type sidTrust struct {
	self string
	// limited: self is a service account that a fix grants only what
	// the daemon needs, read and execute, or modify where it writes
	// (Target.Write), not full control (CheckService).
	limited bool
}

func (t sidTrust) trusted(sid string) bool {
	switch sid {
	case sidSystem, sidAdministrators, sidTrustedInstall:
		return true
	}
	return sid != "" && sid == t.self
}

// object is a path being judged and what it is to the target.
type object struct {
	path string
	dir  bool // a directory (for a link: its target is one)
	link bool // a symbolic link or junction, judged itself
	role role
	// write: the daemon writes in it (the state directory): a fix for
	// a limited account grants it modify rather than read.
	write bool
}

// matters is the rights that let an account change a path in role r.
// Write EA and write attributes are left out: they change neither
// contents nor permissions.
func matters(dir bool, r role) uint32 {
	m := uint32(rightDelete | rightWriteDAC | rightWriteOwner)
	switch {
	case !dir:
		m |= rightWriteData | rightAppendData
	case r == asAncestor:
		// Adding entries cannot replace ours: C:\ and C:\ProgramData
		// let Users create folders.
		m |= rightDeleteChild
	default:
		m |= rightWriteData | rightAppendData | rightDeleteChild
	}
	return m
}

// linkMatters is the rights that let an account change a symbolic link
// or junction itself: replace it (DELETE), retarget it (setting a
// reparse point takes write data or write attributes, [MS-FSA]
// 2.1.5.10.37), or give itself those rights.
const linkMatters = rightDelete | rightWriteDAC | rightWriteOwner | rightWriteData | rightAppendData | rightWriteAttributes

// inheritMatters is the rights that, inherited by what the daemon
// creates in a directory target, let an account change it: a file's
// through OBJECT_INHERIT, a subdirectory's through CONTAINER_INHERIT.
func inheritMatters(flags uint8) uint32 {
	var m uint32
	if flags&aceObjectInherit != 0 {
		m |= matters(false, asTarget)
	}
	if flags&aceContainerInherit != 0 {
		m |= matters(true, asTarget)
	}
	return m
}

// expand maps generic rights in a mask to the file rights they grant.
func expand(mask uint32) uint32 {
	if mask&genericAll != 0 {
		mask |= fileAllAccess
	}
	if mask&genericWrite != 0 {
		mask |= fileGenericWrite
	}
	return mask
}

// rights names the rights of w that matter, on the path itself and on
// what is created in it: "add file, add subdirectory; on what is created
// in it: write, append".
func (w writer) rightsText(o object) string {
	var parts []string
	switch {
	case w.all&fileAllAccess == fileAllAccess:
		parts = append(parts, "full control")
	case w.rights != 0:
		parts = append(parts, strings.Join(maskNames(w.rights, o.dir && !o.link), ", "))
	}
	switch {
	case w.inheritAll&fileAllAccess == fileAllAccess:
		parts = append(parts, "on what is created in it: full control")
	case w.inherit != 0:
		parts = append(parts, "on what is created in it: "+strings.Join(maskNames(w.inherit, false), ", "))
	}
	return strings.Join(parts, "; ")
}

// maskNames names the rights in mask that matter, as for a directory
// or a file.
func maskNames(mask uint32, dir bool) []string {
	var names []string
	add := func(bit uint32, file, directory string) {
		if mask&bit == 0 {
			return
		}
		if dir {
			names = append(names, directory)
		} else {
			names = append(names, file)
		}
	}
	add(rightWriteData, "write", "add file")
	add(rightAppendData, "append", "add subdirectory")
	add(rightDeleteChild, "delete child", "delete child")
	add(rightWriteAttributes, "write attributes", "write attributes")
	add(rightDelete, "delete", "delete")
	add(rightWriteDAC, "change permissions", "change permissions")
	add(rightWriteOwner, "take ownership", "take ownership")
	return names
}

// writer is an account that can change a path, and how.
type writer struct {
	who    account
	rights uint32 // the rights that matter on the path
	all    uint32 // every right granted on the path
	// inherit and inheritAll are the same for what the daemon creates
	// in a directory target, through inheritable ACEs.
	inherit, inheritAll uint32
	explicit            bool // granted by an ACE set on the path itself, not inherited
}

// writers returns the untrusted accounts that can change o through the
// DACL. Deny ACEs are not subtracted: one never covers every group a
// user is in, so a grant to others is a problem even next to a deny.
// CREATOR OWNER and CREATOR GROUP only mean something in inheritable
// ACEs; OWNER RIGHTS is the owner, judged as the owner.
//
// A directory target's inheritable ACEs (inherit-only ones too) are
// judged as well: every file the daemon creates in it gets them. CREATOR
// OWNER is skipped there: it gives a new entry to whoever created it,
// and only those the directory lets create entries can, which is judged
// already. CREATOR GROUP counts: the creator's primary group may hold
// anyone.
func (t sidTrust) writers(d *descriptor, o object) []writer {
	need := matters(o.dir, o.role)
	if o.link {
		need = linkMatters
	}
	children := o.dir && !o.link && o.role == asTarget
	var ws []writer
	for _, a := range d.aces {
		if a.typ != aceAllowed && a.typ != aceAllowedCallback {
			continue
		}
		if t.trusted(a.who.sid) || a.who.sid == sidOwnerRights {
			continue
		}
		mask := expand(a.mask)
		var got, all, inherit, inheritAll uint32
		if a.flags&aceInheritOnly == 0 && a.who.sid != sidCreatorOwner && a.who.sid != sidCreatorGroup {
			got, all = mask&need, mask
		}
		if children && a.who.sid != sidCreatorOwner {
			if m := inheritMatters(a.flags); m != 0 {
				inherit, inheritAll = mask&m, mask
			}
		}
		if got == 0 && inherit == 0 {
			continue
		}
		explicit := a.flags&aceInherited == 0
		i := slices.IndexFunc(ws, func(w writer) bool { return w.who.sid == a.who.sid })
		if i < 0 {
			ws = append(ws, writer{who: a.who})
			i = len(ws) - 1
		}
		w := &ws[i]
		w.rights |= got
		w.inherit |= inherit
		if got != 0 {
			w.all |= all
		}
		if inherit != 0 {
			w.inheritAll |= inheritAll
		}
		w.explicit = w.explicit || explicit
	}
	return ws
}

// judgeDescriptor says what is wrong with o, and how to fix it.
func (t sidTrust) judgeDescriptor(o object, d *descriptor) (reason, fix string) {
	var what []string
	badOwner := !t.trusted(d.owner.sid)
	if badOwner {
		what = append(what, "is owned by "+d.owner.String())
	}
	var ws []writer
	if d.nullDACL {
		what = append(what, "has no DACL, so everyone has full control")
	} else {
		ws = t.writers(d, o)
		if len(ws) > 0 {
			var names []string
			for _, w := range ws {
				names = append(names, w.who.String()+": "+w.rightsText(o))
			}
			what = append(what, "can be changed by "+list(names))
		}
	}
	if len(what) == 0 {
		return "", ""
	}
	reason = strings.Join(what, " and ")
	if o.link {
		reason = "(the link itself) " + reason
	}
	if o.role == asAncestor && !o.link {
		var names []string
		if badOwner {
			names = append(names, d.owner.String())
		}
		for _, w := range ws {
			names = append(names, w.who.String())
		}
		if d.nullDACL {
			names = append(names, "Everyone")
		}
		return reason, "move what logmedic uses to a directory only administrators can change (such as " + exampleProgramData + "), or take away the access of " + list(names) + " to " + o.path
	}
	return reason, t.icacls(o, badOwner, ws)
}

// icacls returns commands that leave o owned by Administrators and
// changeable by SYSTEM, Administrators (and self) only: remove explicit
// grants to others, drop inherited ACEs, grant full control to the
// trusted. Users get no read access: the configuration can hold secrets.
// A directory target's owner is set for everything in it (/T), and what
// is in it is reset to inherit only the directory's new ACL: files made
// while it was open to others keep their grants otherwise. A link is
// changed itself (/L), not its target. Each grant is quoted: PowerShell
// would parse (OI)(CI) otherwise.
func (t sidTrust) icacls(o object, owner bool, ws []writer) string {
	q := winQuote(o.path)
	tree := o.dir && !o.link && o.role == asTarget
	suffix := ""
	if o.link {
		suffix = " /L"
	}
	var cmds []string
	if owner {
		cmd := "icacls " + q + " /setowner *" + sidAdministrators + suffix
		if tree {
			cmd += " /T /C"
		}
		cmds = append(cmds, cmd)
	}
	var remove []string
	for _, w := range ws {
		if w.explicit {
			remove = append(remove, "*"+w.who.sid)
		}
	}
	if len(remove) > 0 {
		cmds = append(cmds, "icacls "+q+" /remove:g "+strings.Join(remove, " ")+suffix)
	}
	inherit := ""
	if o.dir && !o.link {
		inherit = "(OI)(CI)"
	}
	cmd := "icacls " + q + " /inheritance:r /grant:r"
	for _, g := range t.grants(o) {
		cmd += ` "*` + g.sid + ":" + inherit + g.rights + `"`
	}
	cmds = append(cmds, cmd+suffix)
	if tree {
		cmds = append(cmds, "icacls "+winQuote(strings.TrimRight(o.path, `\`)+`\*`)+" /reset /T /C")
	}
	return strings.Join(cmds, ", then ")
}

type grant struct{ sid, rights string }

// grants is who a fix gives access to o: full control to SYSTEM,
// Administrators and self; a limited self (a service account) gets read
// and execute, or modify where the daemon writes.
func (t sidTrust) grants(o object) []grant {
	gs := []grant{{sidSystem, "F"}, {sidAdministrators, "F"}}
	if t.self == "" || t.self == sidSystem || t.self == sidAdministrators {
		return gs
	}
	switch {
	case !t.limited:
		return append(gs, grant{t.self, "F"})
	case o.write && o.role == asTarget:
		return append(gs, grant{t.self, "M"})
	}
	return append(gs, grant{t.self, "RX"})
}

// winQuote quotes a path for cmd.exe and PowerShell alike. A trailing
// backslash is doubled, or it would escape the closing quote.
func winQuote(path string) string {
	if strings.HasSuffix(path, `\`) {
		path += `\`
	}
	return `"` + path + `"`
}
