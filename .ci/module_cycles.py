#!/usr/bin/env python3
"""Fails when a crate's modules import each other in a cycle.

Reads every `.rs` file under each given `src` directory, takes the `crate::` and `super::`
paths it names (test modules excluded), and resolves each to the deepest module it names. A
module naming its own parent is no edge (a parent lists its children's items, they use its
types). Prints each cycle found, with its edges, and exits 1 if there is one.

Usage: .ci/module_cycles.py CRATE/src [CRATE/src ...]
"""
import os
import re
import sys

PATH = re.compile(r"\b((?:crate|super)(?:::[A-Za-z_][A-Za-z0-9_]*)+)(::\{([^}]*)\})?")


def modules(root):
    found = {}
    for folder, _, files in os.walk(root):
        for name in files:
            if name.endswith(".rs"):
                path = os.path.join(folder, name)
                rel = os.path.relpath(path, root)[:-3]
                module = re.sub(r"(^|/)mod$", "", rel).replace("/", "::")
                found[module if module not in ("lib", "main", "") else "crate"] = open(path).read()
    return found


def resolve(mods, here, path):
    parts = path.split("::")
    if parts[0] == "crate":
        base, parts = [], parts[1:]
    else:
        base = here.split("::")[:-1] if here != "crate" else []
        parts = parts[1:]
        while parts and parts[0] == "super":
            base, parts = base[:-1], parts[1:]
    best = None
    for i in range(len(parts) + 1):
        candidate = "::".join(base + parts[:i]) or "crate"
        if candidate in mods:
            best = candidate
    return best


def edges(mods):
    graph = {m: set() for m in mods}
    for here, source in mods.items():
        source = re.sub(r"#\[cfg\(test\)\]\s*mod tests\s*\{.*", "", source, flags=re.S)
        for match in PATH.finditer(source):
            paths = [match.group(1)]
            if match.group(3):
                paths = [match.group(1) + "::" + p.strip() for p in match.group(3).split(",") if p.strip()]
            for path in paths:
                target = resolve(mods, here, path)
                if target and target not in (here, "crate") and not here.startswith(target + "::"):
                    graph[here].add(target)
    return graph


def cycles(graph):
    index, low, stack, on, found = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def main(roots):
    failed = False
    for root in roots:
        graph = edges(modules(root))
        for component in cycles(graph):
            failed = True
            print(f"{root}: modules in a cycle: {', '.join(component)}")
            for module in component:
                print(f"  {module} -> {', '.join(sorted(graph[module] & set(component)))}")
        print(f"{root}: {len(graph)} modules, {sum(map(len, graph.values()))} imports between them")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
