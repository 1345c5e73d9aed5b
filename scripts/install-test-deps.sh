#!/usr/bin/env bash
# Installs what the test suite runs for real: Debian's prometheus (the server and promtool),
# tmux (the dashboard end-to-end test) and zstd (recordings read by the real zstd).
# Idempotent; a no-op when everything is present.
#
# In CI (CI=true) a tool that cannot be installed is an error: CI must run every test.
# Elsewhere (no apt-get, not root and no password-less sudo, no network) it says what is
# missing and returns 0: the tests that need a missing tool skip with the reason, and
# `make test` lists them at the end. It never waits for input (sudo -n) and apt-get is
# bounded in time, so it cannot hang.
set -euo pipefail

need=()
command -v prometheus >/dev/null 2>&1 || need+=(prometheus)
command -v promtool >/dev/null 2>&1 || need+=(prometheus)
command -v tmux >/dev/null 2>&1 || need+=(tmux)
command -v zstd >/dev/null 2>&1 || need+=(zstd)
[ ${#need[@]} -eq 0 ] && exit 0

# Deduplicate.
mapfile -t need < <(printf '%s\n' "${need[@]}" | sort -u)

# cannot WHY: fail in CI, otherwise explain and let the tests skip.
cannot() {
	if [ "${CI:-}" = "true" ]; then
		echo "install-test-deps: cannot install ${need[*]}: $1 (CI=true: the suite must run every test)" >&2
		exit 1
	fi
	echo "install-test-deps: not installing ${need[*]}: $1." >&2
	echo "install-test-deps: the tests that need them will be skipped; make test lists them at the end." >&2
	echo "install-test-deps: to run them, install Prometheus (prometheus, promtool), tmux and zstd with your package manager." >&2
	exit 0
}

command -v apt-get >/dev/null 2>&1 || cannot "no apt-get on this machine"
sudo=""
if [ "$(id -u)" -ne 0 ]; then
	if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then sudo="sudo -n"; else
		cannot "need root or password-less sudo for apt-get"
	fi
fi
echo "install-test-deps: installing ${need[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
apt_opts=(-o Acquire::http::Timeout=30 -o Acquire::Retries=2 -o Dpkg::Options::=--force-confold)
timeout 600 $sudo apt-get "${apt_opts[@]}" update -qq </dev/null || cannot "apt-get update failed (offline?)"
# The Debian prometheus package would start a service on :9090 where an init system runs;
# policy-rc.d keeps the package from starting anything, since tests start their own servers.
if [ ! -e /usr/sbin/policy-rc.d ]; then
	printf '#!/bin/sh\nexit 101\n' | $sudo tee /usr/sbin/policy-rc.d >/dev/null
	$sudo chmod +x /usr/sbin/policy-rc.d
	trap '$sudo rm -f /usr/sbin/policy-rc.d' EXIT
fi
timeout 900 $sudo apt-get "${apt_opts[@]}" install -y -qq --no-install-recommends "${need[@]}" </dev/null >/dev/null ||
	cannot "apt-get install ${need[*]} failed"
command -v prometheus >/dev/null && command -v promtool >/dev/null && command -v tmux >/dev/null && command -v zstd >/dev/null
