r"""snnrl populations <-> NIR neuron nodes, for one time step ``dt``.

NIR's neurons are continuous-time ODEs (time in seconds); snnrl's are their discrete-time
updates with step ``dt`` (ms), in which the input ``x_t`` of a step is a voltage increment. The
mapping is the one NIR's discrete-time readers snnTorch and Norse use: the forward-Euler
step of length :math:`h = dt \cdot 10^{-3}` s, with the value a node receives in step ``t`` held
for the whole step. With :math:`d = e^{-dt/\tau_{snnrl}}` (snnrl's exact decay per step):

* **LIF** (:class:`~snnrl.network.LIFNodes`, ``BoostedLIFNodes``): Euler gives
  :math:`v_t = (1 - h/\tau) v_{t-1} + (h/\tau) v_{leak} + (h R/\tau) I_t`, snnrl
  :math:`v_t = d\,v_{t-1} + (1 - d)\,rest + x_t`. They agree exactly for
  :math:`\tau = h / (1 - d)`, :math:`R = \tau / h = 1/(1-d)`, :math:`v_{leak} = rest`, :math:`I_t = x_t`;
  ``v_threshold = thresh``, ``v_reset = reset``. So NIR's ``tau`` is not ``tc_decay`` but
  ``dt / (1 - exp(-dt / tc_decay))`` (``tc_decay + dt/2`` to first order): a reader that integrates
  NIR's ODE exactly (``exp(-h/tau)``) sees a slightly slower leak.
* **IF** (:class:`~snnrl.network.IFNodes`): :math:`v_t = v_{t-1} + h R I_t`, so :math:`R = 1/h`.
* **CubaLIF** (:class:`~snnrl.network.CurrentLIFNodes`): with :math:`a = e^{-dt/\tau_{i}}`,
  :math:`\tau_{syn} = h/(1-a)`, :math:`w_{in} = \tau_{syn}/h` (so ``i_t = a i_{t-1} + x_t``) and the
  membrane as for LIF (``v`` integrates the new ``i_t``, as in snnrl and snnTorch's ``Synaptic``).
* **Threshold** (:class:`~snnrl.network.McCullochPitts`): ``threshold = thresh``.
* **Reset by subtraction** (:class:`~snnrl.network.SubtractiveResetIFNodes`, the neurons of
  converted SB3 agents) has no NIR neuron, but is exact as a small graph: an integrator ``I``
  (:math:`R = 1/h`) into a ``Threshold``, whose spikes come back through ``Scale(-thresh)``:
  :math:`u_t = u_{t-1} + x_t - thresh\,z_{t-1}`, :math:`z_t = [u_t > thresh]` is the voltage before
  reset of snnrl's :math:`v_t = v_{t-1} + x_t,\ z_t = [v_t \ge thresh],\ v_t \mathrel{-}= thresh\,z_t`.

Reading a graph inverts these formulas (``d = 1 - h/tau``, ``tc_decay = -dt / ln d``); a node whose
input gain ``h R / tau`` (``h R`` for IF, ``(h / tau_syn) w_in (h R / tau_mem)`` for CubaLIF) is not
1 gets it folded into the weights of its incoming connections. Gains within ``1e-12`` of 1 are the
float64 rounding of these formulas and are taken as 1.

What NIR cannot say: NIR spikes when ``v > v_threshold``, snnrl when ``v >= thresh`` (the same spikes
unless a voltage equals the threshold exactly); NIR neurons have no initial voltage (snnrl starts
LIF at ``rest`` = ``v_leak``, IF at ``reset`` = ``v_reset``, reset by subtraction at its ``reset``
argument, which a graph read without snnrl's metadata sets to 0; snnTorch starts at 0); refractory
periods, lower voltage bounds, adaptive thresholds and one-spike-per-step competition have no NIR
form and are refused unless the export is asked to approximate (then they are dropped, an adaptive
threshold frozen at its current value ``thresh + theta``, and each change is listed).
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np
import torch
from torch import Tensor

from snnrl.network.nodes import (
    AdaptiveLIFNodes,
    CurrentLIFNodes,
    DiehlAndCookNodes,
    IFNodes,
    LIFNodes,
    McCullochPitts,
    Nodes,
    SubtractiveResetIFNodes,
)

__all__ = [
    "MS",
    "GAIN_TOLERANCE",
    "Issue",
    "NIRExportError",
    "NIRImportError",
    "Population",
    "population_from_node",
    "population_node",
    "subtractive_from_nodes",
]

#: Seconds per ms (NIR's time unit is the second, snnrl's the millisecond).
MS = 1e-3
#: Input gains closer than this to 1 are float64 rounding of the mapping and taken as exactly 1.
GAIN_TOLERANCE = 1e-12


class NIRExportError(ValueError):
    """A network (or part of one) that NIR cannot express, at least not without approximating."""


class NIRImportError(ValueError):
    """A NIR graph that snnrl cannot build a network from."""


class Issue(NamedTuple):
    """Something NIR cannot express exactly: refused, or with ``approximate=True`` changed."""

    what: str
    """What it is, e.g. ``"layer 'A': refractory period 5.0 ms"``."""
    change: str
    """What an approximate export does about it, e.g. ``"dropped"``."""


class Population(NamedTuple):
    """An snnrl population read from NIR node(s)."""

    type: str
    """The registered population type (``"LIFNodes"``, ...)."""
    params: dict[str, Any]
    """Its constructor arguments (floats, or tensors when they differ between neurons)."""
    gain: np.ndarray | None
    """Input gain to fold into the incoming connections (population shape), or None for 1."""


def _full(value: Any, shape: tuple[int, ...]) -> np.ndarray:
    """A parameter (float or tensor broadcastable to ``shape``) as a float64 array of ``shape``."""
    if isinstance(value, Tensor):
        value = value.detach().cpu().double().numpy()
    return np.array(np.broadcast_to(np.asarray(value, dtype=np.float64), shape))


def _decay(tc: Any, dt: float, shape: tuple[int, ...]) -> np.ndarray:
    """``exp(-dt / tc)`` per neuron, as snnrl computes it for a float ``tc`` (float64)."""
    return np.exp(-dt / _full(tc, shape))


def _leak(name: str, what: str, tc: Any, dt: float, shape: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray]:
    """``(h / (1 - d), 1 / (1 - d))``: NIR's time constant (s) and ``tau / h`` for decay ``d``."""
    one_minus = 1.0 - _decay(tc, dt, shape)
    if (one_minus <= 0).any():
        raise NIRExportError(f"layer {name!r}: {what} is so long against dt={dt} ms that exp(-dt/{what}) rounds to 1 "
                             "(no leak); use IFNodes for a non-leaky population")
    return dt * MS / one_minus, 1.0 / one_minus


def _limits(name: str, layer: Nodes, issues: list[Issue]) -> None:
    """Refractory period and lower bound: not in NIR (an issue each when present)."""
    p = layer.p
    refrac = getattr(p, "refrac", 0.0)
    if bool((_full(refrac, layer.shape) > 0).any()):
        shown = refrac if not isinstance(refrac, Tensor) else f"up to {float(refrac.max())}"
        issues.append(Issue(f"layer {name!r}: refractory period {shown} ms", "dropped"))
    if getattr(p, "lbound", None) is not None:
        issues.append(Issue(f"layer {name!r}: lower voltage bound lbound={p.lbound}", "dropped"))


def population_node(nir: Any, name: str, layer: Nodes, dt: float, issues: list[Issue], flat: bool = False) -> Any:
    """The NIR node (or subgraph) of a non-input population; what NIR cannot express is appended
    to ``issues`` (the caller refuses or approximates).

    Args:
        flat: give the node the shape ``(n,)`` instead of the population's (for a population that
            only dense connections reach and leave: NIR's ``Affine`` is 1-D and NIR cannot reshape).

    Raises:
        NIRExportError: a population type with no NIR form at all.
    """
    shape = tuple(layer.shape)
    out = (layer.n,) if flat else shape
    h = dt * MS
    p = layer.p
    _limits(name, layer, issues)

    def full(value: Any) -> np.ndarray:
        return _full(value, shape).reshape(out)

    def leak(what: str, tc: Any) -> tuple[np.ndarray, np.ndarray]:
        tau, ratio = _leak(name, what, tc, dt, shape)
        return tau.reshape(out), ratio.reshape(out)

    if isinstance(layer, SubtractiveResetIFNodes):
        thresh = full(p.thresh)
        nodes = {
            "input": nir.Input(input_type=np.array(out)),
            "v": nir.I(r=np.full(out, 1.0 / h)),
            "spike": nir.Threshold(threshold=thresh),
            "reset": nir.Scale(scale=-thresh),
            "output": nir.Output(output_type=np.array(out)),
        }
        edges = [("input", "v"), ("v", "spike"), ("spike", "reset"), ("reset", "v"), ("spike", "output")]
        return nir.NIRGraph(nodes=nodes, edges=edges, metadata={"snnrl_population": "subtractive_reset_if"})
    if isinstance(layer, IFNodes):
        return nir.IF(r=np.full(out, 1.0 / h), v_threshold=full(p.thresh), v_reset=full(p.reset))
    if isinstance(layer, McCullochPitts):
        return nir.Threshold(threshold=full(p.thresh))
    if isinstance(layer, CurrentLIFNodes):
        tau_syn, w_in = leak("tc_i_decay", p.tc_i_decay)
        tau_mem, r = leak("tc_decay", p.tc_decay)
        return nir.CubaLIF(tau_syn=tau_syn, tau_mem=tau_mem, r=r, v_leak=full(p.rest), v_threshold=full(p.thresh),
                           v_reset=full(p.reset), w_in=w_in)
    if isinstance(layer, (LIFNodes, AdaptiveLIFNodes)):
        thresh = full(p.thresh)
        if isinstance(layer, AdaptiveLIFNodes):
            theta = layer.theta.detach().cpu().double().numpy()
            issues.append(Issue(f"layer {name!r}: adaptive threshold", "frozen at thresh + theta (theta in "
                                f"[{theta.min():.4g}, {theta.max():.4g}])"))
            thresh = thresh + theta.reshape(out)
            if isinstance(layer, DiehlAndCookNodes) and layer.one_spike:
                issues.append(Issue(f"layer {name!r}: at most one spike per step", "dropped"))
        tau, r = leak("tc_decay", p.tc_decay)
        return nir.LIF(tau=tau, r=r, v_leak=full(p.rest), v_threshold=thresh, v_reset=full(p.reset))
    raise NIRExportError(f"layer {name!r} is a {type(layer).__name__}: NIR has no such neuron model (exportable: "
                         "Input, IFNodes, SubtractiveResetIFNodes, LIFNodes, BoostedLIFNodes, CurrentLIFNodes, "
                         "McCullochPitts; AdaptiveLIFNodes and DiehlAndCookNodes approximately)")


# ----------------------------------------------------------------------------- import
def _param(values: np.ndarray) -> Any:
    """A float when every neuron has the same value, else a float32 tensor."""
    flat = values.reshape(-1)
    if flat.size and (flat == flat[0]).all():
        return float(flat[0])
    return torch.from_numpy(np.ascontiguousarray(values, dtype=np.float32))


def _array(node_name: str, node: Any, field: str, shape: tuple[int, ...]) -> np.ndarray:
    value = getattr(node, field, None)
    if value is None:
        raise NIRImportError(f"NIR node {node_name!r} ({type(node).__name__}) has no {field}")
    arr = np.asarray(value, dtype=np.float64)
    try:
        arr = np.array(np.broadcast_to(arr.reshape(arr.shape if arr.size != 1 else ()), shape))
    except ValueError:
        raise NIRImportError(f"NIR node {node_name!r}: {field} has shape {arr.shape}, expected {shape}") from None
    if not np.isfinite(arr).all():
        raise NIRImportError(f"NIR node {node_name!r}: {field} has NaN or infinite values")
    return arr


def _time_constant(node_name: str, field: str, tau: np.ndarray, dt: float) -> np.ndarray:
    """snnrl's time constant (ms) for NIR's ``tau`` (s): ``-dt / ln(1 - h / tau)``."""
    h = dt * MS
    if (tau <= h).any():
        raise NIRImportError(f"NIR node {node_name!r}: {field}={float(tau.min()):.6g} s is not longer than the step "
                             f"dt={dt} ms = {h:.6g} s, so a forward-Euler step of dt has no valid decay; import it "
                             "with a smaller dt")
    return -dt / np.log1p(-h / tau)


def _gain(gain: np.ndarray) -> np.ndarray | None:
    return None if bool((np.abs(gain - 1.0) <= GAIN_TOLERANCE).all()) else gain


def population_from_node(node_name: str, node: Any, shape: tuple[int, ...], dt: float) -> Population:
    """The snnrl population of a NIR neuron node (IF, LIF, CubaLIF or Threshold).

    Raises:
        NIRImportError: another node type, or parameters snnrl cannot use.
    """
    kind = type(node).__name__
    h = dt * MS

    def arr(field: str) -> np.ndarray:
        return _array(node_name, node, field, shape)

    def reset() -> np.ndarray:  # graphs written before nir 1.0.6 have no v_reset: they reset to 0
        return arr("v_reset") if getattr(node, "v_reset", None) is not None else np.zeros(shape)

    if kind == "IF":
        params = {"thresh": _param(arr("v_threshold")), "reset": _param(reset()), "refrac": 0.0}
        return Population("IFNodes", params, _gain(h * arr("r")))
    if kind == "LIF":
        tau = arr("tau")
        params = {"thresh": _param(arr("v_threshold")), "rest": _param(arr("v_leak")), "reset": _param(reset()),
                  "refrac": 0.0, "tc_decay": _param(_time_constant(node_name, "tau", tau, dt))}
        return Population("LIFNodes", params, _gain(h * arr("r") / tau))
    if kind == "CubaLIF":
        tau_syn, tau_mem = arr("tau_syn"), arr("tau_mem")
        params = {"thresh": _param(arr("v_threshold")), "rest": _param(arr("v_leak")), "reset": _param(reset()),
                  "refrac": 0.0, "tc_decay": _param(_time_constant(node_name, "tau_mem", tau_mem, dt)),
                  "tc_i_decay": _param(_time_constant(node_name, "tau_syn", tau_syn, dt))}
        w_in = arr("w_in") if getattr(node, "w_in", None) is not None else np.ones(shape)
        return Population("CurrentLIFNodes", params, _gain(h / tau_syn * w_in * h * arr("r") / tau_mem))
    if kind == "Threshold":
        return Population("McCullochPitts", {"thresh": _param(arr("threshold"))}, None)
    if kind in ("LI", "I", "CubaLI"):
        raise NIRImportError(f"NIR node {node_name!r} is a non-spiking integrator ({kind}); snnrl populations spike "
                             "(an I node is read only as part of reset by subtraction: I -> Threshold -> "
                             "Scale(-threshold) -> I)")
    raise NIRImportError(f"NIR node {node_name!r} is a {kind}, which snnrl cannot simulate")


def subtractive_from_nodes(names: tuple[str, str, str], integrator: Any, threshold: Any, scale: Any,
                           shape: tuple[int, ...], dt: float) -> Population | None:
    """Reset by subtraction from its NIR form ``I -> Threshold -> Scale(-threshold) -> I``, or None
    when ``scale`` is not minus the threshold times the integrator's step gain."""
    gain = dt * MS * _array(names[0], integrator, "r", shape)
    thresh = _array(names[1], threshold, "threshold", shape)
    back = _array(names[2], scale, "scale", shape)
    if not np.allclose(back * gain, -thresh, rtol=1e-9, atol=0.0):
        return None
    if (thresh <= 0).any():
        raise NIRImportError(f"NIR node {names[1]!r}: reset by subtraction needs positive thresholds")
    params = {"thresh": _param(thresh), "reset": 0.0, "refrac": 0.0}
    return Population("SubtractiveResetIFNodes", params, _gain(gain))
