package winevt

// The wevtapi.dll functions the channel source uses, for mkwinsyscall
// (go generate -tags generate ./watcher/winevt writes
// zsyscall_windows.go). They stay private: api_windows.go wraps them in
// the API interface. Every one returns FALSE or NULL on failure with the
// error in GetLastError, which is mkwinsyscall's default
// [failretval==0].
//
// https://learn.microsoft.com/windows/win32/wes/windows-event-log-functions

//sys	evtSubscribe(session Handle, signalEvent windows.Handle, channelPath *uint16, query *uint16, bookmark Handle, context uintptr, callback uintptr, flags uint32) (h Handle, err error) = wevtapi.EvtSubscribe
//sys	evtNext(resultSet Handle, eventsSize uint32, events *Handle, timeout uint32, flags uint32, returned *uint32) (err error) = wevtapi.EvtNext
//sys	evtRender(context Handle, fragment Handle, flags uint32, bufferSize uint32, buffer *uint16, bufferUsed *uint32, propertyCount *uint32) (err error) = wevtapi.EvtRender
//sys	evtClose(object Handle) (err error) = wevtapi.EvtClose
//sys	evtCreateBookmark(bookmarkXML *uint16) (h Handle, err error) = wevtapi.EvtCreateBookmark
//sys	evtUpdateBookmark(bookmark Handle, event Handle) (err error) = wevtapi.EvtUpdateBookmark
//sys	evtFormatMessage(publisherMetadata Handle, event Handle, messageID uint32, valueCount uint32, values *evtVariant, flags uint32, bufferSize uint32, buffer *uint16, bufferUsed *uint32) (err error) = wevtapi.EvtFormatMessage
//sys	evtOpenPublisherMetadata(session Handle, publisherID *uint16, logFilePath *uint16, locale uint32, flags uint32) (h Handle, err error) = wevtapi.EvtOpenPublisherMetadata
//sys	evtOpenLog(session Handle, path *uint16, flags uint32) (h Handle, err error) = wevtapi.EvtOpenLog
//sys	evtGetLogInfo(log Handle, propertyID uint32, bufferSize uint32, buffer *evtVariant, bufferUsed *uint32) (err error) = wevtapi.EvtGetLogInfo

// Flags and property IDs (winevt.h).
const (
	evtRenderEventXML     = 1 // EVT_RENDER_FLAGS EvtRenderEventXml
	evtRenderBookmark     = 2 // EvtRenderBookmark
	evtFormatMessageEvent = 1 // EVT_FORMAT_MESSAGE_FLAGS EvtFormatMessageEvent
	evtOpenChannelPath    = 1 // EVT_OPEN_LOG_FLAGS EvtOpenChannelPath

	evtLogNumberOfLogRecords = 5 // EVT_LOG_PROPERTY_ID
	evtLogOldestRecordNumber = 6
)
