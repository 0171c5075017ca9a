"""The :class:`Network`: named populations, connections and monitors, simulated in time steps.

Order of one step (``propagation="synchronous"``, the default, as in BindsNET): every
connection computes its input from the spikes of the *previous* step, then every population
advances in insertion order with the sum of its inputs plus any external input, then learning
rules update, then monitors record. So each connection has an implicit one-step delay and a
feed-forward chain of ``k`` connections takes ``k`` steps to carry a spike through.

With ``propagation="in_order"`` a population's input is computed just before it advances, so
spikes flow forward through the whole chain within one step (connections from populations
later in insertion order, e.g. recurrent ones, still see the previous step's spikes).

Inputs are time-major: ``run(inputs={"X": tensor (T, B, *shape)})``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, NamedTuple

import torch
from torch import Tensor, nn

from snnrl import _checks as checks
from snnrl._tensors import all_finite, as_dtype
from snnrl.network.compiled import try_run as compiled_run
from snnrl.network.connections import AbstractConnection
from snnrl.network.modulator import check_modulator, check_signal, with_signal
from snnrl.network.monitors import Monitor, NetworkMonitor
from snnrl.network.nodes import Input, Nodes

__all__ = ["Network"]

PROPAGATION_MODES = ("synchronous", "in_order")

#: Largest precomputed input block (elements) for inputs known before a run.
_PRECOMPUTE_LIMIT = 1 << 25


class _Plan(NamedTuple):
    """Flattened topology for the step loop (no dict lookups per step)."""

    names: list[str]
    layers: list[Nodes]
    conns: list[tuple[AbstractConnection, int, int]]  # (connection, source index, target index)
    incoming: list[list[int]]  # connection indices per target layer


def _check_name(kind: str, name: str, table: Mapping[str, Any]) -> None:
    if not isinstance(name, str) or not name or "." in name:
        raise ValueError(f"{kind} name must be a non-empty string without '.', got {name!r}")
    if name in table:
        raise ValueError(f"a {kind} named {name!r} already exists")


class Network(nn.Module):
    """A spiking network simulated with time step ``dt``.

    Args:
        dt: step length in ms (> 0).
        batch_size: initial batch size; ``run`` adapts it to its inputs.
        learning: start in training mode (learning rules and adaptive thresholds active).
        propagation: ``"synchronous"`` (default) or ``"in_order"`` (see the module docstring).

    Attributes:
        compiled: let runs of the supported shape go through the compiled multi-step kernel
            (:mod:`snnrl.network.compiled`; needs the ``fast`` extra). True by default; False
            always runs the eager step loop (same results).

    Example:
        >>> import torch
        >>> from snnrl import Network, Input, LIFNodes, Connection
        >>> net = Network(dt=1.0)
        >>> net.add_layer(Input(100), "X")
        >>> net.add_layer(LIFNodes(10), "Y")
        >>> _ = net.add_connection(Connection(net.layers["X"], net.layers["Y"]), "X", "Y")
        >>> net.run({"X": torch.rand(50, 1, 100) < 0.1})
    """

    def __init__(
        self, dt: float = 1.0, batch_size: int = 1, learning: bool = True, propagation: str = "synchronous"
    ) -> None:
        super().__init__()
        dt = checks.positive("dt", dt, what="a positive number of ms")
        if propagation not in PROPAGATION_MODES:
            raise ValueError(f"unknown propagation {propagation!r}; expected one of {PROPAGATION_MODES}")
        batch_size = checks.integer("batch_size", batch_size, 1, what="a positive int")
        self.dt = dt
        self.batch_size = batch_size
        self.propagation = propagation
        self.layers = nn.ModuleDict()
        self.connections = nn.ModuleDict()
        self.monitors: dict[str, Monitor | NetworkMonitor] = {}
        self.endpoints: dict[str, tuple[str, str]] = {}
        self.reward: float | Tensor | None = None
        self._plan: _Plan | None = None
        self.compiled = True
        self.train(learning)

    # --------------------------------------------------------------- building
    @property
    def learning(self) -> bool:
        """Whether learning is on (same as ``training``; set with ``train(mode)``)."""
        return self.training

    def add_layer(self, layer: Nodes, name: str) -> None:
        """Add a population under ``name``."""
        if not isinstance(layer, Nodes):
            raise TypeError(f"layer must be a Nodes instance, got {type(layer).__name__}")
        _check_name("layer", name, self.layers)
        if any(existing is layer for existing in self.layers.values()):
            raise ValueError(f"this population is already in the network; cannot add it again as {name!r}")
        layer.set_dt(self.dt)
        layer.set_batch_size(self.batch_size)
        layer.train(self.training)
        self.layers[name] = layer
        self._plan = None

    def add_connection(
        self, connection: AbstractConnection, source: str, target: str, name: str | None = None
    ) -> str:
        """Add ``connection`` from layer ``source`` to layer ``target``; returns its name.

        The default name is ``"source->target"``; several connections between the same two
        layers need explicit, distinct names.
        """
        if not isinstance(connection, AbstractConnection):
            raise TypeError(f"connection must be an AbstractConnection, got {type(connection).__name__}")
        for role, layer_name, layer in (("source", source, connection.source), ("target", target, connection.target)):
            if layer_name not in self.layers:
                raise ValueError(f"unknown {role} layer {layer_name!r}; known layers: {list(self.layers)}")
            if self.layers[layer_name] is not layer:
                raise ValueError(f"the connection's {role} is not the layer named {layer_name!r} in this network")
        name = f"{source}->{target}" if name is None else name
        _check_name("connection", name, self.connections)
        self.connections[name] = connection
        self.endpoints[name] = (source, target)
        self._plan = None
        return name

    def add_monitor(self, monitor: Monitor | NetworkMonitor, name: str) -> None:
        """Add a monitor; it records after every step."""
        if not isinstance(monitor, (Monitor, NetworkMonitor)):
            raise TypeError(f"monitor must be a Monitor or NetworkMonitor, got {type(monitor).__name__}")
        _check_name("monitor", name, self.monitors)
        self.monitors[name] = monitor

    def _get_plan(self) -> _Plan:
        if self._plan is None:
            names = list(self.layers)
            index = {n: i for i, n in enumerate(names)}
            conns = []
            incoming: list[list[int]] = [[] for _ in names]
            for cname, conn in self.connections.items():
                src, tgt = self.endpoints[cname]
                incoming[index[tgt]].append(len(conns))
                conns.append((conn, index[src], index[tgt]))
            self._plan = _Plan(names, [self.layers[n] for n in names], conns, incoming)
        return self._plan

    # ------------------------------------------------------------------ state
    def set_batch_size(self, batch_size: int) -> None:
        """Change the batch size of every population; resets state and monitors."""
        self.batch_size = checks.integer("batch_size", batch_size, 1, what="a positive int")
        for layer in self.layers.values():
            layer.set_batch_size(batch_size)
        for monitor in self.monitors.values():
            monitor.reset_state_variables()

    def reset_state_variables(self, mask: Tensor | None = None) -> None:
        """Reset populations, connections and monitors (learned weights and thresholds stay).

        Args:
            mask: bool ``(B,)``: reset only the batch elements where it is True (the
                environments of a vector env whose episode ended): their voltages, spikes and
                traces (``Nodes.reset_state_variables(mask)``), their learning-rule traces and
                eligibility (``rule.reset_state_variables(mask)``) and the spikes in flight in
                their connection delay buffers. Monitors keep their records and other
                connection state (e.g. a pooling connection's rate estimate) is left alone.
                None (default) resets everything, monitors included.
        """
        if mask is None:
            for layer in self.layers.values():
                layer.reset_state_variables()
            for conn in self.connections.values():
                conn.reset_state_variables()
            for monitor in self.monitors.values():
                monitor.reset_state_variables()
            self.reward = None
            return
        if not isinstance(mask, Tensor) or mask.dtype != torch.bool or tuple(mask.shape) != (self.batch_size,):
            got = (tuple(mask.shape), mask.dtype) if isinstance(mask, Tensor) else type(mask).__name__
            raise ValueError(f"reset mask must be a bool tensor of shape (B,) = ({self.batch_size},), got {got}")
        for layer in self.layers.values():
            layer.reset_state_variables(mask.to(layer._device))
        for conn in self.connections.values():
            if conn.rule is not None:
                rule_mask = mask.to(conn.weight.device) if hasattr(conn, "weight") else mask
                if getattr(conn.rule, "batch_size", self.batch_size) == self.batch_size:
                    conn.rule.reset_state_variables(rule_mask)
                else:  # the rule has not seen this batch size yet: its state is re-allocated, zeroed
                    conn.rule.reset_state_variables()
            ring = conn.__dict__.get("_ring")
            if ring is not None and ring.dim() >= 2 and ring.shape[1] % self.batch_size == 0:
                # (a stale ring of another batch size is re-allocated at the next step anyway)
                # (delay, B, *source.shape) or, with per-synapse delays, (slots, B * target.n)
                view = ring.view(ring.shape[0], self.batch_size, -1)
                view[:, mask.to(ring.device)] = 0

    def _apply(self, fn: Callable[[Tensor], Tensor], recurse: bool = True) -> Network:  # type: ignore[override]
        super()._apply(fn, recurse)
        for monitor in self.monitors.values():
            monitor.reset_state_variables()
        return self

    # -------------------------------------------------------------- validation
    def _layer_index(self, kind: str, name: str) -> int:
        plan = self._get_plan()
        if name not in self.layers:
            raise ValueError(f"{kind}: unknown layer {name!r}; known layers: {plan.names}")
        return plan.names.index(name)

    def _check_inputs(self, inputs: Mapping[str, Tensor], time: float | None) -> tuple[int, int | None]:
        """Validate ``run`` inputs; returns ``(steps, batch size or None)``."""
        steps_in: int | None = None
        batch: int | None = None
        for name, x in inputs.items():
            index = self._layer_index("inputs", name)
            layer = self._get_plan().layers[index]
            if not isinstance(x, Tensor):
                raise TypeError(f"input for layer {name!r} must be a tensor, got {type(x).__name__}")
            if x.dim() != len(layer.shape) + 2 or tuple(x.shape[2:]) != layer.shape:
                raise ValueError(
                    f"input for layer {name!r} has shape {tuple(x.shape)}, expected (T, B, *{layer.shape})"
                )
            if x.dtype != torch.bool and not x.is_floating_point():
                raise TypeError(f"input for layer {name!r} has dtype {x.dtype}; expected bool spikes or floats")
            if x.device != layer._device:
                raise ValueError(f"input for layer {name!r} is on {x.device} but the network is on {layer._device}")
            if x.is_floating_point() and not all_finite(x):
                raise ValueError(f"input for layer {name!r} contains NaN or infinite values")
            if batch is not None and x.shape[1] != batch:
                raise ValueError(f"inputs disagree on the batch size: {name!r} has {x.shape[1]}, others {batch}")
            if x.shape[1] < 1:
                raise ValueError(f"input for layer {name!r} has an empty batch")
            batch = x.shape[1]
            steps_in = x.shape[0] if steps_in is None else min(steps_in, x.shape[0])
        if time is None:
            if steps_in is None:
                raise ValueError("give the simulation time (ms) or at least one input to take it from")
            return steps_in, batch
        checks.positive("time", time, strict=False, what="a non-negative number of ms")
        steps = round(time / self.dt)
        if abs(steps * self.dt - time) > 1e-6 * max(1.0, time):
            raise ValueError(f"time={time} ms is not a whole number of steps of dt={self.dt} ms")
        if steps_in is not None and steps_in < steps:
            raise ValueError(f"time={time} ms needs {steps} steps of input but the inputs have only {steps_in}")
        return steps, batch

    def _per_layer(
        self, kind: str, given: Mapping[str, Tensor | float] | None, steps: int, boolean: bool
    ) -> list[tuple[Tensor, bool] | None]:
        """Resolve clamp/unclamp/inject_v into ``[(tensor, varies_in_time) or None per layer]``."""
        plan = self._get_plan()
        out: list[tuple[Tensor, bool] | None] = [None] * len(plan.layers)
        for name, value in (given or {}).items():
            index = self._layer_index(kind, name)
            layer = plan.layers[index]
            full = (self.batch_size, *layer.shape)
            if not isinstance(value, Tensor):
                if boolean:
                    raise TypeError(f"{kind}[{name!r}] must be a bool tensor, got {type(value).__name__}")
                value = torch.tensor(float(value), device=layer._device)
            if boolean and value.dtype != torch.bool:
                raise TypeError(f"{kind}[{name!r}] must be a bool tensor, got dtype {value.dtype}")
            if not boolean and not all_finite(value):
                raise ValueError(f"{kind}[{name!r}] contains NaN or infinite values")
            if value.dim() == len(full) + 1 and tuple(value.shape) == (steps, *full):
                out[index] = (value, True)
                continue
            try:
                torch.broadcast_shapes(value.shape, full)
            except RuntimeError:
                raise ValueError(
                    f"{kind}[{name!r}] has shape {tuple(value.shape)}; expected one broadcastable to "
                    f"(B, *shape) = {full} or exactly (T, B, *shape) = {(steps, *full)}"
                ) from None
            out[index] = (value, False)
        return out

    def _check_reward(self, reward: float | Tensor | None) -> float | Tensor | None:
        return None if reward is None else check_modulator(reward, self.batch_size)

    def _apply_masks(self, masks: Mapping[str, Tensor] | None) -> None:
        for name, mask in (masks or {}).items():
            if name not in self.connections:
                raise ValueError(f"masks: unknown connection {name!r}; known: {list(self.connections)}")
            w = self.connections[name].weight
            if not isinstance(mask, Tensor) or mask.dtype != torch.bool or mask.shape != w.shape:
                got = (tuple(mask.shape), mask.dtype) if isinstance(mask, Tensor) else type(mask).__name__
                raise ValueError(f"masks[{name!r}] must be a bool tensor of shape {tuple(w.shape)}, got {got}")
            w.data.masked_fill_(~mask, 0.0)

    # -------------------------------------------------------------- simulation
    def run(
        self,
        inputs: Mapping[str, Tensor] | None = None,
        time: float | None = None,
        *,
        clamp: Mapping[str, Tensor] | None = None,
        unclamp: Mapping[str, Tensor] | None = None,
        inject_v: Mapping[str, Tensor | float] | None = None,
        masks: Mapping[str, Tensor] | None = None,
        reward: float | Tensor | None = None,
    ) -> None:
        """Simulate ``time`` ms (default: the length of the inputs).

        Args:
            inputs: external input per layer name, added to that layer's synaptic input each
                step (an ``Input`` layer's spikes are its input).
            time: duration in ms, a whole number of steps; inputs must cover it.
            clamp: per layer, bool mask of neurons forced to spike.
            unclamp: per layer, bool mask of neurons forced to stay silent.
            inject_v: per layer, voltage (mV) added to ``v`` before each step.
            masks: per connection, bool mask of the weights to keep; the others are set to
                zero (permanently, as in BindsNET; ``True`` keeps a synapse).
            reward: modulator for learning rules: a number or a ``(B,)`` tensor.

        Shape:
            inputs: ``(T, B, *layer.shape)``; clamp/unclamp/inject_v: broadcastable to
            ``(B, *layer.shape)`` (constant) or exactly ``(T_steps, B, *layer.shape)``.
        """
        inputs = dict(inputs or {})
        steps, batch = self._check_inputs(inputs, time)
        if batch is not None and batch != self.batch_size:
            self.set_batch_size(batch)
        if clamp or unclamp or inject_v:
            controls = (
                self._per_layer("clamp", clamp, steps, True),
                self._per_layer("unclamp", unclamp, steps, True),
                self._per_layer("inject_v", inject_v, steps, False),
            )
        else:
            none = [None] * len(self._get_plan().layers)
            controls = (none, none, none)
        if masks:
            self._apply_masks(masks)
        self.reward = self._check_reward(reward)
        plan = self._get_plan()
        ext: list[Tensor | None] = [None] * len(plan.layers)
        for name, x in inputs.items():
            ext[plan.names.index(name)] = x
        for monitor in self.monitors.values():
            monitor.reserve(steps)
        with torch.no_grad():
            self._simulate(plan, ext, steps, controls)

    def step(
        self,
        inputs: Mapping[str, Tensor] | None = None,
        *,
        clamp: Mapping[str, Tensor] | None = None,
        unclamp: Mapping[str, Tensor] | None = None,
        inject_v: Mapping[str, Tensor | float] | None = None,
        reward: float | Tensor | None = None,
    ) -> None:
        """Simulate one step of ``dt``.

        Shape:
            inputs: ``(B, *layer.shape)`` (no time dimension).
        """
        seq = {}
        for name, x in (inputs or {}).items():
            if not isinstance(x, Tensor):
                raise TypeError(f"input for layer {name!r} must be a tensor, got {type(x).__name__}")
            seq[name] = x.unsqueeze(0)
        self.run(seq, self.dt, clamp=clamp, unclamp=unclamp, inject_v=inject_v, reward=reward)

    def _precompute(self, plan: _Plan, ext: list[Tensor | None], steps: int, controls: tuple) -> list[Tensor | None]:
        """Inputs of connections whose source activity is fully known before the run.

        A connection qualifies when its source is an ``Input`` layer that receives external
        input, no other connection and no clamp act on it, its weights cannot change during
        the run (no learning rule, or one whose ``changes_weights`` says the run's reward leaves
        them alone) and it is ``precomputable`` (no delay buffer, random transmission or internal
        state). Its input for all steps is then computed in one batched call.
        """
        pre: list[Tensor | None] = [None] * len(plan.conns)
        if steps < 2:
            return pre
        clamp, unclamp, _ = controls
        sync = self.propagation == "synchronous"
        for ci, (conn, src, tgt) in enumerate(plan.conns):
            e = ext[src]
            layer = plan.layers[src]
            if (
                e is None
                or type(layer) is not Input
                or plan.incoming[src]
                or clamp[src] is not None
                or unclamp[src] is not None
                or (self.training and conn.rule is not None and conn.rule.changes_weights(conn, self.reward))
                or not conn.precomputable  # delays, random transmission or internal state
                or steps * self.batch_size * conn.target.n > _PRECOMPUTE_LIMIT
            ):
                continue
            if sync or src > tgt:  # the target sees the source's previous-step spikes
                prev = as_dtype(layer.s, e.dtype).unsqueeze(0)
                seq = torch.cat([prev, e[: steps - 1]])
            else:
                seq = e[:steps]
            pre[ci] = conn.compute_sequence(seq)
        return pre

    @staticmethod
    def _deferred_inputs(
        plan: _Plan, ext: list[Tensor | None], pre: list[Tensor | None], monitors: list, has_controls: bool,
        plastic: list[AbstractConnection],
    ) -> list[int]:
        """Input layers read only through precomputed connections: set once at the end of the run.

        Layers watched by a monitor or read by a learning rule (the source or target of a
        plastic connection) are stepped every step."""
        if has_controls:
            return []
        watched = {id(m.obj) for mon in monitors
                   for m in (mon.monitors.values() if isinstance(mon, NetworkMonitor) else (mon,))}
        for conn in plastic:
            watched.update((id(conn.source), id(conn.target)))
        return [
            li for li, layer in enumerate(plan.layers)
            if type(layer) is Input and ext[li] is not None and not layer.traces and not layer.sum_input
            and id(layer) not in watched
            and all(pre[ci] is not None for ci, (_, src, _) in enumerate(plan.conns) if src == li)
        ]

    def _simulate(self, plan: _Plan, ext: list[Tensor | None], steps: int, controls: tuple) -> None:
        layers, conns = plan.layers, plan.conns
        n_layers = len(layers)
        pre = self._precompute(plan, ext, steps, controls)
        clamp, unclamp, _ = controls
        has_controls = any(c is not None for group in controls for c in group)
        monitors = list(self.monitors.values())
        plastic = [(conn, src, tgt) for conn, src, tgt in conns if conn.rule is not None] if self.training else []
        # Whole-run learning: when every rule accepts (the run leaves the weights alone), the spikes
        # of their layers are recorded (an Input layer's are its input) and each rule is called once.
        whole_run = steps > 1 and bool(plastic) and all(c.rule.accepts_sequence(c, self.reward) for c, _, _ in plastic)
        given = {li for li in range(n_layers) if type(layers[li]) is Input and ext[li] is not None
                 and clamp[li] is None and unclamp[li] is None}
        # what is recorded after every step: {(layer index, "s" or a state variable a rule asks for,
        # e.g. e-prop's voltage): (T, ...)}
        records: dict[tuple[int, str], Tensor] = {}
        if whole_run:
            for conn, src, tgt in plastic:
                records.update({(li, "s"): torch.empty(0) for li in (src, tgt) if li not in given})
                records.update({(tgt, name): torch.empty(0) for name in self._sequence_state(conn)})
        stepwise = [] if whole_run else [conn for conn, _, _ in plastic]
        # Input layers read only through precomputed connections need not be stepped one by one.
        deferred: list[int] = []
        if steps > 1:
            deferred = self._deferred_inputs(plan, ext, pre, monitors, has_controls, stepwise)
        compiled = self.compiled and compiled_run(self, plan, ext, pre, steps, has_controls, monitors, plastic,
                                                  whole_run, records)
        if not compiled:  # else the whole run went through one compiled call (snnrl.network.compiled)
            active = [li for li in range(n_layers) if li not in deferred]
            slots: list[tuple[int, str, list[Tensor]]] = []
            for t in range(steps):
                self._step_layers(plan, pre, ext, t, active, controls if has_controls else None)
                for conn in stepwise:
                    conn.rule.step(conn, self.reward)
                if records:
                    if t == 0:
                        for li, name in records:
                            v0 = getattr(layers[li], name)
                            buf = records[(li, name)] = torch.empty((steps, *v0.shape), dtype=v0.dtype,
                                                                    device=v0.device)
                            slots.append((li, name, list(buf.unbind(0))))
                    for li, name, slot in slots:
                        slot[t].copy_(getattr(layers[li], name))
                for monitor in monitors:
                    monitor.record()
            for li in deferred:
                layers[li].step(ext[li][steps - 1])
        if whole_run:
            for conn, src, tgt in plastic:
                s_pre = ext[src][:steps] if src in given else records[(src, "s")]
                s_post = ext[tgt][:steps] if tgt in given else records[(tgt, "s")]
                names = self._sequence_state(conn)
                if names:
                    states = {name: records[(tgt, name)] for name in names}
                    conn.rule.step_sequence(conn, s_pre, s_post, self.reward, states)  # type: ignore[call-arg, union-attr]
                else:
                    conn.rule.step_sequence(conn, s_pre, s_post, self.reward)

    def _step_layers(self, plan: _Plan, pre: list[Tensor | None], ext: list[Tensor | None], t: int,
                     active: list[int], controls: tuple | None) -> None:
        """Step ``t`` of the eager loop: every active layer, in plan order, with its input."""
        layers, conns = plan.layers, plan.conns
        sync = self.propagation == "synchronous"
        if sync:
            cur: list[Tensor | None] = [None] * len(layers)
            for ci, (conn, src, tgt) in enumerate(conns):
                p = pre[ci]
                c = p[t] if p is not None else conn.compute(layers[src].s)
                prev = cur[tgt]
                cur[tgt] = c if prev is None else prev + c
        for li in active:
            layer = layers[li]
            if sync:
                x = cur[li]
            else:
                x = None
                for ci in plan.incoming[li]:
                    conn, src, _ = conns[ci]
                    p = pre[ci]
                    c = p[t] if p is not None else conn.compute(layers[src].s)
                    x = c if x is None else x + c
            e = ext[li]
            if e is not None:
                x = e[t] if x is None else x + e[t]
            if controls is None:
                layer.step(x)
                continue
            clamp, unclamp, inject = controls
            inj = inject[li]
            if inj is not None:
                layer.inject_v(inj[0][t] if inj[1] else inj[0])
            cl, ucl = clamp[li], unclamp[li]
            layer.step(
                x,
                None if cl is None else (cl[0][t] if cl[1] else cl[0]),
                None if ucl is None else (ucl[0][t] if ucl[1] else ucl[0]),
            )

    @staticmethod
    def _sequence_state(conn: AbstractConnection) -> tuple[str, ...]:
        """The target state variables ``conn``'s rule needs at every step of a whole run (none
        for a rule without ``sequence_state``)."""
        ask = getattr(conn.rule, "sequence_state", None)
        return tuple(ask(conn)) if ask is not None else ()

    def deliver_reward(self, modulator: float | Tensor, signals: Mapping[str, Tensor] | None = None) -> None:
        """Deliver a reward (modulator) once to every plastic connection, in training mode.

        Calls ``rule.deliver(connection, m)`` on every connection with a learning rule:
        three-factor rules change the weights by the modulator times their current eligibility
        (an impulse; see :mod:`snnrl.learning.rules`), two-factor rules ignore it. Does nothing
        in evaluation mode (``train(False)``). This is how an agent credits the reward of an
        action to the spikes that chose it: run the decision window with ``reward=0.0``, step
        the environment, then ``deliver_reward(r)`` before the next window.

        Neuron-specific learning signals (:mod:`snnrl.network.modulator`): a connection whose
        target layer is a key of ``signals`` receives ``m_b L_b`` ``(B, *target.shape)``
        instead of ``m`` (e-prop's learning signal times the TD error, say); the others
        receive ``m``. A rule that keeps a trace of the signals (``rule.keeps_signal``, e.g.
        :class:`~snnrl.learning.EProp` with ``tc_signal``) receives ``m`` and ``L`` apart. Both
        are validated here, once.

        Args:
            modulator: a finite number or a ``(B,)`` tensor (one value per batch element).
            signals: learning signals per layer name.

        Shape:
            ``modulator``: ``()`` or ``(B,)``; ``signals[name]``: ``(B, *layers[name].shape)``.
        """
        if modulator is None:
            raise ValueError("deliver_reward needs a modulator: a number or a (B,) tensor")
        m = check_modulator(modulator, self.batch_size, name="modulator")
        per_layer = self._checked_signals(signals)
        if not self.training:
            return
        with torch.no_grad():
            for key, conn in self.connections.items():
                if conn.rule is not None:
                    signal = per_layer.get(self.endpoints[key][1]) if per_layer else None
                    args: tuple[Any, ...] = (m,)
                    if signal is not None:  # kept apart by e.g. e-prop's trace of L * E (tc_signal)
                        args = (m, signal) if getattr(conn.rule, "keeps_signal", False) else (with_signal(m, signal),)
                    conn.rule.deliver(conn, *args)

    def _checked_signals(self, signals: Mapping[str, Tensor] | None) -> dict[str, Tensor]:
        """``signals`` validated against the layers (see :meth:`deliver_reward`)."""
        per_layer: dict[str, Tensor] = {}
        for name, signal in (signals or {}).items():
            if name not in self.layers:
                raise ValueError(f"signals[{name!r}]: no layer named {name!r}; layers: {list(self.layers)}")
            per_layer[name] = check_signal(signal, self.batch_size, self.layers[name].shape,
                                           name=f"signals[{name!r}]")
        return per_layer

    def prepare_reward(self, signals: Mapping[str, Tensor] | None = None) -> None:
        """Do now what the next :meth:`deliver_reward` (with these ``signals``) does whatever its
        modulator: each rule's :meth:`~snnrl.learning.LearningRule.prepare`, which folds the
        learning signal of a rule that keeps it apart (e-prop with ``tc_signal``) and leaves
        every other rule alone.

        It changes no result, not even in the last bit, so a pipeline can call it while the
        environments step: the following ``deliver_reward(m, signals)`` then only applies ``m``
        to those rules. Nothing happens in evaluation mode. Shape: as :meth:`deliver_reward`.
        """
        per_layer = self._checked_signals(signals)
        if not self.training:
            return
        with torch.no_grad():
            for key, conn in self.connections.items():
                rule: Any = conn.rule  # a LearningRule (nn.Module attributes are typed loosely)
                if rule is not None:
                    signal = per_layer.get(self.endpoints[key][1]) if per_layer else None
                    rule.prepare(conn, signal if getattr(rule, "keeps_signal", False) else None)
