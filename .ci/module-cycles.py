#!/usr/bin/env python3
"""Lists import cycles between modules of each crate in the workspace.

A module depends on another when it names it in a `use` or a path
(`crate::a::b`, `super::x`). A cycle is a strongly connected set of modules
in which two modules are not one inside the other (a module's own
submodules implementing it, `use super::Core`, are not a cycle). Exits 1
when it finds one."""
import os, re, sys

def crate_modules(src):
    """module path (tuple) -> file, for src/lib.rs or src/main.rs trees."""
    mods = {}
    for root, _, files in os.walk(src):
        for f in files:
            if not f.endswith('.rs'):
                continue
            p = os.path.join(root, f)
            rel = os.path.relpath(p, src)[:-3].split(os.sep)
            if rel[-1] in ('lib', 'main', 'mod'):
                rel = rel[:-1]
            if rel and rel[0] == 'bin':
                continue
            mods[tuple(rel)] = p
    return mods

USE = re.compile(r'\b(crate|super|self)((?:::\{?[A-Za-z_][A-Za-z0-9_]*)+)')

def deps(mod, path, mods):
    text = open(path).read()
    # Test modules may use anything.
    text = re.split(r'#\[cfg\(test\)\]\s*mod tests\s*\{', text)[0]
    text = re.sub(r'//[^\n]*', '', text)
    out = set()
    for m in USE.finditer(text):
        kind, rest = m.group(1), [s.strip('{') for s in m.group(2).split('::')[1:]]
        if kind == 'crate':
            base = ()
        else:
            base = mod
            if kind == 'super':
                base = base[:-1]
                while rest and rest[0] == 'super':
                    base, rest = base[:-1], rest[1:]
        target = base
        for part in rest:
            if tuple(list(target) + [part]) in mods:
                target = tuple(list(target) + [part])
            else:
                break
        if target != mod:
            out.add(target)
    return out

def sccs(graph):
    index, low, stack, on, res, i = {}, {}, [], set(), [], [0]
    def visit(v):
        index[v] = low[v] = i[0]; i[0] += 1; stack.append(v); on.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w); low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop(); on.discard(w); comp.append(w)
                if w == v: break
            res.append(comp)
    sys.setrecursionlimit(10000)
    for v in graph:
        if v not in index:
            visit(v)
    return res

def nested(a, b):
    return a[:len(b)] == b or b[:len(a)] == a

bad = 0
for crate in sys.argv[1:]:
    src = os.path.join(crate, 'src')
    mods = crate_modules(src)
    graph = {m: deps(m, p, mods) for m, p in mods.items()}
    # Edges into an ancestor or a descendant are how a module and its own
    # submodules talk; they are not dependencies between modules.
    graph = {m: {t for t in ts if not nested(m, t)} for m, ts in graph.items()}
    for comp in sccs(graph):
        if len(comp) > 1:
            bad += 1
            print(f"{crate}: cycle between " + ", ".join("::".join(c) or "crate" for c in sorted(comp)))
if bad:
    sys.exit(1)
print("no import cycles")
