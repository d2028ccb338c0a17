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
// Before it has a bookmark, a source commits when it began reading:
//
//	{"since":"2026-01-02T03:04:05.123456789Z","channel":"Application"}
//
// which is resumed from by reading from the oldest record, skipping the
// events created before since (the zero time, 0001-01-01T00:00:00Z, skips
// none), so that the events logged while the daemon was down are read
// even when nothing was delivered before it stopped.
type sourceCheckpoint struct {
	Bookmark string `json:"bookmark,omitempty"`
	Since    string `json:"since,omitempty"`
	Record   uint64 `json:"record,omitempty"`
	Channel  string `json:"channel,omitempty"`
}

func encodeCheckpoint(cp sourceCheckpoint) []byte {
	b, err := json.Marshal(cp)
	if err != nil {
		panic("winevt: encode checkpoint: " + err.Error()) // strings and a number cannot fail
	}
	return b
}

// sinceCheckpoint is the checkpoint of a source without a bookmark that
// began reading at since.
func sinceCheckpoint(since time.Time, channel string) []byte {
	return encodeCheckpoint(sourceCheckpoint{Since: since.UTC().Format(time.RFC3339Nano), Channel: channel})
}

// decodeCheckpoint decodes a checkpoint with a bookmark, or one with
// since only, whose time it returns.
func decodeCheckpoint(data []byte) (sourceCheckpoint, time.Time, error) {
	var cp sourceCheckpoint
	if err := json.Unmarshal(data, &cp); err != nil {
		return cp, time.Time{}, err
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
	switch {
	case err != nil:
		return ""
	case cp.Bookmark == "" && since.IsZero():
		return "reading from the oldest record, no event yet"
	case cp.Bookmark == "":
		return "reading from " + since.UTC().Format(time.RFC3339) + ", no event yet"
	case cp.Record > 0:
		return "after record " + strconv.FormatUint(cp.Record, 10)
	}
	return "at a bookmark"
}
