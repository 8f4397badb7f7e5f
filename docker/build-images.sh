#!/usr/bin/env bash
# Build the images of docker/ from a static tend binary, FROM scratch (nothing is pulled):
#
#   tend:TAG           docker/Dockerfile       the distribution image (COPY --from it)
#   tend-busybox:TAG   docker/test, "base"     static busybox + /etc/passwd, no tend: the base
#                                              the compose example (docker/examples) builds on
#   tend-test:TAG      docker/test, "test"     base + tend as ENTRYPOINT, for the e2e suite
#
# Usage: docker/build-images.sh [--bin PATH] [--tag TAG] [--label KEY=VALUE]
#   --bin    the static tend (default: scripts/build-static.sh builds it)
#   --tag    image tag (default: latest)
#   --label  label put on every image (the e2e suite uses it to clean up)
#
# Each build context is a small temporary directory staged here, never the repository
# (target/ alone is gigabytes). Busybox is Debian's static one (package busybox-static),
# installed with apt-get when missing.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
bin=""
tag=latest
labels=()

while [ $# -gt 0 ]; do
    case "$1" in
        --bin) bin=${2:?}; shift 2 ;;
        --tag) tag=${2:?}; shift 2 ;;
        --label) labels+=(--label "${2:?}"); shift 2 ;;
        -h|--help) sed -n '2,17p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "build-images: unknown argument: $1" >&2; exit 64 ;;
    esac
done

log() { echo "build-images: $*" >&2; }
die() { log "ERROR: $*"; exit 1; }

if [ -z "$bin" ]; then
    bin=$("$repo/scripts/build-static.sh" | tail -n1)
fi
[ -x "$bin" ] || die "tend binary not found or not executable: $bin"
case "$(file -b "$bin")" in
    *"statically linked"*|*"static-pie linked"*) ;;
    *) die "$bin is not static ($(file -b "$bin")); scratch images need scripts/build-static.sh" ;;
esac

# --- static busybox -------------------------------------------------------------------
find_busybox() {
    local b
    for b in /bin/busybox /usr/bin/busybox; do
        if [ -x "$b" ] && file -b -L "$b" | grep -q 'statically linked'; then
            echo "$b"; return 0
        fi
    done
    return 1
}
if ! busybox=$(find_busybox); then
    log "static busybox missing: apt-get install busybox-static"
    export DEBIAN_FRONTEND=noninteractive
    { apt-get install -y --no-install-recommends busybox-static >&2 \
        || { apt-get update >&2 && apt-get install -y --no-install-recommends busybox-static >&2; }; } \
        || die "could not install busybox-static"
    busybox=$(find_busybox) || die "busybox-static installed but no static /bin/busybox found"
fi

# --- stage the contexts ---------------------------------------------------------------
work=$(mktemp -d "${TMPDIR:-/tmp}/tend-images.XXXXXX")
trap 'rm -rf "$work"' EXIT

# distribution image: the binary only
mkdir -p "$work/dist"
cp "$bin" "$work/dist/tend"
cp "$repo/docker/Dockerfile" "$work/dist/Dockerfile"

# test/base images: a tiny root filesystem
ctx=$work/test
root=$ctx/rootfs
mkdir -p "$root/bin" "$root/etc" "$root/app" "$root/root" "$root/usr/local/bin" "$root/tmp"
chmod 1777 "$root/tmp"
chmod 0700 "$root/root"
cp "$busybox" "$root/bin/busybox"
chmod 0755 "$root/bin/busybox"
for applet in $("$busybox" --list); do
    case "$applet" in busybox) continue ;; esac
    ln -s busybox "$root/bin/$applet"
done
# /usr/bin/env is where shebangs look; /bin/sh is linked above.
mkdir -p "$root/usr/bin"
ln -s ../../bin/busybox "$root/usr/bin/env"
install -m 0644 "$repo/docker/test/passwd" "$root/etc/passwd"
install -m 0644 "$repo/docker/test/group" "$root/etc/group"
# /app belongs to user 1000 (the --user 1000:1000 case writes there); COPY keeps root as
# owner, so the numeric owner is set in the image by the run-time user instead: leave it
# world-writable, like /tmp.
chmod 1777 "$root/app"
cp "$bin" "$ctx/tend"
cp "$repo/docker/test/Dockerfile" "$ctx/Dockerfile"

build() { # build IMAGE CONTEXT [docker build args...]
    local image=$1 context=$2; shift 2
    log "docker build -t $image ($(du -sh "$context" | cut -f1) context)"
    local out
    if ! out=$(DOCKER_BUILDKIT=0 docker build --force-rm "${labels[@]}" -t "$image" "$@" "$context" 2>&1); then
        echo "$out" >&2
        die "docker build of $image failed"
    fi
}

build "tend:$tag" "$work/dist"
build "tend-busybox:$tag" "$ctx" --target base
build "tend-test:$tag" "$ctx" --target test

log "built tend:$tag tend-busybox:$tag tend-test:$tag from $bin"
