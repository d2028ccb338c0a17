//go:build !windows

package script

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"syscall"
)

// tree is the process tree of one run: on Unix, the program's own
// process group, which its children join unless they call setsid or
// setpgid themselves.
type tree struct{ cmd *exec.Cmd }

// newTree prepares cmd, before Start, to run in a new process group that
// a cancelled context kills as a whole.
func newTree(cmd *exec.Cmd) *tree {
	t := &tree{cmd: cmd}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = t.kill
	return t
}

// attach has nothing to do on Unix: the group exists from the start.
func (t *tree) attach() error { return nil }

// kill sends SIGKILL to the whole group.
func (t *tree) kill() error {
	err := syscall.Kill(-t.cmd.Process.Pid, syscall.SIGKILL)
	if errors.Is(err, syscall.ESRCH) {
		return os.ErrProcessDone
	}
	return err
}

// release kills what is left of the group after the program exited.
// While any member lives, the group ID cannot be reused.
func (t *tree) release() { t.kill() }

// permanent reports whether a start error will recur on every attempt.
func permanent(err error) bool {
	return errors.Is(err, fs.ErrNotExist) || errors.Is(err, fs.ErrPermission) ||
		errors.Is(err, syscall.ENOEXEC) || errors.Is(err, syscall.ENOTDIR)
}

// checkProgramName has nothing to add on Unix, where names carry no type.
func checkProgramName(string) string { return "" }

// checkProgramFile checks that the daemon can execute program and that
// not everyone can change it.
func checkProgramFile(program string, fi fs.FileInfo) string {
	switch m := fi.Mode().Perm(); {
	case m&0o111 == 0:
		return fmt.Sprintf("%s is not executable (mode %v)", program, m)
	case m&0o002 != 0:
		return fmt.Sprintf("%s is writable by every user (mode %v), who could then run code as the daemon's account", program, m)
	}
	return ""
}
