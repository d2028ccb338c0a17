// Package outbox is logmedic's durable queue of actions, in a bbolt file
// in the state directory. An action is written before it is attempted and
// removed only after it succeeded, so a crash or restart loses nothing;
// action IDs already queued, delivered or dead are ignored, so a replayed
// event never acts twice. The Dispatcher delivers what is queued, with
// retries, backoff and dead letters.
package outbox

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"

	"github.com/logmedic/logmedic/handlers"
)

var (
	bucketPending = []byte("pending")   // seq (8 bytes, big-endian) -> Action JSON
	bucketIndex   = []byte("index")     // action ID -> seq
	bucketDead    = []byte("dead")      // action ID -> Action JSON
	bucketDone    = []byte("done")      // action ID -> delivery time (8 bytes, unix ns)
	bucketDedup   = []byte("dedup")     // dedup key -> dedupState JSON
	bucketState   = []byte("state")     // handler name -> nested bucket for handlers.KV
	bucketPos     = []byte("positions") // source name -> nested bucket: key -> position
)

// ErrNotFound is returned for an action ID the outbox does not hold.
var ErrNotFound = errors.New("no such action")

// Store is the outbox file.
type Store struct {
	db  *bbolt.DB
	now func() time.Time
	// DoneRetention is how long delivered IDs are remembered to ignore
	// replays; default 30 days.
	DoneRetention time.Duration
}

// Open opens or creates the outbox at path (mode 0600, its directory
// 0700). It waits at most a second for another process holding it.
func Open(path string) (*Store, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("open outbox: %w", err)
	}
	db, err := bbolt.Open(path, 0o600, &bbolt.Options{Timeout: time.Second})
	if err != nil {
		if errors.Is(err, bolterrors.ErrTimeout) {
			return nil, fmt.Errorf("open outbox %s: locked by another logmedic process", path)
		}
		return nil, fmt.Errorf("open outbox %s: %w", path, err)
	}
	err = db.Update(func(tx *bbolt.Tx) error {
		for _, b := range [][]byte{bucketPending, bucketIndex, bucketDead, bucketDone, bucketDedup, bucketState, bucketPos} {
			if _, err := tx.CreateBucketIfNotExists(b); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("open outbox %s: %w", path, err)
	}
	return &Store{db: db, now: time.Now, DoneRetention: 30 * 24 * time.Hour}, nil
}

// SetClock replaces the clock (tests).
func (s *Store) SetClock(now func() time.Time) { s.now = now }

// Close closes the file.
func (s *Store) Close() error { return s.db.Close() }

// Batch is the actions of one rule match, with the rule's dedup setting.
type Batch struct {
	DedupKey string
	// Window suppresses repeats of DedupKey for this long after a match
	// that acted; 0 means every match acts.
	Window  time.Duration
	Actions []*handlers.Action
	// Prepare renders an action's payload once Accept has set its Repeats
	// (so "seen 7 more times" reaches the ticket). An action it fails for
	// (a template that cannot render this event) becomes a dead letter
	// with the error; the other actions go on. Nil: Actions are prepared.
	Prepare func(a *handlers.Action) error
}

type dedupState struct {
	Since      time.Time `json:"since"`      // when the last acting match happened
	Suppressed int       `json:"suppressed"` // matches suppressed since
}

// Result counts what Accept did.
type Result struct {
	Queued     int // actions written
	Replayed   int // actions ignored: their ID was already queued, delivered or dead
	Suppressed int // matches suppressed by their dedup window
	Failed     int // actions that could not be prepared: written as dead letters
	// ByHandler splits the counts by handler (Suppressed counts each
	// action of a suppressed match).
	ByHandler map[string]*Result
}

func (r *Result) handler(name string) *Result {
	if r.ByHandler == nil {
		r.ByHandler = map[string]*Result{}
	}
	h := r.ByHandler[name]
	if h == nil {
		h = &Result{}
		r.ByHandler[name] = h
	}
	return h
}

// Position is where a source has got to: Data, under Key (a file of a
// folder source, or "" for a single stream), is the source's own form.
type Position struct {
	Source string
	Key    string
	Data   []byte
	// Forget removes the position instead (a deleted file).
	Forget bool
}

// Accept writes the batches in one transaction: either all of it is
// durable or none. Inside a batch's dedup window the match is suppressed
// and counted; the next match that acts carries the count in Repeats.
// Positions given are written in the same transaction, so a source's
// position never runs ahead of the actions of the events before it.
func (s *Store) Accept(batches []Batch, positions ...Position) (Result, error) {
	var res Result
	now := s.now()
	err := s.db.Update(func(tx *bbolt.Tx) error {
		for _, p := range positions {
			if err := putPosition(tx, p); err != nil {
				return err
			}
		}
		res = Result{}
		pending, index, dead, done, dedup := tx.Bucket(bucketPending), tx.Bucket(bucketIndex), tx.Bucket(bucketDead), tx.Bucket(bucketDone), tx.Bucket(bucketDedup)
		for _, b := range batches {
			var fresh []*handlers.Action
			for _, a := range b.Actions {
				id := []byte(a.ID)
				if index.Get(id) != nil || dead.Get(id) != nil || done.Get(id) != nil {
					res.Replayed++
					res.handler(a.Handler).Replayed++
					continue
				}
				fresh = append(fresh, a)
			}
			if len(fresh) == 0 {
				continue
			}
			repeats := 0
			if b.Window > 0 && b.DedupKey != "" {
				var st dedupState
				if raw := dedup.Get([]byte(b.DedupKey)); raw != nil {
					if err := json.Unmarshal(raw, &st); err != nil {
						return fmt.Errorf("dedup state %q: %w", b.DedupKey, err)
					}
					if now.Sub(st.Since) < b.Window {
						st.Suppressed++
						res.Suppressed++
						for _, a := range fresh {
							res.handler(a.Handler).Suppressed++
						}
						if err := putJSON(dedup, []byte(b.DedupKey), st); err != nil {
							return err
						}
						// Remember the IDs, so a replay of this event is
						// not counted again.
						for _, a := range fresh {
							if err := done.Put([]byte(a.ID), timeBytes(now)); err != nil {
								return err
							}
						}
						continue
					}
					repeats = st.Suppressed
				}
				if err := putJSON(dedup, []byte(b.DedupKey), dedupState{Since: now}); err != nil {
					return err
				}
			}
			for _, a := range fresh {
				a.Repeats = repeats
				if a.Created.IsZero() {
					a.Created = now
				}
				if b.Prepare != nil {
					if err := b.Prepare(a); err != nil {
						a.Payload = nil
						a.LastError = "preparing the action failed: " + err.Error()
						if err := putJSON(dead, []byte(a.ID), a); err != nil {
							return err
						}
						res.Failed++
						res.handler(a.Handler).Failed++
						continue
					}
				}
				seq, err := pending.NextSequence()
				if err != nil {
					return err
				}
				key := seqKey(seq)
				if err := putJSON(pending, key, a); err != nil {
					return err
				}
				if err := index.Put([]byte(a.ID), key); err != nil {
					return err
				}
				res.Queued++
				res.handler(a.Handler).Queued++
			}
		}
		return nil
	})
	return res, err
}

// Pending returns every queued action in the order it was queued.
func (s *Store) Pending() ([]*handlers.Action, error) {
	var out []*handlers.Action
	err := s.db.View(func(tx *bbolt.Tx) error {
		return tx.Bucket(bucketPending).ForEach(func(k, v []byte) error {
			var a handlers.Action
			if err := json.Unmarshal(v, &a); err != nil {
				return fmt.Errorf("pending action %x: %w", k, err)
			}
			out = append(out, &a)
			return nil
		})
	})
	return out, err
}

// Counts returns the queue's and the dead letters' sizes and when the
// oldest queued action was created, without decoding the queue: cheap
// enough for every metrics scrape.
func (s *Store) Counts() (pending, dead int, oldest time.Time, err error) {
	err = s.db.View(func(tx *bbolt.Tx) error {
		pending = tx.Bucket(bucketPending).Stats().KeyN
		dead = tx.Bucket(bucketDead).Stats().KeyN
		if _, v := tx.Bucket(bucketPending).Cursor().First(); v != nil {
			var a struct {
				Created time.Time `json:"created"`
			}
			if err := json.Unmarshal(v, &a); err == nil {
				oldest = a.Created
			}
		}
		return nil
	})
	return pending, dead, oldest, err
}

// Scan calls fn for queued actions in queue order until fn returns
// false, decoding only the actions it reaches: the dispatcher stops as
// soon as it has no room for more attempts, so a large backlog does not
// cost a full decode on every round.
func (s *Store) Scan(fn func(a *handlers.Action) bool) error {
	return s.db.View(func(tx *bbolt.Tx) error {
		c := tx.Bucket(bucketPending).Cursor()
		for k, v := c.First(); k != nil; k, v = c.Next() {
			var a handlers.Action
			if err := json.Unmarshal(v, &a); err != nil {
				return fmt.Errorf("pending action %x: %w", k, err)
			}
			if !fn(&a) {
				return nil
			}
		}
		return nil
	})
}

// Dead returns the dead letters.
func (s *Store) Dead() ([]*handlers.Action, error) {
	var out []*handlers.Action
	err := s.db.View(func(tx *bbolt.Tx) error {
		return tx.Bucket(bucketDead).ForEach(func(k, v []byte) error {
			var a handlers.Action
			if err := json.Unmarshal(v, &a); err != nil {
				return fmt.Errorf("dead action %s: %w", k, err)
			}
			out = append(out, &a)
			return nil
		})
	})
	return out, err
}

// Delivered records that the action succeeded: it leaves the queue and its
// ID is remembered so a replay is ignored.
func (s *Store) Delivered(id string) error {
	return s.db.Update(func(tx *bbolt.Tx) error {
		if err := removePending(tx, id); err != nil {
			return err
		}
		s.prune(tx)
		return tx.Bucket(bucketDone).Put([]byte(id), timeBytes(s.now()))
	})
}

// Begin records that an attempt starts and may run until until. The
// attempt is counted now, so one that kills the process every time still
// reaches max_attempts.
func (s *Store) Begin(id string, until time.Time) error {
	return s.update(id, func(a *handlers.Action) {
		a.InFlightUntil = until
		a.Attempts++
	})
}

// update rewrites a pending action in place.
func (s *Store) update(id string, fn func(a *handlers.Action)) error {
	return s.db.Update(func(tx *bbolt.Tx) error {
		key := tx.Bucket(bucketIndex).Get([]byte(id))
		if key == nil {
			return fmt.Errorf("action %s: %w", id, ErrNotFound)
		}
		key = append([]byte(nil), key...)
		pending := tx.Bucket(bucketPending)
		var a handlers.Action
		if err := json.Unmarshal(pending.Get(key), &a); err != nil {
			return err
		}
		fn(&a)
		return putJSON(pending, key, &a)
	})
}

// Failed records the failure of the attempt Begin counted, to be retried
// at next.
func (s *Store) Failed(id string, cause error, next time.Time) error {
	return s.update(id, func(a *handlers.Action) {
		a.LastError = cause.Error()
		a.NextAttempt = next
		a.InFlightUntil = time.Time{}
	})
}

// Bury moves an action from the queue to the dead letters, with the
// error that killed it.
func (s *Store) Bury(id string, cause error) error {
	return s.db.Update(func(tx *bbolt.Tx) error {
		key := tx.Bucket(bucketIndex).Get([]byte(id))
		if key == nil {
			return fmt.Errorf("action %s: %w", id, ErrNotFound)
		}
		var a handlers.Action
		if err := json.Unmarshal(tx.Bucket(bucketPending).Get(key), &a); err != nil {
			return err
		}
		a.LastError = cause.Error()
		a.InFlightUntil = time.Time{}
		if err := removePending(tx, id); err != nil {
			return err
		}
		return putJSON(tx.Bucket(bucketDead), []byte(id), &a)
	})
}

// Requeue moves a dead letter, or a pending action waiting for its next
// attempt, back to the front of the line: logmedic outbox retry.
func (s *Store) Requeue(id string) error {
	return s.db.Update(func(tx *bbolt.Tx) error {
		var a handlers.Action
		if raw := tx.Bucket(bucketDead).Get([]byte(id)); raw != nil {
			if err := json.Unmarshal(raw, &a); err != nil {
				return err
			}
			if err := tx.Bucket(bucketDead).Delete([]byte(id)); err != nil {
				return err
			}
			pending := tx.Bucket(bucketPending)
			seq, err := pending.NextSequence()
			if err != nil {
				return err
			}
			a.NextAttempt = time.Time{}
			a.Attempts = 0
			a.Created = s.now() // max_age counts again from the retry
			if err := putJSON(pending, seqKey(seq), &a); err != nil {
				return err
			}
			return tx.Bucket(bucketIndex).Put([]byte(id), seqKey(seq))
		}
		key := tx.Bucket(bucketIndex).Get([]byte(id))
		if key == nil {
			return fmt.Errorf("action %s: %w", id, ErrNotFound)
		}
		key = append([]byte(nil), key...)
		if err := json.Unmarshal(tx.Bucket(bucketPending).Get(key), &a); err != nil {
			return err
		}
		a.NextAttempt = time.Time{}
		return putJSON(tx.Bucket(bucketPending), key, &a)
	})
}

// Drop removes an action from the queue or the dead letters without
// delivering it: logmedic outbox drop. Its ID stays known, so a replay of
// the event does not queue it again.
func (s *Store) Drop(id string) error {
	return s.db.Update(func(tx *bbolt.Tx) error {
		found := false
		if tx.Bucket(bucketDead).Get([]byte(id)) != nil {
			found = true
			if err := tx.Bucket(bucketDead).Delete([]byte(id)); err != nil {
				return err
			}
		}
		if tx.Bucket(bucketIndex).Get([]byte(id)) != nil {
			found = true
			if err := removePending(tx, id); err != nil {
				return err
			}
		}
		if !found {
			return fmt.Errorf("action %s: %w", id, ErrNotFound)
		}
		return tx.Bucket(bucketDone).Put([]byte(id), timeBytes(s.now()))
	})
}

// posKey stores a position's key; bbolt keys cannot be empty, and a
// single-stream source uses "".
func posKey(k string) []byte { return []byte("k" + k) }

func putPosition(tx *bbolt.Tx, p Position) error {
	if p.Key == "" && p.Data == nil && !p.Forget {
		return nil // a source that cannot resume (standard input)
	}
	if p.Forget {
		if b := tx.Bucket(bucketPos).Bucket([]byte(p.Source)); b != nil {
			return b.Delete(posKey(p.Key))
		}
		return nil
	}
	b, err := tx.Bucket(bucketPos).CreateBucketIfNotExists([]byte(p.Source))
	if err != nil {
		return err
	}
	return b.Put(posKey(p.Key), p.Data)
}

// Positions returns a source's positions by key.
func (s *Store) Positions(source string) (map[string][]byte, error) {
	out := map[string][]byte{}
	err := s.db.View(func(tx *bbolt.Tx) error {
		b := tx.Bucket(bucketPos).Bucket([]byte(source))
		if b == nil {
			return nil
		}
		return b.ForEach(func(k, v []byte) error {
			out[string(k[1:])] = append([]byte(nil), v...)
			return nil
		})
	})
	return out, err
}

// KV returns durable key/value storage private to one handler.
func (s *Store) KV(handler string) handlers.KV { return &kv{db: s.db, name: []byte(handler)} }

func removePending(tx *bbolt.Tx, id string) error {
	index := tx.Bucket(bucketIndex)
	key := index.Get([]byte(id))
	if key == nil {
		return fmt.Errorf("action %s: %w", id, ErrNotFound)
	}
	if err := tx.Bucket(bucketPending).Delete(append([]byte(nil), key...)); err != nil {
		return err
	}
	return index.Delete([]byte(id))
}

// prune forgets delivered IDs older than DoneRetention, a few at a time.
func (s *Store) prune(tx *bbolt.Tx) {
	cutoff := s.now().Add(-s.DoneRetention).UnixNano()
	c := tx.Bucket(bucketDone).Cursor()
	n := 0
	for k, v := c.First(); k != nil && n < 64; k, v = c.Next() {
		if len(v) == 8 && int64(binary.BigEndian.Uint64(v)) < cutoff {
			c.Delete()
		}
		n++
	}
}

func putJSON(b *bbolt.Bucket, key []byte, v any) error {
	raw, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return b.Put(key, raw)
}

func seqKey(seq uint64) []byte {
	k := make([]byte, 8)
	binary.BigEndian.PutUint64(k, seq)
	return k
}

func timeBytes(t time.Time) []byte {
	b := make([]byte, 8)
	binary.BigEndian.PutUint64(b, uint64(t.UnixNano()))
	return b
}

type kv struct {
	db   *bbolt.DB
	name []byte
}

func (k *kv) bucket(tx *bbolt.Tx) *bbolt.Bucket {
	return tx.Bucket(bucketState).Bucket(k.name)
}

func (k *kv) Get(key string) ([]byte, bool, error) {
	var out []byte
	err := k.db.View(func(tx *bbolt.Tx) error {
		if b := k.bucket(tx); b != nil {
			if v := b.Get([]byte(key)); v != nil {
				out = append([]byte(nil), v...)
			}
		}
		return nil
	})
	return out, out != nil, err
}

func (k *kv) Put(key string, value []byte) error {
	return k.db.Update(func(tx *bbolt.Tx) error {
		b, err := tx.Bucket(bucketState).CreateBucketIfNotExists(k.name)
		if err != nil {
			return err
		}
		return b.Put([]byte(key), value)
	})
}

func (k *kv) Delete(key string) error {
	return k.db.Update(func(tx *bbolt.Tx) error {
		if b := k.bucket(tx); b != nil {
			return b.Delete([]byte(key))
		}
		return nil
	})
}

func (k *kv) Each(fn func(key string, value []byte) error) error {
	return k.db.View(func(tx *bbolt.Tx) error {
		b := k.bucket(tx)
		if b == nil {
			return nil
		}
		return b.ForEach(func(k, v []byte) error { return fn(string(k), v) })
	})
}
