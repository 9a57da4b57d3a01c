#!/usr/bin/env python3
"""Lists the module dependency cycles inside each crate of the workspace.

A module is a source file (`src/a/b.rs` and `src/a/b/mod.rs` are both `a::b`). An edge A -> B
is a path in A's code that names B or something inside B: `crate::...`, `super::...`,
`self::...`, or a name bound to a module by `mod x;` or a `use` of a module (`use crate::js;
... js::loader::eval_entry(..)`). The longest module prefix of the path wins, so
`crate::http::pool::Pool` is an edge to `http::pool` and `crate::http::Pool` (a re-export) one
to `http`. Not counted: `#[cfg(test)]` items (inline, or a file declared by `#[cfg(test)] mod
x;`), comments, and `pub use` re-exports (a module's façade is not a dependency of its code).

A cycle is reported between the children of a module (the crate's top-level modules, the
files of one folder, ...) with their subtrees collapsed: `js` and `vu` are in a cycle if a file
under `js/` uses `vu` and `vu` uses anything under `js/`. A module and its own children may use
each other (a `mod.rs` holds what its children share and calls into them); that is not a cycle
here.

    python3 .ci/module_cycles.py [CRATE_DIR ...]    (default: every crate with a src/)
    python3 .ci/module_cycles.py --edges agent      (also prints every edge)

Exits 1 when it finds a cycle.
"""
import os
import re
import sys

IDENT = r"[A-Za-z_][A-Za-z0-9_]*"


TEST_MOD = re.compile(
    r"#\[cfg\(test\)\]\s*((?:#\[[^\]]*\]\s*)*)(?:pub(?:\([^)]*\))?\s+)?mod\s+(" + IDENT + r")\s*;"
)


def modules(src):
    """Module path -> file, without the files of `#[cfg(test)] mod x;` (and their subtrees):
    like an inline `#[cfg(test)] mod x { ... }`, they are not part of the crate's code."""
    mods = {}
    for root, _, files in os.walk(src):
        for f in files:
            if f.endswith(".rs"):
                rel = os.path.relpath(os.path.join(root, f), src)[:-3].split(os.sep)
                if rel[-1] in ("mod", "lib", "main"):
                    rel = rel[:-1]
                mods[tuple(rel)] = os.path.join(root, f)
    test_mods, test_files = set(), set()
    for mod, path in mods.items():
        for m in TEST_MOD.finditer(open(path, encoding="utf-8").read()):
            at = re.search(r'#\[path\s*=\s*"([^"]+)"\]', m.group(1))
            if at:
                test_files.add(os.path.normpath(os.path.join(os.path.dirname(path), at.group(1))))
            else:
                test_mods.add(mod + (m.group(2),))
    return {
        m: p
        for m, p in mods.items()
        if os.path.normpath(p) not in test_files
        and not any(m[: len(t)] == t for t in test_mods)
    }


def strip_tests(text):
    """Drops `#[cfg(test)]` items: a `{ ... }` block or a `...;` line."""
    out, i = [], 0
    while True:
        j = text.find("#[cfg(test)]", i)
        if j < 0:
            out.append(text[i:])
            return "".join(out)
        out.append(text[i:j])
        k = j + len("#[cfg(test)]")
        semi, brace = text.find(";", k), text.find("{", k)
        if brace < 0 or 0 <= semi < brace:
            i = semi + 1
            continue
        depth, p = 0, brace
        while p < len(text):
            depth += {"{": 1, "}": -1}.get(text[p], 0)
            if depth == 0:
                break
            p += 1
        i = p + 1


def strip_comments_and_strings(text):
    text = re.sub(r"/\*.*?\*/", "", text, flags=re.S)
    text = re.sub(r'r#+".*?"#+', '""', text, flags=re.S)
    text = re.sub(r'"(?:\\.|[^"\\])*"', '""', text, flags=re.S)
    return re.sub(r"//[^\n]*", "", text)


def expand_groups(path):
    """`a::{b, c::{d, e as f}}` -> [`a::b`, `a::c::d`, `a::c::e@f`] (`self` in a group is `a`;
    an alias follows `@`)."""
    path = re.sub(r"\s+", "", re.sub(r"\s+as\s+", "@", path))
    i = path.find("{")
    if i < 0:
        return [path]
    prefix, depth, parts, start = path[:i], 0, [], i + 1
    for p in range(i, len(path)):
        c = path[p]
        if c == "{":
            depth += 1
        elif c == "}":
            depth -= 1
            if depth == 0:
                parts.append(path[start:p])
                break
        elif c == "," and depth == 1:
            parts.append(path[start:p])
            start = p + 1
    out = []
    for part in filter(None, parts):
        if part == "self":
            out.append(prefix[:-2])
        else:
            out.extend(expand_groups(prefix + part))
    return out


class Resolver:
    def __init__(self, mods, mod, bound):
        self.mods, self.mod, self.bound = mods, mod, bound

    def absolute(self, segs):
        """Absolute segments of a path, or None when it does not start in this crate."""
        head, rest = segs[0], segs[1:]
        if head == "crate":
            return list(rest)
        if head == "self":
            return list(self.mod) + list(rest)
        if head == "super":
            base = list(self.mod)[:-1]
            while rest and rest[0] == "super":
                base, rest = base[:-1], rest[1:]
            return base + list(rest)
        if head in self.bound:
            return list(self.bound[head]) + list(rest)
        return None

    def module_of(self, segs):
        full = self.absolute(segs)
        if full is None:
            return None
        for n in range(len(full), -1, -1):
            if tuple(full[:n]) in self.mods:
                return tuple(full[:n])
        return None


def edges_of(mods, mod, path):
    text = strip_comments_and_strings(strip_tests(open(path, encoding="utf-8").read()))
    bound = {}
    for m in re.finditer(r"\bmod\s+(" + IDENT + r")\s*;", text):
        bound[m.group(1)] = mod + (m.group(1),)
    res = Resolver(mods, mod, bound)
    uses = list(re.finditer(r"(\bpub(?:\([^)]*\))?\s+)?\buse\s+([^;]+);", text))
    for _ in range(3):  # `use` of a name bound by another `use`
        for u in uses:
            for p in expand_groups(u.group(2)):
                target, _, alias = p.partition("@")
                segs = [s for s in target.split("::") if s]
                if not segs or segs[-1] == "*":
                    continue
                full = res.absolute(segs)
                if full is not None and tuple(full) in mods:
                    bound[alias or segs[-1]] = tuple(full)
    # Re-exports are not dependencies.
    code = text
    for u in uses:
        if u.group(1):
            code = code.replace(u.group(0), "")
    for u in uses:
        if not u.group(1):
            paths = [p.partition("@")[0] for p in expand_groups(u.group(2))]
            code = code.replace(u.group(0), " ".join(paths) + ";")
    deps = set()
    for m in re.finditer(r"(?<![A-Za-z0-9_:])(" + IDENT + r")((?:\s*::\s*" + IDENT + r")*)", code):
        head = m.group(1)
        if head not in ("crate", "super", "self") and head not in bound:
            continue
        segs = [head] + [s for s in re.split(r"\s*::\s*", m.group(2)) if s]
        if len(segs) == 1:
            continue
        target = res.module_of(segs)
        if target is not None and target != mod:
            deps.add(target)
    return deps


def sccs(graph):
    index, low, stack, on, out, counter = {}, {}, [], set(), [], [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    sys.setrecursionlimit(10000)
    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def name(m):
    return "::".join(m) or "crate"


def report(crate, show_edges):
    mods = modules(os.path.join(crate, "src"))
    g = {m: edges_of(mods, m, p) for m, p in mods.items()}
    label = os.path.basename(os.path.normpath(crate))
    if show_edges:
        for m in sorted(g):
            for d in sorted(g[m]):
                print(f"{label}: {name(m)} -> {name(d)}")
    found = 0
    # Children of each module, subtrees collapsed.
    for parent in sorted({m[:-1] for m in mods if m}):
        kids = {m[len(parent)] for m in mods if len(m) > len(parent) and m[:len(parent)] == parent}
        level = {}
        why = {}
        for m, ds in g.items():
            if len(m) <= len(parent) or m[:len(parent)] != parent:
                continue
            a = m[len(parent)]
            for d in ds:
                if len(d) > len(parent) and d[:len(parent)] == parent and d[len(parent)] != a:
                    b = d[len(parent)]
                    level.setdefault(a, set()).add(b)
                    why.setdefault((a, b), []).append((m, d))
        for comp in sccs(level):
            if all(len(k) for k in comp) and set(comp) <= kids:
                found += 1
                where = name(parent) + "::" if parent else ""
                print(f"{label}: cycle between {', '.join(where + k for k in comp)}")
                for a in comp:
                    for b in sorted(level.get(a, ())):
                        if b in comp:
                            for m, d in why[(a, b)]:
                                print(f"    {name(m)} -> {name(d)}")
    return found


def main():
    args = sys.argv[1:]
    show = "--edges" in args
    args = [a for a in args if a != "--edges"]
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    crates = args or sorted(d for d in os.listdir(root) if os.path.isdir(os.path.join(root, d, "src")))
    total = 0
    for c in crates:
        total += report(c if os.path.isdir(c) else os.path.join(root, c), show)
    print(f"{total} cycle(s)")
    return 1 if total else 0


if __name__ == "__main__":
    sys.exit(main())
