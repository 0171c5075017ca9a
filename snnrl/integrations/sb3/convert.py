r"""ANN -> SNN conversion of feed-forward torch networks (rate coding, reset by subtraction).

This module needs only torch; :func:`snnrl.integrations.sb3.convert_sb3` feeds it the layers of a
stable-baselines3 policy.

**Method** (Diehl et al. 2015; Rueckauer et al. 2017). Every hidden unit becomes
integrate-and-fire neurons with threshold 1, reset by subtraction and no leak
(:class:`~snnrl.network.SubtractiveResetIFNodes`): driven by a constant input ``u`` per step, such
a neuron fires at the rate ``clip(u, 0, 1)`` spikes per step (it fires at most once per step), up
to a quantisation error of ``1/T`` after ``T`` steps. The observation, preprocessed exactly as
stable-baselines3 does it, is the *analog input*: it is presented unchanged at every step as the
real-valued activity of the ``Input`` layer, so the first layer receives the constant current
``W x + b`` (Rueckauer et al. 2017, section 2.3). Biases are constant currents added at every step.

*Activations as sums of saturating neurons.* A unit of activation ``f`` is represented by a few
neurons ("segments"), each the clipped-linear function of its input that an IF neuron computes:

.. math::
    f(x) \approx f(0) + \sum_k \sigma_k h_k \,\mathrm{clip}\big(\sigma_k (x - c_k) / w_k, 0, 1\big)

with ``sigma_k = +1`` for segments above 0 and ``-1`` for those below (neuron ``k`` receives
``sigma_k (x - c_k) / w_k`` and its rate is weighted by ``sigma_k h_k`` downstream; at ``x = 0`` no
segment is active, so small activations cost no spikes):

* ``ReLU``: one segment of width and height ``lambda``, the ``percentile``-th percentile of the
  layer's positive activations on the calibration observations (data-based normalisation, layer
  by layer: the scaled weights are ``W lambda_{l-1} / lambda_l`` and the bias ``b / lambda_l``).
  Activations above ``lambda`` saturate; the percentile (Rueckauer's robust normalisation, 99.9
  by default) trades that clipping against the resolution of the rest.
* ``ReLU6``, ``Hardtanh``, ``Hardsigmoid``: piecewise linear already, exact with one segment per
  side (their saturation is the neuron's own).
* ``Tanh``, ``Sigmoid``: ``segments`` segments per side whose knots are chosen so that the
  piecewise-linear interpolation's largest error (saturation included) is as small as possible
  (about 0.01 for tanh with 8 per side). This is what lets stable-baselines3's PPO / A2C policies,
  whose default activation is tanh, be converted without retraining.

The output layer does not spike for the reading ``"potential"``: its neurons accumulate their
input (``sum_input``), and ``summed / T`` is the network's output (Q-values, logits or action
means) in the ANN's units. With the reading ``"spikes"`` its weights are divided by the
percentile of its positive outputs and the spike counts (ties broken by the accumulated input)
decide. Max pooling follows the neuron with the highest running rate of each window
(:class:`~snnrl.network.MaxPool2dConnection` in ``"rate"`` mode) into relay neurons; average
pooling is a depthwise convolution into relay neurons.

Initial voltage ``v_init`` (default 0.5, half the threshold) makes the rate round instead of
truncate, halving the quantisation error. The network uses in-order propagation, so one decision
takes exactly ``T`` steps.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn

from snnrl import _checks as checks
from snnrl.network import (
    Connection,
    Conv2dConnection,
    Input,
    MaxPool2dConnection,
    Network,
    SubtractiveResetIFNodes,
)

__all__ = [
    "READOUTS",
    "ActivationCode",
    "ConversionError",
    "LayerInfo",
    "Segment",
    "activation_code",
    "ann_forward",
    "convert_modules",
    "linearize",
    "simulate",
]

READOUTS = ("potential", "spikes")
INPUT_LAYER = "input"
OUTPUT_LAYER = "output"
#: Decay of the running rate estimate of max-pooling windows (fraction lost per step).
POOL_RATE_DECAY = 0.02


class ConversionError(ValueError):
    """The network cannot be converted (an unsupported layer or arrangement; the message says which)."""


# ----------------------------------------------------------------------------- activation codes
@dataclass(frozen=True)
class Segment:
    """One saturating IF neuron of a unit: rate ``clip(sign * (x - knot) / width, 0, 1)``, weight ``sign * height``."""

    sign: float
    knot: float
    width: float
    height: float


@dataclass(frozen=True)
class ActivationCode:
    """An activation written as ``offset + sum_k sign_k height_k clip(sign_k (x - knot_k) / width_k, 0, 1)``."""

    name: str
    offset: float
    segments: tuple[Segment, ...]
    max_error: float = 0.0  # largest |f - approximation| (0 where exact)

    def __call__(self, x: Tensor) -> Tensor:
        """The piecewise-linear function the neurons compute (for checks and plots)."""
        out = torch.full_like(x, self.offset)
        for s in self.segments:
            out = out + s.sign * s.height * ((s.sign * (x - s.knot)) / s.width).clamp(0.0, 1.0)
        return out


def _clip_code(name: str, scale: float, shift: float, lo: float, hi: float) -> ActivationCode:
    """``f(x) = clip(scale * x + shift, lo, hi)`` (scale > 0): exact, at most one segment per side."""
    def f(x: float) -> float:
        return min(max(scale * x + shift, lo), hi)

    segments = []
    start, end = max(0.0, (lo - shift) / scale), (hi - shift) / scale
    if end > start:
        segments.append(Segment(1.0, start, end - start, f(end) - f(start)))
    start, end = min(0.0, (hi - shift) / scale), (lo - shift) / scale
    if end < start:
        segments.append(Segment(-1.0, start, start - end, f(start) - f(end)))
    return ActivationCode(name, f(0.0), tuple(segments))


def _line_error(g: Callable[[Tensor], Tensor], a: float, ya: float, b: float, yb: float) -> float:
    t = torch.linspace(a, b, 65, dtype=torch.float64)
    return float((g(t) - (ya + (yb - ya) * (t - a) / (b - a))).abs().max())


def _g1(g: Callable[[Tensor], Tensor], x: float) -> float:
    return float(g(torch.tensor([x], dtype=torch.float64)))


def _greedy_knots(
    g: Callable[[Tensor], Tensor], sup: float, k: int, eps: float
) -> tuple[bool, list[float], list[float]]:
    """At most ``k`` linear pieces from ``(0, 0)`` within ``eps`` of ``g`` (increasing, concave, ``g(0) = 0``).

    Each piece ends at ``g(x) + eps`` rather than on the curve (the chord of a concave function
    lies below it), which halves the error of plain interpolation for the same number of pieces.
    Returns ``(feasible, knots, values)``.
    """
    knots, values = [0.0], [0.0]
    for _ in range(k):
        a, ya = knots[-1], values[-1]
        lo, hi = 0.0, 64.0
        for _ in range(40):
            mid = (lo + hi) / 2
            if mid > 0 and _line_error(g, a, ya, a + mid, _g1(g, a + mid) + eps) <= eps:
                lo = mid
            else:
                hi = mid
        lo = max(lo, 1e-6)
        knots.append(a + lo)
        values.append(min(_g1(g, a + lo) + eps, sup))
        if abs(sup - values[-1]) <= eps:
            return True, knots, values
    return abs(sup - values[-1]) <= eps, knots, values


def _side(g: Callable[[Tensor], Tensor], sup: float, k: int) -> tuple[list[float], list[float], float]:
    """Best pieces for one side (binary search on the largest error)."""
    lo, hi = 0.0, sup
    best = _greedy_knots(g, sup, k, hi)
    for _ in range(30):
        eps = (lo + hi) / 2
        found = _greedy_knots(g, sup, k, eps)
        if found[0]:
            hi, best = eps, found
        else:
            lo = eps
    return best[1], best[2], hi


def _smooth_code(name: str, f: Callable[[Tensor], Tensor], lower: float, upper: float, k: int) -> ActivationCode:
    """Bounded increasing ``f`` (``lower < f < upper``, concave above 0, convex below): ``k`` pieces per side."""
    c = float(f(torch.zeros(1, dtype=torch.float64)))
    segments = []
    error = 0.0
    for sign, sup in ((1.0, upper - c), (-1.0, c - lower)):
        def g(t: Tensor, sign: float = sign) -> Tensor:
            return sign * (f(sign * t) - c)

        knots, values, eps = _side(g, sup, k)
        error = max(error, eps)
        for i in range(len(knots) - 1):
            segments.append(Segment(sign, sign * knots[i], knots[i + 1] - knots[i], values[i + 1] - values[i]))
    code = ActivationCode(name, c, tuple(segments))
    x = torch.linspace(-30.0, 30.0, 60001, dtype=torch.float64)
    return ActivationCode(name, c, tuple(segments), max(error, float((code(x) - f(x)).abs().max())))


_SMOOTH_CACHE: dict[tuple[str, int], ActivationCode] = {}


def activation_code(module: nn.Module | None, segments: int = 8, relu_scale: float = 1.0) -> ActivationCode:
    """The segment code of an activation module (``relu_scale``: the ReLU's normalisation scale).

    Raises:
        ConversionError: an activation that cannot be converted.
    """
    if isinstance(module, nn.ReLU):
        return ActivationCode("ReLU", 0.0, (Segment(1.0, 0.0, relu_scale, relu_scale),))
    if isinstance(module, nn.ReLU6):
        return _clip_code("ReLU6", 1.0, 0.0, 0.0, 6.0)
    if isinstance(module, nn.Hardtanh):
        return _clip_code("Hardtanh", 1.0, 0.0, float(module.min_val), float(module.max_val))
    if isinstance(module, nn.Hardsigmoid):
        return _clip_code("Hardsigmoid", 1.0 / 6.0, 0.5, 0.0, 1.0)
    if isinstance(module, (nn.Tanh, nn.Sigmoid)):
        name = type(module).__name__
        key = (name, segments)
        if key not in _SMOOTH_CACHE:
            fn, lower = (torch.tanh, -1.0) if name == "Tanh" else (torch.sigmoid, 0.0)
            _SMOOTH_CACHE[key] = _smooth_code(name, fn, lower, 1.0, segments)
        return _SMOOTH_CACHE[key]
    raise ConversionError(f"cannot convert the activation {type(module).__name__}; supported: {_ACT_NAMES}")


# ----------------------------------------------------------------------------- linearisation
_ACTIVATIONS = (nn.ReLU, nn.ReLU6, nn.Hardtanh, nn.Hardsigmoid, nn.Tanh, nn.Sigmoid)
_ACT_NAMES = "ReLU, ReLU6, Hardtanh, Hardsigmoid, Tanh, Sigmoid"
_AFFINE = (nn.Linear, nn.Conv2d)
_POOLS = (nn.MaxPool2d, nn.AvgPool2d)
_SKIP = (nn.Identity, nn.Dropout)
SUPPORTED_MODULES = "Linear, Conv2d, MaxPool2d, AvgPool2d, Flatten, Identity, Dropout, " + _ACT_NAMES


def linearize(modules: nn.Module | Sequence[nn.Module]) -> list[nn.Module]:
    """The leaf layers of ``modules`` in order (``Sequential`` and containers are opened).

    The result is only a candidate for the network's computation: a container whose ``forward``
    does more than call its children in order would be misread, so callers compare
    :func:`ann_forward` of the result with the real model (``convert_sb3`` does).

    Raises:
        ConversionError: a layer of a type that cannot be converted.
    """
    items = [modules] if isinstance(modules, nn.Module) else list(modules)
    out: list[nn.Module] = []
    for m in items:
        if isinstance(m, (*_AFFINE, *_ACTIVATIONS, *_POOLS, nn.Flatten)):
            out.append(m)
        elif isinstance(m, _SKIP):
            continue
        else:
            children = list(m.children())
            if not children:
                raise ConversionError(f"cannot convert a {type(m).__name__} layer; supported layers: "
                                      f"{SUPPORTED_MODULES}")
            out.extend(linearize(children))
    return out


def ann_forward(layers: Sequence[nn.Module], x: Tensor) -> Tensor:
    """Run the linearised layers (what the conversion assumes the network computes).

    Shape:
        ``x``: ``(B, *input shape)``; output ``(B, n_out)``.
    """
    for m in layers:
        x = m(x)
    return x


@dataclass
class _Stage:
    kind: str  # "affine", "pool"
    module: nn.Module
    weight: Tensor | None = None
    bias: Tensor | None = None
    act: nn.Module | None = None


def _affine_params(m: nn.Module) -> tuple[Tensor, Tensor]:
    w = m.weight.detach().double()
    b = m.bias.detach().double() if m.bias is not None else torch.zeros(w.shape[0], dtype=torch.float64)
    return w, b


def _stages(layers: Sequence[nn.Module]) -> list[_Stage]:
    stages: list[_Stage] = []
    for m in layers:
        last = stages[-1] if stages else None
        if isinstance(m, nn.Flatten):
            if (m.start_dim, m.end_dim) != (1, -1):
                raise ConversionError(f"only Flatten(start_dim=1, end_dim=-1) is supported, got {m}")
        elif isinstance(m, _AFFINE):
            if isinstance(m, nn.Conv2d):
                if m.padding_mode != "zeros" or (isinstance(m.padding, str) and m.padding != "valid"):
                    raise ConversionError(f"{m}: only numeric zero padding is supported")
                if m.groups != 1:
                    raise ConversionError(f"{m}: grouped convolutions are not supported")
            w, b = _affine_params(m)
            if last is not None and last.kind == "affine" and last.act is None:
                if not (isinstance(m, nn.Linear) and isinstance(last.module, nn.Linear)):
                    raise ConversionError(f"two affine layers in a row ({last.module} then {m}) without an "
                                          "activation: only Linear -> Linear can be merged")
                last.weight, last.bias = w @ last.weight, w @ last.bias + b
                last.module = m
                continue
            stages.append(_Stage("affine", m, w, b))
        elif isinstance(m, _ACTIVATIONS):
            if last is None or last.act is not None or last.kind != "affine":
                where = "the input" if last is None else ("pooling" if last.kind == "pool" else "another activation")
                raise ConversionError(f"an activation ({type(m).__name__}) after {where} cannot be converted; "
                                      "activations must follow a Linear or Conv2d layer")
            last.act = m
        else:  # pooling
            if last is None or (last.kind == "affine" and last.act is None):
                raise ConversionError(f"{m} must follow an activation (pooling the input or a linear output "
                                      "is not supported)")
            stages.append(_Stage("pool", m))
    if not stages or stages[-1].kind != "affine" or stages[-1].act is not None:
        raise ConversionError("the network must end with a Linear layer without activation (its outputs are the "
                              "Q-values, logits or action means)")
    return stages


def _pair(v: Any) -> tuple[int, int]:
    if v == "valid":
        return (0, 0)
    return (int(v), int(v)) if isinstance(v, int) else (int(v[0]), int(v[1]))


# ----------------------------------------------------------------------------- conversion
@dataclass
class LayerInfo:
    """One population of the converted network (for reports and checkpoints' metadata)."""

    name: str
    kind: str  # "linear", "conv2d", "maxpool2d", "avgpool2d", "output"
    activation: str
    segments: int
    scale: float  # ReLU normalisation scale (lambda) or 1
    shape: tuple[int, ...]
    max_error: float = 0.0
    replicas: int = 1

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "kind": self.kind, "activation": self.activation, "segments": self.segments,
                "replicas": self.replicas, "scale": self.scale, "shape": list(self.shape),
                "max_error": self.max_error}


@dataclass
class Converted:
    """What :func:`convert_modules` returns."""

    network: Network
    layers: list[LayerInfo]
    output_scale: float
    v_init: float


def _percentile_positive(a: Tensor, percentile: float) -> float:
    pos = a[a > 0]
    if pos.numel() == 0:
        return 1.0
    k = max(1, min(pos.numel(), math.ceil(percentile / 100.0 * pos.numel())))
    return float(pos.double().kthvalue(k).values)


def _channel_scales(a: Tensor, percentile: float, fallback: float) -> Tensor:
    """Per-channel (dim 1) percentile of the positive activations; ``fallback`` for silent channels."""
    per = a.transpose(0, 1).reshape(a.shape[1], -1)
    return torch.tensor([_percentile_positive(row, percentile) if bool((row > 0).any()) else fallback
                         for row in per], dtype=torch.float64)


def _in_scale(ch: Tensor, src_shape: tuple[int, ...], conv: bool) -> Tensor:
    """Per-input scale of one segment block, broadcastable to ``w`` (channel ``c`` of the source)."""
    if conv:
        return ch.view(1, -1, 1, 1)
    spatial = math.prod(src_shape[1:]) if len(src_shape) > 1 else 1
    return ch.repeat_interleave(spatial).view(1, -1)


def _expand_in(w: Tensor, b: Tensor, code: ActivationCode | None, ch: Tensor | None, src_shape: tuple[int, ...],
               conv: nn.Conv2d | None) -> tuple[Tensor, Tensor]:
    """Weights on the source's segment populations (input dimension ``k * n + i``).

    ``ch``: the source's per-channel scale (ReLU normalisation), multiplying each segment's height.
    """
    if code is None:
        return w, b
    scale = _in_scale(ch, src_shape, conv is not None)
    w2 = torch.cat([w * scale * (s.sign * s.height) for s in code.segments], dim=1)
    if code.offset != 0.0:
        if conv is not None and any(_pair(conv.padding)):
            raise ConversionError(f"{conv}: a padded convolution after an activation with f(0) = {code.offset} != 0 "
                                  "cannot be converted (the padding would not carry f(0))")
        b = b + code.offset * w.flatten(1).sum(1)
    return w2, b


def _expand_out(w: Tensor, b: Tensor, code: ActivationCode, ch: Tensor) -> tuple[Tensor, Tensor]:
    """Weights into the target's segment populations (output dimension ``k * n + j``); ``ch``: per-channel scale."""
    ws, bs = [], []
    col = ch.view(-1, *([1] * (w.dim() - 1)))
    for s in code.segments:
        ws.append(w * (s.sign / s.width) / col)
        bs.append((b - s.knot * ch) * (s.sign / s.width) / ch)
    return torch.cat(ws, 0), torch.cat(bs, 0)


def convert_modules(
    layers: nn.Module | Sequence[nn.Module],
    calibration: Tensor,
    *,
    percentile: float = 99.9,
    segments: int = 8,
    v_init: float = 0.5,
    normalization: str = "channel",
    replicas: int | Sequence[int] = 1,
    batch_size: int = 256,
) -> Converted:
    """Convert a feed-forward network into a spiking :class:`~snnrl.network.Network`.

    Args:
        layers: the network (a module or a sequence of modules, read by :func:`linearize`).
        calibration: inputs on which the ReLU layers' activation percentiles are measured
            (observations after the policy's preprocessing).
        percentile: percentile of the positive activations that maps to the maximal rate
            (one spike per step), in ``(0, 100]``.
        segments: neurons per side for tanh / sigmoid units (see the module docstring).
        v_init: initial membrane voltage (fraction of the threshold) of every neuron, in ``[0, 1)``.
        normalization: ``"channel"`` (default): one ReLU scale per neuron of a dense layer and per
            channel of a convolution (Kim et al. 2020's channel-wise normalisation: a unit whose
            activations stay small gets a finer rate resolution); ``"layer"``: one per layer
            (Rueckauer et al. 2017).
        replicas: neurons per segment of every hidden unit, with staggered initial voltages
            ``(r + v_init) / replicas``; their summed spike count resolves ``1 / (replicas * T)``
            instead of ``1 / T`` (for constant input exactly: Hermite's identity), so ``m``
            replicas buy about the precision of ``m`` times as many steps. An int applies to every
            hidden layer; a sequence gives one value per hidden Linear/Conv2d layer (pooling layers
            follow their source). The last hidden layer usually matters most: its quantisation
            error reaches the outputs undamped (e.g. ``(1, 16)`` for a two-layer MLP).
        batch_size: calibration batch size.

    Returns:
        A :class:`Converted`: the network (layers ``"input"``, hidden ``"l1"``, ... and
        ``"output"``; ``propagation="in_order"``, ``learning=False``), the per-layer information
        and the output scale.

    Raises:
        ConversionError: an unsupported layer or arrangement.

    Shape:
        ``calibration``: ``(N, *input shape)``.
    """
    if not 0.0 < percentile <= 100.0:
        raise ValueError(f"percentile must be in (0, 100], got {percentile!r}")
    if not 0.0 <= v_init < 1.0:
        raise ValueError(f"v_init must be in [0, 1), got {v_init!r}")
    if normalization not in ("channel", "layer"):
        raise ValueError(f"normalization must be 'channel' or 'layer', got {normalization!r}")
    per_layer = [replicas] if isinstance(replicas, int) else list(replicas)
    for arg, value in (("segments", segments), *(("replicas", r) for r in per_layer)):
        checks.integer(arg, value, 1, what="a positive int (or a sequence of them)")
    if not isinstance(calibration, Tensor) or calibration.dim() < 2 or calibration.shape[0] < 1:
        raise ValueError("calibration must be a tensor (N, *input shape) with N >= 1")
    leaves = linearize(layers)
    stages = _stages(leaves)
    calibration = calibration.detach().float().cpu()
    n_hidden = sum(st.kind == "affine" for st in stages) - 1
    if isinstance(replicas, int):
        per_layer = [replicas] * n_hidden
    elif len(per_layer) != n_hidden:
        raise ValueError(f"replicas has {len(per_layer)} values but the network has {n_hidden} hidden Linear/Conv2d "
                         "layers")
    hidden_index = 0

    # Record the outputs the normalisation needs: ReLU activations and the final outputs.
    keep = [isinstance(st.act, nn.ReLU) or i == len(stages) - 1 for i, st in enumerate(stages)]
    outputs: list[list[Tensor]] = [[] for _ in stages]
    shapes: list[tuple[int, ...]] = []
    with torch.no_grad():
        for chunk in calibration.split(batch_size):
            x = chunk
            for i, st in enumerate(stages):
                x = _run_stage(st, x)
                if keep[i]:
                    outputs[i].append(x)
                if len(shapes) < len(stages):
                    shapes.append(tuple(x.shape[1:]))

    net = Network(dt=1.0, propagation="in_order", learning=False)
    net.add_layer(Input(shape=tuple(calibration.shape[1:])), INPUT_LAYER)
    src_name, src_code, src_ch, src_reset, src_rep = INPUT_LAYER, None, None, v_init, 1
    infos: list[LayerInfo] = []
    output_scale = 1.0
    for i, st in enumerate(stages):
        last = i == len(stages) - 1
        name = OUTPUT_LAYER if last else f"l{i + 1}"
        src = net.layers[src_name]
        if st.kind == "pool":
            code = src_code
            if isinstance(st.module, nn.MaxPool2d) and any(s.sign < 0 for s in code.segments):
                raise ConversionError(f"{st.module} after {code.name}: max pooling needs an activation that is "
                                      "represented by increasing segments only (ReLU, ReLU6)")
            target = SubtractiveResetIFNodes(shape=(src.shape[0], *shapes[i][1:]), thresh=1.0, reset=src_reset)
            net.add_layer(target, name)
            net.add_connection(_pool_connection(st.module, src, target), src_name, name)
            kind = type(st.module).__name__.lower()
            infos.append(LayerInfo(name, kind, code.name, len(code.segments) // src_rep, 1.0, target.shape,
                                   replicas=src_rep))
            src_name = name
            continue
        conv = st.module if isinstance(st.module, nn.Conv2d) else None
        w, b = _expand_in(st.weight, st.bias, src_code, src_ch, tuple(src.shape), conv)
        if last:
            z = torch.cat(outputs[i])
            pos = _percentile_positive(z, percentile)
            output_scale = pos if (z > 0).any() else max(float(z.abs().max()), 1e-6)
            w, b = w / output_scale, b / output_scale
            code, ch, reset, rep = None, None, v_init, 1
            n_seg, act_name, scale = 1, "none", output_scale
        else:
            c_out = st.weight.shape[0]
            scale, ch = 1.0, torch.ones(c_out, dtype=torch.float64)
            if keep[i]:
                a = torch.cat(outputs[i])
                scale = _percentile_positive(a, percentile)
                ch = _channel_scales(a, percentile, scale) if normalization == "channel" else ch * scale
            rep = per_layer[hidden_index]
            hidden_index += 1
            code = _replicate(activation_code(st.act, segments), rep)
            w, b = _expand_out(w, b, code, ch)
            n_seg, act_name = len(code.segments), code.name
            reset = _replica_voltages(v_init, rep, n_seg, shapes[i])
        out_shape = shapes[i]
        pop_shape = (n_seg * out_shape[0], *out_shape[1:])
        target = SubtractiveResetIFNodes(shape=pop_shape, thresh=1.0, reset=reset, sum_input=last)
        net.add_layer(target, name)
        wf, bf = w.float(), b.float()
        # The weights are copied in after construction (rather than passed as ``w``) so that a
        # checkpoint stores them once, as state; the placeholder initialisation uses its own generator.
        gen = torch.Generator().manual_seed(0)
        if conv is None:
            if wf.shape[1] != src.n:
                raise ConversionError(f"{st.module}: expects {wf.shape[1]} inputs but the previous layer has "
                                      f"{src.n} neurons (is a Flatten missing or misplaced?)")
            connection = Connection(src, target, b=bf, generator=gen)
            connection.weight.data.copy_(wf.t())
        else:
            connection = Conv2dConnection(src, target, conv.kernel_size, conv.stride, _pair(conv.padding),
                                          conv.dilation, 1, b=bf, generator=gen)
            connection.weight.data.copy_(wf)
        net.add_connection(connection, src_name, name)
        kind = "output" if last else ("conv2d" if conv is not None else "linear")
        infos.append(LayerInfo(name, kind, act_name, n_seg // rep, scale, pop_shape,
                               code.max_error if code else 0.0, rep))
        src_name, src_code, src_ch, src_reset, src_rep = name, code, ch, reset, rep
    return Converted(net, infos, output_scale, v_init)


def _replicate(code: ActivationCode, m: int) -> ActivationCode:
    """``m`` copies of every segment, each carrying ``1/m`` of its height (replica-major order)."""
    if m == 1:
        return code
    segs = tuple(Segment(s.sign, s.knot, s.width, s.height / m) for _ in range(m) for s in code.segments)
    return ActivationCode(code.name, code.offset, segs, code.max_error)


def _replica_voltages(v_init: float, m: int, n_seg: int, out_shape: tuple[int, ...]) -> float | Tensor:
    """Initial voltages ``(r + v_init) / m`` of replica ``r``'s block, broadcastable to the population."""
    if m == 1:
        return v_init
    per_block = torch.tensor([(r + v_init) / m for r in range(m) for _ in range(n_seg // m)])
    per_channel = per_block.repeat_interleave(out_shape[0])
    return per_channel.view(-1, *([1] * (len(out_shape) - 1))) if len(out_shape) > 1 else per_channel


def _run_stage(st: _Stage, x: Tensor) -> Tensor:
    if st.kind == "pool":
        return st.module(x)
    if isinstance(st.module, nn.Conv2d):
        m = st.module
        z = nn.functional.conv2d(x, st.weight.float(), st.bias.float(), m.stride, m.padding, m.dilation, m.groups)
    else:
        if x.dim() > 2:
            x = x.flatten(1)
        z = x @ st.weight.float().t() + st.bias.float()
    return st.act(z) if st.act is not None else z


def _pool_connection(m: nn.Module, src: Any, target: Any) -> Any:
    if getattr(m, "ceil_mode", False):
        raise ConversionError(f"{m}: ceil_mode=True is not supported")
    if isinstance(m, nn.MaxPool2d):
        if m.return_indices:
            raise ConversionError(f"{m}: return_indices=True is not supported")
        return MaxPool2dConnection(src, target, m.kernel_size, m.stride, m.padding, m.dilation, mode="rate",
                                   decay=POOL_RATE_DECAY)
    if m.divisor_override is not None or (not m.count_include_pad and any(_pair(m.padding))):
        raise ConversionError(f"{m}: divisor_override and count_include_pad=False are not supported")
    kh, kw = _pair(m.kernel_size)
    c = src.shape[0]
    w = torch.full((c, 1, kh, kw), 1.0 / (kh * kw))
    stride = m.stride if m.stride is not None else m.kernel_size
    return Conv2dConnection(src, target, (kh, kw), stride, _pair(m.padding), 1, c, w)


# ----------------------------------------------------------------------------- simulation
def simulate(network: Network, x: Tensor, steps: int, v_init: float = 0.5) -> tuple[Tensor, Tensor]:
    """Present ``x`` for ``steps`` steps from rest; returns the output layer's ``(summed input, spike counts)``.

    The output neurons reset by subtraction with threshold 1 and no lower bound, so their spike
    count is exactly ``summed + v_init - v`` (no monitor needed).

    Shape:
        ``x``: ``(B, *input shape)``; outputs ``(B, n_out)``.
    """
    steps = checks.integer("steps", steps, 1, what="a positive int")
    network.reset_state_variables()
    network.run({INPUT_LAYER: x.unsqueeze(0).expand(steps, *x.shape)})
    out = network.layers[OUTPUT_LAYER]
    summed = out.summed
    counts = torch.round(summed + v_init - out.v)
    return summed, counts
