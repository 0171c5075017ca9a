"""Monitors: record state variables of populations and connections into preallocated buffers.

A monitor is a hook the network calls once per step. It copies each variable into a buffer
on the variable's own device (no host copy per step). With ``time=None`` the buffer grows
(the network reserves room for a whole ``run`` at once, doubling when needed); with
``time=N`` it is a ring buffer holding the ``N`` most recent steps. ``get(var)`` returns a
time-major tensor ``(T, B, ...)`` in chronological order. A network without monitors does no
monitoring work at all.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import torch
from torch import Tensor

from snnrl import _checks as checks
from snnrl.network.connections import AbstractConnection
from snnrl.network.nodes import Nodes
from snnrl.registry import register

__all__ = ["Monitor", "NetworkMonitor"]

Recordable = Nodes | AbstractConnection


@register("monitor")
class Monitor:
    """Record ``state_vars`` of one population or connection.

    Args:
        obj: the population or connection to watch.
        state_vars: names of its variables (see ``obj.state_names``).
        time: keep only the last ``time`` steps (ring buffer); None keeps everything.
        sparse: store boolean variables (spikes) as the indices of their ``True`` entries
            (memory proportional to the spike count). ``get`` then returns a sparse COO tensor.
            On GPU this costs a device-to-host sync per step.

    Shape:
        ``get(var)``: ``(T, *var.shape)``, usually ``(T, B, *shape)``.
    """

    def __init__(
        self, obj: Recordable, state_vars: Sequence[str], time: int | None = None, sparse: bool = False
    ) -> None:
        if not isinstance(obj, (Nodes, AbstractConnection)):
            raise TypeError(f"can only monitor Nodes or connections, got {type(obj).__name__}")
        if isinstance(state_vars, str):
            state_vars = (state_vars,)
        state_vars = tuple(state_vars)
        if not state_vars:
            raise ValueError("state_vars is empty; name at least one variable to record")
        known = obj.state_names
        for var in state_vars:
            if var not in known:
                raise ValueError(f"{type(obj).__name__} has no state variable {var!r}; available: {list(known)}")
        if time is not None:
            time = checks.integer("time", time, 1, what="a positive int (ring buffer length) or None")
        self.obj = obj
        self.state_vars = state_vars
        self.time = time
        self.sparse = bool(sparse)
        self.reset_state_variables()

    def reset_state_variables(self) -> None:
        """Forget everything recorded."""
        self._buffers: dict[str, Tensor] = {}
        self._sparse: dict[str, list[Tensor]] = {v: [] for v in self.state_vars}
        self._shapes: dict[str, tuple[int, ...]] = {}
        self._count = 0
        self._reserve_hint = 1

    def reserve(self, steps: int) -> None:
        """Make room for ``steps`` more records (called by the network before a run)."""
        if self.time is not None:
            return
        for var, buf in self._buffers.items():
            need = self._count + steps
            if need > buf.shape[0]:
                grown = buf.new_zeros((max(need, 2 * buf.shape[0]), *buf.shape[1:]))
                grown[: self._count] = buf[: self._count]
                self._buffers[var] = grown
        self._reserve_hint = max(steps, 1)

    def _value(self, var: str) -> Tensor:
        value = getattr(self.obj, var)
        if value is None:
            raise ValueError(f"{var!r} is not available on {type(self.obj).__name__}")
        return value

    def record(self) -> None:
        """Append the current value of every watched variable."""
        t = self._count
        for var in self.state_vars:
            value = self._value(var)
            if self.sparse and value.dtype == torch.bool:
                self._shapes[var] = tuple(value.shape)
                idx = value.nonzero()
                stamp = torch.full((idx.shape[0], 1), t, dtype=idx.dtype, device=idx.device)
                self._sparse[var].append(torch.cat([stamp, idx], dim=1))
                continue
            buf = self._buffers.get(var)
            if buf is None or tuple(buf.shape[1:]) != tuple(value.shape) or buf.dtype != value.dtype \
                    or buf.device != value.device:
                if buf is not None and t:
                    raise RuntimeError(
                        f"{var!r} changed shape/dtype/device during recording ({tuple(buf.shape[1:])} -> "
                        f"{tuple(value.shape)}); call reset_state_variables() first"
                    )
                length = self.time or self._reserve_hint
                buf = torch.zeros((length, *value.shape), dtype=value.dtype, device=value.device)
                self._buffers[var] = buf
            if self.time is None:
                if t >= buf.shape[0]:
                    self.reserve(max(buf.shape[0], 1))
                    buf = self._buffers[var]
                buf[t].copy_(value)
            else:
                buf[t % self.time].copy_(value)
        self._count = t + 1

    def record_run(self, var: str, values: Tensor) -> None:
        """Append a whole run of ``var`` at once: the same as :meth:`record` after each of its
        steps (used by compiled runs). Only for a monitor that records ``var`` alone, densely.

        Shape:
            ``values``: ``(T, *var.shape)``.
        """
        if self.state_vars != (var,) or self.sparse:
            raise ValueError(f"record_run needs a dense monitor of {var!r} alone; this one records "
                             f"{list(self.state_vars)} (sparse={self.sparse})")
        steps, t = values.shape[0], self._count
        if steps == 0:
            return
        buf = self._buffers.get(var)
        shape = tuple(values.shape[1:])
        if buf is None or tuple(buf.shape[1:]) != shape or buf.dtype != values.dtype or buf.device != values.device:
            if buf is not None and t:
                raise RuntimeError(f"{var!r} changed shape/dtype/device during recording ({tuple(buf.shape[1:])} -> "
                                   f"{shape}); call reset_state_variables() first")
            length = self.time or max(self._reserve_hint, steps)
            buf = self._buffers[var] = torch.zeros((length, *shape), dtype=values.dtype, device=values.device)
        if self.time is None:
            if t + steps > buf.shape[0]:
                self.reserve(steps)
                buf = self._buffers[var]
            buf[t : t + steps].copy_(values)
        elif steps == self.time and t % steps == 0:  # a ring as long as the run (a policy's window)
            buf.copy_(values)
        else:
            if steps > self.time:  # only the last `time` steps stay, at their ring positions
                values, t = values[steps - self.time :], t + steps - self.time
            start = t % self.time
            head = min(values.shape[0], self.time - start)
            buf[start : start + head].copy_(values[:head])
            if head < values.shape[0]:
                buf[: values.shape[0] - head].copy_(values[head:])
        self._count = self._count + steps

    def __len__(self) -> int:
        """Number of steps held (at most ``time`` for a ring buffer)."""
        return self._count if self.time is None else min(self._count, self.time)

    def get(self, var: str) -> Tensor:
        """The recording of ``var``, oldest step first.

        Shape:
            ``(T, *var.shape)``: dense, or sparse COO when the monitor is sparse and ``var`` is boolean.
        """
        if var not in self.state_vars:
            raise ValueError(f"this monitor does not record {var!r}; it records {list(self.state_vars)}")
        if self.sparse and var in self._shapes:
            return self._get_sparse(var)
        buf = self._buffers.get(var)
        if buf is None:
            value = self._value(var)
            return value.new_zeros((0, *value.shape))
        if self.time is None:
            return buf[: self._count]
        if self._count <= self.time:
            return buf[: self._count]
        start = self._count % self.time
        return torch.cat([buf[start:], buf[:start]])

    def _get_sparse(self, var: str) -> Tensor:
        shape = self._shapes[var]
        chunks = self._sparse[var]
        first = self._count - len(self)
        idx = torch.cat(chunks) if chunks else torch.zeros((0, 1 + len(shape)), dtype=torch.long)
        idx = idx[idx[:, 0] >= first]
        idx[:, 0] -= first
        if self.time is not None:  # drop chunks that fell out of the window
            self._sparse[var] = [c for c in chunks if c.shape[0] == 0 or int(c[0, 0]) >= first]
        values = torch.ones(idx.shape[0], dtype=torch.bool, device=idx.device)
        return torch.sparse_coo_tensor(idx.t(), values, (len(self), *shape), check_invariants=True).coalesce()


@register("monitor")
class NetworkMonitor:
    """Monitors for many layers and connections of a network at once.

    Args:
        network: the network (a :class:`snnrl.network.Network`).
        layers: layer names to watch (default: all).
        connections: connection names to watch (default: all).
        state_vars: variables to record where the object has them.
        time: ring-buffer length, or None.

    ``get()`` returns ``{name: {var: tensor (T, ...)}}``.
    """

    def __init__(
        self,
        network: Any,
        layers: Iterable[str] | None = None,
        connections: Iterable[str] | None = None,
        state_vars: Sequence[str] = ("s", "v"),
        time: int | None = None,
    ) -> None:
        layer_names = list(network.layers) if layers is None else list(layers)
        conn_names = list(network.connections) if connections is None else list(connections)
        self.monitors: dict[str, Monitor] = {}
        for group, names in (("layers", layer_names), ("connections", conn_names)):
            table = getattr(network, group)
            for name in names:
                if name not in table:
                    raise ValueError(f"unknown {group[:-1]} {name!r}; known: {list(table)}")
                obj = table[name]
                wanted = [v for v in state_vars if v in obj.state_names]
                if wanted:
                    self.monitors[name] = Monitor(obj, wanted, time=time)
        if not self.monitors:
            raise ValueError(f"none of the watched objects has any of the variables {list(state_vars)}")
        self.time = time

    def reserve(self, steps: int) -> None:
        for m in self.monitors.values():
            m.reserve(steps)

    def record(self) -> None:
        for m in self.monitors.values():
            m.record()

    def reset_state_variables(self) -> None:
        for m in self.monitors.values():
            m.reset_state_variables()

    def get(self) -> dict[str, dict[str, Tensor]]:
        return {name: {v: m.get(v) for v in m.state_vars} for name, m in self.monitors.items()}

    def save(self, path: str) -> None:
        """Write all recordings to a ``.npz`` file (arrays named ``<object>/<var>``)."""
        import numpy as np

        arrays = {f"{name}/{var}": t.to_dense().cpu().numpy() if t.is_sparse else t.cpu().numpy()
                  for name, d in self.get().items() for var, t in d.items()}
        np.savez(path, **arrays)
