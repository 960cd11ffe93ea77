#!/bin/sh
set -e
if [ -d /run/systemd/system ]; then
	systemctl stop jan >/dev/null 2>&1 || true
	systemctl disable jan >/dev/null 2>&1 || true
fi
