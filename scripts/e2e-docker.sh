#!/usr/bin/env bash
# Docker end-to-end suite for tend (issue 5): real images FROM scratch, real `docker run`,
# `docker stop`, `docker exec`, docker-compose and healthchecks.
#
#   scripts/e2e-docker.sh                      # build the static binary, then all cases
#   TEND_BIN=/path/to/static/tend scripts/e2e-docker.sh
#   E2E_CASES="1 2 3" scripts/e2e-docker.sh    # a selection
#   E2E_KEEP=1 scripts/e2e-docker.sh           # leave containers and images for debugging
#
# Cases:
#   1 exit codes: the child's code becomes the container's (and 128+N, success codes, 127)
#   2 docker stop, child handles SIGTERM: drain events, 143 (or 0 with success codes), fast
#   3 docker stop -t 10, child ignores SIGTERM, TEND_SHUTDOWN_TIMEOUT=2s: force_kill at ~2s
#   4 orphans are reaped: no zombie left in the container; a `docker exec` process gets TERM
#   5 docker-compose example: TEND_WAIT_FOR, healthy through `tend health`, service_healthy
#   6 health failure -> remediation (restart of the child), seen in events and `tend status`
#   7 --read-only and --user 1000:1000 work (status file fallback, no privilege needed);
#     `docker exec -u root … tend health` finds a tend that runs as the image's user
#   8 a bad TEND_* variable (or a dependency cycle of services): exit 78 at once with a readable config_invalid event
#   9 TEND_RESTART=on-failure: a crashing child is restarted with backoff, recovers; HTTP
#     probes and metrics from inside the container (busybox wget); `docker exec … tend
#     restart`; the lifecycle report
#   10 the snippets of README.md, docs/*.md and docker/examples/README.md run as written
#      (scripts/check-snippets.sh: shell, Dockerfile builds, YAML and the grace rule)
#   11 `docker kill -s ABRT` and `-s PIPE`: forwarded to the child, tend (PID 1) lives on
#   12 services: busybox httpd, a worker and a one-shot migration under one tend, in
#      dependency order, healthy through `tend health`, `docker stop` in reverse order
#      within the grace period
# (with a few neighbours: 1 also `docker run -t` and the distribution image, 2 also
# `docker stop` during a dependency wait, 7 also TEND_USER and tend not being PID 1,
# 8 also several bad variables at once, a bad probe string, TEND_USER=4294967295 and
# `tend check-config` in the image)
#
# Every case asserts on exit codes, `docker inspect` state and the JSON lines (one object
# per line, on stderr) of `docker logs`. Waits are bounded polls on events and states.
# Everything created carries a unique tag/label and is removed on exit, pass or fail.
# The last line is "e2e: N passed, M failed"; the exit status is non-zero on any failure.
set -uo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
ALL_CASES="1 2 3 4 5 6 7 8 9 10 11 12"
CASES=${E2E_CASES:-$ALL_CASES}
RUN_ID=$(date +%s)$$
TAG=e2e-$RUN_ID
LABEL=tend.e2e.run=$RUN_ID
PROJECT=tende2e$RUN_ID
PREFIX=tend-e2e-$RUN_ID
TEST_IMAGE=tend-test:$TAG
WORK=$(mktemp -d "${TMPDIR:-/tmp}/tend-e2e.XXXXXX")
COMPOSE_FILE=$repo/docker/examples/compose.yaml
COMPOSE=()
COMPOSE_ENV=(env TEND_IMAGE="tend:$TAG" BASE_IMAGE="tend-busybox:$TAG" EXAMPLE_TAG="$TAG")

say() { echo "e2e: $*" >&2; }
die() { echo "e2e: ERROR: $*" >&2; echo "e2e: 0 passed, 1 failed"; exit 1; }

# --- prerequisites --------------------------------------------------------------------
ensure_docker() {
    if docker info >/dev/null 2>&1; then return 0; fi
    say "docker daemon not reachable; trying to start it"
    if command -v service >/dev/null 2>&1; then service docker start >&2 2>&1 || true; fi
    local i
    for i in $(seq 1 30); do docker info >/dev/null 2>&1 && return 0; sleep 1; done
    if command -v dockerd >/dev/null 2>&1 && ! pgrep -x dockerd >/dev/null 2>&1; then
        say "starting dockerd directly (log: /tmp/dockerd-e2e.log)"
        nohup dockerd >/tmp/dockerd-e2e.log 2>&1 &
        for i in $(seq 1 60); do docker info >/dev/null 2>&1 && return 0; sleep 1; done
    fi
    docker info >&2 || true
    die "the Docker daemon is not reachable and could not be started: the e2e suite cannot run (a skipped suite is not a pass)"
}

ensure_tools() {
    if ! command -v jq >/dev/null 2>&1; then
        say "jq missing: apt-get install jq"
        export DEBIAN_FRONTEND=noninteractive
        { apt-get install -y --no-install-recommends jq >&2 \
            || { apt-get update >&2 && apt-get install -y --no-install-recommends jq >&2; }; } \
            || die "jq is required and could not be installed"
    fi
    command -v file >/dev/null 2>&1 || die "'file' is required"
    if docker compose version >/dev/null 2>&1; then
        COMPOSE=(docker compose)
    elif command -v docker-compose >/dev/null 2>&1; then
        COMPOSE=(docker-compose)
    fi
}

# --- cleanup --------------------------------------------------------------------------
compose() { # compose [timeout SECONDS] ARGS...
    local t=()
    if [ "$1" = timeout ]; then t=(timeout "$2"); shift 2; fi
    "${t[@]}" "${COMPOSE_ENV[@]}" "${COMPOSE[@]}" -p "$PROJECT" -f "$COMPOSE_FILE" "$@"
}

cleanup() {
    local rc=$?
    trap - EXIT INT TERM
    if [ -n "${E2E_KEEP:-}" ]; then
        say "E2E_KEEP set: leaving containers (label $LABEL), images (tag $TAG), project $PROJECT"
        exit $rc
    fi
    if [ ${#COMPOSE[@]} -gt 0 ] && [[ " $CASES " == *" 5 "* ]]; then
        compose down -v --remove-orphans --rmi all -t 2 >/dev/null 2>&1 || true
    fi
    local ids
    ids=$(docker ps -aq --filter "label=$LABEL" 2>/dev/null)
    [ -n "$ids" ] && docker rm -f $ids >/dev/null 2>&1
    ids=$(docker ps -aq --filter "label=com.docker.compose.project=$PROJECT" 2>/dev/null)
    [ -n "$ids" ] && docker rm -f $ids >/dev/null 2>&1
    ids=$(docker network ls -q --filter "label=com.docker.compose.project=$PROJECT" 2>/dev/null)
    [ -n "$ids" ] && docker network rm $ids >/dev/null 2>&1
    ids=$(docker network ls -q --filter "label=$LABEL" 2>/dev/null)
    [ -n "$ids" ] && docker network rm $ids >/dev/null 2>&1
    local img
    for img in tend-example-app tend-example-tools tend-test tend-busybox tend; do
        docker image inspect "$img:$TAG" >/dev/null 2>&1 && docker rmi -f "$img:$TAG" >/dev/null 2>&1
    done
    rm -rf "$WORK"
    exit $rc
}
trap cleanup EXIT
trap 'say "interrupted"; exit 130' INT TERM

# --- assertions -----------------------------------------------------------------------
# Each case runs in a subshell; a failed assertion marks the case failed and goes on, so
# one run reports everything that is wrong.
CASE_FAILED=0
ok() { echo "    ok   $*" >&2; }
bad() { echo "    FAIL $*" >&2; CASE_FAILED=1; }
check() { # check DESCRIPTION COMMAND...
    local d=$1; shift
    if "$@"; then ok "$d"; else bad "$d"; fi
}
eq() { # eq DESCRIPTION ACTUAL EXPECTED
    if [ "$2" = "$3" ]; then ok "$1 ($2)"; else bad "$1: got '$2', expected '$3'"; fi
}
now() { date +%s.%N; }
fsub() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", a - b }'; }
fle() { awk -v a="$1" -v b="$2" 'BEGIN { exit !(a <= b) }'; }
between() { # between DESCRIPTION VALUE MIN MAX
    if fle "$3" "$2" && fle "$2" "$4"; then ok "$1 ($2 in [$3, $4])"; else bad "$1: $2 not in [$3, $4]"; fi
}

# --- containers, logs and events ------------------------------------------------------
cname() { echo "$PREFIX-$1"; }
# run_d NAME [docker run args...] IMAGE [CMD...]: detached, labelled for cleanup
run_d() { local n; n=$(cname "$1"); shift; docker run -d --name "$n" --label "$LABEL" "$@" >/dev/null; }
# run_fg NAME [args...]: attached like a user would; prints nothing, returns the exit code.
# The attached streams are kept as the container's output: `docker logs` of a container
# that lived a few milliseconds has been seen (once, in CI) to miss its last line.
run_fg() {
    local n; n=$(cname "$1"); shift
    docker run --name "$n" --label "$LABEL" "$@" >"$WORK/$n.out" 2>"$WORK/$n.err"
}
inspect() { docker inspect -f "$2" "$1" 2>/dev/null; }
stdout_of() { if [ -e "$WORK/$1.out" ]; then cat "$WORK/$1.out"; else docker logs "$1" 2>/dev/null; fi; }
stderr_of() { if [ -e "$WORK/$1.err" ]; then cat "$WORK/$1.err"; else docker logs "$1" 2>&1 >/dev/null; fi; }
# events C: the JSON objects tend printed on stderr, one per line (compact)
events() { stderr_of "$1" | jq -c -R 'fromjson? | select(type == "object")' 2>/dev/null; }
# ev C NAME [JQ-CONDITION]: matching events
ev() { events "$1" | jq -c --arg e "$2" "select(.event == \$e)${3:+ | select($3)}" 2>/dev/null; }
ev_count() { ev "$@" | grep -c . ; }
has_ev() { [ -n "$(ev "$@" | head -n1)" ]; }
# ev_time C NAME [COND]: epoch seconds (with ms) of the first matching event
JQ_EPOCH='def epoch: .timestamp | capture("^(?<s>[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2})(?<f>[.][0-9]+)?") | ((.s + "Z") | fromdateiso8601) + (("0" + (.f // ".0")) | tonumber);'
ev_time() { ev "$@" | head -n1 | jq -r "$JQ_EPOCH epoch"; }
# signal field may be "SIGTERM", "TERM" or 15
IS_TERM='(.signal | tostring | test("^(SIG)?TERM$|^15$"))'

wait_for() { # wait_for TIMEOUT_S COMMAND...: poll every 0.2 s
    local deadline; deadline=$(awk -v n="$(now)" -v t="$1" 'BEGIN { printf "%.3f", n + t }'); shift
    while :; do
        "$@" && return 0
        fle "$deadline" "$(now)" && return 1
        # GUARD=container: give up at once when it is no longer running
        if [ -n "${GUARD:-}" ] && ! is_status "$GUARD" running; then
            "$@" && return 0
            echo "      ($GUARD is $(inspect "$GUARD" '{{.State.Status}} (exit {{.State.ExitCode}})'): not waiting)" >&2
            return 1
        fi
        sleep 0.2
    done
}
wait_ev() { local t=$1; shift; wait_for "$t" has_ev "$@"; }
is_status() { [ "$(inspect "$1" '{{.State.Status}}')" = "$2" ]; }
wait_exited() { wait_for "$2" is_status "$1" exited; }
# (grep reads to the end: `grep -q` would exit at the first match, and the writer's
# SIGPIPE fails the pipeline under pipefail)
out_has() { stdout_of "$1" | grep -- "$2" >/dev/null; }
err_has() { stderr_of "$1" | grep -- "$2" >/dev/null; }

# Every JSON line has timestamp, level, event and message; tend writes nothing to stdout.
check_schema() {
    local c=$1 n badn
    n=$(events "$c" | grep -c .)
    badn=$(events "$c" | jq -c 'select((has("timestamp") and has("level") and has("event") and has("message")) | not)' | grep -c .)
    if [ "$n" -gt 0 ] && [ "$badn" -eq 0 ]; then
        ok "$n JSON event lines on stderr, each with timestamp, level, event, message"
    else
        bad "JSON lines on stderr: $n, without the required fields: $badn, for example:"
        events "$c" | jq -c 'select((has("timestamp") and has("level") and has("event") and has("message")) | not)' \
            | head -n 3 | sed 's/^/           /' >&2
    fi
    if stdout_of "$c" | grep '"event"' >/dev/null; then bad "tend wrote JSON events to stdout (stdout belongs to the child)"; fi
}
# Events appear in this order (each the first of its name after the previous one).
check_order() { # check_order C NAME...
    local c=$1; shift
    local got
    got=$(events "$c" | jq -r '.event' | awk -v want="$*" '
        BEGIN { n = split(want, w, " "); i = 1 }
        i <= n && $0 == w[i] { i++ }
        END { print i - 1 }')
    if [ "$got" -eq $# ]; then ok "events in order: $*"; else
        bad "events in order: $* (only the first $got found in order; saw: $(events "$c" | jq -r .event | tr '\n' ' '))"
    fi
}
dump() { # dump C...: what a failed case leaves for the reader
    local c
    for c in "$@"; do
        docker inspect "$c" >/dev/null 2>&1 || continue
        echo "    --- $c: state $(inspect "$c" '{{.State.Status}} exit={{.State.ExitCode}} oom={{.State.OOMKilled}} health={{if .State.Health}}{{.State.Health.Status}}{{end}}')" >&2
        echo "    --- stdout:" >&2; stdout_of "$c" | tail -n 20 | sed 's/^/      /' >&2
        echo "    --- stderr:" >&2; stderr_of "$c" | tail -n 40 | sed 's/^/      /' >&2
    done
}
# time_stop C [docker stop args]: seconds `docker stop` took
time_stop() { local c=$1 t0 t1; shift; t0=$(now); docker stop "$@" "$c" >/dev/null 2>&1; t1=$(now); fsub "$t1" "$t0"; }

# Loop that waits in a way a trap can interrupt at once (busybox ash runs traps only
# between commands: `sleep 1 & wait $!` instead of `sleep 1`).
IDLE='while :; do sleep 1 & wait $!; done'

# --- cases ----------------------------------------------------------------------------
case_1() {
    local c rc
    local v
    v=$(docker run --rm --label "$LABEL" "tend:$TAG" --version 2>&1); rc=$?
    eq "distribution image tend:$TAG runs 'tend --version' ($v)" "$rc" 0
    # one copy of the binary in one layer: the image is not much more than tend itself
    local isize bsize layers
    isize=$(docker image inspect -f '{{.Size}}' "tend:$TAG" 2>/dev/null)
    bsize=$(stat -c %s "$bin")
    layers=$(docker image inspect -f '{{len .RootFS.Layers}}' "tend:$TAG" 2>/dev/null)
    check "distribution image: $isize bytes < 1.3 x the binary's $bsize" \
        awk -v i="${isize:-0}" -v b="$bsize" 'BEGIN { exit !(i > 0 && i < 1.3 * b) }'
    eq "distribution image: filesystem layers" "$layers" 1
    c=$(cname c1-exit3)
    run_fg c1-exit3 "$TEST_IMAGE" sh -c 'echo out-line; echo err-line >&2; exit 3'; rc=$?
    eq "docker run exit code = child's" "$rc" 3
    eq "inspect State.ExitCode" "$(inspect "$c" '{{.State.ExitCode}}')" 3
    eq "stdout is the child's alone" "$(stdout_of "$c")" out-line
    check "child's stderr passes through" err_has "$c" '^err-line$'
    check_schema "$c"
    check "child_started with a pid" has_ev "$c" child_started '(.pid | type) == "number"'
    check "child_exited with exit_code 3" has_ev "$c" child_exited '.exit_code == 3'
    check "shutdown_completed" has_ev "$c" shutdown_completed
    check_order "$c" child_started child_exited shutdown_completed

    c=$(cname c1-signal)
    run_fg c1-signal "$TEST_IMAGE" sh -c 'kill -USR1 $$'; rc=$?
    eq "child killed by SIGUSR1 -> 128+10" "$rc" 138
    eq "inspect State.ExitCode" "$(inspect "$c" '{{.State.ExitCode}}')" 138
    check "child_exited names the signal" has_ev "$c" child_exited '(.signal // "" | tostring | test("USR1|^10$"))'

    # a real-time signal: its death must still be seen (it once hung tend for good)
    c=$(cname c1-rtsig)
    timeout 30 docker run --name "$c" --label "$LABEL" "$TEST_IMAGE" sh -c 'kill -40 $$' \
        >"$WORK/$c.out" 2>"$WORK/$c.err"; rc=$?
    eq "child killed by signal 40 -> 128+40, no hang" "$rc" 168
    check "child_exited names RTMIN+6" has_ev "$c" child_exited '.signal == "RTMIN+6"'

    # the child's signal dispositions: none ignored, the libc's own 32 to 34 included (grep as
    # the child itself: busybox sh ignores QUIT, and runs grep in its own process)
    c=$(cname c1-sigign)
    run_fg c1-sigign "$TEST_IMAGE" grep -E '^Sig(Ign|Blk)' /proc/self/status; rc=$?
    eq "SigIgn/SigBlk of the child" "$(stdout_of "$c" | tr '\t\n' ' ')" "SigBlk: 0000000000000000 SigIgn: 0000000000000000 "

    c=$(cname c1-success)
    run_fg c1-success -e TEND_SUCCESS_EXIT_CODES=3,143 "$TEST_IMAGE" sh -c 'exit 3'; rc=$?
    eq "TEND_SUCCESS_EXIT_CODES=3,143 maps 3 to 0" "$rc" 0

    # with a terminal (docker run -t): the child gets the foreground group, no SIGTTOU hang
    c=$(cname c1-tty)
    timeout 30 docker run -t --name "$c" --label "$LABEL" "$TEST_IMAGE" \
        sh -c 'tty >/dev/null && echo "tty ok"; stty size >/dev/null 2>&1; exit 5' >/dev/null 2>&1; rc=$?
    eq "docker run -t: exit code, no hang" "$rc" 5
    check "docker run -t: the child has the terminal" out_has "$c" 'tty ok'

    c=$(cname c1-missing)
    run_fg c1-missing "$TEST_IMAGE" /no/such/command; rc=$?
    eq "missing command -> 127" "$rc" 127
    check "an error event names the command" err_has "$c" '/no/such/command'
    [ $CASE_FAILED -eq 0 ] || dump "$(cname c1-exit3)" "$(cname c1-signal)" "$(cname c1-rtsig)" \
        "$(cname c1-sigign)" "$(cname c1-tty)" "$(cname c1-missing)"
}

case_2() {
    local a b ta tb
    a=$(cname c2-term); b=$(cname c2-success)
    local child='trap "echo child: got TERM; exit 143" TERM; echo ready; '"$IDLE"
    run_d c2-term "$TEST_IMAGE" sh -c "$child"
    run_d c2-success -e TEND_SUCCESS_EXIT_CODES=143 "$TEST_IMAGE" sh -c "$child"
    check "children started" wait_for 15 eval 'out_has "$a" ready && out_has "$b" ready'
    ( time_stop "$a" -t 10 > "$WORK/c2-ta" ) &
    time_stop "$b" -t 10 > "$WORK/c2-tb"
    wait
    ta=$(cat "$WORK/c2-ta"); tb=$(cat "$WORK/c2-tb")
    check "both exited" wait_for 15 eval 'is_status "$a" exited && is_status "$b" exited'
    # Bounds: below the 10 s grace (tend ended it, not Docker's SIGKILL), generous for a
    # loaded machine; how fast belongs to scripts/bench.sh.
    between "docker stop took (s)" "$ta" 0 9
    between "docker stop took (s), success codes" "$tb" 0 9
    eq "exit code: child's 143" "$(inspect "$a" '{{.State.ExitCode}}')" 143
    eq "exit code with TEND_SUCCESS_EXIT_CODES=143" "$(inspect "$b" '{{.State.ExitCode}}')" 0
    check "child handled the forwarded SIGTERM" out_has "$a" 'child: got TERM'
    local c
    for c in "$a" "$b"; do
        check_schema "$c"
        check_order "$c" child_started shutdown_initiated signal_forwarded child_exited shutdown_completed
        check "signal_forwarded carries SIGTERM" has_ev "$c" signal_forwarded "$IS_TERM"
        check "child_exited exit_code 143" has_ev "$c" child_exited '.exit_code == 143'
        check "no force_kill" eval '! has_ev "$c" force_kill'
    done
    check "shutdown_completed exit_code 0 with success codes" has_ev "$b" shutdown_completed '(.exit_code // 0) == 0'
    [ $CASE_FAILED -eq 0 ] || dump "$a" "$b"

    # docker stop while tend still waits for a dependency that never comes: no timeout
    local w took
    w=$(cname c2-waiting)
    run_d c2-waiting -e TEND_WAIT_FOR=tcp://127.0.0.1:9 -e TEND_WAIT_TIMEOUT=60s "$TEST_IMAGE" sh -c 'echo SHOULD-NOT-RUN'
    GUARD=$w
    check "waiting for the dependency" wait_ev 15 "$w" dependency_waiting
    took=$(time_stop "$w" -t 10)
    between "docker stop during the dependency wait took (s)" "$took" 0 9
    eq "exit code (TERM during the wait)" "$(inspect "$w" '{{.State.ExitCode}}')" 143
    check "the child never started" eval '! has_ev "$w" child_started && ! out_has "$w" SHOULD-NOT-RUN'
    check_schema "$w"
    [ $CASE_FAILED -eq 0 ] || dump "$w"
}

case_3() {
    local c took t_init t_kill dt
    c=$(cname c3-ignore)
    run_d c3-ignore -e TEND_SHUTDOWN_TIMEOUT=2s "$TEST_IMAGE" \
        sh -c 'trap "" TERM; echo ready; while :; do sleep 1; done'
    GUARD=$c
    check "child started" wait_for 15 out_has "$c" ready
    took=$(time_stop "$c" -t 10)
    between "docker stop -t 10 took (s): tend, not Docker's SIGKILL, ended it" "$took" 1.5 9.5
    eq "exit code 137 (child SIGKILLed)" "$(inspect "$c" '{{.State.ExitCode}}')" 137
    check_schema "$c"
    check_order "$c" shutdown_initiated signal_forwarded force_kill shutdown_completed
    check "child_exited" has_ev "$c" child_exited
    t_init=$(ev_time "$c" shutdown_initiated)
    t_kill=$(ev_time "$c" force_kill)
    if [ -n "$t_init" ] && [ -n "$t_kill" ]; then
        dt=$(fsub "$t_kill" "$t_init")
        # never before the timeout; late only by a loaded machine's scheduling
        between "force_kill after shutdown_initiated (s), TEND_SHUTDOWN_TIMEOUT=2s" "$dt" 1.9 9
    else
        bad "timestamps of shutdown_initiated/force_kill missing"
    fi
    check "shutdown_completed exit_code 137" has_ev "$c" shutdown_completed '.exit_code == 137'
    [ $CASE_FAILED -eq 0 ] || dump "$c"
}

# proc_table C: "pid state ppid" of every process in the container (read by a shell
# builtin so that only the reading shell itself is added, with ppid 0).
proc_table() {
    docker exec "$1" sh -c 'for f in /proc/[0-9]*/stat; do read -r l < "$f" && echo "$l"; done 2>/dev/null' 2>/dev/null \
        | sed -E 's/^([0-9]+) \(.*\) ([A-Za-z]) ([0-9]+) .*/\1 \2 \3/'
}
# no_orphans_left C MAINPID: no zombie anywhere and tend (pid 1) has no child but MAINPID
no_orphans_left() {
    local t; t=$(proc_table "$1")
    [ -n "$t" ] || return 1
    echo "$t" | awk -v main="$2" '$2 == "Z" || ($3 == 1 && $1 != main) { bad = 1 } END { exit bad }'
}
case_4() {
    local c main n
    c=$(cname c4-orphans)
    # 40 orphans: 20 that live 1 s, 20 that exit at once; all re-parented to tend.
    run_d c4-orphans -e TEND_LOG_LEVEL=debug "$TEST_IMAGE" sh -c '
        i=0; while [ $i -lt 20 ]; do (sleep 1 &); (sh -c "exit 0" &); i=$((i+1)); done
        echo spawned; exec sleep 300'
    GUARD=$c
    check "child spawned its orphans" wait_for 15 out_has "$c" spawned
    main=$(ev "$c" child_started | head -n1 | jq -r '.pid // empty')
    [ -n "$main" ] || main=$(proc_table "$c" | awk '$3 == 1 { print $1; exit }')
    if wait_for 15 no_orphans_left "$c" "$main"; then
        ok "no zombie and no orphan left; pid 1's only child is the main child ($main)"
    else
        bad "zombies or orphans remain after 15 s:"
        proc_table "$c" | sed 's/^/      pid state ppid: /' >&2
    fi
    echo "      ps in the container:" >&2
    docker exec "$c" ps -o pid,ppid,stat,comm 2>&1 | sed 's/^/      /' >&2
    n=$(ev_count "$c" orphan_reaped)
    if [ "$n" -ge 40 ]; then ok "orphan_reaped events at debug level: $n"; else
        bad "orphan_reaped events at debug level: $n, expected >= 40"; fi
    check "main child still running" is_status "$c" running
    docker stop -t 10 "$c" >/dev/null 2>&1
    eq "exit code after docker stop (sleep killed by TERM)" "$(inspect "$c" '{{.State.ExitCode}}')" 143
    check_schema "$c"
    [ $CASE_FAILED -eq 0 ] || dump "$c"

    # A process started by `docker exec` has its parent outside the container: when the
    # child exits, tend must still give it a TERM before it exits (the kernel would
    # SIGKILL it unwarned). It records the TERM on stdout, which the exec'd sh writes to
    # the container's /tmp; read back with docker cp after the container exits.
    local e
    e=$(cname c4-exec)
    run_d c4-exec "$TEST_IMAGE" sh -c 'while [ ! -e /tmp/go ]; do sleep 0.05; done; exit 3'
    GUARD=$e
    docker exec -d "$e" sh -c 'trap "echo TERM > /tmp/got; exit 0" TERM; touch /tmp/go; '"$IDLE"
    check "container exited" wait_exited "$e" 15
    eq "exit code: the child's 3" "$(inspect "$e" '{{.State.ExitCode}}')" 3
    check "processes_remaining logged for the exec'd process" has_ev "$e" processes_remaining '.count >= 1'
    check "no force_kill: it obeyed the TERM" eval '! has_ev "$e" force_kill'
    eq "the exec'd process got TERM" "$(docker cp "$e:/tmp/got" - 2>/dev/null | tar -xO 2>/dev/null)" TERM
    [ $CASE_FAILED -eq 0 ] || dump "$e"
}

case_5() {
    if [ ${#COMPOSE[@]} -eq 0 ]; then bad "neither 'docker compose' nor 'docker-compose' is installed"; return; fi
    local out rc app db worker
    say "  compose: ${COMPOSE[*]}, project $PROJECT, file docker/examples/compose.yaml"
    out=$(compose build 2>&1); rc=$?
    eq "compose build" "$rc" 0
    [ $rc -eq 0 ] || { echo "$out" | tail -n 30 >&2; return; }
    # up -d returns once every service is started, worker only after app is healthy. It
    # runs in the background so that the case ends at once if app dies instead.
    timeout 120 env TEND_IMAGE="tend:$TAG" BASE_IMAGE="tend-busybox:$TAG" EXAMPLE_TAG="$TAG" \
        "${COMPOSE[@]}" -p "$PROJECT" -f "$COMPOSE_FILE" up -d >"$WORK/c5-up.log" 2>&1 &
    local up_pid=$! early=0
    svc() { docker ps -aq --filter "label=com.docker.compose.project=$PROJECT" --filter "label=com.docker.compose.service=$1"; }
    up_done() { ! kill -0 "$up_pid" 2>/dev/null; }
    app_dead() { app=$(svc app); [ -n "$app" ] && is_status "$app" exited; }
    # watch: the worker must not exist while app is not healthy
    worker_early() {
        local w; w=$(svc worker)
        if [ -n "$w" ] && [ -n "$app" ] && [ "$(inspect "$app" '{{.State.Health.Status}}')" != healthy ]; then early=1; fi
        return 1
    }
    wait_for 120 eval 'worker_early || up_done || app_dead'
    if ! up_done; then kill "$up_pid" 2>/dev/null; fi
    wait "$up_pid"; rc=$?
    eq "compose up -d (worker waits for app healthy)" "$rc" 0
    [ $rc -eq 0 ] || tail -n 20 "$WORK/c5-up.log" | sed 's/^/      /' >&2
    eq "worker never existed while app was not healthy (polled)" "$early" 0
    app=$(svc app); db=$(svc db); worker=$(svc worker)
    if [ -z "$app" ] || [ -z "$db" ]; then bad "compose services missing (app '$app', db '$db')"; dump $app $db $worker; return; fi
    GUARD=$app
    local t_wait t_ready t_child dt
    check "app logged dependency_waiting naming db" has_ev "$app" dependency_waiting '(tostring | test("db:5432"))'
    check "app logged dependencies_ready" wait_ev 30 "$app" dependencies_ready
    check_order "$app" dependency_waiting dependencies_ready child_started
    t_wait=$(ev_time "$app" dependency_waiting); t_ready=$(ev_time "$app" dependencies_ready)
    if [ -n "$t_wait" ] && [ -n "$t_ready" ]; then
        dt=$(fsub "$t_ready" "$t_wait")
        between "app waited for db (s; db listens after 3 s)" "$dt" 1 30
    fi
    check "app turns healthy (docker healthcheck: tend health)" \
        wait_for 60 eval '[ "$(inspect "$app" "{{.State.Health.Status}}")" = healthy ]'
    # worker must have started after app's first passing healthcheck
    local first_ok w_start
    first_ok=$(docker inspect "$app" | jq -r '[.[0].State.Health.Log[] | select(.ExitCode == 0) | .End] | min // empty' \
        | sed -E 's/^(.{19})(\.[0-9]+)?.*$/\1\2/')
    if [ -n "$worker" ]; then
        w_start=$(inspect "$worker" '{{.State.StartedAt}}' | sed -E 's/^(.{19})(\.[0-9]+)?.*$/\1\2/')
        if [ -n "$first_ok" ] && [[ "$w_start" > "$first_ok" ]]; then
            ok "worker started ($w_start) after app's first healthy check ($first_ok)"
        else
            bad "worker started at $w_start, app's first passing healthcheck: '${first_ok:-none in Health.Log}'"
        fi
        check "worker reached app over the compose network" wait_for 15 out_has "$worker" 'worker: app says hello'
    else
        bad "worker was not created (app never healthy?)"
    fi
    check "tend health in app exits 0" docker exec "$app" /usr/local/bin/tend health
    # The app warms up for 2 s: a slow start is waited for, never a failure (issue 12, 8).
    no_warn() { [ -z "$(events "$1" | jq -c 'select(.level == "WARN")' 2>/dev/null)" ]; }
    check "app was not restarted while it warmed up" eval '! has_ev "$app" restart_initiated'
    check "app logged no WARN while it warmed up" no_warn "$app"
    check_schema "$app"
    # "What you see in the logs" of docker/examples/README.md, point by point
    check "1. db: starting, then listening on 5432" eval \
        'stdout_of "$db" | grep -x -e "db: starting" -e "db: listening on 5432" | tr "\n" "|" | grep -qx "db: starting|db: listening on 5432|"'
    check_order "$app" dependency_waiting dependencies_ready child_started startup_completed
    check "3. the app warmed up, then served" eval 'out_has "$app" "app: warming up" && out_has "$app" "app: serving on :8080"'
    eq "3. a clean start: one child_started" "$(ev_count "$app" child_started)" 1
    check "3. a clean start: no restart_initiated" eval '! has_ev "$app" restart_initiated'
    [ -z "$worker" ] || check "4. worker: app says hello" out_has "$worker" 'worker: app says hello from '
    c5_remediation
    # compose stop: stop_grace_period 15s > TEND_SHUTDOWN_TIMEOUT 10s; httpd exits on TERM
    local t0 took
    t0=$(now); compose stop app >/dev/null 2>&1; took=$(fsub "$(now)" "$t0")
    between "compose stop app took (s; below the 15 s grace)" "$took" 0 14
    eq "app exit code (143 mapped to 0 by TEND_SUCCESS_EXIT_CODES)" "$(inspect "$app" '{{.State.ExitCode}}')" 0
    check "app: shutdown_completed" has_ev "$app" shutdown_completed
    check_order "$app" shutdown_initiated signal_forwarded child_exited shutdown_completed
    check "5. child_exited with 143" has_ev "$app" child_exited '.exit_code == 143'
    check "5. shutdown_completed with exit code 0" has_ev "$app" shutdown_completed '.exit_code == 0'
    [ $CASE_FAILED -eq 0 ] || dump "$db" "$app" $worker
}

# The remediation walk-through of docker/examples/README.md, run as written: docker-compose
# gets this run's project name and tags, and `logs -f` is stopped (a user's Ctrl-C) once
# the events its comment names have come, in that order.
c5_remediation() {
    local snippet before
    if ! snippet=$("$repo/scripts/check-snippets.sh" --body remediation); then
        bad "docker/examples/README.md: the snippet 'e2e remediation' is missing"; return
    fi
    before=$(ev_count "$app" restart_initiated)
    follow_done() {
        grep -o '"event":"[a-z_]*"' "$WORK/c5-follow.log" | sed 's/"event":"//; s/"$//' | awk -v n="$before" '
            $0 == "restart_initiated" && ++r > n { s = 1 } s && $0 == "child_started" { found = 1 } END { exit !found }'
    }
    docker-compose() {
        local a logs=0 follow=0
        for a in "$@"; do
            if [ $logs -eq 1 ] && { [ "$a" = -f ] || [ "$a" = --follow ]; }; then follow=1; fi
            [ "$a" = logs ] && logs=1
        done
        if [ $follow -eq 0 ]; then "${COMPOSE_ENV[@]}" "${COMPOSE[@]}" -p "$PROJECT" "$@"; return; fi
        "${COMPOSE_ENV[@]}" "${COMPOSE[@]}" -p "$PROJECT" "$@" > "$WORK/c5-follow.log" 2>&1 &
        local pid=$!
        wait_for 60 follow_done
        kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null || true
        cat "$WORK/c5-follow.log"
    }
    ( cd "$repo" || exit; set -e; eval "$snippet" ) > "$WORK/c5-snippet.out" 2>&1
    eq "remediation snippet runs as written" "$?" 0
    check "logs -f: health_check_failed, restart_initiated, child_started (in order)" follow_done
    check "tend status: restarts >= 1" eval \
        'grep -oE "\"restarts\": ?[0-9]+" "$WORK/c5-snippet.out" | tail -n1 | grep -qE ": ?[1-9]"'
    [ $CASE_FAILED -eq 0 ] || tail -n 20 "$WORK/c5-snippet.out" | cut -c1-200 | sed 's/^/      /' >&2
}

health_ok() { docker exec "$1" /usr/local/bin/tend health >/dev/null 2>&1; }
http_get() { docker exec "$1" wget -q -O /dev/null "http://127.0.0.1:9090$2" >/dev/null 2>&1; }
case_6() {
    local c pid0 pid1 st
    c=$(cname c6-health)
    run_d c6-health \
        -e TEND_HEALTH_CHECK=file:///tmp/healthy \
        -e TEND_HEALTH_INTERVAL=1s -e TEND_HEALTH_TIMEOUT=1s \
        -e TEND_HEALTH_FAILURE_THRESHOLD=2 -e TEND_REMEDIATION=restart \
        -e TEND_SHUTDOWN_TIMEOUT=2s \
        --health-cmd "/usr/local/bin/tend health" --health-interval 1s --health-retries 3 \
        "$TEST_IMAGE" sh -c 'touch /tmp/healthy; echo "child $$ up"; '"$IDLE"
    GUARD=$c
    if ! wait_ev 15 "$c" child_started; then bad "child started"; dump "$c"; return; fi
    pid0=$(inspect "$c" '{{.State.Pid}}')
    check "tend health: ready" wait_for 20 health_ok "$c"
    check "docker sees the container healthy" \
        wait_for 20 eval '[ "$(inspect "$c" "{{.State.Health.Status}}")" = healthy ]'
    local n0; n0=$(ev_count "$c" child_started)
    docker exec "$c" rm -f /tmp/healthy
    check "health_check_failed events" wait_ev 15 "$c" health_check_failed
    check "health_state_changed to unhealthy" wait_ev 15 "$c" health_state_changed '(tostring | test("unhealthy"))'
    check "restart_initiated" wait_ev 20 "$c" restart_initiated
    check "a new child started" wait_for 20 eval '[ "$(ev_count "$c" child_started)" -gt "$n0" ]'
    pid1=$(ev "$c" child_started | tail -n1 | jq -r '.pid // empty')
    if [ -n "$pid1" ] && [ "$pid1" != "$(ev "$c" child_started | head -n1 | jq -r '.pid // empty')" ]; then
        ok "new child pid $pid1"; else bad "restarted child has no new pid ($pid1)"; fi
    check_order "$c" child_started health_check_failed health_state_changed restart_initiated child_started
    check "at least 2 consecutive failures before the restart (threshold)" \
        eval '[ "$(events "$c" | jq -r .event | awk "/^restart_initiated$/ { exit } /^health_check_failed$/ { n++ } END { print n+0 }")" -ge 2 ]'
    check "healthy again after the restart (child recreated the file)" wait_for 20 health_ok "$c"
    st=$(docker exec "$c" /usr/local/bin/tend status 2>/dev/null)
    if [ -n "$st" ] && echo "$st" | jq -e 'type == "object"' >/dev/null 2>&1; then
        ok "tend status prints JSON: $(echo "$st" | jq -c . | cut -c1-300)"
        check "tend status: state running" eval 'echo "$st" | jq -e ".state == \"running\"" >/dev/null'
        check "tend status: restarts >= 1" eval \
            'echo "$st" | jq -e "[.. | objects | to_entries[] | select(.key | test(\"restart\")) | .value | numbers] | max >= 1" >/dev/null'
    else
        bad "tend status did not print JSON: '$st'"
    fi
    check "the container is still running" is_status "$c" running
    eq "the container itself was not restarted (same pid 1)" "$(inspect "$c" '{{.State.Pid}}')" "$pid0"
    eq "docker RestartCount" "$(inspect "$c" '{{.RestartCount}}')" 0
    check_schema "$c"
    [ $CASE_FAILED -eq 0 ] || dump "$c"
}

# `tend status` finds the fallback status file, then `docker stop` ends tend cleanly.
# Arguments: label, container, extra `docker exec` options.
status_then_stop() {
    local label=$1 c=$2 st took; shift 2
    if [ -n "$HAS_STATUS_CMD" ]; then
        st=$(docker exec "$@" "$c" /usr/local/bin/tend status 2>/dev/null)
        if [ -n "$st" ] && echo "$st" | jq -e .state >/dev/null 2>&1; then ok "$label: tend status finds the fallback status file (state $(echo "$st" | jq -r .state))"
        else bad "$label: tend status gave no snapshot: '$st' $(docker exec "$@" "$c" /usr/local/bin/tend status 2>&1 >/dev/null | tail -n2)"; fi
    fi
    took=$(time_stop "$c" -t 10)
    between "$label: docker stop took (s)" "$took" 0 9
    eq "$label: exit code after stop" "$(inspect "$c" '{{.State.ExitCode}}')" 143
    check "$label: shutdown_completed" has_ev "$c" shutdown_completed
}

case_7() {
    local c rc took st
    # --read-only: no writable /run; the status file falls back, nothing crashes
    c=$(cname c7-ro-exit)
    run_fg c7-ro-exit --read-only "$TEST_IMAGE" sh -c 'echo ro-ok; exit 4'; rc=$?
    eq "--read-only: exit code" "$rc" 4
    check "--read-only: child ran" out_has "$c" ro-ok
    check "--read-only: child_exited" has_ev "$c" child_exited '.exit_code == 4'
    check "--read-only: no panic" eval '! err_has "$c" "[Pp]anic"'
    check_schema "$c"
    c=$(cname c7-ro)
    run_d c7-ro --read-only "$TEST_IMAGE" sh -c 'echo ready; exec sleep 300'
    GUARD=$c
    check "--read-only: running" wait_for 15 out_has "$c" ready
    status_then_stop "--read-only" "$c"
    [ $CASE_FAILED -eq 0 ] || dump "$(cname c7-ro-exit)" "$c"

    # --user 1000:1000: tend is PID 1 without root
    c=$(cname c7-user)
    run_d c7-user --user 1000:1000 "$TEST_IMAGE" sh -c 'echo "ids $(id -u):$(id -g)"; exec sleep 300'
    GUARD=$c
    check "--user: child runs as 1000:1000" wait_for 15 out_has "$c" 'ids 1000:1000'
    status_then_stop "--user" "$c" --user 1000:1000
    check "--user: no panic" eval '! err_has "$c" "[Pp]anic"'
    check_schema "$c"

    # An image whose tend runs as a user (USER 1000): `docker exec -u root c tend health`
    # finds its status file through PID 1's uid, with no configuration
    c=$(cname c7-exec-root)
    run_d c7-exec-root --user 1000:1000 "$TEST_IMAGE" sh -c 'echo ready; exec sleep 300'
    GUARD=$c
    check "--user 1000: running" wait_for 15 out_has "$c" ready
    check "--user 1000: docker exec -u root tend health turns healthy" \
        wait_for 15 eval 'docker exec -u root "$c" /usr/local/bin/tend health >/dev/null 2>&1'
    st=$(docker exec -u root "$c" /usr/local/bin/tend status 2>&1)
    check "--user 1000: tend status as root reads /dev/shm/tend-1000 (pid 1)" \
        eval 'echo "$st" | jq -e ".pid == 1 and .state == \"running\"" >/dev/null'
    check "--user 1000: tend stop as root is accepted" \
        eval 'docker exec -u root "$c" /usr/local/bin/tend stop >/dev/null 2>&1'
    check "--user 1000: stopped by tend stop" wait_for 15 eval '[ "$(inspect "$c" "{{.State.Running}}")" = false ]'
    eq "--user 1000: exit code after tend stop" "$(inspect "$c" '{{.State.ExitCode}}')" 143
    [ $CASE_FAILED -eq 0 ] || dump "$c"

    # TEND_USER=app: tend stays root, the child drops to 1000:1000, resolved from
    # /etc/passwd without NSS (a static binary in a scratch image has none)
    c=$(cname c7-tenduser)
    run_fg c7-tenduser -e TEND_USER=app "$TEST_IMAGE" sh -c 'echo "ids $(id -u):$(id -g) home=$HOME"; exit 6'; rc=$?
    eq "TEND_USER=app: exit code" "$rc" 6
    check "TEND_USER=app: child runs as 1000:1000 with HOME=/app" out_has "$c" '^ids 1000:1000 home=/app$'
    check_schema "$c"

    # --user and --read-only, tend not PID 1 (sh is): child subreaper without privileges
    c=$(cname c7-subreaper)
    run_fg c7-subreaper --user 1000:1000 --read-only --entrypoint /bin/sh "$TEST_IMAGE" \
        -c '/usr/local/bin/tend -- sh -c "(sleep 1 &); exit 4"; echo "tend-exit=$?"'; rc=$?
    check "not PID 1, --user, --read-only: tend exits with the child's code" out_has "$c" '^tend-exit=4$'
    check "not PID 1: no panic" eval '! err_has "$c" "[Pp]anic"'
    check "not PID 1: child_exited" has_ev "$c" child_exited '.exit_code == 4'
    [ $CASE_FAILED -eq 0 ] || dump "$(cname c7-user)" "$(cname c7-tenduser)" "$c"
}

case_8() {
    local c rc t0 took text
    c=$(cname c8-banana)
    t0=$(now)
    run_fg c8-banana -e TEND_SHUTDOWN_TIMEOUT=banana "$TEST_IMAGE" sh -c 'echo SHOULD-NOT-RUN'; rc=$?
    took=$(fsub "$(now)" "$t0")
    eq "TEND_SHUTDOWN_TIMEOUT=banana: exit code" "$rc" 78
    between "exits at once (s, docker run included; catches a hang)" "$took" 0 20
    check "the child never ran" eval '! out_has "$c" SHOULD-NOT-RUN'
    check "no child_started" eval '! has_ev "$c" child_started'
    check "config_invalid names the variable and the value" \
        has_ev "$c" config_invalid '(tostring | test("TEND_SHUTDOWN_TIMEOUT")) and (tostring | test("banana"))'
    check_schema "$c"
    echo "      what a user sees in docker logs:" >&2
    stderr_of "$c" | head -n 3 | cut -c1-300 | sed 's/^/        /' >&2

    c=$(cname c8-many)
    run_fg c8-many -e TEND_SHUTDOWN_TIMEOUT=banana -e TEND_SUCCESS_EXIT_CODES=abc -e TEND_SHUTDOWN_TIMOUT=5s \
        "$TEST_IMAGE" sh -c 'echo SHOULD-NOT-RUN'; rc=$?
    eq "three bad variables: exit code" "$rc" 78
    text=$(ev "$c" config_invalid)
    check "every bad variable reported at once" eval \
        'echo "$text" | grep -q TEND_SHUTDOWN_TIMEOUT && echo "$text" | grep -q TEND_SUCCESS_EXIT_CODES && echo "$text" | grep -q TEND_SHUTDOWN_TIMOUT'
    check "the typo gets a suggestion (TEND_SHUTDOWN_TIMOUT -> TEND_SHUTDOWN_TIMEOUT)" eval \
        'echo "$text" | grep -qi "did you mean"'
    check "the child never ran" eval '! out_has "$c" SHOULD-NOT-RUN'

    c=$(cname c8-probe)
    run_fg c8-probe -e TEND_WAIT_FOR=ftp://db:21 "$TEST_IMAGE" sh -c 'echo SHOULD-NOT-RUN'; rc=$?
    eq "a bad probe in TEND_WAIT_FOR: exit code" "$rc" 78
    check "config_invalid shows the bad entry" has_ev "$c" config_invalid '(tostring | test("ftp://db:21"))'
    check "the child never ran" eval '! out_has "$c" SHOULD-NOT-RUN'
    [ $CASE_FAILED -eq 0 ] || dump "$(cname c8-banana)" "$(cname c8-many)" "$c"

    # An id the system reads as "no change" is a configuration error, not a 126 at spawn
    c=$(cname c8-minus-one)
    run_fg c8-minus-one -e TEND_USER=4294967295 "$TEST_IMAGE" sh -c 'echo SHOULD-NOT-RUN'; rc=$?
    eq "TEND_USER=4294967295: exit code" "$rc" 78
    check "config_invalid names TEND_USER, the value and the range" has_ev "$c" config_invalid \
        '(.variable == "TEND_USER") and (.message | test("4294967295") and test("0 to 4294967294"))'
    check "the child never ran" eval '! out_has "$c" SHOULD-NOT-RUN'

    # Services whose dependencies form a cycle: refused at once, the cycle named
    c=$(cname c8-cycle)
    run_fg c8-cycle -e TEND_SERVICE_WEB='sleep 100' -e TEND_SERVICE_WEB_DEPENDS_ON=php_fpm \
        -e TEND_SERVICE_PHP_FPM='sleep 100' -e TEND_SERVICE_PHP_FPM_DEPENDS_ON=web \
        "$TEST_IMAGE" sh -c 'echo SHOULD-NOT-RUN'; rc=$?
    eq "a dependency cycle: exit code" "$rc" 78
    check "config_invalid names every service of the cycle" has_ev "$c" config_invalid \
        '(.message | test("php_fpm → web → php_fpm"))'
    check "the child never ran" eval '! out_has "$c" SHOULD-NOT-RUN'

    # `tend check-config` in the image: what a start would refuse, all at once, as text
    c=$(cname c8-check)
    run_fg c8-check -e TEND_USER=ghost -e TEND_REQUIRE_ENV=DB_URL,API_KEY \
        --entrypoint /usr/local/bin/tend "$TEST_IMAGE" check-config; rc=$?
    eq "check-config with an unknown user and missing variables: exit code" "$rc" 78
    check "check-config names the unknown user" err_has "$c" 'TEND_USER: no user "ghost" in /etc/passwd'
    check "check-config lists the missing variables" err_has "$c" 'DB_URL, API_KEY'
    c=$(cname c8-check-ok)
    run_fg c8-check-ok --read-only -e TEND_USER=app --entrypoint /usr/local/bin/tend "$TEST_IMAGE" check-config; rc=$?
    eq "check-config, valid: exit code" "$rc" 0
    check "check-config shows the status file a start would use" out_has "$c" '^status_file  *\(/run/tend\|/dev/shm/tend-0\)/status.json$'
    check "check-config shows the control socket beside it" out_has "$c" '^interfaces.control_socket  */.*/control.sock$'
    [ $CASE_FAILED -eq 0 ] || dump "$(cname c8-minus-one)" "$(cname c8-check)" "$c"
}

case_9() {
    local c rc delays report
    c=$(cname c9-restart)
    # The first two runs crash; the third stays up. The counter lives in /tmp, which
    # outlives each child but not the container.
    run_d c9-restart \
        -e TEND_RESTART=on-failure -e TEND_RESTART_DELAY=200ms -e TEND_RESTART_MAX_ATTEMPTS=3 \
        -e TEND_REPORT_FILE=/tmp/report/tend.json -e TEND_SHUTDOWN_TIMEOUT=2s \
        -e TEND_HTTP_ADDR=127.0.0.1:9090 \
        "$TEST_IMAGE" sh -c 'echo run >> /tmp/runs; n=$(wc -l < /tmp/runs); echo "run $n";
            [ "$n" -le 2 ] && exit 3; trap "exit 0" TERM; '"$IDLE"
    GUARD=$c
    check "recovery_completed after two crashes" wait_ev 20 "$c" recovery_completed
    eq "restart_initiated events" "$(ev_count "$c" restart_initiated)" 2
    delays=$(ev "$c" restart_initiated | jq -r '.delay_ms' | tr '\n' ' ')
    eq "backoff delays (ms): base x 2^n" "$delays" "200 400 "
    eq "failure_detected for each crash" "$(ev_count "$c" failure_detected)" 2
    check "three runs of the child" wait_for 10 out_has "$c" 'run 3'
    check "tend health: ready after recovery" wait_for 10 health_ok "$c"
    check "the status file is on the /dev/shm tmpfs (the container's /run is on its layer)" \
        eval 'docker exec "$c" test -f /dev/shm/tend-0/status.json && ! docker exec "$c" test -e /run/tend/status.json'
    check "GET /readyz: 200 (busybox wget fails on any other code)" http_get "$c" /readyz
    check "GET /livez: 200" http_get "$c" /livez
    check "/metrics: tend_child_restarts_total 2" \
        eval 'docker exec "$c" wget -q -O- http://127.0.0.1:9090/metrics | grep -x "tend_child_restarts_total 2" >/dev/null'
    check "/status: JSON with state running" \
        eval 'docker exec "$c" wget -q -O- http://127.0.0.1:9090/status | jq -e ".state == \"running\"" >/dev/null'
    check "docker exec tend restart: accepted" eval 'docker exec "$c" /usr/local/bin/tend restart >/dev/null 2>&1'
    check "restart_initiated with reason requested" wait_ev 10 "$c" restart_initiated '.reason == "requested"'
    check "a fourth run of the child" wait_for 10 out_has "$c" 'run 4'
    docker stop -t 10 "$c" >/dev/null 2>&1
    rc=$(inspect "$c" '{{.State.ExitCode}}')
    eq "exit code after docker stop (the child exits 0 on TERM)" "$rc" 0
    report=$(docker cp "$c:/tmp/report/tend.json" - 2>/dev/null | tar -xO 2>/dev/null)
    if echo "$report" | jq -e . >/dev/null 2>&1; then
        eq "report: restarts (2 by policy, 1 requested)" "$(echo "$report" | jq -r .restarts)" 3
        eq "report: exit_cause" "$(echo "$report" | jq -r .exit_cause)" signal_TERM
        check "report: the timeline holds the restarts" \
            eval '[ "$(echo "$report" | jq "[.timeline[] | select(.event == \"restart_initiated\")] | length")" = 3 ]'
    else
        bad "no JSON report in the stopped container (docker cp): '$(echo "$report" | head -c 200)'"
    fi
    check_schema "$c"
    [ $CASE_FAILED -eq 0 ] || dump "$c"
}

case_10() {
    local rc
    "$repo/scripts/check-snippets.sh" --bin "$bin" --tag "$TAG" --label "$LABEL" >"$WORK/c10.out" 2>&1; rc=$?
    sed 's/^snippets: /    /' "$WORK/c10.out" >&2
    eq "scripts/check-snippets.sh: $(tail -n1 "$WORK/c10.out")" "$rc" 0
}

case_11() {
    local c sig
    c=$(cname c11-faults)
    # Sent from outside the container (pid 0 as tend sees it): forwarded like any other.
    run_d c11-faults "$TEST_IMAGE" sh -c \
        'for s in ABRT PIPE; do trap "echo child: got $s" $s; done; trap "exit 0" TERM; echo ready; '"$IDLE"
    GUARD=$c
    check "child started" wait_for 15 out_has "$c" ready
    for sig in ABRT PIPE; do
        docker kill -s "$sig" "$c" >/dev/null 2>&1
        check "docker kill -s $sig: signal_forwarded" wait_ev 10 "$c" signal_forwarded ".signal == \"$sig\""
        check "docker kill -s $sig: the child got it" wait_for 10 out_has "$c" "child: got $sig"
    done
    check "tend still running" is_status "$c" running
    docker stop -t 10 "$c" >/dev/null 2>&1
    eq "exit code after docker stop (the child exits 0 on TERM)" "$(inspect "$c" '{{.State.ExitCode}}')" 0
    check_schema "$c"
    [ $CASE_FAILED -eq 0 ] || dump "$c"
}

case_12() {
    local c rc t0 took main web migrate_done web_up main_up main_exit web_stop
    c=$(cname c12-services)
    # The migration writes the page httpd serves; httpd starts once it completed, and the
    # worker (the main command) once httpd is healthy.
    run_d c12-services \
        -e TEND_SERVICE_MIGRATE='sh -c "mkdir -p /tmp/www && echo migrated > /tmp/www/index.html"' \
        -e TEND_SERVICE_MIGRATE_ONESHOT=true \
        -e TEND_SERVICE_WEB='httpd -f -p 127.0.0.1:8080 -h /tmp/www' \
        -e TEND_SERVICE_WEB_DEPENDS_ON=migrate:completed \
        -e TEND_SERVICE_WEB_HEALTH_CHECK=http://127.0.0.1:8080/ \
        -e TEND_SERVICE_WEB_HEALTH_INTERVAL=1s -e TEND_SERVICE_WEB_HEALTH_START_INTERVAL=100ms \
        -e TEND_DEPENDS_ON=web:healthy \
        "$TEST_IMAGE" sh -c 'trap "echo worker stopping; exit 0" TERM; echo worker up; '"$IDLE"
    GUARD=$c
    check "the worker (main) started" wait_for 20 out_has "$c" 'worker up'
    check "tend health: ready (every service ready, the one-shot completed)" wait_for 20 health_ok "$c"
    check "tend health web: ready" eval 'docker exec "$c" /usr/local/bin/tend health web >/dev/null 2>&1'
    check "httpd serves what the migration wrote" \
        eval 'docker exec "$c" wget -q -O- http://127.0.0.1:8080/ | grep -q migrated'
    migrate_done=$(ev "$c" child_exited '.service == "migrate"' | jq -r .timestamp | head -n1)
    web_up=$(ev "$c" child_started '.service == "web"' | jq -r .timestamp | head -n1)
    main_up=$(ev "$c" child_started '.service == null' | jq -r .timestamp | head -n1)
    check "start order: migrate completed, then web, then the worker" \
        eval '[[ -n "$migrate_done" && ! "$web_up" < "$migrate_done" && ! "$main_up" < "$web_up" ]]'
    check "the status lists the services" eval \
        'docker exec "$c" /usr/local/bin/tend status 2>/dev/null | grep -q web'
    t0=$(now)
    docker stop -t 10 "$c" >/dev/null 2>&1
    took=$(fsub "$(now)" "$t0")
    between "docker stop took (s): well within the 10 s grace" "$took" 0 8
    rc=$(inspect "$c" '{{.State.ExitCode}}')
    eq "exit code (the worker exits 0 on TERM)" "$rc" 0
    main_exit=$(ev "$c" child_exited '.service == null' | jq -r .timestamp | head -n1)
    web_stop=$(ev "$c" shutdown_initiated '.service == "web"' | jq -r .timestamp | head -n1)
    check "stop order: the worker exited before web was told to stop" \
        eval '[[ -n "$web_stop" && ! "$web_stop" < "$main_exit" ]]'
    check "web stopped gracefully (no force_kill)" eval '! has_ev "$c" force_kill'
    check_schema "$c"
    [ $CASE_FAILED -eq 0 ] || dump "$c"
}

# --- main -----------------------------------------------------------------------------
for n in $CASES; do
    case " $ALL_CASES " in *" $n "*) ;; *) die "unknown case '$n' in E2E_CASES (cases: $ALL_CASES)" ;; esac
done

ensure_docker
ensure_tools

if [ -n "${TEND_BIN:-}" ]; then
    bin=$(realpath "$TEND_BIN") # the snippets run in a directory of their own
    say "using TEND_BIN=$bin"
else
    say "building the static binary (scripts/build-static.sh)"
    bin=$("$repo/scripts/build-static.sh" | tail -n1) || die "scripts/build-static.sh failed"
fi
[ -x "$bin" ] || die "tend binary not found: $bin"

say "building images (tag $TAG)"
"$repo/docker/build-images.sh" --bin "$bin" --tag "$TAG" --label "$LABEL" || die "image build failed"
docker run --rm --label "$LABEL" --entrypoint /usr/local/bin/tend "$TEST_IMAGE" --version >/dev/null 2>&1 \
    || say "warning: 'tend --version' failed inside the test image"
HAS_STATUS_CMD=""
if docker run --rm --label "$LABEL" --entrypoint /usr/local/bin/tend "$TEST_IMAGE" --help 2>&1 | grep -qw status; then
    HAS_STATUS_CMD=1
fi

passed=0 failed=0 failed_names=""
for n in $CASES; do
    say "case $n: $(sed -n "s/^#   $n \(.*\)/\1/p" "$0")"
    t0=$(now)
    ( CASE_FAILED=0; "case_$n"; exit $CASE_FAILED )
    rc=$?
    took=$(fsub "$(now)" "$t0")
    if [ $rc -eq 0 ]; then
        passed=$((passed + 1)); say "case $n: PASS (${took}s)"
    else
        failed=$((failed + 1)); failed_names="$failed_names $n"; say "case $n: FAIL (${took}s)"
    fi
done

[ $failed -eq 0 ] || say "failed cases:$failed_names"
echo "e2e: $passed passed, $failed failed"
[ $failed -eq 0 ]
