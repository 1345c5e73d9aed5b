#!/usr/bin/env bash
# Installs what the test suite runs for real: Debian's prometheus (the server and promtool)
# and tmux (the dashboard end-to-end test). Idempotent; a no-op when everything is present.
set -euo pipefail

need=()
command -v prometheus >/dev/null 2>&1 || need+=(prometheus)
command -v promtool >/dev/null 2>&1 || need+=(prometheus)
command -v tmux >/dev/null 2>&1 || need+=(tmux)
[ ${#need[@]} -eq 0 ] && exit 0

# Deduplicate.
mapfile -t need < <(printf '%s\n' "${need[@]}" | sort -u)

sudo=""
if [ "$(id -u)" -ne 0 ]; then
	if command -v sudo >/dev/null 2>&1; then sudo="sudo"; else
		echo "install-test-deps: need root (or sudo) to apt-get install: ${need[*]}" >&2
		exit 1
	fi
fi
echo "install-test-deps: installing ${need[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
# The Debian prometheus package would start a service on :9090 where an init system runs;
# policy-rc.d keeps the package from starting anything, since tests start their own servers.
if [ ! -e /usr/sbin/policy-rc.d ]; then
	printf '#!/bin/sh\nexit 101\n' | $sudo tee /usr/sbin/policy-rc.d >/dev/null
	$sudo chmod +x /usr/sbin/policy-rc.d
	trap '$sudo rm -f /usr/sbin/policy-rc.d' EXIT
fi
$sudo apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
command -v prometheus >/dev/null && command -v promtool >/dev/null && command -v tmux >/dev/null
