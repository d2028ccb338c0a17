package service

// These talk to the real service control manager. Without an
// administrator they only query it and change nothing:
//
//	go test -v -run Windows ./internal/service/
//
// TestServiceRoundTripWindows also installs, starts, stops and removes
// throwaway services (logmedic-test-<random>) whose program is this
// test binary; it runs only as an administrator with
// LOGMEDIC_TEST_SERVICE=1:
//
//	set LOGMEDIC_TEST_SERVICE=1
//	go test -v -run ServiceRoundTrip ./internal/service/

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/windows"
	"golang.org/x/sys/windows/registry"
)

// serviceChild is set on the command line of the services
// TestServiceRoundTripWindows installs: the test binary, started by the
// service control manager, then runs as the service.
var serviceChild = flag.String("logmedic.service-child", "", `internal to TestServiceRoundTripWindows: run as its service, "run" until stopped or "fail" at once`)

// childExitCode is what a "fail" child exits with.
const childExitCode = 3

type childError struct{}

func (childError) Error() string { return "failing on purpose" }
func (childError) ExitCode() int { return childExitCode }

func randomName(t *testing.T, prefix string) string {
	t.Helper()
	var b [6]byte
	if _, err := rand.Read(b[:]); err != nil {
		t.Fatal(err)
	}
	return prefix + hex.EncodeToString(b[:])
}

func TestIsServiceWindows(t *testing.T) {
	if *serviceChild != "" {
		t.Skip("running as a test service")
	}
	if is, err := IsService(); is || err != nil {
		t.Errorf("IsService() under go test = %v, %v; want false", is, err)
	}
}

// TestMissingServiceWindows needs no administrator: opening a service
// that does not exist fails before any right is checked.
func TestMissingServiceWindows(t *testing.T) {
	name := randomName(t, "logmedic-no-such-service-")
	want := "service " + name + " is not installed"
	_, err := Query(name)
	if !errors.Is(err, ErrNotInstalled) || err.Error() != want {
		t.Errorf("Query(%s): %v; want %q (ErrNotInstalled)", name, err, want)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for op, err := range map[string]error{
		"Start":     Start(ctx, name),
		"Stop":      Stop(ctx, name),
		"Uninstall": Uninstall(ctx, name),
	} {
		if !errors.Is(err, ErrNotInstalled) {
			t.Errorf("%s(%s): %v; want ErrNotInstalled", op, name, err)
		}
	}
}

// TestQueryWindows queries the Event Log service, which every Windows
// runs, as logmedic service status would.
func TestQueryWindows(t *testing.T) {
	st, err := Query("EventLog")
	if errors.Is(err, windows.ERROR_ACCESS_DENIED) {
		t.Skipf("Query(EventLog): %v: this account may not query services", err)
	}
	if err != nil {
		t.Fatalf("Query(EventLog): %v", err)
	}
	t.Logf("%+v", st)
	if st.Name != "EventLog" || st.DisplayName == "" || st.State != Running || st.PID == 0 || st.LastExit() != "" {
		t.Errorf("Query(EventLog) = %+v; want it running, with a process ID and a display name", st)
	}
	if st.StartType != "automatic" {
		t.Errorf("start type %q, want automatic", st.StartType)
	}
	if !strings.EqualFold(filepath.Base(st.Exe), "svchost.exe") || len(st.Args) < 2 || st.Args[0] != "-k" {
		t.Errorf("command line %q split into %q %q; want svchost.exe -k <group>", st.CommandLine, st.Exe, st.Args)
	}
	if !strings.EqualFold(st.Account, `NT AUTHORITY\LocalService`) {
		t.Errorf("account %q, want NT AUTHORITY\\LocalService", st.Account)
	}
	// The account name as the service control manager stores it is
	// understood.
	if sid, err := AccountSID(st.Account); sid != "S-1-5-19" || err != nil {
		t.Errorf("AccountSID(%q) = %q, %v; want S-1-5-19", st.Account, sid, err)
	}
}

// TestAccountSIDWindows checks the SIDs logmedic derives against the
// ones Windows looks up.
func TestAccountSIDWindows(t *testing.T) {
	// Virtual accounts: Windows' lookup agrees with the derivation.
	for _, svc := range []string{"TrustedInstaller", "EventLog"} {
		account := `NT SERVICE\` + svc
		got, err := lookupSID(account)
		if err != nil {
			t.Errorf("lookupSID(%s): %v", account, err)
			continue
		}
		if want := VirtualAccountSID(svc); got != want {
			t.Errorf("Windows says %s is %s, VirtualAccountSID says %s", account, got, want)
		}
		if sid, err := AccountSID(account); sid != got || err != nil {
			t.Errorf("AccountSID(%s) = %s, %v; Windows says %s", account, sid, err, got)
		}
	}
	// A group managed service account that does not exist: looked up,
	// and refused.
	const gmsa = `logmedic-no-such-account$`
	if sid, err := AccountSID(gmsa); err == nil || !strings.Contains(err.Error(), "look up account") {
		t.Errorf("AccountSID(%s) = %q, %v; want a failed lookup", gmsa, sid, err)
	}
	// The built-in service accounts, by the names Windows gives them.
	for _, want := range []string{"S-1-5-18", "S-1-5-19", "S-1-5-20"} {
		s, err := windows.StringToSid(want)
		if err != nil {
			t.Fatal(err)
		}
		acct, domain, _, err := s.LookupAccount("")
		if err != nil {
			t.Errorf("LookupAccount(%s): %v", want, err)
			continue
		}
		name := domain + `\` + acct
		if !strings.EqualFold(domain, "NT AUTHORITY") {
			t.Logf("%s is %s here (a localized name): not checked", want, name)
			continue
		}
		if sid, err := AccountSID(name); sid != want || err != nil {
			t.Errorf("AccountSID(%q) = %q, %v; want %s", name, sid, err, want)
		}
	}
}

// runChild runs the test binary as the service the parent test
// installed.
func runChild(t *testing.T) {
	is, err := IsService()
	if err != nil || !is {
		t.Fatalf("-logmedic.service-child=%s outside the service control manager: IsService = %v, %v", *serviceChild, is, err)
	}
	run := func(ctx context.Context) error {
		<-ctx.Done()
		return nil
	}
	if *serviceChild == "fail" {
		run = func(context.Context) error { return childError{} }
	}
	if err := Run(DefaultName, nil, run); err != nil {
		t.Fatalf("Run: %v", err)
	}
}

// sourceKey is where an event source is registered.
func sourceKey(name string) string {
	return `SYSTEM\CurrentControlSet\Services\EventLog\Application\` + name
}

func sourceRegistered(t *testing.T, name string) bool {
	t.Helper()
	k, err := registry.OpenKey(registry.LOCAL_MACHINE, sourceKey(name), registry.QUERY_VALUE)
	if errors.Is(err, registry.ErrNotExist) {
		return false
	}
	if err != nil {
		t.Fatalf("open HKLM\\%s: %v", sourceKey(name), err)
	}
	k.Close()
	return true
}

// install installs a throwaway service running the test binary as child
// (run or fail), removed at the end of the test.
func install(t *testing.T, child string) (name string, c Config) {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	name = randomName(t, "logmedic-test-")
	c = Config{Name: name, Exe: exe, Args: []string{"-test.run=^TestServiceRoundTripWindows$", "-logmedic.service-child=" + child}}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		if err := Uninstall(ctx, name); err != nil && !errors.Is(err, ErrNotInstalled) {
			t.Errorf("cleanup: Uninstall(%s): %v; remove it with: sc.exe delete %s", name, err, name)
		}
	})
	if err := Install(c); err != nil {
		t.Fatalf("Install(%+v): %v", c, err)
	}
	t.Logf("installed service %s: %s", name, CommandLine(c.Exe, c.Args))
	return name, c
}

// TestServiceRoundTripWindows installs a service whose program is this
// test binary, and starts, stops and uninstalls it; and one that fails
// at start. It changes the machine (for a minute or so), so it runs only
// as an administrator with LOGMEDIC_TEST_SERVICE=1.
func TestServiceRoundTripWindows(t *testing.T) {
	if *serviceChild != "" {
		runChild(t)
		return
	}
	if os.Getenv("LOGMEDIC_TEST_SERVICE") != "1" {
		t.Skip("installs, starts, stops and removes throwaway services: set LOGMEDIC_TEST_SERVICE=1 and run as an administrator")
	}
	if !windows.GetCurrentProcessToken().IsElevated() {
		t.Skip("needs an administrator (an elevated prompt)")
	}

	t.Run("start and stop", func(t *testing.T) {
		name, c := install(t, "run")
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		st, err := Query(name)
		if err != nil {
			t.Fatalf("Query: %v", err)
		}
		if st.State != Stopped || st.StartType != "automatic (delayed start)" || st.Account != "LocalSystem" ||
			!strings.EqualFold(st.Exe, c.Exe) || !slices.Equal(st.Args, c.Args) || st.DisplayName != DefaultDisplayName || st.LastExit() != "" {
			t.Errorf("installed: %+v; want stopped, automatic (delayed start), LocalSystem, %s %q", st, c.Exe, c.Args)
		}
		if !sourceRegistered(t, name) {
			t.Errorf("event source %s not registered", name)
		}
		if err := Install(c); !errors.Is(err, ErrExists) {
			t.Errorf("Install again: %v; want ErrExists", err)
		}

		if err := Start(ctx, name); err != nil {
			t.Fatalf("Start: %v", err)
		}
		st, err = Query(name)
		if err != nil || st.State != Running || st.PID == 0 || st.PID == uint32(os.Getpid()) {
			t.Errorf("after Start: %+v, %v; want running in a process of its own", st, err)
		}
		if err := Start(ctx, name); err != nil {
			t.Errorf("Start while running: %v; want nil", err)
		}

		if err := Stop(ctx, name); err != nil {
			t.Fatalf("Stop: %v", err)
		}
		st, err = Query(name)
		if err != nil || st.State != Stopped || st.Win32ExitCode != 0 || st.LastExit() != "" {
			t.Errorf("after Stop: %+v, %v; want stopped cleanly", st, err)
		}
		if err := Stop(ctx, name); err != nil {
			t.Errorf("Stop while stopped: %v; want nil", err)
		}

		if err := Uninstall(ctx, name); err != nil {
			t.Fatalf("Uninstall: %v", err)
		}
		// Windows deletes it once every handle is closed.
		deadline := time.Now().Add(30 * time.Second)
		for {
			_, err := Query(name)
			if errors.Is(err, ErrNotInstalled) {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("Query 30s after Uninstall: %v; want ErrNotInstalled", err)
			}
			time.Sleep(250 * time.Millisecond)
		}
		if sourceRegistered(t, name) {
			t.Errorf("event source %s still registered after Uninstall", name)
		}
	})

	t.Run("failing at start", func(t *testing.T) {
		name, _ := install(t, "fail")
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		err := Start(ctx, name)
		want := "failed with exit code " + strconv.Itoa(childExitCode)
		if err == nil || !strings.Contains(err.Error(), "stopped while starting") || !strings.Contains(err.Error(), want) {
			t.Errorf("Start of a service failing at once: %v; want it stopped while starting, %s", err, want)
		}
		st, err := Query(name)
		if err != nil || st.State != Stopped || st.Win32ExitCode != errServiceSpecific || st.ServiceExitCode != childExitCode {
			t.Errorf("after a failed start: %+v, %v; want stopped with ERROR_SERVICE_SPECIFIC_ERROR and exit code %d", st, err, childExitCode)
		}
		// The recovery actions restart it after 5s; Uninstall stops it
		// for good.
		if err := Uninstall(ctx, name); err != nil {
			t.Errorf("Uninstall: %v", err)
		}
	})
}
