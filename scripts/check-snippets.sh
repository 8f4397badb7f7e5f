#!/usr/bin/env bash
# Runs every snippet of README.md, docs/*.md and docker/examples/README.md, so that what a
# user pastes works as pasted. Each fenced block is taken by its language:
#
#   sh          run with bash -e in an empty temporary directory, the static tend on PATH
#   dockerfile  linted (no trailing comments: Docker has none), then `docker build` on top
#               of tend-busybox:TAG (FROM scratch, static busybox) when the snippet has no
#               FROM, with tend:latest read as tend:TAG; then `tend --version` and
#               `tend check-config` run in the image (the snippet's TEND_* values are valid)
#   yaml        parsed (python3 yaml); every TEND_* variable it sets is checked by
#               `tend check-config` (a real name, a valid value); a grace period it sets
#               (terminationGracePeriodSeconds, stop_grace_period) must exceed
#               TEND_DRAIN_DELAY + TEND_SHUTDOWN_TIMEOUT + 1 s
#   text        output, diagrams, synopses: not run
#
# A marker on the line before the fence changes that:
#   <!-- snippet: repo -->               run from the repository's root (build commands)
#   <!-- snippet: container -->          run against a live container: `docker exec app`
#                                        reaches a tend-test:TAG container started here
#   <!-- snippet: e2e NAME -->           run verbatim by scripts/e2e-docker.sh, which reads
#                                        it with --body NAME (checked here: it must)
#   <!-- snippet: illustrative REASON --> cannot run as it is: listed, with the reason
# A fence without a language is an error (say `text`), as is an unknown marker.
# docker/examples/compose.yaml is checked like a yaml snippet too (the grace rule), and
# the repository's Dockerfiles get the comment lint.
#
# Usage: scripts/check-snippets.sh [--list] [--bin TEND] [--tag TAG] [--label K=V]
#                                  [--skip-docker] [--skip-repo] | --body NAME
#   --list         print every snippet and how it is checked, run nothing
#   --bin          the static tend (default: target/static/tend)
#   --tag          tag of the images built by docker/build-images.sh (tend, tend-busybox,
#                  tend-test); needed for dockerfile and container snippets
#   --label        label put on what is created here (the e2e suite cleans up by it)
#   --skip-docker  do not run dockerfile/container snippets (reported as skipped)
#   --skip-repo    do not run repo snippets (they build tend in release mode)
#   --body NAME    print the snippet marked `e2e NAME` and exit
# The last line is "snippets: N passed, M failed, ..."; the exit status is non-zero on
# any failure.
set -uo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
FILES=(README.md)
for f in "$repo"/docs/*.md; do [ -e "$f" ] && FILES+=("docs/${f##*/}"); done
FILES+=(docker/examples/README.md)
EXTRA_YAML=(docker/examples/compose.yaml)
# the repository's own Dockerfiles (built by the e2e suite) get the comment lint too:
# a trailing comment on ENV or CMD does not fail a build, it changes the value
EXTRA_DOCKERFILES=(docker/Dockerfile docker/test/Dockerfile docker/examples/app/Dockerfile docker/examples/tools/Dockerfile)
bin=$repo/target/static/tend
tag=""
labels=()
list=0 skip_docker=0 skip_repo=0 body=""

while [ $# -gt 0 ]; do
    case "$1" in
        --list) list=1; shift ;;
        --bin) bin=${2:?}; shift 2 ;;
        --tag) tag=${2:?}; shift 2 ;;
        --label) labels+=(--label "${2:?}"); shift 2 ;;
        --skip-docker) skip_docker=1; shift ;;
        --skip-repo) skip_repo=1; shift ;;
        --body) body=${2:?}; shift 2 ;;
        -h|--help) sed -n '2,38p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "check-snippets: unknown argument: $1" >&2; exit 64 ;;
    esac
done

say() { echo "snippets: $*" >&2; }

work=$(mktemp -d "${TMPDIR:-/tmp}/tend-snippets.XXXXXX")
RUN_ID=$$$(date +%s)
created_images=() created_containers=()
cleanup() {
    [ ${#created_containers[@]} -gt 0 ] && docker rm -f "${created_containers[@]}" >/dev/null 2>&1
    [ ${#created_images[@]} -gt 0 ] && docker rmi -f "${created_images[@]}" >/dev/null 2>&1
    rm -rf "$work"
}
trap cleanup EXIT

# --- extraction -----------------------------------------------------------------------
# One record per fenced block: "N<TAB>file<TAB>line<TAB>lang<TAB>kind<TAB>args"; the body
# goes to $work/N. The marker is the last non-blank line before the fence.
: > "$work/index"
n=0
for f in "${FILES[@]}"; do
    awk -v file="$f" -v dir="$work" -v start="$n" '
        BEGIN { n = start; infence = 0 }
        !infence && /^```/ {
            lang = substr($0, 4); gsub(/[ \t]/, "", lang)
            kind = ""; args = ""
            if (prev ~ /^<!-- snippet: .* -->$/) {
                m = prev; sub(/^<!-- snippet: /, "", m); sub(/ -->$/, "", m)
                kind = m; sub(/ .*/, "", kind)
                args = m; if (index(m, " ")) { sub(/^[^ ]* /, "", args) } else { args = "" }
            }
            n++; infence = 1; line = NR; body = dir "/" n; printf "" > body
            printf "%d\t%s\t%d\t%s\t%s\t%s\n", n, file, NR, lang, kind, args >> (dir "/index")
            next
        }
        infence && /^```[ \t]*$/ { infence = 0; close(body); prev = "```"; next }
        infence { print >> body; next }
        /[^ \t]/ { prev = $0 }
        END { if (infence) { printf "%s:%d: fence never closed\n", file, line > "/dev/stderr"; exit 1 } }
    ' "$repo/$f" || exit 1
    n=$(tail -n1 "$work/index" | cut -f1)
done

if [ -n "$body" ]; then
    hit=$(awk -F'\t' -v name="$body" '$5 == "e2e" && $6 == name { print $1 }' "$work/index")
    [ -n "$hit" ] || { say "no snippet marked 'e2e $body'"; exit 1; }
    cat "$work/$hit"
    exit 0
fi

# --- checks ---------------------------------------------------------------------------
passed=0 failed=0 skipped=0
failures=() skips=() illustrative=() texts=()
ok() { passed=$((passed + 1)); say "ok    $1"; }
bad() { failed=$((failed + 1)); failures+=("$1"); say "FAIL  $1"; [ -z "${2:-}" ] || sed 's/^/        /' "$2" | tail -n 30 >&2; }
skip() { skipped=$((skipped + 1)); skips+=("$1"); say "skip  $1"; }

# A clean environment for tend's own commands: no TEND_* from the caller.
clean_env() { env -i PATH="$PATH" HOME="${HOME:-/root}" "$@"; }
# The caller's environment without its TEND_* variables (tend refuses names it does not
# know, and the caller's TEND_BIN is not the user's): for what a user would run.
user_env() {
    local unset=() name
    for name in $(compgen -e); do
        case "$name" in TEND_*) unset+=(-u "$name") ;; esac
    done
    env "${unset[@]}" "$@"
}

tend_on_path() { # a bin directory holding `tend`
    mkdir -p "$work/bin"
    ln -sf "$bin" "$work/bin/tend"
    echo "$work/bin"
}

run_sh() { # run_sh ID FILE: bash -e in an empty directory, tend on PATH
    local id=$1 file=$2 dir path
    dir=$(mktemp -d "$work/run.XXXXXX"); path=$(tend_on_path)
    if (cd "$dir" && user_env PATH="$path:$PATH" timeout 120 bash -e "$file") >"$work/out" 2>&1; then
        ok "$id"
    else bad "$id" "$work/out"; fi
}

run_repo() { # run_repo ID FILE: from the repository's root
    local id=$1 file=$2
    if (cd "$repo" && user_env timeout 3600 bash -e "$file") >"$work/out" 2>&1; then ok "$id"
    else bad "$id" "$work/out"; fi
}

run_container() { # run_container ID FILE: `docker exec app` reaches a live tend
    local id=$1 file=$2 name
    name=tend-snippet-$RUN_ID-app
    if ! docker run -d --name "$name" "${labels[@]}" "tend-test:$tag" \
        sh -c 'trap "exit 0" TERM; echo up; while :; do sleep 1 & wait $!; done' >/dev/null 2>"$work/out"; then
        bad "$id: docker run" "$work/out"; return
    fi
    created_containers+=("$name")
    local i
    for i in $(seq 1 100); do docker logs "$name" 2>/dev/null | grep -q '^up$' && break; sleep 0.2; done
    {
        printf 'docker() { if [ "$1" = exec ] && [ "$2" = app ]; then shift 2; command docker exec %s "$@"; else command docker "$@"; fi; }\n' "$name"
        cat "$file"
    } > "$work/container.sh"
    if user_env timeout 120 bash -e "$work/container.sh" >"$work/out" 2>&1; then ok "$id"
    else bad "$id" "$work/out"; fi
}

lint_dockerfile() { # instructions with a trailing comment: Docker reads the # as an argument
    awk '!/^[ \t]*#/ && /[ \t]#([ \t]|$)/ { printf "line %d has a trailing comment (Dockerfiles have none): %s\n", NR, $0; bad = 1 }
         END { exit bad }' "$1"
}

build_dockerfile() { # build_dockerfile ID FILE N
    local id=$1 file=$2 ctx image
    if ! lint_dockerfile "$file" >"$work/out" 2>&1; then bad "$id" "$work/out"; return; fi
    ctx=$(mktemp -d "$work/ctx.XXXXXX")
    image=tend-snippet-$RUN_ID:$3
    {
        grep -qiE '^[[:space:]]*FROM[[:space:]]' "$file" || echo "FROM tend-busybox:$tag"
        sed "s/tend:latest/tend:$tag/g" "$file"
    } > "$ctx/Dockerfile"
    if ! DOCKER_BUILDKIT=0 docker build --force-rm "${labels[@]}" -t "$image" "$ctx" >"$work/out" 2>&1; then
        bad "$id: docker build" "$work/out"; return
    fi
    created_images+=("$image")
    if ! docker run --rm "${labels[@]}" --entrypoint /usr/local/bin/tend "$image" --version >"$work/out" 2>&1; then
        bad "$id: tend --version in the image" "$work/out"; return
    fi
    if ! docker run --rm "${labels[@]}" --entrypoint /usr/local/bin/tend "$image" check-config >"$work/out" 2>&1; then
        bad "$id: tend check-config in the image (the snippet's TEND_* values)" "$work/out"; return
    fi
    ok "$id"
}

# check_yaml ID FILE: parse; TEND_* names and values through check-config; the grace rule
check_yaml() {
    local id=$1 file=$2
    if ! python3 - "$file" > "$work/yaml" 2>"$work/out" <<'PY'
import re, sys, yaml

def seconds(v):
    """'1m30s', '500ms', '45' (seconds), a number: seconds as a float."""
    if isinstance(v, (int, float)):
        return float(v)
    s = str(v).strip()
    if re.fullmatch(r"\d+(\.\d+)?", s):
        return float(s)
    units = {"h": 3600, "m": 60, "s": 1, "ms": 0.001, "us": 1e-6}
    parts = re.findall(r"(\d+(?:\.\d+)?)(ms|us|h|m|s)", s)
    if not parts or "".join(a + b for a, b in parts) != s:
        raise ValueError(f"not a duration: {v!r}")
    return sum(float(a) * units[b] for a, b in parts)

docs = [d for d in yaml.safe_load_all(open(sys.argv[1])) if d is not None]
if not docs:
    sys.exit("empty YAML")
problems = []

def env_of(node):
    """TEND_* settings of a container (env: [{name, value}]) or a compose service
    (environment: mapping or list)."""
    out = {}
    env = node.get("env")
    if isinstance(env, list):
        for e in env:
            if isinstance(e, dict) and "name" in e:
                out[str(e["name"])] = "" if e.get("value") is None else str(e.get("value"))
    environment = node.get("environment")
    if isinstance(environment, dict):
        for k, v in environment.items():
            out[str(k)] = "" if v is None else str(v)
    elif isinstance(environment, list):
        for item in environment:
            k, _, v = str(item).partition("=")
            out[k] = v
    return {k: v for k, v in out.items() if k.startswith("TEND_")}

def walk(node):
    if isinstance(node, dict):
        yield node
        for v in node.values():
            yield from walk(v)
    elif isinstance(node, list):
        for v in node:
            yield from walk(v)

def bound(env):
    return seconds(env.get("TEND_DRAIN_DELAY") or 0) + seconds(env.get("TEND_SHUTDOWN_TIMEOUT") or "30s") + 1

for doc in docs:
    for node in walk(doc):
        env = env_of(node)
        if env:  # one variable a line, "--" after each group
            for k, v in env.items():
                if "\n" in v:
                    problems.append(f"{k}: a value on several lines")
                print(f"{k}={v}")
            print("--")
        # Kubernetes: the pod's grace period against every container's tend
        if "terminationGracePeriodSeconds" in node:
            grace = seconds(node["terminationGracePeriodSeconds"])
            for c in node.get("containers") or []:
                need = bound(env_of(c))
                if not grace > need:
                    problems.append(f"terminationGracePeriodSeconds {grace:g} is not above "
                                    f"TEND_DRAIN_DELAY + TEND_SHUTDOWN_TIMEOUT + 1s = {need:g}s "
                                    f"for container {c.get('name')}")
    # compose: every service under tend, with compose's 10 s default grace
    services = doc.get("services") if isinstance(doc, dict) else None
    if isinstance(services, dict):
        for name, svc in services.items():
            env = env_of(svc)
            grace = seconds(svc.get("stop_grace_period", "10s"))
            need = bound(env)
            if not grace > need:
                problems.append(f"service {name}: stop_grace_period {grace:g}s is not above "
                                f"TEND_DRAIN_DELAY + TEND_SHUTDOWN_TIMEOUT + 1s = {need:g}s "
                                f"(unset: 10s and 0s + 30s)")
if problems:
    sys.exit("\n".join(problems))
PY
    then bad "$id" "$work/out"; return; fi
    # each env list found: its names and values, as tend itself reads them
    local line vars=()
    while IFS= read -r -u 4 line; do
        if [ "$line" != -- ]; then vars+=("$line"); continue; fi
        if ! clean_env "${vars[@]}" "$bin" check-config </dev/null >"$work/out" 2>&1; then
            bad "$id: tend check-config with ${vars[*]}" "$work/out"; return
        fi
        vars=()
    done 4< "$work/yaml"
    ok "$id"
}

e2e_names=()
describe() { # describe KIND LANG: how a snippet is checked
    case "$1:$2" in
        illustrative:*) echo "not run (illustrative)" ;;
        e2e:*) echo "run by scripts/e2e-docker.sh" ;;
        repo:*) echo "run in the repository" ;;
        container:*) echo "run against a container" ;;
        :sh|:bash) echo "run in a temporary directory" ;;
        :dockerfile) echo "docker build" ;;
        :yaml|:yml) echo "parsed, TEND_* checked" ;;
        :text) echo "text, not run" ;;
        *) echo "?" ;;
    esac
}

check_one() { # check_one N FILE LINE LANG KIND ARGS
    local n=$1 file=$2 line=$3 lang=$4 kind=$5 args=$6
    local id="$file:$line ($lang${kind:+, $kind})" body=$work/$n
    if [ -z "$lang" ]; then
        bad "$file:$line: a fence without a language (use text for output or diagrams)"; return
    fi
    case "$kind" in
        ""|repo|container|e2e|illustrative) ;;
        *) bad "$id: unknown snippet marker '$kind'"; return ;;
    esac
    if [ $list -eq 1 ]; then
        printf '%-36s %-11s %s%s\n' "$file:$line" "$lang" "$(describe "$kind" "$lang")" "${args:+: $args}"
        return
    fi
    case "$kind" in
        illustrative)
            [ -n "$args" ] || { bad "$id: an illustrative snippet says why"; return; }
            illustrative+=("$file:$line ($lang): $args"); return ;;
        e2e)
            [ -n "$args" ] || { bad "$id: e2e needs a name"; return; }
            if grep -q -- "--body $args" "$repo/scripts/e2e-docker.sh"; then ok "$id: run by scripts/e2e-docker.sh (--body $args)"
            else bad "$id: scripts/e2e-docker.sh never runs it (--body $args)"; fi
            return ;;
        repo)
            if [ $skip_repo -eq 1 ]; then skip "$id"; else run_repo "$id" "$body"; fi; return ;;
        container)
            if [ $skip_docker -eq 1 ] || [ -z "$tag" ]; then skip "$id (needs --tag)"; else run_container "$id" "$body"; fi; return ;;
    esac
    case "$lang" in
        sh|bash) run_sh "$id" "$body" ;;
        dockerfile|Dockerfile)
            if [ $skip_docker -eq 1 ] || [ -z "$tag" ]; then
                if lint_dockerfile "$body" >"$work/out" 2>&1; then skip "$id (linted; docker build needs --tag)"
                else bad "$id" "$work/out"; fi
            else build_dockerfile "$id" "$body" "$n"; fi ;;
        yaml|yml) check_yaml "$id" "$body" ;;
        text) texts+=("$file:$line") ;;
        *) bad "$id: no check for the language '$lang' (mark it illustrative or text)" ;;
    esac
}

if [ $list -eq 0 ]; then
    [ -x "$bin" ] || { say "tend binary not found: $bin (scripts/build-static.sh, or --bin)"; exit 1; }
    python3 -c 'import yaml' 2>/dev/null || { say "python3 with yaml is needed (apt-get install python3-yaml)"; exit 1; }
fi

# (fd 3: what the snippets run must not read the list)
while IFS=$'\t' read -r -u 3 n file line lang kind args; do
    check_one "$n" "$file" "$line" "$lang" "$kind" "$args" </dev/null
done 3< "$work/index"
[ $list -eq 1 ] && exit "$((failed > 0))"

for f in "${EXTRA_YAML[@]}"; do
    check_yaml "$f" "$repo/$f"
done
for f in "${EXTRA_DOCKERFILES[@]}"; do
    if lint_dockerfile "$repo/$f" >"$work/out" 2>&1; then ok "$f (no trailing comments)"; else bad "$f" "$work/out"; fi
done

if [ ${#illustrative[@]} -gt 0 ]; then
    say "not run, marked illustrative:"
    printf '    %s\n' "${illustrative[@]}" >&2
fi
[ ${#skips[@]} -eq 0 ] || { say "skipped:"; printf '    %s\n' "${skips[@]}" >&2; }
[ $failed -eq 0 ] || { say "failed:"; printf '    %s\n' "${failures[@]}" >&2; }
echo "snippets: $passed passed, $failed failed, $skipped skipped, ${#illustrative[@]} illustrative, ${#texts[@]} text"
[ $failed -eq 0 ]
