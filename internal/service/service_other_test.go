//go:build !windows

package service

import (
	"context"
	"errors"
	"testing"
)

func TestNotWindows(t *testing.T) {
	ctx := context.Background()
	_, openErr := OpenLog(DefaultName)
	_, queryErr := Query(DefaultName)
	for name, err := range map[string]error{
		"Run":       Run(DefaultName, nil, func(context.Context) error { return nil }),
		"OpenLog":   openErr,
		"Install":   Install(Config{Exe: `C:\logmedic.exe`}),
		"Uninstall": Uninstall(ctx, DefaultName),
		"Start":     Start(ctx, DefaultName),
		"Stop":      Stop(ctx, DefaultName),
		"Query":     queryErr,
	} {
		if !errors.Is(err, ErrNotWindows) || !errors.Is(err, errors.ErrUnsupported) {
			t.Errorf("%s: %v, want ErrNotWindows", name, err)
		}
	}
	if is, err := IsService(); is || err != nil {
		t.Errorf("IsService() = %v, %v", is, err)
	}
}
