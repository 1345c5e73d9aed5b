#!/usr/bin/env bash
# bench-replay.sh — headless replay throughput: a recording of COUNT simulated messages
# (written by internal/replay/benchtool straight from `simulate --pregenerated`'s generator
# through the recording writer: the same file `ingot-top record` writes, without a NATS
# server) is replayed with `ingot-top replay FILE --format json`, i.e. at speed 0: read,
# decompress, decode, aggregate on the recorded clock, print the snapshot.
#
# Usage: scripts/bench-replay.sh [COUNT]       (default 1000000 messages, 0.2 % invalid)
#   RUNS=N   replays of the same file (default 3); each is reported, the best is judged
#   KEEP=1   keep the work directory (recording, JSON outputs)
#
# What is measured: messages/s = COUNT ÷ the wall time of the whole `ingot-top replay`
# process (start-up, reading, decoding, aggregating, the final snapshot and the JSON), so the
# figure is what an operator waits for. The replay's own rate (its stderr line, without
# start-up and printing) is shown beside it, with the process's CPU time.
# Target (2-core machine): >= 200,000 events/s. The machine is shared: the load average is
# printed with the figures. Bounded: nothing here waits on a network or a server.
set -euo pipefail

COUNT=${1:-1000000}
RUNS=${RUNS:-3}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=lib.sh
source "$ROOT/scripts/lib.sh"
WORK=$(mktemp -d /tmp/bench-replay.XXXXXX)
cleanup() {
	if [[ "${KEEP:-0}" != 1 ]]; then rm -rf "$WORK"; else echo "kept $WORK"; fi
}
trap cleanup EXIT

log "building ingot-top and the recording generator ..."
(cd "$ROOT" && go build -o "$WORK/ingot-top" ./cmd/ingot-top && go build -o "$WORK/benchtool" ./internal/replay/benchtool)

log "writing a recording of $COUNT messages ..."
"$WORK/benchtool" -o "$WORK/bench.itr" -n "$COUNT" >&2
SIZE=$(stat -c %s "$WORK/bench.itr")

RESULTS=()
for run in $(seq 1 "$RUNS"); do
	log "replay run $run/$RUNS ..."
	start=$(date +%s.%N)
	# CPU time of the child from bash's `times`-free way: /proc is gone once it exits, so
	# use /usr/bin/time when present.
	if [[ -x /usr/bin/time ]]; then
		/usr/bin/time -f '%U %S %M' -o "$WORK/time.$run" "$WORK/ingot-top" replay "$WORK/bench.itr" --format json \
			>"$WORK/out.$run.json" 2>"$WORK/err.$run"
	else
		"$WORK/ingot-top" replay "$WORK/bench.itr" --format json >"$WORK/out.$run.json" 2>"$WORK/err.$run"
		echo "? ? 0" >"$WORK/time.$run"
	fi
	end=$(date +%s.%N)
	read -r user sys maxrss <"$WORK/time.$run"
	own=$(grep -o '([0-9]* messages/s)' "$WORK/err.$run" | tr -dc 0-9)
	RESULTS+=("$(python3 - "$WORK/out.$run.json" "$start" "$end" "$COUNT" "${own:-0}" "$user" "$sys" "$maxrss" <<'EOF'
import json, sys
doc = json.load(open(sys.argv[1]))
start, end, count = float(sys.argv[2]), float(sys.argv[3]), int(sys.argv[4])
wall = end - start
t = doc["totals"]
print(f'{count / wall:.0f} {wall:.3f} {sys.argv[5]} {sys.argv[6]} {sys.argv[7]} {int(sys.argv[8] or 0) // 1024} '
      f'{doc["connection"]["messages_received"]} {t["events"]} {t["invalid"]}')
EOF
)")
done

LOAD=$(cut -d' ' -f1-3 /proc/loadavg)
echo
echo "ingot-top replay benchmark — $(date -u +%FT%TZ), $(nproc) CPUs, load average $LOAD"
echo "recording: $COUNT messages, $((SIZE / 1024 / 1024)) MiB ($((SIZE / COUNT)) bytes/message)"
echo
printf '%-5s %12s %9s %14s %8s %8s %9s %10s %10s %8s\n' run "messages/s" "wall s" "replay msgs/s" "user s" "sys s" "peak RSS" replayed events invalid
best=0
for i in "${!RESULTS[@]}"; do
	read -r rate wall own user sys rss replayed events invalid <<<"${RESULTS[$i]}"
	printf '%-5s %12s %9s %14s %8s %8s %6s MB %10s %10s %8s\n' $((i + 1)) "$rate" "$wall" "$own" "$user" "$sys" "$rss" "$replayed" "$events" "$invalid"
	((rate > best)) && best=$rate
	if ((replayed != COUNT)); then echo "run $((i + 1)) replayed $replayed of $COUNT messages" >&2; best=0; fi
done
echo
if ((best >= 200000)); then verdict=MET; else verdict=MISSED; fi
echo "target >= 200,000 events/s at speed 0 (whole process):  $verdict (best $best messages/s)"
