"""The fused engine of DiehlCook against the generic Network it stands for."""

from __future__ import annotations

import pytest
import torch

from snnrl.network import Connection, DiehlAndCookNodes, Input, LocalConnection2D, Monitor, Network
from snnrl.vision.datasets import poisson_spikes
from snnrl.vision.models import (
    PRESETS,
    DiehlCook,
    DiehlCookConfig,
    convolutional,
    local_mask,
    locally_connected,
    same_location_inhibition,
)

SMALL = DiehlCookConfig(n_input=50, n_neurons=8, one_spike=False, norm=None, init_scale=1.0)


def _generic(model: DiehlCook, spikes: torch.Tensor, learning: bool, clamp: torch.Tensor | None = None,
             rest: int = 0, drive: torch.Tensor | None = None) -> torch.Tensor:
    net = model.to_network(batch_size=spikes.shape[1])
    net.train(learning)
    mon = Monitor(net.layers["Ae"], ["s"])
    net.add_monitor(mon, "ae")
    x = torch.cat([spikes, spikes.new_zeros(rest, *spikes.shape[1:])]) if rest else spikes
    inputs = {"X": x}
    if drive is not None:  # a constant external input to Ae
        inputs["Ae"] = drive.unsqueeze(0).expand(x.shape[0], *drive.shape).contiguous()
    net.run(inputs, clamp=None if clamp is None else {"Ae": clamp})
    model.load_from_network(net)
    return mon.get("s")


def _compare(config: DiehlCookConfig, spikes: torch.Tensor, learning: bool = True, seed: int = 0,
             chunk: int = 16, clamp: torch.Tensor | None = None, rest: int = 0, mask: torch.Tensor | None = None,
             lateral: torch.Tensor | None = None, drive: torch.Tensor | None = None) -> int:
    g = torch.Generator().manual_seed(seed)
    fast = DiehlCook(config, generator=g, mask=mask, lateral=lateral)
    ref = DiehlCook(config, weight=fast.weight.clone(), mask=mask, lateral=lateral)
    act = fast.run(spikes, learning=learning, chunk=chunk, clamp=clamp, rest=float(rest), drive=drive)
    s_ref = _generic(ref, spikes, learning, clamp, rest, drive)
    assert torch.equal(act.spikes(), s_ref)
    assert torch.equal(act.counts, s_ref.sum(0).float())
    torch.testing.assert_close(fast.weight, ref.weight, rtol=0, atol=1e-6)
    torch.testing.assert_close(fast.theta, ref.theta, rtol=1e-5, atol=1e-6)
    return int(s_ref.sum())


@pytest.mark.parametrize("inhibition", ["layer", "direct"])
@pytest.mark.parametrize("learning", [True, False])
@pytest.mark.parametrize("chunk", [1, 16])
def test_equals_generic_network(inhibition: str, learning: bool, chunk: int) -> None:
    g = torch.Generator().manual_seed(1)
    spikes = torch.rand(150, 1, 50, generator=g) < 0.08
    assert _compare(SMALL.replace(inhibition=inhibition), spikes, learning, chunk=chunk) > 10


def test_equals_generic_weak_inhibitory_layer() -> None:
    # exc below the inhibitory threshold gap: the inhibitory layer integrates several spikes
    spikes = torch.rand(200, 1, 50, generator=torch.Generator().manual_seed(3)) < 0.08
    assert _compare(SMALL.replace(exc=10.0, inh_refrac=3.0), spikes, seed=3) > 10


def test_equals_generic_minibatch_mean() -> None:
    spikes = torch.rand(120, 3, 50, generator=torch.Generator().manual_seed(2)) < 0.08
    assert _compare(SMALL.replace(reduction="mean"), spikes) > 10
    assert _compare(SMALL.replace(reduction="mean", inhibition="direct"), spikes, learning=False) > 10


def test_equals_generic_with_clamp_and_rest() -> None:
    spikes = torch.rand(100, 2, 50, generator=torch.Generator().manual_seed(4)) < 0.08
    clamp = torch.zeros(2, 8, dtype=torch.bool)
    clamp[0, 2] = clamp[1, 5] = True
    _compare(SMALL.replace(reduction="mean"), spikes, clamp=clamp)
    _compare(SMALL, spikes[:, :1], rest=30)


@pytest.mark.parametrize("chunk", [1, 16])
def test_equals_generic_with_drive(chunk: int) -> None:
    spikes = torch.rand(150, 1, 50, generator=torch.Generator().manual_seed(8)) < 0.08
    drive = torch.zeros(1, 8)
    drive[0, :4] = -1000.0  # silenced: only neurons 4..7 may fire
    drive[0, 5] = 0.3
    assert _compare(SMALL, spikes, drive=drive, chunk=chunk) > 5
    spikes2 = torch.rand(100, 2, 50, generator=torch.Generator().manual_seed(9)) < 0.08
    _compare(SMALL.replace(reduction="mean"), spikes2, drive=torch.tensor([[-1000.0] * 4 + [0.0] * 4] * 2))


def test_equals_generic_with_mask() -> None:
    mask = torch.rand(50, 8, generator=torch.Generator().manual_seed(5)) < 0.5
    lateral = -30.0 * (torch.rand(8, 8, generator=torch.Generator().manual_seed(6)) < 0.5)
    spikes = torch.rand(150, 1, 50, generator=torch.Generator().manual_seed(7)) < 0.1
    for chunk in (1, 16):
        _compare(SMALL.replace(inhibition="direct", wmin=0.0, wmax=0.9), spikes, mask=mask, lateral=lateral,
                 chunk=chunk)


@pytest.mark.parametrize("preset", ["bindsnet", "paper", "tuned"])
def test_equals_generic_on_digits(preset: str) -> None:
    """MNIST-sized: 784 inputs, 100 neurons, normalised weights, 250 ms of digit-like input."""
    g = torch.Generator().manual_seed(0)
    images = (torch.rand(2, 28, 28, generator=g) > 0.8).to(torch.uint8) * 255
    cfg = PRESETS[preset].replace(one_spike=False)
    fast = DiehlCook(cfg, generator=g)
    ref = DiehlCook(cfg, weight=fast.weight.clone())
    for k in range(2):
        spikes = poisson_spikes(images[k:k + 1], 250.0, max_rate=128.0, generator=g)
        fast.normalize()
        ref.normalize()
        act = fast.run(spikes, learning=True)
        s_ref = _generic(ref, spikes, True)
        assert torch.equal(act.spikes(), s_ref) and s_ref.sum() > 5
        torch.testing.assert_close(fast.weight, ref.weight, rtol=0, atol=2e-6)
        torch.testing.assert_close(fast.theta, ref.theta, rtol=1e-4, atol=1e-4)


def test_one_spike_per_step() -> None:
    cfg = SMALL.replace(one_spike=True, inh=0.0, refrac=0.0, thresh=-64.0)
    m = DiehlCook(cfg, generator=torch.Generator().manual_seed(0))
    spikes = torch.ones(20, 2, 50, dtype=torch.bool)
    for learning in (True, False):
        act = m.run(spikes, learning=learning, generator=torch.Generator().manual_seed(1))
        per_step = act.spikes().sum(2)
        assert int(per_step.max()) == 1 and int(per_step.sum()) > 10


def test_normalize_and_bounds() -> None:
    m = DiehlCook(SMALL.replace(norm=20.0, wmax=0.5))
    assert float(m.weight.max()) <= 0.5
    m.weight.fill_(0.01)
    m.normalize()
    torch.testing.assert_close(m.weight.sum(0), torch.full((8,), 20.0))  # 50 * 0.4 <= wmax
    m.weight[:, 0] = 0.0
    m.normalize()
    assert torch.equal(m.weight[:, 0], torch.zeros(50))


def test_config_validation() -> None:
    with pytest.raises(ValueError, match="inhibition"):
        DiehlCookConfig(inhibition="none")
    with pytest.raises(ValueError, match="n_neurons"):
        DiehlCookConfig(n_neurons=0)
    with pytest.raises(ValueError, match="unknown"):
        SMALL.replace(nonsense=1)
    with pytest.raises(ValueError, match="below inh_thresh"):
        DiehlCookConfig(inh_rest=-30.0)
    with pytest.raises(ValueError, match="preset"):
        DiehlCook("nope")
    m = DiehlCook(SMALL)
    with pytest.raises(ValueError, match="spikes must be"):
        m.run(torch.zeros(5, 1, 49, dtype=torch.bool))
    with pytest.raises(TypeError, match="bool"):
        m.run(torch.zeros(5, 1, 50))


def test_local_mask_matches_local_connection() -> None:
    """The masked dense matrix of locally_connected computes what LocalConnection2D computes."""
    k, stride, f = 12, 4, 3
    mask = local_mask((28, 28), k, stride, f)
    assert mask.shape == (784, 3 * 25) and int(mask.sum(0).min()) == k * k == int(mask.sum(0).max())
    src = Input(shape=(1, 28, 28))
    tgt = DiehlAndCookNodes(shape=(f, 5, 5))
    lc = LocalConnection2D(src, tgt, k, stride, generator=torch.Generator().manual_seed(0))
    # LocalConnection2D weight (f, 5, 5, 1, k, k) -> dense (784, f * 25) through the mask layout
    dense = torch.zeros(784, f * 25)
    for o in range(f):
        for i in range(5):
            for j in range(5):
                patch = torch.zeros(28, 28)
                patch[i * stride:i * stride + k, j * stride:j * stride + k] = lc.weight[o, i, j, 0]
                dense[:, o * 25 + i * 5 + j] = patch.reshape(-1)
    assert torch.equal(dense != 0, mask & (dense != 0)) and bool((dense != 0).sum() == mask.sum())
    s = torch.rand(4, 1, 28, 28) < 0.3
    torch.testing.assert_close(lc.compute(s).reshape(4, -1), s.reshape(4, -1).float() @ dense)


def test_same_location_inhibition() -> None:
    lat = same_location_inhibition(3, 2, 5.0)  # neurons f * 2 + p
    assert lat[0, 2] == -5.0 and lat[0, 4] == -5.0 and lat[0, 1] == 0.0 and lat[0, 0] == 0.0
    lc = locally_connected(PRESETS["tuned"], kernel_size=14, stride=14, n_filters=2)
    assert lc.n_neurons == 8 and lc.mask is not None and lc.config.inhibition == "direct"
    act = lc.run(torch.rand(30, 1, 784) < 0.2, learning=True)
    assert act.counts.shape == (1, 8)
    assert float(lc.weight[~lc.mask].abs().max()) == 0.0


def test_convolutional_model_runs_and_learns() -> None:
    m = convolutional(PRESETS["tuned"], kernel_size=16, stride=6, n_filters=4,
                      generator=torch.Generator().manual_seed(0))
    assert m.n_neurons == 4 * 9 and m.weight.shape == (4, 1, 16, 16)
    before = m.weight.clone()
    images = torch.zeros(2, 28, 28, dtype=torch.uint8)
    images[:, 5:20, 10:14] = 255
    act = m.run(poisson_spikes(images, 60.0, max_rate=200.0, generator=torch.Generator().manual_seed(1)),
                learning=True)
    assert act.counts.shape == (2, 36) and act.counts.sum() > 0
    assert not torch.equal(before, m.weight)
    m.normalize()
    torch.testing.assert_close(m.weight.sum((1, 2, 3)), torch.full((4,), 0.4 * 256.0))


def test_generic_network_wiring() -> None:
    net = DiehlCook(SMALL).to_network()
    assert list(net.layers) == ["X", "Ae", "Ai"]
    assert set(net.connections) == {"X->Ae", "Ae->Ai", "Ai->Ae"}
    assert isinstance(net.connections["Ae->Ai"], Connection) and isinstance(net, Network)
    assert torch.equal(net.connections["Ai->Ae"].weight.diagonal(), torch.zeros(8))
