#!/bin/sh
# The unit is installed, not enabled: the user edits /etc/jan/jan.env first.
set -e
if [ -d /run/systemd/system ]; then
	systemctl daemon-reload >/dev/null 2>&1 || true
fi
echo "jan: the service is installed but not enabled. Edit /etc/jan/jan.env, then: sudo systemctl enable --now jan"
