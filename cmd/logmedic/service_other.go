//go:build !windows

package main

import "context"

// servicesSupported says logmedic service works here: it does not,
// there are no Windows services.
const servicesSupported = false

// runAsService returns handled false: there is no service control
// manager here.
func runAsService(run func(ctx context.Context) error) (handled bool, err error) {
	return false, nil
}

// serviceWorkDir is where a relative script argument is found: there is
// no service here, the daemon's working directory stands in.
func serviceWorkDir() string { return daemonWorkDir() }
