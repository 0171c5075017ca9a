"""Locally connected layers (1-D, 2-D and 3-D): convolution geometry, unshared weights."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import ClassVar

import torch
from torch import Tensor

from snnrl._tensors import as_dtype
from snnrl.network.connections._geometry import output_shape, patches, window_args
from snnrl.network.connections.base import AbstractConnection, WeightLayout
from snnrl.network.nodes import Nodes
from snnrl.network.plasticity import Plasticity
from snnrl.registry import register

__all__ = ["LocalConnection1D", "LocalConnection2D", "LocalConnection3D"]


class _LocalConnection(AbstractConnection):
    """Shared implementation of :class:`LocalConnection1D`, ``2D`` and ``3D``."""

    _dims: ClassVar[int]

    def __init__(
        self,
        source: Nodes,
        target: Nodes,
        kernel_size: int | Sequence[int],
        stride: int | Sequence[int] = 1,
        padding: int | Sequence[int] = 0,
        dilation: int | Sequence[int] = 1,
        w: Tensor | None = None,
        *,
        b: Tensor | None = None,
        wmin: float | Tensor = -math.inf,
        wmax: float | Tensor = math.inf,
        norm: float | None = None,
        mask: Tensor | None = None,
        weight_decay: float = 0.0,
        dale: Tensor | None = None,
        delay: int = 0,
        generator: torch.Generator | None = None,
        rule: Plasticity | None = None,
    ) -> None:
        super().__init__(source, target, w, b=b, wmin=wmin, wmax=wmax, norm=norm, mask=mask, weight_decay=weight_decay,
                         dale=dale, delay=delay, generator=generator, rule=rule, kernel_size=kernel_size,
                         stride=stride, padding=padding, dilation=dilation)

    def _layout(self, kernel_size: int | Sequence[int], stride: int | Sequence[int], padding: int | Sequence[int],
                dilation: int | Sequence[int]) -> WeightLayout:
        source, target = self.source, self.target
        name, n = type(self).__name__, self._dims
        self.kernel_size, self.stride, self.padding, self.dilation = window_args(
            name, source.shape, n, kernel_size, stride, padding, dilation
        )
        c_in, c_out = source.shape[0], target.shape[0]
        spatial = output_shape(name, source.shape[1:], self.kernel_size, self.stride, self.padding, self.dilation)
        expected = (c_out, *spatial)
        if tuple(target.shape) != expected:
            raise ValueError(
                f"{name}: the target has shape {target.shape} but a {source.shape} source gives output "
                f"positions {spatial}; with C_out = {c_out} filters the target shape must be {expected}"
            )
        self.__dict__["_positions"] = math.prod(spatial)
        self.__dict__["_fan_in"] = c_in * math.prod(self.kernel_size)
        return WeightLayout((c_out, *spatial, c_in, *self.kernel_size), "(C_out, *spatial_out, C_in, *kernel_size)",
                            [(c_in,), source.shape], "input channel or source neuron", self._source_sign,
                            (expected, "target.shape"))

    def _source_sign(self, sign: Tensor) -> Tensor:
        """Per-channel or per-neuron signs -> a tensor broadcastable to the weight."""
        n = self._dims
        if sign.dim() == 1:  # per input channel
            return sign.view(1, *([1] * n), -1, *([1] * n))
        # per source neuron: the sign of the neuron each weight reads (padding reads nothing: +1)
        cols = patches(sign.unsqueeze(0), self.kernel_size, self.stride, self.padding, self.dilation, pad_value=1.0)
        cols = cols[0]  # (C_in, *spatial_out, *kernel)
        order = [*range(1, n + 1), 0, *range(n + 1, 2 * n + 1)]
        return cols.permute(order).unsqueeze(0)  # (1, *spatial_out, C_in, *kernel)

    def _columns(self, x: Tensor) -> Tensor:
        """``(B, C_in, *spatial)`` -> receptive fields ``(B, positions, C_in * prod(kernel))``."""
        n = self._dims
        cols = patches(x, self.kernel_size, self.stride, self.padding, self.dilation)
        order = [0, *range(2, n + 2), 1, *range(n + 2, 2 * n + 2)]
        return cols.permute(order).reshape(x.shape[0], self._positions, self._fan_in)

    def _propagate(self, s: Tensor) -> Tensor:
        w = self._parameters["weight"]
        x = s if s.dtype == w.dtype else as_dtype(s, w.dtype)
        cols = self._columns(x)
        c_out = w.shape[0]
        # one (B, F) @ (F, C_out) product per position
        out = torch.bmm(cols.transpose(0, 1), w.view(c_out, self._positions, self._fan_in).permute(1, 2, 0))
        out = out.permute(1, 2, 0).reshape(s.shape[0], *self.target.shape)
        bias = self._parameters["bias"]
        return out if bias is None else out + bias

    def correlate(self, pre: Tensor, post: Tensor) -> Tensor:
        """For each weight ``(o, *p, c, *k)``: ``post[o, *p] * pre[c, p * stride + k * dilation -
        padding]`` (the outer product of each target neuron with its receptive field).

        Shape:
            ``pre``: ``(B, C_in, *spatial)``; ``post``: ``(B, C_out, *spatial_out)``; output
            ``(B, C_out, *spatial_out, C_in, *kernel_size)``.
        """
        w = self.weight
        b = pre.shape[0]
        cols = self._columns(as_dtype(pre, w.dtype))
        out = as_dtype(post, w.dtype).reshape(b, w.shape[0], self._positions, 1)
        return (out * cols.unsqueeze(1)).reshape(b, *w.shape)

    def normalize(self) -> None:
        """Scale each target neuron's filter so that its absolute weights sum to ``norm``."""
        if self.norm is None:
            return
        w = self.weight.data
        flat = w.view(w.shape[0], self._positions, self._fan_in)
        total = flat.abs().sum(2, keepdim=True)
        flat.mul_(self.norm / total.masked_fill_(total == 0, 1.0))

    def extra_repr(self) -> str:
        return (f"{self.source.shape} -> {self.target.shape}, kernel_size={self.kernel_size}, stride={self.stride}, "
                f"padding={self.padding}, dilation={self.dilation}, bias={self.bias is not None}, "
                f"delay={self.delay}")


_DOC = """{dims}-D locally connected layer: the geometry of a convolution, but every output position has
    its own filters (unshared weights). Computed from the unfolded source (im2col) with one
    small matrix product per position: memory is the weight itself, not a masked
    ``(source.n, target.n)`` matrix; the batch dimension is kept.

    Args:
        source: presynaptic population of shape ``(C_in, {spatial})``.
        target: postsynaptic population of shape ``(C_out, {spatial_out})``: ``C_out`` filters
            at each output position, which must match the sliding-window output shape.
        kernel_size, stride, padding, dilation: an int or {dims} ints each (zero padding).
        w: initial weights ``(C_out, {spatial_out}, C_in, {kernel})``: ``w[o, *p]`` is the
            filter of target neuron ``(o, *p)``; default as
            :meth:`AbstractConnection._initial_weights`.
        b: per-target-neuron bias of the target's shape, or None.
        wmin, wmax, norm, weight_decay: see :class:`AbstractConnection`; ``norm`` applies to
            each target neuron's filter.
        mask: boolean, the weight's shape; ``False`` entries are held at zero.
        dale: bool ``(C_in,)`` (per input channel) or ``source.shape`` (per source neuron):
            True = excitatory (outgoing weights ``>= 0``), False = inhibitory (``<= 0``).
        delay: delay of the whole connection in steps (an int >= 0).
        generator: random source for the default weights.
        rule: learning rule.

    Shape:
        source ``(B, C_in, {spatial})`` -> target ``(B, C_out, {spatial_out})``;
        ``weight``: ``(C_out, {spatial_out}, C_in, {kernel})``; ``correlate`` output
        ``(B, *weight.shape)``.
    """


@register("connection")
class LocalConnection1D(_LocalConnection):
    __doc__ = _DOC.format(dims=1, spatial="L", spatial_out="L'", kernel="k")
    _dims = 1


@register("connection")
class LocalConnection2D(_LocalConnection):
    __doc__ = _DOC.format(dims=2, spatial="H, W", spatial_out="H', W'", kernel="kH, kW")
    _dims = 2


@register("connection")
class LocalConnection3D(_LocalConnection):
    __doc__ = _DOC.format(dims=3, spatial="D, H, W", spatial_out="D', H', W'", kernel="kD, kH, kW")
    _dims = 3
