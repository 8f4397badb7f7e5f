#!/usr/bin/env bash
# Build a fully static tend (musl, Rust's self-contained copy) that runs in an image holding
# nothing else.
#
#   scripts/build-static.sh                     # x86_64: build, verify static, print path and size
#   scripts/build-static.sh --target aarch64    # aarch64, linked by Debian's gcc-aarch64-linux-gnu
#
# Why musl and not glibc: a static glibc probes the CPU's caches with cpuid at every start,
# and in a virtual machine each cpuid traps to the hypervisor. That probing was most of
# what tend's start cost beyond its child's (docs/benchmark.md); musl's start does none.
# The Rust targets bring musl itself (`rustup target add`, done here when missing).
#   scripts/build-static.sh --image tend        # ... and build the distribution image docker/Dockerfile
#
# The explicit --target keeps RUSTFLAGS away from build scripts and proc-macros (they must
# stay dynamic host binaries). The linker's output keeps its symbol table,
#   ${CARGO_TARGET_DIR:-target}/TRIPLE/release/tend
# and the binary to ship is its stripped copy,
#   ${CARGO_TARGET_DIR:-target}/static/tend            (x86_64)
#   ${CARGO_TARGET_DIR:-target}/static/aarch64/tend    (aarch64)
# The last line on stdout is the stripped copy's absolute path, so scripts can do
#   bin=$(scripts/build-static.sh | tail -n1)
# (SYMBOL_ORDER_UNSTRIPPED=1 prints the linker's output instead, for scripts/symbol-order.sh.)
#
# Release builds are auditable and reproducible: `cargo auditable` embeds the crate list
# (read back by `cargo audit bin` and image scanners; installed with --locked when missing),
# source paths are remapped (/build/tend, /cargo), and SOURCE_DATE_EPOCH is the commit's
# time, so one commit built in any directory gives the same bytes.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
target=x86_64-unknown-linux-musl
image=""

while [ $# -gt 0 ]; do
    case "$1" in
        --image) image=${2:?--image needs a tag}; shift 2 ;;
        --image=*) image=${1#--image=}; shift ;;
        --target) target=${2:?--target needs x86_64 or aarch64}; shift 2 ;;
        --target=*) target=${1#--target=}; shift ;;
        -h|--help) sed -n '2,23p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "build-static: unknown argument: $1" >&2; exit 64 ;;
    esac
done

log() { echo "build-static: $*" >&2; }

case "$target" in
    x86_64|x86_64-unknown-linux-musl) target=x86_64-unknown-linux-musl; out=static/tend ;;
    aarch64|arm64|aarch64-unknown-linux-musl) target=aarch64-unknown-linux-musl; out=static/aarch64/tend ;;
    *) log "unknown --target $target: expected x86_64 or aarch64"; exit 64 ;;
esac
if [ -n "$image" ] && [ "$target" != x86_64-unknown-linux-musl ]; then
    log "--image builds the x86_64 image; scripts/release.sh builds every architecture's"; exit 64
fi

cd "$repo"
target_dir=${CARGO_TARGET_DIR:-$repo/target}
case "$target_dir" in /*) ;; *) target_dir=$repo/$target_dir ;; esac
linked=$target_dir/$target/release/tend
bin=$target_dir/$out

command -v cargo-auditable >/dev/null 2>&1 || {
    log "installing cargo-auditable (cargo install --locked; once per machine)"
    cargo install --locked --quiet cargo-auditable@0.7.7 >&2
}
# Rust's side: the standard library and musl for the target (rustup).
if ! rustup target list --installed 2>/dev/null | grep -qx "$target"; then
    log "rustup target add $target"
    timeout 300 rustup target add "$target" >&2 \
        || { log "FAILED: rustup target add $target (Rust's standard library and musl)"; exit 1; }
fi
strip_tool=strip
if [ "$target" = aarch64-unknown-linux-musl ]; then
    # The linker: Debian's cross gcc drives GNU ld (musl's start files and libc.a come
    # with the Rust target).
    command -v aarch64-linux-gnu-gcc >/dev/null 2>&1 \
        || { log "FAILED: aarch64-linux-gnu-gcc missing: apt-get install gcc-aarch64-linux-gnu"; exit 1; }
    export CARGO_TARGET_AARCH64_UNKNOWN_LINUX_MUSL_LINKER=aarch64-linux-gnu-gcc
    strip_tool=aarch64-linux-gnu-strip
fi

# Reproducible: the commit's time for anything that stamps a date, and no build path in the
# binary. The crate's own paths (the source tree, the target directory) are remapped on
# tend alone (rustc arguments after `--`), the registry's on every crate (RUSTFLAGS, the same
# in any directory). The last matching prefix wins, so the target directory comes last.
if [ -z "${SOURCE_DATE_EPOCH:-}" ] && epoch=$(git -C "$repo" log -1 --format=%ct 2>/dev/null); then
    export SOURCE_DATE_EPOCH=$epoch
fi
cargo_home=${CARGO_HOME:-$HOME/.cargo}
remap_deps="--remap-path-prefix=$cargo_home=/cargo"
remap_tend=(--remap-path-prefix="$repo=/build/tend" --remap-path-prefix="$target_dir=/build/target")

# relocation-model=static: a plain static executable rather than a static PIE. A PIE
# relocates itself at every start (about 4,000 relocations, and the pages they touch);
# without it `tend --version` costs half the CPU time (0.5 ms instead of 1.0 ms here).
# The price is a fixed load address for tend's own code (the stack, heap and mmaps stay
# randomised), as with tini-static and catatonit.
flags="-C target-feature=+crt-static -C relocation-model=static $remap_deps"
# The functions tend runs, side by side at the start of the code: the kernel then maps a
# few hundred KiB of the binary, not all of it (scripts/symbol-order.sh): kept for issue
# 13's RSS bound (1.25 MiB), which the musl build meets ordered (1,000 KiB) and misses
# without (1,660 KiB; 2026-12-06, docs/benchmark.md). The linker
# reads the file; cargo does not, so the file's hash goes into a cfg that nothing reads:
# a new order relinks tend, and only tend (extra rustc arguments of `cargo rustc` apply
# to this crate alone and leave symbol names as they are).
order=$repo/scripts/symbol-order.txt
link_args=("${remap_tend[@]}")
# The order file is for lld: x86_64 links with Rust's own (rust-lld, which cc runs as
# ld.lld from the toolchain's gcc-ld directory); aarch64 links with Debian's GNU ld.
if [ "$target" = x86_64-unknown-linux-musl ]; then
    gcc_ld=$(rustc --print sysroot)/lib/rustlib/$(rustc -vV | sed -n 's/^host: //p')/bin/gcc-ld
    [ -x "$gcc_ld/ld.lld" ] || { log "FAILED: no rust-lld at $gcc_ld/ld.lld"; exit 1; }
    link_args+=(-C link-arg=-fuse-ld=lld -C "link-arg=-B$gcc_ld")
else
    order=none
fi
if [ -f "$order" ]; then
    hash=$(sha256sum "$order" | cut -c1-16)
    link_args+=(-C "link-arg=-Wl,--symbol-ordering-file=$order" -C link-arg=-Wl,--no-warn-symbol-ordering
        --cfg "tend_symbol_order_$hash")
fi
log "cargo auditable rustc --release --target $target (RUSTFLAGS=$flags; order: ${order#"$repo"/})"
# The symbol table is kept for the order check below and scripts/symbol-order.sh (the
# profile's setting is part of every symbol's hash, so it must not change between them).
RUSTFLAGS="${RUSTFLAGS:+$RUSTFLAGS }$flags" CARGO_PROFILE_RELEASE_STRIP=false \
    cargo auditable rustc --locked --release --target "$target" --bin tend -- "${link_args[@]}" >&2

[ -x "$linked" ] || { log "FAILED: $linked was not produced"; exit 1; }

# How much of the order file still names functions of this build.
if [ -f "$order" ] && command -v nm >/dev/null 2>&1; then
    listed=$(grep -c . "$order" || true)
    found=$(nm "$linked" | awk 'NR == FNR {want[$1] = 1; next} want[$3] {n++} END {print n + 0}' "$order" -)
    log "symbol order: $found of $listed functions of scripts/symbol-order.txt found"
    if [ "$listed" -gt 0 ] && [ $((found * 100 / listed)) -lt 80 ]; then
        log "WARNING: scripts/symbol-order.txt is stale; run scripts/symbol-order.sh"
    fi
fi

if [ "${SYMBOL_ORDER_UNSTRIPPED:-}" = 1 ]; then
    echo "$linked"
    exit 0
fi

# A fresh file, written as an image layer or a package would write it.
mkdir -p "$(dirname "$bin")"
rm -f "$bin"
"$strip_tool" -o "$bin" "$linked"

# Verify: no program interpreter, no shared libraries.
desc=$(file -b "$bin")
case "$desc" in
    *"statically linked"*|*"static-pie linked"*) ;;
    *) log "FAILED: $bin is not static: $desc"; exit 1 ;;
esac
if ldd_out=$(ldd "$bin" 2>&1); then
    case "$ldd_out" in
        *"statically linked"*|*"not a dynamic executable"*) ;;
        *) log "FAILED: ldd lists shared libraries for $bin:"; echo "$ldd_out" >&2; exit 1 ;;
    esac
fi
if command -v readelf >/dev/null 2>&1 && readelf -l "$bin" 2>/dev/null | grep -q 'INTERP'; then
    log "FAILED: $bin has a PT_INTERP segment (needs a dynamic loader)"
    exit 1
fi

size=$(stat -c %s "$bin")
log "static: $desc"
log "size: $size bytes ($(( (size + 1023) / 1024 )) KiB)"

if [ -n "$image" ]; then
    ctx=$(mktemp -d "${TMPDIR:-/tmp}/tend-image.XXXXXX")
    trap 'rm -rf "$ctx"' EXIT
    cp "$bin" "$ctx/tend"
    cp "$repo/docker/Dockerfile" "$ctx/Dockerfile"
    log "docker build -t $image (context: the binary only)"
    docker build -q -t "$image" "$ctx" >&2
    log "image: $image"
fi

echo "$bin"
