#!/usr/bin/env bash
# Daemon measurements for docs/performance.md ("Daemon"). Run from anywhere:
#   scripts/measure-daemon.sh                  # about 2.5 minutes
#   IDLE_SECONDS=10 TP_EVENTS=20000 scripts/measure-daemon.sh   # quicker
# It builds logmedic and scripts/measure, then runs `logmedic run` on fresh
# drop folders (Linux: it reads /proc) and measures
#   (a) latency from a file renamed into the drop folder to its webhook
#       request reaching a receiver, over LAT_EVENTS (1000) events;
#   (b) idle RSS and CPU time over IDLE_SECONDS (60);
#   (c) throughput of a TP_EVENTS (100000) event replay through decode,
#       100 rules and the outbox, beside the decode+match benchmark run
#       here, now;
#   (d) how long the outbox takes to deliver a backlog of DRAIN_SIZES
#       ("300 1000 3000") actions to a log handler.
# Every ratio compares numbers measured in this run, on this machine. The
# goals are printed beside the numbers; nothing fails when one is missed.
set -euo pipefail
cd "$(dirname "$0")/.."

: "${LAT_EVENTS:=1000}" "${LAT_INTERVAL:=20ms}" "${IDLE_SECONDS:=60}"
: "${TP_EVENTS:=100000}" "${TP_FILES:=100}" "${DELIVER_SECONDS:=20}" "${BENCHTIME:=1s}"
: "${DRAIN_SIZES:=300 1000 3000}"

echo "== machine"
echo "$(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"
go version
date -u +%Y-%m-%dT%H:%MZ
echo "commit $(git rev-parse --short HEAD 2>/dev/null || echo unknown)"
# Other work on the machine skews every number here (fsync latency most):
# the load average is shown before and after.
load0=$(cut -d' ' -f1-3 /proc/loadavg)
echo "load average: $load0"

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
go build -o "$tmp/logmedic" ./cmd/logmedic
go build -o "$tmp/measure" ./scripts/measure
results="$tmp/results"
: >"$results"
measure() { # run the helper, show its output, keep its RESULT lines
  "$tmp/measure" -bin "$tmp/logmedic" "$@" | tee -a "$results" | grep -v '^RESULT '
}
get() { awk -v k="$1" '$1 == "RESULT" && $2 == k { v = $3 } END { print v }' "$results"; }

echo
echo "== disk: fsync latency where the outbox lives (each outbox commit waits for one)"
measure fsync

echo
echo "== (a) latency: file renamed into the folder -> webhook request received"
measure latency -events "$LAT_EVENTS" -interval "$LAT_INTERVAL"

echo
echo "== (b) idle: RSS and CPU over ${IDLE_SECONDS}s (drop folder, 2 handlers, 100 rules)"
measure idle -seconds "$IDLE_SECONDS"

echo
echo "== (c) throughput: ${TP_EVENTS} events in ${TP_FILES} files, already in the folder at start, 100 rules"
measure throughput -events "$TP_EVENTS" -files "$TP_FILES" -label tp_match_
measure throughput -events "$TP_EVENTS" -files "$TP_FILES" -actions -deliver "${DELIVER_SECONDS}s" -label tp_queue_

echo
echo "== (d) outbox drain: a backlog of N actions for a log handler, from start to the last delivery"
for n in $DRAIN_SIZES; do
  measure throughput -events "$n" -files 1 -actions -deliver 300s -label "drain_${n}_"
done

echo
echo "== decode+match benchmark (single goroutine), same run"
bench=$(go test -run '^$' -bench 'DecodeMatch/decode\+match' -benchtime "$BENCHTIME" ./watcher/match)
echo "$bench" | grep '^Benchmark'
bench_eps=$(echo "$bench" | awk '/^BenchmarkDecodeMatch\/decode\+match/ { for (i = 2; i < NF; i++) if ($(i+1) == "events/s") print $i }' | head -1)

p50=$(get latency_p50_ms) p99=$(get latency_p99_ms) lmin=$(get latency_min_ms)
rss=$(get idle_rss_end_kb) rss0=$(get idle_rss_start_kb) cpu60=$(get idle_cpu_ms_per_60s) cpu60s=$(get idle_cpu_schedstat_ms_per_60s)
tpm=$(get tp_match_events_per_s) tpq=$(get tp_queue_events_per_s)
peakq=$(get tp_queue_peak_rss_kb) delivered=$(get tp_queue_delivered) dps=$(get tp_queue_delivered_per_s)
verdict() { awk -v v="$1" -v g="$2" 'BEGIN { if (v <= g) print "met"; else printf "missed (%.1fx)\n", v / g }'; }

echo
echo "== summary (load average before: $load0; after: $(cut -d' ' -f1-3 /proc/loadavg))"
printf '| %-58s | %22s | %-16s | %s\n' "measure" "value" "goal" "verdict"
printf '| %-58s | %22s | %-16s | %s\n' "latency p50 / p99 / min, ${LAT_EVENTS} events" "$p50 / $p99 / $lmin ms" "p99 <= 50 ms" "$(verdict "$p99" 50)"
printf '| %-58s | %22s | %-16s | %s\n' "  of which landed -> matched (p50 / p99)" "$(get latency_to_match_p50_ms) / $(get latency_to_match_p99_ms) ms" "-" "mostly the folder source's settle time (settle:, default 25 ms)"
printf '| %-58s | %22s | %-16s | %s\n' "  of which matched -> received (p50 / p99)" "$(get latency_after_match_p50_ms) / $(get latency_after_match_p99_ms) ms" "-" ""
printf '| %-58s | %22s | %-16s | %s\n' "fsync of a 4 KiB write (p50 / p99 / max)" "$(get fsync_p50_ms) / $(get fsync_p99_ms) / $(get fsync_max_ms) ms" "-" "context"
printf '| %-58s | %22s | %-16s | %s\n' "idle RSS after start / after ${IDLE_SECONDS}s" "$((rss0 / 1024)) / $((rss / 1024)) MiB ($rss kB)" "<= 20 MB" "$(verdict "$rss" 20000)"
printf '| %-58s | %22s | %-16s | %s\n' "idle CPU per 60 s (utime+stime / schedstat)" "$cpu60 / $cpu60s ms" "<= 50 ms" "$(verdict "$cpu60" 50)"
printf '| %-58s | %22s | %-16s | %s\n' "replay, rules without actions (decode+match+checkpoint)" "$tpm events/s" "-" "$(awk -v a="$tpm" -v b="$bench_eps" 'BEGIN { printf "%.2fx the benchmark", a / b }')"
printf '| %-58s | %22s | %-16s | %s\n' "replay, one action per event (... + enqueue)" "$tpq events/s" "-" "$(awk -v a="$tpq" -v b="$bench_eps" 'BEGIN { printf "%.2fx the benchmark", a / b }')"
printf '| %-58s | %22s | %-16s | %s\n' "  peak RSS of that replay" "$((peakq / 1024)) MiB" "-" ""
printf '| %-58s | %22s | %-16s | %s\n' "  delivered by the log handler (whole run)" "$delivered of $TP_EVENTS, $dps/s" "-" ""
printf '| %-58s | %22s | %-16s | %s\n' "decode+match benchmark, 100 rules, 1 goroutine" "$bench_eps events/s" "-" "1x"
prev_n="" prev_t=""
for n in $DRAIN_SIZES; do
  t=$(get "drain_${n}_delivery_seconds") d=$(get "drain_${n}_delivered") r=$(get "drain_${n}_delivered_per_s")
  growth=""
  if [ -n "$prev_n" ]; then
    growth=$(awk -v n="$n" -v pn="$prev_n" -v t="$t" -v pt="$prev_t" 'BEGIN { printf "%.1fx the backlog took %.1fx as long", n / pn, t / pt }')
  fi
  printf '| %-58s | %22s | %-16s | %s\n' "outbox drain, backlog $n (log handler)" "$d in $t s, $r/s" "-" "$growth"
  prev_n=$n prev_t=$t
done
