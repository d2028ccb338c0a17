//go:build generate

package winevt

// Regenerate the wevtapi.dll binding with
//
//	go generate -tags generate ./watcher/winevt
//
// CI checks that this leaves zsyscall_windows.go unchanged.

//go:generate go run golang.org/x/sys/windows/mkwinsyscall -output zsyscall_windows.go syscall_windows.go
