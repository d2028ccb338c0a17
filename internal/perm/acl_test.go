package perm

import (
	"strings"
	"testing"
)

// Accounts as Windows names them.
var (
	system         = account{sidSystem, `NT AUTHORITY\SYSTEM`}
	admins         = account{sidAdministrators, `BUILTIN\Administrators`}
	trustedInstall = account{sidTrustedInstall, `NT SERVICE\TrustedInstaller`}
	users          = account{"S-1-5-32-545", `BUILTIN\Users`}
	authenticated  = account{"S-1-5-11", `NT AUTHORITY\Authenticated Users`}
	everyone       = account{"S-1-1-0", "Everyone"}
	creatorOwner   = account{sidCreatorOwner, "CREATOR OWNER"}
	ownerRights    = account{sidOwnerRights, "OWNER RIGHTS"}
	alice          = account{"S-1-5-21-1004336348-1177238915-682003330-1001", `HOST\alice`}
	localService   = account{"S-1-5-19", `NT AUTHORITY\LOCAL SERVICE`}
)

// Masks icacls shows as F, M, RX and (WD,AD,WEA,WA).
const (
	maskFull    = fileAllAccess
	maskModify  = 0x001301BF
	maskRX      = 0x001200A9
	maskAddOnly = rightWriteData | rightAppendData | rightWriteEA | rightWriteAttributes
	inheritBoth = aceObjectInherit | aceContainerInherit
)

func allow(who account, mask uint32, flags uint8) ace {
	return ace{typ: aceAllowed, flags: flags, mask: mask, who: who}
}

// locked is what the fix leaves: owned by Administrators, SYSTEM and
// Administrators in full control.
func locked(extra ...ace) *descriptor {
	return &descriptor{owner: admins, aces: append([]ace{
		allow(system, maskFull, inheritBoth),
		allow(admins, maskFull, inheritBoth),
	}, extra...)}
}

func TestJudgeDescriptor(t *testing.T) {
	cases := []struct {
		name    string
		self    string // the account logmedic runs as, "" for CheckSystem
		limited bool   // self is a service account (CheckService)
		dir     bool
		link    bool
		write   bool
		role    role
		d       *descriptor
		reason  string // "" for no problem; else words of the reason
		fix     string // words of the fix
	}{
		{name: "locked file", d: locked()},
		{name: "locked directory", dir: true, d: locked()},
		{name: "users may read and run", d: locked(allow(users, maskRX, aceInherited))},
		{name: "owned by SYSTEM", d: &descriptor{owner: system, aces: locked().aces}},
		{name: "owned by TrustedInstaller", d: &descriptor{owner: trustedInstall, aces: locked().aces}},
		{
			name:   "ProgramData subfolder with inherited Users access",
			dir:    true,
			d:      locked(allow(users, maskRX, inheritBoth|aceInherited), allow(users, maskAddOnly, aceContainerInherit|aceInherited)),
			reason: `can be changed by BUILTIN\Users (S-1-5-32-545): add file, add subdirectory`,
			fix:    `icacls "C:\ProgramData\logmedic" /inheritance:r /grant:r "*S-1-5-18:(OI)(CI)F" "*S-1-5-32-544:(OI)(CI)F"`,
		},
		{
			name:   "the directory holding a file, with Users add access",
			dir:    true,
			role:   asParent,
			d:      locked(allow(users, maskAddOnly, aceContainerInherit|aceInherited)),
			reason: `BUILTIN\Users (S-1-5-32-545): add file, add subdirectory`,
		},
		{
			name: "C:\\ProgramData itself: Users may only add, above the target",
			dir:  true,
			role: asAncestor,
			d:    &descriptor{owner: system, aces: locked(allow(creatorOwner, maskFull, inheritBoth|aceInheritOnly), allow(users, maskRX, inheritBoth), allow(users, maskAddOnly, aceContainerInherit)).aces},
		},
		{
			name: "C:\\ itself: Authenticated Users may add folders, and modify only below",
			dir:  true,
			role: asAncestor,
			d:    &descriptor{owner: trustedInstall, aces: locked(allow(authenticated, maskModify, inheritBoth|aceInheritOnly), allow(authenticated, rightAppendData, 0), allow(users, maskRX, inheritBoth)).aces},
		},
		{
			name:   "a directory above the target that Users can delete entries of",
			dir:    true,
			role:   asAncestor,
			d:      locked(allow(users, rightDeleteChild, 0)),
			reason: "delete child",
			fix:    `move what logmedic uses to a directory only administrators can change (such as C:\ProgramData\logmedic), or take away the access of BUILTIN\Users (S-1-5-32-545) to C:\ProgramData\logmedic`,
		},
		{
			name:   "a directory above the target that Users can rename",
			dir:    true,
			role:   asAncestor,
			d:      locked(allow(users, maskModify, inheritBoth|aceInherited)),
			reason: `BUILTIN\Users (S-1-5-32-545): delete`,
		},
		{
			name: "GENERIC_WRITE on a directory above the target only adds entries",
			dir:  true,
			role: asAncestor,
			d:    locked(allow(users, genericWrite, 0)),
		},
		{
			name:   "GENERIC_ALL on a directory above the target",
			dir:    true,
			role:   asAncestor,
			d:      locked(allow(users, genericAll, 0)),
			reason: `BUILTIN\Users (S-1-5-32-545): full control`,
		},
		{
			name:   "Authenticated Users may modify the file",
			d:      locked(allow(authenticated, maskModify, aceInherited)),
			reason: `NT AUTHORITY\Authenticated Users (S-1-5-11): write, append, delete`,
			fix:    `icacls "C:\ProgramData\logmedic" /inheritance:r /grant:r "*S-1-5-18:F" "*S-1-5-32-544:F"`,
		},
		{
			name:   "Everyone GENERIC_WRITE on the file, set explicitly",
			d:      locked(allow(everyone, genericWrite, 0)),
			reason: "Everyone (S-1-1-0): write, append",
			fix:    `icacls "C:\ProgramData\logmedic" /remove:g *S-1-1-0, then icacls "C:\ProgramData\logmedic" /inheritance:r`,
		},
		{
			name:   "write DAC alone",
			d:      locked(allow(users, rightWriteDAC, 0)),
			reason: "change permissions",
		},
		{
			name:   "take ownership alone",
			d:      locked(allow(users, rightWriteOwner, 0)),
			reason: "take ownership",
		},
		{
			name: "write attributes and extended attributes do not change contents",
			d:    locked(allow(users, rightWriteAttributes|rightWriteEA|maskRX, 0)),
		},
		{
			name:   "a directory target's inherit-only grants reach what the daemon creates in it",
			dir:    true,
			d:      locked(allow(users, maskFull, inheritBoth|aceInheritOnly)),
			reason: `BUILTIN\Users (S-1-5-32-545): on what is created in it: full control`,
			fix:    `icacls "C:\ProgramData\logmedic\*" /reset /T /C`,
		},
		{
			name:   "a directory target's inheritable write for files",
			dir:    true,
			d:      locked(allow(authenticated, maskModify, aceObjectInherit|aceInheritOnly|aceInherited)),
			reason: `NT AUTHORITY\Authenticated Users (S-1-5-11): on what is created in it: write, append, delete`,
		},
		{
			name: "CREATOR OWNER's inherit-only grant gives new entries to their creators, who are judged already",
			dir:  true,
			d:    locked(allow(creatorOwner, maskFull, inheritBoth|aceInheritOnly)),
		},
		{
			name: "inherit-only grants on a directory above the target are for other children",
			dir:  true,
			role: asParent,
			d:    locked(allow(users, maskFull, inheritBoth|aceInheritOnly)),
		},
		{
			name: "inheritable read for users is fine",
			dir:  true,
			d:    locked(allow(users, maskRX, inheritBoth)),
		},
		{
			name: "CREATOR OWNER on the object itself means nothing",
			d:    locked(allow(creatorOwner, maskFull, 0)),
		},
		{
			name: "OWNER RIGHTS is the owner, who is trusted",
			d:    locked(allow(ownerRights, maskFull, 0)),
		},
		{
			name:   "a deny does not clear a grant",
			d:      locked(ace{typ: aceDenied, mask: maskFull, who: users}, allow(users, maskModify, 0)),
			reason: `BUILTIN\Users (S-1-5-32-545): write, append, delete`,
		},
		{
			name: "a deny alone is no problem",
			d:    locked(ace{typ: aceDenied, mask: maskFull, who: everyone}, ace{typ: aceDeniedCallback, mask: maskFull, who: everyone}),
		},
		{
			name:   "a conditional grant counts",
			d:      locked(ace{typ: aceAllowedCallback, mask: maskModify, who: users}),
			reason: `BUILTIN\Users (S-1-5-32-545): write`,
		},
		{
			name:   "an object ACE of unknown shape is skipped",
			d:      locked(ace{typ: 0x5, mask: maskFull}),
			reason: "",
		},
		{
			name:   "no DACL",
			d:      &descriptor{owner: admins, nullDACL: true},
			reason: "has no DACL, so everyone has full control",
			fix:    `/inheritance:r /grant:r`,
		},
		{
			name:   "owned by a user",
			d:      &descriptor{owner: alice, aces: locked().aces},
			reason: `is owned by HOST\alice (S-1-5-21-1004336348-1177238915-682003330-1001)`,
			fix:    `icacls "C:\ProgramData\logmedic" /setowner *S-1-5-32-544, then icacls "C:\ProgramData\logmedic" /inheritance:r`,
		},
		{
			name:   "no owner",
			d:      &descriptor{aces: locked().aces},
			reason: "is owned by nobody (no owner)",
		},
		{
			name:   "owned by and writable by a user, both reported",
			d:      &descriptor{owner: alice, aces: append(locked().aces, allow(alice, maskFull, 0), allow(alice, maskRX, aceInherited))},
			reason: `is owned by HOST\alice (S-1-5-21-1004336348-1177238915-682003330-1001) and can be changed by HOST\alice (S-1-5-21-1004336348-1177238915-682003330-1001): full control`,
			fix:    `/remove:g *S-1-5-21-1004336348-1177238915-682003330-1001, then`,
		},
		{
			name: "the account logmedic runs as is trusted",
			self: alice.sid,
			d:    &descriptor{owner: alice, aces: append(locked().aces, allow(alice, maskFull, 0))},
		},
		{
			name:   "unnamed SIDs are shown as SIDs",
			d:      locked(allow(account{sid: "S-1-5-21-1-2-3-1105"}, maskModify, 0)),
			reason: "can be changed by S-1-5-21-1-2-3-1105: write",
		},
		{
			name:   "several writers",
			d:      locked(allow(users, rightWriteData, 0), allow(everyone, rightDelete, aceInherited), allow(users, rightAppendData, aceInherited)),
			reason: `can be changed by BUILTIN\Users (S-1-5-32-545): write, append and Everyone (S-1-1-0): delete`,
			fix:    `/remove:g *S-1-5-32-545, then`,
		},
		{
			name:   "a directory target owned by a user is given to Administrators with everything in it",
			dir:    true,
			d:      &descriptor{owner: alice, aces: locked().aces},
			reason: "is owned by HOST\\alice",
			fix:    `icacls "C:\ProgramData\logmedic" /setowner *S-1-5-32-544 /T /C, then icacls "C:\ProgramData\logmedic" /inheritance:r /grant:r "*S-1-5-18:(OI)(CI)F" "*S-1-5-32-544:(OI)(CI)F", then icacls "C:\ProgramData\logmedic\*" /reset /T /C`,
		},
		{
			name:   "a directory above the target is not changed recursively",
			dir:    true,
			role:   asParent,
			d:      &descriptor{owner: alice, aces: locked().aces},
			reason: "is owned by HOST\\alice",
			fix:    `icacls "C:\ProgramData\logmedic" /setowner *S-1-5-32-544, then icacls "C:\ProgramData\logmedic" /inheritance:r /grant:r "*S-1-5-18:(OI)(CI)F" "*S-1-5-32-544:(OI)(CI)F"`,
		},
		{
			name: "a link owned by Administrators that only they can change",
			link: true,
			d:    locked(allow(users, maskRX, 0)),
		},
		{
			name:   "a link that users may delete, and so replace",
			link:   true,
			d:      locked(allow(users, rightDelete, 0)),
			reason: `(the link itself) can be changed by BUILTIN\Users (S-1-5-32-545): delete`,
			fix:    `icacls "C:\ProgramData\logmedic" /remove:g *S-1-5-32-545 /L, then icacls "C:\ProgramData\logmedic" /inheritance:r /grant:r "*S-1-5-18:F" "*S-1-5-32-544:F" /L`,
		},
		{
			name:   "a link that users may retarget: setting a reparse point takes write attributes",
			link:   true,
			d:      locked(allow(users, rightWriteAttributes|maskRX, aceInherited)),
			reason: "write attributes",
		},
		{
			name:   "a junction to a directory, owned by a user",
			link:   true,
			dir:    true,
			role:   asAncestor,
			d:      &descriptor{owner: alice, aces: locked().aces},
			reason: "(the link itself) is owned by HOST\\alice",
			fix:    `icacls "C:\ProgramData\logmedic" /setowner *S-1-5-32-544 /L, then icacls "C:\ProgramData\logmedic" /inheritance:r /grant:r "*S-1-5-18:F" "*S-1-5-32-544:F" /L`,
		},
		{
			name: "a link's inherit-only grants mean nothing",
			link: true,
			dir:  true,
			d:    locked(allow(users, maskFull, inheritBoth|aceInheritOnly)),
		},
		{
			name:    "the service account logmedic will run as is trusted",
			self:    localService.sid,
			limited: true,
			dir:     true,
			write:   true,
			d:       locked(allow(localService, maskModify, inheritBoth)),
		},
		{
			name:    "a service account is granted read on a file it runs",
			self:    localService.sid,
			limited: true,
			d:       locked(allow(users, maskModify, aceInherited)),
			reason:  "write",
			fix:     `/inheritance:r /grant:r "*S-1-5-18:F" "*S-1-5-32-544:F" "*S-1-5-19:RX"`,
		},
		{
			name:    "a service account is granted modify on the state directory",
			self:    localService.sid,
			limited: true,
			dir:     true,
			write:   true,
			d:       locked(allow(users, maskAddOnly, aceInherited|aceContainerInherit)),
			reason:  "add file",
			fix:     `/inheritance:r /grant:r "*S-1-5-18:(OI)(CI)F" "*S-1-5-32-544:(OI)(CI)F" "*S-1-5-19:(OI)(CI)M"`,
		},
		{
			name:    "a service account is granted read on a drop folder",
			self:    localService.sid,
			limited: true,
			dir:     true,
			d:       locked(allow(users, maskAddOnly, aceInherited|aceContainerInherit)),
			reason:  "add file",
			fix:     `"*S-1-5-32-544:(OI)(CI)F" "*S-1-5-19:(OI)(CI)RX"`,
		},
		{
			name:   "a service account's own state directory is granted to it",
			self:   localService.sid,
			dir:    true,
			d:      locked(allow(users, maskAddOnly, aceInherited|aceContainerInherit)),
			reason: "add file",
			fix:    `"*S-1-5-32-544:(OI)(CI)F" "*S-1-5-19:(OI)(CI)F"`,
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			o := object{path: exampleProgramData, dir: tc.dir, link: tc.link, role: tc.role, write: tc.write}
			reason, fix := sidTrust{self: tc.self, limited: tc.limited}.judgeDescriptor(o, tc.d)
			if tc.reason == "" {
				if reason != "" {
					t.Fatalf("got %q (fix %q), want no problem", reason, fix)
				}
				return
			}
			if !strings.Contains(reason, tc.reason) {
				t.Errorf("reason = %q, want it to contain %q", reason, tc.reason)
			}
			if fix == "" || !strings.Contains(fix, tc.fix) {
				t.Errorf("fix = %q, want it to contain %q", fix, tc.fix)
			}
		})
	}
}

func TestIcaclsQuotesForCmdAndPowerShell(t *testing.T) {
	for _, tc := range []struct{ path, want string }{
		{`C:\Program Files\logmedic\fix.ps1`, `"C:\Program Files\logmedic\fix.ps1"`},
		{`C:\`, `"C:\\"`}, // not \" which escapes the quote
	} {
		if got := winQuote(tc.path); got != tc.want {
			t.Errorf("winQuote(%s) = %s, want %s", tc.path, got, tc.want)
		}
	}
}

func TestProblemsError(t *testing.T) {
	ps := []Problem{
		{What: "config", Target: "/etc/logmedic/logmedic.yaml", Path: "/etc/logmedic", Reason: "is writable by everyone", Fix: "chmod go-w /etc/logmedic"},
		{What: "script", Target: "/opt/fix.sh", Path: "/opt/fix.sh", Reason: "does not exist"},
	}
	want := "2 files logmedic trusts can be changed by non-administrators, who could then run code with logmedic's privileges:\n" +
		"\tconfig /etc/logmedic/logmedic.yaml: /etc/logmedic is writable by everyone; fix: chmod go-w /etc/logmedic\n" +
		"\tscript /opt/fix.sh does not exist"
	if got := Err(ps).Error(); got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
	if Err(nil) != nil {
		t.Error("Err(nil) != nil")
	}
}
