//go:build !unix && !windows

package perm

import "os"

// Elsewhere (js, wasip1, plan9) only existence is checked.

type sysInfo struct{}

type trust struct{}

func newTrust(trustSpec) (trust, error) { return trust{}, nil }

func inspect(path string) (node, error) {
	fi, err := os.Lstat(path)
	if err != nil {
		return node{}, err
	}
	return node{dir: fi.IsDir()}, nil
}

func (trust) judge(string, node, role, bool) (reason, fix string) { return "", "" }

// MkdirPrivate creates the directory path and any missing parents.
func MkdirPrivate(path string) error { return os.MkdirAll(path, 0o700) }
