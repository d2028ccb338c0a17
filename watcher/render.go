package watcher

import "strconv"

// AppendXML appends ev rendered as EvtRender(EvtRenderEventXml) writes
// events: single-quoted attributes, no whitespace between elements, text
// escaped for XML. Control characters are written as they are, as Windows
// does.
func AppendXML(b []byte, ev *Event) []byte {
	b = append(b, "<Event xmlns='http://schemas.microsoft.com/win/2004/08/events/event'><System><Provider Name='"...)
	b = appendEscaped(b, ev.Provider.Name)
	b = append(b, '\'')
	if ev.Provider.GUID != "" {
		b = append(b, " Guid='"...)
		b = appendEscaped(b, ev.Provider.GUID)
		b = append(b, '\'')
	}
	if ev.Provider.EventSourceName != "" {
		b = append(b, " EventSourceName='"...)
		b = appendEscaped(b, ev.Provider.EventSourceName)
		b = append(b, '\'')
	}
	b = append(b, "/><EventID"...)
	if ev.HasQualifiers {
		b = append(b, " Qualifiers='"...)
		b = strconv.AppendUint(b, uint64(ev.Qualifiers), 10)
		b = append(b, '\'')
	}
	b = append(b, '>')
	b = strconv.AppendUint(b, uint64(ev.EventID), 10)
	b = append(b, "</EventID><Version>"...)
	b = strconv.AppendUint(b, uint64(ev.Version), 10)
	b = append(b, "</Version><Level>"...)
	b = strconv.AppendUint(b, uint64(ev.Level), 10)
	b = append(b, "</Level><Task>"...)
	b = strconv.AppendUint(b, uint64(ev.Task), 10)
	b = append(b, "</Task><Opcode>"...)
	b = strconv.AppendUint(b, uint64(ev.Opcode), 10)
	b = append(b, "</Opcode><Keywords>0x"...)
	b = strconv.AppendUint(b, ev.Keywords, 16)
	b = append(b, "</Keywords><TimeCreated SystemTime='"...)
	b = ev.TimeCreated.UTC().AppendFormat(b, "2006-01-02T15:04:05.000000000Z")
	b = append(b, "'/><EventRecordID>"...)
	b = strconv.AppendUint(b, ev.RecordID, 10)
	b = append(b, "</EventRecordID><Correlation"...)
	if ev.ActivityID != "" {
		b = append(b, " ActivityID='"...)
		b = appendEscaped(b, ev.ActivityID)
		b = append(b, '\'')
	}
	if ev.RelatedActivityID != "" {
		b = append(b, " RelatedActivityID='"...)
		b = appendEscaped(b, ev.RelatedActivityID)
		b = append(b, '\'')
	}
	b = append(b, "/><Execution ProcessID='"...)
	b = strconv.AppendUint(b, uint64(ev.ProcessID), 10)
	b = append(b, "' ThreadID='"...)
	b = strconv.AppendUint(b, uint64(ev.ThreadID), 10)
	b = append(b, "'/><Channel>"...)
	b = appendEscaped(b, ev.Channel)
	b = append(b, "</Channel><Computer>"...)
	b = appendEscaped(b, ev.Computer)
	b = append(b, "</Computer><Security"...)
	if ev.UserID != "" {
		b = append(b, " UserID='"...)
		b = appendEscaped(b, ev.UserID)
		b = append(b, '\'')
	}
	b = append(b, "/></System>"...)
	if len(ev.EventData) > 0 || ev.Binary != "" {
		b = append(b, "<EventData>"...)
		for _, f := range ev.EventData {
			if f.Name == "" {
				b = append(b, "<Data>"...)
			} else {
				b = append(b, "<Data Name='"...)
				b = appendEscaped(b, f.Name)
				b = append(b, "'>"...)
			}
			b = appendEscaped(b, f.Value)
			b = append(b, "</Data>"...)
		}
		if ev.Binary != "" {
			b = append(b, "<Binary>"...)
			b = appendEscaped(b, ev.Binary)
			b = append(b, "</Binary>"...)
		}
		b = append(b, "</EventData>"...)
	}
	if ev.UserDataName != "" {
		b = append(b, "<UserData><"...)
		b = append(b, ev.UserDataName...)
		b = append(b, '>')
		for _, f := range ev.UserData {
			b = append(b, '<')
			b = append(b, f.Name...)
			b = append(b, '>')
			b = appendEscaped(b, f.Value)
			b = append(b, "</"...)
			b = append(b, f.Name...)
			b = append(b, '>')
		}
		b = append(b, "</"...)
		b = append(b, ev.UserDataName...)
		b = append(b, "></UserData>"...)
	}
	if ev.Rendering.Message != "" || ev.Rendering.Level != "" {
		b = append(b, "<RenderingInfo"...)
		if ev.Rendering.Culture != "" {
			b = append(b, " Culture='"...)
			b = appendEscaped(b, ev.Rendering.Culture)
			b = append(b, '\'')
		}
		b = append(b, "><Message>"...)
		b = appendEscaped(b, ev.Rendering.Message)
		b = append(b, "</Message><Level>"...)
		b = appendEscaped(b, ev.Rendering.Level)
		b = append(b, "</Level></RenderingInfo>"...)
	}
	return append(b, "</Event>"...)
}

func appendEscaped(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case '<':
			b = append(b, "&lt;"...)
		case '>':
			b = append(b, "&gt;"...)
		case '&':
			b = append(b, "&amp;"...)
		case '\'':
			b = append(b, "&apos;"...)
		case '"':
			b = append(b, "&quot;"...)
		default:
			b = append(b, c)
		}
	}
	return b
}
