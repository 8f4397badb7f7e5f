#!/usr/bin/env bash
# The supply-chain checks of .ci/run: what tend is built from and what the shipped binary says.
#
#   scripts/supply-chain.sh [STEP...]      steps, in this order by default:
#     audit         cargo audit of Cargo.lock against the offline RustSec snapshot
#     deny          cargo deny check: advisories (same snapshot), licenses, bans, sources
#     auditable     a release build embeds its crate list; `cargo audit bin` reads it back
#     reproducible  two builds of HEAD in two directories are byte-identical (x86_64)
#     package       cargo package (verified: the packaged crate builds on its own)
#     aarch64       static aarch64 build, then the behaviour tests under qemu-aarch64-static
#
# The advisory snapshot is ../shared/supply-chain/rustsec-advisory-db.tgz beside the clone
# (SUPPLY_CHAIN_SHARED overrides the shared directory; /work/shared is the fallback). Tools are
# installed with `cargo install --locked` only when missing. Each step prints its time.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$repo"

log() { echo "supply-chain: $*" >&2; }
die() { log "FAILED: $*"; exit 1; }

# Versions tested with this script; any installed version is used as it is.
need_tool() { # command crate@version
    command -v "$1" >/dev/null 2>&1 && return 0
    log "installing $2 (cargo install --locked; once per machine)"
    cargo install --locked --quiet "$2" >&2 || die "cargo install --locked $2"
}

tmp=$(mktemp -d "${TMPDIR:-/tmp}/tend-supply.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

# ---- the offline advisory snapshot ------------------------------------------------------
snapshot_dir() {
    local dir
    for dir in "${SUPPLY_CHAIN_SHARED:-}" "$(dirname "$repo")/shared" /work/shared; do
        [ -n "$dir" ] && [ -f "$dir/supply-chain/rustsec-advisory-db.tgz" ] && {
            echo "$dir/supply-chain"
            return 0
        }
    done
    die "no advisory snapshot: looked for supply-chain/rustsec-advisory-db.tgz under" \
        "\$SUPPLY_CHAIN_SHARED (${SUPPLY_CHAIN_SHARED:-unset}), $(dirname "$repo")/shared and /work/shared"
}

# Unpacks the snapshot once; sets adb (the git checkout) and adb_date, adb_commit.
adb=""
unpack_snapshot() {
    [ -n "$adb" ] && return 0
    local src
    src=$(snapshot_dir)
    mkdir -p "$tmp/adb-unpack"
    tar -xzf "$src/rustsec-advisory-db.tgz" -C "$tmp/adb-unpack" || die "unpack $src/rustsec-advisory-db.tgz"
    adb=$(dirname "$(find "$tmp/adb-unpack" -maxdepth 3 -name .git | head -n1)")
    [ -d "$adb/crates" ] || die "$src/rustsec-advisory-db.tgz holds no advisory database (no crates/)"
    adb_commit=$(git -C "$adb" log -1 --format=%H)
    adb_date=$(git -C "$adb" log -1 --format=%cs)
    local age=$(( ($(date +%s) - $(git -C "$adb" log -1 --format=%ct)) / 86400 ))
    adb_label="RustSec snapshot ${adb_commit:0:12} of $adb_date ($age days old)"
    log "advisory database: $adb_label, from $src"
    # An old snapshot misses new advisories: warn after 90 days, fail after a year (a
    # forgotten snapshot must not pass for ever; ADVISORY_MAX_AGE_DAYS overrides).
    [ "$age" -le 90 ] || log "WARNING: the advisory snapshot is $age days old: refresh $src"
    [ "$age" -le "${ADVISORY_MAX_AGE_DAYS:-365}" ] \
        || die "the advisory snapshot is $age days old (limit ${ADVISORY_MAX_AGE_DAYS:-365}): refresh $src"
}

# Advisories accepted in deny.toml (`id = "RUSTSEC-…"`), so that cargo audit accepts the
# same ones: one list, with its reasons and dates, in one place.
ignored_ids() {
    sed -n '/^\[advisories\]/,/^\[/p' deny.toml | grep -v '^ *#' | grep -o 'id *= *"RUSTSEC-[0-9]*-[0-9]*"' \
        | grep -o 'RUSTSEC-[0-9]*-[0-9]*' || true
}

step_audit() {
    need_tool cargo-audit cargo-audit@0.22.2
    unpack_snapshot
    local args=(audit --no-fetch --stale --db "$adb" --file Cargo.lock --deny warnings)
    local id
    for id in $(ignored_ids); do args+=(--ignore "$id"); done
    log "cargo ${args[*]}"
    if cargo "${args[@]}"; then
        log "cargo audit: no vulnerable, unsound, unmaintained or yanked crate ($adb_label)"
    else
        die "cargo audit found advisories ($adb_label); fix them or accept them in deny.toml with reason and date"
    fi
}

step_deny() {
    need_tool cargo-deny cargo-deny@0.20.2
    unpack_snapshot
    # cargo-deny looks for each database in db-path under a name derived from its URL
    # (src/advisories/helpers/db.rs: url_to_db_path); deny.toml's db-path reads this variable.
    local dbs=$tmp/advisory-dbs
    mkdir -p "$dbs"
    ln -sfn "$adb" "$dbs/advisory-db-3157b0e258782691"
    # --offline: no advisory fetch (and cargo metadata from the local registry, hence the
    # fetch first: crates.io is reachable, GitHub is not).
    cargo fetch --locked --quiet
    log "cargo deny --offline --locked check (advisories, bans, licenses, sources)"
    if CARGO_DENY_ADVISORY_DBS=$dbs cargo deny --color never --offline --locked check 2>"$tmp/deny.log"; then
        grep -v '^$' "$tmp/deny.log" >&2 || true
        log "cargo deny: advisories ok ($adb_label), bans ok, licenses ok, sources ok"
    else
        cat "$tmp/deny.log" >&2
        die "cargo deny check ($adb_label)"
    fi
}

# The crates a Linux binary is built from (normal and build dependencies for the target,
# proc-macros included, no dev-dependencies), as "name version" lines.
built_from() { # triple
    cargo tree --locked --edges normal,build --target "$1" --prefix none --format '{p}' \
        | awk '{print $1, substr($2, 2)}' | sort -u
}

# The crate list cargo-auditable embedded (zlib-compressed JSON in section .dep-v0).
embedded_crates() { # binary
    command -v python3 >/dev/null 2>&1 || {
        log "installing python3-minimal (apt) to read the embedded list"
        apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-minimal >/dev/null
    }
    # objcopy only warns (exit 0) when the section is missing: test for its output.
    rm -f "$tmp/dep-v0.z"
    objcopy --dump-section ".dep-v0=$tmp/dep-v0.z" "$1" "$tmp/discard" 2>/dev/null || true
    [ -s "$tmp/dep-v0.z" ] || die "$1 has no .dep-v0 section: not built with cargo auditable"
    python3 -c 'import json, sys, zlib
for p in json.loads(zlib.decompress(open(sys.argv[1], "rb").read()))["packages"]:
    print(p["name"], p["version"])' "$tmp/dep-v0.z" | sort -u
}

# cargo-auditable embeds what `cargo metadata` resolves, and that names toml's optional
# dependencies (indexmap, with its own equivalent and hashbrown, for the preserve_order
# feature; toml_writer for display) although no feature tend enables builds them: `cargo
# tree` does not show them, and nothing of theirs is linked. These, and only these, may be
# listed beyond what is built.
AUDITABLE_OVERSTATES="indexmap equivalent hashbrown toml_writer"

step_auditable() {
    need_tool cargo-audit cargo-audit@0.22.2
    unpack_snapshot
    local bin n
    bin=$(scripts/build-static.sh | tail -n1)
    built_from x86_64-unknown-linux-musl >"$tmp/expected"
    embedded_crates "$bin" >"$tmp/embedded.all"
    awk -v skip="$AUDITABLE_OVERSTATES" '
        BEGIN { n = split(skip, names, " "); for (i = 1; i <= n; i++) over[names[i]] = 1 }
        NR == FNR { built[$0] = 1; next }
        built[$0] || !over[$1]' "$tmp/expected" "$tmp/embedded.all" >"$tmp/embedded"
    diff -u "$tmp/expected" "$tmp/embedded" >&2 \
        || die "the crates embedded in $bin (+) differ from Cargo.lock's for x86_64 (-)"
    # What a scanner sees: cargo audit reads the same list back (without it, it would fall
    # back to guessing crates from panic messages).
    cargo audit --no-fetch --stale --db "$adb" --deny warnings --json bin "$bin" >"$tmp/bin.json" \
        || { jq . "$tmp/bin.json" >&2 || true; die "cargo audit bin $bin ($adb_label)"; }
    n=$(jq '.lockfile."dependency-count"' "$tmp/bin.json")
    [ "$n" = "$(wc -l <"$tmp/embedded.all")" ] \
        || die "cargo audit bin sees $n crates in $bin, the embedded list has $(wc -l <"$tmp/embedded.all")"
    log "cargo audit bin: $n crates embedded in ${bin#"$repo"/} (as in Cargo.lock, tend included), no advisory ($adb_label)"
}

# Two builds of HEAD, cloned into two directories of different depth, give the same bytes.
step_reproducible() {
    local head a b
    head=$(git rev-parse HEAD)
    for dir in one deeper/two; do
        git clone --quiet --no-checkout "$repo" "$tmp/repro/$dir/tend"
        git -C "$tmp/repro/$dir/tend" checkout --quiet --detach "$head"
        log "building ${head:0:12} in $tmp/repro/$dir/tend"
        (cd "$tmp/repro/$dir/tend" && env -u CARGO_TARGET_DIR scripts/build-static.sh >/dev/null)
    done
    a=$tmp/repro/one/tend/target/static/tend
    b=$tmp/repro/deeper/two/tend/target/static/tend
    if ! cmp "$a" "$b" >&2; then
        die "two builds of ${head:0:12} differ: $(sha256sum "$a" | cut -c1-16) vs $(sha256sum "$b" | cut -c1-16)"
    fi
    if grep -q -a -e "$tmp" -e "$HOME" "$a"; then
        die "the binary still holds a build path ($tmp or $HOME)"
    fi
    log "reproducible: two builds of ${head:0:12} in two directories are identical, sha256 $(sha256sum "$a" | cut -c1-64)"
}

# The crate as crates.io would get it; cargo then builds it from the package alone.
step_package() {
    # Its own target directory: the packaged crate's units share their fingerprints with
    # the working tree's (same metadata, paths relative to each root), and a later build
    # here would then run the packaged build script's binary.
    CARGO_TARGET_DIR=$tmp/package-target cargo package --locked >&2 || die "cargo package"
    log "cargo package: $(cargo package --locked --list 2>/dev/null | wc -l) files, verified by building the packaged crate"
    rm -rf "$tmp/package-target"
}

# The aarch64 binary, and the behaviour tests run on it under qemu-user. The children are
# this machine's own programs (no binfmt_misc here: an aarch64 child could not be exec'd).
# Skipped, by name, with the reason:
qemu_skips=(
    # qemu-user refuses PR_SET_CHILD_SUBREAPER (EINVAL): as an ordinary process, orphans go
    # to the host's init instead of tend, so these cases cannot hold there.
    "reaps_a_thousand_orphans_and_leaves_no_zombie: needs PR_SET_CHILD_SUBREAPER (qemu-user: EINVAL)"
    "leftover_processes_get_term_then_kill_and_tend_exits_as_soon_as_they_are_gone: needs PR_SET_CHILD_SUBREAPER"
    "the_sweep_counts_the_leftovers_and_logs_them_reaped: needs PR_SET_CHILD_SUBREAPER"
    "death_by_a_real_time_signal_is_seen_for_the_child_and_for_orphans: qemu-user keeps real-time signals for itself; orphans need the subreaper"
    "forwards_real_time_signals_to_the_child: qemu-user keeps real-time signals for itself"
    # musl's posix_spawn uses clone(CLONE_VM|CLONE_VFORK) and hands the exec error back
    # before the clone returns; qemu-user runs that clone as a fork, so a failed exec may
    # reach tend as the child's exit 127 (code right, no spawn_failed event).
    "missing_command_is_127_and_non_executable_is_126: qemu-user turns posix_spawn's CLONE_VFORK into a fork, so exec errors come back as exit 127"
)
qemu_tests=(
    runs_the_command_and_returns_its_exit_code
    death_by_signal_is_128_plus_n_and_success_codes_map_to_zero
    usage_errors_exit_64_and_print_nothing_on_stdout
    forwards_signals_to_the_child
    group_target_reaches_the_whole_process_group
    signal_rewrite_changes_what_the_child_gets
    zero_timeout_kills_at_once
    drain_delay_keeps_the_child_running_in_state_draining
    second_stop_signal_ends_the_drain_delay_and_is_forwarded_again
    config_errors_exit_78_listing_every_bad_variable_and_start_nothing
)

step_aarch64() {
    local bin runner
    command -v qemu-aarch64-static >/dev/null 2>&1 || {
        log "installing gcc-aarch64-linux-gnu qemu-user-static (apt)"
        apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
            gcc-aarch64-linux-gnu qemu-user-static >/dev/null
    }
    runner=$(command -v qemu-aarch64-static)
    bin=$(scripts/build-static.sh --target aarch64 | tail -n1)
    file -b "$bin" | grep -q 'ARM aarch64' || die "$bin is not an aarch64 binary: $(file -b "$bin")"
    local version
    version=$("$runner" "$bin" --version) || die "qemu-aarch64-static $bin --version"
    case "$version" in *aarch64-unknown-linux-musl*) ;; *) die "aarch64 tend says: $version" ;; esac
    log "aarch64: $version ($(stat -c %s "$bin") bytes)"
    local skip
    for skip in "${qemu_skips[@]}"; do log "aarch64: skipped ${skip%%:*}:${skip#*:}"; done
    # Each test drives the binary as an ordinary process and as PID 1 (unshare + qemu).
    TEST_TEND_BIN=$bin TEST_TEND_RUNNER=$runner \
        cargo test --locked --test core -- --exact "${qemu_tests[@]}" 2>&1 | tee "$tmp/qemu.log" >&2 \
        || die "behaviour tests of the aarch64 binary under qemu (${#qemu_tests[@]} cases)"
    # Reaping, where qemu allows it: as PID 1 every orphan comes to tend (no subreaper
    # needed). 50 orphans, each reaped and logged, and the child's exit code passed through.
    local rc=0 reaped
    # A clean environment: tend reads every TEND_* variable, and an unknown one is an error.
    env -i PATH="$PATH" TEND_LOG_LEVEL=debug unshare --pid --fork --mount-proc "$runner" "$bin" -- \
        sh -c 'for i in $(seq 50); do (sleep 0.2 &); done; sleep 1; exit 5' 2>"$tmp/reap.log" || rc=$?
    reaped=$(grep -c '"event":"orphan_reaped"' "$tmp/reap.log" || true)
    [ "$rc" = 5 ] && [ "$reaped" = 50 ] \
        || { cat "$tmp/reap.log" >&2; die "aarch64 as PID 1: exit $rc (want 5), $reaped of 50 orphans reaped"; }
    log "aarch64 as PID 1 under qemu: 50 of 50 orphans reaped, exit code 5 passed through"
    local passed
    passed=$(grep -o '[0-9]* passed' "$tmp/qemu.log" | tail -n1)
    [ "${passed%% *}" = "${#qemu_tests[@]}" ] || die "aarch64: expected ${#qemu_tests[@]} tests to pass, got '$passed'"
    log "aarch64 under qemu: $passed, ${#qemu_skips[@]} skipped (reasons above)"
}

timed() {
    local start=$SECONDS
    log "== $1"
    "step_$1"
    log "== $1: $((SECONDS - start)) s"
}

steps=("$@")
[ ${#steps[@]} -gt 0 ] || steps=(audit deny auditable reproducible package aarch64)
[ "${steps[0]}" != --help ] && [ "${steps[0]}" != -h ] || { sed -n '2,15p' "$0" | sed 's/^# \{0,1\}//'; exit 0; }
for step in "${steps[@]}"; do
    declare -F "step_$step" >/dev/null || die "unknown step: $step (see $0 --help)"
done
for step in "${steps[@]}"; do timed "$step"; done
