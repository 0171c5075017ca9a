"""The package's import graph has no runtime cycles.

Every ``import`` and ``from ... import`` in ``snnrl/**/*.py`` counts, at module level and inside
functions alike (a lazy import still ties the two modules together), except those under
``if TYPE_CHECKING:``, which never run. ``from a.b import c`` is an edge to ``a.b.c`` when that is a
module of the package, else to ``a.b``; importing a module is not counted as importing its parent
packages (``snnrl/__init__.py`` re-exports almost everything).
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = "snnrl"
ROOT = Path(__file__).resolve().parents[1] / PACKAGE


def _modules() -> dict[str, Path]:
    out = {}
    for path in sorted(ROOT.rglob("*.py")):
        parts = path.relative_to(ROOT.parent).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = path
    return out


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imports(tree: ast.AST, module: str, is_package: bool, known: dict[str, Path]) -> set[str]:
    """The package modules ``tree`` imports at runtime."""
    found: set[str] = set()

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            for child in node.orelse:
                visit(child)
            return
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = module.split(".")
                base = base[: len(base) - node.level + (1 if is_package else 0)]
                source = ".".join([*base, node.module] if node.module else base)
            else:
                source = node.module or ""
            for alias in node.names:
                sub = f"{source}.{alias.name}"
                found.add(sub if sub in known else source)
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(tree)
    return {name for name in found if name in known and name != module}


def import_graph() -> dict[str, set[str]]:
    """``{module: modules it imports at runtime}`` over the package."""
    known = _modules()
    return {
        name: _imports(ast.parse(path.read_text(), str(path)), name, path.name == "__init__.py", known)
        for name, path in known.items()
    }


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    out: list[list[str]] = []

    def connect(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                connect(w)
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

    for v in sorted(graph):
        if v not in index:
            connect(v)
    return sorted(out)


def _path(graph: dict[str, set[str]], component: list[str]) -> list[str]:
    """One closed import chain through the component's first module, for the failure message."""
    members = set(component)
    start = component[0]
    parents: dict[str, str] = {}
    frontier = [start]
    while frontier:
        nxt = []
        for v in frontier:
            for w in sorted(graph[v] & members):
                if w == start:
                    chain = [v]
                    while chain[-1] != start:
                        chain.append(parents[chain[-1]])
                    return [*reversed(chain), start]
                if w not in parents:
                    parents[w] = v
                    nxt.append(w)
        frontier = nxt
    return component


def test_the_graph_sees_lazy_imports_and_skips_type_checking():
    source = (
        "from typing import TYPE_CHECKING\n"
        "from snnrl.network import nodes\n"
        "if TYPE_CHECKING:\n"
        "    from snnrl.checkpoint import save_checkpoint\n"
        "def f():\n"
        "    from snnrl.network.spec import network_to_spec\n"
        "    from . import monitors\n"
    )
    known = _modules()
    found = _imports(ast.parse(source), "snnrl.network.network", False, known)
    assert found == {"snnrl.network.nodes", "snnrl.network.spec", "snnrl.network.monitors"}
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_no_runtime_import_cycles():
    graph = import_graph()
    assert "snnrl.network.network" in graph
    found = cycles(graph)
    assert not found, "runtime import cycles among snnrl modules:\n" + "\n".join(
        " -> ".join(_path(graph, component)) for component in found
    )
