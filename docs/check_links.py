#!/usr/bin/env python3
"""Checks the repository's relative links: every `[text](path#anchor)` in a Markdown file, and
every `docs/….md#anchor` or `ARCHITECTURE.md#anchor` named in a Rust or JS source comment, must
point to a file that exists and, with an anchor, to a heading of that file (GitHub's anchor
rules). In ARCHITECTURE.md and docs/, a code span that names a repository path
(`agent/src/coro.rs`, `common/src/metrics/`) must name one that exists, so the map does not go
stale when files move. Prints each broken link and exits 1 if there is any.

    python3 docs/check_links.py          # from the repository root
"""

import glob
import os
import re
import subprocess
import sys
import unicodedata

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SKIP_DIRS = {".git", "target", "node_modules"}
# QuickJS's and hyper's own files are upstream's; their links are not ours to keep.
SKIP_PREFIXES = (
    os.path.join("vendor", "rquickjs-sys", "quickjs"),
    os.path.join("vendor", "hyper", "src"),
)
# Single files of upstream's, next to Volley's own (VOLLEY.md) in a vendored crate.
SKIP_FILES = {os.path.join("vendor", "hyper", "README.md")}

MD_LINK = re.compile(r"(?<!!)\[[^\]]*\]\(([^)\s]+)\)")
SOURCE_REF = re.compile(r"((?:\.\./)*(?:docs/[\w./-]+\.md|ARCHITECTURE\.md)(?:#[\w-]+)?)")
HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")
FENCE = re.compile(r"^\s*(```|~~~)")
CODE_SPAN = re.compile(r"`([^`\s]+)`")
TOP_DIRS = ("agent", "common", "controller", "cli", "proto", "tests", "vendor", "bench",
            "docs", "examples")
PATH_LIKE = re.compile(r"^[\w.-]+(/[\w.*-]+)*(\.(rs|js|md|proto|toml|sh|py)|/)$")


def slug(text):
    """GitHub's heading anchor: lower case, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"`|\*\*|__", "", text)
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", text)
    out = []
    for ch in text.lower():
        cat = unicodedata.category(ch)
        if ch in " -":
            out.append("-" if ch == " " else ch)
        elif ch == "_" or cat[0] in ("L", "N") or cat == "Mn":
            out.append(ch)
    return "".join(out)


_anchors = {}


def anchors(path):
    if path not in _anchors:
        found, seen, fenced = set(), {}, False
        with open(path, encoding="utf-8") as f:
            for line in f:
                if FENCE.match(line):
                    fenced = not fenced
                    continue
                m = None if fenced else HEADING.match(line)
                if m:
                    s = slug(m.group(2))
                    n = seen.get(s, 0)
                    seen[s] = n + 1
                    found.add(s if n == 0 else f"{s}-{n}")
        _anchors[path] = found
    return _anchors[path]


def check(src, target, line_no, problems):
    if re.match(r"^[a-z][a-z0-9+.-]*:", target):  # http:, https:, mailto:
        return
    path, _, anchor = target.partition("#")
    if path:
        full = os.path.normpath(os.path.join(os.path.dirname(src), path))
        if not full.startswith(ROOT):
            problems.append(f"{src}:{line_no}: {target}: leaves the repository")
            return
    else:
        full = src
    if not os.path.exists(full):
        problems.append(f"{os.path.relpath(src, ROOT)}:{line_no}: {target}: no such file")
        return
    if anchor and full.endswith(".md") and anchor not in anchors(full):
        problems.append(
            f"{os.path.relpath(src, ROOT)}:{line_no}: {target}: no heading with anchor #{anchor}"
        )


def source_target(src, ref):
    """A `docs/x.md` named in a source comment is relative to the repository root."""
    rel = re.sub(r"^(\.\./)+", "", ref)
    return os.path.relpath(os.path.join(ROOT, rel), os.path.dirname(src))


def ignored(path):
    """Generated files (git-ignored, such as bench results) may be named without existing."""
    return subprocess.run(["git", "-C", ROOT, "check-ignore", "-q", path]).returncode == 0


def is_map(src):
    rel = os.path.relpath(src, ROOT)
    return rel == "ARCHITECTURE.md" or rel.startswith("docs" + os.sep)


def main():
    problems, checked = [], 0
    for dirpath, dirnames, filenames in os.walk(ROOT):
        dirnames[:] = [d for d in dirnames if d not in SKIP_DIRS]
        rel_dir = os.path.relpath(dirpath, ROOT)
        if rel_dir.startswith(SKIP_PREFIXES):
            continue
        for name in filenames:
            src = os.path.join(dirpath, name)
            if os.path.relpath(src, ROOT) in SKIP_FILES:
                continue
            if name.endswith(".md"):
                fenced = False
                with open(src, encoding="utf-8") as f:
                    for no, line in enumerate(f, 1):
                        if FENCE.match(line):
                            fenced = not fenced
                            continue
                        if fenced:
                            continue
                        for m in MD_LINK.finditer(re.sub(r"`[^`]*`", "", line)):
                            checked += 1
                            check(src, m.group(1), no, problems)
                        if is_map(src):
                            for m in CODE_SPAN.finditer(line):
                                path = m.group(1)
                                if path.split("/")[0] in TOP_DIRS and PATH_LIKE.match(path):
                                    checked += 1
                                    if not glob.glob(os.path.join(ROOT, path)) and not ignored(path):
                                        problems.append(
                                            f"{os.path.relpath(src, ROOT)}:{no}: `{path}`: "
                                            "no such path in the repository"
                                        )
            elif name.endswith((".rs", ".js")):
                with open(src, encoding="utf-8", errors="replace") as f:
                    for no, line in enumerate(f, 1):
                        if "//" not in line:
                            continue
                        for m in SOURCE_REF.finditer(line.split("//", 1)[1]):
                            checked += 1
                            check(src, source_target(src, m.group(1)), no, problems)
    for p in problems:
        print(p)
    print(f"{checked} links checked, {len(problems)} broken")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
