#!/usr/bin/env bash
# Structure check: prints which top-level module of src/ uses which others, then fails
# (exit 1) on an import cycle between top-level modules and on a broken layering rule:
#   - `config` uses only vocabulary modules (signal names, durations, redaction…: declared
#     in scripts/module-graph.allow), and vocabulary modules use only each other;
#   - `process` does not use `config`.
# Usage: scripts/module-graph.sh [--dot | --where]
#   --dot: the graph for graphviz instead;  --where: every place that makes each edge.
#
# A top-level module is a file or directory directly under src/ (`events.rs` and `events/`
# are one module); `main` is the crate root. An edge A -> B means code in A names B through
# `crate::B`, `super::`…`B`, a bare `B::` in the crate root, or a `#[macro_export]` macro of B.
# Code under `#[cfg(test)]` (test modules, test-only items and files) is left out: tests
# may reach anywhere. Comments and string literals are stripped before parsing.
#
# Known exceptions to the layering rules are listed in scripts/module-graph.allow, one per
# line as `from -> to  # reason`. They are printed and exempt from the rules (never from
# the cycle search: every cycle fails); an entry whose edge no longer exists fails the
# check, so the list only shrinks.
#
# Only python3 (standard library) is needed; no network, no build.
set -euo pipefail
cd "$(dirname "$0")/.."
exec python3 - "$@" <<'PY'
import os, re, signal, sys

signal.signal(signal.SIGPIPE, signal.SIG_DFL)  # `| head` ends quietly

SRC = "src"
ALLOW = "scripts/module-graph.allow"
dot = "--dot" in sys.argv[1:]
verbose = "--where" in sys.argv[1:]

def strip(text):
    """Blanks comments, string and char literals, keeping line structure."""
    out, i, n = [], 0, len(text)
    while i < n:
        c = text[i]
        if text.startswith("//", i):
            j = text.find("\n", i)
            i = n if j < 0 else j
        elif text.startswith("/*", i):
            depth, i = 1, i + 2
            while i < n and depth:
                if text.startswith("/*", i): depth, i = depth + 1, i + 2
                elif text.startswith("*/", i): depth, i = depth - 1, i + 2
                else:
                    if text[i] == "\n": out.append("\n")
                    i += 1
        elif c == "r" and re.match(r'r#*"', text[i:i + 40]) and not (i and (text[i-1].isalnum() or text[i-1] == "_")):
            m = re.match(r'r(#*)"', text[i:])
            end = text.find('"' + m.group(1), i + len(m.group(0)))
            end = n if end < 0 else end + 1 + len(m.group(1))
            out.append('""' + "\n" * text.count("\n", i, end)); i = end
        elif c == '"':
            j = i + 1
            while j < n and text[j] != '"':
                j += 2 if text[j] == "\\" else 1
            out.append('""' + "\n" * text.count("\n", i, j)); i = j + 1
        elif c == "'":
            # char literal ('a', '\n', '\u{1F600}') vs lifetime ('a)
            m = re.match(r"'(\\u\{[0-9a-fA-F]+\}|\\.|[^\\'])'", text[i:])
            if m: out.append("' '"); i += len(m.group(0))
            else: out.append(c); i += 1
        else:
            out.append(c); i += 1
    return "".join(out)

TOKEN = re.compile(r"[A-Za-z_][A-Za-z0-9_]*|::|#!?\[|[{}();,!\[\]]|\S")

def tokens(text):
    return [(m.group(0), text.count("\n", 0, m.start()) + 1) for m in TOKEN.finditer(text)]

def skip_attr(toks, i):
    """toks[i] opens an attribute `#[`; returns the index after its closing `]`."""
    depth = 0
    while i < len(toks):
        t = toks[i][0]
        if t in ("#[", "#![", "["): depth += 1
        elif t == "]":
            depth -= 1
            if depth == 0: return i + 1
        i += 1
    return i

def skip_item(toks, i):
    """Skips one item starting at toks[i]: up to a `;` or the end of its `{}` block,
    whichever comes first outside brackets and parentheses."""
    depth = 0
    while i < len(toks):
        t = toks[i][0]
        if t in ("(", "[", "#[", "#!["): depth += 1
        elif t in (")", "]"): depth -= 1
        elif t == ";" and depth == 0: return i + 1
        elif t == "{" and depth == 0:
            braces = 0
            while i < len(toks):
                if toks[i][0] == "{": braces += 1
                elif toks[i][0] == "}":
                    braces -= 1
                    if braces == 0: return i + 1
                i += 1
        i += 1
    return i

TEST_ATTR = re.compile(r"cfg\(\s*(test|all\(\s*test\b.*)\)$")

def drop_test_code(toks):
    """Returns (tokens without #[cfg(test)] items, names of out-of-line test-only mods)."""
    out, test_mods, i = [], [], 0
    while i < len(toks):
        if toks[i][0] == "#[":
            j = skip_attr(toks, i)
            attr = "".join(t for t, _ in toks[i + 1:j - 1])
            if TEST_ATTR.match(attr):
                k = j
                while k < len(toks) and toks[k][0] == "#[": k = skip_attr(toks, k)
                end = skip_item(toks, k)
                item = [t for t, _ in toks[k:end]]
                if "mod" in item and item[-1] == ";":
                    test_mods.append(item[item.index("mod") + 1])
                i = end
                continue
        out.append(toks[i]); i += 1
    return out, test_mods

# --- the files and their module paths -------------------------------------------------
files = {}  # path -> module path (list of names; [] is the crate root)
for root, _, names in os.walk(SRC):
    for name in names:
        if not name.endswith(".rs"): continue
        path = os.path.join(root, name)
        parts = os.path.relpath(path, SRC)[:-3].split(os.sep)
        if parts[-1] == "mod": parts = parts[:-1]
        if parts == ["main"]: parts = []
        files[path] = parts

top = sorted({p[0] for p in files.values() if p})
node = lambda parts: parts[0] if parts else "main"

parsed, excluded = {}, set()  # path -> tokens; module paths that are test-only
for path in sorted(files):
    with open(path, encoding="utf-8") as f:
        toks, test_mods = drop_test_code(tokens(strip(f.read())))
    parsed[path] = toks
    for m in test_mods: excluded.add(tuple(files[path] + [m]))

def is_test_only(parts):
    return any(tuple(parts[:k]) in excluded for k in range(1, len(parts) + 1))

macros = {}  # #[macro_export] macro name -> defining top-level module
for path, toks in parsed.items():
    for i, (t, _) in enumerate(toks):
        if t == "macro_rules" and i + 2 < len(toks) and toks[i + 1][0] == "!":
            macros[toks[i + 2][0]] = node(files[path])

# --- edges ----------------------------------------------------------------------------
edges = {}  # (from, to) -> first place seen, "file:line"

def add(src, dst, where):
    if dst != src: edges.setdefault((src, dst), []).append(where)

def group_heads(toks, i):
    """toks[i] is `{` of a use group; yields the first name of each element."""
    depth, expect = 0, True
    while i < len(toks):
        t = toks[i][0]
        if t == "{":
            depth += 1; expect = depth == 1
        elif t == "}":
            depth -= 1
            if depth == 0: return
        elif t == "," and depth == 1: expect = True
        elif expect and depth == 1 and re.match(r"[A-Za-z_]", t):
            yield t; expect = False
        i += 1

def resolve(base, name):
    """The top-level module that `name`, found under module path `base`, belongs to."""
    if base: return base[0]
    if name in top: return name
    # `#[macro_export]` macros live at the crate root but belong to their module
    return macros.get(name, "main")

for path, toks in parsed.items():
    mod = files[path]
    if is_test_only(mod): continue
    me = node(mod)
    stack = []  # inline `mod x {` nesting, as (brace depth, name)
    depth = 0
    for i, (t, line) in enumerate(toks):
        where = f"{path}:{line}"
        prev = toks[i - 1][0] if i else ""
        if t == "{":
            depth += 1
            if i >= 2 and toks[i - 2][0] == "mod": stack.append((depth, toks[i - 1][0]))
            continue
        if t == "}":
            if stack and stack[-1][0] == depth: stack.pop()
            depth -= 1
            continue
        here = mod + [name for _, name in stack]
        if t == "!" and prev in macros and toks[i - 2][0] != "macro_rules":
            add(me, macros[prev], where)
        if prev == "::" or i + 1 >= len(toks) or toks[i + 1][0] != "::": continue
        # a path that starts here: crate::…, super::…, self::…, or (crate root) name::…
        if t == "crate":
            base = []
        elif t == "super":
            base, k = here, i
            while k < len(toks) and toks[k][0] == "super" and toks[k + 1][0] == "::":
                base, k = base[:-1], k + 2
            j = k
        elif t == "self":
            base = here
        elif not here and t in top and prev != "mod":
            add(me, t, where); continue
        else:
            continue
        j = i + 2 if t != "super" else j
        if j >= len(toks): continue
        if toks[j][0] == "{":
            for name in group_heads(toks, j):
                if name not in ("self", "super", "crate"): add(me, resolve(base, name), where)
                elif name == "self" and base: add(me, base[0], where)
        elif re.match(r"[A-Za-z_]", toks[j][0]) and toks[j][0] not in ("super", "self"):
            add(me, resolve(base, toks[j][0]), where)

nodes = ["main"] + top
deps = {n: sorted({b for (a, b) in edges if a == n}) for n in nodes}

# --- allowed edges and the vocabulary ----------------------------------------------------
allowed, vocabulary, problems = {}, set(), []
if os.path.exists(ALLOW):
    for n, raw in enumerate(open(ALLOW, encoding="utf-8"), 1):
        line = raw.split("#", 1)
        rule, reason = line[0].strip(), (line[1].strip() if len(line) > 1 else "")
        if not rule: continue
        if rule.startswith("vocabulary:"):
            vocabulary |= set(rule.split(":", 1)[1].split())
            continue
        m = re.fullmatch(r"(\w+)\s*->\s*(\w+)", rule)
        if not m or not reason:
            problems.append(f"{ALLOW}:{n}: expected `from -> to  # reason`, got {raw.strip()!r}")
            continue
        allowed[(m.group(1), m.group(2))] = reason
        if (m.group(1), m.group(2)) not in edges:
            problems.append(f"{ALLOW}:{n}: edge {rule} no longer exists: remove the line")
for v in sorted(vocabulary - set(nodes)):
    problems.append(f"{ALLOW}: vocabulary module {v} does not exist")

# --- strongly connected components (Tarjan) --------------------------------------------
def sccs(graph):
    index, low, on, stack, out, counter = {}, {}, set(), [], [], [0]
    def visit(v):
        index[v] = low[v] = counter[0]; counter[0] += 1
        stack.append(v); on.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w); low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop(); on.discard(w); comp.append(w)
                if w == v: break
            out.append(sorted(comp))
    for v in sorted(graph):
        if v not in index: visit(v)
    return [c for c in out if len(c) > 1]

def cycles_in(comp, graph):
    """Elementary cycles inside one component (Johnson-style DFS from each start)."""
    found, members = [], set(comp)
    for s_i, start in enumerate(comp):
        allowed_nodes = set(comp[s_i:])
        def dfs(v, path, seen):
            for w in graph[v]:
                if w not in members or w not in allowed_nodes: continue
                if w == start: found.append(path + [start])
                elif w not in seen and len(found) < 200: dfs(w, path + [w], seen | {w})
        dfs(start, [start], {start})
    return found

# Every edge counts here, allowed or not: an exception to a layering rule is never a
# licence for a cycle.
checked = deps
components = sccs(checked)

# --- layering rules -------------------------------------------------------------------
# Vocabulary modules (declared in the allow file) use only vocabulary; config uses only
# vocabulary; process knows nothing of config. An allowed edge is an exception.
def rule(a, b, why):
    if (a, b) in edges and (a, b) not in allowed:
        problems.append(f"rule: {a} uses {b}: {why} [{edges[(a, b)][0]}]")
for a in sorted(vocabulary | {"config"}):
    for b in deps.get(a, []):
        if b not in vocabulary:
            rule(a, b, f"{a} may use only vocabulary modules ({', '.join(sorted(vocabulary))})")
rule("process", "config", "process knows nothing of config")

# --- report ---------------------------------------------------------------------------
if dot:
    print("digraph modules {")
    for (a, b) in sorted(edges):
        style = ' [style=dashed]' if (a, b) in allowed else ""
        print(f'  "{a}" -> "{b}"{style};')
    print("}")
else:
    print("module graph (top-level modules of src/, #[cfg(test)] code left out):")
    for n in nodes:
        print(f"  {n} -> {', '.join(deps[n]) if deps[n] else '(leaf)'}")
        if verbose:
            for d in deps[n]: print(f"      -> {d}: {' '.join(edges[(n, d)])}")
    if allowed:
        print(f"allowed edges ({ALLOW}):")
        for (a, b), why in sorted(allowed.items()):
            print(f"  {a} -> {b}  # {why}")
sys.stdout.flush()
for comp in components:
    print(f"CYCLE among {{{', '.join(comp)}}}; the edges inside it:", file=sys.stderr)
    for a in comp:
        for b in checked[a]:
            if b in comp: print(f"  {a} -> {b}  [{edges[(a, b)][0]}]", file=sys.stderr)
    shortest = sorted(cycles_in(comp, checked), key=len)[:5]
    print("  shortest cycles: " + "; ".join(" -> ".join(c) for c in shortest), file=sys.stderr)
for p in problems:
    print(p, file=sys.stderr)
if components or problems:
    print(f"module-graph: FAILED ({len(components)} cycle(s), {len(problems)} other problem(s))",
          file=sys.stderr)
    sys.exit(1)
print("module-graph: no cycles; config uses only vocabulary; process does not use config")
PY
