#!/usr/bin/env bash
# bench-since.sh — memory of opening the past: `ingot-top snapshot --since` over a JetStream
# stream of COUNT events reads the whole stream through an ordered consumer (bounded
# read-ahead: --history read-ahead of 4096 messages) into the engine, on the stream's clock,
# and prints the snapshot once it has caught up. The dashboard's --since reads the same way.
#
# Usage: scripts/bench-since.sh [COUNT]        (default 1000000 events)
#   KEEP=1 keeps the work directory (stream store, outputs).
#
# Parts:
#   - NATS: the embedded nats-server of internal/daemon/benchtool (JetStream store in WORK).
#   - Publisher: benchtool `publish --jetstream` fills stream TELEMETRY with COUNT events
#     (async publish with acks: all of them are stored before the read starts).
#   - Reader: `ingot-top snapshot --since 24h --format json` under /usr/bin/time -v; its
#     "Maximum resident set size" is the peak RSS. The JSON's totals are checked: every
#     event counted once.
# Target: peak RSS under 150 MiB for 1,000,000 events (issue 11). The machine is shared:
# the load average is printed with the figures; re-measure on a quiet machine.
set -euo pipefail

COUNT=${1:-1000000}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=lib.sh
source "$ROOT/scripts/lib.sh"
bench_setup bench-since
start_bench_nats

log "filling stream TELEMETRY with $COUNT events ..."
"$WORK/benchtool" publish --server "$NATS_URL" --count "$COUNT" --jetstream --stream TELEMETRY >&2

log "snapshot --since 24h over the stream ..."
start=$(date +%s.%N)
if [[ -x /usr/bin/time ]]; then
	/usr/bin/time -v -o "$WORK/time.txt" "$WORK/ingot-top" snapshot -s "$NATS_URL" --since 24h --stream TELEMETRY \
		--format json -q -d 30s >"$WORK/out.json" 2>"$WORK/err.txt" || true
	peak_kb=$(awk -F': ' '/Maximum resident set size/ {print $2}' "$WORK/time.txt")
else
	# Without GNU time: poll VmHWM from /proc while it runs.
	"$WORK/ingot-top" snapshot -s "$NATS_URL" --since 24h --stream TELEMETRY --format json -q -d 30s >"$WORK/out.json" 2>"$WORK/err.txt" &
	pid=$!
	peak_kb=0
	while kill -0 "$pid" 2>/dev/null; do
		kb=$(awk '/VmHWM/ {print $2}' "/proc/$pid/status" 2>/dev/null || echo 0)
		((kb > peak_kb)) && peak_kb=$kb
		sleep 0.2
	done
	wait "$pid" || true
fi
took=$(echo "$(date +%s.%N) - $start" | bc)
events=$(python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(d["totals"]["events"]+d["totals"]["invalid"])' "$WORK/out.json" 2>/dev/null || echo "?")
peak_mib=$(echo "scale=1; $peak_kb / 1024" | bc)
rate=$(echo "scale=0; $COUNT / $took" | bc)

echo
echo "ingot-top snapshot --since benchmark — $(date -u +%FT%TZ), $(nproc) CPUs, load average $(cut -d' ' -f1-3 /proc/loadavg)"
printf '%-10s %10s %10s %12s %12s\n' events counted "wall s" "events/s" "peak RSS"
printf '%-10s %10s %10.1f %12s %9s MiB\n' "$COUNT" "$events" "$took" "$rate" "$peak_mib"
if [[ "$events" != "$COUNT" ]]; then
	echo "MISMATCH: counted $events of $COUNT; stderr:"; cat "$WORK/err.txt"
	exit 1
fi
if (($(echo "$peak_mib < 150" | bc))); then
	echo "target peak RSS < 150 MiB: MET"
else
	echo "target peak RSS < 150 MiB: MISSED"
	exit 1
fi
