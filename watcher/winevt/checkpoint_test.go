package winevt

import (
	"strings"
	"testing"
	"time"
)

func TestDescribeCheckpoint(t *testing.T) {
	since := time.Date(2026, 1, 2, 3, 4, 5, 6, time.UTC)
	tests := []struct {
		name string
		data []byte
		want string
	}{
		{"bookmark", encodeCheckpoint(sourceCheckpoint{Bookmark: "<BookmarkList>\r\n  <Bookmark Channel='Application' RecordId='1234' IsCurrent='true'/>\r\n</BookmarkList>", Record: 1234, Channel: "Application"}), "after record 1234"},
		{"bookmark without a record", encodeCheckpoint(sourceCheckpoint{Bookmark: "<BookmarkList></BookmarkList>"}), "at a bookmark"},
		{"since", sinceCheckpoint(since, 0, 0, "Application"), "reading from 2026-01-02T03:04:05Z, no event yet"},
		{"since up to a record", sinceCheckpoint(since, 0, 5000, "Application"), "reading from 2026-01-02T03:04:05Z, no event yet"},
		{"since after a record", sinceCheckpoint(since, 1234, 0, "Application"), "reading after record 1234, no event yet"},
		{"since the oldest", sinceCheckpoint(time.Time{}, 0, 0, "Application"), "reading from the oldest record, no event yet"},
		{"catching up", encodeCheckpoint(sourceCheckpoint{Bookmark: afterRecordBookmark("Application", 1234), Record: 1234, Channel: "Application", Cutoff: formatTime(since), Until: 5000}),
			"after record 1234 (catching up: skipping events created before 2026-01-02T03:04:05Z up to record 5000)"},
		{"catching up, no record bound", encodeCheckpoint(sourceCheckpoint{Bookmark: "<BookmarkList></BookmarkList>", Cutoff: formatTime(since)}),
			"at a bookmark (catching up: skipping events created before 2026-01-02T03:04:05Z)"},
		{"bad cutoff", []byte(`{"bookmark":"<BookmarkList></BookmarkList>","cutoff":"yesterday"}`), ""},
		{"a folder's checkpoint", []byte(`{"count":3}`), ""},
		{"not JSON", []byte("12"), ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := DescribeCheckpoint(tt.data); got != tt.want {
				t.Errorf("DescribeCheckpoint = %q, want %q", got, tt.want)
			}
		})
	}
}

// TestAfterRecordBookmark: the bookmark made from a since checkpoint's
// record is as Windows renders one, and reads back.
func TestAfterRecordBookmark(t *testing.T) {
	got := afterRecordBookmark("Microsoft-Windows-Backup", 42)
	want := "<BookmarkList>\r\n  <Bookmark Channel='Microsoft-Windows-Backup' RecordId='42' IsCurrent='true'/>\r\n</BookmarkList>"
	if got != want {
		t.Errorf("afterRecordBookmark = %q, want %q", got, want)
	}
	if n, ok := bookmarkRecord(got, "microsoft-windows-backup"); !ok || n != 42 {
		t.Errorf("bookmarkRecord = %d, %v", n, ok)
	}
	if got := afterRecordBookmark("a'b&c", 1); !strings.Contains(got, "Channel='a&apos;b&amp;c'") {
		t.Errorf("not escaped: %q", got)
	}
}
