package decode

import (
	"strconv"
	"strings"

	"github.com/logmedic/logmedic/watcher"
)

// Event Viewer's "Copy details as text" (English UI):
//
//	Log Name:      Application
//	Source:        Microsoft-Windows-Backup
//	Date:          11/21/2026 2:03:11 AM
//	Event ID:      517
//	Task Category: None
//	Level:         Error
//	Keywords:
//	User:          SYSTEM
//	Computer:      SRV-DC02
//	Description:
//	Backup started at ... failed with following error code '0x8078010D' ...
//	Event Xml:
//	<Event xmlns="http://schemas.microsoft.com/win/2004/08/events/event">...

const logNameLabel = "Log Name:"

func isEventViewerText(s string) bool {
	s = strings.TrimLeft(s, " \t\n\uFEFF")
	return strings.HasPrefix(s, logNameLabel)
}

type header struct {
	logName, source, eventID, taskCategory, level, computer, description string
}

// fill sets what the XML of a copied event lacks from its text header.
func (h *header) fill(ev *watcher.Event) {
	if ev.Rendering.Message == "" {
		ev.Rendering.Message = h.description
	}
	if ev.Rendering.Level == "" {
		ev.Rendering.Level = h.level
	}
	if ev.Rendering.Task == "" {
		ev.Rendering.Task = h.taskCategory
	}
	if ev.Channel == "" {
		ev.Channel = h.logName
	}
	if ev.Provider.Name == "" {
		ev.Provider.Name = h.source
	}
	if ev.Computer == "" {
		ev.Computer = h.computer
	}
}

// copies decodes one or more Event Viewer text copies in d.s.
func (d *textDecoder) copies() error {
	var starts []int
	for off := 0; off < len(d.s); {
		line := firstLine(d.s[off:])
		if strings.HasPrefix(strings.TrimLeft(line, " \t\uFEFF"), logNameLabel) {
			starts = append(starts, off)
		}
		off += len(line) + 1
	}
	for i, start := range starts {
		end := len(d.s)
		if i+1 < len(starts) {
			end = starts[i+1]
		}
		if err := d.copy(start, end); err != nil {
			return err
		}
	}
	return nil
}

func (d *textDecoder) copy(start, end int) error {
	var h header
	var desc []string
	inDesc := false
	off := start
	for off < end {
		line := firstLine(d.s[off:end])
		next := off + len(line) + 1
		trimmed := strings.TrimSpace(line)
		if trimmed == "Event Xml:" {
			h.description = strings.TrimSpace(strings.Join(desc, "\n"))
			if next > end {
				next = end
			}
			return d.xmlStream(next, end, &h)
		}
		if inDesc {
			desc = append(desc, line)
		} else if label, value, ok := strings.Cut(trimmed, ":"); ok {
			value = strings.TrimSpace(value)
			switch strings.TrimLeft(label, "\uFEFF") {
			case "Log Name":
				h.logName = value
			case "Source":
				h.source = value
			case "Event ID":
				h.eventID = value
			case "Task Category":
				h.taskCategory = value
			case "Level":
				h.level = value
			case "Computer":
				h.computer = value
			case "Description":
				inDesc = true
			}
		}
		off = next
	}
	// No "Event Xml:" part: the header is all there is.
	h.description = strings.TrimSpace(strings.Join(desc, "\n"))
	id, err := strconv.ParseUint(h.eventID, 10, 32)
	if err != nil {
		return d.fail(start, "Event Viewer copy has no \"Event Xml:\" part and no valid \"Event ID:\" line")
	}
	ev := d.ev
	ev.Reset()
	ev.EventID = uint32(id)
	if lv, ok := watcher.ParseLevel(h.level); ok {
		ev.Level = lv
	}
	h.fill(ev)
	ev.Raw = d.s[start:end]
	l, c := d.lineCol(start)
	return d.fn(ev, Pos{Source: d.source, Line: l, Col: c}, nil)
}
