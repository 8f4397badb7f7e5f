#!/usr/bin/env bash
# tend's benchmark: tend beside tini, dumb-init and catatonit on the same work, in one run,
# and beside supervisord running the same services.
#
#   scripts/bench.sh [--quick] [--no-build] [--json PATH] [--only LIST] [--keep] [--render J]
#
#   --quick      fewer iterations and a 2 s idle window: a smoke test of well under a minute
#   --no-build   do not build tend (use $TEND_BIN, else the last scripts/build-static.sh build)
#   --json PATH  raw numbers (default target/bench/results.json)
#   --only LIST  comma list of: startup,memory,size,idle,signal,reap,exit,shutdown,healthcheck,
#                services
#   --keep       keep the temporary directory (helpers, logs, status files)
#   --render J   only print the table of an earlier run's JSON J (no install, build or run)
#
# Environment: TEND_BIN (a tend binary to measure instead of building one),
# BENCH_IDLE_SECS (idle window, default 10), BENCH_DEBUG=1 (keep the inits' stderr).
#
# Installs what is missing from Debian's packages (tini, dumb-init, catatonit, supervisor,
# hyperfine, curl, wget, gcc, ...), builds tend with scripts/build-static.sh, then runs scripts/bench/bench.py,
# which prints a Markdown table on stdout. Needs root for the packages and for the PID
# namespace of the reaping measurement. See scripts/bench/README.md for the method.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"

build=1
args=()
for a in "$@"; do
    case "$a" in
        --no-build) build=0 ;;
        -h | --help)
            sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'
            exit 0
            ;;
        *) args+=("$a") ;;
    esac
done

say() { printf '[bench.sh] %s\n' "$*" >&2; }

case " ${args[*]-} " in *" --render "*) exec python3 "$root/scripts/bench/bench.py" "${args[@]}" ;; esac

# command:package pairs; a command that is missing pulls in its package.
missing=()
for pair in tini:tini tini-static:tini dumb-init:dumb-init catatonit:catatonit supervisord:supervisor \
    hyperfine:hyperfine curl:curl wget:wget gcc:gcc python3:python3 \
    unshare:util-linux strip:binutils; do
    cmd=${pair%%:*}
    pkg=${pair#*:}
    if ! command -v "$cmd" >/dev/null 2>&1; then
        case " ${missing[*]-} " in *" $pkg "*) ;; *) missing+=("$pkg") ;; esac
    fi
done
if ((${#missing[@]})); then
    sudo=()
    if [ "$(id -u)" != 0 ]; then
        if command -v sudo >/dev/null 2>&1; then sudo=(sudo -n); else sudo=(false); fi
    fi
    say "installing from Debian's packages: ${missing[*]}"
    if ! { "${sudo[@]}" apt-get update -qq &&
        DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq --no-install-recommends \
            "${missing[@]}" >/dev/null; }; then
        say "could not install ${missing[*]}: the inits or tools missing will be skipped"
    fi
fi
for cmd in python3 gcc tini; do
    command -v "$cmd" >/dev/null 2>&1 || { say "$cmd is required"; exit 1; }
done

# tend: $TEND_BIN, else the static build of scripts/build-static.sh (the binary to ship).
tend="${TEND_BIN:-}"
if [ -z "$tend" ]; then
    tend="${CARGO_TARGET_DIR:-$root/target}/static/tend"
    case "$tend" in /*) ;; *) tend="$root/$tend" ;; esac
    if ((build)); then
        say "building tend (scripts/build-static.sh)"
        if ! tend=$("$root/scripts/build-static.sh" | tail -n1); then
            say "scripts/build-static.sh failed: tend will show as n/a"
            tend=""
        fi
    fi
fi
unset TEND_BIN # tend itself rejects unknown TEND_* variables

exec python3 "$root/scripts/bench/bench.py" --tend "$tend" "${args[@]}"
