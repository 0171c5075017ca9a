"""snnrl._checks: the shared argument checks, their typed errors and the messages call sites keep;
and (issue 13) the classes of bad input they guard: non-finite modulators reaching a rule,
observations outside their space, counts below one, run directories outside the runs directory."""

from __future__ import annotations

import io
import json
import math
import re

import gymnasium as gym
import numpy as np
import pytest
import torch

import snnrl
from snnrl import SRM0Nodes
from snnrl import _checks as checks
from snnrl.functional import encoding as F
from snnrl.learning import MSTDP, MSTDPET, EProp, MovingAverageRPE, PostPre, Rmax, TDError
from snnrl.network import Connection, Input, LIFNodes, Network
from snnrl.pipeline import callbacks as cb
from snnrl.pipeline import load_agent
from snnrl.pipeline.run import build_trainer, run_name, train_agent
from snnrl.pipeline.trainer import LinearCritic, RewardShaping
from snnrl.policy.decoders import CountArgmax, SoftmaxCounts
from snnrl.wrappers import PoissonObservation
from snnrl.wrappers.scaling import UnitScaler, check_steps


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


def test_is_input_error_sorts_mistakes_from_bugs():
    from snnrl.checkpoint import CheckpointError
    from snnrl.envs import PresetError
    from snnrl.pipeline import AgentError

    for error in (checks.OutOfRange("x"), AgentError("x"), PresetError("x"), CheckpointError("x"),
                  FileNotFoundError(2, "No such file", "f"), NotADirectoryError("d"),
                  UnicodeDecodeError("utf-8", b"\xff", 0, 1, "invalid start byte")):
        assert checks.is_input_error(error), error
    for bug in (ValueError("x"), TypeError("x"), KeyError("x"), RuntimeError("x"), IndexError("x")):
        assert not checks.is_input_error(bug), bug


# ------------------------------------------------------ modulators reaching a rule (issue 13)
def _plastic(rule):
    """A connection with ``rule`` between 4 inputs and 3 neurons, batch 2, its eligibility built."""
    target = SRM0Nodes(3, generator=torch.Generator().manual_seed(0)) if isinstance(rule, Rmax) else LIFNodes(3)
    net = Network(dt=1.0)
    net.add_layer(Input(4), "X")
    net.add_layer(target, "A")
    conn = Connection(net.layers["X"], net.layers["A"], torch.full((4, 3), 5.0), rule=rule)
    net.add_connection(conn, "X", "A")
    net.run({"X": torch.ones(5, 2, 4)}, reward=0.0)
    return conn


RULES = [MSTDP, MSTDPET, EProp, Rmax]
NON_FINITE = [math.nan, math.inf, -math.inf, np.float32("nan"), np.float64("inf"), torch.tensor(math.nan),
              torch.tensor([1.0, math.nan]), torch.tensor([math.inf, 0.0]), torch.full((2, 3), math.nan)]


@pytest.mark.parametrize("rule", RULES, ids=lambda r: r.__name__)
@pytest.mark.parametrize("via", ["step", "deliver"])
@pytest.mark.parametrize("bad", NON_FINITE, ids=repr)
def test_a_rule_refuses_a_non_finite_modulator_on_every_path(rule, via, bad):
    """A NaN modulator given to a rule's own step or deliver used to turn every weight into NaN."""
    conn = _plastic(rule())
    w0 = conn.weight.clone()
    with pytest.raises(checks.InvalidParameter, match=r"must be finite|contains NaN or infinite"):
        getattr(conn.rule, via)(conn, bad)
    assert torch.equal(conn.weight, w0)


@pytest.mark.parametrize("rule", RULES, ids=lambda r: r.__name__)
def test_a_rule_checks_a_tensor_again_once_it_changed(rule):
    conn = _plastic(rule())
    reward = torch.tensor([0.5, 1.0])
    conn.rule.step(conn, reward)
    conn.rule.step(conn, reward)  # checked once while unchanged
    assert bool(torch.isfinite(conn.weight).all())
    reward[1] = math.nan  # an in-place change: checked again
    w = conn.weight.clone()
    with pytest.raises(checks.InvalidParameter, match="contains NaN or infinite"):
        conn.rule.step(conn, reward)
    assert torch.equal(conn.weight, w)


# ------------------------------------------------- observations outside their space (issue 13)
@pytest.mark.parametrize(("space", "kw", "obs", "message"), [
    (gym.spaces.Box(0, 1, (3,)), {"out_of_range": "error"}, [0.5, math.nan, 0.2],
     "observation element (1,) is nan; observations must not contain NaN"),
    (gym.spaces.Box(0, 1, (3,)), {}, [0.5, math.nan, 0.2], "must not contain NaN"),
    (gym.spaces.Box(-np.inf, np.inf, (2,)), {}, [math.nan, 0.0], "must not contain NaN"),
    (gym.spaces.Box(0, 1, (3,)), {"out_of_range": "error"}, [0.5, 2.0, 0.2], "lies outside [low, high]"),
    (gym.spaces.Discrete(4), {}, -1, "observation -1 is not in Discrete(4, start=0): expected an int in [0, 3]"),
    (gym.spaces.Discrete(4), {}, 7, "observation 7 is not in Discrete(4, start=0)"),
    (gym.spaces.Discrete(4, start=2), {}, 1, "observation 1 is not in Discrete(4, start=2): expected an int in [2, 5]"),
    (gym.spaces.Discrete(4), {}, 2.5, "observation 2.5 is not in Discrete(4"),
    (gym.spaces.Discrete(4), {}, True, "observation True is not in Discrete(4"),
    (gym.spaces.MultiBinary(3), {}, [0, 2, 1], "observation element (1,) = 2 of a MultiBinary space must be 0 or 1"),
    (gym.spaces.MultiBinary(3), {}, [0, math.nan, 1], "must be 0 or 1"),
])
def test_an_observation_outside_its_space_is_refused(space, kw, obs, message):
    scaler = UnitScaler(space, **kw)
    with pytest.raises(ValueError, match=re.escape(message)):
        scaler(np.asarray(obs) if isinstance(obs, list) else obs)


def test_observations_inside_their_space_are_encoded():
    assert UnitScaler(gym.spaces.Discrete(4, start=2))(np.int64(5)).tolist() == [0, 0, 0, 1]
    assert UnitScaler(gym.spaces.Discrete(4))(np.array(0)).tolist() == [1, 0, 0, 0]
    assert UnitScaler(gym.spaces.MultiBinary(2))(np.array([1, 0])).tolist() == [1.0, 0.0]
    u = UnitScaler(gym.spaces.Box(-np.inf, np.inf, (2,)))(np.array([np.inf, -np.inf]))  # saturates, no NaN
    assert u.tolist() == [1.0, 0.0]


class _NaNEnv(gym.Env):
    observation_space = gym.spaces.Box(0, 1, (2,), np.float32)
    action_space = gym.spaces.Discrete(2)

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        return np.array([0.5, np.nan], np.float32), {}

    def step(self, action):
        return np.array([0.5, 0.5], np.float32), 0.0, False, False, {}


def test_an_encoding_wrapper_refuses_a_nan_observation():
    """It used to encode NaN as zero spikes, even with out_of_range='error'."""
    for mode in ("error", "clip"):
        env = PoissonObservation(_NaNEnv(), steps=4, out_of_range=mode)
        with pytest.raises(ValueError, match="must not contain NaN"):
            env.reset(seed=0)


# ---------------------------------------------------------------- counts below one (issue 13)
@pytest.fixture(scope="module")
def trainer():
    return build_trainer(load_agent("agents/cue_bandit.toml"))


@pytest.mark.parametrize(("call", "error", "message"), [
    (lambda t: t.evaluate(-2), checks.OutOfRange, "episodes must be an int >= 1, got -2"),
    (lambda t: t.evaluate(0), checks.OutOfRange, "episodes must be an int >= 1, got 0"),
    (lambda t: t.evaluate(2.5), checks.InvalidType, "episodes must be an int >= 1, got 2.5"),
    (lambda t: t.evaluate(True), checks.InvalidType, "episodes must be an int >= 1, got True"),
    (lambda t: t.evaluate(1, seed=-1), checks.OutOfRange, "seed must be an int >= 0, got -1"),
    (lambda t: t.run_random(-1), checks.OutOfRange, "episodes must be an int >= 1, got -1"),
    (lambda t: t.run_random(1, seed=1.5), checks.InvalidType, "seed must be an int >= 0, got 1.5"),
    (lambda t: t.run_random(1, stream=7), checks.InvalidParameter, "stream must be one of (0, 1), got 7"),
    (lambda t: t.learn(-1), ValueError, "episodes must be an int >= 0, got -1"),
])
def test_a_count_below_one_is_an_error_not_an_empty_result(trainer, call, error, message):
    with pytest.raises(error, match=exactly(message)):
        call(trainer)
    assert trainer.evaluate(1) == ([-20.0], [20])  # and the trainer still works


@pytest.mark.parametrize(("make", "message"), [
    (lambda: cb.EvalCallback(2, episodes=0), "episodes must be an int >= 1, got 0"),
    (lambda: cb.EvalCallback(0), "every must be an int >= 1, got 0"),
    (lambda: cb.EvalCallback(2, stop_return=math.nan), "stop_return must be a finite number, got nan"),
    (lambda: cb.EvalCallback(2, seed=-3), "seed must be an int >= 0, got -3"),
    (lambda: cb.CheckpointCallback(-1, "c.safetensors"), "every_episodes must be an int >= 1, got -1"),
    (lambda: cb.StopTrainingOnEpisodes(-1), "episodes must be an int >= 1, got -1"),
    (lambda: cb.StopTrainingOnReward(math.nan), "threshold must be a finite number, got nan"),
    (lambda: cb.StopTrainingOnReward(1.0, window=0), "window must be an int >= 1, got 0"),
    (lambda: cb.StopOnTimeBudget(-1), "minutes must be > 0, got -1"),
    (lambda: cb.StopOnTimeBudget(math.inf), "minutes must be a finite number, got inf"),
    (lambda: cb.ProgressBarCallback(minutes=math.nan), "minutes must be a finite number, got nan"),
    (lambda: cb.ProgressBarCallback(total=-5), "total must be an int >= 0, got -5"),
    (lambda: cb.PrintCallback(0), "every must be an int >= 1, got 0"),
    (lambda: Connection(LIFNodes(2), LIFNodes(2), norm=math.inf),
     "norm must be > 0 (a finite number) or None, got inf"),
    (lambda: Connection(LIFNodes(2), LIFNodes(2), weight_decay=math.nan),
     "weight_decay must be a finite number, got nan"),
    (lambda: Connection(Input(2), LIFNodes(2), wmin=math.inf), "wmin must be finite or -inf (no bound), got inf"),
    (lambda: Connection(Input(2), LIFNodes(2), wmax=torch.tensor([1.0, math.nan])),
     "wmax must be finite or inf (no bound) in every element, got nan"),
    (lambda: LIFNodes(2, trace_scale=math.nan), "trace_scale must be a finite number, got nan"),
    (lambda: LIFNodes(2, traces="no"), "traces must be a bool, got 'no'"),
    (lambda: LIFNodes(2, thresh=None), "parameter thresh must be a float or a tensor, got None"),
    (lambda: LinearCritic(4, lr=math.nan), "lr must be a finite number, got nan"),
    (lambda: LinearCritic(4, gamma=2.0), "gamma must be in [0, 1], got 2.0"),
    (lambda: RewardShaping(scale=math.inf), "scale must be a finite number, got inf"),
    (lambda: RewardShaping(clip=-1), "clip must be >= 0, got -1"),
    (lambda: F.poisson(torch.rand(2), 1e30), "time / dt must be at most 2147483647 steps, got time=1e+30 / dt=1.0 "
                                             "= 1e+30"),
])
def test_constructors_refuse_bad_counts_and_non_finite_values(make, message):
    with pytest.raises(checks.InvalidParameter, match=exactly(message)):
        make()


@pytest.mark.parametrize(("option", "message"), [
    ({"episodes": 0}, "episodes must be an int >= 1, got 0"),
    ({"minutes": math.nan}, "minutes must be a finite number, got nan"),
    ({"minutes": math.inf}, "minutes must be a finite number, got inf"),
    ({"eval_episodes": -1}, "eval_episodes must be an int >= 0, got -1"),
    ({"baseline_episodes": 1.5}, "baseline_episodes must be an int >= 0, got 1.5"),
])
def test_train_agent_refuses_bad_counts_before_a_run_directory_exists(tmp_path, option, message):
    with pytest.raises(checks.InvalidParameter, match=exactly(message)):
        train_agent("agents/cue_bandit.toml", runs_dir=tmp_path / "runs", tensorboard=False, progress=False,
                    plot=False, log=io.StringIO(), **option)
    assert not (tmp_path / "runs").exists()


# ------------------------------------------------- run directories stay put (issue 13)
@pytest.mark.parametrize("preset", ["../../evil", "/tmp/evil", "a/../../evil.toml", "..", "x/..", "évil:1"])
def test_run_names_are_one_plain_component(preset):
    config = load_agent("agents/cue_bandit.toml")
    config = type(config)(**{**config.__dict__, "env": type(config.env)(**{**config.env.__dict__, "preset": preset})})
    name = run_name(config, stamp=7)
    assert "/" not in name and "\\" not in name and not name.startswith(".") and ".." not in name.split("__")
    assert re.fullmatch(r"[A-Za-z0-9._+-]+__cue_bandit__0__7", name), name


def test_a_preset_path_with_dot_dot_cannot_move_the_run_directory(tmp_path):
    """The run directory's name was built from env.preset as written: ``../`` or an absolute path
    wrote the checkpoint and results outside --runs-dir."""
    (tmp_path / "evil").write_text(open("envs/cue_bandit.toml").read())
    runs = tmp_path / "deep" / "runs"
    runs.mkdir(parents=True)
    preset = f"{runs}/../../evil"  # the file tmp/evil, named through the runs directory
    result = train_agent("agents/cue_bandit.toml", [f'env.preset="{preset}"'], runs_dir=runs, episodes=1,
                         eval_episodes=0, baseline_episodes=0, tensorboard=False, progress=False, plot=False,
                         log=io.StringIO())
    (made,) = runs.iterdir()
    assert made.name.startswith("evil__cue_bandit__0__") and str(made) == result.run_dir
    assert sorted(p.name for p in tmp_path.iterdir()) == ["deep", "evil"]  # nothing written beside them
    assert json.loads((made / "results.json").read_text())["env"] == "evil"
