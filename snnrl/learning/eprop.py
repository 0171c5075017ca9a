r"""Reward-based e-prop (Bellec et al. 2020, Nat. Commun. 11:3625) as a learning rule.

e-prop factorises the gradient of a spiking network's objective into an *eligibility trace*
``e_ji``, computed forward in time from quantities local to synapse ``i -> j``, and a
*learning signal* ``L_j`` that tells neuron ``j`` how its spikes affect the objective. In
reward-based e-prop, ``L_j`` is the readouts' error fed back to neuron ``j`` (random feedback
weights by default: broadcast alignment) and the TD error ``δ`` of a critic scales the change:

.. math::
    \bar z_i &\leftarrow \alpha\, \bar z_i + z_i, \qquad \alpha = e^{-dt/\tau_m}
        \quad\text{(the filtered presynaptic spikes; } \tau_m \text{ of the target)} \\
    \psi_j &= \frac{\gamma}{w}\max\!\big(0,\, 1 - |v_j - \vartheta_j| / w\big)
        \quad\text{(pseudo-derivative; } \gamma/w \text{ in the step a neuron spikes, 0 while refractory)} \\
    e_{ji} &= \psi_j\, \bar z_i, \qquad
    E_{ji} \leftarrow E_{ji}\, e^{-dt/\tau_e} + e_{ji}, \qquad
    \Delta w_{ji} = \nu\, R_b\big(m_{bj}\, E_{bji}\big)

with ``m`` the modulator the network delivers: ``δ`` (a number or ``(B,)``) or, through
``Network.deliver_reward(δ, signals={layer: L})``, the neuron-specific ``δ_b L_bj``
(:mod:`snnrl.network.modulator`). In the agents' pattern the eligibility ``E`` is built over
a decision window with reward 0 and the modulator is delivered once after the environment
answered (see :mod:`snnrl.learning.base`); a reward held during steps changes the weights by
``nu dt R_b(r_b E_b)`` per step, as :class:`~snnrl.learning.MSTDPET` does.

**The actor's trace of learning signals** (``tc_signal``). Delivered as above, the learning
signal of the decision just made multiplies an ``E`` that still holds the decayed eligibility of
earlier decisions, which were made for other actions; a TD error then credits those spikes with
the sign of the *current* action's error. Reward-based e-prop instead filters the product of the
two over time and lets the TD error scale the filtered sum (Bellec et al. 2020, Methods,
"reward-based e-prop"). With ``tc_signal`` set, every delivery that carries a learning signal
``L`` does, with ``k`` the steps since the previous one:

.. math::
    F \leftarrow e^{-k\,dt/\tau_s} F + L \odot E, \qquad E \leftarrow 0, \qquad
    \Delta w = \nu\, R_b(\delta_b F_b)

so the eligibility of every decision window keeps the sign of its own action's error, and the
TD errors of later steps still reach it (``τ_s`` plays the role of λ in TD(λ) actors).
Deliveries without a signal act on ``E`` as before.

Conventions and approximations (written down, tested in ``tests/learning/test_eprop.py``):

* synchronous propagation (the network's default): the input a target receives at step ``t``
  is the source's spikes of step ``t - 1``, so ``e`` at step ``t`` uses ``zbar`` before it
  takes this step's spikes;
* the populations store the voltage after the reset, so in the step a neuron spikes ``psi``
  takes its value at the threshold, ``gamma / w``; while refractory (input ignored) ``psi = 0``;
* the reset's own derivative is ignored, as in e-prop; when the populations are put at rest
  between decisions (a policy with ``carry_state = false``) ``zbar`` is cleared too
  (:meth:`EProp.reset_neuron_state`), the eligibility ``E`` is kept;
* the threshold is the target's ``thresh`` plus its adaptive ``theta`` when it has one
  (:class:`~snnrl.network.AdaptiveLIFNodes`);
* on connections that share weights (conv, local, pooling, mean-field) ``E`` is summed over the
  synapses of a weight, so only a number or ``(B,)`` modulator can be delivered there; a
  neuron-specific one needs a dense connection.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import TYPE_CHECKING

import torch
from torch import Tensor

from snnrl import _checks as checks
from snnrl._tensors import as_dtype
from snnrl.functional.plasticity import eprop_lif_traces_, pseudo_derivative
from snnrl.learning.adapters import learning_kernels
from snnrl.learning.base import ModulatedRule
from snnrl.registry import register

if TYPE_CHECKING:
    from snnrl.network.connections.base import AbstractConnection

__all__ = ["EProp"]


@register("rule")
class EProp(ModulatedRule):
    r"""Reward-based e-prop for LIF-type targets (see the module docstring for the equations).

    Args:
        nu: learning rate ``nu`` (one number: the rule has one term).
        tc_e_trace: ``τ_e`` (ms) of the eligibility ``E``; a decision window of ``T`` steps
            should fit in it (the default, 25 ms, suits ``T = 16``).
        gamma: the pseudo-derivative's height factor ``gamma`` (0.3 in Bellec et al.).
        tc_signal: ``τ_s`` (ms) of the actor's trace ``F`` of learning signals times
            eligibility (see the module docstring); None (default): the signal multiplies ``E``
            at delivery.
        width: the pseudo-derivative's half-width ``w`` in mV (default: the target's threshold
            minus its reset, 13 mV for BindsNET's LIF).
        reduction, normalize: see :mod:`snnrl.learning.rules`.

    Attributes:
        zbar: ``(B, *source.shape)`` filtered presynaptic spikes.
        e: ``(B, *weight.shape)`` eligibility ``E`` once flushed (read it with :meth:`eligibility`).
        f: ``(B, *weight.shape)`` the trace ``F`` of learning signals times eligibility
            (``tc_signal`` only; empty otherwise).
    """

    zbar: Tensor
    e: Tensor
    f: Tensor
    _win_pre: Tensor
    _win_post: Tensor

    #: Steps whose ``zbar`` and ``psi`` are recorded before they are added to ``E`` in one batched
    #: product (:meth:`flush`; anything that reads ``E`` flushes first).
    capacity = 32

    def __init__(self, *, nu: float = 1e-2, tc_e_trace: float = 25.0, gamma: float = 0.3,
                 width: float | None = None, tc_signal: float | None = None, reduction: str = "mean",
                 normalize: bool = False) -> None:
        if isinstance(nu, (tuple, list)):
            raise ValueError(f"EProp takes one learning rate nu, got {nu!r}")
        super().__init__(nu=nu, reduction=reduction, normalize=normalize)
        self.tc_e_trace = checks.positive("tc_e_trace", tc_e_trace)
        self.tc_signal = None if tc_signal is None else checks.positive("tc_signal", tc_signal)
        self.keeps_signal = self.tc_signal is not None
        self._since = 0  # steps since the last delivery with a signal (the decay of F is applied then)
        self.gamma = checks.positive("gamma", gamma)
        self.width = None if width is None else checks.positive("width", width)
        self.register_buffer("zbar", torch.zeros(0))
        self.register_buffer("e", torch.zeros(0))
        self.register_buffer("f", torch.zeros(0), persistent=self.keeps_signal)  # checkpoints without F load as before
        self.register_buffer("_win_pre", torch.zeros(0), persistent=False)
        self.register_buffer("_win_post", torch.zeros(0), persistent=False)
        self._pending = 0
        self._width = 1.0
        self._prepared: Tensor | None = None  # the signal prepare() folded (see _deliver_signal)

    def _check_connection(self, connection: AbstractConnection) -> None:
        target = connection.target
        names = getattr(target, "state_names", ())
        p = getattr(target, "p", None)
        if "v" not in names or p is None or not hasattr(p, "thresh") or not hasattr(p, "tc_decay"):
            raise ValueError(f"EProp needs a target with a membrane voltage 'v', a threshold and a membrane time "
                             f"constant (LIFNodes, CurrentLIFNodes, AdaptiveLIFNodes); {type(target).__name__} "
                             f"has state {list(names)}")
        if self.width is None:
            gap = torch.as_tensor(p.thresh, dtype=torch.float64) - torch.as_tensor(p.reset, dtype=torch.float64)
            width = float(gap.mean())
            if not width > 0:
                raise ValueError(f"EProp: the target's threshold minus reset must be > 0 to set the width, got "
                                 f"{width}; pass width=...")
            self._width = width
        else:
            self._width = self.width

    def _set_dt(self, dt: float) -> None:
        tc = torch.as_tensor(self.connection.target.p.tc_decay, dtype=torch.float64)  # type: ignore[union-attr]
        self._alpha = float(torch.exp(-dt / tc).mean())
        self._decay_e = math.exp(-dt / self.tc_e_trace)

    def _allocate(self, batch_size: int) -> None:
        super()._allocate(batch_size)
        conn = self.__dict__["_connection"]
        w = conn.weight
        self.zbar = w.new_zeros((batch_size, *conn.source.shape))
        self.e = w.new_zeros((batch_size, *w.shape))
        self.f = w.new_zeros((batch_size, *w.shape)) if self.keeps_signal else w.new_zeros(0)
        self._win_pre = w.new_zeros((self.capacity, batch_size, *conn.source.shape))
        self._win_post = w.new_zeros((self.capacity, batch_size, *conn.target.shape))
        self._pending = 0

    def flush(self) -> None:
        """Add the recorded steps to ``E``: ``E <- d^k E + sum_t d^(k-1-t) psi_t zbar_t``
        (``d = exp(-dt / tc_e)``), what ``k`` single steps give."""
        k = self._pending
        if not k:
            return
        self._pending = 0
        d = self._decay_e
        self.e.mul_(d**k)
        weights = [d ** (k - 1 - t) for t in range(k)]
        self.adapter.accumulate_window(self.e, self._win_pre[:k], self._win_post[:k], weights)

    def eligibility(self) -> Tensor:
        """``E`` as it is now (recorded steps included). Shape: ``(B, *weight.shape)``."""
        self.flush()
        return self.e

    def reset_state_variables(self, mask: Tensor | None = None) -> None:
        if mask is None:
            self._pending = 0
        else:
            self.flush()
        super().reset_state_variables(mask)

    def _save_to_state_dict(self, destination, prefix, keep_vars):  # type: ignore[no-untyped-def]  # nn.Module's
        self.flush()
        super()._save_to_state_dict(destination, prefix, keep_vars)

    def _apply(self, fn, recurse: bool = True):  # type: ignore[no-untyped-def]  # nn.Module's signature
        if self._win_pre.numel():
            self.flush()
        return super()._apply(fn, recurse)

    def _state(self) -> list[Tensor]:
        return [self.zbar, self.e, self.f] if self.keeps_signal else [self.zbar, self.e]

    def reset_neuron_state(self) -> None:
        """``zbar = 0``: after the target's voltage was reset, it no longer depends on earlier inputs."""
        self.zbar.zero_()

    def psi(self, connection: AbstractConnection, s_post: Tensor) -> Tensor:
        """This step's pseudo-derivative of the target neurons. Shape: ``(B, *target.shape)``."""
        target = connection.target
        return self._psi(connection, s_post, target.v, getattr(target, "refrac_count", None),
                         getattr(target, "theta", None))

    def _psi(self, connection: AbstractConnection, s_post: Tensor, v: Tensor, refrac: Tensor | None,
             theta: Tensor | None) -> Tensor:
        """The pseudo-derivative from the target's voltage, refractory counts and adaptive
        threshold: of one step (``(B, *target.shape)``) or of every step of a run (``(T, B, ...)``;
        ``theta`` then ``(T, 1, *target.shape)``), the same values element by element."""
        dtype = self.e.dtype
        thresh = connection.target.p.thresh
        if isinstance(theta, Tensor):
            thresh = theta + thresh
        if isinstance(thresh, Tensor):
            thresh = thresh.to(dtype)
        psi = pseudo_derivative(v.to(dtype), thresh, self._width, self.gamma)
        spiked = s_post.bool() if s_post.dtype != torch.bool else s_post
        psi.masked_fill_(spiked, self.gamma / self._width)
        if isinstance(refrac, Tensor):
            psi.masked_fill_((refrac > 0) & ~spiked, 0.0)
        return psi

    def _step(self, connection: AbstractConnection, s_pre: Tensor, s_post: Tensor,
              reward: float | Tensor | None) -> None:
        k = self._pending
        self._win_pre[k].copy_(self.zbar)
        self._win_post[k].copy_(self.psi(connection, s_post))
        self._pending = k + 1
        self._since += 1
        eprop_lif_traces_(self.zbar, s_pre, self._alpha)
        if self._pending == self.capacity:
            self.flush()
        g = self._modulation(reward)
        if g is None:
            self._idle()
            return
        self.flush()
        self.adapter.add_batch_weighted(self.e, g * (self.nu_post * self.dt))
        if self.normalize:
            connection.normalize()

    # ------------------------------------------------------------ whole runs
    def accepts_sequence(self, connection: AbstractConnection, reward: float | Tensor | None) -> bool:
        """True for a run whose reward is zero (on a connection without weight decay): the run
        then only builds eligibility, which :meth:`step_sequence` does for all its steps at once."""
        return reward is not None and not self.changes_weights(connection, reward)

    def sequence_state(self, connection: AbstractConnection) -> tuple[str, ...]:
        """The target's voltage at every step, and its refractory counts and adaptive threshold
        when it has them (what :meth:`psi` reads)."""
        target = connection.target
        names = ["v"]
        for name in ("refrac_count", "theta"):
            if isinstance(getattr(target, name, None), Tensor):
                names.append(name)
        return tuple(names)

    def step_sequence(self, connection: AbstractConnection, s_pre: Tensor, s_post: Tensor,
                      reward: float | Tensor | None, states: Mapping[str, Tensor] | None = None) -> None:
        """:meth:`_step` for every step of a reward-free run at once, with the same values: the
        pseudo-derivatives of all steps in one call, ``zbar`` step by step straight into the
        window buffers, and ``E`` accumulated at the same points as step by step (every
        :attr:`capacity` steps and when read).

        Shape:
            ``s_pre``: ``(T, B, *source.shape)``; ``s_post``: ``(T, B, *target.shape)``;
            ``states``: ``"v"`` (and ``"refrac_count"``) ``(T, B, *target.shape)``, ``"theta"``
            ``(T, *target.shape)``, as named by :meth:`sequence_state`.
        """
        if not self.accepts_sequence(connection, reward):
            raise ValueError(f"{type(self).__name__}.step_sequence needs a run that leaves the weights alone "
                             f"(reward 0, no weight decay), got reward {reward!r}")
        missing = [name for name in self.sequence_state(connection) if name not in (states or {})]
        if states is None or missing:
            raise ValueError(f"EProp.step_sequence needs the target's {missing} at every step (states=...)")
        steps = s_pre.shape[0]
        self._sync(connection, s_pre.shape[1])
        theta = states.get("theta")
        if theta is not None:
            theta = theta.unsqueeze(1)  # (T, *shape): one threshold per step for the whole batch
        psi = self._psi(connection, s_post, states["v"], states.get("refrac_count"), theta)
        zbar, alpha = self.zbar, self._alpha
        pre = as_dtype(s_pre, zbar.dtype).reshape(steps, *zbar.shape)
        kernels = learning_kernels() if zbar.is_cpu and zbar.dtype in (torch.float32, torch.float64) else None
        kernel = None if kernels is None else kernels.lif_trace_window
        if kernel is not None:  # numpy views: (capacity, m), (m,), (T, m)
            win_np, zbar_np = self._win_pre.view(self.capacity, -1).numpy(), zbar.view(-1).numpy()
            pre_np, alpha_np = pre.reshape(steps, -1).numpy(), zbar_np.dtype.type(alpha)
        t = 0
        while t < steps:
            k = self._pending
            n = min(steps - t, self.capacity - k)
            win = self._win_pre
            if kernel is not None:  # the same products and sums, in one compiled pass
                kernel(win_np, k, n, zbar_np, pre_np, t, alpha_np)
            else:
                win[k].copy_(zbar)
                for j in range(1, n):  # zbar before step t + j: alpha * zbar + the spikes of step t + j - 1
                    torch.mul(win[k + j - 1], alpha, out=win[k + j]).add_(pre[t + j - 1])
                zbar.copy_(win[k + n - 1]).mul_(alpha).add_(pre[t + n - 1])
            self._win_post[k:k + n].copy_(psi[t:t + n])
            self._pending = k + n
            if self._pending == self.capacity:
                self.flush()
            t += n
        self._since += steps

    def _deliver(self, connection: AbstractConnection, g: float | Tensor) -> None:
        r"""``Δw = nu R_b(m_b E_b)`` with the eligibility ``E`` as it is now (``m`` per neuron or not)."""
        self.flush()
        self.adapter.add_batch_weighted(self.e, g * self.nu_post)
        if self.normalize:
            connection.normalize()

    def prepare(self, connection: AbstractConnection, signal: Tensor | None = None) -> None:
        """With a learning ``signal`` (and ``tc_signal``): fold it into ``F`` as
        :meth:`_deliver_signal` does, whatever the modulator; the next delivery with the same
        signal then only applies the modulator (see :meth:`LearningRule.prepare`). Without one,
        nothing: a delivery of a zero modulator does not add the recorded steps to ``E``, and
        adding them earlier would round the sums differently."""
        super().prepare(connection, signal)
        if signal is not None and self.keeps_signal:
            if tuple(signal.shape) != self._neuron_shape():
                raise ValueError(f"signal must have shape {self._neuron_shape()}, got {tuple(signal.shape)}")
            self._check_finite(signal, "the learning signal")
            self._fold(signal)
            self._prepared = signal

    def _fold(self, signal: Tensor) -> None:
        """``F <- exp(-k dt / tc_signal) F + L * E``, ``E <- 0`` (``k``: steps since the last fold)."""
        assert self.tc_signal is not None  # keeps_signal
        self.flush()
        if self._since:
            self.f.mul_(math.exp(-self._since * self.dt / self.tc_signal))
            self._since = 0
        source_dims = self.e.dim() - signal.dim()
        ls = signal.to(self.e.dtype).reshape(signal.shape[0], *([1] * source_dims), *signal.shape[1:])
        self.f.addcmul_(ls, self.e)
        self.e.zero_()

    def _load_from_state_dict(self, *args, **kwargs):  # type: ignore[no-untyped-def]  # nn.Module's signature
        self._prepared = None
        super()._load_from_state_dict(*args, **kwargs)

    def _deliver_signal(self, connection: AbstractConnection, g: float | Tensor | None, signal: Tensor) -> None:
        r"""``F <- exp(-k dt / tc_signal) F + L * E``, ``E <- 0``, then ``Δw = nu R_b(m_b F_b)``
        (nothing but the fold when the modulator is zero). The fold is skipped when :meth:`prepare`
        has just done it with this very signal (no step since: ``E`` is still zero)."""
        if self._prepared is not signal or self._since or self._pending:
            self._fold(signal)
        self._prepared = None
        if g is not None:
            self.adapter.add_batch_weighted(self.f, g * self.nu_post)
            if self.normalize:
                connection.normalize()

    def extra_repr(self) -> str:
        return (f"{super().extra_repr()}, tc_e_trace={self.tc_e_trace}, gamma={self.gamma}, "
                f"width={self.width}" + (f", tc_signal={self.tc_signal}" if self.tc_signal is not None else ""))

