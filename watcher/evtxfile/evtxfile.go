// Package evtxfile reads exported Windows event log files (.evtx) into
// watcher.Events, through www.velocidex.com/golang/evtx.
//
// It is for offline use (logmedic test, folder sources): the EventLog
// service holds live logs open, and the daemon reads live channels through
// EvtSubscribe instead. Each record's Raw is an EvtRender-style XML
// rendering, so rules, templates and reports see one form.
package evtxfile

import (
	"encoding/binary"
	"encoding/hex"
	"fmt"
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
	chunkSize  = 0x10000
	chunkMagic = "ElfChnk\x00"
)

// Read decodes every record of the .evtx file r, named source, calling fn
// for each event in file order. A damaged chunk is reported to fn as an
// error naming the chunk and its offset, and reading goes on with the next
// chunk.
func Read(source string, r io.ReadSeeker, fn decode.Func) error {
	var hdr evtx.EVTXHeader
	if _, err := r.Seek(0, io.SeekStart); err != nil {
		return fn(nil, decode.Pos{Source: source}, &decode.Error{Source: source, Msg: err.Error()})
	}
	if err := binary.Read(r, binary.LittleEndian, &hdr); err != nil {
		return fn(nil, decode.Pos{Source: source}, &decode.Error{Source: source, Msg: "file header: " + err.Error()})
	}
	if string(hdr.Magic[:]) != Magic {
		return fn(nil, decode.Pos{Source: source}, &decode.Error{Source: source, Msg: "not an .evtx file (bad file header magic)"})
	}
	if hdr.MajorVersion != 3 {
		return fn(nil, decode.Pos{Source: source}, &decode.Error{Source: source, Msg: fmt.Sprintf("unsupported .evtx version %d.%d", hdr.MajorVersion, hdr.MinorVersion)})
	}
	ev := new(watcher.Event)
	var raw []byte
	headerSize := int64(hdr.HeaderBlockSize)
	if headerSize == 0 {
		headerSize = 0x1000
	}
	for i := 0; ; i++ {
		off := headerSize + int64(i)*chunkSize
		where := fmt.Sprintf("chunk %d (offset 0x%X)", i, off)
		chunk, err := evtx.NewChunk(r, off)
		if err != nil {
			if i > 0 && isEOF(err) {
				return nil
			}
			if isEOF(err) {
				return fn(nil, decode.Pos{Source: source}, &decode.Error{Source: source, Where: where, Msg: "file ends before its first chunk"})
			}
			if err := fn(nil, decode.Pos{Source: source, Where: where}, &decode.Error{Source: source, Where: where, Msg: err.Error()}); err != nil {
				return err
			}
			continue
		}
		if string(chunk.Header.Magic[:]) != chunkMagic {
			if chunk.Header == (evtx.ChunkHeader{}) || i >= int(hdr.ChunkCount) {
				// Never written, or slack past the chunks the file
				// header counts.
				continue
			}
			if err := fn(nil, decode.Pos{Source: source, Where: where}, &decode.Error{Source: source, Where: where, Msg: fmt.Sprintf("bad chunk magic %q; chunk skipped", chunk.Header.Magic[:])}); err != nil {
				return err
			}
			continue
		}
		if chunk.Header.LastEventRecID == math.MaxUint64 {
			continue // empty chunk
		}
		records, err := parseChunk(chunk)
		if want := chunk.Header.LastEventRecNumber - chunk.Header.FirstEventRecNumber + 1; err == nil && uint64(len(records)) < want {
			// The parser stops quietly at the first damaged record.
			err = fmt.Errorf("header lists %d records (%d to %d) but only %d could be read; the rest of the chunk is damaged",
				want, chunk.Header.FirstEventRecID, chunk.Header.LastEventRecID, len(records))
		}
		if err != nil {
			if err := fn(nil, decode.Pos{Source: source, Where: where}, &decode.Error{Source: source, Where: where, Msg: err.Error()}); err != nil {
				return err
			}
		}
		for n, rec := range records {
			pos := decode.Pos{Source: source, Where: fmt.Sprintf("chunk %d record %d", i, rec.Header.RecordID)}
			if err := convert(ev, rec, &raw); err != nil {
				e := &decode.Error{Source: source, Where: fmt.Sprintf("chunk %d (offset 0x%X) record %d (#%d in chunk)", i, off, rec.Header.RecordID, n), Msg: err.Error()}
				if err := fn(nil, pos, e); err != nil {
					return err
				}
				continue
			}
			if err := fn(ev, pos, nil); err != nil {
				return err
			}
		}
	}
}

func isEOF(err error) bool {
	return err == io.EOF || err == io.ErrUnexpectedEOF || strings.Contains(err.Error(), "EOF")
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
