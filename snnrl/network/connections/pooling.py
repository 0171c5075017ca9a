"""Max-pooling connections (1-D, 2-D and 3-D) on spikes or on a running firing-rate estimate."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from torch import Tensor

from snnrl import _checks as checks
from snnrl._tensors import as_dtype
from snnrl.network.connections._geometry import output_shape, window_args
from snnrl.network.connections.base import AbstractConnection
from snnrl.network.nodes import Nodes
from snnrl.network.plasticity import Plasticity
from snnrl.registry import register

__all__ = ["MaxPool1dConnection", "MaxPool2dConnection", "MaxPool3dConnection"]

POOL_MODES = ("spikes", "rate")


class _MaxPoolConnection(AbstractConnection):
    """Shared implementation of :class:`MaxPool1dConnection`, ``2d`` and ``3d``."""

    _dims: ClassVar[int]
    _pool: ClassVar[Callable[..., Any]]

    def __init__(
        self,
        source: Nodes,
        target: Nodes,
        kernel_size: int | Sequence[int],
        stride: int | Sequence[int] | None = None,
        padding: int | Sequence[int] = 0,
        dilation: int | Sequence[int] = 1,
        *,
        mode: str = "spikes",
        decay: float = 0.1,
        intensity: float = 1.0,
        delay: int = 0,
        rule: Plasticity | None = None,
    ) -> None:
        super().__init__(source, target, delay=delay, intensity=intensity, rule=rule, kernel_size=kernel_size,
                         stride=stride, padding=padding, dilation=dilation, mode=mode, decay=decay)

    def _layout(self, kernel_size: int | Sequence[int], stride: int | Sequence[int] | None,
                padding: int | Sequence[int], dilation: int | Sequence[int], mode: str, decay: float) -> None:
        source, target = self.source, self.target
        name, n = type(self).__name__, self._dims
        self.kernel_size, self.stride, self.padding, self.dilation = window_args(
            name, source.shape, n, kernel_size, kernel_size if stride is None else stride, padding, dilation
        )
        if any(2 * p > k for p, k in zip(self.padding, self.kernel_size, strict=True)):
            raise ValueError(f"padding {self.padding} must be at most half of kernel_size {self.kernel_size}")
        spatial = output_shape(name, source.shape[1:], self.kernel_size, self.stride, self.padding, self.dilation)
        expected = (source.shape[0], *spatial)
        if tuple(target.shape) != expected:
            raise ValueError(
                f"{name}: the target has shape {target.shape}, expected the pooled shape (C, *spatial_out) = "
                f"{expected}"
            )
        if mode not in POOL_MODES:
            raise ValueError(f"unknown mode {mode!r}; expected one of {POOL_MODES}")
        self.mode = mode
        self.decay = checks.in_range("decay", decay, 0, 1, low_open=True,
                                     what="in (0, 1] (fraction of the rate estimate lost per step)")
        self.__dict__["rate"] = None
        return None

    def set_rule(self, rule: Plasticity | None) -> None:
        """Only None: pooling has no learnable weights."""
        if rule is not None:
            raise TypeError(f"{type(self).__name__} has no learnable weights; it cannot take a learning rule")
        super().set_rule(None)

    @property
    def state_names(self) -> tuple[str, ...]:
        """``("rate",)`` in rate mode (the running estimate), else nothing."""
        return ("rate",) if self.mode == "rate" else ()

    @property
    def precomputable(self) -> bool:
        return self.mode == "spikes" and super().precomputable

    def _pool_args(self) -> tuple:
        return (self.kernel_size, self.stride, self.padding, self.dilation)

    def _propagate(self, s: Tensor) -> Tensor:
        dtype = s.dtype if s.is_floating_point() else torch.get_default_dtype()
        x = as_dtype(s, dtype)
        if self.mode == "spikes":
            out = type(self)._pool(x, *self._pool_args())
        else:
            rate = self.__dict__["rate"]
            if rate is None or rate.shape != x.shape or rate.device != x.device:
                rate = torch.zeros_like(x)
            rate = rate * (1.0 - self.decay) + x
            self.__dict__["rate"] = rate
            _, index = type(self)._pool(rate, *self._pool_args(), return_indices=True)
            b, c = x.shape[:2]
            out = x.reshape(b, c, -1).gather(2, index.reshape(b, c, -1)).view(b, *self.target.shape)
        return out if self.intensity == 1.0 else out * self.intensity

    def _propagate_sequence(self, s: Tensor) -> Tensor:
        if self.mode == "spikes":
            return super()._propagate_sequence(s)
        return torch.stack([self._propagate(s[t]) for t in range(s.shape[0])])

    def correlate(self, pre: Tensor, post: Tensor) -> Tensor:
        """Not available: pooling has no weights to learn (raises TypeError)."""
        raise TypeError(f"{type(self).__name__} has no learnable weights (nothing to correlate)")

    def apply_update(self, dw: Tensor) -> None:
        """Not available: pooling has no weights to learn (raises TypeError)."""
        raise TypeError(f"{type(self).__name__} has no learnable weights (nothing to update)")

    def constrain(self) -> None:
        """Nothing to constrain."""

    def reset_state_variables(self) -> None:
        """Forget the rate estimate and the delay buffer."""
        super().reset_state_variables()
        self.__dict__["rate"] = None

    def extra_repr(self) -> str:
        return (f"{self.source.shape} -> {self.target.shape}, kernel_size={self.kernel_size}, stride={self.stride}, "
                f"mode={self.mode!r}" + (f", decay={self.decay}" if self.mode == "rate" else ""))


_DOC = """{dims}-D max-pooling connection (no weights; the batch dimension is kept).

    Two modes:

    * ``"spikes"``: each target neuron receives 1 when any source neuron of its window spiked
      (``max_pool{dims}d`` of the spikes; real-valued activity is max-pooled as is);
    * ``"rate"`` (BindsNET's pooling): the connection keeps a running firing-rate estimate of
      every source neuron, ``r <- (1 - decay) r + s``, and each target neuron receives the
      activity of the window's neuron with the highest estimate (first one on ties), so a
      window follows its most active neuron. The estimate is per batch element and is cleared
      by ``reset_state_variables``.

    Args:
        source: population of shape ``(C, {spatial})``.
        target: population of the pooled shape ``(C, {spatial_out})``.
        kernel_size, stride, padding, dilation: as ``torch.nn.MaxPool{dims}d`` (``stride``
            defaults to ``kernel_size``; padded positions never win).
        mode: ``"spikes"`` or ``"rate"``.
        decay: fraction of the rate estimate lost per step, in ``(0, 1]`` (rate mode).
        intensity: multiplier of the output.
        delay: delay in steps (an int >= 0).
        rule: must be None: pooling has no learnable weights, and ``correlate`` and
            ``apply_update`` raise ``TypeError``.

    Shape:
        source ``(B, C, {spatial})`` -> target ``(B, C, {spatial_out})``; no ``weight``.
    """


@register("connection")
class MaxPool1dConnection(_MaxPoolConnection):
    __doc__ = _DOC.format(dims=1, spatial="L", spatial_out="L'")
    _dims = 1
    _pool = F.max_pool1d


@register("connection")
class MaxPool2dConnection(_MaxPoolConnection):
    __doc__ = _DOC.format(dims=2, spatial="H, W", spatial_out="H', W'")
    _dims = 2
    _pool = F.max_pool2d


@register("connection")
class MaxPool3dConnection(_MaxPoolConnection):
    __doc__ = _DOC.format(dims=3, spatial="D, H, W", spatial_out="D', H', W'")
    _dims = 3
    _pool = F.max_pool3d

