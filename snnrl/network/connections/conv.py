"""Convolutional connections (1-D, 2-D and 3-D): one filter bank shared by all positions."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import ClassVar

import torch
import torch.nn.functional as F
from torch import Tensor

from snnrl import _checks as checks
from snnrl._tensors import as_dtype
from snnrl.network.connections._geometry import output_shape, patches, window_args
from snnrl.network.connections.base import AbstractConnection, WeightLayout
from snnrl.network.nodes import Nodes
from snnrl.network.plasticity import Plasticity
from snnrl.registry import register

__all__ = ["Conv1dConnection", "Conv2dConnection", "Conv3dConnection"]


class _ConvConnection(AbstractConnection):
    """Shared implementation of :class:`Conv1dConnection`, ``2d`` and ``3d``."""

    _dims: ClassVar[int]
    _conv: ClassVar[Callable[..., Tensor]]

    def __init__(
        self,
        source: Nodes,
        target: Nodes,
        kernel_size: int | Sequence[int],
        stride: int | Sequence[int] = 1,
        padding: int | Sequence[int] = 0,
        dilation: int | Sequence[int] = 1,
        groups: int = 1,
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
                         stride=stride, padding=padding, dilation=dilation, groups=groups)

    def _layout(self, kernel_size: int | Sequence[int], stride: int | Sequence[int], padding: int | Sequence[int],
                dilation: int | Sequence[int], groups: int) -> WeightLayout:
        source, target = self.source, self.target
        name, n = type(self).__name__, self._dims
        self.kernel_size, self.stride, self.padding, self.dilation = window_args(
            name, source.shape, n, kernel_size, stride, padding, dilation
        )
        c_in, c_out = source.shape[0], target.shape[0]
        groups = checks.integer("groups", groups, 1, what="a positive int")
        if c_in % groups or c_out % groups:
            raise ValueError(
                f"groups={groups} must divide both the input channels ({c_in}) and the output channels ({c_out})"
            )
        self.groups = groups
        spatial = output_shape(name, source.shape[1:], self.kernel_size, self.stride, self.padding, self.dilation)
        expected = (c_out, *spatial)
        if tuple(target.shape) != expected:
            raise ValueError(
                f"{name}: the target has shape {target.shape} but the convolution of a {source.shape} source "
                f"produces (C_out, *spatial) = (C_out, {', '.join(map(str, spatial))}); with C_out = "
                f"{c_out} the target shape must be {expected}"
            )
        return WeightLayout((c_out, c_in // groups, *self.kernel_size), "(C_out, C_in // groups, *kernel_size)",
                            [(c_in,)], "input channel", self._channel_sign, ((c_out,), "(C_out,)"))

    def _channel_sign(self, sign: Tensor) -> Tensor:
        """Per-input-channel signs -> ``(C_out, C_in // groups, 1, ...)`` (each group sees its own inputs)."""
        c_in, c_out, g = self.source.shape[0], self.target.shape[0], self.groups
        per_in, per_out = c_in // g, c_out // g
        channel = (torch.arange(c_out) // per_out).unsqueeze(1) * per_in + torch.arange(per_in)
        return sign[channel].view(c_out, per_in, *([1] * self._dims))

    def _propagate(self, s: Tensor) -> Tensor:
        w = self._parameters["weight"]
        x = s if s.dtype == w.dtype else as_dtype(s, w.dtype)
        return type(self)._conv(x, w, self._parameters["bias"], self.stride, self.padding, self.dilation, self.groups)

    def correlate(self, pre: Tensor, post: Tensor) -> Tensor:
        """For each weight ``(o, c, *k)``: the sum over output positions ``p`` of
        ``post[o, p] * pre[c', p * stride + k * dilation - padding]`` (``c'`` the input channel of
        ``c`` in ``o``'s group), computed by unfolding the source (im2col).

        Shape:
            ``pre``: ``(B, C_in, *spatial)``; ``post``: ``(B, C_out, *spatial_out)``; output
            ``(B, C_out, C_in // groups, *kernel_size)``.
        """
        w = self.weight
        b, g = pre.shape[0], self.groups
        c_in, c_out = self.source.shape[0], self.target.shape[0]
        cols = patches(as_dtype(pre, w.dtype), self.kernel_size, self.stride, self.padding, self.dilation)
        cols = cols.reshape(b, g, c_in // g, -1, math.prod(self.kernel_size))
        out = as_dtype(post, w.dtype).reshape(b, g, c_out // g, -1)
        corr = torch.einsum("bgol,bgclk->bgock", out, cols)
        return corr.reshape(b, *w.shape)

    def normalize(self) -> None:
        """Scale each output channel's filter so that its absolute weights sum to ``norm``
        (every target neuron of a channel receives that filter)."""
        if self.norm is None:
            return
        w = self.weight.data
        total = w.abs().flatten(1).sum(1).view(-1, *([1] * (w.dim() - 1)))
        w.mul_(self.norm / total.masked_fill_(total == 0, 1.0))

    def extra_repr(self) -> str:
        return (f"{self.source.shape} -> {self.target.shape}, kernel_size={self.kernel_size}, stride={self.stride}, "
                f"padding={self.padding}, dilation={self.dilation}, groups={self.groups}, "
                f"bias={self.bias is not None}, delay={self.delay}")


_DOC = """{dims}-D convolutional connection: ``I = conv{dims}d(s, W, b)`` (one filter bank shared by all
    positions, ``torch.nn.functional.conv{dims}d``; the batch dimension is kept).

    Args:
        source: presynaptic population of shape ``(C_in, {spatial})``.
        target: postsynaptic population of shape ``(C_out, {spatial_out})``, which must be the
            convolution's output shape (the error message says which shape is expected).
        kernel_size, stride, padding, dilation: an int or {dims} ints each, as in
            ``torch.nn.Conv{dims}d`` (zero padding).
        groups: split the channels into this many independent groups (divides C_in and C_out).
        w: initial filters ``(C_out, C_in // groups, *kernel_size)``; default as
            :meth:`AbstractConnection._initial_weights`.
        b: per-output-channel bias ``(C_out,)`` or None.
        wmin, wmax, norm, weight_decay: see :class:`AbstractConnection`; ``norm`` applies to
            each output channel's filter (the incoming weights of each target neuron, padding
            aside).
        mask: boolean, the weight's shape; ``False`` entries are held at zero.
        dale: bool ``(C_in,)``: True where an input channel is excitatory (its weights are
            kept ``>= 0``), False where inhibitory (``<= 0``). Weights are shared across
            positions, so Dale's rule is per channel.
        delay: delay of the whole connection in steps (an int >= 0).
        generator: random source for the default weights.
        rule: learning rule.

    Shape:
        source ``(B, C_in, {spatial})`` -> target ``(B, C_out, {spatial_out})``;
        ``weight``: ``(C_out, C_in // groups, {kernel})``; ``correlate`` output ``(B, *weight.shape)``.
    """


@register("connection")
class Conv1dConnection(_ConvConnection):
    __doc__ = _DOC.format(dims=1, spatial="L", spatial_out="L'", kernel="k")
    _dims = 1
    _conv = F.conv1d


@register("connection")
class Conv2dConnection(_ConvConnection):
    __doc__ = _DOC.format(dims=2, spatial="H, W", spatial_out="H', W'", kernel="kH, kW")
    _dims = 2
    _conv = F.conv2d


@register("connection")
class Conv3dConnection(_ConvConnection):
    __doc__ = _DOC.format(dims=3, spatial="D, H, W", spatial_out="D', H', W'", kernel="kD, kH, kW")
    _dims = 3
    _conv = F.conv3d
