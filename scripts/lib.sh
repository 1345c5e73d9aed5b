# lib.sh — helpers the bench scripts share; source it, do not run it.

log() { printf '%s %s\n' "$(date -u +%T)" "$*" >&2; }

wait_for() { # wait_for SECONDS CMD...
	local deadline=$((SECONDS + $1)); shift
	until "$@" >/dev/null 2>&1; do
		if ((SECONDS > deadline)); then log "timed out waiting for: $*"; return 1; fi
		sleep 0.1
	done
}

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# ensure_nats_server installs Debian's nats-server when it is missing.
ensure_nats_server() {
	command -v nats-server >/dev/null 2>&1 && return 0
	log "installing nats-server (Debian package) ..."
	local sudo=""
	if [[ $(id -u) -ne 0 ]]; then sudo=sudo; fi
	export DEBIAN_FRONTEND=noninteractive
	$sudo apt-get update -qq
	$sudo apt-get install -y -qq --no-install-recommends nats-server >/dev/null
}

# bench_setup NAME makes WORK (/tmp/NAME.XXXXXX, kept with KEEP=1) and PIDS, whose processes
# are killed at exit.
bench_setup() {
	WORK=$(mktemp -d "/tmp/$1.XXXXXX")
	PIDS=()
	trap bench_cleanup EXIT
}
bench_cleanup() {
	for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
	wait 2>/dev/null || true
	if [[ "${KEEP:-0}" != 1 ]]; then rm -rf "$WORK"; else echo "kept $WORK"; fi
}

# build_as_released OUT builds ingot-top as the release does (.goreleaser.yml: no cgo,
# -trimpath, stripped), so that memory and start-up figures are those of the shipped binary.
build_as_released() {
	(cd "$ROOT" && CGO_ENABLED=0 go build -trimpath -ldflags '-s -w' -o "$1" ./cmd/ingot-top)
}

# start_bench_nats builds ingot-top and the benchtool into WORK and starts benchtool's
# embedded nats-server (JetStream store in WORK); it sets NATS_URL.
start_bench_nats() {
	log "building into $WORK ..."
	(cd "$ROOT" && go build -o "$WORK/ingot-top" ./cmd/ingot-top && go build -o "$WORK/benchtool" ./internal/daemon/benchtool)
	"$WORK/benchtool" nats --store "$WORK/js" --url-file "$WORK/nats.url" &
	PIDS+=($!)
	wait_for 15 test -s "$WORK/nats.url"
	NATS_URL=$(cat "$WORK/nats.url")
	log "nats-server (embedded) at $NATS_URL"
}
