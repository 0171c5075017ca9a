"""Property-based tests (issue 13): random finite, non-finite, wrongly typed and wrongly shaped
values given to the public constructors, the encoders and the preset loader give either a correct
result or a clear error naming the value, never a silent acceptance.

"A correct result" is checked where it can be: a constructed population holds only finite
parameters and takes a step with finite state; an encoder gives 0/1 spikes of the declared shape;
a preset that loads builds a trainer whose values are the ones given. "A clear error" is a
``ValueError`` or ``TypeError`` whose message names the argument or key. Examples are bounded
(``max_examples``) to keep the module at a few seconds.
"""

from __future__ import annotations

import inspect
import math

import gymnasium as gym
import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import snnrl.network as N
from snnrl.functional import encoding as F
from snnrl.learning import MSTDP, MSTDPET, EProp, Hebbian, PostPre, Rmax, WeightDependentPostPre
from snnrl.network.nodes import Nodes
from snnrl.pipeline import AgentError, load_agent
from snnrl.pipeline import callbacks as cb
from snnrl.pipeline.run import build_trainer
from snnrl.pipeline.trainer import LinearCritic, RewardShaping
from snnrl.wrappers.scaling import UnitScaler

# no example database: nothing is written into the checkout
FAST = settings(max_examples=40, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])

# Values of every kind: finite (any magnitude), non-finite, of the wrong type, and tensors of the
# right or a wrong shape (with or without NaN/inf in them).
FINITE = st.floats(allow_nan=False, allow_infinity=False, width=32)
NON_FINITE = st.sampled_from([math.nan, math.inf, -math.inf])
WRONG_TYPE = st.one_of(st.text(max_size=3), st.none(), st.booleans(), st.lists(FINITE, max_size=2),
                       st.just(object()), st.just(1 + 2j))


def tensors(n: int) -> st.SearchStrategy[torch.Tensor]:
    shapes = st.sampled_from([(), (1,), (n,), (n + 1,), (2, n), (0,)])
    return shapes.flatmap(lambda shape: st.lists(st.one_of(FINITE, NON_FINITE), min_size=math.prod(shape),
                                                 max_size=math.prod(shape))
                          .map(lambda xs, shape=shape: torch.tensor(xs, dtype=torch.float32).reshape(shape)))


def any_value(n: int = 3) -> st.SearchStrategy[object]:
    return st.one_of(FINITE, NON_FINITE, st.integers(-10**6, 10**6), WRONG_TYPE, tensors(n))


def refused_clearly(error: BaseException, *names: str) -> None:
    assert isinstance(error, (ValueError, TypeError)), repr(error)
    message = str(error)
    assert any(name in message for name in names), f"{message!r} names none of {names}"


def all_finite(*values: object) -> bool:
    for v in values:
        if isinstance(v, torch.Tensor) and v.is_floating_point() and not bool(torch.isfinite(v).all()):
            return False
        if isinstance(v, float) and not math.isfinite(v):
            return False
    return True


# ------------------------------------------------------------------------ populations
NODE_CLASSES = [cls for cls in vars(N).values()
                if inspect.isclass(cls) and issubclass(cls, Nodes) and not inspect.isabstract(cls)]
NUMBER_ARGS = [(cls, name) for cls in NODE_CLASSES for name, p in inspect.signature(cls).parameters.items()
               if name not in ("n", "shape") and (type(p.default) in (int, float) or
                                                  (p.default is None and name in ("lbound", "a", "b", "c", "d")))]


@pytest.mark.parametrize(("cls", "name"), NUMBER_ARGS, ids=[f"{c.__name__}.{n}" for c, n in NUMBER_ARGS])
@settings(max_examples=15, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
@given(value=any_value(3))
def test_population_parameters(cls, name, value):
    try:
        layer = cls(3, **{name: value})
    except (ValueError, TypeError) as e:
        refused_clearly(e, name)
        return
    params = (*(getattr(layer, "p", ()) or ()), layer.tc_trace, layer.trace_scale)
    assert all_finite(*params), f"{cls.__name__}({name}={value!r}) accepted a non-finite value: {params}"
    if isinstance(value, torch.Tensor):
        assert value.numel() > 0 and torch.broadcast_shapes(value.shape, (3,)) == (3,), value.shape
    magnitude = (float(value.abs().max()) if isinstance(value, torch.Tensor)
                 else abs(float(value)) if isinstance(value, (int, float)) else 0.0)
    if magnitude <= 1e6:  # beyond, float32 arithmetic may overflow (0.04 v^2 at v = -1e37 mV): not checked
        layer.step(torch.zeros(1, 3))
        state = [getattr(layer, k) for k in ("v", "s", "x") if isinstance(getattr(layer, k, None), torch.Tensor)]
        assert all_finite(*state), f"{cls.__name__}({name}={value!r}): a step gave {state}"


# ---------------------------------------------------------------- connections and rules
@FAST
@given(name=st.sampled_from(["wmin", "wmax", "norm", "weight_decay", "w", "probability", "intensity"]),
       value=any_value(6))
def test_connection_arguments(name, value):
    if name == "w" and isinstance(value, torch.Tensor) and value.numel() == 6:
        value = value.reshape(2, 3)
    try:
        conn = N.Connection(N.Input(2), N.LIFNodes(3), **{name: value})
    except (ValueError, TypeError) as e:
        refused_clearly(e, name, "w ", "weight")
        return
    w = conn.weight
    assert w.shape == (2, 3) and bool(torch.isfinite(w).all()), (name, value, w)
    assert conn.norm is None or math.isfinite(conn.norm)
    assert math.isfinite(conn.weight_decay) and 0 <= conn.weight_decay < 1


RULES = [PostPre, Hebbian, WeightDependentPostPre, MSTDP, MSTDPET, Rmax, EProp]
RULE_ARGS = [(cls, name) for cls in RULES for name, p in inspect.signature(cls).parameters.items()
             if type(p.default) in (int, float)]


@pytest.mark.parametrize(("cls", "name"), RULE_ARGS, ids=[f"{c.__name__}.{n}" for c, n in RULE_ARGS])
@settings(max_examples=10, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
@given(value=st.one_of(FINITE, NON_FINITE, st.integers(-100, 100), WRONG_TYPE))
def test_rule_arguments(cls, name, value):
    try:
        rule = cls(**{name: value})
    except (ValueError, TypeError) as e:
        refused_clearly(e, name)
        return
    numbers = [v for v in vars(rule).values() if isinstance(v, float)]
    assert all(math.isfinite(v) for v in numbers), f"{cls.__name__}({name}={value!r}): {numbers}"


# the pipeline's own objects: reward shaping, the linear critic, the callbacks
PIPELINE = [(RewardShaping, {}), (LinearCritic, {"n_features": 4}), (cb.EvalCallback, {"every": 2}),
            (cb.StopTrainingOnReward, {"threshold": 1.0}), (cb.StopOnTimeBudget, {"minutes": 1.0}),
            (cb.ProgressBarCallback, {}), (cb.PrintCallback, {}), (cb.StopTrainingOnEpisodes, {"episodes": 1})]
PIPELINE_ARGS = [(cls, base, name) for cls, base in PIPELINE for name, p in inspect.signature(cls).parameters.items()
                 if type(p.default) in (int, float) or name in base]


@pytest.mark.parametrize(("cls", "base", "name"), PIPELINE_ARGS,
                         ids=[f"{c.__name__}.{n}" for c, _, n in PIPELINE_ARGS])
@settings(max_examples=10, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
@given(value=st.one_of(FINITE, NON_FINITE, st.integers(-100, 100), WRONG_TYPE))
def test_pipeline_arguments(cls, base, name, value):
    try:
        obj = cls(**{**base, name: value})
    except (ValueError, TypeError) as e:
        refused_clearly(e, name.split("_")[0])
        return
    numbers = [v for v in vars(obj).values() if isinstance(v, float)]
    assert all(math.isfinite(v) for v in numbers), f"{cls.__name__}({name}={value!r}): {numbers}"
    assert not isinstance(value, (str, list, complex, type(None))), f"{cls.__name__}({name}={value!r}) accepted"


@FAST
@given(modulator=st.one_of(FINITE, NON_FINITE, tensors(2)), via=st.sampled_from(["step", "deliver"]))
def test_a_modulator_is_applied_or_refused(modulator, via):
    net = N.Network(dt=1.0)
    net.add_layer(N.Input(4), "X")
    net.add_layer(N.LIFNodes(3), "A")
    conn = N.Connection(net.layers["X"], net.layers["A"], torch.full((4, 3), 5.0), rule=MSTDPET())
    net.add_connection(conn, "X", "A")
    net.run({"X": torch.ones(3, 2, 4)}, reward=0.0)
    w0 = conn.weight.clone()
    try:
        getattr(conn.rule, via)(conn, modulator)
    except (ValueError, TypeError) as e:
        refused_clearly(e, "reward", "modulator")
        assert torch.equal(conn.weight, w0)
        return
    assert all_finite(modulator if not isinstance(modulator, torch.Tensor) else modulator.float())
    assert bool(torch.isfinite(conn.weight).all())


# ---------------------------------------------------------------------------- encoders
@st.composite
def box_and_observation(draw):
    shape = (draw(st.integers(1, 4)),)
    low = np.array(draw(st.lists(st.floats(-1e3, 1e3), min_size=shape[0], max_size=shape[0])), np.float32)
    width = np.array(draw(st.lists(st.floats(1e-2, 1e3), min_size=shape[0], max_size=shape[0])), np.float32)
    unbounded = draw(st.booleans())
    space = gym.spaces.Box(-np.inf if unbounded else low, np.inf if unbounded else low + width, dtype=np.float32)
    obs = np.array(draw(st.lists(st.one_of(FINITE, NON_FINITE), min_size=shape[0], max_size=shape[0])), np.float32)
    if draw(st.booleans()):
        obs = obs[:-1] if shape[0] > 1 else np.append(obs, 0.0)  # a wrong shape
    return space, obs


@FAST
@given(case=box_and_observation(), mode=st.sampled_from(["clip", "error"]))
def test_box_observations_are_intensities_or_refused(case, mode):
    space, obs = case
    scaler = UnitScaler(space, out_of_range=mode)
    try:
        u = scaler(obs)
    except ValueError as e:
        refused_clearly(e, "observation")
        bad_shape = obs.shape != space.shape
        outside = not bad_shape and mode == "error" and not bool(((obs >= space.low) & (obs <= space.high)).all())
        assert bad_shape or np.isnan(obs).any() or outside, (obs, e)
        return
    assert obs.shape == space.shape and not np.isnan(obs).any()
    assert u.shape == space.shape and u.dtype == np.float32 and bool(((u >= 0) & (u <= 1)).all()), u


@FAST
@given(n=st.integers(1, 6), start=st.integers(-3, 3), obs=st.one_of(st.integers(-10, 10), FINITE, NON_FINITE,
                                                                     WRONG_TYPE))
def test_discrete_observations_are_one_hot_or_refused(n, start, obs):
    scaler = UnitScaler(gym.spaces.Discrete(n, start=start))
    try:
        u = scaler(obs)
    except ValueError as e:
        refused_clearly(e, "observation")
        assert not (isinstance(obs, int) and not isinstance(obs, bool) and start <= obs < start + n)
        return
    assert isinstance(obs, int) and start <= obs < start + n
    assert u.tolist() == [1.0 if i == obs - start else 0.0 for i in range(n)]


@FAST
@given(values=tensors(4), time=st.one_of(st.integers(-2, 20), FINITE, NON_FINITE),
       code=st.sampled_from(["poisson", "bernoulli"]))
def test_spike_encoders_give_spikes_or_refuse(values, time, code):
    g = torch.Generator().manual_seed(0)
    try:
        if code == "poisson":
            spikes = F.poisson(values.abs() * 100, time, generator=g)
        else:
            spikes = F.bernoulli(values, time, generator=g)
    except (ValueError, TypeError) as e:
        refused_clearly(e, "time", "rate", "datum", "values", "probab", "max_prob", "dt")
        return
    assert all_finite(values) and all_finite(float(time))
    assert spikes.shape[1:] == values.shape and spikes.shape[0] >= 0
    assert bool(((spikes == 0) | (spikes == 1)).all())


# --------------------------------------------------------------------------- presets
def _numeric_keys(agent: str) -> list[str]:
    out: list[str] = []

    def walk(node: object, path: str) -> None:
        if isinstance(node, dict):
            for k, v in node.items():
                walk(v, f"{path}{k}.")
        elif isinstance(node, list):
            for i, v in enumerate(node):
                walk(v, f"{path}{i}.")
        elif type(node) in (int, float) and (".w.tensor." not in path or path.endswith(".w.tensor.0.0.")):
            out.append(path[:-1])  # one element of a weight tensor stands for all

    walk(dict(load_agent(agent).source), "")
    return sorted(out)


AGENT = "agents/cartpole.toml"
KEYS = _numeric_keys(AGENT)
# keys where an infinity is a meaning, not a mistake (an unbounded weight), and where a pair is
INFINITE_OK = {"network.connections.0.params.wmax", "network.connections.0.params.wmin"}
PAIR_OK = {"network.connections.0.rule.params.nu"}  # (nu_pre, nu_post)


def _toml(value: object) -> str:
    if isinstance(value, float):
        return "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf") if math.isinf(value) else repr(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(value, list):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    return str(value)


@settings(max_examples=60, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
@given(key=st.sampled_from(KEYS), value=st.one_of(st.floats(width=32), st.integers(-10**4, 10**4),
                                                   st.booleans(), st.text(alphabet="abc", max_size=2),
                                                   st.lists(st.integers(0, 3), max_size=2)))
def test_preset_values_build_or_are_refused_naming_the_key(key, value):
    try:
        config = load_agent(AGENT, [f"{key}={_toml(value)}"])
        trainer = build_trainer(config)
    except AgentError as e:
        last = key.rsplit(".", 1)[-1]
        refused_clearly(e, key, last, "w contains", "tensor")
        return
    if isinstance(value, float) and not math.isfinite(value):
        assert not math.isnan(value) and key in INFINITE_OK, f"{key}={value} was accepted"
    assert not isinstance(value, (str, list, bool)) or (key in PAIR_OK and len(value) == 2), \
        f"{key}={value!r} was accepted"
    assert all(bool(torch.isfinite(w).all()) for w in [c.weight for c in trainer.policy.network.connections.values()])
    trainer.close()
