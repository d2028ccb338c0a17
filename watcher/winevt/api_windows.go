package winevt

import (
	"context"
	"time"
	"unsafe"

	"golang.org/x/sys/windows"
)

// NewAPI returns the API on the real wevtapi.dll. The DLL is loaded from
// System32 on first use.
func NewAPI() API { return winAPI{} }

type winAPI struct{}

// signal is a Signal on two auto-reset Windows events: event, which
// Windows sets, and stop, which Wait sets when its context is done. The
// logic is waitSignal's; Close must not run during a Wait.
type signal struct {
	event, stop windows.Handle
}

func (winAPI) NewSignal() (Signal, error) {
	event, err := windows.CreateEvent(nil, 0, 1, nil) // auto-reset, initially set
	if err != nil {
		return nil, err
	}
	stop, err := windows.CreateEvent(nil, 0, 0, nil)
	if err != nil {
		windows.CloseHandle(event)
		return nil, err
	}
	return &signal{event: event, stop: stop}, nil
}

// The returns of WaitForMultipleObjects (winbase.h).
const (
	waitObject0 = 0
	waitTimeout = 258
)

func (s *signal) Wait(ctx context.Context, timeout time.Duration) (bool, error) {
	return waitSignal(ctx, timeout, s)
}

func (s *signal) waitEither(timeout time.Duration) (woke, error) {
	ev, err := windows.WaitForMultipleObjects([]windows.Handle{s.event, s.stop}, false, millis(timeout))
	switch {
	case err != nil:
		return wokeNothing, err
	case ev == waitObject0:
		return wokeSignal, nil
	case ev == waitObject0+1:
		return wokeStop, nil
	case ev == waitTimeout:
		return wokeNothing, nil
	}
	return wokeNothing, ErrInvalidOperation
}

// setStop sets stop. It cannot fail on a valid handle, and it runs only
// during a Wait (waitSignal), so never after Close.
func (s *signal) setStop() { windows.SetEvent(s.stop) }

func (s *signal) resetStop() error { return windows.ResetEvent(s.stop) }

// Close closes both events. No Wait is running (the caller's part) and
// none has left a setStop running (waitSignal's), so nothing uses the
// handles afterwards.
func (s *signal) Close() error {
	err := windows.CloseHandle(s.event)
	if err2 := windows.CloseHandle(s.stop); err == nil {
		err = err2
	}
	return err
}

func (winAPI) Subscribe(sig Signal, channel, query string, bookmark Handle, flags SubscribeFlags) (Handle, error) {
	s, ok := sig.(*signal)
	if !ok {
		return 0, ErrInvalidParameter
	}
	ch, err := utf16PtrOrNil(channel)
	if err != nil {
		return 0, err
	}
	q, err := utf16PtrOrNil(query)
	if err != nil {
		return 0, err
	}
	// Pull mode: no context, no callback.
	return evtSubscribe(0, s.event, ch, q, bookmark, 0, 0, uint32(flags))
}

func (winAPI) Next(sub Handle, events []Handle) (int, error) {
	if len(events) == 0 {
		return 0, ErrInvalidParameter
	}
	var returned uint32
	// Timeout 0: the signal is the wait; EvtNext only takes what is ready.
	err := evtNext(sub, uint32(len(events)), &events[0], 0, 0, &returned)
	return min(int(returned), len(events)), err
}

func (winAPI) RenderXML(event Handle) ([]byte, error) {
	return renderLoop(nil, renderer(event, evtRenderEventXML))
}

func (winAPI) RenderBookmark(bookmark Handle) (string, error) {
	b, err := renderLoop(nil, renderer(bookmark, evtRenderBookmark))
	return string(b), err
}

// renderer calls EvtRender, whose sizes are in bytes.
func renderer(h Handle, flags uint32) renderCall {
	return func(buf []uint16) (uint32, error) {
		var used, props uint32
		err := evtRender(0, h, flags, uint32(len(buf))*2, &buf[0], &used, &props)
		return used/2 + used%2, err
	}
}

func (winAPI) CreateBookmark(xml string) (Handle, error) {
	p, err := utf16PtrOrNil(xml)
	if err != nil {
		return 0, err
	}
	return evtCreateBookmark(p)
}

func (winAPI) UpdateBookmark(bookmark, event Handle) error {
	return evtUpdateBookmark(bookmark, event)
}

func (winAPI) OpenPublisherMetadata(provider string, locale uint32) (Handle, error) {
	p, err := windows.UTF16PtrFromString(provider)
	if err != nil {
		return 0, err
	}
	return evtOpenPublisherMetadata(0, p, nil, locale, 0)
}

func (winAPI) FormatMessage(publisher, event Handle) (string, error) {
	b, err := renderLoop(nil, func(buf []uint16) (uint32, error) {
		var used uint32 // in characters
		err := evtFormatMessage(publisher, event, 0, 0, nil, evtFormatMessageEvent, uint32(len(buf)), &buf[0], &used)
		return used, err
	})
	return string(b), err
}

func (winAPI) LogInfo(channel string) (LogInfo, error) {
	p, err := windows.UTF16PtrFromString(channel)
	if err != nil {
		return LogInfo{}, err
	}
	h, err := evtOpenLog(0, p, evtOpenChannelPath)
	if err != nil {
		return LogInfo{}, err
	}
	defer evtClose(h)
	var info LogInfo
	if info.OldestRecord, err = logProperty(h, evtLogOldestRecordNumber); err != nil {
		return LogInfo{}, err
	}
	if info.Records, err = logProperty(h, evtLogNumberOfLogRecords); err != nil {
		return LogInfo{}, err
	}
	return info, nil
}

// logProperty reads a numeric log property with EvtGetLogInfo.
func logProperty(log Handle, id uint32) (uint64, error) {
	var v evtVariant
	var used uint32
	if err := evtGetLogInfo(log, id, uint32(unsafe.Sizeof(v)), &v, &used); err != nil {
		return 0, err
	}
	return v.uint64Value()
}

func (winAPI) Close(h Handle) error {
	if h == 0 {
		return nil
	}
	return evtClose(h)
}

// utf16PtrOrNil converts s for a Windows call, with nil for "".
func utf16PtrOrNil(s string) (*uint16, error) {
	if s == "" {
		return nil, nil
	}
	return windows.UTF16PtrFromString(s)
}
