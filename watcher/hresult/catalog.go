package hresult

// Entry is what logmedic knows about one code. Meanings were checked
// against the sources named; codes whose meaning no primary source
// confirms are left out on purpose, so they are explained by their
// decoding alone.
type Entry struct {
	Code    uint32
	Name    string // symbolic name, when Windows defines one
	Meaning string
	Cause   string // what usually leads to it
	Fix     string
	Source  string // KB article or document
}

var catalog = []Entry{
	// Windows Backup engine (FACILITY_BLB, 0x78).
	{
		Code:    0x807800B4,
		Meaning: "The volume is too large to be protected: a system image stores each volume in a VHD, and the VHD format holds at most 2040 GB, so a source volume larger than 2,088,958 MB cannot be imaged.",
		Cause:   "\"Create a system image\" (Windows 7 style backup) of a volume over 2,088,958 MB.",
		Fix:     "Shrink the volume to 2,088,958 MB or less before imaging, or back it up with a tool that writes VHDX or another format without the 2040 GB limit.",
		Source:  "KB2696906",
	},
	{
		Code:    0x8078011E,
		Meaning: "Windows Backup could not get exclusive access to the EFI system partition (ESP): another program had files on it open.",
		Cause:   "Antivirus or endpoint protection (Symantec Endpoint Protection is a known case) or other backup software holding the ESP; the detailed code is usually 0x80070005.",
		Fix:     "Run the backup again; if it keeps failing, exclude the ESP from the antivirus scan or stop the other software during the backup window.",
		Source:  "Azure Backup system state troubleshooting (\"EFI partition locked\"); moritzc/WSBEFILock",
	},
	{
		Code:    0x8078015B,
		Meaning: "Windows Backup hit an error while accessing the remote shared folder used as the backup target.",
		Cause:   "The share is offline, unreachable or refuses the backup account's credentials (SMBClient event 30809 often appears with it).",
		Fix:     "Check that the share is reachable over SMB from this machine and that the backup credentials still work, then run the backup again.",
		Source:  "Microsoft support article on DPM / Windows Server Backup network targets",
	},
	{
		Code:    0x807800A1,
		Meaning: "Creating the shadow copy of the backup volumes failed (Application event 521: the Volume Shadow Copy operation failed).",
		Cause:   "A VSS writer failed; 0x800423F4 from the SQL Server writer is the documented case, and ASR writer problems with an OEM active partition are reported too.",
		Fix:     "Run 'vssadmin list writers', fix the writer in a failed state (permissions for the SQL writer, or make the OS partition active and run bcdboot for the ASR writer), then back up again.",
		Source:  "Microsoft support article on event 521 and VSS writer failures",
	},
	{
		Code:    0x8078010D,
		Meaning: "Enumeration of the files failed during a system state backup.",
		Cause:   "A service or driver registered with an invalid ImagePath in the registry, which the system writer cannot resolve.",
		Fix:     "Find the service whose ImagePath points at a missing file or bad path (the backup log names it) and correct or remove it.",
		Source:  "KB968247",
	},
	{
		Code:    0x80780102,
		Meaning: "The system writer is not found in the backup.",
		Cause:   "The system writer could not read files it must enumerate, usually because of wrong permissions (CAPI2 event 513 \"Access is denied\" accompanies it).",
		Fix:     "Restore the default permissions the support article lists, restart the Cryptographic Services, and check that 'vssadmin list writers' shows the System Writer.",
		Source:  "Microsoft support article \"System writer is not found in the backup\"",
	},
	{
		Code:    0x80780049,
		Meaning: "None of the items included in the backup were backed up.",
		Cause:   "With detailed code 0x8007007B: the system writer reported a file whose path syntax is invalid, usually a service or driver path.",
		Fix:     "Correct the invalid service or driver path named in the backup log, then run the backup again.",
		Source:  "KB4053355",
	},
	{
		Code:    0x8078002A,
		Meaning: "One of the backup files could not be created because of an I/O device error.",
		Cause:   "A backup target disk with native 4 KB sectors on an OS version that cannot write backups to it.",
		Fix:     "Use a 512-byte or 512e sector disk as the target, or an OS version that supports 4K-native targets.",
		Source:  "Microsoft support policy for 4K sector hard drives",
	},

	// Win32 errors (FACILITY_WIN32, 0x8007xxxx).
	{
		Code:    0x80070002,
		Name:    "ERROR_FILE_NOT_FOUND",
		Meaning: "The system cannot find the file specified.",
		Cause:   "System Image Recovery on Windows 8.1 (with KB2919355) when the image sits on a partition of the system disk that is much smaller than C:: the image is dismounted too early, the restore fails and Windows may no longer start. Also seen when a Hyper-V VSS checkpoint fails during backup.",
		Fix:     "In WinRE, run diskpart and quick-format the OS volume that is now RAW (format fs=NTFS quick), then start System Image Recovery again. Keep images on another disk than the one restored.",
		Source:  "KB2989057",
	},
	{
		Code:    0x80070001,
		Name:    "ERROR_INVALID_FUNCTION",
		Meaning: "Incorrect function.",
		Cause:   "System Image Recovery from a network share whose path to WindowsImageBackup is longer than about 110 characters.",
		Fix:     "Move or share the image so that the path to WindowsImageBackup is short, then restore again.",
		Source:  "c-amie.co.uk Windows Server Backup notes",
	},
	{
		Code:    0x80070005,
		Name:    "E_ACCESSDENIED",
		Meaning: "Access is denied.",
		Cause:   "The backup could not open a file or volume, for example F:\\$Extend\\$RmMetadata\\$TxfLog (event 547 on Server 2012 Essentials); it is also the detailed code under 0x8078011E.",
		Fix:     "Follow KB2747459 for the TxfLog case; otherwise find the file named in the backup error log and what holds or protects it.",
		Source:  "KB2747459",
	},
	{
		Code:    0x80070037,
		Name:    "ERROR_DEV_NOT_EXIST",
		Meaning: "The specified network resource or device is no longer available.",
		Cause:   "The backup target disk or share disappeared while the backup ran.",
		Fix:     "Check the target's cabling, power or network path, then run the backup again.",
		Source:  "winerror.h (ERROR_DEV_NOT_EXIST = 55)",
	},
	{
		Code:    0x8007007B,
		Name:    "ERROR_INVALID_NAME",
		Meaning: "The filename, directory name, or volume label syntax is incorrect.",
		Cause:   "Seen as the detailed code under 0x80780049: a service or driver path the system writer reports is malformed.",
		Fix:     "See 0x80780049: correct the malformed path.",
		Source:  "KB4053355",
	},
	{
		Code:    0x80070057,
		Name:    "E_INVALIDARG",
		Meaning: "One or more arguments are invalid.",
		Source:  "winerror.h",
	},
	{
		Code:    0x8007045D,
		Name:    "ERROR_IO_DEVICE",
		Meaning: "The request could not be performed because of an I/O device error.",
		Cause:   "A failing or disconnected disk, cable or controller on the source or target.",
		Fix:     "Check the System log for disk and controller errors and the target's health.",
		Source:  "winerror.h (ERROR_IO_DEVICE = 1117)",
	},

	// Windows 7 Backup and Restore (FACILITY_SPP, 0x100).
	{
		Code:    0x81000031,
		Meaning: "Backup and Restore could not complete: a library included in the backup is unavailable, or BitLocker moved the Windows Recovery Environment to the external backup disk.",
		Cause:   "A custom library pointing at a missing folder, or WinRE relocated to the backup disk.",
		Fix:     "Restore the default libraries; or run 'REAgentC /disable', disconnect the backup disk, then 'REAgentC /enable'.",
		Source:  "KB975692",
	},

	// Volume Shadow Copy Service (FACILITY_ITF, 0x8004xxxx).
	{
		Code:    0x8004230F,
		Name:    "VSS_E_UNEXPECTED_PROVIDER_ERROR",
		Meaning: "The shadow copy provider returned an unexpected error.",
		Cause:   "A failing VSS provider, often a third-party hardware or software provider.",
		Fix:     "Look for VSS events (12293 and others) in the Application log naming the provider; update or remove the third-party provider.",
		Source:  "Microsoft VSS documentation (vsserror.h)",
	},
	{
		Code:    0x80042308,
		Name:    "VSS_E_OBJECT_NOT_FOUND",
		Meaning: "The specified shadow copy object was not found.",
		Cause:   "Reported by DPM when the SQL writer cannot enumerate databases because SYSTEM lacks rights in SQL Server.",
		Fix:     "Grant NT AUTHORITY\\SYSTEM the rights the SQL writer needs, then retry.",
		Source:  "MS-FSRVP; wiki.eidolf.de DPM notes",
	},
	{
		Code:    0x8004231F,
		Name:    "VSS_E_INSUFFICIENT_STORAGE",
		Meaning: "There is not enough shadow copy storage to create the shadow copy.",
		Cause:   "Shadow storage too small, often on a small recovery or system-reserved partition.",
		Fix:     "Free space on the volume or raise its shadow storage ('vssadmin resize shadowstorage').",
		Source:  "MS-SCMP (ChangeDiffAreaMaximumSize)",
	},
	{
		Code:    0x8004231D,
		Name:    "VSS_E_VOLUME_IN_USE",
		Meaning: "The volume is in use and cannot be processed by the shadow copy operation.",
		Source:  "MS-SCMP",
	},
	{
		Code:    0x800423F0,
		Name:    "VSS_E_WRITERERROR_INCONSISTENTSNAPSHOT",
		Meaning: "A VSS writer reports that the shadow copy is inconsistent.",
		Cause:   "Seen from the Hyper-V VSS writer when a virtual machine cannot be made consistent.",
		Fix:     "Check the writer named in 'vssadmin list writers' and the VM's integration services.",
		Source:  "vsserror.h",
	},
	{
		Code:    0x800423F2,
		Name:    "VSS_E_WRITERERROR_TIMEOUT",
		Meaning: "A VSS writer timed out between the Freeze and Thaw events.",
		Cause:   "Heavy I/O load or another backup running at the same time.",
		Fix:     "Move the backup to a quieter time or wait for the other backup to finish, then retry.",
		Source:  "Azure Backup system state troubleshooting",
	},
	{
		Code:    0x800423F3,
		Name:    "VSS_E_WRITERERROR_RETRYABLE",
		Meaning: "A VSS writer hit a transient error; retrying may succeed.",
		Cause:   "Reported by DPM (ID 30112) with the Hyper-V writer.",
		Fix:     "Retry; if it repeats, restart the Hyper-V Virtual Machine Management service.",
		Source:  "vsserror.h; wiki.eidolf.de DPM notes",
	},
	{
		Code:    0x800423F4,
		Name:    "VSS_E_WRITERERROR_NONRETRYABLE",
		Meaning: "A VSS writer hit a non-transient error; retrying will not help until it is fixed.",
		Cause:   "A broken writer, such as the SQL Server writer lacking permissions; leads to Backup event 521 with 0x807800A1.",
		Fix:     "Find the failed writer with 'vssadmin list writers' and fix it (for SQL, the writer's permissions); on cluster nodes enable automount.",
		Source:  "Microsoft support article on event 521 and VSS writer failures",
	},
	{
		Code:    0x8000FFFF,
		Name:    "E_UNEXPECTED",
		Meaning: "Catastrophic failure.",
		Cause:   "With VSS event 8193 \"Cannot find anymore diff area candidates\": no volume has room for shadow storage.",
		Fix:     "Raise the shadow storage limit (or set it to no limit) and free space on the volumes.",
		Source:  "CloudBerry knowledge base on VSS event 8193",
	},
}
