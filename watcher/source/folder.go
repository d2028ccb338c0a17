package source

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/fsnotify/fsnotify"
	"go.uber.org/zap"

	"github.com/logmedic/logmedic/watcher"
	"github.com/logmedic/logmedic/watcher/decode"
	"github.com/logmedic/logmedic/watcher/input"
)

// FolderOptions tune a Folder. The zero value is usable.
type FolderOptions struct {
	// Settle is how long a file must go without change notifications
	// before it is read; one save often gives several. Default 200ms. A
	// file that keeps changing is still read every 5×Settle, and a file
	// another process holds open without sharing is retried every Settle.
	Settle time.Duration
	// CutWait is how long a file must stay unchanged before the errors at
	// its end are reported: while it may still grow they are most likely
	// an event cut by the end of what has been written so far. Default
	// 2×Settle.
	CutWait time.Duration
	// Extensions are the file name endings read, compared without regard
	// to case. Default input.Extensions.
	Extensions []string
	// Logger receives the watch's problems. Default: none.
	Logger *zap.Logger
}

// Folder is a source that watches one folder (not its subfolders) for
// exported event files: rendered XML and Event Viewer text (.xml, .txt)
// and .evtx files, told apart by content as input.Bytes does.
//
// Each file is read once: its checkpoint, kept under the file's base
// name, counts the items (events and decode errors) already emitted, and
// a file that grows emits only the items after them. A file replaced by
// another of the same name (a different file identity: device and inode
// on Unix, volume and file index on Windows) or truncated is read again
// from the start; a deleted file's checkpoint is dropped.
//
// Errors at the end of a file are held back while the file may still be
// written, since they most likely come from an event cut by the end of
// what has been written so far; they are emitted once the file has stayed
// unchanged for CutWait. For an .evtx file this holds back the items of
// a chunk the file ends inside.
//
// Checkpoints compare counts, not content: a file rewritten in place to
// at least its former size between two reads is taken to have grown.
type Folder struct {
	name    string
	dir     string
	settle  time.Duration
	cutWait time.Duration
	exts    []string
	log     *zap.Logger
}

// NewFolder returns a source named name that watches dir.
func NewFolder(name, dir string, opts FolderOptions) *Folder {
	settle := cmp.Or(opts.Settle, 200*time.Millisecond)
	exts := opts.Extensions
	if len(exts) == 0 {
		exts = input.Extensions
	}
	lower := make([]string, len(exts))
	for i, e := range exts {
		lower[i] = strings.ToLower(e)
	}
	log := opts.Logger
	if log == nil {
		log = zap.NewNop()
	}
	dir = filepath.Clean(dir)
	return &Folder{
		name:    name,
		dir:     dir,
		settle:  settle,
		cutWait: cmp.Or(opts.CutWait, 2*settle),
		exts:    lower,
		log:     log.With(zap.String("source", name), zap.String("folder", dir)),
	}
}

// Name returns the source's name.
func (f *Folder) Name() string { return f.name }

// fileCheckpoint is the Data of a Folder checkpoint, as JSON.
type fileCheckpoint struct {
	// Items counts the items (events and decode errors) emitted, in file
	// order.
	Items int `json:"items"`
	// Size is the file's size when they were read.
	Size int64 `json:"size"`
	// ID is the file's identity: "dev:inode" on Unix, "volume:index" on
	// Windows, empty where unknown.
	ID string `json:"id,omitempty"`
	// Cut counts the last of Items, the file's end as it was reported
	// once the file had settled: errors, and the items of an .evtx chunk
	// the file ended inside. CutEvents counts the events among them.
	// When the file grows, the items that replace them are matched
	// against them so that they are neither lost nor reported twice.
	Cut       int `json:"cut,omitempty"`
	CutEvents int `json:"cut_events,omitempty"`
}

// Run reads the files already in the folder in lexical order, then the
// files created or changed while it runs, until ctx is done (it then
// returns nil) or emit fails.
func (f *Folder) Run(ctx context.Context, checkpoints map[string][]byte, emit watcher.Emit) error {
	w, err := fsnotify.NewWatcher()
	if err != nil {
		return fmt.Errorf("watch %s: %w", f.dir, err)
	}
	defer w.Close()
	// Watch before the first scan, so that no change falls between them.
	if err := w.AddWith(f.dir, fsnotify.WithBufferSize(256<<10)); err != nil {
		return fmt.Errorf("watch %s: %w", f.dir, err)
	}
	r := &folderRun{Folder: f, emit: emit, files: make(map[string]*fileState)}
	for key, data := range checkpoints {
		st := &fileState{name: key, saved: true}
		if err := json.Unmarshal(data, &st.cp); err != nil {
			f.log.Warn("bad checkpoint, reading the file from the start", zap.String("file", key), zap.Error(err))
			st.cp = fileCheckpoint{}
		}
		r.files[key] = st
	}
	if err := r.scan(ctx); err != nil {
		return done(ctx, err)
	}
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		if due, ok := r.next(); ok {
			timer.Reset(time.Until(due))
		} else {
			timer.Stop()
		}
		select {
		case <-ctx.Done():
			return nil
		case ev, ok := <-w.Events:
			if !ok {
				return fmt.Errorf("watch %s: notifications stopped", f.dir)
			}
			if err := r.event(ev, time.Now()); err != nil {
				return err
			}
		case err, ok := <-w.Errors:
			if !ok {
				return fmt.Errorf("watch %s: notifications stopped", f.dir)
			}
			if errors.Is(err, fsnotify.ErrEventOverflow) {
				f.log.Warn("change notifications overflowed, rescanning the folder", zap.Error(err))
				r.rescan(time.Now())
				continue
			}
			f.log.Error("folder watch error", zap.Error(err))
		case <-timer.C:
			if err := r.runDue(ctx, time.Now()); err != nil {
				return done(ctx, err)
			}
		}
	}
}

// done turns an error caused by the end of ctx into nil.
func done(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return nil
	}
	return err
}

// folderRun is the state of one Run.
type folderRun struct {
	*Folder
	emit  watcher.Emit
	files map[string]*fileState // by base name
}

// fileState is what a run knows of one file.
type fileState struct {
	name  string
	cp    fileCheckpoint // as last committed
	saved bool           // a checkpoint exists for the file
	seen  fileSeen       // what the last read found
	// changed is when the file was last seen or notified to change.
	changed time.Time
	// dirty is when the first change notification not yet handled came;
	// zero when none.
	dirty time.Time
	// due is when to read the file next; zero when not scheduled.
	due time.Time
}

// fileSeen is a file as a read found it.
type fileSeen struct {
	size int64
	mod  time.Time
	id   string
}

func (s fileSeen) same(o fileSeen) bool {
	return s.size == o.size && s.mod.Equal(o.mod) && s.id == o.id
}

func (r *folderRun) match(name string) bool {
	ext := strings.ToLower(filepath.Ext(name))
	return ext != "" && slices.Contains(r.exts, ext)
}

func (r *folderRun) state(name string) *fileState {
	st := r.files[name]
	if st == nil {
		st = &fileState{name: name}
		r.files[name] = st
	}
	return st
}

func (r *folderRun) schedule(st *fileState, at time.Time) {
	if st.due.IsZero() || at.Before(st.due) {
		st.due = at
	}
}

// list returns the matching names in the folder and those with a state,
// sorted.
func (r *folderRun) list() ([]string, error) {
	entries, err := os.ReadDir(r.dir)
	if err != nil {
		return nil, err
	}
	var names []string
	for _, e := range entries {
		if !e.IsDir() && r.match(e.Name()) {
			names = append(names, e.Name())
		}
	}
	for name := range r.files {
		names = append(names, name)
	}
	slices.Sort(names)
	return slices.Compact(names), nil
}

// scan reads every file in the folder and drops the checkpoints of
// files that are gone.
func (r *folderRun) scan(ctx context.Context) error {
	names, err := r.list()
	if err != nil {
		return fmt.Errorf("watch %s: %w", r.dir, err)
	}
	now := time.Now()
	for _, name := range names {
		if ctx.Err() != nil {
			return nil
		}
		st := r.state(name)
		if !r.match(name) {
			// Checkpointed under other options.
			if err := r.forget(ctx, st); err != nil {
				return err
			}
			continue
		}
		st.changed = now
		if err := r.process(ctx, st, now); err != nil {
			return err
		}
	}
	return nil
}

// rescan schedules every file for a read, after notifications were
// lost.
func (r *folderRun) rescan(now time.Time) {
	names, err := r.list()
	if err != nil {
		r.log.Error("rescan folder", zap.Error(err))
		return
	}
	for _, name := range names {
		st := r.state(name)
		st.changed = now
		r.schedule(st, now)
	}
}

// event schedules a read of the file a notification names, Settle after
// the last notification for it.
func (r *folderRun) event(ev fsnotify.Event, now time.Time) error {
	if ev.Op == fsnotify.Chmod {
		return nil
	}
	if filepath.Clean(ev.Name) == r.dir {
		if ev.Has(fsnotify.Remove) || ev.Has(fsnotify.Rename) {
			return fmt.Errorf("watch %s: the folder was removed or renamed", r.dir)
		}
		return nil
	}
	name := filepath.Base(ev.Name)
	if filepath.Dir(ev.Name) != r.dir || !r.match(name) {
		return nil
	}
	st := r.state(name)
	st.changed = now
	if st.dirty.IsZero() {
		st.dirty = now
	}
	st.due = now.Add(r.settle)
	if limit := st.dirty.Add(5 * r.settle); limit.Before(st.due) {
		st.due = limit
	}
	return nil
}

// next returns the earliest due time.
func (r *folderRun) next() (time.Time, bool) {
	var due time.Time
	for _, st := range r.files {
		if !st.due.IsZero() && (due.IsZero() || st.due.Before(due)) {
			due = st.due
		}
	}
	return due, !due.IsZero()
}

// runDue reads the files that are due, in lexical order.
func (r *folderRun) runDue(ctx context.Context, now time.Time) error {
	var due []*fileState
	for _, st := range r.files {
		if !st.due.IsZero() && !st.due.After(now) {
			due = append(due, st)
		}
	}
	slices.SortFunc(due, func(a, b *fileState) int { return strings.Compare(a.name, b.name) })
	for _, st := range due {
		if ctx.Err() != nil {
			return nil
		}
		st.due, st.dirty = time.Time{}, time.Time{}
		if err := r.process(ctx, st, now); err != nil {
			return err
		}
	}
	return nil
}

// forget drops a file that is gone, and its checkpoint.
func (r *folderRun) forget(ctx context.Context, st *fileState) error {
	delete(r.files, st.name)
	if !st.saved {
		return nil
	}
	r.log.Debug("event file gone, dropping its checkpoint", zap.String("file", st.name))
	return r.emit(ctx, nil, watcher.Checkpoint{Key: st.name, Forget: true})
}

var errNotRegular = errors.New("not a regular file")

// readFile reads a whole file, opened so that its writer can still
// write, rename or delete it.
func readFile(path string) ([]byte, fileSeen, error) {
	// Stat first: opening a FIFO would block.
	if fi, err := os.Stat(path); err != nil {
		return nil, fileSeen{}, err
	} else if !fi.Mode().IsRegular() {
		return nil, fileSeen{}, errNotRegular
	}
	f, err := openFile(path)
	if err != nil {
		return nil, fileSeen{}, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, fileSeen{}, err
	}
	data, err := io.ReadAll(f)
	if err != nil {
		return nil, fileSeen{}, err
	}
	return data, fileSeen{size: int64(len(data)), mod: fi.ModTime(), id: fileID(f, fi)}, nil
}

// process reads one file and emits its new items.
func (r *folderRun) process(ctx context.Context, st *fileState, now time.Time) error {
	path := filepath.Join(r.dir, st.name)
	log := r.log.With(zap.String("file", st.name))
	data, seen, err := readFile(path)
	switch {
	case errors.Is(err, fs.ErrNotExist) || errors.Is(err, errNotRegular):
		return r.forget(ctx, st)
	case retryable(err):
		log.Debug("event file in use, retrying", zap.Error(err))
		r.schedule(st, now.Add(r.settle))
		return nil
	case err != nil:
		log.Warn("cannot read event file", zap.Error(err))
		return nil
	}
	if st.seen != (fileSeen{}) && !st.seen.same(seen) {
		st.changed = now
	}
	st.seen = seen
	cp := st.cp
	if (cp.ID != "" && seen.id != "" && cp.ID != seen.id) || seen.size < cp.Size {
		log.Info("event file replaced or truncated, reading it from the start",
			zap.Int64("size", seen.size), zap.Int64("checkpoint_size", cp.Size))
		cp = fileCheckpoint{}
	}
	t := newTail(ctx, r.emit, path, st.name, cp, seen)
	young := now.Sub(st.changed) < r.cutWait
	held := false
	err = input.Bytes(path, data, t.item)
	if err == nil {
		held, err = t.finish(young)
	}
	if t.sent {
		st.cp, st.saved = t.saved, true
	}
	if err != nil {
		return err
	}
	log.Debug("event file read", zap.Int64("size", seen.size), zap.Int("items", t.n),
		zap.Int("emitted_items", t.saved.Items), zap.Bool("held", held))
	if held {
		r.schedule(st, st.changed.Add(r.cutWait))
	}
	return nil
}

// tail emits the items of one read of a file after its checkpoint, in
// chunks, holding back its provisional end.
type tail struct {
	ctx  context.Context
	emit watcher.Emit
	path string
	key  string
	cp   fileCheckpoint // where the read resumes
	seen fileSeen

	n      int // items decoded
	events int // events decoded

	// Resuming: the items in cp's cut end are matched, skipping errors
	// and cp.CutEvents events, until the first item that differs.
	matching   bool
	skipEvents int

	pending []watcher.Item
	first   int // index of pending[0]

	// The provisional end: the trailing run of errors, the last .evtx
	// error that says the file is cut, or a last Event Viewer copy
	// without its XML. Each start comes with the events before it.
	runStart, runEvents int // -1 when the last item is an event
	cutAt, cutEvents    int // -1 when none
	headerOnly          bool

	saved fileCheckpoint // the last checkpoint emitted
	sent  bool
}

func newTail(ctx context.Context, emit watcher.Emit, path, key string, cp fileCheckpoint, seen fileSeen) *tail {
	return &tail{
		ctx: ctx, emit: emit, path: path, key: key, cp: cp, seen: seen,
		matching: true, skipEvents: cp.CutEvents,
		runStart: -1, cutAt: -1,
	}
}

// item is the decode.Func.
func (t *tail) item(ev *watcher.Event, pos decode.Pos, err error) error {
	i := t.n
	t.n++
	if err != nil {
		if t.runStart < 0 {
			t.runStart, t.runEvents = i, t.events
		}
		if isCut(err) {
			t.cutAt, t.cutEvents = i, t.events
		}
		t.headerOnly = false
	} else {
		t.runStart = -1
		t.headerOnly = headerOnly(ev)
		t.events++
	}
	if !t.keep(i, err == nil) {
		return nil
	}
	if len(t.pending) == 0 {
		t.first = i
	}
	it := watcher.Item{Input: t.path, Where: where(pos), Err: err}
	if err == nil {
		it.Event = ev.Clone()
	}
	t.pending = append(t.pending, it)
	if len(t.pending) > maxChunk {
		if start, _ := t.end(); start >= t.first+maxChunk {
			return t.send(maxChunk, 0, 0)
		}
	}
	return nil
}

// keep reports whether item i is new.
func (t *tail) keep(i int, isEvent bool) bool {
	switch {
	case i < t.cp.Items-t.cp.Cut:
		return false
	case !t.matching:
		return true
	case isEvent && t.skipEvents > 0:
		t.skipEvents--
		return false
	case !isEvent && i < t.cp.Items:
		return false
	}
	t.matching = false
	return true
}

// end returns where the provisional end starts, and the events before
// it; t.n when there is none.
func (t *tail) end() (int, int) {
	start, events := t.n, t.events
	if t.runStart >= 0 {
		start, events = t.runStart, t.runEvents
	}
	if t.cutAt >= 0 && t.cutAt < start {
		start, events = t.cutAt, t.cutEvents
	}
	if start == t.n && t.headerOnly {
		start, events = t.n-1, t.events-1
	}
	return start, events
}

// finish emits what is pending, holding back the provisional end if the
// file is young; it reports whether it held anything back.
func (t *tail) finish(young bool) (bool, error) {
	start, events := t.end()
	n := len(t.pending)
	held := false
	if young && start < t.n && n > 0 {
		n = max(start-t.first, 0)
		held = true
	}
	for n > 0 {
		k := min(n, maxChunk)
		cut, cutEvents := 0, 0
		if k == len(t.pending) && start < t.n {
			cut, cutEvents = t.n-start, t.events-events
		}
		if err := t.send(k, cut, cutEvents); err != nil {
			return held, err
		}
		n -= k
	}
	return held, nil
}

// send emits the first n pending items.
func (t *tail) send(n, cut, cutEvents int) error {
	cp := fileCheckpoint{Items: t.first + n, Size: t.seen.size, ID: t.seen.id, Cut: cut, CutEvents: cutEvents}
	data, err := json.Marshal(cp)
	if err != nil {
		return err
	}
	if err := t.emit(t.ctx, t.pending[:n], watcher.Checkpoint{Key: t.key, Data: data}); err != nil {
		return err
	}
	t.saved, t.sent = cp, true
	m := copy(t.pending, t.pending[n:])
	clear(t.pending[m:])
	t.pending = t.pending[:m]
	t.first += n
	return nil
}

// isCut reports whether err is an .evtx error saying the file ends
// inside a chunk or before all of them: the chunk's records follow it.
func isCut(err error) bool {
	var de *decode.Error
	return errors.As(err, &de) && de.Line == 0 && strings.Contains(de.Msg, "is cut")
}

// headerOnly reports whether ev is an Event Viewer text copy without its
// "Event Xml:" part, which may still be being written.
func headerOnly(ev *watcher.Event) bool {
	return !strings.HasPrefix(strings.TrimLeft(ev.Raw, " \t\r\n\uFEFF"), "<")
}

func where(pos decode.Pos) string {
	if pos.Line == 0 && pos.Where == "" {
		return ""
	}
	return pos.String()
}
