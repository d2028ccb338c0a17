package source

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap/zaptest"

	"github.com/logmedic/logmedic/watcher"
)

const (
	testSettle  = 50 * time.Millisecond
	testCutWait = 300 * time.Millisecond
)

// event returns one rendered event whose EventRecordID is id.
func event(id int) string {
	return fmt.Sprintf("<Event xmlns='http://schemas.microsoft.com/win/2004/08/events/event'><System>"+
		"<Provider Name='Test'/><EventID>%d</EventID><EventRecordID>%d</EventRecordID></System>"+
		"<EventData><Data Name='N'>%d</Data></EventData></Event>\n", 1000+id, id, id)
}

func events(ids ...int) string {
	var b strings.Builder
	for _, id := range ids {
		b.WriteString(event(id))
	}
	return b.String()
}

// call is one emit call as the recorder saw it.
type call struct {
	items []watcher.Item
	cp    watcher.Checkpoint
}

// recorder is an Emit that keeps what it is given, and the checkpoints
// as a store would.
type recorder struct {
	mu    sync.Mutex
	calls []call
	cps   map[string][]byte
	fail  error // returned by emit, when set
}

func newRecorder(cps map[string][]byte) *recorder {
	if cps == nil {
		cps = map[string][]byte{}
	}
	return &recorder{cps: cps}
}

func (r *recorder) emit(_ context.Context, items []watcher.Item, cp watcher.Checkpoint) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.fail != nil {
		return r.fail
	}
	c := call{cp: cp}
	for _, it := range items {
		if it.Event != nil {
			it.Event = it.Event.Clone()
		}
		c.items = append(c.items, it)
	}
	c.cp.Data = slices.Clone(cp.Data)
	r.calls = append(r.calls, c)
	if cp.Forget {
		delete(r.cps, cp.Key)
	} else {
		r.cps[cp.Key] = slices.Clone(cp.Data)
	}
	return nil
}

func (r *recorder) items() []watcher.Item {
	r.mu.Lock()
	defer r.mu.Unlock()
	var all []watcher.Item
	for _, c := range r.calls {
		all = append(all, c.items...)
	}
	return all
}

// summary describes the items: "a.xml#1" for the event with record ID 1,
// "a.xml!" for an error.
func (r *recorder) summary() []string {
	var s []string
	for _, it := range r.items() {
		name := filepath.Base(it.Input)
		if it.Err != nil {
			s = append(s, name+"!")
		} else {
			s = append(s, fmt.Sprintf("%s#%d", name, it.Event.RecordID))
		}
	}
	return s
}

func (r *recorder) checkpoints() map[string][]byte {
	r.mu.Lock()
	defer r.mu.Unlock()
	m := make(map[string][]byte, len(r.cps))
	for k, v := range r.cps {
		m[k] = slices.Clone(v)
	}
	return m
}

func (r *recorder) checkpoint(t *testing.T, key string) fileCheckpoint {
	t.Helper()
	var cp fileCheckpoint
	data, ok := r.checkpoints()[key]
	if !ok {
		t.Fatalf("no checkpoint for %s", key)
	}
	if err := json.Unmarshal(data, &cp); err != nil {
		t.Fatal(err)
	}
	return cp
}

func (r *recorder) forgotten() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var keys []string
	for _, c := range r.calls {
		if c.cp.Forget {
			if len(c.items) != 0 {
				panic("items with a Forget checkpoint")
			}
			keys = append(keys, c.cp.Key)
		}
	}
	return keys
}

// waitFor polls cond until it holds, failing the test after a deadline.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// waitItems waits until the recorder holds want, and fails at once if it
// holds more or other items.
func waitItems(t *testing.T, rec *recorder, want ...string) {
	t.Helper()
	waitFor(t, fmt.Sprintf("items %v", want), func() bool {
		got := rec.summary()
		if len(got) > len(want) || !slices.Equal(got, want[:len(got)]) {
			t.Fatalf("items = %v, want %v", got, want)
		}
		return len(got) == len(want)
	})
}

// quiet waits out a settle and a cut wait, then checks that nothing more
// was emitted.
func quiet(t *testing.T, rec *recorder, want ...string) {
	t.Helper()
	time.Sleep(testCutWait + 4*testSettle)
	if got := rec.summary(); !slices.Equal(got, want) {
		t.Fatalf("items = %v, want %v", got, want)
	}
}

func newTestFolder(t *testing.T, dir string) *Folder {
	return NewFolder("folder", dir, FolderOptions{Settle: testSettle, CutWait: testCutWait, Logger: zaptest.NewLogger(t)})
}

// run starts src and returns a function that stops it and returns Run's
// error.
func run(t *testing.T, src watcher.Source, cps map[string][]byte, rec *recorder) func() error {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { errc <- src.Run(ctx, cps, rec.emit) }()
	stopped := false
	var err error
	stop := func() error {
		if stopped {
			return err
		}
		stopped = true
		cancel()
		select {
		case err = <-errc:
		case <-time.After(5 * time.Second):
			t.Fatal("Run did not return after cancel")
		}
		return err
	}
	t.Cleanup(func() { stop() })
	return stop
}

func writeFile(t *testing.T, path, s string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(s), 0o644); err != nil {
		t.Fatal(err)
	}
}

func appendFile(t *testing.T, path, s string) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteString(s); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}

// replaceFile writes a new file under path's name, as editors save.
func replaceFile(t *testing.T, path, s string) {
	t.Helper()
	tmp := filepath.Join(filepath.Dir(path), "tmp.part")
	writeFile(t, tmp, s)
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

func TestFolderExistingFiles(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "b.txt"), events(3))
	writeFile(t, filepath.Join(dir, "a.xml"), "<Events>"+events(1, 2)+"</Events>")
	evtx, err := os.ReadFile("../../testdata/evtx/new-user-security.evtx")
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(dir, "c.EVTX"), string(evtx))
	writeFile(t, filepath.Join(dir, "notes.log"), events(9))
	rec := newRecorder(nil)
	stop := run(t, newTestFolder(t, dir), nil, rec)
	waitFor(t, "7 items", func() bool { return len(rec.items()) == 7 })
	got := rec.summary()
	if want := []string{"a.xml#1", "a.xml#2", "b.txt#3"}; !slices.Equal(got[:3], want) {
		t.Errorf("items = %v, want %v first", got, want)
	}
	for _, it := range rec.items()[3:] {
		if it.Err != nil || filepath.Base(it.Input) != "c.EVTX" || !strings.HasPrefix(it.Where, "chunk 0 record ") {
			t.Errorf("item %+v, want a record of c.EVTX", it)
		}
	}
	if cp := rec.checkpoint(t, "a.xml"); cp.Items != 2 || cp.ID == "" || cp.Size == 0 {
		t.Errorf("a.xml checkpoint %+v", cp)
	}
	if cp := rec.checkpoint(t, "c.EVTX"); cp.Items != 4 {
		t.Errorf("c.EVTX checkpoint %+v", cp)
	}
	quiet(t, rec, got...)
	if err := stop(); err != nil {
		t.Fatal(err)
	}
}

func TestFolderNewAppendRestart(t *testing.T) {
	dir := t.TempDir()
	a := filepath.Join(dir, "a.xml")
	writeFile(t, a, events(1))
	rec := newRecorder(nil)
	stop := run(t, newTestFolder(t, dir), nil, rec)
	waitItems(t, rec, "a.xml#1")

	// A new file.
	b := filepath.Join(dir, "b.xml")
	writeFile(t, b, events(10, 11))
	waitItems(t, rec, "a.xml#1", "b.xml#10", "b.xml#11")

	// Appended events.
	appendFile(t, a, events(2, 3))
	want := []string{"a.xml#1", "b.xml#10", "b.xml#11", "a.xml#2", "a.xml#3"}
	waitItems(t, rec, want...)
	quiet(t, rec, want...)
	if cp := rec.checkpoint(t, "a.xml"); cp.Items != 3 {
		t.Errorf("a.xml checkpoint %+v, want 3 items", cp)
	}
	if err := stop(); err != nil {
		t.Fatal(err)
	}

	// A restart from the checkpoints emits only what changed meanwhile.
	appendFile(t, b, events(12))
	rec2 := newRecorder(rec.checkpoints())
	stop = run(t, newTestFolder(t, dir), rec.checkpoints(), rec2)
	waitItems(t, rec2, "b.xml#12")
	writeFile(t, filepath.Join(dir, "c.xml"), events(20))
	waitItems(t, rec2, "b.xml#12", "c.xml#20")
	quiet(t, rec2, "b.xml#12", "c.xml#20")
	if err := stop(); err != nil {
		t.Fatal(err)
	}
}

func TestFolderReplaceTruncateDelete(t *testing.T) {
	dir := t.TempDir()
	a := filepath.Join(dir, "a.xml")
	writeFile(t, a, events(1, 2))
	rec := newRecorder(nil)
	stop := run(t, newTestFolder(t, dir), nil, rec)
	waitItems(t, rec, "a.xml#1", "a.xml#2")
	id := rec.checkpoint(t, "a.xml").ID

	// Replaced by a larger file: read from the start.
	replaceFile(t, a, events(1, 2, 3))
	want := []string{"a.xml#1", "a.xml#2", "a.xml#1", "a.xml#2", "a.xml#3"}
	waitItems(t, rec, want...)
	if cp := rec.checkpoint(t, "a.xml"); cp.Items != 3 || cp.ID == id {
		t.Errorf("checkpoint after replace %+v, old id %s", cp, id)
	}

	// Truncated in place and rewritten shorter: read from the start.
	writeFile(t, a, events(7))
	want = append(want, "a.xml#7")
	waitItems(t, rec, want...)
	if cp := rec.checkpoint(t, "a.xml"); cp.Items != 1 {
		t.Errorf("checkpoint after truncation %+v", cp)
	}

	// Deleted: its checkpoint is dropped.
	if err := os.Remove(a); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "forget a.xml", func() bool { return len(rec.forgotten()) == 1 })
	if got := rec.forgotten(); got[0] != "a.xml" {
		t.Errorf("forgotten %v", got)
	}
	if _, ok := rec.checkpoints()["a.xml"]; ok {
		t.Error("a.xml checkpoint kept")
	}
	quiet(t, rec, want...)
	if err := stop(); err != nil {
		t.Fatal(err)
	}

	// A checkpoint of a file deleted while stopped is dropped at start.
	rec2 := newRecorder(map[string][]byte{"gone.xml": []byte(`{"items":3,"size":10}`)})
	run(t, newTestFolder(t, dir), rec2.checkpoints(), rec2)
	waitFor(t, "forget gone.xml", func() bool { return slices.Equal(rec2.forgotten(), []string{"gone.xml"}) })
}

func TestFolderCutEvent(t *testing.T) {
	full := events(1, 2)
	half := len(event(1)) + len(event(2))/2

	t.Run("completed before the cut wait", func(t *testing.T) {
		dir := t.TempDir()
		rec := newRecorder(nil)
		run(t, newTestFolder(t, dir), nil, rec)
		a := filepath.Join(dir, "a.xml")
		writeFile(t, a, full[:half])
		waitItems(t, rec, "a.xml#1")
		time.Sleep(testCutWait / 3)
		appendFile(t, a, full[half:])
		waitItems(t, rec, "a.xml#1", "a.xml#2")
		quiet(t, rec, "a.xml#1", "a.xml#2")
	})

	t.Run("cut for good", func(t *testing.T) {
		dir := t.TempDir()
		rec := newRecorder(nil)
		stop := run(t, newTestFolder(t, dir), nil, rec)
		a := filepath.Join(dir, "a.xml")
		writeFile(t, a, full[:half])
		start := time.Now()
		waitItems(t, rec, "a.xml#1", "a.xml!")
		if d := time.Since(start); d < testCutWait {
			t.Errorf("cut reported after %v, before the cut wait", d)
		}
		quiet(t, rec, "a.xml#1", "a.xml!")
		it := rec.items()[1]
		if !strings.Contains(it.Err.Error(), "end of input") || it.Where == "" {
			t.Errorf("cut item %+v", it)
		}
		if cp := rec.checkpoint(t, "a.xml"); cp.Items != 2 || cp.Cut != 1 {
			t.Errorf("checkpoint %+v, want 2 items, 1 cut", cp)
		}
		if err := stop(); err != nil {
			t.Fatal(err)
		}

		// A restart does not report the cut again, and the event that
		// completes it is emitted once the file grows.
		rec2 := newRecorder(rec.checkpoints())
		run(t, newTestFolder(t, dir), rec.checkpoints(), rec2)
		writeFile(t, filepath.Join(dir, "b.xml"), events(9))
		waitItems(t, rec2, "b.xml#9")
		appendFile(t, a, full[half:]+event(3))
		waitItems(t, rec2, "b.xml#9", "a.xml#2", "a.xml#3")
		quiet(t, rec2, "b.xml#9", "a.xml#2", "a.xml#3")
	})
}

func TestFolderEvtx(t *testing.T) {
	data, err := os.ReadFile("../../testdata/evtx/new-user-security.evtx")
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"x.evtx#1", "x.evtx#2", "x.evtx#3", "x.evtx#4"}
	dir := t.TempDir()
	rec := newRecorder(nil)
	run(t, newTestFolder(t, dir), nil, rec)
	// Copied in two halves, the first ending inside the chunk.
	x := filepath.Join(dir, "x.evtx")
	cut := 0x1000 + 0x8000
	writeFile(t, x, string(data[:cut]))
	time.Sleep(testCutWait / 3)
	appendFile(t, x, string(data[cut:]))
	waitFor(t, "4 records", func() bool { return len(rec.items()) >= 4 })
	got := rec.summary()
	for i, it := range rec.items() {
		if it.Err != nil {
			t.Fatalf("item %d: %v", i, it.Err)
		}
		// The record IDs are the log's; name them in order.
		got[i] = fmt.Sprintf("x.evtx#%d", i+1)
	}
	quiet(t, rec, rec.summary()...)
	if !slices.Equal(got, want) {
		t.Errorf("items %v", got)
	}
}

func TestFolderChunks(t *testing.T) {
	dir := t.TempDir()
	ids := make([]int, 1200)
	for i := range ids {
		ids[i] = i + 1
	}
	writeFile(t, filepath.Join(dir, "big.xml"), events(ids...))
	rec := newRecorder(nil)
	run(t, newTestFolder(t, dir), nil, rec)
	waitFor(t, "1200 items", func() bool { return len(rec.items()) == 1200 })
	rec.mu.Lock()
	defer rec.mu.Unlock()
	var sizes, counts []int
	for _, c := range rec.calls {
		var cp fileCheckpoint
		if err := json.Unmarshal(c.cp.Data, &cp); err != nil {
			t.Fatal(err)
		}
		sizes = append(sizes, len(c.items))
		counts = append(counts, cp.Items)
	}
	if !slices.Equal(sizes, []int{512, 512, 176}) || !slices.Equal(counts, []int{512, 1024, 1200}) {
		t.Errorf("chunks %v, checkpoints %v", sizes, counts)
	}
}

func TestFolderEmitError(t *testing.T) {
	dir := t.TempDir()
	rec := newRecorder(nil)
	errStore := errors.New("store full")
	rec.fail = errStore
	writeFile(t, filepath.Join(dir, "a.xml"), events(1))
	err := newTestFolder(t, dir).Run(context.Background(), nil, rec.emit)
	if !errors.Is(err, errStore) {
		t.Fatalf("Run = %v, want %v", err, errStore)
	}

	// Also for a file that arrives later.
	rec = newRecorder(nil)
	dir = t.TempDir()
	errc := make(chan error, 1)
	go func() { errc <- newTestFolder(t, dir).Run(context.Background(), nil, rec.emit) }()
	time.Sleep(testSettle) // let the watch start
	rec.mu.Lock()
	rec.fail = errStore
	rec.mu.Unlock()
	writeFile(t, filepath.Join(dir, "a.xml"), events(1))
	select {
	case err := <-errc:
		if !errors.Is(err, errStore) {
			t.Fatalf("Run = %v, want %v", err, errStore)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not stop")
	}
}

func TestFolderCancel(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "a.xml"), events(1)+"<Event>") // a cut held back
	rec := newRecorder(nil)
	stop := run(t, newTestFolder(t, dir), nil, rec)
	waitItems(t, rec, "a.xml#1")
	start := time.Now()
	if err := stop(); err != nil {
		t.Fatalf("Run = %v, want nil", err)
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("Run took %v to return", d)
	}
}

func TestFolderMissing(t *testing.T) {
	err := newTestFolder(t, filepath.Join(t.TempDir(), "none")).Run(context.Background(), nil, newRecorder(nil).emit)
	if err == nil {
		t.Fatal("Run of a missing folder succeeded")
	}
}

// TestFolderRescan reads every file again after lost notifications.
func TestFolderRescan(t *testing.T) {
	dir := t.TempDir()
	rec := newRecorder(nil)
	f := newTestFolder(t, dir)
	r := &folderRun{Folder: f, emit: rec.emit, files: map[string]*fileState{}}
	ctx := context.Background()
	if err := r.scan(ctx); err != nil {
		t.Fatal(err)
	}
	// Changed with no notification.
	writeFile(t, filepath.Join(dir, "a.xml"), events(1))
	writeFile(t, filepath.Join(dir, "b.txt"), events(2))
	writeFile(t, filepath.Join(dir, "c.log"), events(3))
	now := time.Now()
	r.rescan(now)
	if err := r.runDue(ctx, now); err != nil {
		t.Fatal(err)
	}
	if got, want := rec.summary(), []string{"a.xml#1", "b.txt#2"}; !slices.Equal(got, want) {
		t.Fatalf("items %v, want %v", got, want)
	}
	if due, ok := r.next(); ok {
		t.Errorf("a read is due at %v", due)
	}
}
