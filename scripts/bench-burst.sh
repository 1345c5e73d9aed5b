#!/usr/bin/env bash
# bench-burst.sh — peak RSS of `ingot-top daemon` under an unpaced burst, core NATS and
# JetStream durable mode (issue 9, item 6: at most 150 MiB in any mode).
#
# Usage: scripts/bench-burst.sh [COUNT]      (default 1000000 events per mode)
#   MODES="core jetstream" (default both)    LIMIT_MIB=150 (exit 1 above it)
#   QUEUES=20 distinct queue_ids (QUEUES=COUNT: every event names a new queue, as in
#   bench-flood.sh)                          DAEMON_FLAGS="..." extra daemon flags
#   RATE=150000 paces the core publisher instead (the zero-loss target: drops then mean the
#   daemon cannot sustain RATE, not that a burst overflowed the buffer)
#   KEEP=1 keeps the work directory.
#
# Each mode starts a fresh daemon with everything a production daemon does switched on (the
# exporter, the sampled event log to a file, the fsynced audit trail, republishing), then
# publishes COUNT events as fast as one connection takes them:
#   - core: benchtool `publish` at no rate limit. The daemon cannot keep up with an unpaced
#     publisher, so the burst lands in the NATS client's pending buffer; what happens past
#     its limits (--nats.pending-bytes / --nats.pending-msgs) is counted as slow-consumer
#     drops, printed here.
#   - jetstream: benchtool `publish --jetstream` fills a new stream first, then the daemon
#     drains it through a durable: the server holds the burst, the daemon pulls it batch by
#     batch.
# It waits until the daemon counted them all (core: received + drops) or nothing moved for
# 15 s, and reads the daemon's peak RSS (VmHWM in /proc/PID/status). Bounded: every wait has
# a deadline, and everything started is stopped.
set -euo pipefail

COUNT=${1:-1000000}
MODES=${MODES:-"core jetstream"}
LIMIT_MIB=${LIMIT_MIB:-150}
QUEUES=${QUEUES:-20}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=lib.sh
source "$ROOT/scripts/lib.sh"
bench_setup bench-burst

start_bench_nats

# Distinct payloads: all of them up to 100k (the publisher builds them before the clock
# starts), and every event a new queue when QUEUES=COUNT.
DISTINCT=$((COUNT < 100000 ? COUNT : 100000))
if ((QUEUES > DISTINCT)); then DISTINCT=$QUEUES; fi

failed=0
run_mode() {
	local mode=$1 port dir daemon_pid extra=()
	port=$(free_port)
	dir="$WORK/$mode"
	mkdir -p "$dir"
	if [[ $mode == jetstream ]]; then
		# The stream is filled before the daemon starts: it then faces the whole burst as a
		# backlog, and the publisher's acks do not compete with it for the CPU.
		local stream="BURST$RANDOM"
		log "[$mode] filling stream $stream with $COUNT events ($QUEUES distinct queue_ids) ..."
		"$WORK/benchtool" publish --server "$NATS_URL" --count "$COUNT" --distinct "$DISTINCT" --queues "$QUEUES" \
			--jetstream --stream "$stream" >"$dir/publish.out"
		extra=(--durable "burst-$RANDOM" --stream "$stream" --create)
	fi
	# shellcheck disable=SC2086 # DAEMON_FLAGS is a list of flags
	"$WORK/ingot-top" daemon -s "$NATS_URL" "${extra[@]}" \
		--web.listen-address "127.0.0.1:$port" \
		--log.file "$dir/daemon.log" --log.sample-rate 0.1 \
		--audit.dir "$dir/audit" ${DAEMON_FLAGS:-} >"$dir/daemon.out" 2>&1 &
	daemon_pid=$!
	PIDS+=("$daemon_pid")
	wait_for 20 curl -sf "http://127.0.0.1:$port/-/ready"
	local base_hwm
	base_hwm=$(awk '/VmHWM/ {print $2}' "/proc/$daemon_pid/status")

	if [[ $mode == core ]]; then
		log "[$mode] publishing $COUNT events at ${RATE:-0}/s (0: unpaced), $QUEUES distinct queue_ids ..."
		"$WORK/benchtool" publish --server "$NATS_URL" --count "$COUNT" --distinct "$DISTINCT" --queues "$QUEUES" \
			--rate "${RATE:-0}" >"$dir/publish.out"
	fi
	"$WORK/benchtool" wait --metrics "http://127.0.0.1:$port/metrics" --expect "$COUNT" >"$dir/wait.out"
	local hwm rss
	hwm=$(awk '/VmHWM/ {print $2}' "/proc/$daemon_pid/status")
	rss=$(awk '/VmRSS/ {print $2}' "/proc/$daemon_pid/status")
	kill -TERM "$daemon_pid"
	wait "$daemon_pid" || true
	local verdict=ok
	if ((hwm / 1024 > LIMIT_MIB)); then verdict="FAIL (> $LIMIT_MIB MiB)"; failed=1; fi
	printf '[%s] %s | %s\n' "$mode" "$(cat "$dir/publish.out")" "$(cat "$dir/wait.out")"
	printf '[%s] daemon peak RSS %d MiB (idle %d MiB, after the burst %d MiB): %s\n' \
		"$mode" $((hwm / 1024)) $((base_hwm / 1024)) $((rss / 1024)) "$verdict"
}

echo "host: $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg); COUNT=$COUNT QUEUES=$QUEUES RATE=${RATE:-0} DAEMON_FLAGS=${DAEMON_FLAGS:-}"
for mode in $MODES; do run_mode "$mode"; done
exit "$failed"
