//go:build !windows

package main

import "github.com/logmedic/logmedic/watcher/winevt"

// defaultEventLogAPI is nil: there is no event log API here.
func defaultEventLogAPI() winevt.API { return nil }
