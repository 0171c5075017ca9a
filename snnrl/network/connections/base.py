"""Connections between populations.

Every connection type implements the small :class:`AbstractConnection` interface:

* ``compute(s)``: synaptic input to the target for the source's spikes of one step;
* ``compute_sequence(s_seq)``: the same for many steps at once (used when the source's activity
  is known in advance and the weights do not change during a run);
* ``correlate(pre, post)``: for every weight, the sum over the synapses that share it of
  ``pre_i * post_j``, per batch element. A learning rule computes its weight change from
  these correlations of spikes and traces, so it never needs to know the connection's class;
* ``apply_update(dw)``: add a weight change and re-impose the constraints (bounds, mask,
  Dale's rule).

Weights are a non-trainable ``nn.Parameter`` named ``weight`` (alias ``w``).

A subclass implements ``_propagate(s)`` (the input for one step of source activity, without
delays), ``correlate`` and ``_layout(...)`` (its own arguments and the shape of its weights; the
base constructor runs the whole set-up around it); the base class adds the features that compose
across types:

* **synaptic delays** in whole steps (``_set_delay``): per connection, the source's activity
  is held in a ring buffer for ``d`` steps before it is propagated (an axonal delay: the weight
  in force when the spike arrives is used); per synapse (types that implement
  ``_synaptic_events``), each synapse's current is scattered into a ring of future inputs ``d``
  steps ahead (the weight in force when the spike is sent is used). Either way a spike reaches
  the target exactly ``d`` steps later than with no delay, on top of the network's own one-step
  delay in synchronous mode;
* **Dale's rule** (``_set_dale``): every presynaptic neuron is excitatory or inhibitory, and
  ``constrain()`` clamps each of its outgoing weights to its sign (weights already of the right
  sign are left exactly as they are);
* a **structural mask** (``_set_mask``): absent synapses are held at zero weight;
* **transmission probability** and **intensity** (``_set_transmission``): stored and validated
  here, applied by the types that support them.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import torch
from torch import Tensor, nn

from snnrl import _checks as checks
from snnrl.network.nodes import Nodes
from snnrl.network.plasticity import Plasticity

__all__ = ["AbstractConnection", "WeightLayout", "check_endpoints", "clamp_"]


def _bound(name: str, value: float | Tensor, shape: tuple[int, ...]) -> float | Tensor:
    """A weight bound: a number, or a tensor broadcastable to the weights; no NaN, and only the
    infinity that means "no bound" (``-inf`` for ``wmin``, ``inf`` for ``wmax``)."""
    no_bound = -math.inf if name == "wmin" else math.inf
    if isinstance(value, Tensor):
        try:
            fits = torch.broadcast_shapes(value.shape, shape) == torch.Size(shape)
        except RuntimeError:
            fits = False
        if not fits:
            raise ValueError(
                f"{name} has shape {tuple(value.shape)}, expected a scalar or a tensor broadcastable "
                f"to the weight shape {shape}"
            )
        bound = value.float()
        bad = bound.isnan() | (bound.isinf() & (bound != no_bound))
        if bool(bad.any()):
            raise checks.invalid(name, f"finite or {no_bound} (no bound) in every element", bound[bad][0].item())
        return bound
    if not checks.is_real(value):
        raise checks.invalid(name, "a number or a tensor", value, checks.InvalidType)
    if math.isnan(value):
        raise checks.invalid(name, "a number or a tensor", value)
    if math.isinf(value) and value != no_bound:
        raise checks.invalid(name, f"finite or {no_bound} (no bound)", value, checks.OutOfRange)
    return float(value)


def clamp_(w: Tensor, lo: float | Tensor, hi: float | Tensor) -> Tensor:
    """Clamp ``w`` in place to ``[lo, hi]`` (scalars or broadcastable tensors); returns ``w``."""
    if isinstance(lo, Tensor) or isinstance(hi, Tensor):
        lo_t = lo if isinstance(lo, Tensor) else torch.tensor(lo, dtype=w.dtype, device=w.device)
        hi_t = hi if isinstance(hi, Tensor) else torch.tensor(hi, dtype=w.dtype, device=w.device)
        return torch.clamp(w, min=lo_t.to(w.dtype), max=hi_t.to(w.dtype), out=w)
    if lo > -math.inf or hi < math.inf:
        w.clamp_(min=lo, max=hi)
    return w


def _broadcastable(name: str, value: Tensor, shape: tuple[int, ...]) -> None:
    try:
        if torch.broadcast_shapes(value.shape, shape) != torch.Size(shape):
            raise RuntimeError
    except RuntimeError:
        raise ValueError(
            f"{name} has shape {tuple(value.shape)}, expected a scalar or a tensor broadcastable to the "
            f"weight shape {shape}"
        ) from None


def check_endpoints(source: Any, target: Any) -> None:
    """Raise ``TypeError`` unless ``source`` and ``target`` are populations (for checks that must
    come before :class:`AbstractConnection`'s own, in a subclass that reads them first)."""
    if not isinstance(source, Nodes) or not isinstance(target, Nodes):
        raise TypeError(
            f"source and target must be Nodes, got {type(source).__name__} and {type(target).__name__}"
        )


class WeightLayout(NamedTuple):
    """A connection type's weights, as its :meth:`AbstractConnection._layout` describes them."""

    shape: tuple[int, ...]
    """The weight's shape."""
    described: str
    """How error messages name that shape, e.g. ``"(source.n, target.n)"``."""
    dale_shapes: Sequence[tuple[int, ...]]
    """The accepted shapes of the ``dale`` argument."""
    dale_unit: str
    """What one entry of ``dale`` stands for (for error messages), e.g. ``"presynaptic neuron"``."""
    dale_sign: Callable[[Tensor], Tensor]
    """Maps a ``+-1`` tensor of ``dale``'s shape to one broadcastable to the weights."""
    bias: tuple[tuple[int, ...], str] | None = None
    """The bias's shape and how messages name it; None: the type has no bias."""
    synapse_delays: bool = False
    """Whether ``delay`` may be a tensor of the weight's shape (one delay per synapse)."""


class AbstractConnection(nn.Module, ABC):
    """Base class of connections (see the module docstring for the interface).

    The constructor does the whole set-up, in this order: it checks the endpoints, asks the
    subclass for its weight layout (:meth:`_layout`, which also validates and stores the type's
    own arguments), then sets the weight bounds, Dale's rule, the weights, the bias, the mask,
    the delay and the transmission, imposes the constraints (and ``norm``) on the initial weights,
    and finally attaches ``rule``. A subclass passes the shared arguments through and puts what is
    its own in :meth:`_layout` (whose arguments are the extra keywords given here), so it cannot
    leave out a step. A type without weights (pooling) returns None from :meth:`_layout` and gets
    only the delay, the transmission and the rule.

    Args:
        source: presynaptic population.
        target: postsynaptic population.
        w: initial weights of the layout's shape; None: drawn by :meth:`_initial_weights`.
        b: bias of the layout's bias shape, or None.
        wmin: lower weight bound (scalar or tensor broadcastable to the weights).
        wmax: upper weight bound.
        norm: if given, ``normalize()`` scales each target neuron's incoming absolute weights
            to sum to ``norm``.
        mask: boolean structural mask of the weight's shape (``True`` where a synapse exists).
        weight_decay: fraction of each weight removed per learning update.
        dale: Dale's rule, a bool tensor of one of the layout's ``dale_shapes``.
        delay: an int >= 0 (steps) or, where the layout allows it, an integer tensor of the
            weight's shape.
        probability: transmission probability (None: always transmit), where supported.
        intensity: multiplier of every synapse's transmission, where supported.
        generator: random source for the default weights and the transmission draws.
        rule: learning rule (a :class:`snnrl.learning.LearningRule`, any
            :class:`~snnrl.network.plasticity.Plasticity`, or None).
        layout_args: the subclass's own arguments, passed to :meth:`_layout`.

    Attributes:
        delay: the delay in steps (an int for a per-connection delay, or an integer tensor of
            the weight's shape for per-synapse delays).
        max_delay: the largest delay in steps.
        probability: transmission probability (None, a float or a tensor), where supported.
        intensity: multiplier of every synapse's transmission (a float or a tensor), where
            supported.
        mask: boolean structural mask (``True`` where a synapse exists) or None.
        dale: boolean tensor, True for excitatory presynaptic units, or None.
        spec_init: the ``init`` table of the spec this connection was built from (set by
            :func:`~snnrl.network.spec.network_from_spec`, written back by ``network_to_spec``),
            or None.
        spec_inline: the names of the tensor arguments that spec gave inline (written back
            inline), or None.
    """

    spec_init: dict[str, Any] | None = None
    spec_inline: frozenset[str] | None = None
    # submodules and buffers, annotated for type checkers (nn.Module.__getattr__ is untyped)
    source: Nodes
    target: Nodes
    rule: Plasticity | None

    def __init__(
        self,
        source: Nodes,
        target: Nodes,
        w: Tensor | None = None,
        *,
        b: Tensor | None = None,
        wmin: float | Tensor = -math.inf,
        wmax: float | Tensor = math.inf,
        norm: float | None = None,
        mask: Tensor | None = None,
        weight_decay: float = 0.0,
        dale: Tensor | None = None,
        delay: int | Tensor = 0,
        probability: float | Tensor | None = None,
        intensity: float | Tensor = 1.0,
        generator: torch.Generator | None = None,
        rule: Plasticity | None = None,
        **layout_args: Any,
    ) -> None:
        super().__init__()
        check_endpoints(source, target)
        if norm is not None:
            norm = checks.positive("norm", norm, what="> 0 (a finite number) or None")
        weight_decay = checks.in_range("weight_decay", weight_decay, 0, 1, high_open=True)
        # Plain references, not submodules: the network owns the layers (no duplicate state_dict entries).
        self.__dict__["source"] = source
        self.__dict__["target"] = target
        self.norm = norm
        self.weight_decay = weight_decay
        self.rule: Plasticity | None = None
        self._wmin_raw, self._wmax_raw = wmin, wmax
        # Features that compose across connection types (configured by the _set_* helpers).
        self.register_buffer("mask", None)
        self.register_buffer("dale", None)
        self.register_buffer("_dale_sign", None, persistent=False)
        self.register_buffer("tie", None, persistent=False)
        self.delay: int | Tensor = 0
        self.max_delay = 0
        self.probability: float | Tensor | None = None
        self.intensity: float | Tensor = 1.0
        self.stochastic = False
        self.__dict__["_delay_mode"] = 0  # 0: none, 1: per connection, 2: per synapse
        self.__dict__["_ring"] = None  # delay state: source ring (mode 1) or future-input ring (mode 2)
        self.__dict__["_ptr"] = 0
        self.__dict__["generator"] = None

        layout = self._layout(**layout_args)
        shape: tuple[int, ...] = ()
        if layout is None:
            if w is not None or b is not None or mask is not None or dale is not None:
                raise TypeError(f"{type(self).__name__} has no weights (its _layout() is None): it takes no "
                                "w, b, mask or dale")
        else:
            shape = layout.shape
            self._init_bounds(shape)
            self._set_dale(dale, layout.dale_shapes, layout.dale_unit, layout.dale_sign)
            self._weight_parameter(w, shape, generator, layout.described)
            if layout.bias is not None:
                self._bias_parameter(b, *layout.bias)
            elif b is not None:
                raise TypeError(f"{type(self).__name__} has no bias; b must be None")
            self._set_mask(mask, shape)
        self._set_delay(delay, shape if layout is not None and layout.synapse_delays else None)
        self._set_transmission(probability, intensity, shape, generator)
        if layout is not None:
            self._constrain_and_normalize()
        recorded = self.__dict__.get("_constructor_args", {})
        if layout is not None and rule is None and recorded.get("rule") is not None:
            raise TypeError(f"{type(self).__name__} was given a rule but did not pass it on to "
                            "AbstractConnection.__init__")
        self.set_rule(rule)

    def _layout(self) -> WeightLayout | None:
        """Validate and store this type's own arguments (the constructor's ``layout_args``) and
        describe its weights; None for a type without weights.

        Called by the constructor after the shared attributes are set (``source``, ``target``,
        ``norm``, ...) and before the weights exist. A subclass that overrides it declares its
        own arguments as parameters of this method.
        """
        return None

    # ------------------------------------------------------------ the interface
    weight: nn.Parameter

    @property
    def w(self) -> Tensor:
        """The weights (alias of ``weight``)."""
        return self.weight

    def compute(self, s: Tensor) -> Tensor:
        """Synaptic input to the target for one step of source activity (after any delay).

        Shape:
            ``s``: ``(B, *source.shape)``; output ``(B, *target.shape)``.
        """
        mode = self.__dict__["_delay_mode"]
        if mode == 0:
            return self._propagate(s)
        if mode == 1:
            return self._propagate(self._delayed_source(s))
        return self._propagate_synapse_delays(s)

    def _propagate(self, s: Tensor) -> Tensor:
        """The input for one step of source activity, ignoring delays (implemented by subclasses).

        Shape:
            ``s``: ``(B, *source.shape)``; output ``(B, *target.shape)``.
        """
        if type(self).compute is AbstractConnection.compute:
            raise NotImplementedError(f"{type(self).__name__} must implement _propagate(s)")
        return self.compute(s)  # a subclass that overrides compute() directly

    def compute_sequence(self, s: Tensor) -> Tensor:
        """Synaptic input for ``T`` steps of source activity with fixed weights.

        Equivalent to calling :meth:`compute` on each step in turn (delay buffers included).

        Shape:
            ``s``: ``(T, B, *source.shape)``; output ``(T, B, *target.shape)``.
        """
        mode = self.__dict__["_delay_mode"]
        if mode == 0:
            return self._propagate_sequence(s)
        if mode == 1:
            steps = s.shape[0]
            ring = self._source_ring(s[0])
            p = self.__dict__["_ptr"]
            history = torch.cat([ring[p:], ring[:p]]) if p else ring  # oldest first
            full = torch.cat([history.to(s.dtype), s])
            ring.copy_(full[steps:])
            self.__dict__["_ptr"] = 0
            return self._propagate_sequence(full[:steps])
        return torch.stack([self.compute(s[t]) for t in range(s.shape[0])])

    def _propagate_sequence(self, s: Tensor) -> Tensor:
        """``_propagate`` for ``T`` steps; the default folds time into the batch (stateless types).

        Shape:
            ``s``: ``(T, B, *source.shape)``; output ``(T, B, *target.shape)``.
        """
        t, b = s.shape[:2]
        return self._propagate(s.reshape(t * b, *s.shape[2:])).view(t, b, *self.target.shape)

    @property
    def precomputable(self) -> bool:
        """Whether the output is a pure function of the current step's source activity (and the
        weights): no delay buffer, no random transmission, no internal state. Only such
        connections may have their input computed for a whole run in advance."""
        return self.__dict__["_delay_mode"] == 0 and not self.stochastic

    @abstractmethod
    def correlate(self, pre: Tensor, post: Tensor) -> Tensor:
        """Per-weight correlation ``sum_{synapses of w} pre_i * post_j`` for each batch element.

        Shape:
            ``pre``: ``(B, *source.shape)``; ``post``: ``(B, *target.shape)``;
            output ``(B, *weight.shape)``.
        """

    def apply_update(self, dw: Tensor) -> None:
        """Add ``dw`` to the weights, then apply weight decay and the constraints.

        Shape:
            ``dw``: ``weight.shape``.
        """
        w = self.weight.data
        w.add_(dw)
        if self.weight_decay:
            w.mul_(1.0 - self.weight_decay)
        self.constrain()

    def constrain(self) -> None:
        """Impose, in place: the tied pairs' mean (:meth:`set_tie`), the weight bounds, then the
        structural mask, then Dale's rule."""
        w = self.weight.data
        buffers = self._buffers
        tie = buffers["tie"]
        if tie is not None:
            flat = w.view(-1)
            flat.copy_((flat + flat[tie]) * 0.5)
        clamp_(w, self.wmin, self.wmax)
        mask = buffers["mask"]
        if mask is not None:
            w.masked_fill_(~mask, 0.0)
        sign = buffers["_dale_sign"]
        if sign is not None:
            # w -> sign * max(sign * w, 0): exact for weights of the right sign (sign is +-1)
            w.mul_(sign).clamp_(min=0.0).mul_(sign)

    def set_tie(self, partner: Tensor | None) -> None:
        r"""Tie the weights in pairs: ``w[k] == w[partner[k]]`` (flat indices), kept after every
        update by replacing both by their mean (the update a shared weight would get, halved).

        A symmetry of the task becomes one of the synapses this way: e.g. a game that is the same
        seen in a mirror with LEFT and RIGHT swapped ties the synapse from pixel ``(r, c)`` to a
        RIGHT neuron to the one from ``(r, W - 1 - c)`` to the matching LEFT neuron
        (:func:`snnrl.policy.symmetry.mirror_partners`). The weights are tied at once. Not saved
        with the ``state_dict``: whoever builds the connection sets it.

        Args:
            partner: int64 tensor of the weight's shape whose entries are flat weight indices,
                an involution (``partner[partner[k]] == k``; a fixed point ties a weight to
                itself); None removes the tie.
        """
        if partner is None:
            self.tie = None
            return
        w = self._parameters.get("weight")
        if w is None:
            raise TypeError(f"{type(self).__name__} has no weights to tie")
        n = w.numel()
        if not isinstance(partner, Tensor) or partner.dtype != torch.int64 or tuple(partner.shape) != tuple(w.shape):
            got = (tuple(partner.shape), partner.dtype) if isinstance(partner, Tensor) else type(partner).__name__
            raise ValueError(f"tie must be an int64 tensor of the weight's shape {tuple(w.shape)}, got {got}")
        flat = partner.reshape(-1).to(w.device)
        if bool(((flat < 0) | (flat >= n)).any()):
            raise ValueError(f"tie entries must be flat weight indices in [0, {n - 1}]")
        if not torch.equal(flat[flat], torch.arange(n, device=flat.device)):
            raise ValueError("tie must pair the weights: partner[partner[k]] == k for every k")
        self.tie = flat.clone()
        self.constrain()

    def normalize(self) -> None:
        """Scale incoming weights so that each target neuron's absolute weights sum to ``norm``."""

    def set_rule(self, rule: Plasticity | None) -> None:
        """Attach (or, with None, remove) the learning rule (a :class:`~snnrl.learning.LearningRule`,
        or any object with the methods of :class:`~snnrl.network.plasticity.Plasticity`)."""
        if rule is not None and not isinstance(rule, Plasticity):
            raise TypeError(f"rule must be a LearningRule instance, got {type(rule).__name__}")
        self.rule = rule
        if rule is not None:
            rule.bind(self)

    def reset_state_variables(self) -> None:
        """Reset per-run state: delay buffers, and the learning rule's traces and eligibility."""
        self.__dict__["_ring"] = None
        self.__dict__["_ptr"] = 0
        if self.rule is not None:
            self.rule.reset_state_variables()

    @property
    def state_names(self) -> tuple[str, ...]:
        """Recordable variables of this connection."""
        buffers = tuple(name for name, _ in self.named_buffers(recurse=False) if not name.startswith("_"))
        return ("w", "weight", *buffers)

    # ------------------------------------------------------------- helpers for subclasses
    def _init_bounds(self, shape: tuple[int, ...]) -> None:
        self.wmin = _bound("wmin", self._wmin_raw, shape)
        self.wmax = _bound("wmax", self._wmax_raw, shape)
        if not isinstance(self.wmin, Tensor) and not isinstance(self.wmax, Tensor):
            if self.wmin > self.wmax:
                raise ValueError(f"wmin={self.wmin} is greater than wmax={self.wmax}")
        elif bool(torch.as_tensor(self.wmin > self.wmax).any()):
            raise ValueError("wmin is greater than wmax for some weights")
        for name in ("wmin", "wmax"):
            if isinstance(getattr(self, name), Tensor):
                value = getattr(self, name)
                delattr(self, name)
                self.register_buffer(name, value)
        del self._wmin_raw, self._wmax_raw

    def _initial_weights(self, shape: tuple[int, ...], generator: torch.Generator | None) -> Tensor:
        """BindsNET's default: ``U(wmin, wmax)`` when both bounds are finite scalars, else
        ``U(0, 1)`` clamped to the bounds. With Dale's rule, each weight takes the sign of its
        presynaptic unit (magnitude as above)."""
        u = torch.rand(shape, generator=generator)
        lo, hi = self.wmin, self.wmax
        if not isinstance(lo, Tensor) and not isinstance(hi, Tensor) and math.isfinite(lo) and math.isfinite(hi):
            u = lo + (hi - lo) * u
        else:
            u = clamp_(u, lo, hi)
        sign = self._buffers["_dale_sign"]
        if sign is not None:
            u = u.abs().mul_(sign)
        return u

    def _weight_parameter(self, w: Tensor | None, shape: tuple[int, ...], generator: torch.Generator | None,
                          described: str) -> None:
        """Validate user weights (or draw the default ones) and store them as ``self.weight``."""
        if w is None:
            w = self._initial_weights(shape, generator)
        elif not isinstance(w, Tensor) or tuple(w.shape) != shape:
            got = tuple(w.shape) if isinstance(w, Tensor) else type(w).__name__
            raise ValueError(f"w has shape {got}, expected {described} = {shape}")
        elif not w.is_floating_point():
            raise TypeError(f"w must be a floating-point tensor, got dtype {w.dtype}")
        elif not torch.isfinite(w).all():
            raise ValueError("w contains NaN or infinite values")
        self.weight = nn.Parameter(w.detach().clone(), requires_grad=False)

    def _bias_parameter(self, b: Tensor | None, shape: tuple[int, ...], described: str) -> None:
        """Validate the user's bias (None: no bias) and store it as ``self.bias`` in the weight's dtype."""
        if b is not None:
            if not isinstance(b, Tensor) or tuple(b.shape) != shape:
                got = tuple(b.shape) if isinstance(b, Tensor) else type(b).__name__
                raise ValueError(f"b has shape {got}, expected {described} = {shape}")
            b = nn.Parameter(b.detach().to(self.weight.dtype).clone(), requires_grad=False)
        self.register_parameter("bias", b)

    def _set_sparse_threshold(self, sparse_threshold: float) -> None:
        """The fraction of active inputs up to which a type's sparse path is used (in ``[0, 1]``)."""
        self.sparse_threshold = checks.in_range("sparse_threshold", sparse_threshold, 0, 1, what="in [0, 1]")

    def _constrain_and_normalize(self) -> None:
        """Impose the constraints on the initial weights, then normalise them where ``norm`` is set."""
        self.constrain()
        if self.norm is not None:
            self.normalize()

    def _set_mask(self, mask: Tensor | None, shape: tuple[int, ...]) -> None:
        """Structural mask of the weight's shape; ``True`` where a synapse exists."""
        if mask is None:
            self.mask = None
            return
        if not isinstance(mask, Tensor) or mask.dtype != torch.bool or tuple(mask.shape) != shape:
            got = (tuple(mask.shape), mask.dtype) if isinstance(mask, Tensor) else type(mask).__name__
            raise ValueError(f"mask must be a bool tensor of shape {shape}, got {got}")
        self.mask = mask.detach().clone()

    def _set_dale(self, dale: Tensor | None, shapes: Sequence[tuple[int, ...]], unit: str,
                  to_weight: Callable[[Tensor], Tensor]) -> None:
        """Dale's rule: ``dale`` is a bool tensor, True for excitatory units.

        Args:
            dale: the user's argument, or None.
            shapes: the accepted shapes of ``dale``.
            unit: what one entry stands for (for error messages), e.g. "presynaptic neuron".
            to_weight: maps a ``+-1`` tensor of ``dale``'s shape to one broadcastable to the weights.
        """
        if dale is None:
            return
        if not isinstance(dale, Tensor) or dale.dtype != torch.bool:
            got = dale.dtype if isinstance(dale, Tensor) else type(dale).__name__
            raise TypeError(f"dale must be a bool tensor (True = excitatory {unit}), got {got}")
        if tuple(dale.shape) not in [tuple(s) for s in shapes]:
            expected = " or ".join(str(tuple(s)) for s in shapes)
            raise ValueError(f"dale has shape {tuple(dale.shape)}, expected {expected} (one entry per {unit})")
        self.dale = dale.detach().clone()
        sign = torch.where(self.dale, 1.0, -1.0)
        self._dale_sign = to_weight(sign).contiguous()

    def _set_delay(self, delay: int | Tensor, synapse_shape: tuple[int, ...] | None) -> None:
        """Per-connection delay (an int >= 0) or, where ``synapse_shape`` is given, per-synapse
        delays (an integer tensor of that shape)."""
        if isinstance(delay, Tensor):
            if synapse_shape is None:
                raise ValueError(
                    f"{type(self).__name__} supports only a per-connection delay (an int >= 0), got a tensor"
                )
            if delay.dtype == torch.bool or delay.is_floating_point() or delay.is_complex():
                raise TypeError(f"delay must be an int or an integer tensor of steps, got dtype {delay.dtype}")
            if tuple(delay.shape) != tuple(synapse_shape):
                raise ValueError(
                    f"delay has shape {tuple(delay.shape)}, expected an int or a tensor of the weight shape "
                    f"{tuple(synapse_shape)}"
                )
            d = delay.detach().to(torch.int32).clone()
            low = int(d.min()) if d.numel() else 0
            if low < 0:
                raise ValueError(f"delays must be >= 0 steps, got a minimum of {low}")
            del self.delay
            self.register_buffer("delay", d)
            self.max_delay = int(d.max()) if d.numel() else 0
            self.__dict__["_delay_mode"] = 2 if self.max_delay > 0 else 0
            return
        delay = checks.integer("delay", delay, 0, what="an int >= 0 (steps) or an integer tensor")
        self.delay = delay
        self.max_delay = delay
        self.__dict__["_delay_mode"] = 1 if delay > 0 else 0

    def _set_transmission(self, probability: float | Tensor | None, intensity: float | Tensor,
                          shape: tuple[int, ...], generator: torch.Generator | None) -> None:
        """Transmission probability (None: always transmit) and intensity, scalars or tensors
        broadcastable to ``shape``; random draws use ``generator``."""
        self.__dict__["generator"] = generator
        if probability is not None:
            if isinstance(probability, Tensor):
                if not probability.is_floating_point():
                    raise TypeError(f"probability must be a float tensor, got dtype {probability.dtype}")
                _broadcastable("probability", probability, shape)
                if probability.numel() and not bool(((probability >= 0) & (probability <= 1)).all()):
                    raise ValueError("probability must lie in [0, 1] for every synapse")
                del self.probability
                self.register_buffer("probability", probability.detach().clone())
            elif not checks.is_real(probability) or not 0.0 <= probability <= 1.0:
                raise checks.InvalidParameter(
                    f"probability must be in [0, 1], a tensor of those, or None; got {probability!r}",
                    name="probability", value=probability)
            else:
                self.probability = float(probability)
            self.stochastic = True
        if isinstance(intensity, Tensor):
            if not intensity.is_floating_point():
                raise TypeError(f"intensity must be a float tensor, got dtype {intensity.dtype}")
            _broadcastable("intensity", intensity, shape)
            if not bool(torch.isfinite(intensity).all()):
                raise ValueError("intensity contains NaN or infinite values")
            del self.intensity
            self.register_buffer("intensity", intensity.detach().clone())
        else:
            self.intensity = checks.finite("intensity", intensity, what="a finite number or a float tensor")

    # ------------------------------------------------------------- delay machinery
    def _source_ring(self, s: Tensor) -> Tensor:
        """The ring of the last ``delay`` source activities, (re)allocated to match ``s``."""
        ring = self.__dict__["_ring"]
        if ring is None or ring.shape[1:] != s.shape or ring.dtype != s.dtype or ring.device != s.device:
            ring = torch.zeros((self.max_delay, *s.shape), dtype=s.dtype, device=s.device)
            self.__dict__["_ring"] = ring
            self.__dict__["_ptr"] = 0
        return ring

    def _delayed_source(self, s: Tensor) -> Tensor:
        """Push ``s`` into the ring and return the activity of ``delay`` steps ago."""
        ring = self._source_ring(s)
        d = self.__dict__
        p = d["_ptr"]
        old = ring[p].clone()
        ring[p].copy_(s)
        d["_ptr"] = (p + 1) % self.max_delay
        return old

    def _synaptic_events(self, s: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """For per-synapse delays: every synaptic event of this step's activity ``s``.

        Returns ``(index, value, delay)``: the flat position ``b * target.n + j`` each event
        arrives at, its current (weight times activity, intensity and transmission included) and
        its synapse's delay. Implemented by the types that accept per-synapse delays.

        Shape:
            ``s``: ``(B, *source.shape)``; outputs ``(E,)``.
        """
        raise NotImplementedError(f"{type(self).__name__} does not support per-synapse delays")

    def _propagate_synapse_delays(self, s: Tensor) -> Tensor:
        index, value, delay = self._synaptic_events(s)
        batch = s.shape[0]
        width = batch * self.target.n
        slots = self.max_delay + 1
        d = self.__dict__
        ring = d["_ring"]
        if ring is None or ring.shape[1] != width or ring.dtype != value.dtype or ring.device != value.device:
            ring = torch.zeros((slots, width), dtype=value.dtype, device=value.device)
            d["_ring"] = ring
            d["_ptr"] = 0
        p = d["_ptr"]
        where = (delay.long() + p).remainder_(slots).mul_(width).add_(index)
        ring.view(-1).scatter_add_(0, where, value)
        out = ring[p].clone()
        ring[p].zero_()
        d["_ptr"] = (p + 1) % slots
        bias = self._parameters.get("bias")
        if bias is not None:
            out = out.view(batch, -1).add_(bias.reshape(1, -1))
        return out.view(batch, *self.target.shape)

    # ------------------------------------------------------------- transmission helpers
    def _transmitted(self, values: Tensor, rows: Tensor | None) -> Tensor:
        """Multiply per-synapse ``values`` by the intensity and by Bernoulli transmission draws.

        ``rows`` selects, along the first dimension of the (broadcast) intensity/probability
        tensors, the synapses ``values`` belong to (None: ``values`` covers the whole weight).
        """
        inten = self.intensity
        if isinstance(inten, Tensor):
            values = values * _select(inten, rows, values.dim())
        elif inten != 1.0:
            values = values * inten
        if self.stochastic:
            p = self.probability
            if isinstance(p, Tensor):
                p = _select(p, rows, values.dim())
            draws = torch.rand(values.shape, generator=self.__dict__["generator"], dtype=values.dtype,
                               device=values.device)
            values = values * (draws < p)
        return values


def _select(t: Tensor, rows: Tensor | None, dim: int) -> Tensor:
    """``t`` (broadcastable to a weight) restricted to the synapses of ``rows`` along dim 0."""
    if rows is None:
        return t
    if t.dim() == dim and t.shape[0] != 1:
        return t.index_select(0, rows)
    return t
