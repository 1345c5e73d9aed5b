#!/bin/sh
# Runs after the package's files are gone. The audit trail (/var/lib/ingot-top) and the logs
# (/var/log/ingot-top) are kept: they are compliance records, not package files.
set -e
if [ -d /run/systemd/system ] && command -v systemctl >/dev/null 2>&1; then
	systemctl daemon-reload >/dev/null 2>&1 || true
fi
exit 0
