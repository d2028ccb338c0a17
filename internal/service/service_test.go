package service

import (
	"context"
	"errors"
	"io/fs"
	"slices"
	"strings"
	"testing"
	"testing/synctest"
	"time"
)

func TestErrNotWindowsIsUnsupported(t *testing.T) {
	if !errors.Is(ErrNotWindows, errors.ErrUnsupported) {
		t.Error("ErrNotWindows does not match errors.ErrUnsupported")
	}
	if got := ErrNotWindows.Error(); got != "windows services exist only on Windows" {
		t.Errorf("ErrNotWindows = %q", got)
	}
}

func TestStateNames(t *testing.T) {
	for s, want := range map[State]string{
		Stopped: "stopped", StartPending: "start pending", StopPending: "stop pending", Running: "running",
		ContinuePending: "continue pending", PausePending: "pause pending", Paused: "paused", 9: "state 9",
	} {
		if got := s.String(); got != want {
			t.Errorf("State(%d) = %q, want %q", uint32(s), got, want)
		}
	}
}

func TestStartTypeNames(t *testing.T) {
	for _, tc := range []struct {
		start   uint32
		delayed bool
		want    string
	}{
		{startAutomatic, true, "automatic (delayed start)"},
		{startAutomatic, false, "automatic"},
		{startManual, false, "manual"},
		{startDisabled, false, "disabled"},
		{startBoot, false, "boot"},
		{startSystem, false, "system"},
		{7, false, "start type 7"},
	} {
		if got := startTypeName(tc.start, tc.delayed); got != tc.want {
			t.Errorf("startTypeName(%d, %v) = %q, want %q", tc.start, tc.delayed, got, tc.want)
		}
	}
}

func TestLastExit(t *testing.T) {
	for _, tc := range []struct {
		name string
		st   Status
		want string
	}{
		{"running", Status{Name: "logmedic", State: Running, Win32ExitCode: errServiceSpecific, ServiceExitCode: 1}, ""},
		{"stopped cleanly", Status{Name: "logmedic", State: Stopped}, ""},
		{"failed", Status{Name: "logmedic", State: Stopped, Win32ExitCode: errServiceSpecific, ServiceExitCode: 2}, "failed with exit code 2; see the Application event log, source logmedic"},
		{"windows error", Status{Name: "logmedic", State: Stopped, Win32ExitCode: 1067}, "failed with Windows error 1067"},
	} {
		if got := tc.st.LastExit(); got != tc.want {
			t.Errorf("%s: LastExit() = %q, want %q", tc.name, got, tc.want)
		}
	}
}

func TestRecovery(t *testing.T) {
	// The issue: restart on failure, after 5s, 30s and 60s, the failure
	// count reset after a day.
	if want := []time.Duration{5 * time.Second, 30 * time.Second, time.Minute}; !slices.Equal(recoveryDelays, want) {
		t.Errorf("recovery delays %v, want %v", recoveryDelays, want)
	}
	if recoveryReset != 24*time.Hour {
		t.Errorf("recovery reset %v, want a day", recoveryReset)
	}
}

func TestConfigDefaults(t *testing.T) {
	exe := `C:\Program Files\logmedic\logmedic.exe`
	cases := []struct {
		name string
		in   Config
		want Config
		err  string
	}{
		{
			name: "defaults",
			in:   Config{Exe: exe, Args: []string{"run", "-c", `C:\ProgramData\logmedic\logmedic.yaml`}},
			want: Config{Name: DefaultName, DisplayName: DefaultDisplayName, Description: DefaultDescription, Exe: exe, Args: []string{"run", "-c", `C:\ProgramData\logmedic\logmedic.yaml`}},
		},
		{
			name: "named",
			in:   Config{Name: "logmedic-test", DisplayName: "test", Description: "d", Exe: exe},
			want: Config{Name: "logmedic-test", DisplayName: "test", Description: "d", Exe: exe},
		},
		{name: "LocalSystem spelled out", in: Config{Exe: exe, Account: "LocalSystem"}, want: Config{Name: DefaultName, DisplayName: DefaultDisplayName, Description: DefaultDescription, Exe: exe}},
		{name: "LocalService", in: Config{Exe: exe, Account: "localservice"}, want: Config{Name: DefaultName, DisplayName: DefaultDisplayName, Description: DefaultDescription, Exe: exe, Account: `NT AUTHORITY\LocalService`}},
		{name: "NetworkService", in: Config{Exe: exe, Account: `NT AUTHORITY\Network Service`}, want: Config{Name: DefaultName, DisplayName: DefaultDisplayName, Description: DefaultDescription, Exe: exe, Account: `NT AUTHORITY\NetworkService`}},
		{name: "virtual account", in: Config{Exe: exe, Account: `NT SERVICE\logmedic`}, want: Config{Name: DefaultName, DisplayName: DefaultDisplayName, Description: DefaultDescription, Exe: exe, Account: `NT SERVICE\logmedic`}},
		{name: "gMSA", in: Config{Exe: exe, Account: `CORP\logmedic$`}, want: Config{Name: DefaultName, DisplayName: DefaultDisplayName, Description: DefaultDescription, Exe: exe, Account: `CORP\logmedic$`}},
		{name: "UNC program", in: Config{Exe: `\\server\share\logmedic.exe`}, want: Config{Name: DefaultName, DisplayName: DefaultDisplayName, Description: DefaultDescription, Exe: `\\server\share\logmedic.exe`}},
		{name: "account with a password", in: Config{Exe: exe, Account: `CORP\alice`}, err: `account "CORP\\alice" needs a password`},
		{name: "relative program", in: Config{Exe: `logmedic.exe`}, err: `program "logmedic.exe" is not an absolute path`},
		{name: "Unix program", in: Config{Exe: `/usr/bin/logmedic`}, err: "is not an absolute path"},
		{name: "no program", in: Config{}, err: "is not an absolute path"},
		{name: "backslash in the name", in: Config{Name: `a\b`, Exe: exe}, err: "contains a slash or backslash"},
		{name: "long name", in: Config{Name: strings.Repeat("x", 257), Exe: exe}, err: "longer than 256"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := tc.in.withDefaults()
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("error %v, want one with %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got.Name != tc.want.Name || got.DisplayName != tc.want.DisplayName || got.Description != tc.want.Description ||
				got.Exe != tc.want.Exe || !slices.Equal(got.Args, tc.want.Args) || got.Account != tc.want.Account {
				t.Errorf("got %+v\nwant %+v", got, tc.want)
			}
		})
	}
}

func TestAccountName(t *testing.T) {
	if got := accountName(""); got != "LocalSystem" {
		t.Errorf(`accountName("") = %q`, got)
	}
	if got := accountName(`NT AUTHORITY\LocalService`); got != `NT AUTHORITY\LocalService` {
		t.Errorf("accountName(LocalService) = %q", got)
	}
}

func TestWaitFor(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		calls := 0
		q := func() (State, error) {
			calls++
			if calls < 4 {
				return StartPending, nil
			}
			return Running, nil
		}
		start := time.Now()
		st, err := waitFor(context.Background(), q, func(s State) bool { return s != StartPending }, 250*time.Millisecond)
		if st != Running || err != nil || time.Since(start) != 750*time.Millisecond {
			t.Errorf("waitFor = %v, %v after %v; want running after 750ms", st, err, time.Since(start))
		}
	})
	synctest.Test(t, func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		q := func() (State, error) { return StopPending, nil }
		st, err := waitFor(ctx, q, func(s State) bool { return s == Stopped }, 250*time.Millisecond)
		if st != StopPending || err == nil || err.Error() != "still stop pending: context deadline exceeded" {
			t.Errorf("waitFor = %v, %v; want a timeout while stop pending", st, err)
		}
	})
	synctest.Test(t, func(t *testing.T) {
		boom := errors.New("access denied")
		_, err := waitFor(context.Background(), func() (State, error) { return 0, boom }, func(State) bool { return true }, time.Second)
		if err != boom {
			t.Errorf("waitFor = %v, want the query's error", err)
		}
	})
}

func TestCommandLine(t *testing.T) {
	exe := `C:\Program Files\logmedic\logmedic.exe`
	cases := []struct {
		name string
		args []string
		line string
	}{
		{"plain", []string{"run", "-c", `C:\ProgramData\logmedic\logmedic.yaml`}, `"C:\Program Files\logmedic\logmedic.exe" run -c C:\ProgramData\logmedic\logmedic.yaml`},
		{"spaces", []string{"run", "-c", `C:\My Configs\logmedic.yaml`}, `"C:\Program Files\logmedic\logmedic.exe" run -c "C:\My Configs\logmedic.yaml"`},
		{"trailing backslash", []string{`C:\My Dir\`}, `"C:\Program Files\logmedic\logmedic.exe" "C:\My Dir\\"`},
		{"quotes", []string{`say "hi"`, `a"b`}, `"C:\Program Files\logmedic\logmedic.exe" "say \"hi\"" "a\"b"`},
		{"backslashes before a quote", []string{`x\"y`, `x\\" y`}, `"C:\Program Files\logmedic\logmedic.exe" "x\\\"y" "x\\\\\" y"`},
		{"empty", []string{""}, `"C:\Program Files\logmedic\logmedic.exe" ""`},
		{"tab", []string{"a\tb"}, "\"C:\\Program Files\\logmedic\\logmedic.exe\" \"a\tb\""},
		{"backslashes alone are literal", []string{`\\server\share`}, `"C:\Program Files\logmedic\logmedic.exe" \\server\share`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			line := CommandLine(exe, tc.args)
			if line != tc.line {
				t.Errorf("CommandLine = %s\nwant %s", line, tc.line)
			}
			gotExe, gotArgs := splitCommandLine(line)
			if gotExe != exe || !slices.Equal(gotArgs, tc.args) {
				t.Errorf("split back to %q %q", gotExe, gotArgs)
			}
		})
	}
}

func TestSplitCommandLine(t *testing.T) {
	cases := []struct {
		line string
		exe  string
		args []string
	}{
		{`C:\logmedic\logmedic.exe run -c C:\x.yaml`, `C:\logmedic\logmedic.exe`, []string{"run", "-c", `C:\x.yaml`}},
		{`  "C:\Program Files\x.exe"   run  `, `C:\Program Files\x.exe`, []string{"run"}},
		{`"C:\Program Files\x.exe"run`, `C:\Program Files\x.exe`, []string{"run"}},
		{`x.exe "a ""quoted"" word"`, "x.exe", []string{`a "quoted" word`}},
		{`x.exe a"b c"d`, "x.exe", []string{"ab cd"}},
		{`x.exe "unterminated arg`, "x.exe", []string{"unterminated arg"}},
		{`"C:\unterminated exe`, `C:\unterminated exe`, nil},
		{`x.exe`, "x.exe", nil},
		{"", "", nil},
	}
	for _, tc := range cases {
		exe, args := splitCommandLine(tc.line)
		if exe != tc.exe || !slices.Equal(args, tc.args) {
			t.Errorf("splitCommandLine(%s) = %q %q, want %q %q", tc.line, exe, args, tc.exe, tc.args)
		}
	}
}

func FuzzCommandLine(f *testing.F) {
	f.Add("run", `C:\My Dir\`, `a"b`)
	f.Add("", `\\"`, "\t")
	f.Fuzz(func(t *testing.T, a, b, c string) {
		for _, s := range []string{a, b, c} {
			if strings.ContainsRune(s, 0) {
				t.Skip()
			}
		}
		args := []string{a, b, c}
		exe, got := splitCommandLine(CommandLine(`C:\x.exe`, args))
		if exe != `C:\x.exe` || !slices.Equal(got, args) {
			t.Fatalf("%q split back to %q %q", args, exe, got)
		}
	})
}

func TestVirtualAccountSID(t *testing.T) {
	// NT SERVICE\TrustedInstaller's SID, as every Windows shows it
	// (icacls C:\Windows\System32\notepad.exe, whoami /groups).
	const trustedInstaller = "S-1-5-80-956008885-3418522649-1831038044-1853292631-2271478464"
	for _, name := range []string{"TrustedInstaller", "trustedinstaller", "TRUSTEDINSTALLER"} {
		if got := VirtualAccountSID(name); got != trustedInstaller {
			t.Errorf("VirtualAccountSID(%q) = %s, want %s", name, got, trustedInstaller)
		}
	}
}

func TestAccountSID(t *testing.T) {
	for _, tc := range []struct {
		account, sid, err string
	}{
		{"", "S-1-5-18", ""},
		{"LocalSystem", "S-1-5-18", ""},
		{`NT AUTHORITY\SYSTEM`, "S-1-5-18", ""},
		{"LocalService", "S-1-5-19", ""},
		{`NT AUTHORITY\Local Service`, "S-1-5-19", ""},
		{"networkservice", "S-1-5-20", ""},
		{`NT SERVICE\TrustedInstaller`, "S-1-5-80-956008885-3418522649-1831038044-1853292631-2271478464", ""},
		{`nt service\TrustedInstaller`, "S-1-5-80-956008885-3418522649-1831038044-1853292631-2271478464", ""},
		{`NT SERVICE\`, "", "names no service"},
		{`CORP\alice`, "", "needs a password"},
	} {
		sid, err := AccountSID(tc.account)
		if sid != tc.sid || (tc.err == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), tc.err)) {
			t.Errorf("AccountSID(%q) = %q, %v; want %q, error with %q", tc.account, sid, err, tc.sid, tc.err)
		}
	}
}

func TestAwaitStart(t *testing.T) {
	states := func(ss ...State) func() (State, error) {
		return func() (State, error) {
			s := ss[0]
			if len(ss) > 1 {
				ss = ss[1:]
			}
			return s, nil
		}
	}
	failed := func() string { return "failed with exit code 1; see the Application event log, source logmedic" }
	cases := []struct {
		name   string
		query  func() (State, error)
		exit   func() string
		err    string
		within time.Duration
	}{
		{name: "running", query: states(StartPending, StartPending, Running), within: time.Second},
		{
			name: "stop pending is no start: it is waited for, and a stop is a failure", query: states(StartPending, StopPending, StopPending, Stopped), exit: failed,
			err: "service logmedic stopped while starting: failed with exit code 1; see the Application event log, source logmedic",
		},
		{
			name: "stopped without an exit code", query: states(StartPending, Stopped), exit: func() string { return "" },
			err: "service logmedic stopped while starting; see the Application event log, source logmedic",
		},
		{name: "stuck stopping", query: states(StopPending), err: "start service logmedic: still stop pending: context deadline exceeded", within: 31 * time.Second},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
				defer cancel()
				start := time.Now()
				err := awaitStart(ctx, "logmedic", tc.query, tc.exit)
				if (tc.err == "") != (err == nil) || (err != nil && err.Error() != tc.err) {
					t.Errorf("awaitStart = %v, want %q", err, tc.err)
				}
				if tc.within > 0 && time.Since(start) > tc.within {
					t.Errorf("took %v", time.Since(start))
				}
			})
		})
	}
}

func TestUninstallSteps(t *testing.T) {
	var calls []string
	ops := func(marked bool, deleteErr, stopErr, sourceErr error) uninstallOps {
		return uninstallOps{
			markDelete: func() (bool, error) { calls = append(calls, "delete"); return marked, deleteErr },
			stop:       func(context.Context) error { calls = append(calls, "stop"); return stopErr },
			removeSource: func() error {
				calls = append(calls, "remove source")
				return sourceErr
			},
		}
	}
	timeout := errors.New("still stop pending: gave up after 1m40s")
	cases := []struct {
		name  string
		ops   uninstallOps
		calls []string
		err   string
	}{
		{name: "marked for deletion first, then stopped", ops: ops(false, nil, nil, nil), calls: []string{"delete", "stop", "remove source"}},
		{
			name: "a stop that times out leaves it marked for deletion", ops: ops(false, nil, timeout, nil), calls: []string{"delete", "stop", "remove source"},
			err: "service logmedic is marked for deletion, but did not stop: still stop pending: gave up after 1m40s; Windows removes it once it stops",
		},
		{name: "delete fails", ops: ops(false, errors.New("access denied"), nil, nil), calls: []string{"delete"}, err: "delete service logmedic: access denied"},
		{
			name: "already marked: stopped all the same", ops: ops(true, nil, nil, nil), calls: []string{"delete", "stop", "remove source"},
			err: "service logmedic was already marked for deletion: Windows removes it once every program holding it, such as the Services console (services.msc), lets go of it",
		},
		{name: "event source", ops: ops(false, nil, nil, errors.New("access denied")), calls: []string{"delete", "stop", "remove source"}, err: "remove event source logmedic: access denied (the service was deleted)"},
		{name: "event source already gone", ops: ops(false, nil, nil, fs.ErrNotExist), calls: []string{"delete", "stop", "remove source"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			calls = nil
			err := uninstallSteps(context.Background(), "logmedic", tc.ops)
			if (tc.err == "") != (err == nil) || (err != nil && err.Error() != tc.err) {
				t.Errorf("uninstall = %v, want %q", err, tc.err)
			}
			if !slices.Equal(calls, tc.calls) {
				t.Errorf("calls %q, want %q", calls, tc.calls)
			}
		})
	}
}
