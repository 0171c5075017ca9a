"""Neuron step functions against closed-form solutions and known firing patterns."""

import itertools
import math

import pytest
import torch

from snnrl.functional import (
    FAST_SPIKING,
    REGULAR_SPIKING,
    AdaptiveLIFParameters,
    CurrentLIFParameters,
    CurrentLIFState,
    IFParameters,
    IFState,
    IzhikevichState,
    LIFParameters,
    LIFState,
    SRM0Parameters,
    SRM0State,
    adaptive_lif_step,
    current_lif_step,
    if_step,
    izhikevich_step,
    lif_step,
    srm0_step,
    subtractive_if_step,
    trace_step,
)


def run_lif(x: float, steps: int, p: LIFParameters, dt: float = 1.0):
    state = LIFState(torch.full((1, 1), p.rest), torch.zeros(1, 1))
    vs, spikes = [], []
    inp = torch.full((1, 1), x)
    for _ in range(steps):
        s, state = lif_step(inp, state, p, dt)
        vs.append(state.v.item())
        spikes.append(bool(s.item()))
    return vs, spikes


@pytest.mark.parametrize("dt", [1.0, 0.5])
def test_lif_subthreshold_matches_closed_form(dt):
    p = LIFParameters(thresh=1e9)  # never fires
    x, steps = 0.3, 400
    vs, _ = run_lif(x, steps, p, dt)
    d = math.exp(-dt / p.tc_decay)
    for n in (1, 10, 100, 400):
        expected = p.rest + x * (1 - d**n) / (1 - d)
        assert vs[n - 1] == pytest.approx(expected, abs=1e-3)
    # the steady state is rest + x / (1 - d)
    assert vs[-1] < p.rest + x / (1 - d)


def test_lif_interspike_interval_with_refractoriness():
    p = LIFParameters()  # thresh -52, rest = reset -65, refrac 5, tc 100
    x = 2.0
    d = math.exp(-1.0 / p.tc_decay)
    # steps from rest until v_n = rest + x (1 - d^n) / (1 - d) reaches thresh
    n_star = next(n for n in range(1, 1000) if p.rest + x * (1 - d**n) / (1 - d) >= p.thresh)
    _, spikes = run_lif(x, 200, p)
    times = [i for i, s in enumerate(spikes) if s]
    assert times[0] == n_star - 1
    isis = {b - a for a, b in itertools.pairwise(times)}
    assert isis == {n_star + int(p.refrac)}  # refrac/dt steps with input blocked, then n_star steps


def test_lif_refractory_input_not_modified_in_place():
    p = LIFParameters()
    state = LIFState(torch.full((1, 3), -65.0), torch.tensor([[3.0, 0.0, 0.0]]))
    x = torch.full((1, 3), 5.0)
    x_before = x.clone()
    state_before = [t.clone() for t in state]
    _, new = lif_step(x, state, p)
    assert torch.equal(x, x_before)
    assert all(torch.equal(a, b) for a, b in zip(state, state_before, strict=False))
    # the refractory neuron ignored its input, the others integrated it
    assert new.v[0, 0].item() == pytest.approx(-65.0)
    assert new.v[0, 1].item() == pytest.approx(-60.0)


def test_if_integrates_linearly_and_fires_periodically():
    p = IFParameters(thresh=-52.0, reset=-65.0, refrac=3.0)
    state = IFState(torch.full((1, 1), -65.0), torch.zeros(1, 1))
    spikes = []
    for _ in range(60):
        s, state = if_step(torch.full((1, 1), 1.0), state, p)
        spikes.append(bool(s.item()))
    times = [i for i, s in enumerate(spikes) if s]
    assert times[0] == 12  # 13 increments of 1 mV from -65 reach -52
    assert {b - a for a, b in itertools.pairwise(times)} == {13 + 3}


def test_subtractive_reset_keeps_residual_charge():
    p = IFParameters(thresh=1.0, reset=0.0, refrac=0.0)
    state = IFState(torch.zeros(1, 1), torch.zeros(1, 1))
    count = 0
    for _ in range(100):
        s, state = subtractive_if_step(torch.full((1, 1), 0.37), state, p)
        count += int(s.item())
    assert count == 37  # rate equals the input exactly (ReLU approximation)
    assert state.v.item() == pytest.approx(0.0, abs=1e-4)


def test_current_lif_current_decays_exponentially():
    p = CurrentLIFParameters(thresh=1e9, tc_i_decay=2.0)
    z = torch.zeros(1, 1)
    state = CurrentLIFState(torch.full((1, 1), -65.0), z, z)
    _, state = current_lif_step(torch.ones(1, 1), state, p)
    for n in range(1, 6):
        _, state = current_lif_step(None, state, p)
        assert state.i.item() == pytest.approx(math.exp(-n / 2.0), rel=1e-5)


@pytest.mark.parametrize("additive", [False, True])
def test_trace_decay_and_spike_update(additive):
    tc = 20.0
    decay = math.exp(-1.0 / tc)
    trace = torch.zeros(1, 1)
    spike = torch.ones(1, 1, dtype=torch.bool)
    none = torch.zeros(1, 1, dtype=torch.bool)
    trace = trace_step(trace, spike, decay, 1.0, additive)
    assert trace.item() == pytest.approx(1.0)
    for n in range(1, 30):
        trace = trace_step(trace, none, decay, 1.0, additive)
        assert trace.item() == pytest.approx(math.exp(-n / tc), rel=1e-5)
    trace = trace_step(trace, spike, decay, 1.0, additive)
    expected = math.exp(-30 / tc) + 1.0 if additive else 1.0
    assert trace.item() == pytest.approx(expected, rel=1e-5)


def test_adaptive_threshold_grows_per_spike_and_decays():
    p = AdaptiveLIFParameters(theta_plus=0.5, tc_theta_decay=50.0, refrac=0.0)
    state = LIFState(torch.full((1, 2), -65.0), torch.zeros(1, 2))
    theta = torch.zeros(2)
    kick = torch.tensor([[100.0, 0.0]])  # neuron 0 fires every step, neuron 1 never
    d = math.exp(-1.0 / 50.0)
    expected = 0.0
    for _ in range(5):
        s, state, theta = adaptive_lif_step(kick, state, theta, p)
        assert s.tolist() == [[True, False]]
        expected = expected * d + 0.5
    assert theta[0].item() == pytest.approx(expected, rel=1e-5)
    assert theta[1].item() == 0.0
    # no input: theta decays exponentially
    for n in range(1, 20):
        _, state, theta = adaptive_lif_step(None, state, theta, p)
        assert theta[0].item() == pytest.approx(expected * d**n, rel=1e-4)
    # not learning: frozen
    frozen = theta.clone()
    _, state, theta = adaptive_lif_step(kick, state, theta, p, learning=False)
    assert torch.equal(theta, frozen)


def test_adaptive_threshold_uses_batch_mean():
    p = AdaptiveLIFParameters(theta_plus=1.0, refrac=0.0)
    state = LIFState(torch.full((4, 1), -65.0), torch.zeros(4, 1))
    kick = torch.tensor([[100.0], [100.0], [0.0], [0.0]])
    _, _, theta = adaptive_lif_step(kick, state, torch.zeros(1), p)
    assert theta.item() == pytest.approx(0.5)


def test_one_spike_keeps_a_single_winner_per_sample():
    p = AdaptiveLIFParameters(theta_plus=1.0)
    state = LIFState(torch.full((3, 10), -65.0), torch.zeros(3, 10))
    g = torch.Generator().manual_seed(0)
    s, new, theta = adaptive_lif_step(torch.full((3, 10), 50.0), state, torch.zeros(10), p, one_spike=True,
                                      generator=g)
    assert s.sum(1).tolist() == [1, 1, 1]
    # losers are not reset: they keep their voltage
    assert (new.v[~s] > -52.0).all()
    assert theta.sum().item() == pytest.approx(1.0)  # 3 winners x 1.0 / batch 3


def izhikevich_spike_times(p, current, steps=1000):
    v = torch.full((1, 1), -65.0)
    state = IzhikevichState(v, v * p.b)
    times = []
    for t in range(steps):
        s, state = izhikevich_step(torch.full((1, 1), current), state, p)
        if s.item():
            times.append(t)
    return times


def test_izhikevich_regular_spiking_adapts():
    times = izhikevich_spike_times(REGULAR_SPIKING, 10.0)
    isis = [b - a for a, b in itertools.pairwise(times)]
    assert len(times) > 5
    assert isis[0] < isis[-1]  # spike-frequency adaptation
    assert all(a <= b + 1 for a, b in itertools.pairwise(isis))  # non-decreasing (1 ms jitter)
    assert 5 <= 1000 / isis[-1] <= 30  # tonic rate in the RS range (Hz)


def test_izhikevich_fast_spiking_fires_faster_without_adaptation():
    rs = izhikevich_spike_times(REGULAR_SPIKING, 10.0)
    fs = izhikevich_spike_times(FAST_SPIKING, 10.0)
    fs_isis = [b - a for a, b in itertools.pairwise(fs)]
    assert len(fs) > 2 * len(rs)
    assert max(fs_isis[2:]) - min(fs_isis[2:]) <= 1


def test_srm0_escape_noise_rate():
    p = SRM0Parameters()
    n = 200_000
    state = SRM0State(torch.full((1, n), p.rest), torch.zeros(1, n), torch.zeros(1, n))
    g = torch.Generator().manual_seed(1)
    s, new = srm0_step(None, state, p, 1.0, g)
    rho = p.rho_0 * math.exp((p.rest - p.thresh) / p.d_thresh)
    prob = 1 - math.exp(-rho)
    assert new.rho[0, 0].item() == pytest.approx(rho, rel=1e-5)
    sigma = math.sqrt(n * prob * (1 - prob))
    assert abs(s.sum().item() - n * prob) < 5 * sigma
