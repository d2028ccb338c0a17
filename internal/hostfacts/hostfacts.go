// Package hostfacts collects what an admin wants to read in a ticket about
// the machine logmedic runs on: its OS name, version and build, uptime and
// memory, and the size and free space of the volumes an event names.
//
// The logic is OS-neutral: the text parsers for /proc and os-release, the
// extraction of volume names from an event and the mapping of a name to
// the path to query are pure functions, tested everywhere. The files
// hostfacts_linux.go, hostfacts_windows.go and hostfacts_other.go only
// read the operating system.
package hostfacts

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Facts describes the host logmedic runs on (not necessarily the computer
// an event came from: see SameHost).
type Facts struct {
	Hostname string
	// OS is the product name: "Windows Server 2019 Datacenter",
	// "Windows 11 Pro", "Debian GNU/Linux 12 (bookworm)".
	OS string
	// Version is "10.0" (major.minor) on Windows, the kernel release
	// ("6.1.0-18-amd64") on Linux.
	Version string
	// Build is Windows' build number ("17763"), "" elsewhere.
	Build string
	// Revision is Windows' update build revision (UBR): OS build
	// 17763.5458 is Build "17763" and Revision "5458". "" when unknown.
	Revision string
	// DisplayVersion is Windows' feature release ("21H2", or the older
	// ReleaseId "1809") when known.
	DisplayVersion string
	// Arch is the machine's architecture: "x86_64", "arm64", "aarch64".
	Arch string
	// Uptime is the time since the host started, to the second.
	Uptime time.Duration
	// MemTotal and MemAvailable are physical memory in bytes.
	MemTotal, MemAvailable uint64
	// Err says why some facts are missing. Collect leaves it empty and
	// returns the error; the template function host fills it in.
	Err string
}

// Volume is the size and free space of one volume an event names.
type Volume struct {
	// Name is the volume as the event named it: "C:", "E:\",
	// `\\?\Volume{...}`, "/srv".
	Name string
	// Path is what was queried: "C:\", `\\?\Volume{...}\`, "/srv"; ""
	// when the name is no path on this host.
	Path string
	// Size and Free are bytes; Free is what the service's account may
	// use (Bavail on Linux, FreeBytesAvailableToCaller on Windows).
	Size, Free uint64
	// Err says why Size and Free are not known, e.g. "not found on this
	// host"; "" when they are.
	Err string
}

// static is what does not change while the process runs.
type static struct {
	OS, Version, Build, Revision, DisplayVersion, Arch string
}

// dynamic is read fresh on every Collect.
type dynamic struct {
	Uptime                 time.Duration
	MemTotal, MemAvailable uint64
}

// The OS files provide collectStatic, collectDynamic, queryPath and
// statVolume; tests replace these variables.
var (
	staticFacts = sync.OnceValues(collectStatic)
	readDynamic = collectDynamic
	hostname    = os.Hostname
	statFunc    = statVolume
)

// Collect returns the host's facts. The OS name, version and build are
// read once per process (they do not change); hostname, uptime and memory
// are read on every call. On an error the facts that could be read are
// returned with it.
func Collect() (Facts, error) {
	var errs []error
	s, err := staticFacts()
	if err != nil {
		errs = append(errs, err)
	}
	d, err := readDynamic()
	if err != nil {
		errs = append(errs, err)
	}
	h, err := hostname()
	if err != nil {
		errs = append(errs, fmt.Errorf("hostname: %w", err))
	}
	f := Facts{
		Hostname: h, OS: s.OS, Version: s.Version, Build: s.Build, Revision: s.Revision,
		DisplayVersion: s.DisplayVersion, Arch: s.Arch,
		Uptime: d.Uptime.Truncate(time.Second), MemTotal: d.MemTotal, MemAvailable: d.MemAvailable,
	}
	return f, errors.Join(errs...)
}

// ErrNotFound is the Err of a volume that is not on this host: a Windows
// drive asked for on Linux, a letter no volume has, a name that is no path
// ("System Reserved").
var ErrNotFound = errors.New("not found on this host")

// volumeTimeout bounds how long Volumes waits for the operating system:
// templates render while the outbox holds its write lock, and a hung
// network mount must not hold it.
var volumeTimeout = 2 * time.Second

// maxOutstanding bounds the queries that have not returned: each holds a
// goroutine (and, blocked in the kernel, a thread) until the system
// answers, which for a dead network share may be never.
const maxOutstanding = 4

// Volumes returns the size and free space of each named volume, in the
// order given. A volume that cannot be read has Err set; Volumes never
// fails as a whole. It waits at most 2 seconds in all: a volume that has
// not answered by then gets Err "no answer within 2s". A later call does
// not query it again until the first query returns, and does not wait
// for it either once it has been outstanding for 2 seconds: nor for
// another path on the same volume (on Linux, under the same mount
// point). While maxOutstanding queries are outstanding, other volumes
// get no answer at once.
func Volumes(names []string) []Volume {
	out := make([]Volume, len(names))
	calls := make([]*statCall, len(names))
	for i, n := range names {
		out[i].Name = n
		p, err := queryPath(n)
		if err != nil {
			out[i].Err = err.Error()
			continue
		}
		out[i].Path = p
		calls[i], out[i].Err = startStat(p)
	}
	ctx, cancel := context.WithTimeout(context.Background(), volumeTimeout)
	defer cancel()
	noAnswer := fmt.Sprintf("no answer within %v", volumeTimeout)
	for i, c := range calls {
		if c == nil {
			continue
		}
		select {
		case <-c.done:
		default:
			if c.hung() {
				out[i].Err = noAnswer
				continue
			}
			select {
			case <-c.done:
			case <-ctx.Done():
				out[i].Err = noAnswer
				continue
			}
		}
		switch {
		case errors.Is(c.err, fs.ErrNotExist) || errors.Is(c.err, ErrNotFound):
			out[i].Err = ErrNotFound.Error()
		case c.err != nil:
			out[i].Err = c.err.Error()
		default:
			out[i].Size, out[i].Free = c.size, c.free
		}
	}
	return out
}

// statCall is one query of a path; concurrent and later callers share it
// until it returns, so a path that hangs ties up one goroutine, not one per
// rendered template.
type statCall struct {
	done       chan struct{}
	volume     string    // volumeOf the path
	started    time.Time // when the query started
	size, free uint64
	err        error
}

// hung reports whether c has been outstanding for volumeTimeout.
func (c *statCall) hung() bool { return time.Since(c.started) >= volumeTimeout }

var (
	statMu       sync.Mutex
	statInFlight = map[string]*statCall{} // by path
	// volumeOf names the volume holding a path, so that a hung volume
	// is not queried again through another path.
	volumeOf = volumeRoot
)

// startStat returns the query of path, started now or earlier; or nil
// and why no query is made: its volume has a query hung already, or
// maxOutstanding queries have not returned.
func startStat(path string) (*statCall, string) {
	volume := volumeOf(path)
	statMu.Lock()
	defer statMu.Unlock()
	if c, ok := statInFlight[path]; ok {
		return c, ""
	}
	for _, c := range statInFlight {
		if c.volume == volume && c.hung() {
			return nil, fmt.Sprintf("no answer within %v (a query of %s has not returned)", volumeTimeout, c.volume)
		}
	}
	if len(statInFlight) >= maxOutstanding {
		return nil, fmt.Sprintf("no answer: %d earlier volume queries have not returned", len(statInFlight))
	}
	c := &statCall{done: make(chan struct{}), volume: volume, started: time.Now()}
	statInFlight[path] = c
	stat := statFunc
	go func() {
		c.size, c.free, c.err = stat(path)
		statMu.Lock()
		delete(statInFlight, path)
		statMu.Unlock()
		close(c.done)
	}()
	return c, ""
}

// Bytes formats n bytes for people, in binary units with three significant
// digits: "512 B", "18.2 GiB", "1.82 TiB".
func Bytes(n uint64) string {
	const units = "KMGTPE"
	if n < 1024 {
		return strconv.FormatUint(n, 10) + " B"
	}
	v := float64(n)
	u := -1
	for v >= 1024 && u < len(units)-1 {
		v /= 1024
		u++
	}
	s := formatSig3(v)
	if s == "1024" && u < len(units)-1 { // 1023.9 KiB rounds up
		u++
		s = "1.00"
	}
	return s + " " + units[u:u+1] + "iB"
}

func formatSig3(v float64) string {
	switch {
	case v < 9.995:
		return strconv.FormatFloat(v, 'f', 2, 64)
	case v < 99.95:
		return strconv.FormatFloat(v, 'f', 1, 64)
	}
	return strconv.FormatFloat(math.Round(v), 'f', 0, 64)
}

// SameHost reports whether an event's Computer names the host called
// hostname: their first DNS labels are equal, ignoring case, so
// "WS-0142.corp.example" is the host "WS-0142" (what os.Hostname says on
// Windows). An empty computer, or "localhost", is this host.
func SameHost(computer, hostname string) bool {
	c := firstLabel(computer)
	if c == "" || strings.EqualFold(c, "localhost") {
		return true
	}
	return strings.EqualFold(c, firstLabel(hostname))
}

func firstLabel(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.IndexByte(s, '.'); i >= 0 {
		s = s[:i]
	}
	return s
}
