package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/logmedic/logmedic/config"
	"github.com/logmedic/logmedic/handlers/outbox"
)

// statusFile is what the daemon writes to its state directory every few
// seconds, so logmedic status works while the daemon holds the outbox.
type statusFile struct {
	PID        int                     `json:"pid"`
	Version    string                  `json:"version"`
	Config     string                  `json:"config"`
	Started    time.Time               `json:"started"`
	Updated    time.Time               `json:"updated"`
	LastReload *reloadStatus           `json:"last_reload,omitempty"`
	Sources    map[string]sourceStatus `json:"sources"`
	Outbox     outboxStatus            `json:"outbox"`
}

type reloadStatus struct {
	Time    time.Time `json:"time"`
	OK      bool      `json:"ok"`
	Trigger string    `json:"trigger"`
	Errors  []string  `json:"errors,omitempty"`
}

type sourceStatus struct {
	Inputs int `json:"inputs"` // files (or streams) with a committed position
	// Position is where a channel source stands: "after record 1234".
	Position string    `json:"position,omitempty"`
	Events   int64     `json:"events"`
	Failed   int64     `json:"failed"`
	LastEmit time.Time `json:"last_emit,omitempty"`
}

type outboxStatus struct {
	Pending       int       `json:"pending"`
	Dead          int       `json:"dead"`
	OldestPending time.Time `json:"oldest_pending,omitempty"`
}

const statusName = "status.json"

// writeStatus replaces the status file atomically, private to the
// daemon's account.
func writeStatus(dir string, st *statusFile) error {
	b, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return err
	}
	tmp := filepath.Join(dir, statusName+".tmp")
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, filepath.Join(dir, statusName))
}

func outboxSummary(store *outbox.Store) (outboxStatus, error) {
	pending, dead, oldest, err := store.Counts()
	return outboxStatus{Pending: pending, Dead: dead, OldestPending: oldest}, err
}

func cmdStatus(args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("status", "[-c FILE | --state-dir DIR] [--format text|json]", stderr)
	cfgPath := fs.String("c", "", "configuration `FILE` (for its state_dir)")
	fs.StringVar(cfgPath, "config", "", "configuration `FILE` (same as -c)")
	stateDir := fs.String("state-dir", "", "state `directory`")
	format := fs.String("format", "text", "output `format`: text or json")
	pos, err := parseInterspersed(fs, args)
	if err != nil {
		return usageErr(stderr, err)
	}
	if len(pos) > 0 || (*format != "text" && *format != "json") {
		fs.Usage()
		return exitUsage
	}
	// Only the state directory is needed, and status is most wanted when
	// the configuration on disk is broken (a refused reload): read
	// state_dir leniently.
	var cfg *config.Config
	if *cfgPath != "" {
		b, err := os.ReadFile(*cfgPath)
		if err != nil {
			fmt.Fprintln(stderr, "logmedic status:", err)
			return exitUsage
		}
		var top struct {
			StateDir string `yaml:"state_dir"`
		}
		yaml.Unmarshal(b, &top)
		cfg = &config.Config{StateDir: top.StateDir}
	}
	dir := config.StateDir(*stateDir, cfg)
	var st statusFile
	b, err := os.ReadFile(filepath.Join(dir, statusName))
	switch {
	case errors.Is(err, os.ErrNotExist):
		fmt.Fprintf(stderr, "logmedic status: %s has no %s: the daemon has not run with this state directory\n", dir, statusName)
		return exitFail
	case err != nil:
		fmt.Fprintln(stderr, "logmedic status:", err)
		return exitFail
	}
	if err := json.Unmarshal(b, &st); err != nil {
		fmt.Fprintf(stderr, "logmedic status: %s: %v\n", filepath.Join(dir, statusName), err)
		return exitFail
	}
	running := processAlive(st.PID) && time.Since(st.Updated) < 30*time.Second
	if !running {
		// The daemon is gone: the outbox is free to read directly.
		if store, err := outbox.Open(config.OutboxPath(dir)); err == nil {
			if s, err := outboxSummary(store); err == nil {
				st.Outbox = s
			}
			store.Close()
		}
	}
	if *format == "json" {
		out := struct {
			Running bool `json:"running"`
			statusFile
		}{running, st}
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		enc.Encode(out)
		return exitOK
	}
	state := fmt.Sprintf("running (pid %d, since %s)", st.PID, st.Started.Local().Format(time.DateTime))
	if !running {
		state = fmt.Sprintf("not running (last seen %s)", st.Updated.Local().Format(time.DateTime))
	}
	fmt.Fprintf(stdout, "logmedic %s: %s\nconfig: %s\nstate: %s\n", st.Version, state, st.Config, dir)
	if r := st.LastReload; r != nil {
		res := "succeeded"
		if !r.OK {
			res = "failed; the previous configuration stays"
		}
		fmt.Fprintf(stdout, "last reload: %s (%s) %s\n", r.Time.Local().Format(time.DateTime), r.Trigger, res)
		for _, e := range r.Errors {
			fmt.Fprintf(stdout, "  %s\n", e)
		}
	}
	names := make([]string, 0, len(st.Sources))
	for n := range st.Sources {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		s := st.Sources[n]
		last := "never"
		if !s.LastEmit.IsZero() {
			last = s.LastEmit.Local().Format(time.DateTime)
		}
		if s.Position != "" {
			fmt.Fprintf(stdout, "source %s: %s, %d events, %d undecodable parts, last read %s\n", n, s.Position, s.Events, s.Failed, last)
			continue
		}
		fmt.Fprintf(stdout, "source %s: %d inputs read, %d events, %d undecodable parts, last read %s\n", n, s.Inputs, s.Events, s.Failed, last)
	}
	oldest := ""
	if !st.Outbox.OldestPending.IsZero() {
		oldest = fmt.Sprintf(", oldest queued %s ago", time.Since(st.Outbox.OldestPending).Round(time.Second))
	}
	fmt.Fprintf(stdout, "outbox: %d actions queued%s, %d dead letters\n", st.Outbox.Pending, oldest, st.Outbox.Dead)
	return exitOK
}
