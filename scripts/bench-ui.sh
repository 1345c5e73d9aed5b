#!/usr/bin/env bash
# bench-ui.sh — cost of the dashboard on the operator's machine, measured side by side with
# nats-top, the tool it sits beside: CPU of the process, bytes written to its terminal, time
# to the first frame and memory over time, and ingot-top's ratio to nats-top.
#
# Usage: scripts/bench-ui.sh [--duration SECONDS]     (default 60; 3600 for the hour)
#   VARIANTS="diff nats-top" (default), any of: diff line diff-nocolor line-nocolor (the
#   dashboard with --renderer diff or line, with or without NO_COLOR), nats-top (v0.6.4 on
#   the same server, NATS_TOP=path to use a built one; otherwise `go install
#   github.com/nats-io/nats-top@v0.6.4`, or a build of that version from a scratch module
#   when go install cannot resolve it), ingest (the same feed + engine without a UI,
#   `ingot-top snapshot`, as a baseline), RATE=2000 events/s,
#   WARMUP=900 measures after 15 minutes, when every window is full (default 5 s),
#   KEEP=1 keeps the work directory (typescripts, timing files, RSS samples),
#   EXTRA_ENV="GOMAXPROCS=2 ..." adds environment variables to the measured processes,
#   EXTRA_ARGS="--refresh 2s" adds dashboard flags,
#   BIN=path measures an already built binary instead of building the working tree.
#
# Set-up: Debian's nats-server on a free loopback port (installed with apt-get if missing);
# `ingot-top simulate --rate $RATE` publishes a steady stream and serves simulated Forge and
# Anvil /health endpoints; each variant runs `ingot-top --forge-health ... --anvil-health ...`
# in a private tmux server (its own socket) in a 160x48 window, one variant at a time.
#
# How each figure is measured:
#   - bytes/s: the dashboard runs under util-linux `script -f -T timing -O typescript`, so the
#     typescript holds exactly the bytes the process wrote to its terminal (script sits
#     between the dashboard's pty and tmux and copies them unchanged; input echo is off).
#     Steady state = typescript growth over the measured interval, after a warm-up that
#     excludes the first full paint.
#   - CPU: utime+stime of the dashboard process from /proc/PID/stat at the start and end of
#     the measured interval, over the wall time between (clock-tick resolution, 10 ms, i.e.
#     ±0.02 % over 60 s). 100 % = one core.
#   - first frame: script's timing file gives each output chunk's delay (µs resolution) from
#     script starting the command; the first frame is the first chunk holding the status
#     bar ("ingot-top"). The command is a tiny sh wrapper that execs the dashboard, so the
#     origin is within ~1-2 ms of the dashboard's own start. The first byte (terminal setup,
#     background-colour query) is shown too.
#   - memory: VmRSS sampled every --sample seconds (default: duration/12, at least 5 s),
#     reported as first/last/max sample and the growth between the first and last sample.
# Targets at 2,000 events/s, 160x48: CPU at or below nats-top's in the same run; <= 400 B/s
# to the terminal; peak RSS <= 40 MiB after 15 minutes (WARMUP=900); first frame <= 50 ms;
# flat memory over an hour.
set -euo pipefail

DURATION=60
SAMPLE=0
WARMUP=${WARMUP:-5}
while (($#)); do
	case $1 in
	--duration) DURATION=$2; shift 2 ;;
	--sample) SAMPLE=$2; shift 2 ;;
	-h | --help) sed -n '2,35p' "$0"; exit 0 ;;
	*) echo "bench-ui: unknown argument $1" >&2; exit 2 ;;
	esac
done
((SAMPLE > 0)) || SAMPLE=$((DURATION / 12 > 5 ? DURATION / 12 : 5))
VARIANTS=${VARIANTS:-"diff nats-top"}
RATE=${RATE:-2000}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=lib.sh
source "$ROOT/scripts/lib.sh"
WORK=$(mktemp -d /tmp/bench-ui.XXXXXX)
SOCK="bench-ui-$$"
PIDS=()
cleanup() {
	tmux -L "$SOCK" kill-server 2>/dev/null || true
	for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
	wait 2>/dev/null || true
	if [[ "${KEEP:-0}" != 1 ]]; then rm -rf "$WORK"; else echo "kept $WORK"; fi
}
trap cleanup EXIT


for tool in tmux script python3; do
	command -v "$tool" >/dev/null || { echo "bench-ui: $tool is needed (scripts/install-test-deps.sh installs tmux)" >&2; exit 1; }
done
ensure_nats_server

if [[ -z "${BIN:-}" ]]; then
	log "building into $WORK ..."
	build_as_released "$WORK/ingot-top"
	BIN=$WORK/ingot-top
fi

if [[ " $VARIANTS " == *" nats-top "* && -z "${NATS_TOP:-}" ]]; then
	GOBIN_DIR=$(go env GOBIN)
	GOBIN_DIR=${GOBIN_DIR:-$(go env GOPATH)/bin}
	if command -v nats-top >/dev/null; then
		NATS_TOP=$(command -v nats-top)
	elif [[ -x $GOBIN_DIR/nats-top ]]; then
		NATS_TOP=$GOBIN_DIR/nats-top
	else
		log "installing nats-top v0.6.4 ..."
		if go install github.com/nats-io/nats-top@v0.6.4 >"$WORK/nats-top-install.log" 2>&1; then
			NATS_TOP=$GOBIN_DIR/nats-top
		else
			# go install looks up the module's deprecation through the proxy's version
			# list, which some proxies refuse; a scratch module pins the version instead.
			mkdir -p "$WORK/nats-top-build"
			(cd "$WORK/nats-top-build" && go mod init nats-top-build >/dev/null 2>&1 &&
				go get github.com/nats-io/nats-top@v0.6.4 >>"$WORK/nats-top-install.log" 2>&1 &&
				go build -o "$WORK/bin/nats-top" github.com/nats-io/nats-top >>"$WORK/nats-top-install.log" 2>&1) ||
				{ cat "$WORK/nats-top-install.log" >&2; echo "bench-ui: could not build nats-top" >&2; exit 1; }
			NATS_TOP=$WORK/bin/nats-top # not $WORK/nats-top: that is the variant's directory
		fi
	fi
fi

PORT=$(free_port)
MON=$(free_port)
nats-server -a 127.0.0.1 -p "$PORT" -m "$MON" >"$WORK/nats-server.log" 2>&1 &
PIDS+=($!)
URL=nats://127.0.0.1:$PORT
wait_for 15 bash -c "exec 3<>/dev/tcp/127.0.0.1/$PORT"

nvariants=$(wc -w <<<"$VARIANTS")
SIM_FOR=$(((DURATION + WARMUP + 30) * nvariants + 60))
FORGE=127.0.0.1:$(free_port)
ANVIL=127.0.0.1:$(free_port)
# The publisher runs from its own copy of the binary: the services it stands for are other
# programs, and a process mapping the same file keeps its pages cached, which the dashboard's
# faults would then map (see releaseCodePages in internal/cli).
cp "$BIN" "$WORK/simulator"
"$WORK/simulator" simulate -s "$URL" --rate "$RATE" --duration "${SIM_FOR}s" -q \
	--forge-health-listen "$FORGE" --anvil-health-listen "$ANVIL" >"$WORK/simulate.log" 2>&1 &
PIDS+=($!)
wait_for 15 curl -sf "http://$FORGE/health"
log "nats-server at $URL; simulator at $RATE events/s with health endpoints $FORGE $ANVIL"

printf 'set -g status off\nset -s escape-time 0\nset -g history-limit 0\n' >"$WORK/tmux.conf"
CLK_TCK=$(getconf CLK_TCK)

cpu_ticks() { sed 's/.*) //' "/proc/$1/stat" | awk '{print $12 + $13}'; }
rss_kb() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status"; }
now_ns() { date +%s%N; }

run_variant() { # run_variant NAME
	local name=$1 renderer=${1%%-*} nocolor="" dir="$WORK/$1"
	[[ $name == *-nocolor ]] && nocolor="NO_COLOR=1"
	mkdir -p "$dir/home"
	if [[ $name == nats-top ]]; then
		# nats-top's own default refresh is one second, as the dashboard's.
		cat >"$dir/run.sh" <<EOF
#!/bin/sh
echo \$\$ >"$dir/pid"
exec env -i TERM="\$TERM" HOME="$dir/home" LC_ALL=C.UTF-8 "$NATS_TOP" -s 127.0.0.1 -m "$MON" -d 1
EOF
	else
		cat >"$dir/run.sh" <<EOF
#!/bin/sh
echo \$\$ >"$dir/pid"
exec env -i TERM="\$TERM" HOME="$dir/home" LC_ALL=C.UTF-8 $nocolor ${EXTRA_ENV:-} "$BIN" -s "$URL" \\
	--forge-health "http://$FORGE/health" --anvil-health "http://$ANVIL/health" \\
	--renderer $renderer --report-dir "$dir/home" ${EXTRA_ARGS:-}
EOF
	fi
	chmod +x "$dir/run.sh"
	log "[$name] ${DURATION}s at 160x48 (warm-up ${WARMUP}s, RSS every ${SAMPLE}s) ..."
	tmux -L "$SOCK" -f "$WORK/tmux.conf" new-session -d -s "$name" -x 160 -y 48 -c "$dir" \
		"script -q -f -E never -T '$dir/timing' -O '$dir/typescript' -c '$dir/run.sh'"
	wait_for 10 test -s "$dir/pid"
	local pid
	pid=$(cat "$dir/pid")
	wait_for 10 test -e "/proc/$pid/stat"
	sleep "$WARMUP"
	if [[ $name != nats-top ]] && ! tmux -L "$SOCK" capture-pane -p -t "$name" | grep -q 'queue_'; then
		log "[$name] warning: no queue rows on screen after the warm-up"
	fi
	local t0 c0 b0 t1 c1 b1 end
	t0=$(now_ns) c0=$(cpu_ticks "$pid") b0=$(stat -c %s "$dir/typescript")
	: >"$dir/rss.txt"
	end=$((SECONDS + DURATION))
	local rem
	while ((SECONDS < end)); do
		echo "$(($(now_ns) / 1000000)) $(rss_kb "$pid")" >>"$dir/rss.txt"
		rem=$((end - SECONDS))
		sleep $((rem < SAMPLE ? rem : SAMPLE))
	done
	t1=$(now_ns) c1=$(cpu_ticks "$pid") b1=$(stat -c %s "$dir/typescript")
	echo "$(($(now_ns) / 1000000)) $(rss_kb "$pid")" >>"$dir/rss.txt"
	awk '/^VmHWM:/ {print $2}' "/proc/$pid/status" >"$dir/hwm.kb"
	awk '/^RssAnon:|^RssFile:/ {print $2}' "/proc/$pid/status" | paste -sd' ' >"$dir/split.kb"
	tmux -L "$SOCK" capture-pane -p -t "$name" >"$dir/screen.txt"
	tmux -L "$SOCK" send-keys -t "$name" q
	wait_for 15 bash -c "! kill -0 $pid" || log "[$name] dashboard did not exit after q"
	tmux -L "$SOCK" kill-session -t "$name" 2>/dev/null || true
	echo "$name $t0 $t1 $c0 $c1 $b0 $b1" >"$dir/measure.txt"
}

# run_ingest measures the same process without the UI: `ingot-top snapshot` runs the feed,
# decoder and engine on the same stream, so the difference is what drawing costs.
run_ingest() {
	local dir="$WORK/ingest" pid t0 c0 t1 c1 end rem
	mkdir -p "$dir"
	log "[ingest] ${DURATION}s of 'ingot-top snapshot' on the same stream (no UI) ..."
	env ${EXTRA_ENV:-} "$BIN" snapshot -s "$URL" --duration "$((DURATION + WARMUP + 2))s" -q --max-error-rate 1 >"$dir/snapshot.txt" 2>&1 &
	pid=$!
	PIDS+=("$pid")
	sleep "$WARMUP"
	t0=$(now_ns) c0=$(cpu_ticks "$pid")
	: >"$dir/rss.txt"
	end=$((SECONDS + DURATION))
	while ((SECONDS < end)); do
		echo "$(($(now_ns) / 1000000)) $(rss_kb "$pid")" >>"$dir/rss.txt"
		rem=$((end - SECONDS))
		sleep $((rem < SAMPLE ? rem : SAMPLE))
	done
	t1=$(now_ns) c1=$(cpu_ticks "$pid")
	echo "$(($(now_ns) / 1000000)) $(rss_kb "$pid")" >>"$dir/rss.txt"
	awk '/^VmHWM:/ {print $2}' "/proc/$pid/status" >"$dir/hwm.kb"
	awk '/^RssAnon:|^RssFile:/ {print $2}' "/proc/$pid/status" | paste -sd' ' >"$dir/split.kb"
	wait "$pid" || true
	echo "ingest $t0 $t1 $c0 $c1 0 0" >"$dir/measure.txt"
}

for v in $VARIANTS; do
	case $v in
	diff | line | diff-nocolor | line-nocolor | nats-top) run_variant "$v" ;;
	ingest) run_ingest ;;
	*) echo "bench-ui: unknown variant $v" >&2; exit 2 ;;
	esac
done

LOAD=$(cut -d' ' -f1-3 /proc/loadavg)
echo
echo "ingot-top dashboard cost — $(date -u +%FT%TZ), $(nproc) CPUs, load average $LOAD"
echo "160x48 in tmux $(tmux -V | cut -d' ' -f2), $RATE events/s from ingot-top simulate, --refresh 1s, ${DURATION}s measured per variant after ${WARMUP}s warm-up"
echo
python3 - "$WORK" "$CLK_TCK" $VARIANTS <<'EOF'
import os, sys
work, clk, variants = sys.argv[1], int(sys.argv[2]), sys.argv[3:]

def first_frame(d):
    """Delay (ms) of the first output chunk and of the first chunk with the status bar."""
    data = open(os.path.join(d, "typescript"), "rb").read()
    # util-linux script writes a one-line header into the typescript; timing covers what follows.
    start = data.index(b"\n") + 1 if data.startswith(b"Script started") else 0
    t = 0.0
    first_byte = frame = None
    pos = start
    for line in open(os.path.join(d, "timing")):
        parts = line.split()
        if len(parts) != 2:
            continue
        delay, n = float(parts[0]), int(parts[1])
        t += delay
        chunk = data[pos:pos + n]
        if first_byte is None and n > 0:
            first_byte = t
        if frame is None and b"ingot-top" in data[start:pos + n]:
            frame = t
            break
        pos += n
    ms = lambda x: "?" if x is None else f"{x * 1000:.1f}"
    return ms(first_byte), ms(frame)

rows = []
for v in variants:
    d = os.path.join(work, v)
    name, t0, t1, c0, c1, b0, b1 = open(os.path.join(d, "measure.txt")).read().split()
    wall = (int(t1) - int(t0)) / 1e9
    cpu = (int(c1) - int(c0)) / clk / wall * 100
    bps = (int(b1) - int(b0)) / wall
    ui = os.path.exists(os.path.join(d, "typescript"))
    total = os.path.getsize(os.path.join(d, "typescript")) if ui else 0
    rss = [int(l.split()[1]) for l in open(os.path.join(d, "rss.txt")) if len(l.split()) == 2]
    hwm = int(open(os.path.join(d, "hwm.kb")).read().strip() or 0)
    fb, ff = first_frame(d) if ui else ("-", "-")
    growth = (rss[-1] - rss[0]) / 1024 if rss else 0
    rows.append((v, ff, fb, f"{cpu:.2f}", f"{bps:.0f}" if ui else "-", f"{total}" if ui else "-", f"{rss[0]/1024:.1f}", f"{rss[-1]/1024:.1f}",
                 f"{max(rss)/1024:.1f}", f"{growth:+.1f}", f"{hwm/1024:.1f}"))
hdr = ("variant", "1st frame ms", "1st byte ms", "CPU %", "bytes/s", "total B", "RSS first MB", "RSS last MB",
       "RSS max MB", "growth MB", "VmHWM MB")
w = [max(len(str(r[i])) for r in rows + [hdr]) for i in range(len(hdr))]
for r in [hdr] + rows:
    print("  ".join(str(c).rjust(w[i]) if i else str(c).ljust(w[i]) for i, c in enumerate(r)))
by = {r[0]: r for r in rows}
peer = by.get("nats-top")
if peer:
    print()
    print("ratio to nats-top in the same run (ingot-top / nats-top):")
    for r in rows:
        if r[0] in ("nats-top", "ingest"):
            continue
        ratio = lambda i: f"{float(r[i]) / float(peer[i]):.2f}" if float(peer[i]) > 0 else "n/a"
        print(f"  {r[0]:<13} CPU {ratio(3)}, bytes/s {ratio(4)}, peak RSS (VmHWM) {ratio(10)}")
print()
print("resident at the end, heap and stacks (RssAnon) + the binary's own pages (RssFile):")
for v in variants:
    p = os.path.join(work, v, "split.kb")
    parts = open(p).read().split() if os.path.exists(p) else []
    if len(parts) == 2:
        print(f"  {v:<13} {int(parts[0])/1024:.1f} MB + {int(parts[1])/1024:.1f} MB")
print()
print("targets: CPU <= nats-top's in the same run; <= 400 bytes/s; peak RSS <= 40 MiB after 15 min (WARMUP=900); first frame <= 50 ms")
for r in rows:
    if r[4] == "-" or r[0] == "nats-top":
        continue  # the no-UI baseline and the peer have no targets
    ok = lambda b: "met" if b else "MISSED"
    ff = float(r[1]) if r[1] != "?" else 1e9
    cpu = ok(float(r[3]) <= float(peer[3])) if peer else "n/a (no nats-top row)"
    print(f"  {r[0]:<13} CPU {cpu}, bytes/s {ok(float(r[4]) <= 400)}, peak RSS {ok(float(r[10]) <= 40)}, first frame {ok(ff <= 50)}")
EOF
echo
echo "RSS samples (ms since epoch, kB) are in \$WORK/<variant>/rss.txt with KEEP=1."

# Where the bytes went: each dashboard variant's typescript replayed through a cursor model,
# every byte charged to the pane it was drawn in, and the worst pane's bytes by column and
# by row (scripts/term-bytes-by-pane.py --columns; KEEP=1 and --pane NAME for another pane).
for v in $VARIANTS; do
	[[ $v == nats-top || $v == ingest ]] && continue
	read -r _ t0 t1 _ _ b0 b1 <"$WORK/$v/measure.txt"
	echo
	echo "the three panes that took the most bytes, $v, and the worst one's columns:"
	python3 "$ROOT/scripts/term-bytes-by-pane.py" --columns "$WORK/$v/typescript" "$WORK/$v/screen.txt" "$b0" "$b1" \
		"$(python3 -c "print(($t1 - $t0) / 1e9)")" 3
done
