#!/bin/sh
# Runs before the package's files go (deb: prerm remove|upgrade; rpm: %preun with $1 = 0 on
# erase, 1 on upgrade). Only a removal stops the daemon; an upgrade restarts it afterwards.
set -e
case "$1" in
remove | 0) ;;
*) exit 0 ;;
esac
if [ -d /run/systemd/system ] && command -v systemctl >/dev/null 2>&1; then
	systemctl disable --now ingot-top.service ingot-top.socket >/dev/null 2>&1 || true
fi
exit 0
