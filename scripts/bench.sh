#!/usr/bin/env bash
# Performance measurements for docs/performance.md. Run from anywhere:
#   scripts/bench.sh            # Go benchmarks + whole-process comparison
# Needs Go and libevtx-utils (evtxexport), which scripts/setup.sh installs.
# Every ratio compares numbers measured in this run, on this machine.
set -euo pipefail
cd "$(dirname "$0")/.."

echo "== machine"
echo "$(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"
go version

echo
echo "== go test -bench (single goroutine: per core)"
go test -run '^$' -bench . -benchtime "${BENCHTIME:-2s}" -count "${COUNT:-1}" ./watcher/match

echo
echo "== channel source state machine over the fake event log, beside decoding alone"
go test -run '^$' -bench ChannelSource -benchtime "${BENCHTIME_SOURCE:-20x}" -count "${COUNT:-1}" ./watcher/winevt

echo
echo "== whole process: .evtx files -> events -> 7 rules -> JSON lines"
echo "   baseline: libevtx evtxexport -f xml on the same files (C, XML out, no matching)"
command -v evtxexport >/dev/null || { echo "evtxexport missing: apt-get install libevtx-utils" >&2; exit 1; }
bin=$(mktemp -d)/logmedic
go build -o "$bin" ./cmd/logmedic
files=(testdata/evtx/*.evtx)
best() { # best wall time in ms of 5 runs of "$@"
  local b=999999999 t0 t1 ms
  for _ in 1 2 3 4 5; do
    t0=$(date +%s%N); "$@" >/dev/null 2>&1 || true; t1=$(date +%s%N)
    ms=$(( (t1 - t0) / 1000000 )); (( ms < b )) && b=$ms
  done
  echo "$b"
}
evtxexport_all() { for f in "${files[@]}"; do evtxexport -f xml "$f"; done; }
records=$("$bin" test -c example.yaml --format json "${files[@]}" 2>/dev/null | grep -c '"event_id"' || true)
ours=$(best "$bin" test -c example.yaml --format json "${files[@]}")
theirs=$(best evtxexport_all)
echo "records: $records"
echo "logmedic test --format json: ${ours} ms  ($(( records * 1000 / (ours > 0 ? ours : 1) )) records/s)"
echo "evtxexport -f xml:           ${theirs} ms  ($(( records * 1000 / (theirs > 0 ? theirs : 1) )) records/s)"
awk -v a="$theirs" -v b="$ours" 'BEGIN { printf "ratio: logmedic is %.2fx the speed of evtxexport\n", a / b }'
