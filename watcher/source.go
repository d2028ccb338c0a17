package watcher

import "context"

// Item is one decoded event, or a part of an input that could not be
// decoded, as a source delivers it.
type Item struct {
	Event *Event // nil when Err is set
	// Input names what it came from: a file path, "-" for standard input,
	// a channel name.
	Input string
	// Where is the position within the input, for reports: "12:1",
	// "chunk 3 record 17".
	Where string
	Err   error
}

// Checkpoint is how far a source has got in one of its inputs, in the
// source's own form (an event count, a record ID, a Windows bookmark).
type Checkpoint struct {
	Key    string // the input: a file's path, or "" for a single stream
	Data   []byte
	Forget bool // the input is gone (a deleted file): drop its checkpoint
}

// Emit hands a source's items over. It returns once the actions of the
// items are durably queued and cp is committed with them, so a source
// resumes after cp and no event is lost; an event may be seen again after
// a crash, which the outbox's stable action IDs make harmless. The items
// and their events are only valid during the call.
type Emit func(ctx context.Context, items []Item, cp Checkpoint) error

// Source reads events from somewhere and emits them in order.
type Source interface {
	// Name is the source's stable name: its checkpoints are kept under it.
	Name() string
	// Run emits events, resuming after the checkpoints given (by key),
	// until ctx is done or the input ends. An error is fatal for the
	// source; problems with one input are Items with Err set.
	Run(ctx context.Context, checkpoints map[string][]byte, emit Emit) error
}
