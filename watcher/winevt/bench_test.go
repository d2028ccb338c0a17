package winevt_test

import (
	"context"
	"os"
	"testing"

	"github.com/logmedic/logmedic/watcher"
	"github.com/logmedic/logmedic/watcher/decode"
	"github.com/logmedic/logmedic/watcher/winevt"
	"github.com/logmedic/logmedic/watcher/winevt/winevttest"
)

// BenchmarkChannelSource reads a backlog of real Backup failure events
// through the channel source's state machine (batches, bookmarks,
// checkpoints, decoding) over the fake event log, beside decoding the
// same XML alone. "x-decode" is the source's cost per event over
// decoding's: an upper bound on the state machine's own overhead, since
// the fake's bookkeeping (it records every call) is included. What
// Windows' EvtNext and EvtRender cost is not measured here.
func BenchmarkChannelSource(b *testing.B) {
	raw, err := os.ReadFile("../../testdata/samples/constructed/backup-5-v3-0x807800b4.xml")
	if err != nil {
		b.Fatal(err)
	}
	const n = 5000
	xml := make([]string, n)
	for i := range xml {
		xml[i] = string(raw)
	}

	var decodeNS float64
	b.Run("decode-alone", func(b *testing.B) {
		var ev watcher.Event
		bs := make([][]byte, n)
		for i, x := range xml {
			bs[i] = []byte(x)
		}
		for b.Loop() {
			for _, x := range bs {
				if err := (decode.XML{}).Decode(&ev, x); err != nil {
					b.Fatal(err)
				}
			}
		}
		decodeNS = float64(b.Elapsed().Nanoseconds()) / float64(b.N*n)
		b.ReportMetric(decodeNS, "ns/event")
	})
	b.Run("source", func(b *testing.B) {
		b.StopTimer()
		for range b.N {
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
		ns := float64(b.Elapsed().Nanoseconds()) / float64(b.N*n)
		b.ReportMetric(ns, "ns/event")
		b.ReportMetric(1e9/ns, "events/s")
		if decodeNS > 0 {
			b.ReportMetric(ns/decodeNS, "x-decode")
		}
	})
}
