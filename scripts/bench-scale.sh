#!/usr/bin/env bash
# bench-scale.sh — how a durable group of `ingot-top daemon`s scales on a 3-node NATS
# cluster (docs/scale-out.md): events/s of the group and per daemon with 1, 2 and 3 daemons
# sharing one R3 stream through one durable consumer (--group).
#
# Usage: scripts/bench-scale.sh [COUNT]      (default 300000 events per run)
#   DAEMONS="1 2 3" (default), KEEP=1 keeps the work directory,
#   DAEMON_FLAGS="..." extra daemon flags (e.g. --audit.disable to take the fsync out).
#
# Parts, all on loopback:
#   - NATS: three nats-server processes built from the module's nats-server (go.mod), routed
#     to each other, JetStream on; a fresh cluster for every run, so runs do not share state.
#   - Stream: benchtool `publish --jetstream --replicas 3` fills stream TELEMETRY (R3) with
#     COUNT events before any daemon starts: the figure is the group's drain rate.
#   - Daemons: N `ingot-top daemon --durable scale --group scale`, daemon i connected to node
#     i, with the audit trail (fsync per batch), the exporter and the sampled log on.
#   - Counting: benchtool `wait` sums the daemons' /metrics until all COUNT are counted; rate
#     is between the first and the last change of the sum, and shares are per daemon.
# Everything (cluster, daemons, publisher) runs on this host: on 2 cores, more daemons
# compete with three nats-servers for the same CPUs, so these figures are a floor, not the
# scaling of daemons on their own machines.
set -euo pipefail

COUNT=${1:-300000}
DAEMONS=${DAEMONS:-"1 2 3"}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=lib.sh
source "$ROOT/scripts/lib.sh"
bench_setup bench-scale

log "building into $WORK ..."
(cd "$ROOT" && go build -o "$WORK/ingot-top" ./cmd/ingot-top &&
	go build -o "$WORK/benchtool" ./internal/daemon/benchtool &&
	go build -o "$WORK/nats-server" github.com/nats-io/nats-server/v2)

# start_cluster DIR: three routed nodes; sets URLS (array) and CLUSTER_PIDS.
start_cluster() {
	local dir=$1 i j client=() route=() monitor=() routes
	mkdir -p "$dir"
	for i in 0 1 2; do client+=("$(free_port)"); route+=("$(free_port)"); monitor+=("$(free_port)"); done
	URLS=() CLUSTER_PIDS=()
	for i in 0 1 2; do
		routes=""
		for j in 0 1 2; do
			[[ $i == "$j" ]] || routes+="nats-route://127.0.0.1:${route[$j]}, "
		done
		cat >"$dir/n$i.conf" <<-EOF
			server_name: n$i
			listen: 127.0.0.1:${client[$i]}
			http: 127.0.0.1:${monitor[$i]}
			jetstream { store_dir: "$dir/n$i", max_file_store: 8GB }
			cluster { name: bench, listen: 127.0.0.1:${route[$i]}, routes: [${routes%, }] }
		EOF
		"$WORK/nats-server" -c "$dir/n$i.conf" >"$dir/n$i.log" 2>&1 &
		PIDS+=($!) CLUSTER_PIDS+=($!)
		URLS+=("nats://127.0.0.1:${client[$i]}")
	done
	# /healthz is 200 once the node's JetStream is current with the cluster's meta leader.
	for i in 0 1 2; do wait_for 60 curl -sf "http://127.0.0.1:${monitor[$i]}/healthz"; done
}

stop_pids() { for pid in "$@"; do kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; done; }

run() {
	local n=$1 dir="$WORK/daemons-$1" i port metrics="" daemon_pids=() out
	log "[$n daemon(s)] fresh 3-node cluster"
	start_cluster "$dir/nats"
	# The meta leader takes a moment after the routes are up: retry creating the stream.
	local tries=0
	until "$WORK/benchtool" publish --server "${URLS[0]}" --count "$COUNT" --jetstream --replicas 3 --stream TELEMETRY >"$dir/publish.out" 2>&1; do
		((++tries < 20)) || { cat "$dir/publish.out"; return 1; }
		sleep 1 # retry pacing while JetStream elects its meta leader
	done
	log "[$n daemon(s)] stream TELEMETRY (R3) holds $COUNT events: $(cat "$dir/publish.out")"
	for ((i = 0; i < n; i++)); do
		port=$(free_port)
		"$WORK/ingot-top" daemon -s "${URLS[$i]}" --no-context --durable scale --group scale --stream TELEMETRY --create \
			--web.listen-address "127.0.0.1:$port" --log.file "$dir/daemon-$i.log" \
			--audit.dir "$dir/audit-$i" ${DAEMON_FLAGS:-} &
		PIDS+=($!) daemon_pids+=($!)
		metrics+="${metrics:+,}http://127.0.0.1:$port/metrics"
		wait_for 30 curl -sf "http://127.0.0.1:$port/-/healthy"
	done
	out=$("$WORK/benchtool" wait --metrics "$metrics" --expect "$COUNT")
	local rate
	rate=$(sed -n 's/.* rate=\([0-9]*\)\/s.*/\1/p' <<<"$out")
	echo "[$n daemon(s)] $out per_daemon=$((rate / n))/s load=$(cut -d' ' -f1 /proc/loadavg)"
	stop_pids "${daemon_pids[@]}"
	stop_pids "${CLUSTER_PIDS[@]}"
}

echo "host: $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg)"
for n in $DAEMONS; do run "$n"; done
echo "host after: load average $(cut -d' ' -f1-3 /proc/loadavg)"
