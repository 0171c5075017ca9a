"""Environments in worker processes (``AsyncEnvList``, ``[env] vectorization = "async"``): the
same runs as in this process, bit for bit; worker errors reach the parent; close leaves nothing."""

import functools
import json
import multiprocessing as mp
import os
import pickle
import re
import signal
import time

import gymnasium as gym
import numpy as np
import pytest
import torch

from snnrl.cli import main
from snnrl.envs import build_env
from snnrl.pipeline import AgentError, AsyncEnvList, EnvList, load_agent
from snnrl.pipeline.build import env_factories
from snnrl.pipeline.envs import EnvWorkerError
from snnrl.pipeline.run import build_trainer

BANDIT = "agents/cue_bandit.toml"


def _trained(agent, mode, episodes):
    tr = build_trainer(load_agent(agent, ["env.num_envs=2", f'env.vectorization="{mode}"']))
    try:
        tr.learn(episodes)
    finally:
        tr.close()
    weights = {k: v.clone() for k, v in tr.policy.network.state_dict().items() if isinstance(v, torch.Tensor)}
    return tr, weights


@pytest.mark.parametrize(("agent", "episodes"), [(BANDIT, 6), ("agents/cartpole_place.toml", 4),
                                                 ("agents/cartpole_eprop.toml", 4), ("agents/breakout_eprop.toml", 2)])
def test_async_training_is_bit_identical_to_sync(agent, episodes):
    """Async training prepares the e-prop deliveries (the signal folded into F) while the
    workers step, and steps one environment in this process: the same bits as sync training."""
    sync, w_sync = _trained(agent, "sync", episodes)
    asyn, w_async = _trained(agent, "async", episodes)
    assert type(sync.driver) is EnvList and type(asyn.driver) is AsyncEnvList
    assert asyn.returns == sync.returns and asyn.lengths == sync.lengths
    assert asyn.total_steps == sync.total_steps
    assert w_sync.keys() == w_async.keys()
    for k in w_sync:
        assert torch.equal(w_sync[k], w_async[k]), k
    if sync.critic is not None:  # cartpole_place: a linear critic on the encoder's intensities
        assert torch.equal(sync.critic.w, asyn.critic.w)


def test_one_async_env_is_stepped_in_this_process():
    tr = build_trainer(load_agent(BANDIT, ['env.vectorization="async"']))
    assert type(tr.driver) is EnvList
    tr.close()


def test_intensities_and_lives_match_the_env_list():
    factories = env_factories(load_agent("agents/cartpole_place.toml"), 2)
    sync, asyn = EnvList([f() for f in factories]), AsyncEnvList(factories)
    try:
        assert asyn.n == 2 and asyn.observation_space == sync.observation_space
        assert asyn.action_space == sync.action_space and asyn.seeded and not asyn.steps_all
        both = np.ones(2, dtype=bool)
        np.testing.assert_array_equal(asyn.reset(both, [3, 4]), sync.reset(both, [3, 4]))
        np.testing.assert_array_equal(asyn.intensities(), sync.intensities())
        first = np.array([True, False])
        for a, b in zip(asyn.step(np.array([1, 0]), first), sync.step(np.array([1, 0]), first), strict=True):
            np.testing.assert_array_equal(a, b)
        np.testing.assert_array_equal(asyn.intensities(), sync.intensities())
        np.testing.assert_array_equal(asyn.life_lost, sync.life_lost)
        np.testing.assert_array_equal(asyn.obs, sync.obs)
    finally:
        asyn.close()
        sync.close()


def test_intensities_without_an_encoder_is_the_same_error():
    asyn = AsyncEnvList([functools.partial(gym.make, "CartPole-v1")] * 2)
    try:
        asyn.reset(np.ones(2, dtype=bool), [0, 1])
        with pytest.raises(ValueError, match="critic reads = \"rates\" needs environments that encode"):
            asyn.intensities()
    finally:
        asyn.close()


def test_factories_pickle_for_spawned_workers():
    factories = pickle.loads(pickle.dumps(env_factories(load_agent(BANDIT), 2)))
    assert len(factories) == 2 and factories[0]().observation_space.shape == (16, 2)


class _FailsAtStep(gym.Wrapper):
    """Raises at the second step: ``error`` builds the exception."""

    def __init__(self, env, error):
        super().__init__(env)
        self.error, self.steps = error, 0

    def step(self, action):
        self.steps += 1
        if self.steps == 2:
            raise self.error()
        return self.env.step(action)


class _Unpicklable(Exception):
    def __init__(self, a, b):
        super().__init__(f"{a} and {b}")


def _failing(error):
    return _FailsAtStep(gym.make("CartPole-v1"), error)


def _run_until_error(driver):
    both = np.ones(2, dtype=bool)
    driver.reset(both, [0, 1])
    driver.step(np.zeros(2, dtype=np.int64), both)
    driver.step(np.zeros(2, dtype=np.int64), both)


def test_worker_error_is_raised_in_the_parent_with_its_message():
    factories = [functools.partial(gym.make, "CartPole-v1"),
                 functools.partial(_failing, lambda: KeyError("boom in the env"))]
    driver = AsyncEnvList(factories)
    try:
        with pytest.raises(KeyError, match="boom in the env") as info:
            _run_until_error(driver)
        assert "worker process of environment 1" in "".join(info.value.__notes__)
        obs = driver.reset(np.ones(2, dtype=bool), [5, 6])  # the workers answer on
        assert obs.shape == (2, 4)
    finally:
        driver.close()


def test_unpicklable_worker_error_and_dead_worker_are_env_worker_errors():
    driver = AsyncEnvList([functools.partial(_failing, lambda: _Unpicklable(1, 2))] * 2, local=0)
    try:
        with pytest.raises(EnvWorkerError, match=r"environment 0: _Unpicklable: 1 and 2"):
            _run_until_error(driver)
        os.kill(driver._procs[1].pid, signal.SIGKILL)
        with pytest.raises(EnvWorkerError, match=r"environment 1: its worker process exited \(exit code -9\)"):
            driver.reset(np.ones(2, dtype=bool), [0, 1])
    finally:
        driver.close()


def test_factory_error_is_raised_and_no_worker_is_left():
    with pytest.raises(gym.error.NameNotFound, match="NoSuchEnv"):
        AsyncEnvList([functools.partial(gym.make, "CartPole-v1"), functools.partial(gym.make, "NoSuchEnv-v0")])
    assert not mp.active_children()


def test_close_is_idempotent_and_leaves_no_child_processes():
    driver = AsyncEnvList([functools.partial(build_env, "cue_bandit")] * 2)
    pids = [p.pid for p in driver._procs]
    driver.reset(np.ones(2, dtype=bool), [0, 1])
    driver.close()
    driver.close()
    assert not mp.active_children()
    for pid in pids:
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)
    with pytest.raises(ValueError, match="closed"):
        driver.reset(np.ones(2, dtype=bool), [0, 1])


def _parent(conn):
    driver = AsyncEnvList([functools.partial(gym.make, "CartPole-v1")] * 2)
    conn.send([p.pid for p in driver._procs])
    signal.pause()


def _gone(pid):
    """The process is gone or a zombie (reparented where nobody reaps it)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] == "Z"
    except FileNotFoundError:
        return True


@pytest.mark.skipif(not os.path.isdir("/proc") or "fork" not in mp.get_all_start_methods(),
                    reason="needs fork and /proc")
def test_workers_die_with_a_killed_parent():
    ctx = mp.get_context("fork")
    conn, child = ctx.Pipe()
    parent = ctx.Process(target=_parent, args=(child,))
    parent.start()
    pids = conn.recv()
    os.kill(parent.pid, signal.SIGKILL)
    parent.join()
    deadline = time.monotonic() + 10
    while not all(_gone(pid) for pid in pids) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert all(_gone(pid) for pid in pids)


def test_bad_vectorization_is_refused():
    with pytest.raises(AgentError, match=re.escape("env.vectorization must be \"sync\" or \"async\", got 'threads'")):
        load_agent(BANDIT, ['env.vectorization="threads"'])


def test_cli_train_async_envs(tmp_path):
    run = tmp_path / "run"
    assert main(["train", "--agent", BANDIT, "--num-envs", "2", "--async-envs", "--run-dir", str(run),
                 "--episodes", "4", "--eval-episodes", "2", "--baseline-episodes", "2", "--no-progress",
                 "--no-tensorboard", "--no-plot"]) == 0
    result = json.loads((run / "results.json").read_text())
    assert result["episodes"] == 4 and len(result["evaluation"]["returns"]) == 2
    assert not mp.active_children()


@pytest.mark.parametrize(("n", "workers", "local", "blocks"), [
    (2, None, 0, [range(0, 1), range(1, 2)]),
    (4, 1, None, [range(2, 4)]),
    (5, 2, 1, [range(1, 3), range(3, 5)]),
    (3, 1, 2, [range(2, 3)]),
])
def test_layouts_spread_the_environments_and_give_the_same_steps(n, workers, local, blocks):
    factories = [functools.partial(build_env, "cue_bandit")] * n
    sync, asyn = EnvList([f() for f in factories]), AsyncEnvList(factories, workers=workers, local=local)
    try:
        assert asyn.blocks == blocks and len(asyn._procs) == len(blocks)
        assert asyn.local == blocks[0].start
        mask = np.ones(n, dtype=bool)
        seeds = list(range(10, 10 + n))
        np.testing.assert_array_equal(asyn.reset(mask, seeds), sync.reset(mask, seeds))
        rng = np.random.default_rng(0)
        for _ in range(30):
            actions = rng.integers(0, 2, n)
            active = rng.random(n) < 0.7
            got, want = asyn.step(actions, active), sync.step(actions, active)
            for a, b in zip(got, want, strict=True):
                np.testing.assert_array_equal(a, b)
            ended = (got[2] | got[3]) & active
            if ended.any():
                np.testing.assert_array_equal(asyn.reset(ended, seeds), sync.reset(ended, seeds))
    finally:
        asyn.close()
        sync.close()
    assert not mp.active_children()


def test_default_layout_keeps_an_even_share_in_this_process(monkeypatch):
    from snnrl.pipeline import envs

    monkeypatch.setattr(envs, "_cores", lambda: 2)
    driver = AsyncEnvList([functools.partial(build_env, "cue_bandit")] * 4)
    try:
        assert driver.local == 2 and driver.blocks == [range(2, 4)]
    finally:
        driver.close()


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"local": 2}, "local must be an int in [0, 1]"),
    ({"local": -1}, "local must be an int in [0, 1]"),
    ({"local": 0, "workers": 3}, "workers must be an int in [1, 2]"),
    ({"local": 1, "workers": 0}, "workers must be an int in [1, 1]"),
])
def test_bad_layouts_are_refused_before_any_worker_starts(kwargs, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        AsyncEnvList([functools.partial(build_env, "cue_bandit")] * 2, **kwargs)
    assert not mp.active_children()


def test_error_in_a_local_environment_keeps_the_workers_in_step():
    factories = [functools.partial(_failing, lambda: KeyError("boom here")), functools.partial(gym.make, "CartPole-v1")]
    driver = AsyncEnvList(factories, local=1)
    try:
        with pytest.raises(KeyError, match="boom here"):
            _run_until_error(driver)
        obs = driver.reset(np.ones(2, dtype=bool), [5, 6])  # the worker's late answer was read
        assert obs.shape == (2, 4)
        expected, _ = gym.make("CartPole-v1").reset(seed=6)
        np.testing.assert_array_equal(obs[1], expected)
    finally:
        driver.close()


def test_step_async_and_step_wait_pair_up():
    driver = AsyncEnvList([functools.partial(gym.make, "CartPole-v1")] * 2)
    both = np.ones(2, dtype=bool)
    try:
        driver.reset(both, [0, 1])
        with pytest.raises(RuntimeError, match="without a step_async"):
            driver.step_wait()
        driver.step_async(np.zeros(2, dtype=np.int64), both)
        with pytest.raises(RuntimeError, match="waiting for its step_wait"):
            driver.reset(both, [0, 1])
        assert driver.step_wait()[0].shape == (2, 4)
    finally:
        driver.close()


def test_a_failing_local_factory_closes_what_was_built_and_leaves_no_worker():
    closed = []

    class Tracked(gym.Wrapper):
        def close(self):
            closed.append(1)
            super().close()

    def good():
        return Tracked(gym.make("CartPole-v1"))

    with pytest.raises(gym.error.NameNotFound, match="NoSuchEnv"):
        AsyncEnvList([good, functools.partial(gym.make, "NoSuchEnv-v0"), good, good], workers=1, local=2)
    assert closed == [1]  # the local environment built before the failing one
    assert not mp.active_children()
