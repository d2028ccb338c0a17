// Package hresult decodes and explains HRESULT-style error codes: their
// severity, facility and code fields, and for the codes Windows Backup and
// System Image Recovery report, what they mean and how to fix them.
package hresult

import (
	"fmt"
	"sort"
	"strings"

	"github.com/logmedic/logmedic/watcher"
)

// Lookup returns the catalog entry for a code.
func Lookup(code uint32) (Entry, bool) {
	for _, e := range catalog {
		if e.Code == code {
			return e, true
		}
	}
	return Entry{}, false
}

// Known returns every catalogued code in ascending order.
func Known() []Entry {
	k := append([]Entry(nil), catalog...)
	sort.Slice(k, func(i, j int) bool { return k[i].Code < k[j].Code })
	return k
}

// Fields is a code split into its parts, read as an HRESULT, with what
// the NTSTATUS layout would read where the value also fits it.
type Fields struct {
	Failure    bool   // severity bit (31)
	Customer   bool   // customer bit (29)
	NT         bool   // bit 28 (FACILITY_NT_BIT): HRESULT_FROM_NT of the NTSTATUS v &^ 0x10000000
	NTStatus   bool   // bits 31 and 30 set: the value also has the NTSTATUS error layout
	Facility   uint16 // HRESULT facility, bits 16-26
	NTFacility uint16 // NTSTATUS facility, bits 16-27
	Code       uint16 // bits 0-15
}

// ntBit is FACILITY_NT_BIT, which HRESULT_FROM_NT sets.
const ntBit = 0x10000000

// Split decodes the fields of a code.
func Split(v uint32) Fields {
	return Fields{
		Failure:    v&0x80000000 != 0,
		Customer:   v&0x20000000 != 0,
		NT:         v&ntBit != 0,
		NTStatus:   v&0xC0000000 == 0xC0000000,
		Facility:   uint16(v>>16) & 0x7FF,
		NTFacility: uint16(v>>16) & 0xFFF,
		Code:       uint16(v),
	}
}

// FacilityName names an HRESULT facility, as winerror.h does.
func FacilityName(f uint16) string {
	if n, ok := facilities[f]; ok {
		return n
	}
	return ""
}

var facilities = map[uint16]string{
	0: "FACILITY_NULL", 1: "FACILITY_RPC", 2: "FACILITY_DISPATCH", 3: "FACILITY_STORAGE",
	4: "FACILITY_ITF (interface-specific; VSS uses it)", 5: "FACILITY_UNUSED", 7: "FACILITY_WIN32 (a Win32 error code)",
	8: "FACILITY_WINDOWS", 9: "FACILITY_SECURITY", 10: "FACILITY_CONTROL", 11: "FACILITY_CERT",
	12: "FACILITY_INTERNET", 13: "FACILITY_MEDIASERVER", 14: "FACILITY_MSMQ", 15: "FACILITY_SETUPAPI",
	16: "FACILITY_SCARD", 17: "FACILITY_COMPLUS", 19: "FACILITY_URT", 23: "FACILITY_SXS",
	25: "FACILITY_HTTP", 32: "FACILITY_BACKGROUNDCOPY", 33: "FACILITY_CONFIGURATION",
	36: "FACILITY_WINDOWSUPDATE", 37: "FACILITY_DIRECTORYSERVICE", 38: "FACILITY_GRAPHICS",
	39: "FACILITY_SHELL", 40: "FACILITY_TPM_SERVICES", 41: "FACILITY_TPM_SOFTWARE",
	49: "FACILITY_FVE (BitLocker)", 50: "FACILITY_FWP", 51: "FACILITY_WINRM",
	55: "FACILITY_USERMODE_VIRTUALIZATION", 56: "FACILITY_USERMODE_VOLMGR", 57: "FACILITY_BCD",
	58: "FACILITY_USERMODE_VHD", 80: "FACILITY_WINDOWS_DEFENDER",
	120: "FACILITY_BLB (Windows Backup engine)", 121: "FACILITY_BLB_CLI (wbadmin)",
	122: "FACILITY_WSBAPP (Windows Server Backup)", 128: "FACILITY_BLBUI (Windows Backup UI)",
	256: "FACILITY_SPP (Windows 7 Backup and Restore)",
}

// win32 names the Win32 errors most often wrapped in FACILITY_WIN32 codes
// around backups.
var win32 = map[uint16][2]string{
	1:    {"ERROR_INVALID_FUNCTION", "Incorrect function."},
	2:    {"ERROR_FILE_NOT_FOUND", "The system cannot find the file specified."},
	3:    {"ERROR_PATH_NOT_FOUND", "The system cannot find the path specified."},
	5:    {"ERROR_ACCESS_DENIED", "Access is denied."},
	19:   {"ERROR_WRITE_PROTECT", "The media is write protected."},
	21:   {"ERROR_NOT_READY", "The device is not ready."},
	23:   {"ERROR_CRC", "Data error (cyclic redundancy check)."},
	32:   {"ERROR_SHARING_VIOLATION", "The process cannot access the file because it is being used by another process."},
	53:   {"ERROR_BAD_NETPATH", "The network path was not found."},
	55:   {"ERROR_DEV_NOT_EXIST", "The specified network resource or device is no longer available."},
	64:   {"ERROR_NETNAME_DELETED", "The specified network name is no longer available."},
	67:   {"ERROR_BAD_NET_NAME", "The network name cannot be found."},
	87:   {"ERROR_INVALID_PARAMETER", "The parameter is incorrect."},
	112:  {"ERROR_DISK_FULL", "There is not enough space on the disk."},
	123:  {"ERROR_INVALID_NAME", "The filename, directory name, or volume label syntax is incorrect."},
	1117: {"ERROR_IO_DEVICE", "The request could not be performed because of an I/O device error."},
	1326: {"ERROR_LOGON_FAILURE", "The user name or password is incorrect."},
	1392: {"ERROR_FILE_CORRUPT", "The file or directory is corrupted and unreadable."},
	1460: {"ERROR_TIMEOUT", "This operation returned because the timeout period expired."},
}

// Explain writes what is known of a code, in the form logmedic explain
// prints and templates embed. Every code is decoded as an HRESULT; when
// bit 28 is set it is also named as the NTSTATUS that HRESULT_FROM_NT
// mapped, and when both top bits are set (and bit 28 is clear) its fields
// in the NTSTATUS error layout follow, since the value alone cannot tell
// an NTSTATUS from such an HRESULT (SPP's 0xC004F014).
func Explain(v uint32) string {
	var b strings.Builder
	f := Split(v)
	fmt.Fprintf(&b, "%s  (unsigned %d, signed %d, insert %%%%%d)\n", watcher.FormatCode(v), v, int32(v), v)
	e, known := Lookup(v)
	sev := "success"
	if f.Failure {
		sev = "failure"
	}
	name := FacilityName(f.Facility)
	if name == "" {
		name = "unknown facility"
	}
	fmt.Fprintf(&b, "severity:  %s\nfacility:  %d (0x%X) %s\ncode:      %d (0x%04X)\n", sev, f.Facility, f.Facility, name, f.Code, f.Code)
	switch {
	case f.NT:
		nt := v &^ ntBit
		fmt.Fprintf(&b, "ntstatus:  bit 28 (FACILITY_NT_BIT) is set: HRESULT_FROM_NT of NTSTATUS %s (facility 0x%X, code 0x%04X)\n",
			watcher.FormatCode(nt), nt>>16&0xFFF, f.Code)
	case f.NTStatus:
		fmt.Fprintf(&b, "ntstatus:  also the NTSTATUS error layout (severity bits 11): facility 0x%X, code 0x%04X\n", f.NTFacility, f.Code)
	case f.Facility == 7:
		if w, ok := win32[f.Code]; ok {
			fmt.Fprintf(&b, "win32:     %s: %s\n", w[0], w[1])
		} else {
			fmt.Fprintf(&b, "win32:     error %d\n", f.Code)
		}
	}
	if v == 0 {
		b.WriteString("name:      S_OK\nmeaning:   success: no error\n")
		return b.String()
	}
	if !known {
		b.WriteString("meaning:   not in logmedic's catalog; the fields above are all that is certain\n")
		return b.String()
	}
	if e.Name != "" {
		fmt.Fprintf(&b, "name:      %s\n", e.Name)
	}
	fmt.Fprintf(&b, "meaning:   %s\n", e.Meaning)
	if e.Cause != "" {
		fmt.Fprintf(&b, "cause:     %s\n", e.Cause)
	}
	if e.Fix != "" {
		fmt.Fprintf(&b, "fix:       %s\n", e.Fix)
	}
	fmt.Fprintf(&b, "source:    %s\n", e.Source)
	return b.String()
}

// Summary is a one-line description: the catalog meaning, the Win32
// message, or the facility.
func Summary(v uint32) string {
	if e, ok := Lookup(v); ok {
		return e.Meaning
	}
	if v == 0 {
		return "S_OK: success, no error"
	}
	f := Split(v)
	if f.NT {
		return "NTSTATUS " + watcher.FormatCode(v&^ntBit) + " mapped to an HRESULT (HRESULT_FROM_NT)"
	}
	if !f.NTStatus && f.Facility == 7 {
		if w, ok := win32[f.Code]; ok {
			return w[1]
		}
	}
	if n := FacilityName(f.Facility); n != "" && !f.NTStatus {
		return fmt.Sprintf("%s error 0x%04X", n, f.Code)
	}
	return "unknown error " + watcher.FormatCode(v)
}
