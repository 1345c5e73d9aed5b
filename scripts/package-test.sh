#!/usr/bin/env bash
# package-test.sh: the release as a release engineer sees it. Builds every archive and the
# deb and rpm packages with the pinned goreleaser (snapshot mode), installs the amd64 deb
# with dpkg, and checks what it installed:
#   - ingot-top --version and `version` print the snapshot's version, commit and date;
#   - systemd-analyze verify accepts the service and the socket (and the offline security
#     score is printed);
#   - man -l renders the installed page without warnings;
#   - the installed bash completion registers in bash and answers; zsh and fish too when
#     they are installed;
#   - a daemon started with the installed config serves /metrics that pass
#     `promtool check metrics` and hold ingot_top_build_info with the snapshot's version.
# It removes the package and everything it started on exit, and bounds every step in time.
#
#   scripts/package-test.sh               # build, install, check (root: dpkg -i)
#   scripts/package-test.sh --build-only  # goreleaser check + snapshot release only
#
# Needs Go, git, and on Debian: dpkg, systemd (systemd-analyze), man-db, prometheus
# (promtool); missing Debian packages are installed with apt-get when running as root.
set -euo pipefail
cd "$(dirname "$0")/.."

GORELEASER_VERSION=v2.17.0 # v2.18 needs Go 1.27; keep in step with .goreleaser.yml
build_only=false
[ "${1:-}" = "--build-only" ] && build_only=true

log() { printf '%s package-test: %s\n' "$(date -u +%T)" "$*" >&2; }
fail() {
	log "FAIL: $*"
	exit 1
}

work=$(mktemp -d)
daemon_pid=""
installed=false
cleanup() {
	local rc=$?
	if [ -n "$daemon_pid" ] && kill -0 "$daemon_pid" 2>/dev/null; then
		kill -TERM "$daemon_pid" 2>/dev/null || true
		for _ in $(seq 100); do kill -0 "$daemon_pid" 2>/dev/null || break; sleep 0.1; done
		kill -KILL "$daemon_pid" 2>/dev/null || true
	fi
	if $installed; then
		log "removing the package (dpkg --purge ingot-top)"
		timeout 120 dpkg --purge ingot-top >/dev/null 2>&1 || log "dpkg --purge failed"
		rm -rf /var/lib/ingot-top /var/log/ingot-top
		if [ -e /usr/bin/ingot-top ] || [ -e /etc/ingot-top/config.yaml ]; then
			log "FAIL: files left after dpkg --purge"
			rc=1
		fi
	fi
	rm -rf "$work"
	if [ "$rc" -eq 0 ]; then log "PASS"; fi
	exit "$rc"
}
trap cleanup EXIT

# --- goreleaser, pinned ---------------------------------------------------------------------
gobin=$(go env GOBIN)
[ -n "$gobin" ] || gobin=$(go env GOPATH)/bin
goreleaser=$gobin/goreleaser
if ! "$goreleaser" --version 2>/dev/null | grep -q "GitVersion: *${GORELEASER_VERSION}$"; then
	log "installing goreleaser ${GORELEASER_VERSION} into $gobin (minutes, once)"
	GOFLAGS= GOBIN=$gobin timeout 1800 go install "github.com/goreleaser/goreleaser/v2@${GORELEASER_VERSION}"
fi
"$goreleaser" --version 2>/dev/null | grep -q "GitVersion: *${GORELEASER_VERSION}$" || fail "goreleaser ${GORELEASER_VERSION} not runnable at $goreleaser"

# goreleaser reads the commit through git and falls back to "none" when the clone has no
# remote; lend it one for this run only (environment, not the repository's config).
if [ -z "$(git remote 2>/dev/null)" ]; then
	export GIT_CONFIG_COUNT=1 GIT_CONFIG_KEY_0=remote.origin.url GIT_CONFIG_VALUE_0=https://github.com/nsai/ingot-top.git
fi

log "goreleaser check"
timeout 300 "$goreleaser" check
log "goreleaser release --snapshot --clean --skip=publish (every platform; minutes)"
start=$SECONDS
timeout 3600 "$goreleaser" release --snapshot --clean --skip=publish >"$work/goreleaser.log" 2>&1 ||
	{ tail -50 "$work/goreleaser.log" >&2; fail "goreleaser release"; }
log "snapshot built in $((SECONDS - start)) s"
grep -iE 'warn' "$work/goreleaser.log" >&2 || true

version=$(sed -n 's/.*"version":"\([^"]*\)".*/\1/p' dist/metadata.json | head -1)
commit=$(sed -n 's/.*"commit":"\([^"]*\)".*/\1/p' dist/metadata.json | head -1)
[ -n "$version" ] || fail "no version in dist/metadata.json"
log "snapshot version $version, commit $commit"

expect=(
	"ingot-top_${version}_linux_amd64.tar.gz" "ingot-top_${version}_linux_arm64.tar.gz"
	"ingot-top_${version}_linux_armv7.tar.gz" "ingot-top_${version}_darwin_amd64.tar.gz"
	"ingot-top_${version}_darwin_arm64.tar.gz" "ingot-top_${version}_windows_amd64.zip"
	"ingot-top_${version}_freebsd_amd64.tar.gz" "ingot-top_${version}_freebsd_arm64.tar.gz"
	checksums.txt
)
for f in "${expect[@]}"; do [ -f "dist/$f" ] || fail "dist/$f missing; dist has: $(ls dist)"; done
debs=(dist/*.deb) rpms=(dist/*.rpm)
[ ${#debs[@]} -eq 2 ] && [ ${#rpms[@]} -eq 2 ] || fail "want a deb and an rpm for amd64 and arm64, got: ${debs[*]} ${rpms[*]}"
(cd dist && sha256sum --quiet -c checksums.txt) || fail "checksums.txt does not match dist/"
tar -tzf "dist/ingot-top_${version}_linux_amd64.tar.gz" >"$work/archive.txt"
for f in LICENSE NOTICE THIRD_PARTY_NOTICES README.md RUNBOOK.md systemd/ingot-top.service man/ingot-top.1.gz completions/ingot-top.bash deploy/prometheus/ingot-alerts.yml; do
	grep -qx "$f" "$work/archive.txt" || fail "the linux archive lacks $f"
done
log "archives, packages and checksums: ok ($(ls dist/*.tar.gz dist/*.zip dist/*.deb dist/*.rpm | wc -l) files)"
$build_only && exit 0

# --- install the deb ---------------------------------------------------------------------------
[ "$(id -u)" -eq 0 ] || fail "installing the deb needs root (dpkg -i); run as root, or use --build-only"
command -v dpkg >/dev/null || fail "no dpkg: the install checks need Debian or Ubuntu"
apt_need=()
command -v systemd-analyze >/dev/null || apt_need+=(systemd)
command -v man >/dev/null || apt_need+=(man-db)
command -v promtool >/dev/null || apt_need+=(prometheus)
command -v curl >/dev/null || apt_need+=(curl)
[ -f /usr/share/bash-completion/bash_completion ] || apt_need+=(bash-completion)
if [ ${#apt_need[@]} -gt 0 ]; then
	log "apt-get install ${apt_need[*]}"
	export DEBIAN_FRONTEND=noninteractive
	[ -e /usr/sbin/policy-rc.d ] || { printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d && rc_made=1; }
	timeout 600 apt-get -o Acquire::http::Timeout=30 update -qq </dev/null
	timeout 900 apt-get -o Acquire::http::Timeout=30 install -y -qq --no-install-recommends "${apt_need[@]}" </dev/null >/dev/null
	[ -n "${rc_made:-}" ] && rm -f /usr/sbin/policy-rc.d
fi
if dpkg -s ingot-top >/dev/null 2>&1; then fail "ingot-top is already installed here; remove it first (this test purges what it installs)"; fi

deb=$(ls dist/ingot-top_*_amd64.deb)
log "dpkg -i $deb"
installed=true
timeout 300 dpkg -i "$deb" >/dev/null

dpkg -L ingot-top >"$work/files.txt"
for f in /usr/bin/ingot-top /usr/lib/systemd/system/ingot-top.service /usr/lib/systemd/system/ingot-top.socket \
	/etc/ingot-top/config.yaml /usr/share/bash-completion/completions/ingot-top /usr/share/zsh/vendor-completions/_ingot-top \
	/usr/share/fish/vendor_completions.d/ingot-top.fish /usr/share/man/man1/ingot-top.1.gz /usr/share/doc/ingot-top/README.md \
	/usr/share/doc/ingot-top/RUNBOOK.md /usr/share/doc/ingot-top/prometheus/ingot-alerts.yml /usr/share/doc/ingot-top/copyright \
	/usr/share/doc/ingot-top/THIRD_PARTY_NOTICES; do
	grep -qx "$f" "$work/files.txt" || fail "the package does not install $f"
	[ -e "$f" ] || fail "$f is listed but absent (a dpkg path-exclude, as in slim images?)"
done
dpkg-query -W -f='${Conffiles}\n' ingot-top | grep -q '/etc/ingot-top/config.yaml' || fail "/etc/ingot-top/config.yaml is not a conffile"
log "installed files and conffile: ok"

# --- the binary -----------------------------------------------------------------------------------
for args in --version version; do
	out=$(timeout 10 ingot-top $args)
	echo "  ingot-top $args: $out" >&2
	[[ $out == "ingot-top $version (commit $commit, built "*", go1."*", linux/amd64)" ]] || fail "ingot-top $args printed: $out"
done

# --- systemd ------------------------------------------------------------------------------------
log "systemd-analyze verify"
timeout 60 systemd-analyze verify /usr/lib/systemd/system/ingot-top.service /usr/lib/systemd/system/ingot-top.socket >"$work/verify.txt" 2>&1 ||
	{ cat "$work/verify.txt" >&2; fail "systemd-analyze verify"; }
if grep -i 'ingot-top' "$work/verify.txt" >&2; then fail "systemd-analyze verify warns about the units"; fi
if timeout 60 systemd-analyze security --offline=true /usr/lib/systemd/system/ingot-top.service >"$work/security.txt" 2>&1; then
	echo "  $(grep -i 'overall exposure' "$work/security.txt")" >&2
fi

# --- man page -----------------------------------------------------------------------------------
log "man -l /usr/share/man/man1/ingot-top.1.gz"
MANWIDTH=100 timeout 30 man --warnings -l /usr/share/man/man1/ingot-top.1.gz >"$work/man.txt" 2>"$work/man.err" || fail "man -l: $(cat "$work/man.err")"
[ ! -s "$work/man.err" ] || { cat "$work/man.err" >&2; fail "man -l warns"; }
for want in NAME SYNOPSIS "ingot-top daemon" "CONNECTION FLAGS" "EXIT STATUS" "nats://127.0.0.1:4222"; do
	grep -q -- "$want" "$work/man.txt" || fail "the rendered man page lacks $want"
done
echo "  $(head -1 "$work/man.txt" | tr -s ' ')  ($(wc -l <"$work/man.txt") lines)" >&2

# --- completions ----------------------------------------------------------------------------------
log "bash completion"
out=$(timeout 30 bash --norc --noprofile -c 'source /usr/share/bash-completion/completions/ingot-top && complete -p ingot-top')
echo "  $out" >&2
[[ $out == *"-C 'ingot-top' ingot-top"* || $out == *"-C ingot-top ingot-top"* ]] || fail "bash: ingot-top not registered: $out"
out=$(COMP_LINE='ingot-top daemon --log.format ' COMP_POINT=30 timeout 10 bash --norc --noprofile -c 'source /usr/share/bash-completion/completions/ingot-top && ingot-top ingot-top "" --log.format' | sort | tr '\n' ' ')
[ "$out" = "json logfmt " ] || fail "bash: completing --log.format offered: $out"
echo "  COMP_LINE='ingot-top daemon --log.format ' offers: $out" >&2
if [ -f /usr/share/bash-completion/bash_completion ]; then
	# The way an interactive shell loads it: bash-completion's on-demand loader.
	out=$(timeout 30 bash --norc --noprofile -c 'source /usr/share/bash-completion/bash_completion; __load_completion ingot-top 2>/dev/null || _completion_loader ingot-top; complete -p ingot-top')
	[[ $out == *ingot-top* ]] || fail "bash-completion does not load the installed script: $out"
	echo "  bash-completion's loader: $out" >&2
else
	echo "  (bash-completion is not installed: its on-demand loader is not tried)" >&2
fi
if command -v zsh >/dev/null; then
	log "zsh completion"
	out=$(timeout 60 zsh -f -c 'autoload -U compinit && compinit -u -D && print -r -- $_comps[ingot-top]')
	[ "$out" = "_ingot-top" ] || fail "zsh: compinit did not register _ingot-top from vendor-completions: $out"
	echo "  zsh: compinit registers $out" >&2
fi
if command -v fish >/dev/null; then
	log "fish completion"
	out=$(HOME=$work timeout 60 fish -c 'complete -C "ingot-top daemon --log.format "' | sort | tr '\n' ' ')
	[ "$out" = "json logfmt " ] || fail "fish: completing --log.format offered: $out"
	echo "  fish: complete -C 'ingot-top daemon --log.format ' offers: $out" >&2
fi

# --- a daemon's /metrics ---------------------------------------------------------------------------
log "daemon /metrics through promtool"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])' 2>/dev/null || echo 19464)
# Started as ingot-top.service starts it: the installed config, and the listener handed over
# by systemd (systemd-socket-activate binds it, as ingot-top.socket does, and execs the
# daemon on the first connection). NATS is absent on purpose: /metrics is served either way,
# and ingot_top_nats_up says 0.
daemon=(ingot-top daemon --config /etc/ingot-top/config.yaml --server nats://127.0.0.1:1
	--audit.dir "$work/audit" --log.file "$work/log/ingot-top.log")
if command -v systemd-socket-activate >/dev/null; then
	echo "  under systemd-socket-activate -l 127.0.0.1:$port, with --web.systemd-socket" >&2
	systemd-socket-activate -l "127.0.0.1:$port" "${daemon[@]}" --web.systemd-socket >"$work/daemon.out" 2>&1 &
else
	"${daemon[@]}" --web.listen-address "127.0.0.1:$port" >"$work/daemon.out" 2>&1 &
fi
daemon_pid=$!
for _ in $(seq 200); do
	curl -fsS "http://127.0.0.1:$port/metrics" -o "$work/metrics.txt" 2>/dev/null && break
	kill -0 "$daemon_pid" 2>/dev/null || { cat "$work/daemon.out" >&2; fail "the daemon exited"; }
	sleep 0.1
done
[ -s "$work/metrics.txt" ] || { cat "$work/daemon.out" >&2; fail "no /metrics on 127.0.0.1:$port within 20 s"; }
timeout 30 promtool check metrics <"$work/metrics.txt" || fail "promtool check metrics"
echo "  promtool check metrics: ok ($(grep -vc '^#' "$work/metrics.txt") samples)" >&2
grep -E '^ingot_top_build_info\{' "$work/metrics.txt" >&2 || fail "/metrics has no ingot_top_build_info"
grep '^ingot_top_build_info{' "$work/metrics.txt" | grep -qF "version=\"${version}\"" || fail "ingot_top_build_info does not carry version $version"
grep '^ingot_top_build_info{' "$work/metrics.txt" | grep -qF "revision=\"${commit}\"" || fail "ingot_top_build_info does not carry revision $commit"
kill -TERM "$daemon_pid"
for _ in $(seq 200); do kill -0 "$daemon_pid" 2>/dev/null || break; sleep 0.1; done
if kill -0 "$daemon_pid" 2>/dev/null; then fail "the daemon did not stop within 20 s of SIGTERM"; fi
wait "$daemon_pid" || fail "the daemon exited with status $? after SIGTERM"
daemon_pid=""
log "all checks passed for $version"
