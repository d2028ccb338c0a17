package input

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/logmedic/logmedic/watcher"
	"github.com/logmedic/logmedic/watcher/decode"
)

type seen struct {
	sources []string // per event
	errs    []string
}

func run(t *testing.T, paths []string, stdin string) seen {
	t.Helper()
	var s seen
	err := Paths(paths, strings.NewReader(stdin), func(ev *watcher.Event, pos decode.Pos, err error) error {
		if err != nil {
			s.errs = append(s.errs, err.Error())
			return nil
		}
		s.sources = append(s.sources, pos.Source)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func write(t *testing.T, p string, data []byte) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, data, 0o600); err != nil {
		t.Fatal(err)
	}
}

func TestDirectoriesFilesAndStdin(t *testing.T) {
	event, err := os.ReadFile("../../testdata/samples/constructed/restore-244-0x80070002.xml")
	if err != nil {
		t.Fatal(err)
	}
	evtx, err := os.ReadFile("../../testdata/evtx/Security_1_record.evtx")
	if err != nil {
		t.Fatal(err)
	}
	d := t.TempDir()
	write(t, filepath.Join(d, "b.xml"), event)
	write(t, filepath.Join(d, "a", "z.txt"), event)
	write(t, filepath.Join(d, "a", "log.EVTX"), evtx)
	write(t, filepath.Join(d, "notes.md"), []byte("not read: extension"))
	write(t, filepath.Join(d, ".git", "x.xml"), []byte("not read: hidden directory"))
	write(t, filepath.Join(d, "renamed.bin"), evtx) // read when named, by content

	s := run(t, []string{d, "-", filepath.Join(d, "renamed.bin"), filepath.Join(d, "missing.xml")}, string(event))
	want := []string{
		filepath.Join(d, "a", "log.EVTX"), filepath.Join(d, "a", "z.txt"), filepath.Join(d, "b.xml"),
		"-", filepath.Join(d, "renamed.bin"),
	}
	if !slices.Equal(s.sources, want) {
		t.Errorf("events from\n %q\nwant\n %q", s.sources, want)
	}
	if len(s.errs) != 1 || !strings.HasPrefix(s.errs[0], filepath.Join(d, "missing.xml")+": stat: no such file") {
		t.Errorf("errors %q, want one naming missing.xml", s.errs)
	}
}

func TestEmptyDirectory(t *testing.T) {
	s := run(t, []string{t.TempDir()}, "")
	if len(s.errs) != 1 || !strings.Contains(s.errs[0], "directory holds no .xml, .evtx, .txt files") {
		t.Errorf("errors %q", s.errs)
	}
}

func TestBytesDetectsEvtx(t *testing.T) {
	evtx, err := os.ReadFile("../../testdata/evtx/new-user-security.evtx")
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	if err := Bytes("-", evtx, func(ev *watcher.Event, pos decode.Pos, err error) error {
		if err != nil {
			t.Error(err)
		}
		n++
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if n != 4 {
		t.Errorf("%d events from .evtx on stdin, want 4", n)
	}
}
