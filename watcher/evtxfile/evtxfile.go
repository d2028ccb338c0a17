// Package evtxfile reads exported Windows event log files (.evtx) into
// watcher.Events, through www.velocidex.com/golang/evtx.
//
// It is for offline use (logmedic test, folder sources): the EventLog
// service holds live logs open, and the daemon reads live channels through
// EvtSubscribe instead.
//
// # Damaged files
//
// The parser can allocate without bound on a damaged record, which
// recover() cannot stop. So a chunk reaches it only once the chunk's
// header checksum (CRC-32 of bytes 0-120 and 128-512) and event records
// checksum (CRC-32 of the records, from 512 to the free space offset)
// match, and the chunk's slack past its records is zeroed first: the
// parser sees only checked bytes. A chunk that fails is reported and
// skipped whole, although some of its records may be readable. A file
// flagged NoCRC32 stores 0 for the checksums it did not compute: those
// chunks cannot be checked and are parsed as they are. Checksums catch
// damage, not forgery: a crafted file with valid checksums reaches the
// parser.
//
// A file that ends inside a chunk is reported; the chunk's records are
// read only if they all lie before the cut.
//
// # Rendering
//
// Each record's Raw is XML that logmedic renders from the parsed record
// with watcher.AppendXML, in EvtRender's layout, so rules, templates and
// reports see one form. It is not what EvtRender returns for the record:
// the parser drops the BinXML types of values, so in EventData and
// UserData
//   - HexInt32 and HexInt64 values are decimal (999, not 0x3e7), as the
//     parser gives them like UInt32 and UInt64;
//   - FILETIME values are seconds since 1970 with a fraction
//     (1530902264.4858177, not 2018-07-06T18:37:44.4858177Z), to about
//     240 ns, as the parser gives them like Real64;
//   - GUID values have no braces, as the parser gives them like strings;
//   - rarer types (Int8, Int16, SizeT, SYSTEMTIME, most arrays) are in
//     the parser's own form.
//
// The System fields are read by name and are written as EvtRender writes
// them (Keywords in hex, GUIDs in braces, TimeCreated from the record
// header's FILETIME). A rule on an EventData value of the types above sees
// other text offline than from the daemon.
package evtxfile

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"hash/crc32"
	"io"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/Velocidex/ordereddict"
	"www.velocidex.com/golang/evtx"

	"github.com/logmedic/logmedic/watcher"
	"github.com/logmedic/logmedic/watcher/decode"
)

// Magic is how an .evtx file starts.
const Magic = "ElfFile\x00"

const (
	chunkSize       = 0x10000
	chunkHeaderSize = 0x200
	chunkMagic      = "ElfChnk\x00"
	// flagNoCRC32 in the file header says the checksums were not
	// computed.
	flagNoCRC32 = 0x4
)

// Read decodes every record of the .evtx file r, named source, calling fn
// for each event in file order.
//
// Only chunks whose checksums match are parsed. A damaged chunk, or one
// the file ends inside, is reported to fn as an error naming the chunk and
// its offset, and reading goes on with the next chunk.
func Read(source string, r io.ReadSeeker, fn decode.Func) error {
	fail := func(where, msg string) error {
		return fn(nil, decode.Pos{Source: source, Where: where}, &decode.Error{Source: source, Where: where, Msg: msg})
	}
	if _, err := r.Seek(0, io.SeekStart); err != nil {
		return fail("", err.Error())
	}
	var fh [128]byte
	if n, err := io.ReadFull(r, fh[:]); err != nil {
		switch {
		case err != io.ErrUnexpectedEOF && err != io.EOF:
			return fail("", "read file header: "+err.Error())
		case n < len(Magic) || string(fh[:len(Magic)]) != Magic:
			return fail("", "not an .evtx file (bad file header magic)")
		}
		return fail("", "file ends inside its header")
	}
	var hdr evtx.EVTXHeader
	if err := binary.Read(bytes.NewReader(fh[:]), binary.LittleEndian, &hdr); err != nil {
		return fail("", "file header: "+err.Error())
	}
	if string(hdr.Magic[:]) != Magic {
		return fail("", "not an .evtx file (bad file header magic)")
	}
	rd := reader{source: source, fn: fn, noCRC: hdr.FileFlags&flagNoCRC32 != 0, chunks: int(hdr.ChunkCount)}
	headerSize := int64(hdr.HeaderBlockSize)
	if sum := crc32.ChecksumIEEE(fh[:120]); rd.mismatch(hdr.CheckSum, sum) {
		// The chunks carry their own checksums: read them where Windows
		// puts them.
		if err := fail("file header", fmt.Sprintf("checksum mismatch (stored 0x%08X, computed 0x%08X); its block size and chunk count are not used", hdr.CheckSum, sum)); err != nil {
			return err
		}
		headerSize, rd.chunks = 0, 0
	}
	if hdr.MajorVersion != 3 {
		return fail("", fmt.Sprintf("unsupported .evtx version %d.%d", hdr.MajorVersion, hdr.MinorVersion))
	}
	if headerSize == 0 {
		headerSize = 0x1000
	}
	buf := make([]byte, chunkSize)
	for i := 0; ; i++ {
		off := headerSize + int64(i)*chunkSize
		where := fmt.Sprintf("chunk %d (offset 0x%X)", i, off)
		n, err := readAt(r, off, buf)
		switch {
		case n == 0 && err == io.EOF:
			if i == 0 {
				return fail("", "file ends before its first chunk")
			}
			if i < rd.chunks {
				return fail(where, fmt.Sprintf("file ends where this chunk should start, but its header counts %d chunks: the file is cut", rd.chunks))
			}
			return nil
		case err != nil && err != io.ErrUnexpectedEOF:
			return fail(where, "read: "+err.Error())
		}
		if err := rd.chunk(i, off, buf, n); err != nil {
			return err
		}
		if n < chunkSize {
			return nil // the file ends inside this chunk
		}
	}
}

// readAt reads the chunk at off into b. A chunk the file ends inside
// gives the bytes read and io.ErrUnexpectedEOF.
func readAt(r io.ReadSeeker, off int64, b []byte) (int, error) {
	if _, err := r.Seek(off, io.SeekStart); err != nil {
		return 0, err
	}
	return io.ReadFull(r, b)
}

// reader reads one file's chunks.
type reader struct {
	source string
	fn     decode.Func
	noCRC  bool // the file header's NoCRC32 flag
	chunks int  // the chunk count of the file header
	ev     watcher.Event
	xml    []byte
}

// mismatch reports whether a stored checksum differs from the computed
// one. A file flagged NoCRC32 stores 0 for the checksums it did not
// compute: those cannot be verified.
func (rd *reader) mismatch(stored, computed uint32) bool {
	return stored != computed && (stored != 0 || !rd.noCRC)
}

// chunk reads chunk i at offset off, whose first n bytes are in b: n is
// less than chunkSize when the file ends inside the chunk.
func (rd *reader) chunk(i int, off int64, b []byte, n int) error {
	where := fmt.Sprintf("chunk %d (offset 0x%X)", i, off)
	fail := func(msg string) error {
		if n < chunkSize {
			msg = fmt.Sprintf("file ends %d bytes into this chunk: the file is cut; %s", n, msg)
		}
		return rd.fn(nil, decode.Pos{Source: rd.source, Where: where}, &decode.Error{Source: rd.source, Where: where, Msg: msg})
	}
	if n < chunkHeaderSize {
		return fail("chunk skipped")
	}
	clear(b[n:])
	var h evtx.ChunkHeader
	if err := binary.Read(bytes.NewReader(b), binary.LittleEndian, &h); err != nil {
		return fail(err.Error())
	}
	if string(h.Magic[:]) != chunkMagic {
		if h == (evtx.ChunkHeader{}) || i >= rd.chunks {
			// Never written, or slack past the chunks the file header
			// counts.
			if n < chunkSize {
				return fail("the chunk is unused")
			}
			return nil
		}
		return fail(fmt.Sprintf("bad chunk magic %q; chunk skipped", h.Magic[:]))
	}
	sum := crc32.NewIEEE()
	sum.Write(b[:120])
	sum.Write(b[128:chunkHeaderSize])
	if rd.mismatch(h.CheckSum, sum.Sum32()) {
		return fail(fmt.Sprintf("chunk header checksum mismatch (stored 0x%08X, computed 0x%08X); chunk skipped", h.CheckSum, sum.Sum32()))
	}
	if h.LastEventRecID == math.MaxUint64 {
		if n < chunkSize {
			return fail("the chunk is empty")
		}
		return nil // empty chunk
	}
	records := fmt.Sprintf("its %d records (%d to %d)", h.LastEventRecNumber-h.FirstEventRecNumber+1, h.FirstEventRecID, h.LastEventRecID)
	free := int(binary.LittleEndian.Uint32(b[48:]))
	stored := h.EventRecordCheckSum
	switch {
	case free < chunkHeaderSize || free > chunkSize:
		return fail(fmt.Sprintf("end of records 0x%X is outside the chunk; %s are skipped", free, records))
	case free > n:
		return fail(fmt.Sprintf("%s end at 0x%X and are skipped", records, free))
	}
	if computed := crc32.ChecksumIEEE(b[chunkHeaderSize:free]); rd.mismatch(stored, computed) {
		return fail(fmt.Sprintf("event records checksum mismatch (stored 0x%08X, computed 0x%08X); %s are skipped", stored, computed, records))
	}
	if n < chunkSize {
		if err := fail(fmt.Sprintf("%s end before the cut and are read", records)); err != nil {
			return err
		}
	}
	// The parser sees only checked bytes.
	clear(b[free:])
	return rd.records(i, off, b, h)
}

// records parses the checked chunk i and passes its events to fn.
func (rd *reader) records(i int, off int64, b []byte, h evtx.ChunkHeader) error {
	where := fmt.Sprintf("chunk %d (offset 0x%X)", i, off)
	recs, err := parseChunk(&evtx.Chunk{Header: h, Fd: bytes.NewReader(b)})
	if want := h.LastEventRecNumber - h.FirstEventRecNumber + 1; err == nil && uint64(len(recs)) < want {
		// The parser stops quietly at the first record it cannot read.
		err = fmt.Errorf("header lists %d records (%d to %d) but only %d could be read; the rest of the chunk is damaged",
			want, h.FirstEventRecID, h.LastEventRecID, len(recs))
	}
	if err != nil {
		if err := rd.fn(nil, decode.Pos{Source: rd.source, Where: where}, &decode.Error{Source: rd.source, Where: where, Msg: err.Error()}); err != nil {
			return err
		}
	}
	for n, rec := range recs {
		pos := decode.Pos{Source: rd.source, Where: fmt.Sprintf("chunk %d record %d", i, rec.Header.RecordID)}
		if err := convert(&rd.ev, rec, &rd.xml); err != nil {
			e := &decode.Error{Source: rd.source, Where: fmt.Sprintf("%s record %d (#%d in chunk)", where, rec.Header.RecordID, n), Msg: err.Error()}
			if err := rd.fn(nil, pos, e); err != nil {
				return err
			}
			continue
		}
		if err := rd.fn(&rd.ev, pos, nil); err != nil {
			return err
		}
	}
	return nil
}

// parseChunk parses one chunk, turning a parser panic on corrupt data into
// an error so one bad chunk never stops the file.
func parseChunk(c *evtx.Chunk) (recs []*evtx.EventRecord, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("corrupt chunk: %v; %d records read before it", r, len(recs))
		}
	}()
	return c.Parse(0)
}

// convert fills ev from a parsed record and renders its XML into Raw.
func convert(ev *watcher.Event, rec *evtx.EventRecord, raw *[]byte) error {
	root, ok := rec.Event.(*ordereddict.Dict)
	if !ok {
		return fmt.Errorf("record has no event")
	}
	e, ok := dict(root, "Event")
	if !ok {
		return fmt.Errorf("record has no <Event> element")
	}
	ev.Reset()
	sys, ok := dict(e, "System")
	if !ok {
		return fmt.Errorf("record has no <System> element")
	}
	if p, ok := dict(sys, "Provider"); ok {
		ev.Provider.Name = str(p, "Name")
		ev.Provider.GUID = braceGUID(str(p, "Guid"))
		ev.Provider.EventSourceName = str(p, "EventSourceName")
	}
	if id, ok := sys.Get("EventID"); ok {
		if d, ok := id.(*ordereddict.Dict); ok {
			ev.EventID = uint32(num(d, "Value"))
			if _, ok := d.Get("Qualifiers"); ok {
				ev.Qualifiers, ev.HasQualifiers = uint16(num(d, "Qualifiers")), true
			}
		} else {
			ev.EventID = uint32(toUint(id))
		}
	}
	ev.Version = uint8(num(sys, "Version"))
	ev.Level = uint8(num(sys, "Level"))
	ev.Task = uint16(num(sys, "Task"))
	ev.Opcode = uint8(num(sys, "Opcode"))
	ev.Keywords = num(sys, "Keywords")
	ev.RecordID = rec.Header.RecordID
	if v, ok := sys.Get("EventRecordID"); ok {
		ev.RecordID = toUint(v)
	}
	ev.TimeCreated = filetime(rec.Header.FileTime)
	if tc, ok := dict(sys, "TimeCreated"); ok {
		if v, ok := tc.Get("SystemTime"); ok {
			// The parser gives float seconds; keep the record header's
			// exact FILETIME when it is the same instant.
			if f, ok := v.(float64); ok {
				t := time.Unix(0, int64(f*1e9)).UTC()
				if d := t.Sub(ev.TimeCreated); d > time.Millisecond || d < -time.Millisecond {
					ev.TimeCreated = t
				}
			}
		}
	}
	if c, ok := dict(sys, "Correlation"); ok {
		ev.ActivityID = braceGUID(str(c, "ActivityID"))
		ev.RelatedActivityID = braceGUID(str(c, "RelatedActivityID"))
	}
	if x, ok := dict(sys, "Execution"); ok {
		ev.ProcessID = uint32(num(x, "ProcessID"))
		ev.ThreadID = uint32(num(x, "ThreadID"))
	}
	ev.Channel = str(sys, "Channel")
	ev.Computer = str(sys, "Computer")
	if s, ok := dict(sys, "Security"); ok {
		ev.UserID = str(s, "UserID")
	}
	if v, ok := e.Get("EventData"); ok {
		eventData(ev, v)
	}
	if ud, ok := dict(e, "UserData"); ok {
		for _, it := range ud.Items() {
			ev.UserDataName = it.Key
			userData(ev, it.Value)
		}
	}
	*raw = watcher.AppendXML((*raw)[:0], ev)
	ev.Raw = string(*raw)
	return nil
}

func eventData(ev *watcher.Event, v interface{}) {
	d, ok := v.(*ordereddict.Dict)
	if !ok {
		if s := toString(v); s != "" {
			ev.EventData = append(ev.EventData, watcher.Field{Value: s})
		}
		return
	}
	for _, it := range d.Items() {
		switch it.Key {
		case "Data":
			switch x := it.Value.(type) {
			case []interface{}:
				for _, e := range x {
					ev.EventData = append(ev.EventData, dataItem(e))
				}
			case []string:
				for _, e := range x {
					ev.EventData = append(ev.EventData, watcher.Field{Value: e})
				}
			default:
				ev.EventData = append(ev.EventData, dataItem(x))
			}
		case "Binary":
			ev.Binary = toString(it.Value)
		default:
			ev.EventData = append(ev.EventData, watcher.Field{Name: it.Key, Value: toString(it.Value)})
		}
	}
}

// dataItem reads one <Data> the parser left unnamed in its tree: a plain
// value, or {Name, Value} for a single named <Data>.
func dataItem(v interface{}) watcher.Field {
	if d, ok := v.(*ordereddict.Dict); ok {
		if n, ok := d.GetString("Name"); ok {
			val, _ := d.Get("Value")
			return watcher.Field{Name: n, Value: toString(val)}
		}
	}
	return watcher.Field{Value: toString(v)}
}

func userData(ev *watcher.Event, v interface{}) {
	d, ok := v.(*ordereddict.Dict)
	if !ok {
		return
	}
	for _, it := range d.Items() {
		if sub, ok := it.Value.(*ordereddict.Dict); ok {
			userData(ev, sub)
			continue
		}
		if strings.HasPrefix(it.Key, "xmlns") {
			continue
		}
		ev.UserData = append(ev.UserData, watcher.Field{Name: it.Key, Value: toString(it.Value)})
	}
}

func dict(d *ordereddict.Dict, key string) (*ordereddict.Dict, bool) {
	v, ok := d.Get(key)
	if !ok {
		return nil, false
	}
	c, ok := v.(*ordereddict.Dict)
	return c, ok
}

func str(d *ordereddict.Dict, key string) string {
	v, _ := d.Get(key)
	return toString(v)
}

func num(d *ordereddict.Dict, key string) uint64 {
	v, _ := d.Get(key)
	return toUint(v)
}

func toUint(v interface{}) uint64 {
	switch x := v.(type) {
	case uint8:
		return uint64(x)
	case uint16:
		return uint64(x)
	case uint32:
		return uint64(x)
	case uint64:
		return x
	case int:
		return uint64(x)
	case int32:
		return uint64(uint32(x))
	case int64:
		return uint64(x)
	case float64:
		return uint64(x)
	case string:
		n, _ := strconv.ParseUint(x, 0, 64)
		return n
	}
	return 0
}

func toString(v interface{}) string {
	switch x := v.(type) {
	case nil:
		return ""
	case string:
		// As an XML reader sees it once rendered.
		return decode.NormalizeNewlines(x)
	case []byte:
		return strings.ToUpper(hex.EncodeToString(x))
	case bool:
		return strconv.FormatBool(x)
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64)
	case float32:
		return strconv.FormatFloat(float64(x), 'f', -1, 32)
	case uint8, uint16, uint32, uint64:
		return strconv.FormatUint(toUint(x), 10)
	case int:
		return strconv.FormatInt(int64(x), 10)
	case int32:
		return strconv.FormatInt(int64(x), 10)
	case int64:
		return strconv.FormatInt(x, 10)
	case []interface{}:
		parts := make([]string, len(x))
		for i, e := range x {
			parts[i] = toString(e)
		}
		return strings.Join(parts, ", ")
	case *ordereddict.Dict:
		var b strings.Builder
		for i, it := range x.Items() {
			if i > 0 {
				b.WriteString(", ")
			}
			b.WriteString(it.Key + "=" + toString(it.Value))
		}
		return b.String()
	}
	return fmt.Sprint(v)
}

func braceGUID(s string) string {
	if s == "" || strings.HasPrefix(s, "{") {
		return s
	}
	return "{" + s + "}"
}

// filetime converts 100 ns ticks since 1601 to a time.
func filetime(ft uint64) time.Time {
	const epochDiff = 116444736000000000
	if ft < epochDiff {
		return time.Time{}
	}
	t := ft - epochDiff
	return time.Unix(int64(t/1e7), int64(t%1e7)*100).UTC()
}
