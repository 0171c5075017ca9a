r"""snnrl -> NIR: :func:`to_nir` describes a :class:`~snnrl.network.Network` as a NIR graph.

Every population is one node named after its layer (an ``Input`` layer a NIR ``Input`` node; the
neuron mapping is in :mod:`snnrl.nir.neurons`), every connection a chain of nodes between them:

* dense :class:`~snnrl.network.Connection`: ``Affine`` (``Linear`` without a bias), weight
  ``(W * intensity)^T`` (NIR's weights are ``(out, in)``), after a ``Flatten`` when the source is
  not 1-D. NIR cannot reshape, so a multi-dimensional population that only dense-like connections
  reach and leave gets a 1-D node ``(n,)``, and a dense connection into one that a convolution
  leaves is refused;
* :class:`~snnrl.network.Conv1dConnection` / ``Conv2dConnection``: ``Conv1d`` / ``Conv2d``; a
  depthwise one without bias whose weights are all ``1/(kH kW)`` (or all 1), the way average
  pooling is built here, ``AvgPool2d`` (``SumPool2d``). A grouped convolution gets its input type
  from the graph: nir 1.0.8's own check miscounts its input channels, so ``read_nir`` reads a file
  that fails that check again without it;
* sparse, local and mean-field connections: the dense ``Affine`` they compute (probed with the
  identity, up to ``2**24`` synapses);
* delays: a ``Delay`` node (seconds) before the weights, per source neuron, or after them, per
  target neuron (per-synapse delays that are neither are refused).

**Time.** NIR is continuous-time, so a discrete-time reader must put one step of delay on every
cycle (snnTorch's recurrent neurons read the previous step's spikes); otherwise it evaluates the
graph in order, the whole chain in one step. snnrl's ``in_order`` propagation is exactly that
when the edge that closes a cycle (source not before target in layer order) is the delayed one;
``synchronous`` propagation delays every connection by one step, which the graph states with an
explicit ``Delay`` of ``dt`` on every other connection. A connection's own delay of ``k`` steps
adds ``k dt``.

**Refused or approximated.** Max pooling, 3-D convolutions and neuron models NIR lacks are
refused. Refractory periods, lower voltage bounds, adaptive thresholds, one-spike-per-step
competition, random transmission and learning rules are refused unless ``approximate=True``; then
they are dropped (a threshold frozen at ``thresh + theta``, a transmission probability replaced by
its expected value, weights frozen), each change is listed in the graph's metadata
(:func:`approximations`) and a :class:`NIRApproximationWarning` is issued. NIR has no plasticity:
rule settings are kept in the metadata, never in the graph.

**Metadata.** The graph's metadata holds ``dt`` (s) and, under ``"snnrl"``, the network's spec and
every tensor NIR cannot hold (see :mod:`snnrl.nir._meta`), so :func:`~snnrl.nir.from_nir` rebuilds
the very same network when the graph's values are still the exported ones.
"""

from __future__ import annotations

import itertools
import json
import os
import re
import warnings
from collections.abc import Sequence
from typing import Any, cast

import numpy as np
import torch
from torch import Tensor

from snnrl import __version__
from snnrl.network.connections import (
    AbstractConnection,
    Connection,
    Conv1dConnection,
    Conv2dConnection,
    LocalConnection1D,
    LocalConnection2D,
    LocalConnection3D,
    MeanFieldConnection,
    SparseConnection,
)
from snnrl.network.network import Network
from snnrl.network.nodes import Input, Nodes
from snnrl.network.spec import SpecError, constructor_tensors, generators, network_to_spec
from snnrl.nir import _meta
from snnrl.nir._deps import require_nir
from snnrl.nir.neurons import MS, Issue, NIRExportError, population_node

__all__ = ["NIRApproximationWarning", "approximations", "to_nir", "write_nir"]

#: Largest dense matrix (synapses) a sparse, local or mean-field connection is expanded into.
PROBE_LIMIT = 1 << 24
_PROBED = (SparseConnection, LocalConnection1D, LocalConnection2D, LocalConnection3D, MeanFieldConnection)


class NIRApproximationWarning(UserWarning):
    """An export with ``approximate=True`` changed something NIR cannot express."""


class _Names:
    """Unique NIR node names made of letters, digits and ``_`` (torch readers use them as module names)."""

    def __init__(self) -> None:
        self.used: set[str] = set()

    def __call__(self, text: str) -> str:
        base = re.sub(r"\W", "_", text.replace("->", "_to_")) or "node"
        name, i = base, 2
        while name in self.used:
            name, i = f"{base}_{i}", i + 1
        self.used.add(name)
        return name


def _reaches(adjacency: dict[str, set[str]], start: str, goal: str) -> bool:
    seen, todo = {start}, [start]
    while todo:
        for nxt in adjacency.get(todo.pop(), ()):
            if nxt == goal:
                return True
            if nxt not in seen:
                seen.add(nxt)
                todo.append(nxt)
    return False


def _extra_steps(net: Network) -> dict[str, int]:
    """Per connection: steps of delay the graph states beyond the connection's own (see the module
    docstring): 1 where snnrl delays by a step and a reader would not, else 0."""
    order = {name: i for i, name in enumerate(net.layers)}
    adjacency: dict[str, set[str]] = {}
    for src, tgt in net.endpoints.values():
        adjacency.setdefault(src, set()).add(tgt)
    out = {}
    for cname, (src, tgt) in net.endpoints.items():
        backward = order[src] >= order[tgt]
        closes_cycle = backward and (src == tgt or _reaches(adjacency, tgt, src))
        delayed = net.propagation == "synchronous" or backward
        out[cname] = int(delayed) - int(closes_cycle)
    return out


def _numpy(t: Tensor) -> np.ndarray:
    return t.detach().cpu().numpy().copy()


def _dense_weight(cname: str, conn: Connection, issues: list[Issue]) -> Tensor:
    """``W * intensity`` (times the transmission probability, an approximation) as snnrl applies it."""
    w = conn.weight.detach().cpu()
    if conn.stochastic:
        issues.append(Issue(f"connection {cname!r}: transmission probability",
                            "exported as its expected value, weight x probability"))
        p = conn.probability
        w = w * (p.detach().cpu() if isinstance(p, Tensor) else float(p if p is not None else 1.0))
    inten = conn.intensity
    if isinstance(inten, Tensor):
        w = w * inten.detach().cpu()
    elif inten != 1.0:
        w = w * inten
    return w


def _probe(cname: str, conn: AbstractConnection) -> tuple[np.ndarray, np.ndarray | None]:
    """The ``(target.n, source.n)`` matrix and bias a linear, deterministic connection computes."""
    n_pre, n_post = conn.source.n, conn.target.n
    if n_pre * n_post > PROBE_LIMIT:
        raise NIRExportError(f"connection {cname!r} ({type(conn).__name__}) would become a dense {n_post} x {n_pre} "
                             f"Affine node, more than {PROBE_LIMIT} weights")
    if conn.stochastic:
        raise NIRExportError(f"connection {cname!r}: random transmission in a {type(conn).__name__} has no NIR form")
    dtype = conn.weight.dtype
    eye = torch.eye(n_pre, dtype=dtype, device=conn.weight.device).view(n_pre, *conn.source.shape)
    params = conn._parameters
    bias = params.get("bias")
    try:
        if bias is not None:
            params["bias"] = None
        with torch.no_grad():
            out = conn._propagate(eye).reshape(n_pre, n_post)
    finally:
        if bias is not None:
            params["bias"] = bias
    return _numpy(out.t()), None if bias is None else _numpy(bias.reshape(-1))


def _pooling(conn: Conv1dConnection | Conv2dConnection) -> str | None:
    """``"AvgPool2d"`` / ``"SumPool2d"`` for a depthwise 2-D convolution that is one (no bias, no
    dilation, every weight ``1/(kH kW)`` or 1; how average pooling is built here), else None."""
    channels = conn.source.shape[0]
    if not isinstance(conn, Conv2dConnection) or conn.groups != channels or conn.target.shape[0] != channels \
            or conn._parameters.get("bias") is not None or tuple(conn.dilation) != (1, 1):
        return None
    w = conn.weight.detach()
    for kind, value in (("AvgPool2d", 1.0 / (w.shape[2] * w.shape[3])), ("SumPool2d", 1.0)):
        if bool((w == torch.tensor(value, dtype=w.dtype)).all()):
            return kind
    return None


def _synapse_delays(cname: str, delays: Tensor, shapes: tuple[tuple[int, ...], tuple[int, ...]], h: float
                    ) -> tuple[np.ndarray | None, np.ndarray | None]:
    """Per-synapse delays (steps, ``(source.n, target.n)``) as a per-source or a per-target Delay (s)
    of the source's or the target's node shape."""
    d = delays.detach().cpu().to(torch.float64)
    if bool((d == d[:, :1]).all()):
        per_source = d[:, 0].reshape(shapes[0]).numpy() * h
        return (per_source, None) if bool((d > 0).any()) else (None, None)
    if bool((d == d[:1, :]).all()):
        return None, d[0].reshape(shapes[1]).numpy() * h
    raise NIRExportError(f"connection {cname!r}: per-synapse delays that depend on both the source and the target "
                         "neuron have no NIR form (a Delay node delays each neuron's signal)")


def _connection_chain(nir: Any, cname: str, conn: AbstractConnection, extra: int, h: float, issues: list[Issue],
                      shapes: tuple[tuple[int, ...], tuple[int, ...]]) -> tuple[list[Any], bool]:
    """The NIR nodes of one connection, source side first, and whether its weight and bias are the
    op node's own (``weight`` transposed for a dense connection) so the metadata need not keep them.
    ``shapes``: the source's and the target's node shapes."""
    src = conn.source
    src_shape, tgt_shape = shapes
    delay_src: np.ndarray | None = None
    delay_tgt: np.ndarray | None = None
    if isinstance(conn.delay, Tensor):
        if not isinstance(conn, Connection):
            raise NIRExportError(f"connection {cname!r}: per-synapse delays in a {type(conn).__name__}")
        delay_src, delay_tgt = _synapse_delays(cname, conn.delay + extra, shapes, h)
    elif conn.delay + extra > 0:
        delay_src = np.full(src_shape, (conn.delay + extra) * h)
    if conn.rule is not None:
        issues.append(Issue(f"connection {cname!r}: learning rule {type(conn.rule).__name__}",
                            "dropped, weights frozen (its settings are in the metadata)"))
    chain: list[Any] = [] if delay_src is None else [nir.Delay(delay=delay_src)]
    own = False
    b: np.ndarray | None
    if isinstance(conn, Connection) or isinstance(conn, _PROBED):
        if len(tgt_shape) > 1:
            raise NIRExportError(f"connection {cname!r}: a dense connection into a population of shape {tgt_shape} "
                                 "that convolutions leave cannot be written (NIR's Affine output is 1-D and NIR "
                                 "has no reshape)")
        if len(src_shape) > 1:
            chain.append(nir.Flatten(input_type={"input": np.array(src_shape)}, start_dim=0, end_dim=-1))
        if isinstance(conn, Connection):
            plain = not conn.stochastic and not isinstance(conn.intensity, Tensor) and conn.intensity == 1.0
            w = _numpy(_dense_weight(cname, conn, issues).t())
            bias = conn._parameters.get("bias")
            b = None if bias is None else _numpy(bias)
            own = plain
        else:
            w, b = _probe(cname, conn)
        chain.append(nir.Linear(weight=w) if b is None else nir.Affine(weight=w, bias=b))
    elif isinstance(conn, (Conv1dConnection, Conv2dConnection)):
        pool = _pooling(conn)
        w = _numpy(conn.weight)
        bias = conn._parameters.get("bias")
        b = np.zeros(w.shape[0], dtype=w.dtype) if bias is None else _numpy(bias)
        # nir 1.0.8 takes a convolution's input channels for weight.shape[1] (wrong with groups): a grouped one
        # gets its input type from the graph instead
        grouped = conn.groups > 1
        if pool is not None:
            kernel = np.array(conn.kernel_size)
            chain.append(getattr(nir, pool)(kernel_size=kernel, stride=np.array(conn.stride),
                                            padding=np.array(conn.padding)))
        elif isinstance(conn, Conv1dConnection):
            chain.append(nir.Conv1d(input_shape=None if grouped else int(src.shape[1]), weight=w,
                                    stride=int(conn.stride[0]), padding=int(conn.padding[0]),
                                    dilation=int(conn.dilation[0]), groups=conn.groups, bias=b))
        else:
            chain.append(nir.Conv2d(input_shape=None if grouped else tuple(int(s) for s in src.shape[1:]), weight=w,
                                    stride=tuple(conn.stride), padding=tuple(conn.padding),
                                    dilation=tuple(conn.dilation), groups=conn.groups, bias=b))
        own = pool is None
    else:
        raise NIRExportError(f"connection {cname!r} is a {type(conn).__name__}, which NIR cannot express (exportable: "
                             "Connection, Conv1dConnection, Conv2dConnection, SparseConnection, LocalConnection*, "
                             "MeanFieldConnection; NIR has no max pooling and no 3-D convolution)")
    if delay_tgt is not None:
        chain.append(nir.Delay(delay=delay_tgt))
    return chain, own


def _flat_layers(net: Network) -> set[str]:
    """Multi-dimensional populations that only dense-like connections reach and leave: their NIR
    node is 1-D (``(n,)``), which is what an ``Affine`` gives and takes."""
    dense = (Connection, *_PROBED)
    out = set()
    for name, layer in net.layers.items():
        if isinstance(layer, Input) or len(cast(Nodes, layer).shape) < 2:
            continue
        touching = [net.connections[c] for c, ends in net.endpoints.items() if name in ends]
        if touching and all(isinstance(c, dense) for c in touching):
            out.add(name)
    return out


def _outputs(net: Network, outputs: Sequence[str] | None) -> list[str]:
    if outputs is not None:
        chosen = [outputs] if isinstance(outputs, str) else list(outputs)
        for name in chosen:
            if name not in net.layers or isinstance(net.layers[name], Input):
                known = [n for n, layer in net.layers.items() if not isinstance(layer, Input)]
                raise NIRExportError(f"outputs: {name!r} is not a non-input layer of the network; layers: {known}")
        return list(dict.fromkeys(chosen))
    senders = {src for src, tgt in net.endpoints.values() if src != tgt}
    leaves = [n for n, layer in net.layers.items() if not isinstance(layer, Input) and n not in senders]
    if leaves:
        return leaves
    others = [n for n, layer in net.layers.items() if not isinstance(layer, Input)]
    if not others:
        raise NIRExportError("the network has no layers besides its Input layers: nothing to export")
    return others[-1:]


def _header_tensors(net: Network, own: dict[str, Any], arrays: dict[str, np.ndarray]) -> dict[str, Any]:
    """State, constructor tensors and generator states for the metadata; ``own``: state keys a NIR node holds."""
    state = {k: v for k, v in net.state_dict().items() if k not in own}
    gens = {key: gen for key, (_, _, gen) in generators(net).items()}
    return {"state": _meta.encode_tensors(state, arrays),
            "args": _meta.encode_tensors(constructor_tensors(net), arrays),
            "rng": _meta.encode_tensors({key: gen.get_state() for key, gen in gens.items()}, arrays),
            "rng_devices": {key: gen.device.type for key, gen in gens.items()}}


def to_nir(network: Network, *, approximate: bool = False, outputs: Sequence[str] | str | None = None) -> Any:
    """Describe ``network`` as a NIR graph (see the module docstring and :mod:`snnrl.nir.neurons`).

    Args:
        network: the network (any device; the graph holds copies of its tensors).
        approximate: export what NIR cannot express by changing it (listed in the metadata,
            :func:`approximations`, and warned about) instead of refusing.
        outputs: the layers that become NIR ``Output`` nodes (default: the non-input layers that
            send no connection to another layer, or the last layer).

    Returns:
        A ``nir.NIRGraph``; its metadata holds ``dt`` (s) and snnrl's description of the network.

    Raises:
        NIRExportError: something NIR cannot express (all of it in one message), or, without
            ``approximate``, something it can express only approximately.
        ImportError: ``nir`` is not installed (``pip install 'snnrl[nir]'``).
    """
    nir = require_nir("NIR export")
    if not isinstance(network, Network):
        raise TypeError(f"network must be an snnrl Network, got {type(network).__name__}")
    names = _Names()
    dt, h = float(network.dt), float(network.dt) * MS
    issues: list[Issue] = []
    nodes: dict[str, Any] = {}
    edges: list[tuple[str, str]] = []
    layer_nodes: dict[str, str] = {}
    receivers = {tgt for _, tgt in network.endpoints.values()}
    flat = _flat_layers(network)
    node_shapes = {name: (cast(Nodes, layer).n,) if name in flat else tuple(cast(Nodes, layer).shape)
                   for name, layer in network.layers.items()}
    for name, module in network.layers.items():
        layer = cast(Nodes, module)
        node_name = names(name)
        layer_nodes[name] = node_name
        if isinstance(layer, Input):
            if name in receivers:
                raise NIRExportError(f"Input layer {name!r} receives connections; a NIR Input node cannot")
            nodes[node_name] = nir.Input(input_type=np.array(layer.shape))
            continue
        if name not in receivers:
            raise NIRExportError(f"layer {name!r} receives no connection: NIR feeds a graph only through Input "
                                 "nodes (give it an Input layer and a connection)")
        nodes[node_name] = population_node(nir, name, layer, dt, issues, flat=name in flat)
    extra = _extra_steps(network)
    own: dict[str, dict[str, Any]] = {}
    conn_nodes: dict[str, list[str]] = {}
    for cname, module in network.connections.items():
        conn = cast(AbstractConnection, module)
        src, tgt = network.endpoints[cname]
        chain, owns = _connection_chain(nir, cname, conn, extra[cname], h, issues, (node_shapes[src], node_shapes[tgt]))
        base = names(cname)
        chain_names = []
        for node in chain:
            kind = type(node).__name__
            label = base if kind not in ("Delay", "Flatten") else names(f"{cname}_{kind.lower()}")
            nodes[label] = node
            chain_names.append(label)
        path = [layer_nodes[src], *chain_names, layer_nodes[tgt]]
        edges.extend(itertools.pairwise(path))
        conn_nodes[cname] = chain_names
        if owns:
            own[f"connections.{cname}.weight"] = {"node": base, "transpose": isinstance(conn, Connection)}
            if getattr(conn, "bias", None) is not None:
                own[f"connections.{cname}.bias"] = {"node": base, "transpose": False}
    out_layers = _outputs(network, outputs)
    for name in out_layers:
        label = names("output" if len(out_layers) == 1 else f"output_{name}")
        nodes[label] = nir.Output(output_type=np.array(node_shapes[name]))
        edges.append((layer_nodes[name], label))
    if issues and not approximate:
        raise NIRExportError("NIR cannot express " + "; ".join(i.what for i in issues) + ". With approximate=True "
                             "(snnrl export --approximate) they are dropped or frozen and listed in the graph")
    changes = [f"{i.what}: {i.change}" for i in issues]
    for change in changes:
        warnings.warn(f"NIR export approximated {change}", NIRApproximationWarning, stacklevel=2)
    try:
        spec = network_to_spec(network)
    except SpecError as e:
        raise NIRExportError(f"the network cannot be described for the metadata: {e}") from e
    arrays: dict[str, np.ndarray] = {}
    header = {
        "format": _meta.FORMAT, "format_version": _meta.FORMAT_VERSION, "snnrl_version": __version__,
        "dt_ms": dt, "propagation": network.propagation, "approximate": bool(approximate),
        "approximations": changes, "outputs": out_layers, "layers": layer_nodes, "connections": conn_nodes,
        "from_nodes": own,
        "spec": spec, **_header_tensors(network, own, arrays),
    }
    metadata = {"dt": h, "snnrl": json.dumps(header), "snnrl_tensors": arrays}
    try:
        return nir.NIRGraph(nodes=nodes, edges=edges, metadata=metadata)
    except (ValueError, AssertionError, NotImplementedError) as e:
        raise NIRExportError(f"the NIR graph does not check: {e}") from e


def approximations(graph: Any) -> list[str]:
    """What an export with ``approximate=True`` changed (empty for an exact export or a graph snnrl
    did not write)."""
    header = _meta.read_header(getattr(graph, "metadata", None))
    return list(header.get("approximations", [])) if header else []


def write_nir(network: Network, path: str | os.PathLike[str], *, approximate: bool = False,
              outputs: Sequence[str] | str | None = None) -> Any:
    """:func:`to_nir` and write the graph to ``path`` (NIR's HDF5 format, ``nir.write``); returns the graph."""
    nir = require_nir("NIR export")
    graph = to_nir(network, approximate=approximate, outputs=outputs)
    nir.write(os.fspath(path), graph)
    return graph
