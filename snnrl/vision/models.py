r"""Diehl & Cook (2015) networks for unsupervised (and supervised) digit learning.

The network: Poisson input ``X`` (784 pixels) -> excitatory layer ``Ae`` (LIF with a per-neuron
adaptive threshold ``theta``) with pair-based STDP (:class:`snnrl.learning.PostPre`) on
``X -> Ae`` and per-neuron weight normalisation; lateral inhibition either through an inhibitory
layer (``inhibition="layer"``: ``Ae -> Ai`` one to one with weight ``exc``, ``Ai -> Ae`` all but
self with ``-inh``, as in the paper and BindsNET's ``DiehlAndCook2015``) or directly
(``inhibition="direct"``: ``Ae -> Ae`` all but self with ``-inh``, BindsNET's
``DiehlAndCook2015v2``). A weight ``mask`` (True where a synapse exists) turns the same model
into a locally connected network (LC-SNN, :func:`local_mask`) and a custom ``lateral`` matrix
gives other inhibition patterns (:func:`same_location_inhibition`).

:class:`DiehlCook` keeps the learned tensors (``weight``, ``theta``) and runs the model as a
generic :class:`snnrl.network.Network` (the one :meth:`DiehlCook.to_network` builds, sharing
those tensors) through the core's fused path for competitive networks
(:func:`snnrl.fused.run_competitive`, for every network of this shape), which computes exactly
what ``Network.run`` computes on it (tests check spikes, weights and thresholds), only faster.
Each :meth:`DiehlCook.run` starts from the resting state (voltages at rest, traces zero): the
paper's 150 ms of rest between images exist to let these variables decay, so by default they are
replaced by this reset; ``rest`` (ms) simulates them anyway.

Semantics are those of :class:`snnrl.network.Network` in synchronous mode (every connection
has a one-step delay): at step ``t`` the excitatory layer receives ``X_{t-1} W`` plus the
inhibition of step ``t-1``'s spikes, the inhibitory layer receives ``exc * Ae_{t-1}``, then
STDP updates ``W`` with the spikes of step ``t`` (traces include them).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from snnrl.fused import CompetitiveParts, competitive_parts, run_competitive
from snnrl.vision.types import INHIBITION, REDUCTIONS, Activity, DiehlCookConfig  # noqa: F401 (re-exported)

__all__ = [
    "PRESETS",
    "Activity",
    "DiehlCook",
    "DiehlCookConfig",
    "NetworkModel",
    "convolutional",
    "local_mask",
    "locally_connected",
    "same_location_inhibition",
]

#: Named parameter sets. ``"bindsnet"``: BindsNET 0.3.4's ``DiehlAndCook2015`` with its
#: ``eth_mnist.py`` defaults (exc 22.5, inh 120, reset -60, one spike per step).
#: ``"bindsnet-v2"``: its ``DiehlAndCook2015v2`` (direct inhibition). ``"paper"``: Diehl & Cook
#: (2015)'s excitatory reset (-65 mV), weight sum 78 and no one-spike limit. ``"tuned"``:
#: BindsNET's parameters without the one-spike limit (best of our sweep; use it with the
#: ``"tuned"`` protocol of :mod:`snnrl.vision.training`, 64 Hz input).
PRESETS: dict[str, DiehlCookConfig] = {
    "bindsnet": DiehlCookConfig(),
    "bindsnet-v2": DiehlCookConfig(inhibition="direct"),
    "paper": DiehlCookConfig(reset=-65.0, one_spike=False, norm=78.0),
    "tuned": DiehlCookConfig(one_spike=False),
}


def local_mask(input_shape: tuple[int, int], kernel_size: int, stride: int, n_filters: int) -> Tensor:
    """Weight mask of a 2-D locally connected layer as a dense ``(H * W, N)`` bool matrix.

    Excitatory neuron ``(f, p)`` (filter ``f`` at output position ``p``, flattened as
    ``f * P + p``, ``P`` positions) sees the ``kernel_size x kernel_size`` patch of position
    ``p``: the layout of :class:`snnrl.network.LocalConnection2D`'s target ``(n_filters, H', W')``.

    Shape:
        output ``(H * W, n_filters * H' * W')``.
    """
    h, w = input_shape
    oh, ow = (h - kernel_size) // stride + 1, (w - kernel_size) // stride + 1
    if oh < 1 or ow < 1:
        raise ValueError(f"kernel_size={kernel_size} does not fit a {input_shape} input")
    pos = torch.zeros(oh * ow, h, w, dtype=torch.bool)
    for i in range(oh):
        for j in range(ow):
            pos[i * ow + j, i * stride:i * stride + kernel_size, j * stride:j * stride + kernel_size] = True
    per_pos = pos.reshape(oh * ow, h * w).t()  # (H*W, P)
    return per_pos.repeat(1, n_filters)  # column f * P + p


def same_location_inhibition(n_filters: int, n_positions: int, inh: float) -> Tensor:
    """Lateral weights ``(N, N)``: ``-inh`` between different filters at the same position (LC-SNN)."""
    f = torch.arange(n_filters * n_positions) // n_positions
    p = torch.arange(n_filters * n_positions) % n_positions
    same_pos = p.unsqueeze(1) == p.unsqueeze(0)
    other = f.unsqueeze(1) != f.unsqueeze(0)
    return torch.where(same_pos & other, torch.tensor(-float(inh)), torch.tensor(0.0))


class DiehlCook(nn.Module):
    """A Diehl & Cook network's learned state and its fast simulation.

    Args:
        config: the parameters (a :class:`DiehlCookConfig`, or a preset name from :data:`PRESETS`).
        mask: bool ``(n_input, n_neurons)``, True where a synapse exists (None: all to all).
        lateral: ``(n_neurons, n_neurons)`` inhibition weights (from ``Ai`` or ``Ae``, by
            ``config.inhibition``); default ``-inh`` off the diagonal.
        weight: initial ``(n_input, n_neurons)`` weights; default ``U(0, init_scale)``.
        generator: random source of the default weights.

    Buffers:
        weight ``(n_input, N)``, theta ``(N,)`` (mV), lateral ``(N, N)``, mask ``(n_input, N)``
        or None.
    """

    # buffers (annotated for type checkers: nn.Module.__getattr__ is untyped)
    weight: Tensor
    theta: Tensor
    lateral: Tensor
    mask: Tensor | None

    def __init__(self, config: DiehlCookConfig | str = "bindsnet", *, mask: Tensor | None = None,
                 lateral: Tensor | None = None, weight: Tensor | None = None,
                 generator: torch.Generator | None = None) -> None:
        super().__init__()
        if isinstance(config, str):
            if config not in PRESETS:
                raise ValueError(f"unknown preset {config!r}; known: {sorted(PRESETS)}")
            config = PRESETS[config]
        if not isinstance(config, DiehlCookConfig):
            raise TypeError(f"config must be a DiehlCookConfig or a preset name, got {type(config).__name__}")
        self.config = config
        n_in, n = config.n_input, config.n_neurons
        if weight is None:
            weight = torch.rand(n_in, n, generator=generator) * config.init_scale
        elif tuple(weight.shape) != (n_in, n) or not weight.is_floating_point():
            raise ValueError(f"weight must be a float tensor of shape {(n_in, n)}, got {tuple(weight.shape)}")
        if mask is not None and (mask.dtype != torch.bool or tuple(mask.shape) != (n_in, n)):
            raise ValueError(f"mask must be a bool tensor of shape {(n_in, n)}")
        if lateral is None:
            lateral = -config.inh * (1.0 - torch.eye(n))
        elif tuple(lateral.shape) != (n, n):
            raise ValueError(f"lateral must have shape {(n, n)}, got {tuple(lateral.shape)}")
        self.register_buffer("weight", weight.detach().to(torch.float32).clone())
        self.register_buffer("theta", torch.zeros(n))
        self.register_buffer("lateral", lateral.detach().to(torch.float32).clone())
        self.register_buffer("mask", None if mask is None else mask.clone())
        self.constrain()
        self.normalize()

    @property
    def n_neurons(self) -> int:
        return self.config.n_neurons

    # ------------------------------------------------------------------ weights
    def constrain(self) -> None:
        """Clamp the weights to ``[wmin, wmax]`` and zero the masked ones."""
        w = self.weight
        w.clamp_(self.config.wmin, self.config.wmax)
        if self.mask is not None:
            w.masked_fill_(~self.mask, 0.0)

    def normalize(self) -> None:
        """Scale each neuron's input weights to sum to ``config.norm`` (no-op when None), then
        re-impose the bounds (as the generic network's first learning step after a
        ``connection.normalize()`` does), so a run always starts with weights in ``[wmin, wmax]``."""
        if self.config.norm is None:
            return
        w = self.weight
        total = w.abs().sum(0, keepdim=True)
        w.mul_(self.config.norm / total.masked_fill_(total == 0, 1.0))
        self.constrain()

    # ------------------------------------------------------------- simulation
    def run(self, spikes: Tensor, *, learning: bool = False, rest: float = 0.0, clamp: Tensor | None = None,
            clamp_rate: float | None = None, drive: Tensor | None = None, generator: torch.Generator | None = None,
            chunk: int = 16) -> Activity:
        """Present ``B`` images at once, from the resting state (see :func:`snnrl.fused.run_competitive`).

        Args:
            spikes: input spikes.
            learning: STDP and threshold adaptation on.
            rest: ms of simulated silence after the presentation.
            clamp: bool ``(B, N)``: neurons forced to spike (supervision).
            clamp_rate: rate of the forced spikes in Hz (None: every step, as BindsNET).
            drive: ``(B, N)`` constant current (mV per step) into each excitatory neuron.
            generator: random source (one-spike choice, clamp draws).
            chunk: longest closed-form stretch between spikes when learning one image (1: step by step).

        Shape:
            ``spikes``: ``(T, B, n_input)`` bool.
        """
        return run_competitive(self._fused_parts(), spikes, learning=learning, rest=rest, clamp=clamp,
                               clamp_rate=clamp_rate, drive=drive, generator=generator, chunk=chunk)

    def _fused_parts(self) -> CompetitiveParts:
        """The parts of :meth:`network` for the fused path, matched once and kept while the
        model's tensors and config stay the ones they were built from."""
        cached = self.__dict__.get("_fused")
        tensors = (self.weight, self.theta, self.lateral)
        if cached is not None and cached[1] is self.config and all(
                a.data_ptr() == b.data_ptr() for a, b in zip(cached[2], tensors, strict=True)):
            return cached[0]
        parts = competitive_parts(self.network())
        self.__dict__["_fused"] = (parts, self.config, tensors)
        return parts

    def network(self) -> Any:
        """This model as a generic :class:`snnrl.network.Network` that shares its tensors: a run
        of it changes the model's ``weight`` and ``theta`` (:meth:`to_network` makes copies)."""
        from torch import nn

        net = self.to_network()
        conn = net.connections["X->Ae"]
        conn.weight = nn.Parameter(self.weight, requires_grad=False)
        net.layers["Ae"]._buffers["theta"] = self.theta
        key = "Ai->Ae" if self.config.inhibition == "layer" else "Ae->Ae"
        net.connections[key].weight = nn.Parameter(self.lateral, requires_grad=False)
        return net

    # ----------------------------------------------------------- generic network
    def to_network(self, batch_size: int = 1, generator: torch.Generator | None = None) -> Any:
        """The same model as a generic :class:`snnrl.network.Network` (layers ``X``, ``Ae``, ``Ai``).

        The connection ``X->Ae`` carries a :class:`snnrl.learning.PostPre` rule with this
        model's rates and reduction; weights and thresholds are copies. Normalisation is not
        part of a run (call :meth:`normalize` between images, or ``connection.normalize()``).
        """
        from snnrl.learning import PostPre
        from snnrl.network import Connection, DiehlAndCookNodes, Input, LIFNodes, Network

        c = self.config
        n = c.n_neurons
        net = Network(dt=c.dt, batch_size=batch_size)
        net.add_layer(Input(c.n_input), "X")
        ae = DiehlAndCookNodes(n, thresh=c.thresh, rest=c.rest, reset=c.reset, refrac=c.refrac,
                               tc_decay=c.tc_decay, theta_plus=c.theta_plus, tc_theta_decay=c.tc_theta_decay,
                               one_spike=c.one_spike, generator=generator)
        ae.theta.copy_(self.theta)
        net.add_layer(ae, "Ae")
        rule = PostPre(nu=(c.nu_pre, c.nu_post), reduction=c.reduction, tc_pre=c.tc_pre, tc_post=c.tc_post)
        net.add_connection(Connection(net.layers["X"], ae, self.weight.clone(), wmin=c.wmin, wmax=c.wmax,
                                      norm=None, mask=self.mask, rule=rule), "X", "Ae")
        if c.inhibition == "layer":
            ai = LIFNodes(n, thresh=c.inh_thresh, rest=c.inh_rest, reset=c.inh_reset, refrac=c.inh_refrac,
                          tc_decay=c.inh_tc_decay)
            net.add_layer(ai, "Ai")
            net.add_connection(Connection(ae, ai, c.exc * torch.eye(n)), "Ae", "Ai")
            net.add_connection(Connection(ai, ae, self.lateral.clone()), "Ai", "Ae")
        else:
            net.add_connection(Connection(ae, ae, self.lateral.clone()), "Ae", "Ae")
        return net

    def load_from_network(self, net: Any) -> None:
        """Copy ``X->Ae`` weights and ``Ae`` thresholds back from a network built by :meth:`to_network`."""
        self.weight.copy_(net.connections["X->Ae"].weight.data)
        self.theta.copy_(net.layers["Ae"].theta)

    def extra_repr(self) -> str:
        c = self.config
        return (f"n_input={c.n_input}, n_neurons={c.n_neurons}, inhibition={c.inhibition!r}, "
                f"masked={self.mask is not None}")


def locally_connected(config: DiehlCookConfig | str = "tuned", *, kernel_size: int = 12, stride: int = 4,
                      n_filters: int = 25, input_shape: tuple[int, int] = (28, 28), inh: float | None = None,
                      norm: float | None = None, generator: torch.Generator | None = None) -> DiehlCook:
    """A locally connected Diehl & Cook network (LC-SNN, Saunders et al. 2019).

    Each of ``n_filters`` filters has its own weights at every position of a ``kernel_size``
    window slid with ``stride`` (a :class:`snnrl.network.LocalConnection2D` geometry, held as a
    masked dense matrix so the fast engine runs it); neurons of different filters at the same
    position inhibit each other directly (``-inh``). Neuron ``f * P + p`` is filter ``f`` at
    position ``p``.

    Args:
        config: base parameters (``n_input`` and ``n_neurons`` are set here).
        norm: sum of each neuron's input weights (default: the config's ``norm``).
    """
    base = PRESETS[config] if isinstance(config, str) else config
    mask = local_mask(input_shape, kernel_size, stride, n_filters)
    positions = mask.shape[1] // n_filters
    cfg = base.replace(n_input=input_shape[0] * input_shape[1], n_neurons=mask.shape[1], inhibition="direct",
                       norm=base.norm if norm is None else norm)
    lateral = same_location_inhibition(n_filters, positions, cfg.inh if inh is None else inh)
    return DiehlCook(cfg, mask=mask, lateral=lateral, generator=generator)


class NetworkModel:
    """A Diehl & Cook variant run by the generic :class:`snnrl.network.Network` (e.g. convolutional),
    with the interface of :class:`DiehlCook` that :class:`snnrl.vision.training.Trainer` uses.

    The network has layers ``X`` (input) and ``Ae`` (excitatory) and a connection ``X->Ae``
    with a learning rule and ``norm``. Mini-batches use the rule's batch reduction.
    """

    def __init__(self, network: Any, config: DiehlCookConfig) -> None:
        self.network = network
        self._config = config
        self.n_neurons = int(network.layers["Ae"].n)

    @property
    def config(self) -> DiehlCookConfig:
        return self._config

    @config.setter
    def config(self, value: DiehlCookConfig) -> None:  # the trainer's learning-rate schedule
        self._config = value
        rule = self.network.connections["X->Ae"].rule
        rule.nu_pre, rule.nu_post = value.nu_pre, value.nu_post

    @property
    def weight(self) -> Tensor:
        return self.network.connections["X->Ae"].weight.data

    @property
    def theta(self) -> Tensor:
        return self.network.layers["Ae"].theta

    def normalize(self) -> None:
        self.network.connections["X->Ae"].normalize()

    def to_network(self) -> Any:
        return self.network

    def run(self, spikes: Tensor, *, learning: bool = False, rest: float = 0.0, clamp: Tensor | None = None,
            clamp_rate: float | None = None, drive: Tensor | None = None, generator: torch.Generator | None = None,
            chunk: int = 16) -> Activity:
        """As :meth:`DiehlCook.run` (``clamp_rate`` and ``drive`` are not supported; ``chunk`` is ignored)."""
        from snnrl.network import Monitor

        if clamp_rate is not None or drive is not None:
            raise ValueError("NetworkModel supports clamping on every step only (no clamp_rate, no drive)")
        net = self.network
        x_shape = net.layers["X"].shape
        steps, batch = spikes.shape[:2]
        x = spikes.reshape(steps, batch, *x_shape)
        rest_steps = round(rest / self._config.dt)
        if rest_steps:
            x = torch.cat([x, x.new_zeros(rest_steps, batch, *x_shape)])
        net.train(learning)
        net.reset_state_variables()
        mon = Monitor(net.layers["Ae"], ["s"])
        net.add_monitor(mon, "_vision_spikes")
        try:
            kw = {} if clamp is None else {"clamp": {"Ae": clamp.reshape(batch, *net.layers["Ae"].shape)}}
            net.run({"X": x}, **kw)
            s = mon.get("s").reshape(x.shape[0], batch, -1)
        finally:
            del net.monitors["_vision_spikes"]
        events = s.nonzero()
        return Activity(s.sum(0).to(torch.float32), events, int(x.shape[0]))


def convolutional(config: DiehlCookConfig | str = "tuned", *, kernel_size: int = 16, stride: int = 4,
                  n_filters: int = 25, input_shape: tuple[int, int] = (28, 28), inh: float | None = None,
                  norm: float | None = None, batch_size: int = 1,
                  generator: torch.Generator | None = None) -> NetworkModel:
    """A convolutional Diehl & Cook network (BindsNET's ``conv_mnist.py``): shared filters
    (:class:`snnrl.network.Conv2dConnection` with :class:`snnrl.learning.PostPre`) into adaptive
    excitatory neurons that inhibit the other filters at their position.

    Args:
        norm: sum of each filter's weights (default ``0.4 * kernel_size**2``, BindsNET's).
    """
    from snnrl.learning import PostPre
    from snnrl.network import Connection, Conv2dConnection, DiehlAndCookNodes, Input, Network

    c = PRESETS[config] if isinstance(config, str) else config
    h, w = input_shape
    oh, ow = (h - kernel_size) // stride + 1, (w - kernel_size) // stride + 1
    positions = oh * ow
    n = n_filters * positions
    c = c.replace(n_input=h * w, n_neurons=n, inhibition="direct",
                  norm=0.4 * kernel_size**2 if norm is None else norm)
    net = Network(dt=c.dt, batch_size=batch_size)
    net.add_layer(Input(shape=(1, h, w)), "X")
    ae = DiehlAndCookNodes(shape=(n_filters, oh, ow), thresh=c.thresh, rest=c.rest, reset=c.reset,
                           refrac=c.refrac, tc_decay=c.tc_decay, theta_plus=c.theta_plus,
                           tc_theta_decay=c.tc_theta_decay, one_spike=c.one_spike, generator=generator)
    net.add_layer(ae, "Ae")
    rule = PostPre(nu=(c.nu_pre, c.nu_post), reduction=c.reduction, tc_pre=c.tc_pre, tc_post=c.tc_post)
    filters = torch.rand(n_filters, 1, kernel_size, kernel_size, generator=generator) * c.init_scale
    net.add_connection(Conv2dConnection(net.layers["X"], ae, kernel_size, stride, w=filters, wmin=c.wmin,
                                        wmax=c.wmax, norm=c.norm, rule=rule), "X", "Ae")
    lateral = same_location_inhibition(n_filters, positions, c.inh if inh is None else inh)
    net.add_connection(Connection(ae, ae, lateral), "Ae", "Ae")
    return NetworkModel(net, c)
