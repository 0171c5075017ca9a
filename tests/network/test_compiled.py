"""The compiled multi-step path (``snnrl.network.compiled``) against the eager step loop: the same
spikes, voltages, refractory counts, monitor recordings and learned weights, bit for bit, on
networks of the supported shape; other networks take the eager loop."""

from __future__ import annotations

import pytest
import torch

from snnrl.learning import MSTDPET, EProp
from snnrl.network import Connection, IFNodes, Input, LIFNodes, Monitor, Network
from snnrl.network import compiled as compiled_module

pytest.importorskip("numba")
torch.set_num_threads(1)


@pytest.fixture
def kernel_calls(monkeypatch):
    """Counts the compiled kernel's calls."""
    assert compiled_module.available()
    calls = []
    kernel = compiled_module._kernel
    monkeypatch.setattr(compiled_module, "_kernel", lambda *a: calls.append(a[0].shape[0]) or kernel(*a))
    return calls


def chain(batch: int = 1, *, hidden: str = "lif", recurrent: bool = True, bias: bool = True, seed: int = 0,
          rule: str | None = None, input_shape: tuple[int, ...] = (30,), per_neuron: bool = False) -> Network:
    """Input -> hidden (LIF or IF) -> output LIF with recurrent inhibition: the agents' shapes."""
    g = torch.Generator().manual_seed(seed)
    net = Network(dt=1.0, batch_size=batch)
    net.add_layer(Input(shape=input_shape), "X")
    n_in = int(torch.tensor(input_shape).prod())
    if hidden == "lif":
        thresh = -52.0 - 3.0 * torch.rand(16, generator=g) if per_neuron else -52.0
        net.add_layer(LIFNodes(16, refrac=0.0, thresh=thresh), "H")
    else:
        net.add_layer(IFNodes(16, thresh=8.0, reset=0.0, refrac=2.0, lbound=-4.0), "H")
    net.add_layer(LIFNodes(6, refrac=3.0, tc_decay=20.0), "A")
    rules = {"mstdpet": lambda: MSTDPET(nu=0.2, tc_e_trace=40.0), "eprop": lambda: EProp(nu=0.3, tc_e_trace=30.0)}
    net.add_connection(Connection(net.layers["X"], net.layers["H"], torch.randn(n_in, 16, generator=g) * 6.0,
                                  rule=rules[rule]() if rule == "eprop" else None), "X", "H")
    net.add_connection(Connection(net.layers["H"], net.layers["A"], torch.rand(16, 6, generator=g) * 9.0,
                                  b=torch.full((6,), 1.5) if bias else None, wmin=-20.0, wmax=20.0,
                                  rule=rules[rule]() if rule else None), "H", "A")
    if recurrent:
        net.add_connection(Connection(net.layers["A"], net.layers["A"], -25.0 * (1 - torch.eye(6))), "A", "A")
    return net


def twins(*args, **kwargs) -> tuple[Network, Network]:
    fast, slow = chain(*args, **kwargs), chain(*args, **kwargs)
    slow.compiled = False
    return fast, slow


def assert_same(fast: Network, slow: Network) -> None:
    for name in ("H", "A"):
        a, b = fast.layers[name], slow.layers[name]
        assert torch.equal(a.s, b.s), name
        assert torch.equal(a.state.v, b.state.v), name
        assert torch.equal(a.state.refrac_count, b.state.refrac_count), name
    assert torch.equal(fast.layers["X"].s, slow.layers["X"].s)


@pytest.mark.parametrize("hidden", ["lif", "if"])
@pytest.mark.parametrize("batch", [1, 3])
@pytest.mark.parametrize("steps", [1, 8, 40])
def test_runs_equal_the_eager_loop(kernel_calls, hidden, batch, steps):
    fast, slow = twins(batch, hidden=hidden)
    gen = torch.Generator().manual_seed(steps)
    for _ in range(3):  # the state carries over from run to run
        x = torch.rand(steps, batch, 30, generator=gen) < 0.3
        fast.run({"X": x})
        slow.run({"X": x})
        assert_same(fast, slow)
    assert kernel_calls == ([steps] * 3 if steps > 1 else [])  # one step: no input is computed in advance


@pytest.mark.parametrize("variant", [{"bias": False}, {"recurrent": False}, {"per_neuron": True},
                                     {"input_shape": (5, 6)}])
def test_variants_equal_the_eager_loop(kernel_calls, variant):
    fast, slow = twins(2, **variant)
    x = torch.rand(12, 2, *variant.get("input_shape", (30,))) < 0.25
    for net in (fast, slow):
        net.run({"X": x})
    assert_same(fast, slow)
    assert kernel_calls == [12]


def test_dense_and_sparse_inputs_between_layers(kernel_calls):
    """Above and below the gather threshold (the eager loop then uses the dense product or the
    row gather between layers): both are the kernel's sum over the source's spikes."""
    for p in (0.05, 0.9):
        fast, slow = twins(1, hidden="lif")
        big = torch.randn(30, 16) * 3.0
        for net in (fast, slow):
            net.connections["X->H"].weight.data.copy_(big)
        x = torch.rand(20, 1, 30, generator=torch.Generator().manual_seed(3)) < p
        fast.run({"X": x})
        slow.run({"X": x})
        assert_same(fast, slow)


@pytest.mark.parametrize("time", [None, 8, 5, 20])
def test_spike_monitors_record_the_same(kernel_calls, time):
    fast, slow = twins(2)
    for net in (fast, slow):
        net.add_monitor(Monitor(net.layers["A"], ["s"], time=time), "out")
        net.add_monitor(Monitor(net.layers["H"], ["s"], time=time), "hidden")
    gen = torch.Generator().manual_seed(1)
    for steps in (8, 8, 3):
        x = torch.rand(steps, 2, 30, generator=gen) < 0.3
        fast.run({"X": x})
        slow.run({"X": x})
        for name in ("out", "hidden"):
            a, b = fast.monitors[name].get("s"), slow.monitors[name].get("s")
            assert torch.equal(a, b), (name, time)
            assert len(fast.monitors[name]) == len(slow.monitors[name])
    assert len(kernel_calls) == 3


@pytest.mark.parametrize("rule", ["mstdpet", "eprop"])
def test_learning_runs_equal_the_eager_loop(kernel_calls, rule):
    """Whole-run learning: the kernel hands the rules every layer's spikes (and e-prop the
    target's voltage and refractory counts); eligibility and weights after deliveries are the
    same bits as the eager loop's."""
    fast, slow = twins(2, rule=rule)
    gen = torch.Generator().manual_seed(5)
    for _ in range(4):
        x = torch.rand(8, 2, 30, generator=gen) < 0.3
        signal = torch.randn(2, 6, generator=gen)
        for net in (fast, slow):
            net.run({"X": x}, reward=0.0)
            if rule == "eprop":
                net.deliver_reward(torch.tensor([0.5, -1.0]), signals={"A": signal, "H": torch.ones(2, 16)})
            else:
                net.deliver_reward(torch.tensor([0.5, -1.0]))
        assert_same(fast, slow)
    for name in fast.connections:
        assert torch.equal(fast.connections[name].weight, slow.connections[name].weight), name
    start = chain(2, rule=rule).connections["H->A"].weight
    assert not torch.equal(fast.connections["H->A"].weight, start)
    assert kernel_calls == [8] * 4


def test_other_networks_take_the_eager_loop(kernel_calls):
    net = chain(1)
    x = torch.rand(8, 1, 30) < 0.3
    net.run({"X": x}, clamp={"A": torch.ones(1, 6, dtype=torch.bool)})  # controls
    ordered = Network(dt=1.0, propagation="in_order")
    ordered.add_layer(Input(4), "X")
    ordered.add_layer(LIFNodes(3), "Y")
    ordered.add_connection(Connection(ordered.layers["X"], ordered.layers["Y"]), "X", "Y")
    ordered.run({"X": torch.ones(5, 1, 4, dtype=torch.bool)})
    stepwise = chain(1, rule="mstdpet")
    stepwise.run({"X": x}, reward=1.0)  # a rewarded run changes the weights at every step
    net.compiled = False
    net.run({"X": x})
    assert kernel_calls == []


def test_a_trained_agent_is_the_same_with_and_without_the_kernel(kernel_calls, monkeypatch):
    """Three episodes of the e-prop CartPole agent: the same returns and weights either way."""
    from snnrl.pipeline import load_agent
    from snnrl.pipeline.run import build_trainer

    results = []
    for compiled in (True, False):
        monkeypatch.setattr(compiled_module, "_enabled", compiled)  # as SNNRL_COMPILED=0 does
        used = len(kernel_calls)
        trainer = build_trainer(load_agent("agents/cartpole_eprop.toml", ["training.episodes=3"]))
        trainer.learn(3)
        weights = {k: v.clone() for k, v in trainer.policy.network.state_dict().items()}
        results.append((list(trainer.returns), weights))
        trainer.close()
        assert (len(kernel_calls) > used) == compiled
    (r1, w1), (r2, w2) = results
    assert r1 == r2
    assert w1.keys() == w2.keys() and all(torch.equal(w1[k], w2[k]) for k in w1)
