#!/usr/bin/env bash
# bench-daemon.sh — sustained ingestion rate of `ingot-top daemon`, core NATS and JetStream
# durable mode, with everything a production daemon does switched on: the Prometheus
# exporter, the sampled JSON event log (to a file) and the fsynced audit trail.
#
# Usage: scripts/bench-daemon.sh [COUNT]       (default 1000000 events per mode)
#   MODES="core jetstream" (default both), KEEP=1 keeps the work directory.
#
# Parts:
#   - NATS: an embedded nats-server (internal/daemon/benchtool `nats`), so the script needs
#     no system package and runs the same server version the tests use.
#   - Publisher, core mode: `ingot-top simulate --pregenerated --count N` (messages built
#     before the clock starts); if that command is missing, benchtool `publish`.
#   - Publisher, JetStream mode: benchtool `publish --jetstream` fills the stream first
#     (async publish with acks, so nothing is lost on the way in); the daemon then drains it
#     through a durable consumer, so the figure is the daemon's consume rate.
#   - Counting: benchtool `wait` polls the daemon's /metrics (ingot_top_events_received_total
#     + ingot_top_invalid_events_total) until all N are counted or nothing moves for 15 s.
#   - Peak RSS: VmHWM of the daemon process from /proc/PID/status.
# Targets: core >= 150,000 events/s with zero loss; JetStream durable >= 50,000 events/s.
set -euo pipefail

COUNT=${1:-1000000}
MODES=${MODES:-"core jetstream"}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=lib.sh
source "$ROOT/scripts/lib.sh"
bench_setup bench-daemon

start_bench_nats

use_simulate=0
if "$WORK/ingot-top" simulate --help 2>/dev/null | grep -q -- --pregenerated; then use_simulate=1; fi

run_mode() {
	local mode=$1 port dir daemon_pid extra=()
	port=$(free_port)
	dir="$WORK/$mode"
	mkdir -p "$dir"
	if [[ $mode == jetstream ]]; then
		echo "[$mode] filling stream TELEMETRY with $COUNT events ..."
		"$WORK/benchtool" publish --server "$NATS_URL" --count "$COUNT" --jetstream --stream TELEMETRY
		extra=(--durable "bench-$RANDOM" --stream TELEMETRY --create)
	fi
	# Core mode gets an unpaced 1M burst: the client buffer is raised out of the way so the
	# figure is the processing rate (scripts/bench-burst.sh measures the bounded default).
	"$WORK/ingot-top" daemon -s "$NATS_URL" "${extra[@]}" \
		--nats.pending-bytes "${PENDING_BYTES:-2GiB}" --nats.pending-msgs 4194304 \
		--web.listen-address "127.0.0.1:$port" \
		--log.file "$dir/daemon.log" --log.sample-rate 0.1 \
		--audit.dir "$dir/audit" ${DAEMON_FLAGS:-} &
	daemon_pid=$!
	PIDS+=("$daemon_pid")
	wait_for 20 curl -sf "http://127.0.0.1:$port/-/ready"

	"$WORK/benchtool" wait --metrics "http://127.0.0.1:$port/metrics" --expect "$COUNT" >"$dir/wait.out" &
	local wait_pid=$!
	if [[ $mode == core ]]; then
		if ((use_simulate)); then
			echo "[$mode] publishing $COUNT pre-generated events with ingot-top simulate ..."
			"$WORK/ingot-top" simulate -s "$NATS_URL" --pregenerated --count "$COUNT"
		else
			echo "[$mode] publishing $COUNT pre-built events with benchtool ..."
			"$WORK/benchtool" publish --server "$NATS_URL" --count "$COUNT"
		fi
	fi
	wait "$wait_pid"
	local hwm drops
	hwm=$(awk '/VmHWM/ {print $2 " " $3}' "/proc/$daemon_pid/status")
	drops=$(curl -sf "http://127.0.0.1:$port/metrics" | awk '/^ingot_top_dropped_events_total / {print $2}')
	local audits
	audits=$(curl -sf "http://127.0.0.1:$port/metrics" | awk '/^ingot_top_audit_records_total / {print $2}')
	kill -TERM "$daemon_pid"
	local t0=$SECONDS rc=0
	wait "$daemon_pid" || rc=$?
	echo "[$mode] $(cat "$dir/wait.out") audit_records=${audits:-0} peak_rss=$hwm daemon_exit=$rc stop_seconds=$((SECONDS - t0))"
	echo "[$mode] log lines: $(wc -l <"$dir/daemon.log"), audit bytes: $(du -sb "$dir/audit" | cut -f1)"
}

# Figures depend on what else runs: print the context with them.
echo "host: $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg)"
for mode in $MODES; do run_mode "$mode"; done
echo "host after: load average $(cut -d' ' -f1-3 /proc/loadavg)"
