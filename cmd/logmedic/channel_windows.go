package main

import "github.com/logmedic/logmedic/watcher/winevt"

func defaultEventLogAPI() winevt.API { return winevt.NewAPI() }
