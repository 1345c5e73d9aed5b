#!/usr/bin/env bash
# fault-inject.sh — drives the faults of "Trust under faults" against the built binary, as a
# new user would meet them, and prints a table: fault, expected, seen, verdict.
#
# Usage: scripts/fault-inject.sh [FAULT...]     (default: all of them)
#   faults: prom-nodata prom-html prom-big prom-hang prom-slow prom-error health500
#           nats-restart auth-rotation disk-full hostile-numbers snapshot-auth demo-port
#           bad-config
# Needs: go, python3, curl, tmux; disk-full needs root (mount -t tmpfs). Everything runs on
# 127.0.0.1, every wait has a deadline, and everything it starts is stopped at exit.
# KEEP=1 keeps the work directory (logs of every process) for a look afterwards.
# Exit status: 0 when every fault was seen handled as expected, 1 otherwise.
set -uo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=lib.sh
source "$ROOT/scripts/lib.sh"
WORK=$(mktemp -d /tmp/fault-inject.XXXXXX)
PIDS=()
TMUX_SESSIONS=()
MOUNTS=()
ROWS=()
FAILED=0

cleanup() {
	for s in "${TMUX_SESSIONS[@]}"; do tmux kill-session -t "$s" 2>/dev/null || true; done
	for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
	wait 2>/dev/null || true
	for m in "${MOUNTS[@]}"; do umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null || true; done
	if [[ -n ${KEEP:-} ]]; then echo "kept $WORK" >&2; else rm -rf "$WORK"; fi
}
trap cleanup EXIT

# row FAULT EXPECTED SEEN OK(0/1)
row() {
	local verdict=PASS
	if [[ $4 != 0 ]]; then verdict=FAIL; FAILED=1; fi
	ROWS+=("$1"$'\x1f'"$2"$'\x1f'"$3"$'\x1f'"$verdict")
	log "$verdict $1: $3"
}

BIN=$WORK/ingot-top
NATS_BIN=$WORK/nats-server
log "building ingot-top and nats-server (the module's own nats-server/v2) ..."
(cd "$ROOT" && go build -o "$BIN" ./cmd/ingot-top && go build -o "$NATS_BIN" github.com/nats-io/nats-server/v2) || exit 1

# start_nats PORT [ARGS...]: a real nats-server on 127.0.0.1:PORT; prints its pid.
start_nats() {
	local port=$1; shift
	"$NATS_BIN" -a 127.0.0.1 -p "$port" "$@" >>"$WORK/nats-$port.log" 2>&1 &
	local pid=$!
	PIDS+=("$pid")
	wait_for 10 bash -c "echo > /dev/tcp/127.0.0.1/$port" || return 1
	echo "$pid"
}

metric() { # metric URL NAME_WITH_LABELS: prints the value or nothing
	curl -s --max-time 2 "$1" | awk -v m="$2" '$1 == m {print $2; exit}'
}

# poll SECONDS CMD...: runs CMD until it succeeds or the time is up.
poll() { wait_for "$@"; }

BADHTTP_PORT=$(free_port)
python3 "$ROOT/scripts/fault/badhttp.py" "$BADHTTP_PORT" 2>"$WORK/badhttp.log" &
PIDS+=($!)
wait_for 10 curl -s "http://127.0.0.1:$BADHTTP_PORT/nodata" || { echo "bad HTTP server did not start" >&2; exit 1; }
BAD=http://127.0.0.1:$BADHTTP_PORT

# dashboard_fault NAME EXPECTED GREP ARGS...: runs the dashboard in tmux at 160x48 with ARGS,
# waits for GREP on screen, then checks that the process is still alive 5 s later.
dashboard_fault() {
	local name=$1 expected=$2 want=$3; shift 3
	local sess=fi-$name port
	port=$(free_port)
	local npid
	npid=$(start_nats "$port") || { row "$name" "$expected" "nats-server did not start" 1; return; }
	tmux new-session -d -s "$sess" -x 160 -y 48 "$BIN -s nats://127.0.0.1:$port $* 2>$WORK/$sess.err; echo EXIT=\$? >>$WORK/$sess.err; sleep 600"
	TMUX_SESSIONS+=("$sess")
	local seen="" deadline=$((SECONDS + 20))
	while ((SECONDS < deadline)); do
		seen=$(tmux capture-pane -p -t "$sess" | grep -m1 -iE "$want" || true)
		[[ -n $seen ]] && break
		sleep 0.25
	done
	local t0=$SECONDS
	while ((SECONDS < t0 + 5)); do sleep 0.25; done # stays up: any exit writes EXIT= below
	local died
	died=$(grep -h EXIT= "$WORK/$sess.err" 2>/dev/null || true)
	if [[ -n $died ]]; then
		row "$name" "$expected" "dashboard exited ($died): $(head -c 200 "$WORK/$sess.err" | tr '\n' ' ')" 1
	elif [[ -z $seen ]]; then
		row "$name" "$expected" "alive, but no /$want/ on screen within 20 s" 1
	else
		row "$name" "$expected" "alive; screen: $(echo "$seen" | tr -s ' ' | cut -c1-110)" 0
	fi
	tmux kill-session -t "$sess" 2>/dev/null || true
	kill "$npid" 2>/dev/null || true
}

# The Health pane's Prometheus row gives the reason first; the grid at 160x48 shows it.
fault_prom_nodata() { dashboard_fault prom-nodata "Prometheus row failing with the reason, no crash" 'Prometheus .*no "data"' --prometheus "$BAD/nodata"; }
fault_prom_html() { dashboard_fault prom-html "Prometheus row failing with the reason, no crash" 'Prometheus .*(not a Prometheus|text/html)' --prometheus "$BAD/html"; }
fault_prom_big() { dashboard_fault prom-big "Prometheus row failing (answer too large), no crash" 'Prometheus .*too large' --prometheus "$BAD/big"; }
fault_prom_hang() { dashboard_fault prom-hang "no answer within --prometheus.timeout, no freeze" 'Prometheus .*no answer within' --prometheus "$BAD/hang"; }
fault_prom_slow() { dashboard_fault prom-slow "no answer within --prometheus.timeout, no freeze" 'Prometheus .*no answer within' --prometheus "$BAD/slow"; }
fault_prom_error() { dashboard_fault prom-error "Prometheus's own error text shown" 'Prometheus .*(bad_data|parse error)' --prometheus "$BAD/error"; }
fault_health500() { dashboard_fault health500 "ingot row unhealthy with its status" 'ingot.*(500|unhealthy)' --ingot-health "$BAD/health500"; }

# start_daemon NAME NATS_URL [ARGS...]: sets DAEMON_PID and DAEMON_URL.
start_daemon() {
	local name=$1 url=$2; shift 2
	local port
	port=$(free_port)
	"$BIN" daemon -s "$url" --web.listen-address "127.0.0.1:$port" "$@" >"$WORK/$name.out" 2>"$WORK/$name.err" &
	DAEMON_PID=$!
	PIDS+=("$DAEMON_PID")
	DAEMON_URL=http://127.0.0.1:$port
	wait_for 10 curl -s "$DAEMON_URL/-/healthy"
}

fault_nats_restart() {
	local port npid restarts=10 lost=0 notup=0 i
	port=$(free_port)
	npid=$(start_nats "$port") || { row nats-restart "-" "nats-server did not start" 1; return; }
	start_daemon nats-restart "nats://127.0.0.1:$port" --audit.disable || { row nats-restart "-" "daemon did not start" 1; return; }
	poll 15 bash -c "[[ \$(curl -s $DAEMON_URL/metrics | awk '\$1==\"ingot_top_nats_up\"{print \$2}') == 1 ]]" || notup=$((notup + 1))
	local want=0
	for ((i = 1; i <= restarts; i++)); do
		kill -9 "$npid" 2>/dev/null; wait "$npid" 2>/dev/null
		npid=$(start_nats "$port") || { row nats-restart "-" "nats-server did not restart ($i)" 1; return; }
		if ! poll 30 bash -c "[[ \$(curl -s $DAEMON_URL/metrics | awk '\$1==\"ingot_top_nats_up\"{print \$2}') == 1 ]]"; then
			notup=$((notup + 1)); continue
		fi
		"$BIN" simulate -s "nats://127.0.0.1:$port" --count 200 --seed "$i" -q >/dev/null 2>&1 || true
		want=$((want + 200))
	done
	# every event published while connected is counted
	poll 20 bash -c "[[ \$(curl -s $DAEMON_URL/metrics | awk '\$1==\"ingot_top_events_received_total\"{s+=\$2} \$1 ~ /^ingot_top_events_received_total\\{/{s+=\$2} END{print s+0}') -ge $want ]]" || lost=1
	local got
	got=$(curl -s "$DAEMON_URL/metrics" | awk '$1 ~ /^ingot_top_events_received_total/{s+=$2} END{print s+0}')
	local rc
	rc=$(metric "$DAEMON_URL/metrics" ingot_top_nats_reconnects_total)
	row nats-restart "kill -9 and restart x$restarts: up again each time, events counted" \
		"up again $((restarts - notup))/$restarts, reconnects_total=$rc, events $got/$want" $((notup + lost))
	kill "$DAEMON_PID" "$npid" 2>/dev/null
}

fault_auth_rotation() {
	local port npid
	port=$(free_port)
	npid=$(start_nats "$port" --auth old-token) || { row auth-rotation "-" "nats-server did not start" 1; return; }
	start_daemon auth "nats://127.0.0.1:$port" --token new-token --audit.disable || { row auth-rotation "-" "daemon did not start" 1; return; }
	local reason=""
	poll 15 bash -c "curl -s $DAEMON_URL/health | grep -qi 'authorization'" && reason=$(curl -s "$DAEMON_URL/health" | grep -oi 'authorization violation' | head -1)
	kill "$npid"; wait "$npid" 2>/dev/null
	npid=$(start_nats "$port" --auth new-token) || { row auth-rotation "-" "nats-server did not restart" 1; return; }
	local t0=$SECONDS up=no
	poll 60 bash -c "[[ \$(curl -s $DAEMON_URL/metrics | awk '\$1==\"ingot_top_nats_up\"{print \$2}') == 1 ]]" && up="yes after $((SECONDS - t0)) s"
	local ok=1
	[[ -n $reason && $up == yes* ]] && ok=0
	row auth-rotation "server's reason shown; reconnects once credentials match" "reason '${reason:-none}'; nats_up=1: $up" $ok
	kill "$DAEMON_PID" "$npid" 2>/dev/null
}

fault_snapshot_auth() {
	local port npid out rc
	port=$(free_port)
	npid=$(start_nats "$port" --auth right-token) || { row snapshot-auth "-" "nats-server did not start" 1; return; }
	out=$("$BIN" snapshot -s "nats://127.0.0.1:$port" --token wrong --duration 3s 2>&1 >/dev/null)
	rc=$?
	local ok=1
	[[ $rc == 3 ]] && grep -qi 'authorization violation' <<<"$out" && ok=0
	row snapshot-auth "exit 3 with the server's reason" "exit $rc: $(grep -i -m1 'authoriz\|could not' <<<"$out" | cut -c1-110)" $ok
	kill "$npid" 2>/dev/null
}

fault_disk_full() {
	if [[ $(id -u) != 0 ]]; then row disk-full "-" "skipped: needs root to mount a tmpfs" 1; return; fi
	local dir=$WORK/full port npid
	mkdir -p "$dir"
	if ! mount -t tmpfs -o size=2m tmpfs "$dir"; then row disk-full "-" "skipped: mount -t tmpfs failed" 1; return; fi
	MOUNTS+=("$dir")
	# A filler takes most of the 2 MiB; removing it later is "space returns".
	dd if=/dev/zero of="$dir/filler" bs=64k count=20 status=none
	port=$(free_port)
	npid=$(start_nats "$port") || { row disk-full "-" "nats-server did not start" 1; return; }
	start_daemon disk "nats://127.0.0.1:$port" --audit.dir "$dir/audit" --log.file "$dir/daemon.log" ||
		{ row disk-full "-" "daemon did not start" 1; return; }
	poll 15 bash -c "[[ \$(curl -s $DAEMON_URL/metrics | awk '\$1==\"ingot_top_nats_up\"{print \$2}') == 1 ]]"
	"$BIN" simulate -s "nats://127.0.0.1:$port" --count 20000 --rate 0 --seed 7 -q >/dev/null 2>&1
	poll 30 bash -c "curl -s $DAEMON_URL/health | grep -q degraded"
	local health code lost counted written stderr_lines
	code=$(curl -s -o "$WORK/disk-health.json" -w '%{http_code}' "$DAEMON_URL/health")
	health=$(tr -d '\n' <"$WORK/disk-health.json" | grep -o '"status":"[a-z]*"' | head -1)
	lost=$(curl -s "$DAEMON_URL/metrics" | awk '$1 ~ /^ingot_top_audit_records_lost_total/{s+=$2} END{print s+0}')
	written=$(curl -s "$DAEMON_URL/metrics" | awk '$1 ~ /^ingot_top_audit_records_total/{s+=$2} END{print s+0}')
	counted=$(cat "$dir"/audit/*.jsonl 2>/dev/null | wc -l)
	stderr_lines=$(grep -ci 'no space' "$WORK/disk.err" || true)
	# Space returns: the daemon must say so once writes have held for a while.
	rm -f "$dir/filler"
	local recovered=no
	"$BIN" simulate -s "nats://127.0.0.1:$port" --rate 50 --duration 20s --seed 8 -q >/dev/null 2>&1 &
	PIDS+=($!)
	poll 60 grep -qi 'writing again' "$WORK/disk.err" && recovered=yes
	local ok=1
	[[ $health == *degraded* && $lost -gt 0 && $stderr_lines -gt 0 && $recovered == yes ]] && ok=0
	row disk-full "/health degraded, lost records counted, stderr says so, recovery line" \
		"/health $code $health; records on the trail $counted (counter $written), lost_total $lost; stderr 'no space' lines $stderr_lines; 'writing again' line: $recovered" $ok
	kill "$DAEMON_PID" "$npid" 2>/dev/null
	wait "$DAEMON_PID" 2>/dev/null
}

fault_hostile_numbers() {
	local port npid
	port=$(free_port)
	npid=$(start_nats "$port") || { row hostile-numbers "-" "nats-server did not start" 1; return; }
	start_daemon hostile "nats://127.0.0.1:$port" --audit.disable || { row hostile-numbers "-" "daemon did not start" 1; return; }
	poll 15 bash -c "[[ \$(curl -s $DAEMON_URL/metrics | awk '\$1==\"ingot_top_nats_up\"{print \$2}') == 1 ]]"
	local s=telemetry.anvil.queue.stats_updated
	local e='"event":["anvil","queue","stats_updated"]'
	printf '%s\n' \
		"$s {\"v\":1,$e,\"measurements\":{\"active_labelers\":1e300,\"pending\":1,\"in_progress\":1,\"completed\":1},\"metadata\":{\"queue_id\":\"q_hostile\"}}" \
		"$s {\"v\":1,$e,\"measurements\":{\"pending\":1e308,\"in_progress\":1,\"completed\":1,\"active_labelers\":1},\"metadata\":{\"queue_id\":\"q_hostile\"}}" \
		"$s {\"v\":1,$e,\"measurements\":{\"in_progress\":-5,\"pending\":1,\"completed\":1,\"active_labelers\":1},\"metadata\":{\"queue_id\":\"q_hostile\"}}" \
		"telemetry.anvil.label.submitted {\"v\":1,\"event\":[\"anvil\",\"label\",\"submitted\"],\"measurements\":{\"duration_ms\":-3},\"metadata\":{\"queue_id\":\"q_hostile\"}}" \
		"telemetry.anvil.label.submitted {\"v\":1,\"event\":[\"anvil\",\"label\",\"submitted\"],\"measurements\":{\"duration_ms\":1e400},\"metadata\":{\"queue_id\":\"q_hostile\"}}" |
		python3 "$ROOT/scripts/fault/natspub.py" "127.0.0.1:$port" >/dev/null
	local bad
	poll 10 bash -c "[[ \$(curl -s $DAEMON_URL/metrics | awk '\$1==\"ingot_top_invalid_events_total{reason=\\\"bad_value\\\"}\"{print \$2}') == 4 ]]"
	bad=$(metric "$DAEMON_URL/metrics" 'ingot_top_invalid_events_total{reason="bad_value"}')
	local badtype
	badtype=$(metric "$DAEMON_URL/metrics" 'ingot_top_invalid_events_total{reason="bad_type"}')
	local leaked
	leaked=$(curl -s "$DAEMON_URL/metrics" | grep -c 'q_hostile' || true)
	local ok=1
	[[ $bad == 4 && $badtype == 1 && $leaked == 0 ]] && ok=0
	row hostile-numbers "4 invalid bad_value + 1 bad_type, no series from them" \
		"bad_value=${bad:-0} bad_type=${badtype:-0}; series naming the queue: $leaked" $ok
	kill "$DAEMON_PID" "$npid" 2>/dev/null
}

fault_demo_port() {
	local port out rc
	port=$(free_port)
	python3 -c "import socket,time; s=socket.socket(); s.bind(('127.0.0.1',$port)); s.listen(); time.sleep(60)" &
	local holder=$!
	PIDS+=("$holder")
	wait_for 5 bash -c "echo > /dev/tcp/127.0.0.1/$port"
	out=$(timeout 20 "$BIN" demo --no-ui --port "$port" 2>&1 </dev/null)
	rc=$?
	local ok=1
	grep -qi 'address already in use' <<<"$out" && ok=0
	row demo-port "says 'address already in use' at once" "exit $rc: $(grep -i -m1 'in use\|ready\|error' <<<"$out" | cut -c1-110)" $ok
	kill "$holder" 2>/dev/null
}

fault_bad_config() {
	printf 'alert:\n  error-rate: "abc"\n' >"$WORK/bad.yaml"
	local rcs="" m ok=0
	for m in "config" "snapshot -s nats://127.0.0.1:1 --duration 1s" "daemon -s nats://127.0.0.1:1"; do
		# shellcheck disable=SC2086
		timeout 10 "$BIN" --config "$WORK/bad.yaml" $m >/dev/null 2>&1 </dev/null
		local rc=$?
		rcs+="${m%% *}=$rc "
		[[ $rc == 2 ]] || ok=1
	done
	timeout 10 "$BIN" snapshot -s 'nats://[::1' --duration 1s >/dev/null 2>&1
	local rc=$?
	rcs+="-s nats://[::1 → $rc"
	[[ $rc == 2 ]] || ok=1
	row bad-config "exit 2 in every mode" "$rcs" $ok
}

ALL=(prom-nodata prom-html prom-big prom-hang prom-slow prom-error health500 nats-restart auth-rotation disk-full hostile-numbers snapshot-auth demo-port bad-config)
SELECTED=("$@")
[[ ${#SELECTED[@]} -eq 0 ]] && SELECTED=("${ALL[@]}")
for f in "${SELECTED[@]}"; do
	fn=fault_${f//-/_}
	if ! declare -F "$fn" >/dev/null; then echo "unknown fault $f (known: ${ALL[*]})" >&2; exit 2; fi
	log "--- $f"
	"$fn"
done

printf '\n| fault | expected | seen | verdict |\n|---|---|---|---|\n'
for r in "${ROWS[@]}"; do
	IFS=$'\x1f' read -r a b c d <<<"$r"
	printf '| %s | %s | %s | %s |\n' "$a" "$b" "$c" "$d"
done
exit $FAILED
