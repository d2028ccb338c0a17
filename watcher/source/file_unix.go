//go:build unix

package source

import (
	"fmt"
	"io/fs"
	"os"
	"syscall"
)

func openFile(path string) (*os.File, error) { return os.Open(path) }

// fileID returns the file's device and inode.
func fileID(_ *os.File, fi fs.FileInfo) string {
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		return fmt.Sprintf("%d:%d", st.Dev, st.Ino)
	}
	return ""
}

// retryable reports whether a read failed only because another process
// holds the file: never on Unix.
func retryable(error) bool { return false }
