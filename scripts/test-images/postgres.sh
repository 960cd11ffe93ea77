#!/usr/bin/env bash
# Builds jan-test/postgres:15, a stand-in for the official postgres image for
# tests that run jan's stack without a container registry: Debian bookworm's
# postgresql-15 from the host's Debian mirror (debootstrap), stripped, with
# postgres-entrypoint.sh as its entrypoint, loaded with `docker load`.
#
#   scripts/test-images/postgres.sh [--force] [--mirror URL] [--tag NAME]
#
# Exits at once when the image exists and was built from this recipe (this
# script and the entrypoint); --force rebuilds anyway. Needs root, debootstrap
# and a running Docker daemon. JAN_DEBIAN_MIRROR overrides the mirror too.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
tag=jan-test/postgres:15
force=false
mirror=${JAN_DEBIAN_MIRROR:-}
suite=bookworm
pgmajor=15

usage() { sed -n '7p' "$0" | sed 's/^#  *//'; }
while [[ $# -gt 0 ]]; do
	case $1 in
	--force) force=true ;;
	--mirror) mirror=${2:?--mirror needs a URL}; shift ;;
	--tag) tag=${2:?--tag needs a name}; shift ;;
	-h | --help) usage; exit 0 ;;
	*) echo "postgres.sh: unknown argument $1" >&2; usage >&2; exit 2 ;;
	esac
	shift
done

start=$SECONDS
say() { printf 'postgres.sh: [%3ds] %s\n' "$((SECONDS - start))" "$*"; }
die() { printf 'postgres.sh: error: %s\n' "$*" >&2; exit 1; }

# The recipe label lets a changed script or entrypoint rebuild a stale image.
recipe=$(cat "$0" "$here/postgres-entrypoint.sh" | sha256sum | cut -c1-16)
label=org.jan.test-image.recipe

command -v docker >/dev/null || die "docker not found (apt-get install docker.io)"
docker version >/dev/null 2>&1 || die "the Docker daemon does not answer (is dockerd running?)"
if ! $force; then
	have=$(docker image inspect -f "{{index .Config.Labels \"$label\"}}" "$tag" 2>/dev/null || true)
	if [[ $have == "$recipe" ]]; then
		say "$tag is up to date (recipe $recipe); --force rebuilds it"
		exit 0
	fi
	[[ -n $have ]] && say "$tag exists from another recipe ($have); rebuilding"
fi
[[ $(id -u) == 0 ]] || die "debootstrap needs root"
command -v debootstrap >/dev/null || die "debootstrap not found (apt-get install debootstrap)"

# host_mirror prints the first Debian mirror the host's apt sources use for
# $suite (deb822 .sources files, then one-line .list files).
host_mirror() {
	local f
	for f in /etc/apt/sources.list.d/*.sources; do
		[[ -r $f ]] || continue
		awk -v suite="$suite" 'BEGIN { RS = ""; FS = "\n" }
		{
			uri = ""; ok = 0; off = 0; deb = 0
			for (i = 1; i <= NF; i++) {
				if ($i ~ /^Types:/ && (" " $i " ") ~ /[ \t]deb[ \t]/) deb = 1
				if ($i ~ /^URIs:/) { n = split($i, a, /[ \t]+/); uri = a[2] }
				if ($i ~ /^Suites:/ && (" " $i " ") ~ ("[ \t]" suite "[ \t]")) ok = 1
				if ($i ~ /^Enabled:[ \t]*no/) off = 1
			}
			if (deb && ok && !off && uri ~ /^(https?|file):\/\//) { print uri; exit }
		}' "$f"
	done
	for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
		[[ -r $f ]] || continue
		awk -v suite="$suite" '$1 == "deb" {
			for (i = 2; i < NF; i++) if ($i ~ /^(https?|file):\/\//) {
				if ($(i + 1) == suite) { print $i; exit }
				break
			}
		}' "$f"
	done
}
if [[ -z $mirror ]]; then
	mirror=$(host_mirror | head -n1)
	mirror=${mirror:-http://deb.debian.org/debian}
fi

work=$(mktemp -d "${TMPDIR:-/var/tmp}/jan-test-postgres.XXXXXX")
root=$work/rootfs
cleanup() {
	# debootstrap mounts /proc and /sys in the chroot and can leave them
	# behind when it fails: unmount before deleting anything.
	local m
	for m in $(awk -v p="$root/" 'index($2, p) == 1 { print $2 }' /proc/mounts | sort -r); do
		umount -l "$m" 2>/dev/null || true
	done
	rm -rf --one-file-system "$work"
}
trap cleanup EXIT

say "building $tag: debootstrap $suite from $mirror (recipe $recipe)"
# postgresql-15 pulls postgresql-common, the client and tzdata; its postinst
# creates the postgres user (and a "main" cluster, dropped below).
if ! debootstrap --variant=minbase --components=main --include="postgresql-$pgmajor" \
	"$suite" "$root" "$mirror" >"$work/debootstrap.log" 2>&1; then
	tail -n 40 "$work/debootstrap.log" >&2
	die "debootstrap failed (above: the last lines of its log)"
fi
say "debootstrap done ($(du -sh --one-file-system "$root" | cut -f1))"

# Strip what a test server never uses. The JIT (LLVM, ~150 MB) is optional in
# PostgreSQL: without llvmjit.so, jit=on quietly does nothing. Perl serves
# only postgresql-common's wrappers in /usr/bin; PATH puts the real binaries
# first. locales: C.UTF-8 comes with libc-bin.
chroot "$root" dpkg --purge --force-depends \
	libllvm14 libz3-4 perl libperl5.36 perl-modules-5.36 locales libc-l10n >"$work/strip.log" 2>&1 ||
	{ cat "$work/strip.log" >&2; die "dpkg --purge failed"; }
rm -rf "$root/usr/lib/postgresql/$pgmajor/lib/llvmjit"* "$root/usr/lib/postgresql/$pgmajor/lib/bitcode"
# postgres gets uid/gid 999 as in the official image (adduser --system gave
# it the first free system ids), so a data volume works with either image.
olduid=$(chroot "$root" id -u postgres)
oldgid=$(chroot "$root" id -g postgres)
chroot "$root" groupmod -g 999 postgres
chroot "$root" usermod -u 999 -g 999 postgres
find "$root" -xdev -uid "$olduid" -exec chown -h 999 '{}' +
find "$root" -xdev -gid "$oldgid" -exec chgrp -h 999 '{}' +
rm -rf "$root/var/lib/postgresql/$pgmajor" "$root/etc/postgresql/$pgmajor"
rm -rf "$root"/usr/share/{doc,man,info,lintian,locale,i18n}/* "$root/usr/share/postgresql/$pgmajor/man"
rm -rf "$root"/var/cache/apt/* "$root"/var/lib/apt/lists/* "$root"/var/cache/debconf/*-old \
	"$root"/var/lib/dpkg/*-old "$root"/var/log/* "$root"/dev/* "$root"/tmp/* "$root"/root/.bash_history
: >"$root/etc/resolv.conf"
: >"$root/etc/hostname"

# As the official image: listen on all addresses (initdb copies the sample
# into each new data dir), a socket dir any user may use, and a data dir
# owned by postgres, whose ownership and mode a fresh named volume copies.
sed -i "s/^#listen_addresses = 'localhost'/listen_addresses = '*'/" \
	"$root/usr/share/postgresql/$pgmajor/postgresql.conf.sample"
grep -q "^listen_addresses = '\*'" "$root/usr/share/postgresql/$pgmajor/postgresql.conf.sample" ||
	die "postgresql.conf.sample has no listen_addresses line to edit"
mkdir -p "$root/var/run/postgresql" "$root/var/lib/postgresql/data"
chroot "$root" chown postgres:postgres /var/run/postgresql /var/lib/postgresql /var/lib/postgresql/data
chmod 3777 "$root/var/run/postgresql"
chmod 700 "$root/var/lib/postgresql/data"
install -m 755 "$here/postgres-entrypoint.sh" "$root/usr/local/bin/docker-entrypoint.sh"
say "stripped ($(du -sh --one-file-system "$root" | cut -f1))"

# `docker import --change` cannot set STOPSIGNAL (Docker 20.10 refuses it),
# and the image needs SIGINT: SIGTERM is PostgreSQL's smart shutdown, which
# waits for idle clients (a connection pool) until docker stop kills it;
# SIGINT is the fast shutdown the official image uses. So the image is
# written the way `docker save` writes one (a layer, a config, a manifest)
# and handed to `docker load`, which takes any config field.
img=$work/image
mkdir "$img"
tar --numeric-owner -C "$root" -cf "$img/layer.tar" .
diffid=sha256:$(sha256sum "$img/layer.tar" | cut -d' ' -f1)
arch=$(docker version -f '{{.Server.Arch}}')
now=$(date -u +%Y-%m-%dT%H:%M:%SZ)
cat >"$img/config.json" <<JSON
{
  "architecture": "$arch",
  "os": "linux",
  "created": "$now",
  "config": {
    "Env": [
      "PATH=/usr/lib/postgresql/$pgmajor/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
      "PGDATA=/var/lib/postgresql/data",
      "LANG=C.UTF-8",
      "PG_MAJOR=$pgmajor"
    ],
    "Entrypoint": ["docker-entrypoint.sh"],
    "Cmd": ["postgres"],
    "ExposedPorts": {"5432/tcp": {}},
    "Volumes": {"/var/lib/postgresql/data": {}},
    "StopSignal": "SIGINT",
    "Labels": {"$label": "$recipe"}
  },
  "rootfs": {"type": "layers", "diff_ids": ["$diffid"]},
  "history": [{"created": "$now", "created_by": "scripts/test-images/postgres.sh: debootstrap $suite postgresql-$pgmajor from $mirror"}]
}
JSON
printf '[{"Config":"config.json","RepoTags":["%s"],"Layers":["layer.tar"]}]\n' "$tag" >"$img/manifest.json"
tar -C "$img" -c manifest.json config.json layer.tar | docker load >"$work/load.log" 2>&1 ||
	{ cat "$work/load.log" >&2; die "docker load failed"; }
size=$(docker image inspect -f '{{.Size}}' "$tag")
say "loaded $tag ($((size / 1000000)) MB)"
say "done in $((SECONDS - start))s"
