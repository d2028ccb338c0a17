package script

import (
	"errors"
	"fmt"
	"io/fs"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"unsafe"

	"golang.org/x/sys/windows"
)

// tree is the process tree of one run: a Job Object that kills every
// process in it when it is closed. Children join the job and cannot
// break away.
//
// The program is assigned to the job just after it starts, because
// os/exec cannot start a process suspended and resume it: a child the
// program starts in that first instant is outside the job and survives a
// timeout.
type tree struct {
	cmd *exec.Cmd
	mu  sync.Mutex
	job windows.Handle // 0 until attach succeeds
}

// newTree prepares cmd, before Start, so that a cancelled context kills
// its tree.
func newTree(cmd *exec.Cmd) *tree {
	t := &tree{cmd: cmd}
	cmd.Cancel = t.kill
	return t
}

// attach puts the started program in a new job. On failure the program
// runs on, and a timeout kills only the program itself.
func (t *tree) attach() error {
	job, err := windows.CreateJobObject(nil, nil)
	if err != nil {
		return fmt.Errorf("create job object: %w", err)
	}
	info := windows.JOBOBJECT_EXTENDED_LIMIT_INFORMATION{
		BasicLimitInformation: windows.JOBOBJECT_BASIC_LIMIT_INFORMATION{LimitFlags: windows.JOB_OBJECT_LIMIT_KILL_ON_JOB_CLOSE},
	}
	if _, err := windows.SetInformationJobObject(job, windows.JobObjectExtendedLimitInformation,
		uintptr(unsafe.Pointer(&info)), uint32(unsafe.Sizeof(info))); err != nil {
		windows.CloseHandle(job)
		return fmt.Errorf("set job object limits: %w", err)
	}
	// os.Process holds a handle to the process, so its ID cannot be
	// reused before Wait.
	p, err := windows.OpenProcess(windows.PROCESS_SET_QUOTA|windows.PROCESS_TERMINATE, false, uint32(t.cmd.Process.Pid))
	if err != nil {
		windows.CloseHandle(job)
		return fmt.Errorf("open process: %w", err)
	}
	defer windows.CloseHandle(p)
	if err := windows.AssignProcessToJobObject(job, p); err != nil {
		windows.CloseHandle(job)
		return fmt.Errorf("assign process to job object: %w", err)
	}
	t.mu.Lock()
	t.job = job
	t.mu.Unlock()
	return nil
}

// kill terminates every process in the job, or the program alone when
// it has no job.
func (t *tree) kill() error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.job != 0 {
		return windows.TerminateJobObject(t.job, 1)
	}
	return t.cmd.Process.Kill()
}

// release kills what is left in the job after the program exited and
// closes it.
func (t *tree) release() {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.job != 0 {
		windows.TerminateJobObject(t.job, 1)
		windows.CloseHandle(t.job)
		t.job = 0
	}
}

// permanent reports whether a start error will recur on every attempt.
func permanent(err error) bool {
	return errors.Is(err, fs.ErrNotExist) || errors.Is(err, fs.ErrPermission) ||
		errors.Is(err, windows.ERROR_BAD_EXE_FORMAT) || errors.Is(err, windows.ERROR_EXE_MACHINE_TYPE_MISMATCH)
}

// checkProgramName requires an .exe or .com: os/exec resolves a path
// without one of PATHEXT's extensions by trying them, so C:\fix could
// run C:\fix.bat.
func checkProgramName(program string) string {
	switch strings.ToLower(filepath.Ext(program)) {
	case ".exe", ".com":
		return ""
	}
	return fmt.Sprintf("%s is not an .exe: Windows would look for it with other extensions, .bat and .cmd among them; for a PowerShell script use powershell.exe with -File", program)
}

// checkProgramFile has nothing to add on Windows.
func checkProgramFile(string, fs.FileInfo) string { return "" }
