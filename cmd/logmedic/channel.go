package main

import (
	"fmt"
	"runtime"

	"go.uber.org/zap"

	"github.com/logmedic/logmedic/config"
	"github.com/logmedic/logmedic/watcher"
	"github.com/logmedic/logmedic/watcher/winevt"
)

// newEventLogAPI returns the Windows Event Log API: the real one on
// Windows, nil elsewhere. Tests replace it with winevttest's fake.
var newEventLogAPI = defaultEventLogAPI

// newChannelSource makes a live channel source.
func (d *daemon) newChannelSource(s config.Source, cfg *config.Config) (watcher.Source, error) {
	api := newEventLogAPI()
	if api == nil {
		return nil, fmt.Errorf("channel %s: event log channels can only be read on Windows (this is %s)", s.Channel, runtime.GOOS)
	}
	o := channelOptions(s, cfg)
	o.Logger = d.log.Named("source").With(zap.String("source", s.Name))
	o.Metrics = d.metrics.Channel()
	return winevt.New(s.Name, api, o), nil
}

// channelOptions are a channel source's options: the configuration's,
// with the pre-filter built from the rules unless the source has a query
// of its own, and messages rendered only when something uses them.
func channelOptions(s config.Source, cfg *config.Config) winevt.Options {
	o := winevt.Options{
		Channel:   s.Channel,
		Providers: s.Providers,
		Query:     s.Query,
		Lookback:  s.Lookback,
		Batch:     s.Batch,
		Locale:    s.Locale,
		Message:   cfg.NeedsMessage(),
		Start:     map[string]winevt.Start{"now": winevt.StartNow, "oldest": winevt.StartOldest}[s.Start],
		OnStale:   winevt.StartOldest,
	}
	if s.OnStale == "now" {
		o.OnStale = winevt.StartNow
	}
	if o.Query == "" {
		o.Query = winevt.BuildPrefilter(s.Channel, s.Providers, cfg.MatchRules()).Query
		o.Fallback = "*" // a generated query Windows rejects is not fatal
	}
	return o
}
