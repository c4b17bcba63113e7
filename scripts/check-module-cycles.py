#!/usr/bin/env python3
"""Fails when the modules inside any crate of the workspace import each other in a cycle.

For every crate (a folder with Cargo.toml and src/), each .rs file under src/ is a module
(src/a/b.rs and src/a/b/mod.rs are `a::b`; lib.rs/main.rs are the root; src/bin is skipped;
inline `#[cfg(test)] mod … { }` blocks are left out).
Every path starting with `crate::` (in `use` lines, including `use crate::{a, b::c}` groups,
and in expressions) is an edge to the longest module it names. `super::` paths are resolved
relative to the file's module. An edge from a module to its own ancestor or descendant counts
like any other. Prints each cycle (strongly connected component of more than one module) and
exits 1 if there is one.
"""
import os
import re
import sys

PATH = re.compile(r"\b(crate|super)((?:::[A-Za-z_][A-Za-z0-9_]*)+)")
GROUP = re.compile(r"use\s+(crate|super)::\{(.*?)\};", re.S)


def module_of(src, path):
    rel = os.path.relpath(path, src)[: -len(".rs")].split(os.sep)
    if rel[-1] in ("mod", "lib", "main"):
        rel = rel[:-1]
    return tuple(rel)


def longest_known(parts, modules):
    for n in range(len(parts), 0, -1):
        if tuple(parts[:n]) in modules:
            return tuple(parts[:n])
    return None


def strip_comments(text):
    text = re.sub(r"//[^\n]*", "", text)
    return re.sub(r"/\*.*?\*/", "", text, flags=re.S)


def strip_test_modules(text):
    """Drops inline `#[cfg(test)] mod name { ... }` blocks: unit tests may use any module
    (a test helper such as `testing` often sits above the code under test)."""
    out, i = [], 0
    for m in re.finditer(r"#\[cfg\(test\)\]\s*(?:pub(?:\([^)]*\))?\s+)?mod\s+\w+\s*\{", text):
        if m.start() < i:
            continue
        out.append(text[i:m.start()])
        depth, j = 1, m.end()
        while j < len(text) and depth:
            depth += {"{": 1, "}": -1}.get(text[j], 0)
            j += 1
        i = j
    out.append(text[i:])
    return "".join(out)


def crate_edges(src):
    files = {}
    for folder, _, names in os.walk(src):
        for name in names:
            if name.endswith(".rs"):
                path = os.path.join(folder, name)
                mod = module_of(src, path)
                if mod and mod[0] == "bin":
                    continue
                files[mod] = path
    modules = set(files)
    edges = {m: set() for m in modules}
    for mod, path in files.items():
        text = strip_test_modules(strip_comments(open(path, encoding="utf-8").read()))
        refs = []
        for kind, group in GROUP.findall(text):
            # One level of grouping covers this codebase: `use crate::{a::b, c};`,
            # `use super::{a, b::c};`
            for item in re.split(r",(?![^{]*\})", group):
                item = item.strip()
                head = re.match(r"([A-Za-z_][A-Za-z0-9_:]*)", item)
                if head:
                    parts = head.group(1).rstrip(":").split("::")
                    if kind == "super":
                        parts = list(mod[:-1]) + parts
                    refs.append(parts)
        for kind, rest in PATH.findall(text):
            parts = rest.strip(":").split("::")
            if kind == "super":
                # `super` is the parent of the file's module (a/b.rs: a; a/mod.rs: the root).
                base = list(mod[:-1])
                while parts and parts[0] == "super":
                    parts = parts[1:]
                    base = base[:-1]
                parts = base + parts
            refs.append(parts)
        for parts in refs:
            target = longest_known(parts, modules)
            if target and target != mod:
                edges[mod].add(target)
    return edges


def cycles(edges):
    index, low, on_stack, stack, out = {}, {}, set(), [], []
    counter = [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on_stack.add(v)
        for w in sorted(edges[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                out.append(sorted(component))

    sys.setrecursionlimit(100000)
    for v in sorted(edges):
        if v not in index:
            visit(v)
    return out


def main():
    root = sys.argv[1] if len(sys.argv) > 1 else "."
    found = 0
    for entry in sorted(os.listdir(root)):
        src = os.path.join(root, entry, "src")
        if os.path.isfile(os.path.join(root, entry, "Cargo.toml")) and os.path.isdir(src):
            for comp in cycles(crate_edges(src)):
                found += 1
                names = ", ".join("::".join(m) or "(root)" for m in comp)
                print(f"{entry}: module cycle among {names}")
    print(f"module cycles: {found}")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
