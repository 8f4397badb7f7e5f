#!/usr/bin/env bash
# Builds everything a release ships, in target/release-artifacts/:
#   tend-VERSION-x86_64-linux, tend-VERSION-aarch64-linux   static, auditable binaries
#   tend-VERSION-ARCH-linux.cdx.json                          CycloneDX SBOM (cargo-cyclonedx, from Cargo.lock)
#   tend-VERSION-ARCH-linux.oci.tar                           the distribution image (docker save, OCI layout)
#   SHA256SUMS                                                of all of the above
#
#   scripts/release.sh                 # both architectures; refuses a dirty working tree
#   RELEASE_ARCHES=x86_64 scripts/release.sh
#   RELEASE_ALLOW_DIRTY=1 scripts/release.sh   # for trying it out: the binaries then name a
#                                              # commit that is not what they were built from
#
# Binaries come from scripts/build-static.sh (reproducible: one commit gives the same bytes
# in any directory). Images are FROM scratch with the binary once, at /usr/local/bin/tend,
# and the OCI labels source, revision, version, created, licenses (scripts/release/Dockerfile).
# Tools are installed when missing: cargo-cyclonedx (cargo install --locked), skopeo (apt,
# only where `docker save` still writes Docker's own archive format instead of OCI).
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$repo"
log() { echo "release: $*" >&2; }
die() { log "FAILED: $*"; exit 1; }

arches=${RELEASE_ARCHES:-x86_64 aarch64}
if [ -n "$(git status --porcelain --untracked-files=no)" ] && [ "${RELEASE_ALLOW_DIRTY:-}" != 1 ]; then
    die "the working tree has uncommitted changes: a release is built from a commit (RELEASE_ALLOW_DIRTY=1 to try anyway)"
fi

version=$(cargo metadata --no-deps --format-version 1 --locked | jq -r '.packages[] | select(.name == "tend") | .version')
source_url=$(cargo metadata --no-deps --format-version 1 --locked | jq -r '.packages[] | select(.name == "tend") | .repository // "unknown"')
revision=$(git rev-parse HEAD)
export SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct)}
created=$(date -u -d "@$SOURCE_DATE_EPOCH" +%Y-%m-%dT%H:%M:%SZ)
out=${CARGO_TARGET_DIR:-$repo/target}/release-artifacts
rm -rf "$out"
mkdir -p "$out"
log "tend $version, commit $revision, for: $arches -> $out"

command -v cargo-cyclonedx >/dev/null 2>&1 || {
    log "installing cargo-cyclonedx (cargo install --locked; once per machine)"
    cargo install --locked --quiet cargo-cyclonedx@0.5.9 >&2
}

ctx=$(mktemp -d "${TMPDIR:-/tmp}/tend-release.XXXXXX")
trap 'rm -rf "$ctx"' EXIT

# The image as an OCI archive. Docker 25 and later save OCI layouts; older daemons write
# Docker's own format, which skopeo converts without changing the image.
save_oci() { # image file
    docker save "$1" -o "$ctx/saved.tar"
    if tar -tf "$ctx/saved.tar" | grep -qx 'oci-layout'; then
        mv "$ctx/saved.tar" "$2"
        return
    fi
    command -v skopeo >/dev/null 2>&1 || {
        log "installing skopeo (apt) to convert docker save's archive to OCI"
        apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq skopeo >/dev/null
    }
    rm -f "$2"
    skopeo copy --quiet "docker-archive:$ctx/saved.tar" "oci-archive:$2:tend:$version" >&2
    rm -f "$ctx/saved.tar"
}

for arch in $arches; do
    case "$arch" in
        x86_64) triple=x86_64-unknown-linux-musl platform=linux/amd64 ;;
        aarch64) triple=aarch64-unknown-linux-musl platform=linux/arm64 ;;
        *) die "RELEASE_ARCHES: unknown architecture $arch (x86_64, aarch64)" ;;
    esac
    name=tend-$version-$arch-linux
    log "== $name"
    bin=$(scripts/build-static.sh --target "$arch" | tail -n1)
    cp "$bin" "$out/$name"
    touch -d "@$SOURCE_DATE_EPOCH" "$out/$name"

    # The SBOM: every crate linked into this architecture's binary (no dev- or build-only
    # crates), with a timestamp and serial number that depend on the commit alone.
    cargo cyclonedx --quiet --format json --spec-version 1.5 --target "$triple" --no-build-deps \
        --override-filename "$name.cdx" >&2
    jq --sort-keys --arg ts "$created" --arg serial "urn:uuid:$(echo "$revision $name" | sha256sum \
        | sed -E 's/^(.{8})(.{4}).(.{3}).(.{3})(.{12}).*/\1-\2-5\3-8\4-\5/')" \
        '.metadata.timestamp = $ts | .serialNumber = $serial' "$name.cdx.json" >"$out/$name.cdx.json"
    rm -f "$name.cdx.json"

    rm -rf "$ctx/image" && mkdir "$ctx/image"
    cp "$bin" "$ctx/image/tend"
    tag=tend:$version-$arch
    # --no-cache: the classic builder would reuse a FROM scratch layer of another platform.
    docker build -q --no-cache --platform "$platform" -f scripts/release/Dockerfile -t "$tag" \
        --build-arg "VERSION=$version" --build-arg "REVISION=$revision" \
        --build-arg "SOURCE=$source_url" --build-arg "CREATED=$created" "$ctx/image" >/dev/null
    save_oci "$tag" "$out/$name.oci.tar"
done

(cd "$out" && sha256sum -- tend-* >SHA256SUMS)
log "artifacts:"
(cd "$out" && ls -l --time-style=+ -- * | awk '{printf "  %10d  %s\n", $5, $NF}') >&2
cat "$out/SHA256SUMS" >&2
echo "$out"
