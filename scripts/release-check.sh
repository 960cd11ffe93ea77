#!/usr/bin/env bash
# Builds the release locally (goreleaser --snapshot, nothing published) and
# checks what a user would install:
#   - the linux/amd64 binary's `jan version --json` names the snapshot and
#     the commit;
#   - every archive holds README.md, the completions and the man pages, and
#     the checksums cover them;
#   - the Homebrew cask is there and is valid Ruby (ruby -c, when Ruby is
#     installed);
#   - the .deb installs with dpkg -i, /usr/bin/jan runs, the unit, the
#     env file and the jan user are in place, systemd-analyze verify
#     accepts the unit (where systemd is present; said when skipped), and it
#     uninstalls (only as root with CI=true or JAN_TEST_REQUIRE=release: it
#     installs into this machine);
#   - the OCI image runs `version`, and `serve` answers /healthz.
#
#   scripts/release-check.sh          (make release-check)
#
# Exits non-zero on the first failure.
set -euo pipefail
cd "$(dirname "$0")/.."

start=$SECONDS
say() { printf 'release-check: [%3ds] %s\n' "$((SECONDS - start))" "$*"; }
fail() {
	printf 'release-check: FAIL: %s\n' "$*" >&2
	exit 1
}
goreleaser() { go tool -modfile=tools/go.mod goreleaser "$@"; }
# goreleaser reads the commit only when the repository has a remote; a
# clone without one gets one for this run, in the environment only.
if ! git remote get-url origin >/dev/null 2>&1; then
	export GIT_CONFIG_COUNT=1 GIT_CONFIG_KEY_0=remote.origin.url GIT_CONFIG_VALUE_0=https://github.com/janhq/jan.git
fi
required() { [[ ${CI:-} == true || ,${JAN_TEST_REQUIRE:-}, == *,release,* ]]; }

say "goreleaser check"
goreleaser check

say "goreleaser release --snapshot (every target; nothing is published)"
goreleaser release --snapshot --clean --skip=publish,sign >dist-release.log 2>&1 || {
	tail -40 dist-release.log >&2
	fail "the snapshot build failed (dist-release.log)"
}
rm -f dist-release.log
version=$(jq -r .version dist/metadata.json)
commit=$(git rev-parse HEAD)
say "built $version"

# The binary.
bin=$(jq -r '.[] | select(.type == "Binary" and .goos == "linux" and .goarch == "amd64") | .path' dist/artifacts.json)
[[ -x $bin ]] || fail "no linux/amd64 binary in dist/artifacts.json"
got=$("$bin" version --json)
[[ $(jq -r .version <<<"$got") == "$version" ]] || fail "jan version --json says $got, want version $version"
[[ $(jq -r .commit <<<"$got") == "$commit" ]] || fail "jan version --json says $got, want commit $commit"
[[ $(jq -r .date <<<"$got") != "" ]] || fail "jan version --json has no build date: $got"
"$bin" --version | grep -qF "$version" || fail "jan --version does not print $version"
say "jan version --json: $got"

# Every target, and the archives' contents.
for target in linux_amd64 linux_arm64 darwin_amd64 darwin_arm64 windows_amd64 windows_arm64; do
	case $target in
	windows_*) archive=dist/jan_${version}_${target}.zip ;;
	*) archive=dist/jan_${version}_${target}.tar.gz ;;
	esac
	[[ -f $archive ]] || fail "no archive $archive"
	case $archive in
	*.zip) list=$(python3 -c 'import sys,zipfile; print("\n".join(zipfile.ZipFile(sys.argv[1]).namelist()))' "$archive") ;;
	*) list=$(tar -tzf "$archive") ;;
	esac
	for want in README.md completions/jan.bash completions/jan.zsh completions/jan.fish completions/jan.ps1 man/jan.1 man/jan-serve.1; do
		grep -qx "$want" <<<"$list" || fail "$archive lacks $want"
	done
	grep -qE '^jan(\.exe)?$' <<<"$list" || fail "$archive lacks the binary"
	grep -q " $(basename "$archive")\$" dist/checksums.txt || fail "checksums.txt does not cover $archive"
done
(cd dist && sha256sum --quiet -c checksums.txt) || fail "checksums.txt does not match the files"
say "6 archives with README, completions and man pages; checksums match"

# The Homebrew cask.
cask=dist/homebrew/Casks/jan.rb
[[ -f $cask ]] || fail "no Homebrew cask at $cask"
grep -q "binary \"jan\"" "$cask" || fail "the cask does not install the jan binary"
if command -v ruby >/dev/null; then
	ruby -c "$cask" >/dev/null || fail "$cask is not valid Ruby"
	say "Homebrew cask: valid Ruby"
else
	required && fail "ruby is not installed (CI installs it)"
	say "Homebrew cask present; ruby not installed, syntax not checked"
fi

# The .deb, installed into this machine.
deb=$(ls dist/*_amd64.deb)
rpm=$(ls dist/*x86_64.rpm)
[[ -f $deb && -f $rpm ]] || fail "no amd64 .deb or x86_64 .rpm"
if [[ $(id -u) == 0 ]] && required; then
	dpkg --purge jan >/dev/null 2>&1 || true
	dpkg -i "$deb" >/dev/null || fail "dpkg -i $deb"
	[[ $(/usr/bin/jan version --json | jq -r .version) == "$version" ]] || fail "/usr/bin/jan version after dpkg -i"
	for f in /usr/lib/systemd/system/jan.service /etc/jan/jan.env /usr/share/bash-completion/completions/jan \
		/usr/share/zsh/vendor-completions/_jan /usr/share/fish/vendor_completions.d/jan.fish /usr/share/man/man1/jan.1; do
		[[ -f $f ]] || fail "the .deb did not install $f"
	done
	id jan >/dev/null 2>&1 || fail "the .deb did not create the jan user"
	grep -q '^NoNewPrivileges=true' /usr/lib/systemd/system/jan.service || fail "the unit lacks NoNewPrivileges"
	if command -v systemd-analyze >/dev/null 2>&1; then
		systemd-analyze verify /usr/lib/systemd/system/jan.service || fail "systemd-analyze verify rejects jan.service"
		say "systemd-analyze verify: jan.service accepted"
	else
		say "systemd is not installed here: systemd-analyze verify of jan.service skipped"
	fi
	dpkg --purge jan >/dev/null || fail "dpkg --purge jan"
	[[ ! -e /usr/bin/jan && ! -e /etc/jan/jan.env ]] || fail "dpkg --purge left /usr/bin/jan or /etc/jan/jan.env"
	say ".deb: installs /usr/bin/jan, the unit, the env file, completions, man pages and the jan user; uninstalls"
else
	contents=$(dpkg-deb -c "$deb")
	grep -q './usr/bin/jan$' <<<"$contents" || fail "$deb lacks /usr/bin/jan"
	say ".deb contents checked (installing it needs root and CI=true or JAN_TEST_REQUIRE=release)"
fi

# The OCI image.
image=$(jq -r '.[] | select(.type == "Docker Image") | .name' dist/artifacts.json | grep -v ':latest$' | head -1)
[[ -n $image ]] || fail "no Docker image in dist/artifacts.json"
[[ $(docker run --rm "$image" version --json | jq -r .version) == "$version" ]] || fail "docker run $image version"
[[ $(docker image inspect -f '{{.Config.User}}' "$image") == 65532:65532 ]] || fail "the image does not run as a non-root user"
name=jan-release-check-$$
docker run -d --name "$name" -p 127.0.0.1::8080 "$image" >/dev/null
trap 'docker rm -f "$name" >/dev/null 2>&1 || true; docker rmi "$image" "${image%:*}:latest" >/dev/null 2>&1 || true' EXIT
port=$(docker port "$name" 8080/tcp | head -1 | sed 's/.*://')
for _ in $(seq 50); do
	curl -fsS "http://127.0.0.1:$port/healthz" >/dev/null 2>&1 && break
	sleep 0.2
done
curl -fsS "http://127.0.0.1:$port/healthz" | grep -q '"ok"' || {
	docker logs "$name" >&2
	fail "docker run $image serve does not answer /healthz"
}
say "image $image: version runs; serve answers /healthz on :8080 as 65532"
say "ok"
