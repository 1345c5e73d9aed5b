#!/bin/sh
# Runs after the package's files are in place (deb: postinst configure; rpm: %post).
# The daemon is not enabled or started: it needs a NATS address first
# (/etc/ingot-top/config.yaml). On upgrade a running daemon is restarted on the new binary.
set -e
if [ -d /run/systemd/system ] && command -v systemctl >/dev/null 2>&1; then
	systemctl daemon-reload >/dev/null 2>&1 || true
	systemctl try-restart ingot-top.service >/dev/null 2>&1 || true
fi
exit 0
