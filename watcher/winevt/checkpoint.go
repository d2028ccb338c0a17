package winevt

import (
	"encoding/json"
	"errors"
	"regexp"
	"strconv"
	"strings"
)

// sourceCheckpoint is the Data of a channel source's checkpoint, as JSON:
//
//	{"bookmark":"<BookmarkList>...</BookmarkList>","record":1234,"channel":"Application"}
//
// Bookmark is the Windows bookmark's XML: the position, which alone is
// resumed from (record numbers cannot place ForwardedEvents or a
// QueryList over several channels). Record, the last event's record ID,
// and Channel are for lag, diagnostics and noticing a checkpoint left by
// another channel.
type sourceCheckpoint struct {
	Bookmark string `json:"bookmark"`
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

func decodeCheckpoint(data []byte) (sourceCheckpoint, error) {
	var cp sourceCheckpoint
	if err := json.Unmarshal(data, &cp); err != nil {
		return cp, err
	}
	if !strings.Contains(cp.Bookmark, "<BookmarkList") {
		return cp, errors.New("no bookmark XML")
	}
	return cp, nil
}

var bookmarkEntryRE = regexp.MustCompile(`<Bookmark\s[^>]*>`)
var (
	bookmarkRecordRE  = regexp.MustCompile(`RecordId\s*=\s*['"](\d+)['"]`)
	bookmarkCurrentRE = regexp.MustCompile(`IsCurrent\s*=\s*['"]true['"]`)
)

// bookmarkRecord returns the record ID of a bookmark's XML: that of its
// current entry (the last event's, in a bookmark over several channels),
// or of its only one.
func bookmarkRecord(xml string) (uint64, bool) {
	var id string
	for _, b := range bookmarkEntryRE.FindAllString(xml, -1) {
		m := bookmarkRecordRE.FindStringSubmatch(b)
		if m == nil {
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
