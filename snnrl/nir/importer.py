r"""NIR -> snnrl: :func:`from_nir` builds a :class:`~snnrl.network.Network` from a NIR graph.

A graph written by :func:`~snnrl.nir.to_nir` carries the network's description in its metadata;
when exporting the network rebuilt from it gives back exactly the graph's nodes and edges (the
graph was not edited), that network is returned: the same layer and connection types, names,
propagation, learning rules and their state, so it spikes exactly as the exported one.
Otherwise (a graph another tool wrote, or one edited since) the network is built from the NIR
nodes alone, for the time step ``dt`` (ms; a graph snnrl wrote says its own):

* ``Input`` nodes become :class:`~snnrl.network.Input` layers, neurons populations (mapping in
  :mod:`snnrl.nir.neurons`), named after their nodes;
* each path of linear nodes from an input or population to a population becomes one connection:
  ``Affine``/``Linear`` (after an optional ``Flatten``) a dense :class:`~snnrl.network.Connection`,
  ``Conv1d``/``Conv2d`` a convolution, ``SumPool2d``/``AvgPool2d`` a depthwise ``Conv2dConnection``
  with weights 1 or ``1/(kH kW)``, anything longer the dense matrix the chain computes (up to
  ``2**24`` synapses); ``Delay`` nodes become delays in whole steps (uniform anywhere on the path,
  per neuron right after the source or right before the target);
* a population's input gain (see :mod:`snnrl.nir.neurons`) scales its incoming weights and biases;
* propagation is ``in_order`` with the layers in depth-first order from the inputs, so every
  connection acts within the step except one per cycle, which reads the previous step (as
  discrete-time readers of NIR do); learning is off.
"""

from __future__ import annotations

import math
import os
import warnings
from typing import Any, cast

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from snnrl.network.connections import Connection, Conv1dConnection, Conv2dConnection
from snnrl.network.network import Network
from snnrl.network.nodes import Input, Nodes
from snnrl.network.spec import SpecError, generators, network_from_spec
from snnrl.nir import _meta
from snnrl.nir._deps import require_nir
from snnrl.nir._graph import Path, Unit, read_graph
from snnrl.nir.export import PROBE_LIMIT, NIRApproximationWarning, to_nir
from snnrl.nir.neurons import MS, NIRImportError
from snnrl.registry import lookup

__all__ = ["NIRMetadataWarning", "from_nir", "read_nir"]

#: Largest identity (``n x n``) an edge straight from one population to another becomes.
IDENTITY_LIMIT = 4096


class NIRMetadataWarning(UserWarning):
    """A graph's snnrl metadata no longer matches its nodes; it was read from the nodes alone."""


# ------------------------------------------------------------------------ snnrl's own graphs
def _from_header(graph: Any, header: dict[str, Any]) -> Network | None:
    """The network the metadata describes, if exporting it gives back this graph; else None (warned)."""
    arrays = graph.metadata.get("snnrl_tensors", {}) or {}
    try:
        state = _meta.decode_tensors(header["state"], arrays)
        args = _meta.decode_tensors(header["args"], arrays)
        for key, ref in header["from_nodes"].items():
            node = graph.nodes[ref["node"]]
            value = torch.from_numpy(np.array(getattr(node, "weight" if key.endswith(".weight") else "bias")))
            state[key] = value.t().contiguous() if ref["transpose"] else value
        net = network_from_spec(header["spec"], state=state, args=args)
        rng = _meta.decode_tensors(header["rng"], arrays)
        for key, (_, _, gen) in generators(net).items():
            if key in rng and header["rng_devices"].get(key) == gen.device.type:
                gen.set_state(rng[key])
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", NIRApproximationWarning)
            again = to_nir(net, approximate=bool(header["approximate"]), outputs=header["outputs"])
    except (KeyError, TypeError, ValueError, RuntimeError, SpecError) as e:
        warnings.warn(f"the graph's snnrl metadata cannot be used ({type(e).__name__}: {e}); it is read from its "
                      "NIR nodes alone", NIRMetadataWarning, stacklevel=3)
        return None
    where = _meta.first_difference(graph.to_dict(), again.to_dict())
    if where is not None:
        warnings.warn(f"the graph differs from its snnrl metadata at {where} (edited after export?); it is read "
                      "from its NIR nodes alone", NIRMetadataWarning, stacklevel=3)
        return None
    return net


# ------------------------------------------------------------------------ paths -> connections
def _ints(value: Any, n: int) -> tuple[int, ...]:
    arr = np.asarray(value).reshape(-1)
    return tuple(int(v) for v in (np.repeat(arr, n) if arr.size == 1 else arr))


def _padding(name: str, node: Any, dims: int) -> tuple[int, ...]:
    pad = node.padding
    if isinstance(pad, (str, bytes)):
        pad = pad.decode() if isinstance(pad, bytes) else pad
        if pad == "valid":
            return (0,) * dims
        kernel = np.asarray(node.weight).shape[2:]
        dil = _ints(node.dilation, dims)
        total = [(k - 1) * d for k, d in zip(kernel, dil, strict=True)]
        if any(t % 2 for t in total) or any(s != 1 for s in _ints(node.stride, dims)):
            raise NIRImportError(f"NIR node {name!r}: padding 'same' with an even kernel or a stride is not supported")
        return tuple(t // 2 for t in total)
    return _ints(pad, dims)


def _apply(kind: str, node: Any, x: Tensor, with_bias: bool) -> Tensor:
    """One linear node on a batch ``(N, *shape)`` in float64."""
    def arr(attr: str) -> Tensor:
        return torch.from_numpy(np.asarray(getattr(node, attr), dtype=np.float64))

    if kind in ("Affine", "Linear"):
        if x.dim() != 2:
            raise NIRImportError(f"an {kind} node receives a {tuple(x.shape[1:])} signal; it needs a Flatten first")
        y = x @ arr("weight").t()
        return y + arr("bias") if kind == "Affine" and with_bias else y
    if kind in ("Conv1d", "Conv2d"):
        dims = 1 if kind == "Conv1d" else 2
        conv = F.conv1d if dims == 1 else F.conv2d
        pad = node.padding if isinstance(node.padding, str) else _ints(node.padding, dims)
        return conv(x, arr("weight"), arr("bias") if with_bias else None, _ints(node.stride, dims), pad,
                    _ints(node.dilation, dims), int(np.asarray(node.groups)))
    if kind in ("SumPool2d", "AvgPool2d"):
        k, s, p = (_ints(getattr(node, a), 2) for a in ("kernel_size", "stride", "padding"))
        return F.avg_pool2d(x, k, s, p, divisor_override=1 if kind == "SumPool2d" else None)
    if kind == "Flatten":
        start, end = int(np.asarray(node.start_dim)), int(np.asarray(node.end_dim))
        return torch.flatten(x, start + 1 if start >= 0 else start, end + 1 if end >= 0 else end)
    if kind == "Scale":
        return x * arr("scale")
    raise NIRImportError(f"cannot apply a {kind} node")


def _composed(path: Path, src: Unit, tgt: Unit, ops: list[tuple[str, Any, bool]]) -> tuple[Tensor, Tensor | None]:
    """The dense ``(source.n, target.n)`` weights and bias a chain of linear nodes computes."""
    n_src, n_tgt = math.prod(src.shape), math.prod(tgt.shape)
    if n_src * n_tgt > PROBE_LIMIT:
        raise NIRImportError(f"the nodes from {path.source!r} to {path.target!r} would make a dense {n_src} x {n_tgt} "
                             f"connection, more than {PROBE_LIMIT} weights")
    x = torch.eye(n_src, dtype=torch.float64).view(n_src, *src.shape)
    zero = torch.zeros(1, *src.shape, dtype=torch.float64)
    for name, node, owned in ops:
        kind = type(node).__name__
        try:
            x, zero = _apply(kind, node, x, False), _apply(kind, node, zero, owned)
        except (RuntimeError, ValueError) as e:
            raise NIRImportError(f"NIR node {name!r} ({kind}) cannot take its input: {e}") from None
    if x[0].numel() != n_tgt:
        raise NIRImportError(f"the nodes from {path.source!r} to {path.target!r} produce {x[0].numel()} values for "
                             f"a population of shape {tgt.shape}")
    bias = zero.reshape(-1)
    return x.reshape(n_src, n_tgt), None if bool((bias == 0).all()) else bias


def _steps(name: str, seconds: np.ndarray, h: float) -> np.ndarray:
    steps = seconds / h
    whole = np.rint(steps)
    if (np.abs(steps - whole) > 1e-6 * np.maximum(1.0, np.abs(steps))).any() or (whole < 0).any():
        raise NIRImportError(f"NIR node {name!r}: delays {np.unique(seconds)[:4]} s are not whole steps of "
                             f"dt = {h:.6g} s")
    return whole.astype(np.int64)


def _delays(path: Path, src: Unit, tgt: Unit, h: float) -> tuple[int, np.ndarray | None, np.ndarray | None, list]:
    """Uniform delay (steps), per-source and per-target delays (steps), and the path's other nodes."""
    uniform, per_src, per_tgt, ops = 0, None, None, []
    last = len(path.nodes) - 1
    for i, ((name, node), owned) in enumerate(zip(path.nodes, path.bias, strict=True)):
        if type(node).__name__ != "Delay":
            ops.append((name, node, owned))
            continue
        steps = _steps(name, np.asarray(node.delay, dtype=np.float64), h)
        if steps.size and (steps == steps.reshape(-1)[0]).all():
            uniform += int(steps.reshape(-1)[0])
        elif i == 0 and steps.shape == src.shape:
            per_src = steps
        elif i == last and steps.shape == tgt.shape:
            per_tgt = steps
        else:
            raise NIRImportError(f"NIR node {name!r}: a Delay that differs between neurons must come right after the "
                                 "source population or right before the target one")
    return uniform, per_src, per_tgt, ops


def _channel_gain(gain: np.ndarray | None, channels: int) -> Tensor | None:
    """The gain per output channel when it is the same across each channel, else None."""
    if gain is None:
        return torch.ones(channels, dtype=torch.float64)
    per = gain.reshape(channels, -1)
    return torch.from_numpy(per[:, 0].copy()) if bool((per == per[:, :1]).all()) else None


def _native(ops: list[tuple[str, Any, bool]], src: Unit, tgt: Unit) -> tuple[str, dict[str, Any]] | None:
    """A convolution (or pooling as one) for a one-node path, as ``(type, constructor arguments)``."""
    if len(ops) != 1 or len(src.shape) < 2:
        return None
    name, node, owned = ops[0]
    kind = type(node).__name__
    dims = len(src.shape) - 1
    if kind in ("Conv1d", "Conv2d") and dims == (1 if kind == "Conv1d" else 2):
        w = torch.from_numpy(np.array(node.weight, dtype=np.float64))
        b = torch.from_numpy(np.array(node.bias, dtype=np.float64)) if owned else None
        return kind, {"kernel_size": tuple(w.shape[2:]), "stride": _ints(node.stride, dims),
                      "padding": _padding(name, node, dims), "dilation": _ints(node.dilation, dims),
                      "groups": int(np.asarray(node.groups)), "w": w, "b": b}
    if kind in ("SumPool2d", "AvgPool2d") and dims == 2:
        k = _ints(node.kernel_size, 2)
        channels = src.shape[0]
        w = torch.full((channels, 1, *k), 1.0 if kind == "SumPool2d" else 1.0 / math.prod(k), dtype=torch.float64)
        return "Conv2d", {"kernel_size": k, "stride": _ints(node.stride, 2), "padding": _ints(node.padding, 2),
                          "dilation": (1, 1), "groups": channels, "w": w, "b": None}
    return None


def _dense(path: Path, src: Unit, tgt: Unit, ops: list[tuple[str, Any, bool]]) -> tuple[Tensor, Tensor | None]:
    """Dense weights ``(source.n, target.n)`` and bias of a path (float64)."""
    n_src, n_tgt = math.prod(src.shape), math.prod(tgt.shape)
    kinds = [type(node).__name__ for _, node, _ in ops]
    if not ops:
        if src.shape != tgt.shape or n_src > IDENTITY_LIMIT:
            raise NIRImportError(f"{path.source!r} -> {path.target!r}: an edge straight between neuron nodes needs "
                                 f"equal shapes (got {src.shape}, {tgt.shape}) and at most {IDENTITY_LIMIT} neurons")
        return torch.eye(n_src, dtype=torch.float64), None
    first = ops[0][1]
    whole = kinds[:-1] == ["Flatten"] and int(np.asarray(first.start_dim)) in (0, -len(src.shape)) \
        and int(np.asarray(first.end_dim)) == -1
    flat_ok = not kinds[:-1] or whole
    if kinds[-1] in ("Affine", "Linear") and flat_ok:
        name, node, owned = ops[-1]
        w = np.asarray(node.weight, dtype=np.float64)
        if w.shape != (n_tgt, n_src):
            raise NIRImportError(f"NIR node {name!r}: weight {w.shape}, expected (target.n, source.n) = "
                                 f"{(n_tgt, n_src)} for {path.source!r} -> {path.target!r}")
        b = torch.from_numpy(np.asarray(node.bias, dtype=np.float64).reshape(-1)) if kinds[-1] == "Affine" and owned \
            else None
        return torch.from_numpy(w.T.copy()), b
    return _composed(path, src, tgt, ops)


def _connection(net: Network, path: Path, units: dict[str, Unit], h: float) -> Any:
    src, tgt = units[path.source], units[path.target]
    source, target = cast(Nodes, net.layers[src.name]), cast(Nodes, net.layers[tgt.name])
    uniform, per_src, per_tgt, ops = _delays(path, src, tgt, h)
    gain = tgt.population.gain if tgt.population is not None else None
    native = _native(ops, src, tgt) if per_src is None and per_tgt is None else None
    if native is not None:
        kind, kw = native
        g = _channel_gain(gain, tgt.shape[0])
        if g is not None:
            kw["w"] = (kw["w"] * g.view(-1, *([1] * (kw["w"].dim() - 1)))).float()
            kw["b"] = None if kw["b"] is None else (kw["b"] * g).float()
            cls = Conv1dConnection if kind == "Conv1d" else Conv2dConnection
            return cls(source, target, kw.pop("kernel_size"), kw.pop("stride"), kw.pop("padding"),
                       kw.pop("dilation"), kw.pop("groups"), delay=uniform, **kw)
    w, b = _dense(path, src, tgt, ops)
    if gain is not None:
        g = torch.from_numpy(gain.reshape(-1).copy())
        w, b = w * g, None if b is None else b * g
    delay: int | Tensor = uniform
    if per_src is not None or per_tgt is not None:
        d = torch.full(tuple(w.shape), uniform, dtype=torch.int64)
        if per_src is not None:
            d += torch.from_numpy(per_src.reshape(-1, 1))
        if per_tgt is not None:
            d += torch.from_numpy(per_tgt.reshape(1, -1))
        delay = d
    return Connection(source, target, w.float(), b=None if b is None else b.float(), delay=delay)


def _population(unit: Unit) -> Nodes:
    if unit.population is None:
        return Input(shape=unit.shape)
    return cast(Nodes, lookup("nodes", unit.population.type)(shape=unit.shape, **unit.population.params))


def _from_nodes(graph: Any, dt: float) -> Network:
    read = read_graph(graph, dt)
    if not read.units:
        raise NIRImportError("the NIR graph has no Input or neuron nodes")
    net = Network(dt=dt, learning=False, propagation="in_order")
    for unit in read.units:
        try:
            net.add_layer(_population(unit), unit.name)
        except (TypeError, ValueError) as e:
            raise NIRImportError(f"NIR node {unit.enter!r}: snnrl rejects its parameters: {e}") from e
    units = {u.name: u for u in read.units}
    counts: dict[tuple[str, str], int] = {}
    for path in read.paths:
        key = (path.source, path.target)
        counts[key] = counts.get(key, 0) + 1
        name = f"{path.source}->{path.target}" + (f"#{counts[key]}" if counts[key] > 1 else "")
        try:
            conn = _connection(net, path, units, dt * MS)
        except (TypeError, ValueError) as e:
            if isinstance(e, NIRImportError):
                raise
            raise NIRImportError(f"{name}: {e}") from e
        net.add_connection(conn, path.source, path.target, name)
    return net


# ------------------------------------------------------------------------------- public
def _graph_dt(graph: Any) -> float | None:
    """The time step (ms) a graph states in its metadata (``dt`` in s), or None."""
    meta = getattr(graph, "metadata", None) or {}
    header = _meta.read_header(meta)
    if header is not None and "dt_ms" in header:
        return float(header["dt_ms"])
    value = meta.get("dt") if isinstance(meta, dict) else None
    try:
        return float(np.asarray(value)) / MS if value is not None else None
    except (TypeError, ValueError):
        return None


def from_nir(graph: Any, *, dt: float | None = None) -> Network:
    """Build an snnrl network from a NIR graph (a ``nir.NIRGraph`` or the path of a ``.nir`` file).

    Args:
        graph: the graph or its file.
        dt: time step in ms. Default: the one the graph states (snnrl writes it); a graph that
            states none needs it (snnTorch writes its graphs for ``dt = 0.1`` ms). A ``dt`` other
            than the graph's own rebuilds the network from the NIR nodes for that step.

    Returns:
        The network (on the CPU): exactly the exported one for an unedited graph written by
        :func:`~snnrl.nir.to_nir`, else the one the NIR nodes describe (see the module docstring).

    Raises:
        NIRImportError: nodes snnrl cannot simulate, or no ``dt``.
        ImportError: ``nir`` is not installed (``pip install 'snnrl[nir]'``).
    """
    nir = require_nir("NIR import")
    if isinstance(graph, (str, os.PathLike)):
        if not os.path.isfile(graph):
            raise FileNotFoundError(f"no NIR file at {os.fspath(graph)!r}")
        try:
            graph = nir.read(os.fspath(graph))
        except ValueError:  # nir 1.0.8's type check miscounts a grouped convolution's input channels
            graph = nir.read(os.fspath(graph), type_check=False)
    if type(graph).__name__ != "NIRGraph":
        raise TypeError(f"graph must be a nir.NIRGraph or a file path, got {type(graph).__name__}")
    own = _graph_dt(graph)
    if dt is not None and not (isinstance(dt, (int, float)) and math.isfinite(dt) and dt > 0):
        raise NIRImportError(f"dt must be a positive number of ms, got {dt!r}")
    header = _meta.read_header(graph.metadata)
    if header is not None and (dt is None or dt == own):
        net = _from_header(graph, header)
        if net is not None:
            return net
    step = dt if dt is not None else own
    if step is None:
        raise NIRImportError("the graph does not state its time step: pass dt=<ms> (snnTorch writes graphs for "
                             "dt = 0.1 ms)")
    return _from_nodes(graph, float(step))


def read_nir(path: str | os.PathLike[str], *, dt: float | None = None) -> Network:
    """Read a ``.nir`` file into a network (:func:`from_nir`)."""
    return from_nir(path, dt=dt)
