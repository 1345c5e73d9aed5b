#!/usr/bin/env bash
# bench-ssh.sh — what each dashboard served over SSH by `ingot-top daemon` costs: the
# daemon's CPU per extra session and the bytes each session receives, with 1, 10 and 30
# sessions at 160x48 under simulated traffic (default 2,000 events/s).
#
# Usage: scripts/bench-ssh.sh [SESSIONS...]      (default: 1 10 30)
#   RATE=2000 events/s, SECONDS_PER_STEP=20 measured seconds per step, KEEP=1 keeps WORK.
#
# Parts:
#   - NATS: the embedded nats-server of internal/daemon/benchtool; traffic from
#     `ingot-top simulate --rate RATE`.
#   - The daemon: --ssh.listen-address on a free port, a generated client key in its
#     authorized keys, no rate limit, --ssh.max-sessions 64.
#   - Clients: real OpenSSH `ssh -t` clients, each in its own 160x48 tmux window (a private
#     tmux server), LANG=C.UTF-8 sent with SendEnv, TERM=tmux-256color.
#   - CPU: utime+stime of the daemon from /proc/PID/stat over SECONDS_PER_STEP with the
#     sessions open, minus the same with none open, divided by the number of sessions.
#   - Bytes: each session's bytes_sent / duration_s from the daemon's "SSH session ended"
#     log line (the first full paint included).
# Targets (issue 14): each extra session < 1 % of a core; bytes per session about a local
# dashboard's (~850 B/s). The machine may be shared: figures are rough, rerun on a quiet one.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=lib.sh
source "$ROOT/scripts/lib.sh"
RATE=${RATE:-2000}
STEP=${SECONDS_PER_STEP:-20}
STEPS=("$@")
if ((${#STEPS[@]} == 0)); then STEPS=(1 10 30); fi
command -v tmux >/dev/null || { log "tmux is needed"; exit 1; }
command -v ssh >/dev/null || { log "the OpenSSH client (ssh) is needed"; exit 1; }

bench_setup bench-ssh
TMUX_SOCK="$WORK/tmux.sock"
cleanup_tmux() { tmux -S "$TMUX_SOCK" kill-server 2>/dev/null || true; bench_cleanup; }
trap cleanup_tmux EXIT

start_bench_nats
ssh-keygen -q -t ed25519 -N '' -C bench -f "$WORK/id"
cp "$WORK/id.pub" "$WORK/authorized_keys"
SSH_PORT=$(free_port)
WEB_PORT=$(free_port)

"$WORK/ingot-top" simulate -s "$NATS_URL" --rate "$RATE" >"$WORK/sim.log" 2>&1 &
PIDS+=($!)
"$WORK/ingot-top" daemon -s "$NATS_URL" --web.listen-address "127.0.0.1:$WEB_PORT" \
	--audit.dir "$WORK/audit" --log.sample-rate 0 --log.file "$WORK/daemon.log" \
	--ssh.listen-address "127.0.0.1:$SSH_PORT" --ssh.authorized-keys "$WORK/authorized_keys" \
	--ssh.host-key "$WORK/host_key" --ssh.max-sessions 64 --ssh.rate-limit 0 &
DAEMON=$!
PIDS+=("$DAEMON")
wait_for 20 curl -sf "http://127.0.0.1:$WEB_PORT/-/ready"

ticks() { awk '{print $14 + $15}' "/proc/$DAEMON/stat"; }
HZ=$(getconf CLK_TCK)
# cpu_percent measures the daemon's CPU over STEP seconds, as % of one core.
cpu_percent() {
	local t0 t1
	t0=$(ticks)
	sleep "$STEP"
	t1=$(ticks)
	python3 -c "print(round(($t1 - $t0) * 100 / $HZ / $STEP, 2))"
}

sleep 3 # the engine warms up with traffic
log "baseline: no sessions, ${STEP}s ..."
BASE=$(cpu_percent)
echo "daemon at $RATE events/s, no SSH session: ${BASE}% of a core"

SSH_CMD="ssh -F /dev/null -p $SSH_PORT -i $WORK/id -o IdentitiesOnly=yes -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o BatchMode=yes -o LogLevel=ERROR -o SendEnv=LANG -t monitor@127.0.0.1"
printf '%-9s %-14s %-22s %-16s\n' sessions "daemon CPU %" "CPU per session (%)" "bytes/s/session"
for n in "${STEPS[@]}"; do
	before=$(grep -c '"SSH session ended"' "$WORK/daemon.log" || true)
	tmux -S "$TMUX_SOCK" -f /dev/null new-session -d -s bench -x 160 -y 48 "env LANG=C.UTF-8 $SSH_CMD"
	for ((i = 1; i < n; i++)); do
		tmux -S "$TMUX_SOCK" new-window -t bench "env LANG=C.UTF-8 $SSH_CMD"
	done
	# wait until every window's session is admitted
	wait_for 60 bash -c "(( \$(grep -c '\"SSH session started\"' '$WORK/daemon.log') - \$(grep -c '\"SSH session ended\"' '$WORK/daemon.log') >= $n ))"
	sleep 2
	cpu=$(cpu_percent)
	tmux -S "$TMUX_SOCK" kill-server
	wait_for 30 bash -c "(( \$(grep -c '\"SSH session ended\"' '$WORK/daemon.log') >= $((before + n)) ))"
	bps=$(grep '"SSH session ended"' "$WORK/daemon.log" | tail -n "$n" |
		python3 -c 'import json,sys; r=[json.loads(l) for l in sys.stdin]; print(round(sum(x["bytes_sent"]/x["duration_s"] for x in r)/len(r)))')
	per=$(python3 -c "print(round(($cpu - $BASE) / $n, 3))")
	printf '%-9s %-14s %-22s %-16s\n' "$n" "$cpu" "$per" "$bps"
done
echo "(${STEP}s per step at $RATE events/s, 160x48, TERM=tmux-256color, LANG=C.UTF-8; $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg))"
