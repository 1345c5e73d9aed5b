#!/usr/bin/env bash
# screenshot.sh — the README's picture of the dashboard, made by the running program: the demo
# in tmux at 160x48 with Anvil degraded (key D), captured with its colours
# (tmux capture-pane -e) and rendered to SVG by charmbracelet/freeze (pinned, built from the
# module proxy). Nothing is drawn by hand.
#
# Usage: scripts/screenshot.sh [OUT]     (default docs/screenshot.svg; `make screenshot`)
# Bounded: every wait has a deadline, and the tmux session is killed at exit.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
OUT=${1:-$ROOT/docs/screenshot.svg}
FREEZE=${FREEZE:-github.com/charmbracelet/freeze@v0.2.2}
WORK=$(mktemp -d /tmp/screenshot.XXXXXX)
SESSION=ingot-top-screenshot-$$
cleanup() {
	tmux -S "$WORK/tmux.sock" kill-server 2>/dev/null || true
	rm -rf "$WORK"
}
trap cleanup EXIT

command -v tmux >/dev/null || { echo "screenshot: tmux is needed (scripts/install-test-deps.sh installs it)" >&2; exit 1; }
(cd "$ROOT" && go build -o "$WORK/ingot-top" ./cmd/ingot-top)

tmux -S "$WORK/tmux.sock" new-session -d -s "$SESSION" -x 160 -y 48 \
	"TERM=xterm-256color $WORK/ingot-top demo --theme dark --scenario normal"
capture() { tmux -S "$WORK/tmux.sock" capture-pane -e -p -t "$SESSION"; }
# Wait for traffic, then degrade Anvil and wait for the banner to name it.
for _ in $(seq 150); do capture | grep -q 'ev/s' && break; sleep 0.1; done
sleep 8 # a few seconds of normal traffic, so the trends have a past before the fault
tmux -S "$WORK/tmux.sock" send-keys -t "$SESSION" D
for _ in $(seq 300); do capture | grep -q 'anvil since' && break; sleep 0.1; done
sleep 6 # the fault settles into the figures
capture >"$WORK/screen.ansi"
go run "$FREEZE" "$WORK/screen.ansi" --language ansi --output "$OUT" >/dev/null
echo "screenshot: wrote $OUT"
