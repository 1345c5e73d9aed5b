#!/usr/bin/env bash
# bench-flood.sh — a flood of distinct queue_ids into `ingot-top daemon` (issue target: 1,000,000
# distinct queue_ids leave RSS at 150 MiB or less, and series at or under the caps).
#
# Usage: scripts/bench-flood.sh [COUNT]   (default 1000000; every message names a new queue)
#   RATE=150000 paces the publisher (the core-mode target rate): the figure is then what
#   the daemon keeps for the ids, not the client buffer an unpaced burst fills.
# It starts the embedded nats-server of internal/daemon/benchtool, a daemon with everything
# on (exporter, engine for republishing, sampled log, audit trail), publishes COUNT messages
# whose queue_ids are all distinct, waits until the daemon has counted them all, then prints
# the daemon's peak and final RSS, the number of series per capped metric and the overflow
# counters. Bounded: every wait has a deadline, and everything it started is stopped.
set -euo pipefail

COUNT=${1:-1000000}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=lib.sh
source "$ROOT/scripts/lib.sh"
WORK=$(mktemp -d /tmp/bench-flood.XXXXXX)
PIDS=()
cleanup() {
	for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
	wait 2>/dev/null || true
	rm -rf "$WORK"
}
trap cleanup EXIT

(cd "$ROOT" && go build -o "$WORK/ingot-top" ./cmd/ingot-top && go build -o "$WORK/benchtool" ./internal/daemon/benchtool)

"$WORK/benchtool" nats --store "$WORK/js" --url-file "$WORK/nats.url" &
PIDS+=($!)
for _ in $(seq 150); do [[ -s "$WORK/nats.url" ]] && break; sleep 0.1; done
NATS_URL=$(cat "$WORK/nats.url")
PORT=$(free_port)
"$WORK/ingot-top" daemon -s "$NATS_URL" --web.listen-address "127.0.0.1:$PORT" \
	--audit.dir "$WORK/audit" --log.file "$WORK/daemon.log" >"$WORK/daemon.out" 2>&1 &
DAEMON=$!
PIDS+=($DAEMON)
for _ in $(seq 150); do curl -sf "127.0.0.1:$PORT/-/ready" >/dev/null && break; sleep 0.1; done

RATE=${RATE:-150000}
echo "publishing $COUNT messages with $COUNT distinct queue_ids to $NATS_URL at $RATE/s ..."
"$WORK/benchtool" publish --server "$NATS_URL" --count "$COUNT" --distinct "$COUNT" --queues "$COUNT" --rate "$RATE"
"$WORK/benchtool" wait --metrics "http://127.0.0.1:$PORT/metrics" --expect "$COUNT"

curl -s "127.0.0.1:$PORT/metrics" >"$WORK/metrics.txt"
hwm=$(awk '/VmHWM/{print $2}' "/proc/$DAEMON/status")
rss=$(awk '/VmRSS/{print $2}' "/proc/$DAEMON/status")
series() { grep -c "^$1{" "$WORK/metrics.txt" || true; }
printf '\n%-52s %s\n' "daemon peak RSS (VmHWM)" "$((hwm / 1024)) MiB"
printf '%-52s %s\n' "daemon RSS after the flood" "$((rss / 1024)) MiB"
for m in ingot_labels_submitted_total anvil_labels_submitted_total ingot_label_submit_duration_seconds_count anvil_queue_pending_assignments; do
	printf '%-52s %s\n' "series of $m" "$(series "$m")"
done
echo "overflow counters:"
grep '^ingot_top_series_overflow_total' "$WORK/metrics.txt" | sed 's/^/  /' || echo "  none"
