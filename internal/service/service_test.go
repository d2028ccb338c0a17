package service

import (
	"context"
	"errors"
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
