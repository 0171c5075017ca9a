"""Reward signals: raw reward, moving-average reward-prediction error, TD error."""

import pytest
import torch

from snnrl import Connection, Input, LIFNodes, Network
from snnrl.learning import MSTDPET, MovingAverageRPE, RawReward, RewardSignal, TDError
from snnrl.registry import constructor_args, lookup


def test_raw_reward_passes_numbers_and_tensors():
    signal = RawReward()
    assert signal.step(1.5) == 1.5 and isinstance(signal.step(2), float)
    r = torch.tensor([1.0, -2.0])
    torch.testing.assert_close(signal.step(r), r)
    torch.testing.assert_close(RawReward(scale=0.5).step(r), r * 0.5)
    assert signal(3.0) == 3.0  # forward == step
    with pytest.raises(ValueError, match="reward must be a finite number or a tensor, got nan"):
        signal.step(float("nan"))
    with pytest.raises(ValueError, match=r"reward must be a number or a \(B,\) tensor, got shape \(2, 2\)"):
        signal.step(torch.ones(2, 2))


def test_moving_average_rpe_per_episode():
    """BindsNET's MovingAvgRPE: delta = r - prediction; per episode the prediction moves 1/W
    of the way to the episode's mean reward per step."""
    rpe = MovingAverageRPE(window=4.0)
    assert rpe.step(2.0) == 2.0 and rpe.step(0.0) == 0.0  # prediction 0 during the first episode
    rpe.end_episode()
    assert float(rpe.baseline) == pytest.approx(0.25 * 1.0)  # mean reward per step was 1
    assert rpe.step(1.0) == pytest.approx(0.75)
    rpe.end_episode()
    assert float(rpe.baseline) == pytest.approx(0.25 + 0.25 * (1.0 - 0.25))


def test_moving_average_rpe_per_step_converges_to_zero_mean():
    rpe = MovingAverageRPE(window=10.0, update="step")
    deltas = [rpe.step(3.0) for _ in range(200)]
    assert deltas[0] == 3.0 and abs(deltas[-1]) < 1e-6
    assert float(rpe.baseline) == pytest.approx(3.0)


def test_moving_average_rpe_per_batch_element_and_masked_episode_ends():
    rpe = MovingAverageRPE(window=2.0)
    torch.testing.assert_close(rpe.step(torch.tensor([1.0, 3.0])), torch.tensor([1.0, 3.0]))
    rpe.step(torch.tensor([1.0, 5.0]))
    rpe.end_episode(torch.tensor([True, False]))  # only element 0's episode ended
    torch.testing.assert_close(rpe.baseline, torch.tensor([0.5, 0.0]))
    assert rpe.episode_steps.tolist() == [0.0, 2.0]
    rpe.end_episode(torch.tensor([False, True]))
    torch.testing.assert_close(rpe.baseline, torch.tensor([0.5, 2.0]))  # mean of 3 and 5, halfway
    # a shared prediction learns from every element
    shared = MovingAverageRPE(window=1.0, shared=True)
    shared.step(torch.tensor([1.0, 3.0]))
    shared.end_episode()
    assert shared.baseline.dim() == 0 and float(shared.baseline) == pytest.approx(2.0)
    with pytest.raises(ValueError, match="update must be one of"):
        MovingAverageRPE(update="sometimes")
    with pytest.raises(ValueError, match=r"window must be >= 1, got 0\.5"):
        MovingAverageRPE(window=0.5)


def test_td_error():
    td = TDError(gamma=0.9)
    assert td.step(1.0, value=2.0, next_value=3.0) == pytest.approx(1.0 + 0.9 * 3.0 - 2.0)
    assert td.step(1.0, value=2.0, next_value=3.0, terminated=True) == pytest.approx(1.0 - 2.0)
    delta = td.step(torch.tensor([1.0, 0.0]), value=torch.tensor([0.5, 1.0]), next_value=torch.tensor([1.0, 2.0]),
                    terminated=torch.tensor([False, True]))
    torch.testing.assert_close(delta, torch.tensor([1.0 + 0.9 - 0.5, -1.0]))
    torch.testing.assert_close(td.last_error, delta)
    with pytest.raises(ValueError, match="needs value"):
        td.step(1.0)
    with pytest.raises(ValueError, match=r"gamma must be in \[0, 1\]"):
        TDError(gamma=1.5)


@pytest.mark.parametrize("cls", [RawReward, MovingAverageRPE, TDError])
def test_signals_are_registered(cls):
    assert lookup("reward", cls.__name__) is cls
    signal = cls()
    assert isinstance(signal, RewardSignal)
    assert type(cls(**constructor_args(signal))) is cls


def test_rpe_signal_drives_a_network_rule():
    """The pipeline pattern: modulator = signal.step(env reward); network.run(..., reward=modulator)."""
    g = torch.Generator().manual_seed(0)
    net = Network(batch_size=2)
    net.add_layer(Input(10), "X")
    net.add_layer(LIFNodes(3), "Y")
    conn = Connection(net.layers["X"], net.layers["Y"], torch.rand(10, 3, generator=g) * 10, rule=MSTDPET(nu=1.0))
    net.add_connection(conn, "X", "Y")
    rpe = MovingAverageRPE(window=5.0, update="step")
    w0 = conn.weight.clone()
    for _ in range(5):
        modulator = rpe.step(torch.tensor([1.0, 1.0]))
        net.run({"X": torch.rand(8, 2, 10, generator=g) < 0.3}, reward=modulator)
    assert not torch.equal(conn.weight, w0)
    assert 0 < float(rpe.baseline[0]) < 1.0
