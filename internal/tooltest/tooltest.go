// Package tooltest finds the external programs that tests compare
// logmedic against (libevtx's evtxexport, Alertmanager, an SMTP server).
// Under CI (CI set in the environment) a missing program fails the test,
// since .ci/run installs it; elsewhere the test is skipped with a message
// naming the Debian package to install.
package tooltest

import (
	"os"
	"os/exec"
	"testing"
)

// Require returns the path of program, or stops the test.
func Require(t testing.TB, program, debianPackage string) string {
	t.Helper()
	p, err := exec.LookPath(program)
	if err == nil {
		return p
	}
	if os.Getenv("CI") != "" {
		t.Fatalf("%s not found: .ci/run must install it (apt-get install %s)", program, debianPackage)
	}
	t.Skipf("%s not found; install it to run this test: apt-get install %s", program, debianPackage)
	return ""
}
