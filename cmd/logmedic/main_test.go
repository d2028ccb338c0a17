package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/logmedic/logmedic/config"
)

var update = flag.Bool("update", false, "rewrite golden files")

const (
	example = "../../example.yaml"
	samples = "../../testdata/samples"
	broken  = "../../testdata/broken"
)

func logmedic(t *testing.T, stdin string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	code = run(args, strings.NewReader(stdin), &out, &errb)
	return code, out.String(), errb.String()
}

func TestValidate(t *testing.T) {
	// The example names production secrets and a Windows program: on this
	// machine validate reports them, at their positions.
	ex, _ := os.ReadFile(example)
	line := 1 + strings.Count(string(ex[:strings.Index(string(ex), "password_env: LOGMEDIC_SERVICENOW_PASSWORD")]), "\n")
	code, _, errOut := logmedic(t, "", "validate", "-c", example)
	if code != 1 || !strings.Contains(errOut, fmt.Sprintf(`%s:%d:19: handler "helpdesk".password_env: environment variable LOGMEDIC_SERVICENOW_PASSWORD is not set`, example, line)) ||
		!strings.Contains(errOut, `handler "retry-backup".program: C:\Windows\System32\WindowsPowerShell\v1.0\powershell.exe does not exist`) {
		t.Errorf("validate example: code %d, stderr %q", code, errOut)
	}
	code, out, _ := logmedic(t, "", "validate", "-c", example, "--skip-host-checks")
	if code != 0 || out != example+": 7 rules, 6 handlers, valid\n" {
		t.Errorf("validate example --skip-host-checks: code %d, out %q", code, out)
	}
	bad := filepath.Join(t.TempDir(), "bad.yaml")
	if err := os.WriteFile(bad, []byte("rules:\n  - name: a\n    match: {chanel: x, level: fatal}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	code, _, errOut = logmedic(t, "", "validate", "-c", bad)
	if code != 1 || !strings.Contains(errOut, bad+`:3:13: rule "a": match: unknown key "chanel"`) || !strings.Contains(errOut, bad+`:3:31: rule "a": match.level: unknown level "fatal"`) {
		t.Errorf("validate bad: code %d, stderr %q", code, errOut)
	}
	if code, _, _ := logmedic(t, "", "validate"); code != 2 {
		t.Errorf("validate without -c: code %d, want 2", code)
	}
}

var codeForm = regexp.MustCompile(`^0x[0-9A-F]{8}$`)

// TestTestJSONContract checks what CI scripts rely on: one object per line
// per event in input order, the documented keys, sorted unique codes,
// rules in configuration order, errors as {source, error}, exit 1.
func TestTestJSONContract(t *testing.T) {
	code, out, errOut := logmedic(t, "", "test", "-c", example, "--format", "json", samples, broken)
	if code != 1 {
		t.Errorf("exit %d, want 1 (the broken pastes); stderr %q", code, errOut)
	}
	cfg, err := config.LoadWith(example, config.Options{SkipHostChecks: true})
	if err != nil {
		t.Fatal(err)
	}
	order := map[string]int{}
	for i, r := range cfg.Rules {
		order[r.Name] = i
	}
	var sources []string
	var errs, events int
	byRecord := map[float64]map[string]any{}
	sc := bufio.NewScanner(strings.NewReader(out))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var obj map[string]any
		if err := json.Unmarshal(sc.Bytes(), &obj); err != nil {
			t.Fatalf("line is not JSON: %v\n%s", err, sc.Text())
		}
		src, _ := obj["source"].(string)
		if src == "" {
			t.Fatalf("no source: %s", sc.Text())
		}
		sources = append(sources, src)
		if e, ok := obj["error"].(string); ok {
			errs++
			if !strings.HasPrefix(e, src+":") {
				t.Errorf("error %q does not start with its source", e)
			}
			continue
		}
		events++
		for _, k := range []string{"record_id", "channel", "provider", "event_id", "level", "error_codes", "rules"} {
			if _, ok := obj[k]; !ok {
				t.Errorf("event lacks %q: %s", k, sc.Text())
			}
		}
		var codes []string
		for _, c := range obj["error_codes"].([]any) {
			codes = append(codes, c.(string))
			if !codeForm.MatchString(c.(string)) {
				t.Errorf("code %q not in 0x%%08X form", c)
			}
		}
		if !slices.IsSorted(codes) || len(slices.Compact(slices.Clone(codes))) != len(codes) {
			t.Errorf("codes not sorted and unique: %q", codes)
		}
		last := -1
		for _, r := range obj["rules"].([]any) {
			i, ok := order[r.(string)]
			if !ok || i <= last {
				t.Errorf("rules %v not in config order", obj["rules"])
			}
			last = i
		}
		byRecord[obj["record_id"].(float64)] = obj
	}
	if errs != 2 || events != 19 {
		t.Errorf("%d errors, %d events; want 2 and 19", errs, events)
	}
	if !slices.IsSorted(sources[:len(sources)-2]) || !strings.Contains(sources[len(sources)-1], "broken") {
		t.Errorf("output not in input order: %q", sources)
	}
	ev := byRecord[1412]
	if ev["event_id"] != 5.0 || ev["level"] != "error" || ev["channel"] != "Microsoft-Windows-Backup" {
		t.Errorf("record 1412: %v", ev)
	}
	if got := ev["rules"].([]any); len(got) != 2 || got[0] != "volume-too-large-for-system-image" || got[1] != "any-backup-error" {
		t.Errorf("record 1412 rules %v", got)
	}
	if got := byRecord[77]["error_codes"].([]any); len(got) != 1 || got[0] != "0x80070002" {
		t.Errorf("record 77 codes %v", got)
	}
	if got := byRecord[2002]["error_codes"].([]any); len(got) != 2 || got[0] != "0x80070035" || got[1] != "0x8078015B" {
		t.Errorf("record 2002 codes %v, want sorted", got)
	}
}

func TestTestExitCodes(t *testing.T) {
	if code, _, errOut := logmedic(t, "", "test", "-c", example, samples); code != 0 {
		t.Errorf("all samples decode, exit %d; stderr %q", code, errOut)
	}
	if code, _, _ := logmedic(t, "", "test", "-c", example, broken); code != 1 {
		t.Errorf("broken inputs: exit %d, want 1", code)
	}
	if code, _, _ := logmedic(t, "", "test", "-c", example, filepath.Join(samples, "nope.xml")); code != 1 {
		t.Errorf("missing input: exit %d, want 1", code)
	}
	bad := filepath.Join(t.TempDir(), "bad.yaml")
	os.WriteFile(bad, []byte("rules: 5\n"), 0o600)
	for name, args := range map[string][]string{
		"bad config":     {"test", "-c", bad, samples},
		"no inputs":      {"test", "-c", example},
		"no config":      {"test", samples},
		"unknown format": {"test", "-c", example, "--format", "yaml", samples},
		"unknown flag":   {"test", "-c", example, "--frmat", "json", samples},
	} {
		if code, _, _ := logmedic(t, "", args...); code != 2 {
			t.Errorf("%s: exit %d, want 2", name, code)
		}
	}
}

func TestTestReadsStdinAndInterspersedFlags(t *testing.T) {
	data, err := os.ReadFile(filepath.Join(samples, "constructed/restore-244-0x80070002.xml"))
	if err != nil {
		t.Fatal(err)
	}
	code, out, _ := logmedic(t, string(data), "test", "-", "--format=json", "-c", example)
	var obj map[string]any
	if code != 0 || json.Unmarshal([]byte(out), &obj) != nil || obj["source"] != "-" || obj["event_id"] != 244.0 {
		t.Errorf("stdin: code %d, out %q", code, out)
	}
}

func TestTestTextGolden(t *testing.T) {
	_, out, _ := logmedic(t, "", "test", "-c", example, samples, broken)
	out = strings.ReplaceAll(out, "../../", "")
	golden := "testdata/test-samples.golden"
	if *update {
		if err := os.WriteFile(golden, []byte(out), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if out != string(want) {
		t.Errorf("logmedic test output differs from %s (run go test ./cmd/logmedic -update and review the diff):\n%s", golden, out)
	}
}

func TestExplainEveryForm(t *testing.T) {
	_, want, _ := logmedic(t, "", "explain", "0x807800B4")
	if !strings.Contains(want, "KB2696906") || !strings.Contains(want, "FACILITY_BLB") {
		t.Fatalf("explain output lacks the KB and facility:\n%s", want)
	}
	for _, form := range []string{"0x807800b4", "807800B4", "2155348148", "-2139619148", "%%2155348148", "'0x807800B4'"} {
		code, got, _ := logmedic(t, "", "explain", form)
		if code != 0 || got != want {
			t.Errorf("explain %s: code %d, output differs:\n%s", form, code, got)
		}
	}
	code, out, _ := logmedic(t, "", "explain", "0x80780166")
	if code != 0 || !strings.Contains(out, "FACILITY_BLB") || !strings.Contains(out, "not in logmedic's catalog") {
		t.Errorf("unknown code: code %d\n%s", code, out)
	}
	if code, _, errOut := logmedic(t, "", "explain", "backup"); code != 2 || !strings.Contains(errOut, `"backup" is not an error code`) {
		t.Errorf("explain backup: code %d, stderr %q", code, errOut)
	}
	if code, out, _ := logmedic(t, "", "explain", "--list"); code != 0 || !strings.Contains(out, "0x807800B4  The volume is too large") {
		t.Errorf("explain --list: code %d\n%s", code, out)
	}
}

func TestSchemaAndVersion(t *testing.T) {
	code, out, _ := logmedic(t, "", "schema")
	if code != 0 || out != string(config.Schema()) {
		t.Errorf("schema: code %d", code)
	}
	code, out, _ = logmedic(t, "", "version")
	if code != 0 || !strings.HasPrefix(out, "logmedic ") {
		t.Errorf("version: code %d, %q", code, out)
	}
	if code, _, _ := logmedic(t, ""); code != 2 {
		t.Errorf("no command: exit %d, want 2", code)
	}
	if code, _, _ := logmedic(t, "", "frobnicate"); code != 2 {
		t.Errorf("unknown command: exit %d, want 2", code)
	}
}
