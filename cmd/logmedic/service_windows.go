package main

import (
	"context"
	"fmt"

	"golang.org/x/sys/windows"

	"github.com/logmedic/logmedic/internal/service"
)

// servicesSupported says logmedic service works here.
const servicesSupported = true

// runAsService runs run as the Windows service when the service control
// manager started this process, and returns handled true once the
// service has stopped; the process should then exit. It reports start,
// stop and failure to the service control manager and to the
// Application event log (see service.Run). run should return when its
// context is canceled, after persisting its work; an error returned
// otherwise stops the service with a non-zero exit code, so that its
// recovery actions restart it. Outside the service control manager it
// returns handled false at once.
func runAsService(run func(ctx context.Context) error) (handled bool, err error) {
	is, err := service.IsService()
	if err != nil {
		return false, fmt.Errorf("detect the service control manager: %w", err)
	}
	if !is {
		return false, nil
	}
	// A nil log: the event source is named as the service control
	// manager started the service, so --name at install carries over.
	return true, service.Run(service.DefaultName, nil, run)
}

// serviceWorkDir is the working directory the service control manager
// gives a service: the system directory, C:\Windows\System32.
func serviceWorkDir() string {
	dir, err := windows.GetSystemDirectory()
	if err != nil {
		return ""
	}
	return dir
}
