#!/usr/bin/env bash
# bench-e2e.sh — end-to-end ingestion benchmark of the engine: a pre-generated publisher
# (`ingot-top simulate --pregenerated`) into a real nats-server on loopback, consumed by
# `ingot-top snapshot` (the feed + decoder + aggregation engine, nothing else), plus the
# per-event decode and aggregate micro-benchmarks, and the raw `nats bench` pub+sub rate on
# the same server in the same run, with ingot-top's share of it.
#
# Usage: scripts/bench-e2e.sh [COUNT]        (default 1000000 events)
#   RUNS=N       end-to-end runs (default 1); each is reported
#   NATS_BIN=... natscli for the raw comparison (default: `nats` on PATH, else $(go env
#                GOPATH)/bin/nats, installed there with `go install
#                github.com/nats-io/natscli/nats@v0.5.0` when missing)
#   KEEP=1       keep the work directory (logs, snapshot JSON)
#   INGOT_BIN=.. measure this ingot-top binary instead of building the work tree (A/B runs)
#   PROFILE=1    the consumer writes cpu.pprof and heap.pprof (--profile-dir) into the work
#                directory's runN/profile (with KEEP=1); the CPU profile costs a few per cent
#
# What is measured, and how:
#   - events/s: from the consumer's own view — messages received divided by the time between
#     the first and the last batch it took off the subscription (`arrival` in the snapshot
#     JSON). The publisher's own rate (messages handed to the server) is printed beside it.
#   - drops: slow-consumer drops counted by the consumer (`connection.slow_consumer_drops`),
#     and lost = published - received - drops (should be 0 on loopback).
#   - consumer CPU: user + system seconds of the snapshot process over the whole run (from
#     /usr/bin/time -v; "-" without it), and per event received. The machine is shared: a
#     rate moves with what else runs, the CPU a consumer spends per event much less, so
#     compare builds on it (alternate them: INGOT_BIN).
#   - peak RSS: the consumer's maximum resident set size (/usr/bin/time -v; without it,
#     VmHWM from /proc/PID/status). It includes the subscription's client-side buffer
#     (feed.DefaultPendingBytes, 512 MiB cap), which fills while the publisher outruns the
#     engine.
#   - per event: `go test -bench 'DecodeOwned|Aggregate'` (the median of BENCH_COUNT runs,
#     default 5) ns/op (wall) and cpu-ns/op (process CPU time per op, steadier on a shared
#     machine), their sum, and BenchmarkDecodeAggregate
#     (the simulator's traffic decoded and aggregated in one loop, payloads cold in cache).
#   - ratio: ingot-top's best events/s over the raw subscriber's msgs/s of `nats bench` pub+sub
#     (256 B messages, ours are ~340 B) on the same server, in the same run.
# Targets (2-core machine): decode+aggregate <= 0.8 µs/event (sum of the micro-benchmarks);
# >= 350,000 events/s end to end and >= 0.5 of raw nats bench, with zero drops. The machine
# is shared: the load average is printed with the figures.
# Bounded: every wait has a deadline; all processes started here are stopped on exit.
set -euo pipefail

COUNT=${1:-1000000}
RUNS=${RUNS:-1}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=lib.sh
source "$ROOT/scripts/lib.sh"
bench_setup bench-e2e




# --- nats-server: Debian's package, installed if missing -------------------------------
ensure_nats_server
command -v curl >/dev/null || { echo "bench-e2e: curl is needed to watch the server" >&2; exit 1; }

if [[ -n ${INGOT_BIN:-} ]]; then
	BIN=$(realpath "$INGOT_BIN")
	log "measuring $BIN"
else
	log "building into $WORK ..."
	(cd "$ROOT" && go build -o "$WORK/ingot-top" ./cmd/ingot-top)
	BIN=$WORK/ingot-top
fi

PORT=$(free_port)
MON=$(free_port)
nats-server -a 127.0.0.1 -p "$PORT" -m "$MON" >"$WORK/nats-server.log" 2>&1 &
PIDS+=($!)
URL=nats://127.0.0.1:$PORT
wait_for 15 curl -sf "http://127.0.0.1:$MON/varz"
NATS_VERSION=$(nats-server --version 2>/dev/null | head -1)
log "nats-server ($NATS_VERSION) at $URL, monitoring on :$MON"

# --- raw NATS comparison -----------------------------------------------------------------
NATS_CLI=${NATS_BIN:-$(command -v nats || true)}
GOBIN_DIR=$(go env GOBIN)
GOBIN_DIR=${GOBIN_DIR:-$(go env GOPATH)/bin}
[[ -z $NATS_CLI && -x $GOBIN_DIR/nats ]] && NATS_CLI=$GOBIN_DIR/nats
if [[ -z $NATS_CLI ]]; then
	log "installing natscli v0.5.0 (go install github.com/nats-io/natscli/nats@v0.5.0) ..."
	if go install github.com/nats-io/natscli/nats@v0.5.0 >"$WORK/natscli-install.log" 2>&1; then
		NATS_CLI=$GOBIN_DIR/nats
	else
		log "natscli install failed (see $WORK/natscli-install.log with KEEP=1)"
	fi
fi
RAW_SUB="n/a" RAW_PUB="n/a"
if [[ -n $NATS_CLI ]]; then
	log "raw comparison: nats bench pub+sub, $COUNT msgs of 256 B ..."
	"$NATS_CLI" bench sub bench.raw -s "$URL" --msgs "$COUNT" --size 256B --no-progress >"$WORK/raw-sub.txt" 2>&1 &
	sub_pid=$!
	PIDS+=("$sub_pid")
	wait_for 15 bash -c "curl -sf 'http://127.0.0.1:$MON/connz?subs=1' | grep -q 'bench\.raw'"
	timeout 120 "$NATS_CLI" bench pub bench.raw -s "$URL" --msgs "$COUNT" --size 256B --no-progress >"$WORK/raw-pub.txt" 2>&1 || true
	timeout 60 tail --pid="$sub_pid" -f /dev/null || kill "$sub_pid" 2>/dev/null || true
	RAW_SUB=$(grep -Eio 'subscriber stats: [0-9,]+ msgs/sec' "$WORK/raw-sub.txt" | grep -Eo '[0-9,]+' | tr -d , | head -1 || true)
	RAW_PUB=$(grep -Eio 'publisher stats: [0-9,]+ msgs/sec' "$WORK/raw-pub.txt" | grep -Eo '[0-9,]+' | tr -d , | head -1 || true)
	RAW_SUB=${RAW_SUB:-n/a} RAW_PUB=${RAW_PUB:-n/a}
else
	log "natscli not found: skipping the raw nats bench comparison"
fi

# --- micro-benchmarks: decode and aggregate per event ------------------------------------
BENCH_COUNT=${BENCH_COUNT:-5}
log "go test -bench 'DecodeOwned|Aggregate|DecodeAggregate' ($BENCH_COUNT × 1s each) ..."
(cd "$ROOT" && go test -run '^$' -bench '^Benchmark(DecodeOwned|Aggregate|DecodeAggregate)$' -benchtime=1s -count="$BENCH_COUNT" \
	./internal/wire/ ./internal/engine/) >"$WORK/gobench.txt" 2>&1 || { cat "$WORK/gobench.txt" >&2; exit 1; }
bench_field() { # bench_field NAME UNIT → the median of the values before UNIT on the benchmark's lines
	awk -v n="$1" -v u="$2" '$1 ~ "^Benchmark"n"(-[0-9]+)?$" { for (i = 2; i <= NF; i++) if ($i == u) print $(i-1) }' "$WORK/gobench.txt" |
		sort -g | awk '{ v[NR] = $1 } END { if (NR) print (NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2) }'
}
DEC_NS=$(bench_field DecodeOwned ns/op)
DEC_CPU=$(bench_field DecodeOwned cpu-ns/op)
AGG_NS=$(bench_field Aggregate ns/op)
AGG_CPU=$(bench_field Aggregate cpu-ns/op)
DA_NS=$(bench_field DecodeAggregate ns/op)
DA_CPU=$(bench_field DecodeAggregate cpu-ns/op)
# A benchmark without a cpu-ns/op metric counts with its wall figure in the CPU column.
DEC_CPU=${DEC_CPU:-$DEC_NS}
AGG_CPU=${AGG_CPU:-$AGG_NS}

# --- end to end ----------------------------------------------------------------------------
# The consumer collects for a fixed time that covers pre-generation (~1 s per million on
# this machine), publishing and draining with a wide margin; it then prints its JSON.
COLLECT=$((15 + COUNT / 50000))
# The publisher is unpaced, so the client buffer is raised out of the way: this measures how
# fast events are processed, not how a bounded buffer drops a burst (scripts/bench-burst.sh
# measures that, with the default 8 MiB).
PENDING=(--nats.pending-bytes "${PENDING_BYTES:-2GiB}" --nats.pending-msgs 4194304)
RESULTS=()
for run in $(seq 1 "$RUNS"); do
	dir="$WORK/run$run"
	mkdir -p "$dir"
	PROFILE_ARGS=()
	[[ ${PROFILE:-0} == 1 ]] && PROFILE_ARGS=(--profile-dir "$dir/profile")
	log "run $run/$RUNS: consumer 'ingot-top snapshot' for ${COLLECT}s, publisher 'simulate --pregenerated --count $COUNT' ..."
	if [[ -x /usr/bin/time ]]; then
		/usr/bin/time -v -o "$dir/time.txt" "$BIN" "${PROFILE_ARGS[@]}" snapshot -s "$URL" --duration "${COLLECT}s" --format json -q "${PENDING[@]}" \
			--max-error-rate 1 >"$dir/snapshot.json" 2>"$dir/snapshot.err" &
	else
		"$BIN" "${PROFILE_ARGS[@]}" snapshot -s "$URL" --duration "${COLLECT}s" --format json -q "${PENDING[@]}" --max-error-rate 1 \
			>"$dir/snapshot.json" 2>"$dir/snapshot.err" &
	fi
	consumer=$!
	PIDS+=("$consumer")
	wait_for 15 bash -c "curl -sf 'http://127.0.0.1:$MON/connz?subs=1' | grep -q '\"telemetry\.'"
	hwm_pid=$(pgrep -P "$consumer" -f 'ingot-top snapshot' || echo "$consumer")
	# VmHWM is the fallback peak; it is read just before the consumer exits.
	( peak=0; while kill -0 "$hwm_pid" 2>/dev/null; do
		v=$(awk '/^VmHWM:/ {print $2}' "/proc/$hwm_pid/status" 2>/dev/null || true)
		[[ -n $v ]] && peak=$v && echo "$peak" >"$dir/vmhwm.kb"
		sleep 0.2
	done ) &
	PIDS+=($!)

	timeout $((COLLECT + 60)) "$BIN" simulate -s "$URL" --pregenerated --count "$COUNT" -q >"$dir/publish.txt" 2>&1 ||
		{ log "publisher failed:"; cat "$dir/publish.txt" >&2; exit 1; }
	set +e
	timeout $((COLLECT + 30)) tail --pid="$consumer" -f /dev/null
	wait "$consumer"
	consumer_status=$?
	set -e
	# exit 1 means the snapshot found a problem (slow-consumer drops, invalid messages);
	# the figures still stand and are judged below.
	if ((consumer_status > 1)); then
		log "consumer exited with status $consumer_status:"; cat "$dir/snapshot.err" >&2; exit 1
	fi
	peak_kb=$(awk -F': ' '/Maximum resident set size/ {print $2}' "$dir/time.txt" 2>/dev/null || true)
	[[ -z $peak_kb ]] && peak_kb=$(cat "$dir/vmhwm.kb" 2>/dev/null || echo 0)
	pub_rate=$(grep -Eo '[0-9]+ msg/s' "$dir/publish.txt" | grep -Eo '[0-9]+' | head -1 || echo 0)
	RESULTS+=("$(python3 - "$dir/snapshot.json" "$COUNT" "$peak_kb" "$pub_rate" "$dir/time.txt" <<'EOF'
import json, re, sys
doc = json.load(open(sys.argv[1]))
count, peak_kb, pub_rate = int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4] or 0)
c, t, a = doc["connection"], doc["totals"], doc.get("arrival") or {}
received, drops = c["messages_received"], c["slow_consumer_drops"]
lost = count - received - drops
cpu, per_event = "-", "-"
try:
    times = open(sys.argv[5]).read()
    secs = [float(m) for m in re.findall(r'(?:User|System) time \(seconds\): ([0-9.]+)', times)]
    if len(secs) == 2:
        cpu = f'{sum(secs):.2f}'
        if received:
            per_event = f'{sum(secs) / received * 1e6:.2f}'
except OSError:
    pass
print(f'{a.get("received_per_second", 0):.0f} {a.get("span_seconds", 0):.3f} {received} {drops} {lost} '
      f'{t["events"]} {t["invalid"]} {peak_kb} {pub_rate} {cpu} {per_event}')
EOF
)")
done

# --- summary -------------------------------------------------------------------------------
LOAD=$(cut -d' ' -f1-3 /proc/loadavg)
CPUS=$(nproc)
echo
echo "ingot-top end-to-end benchmark — $(date -u +%FT%TZ), $CPUS CPUs, load average $LOAD"
echo "$NATS_VERSION on loopback; $COUNT pre-generated events per run"
echo
printf '%-44s %14s %14s\n' "per event (go test -bench, median of $BENCH_COUNT)" "ns/op (wall)" "cpu-ns/op"
printf '%-44s %14s %14s\n' "wire.DecodeOwned (as the feed decodes)" "${DEC_NS:-?}" "${DEC_CPU:-?}"
printf '%-44s %14s %14s\n' "engine.Aggregate" "${AGG_NS:-?}" "${AGG_CPU:-?}"
SUM_NS=$(python3 -c "print(f'{float(\"${DEC_NS:-nan}\")+float(\"${AGG_NS:-nan}\"):.0f}')")
SUM_CPU=$(python3 -c "print(f'{float(\"${DEC_CPU:-nan}\")+float(\"${AGG_CPU:-nan}\"):.0f}')")
printf '%-44s %14s %14s   target <= 800 ns\n' "decode + aggregate" "$SUM_NS" "$SUM_CPU"
printf '%-44s %14s %14s\n' "DecodeAggregate (simulated mix, cold payloads)" "${DA_NS:-?}" "${DA_CPU:-?}"
echo
printf '%-5s %12s %10s %10s %8s %6s %10s %8s %10s %12s %8s %10s\n' run "events/s" "span s" received drops lost events invalid "peak RSS" "publish/s" "CPU s" "µs CPU/ev"
best=0 all_zero=1
for i in "${!RESULTS[@]}"; do
	read -r rate span received drops lost events invalid peak pub cpu per_event <<<"${RESULTS[$i]}"
	printf '%-5s %12s %10s %10s %8s %6s %10s %8s %7s MB %12s %8s %10s\n' $((i + 1)) "$rate" "$span" "$received" "$drops" "$lost" \
		"$events" "$invalid" "$((peak / 1024))" "$pub" "$cpu" "$per_event"
	((rate > best)) && best=$rate
	((drops == 0 && lost == 0)) || all_zero=0
done
echo
printf '%-44s %14s\n' "raw nats bench sub, 256 B (msgs/s)" "$RAW_SUB"
printf '%-44s %14s\n' "raw nats bench pub, 256 B (msgs/s)" "$RAW_PUB"
RATIO=$(python3 -c "print(f'{$best / float(\"$RAW_SUB\"):.2f}')" 2>/dev/null || echo "n/a")
printf '%-44s %14s\n' "ingot-top best / raw sub" "$RATIO"
echo
verdict() { if [[ $1 == 1 ]]; then echo "MET"; else echo "MISSED"; fi; }
per_event_ok=$(python3 -c "print(1 if float('$SUM_CPU') <= 800 else 0)" 2>/dev/null || echo 0)
combined_ok=$(python3 -c "print(1 if float('${DA_CPU:-nan}') <= 800 else 0)" 2>/dev/null || echo 0)
rate_ok=0
((best >= 350000 && all_zero == 1)) && rate_ok=1
ratio_ok=$(python3 -c "print(1 if float('$RATIO') >= 0.5 else 0)" 2>/dev/null || echo 0)
echo "target decode+aggregate <= 0.8 µs/event (cpu-ns):      $(verdict "$per_event_ok") ($SUM_CPU ns, the sum)"
echo "                                   in one loop:         $(verdict "$combined_ok") (${DA_CPU:-?} ns, DecodeAggregate)"
echo "target >= 350,000 events/s end to end, zero drops:      $(verdict "$rate_ok") (best $best events/s)"
echo "target >= 0.5 of raw nats bench (same run):             $(verdict "$ratio_ok") ($RATIO)"
