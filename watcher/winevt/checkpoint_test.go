package winevt

import (
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
		{"since", sinceCheckpoint(since, "Application"), "reading from 2026-01-02T03:04:05Z, no event yet"},
		{"since the oldest", sinceCheckpoint(time.Time{}, "Application"), "reading from the oldest record, no event yet"},
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
