"""snnrl._checks: the shared argument checks, their typed errors and the messages call sites keep."""

from __future__ import annotations

import math
import re

import numpy as np
import pytest
import torch

import snnrl
from snnrl import _checks as checks
from snnrl.functional import encoding as F
from snnrl.learning import MSTDP, MovingAverageRPE, PostPre, TDError
from snnrl.network import Connection, LIFNodes, Network
from snnrl.policy.decoders import CountArgmax, SoftmaxCounts
from snnrl.wrappers.scaling import check_steps


def exactly(message: str) -> str:
    """A ``match=`` pattern for exactly ``message``."""
    return f"^{re.escape(message)}$"


# ------------------------------------------------------------------------------------ errors
def test_errors_are_value_errors_and_exported():
    assert snnrl.InvalidParameter is checks.InvalidParameter
    assert "InvalidParameter" in snnrl.__all__
    assert issubclass(checks.InvalidParameter, ValueError)
    assert issubclass(checks.OutOfRange, checks.InvalidParameter)
    # a wrong type is caught by `except TypeError` (as before) and by `except ValueError`
    assert issubclass(checks.InvalidType, checks.InvalidParameter) and issubclass(checks.InvalidType, TypeError)


def test_errors_carry_name_and_value():
    with pytest.raises(checks.OutOfRange) as info:
        checks.positive("tc_decay", -2)
    assert (info.value.name, info.value.value) == ("tc_decay", -2)
    error = checks.invalid("mode", "one of ('a', 'b')", "c")
    assert isinstance(error, checks.InvalidParameter) and not isinstance(error, checks.OutOfRange)
    assert str(error) == "mode must be one of ('a', 'b'), got 'c'"


# ------------------------------------------------------------------------------- predicates
def test_is_real_and_is_int_refuse_bool():
    assert checks.is_real(1) and checks.is_real(1.5) and checks.is_real(np.float32(2)) and checks.is_real(math.nan)
    assert not checks.is_real(True) and not checks.is_real("1") and not checks.is_real(None)
    assert not checks.is_real(torch.tensor(1.0))
    assert checks.is_int(3) and checks.is_int(np.int64(3))
    assert not checks.is_int(False) and not checks.is_int(3.0) and not checks.is_int("3")


# --------------------------------------------------------------------------------- checkers
def test_finite():
    assert checks.finite("x", 3) == 3.0 and isinstance(checks.finite("x", 3), float)
    assert checks.finite("x", np.float32(0.5)) == 0.5
    with pytest.raises(checks.InvalidType, match=exactly("x must be a finite number, got True")):
        checks.finite("x", True)
    with pytest.raises(checks.InvalidType, match=exactly("x must be a finite number, got '1'")):
        checks.finite("x", "1")
    for bad in (math.nan, math.inf, -math.inf):
        with pytest.raises(checks.InvalidParameter, match=exactly(f"x must be a finite number, got {bad!r}")):
            checks.finite("x", bad)
    with pytest.raises(ValueError, match=exactly("w must be finite, got inf")):
        checks.finite("w", math.inf, what="finite")


def test_real_names_the_type_then_finiteness():
    assert checks.real("dt", 2) == 2.0
    with pytest.raises(TypeError, match=exactly("dt must be a real number, got 'a' (str)")):
        checks.real("dt", "a")
    with pytest.raises(TypeError, match=exactly("dt must be a real number, got False (bool)")):
        checks.real("dt", False)
    with pytest.raises(checks.InvalidParameter, match=exactly("dt must be finite, got nan")):
        checks.real("dt", math.nan)


def test_in_range_bounds_and_messages():
    assert checks.in_range("p", 0, 0, 1) == 0.0 and checks.in_range("p", 1, 0, 1) == 1.0
    cases = [
        (dict(low=0, high=1), 1.5, "p must be in [0, 1], got 1.5"),
        (dict(low=0, high=1.0, low_open=True), 0, "p must be in (0, 1.0], got 0"),
        (dict(low=0, high=1, high_open=True), 1, "p must be in [0, 1), got 1"),
        (dict(low=1), 0.5, "p must be >= 1, got 0.5"),
        (dict(low=0.0, low_open=True), 0.0, "p must be > 0.0, got 0.0"),
        (dict(high=2), 3, "p must be <= 2, got 3"),
        (dict(high=2, high_open=True), 2, "p must be < 2, got 2"),
    ]
    for bounds, value, message in cases:
        with pytest.raises(checks.OutOfRange, match=exactly(message)):
            checks.in_range("p", value, **bounds)
    # NaN, infinities and non-numbers fail the number check first
    with pytest.raises(checks.InvalidParameter, match=exactly("p must be a finite number, got nan")):
        checks.in_range("p", math.nan, 0, 1)
    with pytest.raises(checks.InvalidType, match=exactly("p must be a finite number, got True")):
        checks.in_range("p", True, 0, 1)
    # `what` words every failure, of type or of value
    for bad in (2, math.nan, "x", None):
        with pytest.raises(checks.InvalidParameter, match=exactly(f"p must be a probability, got {bad!r}")):
            checks.in_range("p", bad, 0, 1, what="a probability")


def test_positive():
    assert checks.positive("tc", 2) == 2.0
    assert checks.positive("refrac", 0, strict=False) == 0.0
    with pytest.raises(checks.OutOfRange, match=exactly("tc must be > 0, got 0")):
        checks.positive("tc", 0)
    with pytest.raises(checks.OutOfRange, match=exactly("refrac must be >= 0, got -1")):
        checks.positive("refrac", -1, strict=False)
    with pytest.raises(checks.InvalidParameter, match=exactly("tc must be a finite number, got inf")):
        checks.positive("tc", math.inf)
    with pytest.raises(checks.InvalidParameter, match=exactly("dt must be a positive number of ms, got nan")):
        checks.positive("dt", math.nan, what="a positive number of ms")


def test_integer():
    assert checks.integer("n", 3, 1) == 3
    value = checks.integer("n", np.int64(3), 1)
    assert value == 3 and type(value) is int
    assert checks.integer("k", -5) == -5
    with pytest.raises(checks.InvalidType, match=exactly("n must be an int >= 1, got True")):
        checks.integer("n", True, 1)
    with pytest.raises(checks.InvalidType, match=exactly("n must be an int >= 1, got 2.0")):
        checks.integer("n", 2.0, 1)
    with pytest.raises(checks.OutOfRange, match=exactly("n must be an int >= 1, got 0")):
        checks.integer("n", 0, 1)
    with pytest.raises(checks.OutOfRange, match=exactly("n must be an int in [0, 3], got 4")):
        checks.integer("n", 4, 0, 3)
    with pytest.raises(checks.OutOfRange, match=exactly("n must be an int <= 3, got 4")):
        checks.integer("n", 4, high=3)
    with pytest.raises(checks.InvalidType, match=exactly("n must be an int, got 'x'")):
        checks.integer("n", "x")
    with pytest.raises(checks.OutOfRange, match=exactly("batch_size must be a positive int, got 0")):
        checks.integer("batch_size", 0, 1, what="a positive int")
    # exact for ints beyond float precision
    assert checks.integer("seed", 2**64 - 1, 0, 2**64 - 1) == 2**64 - 1
    with pytest.raises(checks.OutOfRange):
        checks.integer("seed", 2**64, 0, 2**64 - 1)


def test_boolean():
    assert checks.boolean("flag", True) is True and checks.boolean("flag", False) is False
    for bad in (0, 1, None, "yes", np.bool_(True)):
        with pytest.raises(checks.InvalidType, match=exactly(f"flag must be a bool, got {bad!r}")):
            checks.boolean("flag", bad)


def test_choice():
    assert checks.choice("mode", "log", ("linear", "log")) == "log"
    with pytest.raises(checks.InvalidParameter, match=exactly("mode must be one of ('linear', 'log'), got 'exp'")):
        checks.choice("mode", "exp", ("linear", "log"))
    with pytest.raises(ValueError, match=exactly("type must be one of ['a', 'b'], got 'c'")):
        checks.choice("type", "c", ["a", "b"])


def test_finite_tensor():
    t = torch.tensor([1.0, 2.0])
    assert checks.finite_tensor("x", t) is t
    assert checks.finite_tensor("x", torch.tensor([1, 2])).dtype == torch.int64
    for bad in (math.nan, math.inf, -math.inf):
        with pytest.raises(checks.InvalidParameter, match=exactly(f"x must be finite (no NaN/inf), got {bad}")):
            checks.finite_tensor("x", torch.tensor([0.0, bad, 1.0]))
    with pytest.raises(checks.InvalidType, match=exactly("x must be a tensor, got list")):
        checks.finite_tensor("x", [1.0])  # type: ignore[arg-type]


# ------------------------------------------------------------------ populations (issue 13)
def test_population_refuses_non_finite_parameter_tensors():
    """A NaN scalar was refused while a per-neuron tensor holding NaN was accepted."""
    with pytest.raises(ValueError, match=exactly("parameter thresh must be finite, got nan")):
        LIFNodes(3, thresh=math.nan)
    for bad in (math.nan, math.inf):
        with pytest.raises(checks.InvalidParameter,
                           match=exactly(f"parameter thresh must be finite (no NaN/inf), got {bad}")):
            LIFNodes(3, thresh=torch.tensor([-52.0, bad, -52.0]))
    # float64 values beyond float32's range become inf in the population's dtype: refused too
    with pytest.raises(ValueError, match="parameter rest must be finite"):
        LIFNodes(2, rest=torch.tensor([0.0, 1e300], dtype=torch.float64))
    layer = LIFNodes(3, thresh=torch.tensor([-52.0, -50.0, -48.0]))
    assert torch.equal(layer.p.thresh, torch.tensor([-52.0, -50.0, -48.0]))


def test_population_parameter_messages():
    with pytest.raises(TypeError, match=exactly("parameter thresh must be a float or a tensor, got 'a'")):
        LIFNodes(3, thresh="a")
    with pytest.raises(ValueError, match=exactly("tc_decay must be > 0, got 0.0")):
        LIFNodes(3, tc_decay=0)
    with pytest.raises(ValueError, match=r"^tc_decay must be > 0, got tensor\(\[ 1\., -1\.\]\)$"):
        LIFNodes(2, tc_decay=torch.tensor([1.0, -1.0]))
    with pytest.raises(ValueError, match=exactly("refrac must be >= 0 ms, got -1.0")):
        LIFNodes(3, refrac=-1)
    with pytest.raises(ValueError, match=exactly("n must be a positive int, got True")):
        LIFNodes(True)
    with pytest.raises(ValueError, match=exactly("tc_trace must be > 0, got 0")):
        LIFNodes(3, tc_trace=0)


# -------------------------------------------------------- call sites keep their own wording
@pytest.mark.parametrize(("make", "error", "message"), [
    (lambda: MSTDP(tc_plus=0), checks.OutOfRange, "tc_plus must be > 0, got 0"),
    (lambda: MSTDP(a_plus="x"), checks.InvalidType, "a_plus must be a finite number, got 'x'"),
    (lambda: PostPre(traces_additive=1), checks.InvalidType, "traces_additive must be a bool, got 1"),
    (lambda: TDError(gamma=2), checks.OutOfRange, "gamma must be in [0, 1], got 2.0"),
    (lambda: MovingAverageRPE(window=0.5), checks.OutOfRange, "window must be >= 1, got 0.5"),
    (lambda: MovingAverageRPE(update="x"), checks.InvalidParameter,
     "update must be one of ('episode', 'step'), got 'x'"),
    (lambda: Network(dt=0), checks.OutOfRange, "dt must be a positive number of ms, got 0"),
    (lambda: Network(batch_size=2.0), checks.InvalidType, "batch_size must be a positive int, got 2.0"),
    (lambda: Network().run({}, time=-1), checks.OutOfRange, "time must be a non-negative number of ms, got -1"),
    (lambda: Connection(LIFNodes(2), LIFNodes(2), sparse_threshold=math.nan), checks.InvalidParameter,
     "sparse_threshold must be in [0, 1], got nan"),
    (lambda: Connection(LIFNodes(2), LIFNodes(2), delay=1.0), checks.InvalidType,
     "delay must be an int >= 0 (steps) or an integer tensor, got 1.0"),
    (lambda: Connection(LIFNodes(2), LIFNodes(2), wmin=math.nan), checks.InvalidParameter,
     "wmin must be a number or a tensor, got nan"),
    (lambda: CountArgmax(seed=-1), checks.OutOfRange, "seed must be None or an int >= 0, got -1"),
    (lambda: CountArgmax(neurons_per_action=0), checks.OutOfRange, "neurons_per_action must be an int >= 1, got 0"),
    (lambda: SoftmaxCounts(temperature=0), checks.OutOfRange, "temperature must be > 0.0, got 0.0"),
    (lambda: F.poisson(torch.rand(3), 10, dt=0), checks.OutOfRange, "dt must be > 0 ms, got 0.0"),
    (lambda: F.poisson(torch.rand(3), "x"), checks.InvalidType, "time must be a real number, got 'x' (str)"),
    (lambda: F.single(torch.rand(3), 10, sparsity=0), checks.OutOfRange, "sparsity must be in (0, 1.0], got 0.0"),
    (lambda: F.population(torch.rand(2, 3), 10, 4, 0.0, 1.0, max_rate=2000), checks.OutOfRange,
     "max_rate must be in [0, 1000 / dt] = [0, 1000] Hz for dt=1.0 ms, got 2000.0"),
    (lambda: F.gaussian_receptive_fields(torch.rand(2, 3), 0, 0.0, 1.0), checks.OutOfRange,
     "n_per_dim must be >= 1, got 0"),
    (lambda: F.gaussian_receptive_fields(torch.rand(2, 3), 1.5, 0.0, 1.0), checks.InvalidType,
     "n_per_dim must be an int, got 1.5"),
    (lambda: F.latency(torch.rand(3), 10, normalize=1), checks.InvalidType, "normalize must be a bool, got 1"),
    (lambda: F.repeat(torch.tensor([1.0, math.nan]), 3), checks.InvalidParameter,
     "datum must be finite (no NaN/inf), got nan"),
    (lambda: check_steps(0), checks.OutOfRange, "steps must be >= 1, got 0"),
    (lambda: check_steps(1.0), checks.InvalidType, "steps must be an int, got 1.0"),
])
def test_call_sites_keep_their_messages(make, error, message):
    with pytest.raises(error, match=exactly(message)):
        make()


def test_public_encoding_helpers():
    assert F.check_max_rate(500, 2.0) == 500.0
    assert F.check_n_per_dim(np.int64(3)) == 3
    assert F.num_steps(10, 0.5) == 20
    lo, hi = F.check_bounds([0.0, 1.0], 2.0, torch.empty(0))
    assert lo.tolist() == [0.0, 1.0] and hi.tolist() == [2.0, 2.0]
