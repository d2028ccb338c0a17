package perm

import (
	"encoding/binary"
	"slices"
	"strings"
	"testing"
)

// xattr builds a system.posix_acl_access value: version 2, then the
// entries as {tag, perm, id}, little-endian.
func xattr(version uint32, entries ...posixEntry) []byte {
	b := binary.LittleEndian.AppendUint32(nil, version)
	for _, e := range entries {
		b = binary.LittleEndian.AppendUint16(b, e.tag)
		b = binary.LittleEndian.AppendUint16(b, e.perm)
		b = binary.LittleEndian.AppendUint32(b, e.id)
	}
	return b
}

const undefinedID = 0xFFFFFFFF // ACL_UNDEFINED_ID, for entries without an id

func TestParsePOSIXACL(t *testing.T) {
	// root:root -rw-rw-r--+ with user:nobody:rw-: what getfacl shows as
	// user::rw- user:nobody:rw- group::r-- mask::rw- other::r--.
	nobodyRW := xattr(2,
		posixEntry{aclUserObj, 6, undefinedID},
		posixEntry{aclUser, 6, 65534},
		posixEntry{aclGroupObj, 4, undefinedID},
		posixEntry{aclMask, 6, undefinedID},
		posixEntry{aclOther, 4, undefinedID},
	)
	cases := []struct {
		name    string
		b       []byte
		users   []uint32 // named users with effective write
		groups  []uint32 // named groups with effective write
		ownerGW bool     // the owning group has effective write
		err     string
	}{
		{name: "a named user who may write", b: nobodyRW, users: []uint32{65534}},
		{
			name: "the mask takes write away",
			b: xattr(2, posixEntry{aclUserObj, 7, undefinedID}, posixEntry{aclUser, 7, 1000}, posixEntry{aclGroup, 6, 50},
				posixEntry{aclGroupObj, 6, undefinedID}, posixEntry{aclMask, 5, undefinedID}, posixEntry{aclOther, 0, undefinedID}),
		},
		{
			name: "named groups, and the owning group through the mask",
			b: xattr(2, posixEntry{aclUserObj, 7, undefinedID}, posixEntry{aclGroupObj, 2, undefinedID}, posixEntry{aclGroup, 2, 50},
				posixEntry{aclGroup, 4, 51}, posixEntry{aclMask, 7, undefinedID}, posixEntry{aclOther, 0, undefinedID}),
			groups: []uint32{50}, ownerGW: true,
		},
		{
			name:    "a minimal ACL, as the mode shows it",
			b:       xattr(2, posixEntry{aclUserObj, 6, undefinedID}, posixEntry{aclGroupObj, 6, undefinedID}, posixEntry{aclOther, 4, undefinedID}),
			ownerGW: true,
		},
		{name: "a wrong version", b: xattr(1, posixEntry{aclUserObj, 6, undefinedID}), err: "version 1"},
		{name: "cut short", b: nobodyRW[:len(nobodyRW)-3], err: "length"},
		{name: "no header", b: []byte{2, 0}, err: "length"},
		{name: "an unknown tag", b: xattr(2, posixEntry{0x40, 7, 3}), err: "tag 0x40"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			acl, err := parsePOSIXACL(tc.b)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("error %v, want one with %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			users, groups, ownerGW := acl.writers()
			if !slices.Equal(users, tc.users) || !slices.Equal(groups, tc.groups) || ownerGW != tc.ownerGW {
				t.Errorf("writers = users %v, groups %v, owning group %v; want %v, %v, %v", users, groups, ownerGW, tc.users, tc.groups, tc.ownerGW)
			}
		})
	}
}
