package winevt

import (
	"encoding/json"
	"errors"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// sourceCheckpoint is the Data of a channel source's checkpoint, as JSON:
//
//	{"bookmark":"<BookmarkList>...</BookmarkList>","record":1234,"channel":"Application"}
//
// Bookmark is the Windows bookmark's XML: the position, which alone is
// resumed from (record numbers cannot place ForwardedEvents or a
// QueryList over several channels). Record, the record number of the
// bookmarked event in the source's channel, and Channel are for lag,
// diagnostics and noticing a checkpoint left by another channel.
//
// While the source catches up with the log as it was when it began
// reading (a first start's lookback, or a restart from a since
// checkpoint), every checkpoint also holds the catch-up's cutoff: the
// events created before Cutoff are skipped among the records up to
// Until, the newest record number of the channel's log when reading from
// the oldest record began. The records after Until are all new, whatever
// their time.
//
//	{"bookmark":"...","record":1234,"channel":"Application","cutoff":"2026-01-02T03:04:05Z","until":5000}
//
// The catch-up ends once the committed record reaches Until. Until is 0
// when it is not known (no single named channel, or its log information
// could not be read): the cutoff then applies to every record, until a
// read finds nothing more (ERROR_NO_MORE_ITEMS).
//
// Before it has a bookmark, a source commits when it began reading:
//
//	{"since":"2026-01-02T03:04:05.123456789Z","record":1234,"channel":"Application"}
//
// Record, when set, is the newest record number of the channel's log
// when the source began reading new events: it is resumed from after
// that record (a bookmark made from it), whatever the events' times. A
// since checkpoint without record (a QueryList without a channel, the
// log information not read, an empty log, or a lookback) is resumed from
// by reading from the oldest record, skipping the events created before
// since (the zero time, 0001-01-01T00:00:00Z, skips none) among the
// records up to Until when it is set, so that the events logged while
// the daemon was down are read even when nothing was delivered before it
// stopped.
type sourceCheckpoint struct {
	Bookmark string `json:"bookmark,omitempty"`
	Since    string `json:"since,omitempty"`
	Record   uint64 `json:"record,omitempty"`
	Channel  string `json:"channel,omitempty"`
	Cutoff   string `json:"cutoff,omitempty"`
	Until    uint64 `json:"until,omitempty"`
}

func encodeCheckpoint(cp sourceCheckpoint) []byte {
	b, err := json.Marshal(cp)
	if err != nil {
		panic("winevt: encode checkpoint: " + err.Error()) // strings and numbers cannot fail
	}
	return b
}

// formatTime is how times are written in checkpoints.
func formatTime(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }

// sinceCheckpoint is the checkpoint of a source without a bookmark that
// began reading at since: after record when it is not 0, else from the
// oldest record, skipping the events created before since among the
// records up to until (all when until is 0).
func sinceCheckpoint(since time.Time, record, until uint64, channel string) []byte {
	return encodeCheckpoint(sourceCheckpoint{Since: formatTime(since), Record: record, Until: until, Channel: channel})
}

// decodeCheckpoint decodes a checkpoint with a bookmark, or one with
// since only, whose time it returns.
func decodeCheckpoint(data []byte) (sourceCheckpoint, time.Time, error) {
	var cp sourceCheckpoint
	if err := json.Unmarshal(data, &cp); err != nil {
		return cp, time.Time{}, err
	}
	if cp.Cutoff != "" {
		if _, err := time.Parse(time.RFC3339Nano, cp.Cutoff); err != nil {
			return cp, time.Time{}, errors.New("bad cutoff: " + err.Error())
		}
	}
	if cp.Bookmark == "" && cp.Since != "" {
		since, err := time.Parse(time.RFC3339Nano, cp.Since)
		if err != nil {
			return cp, time.Time{}, errors.New("bad since: " + err.Error())
		}
		return cp, since, nil
	}
	if !strings.Contains(cp.Bookmark, "<BookmarkList") {
		return cp, time.Time{}, errors.New("no bookmark XML")
	}
	return cp, time.Time{}, nil
}

// cutoff returns the catch-up's cutoff, the zero time when there is
// none. decodeCheckpoint checked it.
func (cp sourceCheckpoint) cutoff() time.Time {
	t, _ := time.Parse(time.RFC3339Nano, cp.Cutoff)
	return t
}

// afterRecordBookmark is the XML of a bookmark on record of channel, as
// Windows renders one: resuming from it reads the records after it.
func afterRecordBookmark(channel string, record uint64) string {
	return "<BookmarkList>\r\n  <Bookmark Channel='" + xmlAttrEscaper.Replace(channel) + "' RecordId='" +
		strconv.FormatUint(record, 10) + "' IsCurrent='true'/>\r\n</BookmarkList>"
}

var xmlAttrEscaper = strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;", "'", "&apos;", `"`, "&quot;")

var bookmarkEntryRE = regexp.MustCompile(`<Bookmark\s[^>]*>`)
var (
	bookmarkRecordRE  = regexp.MustCompile(`RecordId\s*=\s*['"](\d+)['"]`)
	bookmarkChannelRE = regexp.MustCompile(`Channel\s*=\s*(?:'([^']*)'|"([^"]*)")`)
	bookmarkCurrentRE = regexp.MustCompile(`IsCurrent\s*=\s*['"]true['"]`)
)

// bookmarkRecord returns the record ID of a bookmark's XML: that of its
// entry for channel when channel is not "", else that of its current
// entry (the last event's, in a bookmark over several channels), or of
// its only one.
func bookmarkRecord(xml, channel string) (uint64, bool) {
	var id string
	for _, b := range bookmarkEntryRE.FindAllString(xml, -1) {
		m := bookmarkRecordRE.FindStringSubmatch(b)
		if m == nil {
			continue
		}
		if channel != "" {
			if c := bookmarkChannelRE.FindStringSubmatch(b); c != nil && strings.EqualFold(c[1]+c[2], channel) {
				id = m[1]
			}
			continue
		}
		if id == "" || bookmarkCurrentRE.MatchString(b) {
			id = m[1]
		}
	}
	if id == "" {
		return 0, false
	}
	n, err := strconv.ParseUint(id, 10, 64)
	return n, err == nil
}

// DescribeCheckpoint says, for people, where a channel source's
// checkpoint data stands: "after record 1234", "reading from
// 2026-01-02T03:04:05Z, no event yet", or "" when data is not a channel
// source's checkpoint.
func DescribeCheckpoint(data []byte) string {
	cp, since, err := decodeCheckpoint(data)
	var s string
	switch {
	case err != nil:
		return ""
	case cp.Bookmark == "" && cp.Record > 0:
		return "reading after record " + strconv.FormatUint(cp.Record, 10) + ", no event yet"
	case cp.Bookmark == "" && since.IsZero():
		return "reading from the oldest record, no event yet"
	case cp.Bookmark == "":
		return "reading from " + since.UTC().Format(time.RFC3339) + ", no event yet"
	case cp.Record > 0:
		s = "after record " + strconv.FormatUint(cp.Record, 10)
	default:
		s = "at a bookmark"
	}
	if cp.Cutoff != "" {
		s += " (catching up: skipping events created before " + cp.cutoff().UTC().Format(time.RFC3339)
		if cp.Until > 0 {
			s += " up to record " + strconv.FormatUint(cp.Until, 10)
		}
		s += ")"
	}
	return s
}
