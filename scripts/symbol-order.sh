#!/usr/bin/env bash
# Regenerate scripts/symbol-order.txt: the functions tend runs, hottest path first, for the
# linker to place side by side (scripts/build-static.sh passes the file to lld).
#
#   scripts/symbol-order.sh            # build, profile, rewrite scripts/symbol-order.txt
#   scripts/symbol-order.sh --check    # build and report how much of the file still matches
#
# Why: the kernel maps an executable's pages around each page fault (64 KiB and more at a
# time). With the functions in the linker's default order, what tend runs to start a
# child and exit is spread over the whole 2 MiB binary, so nearly all of it is faulted in
# and counted in tend's RSS. Placed together, it is a few hundred KiB.
#
# How: valgrind's callgrind records every function that runs, under these scenarios,
# each appending what it adds to the list:
#   1. `tend -- /bin/true` with a status file on /dev/shm, then with the default one
#      (start-up and exit: the path every container start takes);
#   2. `tend -- sh` with SIGUSR1 (forwarded), `tend health`, `tend status`, then
#      SIGTERM (drain, and a sweep of the orphan it leaves);
#   3. an exec health check every 100 ms;
#   4. a child that exits 3 and a command that is not found;
#   5. services alone (`tend --`): one that depends on another, a one-shot, prefixed
#      output, then SIGTERM (the stop in reverse order).
# A libc that picks string routines by CPU (glibc: AVX2 under valgrind, EVEX or AVX-512 on
# most servers) would have every variant of each routine seen appended at the end; musl,
# which tend links with, has one of each.
#
# Symbol names carry hashes that stay the same while tend's dependencies, profile and
# target do: edits to tend's own code leave most of the file valid, and a name that no
# longer exists is ignored by the linker. scripts/build-static.sh prints how many still
# match; below 80% it asks for this script to be run again. Needs valgrind and binutils
# (Debian packages; installed when missing, as root).
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
out=$repo/scripts/symbol-order.txt
check=0
case "${1-}" in
    --check) check=1 ;;
    "") ;;
    -h | --help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) echo "symbol-order: unknown argument: $1" >&2; exit 64 ;;
esac

say() { echo "symbol-order: $*" >&2; }

for pair in valgrind:valgrind nm:binutils; do
    command -v "${pair%%:*}" >/dev/null 2>&1 && continue
    say "installing ${pair#*:}"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${pair#*:}" >/dev/null
done

# The binary with its symbol table: build-static.sh keeps one beside the stripped copy.
unstripped=$(SYMBOL_ORDER_UNSTRIPPED=1 "$repo/scripts/build-static.sh" | tail -n1)
if ((check)); then
    exit 0 # build-static.sh has printed the match
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/tend-order.XXXXXX")
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT
state=$(mktemp -d /dev/shm/tend-order.XXXXXX)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work" "$state"' EXIT
n=0

# Runs tend under callgrind; every process (the vfork child before its exec included)
# writes its own profile.
grind() {
    n=$((n + 1))
    valgrind --tool=callgrind --log-file="$work/valgrind.log" --demangle=no --dump-instr=no --compress-strings=no \
        --callgrind-out-file="$work/cg.$(printf %02d $n).%p" "$@"
}

# Waits until $1 holds $2 (a line tend logged), for up to 60 s (valgrind is slow).
await() {
    local i
    for i in $(seq 600); do
        grep -q "$2" "$1" 2>/dev/null && return 0
        sleep 0.1
    done
    say "timed out waiting for $2 in $1"
    return 1
}

say "profiling with callgrind"
TEND_STATUS_FILE="$state/status.json" grind "$unstripped" -- /bin/true 2>/dev/null
grind "$unstripped" -- /bin/true 2>/dev/null || true

log=$work/sleep.log
# The child ignores USR1 (so that it survives the forwarding) and leaves an orphan to sweep.
TEND_STATUS_FILE="$state/status.json" \
    grind "$unstripped" -- sh -c 'trap "" USR1; sleep 60' 2>"$log" &
await "$log" '"startup_completed"'
pid=$(sed -n 's/.*"event":"startup_initiated".*"pid":\([0-9]*\).*/\1/p' "$log" | head -n1)
kill -USR1 "$pid"
await "$log" '"signal_forwarded"'
TEND_STATUS_FILE="$state/status.json" grind "$unstripped" health >/dev/null || true
TEND_STATUS_FILE="$state/status.json" grind "$unstripped" status >/dev/null || true
kill -TERM "$pid"
wait

TEND_STATUS_FILE="$state/status.json" TEND_HEALTH_CHECK=exec:/bin/true TEND_HEALTH_INTERVAL=100ms \
    grind "$unstripped" -- sleep 2 2>/dev/null
TEND_STATUS_FILE="$state/status.json" grind "$unstripped" -- sh -c 'exit 3' 2>/dev/null || true
TEND_STATUS_FILE="$state/status.json" grind "$unstripped" -- /no/such/command 2>/dev/null || true

log=$work/services.log
TEND_STATUS_FILE="$state/status.json" TEND_SERVICE_DB="sleep 60" TEND_SERVICE_API="sleep 60" \
    TEND_SERVICE_API_DEPENDS_ON=db,init:completed TEND_SERVICE_INIT="echo ready" \
    TEND_SERVICE_INIT_ONESHOT=true TEND_SERVICE_INIT_OUTPUT=prefix \
    grind "$unstripped" -- >/dev/null 2>"$log" &
await "$log" '"service":"api".*"startup_completed"'
pid=$(sed -n 's/.*"event":"startup_initiated".*"pid":\([0-9]*\).*/\1/p' "$log" | head -n1)
kill -TERM "$pid"
wait

say "profiles: $(ls "$work" | grep -c "^cg\.")"
# Function names in first-seen order, scenario by scenario, each name once.
list=$work/order.txt
for f in $(ls "$work"/cg.* | sort); do
    sed -n 's/^c\{0,1\}fn=\(([0-9]*) \)\{0,1\}\([^(].*\)$/\2/p' "$f"
done | awk '!seen[$0]++' >"$list"

# Every variant of the string routines seen (the CPU picks one at start).
nm "$unstripped" | awk '$2 ~ /^[tTiW]$/ {print $3}' >"$work/all.txt"
families=$({ grep -oE '^__(mem|str|stp|wmem|wcs|rawmem)[a-z0-9]*_(avx|evex|sse|erms)' "$list" || true; } |
    sed -E 's/_(avx|evex|sse|erms)$//' | sort -u)
for family in $families; do
    grep -E "^${family}_(avx|evex|sse|erms)" "$work/all.txt" || true
done | sort >"$work/variants.txt"
awk '!seen[$0]++' "$list" "$work/variants.txt" |
    grep -vxE '0x[0-9a-f]+|\?\?\?|\(below main\)' >"$out.new"

# Keep only names the binary defines (callgrind also names valgrind's own helpers).
awk 'NR == FNR {have[$1] = 1; next} have[$0]' "$work/all.txt" "$out.new" >"$out"
rm -f "$out.new"
say "callgrind: $(wc -l <"$out") functions"

# Natively, the kernel tells which code pages tend faults in: a function that faults a
# page past the ordered ones (a routine glibc picks only for this CPU, a path valgrind
# does not take) joins the list, and the binary is linked again, until none does.
if ! command -v perf >/dev/null 2>&1; then
    say "perf not found (Debian's linux-perf): skipping the native pass"
    exit 0
fi
for round in 1 2 3 4 5 6; do
    unstripped=$(SYMBOL_ORDER_UNSTRIPPED=1 "$repo/scripts/build-static.sh" 2>/dev/null | tail -n1)
    # The end of the ordered functions: the highest end address among them.
    hot_end=$(nm -S "$unstripped" | python3 -c '
import sys
want = set(open(sys.argv[1]).read().split())
ends = [int(p[0], 16) + int(p[1], 16) for p in map(str.split, sys.stdin) if len(p) == 4 and p[3] in want]
print(max(ends, default=0))' "$out")
    : >"$work/faults.txt"
    # The path every container start and exit takes: the status file in a temporary place
    # and in the default one, the command by path and through PATH.
    for run in "$state/status.json /bin/true" "$state/status.json true" " /bin/true"; do
        status=${run% *}
        env ${status:+TEND_STATUS_FILE="$status"} perf record -q -e page-faults -c 1 -d \
            -o "$work/pf.data" -- "$unstripped" -- "${run##* }" 2>/dev/null || true
        # Fields: comm, addr, addr's symbol, ip, ip's symbol. An instruction fetch
        # faults at its own address: ip == addr.
        perf script -i "$work/pf.data" --no-demangle -F comm,ip,addr,sym 2>/dev/null |
            awk '$1 == "tend" && $2 == $4 && $5 != "[unknown]" {print $2, $5}' |
            python3 -c '
import sys
end = int(sys.argv[1])
for line in sys.stdin:
    addr, sym = line.split(None, 1)
    if int(addr, 16) >= end:
        print(sym.strip())' "$hot_end" >>"$work/faults.txt"
    done
    new=$(sort -u "$work/faults.txt" | grep -vxFf "$out" || true)
    if [ -z "$new" ]; then
        say "native pass $round: no function faults in past the ordered ones"
        break
    fi
    say "native pass $round: adding $(echo "$new" | wc -l): $(echo "$new" | tr '\n' ' ')"
    echo "$new" >>"$out"
done
say "wrote $(wc -l <"$out") functions to ${out#"$repo"/}"
