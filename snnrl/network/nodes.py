"""Neuron populations: thin modules that own explicit state and call the pure step functions.

Every population has a ``shape`` (``n = prod(shape)`` neurons), a batch size ``B`` and state
tensors shaped ``(B, *shape)``: the model's own state (e.g. ``v``, ``refrac_count``), the
spikes ``s`` of the last step and, optionally, a spike trace ``x`` and the summed input
``summed``. ``reset_state_variables()`` restores all of them; learned state (the adaptive
threshold ``theta``) is kept and has its own ``reset_theta()``.

State variables are readable as attributes (``layer.v``, ``layer.s``) and listed by
``state_names``; monitors record them.
"""

from __future__ import annotations

import inspect
import math
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from typing import Any, ClassVar, NamedTuple, TypedDict, Unpack

import torch
from torch import Tensor, nn

from snnrl import _checks as checks
from snnrl.functional._common import decay_factor, trace_step
from snnrl.functional.izhikevich import (
    FAST_SPIKING,
    REGULAR_SPIKING,
    IzhikevichParameters,
    IzhikevichState,
    izhikevich_step,
)
from snnrl.functional.lif import (
    AdaptiveLIFParameters,
    CurrentLIFParameters,
    CurrentLIFState,
    DiscreteLIF,
    IFParameters,
    IFState,
    LIFParameters,
    LIFState,
    McCullochPittsParameters,
    adaptive_lif_discrete,
    current_lif_discrete,
    discretize,
    lif_discrete,
    mcculloch_pitts_step,
    subtractive_if_discrete,
)
from snnrl.functional.srm import SRM0Parameters, SRM0State, srm0_step
from snnrl.registry import register

__all__ = [
    "AdaptiveLIFNodes",
    "BoostedLIFNodes",
    "CurrentLIFNodes",
    "DiehlAndCookNodes",
    "IFNodes",
    "Input",
    "IzhikevichNodes",
    "LIFNodes",
    "McCullochPitts",
    "Nodes",
    "PopulationOptions",
    "SRM0Nodes",
    "SubtractiveResetIFNodes",
]


def resolve_shape(n: int | None, shape: Sequence[int] | None) -> tuple[int, ...]:
    """Population shape from ``n`` and/or ``shape`` (they must agree when both are given)."""
    if n is None and shape is None:
        raise ValueError("give the population size: n=<int> or shape=<tuple of ints>")
    if shape is not None:
        shape = tuple(int(d) for d in shape)
        if not shape or any(d < 1 for d in shape):
            raise ValueError(f"shape must be a non-empty tuple of positive ints, got {shape!r}")
        if n is not None and n != math.prod(shape):
            raise ValueError(f"n={n} does not match shape={shape} (prod {math.prod(shape)})")
        return shape
    return (checks.integer("n", n, 1, what="a positive int"),)


#: Parameters with a lower bound: name -> (strict, how the message words the bound).
_LOWER_BOUNDS = {name: (True, "> 0") for name in ("tc_decay", "tc_i_decay", "tc_theta_decay", "d_thresh")}
_LOWER_BOUNDS["refrac"] = (False, ">= 0 ms")


class PopulationOptions(TypedDict, total=False):
    """The keyword options every population takes (see :class:`Nodes`).

    A subclass accepts them as ``**options: Unpack[PopulationOptions]`` and passes them on to
    ``super().__init__``; its signature (what ``inspect``, the registry and specs see) still
    lists them one by one, as keyword-only arguments after its own (see
    :meth:`Nodes.__init_subclass__`).
    """

    traces: bool
    traces_additive: bool
    tc_trace: float
    trace_scale: float
    sum_input: bool


class Nodes(nn.Module, ABC):
    """Base class of neuron populations.

    Args:
        n: number of neurons (or give ``shape``).
        shape: population shape, e.g. ``(1, 28, 28)``.
        traces: keep a spike trace ``x`` (needed by STDP rules).
        traces_additive: all-spike trace (``x += trace_scale`` per spike) instead of
            nearest-spike (``x = trace_scale``).
        tc_trace: trace time constant (ms).
        trace_scale: value a spike sets (or adds to) the trace.
        sum_input: accumulate the input in ``summed``.

    Subclasses set ``_param_type`` and implement ``_initial_state`` and ``_advance``; they take
    the options above as ``**options: Unpack[PopulationOptions]``.
    """

    _param_type: ClassVar[type[NamedTuple] | None] = None

    def __init_subclass__(cls, **kwargs: Any) -> None:
        """Spell the options out in the signature of a subclass ``__init__`` that takes ``**options``.

        The signature then lists ``traces``, ``traces_additive``, ``tc_trace``, ``trace_scale``
        and ``sum_input`` (with :class:`Nodes`' defaults) in place of ``**options``, so the
        registry records them and a spec writes and checks them like any other argument.
        """
        super().__init_subclass__(**kwargs)
        init = cls.__dict__.get("__init__")
        if init is None:
            return
        signature = inspect.signature(init)
        params = list(signature.parameters.values())
        if not params or params[-1].kind is not inspect.Parameter.VAR_KEYWORD or params[-1].name != "options":
            return
        options = [p for name, p in inspect.signature(Nodes.__init__).parameters.items()
                   if name in PopulationOptions.__annotations__]
        clash = sorted({p.name for p in params} & {p.name for p in options})
        if clash:
            raise TypeError(f"{cls.__qualname__}.__init__ declares {clash} and **options, which holds them")
        init.__signature__ = signature.replace(parameters=[*params[:-1], *options])

    def __init__(
        self,
        n: int | None = None,
        shape: Sequence[int] | None = None,
        *,
        traces: bool = False,
        traces_additive: bool = False,
        tc_trace: float = 20.0,
        trace_scale: float = 1.0,
        sum_input: bool = False,
    ) -> None:
        super().__init__()
        self.shape: tuple[int, ...] = resolve_shape(n, shape)
        self.n: int = math.prod(self.shape)
        self.traces = checks.boolean("traces", traces)
        self.traces_additive = checks.boolean("traces_additive", traces_additive)
        self.tc_trace = checks.positive("tc_trace", tc_trace)
        self.trace_scale = checks.finite("trace_scale", trace_scale)
        self.sum_input = checks.boolean("sum_input", sum_input)
        self.dt = 1.0
        self.batch_size = 1
        self._device = torch.device("cpu")
        self._dtype = torch.float32
        self.set_dt(1.0)
        self.reset_state_variables()

    # ----------------------------------------------------------------- parameters
    def _set_params(self, params: NamedTuple) -> None:
        """Validate per-neuron parameters (finite scalars, or finite tensors broadcastable to ``shape``)."""
        fixed = {}
        optional = {k for k, v in type(params)._field_defaults.items() if v is None}  # lbound: None is "none"
        for name, value in params._asdict().items():
            if value is None and name not in optional:
                raise checks.invalid(f"parameter {name}", "a float or a tensor", value, checks.InvalidType)
            if isinstance(value, Tensor):
                try:
                    fits = torch.broadcast_shapes(value.shape, self.shape) == self.shape  # (2, n) does not
                except RuntimeError:
                    fits = False
                if not fits:
                    raise ValueError(
                        f"parameter {name} has shape {tuple(value.shape)}, expected a scalar or a "
                        f"tensor broadcastable to the population shape {self.shape}"
                    ) from None
                value = checks.finite_tensor(f"parameter {name}", value.to(self._dtype))
            elif value is not None:
                if not checks.is_real(value):
                    raise checks.invalid(f"parameter {name}", "a float or a tensor", value, checks.InvalidType)
                value = float(value)
                if not math.isfinite(value):
                    raise checks.invalid(f"parameter {name}", "finite", value)
            fixed[name] = value
        for name, (strict, expected) in _LOWER_BOUNDS.items():
            value = fixed.get(name)
            if value is None:
                continue
            lowest = value.min().item() if isinstance(value, Tensor) else value
            if not (lowest > 0 if strict else lowest >= 0):
                raise checks.invalid(name, expected, value, checks.OutOfRange)
        self.p = type(params)(**fixed)
        self._prepare()
        self.reset_state_variables()

    def _prepare(self) -> None:
        """Precompute step constants from ``p``, ``dt``, device and dtype (called when they change)."""

    # ------------------------------------------------------------ subclass hooks
    def _initial_state(self, batch_size: int) -> NamedTuple | None:
        """Model state at rest for a batch. Tensors ``(B, *shape)``."""
        return None

    @abstractmethod
    def _advance(self, x: Tensor | None, state: Any) -> tuple[Tensor, Any]:
        """Call the model's pure step function: ``(x, state) -> (spikes, new_state)``."""

    def _like(self) -> Tensor:
        """An empty tensor with the population's device and dtype."""
        return torch.empty(0, dtype=self._dtype, device=self._device)

    def _tensor_params(self) -> NamedTuple:
        """``p`` with every number turned into a 0-d tensor (tensor-tensor ops are cheaper)."""
        like = self._like()
        return type(self.p)(*(None if v is None else torch.as_tensor(v, dtype=like.dtype, device=like.device)
                              for v in self.p))

    # ----------------------------------------------------------------- state API
    def _full(self, batch_size: int, value: Any, dtype: torch.dtype | None = None) -> Tensor:
        dtype = dtype or self._dtype
        if isinstance(value, Tensor):
            return value.to(device=self._device, dtype=dtype).expand(batch_size, *self.shape).clone()
        return torch.full((batch_size, *self.shape), value, device=self._device, dtype=dtype)

    def reset_state_variables(self, mask: Tensor | None = None) -> None:
        """Reset voltages, spikes, traces and summed input (not learned state such as theta).

        Args:
            mask: bool ``(B,)``; only the batch elements where it is True are reset (e.g. the
                environments of a vector env whose episode ended). None resets all.
        """
        b = self.batch_size
        d = self.__dict__
        fresh = {
            "state": self._initial_state(b) if "p" in d else None,
            "s": torch.zeros((b, *self.shape), dtype=torch.bool, device=self._device),
            "x": self._full(b, 0.0) if self.traces else None,
            "summed": self._full(b, 0.0) if self.sum_input else None,
        }
        if mask is None:
            d.update(fresh)
            return
        if not isinstance(mask, Tensor) or mask.dtype != torch.bool or tuple(mask.shape) != (b,):
            got = (tuple(mask.shape), mask.dtype) if isinstance(mask, Tensor) else type(mask).__name__
            raise ValueError(f"reset mask must be a bool tensor of shape (B,) = ({b},), got {got}")
        keep = mask.to(self._device).view(b, *([1] * len(self.shape)))

        def blend(new: Any, old: Any) -> Any:
            if isinstance(new, Tensor):
                return torch.where(keep, new.to(old.dtype), old)  # keep the dtype (an Input may hold floats)
            if isinstance(new, tuple):
                return type(new)(*(blend(n, o) for n, o in zip(new, old, strict=True)))
            return new

        for key, value in fresh.items():
            d[key] = blend(value, d[key])

    def set_batch_size(self, batch_size: int) -> None:
        """Change the batch size; the state is reset."""
        self.batch_size = checks.integer("batch_size", batch_size, 1, what="a positive int")
        self.reset_state_variables()

    def set_dt(self, dt: float) -> None:
        """Set the step length in ms (done by ``Network.add_layer``)."""
        self.dt = checks.positive("dt", dt)
        self._trace_decay = decay_factor(self.tc_trace, self.dt)
        if "p" in self.__dict__:
            self._prepare()

    @property
    def state_names(self) -> tuple[str, ...]:
        """Names of the recordable state variables of this population."""
        names = ["s"]
        if self.traces:
            names.append("x")
        if self.sum_input:
            names.append("summed")
        state = self.__dict__.get("state")
        if state is not None:
            names.extend(state._fields)
        names.extend(name for name, _ in self.named_buffers(recurse=False))
        return tuple(names)

    def __getattr__(self, name: str) -> Any:
        state = self.__dict__.get("state")
        if state is not None and name in state._fields:
            return getattr(state, name)
        return super().__getattr__(name)

    # ----------------------------------------------------------------- stepping
    def step(self, x: Tensor | None, clamp: Tensor | None = None, unclamp: Tensor | None = None) -> Tensor:
        """Advance one step without validation (the network's hot path).

        Args:
            x: input of this step or None.
            clamp: bool mask of neurons forced to spike.
            unclamp: bool mask of neurons forced not to spike.

        Returns:
            The spikes of this step.

        Shape:
            ``x``: ``(B, *shape)``; masks broadcastable to it; output ``(B, *shape)``.
        """
        d = self.__dict__
        s, d["state"] = self._advance(x, d["state"])
        if clamp is not None:
            s = s.masked_fill(clamp, True)
        if unclamp is not None:
            s = s.masked_fill(unclamp, False)
        d["s"] = s
        if self.traces:
            spikes = s if s.dtype == torch.bool else s != 0
            d["x"] = trace_step(d["x"], spikes, self._trace_decay, self.trace_scale, self.traces_additive)
        if self.sum_input and x is not None:
            d["summed"] = d["summed"] + x
        return s

    def forward(self, x: Tensor | None = None) -> Tensor:
        """Advance one step, checking the input.

        Shape:
            ``x``: ``(B, *shape)`` with ``B`` the current batch size; output ``(B, *shape)``.
        """
        if x is not None:
            expected = (self.batch_size, *self.shape)
            if tuple(x.shape) != expected:
                raise ValueError(f"input has shape {tuple(x.shape)}, expected {expected} (B, *shape)")
        return self.step(x)

    def inject_v(self, dv: Tensor | float) -> None:
        """Add ``dv`` (mV) to the membrane voltage now (before the next step)."""
        state = self.__dict__.get("state")
        if state is None or "v" not in state._fields:
            raise ValueError(f"{type(self).__name__} has no voltage 'v' to inject into")
        self.__dict__["state"] = state._replace(v=state.v + dv)

    # ----------------------------------------------------------- device, dtype
    def _apply(self, fn: Callable[[Tensor], Tensor], recurse: bool = True) -> Nodes:  # type: ignore[override]
        super()._apply(fn, recurse)
        probe = fn(torch.zeros((), dtype=self._dtype, device=self._device))
        self._device = probe.device
        if probe.is_floating_point():
            self._dtype = probe.dtype

        def move(value: Any) -> Any:
            if isinstance(value, Tensor):
                return fn(value)
            if isinstance(value, tuple) and hasattr(value, "_fields"):
                return type(value)(*(move(v) for v in value))
            return value

        d = self.__dict__
        for key in ("state", "s", "x", "summed"):
            d[key] = move(d.get(key))
        if "p" in d:
            d["p"] = move(d["p"])
            self._prepare()
        return self

    def extra_repr(self) -> str:
        params = ""
        if "p" in self.__dict__:
            params = ", " + ", ".join(f"{k}={v}" for k, v in self.p._asdict().items()
                                      if not isinstance(v, Tensor))
        return f"shape={self.shape}{params}"


@register("nodes")
class Input(Nodes):
    """Input population: its spikes are exactly its input (bool spikes or real values).

    The input is stored as is (no copy, no dtype change, never modified).
    """

    def _advance(self, x: Tensor | None, state: Any) -> tuple[Tensor, Any]:
        if x is None:
            return torch.zeros((self.batch_size, *self.shape), dtype=torch.bool, device=self._device), None
        return x, None


@register("nodes")
class McCullochPitts(Nodes):
    """Threshold units: ``s = x >= thresh`` (no memory)."""

    def __init__(self, n: int | None = None, shape: Sequence[int] | None = None, *, thresh: float | Tensor = 1.0,
                 **options: Unpack[PopulationOptions]) -> None:
        super().__init__(n, shape, **options)
        self._set_params(McCullochPittsParameters(thresh=thresh))

    def _initial_state(self, batch_size: int) -> NamedTuple:
        return _VState(self._full(batch_size, 0.0))

    def _advance(self, x: Tensor | None, state: Any) -> tuple[Tensor, Any]:
        s, v = mcculloch_pitts_step(x, state.v, self.p, self.dt)
        return s, _VState(v)


class _VState(NamedTuple):
    v: Tensor


@register("nodes")
class IFNodes(Nodes):
    """Integrate-and-fire neurons (no leak). Voltage starts at ``reset``.  Other arguments: see :class:`Nodes`."""

    _step_fn = staticmethod(lif_discrete)

    def __init__(self, n: int | None = None, shape: Sequence[int] | None = None, *,
                 thresh: float | Tensor = -52.0, reset: float | Tensor = -65.0,
                 refrac: float | Tensor = 5.0, lbound: float | Tensor | None = None,
                 **options: Unpack[PopulationOptions]) -> None:
        super().__init__(n, shape, **options)
        self._set_params(IFParameters(thresh=thresh, reset=reset, refrac=refrac, lbound=lbound))

    def _prepare(self) -> None:
        self._k: DiscreteLIF = discretize(self.p, self.dt, self._like())

    def _initial_state(self, batch_size: int) -> NamedTuple:
        return IFState(self._full(batch_size, self.p.reset), self._full(batch_size, 0.0))

    def _advance(self, x: Tensor | None, state: Any) -> tuple[Tensor, Any]:
        return self._step_fn(x, state, self._k)


@register("nodes")
class SubtractiveResetIFNodes(IFNodes):
    """IF neurons reset by subtraction (``v -= thresh``), for ANN-to-SNN conversion.

    Defaults: ``thresh=1``, initial voltage ``reset=0``, no refractory period.
    """

    _step_fn = staticmethod(subtractive_if_discrete)

    def __init__(self, n: int | None = None, shape: Sequence[int] | None = None, *,
                 thresh: float | Tensor = 1.0, reset: float | Tensor = 0.0,
                 refrac: float | Tensor = 0.0, lbound: float | Tensor | None = None,
                 **options: Unpack[PopulationOptions]) -> None:
        super().__init__(n, shape, thresh=thresh, reset=reset, refrac=refrac, lbound=lbound, **options)


@register("nodes")
class LIFNodes(Nodes):
    """Leaky integrate-and-fire neurons (BindsNET defaults).  Other arguments: see :class:`Nodes`."""

    def __init__(self, n: int | None = None, shape: Sequence[int] | None = None, *,
                 thresh: float | Tensor = -52.0, rest: float | Tensor = -65.0,
                 reset: float | Tensor = -65.0, refrac: float | Tensor = 5.0,
                 tc_decay: float | Tensor = 100.0, lbound: float | Tensor | None = None,
                 **options: Unpack[PopulationOptions]) -> None:
        super().__init__(n, shape, **options)
        self._set_params(LIFParameters(thresh=thresh, rest=rest, reset=reset, refrac=refrac,
                                       tc_decay=tc_decay, lbound=lbound))

    def _prepare(self) -> None:
        self._k: DiscreteLIF = discretize(self.p, self.dt, self._like())

    def _initial_state(self, batch_size: int) -> NamedTuple:
        return LIFState(self._full(batch_size, self.p.rest), self._full(batch_size, 0.0))

    def _advance(self, x: Tensor | None, state: Any) -> tuple[Tensor, Any]:
        return lif_discrete(x, state, self._k)


@register("nodes")
class BoostedLIFNodes(LIFNodes):
    """LIF neurons with rest = reset = 0 mV and threshold 13 mV (BindsNET's BoostedLIF)."""

    def __init__(self, n: int | None = None, shape: Sequence[int] | None = None, *,
                 thresh: float | Tensor = 13.0, refrac: float | Tensor = 5.0,
                 tc_decay: float | Tensor = 100.0, lbound: float | Tensor | None = None,
                 **options: Unpack[PopulationOptions]) -> None:
        super().__init__(n, shape, thresh=thresh, rest=0.0, reset=0.0, refrac=refrac, tc_decay=tc_decay,
                         lbound=lbound, **options)


@register("nodes")
class CurrentLIFNodes(Nodes):
    """LIF neurons driven by an exponentially decaying synaptic current ``i``.  Other arguments: see :class:`Nodes`."""

    def __init__(self, n: int | None = None, shape: Sequence[int] | None = None, *,
                 thresh: float | Tensor = -52.0, rest: float | Tensor = -65.0,
                 reset: float | Tensor = -65.0, refrac: float | Tensor = 5.0,
                 tc_decay: float | Tensor = 100.0, tc_i_decay: float | Tensor = 2.0,
                 lbound: float | Tensor | None = None,
                 **options: Unpack[PopulationOptions]) -> None:
        super().__init__(n, shape, **options)
        self._set_params(CurrentLIFParameters(thresh=thresh, rest=rest, reset=reset, refrac=refrac,
                                              tc_decay=tc_decay, tc_i_decay=tc_i_decay, lbound=lbound))

    def _initial_state(self, batch_size: int) -> NamedTuple:
        zeros = self._full(batch_size, 0.0)
        return CurrentLIFState(self._full(batch_size, self.p.rest), zeros, zeros.clone())

    def _prepare(self) -> None:
        self._k: DiscreteLIF = discretize(self.p, self.dt, self._like())
        self._i_decay = torch.as_tensor(decay_factor(self.p.tc_i_decay, self.dt), dtype=self._dtype,
                                        device=self._device)

    def _advance(self, x: Tensor | None, state: Any) -> tuple[Tensor, Any]:
        return current_lif_discrete(x, state, self._k, self._i_decay)


@register("nodes")
class AdaptiveLIFNodes(Nodes):
    """LIF neurons with a per-neuron adaptive threshold ``theta`` (a buffer of shape ``shape``).

    ``theta`` rises by ``theta_plus`` per spike and decays with ``tc_theta_decay`` while the
    population is in training mode; it survives ``reset_state_variables()`` and is cleared by
    ``reset_theta()``.  Other arguments: see :class:`Nodes`."""

    def __init__(self, n: int | None = None, shape: Sequence[int] | None = None, *,
                 thresh: float | Tensor = -52.0, rest: float | Tensor = -65.0,
                 reset: float | Tensor = -65.0, refrac: float | Tensor = 5.0,
                 tc_decay: float | Tensor = 100.0, theta_plus: float | Tensor = 0.05,
                 tc_theta_decay: float | Tensor = 1e7, lbound: float | Tensor | None = None,
                 **options: Unpack[PopulationOptions]) -> None:
        super().__init__(n, shape, **options)
        self.register_buffer("theta", torch.zeros(self.shape))
        self.one_spike = False
        self.generator: torch.Generator | None = None
        self._set_params(AdaptiveLIFParameters(thresh=thresh, rest=rest, reset=reset, refrac=refrac,
                                               tc_decay=tc_decay, theta_plus=theta_plus,
                                               tc_theta_decay=tc_theta_decay, lbound=lbound))

    def _initial_state(self, batch_size: int) -> NamedTuple:
        return LIFState(self._full(batch_size, self.p.rest), self._full(batch_size, 0.0))

    def reset_theta(self) -> None:
        """Clear the adaptive thresholds."""
        self.theta.zero_()

    def _prepare(self) -> None:
        like = self._like()
        self._k: DiscreteLIF = discretize(self.p, self.dt, like)
        self._theta_decay = torch.as_tensor(decay_factor(self.p.tc_theta_decay, self.dt), dtype=like.dtype,
                                            device=like.device)
        self._theta_plus = torch.as_tensor(self.p.theta_plus, dtype=like.dtype, device=like.device)

    def _advance(self, x: Tensor | None, state: Any) -> tuple[Tensor, Any]:
        s, state, theta = adaptive_lif_discrete(x, state, self._buffers["theta"], self._k,
                                                self._theta_decay if self.training else None, self._theta_plus,
                                                self.one_spike, self.generator)
        self._buffers["theta"] = theta
        return s, state


@register("nodes")
class DiehlAndCookNodes(AdaptiveLIFNodes):
    """Adaptive-threshold LIF neurons of Diehl & Cook (2015), optionally one spike per step.

    Args:
        one_spike: at most one neuron per batch element fires per step (chosen uniformly among
            those above threshold, with ``generator``); only the winner is reset and adapted.
        generator: random source for the ``one_spike`` choice.
        Other arguments as :class:`AdaptiveLIFNodes`.
    """

    def __init__(self, n: int | None = None, shape: Sequence[int] | None = None, *,
                 thresh: float | Tensor = -52.0, rest: float | Tensor = -65.0,
                 reset: float | Tensor = -65.0, refrac: float | Tensor = 5.0,
                 tc_decay: float | Tensor = 100.0, theta_plus: float | Tensor = 0.05,
                 tc_theta_decay: float | Tensor = 1e7, lbound: float | Tensor | None = None,
                 one_spike: bool = True, generator: torch.Generator | None = None,
                 **options: Unpack[PopulationOptions]) -> None:
        super().__init__(n, shape, thresh=thresh, rest=rest, reset=reset, refrac=refrac, tc_decay=tc_decay,
                         theta_plus=theta_plus, tc_theta_decay=tc_theta_decay, lbound=lbound, **options)
        self.one_spike = bool(one_spike)
        self.generator = generator


@register("nodes")
class IzhikevichNodes(Nodes):
    """Izhikevich (2003) neurons.

    Args:
        preset: ``"regular"`` (RS: a=0.02, b=0.2, c=-65, d=8) or ``"fast"`` (FS: a=0.1, b=0.2,
            c=-65, d=2); individual ``a``, ``b``, ``c``, ``d``, ``thresh`` override it.
        Other arguments as :class:`Nodes`.
    """

    PRESETS: ClassVar[dict[str, IzhikevichParameters]] = {"regular": REGULAR_SPIKING, "fast": FAST_SPIKING}

    def __init__(self, n: int | None = None, shape: Sequence[int] | None = None, *, preset: str = "regular",
                 a: float | Tensor | None = None, b: float | Tensor | None = None,
                 c: float | Tensor | None = None, d: float | Tensor | None = None,
                 thresh: float | Tensor | None = None,
                 **options: Unpack[PopulationOptions]) -> None:
        super().__init__(n, shape, **options)
        if preset not in self.PRESETS:
            raise ValueError(f"unknown Izhikevich preset {preset!r}; known presets: {sorted(self.PRESETS)}")
        overrides = {k: v for k, v in dict(a=a, b=b, c=c, d=d, thresh=thresh).items() if v is not None}
        self.preset = preset
        self._set_params(self.PRESETS[preset]._replace(**overrides))

    def _initial_state(self, batch_size: int) -> NamedTuple:
        v = self._full(batch_size, self.p.c)
        return IzhikevichState(v, v * self.p.b)

    def _prepare(self) -> None:
        self._pt = self._tensor_params()

    def _advance(self, x: Tensor | None, state: Any) -> tuple[Tensor, Any]:
        return izhikevich_step(x, state, self._pt, self.dt)


@register("nodes")
class SRM0Nodes(Nodes):
    """SRM0 neurons with escape noise (stochastic firing with intensity ``rho``).

    Args:
        generator: random source for the spikes.
        Model parameters: see :class:`snnrl.functional.srm.SRM0Parameters`.
    """

    def __init__(self, n: int | None = None, shape: Sequence[int] | None = None, *,
                 thresh: float | Tensor = -50.0, rest: float | Tensor = -70.0,
                 reset: float | Tensor = -70.0, refrac: float | Tensor = 5.0,
                 tc_decay: float | Tensor = 10.0, eps_0: float | Tensor = 1.0,
                 rho_0: float | Tensor = 1.0, d_thresh: float | Tensor = 5.0,
                 generator: torch.Generator | None = None,
                 **options: Unpack[PopulationOptions]) -> None:
        super().__init__(n, shape, **options)
        self.generator = generator
        self._set_params(SRM0Parameters(thresh=thresh, rest=rest, reset=reset, refrac=refrac, tc_decay=tc_decay,
                                        eps_0=eps_0, rho_0=rho_0, d_thresh=d_thresh))

    def _initial_state(self, batch_size: int) -> NamedTuple:
        zeros = self._full(batch_size, 0.0)
        return SRM0State(self._full(batch_size, self.p.rest), zeros, zeros.clone())

    def _prepare(self) -> None:
        self._pt = self._tensor_params()

    def _advance(self, x: Tensor | None, state: Any) -> tuple[Tensor, Any]:
        return srm0_step(x, state, self._pt, self.dt, self.generator)
