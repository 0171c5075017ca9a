r"""Fused runs of competitive networks: a simulation loop for every network of one shape.

The shape (Diehl & Cook 2015's, and every network built like it, whatever its layer names):

* one :class:`~snnrl.network.Input` layer ``X`` of ``n_input`` neurons, feeding
* one :class:`~snnrl.network.DiehlAndCookNodes` layer ``E`` of ``N`` neurons (adaptive thresholds,
  optionally one spike per step) through a dense :class:`~snnrl.network.Connection` (an optional
  mask, scalar bounds) that learns by :class:`~snnrl.learning.PostPre` (nearest-spike traces) or
  not at all;
* lateral inhibition, either through a :class:`~snnrl.network.LIFNodes` layer ``I`` of ``N``
  neurons (``E -> I`` one to one with a uniform weight, ``I -> E`` any fixed ``(N, N)`` matrix) or
  directly (``E -> E``, any fixed matrix);
* synchronous propagation, no monitors, no other layer or connection; the inhibitory
  connections have no rule, no connection has a bias, a delay, a norm, weight decay, Dale's
  rule or stochastic transmission, and the neuron parameters are scalars.

:func:`run_competitive` computes what :meth:`Network.run <snnrl.network.Network.run>` computes
on such a network (the tests compare spikes, weights and thresholds), step for step, from the
resting state, updating the network's weights and thresholds in place, only much faster; a
network of another shape gets a :class:`ShapeError` that names what differs. It exploits the
structure:

* **Sparse input.** A pixel fires a few times per presentation, so the input current of a step
  is the sum of the weight rows of the inputs that fired (a gather), and STDP depression
  (``-nu_pre x_post`` on the rows of inputs that fired) touches only those rows; the rows are
  gathered once and serve both.
* **Rare output spikes.** The excitatory layer fires a few dozen times per image. Work that
  only matters around its spikes is skipped on the other steps: the inhibitory layer (it is
  only driven by excitatory spikes and, undriven, decays in closed form), refractory masks,
  the inhibition current, potentiation (only on output spikes; it needs the input traces,
  which are kept as last-spike times and evaluated as ``e^{-(t - t_last)/tc_pre}`` only then).
* **Testing in batches.** Without learning the weights are fixed, so the input currents of all
  steps and images come from one gather, and many images run side by side; this is exact.

With learning and ``B > 1`` inputs side by side (mini-batch training) the weight and threshold
changes of the inputs average (the rule's ``reduction="mean"``: exactly what ``Network.run``
computes) or add up (``"sum"``: each input counts as if it were alone; ``Network.run`` adds the
weight changes too but averages the threshold increases over the batch, so there the two
differ): an approximation of presenting them one after the other, since input ``b`` does not
see the changes the other inputs make during the same presentation.

The vision pipeline's :class:`snnrl.vision.DiehlCook` runs through this path with a network
that shares its weights and thresholds. The two loops are long single functions on purpose
(hence ``noqa: C901``): every helper call inside the step loop costs about a microsecond, which
is a sizeable part of a step here.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor

from snnrl.functional.lif import _one_spike
from snnrl.learning.rules import PostPre
from snnrl.network.connections.dense import Connection
from snnrl.network.network import Network
from snnrl.network.nodes import DiehlAndCookNodes, Input, LIFNodes

__all__ = ["Activity", "CompetitiveParameters", "CompetitiveParts", "ShapeError", "competitive_parts",
           "run_competitive"]


class ShapeError(ValueError):
    """A network that the fused path does not compute (the message says what differs)."""


class Activity(NamedTuple):
    """What one fused run produced.

    Attributes:
        counts: excitatory spike counts per image, ``(B, N)`` float32.
        events: every excitatory spike as ``(step, image, neuron)``, ``(E, 3)`` int64, in time
            order (within a step by image, then neuron): the firing order n-gram readouts use.
        steps: simulated steps.
    """

    counts: Tensor
    events: Tensor
    steps: int

    def spikes(self) -> Tensor:
        """Dense spikes ``(T, B, N)`` bool (for rasters)."""
        b, n = self.counts.shape
        out = torch.zeros(self.steps, b, n, dtype=torch.bool)
        if self.events.numel():
            out[self.events[:, 0], self.events[:, 1], self.events[:, 2]] = True
        return out


@dataclass(frozen=True)
class CompetitiveParameters:
    """The scalars of a competitive network, read from its layers, connections and rule.

    Attributes:
        n_input, n_neurons: sizes of ``X`` and ``E``.
        inhibition: ``"layer"`` (through ``I``) or ``"direct"`` (``E -> E``).
        exc: the one-to-one weight of ``E -> I`` (0 with direct inhibition).
        thresh, rest, reset, refrac, tc_decay, theta_plus, tc_theta_decay, one_spike: ``E``'s.
        inh_thresh, inh_rest, inh_reset, inh_refrac, inh_tc_decay: ``I``'s (unused when direct).
        nu_pre, nu_post, tc_pre, tc_post, reduction: the rule's (rates 0 without a rule).
        wmin, wmax: the bounds of ``X -> E``.
        dt: the network's time step.
    """

    n_input: int
    n_neurons: int
    inhibition: str
    exc: float
    thresh: float
    rest: float
    reset: float
    refrac: float
    tc_decay: float
    theta_plus: float
    tc_theta_decay: float
    one_spike: bool
    inh_thresh: float
    inh_rest: float
    inh_reset: float
    inh_refrac: float
    inh_tc_decay: float
    nu_pre: float
    nu_post: float
    tc_pre: float
    tc_post: float
    reduction: str
    wmin: float
    wmax: float
    dt: float


class CompetitiveParts(NamedTuple):
    """A competitive network's parameters and the tensors a fused run reads and updates in place.

    Attributes:
        params: :class:`CompetitiveParameters`.
        weight: ``(n_input, N)``, the ``X -> E`` weights (the connection's own tensor).
        theta: ``(N,)``, ``E``'s adaptive thresholds (its own buffer).
        lateral: ``(N, N)``, the inhibition weights (``I -> E`` or ``E -> E``).
        mask: ``(n_input, N)`` bool or None.
        learns: whether ``X -> E`` has a rule.
        generator: ``E``'s random source (the one-spike choice).
    """

    params: CompetitiveParameters
    weight: Tensor
    theta: Tensor
    lateral: Tensor
    mask: Tensor | None
    learns: bool
    generator: torch.Generator | None


def _scalar(where: str, value: Any) -> float:
    t = torch.as_tensor(value)
    if t.numel() != 1:
        raise ShapeError(f"{where} must be one number for the fused path, got a tensor of shape {tuple(t.shape)}")
    return float(t)


def _plain(where: str, conn: Any) -> None:
    """A connection that only multiplies by its weights."""
    if type(conn) is not Connection:
        raise ShapeError(f"{where} must be a dense Connection, got {type(conn).__name__}")
    problems = [name for name, bad in (
        ("a bias", conn._parameters.get("bias") is not None),
        ("a delay", conn.max_delay != 0),
        ("a norm", conn.norm is not None),
        ("weight decay", conn.weight_decay != 0),
        ("Dale's rule", conn.dale is not None),
        ("stochastic transmission", conn.stochastic),
        ("an intensity", isinstance(conn.intensity, Tensor) or conn.intensity != 1.0),
    ) if bad]
    if problems:
        raise ShapeError(f"{where} has {', '.join(problems)}; the fused path has none")


def _nodes(where: str, layer: Any, names: tuple[str, ...]) -> dict[str, float]:
    p = layer.p
    if getattr(p, "lbound", None) is not None:
        raise ShapeError(f"{where} has a voltage lower bound (lbound); the fused path has none")
    return {name: _scalar(f"{where}'s {name}", getattr(p, name)) for name in names}


def competitive_parts(net: Network) -> CompetitiveParts:
    """The parts of a competitive network (see the module docstring), or a :class:`ShapeError`
    that names what differs from that shape."""
    if not isinstance(net, Network):
        raise TypeError(f"expected a Network, got {type(net).__name__}")
    if net.propagation != "synchronous":
        raise ShapeError(f"the fused path computes synchronous propagation; this network's is {net.propagation!r}")
    if net.monitors:
        raise ShapeError(f"the fused path records no monitors; remove {sorted(net.monitors)} (it returns the "
                         "excitatory spikes itself)")
    layers: dict[str, Any] = dict(net.layers.items())
    connections: dict[str, Any] = dict(net.connections.items())
    inputs = [k for k, layer in layers.items() if type(layer) is Input]
    excit = [k for k, layer in layers.items() if type(layer) is DiehlAndCookNodes]
    if len(inputs) != 1 or len(excit) != 1:
        raise ShapeError(f"a competitive network has one Input layer and one DiehlAndCookNodes layer; this one has "
                         f"{len(inputs)} and {len(excit)} (layers {sorted(layers)})")
    x, e = inputs[0], excit[0]
    rest_layers = [k for k in layers if k not in (x, e)]
    if len(rest_layers) > 1 or (rest_layers and type(layers[rest_layers[0]]) is not LIFNodes):
        raise ShapeError(f"besides {x!r} and {e!r} a competitive network has at most one LIFNodes layer (the "
                         f"inhibitory one); this one has {[(k, type(layers[k]).__name__) for k in rest_layers]}")
    i = rest_layers[0] if rest_layers else None
    edges = {ends: key for key, ends in net.endpoints.items()}
    want = [(x, e), (e, i), (i, e)] if i is not None else [(x, e), (e, e)]
    if sorted(edges, key=str) != sorted(want, key=str):
        raise ShapeError(f"a competitive network's connections are {want}; this one has {sorted(edges, key=str)}")
    inp = connections[edges[(x, e)]]
    _plain(f"{x}->{e}", inp)
    rule = inp.rule
    if rule is not None and (type(rule) is not PostPre or rule.traces_additive or rule.normalize):
        raise ShapeError(f"{x}->{e} must learn by PostPre with nearest-spike traces and no normalisation (or not "
                         f"at all); it has {rule!r}")
    ex = layers[e]
    n = ex.n
    if getattr(ex, "sum_input", False) or tuple(ex.shape) != (n,) or tuple(layers[x].shape) != (layers[x].n,):
        raise ShapeError(f"the fused path needs flat layers (shape (n,)); {x!r} is {tuple(layers[x].shape)} and "
                         f"{e!r} is {tuple(ex.shape)}")
    ep = _nodes(repr(e), ex, ("thresh", "rest", "reset", "refrac", "tc_decay", "theta_plus", "tc_theta_decay"))
    if i is not None:
        to_i, back = connections[edges[(e, i)]], connections[edges[(i, e)]]
        for key, conn in ((f"{e}->{i}", to_i), (f"{i}->{e}", back)):
            _plain(key, conn)
            if conn.rule is not None:
                raise ShapeError(f"{key} must not learn in the fused path; it has {conn.rule!r}")
        w_ei = to_i.weight.data
        diag = w_ei.diagonal()
        if layers[i].n != n or not torch.equal(w_ei, torch.diag(diag)) or not bool((diag == diag[0]).all()):
            raise ShapeError(f"{e}->{i} must connect {n} neurons one to one with one weight (exc * identity)")
        ip = _nodes(repr(i), layers[i], ("thresh", "rest", "reset", "refrac", "tc_decay"))
        exc, lateral = float(diag[0]), back.weight.data
    else:
        rec = connections[edges[(e, e)]]
        _plain(f"{e}->{e}", rec)
        if rec.rule is not None:
            raise ShapeError(f"{e}->{e} must not learn in the fused path; it has {rec.rule!r}")
        ip = {"thresh": 0.0, "rest": 0.0, "reset": 0.0, "refrac": 0.0, "tc_decay": 1.0}
        exc, lateral = 0.0, rec.weight.data
    params = CompetitiveParameters(
        n_input=layers[x].n, n_neurons=n, inhibition="layer" if i is not None else "direct", exc=exc,
        thresh=ep["thresh"], rest=ep["rest"], reset=ep["reset"], refrac=ep["refrac"], tc_decay=ep["tc_decay"],
        theta_plus=ep["theta_plus"], tc_theta_decay=ep["tc_theta_decay"], one_spike=bool(ex.one_spike),
        inh_thresh=ip["thresh"], inh_rest=ip["rest"], inh_reset=ip["reset"], inh_refrac=ip["refrac"],
        inh_tc_decay=ip["tc_decay"],
        nu_pre=float(rule.nu_pre) if rule is not None else 0.0,
        nu_post=float(rule.nu_post) if rule is not None else 0.0,
        tc_pre=float(rule.tc_pre) if rule is not None else 1.0,
        tc_post=float(rule.tc_post) if rule is not None else 1.0,
        reduction=rule.reduction if rule is not None else "sum",
        wmin=_scalar(f"{x}->{e}'s wmin", inp.wmin), wmax=_scalar(f"{x}->{e}'s wmax", inp.wmax), dt=float(net.dt),
    )
    weight = inp.weight.data
    if not weight.is_cpu:
        raise ShapeError(f"the fused path runs on the CPU; {x}->{e}'s weights are on {weight.device}")
    return CompetitiveParts(params, weight, ex.theta, lateral, inp.mask, rule is not None, ex.generator)


def _input_events(spikes: Tensor) -> tuple[Tensor, Tensor, Tensor, list[int]]:
    """``(T, B, n)`` bool -> per event its ``t * B + b``, image and input index, and the
    per-step offsets into the events (Python ints)."""
    steps, batch = spikes.shape[:2]
    ev = spikes.reshape(steps * batch, -1).nonzero()  # (E, 2): [t * B + b, i], sorted
    bag, idx = ev[:, 0], ev[:, 1]
    counts = torch.bincount(bag // batch, minlength=steps)
    offsets = [0, *torch.cumsum(counts, 0).tolist()]
    return bag, bag % batch, idx, offsets


def run_competitive(net: Network | CompetitiveParts, spikes: Tensor, *, learning: bool = False,  # noqa: C901
                    rest: float = 0.0, clamp: Tensor | None = None, clamp_rate: float | None = None,
                    drive: Tensor | None = None, generator: torch.Generator | None = None,
                    chunk: int = 16) -> Activity:
    """Present ``B`` inputs to a competitive network from the resting state; returns the
    excitatory activity. With ``learning`` the network's ``X -> E`` weights and ``E``'s
    thresholds change in place, as ``Network.run`` in training mode would change them.

    Args:
        net: the network, or its :func:`competitive_parts` (a caller that runs the same network
            many times matches its shape once).
        spikes: input spikes.
        learning: STDP on ``X -> E`` and threshold adaptation (the network needs its rule).
        rest: ms of simulated silence after the input (the paper's 150 ms; 0 by default since
            the state is reset at the start of every run anyway).
        clamp: neurons forced to spike on every step (or at ``clamp_rate``), as ``Network.run``'s
            ``clamp``: the spike is added after the neuron's own update (no reset, no threshold
            change) and STDP sees it.
        clamp_rate: Hz; None forces a spike on every step.
        drive: a constant current (mV per step) added to each excitatory neuron's input on every
            step, as an external input to ``E`` in ``Network.run`` (supervision: a large
            negative drive keeps the neurons of other classes silent).
        generator: random source for the one-spike choice and clamp draws (default: ``E``'s).
        chunk: with learning, one input and no clamp: the longest stretch computed in closed
            form between excitatory spikes (see :func:`_learn_single`); 1 steps one by one.

    Returns:
        :class:`Activity`.

    Raises:
        ShapeError: ``net`` is not a competitive network (the message says what differs).

    Shape:
        ``spikes``: ``(T, B, n_input)`` bool; ``clamp``: ``(B, N)`` bool; ``drive``: ``(B, N)``.
    """
    parts = net if isinstance(net, CompetitiveParts) else competitive_parts(net)
    if learning and not parts.learns:
        raise ShapeError("learning=True needs a rule on the input connection; this network has none")
    if generator is None:
        generator = parts.generator
    c = parts.params
    if spikes.dim() != 3 or spikes.shape[2] != c.n_input:
        raise ValueError(f"spikes must be (T, B, {c.n_input}), got {tuple(spikes.shape)}")
    if spikes.dtype != torch.bool:
        raise TypeError(f"spikes must be bool, got {spikes.dtype}")
    t_in, batch = int(spikes.shape[0]), int(spikes.shape[1])
    n = c.n_neurons
    dt = c.dt
    rest_steps = round(rest / dt)
    steps = t_in + rest_steps
    if clamp is not None and (clamp.dtype != torch.bool or tuple(clamp.shape) != (batch, n)):
        raise ValueError(f"clamp must be a bool tensor of shape {(batch, n)}")
    if drive is not None and tuple(drive.shape) != (batch, n):
        raise ValueError(f"drive must have shape {(batch, n)}, got {tuple(drive.shape)}")
    clamp_p = None
    if clamp is not None and clamp_rate is not None:
        clamp_p = clamp_rate * dt / 1000.0
        if not 0 < clamp_p <= 1:
            raise ValueError(f"clamp_rate must be in (0, {1000 / dt}] Hz, got {clamp_rate}")

    if learning and batch == 1 and clamp is None and chunk > 1:
        return _learn_single(parts, spikes, rest_steps, generator, chunk,
                             None if drive is None else drive[0].to(torch.float32))

    w, theta, lateral, mask = parts.weight, parts.theta, parts.lateral, parts.mask
    layer = c.inhibition == "layer"
    one_spike = c.one_spike
    scale = 1.0 if (c.reduction == "sum" or batch == 1) else 1.0 / batch
    wmin, wmax = c.wmin, c.wmax
    clamp_lo = wmin > -math.inf

    # constants
    decay = math.exp(-dt / c.tc_decay)
    rest_term = torch.full((), c.rest * (1.0 - decay))
    decay_t = torch.full((), decay)
    thresh = torch.full((), c.thresh)
    reset = c.reset
    refrac = c.refrac
    theta_decay = math.exp(-dt / c.tc_theta_decay)
    theta_plus = c.theta_plus * scale
    i_decay = math.exp(-dt / c.inh_tc_decay)
    d_post = math.exp(-dt / c.tc_post)
    log_d_pre = -dt / c.tc_pre
    nu_pre = c.nu_pre * scale
    nu_post = c.nu_post * scale

    bag_ev, b_ev, i_ev, offsets = _input_events(spikes)
    single = batch == 1

    # state (resting)
    v = torch.full((batch, n), c.rest)
    last_e = torch.full((batch, n), -math.inf)  # step of each excitatory neuron's last spike
    last_any_e = -(10**9)
    refrac_steps = math.ceil(refrac / dt - 1e-9) if refrac > 0 else 0
    v_i = torch.full((batch, n), c.inh_rest)  # inhibitory voltage as of the end of step i_clock
    i_clock = -1
    last_i = torch.full((batch, n), -math.inf)
    inh_refrac_steps = math.ceil(c.inh_refrac / dt - 1e-9) if c.inh_refrac > 0 else 0
    s_e_prev: Tensor | None = None  # excitatory spikes of the previous step (None: none)
    s_inh_prev: Tensor | None = None  # spikes of the inhibition source of the previous step
    counts = torch.zeros(batch, n)
    events: list[Tensor] = []

    if learning:
        last_pre = torch.full((batch, c.n_input), -math.inf)
        xps = torch.zeros(batch, n)  # nu_pre * x_post
        xps_on = False
        thr = None
    else:
        thr = thresh + theta  # fixed thresholds
        # currents of all steps at once: the weights do not change
        # one bag per (step, image): the sum of the weight rows of the inputs that fired
        starts = torch.zeros(t_in * batch, dtype=torch.long)
        if i_ev.numel():
            starts[1:] = torch.cumsum(torch.bincount(bag_ev, minlength=t_in * batch), 0)[:-1]
        x_all = F.embedding_bag(i_ev, w, starts, mode="sum").view(t_in, batch, n)

    x_in: Tensor | None = None  # input current for the next step (from this step's input spikes)
    for t in range(steps):
        # ---------------------------------------------------------------- inputs of step t
        if learning:
            x = x_in
        else:
            x = x_all[t - 1] if 0 < t <= t_in else None
        if s_inh_prev is not None:
            src = s_inh_prev
            if single:
                inh_cur = lateral.index_select(0, src[0].nonzero()[:, 0]).sum(0, keepdim=True)
            else:
                inh_cur = src.to(torch.float32) @ lateral
            x = inh_cur if x is None else x + inh_cur
        if drive is not None:
            x = drive if x is None else x + drive
        # refractory neurons ignore their input
        if x is not None and refrac_steps and t - 1 - last_any_e < refrac_steps:
            x = x.masked_fill((t - 1 - last_e) * dt < refrac, 0.0)

        # ---------------------------------------------------------------- excitatory step
        v = torch.addcmul(rest_term, v, decay_t)
        if x is not None:
            v.add_(x)
        if learning:
            theta.mul_(theta_decay)
            cand = v >= thresh + theta
        else:
            cand = v >= thr
        fired = bool(cand.any())
        s_e: Tensor | None = None
        if fired:
            if one_spike and int(cand.sum(1).max()) > 1:
                cand = _one_spike(cand, generator)
            s_e = cand
            v.masked_fill_(s_e, reset)
            last_e.masked_fill_(s_e, float(t))
            last_any_e = t
            if learning:
                theta.add_(s_e.to(torch.float32).sum(0), alpha=theta_plus)
        if clamp is not None:
            forced = clamp if clamp_p is None else clamp & (torch.rand(batch, n, generator=generator) < clamp_p)
            s_e = forced if s_e is None else s_e | forced
            if not bool(s_e.any()):
                s_e = None
        if s_e is not None:
            counts.add_(s_e.to(torch.float32))
            nz = s_e.nonzero()
            events.append(torch.cat([torch.full((nz.shape[0], 1), t, dtype=torch.long), nz], 1))

        # ---------------------------------------------------------------- inhibitory step
        s_i: Tensor | None = None
        if layer and s_e_prev is not None:
            lag = t - 1 - i_clock  # undriven steps to catch up (closed form)
            if lag > 0:
                v_i = c.inh_rest + (v_i - c.inh_rest) * (i_decay ** lag)
            ai_in = s_e_prev.to(torch.float32) * c.exc
            if inh_refrac_steps:
                ai_in = ai_in.masked_fill((t - 1 - last_i) * dt < c.inh_refrac, 0.0)
            v_i = c.inh_rest * (1.0 - i_decay) + v_i * i_decay + ai_in
            s_i = v_i >= c.inh_thresh
            if bool(s_i.any()):
                v_i.masked_fill_(s_i, c.inh_reset)
                last_i.masked_fill_(s_i, float(t))
            else:
                s_i = None
            i_clock = t

        # ---------------------------------------------------------------- plasticity
        if learning:
            lo, hi = offsets[t], offsets[t + 1] if t < t_in else 0
            has_in = t < t_in and hi > lo
            t_now = None if single else torch.tensor(float(t))
            if xps_on:
                xps.mul_(d_post)
            if s_e is not None:
                xps.masked_fill_(s_e, nu_pre)
                xps_on = True
            if has_in:
                idx = i_ev[lo:hi]
                bidx = None if single else b_ev[lo:hi]
            if s_e is not None:
                # depression of the rows of this step's inputs, potentiation of the columns of this
                # step's winners (x_pre includes this step's input spikes), then the bounds on both
                if has_in:
                    if single:
                        last_pre[0].index_fill_(0, idx, float(t))
                    else:
                        last_pre.index_put_((bidx, idx), t_now)
                    w.index_add_(0, idx, xps.expand(idx.shape[0], n) if single else xps.index_select(0, bidx),
                                 alpha=-1.0)
                cols = s_e.any(0).nonzero()[:, 0]
                x_pre = torch.exp((t - last_pre) * log_d_pre)
                w.index_add_(1, cols, torch.mm(x_pre.t(), s_e.index_select(1, cols).to(torch.float32)),
                             alpha=nu_post)
                colv = w.index_select(1, cols).clamp_(wmin, wmax)
                if mask is not None:
                    colv.masked_fill_(~mask.index_select(1, cols), 0.0)
                w.index_copy_(1, cols, colv)
                if has_in:
                    rows = w.index_select(0, idx).clamp_(wmin, wmax)
                    if mask is not None:
                        rows.masked_fill_(~mask.index_select(0, idx), 0.0)
                    w.index_copy_(0, idx, rows)
            elif has_in:
                if single:
                    last_pre[0].index_fill_(0, idx, float(t))
                else:
                    last_pre.index_put_((bidx, idx), t_now)
                if xps_on:
                    if single:
                        rows = w.index_select(0, idx).sub_(xps)
                    else:
                        w.index_add_(0, idx, xps.index_select(0, bidx), alpha=-1.0)
                        rows = w.index_select(0, idx)
                    if clamp_lo:
                        rows.clamp_(min=wmin)
                    if mask is not None:
                        rows.masked_fill_(~mask.index_select(0, idx), 0.0)
                    w.index_copy_(0, idx, rows)
                else:
                    rows = w.index_select(0, idx)
            if has_in:
                if single:
                    x_in = rows.sum(0, keepdim=True)
                else:
                    x_in = torch.zeros(batch, n).index_add_(0, bidx, rows)
            else:
                x_in = None

        s_e_prev = s_e
        s_inh_prev = s_i if layer else s_e

    ev = torch.cat(events) if events else torch.zeros(0, 3, dtype=torch.long)
    return Activity(counts, ev, steps)


def _learn_single(parts: CompetitiveParts, spikes: Tensor, rest_steps: int,  # noqa: C901
                  generator: torch.Generator | None, chunk: int, drive: Tensor | None = None) -> Activity:
    """One image with learning: exact steps around excitatory spikes, closed-form chunks between them.

    Between excitatory spikes nothing but the input drives the network: the inhibitory layer
    is silent, the input weights only undergo depression (``-nu_pre x_post`` per input spike,
    with ``x_post`` decaying geometrically), thresholds decay geometrically and the voltages
    are a linear recurrence. A chunk of up to ``chunk`` steps is therefore computed at once,
    assuming no excitatory neuron fires: the depression each input spike applies is a running
    sum per input (a cumulative sum over the chunk), the currents follow from the depressed
    rows, and the voltage trajectory is a lower-triangular matrix product. Inhibition already
    under way when a chunk starts (from spikes of the step before: the inhibitory layer's step
    is computed first) enters as known currents. The chunk is kept up to the first step where a
    neuron reaches its threshold; that step is simulated exactly as in :func:`simulate`
    (spike, reset, threshold increase, potentiation of the winner's column), then the next
    chunk starts. The result equals step-by-step simulation up to floating-point rounding.
    """
    c = parts.params
    s_in = spikes[:, 0]
    t_in = int(s_in.shape[0])
    steps = t_in + rest_steps
    n = c.n_neurons
    dt = c.dt
    w, theta, lateral, mask = parts.weight, parts.theta, parts.lateral, parts.mask
    layer = c.inhibition == "layer"
    one_spike = c.one_spike
    wmin, wmax = c.wmin, c.wmax
    clamp_lo = wmin > -math.inf

    decay = math.exp(-dt / c.tc_decay)
    rest_term = torch.full((), c.rest * (1.0 - decay))
    decay_t = torch.full((), decay)
    rest_t = torch.full((), c.rest)
    thresh = torch.full((), c.thresh)
    reset, refrac = c.reset, c.refrac
    theta_decay = math.exp(-dt / c.tc_theta_decay)
    theta_decay_t = torch.full((), theta_decay)
    i_decay = math.exp(-dt / c.inh_tc_decay)
    d_post = math.exp(-dt / c.tc_post)
    d_post_t = torch.full((), d_post)
    log_d_pre = -dt / c.tc_pre
    nu_pre, nu_post, theta_plus = c.nu_pre, c.nu_post, c.theta_plus

    k_max = max(2, int(chunk))
    ar = torch.arange(k_max)
    ar64 = ar.to(torch.float64)
    pow_v = torch.exp((ar64 + 1) * math.log(decay)).to(torch.float32)  # decay^(k+1)
    diff = ar64.unsqueeze(1) - ar64.unsqueeze(0)
    lmat = torch.where(diff >= 0, torch.exp(diff.clamp(min=0) * math.log(decay)), 0.0).to(torch.float32)
    pow_theta = torch.exp((ar64 + 1) * math.log(theta_decay)).to(torch.float32).unsqueeze(1)
    pow_post = torch.exp((ar64 + 1) * math.log(d_post)).to(torch.float32)
    pow_v_col = pow_v.unsqueeze(1)
    pow_post_col = pow_post.unsqueeze(1)

    ev = s_in.nonzero()
    t_ev, i_ev = ev[:, 0], ev[:, 1]
    t_evf = t_ev.to(torch.float32)
    per_step = torch.bincount(t_ev, minlength=t_in) if t_ev.numel() else torch.zeros(t_in, dtype=torch.long)
    offsets = [0, *torch.cumsum(per_step, 0).tolist()]
    offsets.extend([offsets[-1]] * rest_steps)

    v = torch.full((n,), c.rest)
    last_e = torch.full((n,), -math.inf)
    last_any_e = -(10**9)
    refrac_steps = math.ceil(refrac / dt - 1e-9) if refrac > 0 else 0
    v_i = torch.full((n,), c.inh_rest)
    i_clock = -1
    last_i = torch.full((n,), -math.inf)
    inh_refrac_steps = math.ceil(c.inh_refrac / dt - 1e-9) if c.inh_refrac > 0 else 0
    last_pre = torch.full((c.n_input,), -math.inf)
    xps = torch.zeros(n)
    xps_on = False
    x_in: Tensor | None = None
    s_e_prev: Tensor | None = None
    s_inh_prev: Tensor | None = None
    counts = torch.zeros(n)
    events: list[Tensor] = []

    t = 0
    while t < steps:
        # ------------------------------------------------------------ closed-form chunk
        if steps - t >= 2:
            kc = min(k_max, steps - t)
            # inhibition landing at t (from step t-1) and at t+1 (Ai driven at t by Ae's spikes of t-1)
            inh0 = None if s_inh_prev is None else lateral.index_select(0, s_inh_prev.nonzero()[:, 0]).sum(0)
            ai_next = None
            if layer and s_e_prev is not None:
                ai_next = _inh_step(c, v_i, i_clock, last_i, s_e_prev, t, i_decay, dt, inh_refrac_steps)
            te = min(t + kc, t_in)
            lo = offsets[t]
            hi = offsets[te] if t < t_in else lo
            xs = torch.zeros(kc + 1, n)
            cum = None
            if hi > lo:
                i_c = i_ev[lo:hi]
                k_c = t_ev[lo:hi] - t
                rows = w.index_select(0, i_c)
                if xps_on:
                    cum = (s_in[t:te].to(torch.float32) * pow_post_col[:te - t]).cumsum_(0)
                    rows.addcmul_(cum[k_c, i_c].unsqueeze(1), xps.unsqueeze(0), value=-1.0)
                    if clamp_lo:
                        rows.clamp_(min=wmin)
                    if mask is not None:
                        rows.masked_fill_(~mask.index_select(0, i_c), 0.0)
                xs.index_add_(0, k_c + 1, rows)
            if x_in is not None:
                xs[0] += x_in
            if inh0 is not None:
                xs[0] += inh0
            if ai_next is not None and ai_next[1] is not None:
                xs[1] += lateral.index_select(0, ai_next[1].nonzero()[:, 0]).sum(0)
            xin = xs[:kc] if drive is None else xs[:kc] + drive
            if refrac_steps and t - 1 - last_any_e < refrac_steps:
                nr = min(kc, refrac_steps - (t - 1 - last_any_e))
                xin[:nr].masked_fill_(((t - 1 + ar[:nr]).unsqueeze(1) - last_e) * dt < refrac, 0.0)
            traj = torch.addcmul(rest_t, pow_v_col[:kc], (v - rest_t).unsqueeze(0))
            traj.addmm_(lmat[:kc, :kc], xin)
            crossing = (traj >= torch.addcmul(thresh, pow_theta[:kc], theta.unsqueeze(0))).any(1).nonzero()
            k_star = int(crossing[0, 0]) if crossing.numel() else kc
            if k_star > 0:
                v = traj[k_star - 1]
                theta.mul_(pow_theta[k_star - 1, 0])
                p_hi = offsets[min(t + k_star, t_in)] if t < t_in else lo
                if p_hi > lo:
                    i_p = i_ev[lo:p_hi]
                    last_pre.scatter_reduce_(0, i_p, t_evf[lo:p_hi], "amax")
                    if cum is not None:
                        u = s_in[t:min(t + k_star, t_in)].any(0).nonzero()[:, 0]
                        final = cum[min(k_star, te - t) - 1].index_select(0, u)
                        rows = w.index_select(0, u).addcmul_(final.unsqueeze(1), xps.unsqueeze(0), value=-1.0)
                        if clamp_lo:
                            rows.clamp_(min=wmin)
                        if mask is not None:
                            rows.masked_fill_(~mask.index_select(0, u), 0.0)
                        w.index_copy_(0, u, rows)
                if xps_on:
                    xps.mul_(pow_post[k_star - 1])
                x_in = xs[k_star]
                if ai_next is not None:  # committed; its inhibition is in xs[1]
                    v_i, _, last_i = ai_next
                    i_clock = t
                s_e_prev = s_inh_prev = None
                t += k_star
                if k_star == kc:
                    continue

        # ------------------------------------------------------------ one exact step
        x = x_in
        if s_inh_prev is not None:
            inh_cur = lateral.index_select(0, s_inh_prev.nonzero()[:, 0]).sum(0)
            x = inh_cur if x is None else x + inh_cur
        if drive is not None:
            x = drive if x is None else x + drive
        if x is not None and refrac_steps and t - 1 - last_any_e < refrac_steps:
            x = x.masked_fill((t - 1 - last_e) * dt < refrac, 0.0)
        v = torch.addcmul(rest_term, v, decay_t)
        if x is not None:
            v.add_(x)
        theta.mul_(theta_decay_t)
        cand = v >= thresh + theta
        s_e: Tensor | None = None
        if bool(cand.any()):
            if one_spike and int(cand.sum()) > 1:
                cand = _one_spike(cand.unsqueeze(0), generator)[0]
            s_e = cand
            v.masked_fill_(s_e, reset)
            last_e.masked_fill_(s_e, float(t))
            last_any_e = t
            theta.add_(s_e.to(torch.float32), alpha=theta_plus)
            counts.add_(s_e.to(torch.float32))
            nz = s_e.nonzero()
            events.append(torch.cat([torch.full((nz.shape[0], 1), t, dtype=torch.long),
                                     torch.zeros_like(nz), nz], 1))
        s_i: Tensor | None = None
        if layer and s_e_prev is not None:
            v_i, s_i, last_i = _inh_step(c, v_i, i_clock, last_i, s_e_prev, t, i_decay, dt, inh_refrac_steps)
            i_clock = t
        lo, hi = offsets[t], offsets[t + 1]
        has_in = hi > lo
        if xps_on:
            xps.mul_(d_post_t)
        if s_e is not None:
            xps.masked_fill_(s_e, nu_pre)
            xps_on = True
        if has_in:
            idx = i_ev[lo:hi]
            last_pre.index_fill_(0, idx, float(t))
        if s_e is not None:
            # depression of the rows of this step's inputs, potentiation of the columns of this
            # step's winners, then the bounds on both (the generic rule adds both, then clamps)
            cols = s_e.nonzero()[:, 0]
            if has_in:
                w.index_add_(0, idx, xps.expand(idx.shape[0], n), alpha=-1.0)
            x_pre = torch.exp((t - last_pre) * log_d_pre)
            w.index_add_(1, cols, x_pre.unsqueeze(1).expand(-1, cols.shape[0]), alpha=nu_post)
            colv = w.index_select(1, cols).clamp_(wmin, wmax)
            if mask is not None:
                colv.masked_fill_(~mask.index_select(1, cols), 0.0)
            w.index_copy_(1, cols, colv)
            if has_in:
                rows = w.index_select(0, idx).clamp_(wmin, wmax)
                if mask is not None:
                    rows.masked_fill_(~mask.index_select(0, idx), 0.0)
                w.index_copy_(0, idx, rows)
        elif has_in:
            rows = w.index_select(0, idx)
            if xps_on:
                rows.sub_(xps)
                if clamp_lo:
                    rows.clamp_(min=wmin)
                if mask is not None:
                    rows.masked_fill_(~mask.index_select(0, idx), 0.0)
                w.index_copy_(0, idx, rows)
        x_in = rows.sum(0) if has_in else None
        s_e_prev = s_e
        s_inh_prev = s_i if layer else s_e
        t += 1

    ev_out = torch.cat(events) if events else torch.zeros(0, 3, dtype=torch.long)
    return Activity(counts.unsqueeze(0), ev_out, steps)


def _inh_step(c: CompetitiveParameters, v_i: Tensor, i_clock: int, last_i: Tensor, s_e_prev: Tensor, t: int,
              i_decay: float, dt: float, inh_refrac_steps: int) -> tuple[Tensor, Tensor | None, Tensor]:
    """The inhibitory layer's step ``t`` (driven by the excitatory spikes of ``t - 1``), as new
    tensors: its undriven steps since ``i_clock`` are caught up in closed form first.

    Returns ``(v_i, spikes or None, last_i)``.
    """
    lag = t - 1 - i_clock
    if lag > 0:  # v -> rest + (v - rest) d^lag, then one driven step: v -> rest (1 - d) + v d + drive
        v_i = v_i * (i_decay ** (lag + 1)) + (c.inh_rest * (1.0 - i_decay ** (lag + 1)))
    else:
        v_i = v_i * i_decay + c.inh_rest * (1.0 - i_decay)
    ai_in = s_e_prev.to(torch.float32).mul_(c.exc)
    if inh_refrac_steps and t - 1 - i_clock < inh_refrac_steps + 1:
        ai_in.masked_fill_((t - 1 - last_i) * dt < c.inh_refrac, 0.0)
    v_i.add_(ai_in)
    s_i = v_i >= c.inh_thresh
    if not bool(s_i.any()):
        return v_i, None, last_i
    return v_i.masked_fill_(s_i, c.inh_reset), s_i, last_i.masked_fill(s_i, float(t))
