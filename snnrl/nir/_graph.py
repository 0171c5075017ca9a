"""A NIR graph as snnrl reads it: populations, and the chains of linear nodes between them.

:func:`read_graph` inlines subgraphs (as snnTorch writes its recurrent layers), drops pass-through
nodes (a subgraph's own ``Input``/``Output``, ``Identity``), merges ``I -> Threshold ->
Scale(-threshold) -> I`` back into one population with reset by subtraction, and lists every path
from a graph input or population through linear nodes (``Affine``, ``Linear``, ``Conv1d``,
``Conv2d``, ``SumPool2d``, ``AvgPool2d``, ``Flatten``, ``Scale``, ``Delay``) to a population. The
nodes on a path act on the sum of their inputs, so a bias is counted once: on the paths through
the node's first incoming edge.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from snnrl.nir.neurons import NIRImportError, Population, population_from_node, subtractive_from_nodes

__all__ = ["LINEAR_KINDS", "NEURON_KINDS", "Path", "ReadGraph", "Unit", "read_graph"]

NEURON_KINDS = ("IF", "LIF", "CubaLIF", "Threshold")
LINEAR_KINDS = ("Affine", "Linear", "Conv1d", "Conv2d", "SumPool2d", "AvgPool2d", "Flatten", "Scale", "Delay")
_PASS_KINDS = ("Identity",)


@dataclass
class Unit:
    """A graph input (``population`` None) or a population, with the NIR nodes it enters and leaves by."""

    name: str
    shape: tuple[int, ...]
    population: Population | None
    enter: str
    leave: str


@dataclass
class Path:
    """Linear nodes from ``source`` to ``target`` (unit names); ``bias[i]``: node ``i``'s bias counts here."""

    source: str
    target: str
    nodes: list[tuple[str, Any]]
    bias: list[bool]


@dataclass
class ReadGraph:
    """Units in a depth-first order from the inputs (a discrete reader's step order) and the paths."""

    units: list[Unit] = field(default_factory=list)
    paths: list[Path] = field(default_factory=list)


def _kind(node: Any) -> str:
    return type(node).__name__


def _inline(graph: Any, prefix: str, nodes: dict[str, Any], edges: list[tuple[str, str]],
            groups: dict[str, str], top: bool) -> tuple[list[str], list[str]]:
    """Copy ``graph``'s nodes (subgraphs inlined, ``<prefix><name>``) into ``nodes``/``edges``;
    returns the names of its Input and Output nodes (pass-through ones for a subgraph)."""
    ins: list[str] = []
    outs: list[str] = []
    ports: dict[str, tuple[list[str], list[str]]] = {}
    for name, node in graph.nodes.items():
        full = f"{prefix}{name}"
        kind = _kind(node)
        if kind == "NIRGraph":
            ports[name] = _inline(node, f"{full}_", nodes, edges, groups, False)
            continue
        if not top and kind in ("Input", "Output"):
            nodes[full] = "pass"
        else:
            nodes[full] = node
        if prefix:
            groups[full] = prefix[:-1]
        if kind == "Input":
            ins.append(full)
        elif kind == "Output":
            outs.append(full)
    for a, b in graph.edges:
        a, b = str(a), str(b)
        sources = ports[a][1] if a in ports else [f"{prefix}{a}"]
        targets = ports[b][0] if b in ports else [f"{prefix}{b}"]
        edges.extend((s, t) for s in sources for t in targets)
    return ins, outs


def _contract(nodes: dict[str, Any], edges: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """Remove pass-through nodes, joining each incoming edge to each outgoing one."""
    for name in [n for n, node in nodes.items() if isinstance(node, str) or _kind(node) in _PASS_KINDS]:
        ins = [a for a, b in edges if b == name and a != name]
        outs = [b for a, b in edges if a == name and b != name]
        edges = [e for e in edges if name not in e] + [(a, b) for a in ins for b in outs]
        del nodes[name]
    return list(dict.fromkeys(edges))


def _shape(name: str, node: Any) -> tuple[int, ...]:
    types = getattr(node, "input_type", None) or {}
    shape = next(iter(types.values()), None) if isinstance(types, dict) else None
    if shape is None:
        for attr in ("v_threshold", "threshold", "r"):
            if getattr(node, attr, None) is not None:
                return tuple(int(d) for d in np.shape(getattr(node, attr)))
        raise NIRImportError(f"NIR node {name!r}: its shape is not known (no input type)")
    return tuple(int(d) for d in np.asarray(shape).reshape(-1))


def _layer_name(text: str, used: set[str]) -> str:
    base = re.sub(r"\.", "_", text) or "layer"
    name, i = base, 2
    while name in used:
        name, i = f"{base}_{i}", i + 1
    used.add(name)
    return name


def _subtractive(nodes: dict[str, Any], edges: list[tuple[str, str]], groups: dict[str, str], dt: float,
                 used: set[str]) -> tuple[list[Unit], set[tuple[str, str]]]:
    """Units for the ``I -> Threshold -> Scale -> I`` loops; the loops' own edges."""
    units, internal = [], set()
    for i_name, node in nodes.items():
        if _kind(node) != "I":
            continue
        t_names = [b for a, b in edges if a == i_name]
        if len(t_names) != 1 or _kind(nodes[t_names[0]]) != "Threshold":
            continue
        t_name = t_names[0]
        for s_name in [b for a, b in edges if a == t_name and _kind(nodes[b]) == "Scale"]:
            if [b for a, b in edges if a == s_name] != [i_name] or [a for a, b in edges if b == s_name] != [t_name]:
                continue
            shape = _shape(i_name, node)
            pop = subtractive_from_nodes((i_name, t_name, s_name), node, nodes[t_name], nodes[s_name], shape, dt)
            if pop is None:
                continue
            group = {groups.get(n) for n in (i_name, t_name, s_name)}
            label = group.pop() if len(group) == 1 and None not in group else t_name
            units.append(Unit(_layer_name(str(label), used), shape, pop, i_name, t_name))
            internal |= {(i_name, t_name), (t_name, s_name), (s_name, i_name)}
            break
    return units, internal


def _order(units: list[Unit], links: list[tuple[str, str]]) -> list[Unit]:
    """Reverse post-order of a depth-first search from the inputs: every edge that is not on a
    cycle goes forward, and each cycle has one backward edge (where the one-step delay goes)."""
    after: dict[str, list[str]] = {}
    for a, b in links:
        after.setdefault(a, []).append(b)
    seen: set[str] = set()
    post: list[str] = []
    for root in [u.name for u in units if u.population is None] + [u.name for u in units]:
        if root in seen:
            continue
        seen.add(root)
        stack = [(root, iter(after.get(root, [])))]
        while stack:
            node, it = stack[-1]
            nxt = next((n for n in it if n not in seen), None)
            if nxt is None:
                post.append(node)
                stack.pop()
            else:
                seen.add(nxt)
                stack.append((nxt, iter(after.get(nxt, []))))
    by_name = {u.name: u for u in units}
    return [by_name[n] for n in reversed(post)]


def read_graph(graph: Any, dt: float) -> ReadGraph:
    """Units and paths of a NIR graph (see the module docstring).

    Raises:
        NIRImportError: node types snnrl cannot read, cycles without a population, bad shapes.
    """
    nodes: dict[str, Any] = {}
    edges: list[tuple[str, str]] = []
    groups: dict[str, str] = {}
    _inline(graph, "", nodes, edges, groups, True)
    edges = _contract(nodes, edges)
    used: set[str] = set()
    units, internal = _subtractive(nodes, edges, groups, dt, used)
    merged = {n for u in units for n in (u.enter, u.leave)} | {a for a, _ in internal}
    for name, node in nodes.items():
        kind = _kind(node)
        if name in merged or kind in LINEAR_KINDS or kind == "Output":
            continue
        if kind == "Input":
            units.append(Unit(_layer_name(name, used), _shape(name, node), None, name, name))
        elif kind in NEURON_KINDS:
            shape = _shape(name, node)
            units.append(Unit(_layer_name(name, used), shape, population_from_node(name, node, shape, dt), name, name))
        else:
            population_from_node(name, node, (), dt)  # raises the reason
    entering = {u.enter: u for u in units}
    first_in: dict[str, str] = {}
    for a, b in edges:
        first_in.setdefault(b, a)
    out = ReadGraph()
    links = []
    for unit in units:
        todo: list[tuple[str, list[tuple[str, Any]], list[bool], str]] = [
            (b, [], [], unit.leave) for a, b in edges if a == unit.leave and (a, b) not in internal]
        while todo:
            name, chain, bias, prev = todo.pop(0)
            if name in entering:
                out.paths.append(Path(unit.name, entering[name].name, chain, bias))
                links.append((unit.name, entering[name].name))
                continue
            node = nodes[name]
            kind = _kind(node)
            if kind == "Output":
                continue
            if kind not in LINEAR_KINDS:
                raise NIRImportError(f"NIR node {name!r} ({kind}) sits between populations where snnrl expects "
                                     f"linear nodes ({', '.join(LINEAR_KINDS)})")
            if any(n == name for n, _ in chain):
                raise NIRImportError(f"NIR node {name!r} is on a cycle without a neuron: an algebraic loop")
            step = ([*chain, (name, node)], [*bias, first_in.get(name) == prev], name)
            todo.extend((b, *step) for a, b in edges if a == name)
    out.units = _order(units, links)
    return out
