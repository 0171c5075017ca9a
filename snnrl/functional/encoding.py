r"""Spike encoders as pure functions: turn a datum into a time-major spike train.

Conventions shared by every function here:

* Time is in ms. A simulation of ``time`` ms with step ``dt`` ms has ``T = round(time / dt)``
  steps; ``time`` must be >= 0, ``dt`` > 0 and ``time / dt`` (close to) a whole number.
* ``datum`` has any shape ``(*shape)`` (a leading batch dimension is simply part of ``shape``);
  outputs are time-major, ``(T, *shape)``.
* Spike trains are ``torch.bool``; :func:`repeat` returns real-valued currents instead.
* Integer or boolean data are converted to ``float32``; device and float dtype follow ``datum``.
* Inputs are never modified; outputs never share memory with them.
* Randomness comes only from the optional ``generator`` (seeded ``torch.Generator`` -> the same
  output for the same seed). It must live on the same device type as ``datum``.
* Statistics that need a scale (the quantile of :func:`single`, the normalisation of
  :func:`rank_order` and :func:`latency`) are taken over the whole tensor, batch included.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import Tensor

from snnrl import _checks as checks

__all__ = [
    "bernoulli",
    "check_bounds",
    "check_max_rate",
    "check_n_per_dim",
    "gaussian_receptive_fields",
    "latency",
    "num_steps",
    "poisson",
    "population",
    "rank_order",
    "repeat",
    "single",
]

LATENCY_MODES = ("linear", "log")
Bound = float | Sequence[float] | Tensor
"""A receptive-field bound: a scalar, or one value per input dimension."""

# ---------------------------------------------------------------------------------------------
# Validation helpers (the public ones are shared with snnrl.encoding and snnrl.wrappers).
# ---------------------------------------------------------------------------------------------


_MAX_STEPS = 2**31 - 1  # a longer train cannot be indexed (nor held)


def num_steps(time: float, dt: float) -> int:
    """Number of steps ``T = round(time / dt)``, after checking both values."""
    time, dt = checks.real("time", time), checks.real("dt", dt)
    checks.in_range("time", time, 0, what=">= 0 ms")
    checks.positive("dt", dt, what="> 0 ms")
    ratio = time / dt
    steps = round(ratio)
    if abs(ratio - steps) > 1e-6 * max(1.0, ratio):
        raise ValueError(
            f"time / dt must be a whole number of steps, got time={time} / dt={dt} = {ratio:g}"
        )
    if steps > _MAX_STEPS:
        raise checks.OutOfRange(f"time / dt must be at most {_MAX_STEPS} steps, got time={time} / dt={dt} = "
                                f"{ratio:g}", name="time", value=time)
    return steps


def _float_tensor(datum: object, name: str = "datum") -> Tensor:
    """Check ``datum`` is a finite real tensor; ints/bools become float32 (a new tensor)."""
    if not isinstance(datum, Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(datum).__name__}")
    if datum.is_complex():
        raise TypeError(f"{name} must be real-valued, got dtype {datum.dtype}")
    if not datum.is_floating_point():
        datum = datum.to(torch.float32)
    return checks.finite_tensor(name, datum)


def _in_range(name: str, datum: Tensor, low: float = 0.0, high: float = math.inf) -> None:
    """Raise if any element of ``datum`` lies outside ``[low, high]``."""
    if datum.numel() == 0:
        return
    lo, hi = datum.min().item(), datum.max().item()
    what = f"in [{low}, {high}]" if high != math.inf else f">= {low}"
    if lo < low:
        raise ValueError(f"{name} must be {what}, got {lo}")
    if hi > high:
        raise ValueError(f"{name} must be {what}, got {hi}")


def _check_generator(generator: torch.Generator | None, device: torch.device) -> None:
    """Check ``generator`` is a ``torch.Generator`` on the device type of the data."""
    if generator is None:
        return
    if not isinstance(generator, torch.Generator):
        raise TypeError(f"generator must be a torch.Generator or None, got {generator!r}")
    if generator.device.type != device.type:
        raise ValueError(
            f"generator is on device {generator.device} but datum is on {device}; "
            "create the generator on the data's device"
        )


def _compute_dtype(datum: Tensor) -> torch.dtype:
    """Float dtype for intermediate maths: datum's, but at least float32."""
    return torch.promote_types(datum.dtype, torch.float32)


def _spike_at(step: Tensor, mask: Tensor, steps: int) -> Tensor:
    """``(T, *shape)`` bool train with one spike at ``step`` wherever ``mask`` holds."""
    t = torch.arange(steps, device=step.device).view(-1, *([1] * step.dim()))
    return (t == step) & mask


def _bernoulli_train(prob: Tensor, steps: int, generator: torch.Generator | None) -> Tensor:
    """``(T, *shape)`` bool train, each element spiking independently with ``prob``."""
    dtype = _compute_dtype(prob)
    u = torch.rand((steps, *prob.shape), generator=generator, device=prob.device, dtype=dtype)
    return u < prob.to(dtype)


# ---------------------------------------------------------------------------------------------
# Encoders.
# ---------------------------------------------------------------------------------------------


def single(datum: Tensor, time: float, dt: float = 1.0, sparsity: float = 0.5) -> Tensor:
    """One spike at step 0 for the largest values, none afterwards.

    An element spikes iff it is strictly greater than the ``(1 - sparsity)`` quantile of the
    whole tensor (linear interpolation, as :func:`torch.quantile`), so roughly a fraction
    ``sparsity`` of the elements spike. Ties at the threshold do not spike: a constant datum
    gives no spikes, and ``sparsity=1`` makes every element except the minimum spike.

    Args:
        datum: real-valued data (ints/bools are converted to float32).
        time: duration in ms.
        dt: step length in ms.
        sparsity: target fraction of spiking elements, in ``(0, 1]``.

    Returns:
        Boolean spike train, non-zero only at step 0.

    Shape:
        ``datum``: ``(*shape)``; output: ``(T, *shape)`` with ``T = round(time / dt)``.
    """
    steps = num_steps(time, dt)
    sparsity = checks.in_range("sparsity", checks.real("sparsity", sparsity), 0, 1.0, low_open=True)
    datum = _float_tensor(datum)
    out = torch.zeros((steps, *datum.shape), dtype=torch.bool, device=datum.device)
    if steps == 0 or datum.numel() == 0:
        return out
    flat = datum.reshape(-1).to(_compute_dtype(datum))
    out[0] = (flat > torch.quantile(flat, 1.0 - sparsity)).view(datum.shape)
    return out


def repeat(datum: Tensor, time: float, dt: float = 1.0) -> Tensor:
    """The datum repeated at every step, as a constant input current (not spikes).

    Args:
        datum: real-valued data (ints/bools are converted to float32).
        time: duration in ms.
        dt: step length in ms.

    Returns:
        A new contiguous float tensor (never a view of ``datum``) in datum's float dtype.

    Shape:
        ``datum``: ``(*shape)``; output: ``(T, *shape)`` with ``T = round(time / dt)``.
    """
    steps = num_steps(time, dt)
    datum = _float_tensor(datum)
    return datum.unsqueeze(0).repeat(steps, *([1] * datum.dim()))


def bernoulli(
    datum: Tensor,
    time: float,
    dt: float = 1.0,
    max_prob: float = 1.0,
    generator: torch.Generator | None = None,
) -> Tensor:
    """Independent Bernoulli spikes with per-step probability ``max_prob * datum``.

    Args:
        datum: probabilities in ``[0, 1]`` (ints/bools are converted to float32).
        time: duration in ms.
        dt: step length in ms.
        max_prob: scale of the spike probability, in ``(0, 1]``.
        generator: source of randomness (default: torch's global generator).

    Returns:
        Boolean spike train.

    Shape:
        ``datum``: ``(*shape)``; output: ``(T, *shape)`` with ``T = round(time / dt)``.
    """
    steps = num_steps(time, dt)
    max_prob = checks.in_range("max_prob", checks.real("max_prob", max_prob), 0, 1.0, low_open=True)
    datum = _float_tensor(datum)
    _in_range("datum (spike probabilities)", datum, 0.0, 1.0)
    _check_generator(generator, datum.device)
    return _bernoulli_train(datum * max_prob, steps, generator)


def poisson(
    rates: Tensor, time: float, dt: float = 1.0, generator: torch.Generator | None = None
) -> Tensor:
    """Poisson spike trains with the given firing rates.

    Uses the Bernoulli approximation of a Poisson process: at each step every neuron spikes
    independently with probability ``rate * dt / 1000`` (at most one spike per step). This is
    accurate while that probability is small; it must not exceed 1.

    Args:
        rates: firing rates in Hz, >= 0 (ints/bools are converted to float32).
        time: duration in ms.
        dt: step length in ms.
        generator: source of randomness (default: torch's global generator).

    Returns:
        Boolean spike train.

    Shape:
        ``rates``: ``(*shape)``; output: ``(T, *shape)`` with ``T = round(time / dt)``.
    """
    steps, dt = num_steps(time, dt), float(dt)
    rates = _float_tensor(rates, "rates")
    _in_range("rates (Hz)", rates)
    _check_generator(generator, rates.device)
    prob = rates * (dt / 1000.0)
    if prob.numel() and prob.max().item() > 1.0:
        top = rates.max().item()
        raise checks.OutOfRange(
            f"rate {top} Hz with dt={dt} ms gives a spike probability of {top * dt / 1000:g} "
            f"per step; rates must be <= 1000 / dt = {1000 / dt:g} Hz", name="rates", value=top
        )
    return _bernoulli_train(prob, steps, generator)


def rank_order(datum: Tensor, time: float, dt: float = 1.0) -> Tensor:
    """Rank-order code: every positive element spikes once, larger values earlier.

    The spike step is affine in ``1 / x``, scaled over the whole tensor so that the largest value
    ``M`` spikes at step 0 and the smallest positive value ``m`` at step ``T - 1``:
    ``step = round((T - 1) * (1/x - 1/M) / (1/m - 1/M))`` (all at step 0 when ``m == M``).
    Zeros never spike. With ``T == 0`` the output is empty.

    Args:
        datum: intensities, >= 0 (ints/bools are converted to float32).
        time: duration in ms.
        dt: step length in ms.

    Returns:
        Boolean spike train with exactly one spike per positive element.

    Shape:
        ``datum``: ``(*shape)``; output: ``(T, *shape)`` with ``T = round(time / dt)``.
    """
    steps = num_steps(time, dt)
    datum = _float_tensor(datum)
    _in_range("datum", datum)
    mask = datum > 0
    if steps == 0 or not bool(mask.any()):
        return torch.zeros((steps, *datum.shape), dtype=torch.bool, device=datum.device)
    x = datum.to(_compute_dtype(datum))
    big, small = x.max(), x[mask].min()
    # (1/x - 1/M) / (1/m - 1/M) rewritten as (m/x) * (M - x) / (M - m): no overflow for tiny x.
    spread = big - small
    safe_x = torch.where(mask, x, big)
    frac = (small / safe_x) * (big - safe_x) / torch.where(spread > 0, spread, 1.0)
    step = torch.round(frac.clamp(0.0, 1.0) * (steps - 1)).long()
    return _spike_at(step, mask, steps)


def latency(
    datum: Tensor,
    time: float,
    dt: float = 1.0,
    normalize: bool = True,
    mode: str = "linear",
) -> Tensor:
    """Time-to-first-spike code: one spike per non-zero element, larger values earlier.

    With ``normalize`` the datum is divided by its maximum over the whole tensor (batch
    included); otherwise it must already lie in ``[0, 1]``. For a normalised value ``x`` in
    ``(0, 1]`` the spike step is (rounded to nearest, ties to even)

    * ``"linear"``: ``step = round((1 - x) * (T - 1))``;
    * ``"log"``: ``step = round((T - 1) * (1 - ln(1 + (e - 1) * x)))``, a logarithmic mapping
      (like the charging time of a leaky integrator) that packs large values close to step 0
      and spreads small values out towards ``T - 1``.

    Both map ``x = 1`` to step 0 and ``x -> 0`` to step ``T - 1``. Exact zeros never spike.

    Args:
        datum: intensities, >= 0 (ints/bools are converted to float32).
        time: duration in ms.
        dt: step length in ms.
        normalize: divide by the maximum of the whole tensor first.
        mode: ``"linear"`` or ``"log"``.

    Returns:
        Boolean spike train with exactly one spike per non-zero element.

    Shape:
        ``datum``: ``(*shape)``; output: ``(T, *shape)`` with ``T = round(time / dt)``.
    """
    steps = num_steps(time, dt)
    checks.choice("mode", mode, LATENCY_MODES)
    checks.boolean("normalize", normalize)
    datum = _float_tensor(datum)
    _in_range("datum", datum, 0.0, math.inf if normalize else 1.0)
    mask = datum > 0
    if steps == 0 or not bool(mask.any()):
        return torch.zeros((steps, *datum.shape), dtype=torch.bool, device=datum.device)
    x = datum.to(_compute_dtype(datum))
    if normalize:
        x = x / x.max()
    if mode == "linear":
        frac = 1.0 - x
    else:
        frac = 1.0 - torch.log1p((math.e - 1.0) * x)
    step = torch.round(frac.clamp(0.0, 1.0) * (steps - 1)).long()
    return _spike_at(step, mask, steps)


def _bound(value: Bound, name: str, like: Tensor) -> Tensor:
    """A receptive-field bound as a finite 0-d or 1-d tensor on ``like``'s device and dtype."""
    if isinstance(value, Tensor):
        if value.is_complex():
            raise TypeError(f"{name} must be real-valued, got dtype {value.dtype}")
        bound = value.detach().to(device=like.device, dtype=like.dtype)
    elif checks.is_real(value):
        bound = torch.tensor(float(value), device=like.device, dtype=like.dtype)
    elif isinstance(value, Sequence) and not isinstance(value, str):
        bound = torch.tensor([checks.real(name, v) for v in value], device=like.device, dtype=like.dtype)
    else:
        raise TypeError(f"{name} must be a number, sequence or tensor, got {value!r}")
    if bound.dim() > 1:
        raise ValueError(f"{name} must be a scalar or 1-D, got shape {tuple(bound.shape)}")
    if not bool(torch.isfinite(bound).all()):
        raise ValueError(f"{name} must be finite, got {value!r}")
    return bound


def check_bounds(
    low: Bound, high: Bound, like: Tensor, dims: int | None = None
) -> tuple[Tensor, Tensor]:
    """Check ``low < high`` (and length ``dims`` if given); return them broadcast to 1-D."""
    lo, hi = _bound(low, "low", like), _bound(high, "high", like)
    for name, bound in (("low", lo), ("high", hi)):
        if dims is not None and bound.dim() == 1 and bound.numel() != dims:
            raise ValueError(f"{name} must have length D={dims}, got length {bound.numel()}")
    if lo.dim() == 1 and hi.dim() == 1 and lo.numel() != hi.numel():
        raise ValueError(
            f"low and high must have the same length, got {lo.numel()} and {hi.numel()}"
        )
    if dims is not None:
        lo, hi = lo.expand(dims), hi.expand(dims)
    else:
        lo, hi = (b.reshape(-1) for b in torch.broadcast_tensors(lo, hi))
    bad = torch.nonzero(lo >= hi)
    if bad.numel():
        i = int(bad[0])
        raise ValueError(f"low must be < high, got low={lo[i].item()} >= high={hi[i].item()}")
    return lo, hi


def check_n_per_dim(n_per_dim: int) -> int:
    """``n_per_dim`` (tuning curves or neurons per input dimension) as an int >= 1, or raise
    :class:`~snnrl.InvalidParameter` (a ``TypeError`` too for a non-int)."""
    n = checks.integer("n_per_dim", n_per_dim, what="an int")
    return checks.integer("n_per_dim", n, 1, what=">= 1")


def gaussian_receptive_fields(
    values: Tensor, n_per_dim: int, low: Bound, high: Bound, sigma_scale: float = 1.0
) -> Tensor:
    """Activations of Gaussian tuning curves tiling each input dimension.

    For dimension ``d`` there are ``n_per_dim`` curves ``exp(-(v - c)^2 / (2 sigma_d^2))`` with
    centres ``c`` evenly spaced on ``[low_d, high_d]`` (both ends included) and width
    ``sigma_d = sigma_scale * (high_d - low_d) / (n_per_dim - 1)``; with ``n_per_dim == 1`` the
    single centre is ``(low_d + high_d) / 2`` and ``sigma_d = sigma_scale * (high_d - low_d)``.
    Values outside ``[low_d, high_d]`` are allowed: the activations simply decay along the
    Gaussian tails.

    Args:
        values: real-valued inputs (ints/bools are converted to float32), at least 1-D.
        n_per_dim: number of tuning curves per dimension, >= 1.
        low: lower end of the range, a scalar or one value per dimension.
        high: upper end of the range, a scalar or one value per dimension; ``high > low``.
        sigma_scale: width of the curves relative to their spacing, > 0.

    Returns:
        Activations in ``[0, 1]`` in values' float dtype, dimension-major: output index
        ``d * n_per_dim + k`` is curve ``k`` (lowest centre first) of dimension ``d``.

    Shape:
        ``values``: ``(*batch, D)``; output: ``(*batch, D * n_per_dim)``.
    """
    n = check_n_per_dim(n_per_dim)
    sigma_scale = checks.positive("sigma_scale", checks.real("sigma_scale", sigma_scale))
    values = _float_tensor(values, "values")
    if values.dim() < 1:
        raise ValueError("values must have shape (*batch, D), got a 0-d tensor")
    dims = values.shape[-1]
    lo, hi = check_bounds(low, high, values, dims)
    span = hi - lo
    if n == 1:
        centres = ((lo + hi) / 2).unsqueeze(-1)
        sigma = sigma_scale * span
    else:
        grid = torch.linspace(0.0, 1.0, n, device=values.device, dtype=values.dtype)
        centres = lo.unsqueeze(-1) + span.unsqueeze(-1) * grid
        sigma = sigma_scale * span / (n - 1)
    z = (values.unsqueeze(-1) - centres) / sigma.unsqueeze(-1)
    return torch.exp(-0.5 * z.square()).flatten(-2)


def population(
    values: Tensor,
    time: float,
    n_per_dim: int,
    low: Bound,
    high: Bound,
    dt: float = 1.0,
    max_rate: float = 100.0,
    sigma_scale: float = 1.0,
    generator: torch.Generator | None = None,
) -> Tensor:
    """Population code: Poisson spikes with rates set by Gaussian receptive fields.

    Rates are ``max_rate * gaussian_receptive_fields(values, n_per_dim, low, high,
    sigma_scale)``, then encoded with :func:`poisson`.

    Args:
        values: real-valued inputs (ints/bools are converted to float32), at least 1-D.
        time: duration in ms.
        n_per_dim: number of neurons per input dimension, >= 1.
        low: lower end of the range, a scalar or one value per dimension.
        high: upper end of the range, a scalar or one value per dimension; ``high > low``.
        dt: step length in ms.
        max_rate: rate (Hz) of a neuron at its centre, >= 0 and <= 1000 / dt.
        sigma_scale: width of the curves relative to their spacing, > 0.
        generator: source of randomness (default: torch's global generator).

    Returns:
        Boolean spike train.

    Shape:
        ``values``: ``(*batch, D)``; output: ``(T, *batch, D * n_per_dim)`` with
        ``T = round(time / dt)``.
    """
    steps, dt = num_steps(time, dt), float(dt)
    max_rate = check_max_rate(max_rate, dt)
    rates = max_rate * gaussian_receptive_fields(values, n_per_dim, low, high, sigma_scale)
    _check_generator(generator, rates.device)
    return _bernoulli_train(rates * (dt / 1000.0), steps, generator)


def check_max_rate(max_rate: float, dt: float) -> float:
    """``max_rate`` (Hz) as a float with ``0 <= max_rate <= 1000 / dt`` (at most one spike per step
    of ``dt`` ms), or raise :class:`~snnrl.InvalidParameter`."""
    return checks.in_range("max_rate", checks.real("max_rate", max_rate), 0.0, 1000.0 / dt,
                           what=f"in [0, 1000 / dt] = [0, {1000 / dt:g}] Hz for dt={dt} ms")
