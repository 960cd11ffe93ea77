#!/usr/bin/env bash
# Checks that jan-test/postgres:15 (postgres.sh builds it) behaves as
# assets/compose.yaml expects of the official postgres image: the compose
# healthcheck passes, the password works over TCP and a wrong one is refused,
# data on the named volume survives a new container, and docker stop shuts
# the server down fast and cleanly with a client still connected.
#
#   scripts/test-images/postgres-check.sh [IMAGE]
#
# Exits non-zero on the first failure; removes its containers and volume.
set -euo pipefail

image=${1:-jan-test/postgres:15}
name=jan-test-pgcheck-$$
vol=$name-data
user=jan_user
db=jan_llm_api
pass="s3cret 'with\" quotes"

start=$SECONDS
say() { printf 'postgres-check: [%3ds] %s\n' "$((SECONDS - start))" "$*"; }
fail() {
	printf 'postgres-check: FAIL: %s\n' "$*" >&2
	for c in "$name-1" "$name-2"; do
		docker logs --tail 30 "$c" 2>/dev/null | sed "s/^/  $c: /" >&2 || true
	done
	exit 1
}
cleanup() {
	docker rm -f "$name-1" "$name-2" >/dev/null 2>&1 || true
	docker volume rm "$vol" >/dev/null 2>&1 || true
}
trap cleanup EXIT

docker image inspect "$image" >/dev/null 2>&1 || fail "no image $image (run scripts/test-images/postgres.sh)"

# The host's psql when there is one, else the image's on the host network.
psql_bin=$(ls -d /usr/lib/postgresql/*/bin/psql 2>/dev/null | sort -V | tail -n1 || true)
psql_at() { # PORT PASSWORD SQL...
	local port=$1 pw=$2
	shift 2
	local args=(-X -q -At -v ON_ERROR_STOP=1 "host=127.0.0.1 port=$port user=$user dbname=$db connect_timeout=5")
	local c
	for c in "$@"; do args+=(-c "$c"); done
	if [[ -n $psql_bin ]]; then
		PGPASSWORD=$pw "$psql_bin" "${args[@]}"
	else
		docker run --rm --network host -e PGPASSWORD="$pw" --entrypoint psql "$image" "${args[@]}"
	fi
}

# run NAME PASSWORD: a container as compose.yaml's api-db declares it, on
# the shared volume, on a free 127.0.0.1 port.
run() {
	docker run -d --name "$1" \
		-e POSTGRES_USER=$user -e POSTGRES_PASSWORD="$2" -e POSTGRES_DB=$db \
		-v "$vol:/var/lib/postgresql/data" -p 127.0.0.1::5432 \
		--health-cmd "pg_isready -U $user -d $db" --health-interval 1s \
		--health-timeout 5s --health-retries 30 --health-start-period 5s \
		"$image" >/dev/null || fail "docker run $1"
}
wait_healthy() {
	local i s
	for i in $(seq 1 120); do
		s=$(docker inspect -f '{{.State.Health.Status}}' "$1")
		case $s in
		healthy) return 0 ;;
		unhealthy) fail "$1 became unhealthy" ;;
		esac
		[[ $(docker inspect -f '{{.State.Running}}' "$1") == true ]] || fail "$1 exited"
		sleep 0.5
	done
	fail "$1 not healthy after 60s"
}
port_of() { docker port "$1" 5432/tcp | head -n1 | sed 's/.*://'; }

say "image $image; psql ${psql_bin:-from the image}"
docker volume create "$vol" >/dev/null

run "$name-1" "$pass"
wait_healthy "$name-1"
say "healthy on a fresh volume"
# Health must come from the final server, not initdb's temporary one.
# (Logs are read whole, then searched: `docker logs | grep -q` fails under
# pipefail when grep stops reading before docker logs is done writing.)
grep -q 'initialised; starting the server' <<<"$(docker logs "$name-1" 2>&1)" ||
	fail "healthy before initialisation finished"
port=$(port_of "$name-1")

got=$(psql_at "$port" "$pass" "select current_user || ' ' || current_database() || ' ' || rolsuper from pg_roles where rolname = current_user") ||
	fail "connect with the password over TCP"
[[ $got == "$user $db true" ]] || fail "want user, database, superuser \"$user $db true\", got \"$got\""
psql_at "$port" "$pass" "create table check_rows (v text)" "insert into check_rows values ('survives')" ||
	fail "write a row"
if out=$(psql_at "$port" "wrong-$pass" "select 1" 2>&1); then
	fail "a wrong password was accepted"
fi
[[ $out == *"password authentication failed"* ]] || fail "wrong password: unexpected error: $out"
say "password auth over TCP: right one works, wrong one refused"

# docker stop with an idle client still connected: SIGINT (fast shutdown)
# ends it at once; SIGTERM's smart shutdown would wait for the client.
if [[ -n $psql_bin ]]; then
	(sleep 30 | PGPASSWORD=$pass "$psql_bin" -X -q "host=127.0.0.1 port=$port user=$user dbname=$db" >/dev/null 2>&1 || true) &
	client=$!
	sleep 1
fi
t0=$(date +%s%N)
docker stop "$name-1" >/dev/null || fail "docker stop"
ms=$((($(date +%s%N) - t0) / 1000000))
[[ -n ${client:-} ]] && { kill "$client" 2>/dev/null || true; wait "$client" 2>/dev/null || true; }
code=$(docker inspect -f '{{.State.ExitCode}}' "$name-1")
[[ $code == 0 ]] || fail "exit code $code after docker stop"
((ms < 5000)) || fail "docker stop took ${ms}ms"
grep -q 'database system is shut down' <<<"$(docker logs --tail 5 "$name-1" 2>&1)" || fail "no clean shutdown in the log"
say "docker stop with a client connected: ${ms}ms, exit 0, clean shutdown"

# A new container on the same volume keeps the data and the first password:
# the env only matters on an empty data dir.
docker rm -f "$name-1" >/dev/null
run "$name-2" "another-password"
wait_healthy "$name-2"
grep -q 'initialising' <<<"$(docker logs "$name-2" 2>&1)" && fail "re-initialised a non-empty data dir"
port=$(port_of "$name-2")
got=$(psql_at "$port" "$pass" "select v from check_rows") || fail "read back on a new container"
[[ $got == survives ]] || fail "want the row 'survives', got '$got'"
say "new container on the same volume: row read back, no re-init"

# docker rm -f kills the server: the next start must recover, not fail.
docker rm -f "$name-2" >/dev/null
run "$name-2" "$pass"
wait_healthy "$name-2"
got=$(psql_at "$(port_of "$name-2")" "$pass" "select count(*) from check_rows") || fail "read after a kill"
[[ $got == 1 ]] || fail "want 1 row after a kill, got $got"
say "after docker rm -f: recovered, row still there"

say "ok"
