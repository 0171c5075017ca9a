"""Network semantics: propagation order, batching, determinism, controls and bad input."""

import math

import pytest
import torch

from snnrl import (
    Connection,
    DiehlAndCookNodes,
    Input,
    LIFNodes,
    Monitor,
    Network,
    SRM0Nodes,
)


def chain(propagation: str = "synchronous") -> Network:
    """X -> A -> B with weights strong enough that one spike makes the next layer fire."""
    net = Network(propagation=propagation)
    net.add_layer(Input(2), "X")
    net.add_layer(LIFNodes(2, refrac=0.0), "A")
    net.add_layer(LIFNodes(2, refrac=0.0), "B")
    net.add_connection(Connection(net.layers["X"], net.layers["A"], torch.eye(2) * 20), "X", "A")
    net.add_connection(Connection(net.layers["A"], net.layers["B"], torch.eye(2) * 20), "A", "B")
    for name in ("X", "A", "B"):
        net.add_monitor(Monitor(net.layers[name], ["s"]), name)
    return net


def first_spike_steps(net: Network) -> dict[str, int]:
    out = {}
    for name in ("X", "A", "B"):
        s = net.monitors[name].get("s")[:, 0, 0]
        out[name] = int(s.nonzero()[0, 0]) if s.any() else -1
    return out


def pulse(steps: int = 5) -> torch.Tensor:
    x = torch.zeros(steps, 1, 2, dtype=torch.bool)
    x[0, 0, 0] = True
    return x


def test_synchronous_propagation_has_one_step_delay_per_connection():
    net = chain("synchronous")
    net.run({"X": pulse()})
    assert first_spike_steps(net) == {"X": 0, "A": 1, "B": 2}


def test_in_order_propagation_crosses_the_chain_in_one_step():
    net = chain("in_order")
    net.run({"X": pulse()})
    assert first_spike_steps(net) == {"X": 0, "A": 0, "B": 0}


def test_run_equals_repeated_step_calls():
    # run() precomputes the input currents of the whole run; step() computes them one step at a time
    g = torch.Generator().manual_seed(3)
    x = torch.rand(40, 2, 300, generator=g) < 0.1

    def build():
        net = Network()
        net.add_layer(Input(300), "X")
        net.add_layer(LIFNodes(50), "H")
        w = torch.rand(300, 50, generator=torch.Generator().manual_seed(4)) * 3
        net.add_connection(Connection(net.layers["X"], net.layers["H"], w), "X", "H")
        net.add_monitor(Monitor(net.layers["H"], ["v", "s"]), "m")
        return net

    a, b = build(), build()
    a.run({"X": x})
    for t in range(40):
        b.step({"X": x[t]})
    assert a.monitors["m"].get("s").any()
    assert torch.equal(a.monitors["m"].get("s"), b.monitors["m"].get("s"))
    torch.testing.assert_close(a.monitors["m"].get("v"), b.monitors["m"].get("v"))


def recurrent_net(batch_size: int) -> Network:
    g = torch.Generator().manual_seed(0)
    net = Network(batch_size=batch_size)
    net.add_layer(Input(64, traces=True), "X")
    net.add_layer(LIFNodes(32, traces=True), "H")
    net.add_layer(LIFNodes(4), "O")
    net.add_connection(Connection(net.layers["X"], net.layers["H"], torch.rand(64, 32, generator=g) * 4), "X", "H")
    net.add_connection(Connection(net.layers["H"], net.layers["H"], -torch.rand(32, 32, generator=g)), "H", "H")
    net.add_connection(Connection(net.layers["H"], net.layers["O"], torch.rand(32, 4, generator=g) * 6), "H", "O")
    for name in ("H", "O"):
        net.add_monitor(Monitor(net.layers[name], ["s", "v"]), name)
    return net


def test_batch_of_b_equals_b_single_runs():
    g = torch.Generator().manual_seed(1)
    x = torch.rand(60, 3, 64, generator=g) < 0.15
    batched = recurrent_net(3)
    batched.run({"X": x})
    for b in range(3):
        single = recurrent_net(1)
        single.run({"X": x[:, b : b + 1]})
        for name in ("H", "O"):
            assert torch.equal(batched.monitors[name].get("s")[:, b], single.monitors[name].get("s")[:, 0])
            torch.testing.assert_close(batched.monitors[name].get("v")[:, b], single.monitors[name].get("v")[:, 0])
    assert batched.monitors["O"].get("s").any()


def test_dynamic_batch_size():
    net = recurrent_net(1)
    net.run({"X": torch.zeros(5, 4, 64, dtype=torch.bool)})
    assert net.batch_size == 4 and net.layers["H"].v.shape == (4, 32)
    assert net.monitors["H"].get("s").shape == (5, 4, 32)


def stochastic_net(seed: int) -> Network:
    net = Network()
    net.add_layer(Input(20), "X")
    net.add_layer(DiehlAndCookNodes(10, generator=torch.Generator().manual_seed(seed)), "E")
    net.add_layer(SRM0Nodes(10, generator=torch.Generator().manual_seed(seed + 1)), "S")
    w = torch.rand(20, 10, generator=torch.Generator().manual_seed(9)) * 10
    net.add_connection(Connection(net.layers["X"], net.layers["E"], w), "X", "E")
    net.add_connection(Connection(net.layers["X"], net.layers["S"], w.clone()), "X", "S")
    net.add_monitor(Monitor(net.layers["E"], ["s"]), "E")
    net.add_monitor(Monitor(net.layers["S"], ["s"]), "S")
    return net


def test_cpu_determinism_with_seed():
    x = torch.rand(100, 1, 20, generator=torch.Generator().manual_seed(2)) < 0.3
    runs = []
    for seed in (5, 5, 6):
        net = stochastic_net(seed)
        net.run({"X": x})
        runs.append((net.monitors["E"].get("s"), net.monitors["S"].get("s")))
    assert torch.equal(runs[0][0], runs[1][0]) and torch.equal(runs[0][1], runs[1][1])
    assert not (torch.equal(runs[0][0], runs[2][0]) and torch.equal(runs[0][1], runs[2][1]))
    assert runs[0][0].sum(-1).max() <= 1  # one spike per step


def test_train_false_freezes_adaptive_threshold_and_reset_keeps_it():
    net = stochastic_net(0)
    x = torch.ones(30, 1, 20, dtype=torch.bool)
    net.run({"X": x})
    theta = net.layers["E"].theta.clone()
    assert theta.sum() > 0
    net.reset_state_variables()
    assert torch.equal(net.layers["E"].theta, theta)
    net.train(False)
    assert not net.learning
    net.run({"X": x})
    assert torch.equal(net.layers["E"].theta, theta)
    net.layers["E"].reset_theta()
    assert net.layers["E"].theta.sum() == 0


def test_clamp_unclamp_and_inject_v():
    net = chain()
    clamp = torch.tensor([False, True])
    unclamp = torch.tensor([True, False])
    net.run({"X": pulse()}, clamp={"B": clamp}, unclamp={"A": unclamp})
    b = net.monitors["B"].get("s")[:, 0]
    assert b[:, 1].all()  # forced on every step
    assert not net.monitors["A"].get("s")[:, 0, 0].any()  # X's spike could not make A fire
    # voltage injection: +20 mV on top of -65 crosses -52 at once
    net.reset_state_variables()
    net.run(time=3.0, inject_v={"A": torch.tensor([20.0, 0.0])})
    assert net.monitors["A"].get("s")[0, 0].tolist() == [True, False]
    # time-varying clamp (T, B, *shape)
    net.reset_state_variables()
    tv = torch.zeros(4, 1, 2, dtype=torch.bool)
    tv[2, 0, 0] = True
    net.run(time=4.0, clamp={"X": tv})
    assert net.monitors["X"].get("s")[:, 0, 0].tolist() == [False, False, True, False]


def test_masks_zero_the_masked_weights():
    net = chain()
    keep = torch.tensor([[True, False], [False, False]])
    net.run({"X": pulse()}, masks={"X->A": keep})
    assert net.connections["X->A"].weight.tolist() == [[20.0, 0.0], [0.0, 0.0]]


def test_several_connections_between_the_same_layers():
    net = Network()
    net.add_layer(Input(1), "X")
    net.add_layer(LIFNodes(1, thresh=1e9), "Y")
    net.add_connection(Connection(net.layers["X"], net.layers["Y"], torch.full((1, 1), 2.0)), "X", "Y")
    with pytest.raises(ValueError, match="already exists"):
        net.add_connection(Connection(net.layers["X"], net.layers["Y"], torch.full((1, 1), 3.0)), "X", "Y")
    net.add_connection(Connection(net.layers["X"], net.layers["Y"], torch.full((1, 1), 3.0)), "X", "Y", name="fast")
    net.run({"X": torch.ones(2, 1, 1, dtype=torch.bool)})
    # step 0 sees X's (empty) previous spikes; step 1 gets both weights: -65 + 2 + 3
    assert net.layers["Y"].v.item() == pytest.approx(-60.0)


def test_real_valued_input_layer_and_external_current():
    net = Network()
    net.add_layer(Input(3), "X")
    net.add_layer(LIFNodes(3, thresh=1e9), "Y")
    net.add_connection(Connection(net.layers["X"], net.layers["Y"], torch.eye(3)), "X", "Y")
    current = torch.tensor([0.5, 1.0, 2.0]).expand(10, 1, 3)
    net.run({"X": current, "Y": torch.full((10, 1, 3), 0.1)})
    v = net.layers["Y"].v[0]
    d = math.exp(-1 / 100)
    # Y gets 0.1 for 10 steps and X's current for 9 (one-step delay)
    expected = [-65 + 0.1 * (1 - d**10) / (1 - d) + c * (1 - d**9) / (1 - d) for c in (0.5, 1.0, 2.0)]
    torch.testing.assert_close(v, torch.tensor(expected), atol=1e-3, rtol=0)


# ---------------------------------------------------------------- bad input
def test_bad_construction_arguments():
    with pytest.raises(ValueError, match="dt must be a positive"):
        Network(dt=0)
    with pytest.raises(ValueError, match="dt must be a positive"):
        Network(dt=-1.0)
    with pytest.raises(ValueError, match="unknown propagation 'backwards'"):
        Network(propagation="backwards")
    net = Network()
    net.add_layer(Input(2), "X")
    with pytest.raises(ValueError, match="already exists"):
        net.add_layer(Input(2), "X")
    with pytest.raises(ValueError, match="already in the network"):
        net.add_layer(net.layers["X"], "X2")
    with pytest.raises(ValueError, match="unknown target layer 'Z'"):
        net.add_connection(Connection(net.layers["X"], LIFNodes(2)), "X", "Z")
    net.add_layer(LIFNodes(2), "Y")
    with pytest.raises(ValueError, match="not the layer named 'Y'"):
        net.add_connection(Connection(net.layers["X"], LIFNodes(2)), "X", "Y")
    with pytest.raises(ValueError, match="has no state variable 'u'"):
        Monitor(net.layers["Y"], ["u"])
    with pytest.raises(ValueError, match="n must be a positive int"):
        LIFNodes(0)
    with pytest.raises(ValueError, match="tc_decay must be > 0"):
        LIFNodes(3, tc_decay=0.0)
    with pytest.raises(ValueError, match=r"w has shape \(3, 3\), expected"):
        Connection(net.layers["X"], net.layers["Y"], torch.zeros(3, 3))


def test_bad_run_arguments():
    net = chain()
    with pytest.raises(ValueError, match="unknown layer 'Q'"):
        net.run({"Q": torch.zeros(3, 1, 2)})
    with pytest.raises(ValueError, match=r"has shape \(3, 2\), expected \(T, B"):
        net.run({"X": torch.zeros(3, 2)})
    with pytest.raises(ValueError, match="disagree on the batch size"):
        net.run({"X": torch.zeros(3, 1, 2), "A": torch.zeros(3, 2, 2)})
    with pytest.raises(ValueError, match="non-negative"):
        net.run({"X": torch.zeros(3, 1, 2)}, time=-1.0)
    with pytest.raises(ValueError, match="needs 5 steps of input but the inputs have only 3"):
        net.run({"X": torch.zeros(3, 1, 2)}, time=5.0)
    with pytest.raises(ValueError, match="not a whole number of steps"):
        net.run(time=2.5)
    with pytest.raises(ValueError, match="NaN or infinite"):
        net.run({"A": torch.full((3, 1, 2), float("nan"))})
    with pytest.raises(TypeError, match=r"dtype torch\.int64"):
        net.run({"X": torch.zeros(3, 1, 2, dtype=torch.long)})
    with pytest.raises(ValueError, match="give the simulation time"):
        net.run()
    with pytest.raises(ValueError, match=r"clamp\['A'\] has shape"):
        net.run(time=2.0, clamp={"A": torch.zeros(5, dtype=torch.bool)})
    with pytest.raises(ValueError, match="reward must be a scalar or a"):
        net.run(time=1.0, reward=torch.zeros(3))
    with pytest.raises(ValueError, match="masks: unknown connection 'nope'"):
        net.run(time=1.0, masks={"nope": torch.ones(2, 2, dtype=torch.bool)})
