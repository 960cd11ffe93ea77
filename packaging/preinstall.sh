#!/bin/sh
# The jan service runs as its own system user.
set -e
if ! getent group jan >/dev/null; then
	groupadd --system jan
fi
if ! getent passwd jan >/dev/null; then
	useradd --system --gid jan --home-dir /var/lib/jan --no-create-home --shell /usr/sbin/nologin \
		--comment "jan llm-api server" jan
fi
