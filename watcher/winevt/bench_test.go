package winevt_test

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/logmedic/logmedic/watcher"
	"github.com/logmedic/logmedic/watcher/decode"
	"github.com/logmedic/logmedic/watcher/winevt"
	"github.com/logmedic/logmedic/watcher/winevt/winevttest"
)

// BenchmarkChannelSource reads a backlog of Backup failure events
// through the channel source's state machine (batches, bookmarks,
// checkpoints, decoding) over the fake event log. Each iteration also
// decodes the same XML alone, timed apart, so "x-decode" pairs every
// source run with a baseline run next to it: the source's cost per
// event over decoding's. It is an upper bound on the state machine's own
// overhead, since the fake's bookkeeping (it records every call) is
// included. What Windows' EvtNext and EvtRender cost is not measured.
func BenchmarkChannelSource(b *testing.B) {
	raw, err := os.ReadFile("../../testdata/samples/constructed/backup-5-v3-0x807800b4.xml")
	if err != nil {
		b.Fatal(err)
	}
	const n = 5000
	xml := make([]string, n)
	bs := make([][]byte, n)
	for i := range xml {
		xml[i], bs[i] = string(raw), raw
	}
	var decodeTime time.Duration
	var ev watcher.Event
	b.StopTimer()
	for range b.N {
		t0 := time.Now()
		for _, x := range bs {
			if err := (decode.XML{}).Decode(&ev, x); err != nil {
				b.Fatal(err)
			}
		}
		decodeTime += time.Since(t0)

		fake := winevttest.New()
		fake.AddChannel("Microsoft-Windows-Backup")
		fake.Append("Microsoft-Windows-Backup", xml...)
		ctx, cancel := context.WithCancel(context.Background())
		got := 0
		src := winevt.New("bench", fake, winevt.Options{Channel: "Microsoft-Windows-Backup", Start: winevt.StartOldest, Batch: 64})
		b.StartTimer()
		err := src.Run(ctx, nil, func(_ context.Context, items []watcher.Item, _ watcher.Checkpoint) error {
			for _, it := range items {
				if it.Err != nil {
					b.Fatal(it.Err)
				}
			}
			if got += len(items); got == n {
				cancel()
			}
			return nil
		})
		b.StopTimer()
		cancel()
		if err != nil && err != context.Canceled || got != n {
			b.Fatalf("read %d of %d events: %v", got, n, err)
		}
	}
	events := float64(b.N * n)
	ns := float64(b.Elapsed().Nanoseconds()) / events
	b.ReportMetric(ns, "ns/event")
	b.ReportMetric(1e9/ns, "events/s")
	b.ReportMetric(float64(decodeTime.Nanoseconds())/events, "decode-ns/event")
	b.ReportMetric(ns/(float64(decodeTime.Nanoseconds())/events), "x-decode")
}
