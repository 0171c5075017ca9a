"""The episode pipeline: order of decisions and reward deliveries, episode ends, vector envs,
callbacks, evaluation, random baselines and exact resume from checkpoints."""

import gymnasium as gym
import numpy as np
import pytest
import torch

from snnrl.envs import build_env
from snnrl.learning import MovingAverageRPE
from snnrl.pipeline import (
    Callback,
    CheckpointCallback,
    RewardShaping,
    StopTrainingOnEpisodes,
    StopTrainingOnReward,
    Trainer,
    load_agent,
)
from snnrl.pipeline.run import build_trainer
from snnrl.pipeline.trainer import LinearCritic

AGENT = "agents/cue_bandit.toml"


def trainer_for(*overrides, **kw):
    return build_trainer(load_agent(AGENT, list(overrides)), **kw)


def test_reward_is_delivered_after_the_env_step_and_before_the_next_window():
    tr = trainer_for()
    log = []
    net, policy = tr.policy.network, tr.policy
    decide, deliver = policy.decide, net.deliver_reward

    def decide_(*a, **k):
        log.append(("decide", net.training))
        return decide(*a, **k)

    def deliver_(m):
        log.append(("deliver", m))
        return deliver(m)

    policy.decide, net.deliver_reward = decide_, deliver_
    env_step = tr.driver.envs[0].step
    rewards = []

    def step_(a):
        out = env_step(a)
        rewards.append(out[1])
        log.append(("env", out[1]))
        return out

    tr.driver.envs[0].step = step_
    tr.learn(1)
    kinds = [k for k, _ in log]
    assert kinds == ["decide", "env", "deliver"] * 20
    assert all(training for k, training in log if k == "decide")
    delivered = [m for k, m in log if k == "deliver"]
    assert delivered == rewards  # RawReward: the step's own reward, as a float for one env


def test_terminated_and_truncated_stay_apart_and_shaping_applies_on_termination_only():
    tr = trainer_for("reward.terminal=-5.0", "reward.step_bonus=0.5", "reward.scale=2.0")
    seen = []

    class Record(Callback):
        def _on_episode_end(self, episode):
            seen.append(episode)
            return True

    tr.learn(1, callback=Record())
    ep = seen[0]
    assert ep.terminated and ep.length == 20
    assert ep.shaped_return == pytest.approx(2.0 * ep.ret + 0.5 * 20 - 5.0)
    tr2 = trainer_for("reward.terminal=-5.0", "env.max_episode_steps=7")
    seen.clear()
    tr2.learn(2, callback=Record())
    assert [e.length for e in seen] == [7, 7] and not any(e.terminated for e in seen)
    assert all(e.shaped_return == e.ret for e in seen)  # truncation is not punished


def test_shaping_equation():
    s = RewardShaping(scale=0.5, step_bonus=1.0, terminal=-3.0, clip=1.0, sign=False)
    out = s(np.array([4.0, -0.5, 0.2]), np.array([False, True, False]))
    np.testing.assert_allclose(out, [0.5 * 1.0 + 1.0, 0.5 * -0.5 + 1.0 - 3.0, 0.5 * 0.2 + 1.0])
    np.testing.assert_allclose(RewardShaping(sign=True)(np.array([7.0, -2.0, 0.0]), np.zeros(3, bool)), [1, -1, 0])


def test_several_envs_are_a_batch_with_per_env_episodes():
    tr = trainer_for("env.num_envs=3", "env.max_episode_steps=0")
    mods = []

    class Mods(Callback):
        def _on_update(self, m):
            mods.append(m)
            return True

    tr.learn(5, callback=Mods())
    assert tr.policy.network.batch_size == 3
    assert tr.episodes_done == 5 and len(tr.returns) == 5 and tr.total_steps == 100
    assert all(isinstance(m, torch.Tensor) and m.shape == (3,) for m in mods)
    # after 5 episodes were started, the idle environment's modulator is 0 (the others' are
    # reward-prediction errors of rewards in [-1, 1])
    assert int((mods[-1] == 0).sum()) >= 1 and float(mods[-1].abs().max()) <= 2.0


def test_gymnasium_vector_env_with_next_step_autoreset():
    env_fns = [lambda: build_env("cue_bandit", seed=None)] * 2
    venv = gym.vector.SyncVectorEnv(env_fns)
    tr = trainer_for()
    tr = Trainer(tr.policy, venv, seed=0)
    tr.learn(4)
    assert tr.episodes_done == 4 and all(n == 20 for n in tr.lengths)
    assert tr.total_steps == 80  # the autoreset steps are not counted
    disabled = gym.vector.SyncVectorEnv(env_fns, autoreset_mode=gym.vector.AutoresetMode.DISABLED)
    tr2 = Trainer(trainer_for().policy, disabled, seed=0)
    tr2.learn(3)
    assert tr2.episodes_done == 3 and tr2.total_steps == 60


def test_random_baseline_on_every_kind_of_batch():
    """One batch path: run_random plays on one env, on a list of envs and on a Gymnasium vector env
    (it refused the last two before), and leaves the policy's random streams alone."""
    def cartpole(*overrides):
        return build_trainer(load_agent("agents/cartpole.toml", ["training.seed=3", *overrides]))

    single, several = cartpole(), cartpole("env.num_envs=3")
    env_fns = [lambda: build_env("cartpole", seed=None)] * 2
    venv = gym.vector.SyncVectorEnv(env_fns, autoreset_mode=gym.vector.AutoresetMode.DISABLED)
    vector = Trainer(cartpole().policy, venv, seed=3)
    one, _ = single.run_random(6)
    assert len(one) == 6
    for tr in (several, vector):
        returns, lengths = tr.run_random(6)
        assert len(returns) == 6 and all(r == n for r, n in zip(returns, lengths, strict=True))
        assert 8 <= np.mean(returns) <= 60  # CartPole's random play: about 22
    state = single.policy.decoder.state_dict()
    single.run_random(2)
    assert single.policy.decoder.state_dict() == state


def test_callbacks_stop_and_checkpoint(tmp_path):
    tr = trainer_for()
    ckpt = CheckpointCallback(2, tmp_path / "c.safetensors", keep=True)
    tr.learn(10, callback=[ckpt, StopTrainingOnEpisodes(5)])
    assert tr.episodes_done == 5
    assert (tmp_path / "c.safetensors").is_file() and (tmp_path / "c_ep4.safetensors").is_file()
    tr2 = trainer_for()
    tr2.learn(30, callback=StopTrainingOnReward(threshold=15.0, window=3))
    assert tr2.episodes_done < 30 and np.mean(tr2.returns[-3:]) >= 15.0


def test_evaluation_does_not_learn_and_uses_its_own_seeds():
    tr = trainer_for()
    w0 = tr.policy.network.connections["X->A"].weight.clone()
    returns, lengths = tr.evaluate(3)
    assert len(returns) == 3 and lengths == [20, 20, 20]
    assert torch.equal(tr.policy.network.connections["X->A"].weight, w0)
    assert tr.episodes_done == 0 and tr.total_steps == 0
    r1, _ = tr.run_random(4)
    r2, _ = trainer_for().run_random(4)
    assert r1 == r2  # same seeds, same random actions


def _weights(tr):
    return {k: v.clone() for k, v in tr.policy.network.state_dict().items() if isinstance(v, torch.Tensor)}


EPROP = ['network.connections.0.rule={type="EProp",params={nu=5.0}}',
         "network.connections.0.params={wmin=-20.0,wmax=20.0}",
         'policy.decoder={type="SoftmaxCounts",params={neurons_per_action=5,temperature=2.0}}', "feedback={}"]


@pytest.mark.parametrize("signal", ["raw", "rpe", "td", "eprop-spiking-critic"])
def test_a_killed_run_resumes_exactly(tmp_path, signal):
    overrides = {
        "raw": [],
        "rpe": ["reward.signal={type = \"MovingAverageRPE\", params = {window = 3.0, update = \"step\"}}"],
        "td": ["reward.signal={type = \"TDError\", params = {gamma = 0.9}}", "critic.lr=0.2"],
        "eprop-spiking-critic": [*EPROP, 'reward.signal={type="TDError",params={gamma=0.5}}',
                                 'critic={type="spiking",lr=0.5,neurons=6}'],
    }[signal]
    full = trainer_for(*overrides)
    full.learn(6)
    killed = trainer_for(*overrides)
    killed.learn(6, callback=[CheckpointCallback(1, tmp_path / "ck.safetensors"), StopTrainingOnEpisodes(3)])
    assert killed.episodes_done == 3
    resumed = trainer_for(*overrides)
    resumed.load_checkpoint(tmp_path / "ck.safetensors")
    assert resumed.episodes_done == 3 and resumed.returns == full.returns[:3]
    resumed.learn(6)
    assert resumed.returns == full.returns
    a, b = _weights(full), _weights(resumed)
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), k
    if signal == "td":
        assert torch.equal(full.critic.w, resumed.critic.w)
    if signal == "eprop-spiking-critic":
        assert torch.equal(full.critic.connection.weight, resumed.critic.connection.weight)
    if signal == "rpe":
        assert torch.equal(full.reward_signal.baseline, resumed.reward_signal.baseline)


def test_trainer_argument_errors():
    tr = trainer_for()
    with pytest.raises(ValueError, match="needs a value estimate"):
        Trainer(tr.policy, build_env("cue_bandit"), reward_signal=load_td())
    with pytest.raises(ValueError, match="only used with a TDError"):
        Trainer(tr.policy, build_env("cue_bandit"), reward_signal=MovingAverageRPE(), critic=LinearCritic(2))
    with pytest.raises(ValueError, match="observation space"):
        Trainer(tr.policy, build_env("cartpole"))
    with pytest.raises(ValueError, match="episodes must be"):
        tr.learn(-1)


def load_td():
    from snnrl.learning import TDError

    return TDError(gamma=0.9)


def test_eval_callback_keeps_the_best_policy(tmp_path):
    from snnrl.pipeline import EvalCallback

    tr = trainer_for()
    cb = EvalCallback(3, episodes=2, best_path=tmp_path / "best.safetensors")
    tr.learn(6, callback=cb)
    history = cb.history
    assert [h[0] for h in history] == [3, 6]
    best = cb.best
    assert best is not None and best[1] == max(h[1] for h in history)
    assert tr.metadata == {EvalCallback.state_key: cb.state_dict()}  # one key, saved with checkpoints
    again = trainer_for()
    again.load_checkpoint(tmp_path / "best.safetensors")
    restored = EvalCallback(3, episodes=2)
    restored.init_callback(again)  # attached to a trainer with a checkpoint: the state comes back
    assert again.episodes_done == best[0] and restored.best == best
    assert restored.history == [h for h in history if h[0] <= best[0]]


def test_eval_callback_resumes_exactly(tmp_path):
    from snnrl.pipeline import EvalCallback

    full = trainer_for()
    cb_full = EvalCallback(2, episodes=2)
    full.learn(8, callback=cb_full)
    killed = trainer_for()
    cb = EvalCallback(2, episodes=2)
    killed.learn(8, callback=[cb, CheckpointCallback(2, tmp_path / "ck.safetensors"), StopTrainingOnEpisodes(4)])
    resumed = trainer_for()
    resumed.load_checkpoint(tmp_path / "ck.safetensors")
    cb_resumed = EvalCallback(2, episodes=2)
    resumed.learn(8, callback=cb_resumed)
    assert cb_resumed.history == cb_full.history and cb_resumed.best == cb_full.best
    assert resumed.returns == full.returns
    # checkpoints written before the state had a key of its own
    cb_old = EvalCallback(2)
    old = trainer_for()
    old.metadata = {"eval_history": [[2, 1.0], [4, 3.0]], "best_eval": [4, 3.0], "eval_stopped": None}
    cb_old.init_callback(old)
    assert cb_old.history == [(2, 1.0), (4, 3.0)] and cb_old.best == (4, 3.0) and cb_old.stopped is None


@pytest.mark.parametrize("minutes", [0.0, 5.0])
def test_progress_bar_shows_episodes_or_the_time_left(minutes):
    import io

    from snnrl.pipeline import ProgressBarCallback

    out = io.StringIO()
    bar = ProgressBarCallback(total=4, minutes=minutes, file=out)
    trainer_for().learn(4, callback=[bar])
    text = out.getvalue()
    assert "return=" in text and "steps/s=" in text
    if minutes:
        assert ("left=5:00" in text or "left=4:5" in text) and "/4" not in text  # the budget, not a total
    else:
        assert "4/4" in text and "left=" not in text


def test_periodic_evaluation_with_environments_of_its_own():
    """Several training environments: the EvalCallback plays a copy of the policy on its own
    environment; training (counts, decoder random state) goes on as if it had not been there."""
    from snnrl.pipeline import EvalCallback

    plain = trainer_for("env.num_envs=2")
    plain.learn(6)
    with_eval = trainer_for("env.num_envs=2")
    evaluation = EvalCallback(2, 3, eval_env=build_env("cue_bandit", seed=None))
    with_eval.learn(6, callback=evaluation)
    assert [e for e, _ in evaluation.history] == [2, 4, 6]
    assert all(-20.0 <= m <= 20.0 for _, m in evaluation.history)
    assert with_eval.returns == plain.returns  # the evaluations did not disturb training
    with pytest.raises(ValueError, match=r"pass EvalCallback\(\.\.\., eval_env="):
        trainer_for("env.num_envs=2").learn(2, callback=EvalCallback(2, 1))


def test_entropy_bonus_adds_minus_log_pi_of_the_action_taken():
    s = RewardShaping(scale=2.0, life_loss=-1.0, entropy=0.1)
    out = s(np.array([1.0, 0.0]), np.zeros(2, bool), np.array([False, True]), np.array([0.7, 2.0]))
    np.testing.assert_allclose(out, [2.0 + 0.07, -1.0 + 0.2])
    with pytest.raises(ValueError, match="-log pi"):
        s(np.zeros(2), np.zeros(2, bool))
    with pytest.raises(ValueError, match="entropy"):
        RewardShaping(entropy=-0.1)


def test_trainer_delivers_the_entropy_bonus_of_the_softmax_policy():
    """Each delivered modulator is the raw reward plus entropy * -log pi(a|s), with pi the
    decoder's softmax over the window's counts (closed form from the output spikes)."""
    softmax = 'policy.decoder={type="SoftmaxCounts",params={neurons_per_action=5,temperature=2.0}}'
    tr = trainer_for(softmax, "reward.signal={type=\"RawReward\"}", "reward.entropy=0.5")
    policy, net = tr.policy, tr.policy.network
    decide, deliver = policy.decide, net.deliver_reward
    expected, got = [], []

    def decide_(x, **k):
        a = decide(x, **k)
        counts = policy.last_output.float().sum(0).view(1, 2, 5).sum(-1)
        pi = torch.softmax(counts / 2.0, dim=1)[0, int(a[0])]
        expected.append(-0.5 * float(torch.log(pi)))
        return a

    def deliver_(m, *a):
        got.append(float(m))
        return deliver(m, *a)

    policy.decide, net.deliver_reward = decide_, deliver_
    env_step, rewards = tr.driver.envs[0].step, []

    def step_(a):
        out = env_step(a)
        rewards.append(out[1])
        return out

    tr.driver.envs[0].step = step_
    tr.learn(1)
    assert len(got) == len(expected) == len(rewards) == 20
    np.testing.assert_allclose(got, np.array(rewards) + np.array(expected), rtol=1e-5, atol=1e-6)
    assert min(expected) > 0


def test_entropy_bonus_needs_a_discrete_readout():
    from snnrl.policy import RateToValue
    from snnrl.policy.decoders import action_readout

    tr = trainer_for()
    assert action_readout(tr.policy.decoder) is tr.policy.decoder
    assert action_readout(RateToValue()) is None
    tr.policy.decoder = RateToValue()
    with pytest.raises(ValueError, match=r"entropy bonus \(reward.entropy\) needs a decoder.*RateToValue"):
        Trainer(tr.policy, tr.driver.envs, shaping=RewardShaping(entropy=0.1))


def test_epsilon_greedy_feeds_back_the_inner_softmax_error():
    """e-prop's learning signal under epsilon-greedy exploration: 1[a = k] - pi_k of the inner
    softmax, also for the random actions; the run learns and is reproducible."""
    eps = ('policy.decoder={type="EpsilonGreedy",params={epsilon=0.5,'
           'decoder={type="SoftmaxCounts",params={neurons_per_action=5,temperature=2.0}}}}')
    overrides = [*EPROP[:2], eps, "feedback={}"]
    tr = trainer_for(*overrides)
    seen = []
    signals = tr.feedback.signals

    def signals_(err):
        seen.append(err.clone())
        return signals(err)

    tr.feedback.signals = signals_
    w0 = _weights(tr)
    tr.learn(2)
    assert len(seen) == 40
    for err in seen:
        assert err.shape == (1, 2) and abs(float(err.sum())) < 1e-6 and float(err.max()) > 0
    assert any(not torch.equal(v, w0[k]) for k, v in _weights(tr).items())
    again = trainer_for(*overrides)
    again.learn(2)
    assert again.returns == tr.returns
