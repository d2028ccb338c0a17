package perm

import (
	"encoding/binary"
	"fmt"
)

// This file reads a Linux POSIX ACL, the system.posix_acl_access
// extended attribute (acl(5), include/uapi/linux/posix_acl_xattr.h). It
// builds everywhere so that its tests run on any OS; perm_linux.go reads
// the attribute.
//
// The value is a header, a little-endian uint32 version (2), then
// entries of 8 bytes: tag (uint16), permissions (uint16, rwx as 4, 2,
// 1) and the uid or gid the entry names (uint32), all little-endian.
// With a mask entry, the mask bounds every named entry and the owning
// group (and the mode's group bits show the mask, not the owning
// group's permissions), but not the owner or others.

// POSIX ACL tags.
const (
	aclUserObj  = 0x01 // ACL_USER_OBJ: the owner
	aclUser     = 0x02 // ACL_USER: a named user
	aclGroupObj = 0x04 // ACL_GROUP_OBJ: the owning group
	aclGroup    = 0x08 // ACL_GROUP: a named group
	aclMask     = 0x10 // ACL_MASK
	aclOther    = 0x20 // ACL_OTHER

	aclWrite        = 0x2
	posixACLVersion = 2
)

// posixEntry is one ACL entry.
type posixEntry struct {
	tag, perm uint16
	id        uint32
}

// posixACL is a parsed access ACL.
type posixACL []posixEntry

// parsePOSIXACL parses the value of system.posix_acl_access.
func parsePOSIXACL(b []byte) (posixACL, error) {
	if len(b) < 4 || (len(b)-4)%8 != 0 {
		return nil, fmt.Errorf("POSIX ACL of length %d: not a header and 8-byte entries", len(b))
	}
	if v := binary.LittleEndian.Uint32(b); v != posixACLVersion {
		return nil, fmt.Errorf("POSIX ACL version %d, not %d", v, posixACLVersion)
	}
	var acl posixACL
	for b = b[4:]; len(b) > 0; b = b[8:] {
		e := posixEntry{tag: binary.LittleEndian.Uint16(b), perm: binary.LittleEndian.Uint16(b[2:]), id: binary.LittleEndian.Uint32(b[4:])}
		switch e.tag {
		case aclUserObj, aclUser, aclGroupObj, aclGroup, aclMask, aclOther:
		default:
			return nil, fmt.Errorf("POSIX ACL entry with unknown tag %#x", e.tag)
		}
		acl = append(acl, e)
	}
	return acl, nil
}

// writers returns who the ACL lets write, besides the owner and others
// (whom the mode shows as they are): named users and named groups, and
// whether the owning group may, each through the mask.
func (acl posixACL) writers() (users, groups []uint32, ownerGroup bool) {
	mask := uint16(7)
	for _, e := range acl {
		if e.tag == aclMask {
			mask = e.perm
		}
	}
	for _, e := range acl {
		if e.perm&mask&aclWrite == 0 {
			continue
		}
		switch e.tag {
		case aclUser:
			users = append(users, e.id)
		case aclGroup:
			groups = append(groups, e.id)
		case aclGroupObj:
			ownerGroup = true
		}
	}
	return users, groups, ownerGroup
}
