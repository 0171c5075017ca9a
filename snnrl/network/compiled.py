"""A compiled multi-step path for networks of LIF layers: a whole run in one call.

An agent's decision window is a few steps of small layers, where the eager step loop spends most
of its time dispatching tensor operations (about 15 per layer and step, a few microseconds each)
rather than computing. For networks of a common shape, :func:`try_run` does the whole run in one
kernel compiled by `Numba <https://numba.pydata.org>`_ (the ``fast`` extra: ``pip install
'snnrl[fast]'``). Without Numba, or with the environment variable ``SNNRL_COMPILED=0``, or for
any other network, the network uses its eager loop; the results are the same either way
(``tests/network/test_compiled.py`` compares the two).

The shape it takes:

* synchronous propagation, CPU tensors of one floating dtype, no clamps or voltage injections;
* layers: ``Input`` layers that receive external input and are read only through connections
  whose whole-run input is computed in advance (see ``Network._precompute``), and ``LIFNodes`` /
  ``IFNodes`` / ``BoostedLIFNodes`` without traces or input sums;
* connections between the LIF layers: plain dense ``Connection`` (optional bias; no delay, random
  transmission, intensity or mask-free requirements beyond that);
* monitors: :class:`~snnrl.network.Monitor` of spikes ``"s"`` of the LIF layers only;
* learning: none in this run, or rules that take the whole run at once (``accepts_sequence``):
  the kernel returns every layer's spikes for them.

What the kernel computes per step ``t`` and LIF neuron ``i``, in the eager loop's order:

.. math::
    x_i &= P_{t,i} + \\sum_c \\Big(\\sum_{j \\in \\text{active}_c(t-1)} W^c_{j i} + b^c_i\\Big) \\\\
    v_i &\\leftarrow r_i + d_i v_i + x_i \\quad (x_i \\text{ ignored while refractory}), \\qquad
    s_i = v_i \\ge \\vartheta_i, \\qquad v_i \\leftarrow v_{\\text{reset}} \\text{ if } s_i

with ``P`` the precomputed input from the ``Input`` layers (one batched product, as in the eager
loop), the inner sum over the source's spikes of the previous step in index order (the order of
the eager loop's row gather), then the lower bound and the refractory countdown. Sums over
spikes in a dense product (``torch.mm``, used by the eager loop when more than
``sparse_threshold`` of the source fires) may round differently in the last bit.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np
import torch
from torch import Tensor

from snnrl.functional.lif import LIFState

if TYPE_CHECKING:
    from snnrl.network.network import _Plan

__all__ = ["available", "try_run"]

_kernel: Any = None
_checked = False
#: ``SNNRL_COMPILED=0`` in the environment (read once, at import) turns the compiled path off.
_enabled = os.environ.get("SNNRL_COMPILED", "1") != "0"


def available() -> bool:
    """Whether the compiled path can run: Numba importable and ``SNNRL_COMPILED`` not ``0``."""
    global _kernel, _checked
    if not _enabled:
        return False
    if not _checked:
        _checked = True
        try:
            from snnrl.network._lif_kernel import lif_window

            _kernel = lif_window
        except ImportError:
            _kernel = None
    return _kernel is not None


_LIF_TYPES: tuple[str, ...] = ("LIFNodes", "IFNodes", "BoostedLIFNodes")


class _Structure(NamedTuple):
    """What a plan's compiled run needs that does not change between runs."""

    lif: list[int]  # plan indices of the LIF layers, in plan order
    offsets: list[int]  # their first neuron in the concatenated state
    n: int  # neurons in all
    inputs: list[int]  # plan indices of the Input layers
    internal: list[int]  # connection indices between LIF layers, in plan order
    external: list[int]  # connection indices from Input layers (precomputed), in plan order
    fed: list[tuple[int, int, list[int]]]  # per LIF layer: plan index, offset, its precomputed connections
    conns: np.ndarray  # (6, connections): source offset, source n, target offset, target n, weight and bias offsets


def _structure(plan: _Plan) -> _Structure | None:
    """The plan's compiled layout, or None when it is not of the supported shape."""
    from snnrl.network.connections.dense import Connection
    from snnrl.network.nodes import Input

    lif, offsets, inputs = [], [], []
    n = 0
    dtypes = set()
    for li, layer in enumerate(plan.layers):
        if type(layer) is Input:
            if plan.incoming[li] or layer.traces or layer.sum_input:
                return None
            inputs.append(li)
        elif type(layer).__name__ in _LIF_TYPES and type(layer).__module__ == "snnrl.network.nodes":
            if layer.traces or layer.sum_input or not layer._device.type == "cpu":
                return None
            lif.append(li)
            offsets.append(n)
            n += layer.n
            dtypes.add(layer._dtype)
        else:
            return None
    if not lif or len(dtypes) != 1:
        return None
    where = dict(zip(lif, offsets, strict=True))
    internal, external = [], []
    src_l, nsrc_l, tgt_l, ntgt_l, woff_l, boff_l = [], [], [], [], [], []
    woff = boff = 0
    for ci, (conn, src, tgt) in enumerate(plan.conns):
        if tgt not in where:
            return None
        if src in where:
            if type(conn) is not Connection or not conn.__dict__.get("_plain", False) or not conn.precomputable \
                    or conn.intensity != 1.0 or conn.weight.dtype not in dtypes or not conn.weight.is_cpu:
                return None
            internal.append(ci)
            src_l.append(where[src])
            nsrc_l.append(conn.source.n)
            tgt_l.append(where[tgt])
            ntgt_l.append(conn.target.n)
            woff_l.append(woff)
            woff += conn.source.n * conn.target.n
            bias = conn._parameters.get("bias")
            boff_l.append(boff if bias is not None else -1)
            boff += conn.target.n if bias is not None else 0
        else:
            external.append(ci)
    conns = np.asarray([src_l, nsrc_l, tgt_l, ntgt_l, woff_l, boff_l], dtype=np.int64).reshape(6, len(internal))
    fed = [(li, off, [ci for ci in external if plan.conns[ci][2] == li]) for li, off in zip(lif, offsets, strict=True)]
    return _Structure(lif, offsets, n, inputs, internal, external, fed, conns)


def _signature(plan: _Plan) -> tuple:
    """What the compiled layout depends on besides the topology: the layers' kinds, dtypes,
    devices and options, the connections' kinds, weight dtypes and devices and whether they have
    a bias (checked at every run; a change rebuilds the layout)."""
    return (
        tuple((type(layer), layer._dtype, layer._device, layer.traces, layer.sum_input) for layer in plan.layers),
        tuple(_conn_signature(conn) for conn, _, _ in plan.conns),
    )


def _conn_signature(conn: Any) -> tuple:
    w = conn._parameters.get("weight")
    if w is None:  # pooling and other weightless connections (never compiled)
        return (type(conn),)
    intensity = getattr(conn, "intensity", None)
    return (type(conn), w.dtype, w.device, conn._parameters.get("bias") is None, conn.__dict__.get("_plain"),
            None if isinstance(intensity, Tensor) else intensity, conn.precomputable)


def _per_neuron(value: Tensor | None, layer: Any, fill: float) -> Tensor:
    """A discretised parameter as a flat ``(layer.n,)`` tensor (``fill`` when it is None)."""
    if value is None:
        return torch.full((layer.n,), fill, dtype=layer._dtype)
    return torch.as_tensor(value, dtype=layer._dtype).expand(layer.shape).reshape(-1)


def _parameters(plan: _Plan, st: _Structure) -> np.ndarray:
    """The LIF layers' discretised parameters, concatenated, ``(9, n)``: whether it leaks, decay,
    rest term, threshold, reset, refractory period, whether it is used, lower bound, and minus
    the step length (in the first column)."""
    rows: list[list[Tensor]] = [[] for _ in range(8)]
    first = plan.layers[st.lif[0]]
    for li in st.lif:
        layer = plan.layers[li]
        k = layer._k
        leak = k.decay is not None
        values = (
            torch.full((layer.n,), float(leak), dtype=layer._dtype),
            _per_neuron(k.decay if leak else None, layer, 1.0),
            _per_neuron(k.rest_term if leak else None, layer, 0.0),
            _per_neuron(k.thresh, layer, 0.0),
            _per_neuron(k.reset, layer, 0.0),
            _per_neuron(k.refrac, layer, 0.0),
            torch.full((layer.n,), float(k.refrac is not None), dtype=layer._dtype),
            _per_neuron(k.lbound, layer, -np.inf),
        )
        for row, value in zip(rows, values, strict=True):
            row.append(value)
    table = torch.stack([torch.cat(row) for row in rows] + [torch.full((st.n,), -first.dt, dtype=first._dtype)])
    return table.numpy()


def try_run(net: Any, plan: _Plan, ext: list[Tensor | None], pre: list[Tensor | None], steps: int,
            has_controls: bool, monitors: list, plastic: list, whole_run: bool,
            wanted: dict[tuple[int, str], Tensor]) -> bool:
    """Run ``steps`` steps of ``net`` in the compiled kernel when the run is of the supported
    shape (see the module docstring); returns False (having changed nothing) when the eager
    loop must run instead.

    ``wanted`` names what to record after every step for the rules that take the whole run,
    ``{(plan index, name): ...}``; its values are replaced by the recordings ``(T, B, *shape)``
    (``"s"``, ``"v"`` and ``"refrac_count"`` of LIF layers; anything else sends the run to the
    eager loop).

    On success the layers' states, last spikes and the spike monitors are exactly as the eager
    loop leaves them; the ``Input`` layers end with the run's last input.
    """
    if has_controls or steps < 1 or net.propagation != "synchronous" or (plastic and not whole_run):
        return False
    if any(name not in ("s", "v", "refrac_count") for _, name in wanted) or not available():
        return False
    ready = _prepare(net, plan, ext, pre, monitors, wanted)
    if ready is None:
        return False
    st, params, watched = ready
    x, state, s0, weights, biases = _pack(plan, st, params, pre, steps, net.batch_size)
    out = np.empty(x.shape, dtype=np.bool_)
    record_state = any(name != "s" for _, name in wanted)
    rec = np.empty((steps if record_state else 0, *state.shape), dtype=x.dtype)
    _kernel(x, state, s0, params, st.conns, weights, biases, out, rec)
    spikes = _unpack(plan, st, torch.from_numpy(state), torch.from_numpy(out), torch.from_numpy(rec), wanted)
    for li in st.inputs:
        plan.layers[li].step(ext[li][steps - 1])  # type: ignore[index]  # _prepare checked it is given
    for mon in monitors:
        mon.record_run("s", spikes[watched[id(mon)]])
    return True


def _prepare(net: Any, plan: _Plan, ext: list[Tensor | None], pre: list[Tensor | None], monitors: list,
             wanted: dict[tuple[int, str], Tensor]) -> tuple[_Structure, np.ndarray, dict[int, int]] | None:
    """The run's layout, the layers' parameters and the monitored layers, or None when this run
    is not of the supported shape (the layout and parameters are cached on the network)."""
    key = _signature(plan)
    cache = net.__dict__.get("_compiled")
    if cache is None or cache[0] is not plan or cache[1] != key:
        net.__dict__["_compiled"] = cache = (plan, key, _structure(plan), None)
    st = cache[2]
    if st is None or any(ext[li] is None for li in st.inputs) or any(pre[ci] is None for ci in st.external) \
            or any(ext[li] is not None for li in st.lif) or any(li not in st.lif for li, _ in wanted):
        return None  # (the rules of a whole run read LIF layers, or given inputs that are never recorded)
    watched = {}
    for mon in monitors:
        if type(mon).__name__ != "Monitor" or mon.sparse or tuple(mon.state_vars) != ("s",):
            return None
        li = next((i for i in st.lif if plan.layers[i] is mon.obj), None)
        if li is None:
            return None
        watched[id(mon)] = li
    params = cache[3]
    ks = [plan.layers[li]._k for li in st.lif]
    if params is None or len(params[0]) != len(ks) or any(a is not b for a, b in zip(params[0], ks, strict=True)):
        params = (ks, _parameters(plan, st))  # the layers' discretised parameters, as they are now
        net.__dict__["_compiled"] = (plan, key, st, params)
    return st, params[1], watched


def _pack(plan: _Plan, st: _Structure, params: np.ndarray, pre: list[Tensor | None], steps: int,
          batch: int) -> tuple[np.ndarray, ...]:
    """The kernel's inputs: the precomputed input of every LIF neuron ``(T, B, n)``, summed in
    plan order (as the eager loop adds them), the state ``(2, B, n)``, the spikes before the run
    ``(B, n)``, the weights and biases of the connections between LIF layers (flat). numpy for
    the slicing: a tensor's indexing costs microseconds per call."""
    layers = plan.layers
    dtype = params.dtype
    x = np.empty((steps, batch, st.n), dtype=dtype)
    for li, off, fed in st.fed:
        n = layers[li].n
        if not fed:
            x[:, :, off:off + n] = 0.0
            continue
        x[:, :, off:off + n] = pre[fed[0]].numpy().reshape(steps, batch, n)  # type: ignore[union-attr]  # 0 + p is p
        for ci in fed[1:]:
            x[:, :, off:off + n] += pre[ci].numpy().reshape(steps, batch, n)  # type: ignore[union-attr]
    state = np.empty((2, batch, st.n), dtype=dtype)
    s0 = np.empty((batch, st.n), dtype=np.bool_)
    for li, off in zip(st.lif, st.offsets, strict=True):
        layer = layers[li]
        n = layer.n
        v, rc = layer.state
        state[0, :, off:off + n] = v.numpy().reshape(batch, n)
        state[1, :, off:off + n] = rc.numpy().reshape(batch, n)
        s0[:, off:off + n] = layer.s.numpy().reshape(batch, n)
    w_parts, b_parts = [], []
    for ci in st.internal:
        conn = plan.conns[ci][0]
        w_parts.append(conn.weight.detach().numpy().reshape(-1))
        bias = conn._parameters.get("bias")
        if bias is not None:
            b_parts.append(bias.detach().numpy().reshape(-1))
    weights = w_parts[0] if len(w_parts) == 1 else np.concatenate(w_parts) if w_parts else np.zeros(0, dtype)
    biases = b_parts[0] if len(b_parts) == 1 else np.concatenate(b_parts) if b_parts else np.zeros(0, dtype)
    return x, state, s0, weights, biases


def _unpack(plan: _Plan, st: _Structure, state: Tensor, out: Tensor, rec: Tensor,
            wanted: dict[tuple[int, str], Tensor]) -> dict[int, Tensor]:
    """Set every LIF layer's state and last spikes from the kernel's buffers (views of this
    run's own arrays: the eager loop never writes into a state in place), fill ``wanted`` and
    return each layer's spikes ``(T, B, *shape)``."""
    steps, batch = out.shape[0], out.shape[1]
    single = len(st.lif) == 1
    spikes: dict[int, Tensor] = {}
    for li, off in zip(st.lif, st.offsets, strict=True):
        layer = plan.layers[li]
        n = layer.n
        shape = (batch, *layer.shape)
        seq = out if single else out[:, :, off:off + n]
        vs = state if single else state[:, :, off:off + n]
        if len(shape) > 2:
            seq, vs = seq.reshape(steps, *shape), vs.reshape(2, *shape)
        spikes[li] = seq
        for name, row in (("s", -1), ("v", 0), ("refrac_count", 1)):
            if (li, name) in wanted:
                wanted[(li, name)] = seq.contiguous() if row < 0 else rec[:, row, :, off:off + n].reshape(steps, *shape)
        d = layer.__dict__
        d["state"] = LIFState(vs[0], vs[1])
        d["s"] = seq[steps - 1]
    return spikes
