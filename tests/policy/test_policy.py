"""SpikingPolicy: construction checks, SB3 predict contract (batched, per-env resets), act, save/load."""

import gymnasium as gym
import numpy as np
import pytest
import torch

import snnrl
from snnrl import MSTDPET, Connection, Input, LIFNodes, Network, PoissonEncoder
from snnrl.checkpoint import CheckpointError, save_checkpoint
from snnrl.envs import build_env
from snnrl.policy import CountArgmax, PolicyState, RateToValue, SpikingPolicy, load_policy

SPIKES = gym.spaces.Box(0, 1, (16, 2), dtype=np.uint8)  # the cue bandit's encoded observation


def make_net(n_in=2, n_out=2, weight=6.0, seed=0):
    g = torch.Generator().manual_seed(seed)
    net = Network()
    net.add_layer(Input(n_in), "X")
    net.add_layer(LIFNodes(n_out), "Y")
    w = weight + torch.rand(n_in, n_out, generator=g)
    net.add_connection(Connection(net.layers["X"], net.layers["Y"], w, rule=MSTDPET()), "X", "Y")
    return net


def make_policy(**kw):
    kw.setdefault("observation_space", SPIKES)
    kw.setdefault("action_space", gym.spaces.Discrete(2))
    return SpikingPolicy(kw.pop("net", None) or make_net(), kw.pop("decoder", CountArgmax(seed=0)), **kw)


def test_bad_combinations_fail_at_construction():
    with pytest.raises(ValueError, match=r"shape \(3,\) per step but input layer 'X' has shape \(2,\)"):
        make_policy(observation_space=gym.spaces.Box(0, 1, (16, 3), dtype=np.uint8))
    with pytest.raises(ValueError, match=r"output layer 'Y' has 2 neurons.*Discrete\(3\).*needs 3"):
        make_policy(action_space=gym.spaces.Discrete(3))
    with pytest.raises(ValueError, match="needs 4"):
        make_policy(decoder=CountArgmax(neurons_per_action=2))
    with pytest.raises(TypeError, match=r"decodes Discrete action spaces.*RateToValue"):
        make_policy(action_space=gym.spaces.Box(-1, 1, (2,)))
    with pytest.raises(ValueError, match=r"'Z' is not a layer"):
        make_policy(output_layer="Z")
    with pytest.raises(ValueError, match="spike trains"):
        make_policy(observation_space=gym.spaces.Discrete(4))
    with pytest.raises(ValueError, match="encoded observation has shape"):
        make_policy(observation_space=gym.spaces.Box(0, 1, (3,)), encoder=PoissonEncoder(16, seed=0))


def test_predict_is_batched_and_follows_the_state_contract():
    pol = make_policy()
    obs = np.zeros((3, 16, 2), dtype=np.uint8)
    obs[:, :, 0] = 1
    actions, state = pol.predict(obs)
    assert actions.shape == (3,) and actions.dtype == np.int64
    assert isinstance(state, PolicyState) and state.n_envs == 3
    _, state2 = pol.predict(obs, state, episode_start=np.array([False, True, False]))
    with pytest.raises(ValueError, match="previous predict call"):
        pol.predict(obs, state)  # stale token
    with pytest.raises(ValueError, match="episode_start must have shape"):
        pol.predict(obs, state2, episode_start=np.array([True, False]))
    single, _ = pol.predict(obs[0])
    assert np.ndim(single) == 0
    assert not pol.network.training  # predict never learns


def test_membrane_state_carries_over_and_resets_per_env():
    """Env 0 restarts (episode_start) and must act like a fresh network; env 1 continues."""
    obs = np.zeros((2, 16, 2), dtype=np.uint8)
    obs[:, ::5, 0] = 1  # sparse input: voltages carry information across windows
    pol = make_policy(net=make_net(weight=4.0))
    _, st = pol.predict(obs)
    v_before = pol.network.layers["Y"].v.clone()
    _, st = pol.predict(obs, st, episode_start=np.array([True, False]))
    out = pol.last_output.clone()
    fresh = make_policy(net=make_net(weight=4.0))
    fresh.predict(obs[:1])
    cont = make_policy(net=make_net(weight=4.0))
    cont.predict(obs[1:])
    cont.predict(obs[1:], PolicyState(cont._id, cont._calls, 1))
    assert torch.equal(out[:, 0], fresh.last_output[:, 0])
    assert torch.equal(out[:, 1], cont.last_output[:, 0])
    assert not torch.equal(v_before[1], torch.full((2,), -65.0))


def test_evaluate_policy_of_stable_baselines3_runs_it_unchanged():
    sb3 = pytest.importorskip("stable_baselines3")
    env = build_env("cue_bandit", seed=0)
    pol = make_policy()
    mean, _ = sb3.common.evaluation.evaluate_policy(pol, env, n_eval_episodes=3, warn=False)
    assert -20 <= mean <= 20
    venv = sb3.common.vec_env.DummyVecEnv([lambda: build_env("cue_bandit", seed=1)] * 2)
    rewards, lengths = sb3.common.evaluation.evaluate_policy(pol, venv, n_eval_episodes=4, return_episode_rewards=True,
                                                             warn=False)
    assert len(rewards) == 4 and all(n == 20 for n in lengths)


def test_act_in_a_gymnasium_loop():
    env = build_env("cue_bandit")
    pol = make_policy()
    obs, _ = env.reset(seed=0)
    pol.reset()
    total = 0.0
    for _ in range(20):
        action = pol.act(obs)
        assert isinstance(action, int)
        obs, r, terminated, truncated, _ = env.step(action)
        total += r
    assert terminated and not truncated
    with pytest.raises(ValueError, match="use predict"):
        pol.act(np.zeros((2, 16, 2), dtype=np.uint8))


def test_save_and_load_round_trip(tmp_path):
    pol = make_policy(decoder=CountArgmax(seed=7))
    obs = np.zeros((4, 16, 2), dtype=np.uint8)  # silent: every choice is a seeded tie break
    pol.predict(obs)
    pol.save(tmp_path / "p.safetensors", {"note": "hello"})
    loaded, meta = load_policy(tmp_path / "p.safetensors")
    assert meta == {"note": "hello"}
    a1, _ = pol.predict(obs)
    a2, _ = loaded.predict(obs)
    np.testing.assert_array_equal(a1, a2)  # the decoder's random state came along
    for (k, v), (k2, v2) in zip(pol.network.state_dict().items(), loaded.network.state_dict().items(), strict=True):
        assert k == k2 and (torch.equal(v, v2) if isinstance(v, torch.Tensor) else v == v2)
    assert SpikingPolicy.load(tmp_path / "p.safetensors").output_layer == "Y"
    save_checkpoint(make_net(), str(tmp_path / "net.safetensors"))
    with pytest.raises(CheckpointError, match="without a policy"):
        load_policy(tmp_path / "net.safetensors")
    with pytest.raises(ValueError, match="reserved"):
        pol.save(tmp_path / "x.safetensors", {"snnrl_policy": 1})


def test_policy_with_its_own_encoder_on_raw_observations(tmp_path):
    env = build_env("cue_bandit", encode=False)  # one-hot cues, no spikes
    pol = SpikingPolicy(make_net(), CountArgmax(seed=0), observation_space=env.observation_space,
                        action_space=env.action_space, encoder=PoissonEncoder(16, seed=3))
    obs = np.eye(2, dtype=np.float32) * 500.0  # rates in Hz for the Poisson encoder
    pol.predict(obs)
    assert pol.last_input.shape == (16, 2, 2) and pol.last_input.dtype == torch.bool
    pol.save(tmp_path / "enc.safetensors")
    loaded = SpikingPolicy.load(tmp_path / "enc.safetensors")
    assert isinstance(loaded.encoder, PoissonEncoder)
    a, _ = pol.predict(obs)
    b, _ = loaded.predict(obs)
    np.testing.assert_array_equal(a, b)
    assert torch.equal(pol.last_input, loaded.last_input)  # the encoder's random state came along


def test_box_actions_with_rate_to_value():
    space = gym.spaces.Box(-2.0, 2.0, (3,), dtype=np.float32)
    pol = make_policy(net=make_net(n_out=3, weight=8.0), action_space=space,
                      decoder=RateToValue(max_rate=300.0, seed=0))
    obs = np.ones((2, 16, 2), dtype=np.uint8)
    a, _ = pol.predict(obs, deterministic=True)
    assert a.shape == (2, 3) and a.dtype == np.float32 and (a >= -2).all() and (a <= 2).all()
    assert snnrl.policy.SpikingPolicy is SpikingPolicy


def _window_with_injected_zeros(pol, x, learn):
    """The voltage noise as ``run(inject_v=...)`` with a ``(T, B, n)`` tensor that is zero after
    step 0 (the reference for the policy's direct first-step injection)."""
    from snnrl.network import Monitor

    net, layer = pol.network, pol.network.layers[pol.output_layer]
    net.train(learn)
    for population in net.layers.values():
        population.reset_state_variables()
    if learn:
        for conn in net.connections.values():
            conn.rule.reset_neuron_state()
    noise = torch.zeros((x.shape[0], x.shape[1], *layer.shape))
    noise[0] = torch.randn((x.shape[1], *layer.shape), generator=pol.noise_generator) * pol.voltage_noise
    net.add_monitor(Monitor(layer, ["s"]), "reference")
    net.run({pol.input_layer: x}, reward=0.0 if learn else None, inject_v={pol.output_layer: noise})
    return net.monitors.pop("reference").get("s")


@pytest.mark.parametrize("learn", [False, True])
def test_first_step_voltage_noise_equals_a_zero_padded_injection(learn):
    # Two copies of one policy, one through decide() (noise added to v before the run), one
    # through the zero-padded injection; batch sizes change between windows.
    fast, ref = (make_policy(net=make_net(n_in=2, n_out=6, weight=3.0),
                             decoder=CountArgmax(neurons_per_action=3, seed=0),
                             voltage_noise=4.0, noise_seed=5, carry_state=False) for _ in range(2))
    g = torch.Generator().manual_seed(9)
    for batch in (2, 2, 3, 1):
        x = torch.rand(16, batch, 2, generator=g) < 0.3
        with torch.no_grad():
            fast.decide(x, learn=learn)
            expected = _window_with_injected_zeros(ref, x, learn)
            for net in (fast.network, ref.network):
                net.deliver_reward(0.7)
        assert torch.equal(fast.last_output, expected)
        assert torch.equal(fast.network.layers["Y"].v, ref.network.layers["Y"].v)
        (w_fast,), (w_ref,) = ([c.weight for c in n.connections.values()] for n in (fast.network, ref.network))
        assert torch.equal(w_fast, w_ref)
    (w_start,) = [c.weight for c in make_net(n_in=2, n_out=6, weight=3.0).connections.values()]
    assert fast.last_output.any()  # the windows did spike
    assert torch.equal(w_fast, w_start) != learn  # and learned only with learn=True
