"""Delayed reward delivery: ``LearningRule.deliver`` / ``Network.deliver_reward`` and per-element resets.

The agent runs a decision window with reward 0 (eligibility only), then delivers the modulator
once; the weight change must be the modulator times the eligibility of that window (equations
checked against hand-computed values and against the rule's own eligibility).
"""

import math

import pytest
import torch

from snnrl import Connection, Input, LIFNodes, Network, SRM0Nodes
from snnrl.learning import MSTDP, MSTDPET, Hebbian, NoOp, PostPre, Rmax

D = math.exp(-1 / 20)  # trace decay per 1 ms step with tc = 20 ms
DE = math.exp(-1 / 25)  # eligibility decay with tc_e = 25 ms


def drive(conn, pre, post):
    """Give the two Input populations these spikes, step by step, with reward 0."""
    for t in range(pre.shape[0]):
        conn.source.step(pre[t])
        conn.target.step(post[t])
        conn.rule.step(conn, 0.0)


def hand_sequence():
    """Steps: t0 pre0 spikes; t1 post spikes; t2 pre1 spikes; t3 nothing."""
    pre = torch.tensor([[1, 0], [0, 0], [0, 1], [0, 0]], dtype=torch.bool).view(4, 1, 2)
    post = torch.tensor([[0], [1], [0], [0]], dtype=torch.bool).view(4, 1, 1)
    return pre, post


def test_mstdpet_delivery_is_modulator_times_eligibility():
    pre, post = hand_sequence()
    conn = Connection(Input(2), Input(1), torch.zeros(2, 1), rule=MSTDPET(nu=0.5))
    drive(conn, pre, post)
    assert torch.equal(conn.weight, torch.zeros(2, 1))  # reward 0: eligibility only
    # z after t3 (hand-computed as in tests/learning/test_rules.py): z1 = zeta1/25, z2 = DE z1 + zeta2/25, z3 = DE z2
    z1 = [0.5 * D / 25, 0.0]
    z2 = [DE * z1[0], -0.5 * D / 25]
    z3 = [DE * z2[0], DE * z2[1]]
    assert conn.rule.eligibility.value()[0, :, 0].tolist() == pytest.approx(z3, rel=1e-5)
    conn.rule.deliver(conn, 3.0)
    assert conn.weight[:, 0].tolist() == pytest.approx([3.0 * v for v in z3], rel=1e-5)
    # a delivery does not advance the traces: the eligibility is unchanged
    assert conn.rule.eligibility.value()[0, :, 0].tolist() == pytest.approx(z3, rel=1e-5)


def test_mstdp_delivery_uses_the_last_steps_zeta():
    pre, post = hand_sequence()
    conn = Connection(Input(2), Input(1), torch.zeros(2, 1), rule=MSTDP(nu=0.5))
    drive(conn, pre[:2], post[:2])  # t1: post spikes with P+ = (D, 0): zeta = nu (D, 0)
    conn.rule.deliver(conn, 2.0)
    assert conn.weight[:, 0].tolist() == pytest.approx([2.0 * 0.5 * D, 0.0], rel=1e-6)
    drive(conn, pre[2:3], post[2:3])  # t2: pre1 spikes with P- = -D: zeta = nu (0, -D)
    conn.rule.deliver(conn, 1.0)
    assert conn.weight[:, 0].tolist() == pytest.approx([2.0 * 0.5 * D, -0.5 * D], rel=1e-6)


def test_rmax_delivery_is_nu_modulator_eligibility():
    g = torch.Generator().manual_seed(0)
    net = Network()
    net.add_layer(Input(6), "X")
    net.add_layer(SRM0Nodes(3, generator=torch.Generator().manual_seed(1)), "Y")
    conn = Connection(net.layers["X"], net.layers["Y"], torch.rand(6, 3, generator=g), rule=Rmax(nu=0.7))
    net.add_connection(conn, "X", "Y")
    net.run({"X": torch.rand(30, 1, 6, generator=g) < 0.3}, reward=0.0)
    w0, e = conn.weight.clone(), conn.rule.e.clone()
    net.deliver_reward(-2.0)
    torch.testing.assert_close(conn.weight - w0, 0.7 * -2.0 * e[0], rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("cls", [PostPre, Hebbian, NoOp])
def test_two_factor_rules_ignore_deliveries(cls):
    net = Network()
    net.add_layer(Input(5), "X")
    net.add_layer(LIFNodes(2), "Y")
    conn = Connection(net.layers["X"], net.layers["Y"], torch.full((5, 2), 5.0), rule=cls())
    net.add_connection(conn, "X", "Y")
    net.run({"X": torch.ones(10, 1, 5, dtype=torch.bool)}, reward=0.0)
    w0 = conn.weight.clone()
    net.deliver_reward(5.0)
    assert torch.equal(conn.weight, w0)


def _net(cls=MSTDPET, batch=1, **rule):
    net = Network(batch_size=batch)
    net.add_layer(Input(4), "X")
    net.add_layer(LIFNodes(3), "Y")
    conn = Connection(net.layers["X"], net.layers["Y"], torch.full((4, 3), 6.0), rule=cls(nu=1.0, **rule))
    net.add_connection(conn, "X", "Y")
    return net, conn


def test_network_delivery_per_batch_element_and_only_in_training_mode():
    net, conn = _net(batch=2)
    x = torch.zeros(20, 2, 4, dtype=torch.bool)
    x[:, :, 0] = True  # both elements: input 0 drives the output
    net.run({"X": x}, reward=0.0)
    z = conn.rule.eligibility.value().clone()
    w0 = conn.weight.clone()
    net.deliver_reward(torch.tensor([1.0, 0.0]))  # only element 0, batch mean
    torch.testing.assert_close(conn.weight - w0, 0.5 * z[0], rtol=1e-5, atol=1e-7)
    net.train(False)
    w1 = conn.weight.clone()
    net.deliver_reward(torch.tensor([1.0, 1.0]))
    assert torch.equal(conn.weight, w1)
    net.train(True)
    with pytest.raises(ValueError, match=r"\(B,\) tensor"):
        net.deliver_reward(torch.ones(3))
    with pytest.raises(ValueError, match="needs a modulator"):
        net.deliver_reward(None)


def test_reward_reaches_the_window_that_chose_the_action_not_the_next():
    """Window 1: input 0 drives the output (the 'decision'); its reward is delivered; window 2:
    input 1 drives it. Only input 0's synapses change (BindsNET would have credited input 1)."""
    net, conn = _net(tc_e_trace=5.0, a_minus=0.0)
    w0 = conn.weight.clone()
    win1 = torch.zeros(16, 1, 4, dtype=torch.bool)
    win1[:, 0, 0] = True
    win2 = torch.zeros(16, 1, 4, dtype=torch.bool)
    win2[:, 0, 1] = True
    net.run({"X": win1}, reward=0.0)
    net.deliver_reward(1.0)
    net.run({"X": win2}, reward=0.0)
    dw = conn.weight - w0
    assert (dw[0] > 0).all()
    assert torch.equal(dw[1:], torch.zeros_like(dw[1:]))


def test_masked_reset_clears_only_the_selected_elements():
    net, conn = _net(batch=3)
    net.run({"X": torch.ones(12, 3, 4, dtype=torch.bool)}, reward=0.0)
    v = net.layers["Y"].v.clone()
    z = conn.rule.eligibility.value().clone()
    assert (z.abs().sum((1, 2)) > 0).all()
    net.reset_state_variables(torch.tensor([False, True, False]))
    z2 = conn.rule.eligibility.value()
    assert torch.equal(z2[1], torch.zeros_like(z2[1]))
    torch.testing.assert_close(z2[[0, 2]], z[[0, 2]])
    assert torch.equal(net.layers["Y"].v[1], torch.full((3,), -65.0))
    assert torch.equal(net.layers["Y"].v[[0, 2]], v[[0, 2]])
    with pytest.raises(ValueError, match="reset mask"):
        net.reset_state_variables(torch.tensor([True, False]))


def test_masked_reset_clears_delay_buffers_of_the_selected_elements():
    net = Network(batch_size=2)
    net.add_layer(Input(2), "X")
    net.add_layer(LIFNodes(2), "Y")
    conn = Connection(net.layers["X"], net.layers["Y"], torch.full((2, 2), 20.0), delay=3)
    net.add_connection(conn, "X", "Y")
    net.run({"X": torch.ones(2, 2, 2, dtype=torch.bool)})
    ring = conn.__dict__["_ring"]
    assert ring[:, 0].any() and ring[:, 1].any()
    net.reset_state_variables(torch.tensor([True, False]))
    assert not ring[:, 0].any() and ring[:, 1].any()
