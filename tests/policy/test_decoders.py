"""Action decoders: choices, seeded tie breaking, sampling distributions, exploration, errors."""

import math

import gymnasium as gym
import numpy as np
import pytest
import torch

from snnrl.policy import (
    DECODERS,
    CountArgmax,
    EpsilonGreedy,
    FirstSpike,
    MultinomialCounts,
    PopulationVote,
    RateToValue,
    SoftmaxCounts,
    decoder_from_spec,
)


def spikes_from_counts(counts, steps=16):
    """(B, n) spike counts -> (T, B, n) bool spikes, each neuron's spikes at its first steps."""
    counts = torch.as_tensor(counts)
    t = torch.arange(steps).view(steps, 1, 1)
    return t < counts.unsqueeze(0)


def bound(decoder, n_actions=3, per=1, steps=16):
    decoder.bind(gym.spaces.Discrete(n_actions), n_actions * per, steps=steps)
    return decoder


def test_count_argmax_picks_the_most_active_population():
    dec = bound(CountArgmax(neurons_per_action=2, seed=0), 3, 2)
    s = spikes_from_counts([[1, 1, 3, 0, 0, 0], [0, 0, 0, 1, 5, 5]])  # per action: (2, 3, 0), (0, 1, 10)
    assert dec(s).tolist() == [1, 2]


def test_ties_and_silence_are_broken_uniformly_and_reproducibly():
    dec = bound(CountArgmax(seed=3), 4)
    silent = torch.zeros(16, 2000, 4, dtype=torch.bool)
    a = dec(silent)
    freq = torch.bincount(a, minlength=4).float() / a.numel()
    assert (freq - 0.25).abs().max() < 0.04  # BindsNET's fallback always returned 0
    tie = spikes_from_counts([[3, 3, 0, 1]] * 2000)
    b = dec(tie)
    assert set(b.tolist()) == {0, 1}
    again = bound(CountArgmax(seed=3), 4)
    assert torch.equal(again(silent), a)  # same seed, same choices


def test_argmax_on_cpu_breaks_ties_as_the_tensor_formula_does():
    # The CPU path computes in NumPy what the tensor path computes (used on other devices and
    # for scores that need gradients): the same random draws, the same choices, int64.
    dec = bound(CountArgmax(seed=5), 4)
    scores = torch.tensor([[3.0, 3.0, 0.0, 1.0], [0.0, 0.0, 0.0, 0.0], [2.0, 5.0, 5.0, 5.0]]).repeat(300, 1)
    state = dec.generator.get_state()
    got = dec.argmax(scores)
    dec.generator.set_state(state)
    reference = dec.argmax(scores.clone().requires_grad_(True))  # the tensor path
    assert got.dtype == reference.dtype == torch.int64
    assert torch.equal(got, reference)
    assert set(got[0::3].tolist()) == {0, 1} and set(got[2::3].tolist()) == {1, 2, 3}


def test_softmax_samples_the_softmax_of_counts_over_the_action_dimension():
    counts = torch.tensor([[2.0, 0.0, 1.0]])
    dec = bound(SoftmaxCounts(temperature=2.0, seed=0))
    a = dec(spikes_from_counts(counts.long().expand(20000, 3)))
    freq = torch.bincount(a, minlength=3).float() / a.numel()
    expected = torch.softmax(counts[0] / 2.0, 0)
    assert (freq - expected).abs().max() < 0.02
    assert dec(spikes_from_counts(counts.long()), deterministic=True).tolist() == [0]


def test_multinomial_is_proportional_per_batch_element():
    dec = bound(MultinomialCounts(seed=1))
    # two batch elements with different counts: sampling must follow each row (BindsNET sampled
    # across the wrong dimension)
    s = spikes_from_counts(torch.tensor([[6, 2, 0], [0, 0, 4]]).repeat(5000, 1))
    a = dec(s).view(5000, 2)
    f0 = torch.bincount(a[:, 0], minlength=3).float() / 5000
    assert (f0 - torch.tensor([0.75, 0.25, 0.0])).abs().max() < 0.03
    assert a[:, 1].eq(2).all()
    silent = dec(torch.zeros(16, 3000, 3, dtype=torch.bool))
    assert (torch.bincount(silent, minlength=3).float() / 3000 - 1 / 3).abs().max() < 0.04


def test_first_spike_takes_the_earliest_action():
    dec = bound(FirstSpike(seed=0))
    s = torch.zeros(16, 3, 3, dtype=torch.bool)
    s[5, 0, 2] = True
    s[9:, 0, 0] = True  # more spikes, but later
    s[3, 1, 1] = True
    s[3, 2, 0] = s[3, 2, 2] = s[4, 2, 1] = True  # actions 0 and 2 tie at step 3
    a = dec(s)
    assert a[0] == 2 and a[1] == 1 and a[2] in (0, 2)


def test_population_vote_counts_neurons_not_spikes():
    dec = bound(PopulationVote(neurons_per_action=3, seed=0), 2, 3)
    # action 0: one neuron with 10 spikes; action 1: three neurons with one spike each
    s = spikes_from_counts([[10, 0, 0, 1, 1, 1]])
    assert dec(s).tolist() == [1]
    assert bound(CountArgmax(neurons_per_action=3, seed=0), 2, 3)(s).tolist() == [0]


def test_epsilon_greedy_explores_with_a_decaying_epsilon():
    dec = EpsilonGreedy(decoder={"type": "CountArgmax", "params": {"seed": 0}}, epsilon=1.0, final_epsilon=0.0,
                        decay_decisions=10, seed=0)
    bound(dec, 3)
    s = spikes_from_counts([[5, 0, 0]] * 4000)
    first = dec(s)  # epsilon 1: uniform
    assert (torch.bincount(first, minlength=3).float() / 4000 - 1 / 3).abs().max() < 0.04
    assert dec.decisions == 1
    dec.decisions = 5
    assert dec.current_epsilon == pytest.approx(0.5)
    dec.decisions = 10
    assert dec(s).eq(0).all()  # epsilon 0: greedy
    dec.decisions = 0
    assert dec(s, deterministic=True).eq(0).all()  # evaluation: no exploration, not counted
    assert dec.decisions == 0
    state = dec.state_dict()
    other = EpsilonGreedy(decoder=CountArgmax(seed=5), epsilon=1.0, final_epsilon=0.0, decay_decisions=10, seed=9)
    bound(other, 3)
    other.load_state_dict(state)
    assert torch.equal(other(s), dec(s))


def test_rate_to_value_maps_rates_onto_the_box_bounds():
    space = gym.spaces.Box(np.array([-1.0, 0.0], dtype=np.float32), np.array([1.0, 10.0], dtype=np.float32))
    dec = RateToValue(neurons_per_dim=2, max_rate=250.0, seed=0)
    dec.bind(space, 4, steps=16, dt=1.0)
    # dim 0: 2 and 2 spikes in 16 ms = 125 Hz -> half way; dim 1: 8 spikes each = 500 Hz -> clipped to high
    a = dec(spikes_from_counts([[2, 2, 8, 8]]))
    assert a.shape == (1, 2)
    assert a[0].tolist() == pytest.approx([0.0, 10.0])
    noisy = RateToValue(neurons_per_dim=2, max_rate=250.0, noise_std=0.1, seed=0)
    noisy.bind(space, 4, steps=16)
    b = noisy(spikes_from_counts([[2, 2, 0, 0]] * 500))
    assert b[:, 0].std() > 0.05 and (b[:, 1] >= 0).all()
    assert noisy(spikes_from_counts([[2, 2, 0, 0]]), deterministic=True)[0, 0] == pytest.approx(0.0)


def test_bind_errors_name_the_mismatch():
    box = gym.spaces.Box(-1, 1, (2,))
    with pytest.raises(TypeError, match=r"decodes Discrete action spaces.*RateToValue"):
        CountArgmax().bind(box, 2)
    with pytest.raises(ValueError, match=r"output layer 'A' has 5 neurons.*needs 6"):
        CountArgmax(neurons_per_action=2).bind(gym.spaces.Discrete(3), 5, layer_name="A")
    with pytest.raises(TypeError, match="decodes Box action spaces"):
        RateToValue().bind(gym.spaces.Discrete(2), 2)
    with pytest.raises(ValueError, match="needs 4"):
        RateToValue(neurons_per_dim=2).bind(box, 3)
    with pytest.raises(ValueError, match="finite bounds"):
        RateToValue().bind(gym.spaces.Box(-np.inf, np.inf, (1,)), 1)
    with pytest.raises(RuntimeError, match="not bound"):
        CountArgmax()(torch.zeros(4, 1, 2))
    dec = bound(CountArgmax(), 3)
    with pytest.raises(ValueError, match="3"):
        dec(torch.zeros(4, 1, 5))


def test_discrete_start_offsets_the_actions():
    dec = CountArgmax(seed=0)
    dec.bind(gym.spaces.Discrete(3, start=-1), 3)
    assert dec(spikes_from_counts([[0, 0, 4]])).tolist() == [1]


def test_specs_round_trip_and_reject_unknown_names():
    for dec in (CountArgmax(neurons_per_action=2, seed=1), SoftmaxCounts(temperature=0.5),
                EpsilonGreedy(decoder=PopulationVote(neurons_per_action=2), epsilon=0.2, decay_decisions=5),
                RateToValue(neurons_per_dim=3, max_rate=100.0, noise_std=0.2)):
        again = decoder_from_spec(dec.to_spec())
        assert type(again) is type(dec) and again.params() == dec.params()
    assert set(DECODERS) >= {"CountArgmax", "SoftmaxCounts", "MultinomialCounts", "FirstSpike", "PopulationVote",
                             "EpsilonGreedy", "RateToValue"}
    with pytest.raises(ValueError, match="unknown decoder 'Nope'"):
        decoder_from_spec({"type": "Nope"})
    with pytest.raises(ValueError, match=r"decoder.params.tempreature: unknown parameter"):
        decoder_from_spec({"type": "SoftmaxCounts", "params": {"tempreature": 1.0}})
    with pytest.raises(ValueError, match="temperature must be"):
        decoder_from_spec({"type": "SoftmaxCounts", "params": {"temperature": -1.0}})
    with pytest.raises(ValueError, match="unknown key 'param'"):
        decoder_from_spec({"type": "CountArgmax", "param": {}})
    assert math.isfinite(SoftmaxCounts(temperature=3).temperature)
