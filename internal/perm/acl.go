package perm

import (
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
}

func (t sidTrust) trusted(sid string) bool {
	switch sid {
	case sidSystem, sidAdministrators, sidTrustedInstall:
		return true
	}
	return sid != "" && sid == t.self
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

// rightNames names the rights of w that matter.
func (w writer) rightNames(dir bool) []string {
	if w.all&fileAllAccess == fileAllAccess {
		return []string{"full control"}
	}
	mask := w.rights
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
	add(rightDelete, "delete", "delete")
	add(rightWriteDAC, "change permissions", "change permissions")
	add(rightWriteOwner, "take ownership", "take ownership")
	return names
}

// writer is an account that can change a path, and how.
type writer struct {
	who      account
	rights   uint32 // the rights that matter
	all      uint32 // every right granted
	explicit bool   // granted by an ACE set on the path itself, not inherited
}

// writers returns the untrusted accounts that can change a path in role
// r through the DACL. Deny ACEs are not subtracted: one never covers
// every group a user is in, so a grant to others is a problem even next
// to a deny. CREATOR OWNER and CREATOR GROUP only mean something in
// inheritable ACEs; OWNER RIGHTS is the owner, judged as the owner.
func (t sidTrust) writers(d *descriptor, dir bool, r role) []writer {
	need := matters(dir, r)
	var ws []writer
	for _, a := range d.aces {
		if a.typ != aceAllowed && a.typ != aceAllowedCallback {
			continue
		}
		if a.flags&aceInheritOnly != 0 {
			continue
		}
		switch a.who.sid {
		case sidCreatorOwner, sidCreatorGroup, sidOwnerRights:
			continue
		}
		if t.trusted(a.who.sid) {
			continue
		}
		got := expand(a.mask) & need
		if got == 0 {
			continue
		}
		explicit := a.flags&aceInherited == 0
		merged := false
		for i := range ws {
			if ws[i].who.sid == a.who.sid {
				ws[i].rights |= got
				ws[i].all |= expand(a.mask)
				ws[i].explicit = ws[i].explicit || explicit
				merged = true
			}
		}
		if !merged {
			ws = append(ws, writer{who: a.who, rights: got, all: expand(a.mask), explicit: explicit})
		}
	}
	return ws
}

// judgeDescriptor says what is wrong with path in role r, and how to
// fix it.
func (t sidTrust) judgeDescriptor(path string, dir bool, d *descriptor, r role) (reason, fix string) {
	var what []string
	badOwner := !t.trusted(d.owner.sid)
	if badOwner {
		what = append(what, "is owned by "+d.owner.String())
	}
	var ws []writer
	if d.nullDACL {
		what = append(what, "has no DACL, so everyone has full control")
	} else {
		ws = t.writers(d, dir, r)
		if len(ws) > 0 {
			var names []string
			for _, w := range ws {
				names = append(names, w.who.String()+": "+strings.Join(w.rightNames(dir), ", "))
			}
			what = append(what, "can be changed by "+list(names))
		}
	}
	if len(what) == 0 {
		return "", ""
	}
	reason = strings.Join(what, " and ")
	if r == asAncestor {
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
		return reason, "move what logmedic uses to a directory only administrators can change (such as " + exampleProgramData + "), or take away the access of " + list(names) + " to " + path
	}
	return reason, t.icacls(path, dir, badOwner, ws)
}

// icacls returns commands that leave path owned by Administrators and
// changeable by SYSTEM, Administrators (and self) only: remove explicit
// grants to others, drop inherited ACEs, grant full control to the
// trusted. Users get no read access: the configuration can hold secrets.
// Each grant is quoted: PowerShell would parse (OI)(CI) otherwise.
func (t sidTrust) icacls(path string, dir bool, owner bool, ws []writer) string {
	q := winQuote(path)
	var cmds []string
	if owner {
		cmds = append(cmds, "icacls "+q+" /setowner *"+sidAdministrators)
	}
	var remove []string
	for _, w := range ws {
		if w.explicit {
			remove = append(remove, "*"+w.who.sid)
		}
	}
	if len(remove) > 0 {
		cmds = append(cmds, "icacls "+q+" /remove:g "+strings.Join(remove, " "))
	}
	inherit := ""
	if dir {
		inherit = "(OI)(CI)"
	}
	grant := []string{sidSystem, sidAdministrators}
	if t.self != "" && t.self != sidSystem && t.self != sidAdministrators {
		grant = append(grant, t.self)
	}
	cmd := "icacls " + q + " /inheritance:r /grant:r"
	for _, sid := range grant {
		cmd += ` "*` + sid + ":" + inherit + `F"`
	}
	cmds = append(cmds, cmd)
	return strings.Join(cmds, ", then ")
}

// winQuote quotes a path for cmd.exe and PowerShell alike. A trailing
// backslash is doubled, or it would escape the closing quote.
func winQuote(path string) string {
	if strings.HasSuffix(path, `\`) {
		path += `\`
	}
	return `"` + path + `"`
}
