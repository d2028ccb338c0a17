// Package input reads events from files, directories and standard input in
// every form logmedic decodes, choosing .evtx or text by content.
package input

import (
	"bytes"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/logmedic/logmedic/watcher/decode"
	"github.com/logmedic/logmedic/watcher/evtxfile"
)

// Extensions are the file name endings taken when a directory is walked.
// A file named on the command line is always read, whatever its name.
var Extensions = []string{".xml", ".evtx", ".txt"}

// Paths decodes each path in order: "-" is standard input, a directory is
// walked recursively in lexical order taking files with Extensions, and
// any other path is read as one input. Problems opening a path are passed
// to fn as errors, and the remaining paths are still read.
func Paths(paths []string, stdin io.Reader, fn decode.Func) error {
	for _, p := range paths {
		if err := path(p, stdin, fn); err != nil {
			return err
		}
	}
	return nil
}

func path(p string, stdin io.Reader, fn decode.Func) error {
	if p == "-" {
		data, err := io.ReadAll(stdin)
		if err != nil {
			return fn(nil, decode.Pos{Source: "-"}, &decode.Error{Source: "-", Msg: "read standard input: " + err.Error()})
		}
		return Bytes("-", data, fn)
	}
	st, err := os.Stat(p)
	if err != nil {
		return fn(nil, decode.Pos{Source: p}, &decode.Error{Source: p, Msg: pathErr(err)})
	}
	if !st.IsDir() {
		return File(p, fn)
	}
	var files []string
	err = filepath.WalkDir(p, func(name string, d fs.DirEntry, err error) error {
		if err != nil {
			files = append(files, name) // reported when opened
			return nil
		}
		if d.IsDir() {
			if name != p && strings.HasPrefix(d.Name(), ".") {
				return filepath.SkipDir
			}
			return nil
		}
		ext := strings.ToLower(filepath.Ext(name))
		for _, e := range Extensions {
			if ext == e {
				files = append(files, name)
				break
			}
		}
		return nil
	})
	if err != nil {
		return fn(nil, decode.Pos{Source: p}, &decode.Error{Source: p, Msg: err.Error()})
	}
	sort.Strings(files)
	if len(files) == 0 {
		return fn(nil, decode.Pos{Source: p}, &decode.Error{Source: p, Msg: "directory holds no " + strings.Join(Extensions, ", ") + " files"})
	}
	for _, f := range files {
		if err := File(f, fn); err != nil {
			return err
		}
	}
	return nil
}

// pathErr drops the path from an *fs.PathError: the report names it.
func pathErr(err error) string {
	if pe, ok := err.(*fs.PathError); ok {
		return pe.Op + ": " + pe.Err.Error()
	}
	return err.Error()
}

// File decodes one file, .evtx or text.
func File(name string, fn decode.Func) error {
	f, err := os.Open(name)
	if err != nil {
		return fn(nil, decode.Pos{Source: name}, &decode.Error{Source: name, Msg: pathErr(err)})
	}
	defer f.Close()
	var magic [len(evtxfile.Magic)]byte
	n, _ := io.ReadFull(f, magic[:])
	if string(magic[:n]) == evtxfile.Magic {
		return evtxfile.Read(name, f, fn)
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return fn(nil, decode.Pos{Source: name}, &decode.Error{Source: name, Msg: err.Error()})
	}
	data, err := io.ReadAll(f)
	if err != nil {
		return fn(nil, decode.Pos{Source: name}, &decode.Error{Source: name, Msg: "read: " + err.Error()})
	}
	return decode.Text(name, data, fn)
}

// Bytes decodes an input already in memory, .evtx or text.
func Bytes(name string, data []byte, fn decode.Func) error {
	if bytes.HasPrefix(data, []byte(evtxfile.Magic)) {
		return evtxfile.Read(name, bytes.NewReader(data), fn)
	}
	return decode.Text(name, data, fn)
}
