package evtxfile

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime/metrics"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/logmedic/logmedic/watcher"
)

func sample(t *testing.T, name string) []byte {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(dir, name))
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// bounded runs f and stops the test binary if the heap grows past 1 GiB
// meanwhile: a parser that allocates without bound cannot be stopped
// otherwise, and the runtime's out of memory is fatal.
func bounded(what string, f func()) {
	const limit = 1 << 30
	done := make(chan struct{})
	defer close(done)
	go func() {
		heap := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
		tick := time.NewTicker(5 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-done:
				return
			case <-tick.C:
				if metrics.Read(heap); heap[0].Value.Uint64() > limit {
					panic(fmt.Sprintf("%s: heap over %d MiB: the parser runs away", what, limit>>20))
				}
			}
		}
	}()
	f()
}

func errStrings(errs []error) []string {
	var out []string
	for _, e := range errs {
		out = append(out, e.Error())
	}
	return out
}

func TestFlippedRecordByteSkipsTheChunk(t *testing.T) {
	// Byte 6079 (chunk 0, record data) set to 0x29 made the parser
	// allocate without bound.
	data := sample(t, "new-user-security.evtx")
	data[6079] = 0x29
	p := filepath.Join(t.TempDir(), "one.evtx")
	if err := os.WriteFile(p, data, 0o600); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var res result
	bounded(p, func() { res = readFrom(t, "one.evtx", f) })
	want := "one.evtx: chunk 0 (offset 0x1000): event records checksum mismatch (stored 0x"
	if len(res.errs) != 1 || !strings.HasPrefix(res.errs[0].Error(), want) || !strings.HasSuffix(res.errs[0].Error(), "; its 4 records (1 to 4) are skipped") {
		t.Errorf("errors %v, want one starting %q", res.errs, want)
	}
	if len(res.events) != 0 {
		t.Errorf("%d events read from the damaged chunk", len(res.events))
	}
}

func TestChecksums(t *testing.T) {
	orig := sample(t, "new-user-security.evtx")
	const c0 = 0x1000 // chunk 0
	setFlags := func(d []byte, flags uint32) { binary.LittleEndian.PutUint32(d[120:], flags) }
	zeroChunkSums := func(d []byte) {
		binary.LittleEndian.PutUint32(d[c0+52:], 0)
		binary.LittleEndian.PutUint32(d[c0+124:], 0)
	}
	tests := []struct {
		name   string
		damage func(d []byte)
		events int
		errs   []string
	}{
		{"intact", func(d []byte) {}, 4, nil},
		{"chunk header byte", func(d []byte) { d[c0+20] ^= 1 }, 0, []string{"chunk 0 (offset 0x1000): chunk header checksum mismatch"}},
		{"chunk header string table", func(d []byte) { d[c0+300] ^= 0x80 }, 0, []string{"chunk 0 (offset 0x1000): chunk header checksum mismatch"}},
		{"record byte", func(d []byte) { d[c0+0x300] ^= 0x10 }, 0, []string{"chunk 0 (offset 0x1000): event records checksum mismatch"}},
		{"slack past the records", func(d []byte) { d[len(d)-10] = 0xFF }, 4, nil},
		{"file header byte", func(d []byte) { d[8] ^= 1 }, 4, []string{"file header: checksum mismatch"}},
		// A stored 0 means "not computed" only in a file flagged NoCRC32
		// (as Application_no_crc32.evtx is).
		{"no checksums, no flag", zeroChunkSums, 0, []string{"chunk 0 (offset 0x1000): chunk header checksum mismatch (stored 0x00000000"}},
		{"no checksums, NoCRC32", func(d []byte) { zeroChunkSums(d); setFlags(d, flagNoCRC32) }, 4, nil},
		{"NoCRC32 with checksums", func(d []byte) { setFlags(d, flagNoCRC32); d[c0+0x300] ^= 0x10 }, 0, []string{"chunk 0 (offset 0x1000): event records checksum mismatch"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := bytes.Clone(orig)
			tt.damage(d)
			var res result
			bounded(tt.name, func() { res = readFrom(t, "x", bytes.NewReader(d)) })
			if len(res.events) != tt.events {
				t.Errorf("%d events, want %d", len(res.events), tt.events)
			}
			if len(res.errs) != len(tt.errs) {
				t.Fatalf("errors %q, want %d", errStrings(res.errs), len(tt.errs))
			}
			for i, e := range res.errs {
				if !strings.HasPrefix(e.Error(), "x: "+tt.errs[i]) {
					t.Errorf("error %q, want it to start %q", e, "x: "+tt.errs[i])
				}
			}
		})
	}
}

// TestRandomByteFlips flips one byte at a time in copies of the samples:
// every read must finish, and a flip must either be reported or leave the
// events as they were.
func TestRandomByteFlips(t *testing.T) {
	flips := 12
	if testing.Short() {
		flips = 3
	}
	rng := rand.New(rand.NewPCG(20251107, 1))
	names := make([]string, 0, len(counts))
	for name := range counts {
		// Flagged NoCRC32: its chunk cannot be checked, so damage
		// reaches the parser (see the package comment).
		if name != "Application_no_crc32.evtx" {
			names = append(names, name)
		}
	}
	slices.Sort(names)
	for _, name := range names {
		data := sample(t, name)
		orig := readFrom(t, name, bytes.NewReader(data))
		// The records of each chunk in use, where a flip matters most.
		var areas [][2]int
		for off := 0x1000; off+chunkSize <= len(data); off += chunkSize {
			if free := int(binary.LittleEndian.Uint32(data[off+48:])); string(data[off:off+8]) == chunkMagic && free > chunkHeaderSize && free <= chunkSize {
				areas = append(areas, [2]int{off, off + free})
			}
		}
		for range flips {
			off := rng.IntN(len(data))
			if a := areas[rng.IntN(len(areas))]; rng.IntN(2) == 0 {
				off = a[0] + rng.IntN(a[1]-a[0])
			}
			d := bytes.Clone(data)
			d[off] ^= byte(1 + rng.IntN(255))
			what := fmt.Sprintf("%s with byte 0x%X flipped", name, off)
			var res result
			bounded(what, func() { res = readFrom(t, name, bytes.NewReader(d)) })
			if slices.Equal(errStrings(res.errs), errStrings(orig.errs)) && !sameEvents(res, orig) {
				t.Errorf("%s: events changed and no error was reported", what)
			}
		}
	}
}

func sameEvents(a, b result) bool {
	return slices.EqualFunc(a.events, b.events, func(x, y *watcher.Event) bool { return x.Raw == y.Raw })
}

func TestCutFile(t *testing.T) {
	system := sample(t, "system.evtx")
	security := sample(t, "security.evtx")
	// system.evtx's last chunk, 14, holds records 1829 to 1881, which end
	// at 0x7638 in the chunk. security.evtx's header counts 26 chunks.
	const last = 0xE1000
	full := read(t, "security.evtx")
	before20 := 0
	for _, w := range full.where {
		var c int
		fmt.Sscanf(w, "chunk %d ", &c)
		if c < 20 {
			before20++
		}
	}
	tests := []struct {
		name   string
		data   []byte
		events int
		err    string
	}{
		{"in a chunk header", system[:last+100], 1828, "chunk 14 (offset 0xE1000): file ends 100 bytes into this chunk: the file is cut; chunk skipped"},
		{"in the records", system[:last+20000], 1828, "chunk 14 (offset 0xE1000): file ends 20000 bytes into this chunk: the file is cut; its 53 records (1829 to 1881) end at 0x7638 and are skipped"},
		{"after the records", system[:last+0x7638+1], 1881, "chunk 14 (offset 0xE1000): file ends 30265 bytes into this chunk: the file is cut; its 53 records (1829 to 1881) end before the cut and are read"},
		{"in slack", system[:last+chunkSize+5], 1881, "chunk 15 (offset 0xF1000): file ends 5 bytes into this chunk: the file is cut; chunk skipped"},
		{"at a chunk the header counts", security[:0x141000], before20, "chunk 20 (offset 0x141000): file ends where this chunk should start, but its header counts 26 chunks: the file is cut"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := readFrom(t, "cut.evtx", bytes.NewReader(tt.data))
			if len(res.events) != tt.events {
				t.Errorf("%d events, want %d", len(res.events), tt.events)
			}
			if want := "cut.evtx: " + tt.err; len(res.errs) != 1 || res.errs[0].Error() != want {
				t.Errorf("errors %q, want %q", errStrings(res.errs), want)
			}
		})
	}
	// The whole files: no error.
	for name, data := range map[string][]byte{"system.evtx": system, "security.evtx": security} {
		if res := readFrom(t, name, bytes.NewReader(data)); len(res.errs) != 0 {
			t.Errorf("%s: %v", name, res.errs)
		}
	}
}
