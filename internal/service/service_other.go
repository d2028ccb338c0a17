//go:build !windows

package service

import (
	"context"
	"fmt"
)

// Run returns ErrNotWindows: there is no service control manager here.
func Run(name string, elog Log, run func(ctx context.Context) error) error { return ErrNotWindows }

// IsService reports false: there are no Windows services here.
func IsService() (bool, error) { return false, nil }

// OpenLog returns ErrNotWindows.
func OpenLog(name string) (Log, error) { return nil, ErrNotWindows }

// Install returns ErrNotWindows.
func Install(c Config) error { return ErrNotWindows }

// Uninstall returns ErrNotWindows.
func Uninstall(ctx context.Context, name string) error { return ErrNotWindows }

// Start returns ErrNotWindows.
func Start(ctx context.Context, name string) error { return ErrNotWindows }

// Stop returns ErrNotWindows.
func Stop(ctx context.Context, name string) error { return ErrNotWindows }

// Query returns ErrNotWindows.
func Query(name string) (Status, error) { return Status{}, ErrNotWindows }

// lookupSID returns ErrNotWindows: only Windows knows its accounts.
func lookupSID(account string) (string, error) {
	return "", fmt.Errorf("look up account %s: %w", account, ErrNotWindows)
}
