#!/usr/bin/env bash
# bench-first-data.sh — time from launching the dashboard to its first figure on screen, live
# and from Prometheus, RUNS times each, with the median.
#
# Usage: scripts/bench-first-data.sh
#   RUNS=5 (default), RATE=2000 events/s, KEEP=1 keeps the work directory,
#   BIN=path measures an already built binary instead of building the working tree,
#   MODES="live prometheus" (default both).
#
# Set-up: Debian's nats-server on a free loopback port; `ingot-top simulate --rate $RATE`
# publishing the platform's traffic; for the Prometheus mode also `ingot-top daemon` on the
# same stream, and the real Prometheus (/usr/bin/prometheus) scraping the daemon every second,
# with queue series in it before any run starts.
#
# What is timed: each run starts the dashboard in a fresh tmux server (160x48) and polls
# `tmux capture-pane` every 10 ms until a queue row ("queue_") is on screen; the time is from
# just before `tmux new-session` to the poll that sees it (so it includes tmux starting the
# process, ~5-15 ms, and up to one poll). Live: `ingot-top -s <nats>`, the row comes from
# the stream. Prometheus: `ingot-top --prometheus <url> -s <a port where nothing listens>`,
# so the only way a queue row can appear is Prometheus's answer.
# Target: <= 250 ms to first data in both modes. The machine is shared: the load average is
# printed with the figures; compare runs made in the same sitting.
set -euo pipefail

RUNS=${RUNS:-5}
RATE=${RATE:-2000}
MODES=${MODES:-"live prometheus"}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=lib.sh
source "$ROOT/scripts/lib.sh"
bench_setup bench-first-data
SOCK="bench-first-data-$$"
cleanup_tmux() { tmux -L "$SOCK" kill-server 2>/dev/null || true; }
trap 'cleanup_tmux; bench_cleanup' EXIT

for tool in tmux curl python3; do
	command -v "$tool" >/dev/null || { echo "bench-first-data: $tool is needed (scripts/install-test-deps.sh)" >&2; exit 1; }
done
ensure_nats_server
PROMETHEUS=${PROMETHEUS:-/usr/bin/prometheus}
if [[ " $MODES " == *" prometheus "* && ! -x $PROMETHEUS ]]; then
	echo "bench-first-data: $PROMETHEUS is needed for the prometheus mode (scripts/install-test-deps.sh)" >&2
	exit 1
fi

if [[ -z "${BIN:-}" ]]; then
	log "building into $WORK ..."
	build_as_released "$WORK/ingot-top"
	BIN=$WORK/ingot-top
fi

PORT=$(free_port)
nats-server -a 127.0.0.1 -p "$PORT" >"$WORK/nats-server.log" 2>&1 &
PIDS+=($!)
URL=nats://127.0.0.1:$PORT
wait_for 15 bash -c "exec 3<>/dev/tcp/127.0.0.1/$PORT"
cp "$BIN" "$WORK/simulator" # its own copy, as in bench-ui.sh: the services are other programs
"$WORK/simulator" simulate -s "$URL" --rate "$RATE" --duration 3600s -q >"$WORK/simulate.log" 2>&1 &
PIDS+=($!)
log "nats-server at $URL; simulator at $RATE events/s"

PROM_URL=""
if [[ " $MODES " == *" prometheus "* ]]; then
	DAEMON=127.0.0.1:$(free_port)
	mkdir -p "$WORK/daemon"
	"$BIN" daemon -s "$URL" --web.listen-address "$DAEMON" --log.file "$WORK/daemon/daemon.log" \
		--audit.dir "$WORK/daemon/audit" >"$WORK/daemon.out" 2>&1 &
	PIDS+=($!)
	wait_for 20 curl -sf "http://$DAEMON/-/ready"
	PROM=127.0.0.1:$(free_port)
	cat >"$WORK/prometheus.yml" <<EOF
global:
  scrape_interval: 1s
  scrape_timeout: 900ms
scrape_configs:
  - job_name: ingot-top
    static_configs:
      - targets: ["$DAEMON"]
EOF
	"$PROMETHEUS" --config.file="$WORK/prometheus.yml" --storage.tsdb.path="$WORK/prom-data" \
		--web.listen-address="$PROM" --log.level=warn >"$WORK/prometheus.log" 2>&1 &
	PIDS+=($!)
	wait_for 30 curl -sf "http://$PROM/-/ready"
	PROM_URL=http://$PROM
	log "daemon at $DAEMON, Prometheus at $PROM_URL; waiting for queue series ..."
	wait_for 60 bash -c "curl -sf 'http://$PROM/api/v1/query' --data-urlencode 'query=count(rate(ingot_labels_submitted_total[1m]) > 0)' | grep -q '\"value\"'"
fi

DEAD_PORT=$(free_port) # nothing listens here: the Prometheus mode has no live stream
printf 'set -g status off\nset -s escape-time 0\nset -g history-limit 0\n' >"$WORK/tmux.conf"

# one_run MODE N prints the milliseconds to the first queue row, or "timeout".
one_run() {
	local mode=$1 n=$2 dir="$WORK/$1-$2" args
	mkdir -p "$dir/home"
	case $mode in
	live) args="-s $URL" ;;
	prometheus) args="-s nats://127.0.0.1:$DEAD_PORT --prometheus $PROM_URL" ;;
	esac
	cat >"$dir/run.sh" <<EOF
#!/bin/sh
exec env -i TERM=xterm-256color HOME="$dir/home" LC_ALL=C.UTF-8 "$BIN" $args --report-dir "$dir/home"
EOF
	chmod +x "$dir/run.sh"
	python3 - "$SOCK" "$WORK/tmux.conf" "$dir/run.sh" "$mode$n" <<'EOF'
import subprocess, sys, time
sock, conf, cmd, name = sys.argv[1:5]
start = time.monotonic()
subprocess.run(["tmux", "-L", sock, "-f", conf, "new-session", "-d", "-s", name, "-x", "160", "-y", "48", cmd], check=True)
deadline = start + 15
frame = None
while time.monotonic() < deadline:
    out = subprocess.run(["tmux", "-L", sock, "capture-pane", "-p", "-t", name], capture_output=True, text=True).stdout
    now = (time.monotonic() - start) * 1000
    if frame is None and "ingot-top" in out:
        frame = now
    if "queue_" in out:
        print(f"{now:.0f} {frame if frame is not None else now:.0f}")
        break
    time.sleep(0.01)
else:
    print("timeout timeout")
subprocess.run(["tmux", "-L", sock, "kill-session", "-t", name], capture_output=True)
EOF
}

declare -A RESULT FRAME
for mode in $MODES; do
	for n in $(seq 1 "$RUNS"); do
		read -r ms frame_ms <<<"$(one_run "$mode" "$n")"
		log "[$mode] run $n: first data $ms ms (first frame $frame_ms ms)"
		RESULT[$mode]+="$ms "
		FRAME[$mode]+="$frame_ms "
	done
done

LOAD=$(cut -d' ' -f1-3 /proc/loadavg)
echo
echo "ingot-top time to first data — $(date -u +%FT%TZ), $(nproc) CPUs, load average $LOAD"
echo "160x48 in tmux $(tmux -V | cut -d' ' -f2), $RATE events/s from ingot-top simulate, $RUNS runs per mode"
echo
for mode in $MODES; do
	python3 - "$mode" "${RESULT[$mode]}" "${FRAME[$mode]}" <<'EOF'
import statistics, sys
mode, runs, frames = sys.argv[1], sys.argv[2].split(), sys.argv[3].split()
def median(xs):
    ok = [float(r) for r in xs if r != "timeout"]
    return (statistics.median(ok), len(ok) == len(xs)) if ok else (None, False)
med, all_ok = median(runs)
fmed, _ = median(frames)
show = lambda m: "n/a" if m is None else f"{m:.0f} ms"
verdict = "met" if all_ok and med <= 250 else "MISSED"
print(f"{mode:<11} first data (ms): {' '.join(runs):<32} median {show(med):>8}   target <= 250 ms: {verdict}")
print(f"{'':<11} first frame (ms): {' '.join(frames):<31} median {show(fmed):>8}")
EOF
done
