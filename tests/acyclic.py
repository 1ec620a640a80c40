#!/usr/bin/env python3
"""Checks that the modules of a Rust crate use each other without circles.

    python3 tests/acyclic.py provider/src lambda/src

For each crate root given (a `src` directory with `main.rs` or `lib.rs`), every module (one file)
is a node, and a path one module names into another (`use crate::a::b`, `use super::x`,
`crate::a::f(…)` in code, `use child::…` of a child module) is an edge to the module that path
resolves to (the longest module prefix; an item of `mod.rs` belongs to that module). Declaring a
child module (`mod x;`) is not an edge. Every strongly connected group of two or more modules is
a circle: printed with the edges that make it, and the exit status is 1.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

USE = re.compile(r"\buse\s+([^;]+);", re.S)
PATH = re.compile(r"\b(crate|super|self)((?:::[A-Za-z_][A-Za-z0-9_]*)+)")
MOD = re.compile(r"^\s*(?:pub(?:\([^)]*\))?\s+)?mod\s+([a-z_][a-z0-9_]*)\s*;", re.M)


def strip_comments(text: str) -> str:
    text = re.sub(r"/\*.*?\*/", "", text, flags=re.S)
    text = re.sub(r"//[^\n]*", "", text)
    # String literals may hold `crate::` in messages; drop their contents.
    text = re.sub(r'"(?:[^"\\]|\\.)*"', '""', text)
    # Inline modules (`mod tests { … }`): their `super` is this module, and tests do not count.
    while (m := re.search(r"\bmod\s+\w+\s*\{", text)) is not None:
        depth, end = 0, len(text)
        for i in range(m.end() - 1, len(text)):
            depth += {"{": 1, "}": -1}.get(text[i], 0)
            if depth == 0:
                end = i + 1
                break
        text = text[: m.start()] + text[end:]
    return text


def modules(root: Path) -> dict[tuple[str, ...], Path]:
    """Module path (relative to the crate) → its file."""
    found: dict[tuple[str, ...], Path] = {}
    for file in root.rglob("*.rs"):
        rel = file.relative_to(root).with_suffix("")
        parts = list(rel.parts)
        if parts[-1] in ("mod", "main", "lib"):
            parts = parts[:-1]
        if parts and parts[0] == "bin":
            continue
        found[tuple(parts)] = file
    return found


def expand(tree: str) -> list[str]:
    """`a::{b, c::{d, e}}` → [`a::b`, `a::c::d`, `a::c::e`]."""
    # A renamed import (`a::b as c`) names `a::b`.
    tree = re.sub(r"\s+as\s+\w+", "", tree)
    tree = re.sub(r"\s+", "", tree)
    if "{" not in tree:
        return [tree]
    head, _, rest = tree.partition("{")
    inner = rest[: rest.rfind("}")]
    items, depth, start = [], 0, 0
    for i, ch in enumerate(inner):
        if ch == "{":
            depth += 1
        elif ch == "}":
            depth -= 1
        elif ch == "," and depth == 0:
            items.append(inner[start:i])
            start = i + 1
    items.append(inner[start:])
    return [p for item in items if item for p in expand(head + item)]


def resolve(path: list[str], known: dict[tuple[str, ...], Path]) -> tuple[str, ...] | None:
    for n in range(len(path), -1, -1):
        if tuple(path[:n]) in known:
            return tuple(path[:n])
    return None


def edges_of(module: tuple[str, ...], file: Path, known) -> set[tuple[str, ...]]:
    text = strip_comments(file.read_text())
    # The module `super` names: the parent of a file's module.
    parent = list(module[:-1])
    children = set(MOD.findall(text))
    paths: list[list[str]] = []
    for use in USE.findall(text):
        for p in expand(use):
            segments = [s for s in p.split("::") if s and s != "self"]
            if segments and segments[0] in children:
                paths.append(list(module) + segments)
            elif segments and segments[0] in ("crate", "super"):
                paths.append(segments)
    for kind, rest in PATH.findall(text):
        paths.append([kind] + rest.strip(":").split("::"))
    out = set()
    for p in paths:
        if p[0] == "crate":
            absolute = p[1:]
        elif p[0] == "super":
            base = parent
            p = p[1:]
            while p and p[0] == "super":
                base, p = base[:-1], p[1:]
            absolute = base + p
        elif p[0] == "self":
            absolute = list(module) + p[1:]
        else:
            absolute = p
        target = resolve(absolute, known)
        if target is not None and target != module:
            out.add(target)
    return out


def circles(graph: dict) -> list[list]:
    index, low, stack, on, out = {}, {}, [], set(), []
    counter = [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = []
            while True:
                w = stack.pop()
                on.discard(w)
                group.append(w)
                if w == v:
                    break
            if len(group) > 1:
                out.append(sorted(group))

    sys.setrecursionlimit(10000)
    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def name(module: tuple[str, ...]) -> str:
    return "crate::" + "::".join(module) if module else "crate"


def main(roots: list[str]) -> int:
    failed = False
    for root in map(Path, roots):
        known = modules(root)
        graph = {m: edges_of(m, f, known) for m, f in known.items()}
        found = circles(graph)
        for group in found:
            failed = True
            members = set(group)
            print(f"{root}: modules in a circle: {', '.join(name(m) for m in group)}")
            for m in group:
                for t in sorted(graph[m] & members):
                    print(f"    {name(m)} -> {name(t)}")
        if not found:
            print(f"{root}: {len(known)} modules, no circles")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:] or ["provider/src", "lambda/src"]))
