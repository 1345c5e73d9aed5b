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
