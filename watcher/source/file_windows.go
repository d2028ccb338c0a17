package source

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"syscall"
)

// Windows error codes syscall does not name.
const (
	errSharingViolation syscall.Errno = 32 // ERROR_SHARING_VIOLATION
	errLockViolation    syscall.Errno = 33 // ERROR_LOCK_VIOLATION
)

// openFile opens path for reading, sharing it fully, so that the process
// writing it can go on writing, renaming or deleting it.
func openFile(path string) (*os.File, error) {
	p, err := syscall.UTF16PtrFromString(path)
	if err != nil {
		return nil, &fs.PathError{Op: "open", Path: path, Err: err}
	}
	h, err := syscall.CreateFile(p, syscall.GENERIC_READ,
		syscall.FILE_SHARE_READ|syscall.FILE_SHARE_WRITE|syscall.FILE_SHARE_DELETE,
		nil, syscall.OPEN_EXISTING, syscall.FILE_ATTRIBUTE_NORMAL, 0)
	if err != nil {
		return nil, &fs.PathError{Op: "open", Path: path, Err: err}
	}
	return os.NewFile(uintptr(h), path), nil
}

// fileID returns the file's volume serial number and file index.
func fileID(f *os.File, _ fs.FileInfo) string {
	var d syscall.ByHandleFileInformation
	if err := syscall.GetFileInformationByHandle(syscall.Handle(f.Fd()), &d); err != nil {
		return ""
	}
	return fmt.Sprintf("%08x:%08x%08x", d.VolumeSerialNumber, d.FileIndexHigh, d.FileIndexLow)
}

// retryable reports whether a read failed only because another process
// holds the file without sharing it.
func retryable(err error) bool {
	return errors.Is(err, errSharingViolation) || errors.Is(err, errLockViolation)
}
