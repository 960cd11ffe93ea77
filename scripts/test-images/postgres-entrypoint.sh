#!/bin/bash
# Entrypoint of jan-test/postgres:15 (built by postgres.sh). It stands in for
# the official postgres image in tests, for the part assets/compose.yaml uses:
#
#   POSTGRES_PASSWORD (or POSTGRES_PASSWORD_FILE)  the superuser's password;
#                     required on an empty data dir unless
#                     POSTGRES_HOST_AUTH_METHOD=trust
#   POSTGRES_USER     the superuser initdb creates (default postgres)
#   POSTGRES_DB       a database created at init (default $POSTGRES_USER)
#   POSTGRES_INITDB_ARGS, POSTGRES_HOST_AUTH_METHOD (default scram-sha-256)
#   PGDATA            /var/lib/postgresql/data, where the volume is mounted
#
# All of them matter only on an empty data dir: once PG_VERSION exists the
# server just starts, and the env is ignored (as in the official image).
# Connections over TCP need the password (scram-sha-256), the Unix socket
# inside the container is trusted. Logs go to stderr.
set -Eeuo pipefail

: "${PGDATA:=/var/lib/postgresql/data}"
export PGDATA

log() { printf '%s [entrypoint] %s\n' "$(date -u '+%Y-%m-%d %H:%M:%S UTC')" "$*" >&2; }
die() { log "error: $*"; exit 1; }

# file_env VAR [DEFAULT]: VAR comes from $VAR or from the file named by
# $VAR_FILE (for Docker secrets), never both.
file_env() {
	local var=$1 fvar="${1}_FILE" val=${2:-}
	if [[ -n ${!var:-} && -n ${!fvar:-} ]]; then
		die "both $var and $fvar are set; they are exclusive"
	fi
	if [[ -n ${!var:-} ]]; then
		val=${!var}
	elif [[ -n ${!fvar:-} ]]; then
		val=$(<"${!fvar}") || die "cannot read $fvar (${!fvar})"
	fi
	export "$var=$val"
	unset "$fvar"
}

# `docker run IMAGE -c key=value` means `postgres -c key=value`; any other
# command (psql, bash) runs as is.
if [[ $# -eq 0 || ${1:0:1} == - ]]; then
	set -- postgres "$@"
fi
if [[ $1 != postgres ]]; then
	exec "$@"
fi

if [[ $(id -u) == 0 ]]; then
	# A fresh named volume is owned by root: hand it to postgres, then run
	# this script again as postgres. setpriv execs, so postgres ends up as
	# PID 1 and gets docker stop's signal itself.
	mkdir -p "$PGDATA" /var/run/postgresql
	chmod 700 "$PGDATA"
	find "$PGDATA" \! -user postgres -exec chown postgres:postgres '{}' +
	chown postgres:postgres /var/run/postgresql
	chmod 3777 /var/run/postgresql
	exec setpriv --reuid=postgres --regid=postgres --init-groups "$BASH_SOURCE" "$@"
fi

if [[ ! -s $PGDATA/PG_VERSION ]]; then
	file_env POSTGRES_PASSWORD
	file_env POSTGRES_USER postgres
	file_env POSTGRES_DB "$POSTGRES_USER"
	file_env POSTGRES_INITDB_ARGS
	auth=${POSTGRES_HOST_AUTH_METHOD:-scram-sha-256}
	if [[ -z $POSTGRES_PASSWORD && $auth != trust ]]; then
		die "the data dir $PGDATA is empty and POSTGRES_PASSWORD is not set: set POSTGRES_PASSWORD (or POSTGRES_PASSWORD_FILE) for superuser $POSTGRES_USER, or POSTGRES_HOST_AUTH_METHOD=trust"
	fi

	log "initialising $PGDATA (superuser $POSTGRES_USER, database $POSTGRES_DB)"
	args=(--username="$POSTGRES_USER" --auth-local=trust --auth-host="$auth"
		--encoding=UTF8 --locale=C.UTF-8)
	# shellcheck disable=SC2086 # POSTGRES_INITDB_ARGS is a word list
	if [[ -n $POSTGRES_PASSWORD ]]; then
		# Through a pipe, so the password is never in a process's arguments.
		initdb "${args[@]}" --pwfile=<(printf '%s\n' "$POSTGRES_PASSWORD") $POSTGRES_INITDB_ARGS >&2
	else
		initdb "${args[@]}" $POSTGRES_INITDB_ARGS >&2
	fi
	# initdb covers 127.0.0.1 and ::1; clients come from other containers
	# and from the host through the published port.
	printf '\nhost all all all %s\n' "$auth" >>"$PGDATA/pg_hba.conf"

	if [[ $POSTGRES_DB != postgres ]]; then
		# The temporary server listens on no TCP address and on a private
		# socket dir, so pg_isready (TCP or the default socket) does not
		# report ready until the final server is up.
		sockdir=$(mktemp -d)
		pg_ctl -D "$PGDATA" -w -t 60 \
			-o "-c listen_addresses='' -c unix_socket_directories=$sockdir" start >&2
		psql -X -q -v ON_ERROR_STOP=1 -h "$sockdir" -U "$POSTGRES_USER" -d postgres \
			-v db="$POSTGRES_DB" <<-'SQL'
			CREATE DATABASE :"db";
		SQL
		pg_ctl -D "$PGDATA" -w -m fast stop >&2
		rmdir "$sockdir"
	fi
	log "initialised; starting the server"
fi

unset POSTGRES_PASSWORD
exec "$@"
