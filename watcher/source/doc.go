// Package source holds logmedic's offline event sources: Folder, which
// watches a folder for exported event files (.xml, .txt, .evtx) and
// reads each new or grown file once, and Stdin, which decodes a stream of
// rendered event XML as it arrives.
//
// Both implement watcher.Source. Folder keeps one checkpoint per file and
// resumes after the items already emitted; Stdin cannot resume.
package source

import "github.com/logmedic/logmedic/watcher"

var (
	_ watcher.Source = (*Folder)(nil)
	_ watcher.Source = (*Stdin)(nil)
)

// maxChunk is the most items one emit call carries.
const maxChunk = 512
