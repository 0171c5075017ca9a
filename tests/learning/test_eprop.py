"""Reward-based e-prop, neuron-specific modulators and feedback: each against its equation."""

import math

import gymnasium as gym
import pytest
import torch

from snnrl import Connection, Input, LIFNodes, Network
from snnrl.functional.plasticity import eprop_alif_traces_, pseudo_derivative, trace_update_
from snnrl.learning import MSTDPET, EProp, Feedback
from snnrl.network.connections import Conv2dConnection
from snnrl.policy.decoders import CountArgmax, SoftmaxCounts

torch.set_num_threads(1)


def _one_synapse(w: float, rule: EProp, steps: int, spike_at: int = 0) -> Network:
    net = Network(dt=1.0)
    net.add_layer(Input(1), "X")
    net.add_layer(LIFNodes(1), "Y")
    net.add_connection(Connection(net.layers["X"], net.layers["Y"], torch.tensor([[w]]), rule=rule), "X", "Y")
    x = torch.zeros(steps, 1, 1, dtype=torch.bool)
    x[spike_at] = True
    net.run({"X": x}, reward=0.0)
    return net


@pytest.mark.parametrize("w", [4.0, 9.0, 12.5])
def test_eligibility_of_one_synapse_matches_the_closed_form(w):
    """One presynaptic spike at step 0, a subthreshold LIF target (rest -65, threshold -52 mV,
    tau_m 100 ms): v_t = rest + w alpha^(t-1) from step 1 (synchronous propagation),
    zbar = alpha^(t-1), so E_n = sum_t psi(v_t) alpha^(t-1) exp(-(n-t)/tau_e)."""
    rule = EProp(nu=1.0, tc_e_trace=25.0, gamma=0.3)
    steps = 30
    _one_synapse(w, rule, steps)
    alpha, width, theta = math.exp(-1 / 100), 13.0, -52.0
    expected = 0.0
    for t in range(1, steps):
        v = -65.0 + w * alpha ** (t - 1)
        psi = 0.3 / width * max(0.0, 1 - abs(v - theta) / width)
        expected += psi * alpha ** (t - 1) * math.exp(-(steps - 1 - t) / 25.0)
    assert rule.eligibility().item() == pytest.approx(expected, rel=1e-5)
    assert rule.zbar.item() == pytest.approx(alpha ** (steps - 1), rel=1e-5)


def test_delivery_is_nu_times_modulator_times_eligibility():
    rule = EProp(nu=0.5)
    net = _one_synapse(9.0, rule, 20)
    e = rule.eligibility().clone()
    w0 = net.connections["X->Y"].weight.clone()
    net.deliver_reward(2.0)
    assert net.connections["X->Y"].weight.item() == pytest.approx((w0 + 0.5 * 2.0 * e[0]).item(), rel=1e-6)


def test_psi_is_the_threshold_value_when_spiking_and_zero_while_refractory():
    rule = EProp(nu=1.0, gamma=0.3)
    net = _one_synapse(20.0, rule, 3)  # one input spike of 20 mV: the target spikes at step 1
    y = net.layers["Y"]
    conn = net.connections["X->Y"]
    spiked = torch.ones(1, 1, dtype=torch.bool)
    assert rule.psi(conn, spiked).item() == pytest.approx(0.3 / 13.0)
    assert float(y.refrac_count) > 0  # refractory after the spike
    assert rule.psi(conn, ~spiked).item() == 0.0


def test_pseudo_derivative_triangle():
    v = torch.tensor([-52.0, -45.5, -58.5, -39.0, -70.0])
    psi = pseudo_derivative(v, -52.0, 13.0, 0.3)
    expected = [0.3 / 13, 0.3 / 13 * 0.5, 0.3 / 13 * 0.5, 0.0, 0.0]
    torch.testing.assert_close(psi, torch.tensor(expected))


def test_alif_trace_recursion():
    eps = torch.zeros(1, 2, 3)
    zbar = torch.tensor([[1.0, 0.5]])
    psi = torch.tensor([[0.1, 0.2, 0.0]])
    eprop_alif_traces_(eps, zbar, psi, rho=0.9, beta=2.0)
    torch.testing.assert_close(eps, zbar.unsqueeze(2) * psi.unsqueeze(1))
    before = eps.clone()
    eprop_alif_traces_(eps, zbar, psi, rho=0.9, beta=2.0)
    torch.testing.assert_close(eps, zbar.unsqueeze(2) * psi.unsqueeze(1) + (0.9 - 2.0 * psi).unsqueeze(1) * before)


def test_trace_update_forms():
    x = torch.tensor([[0.5, 0.5]])
    trace_update_(x, torch.tensor([[True, False]]), 0.5)
    torch.testing.assert_close(x, torch.tensor([[1.0, 0.25]]))
    trace_update_(x, torch.tensor([[True, False]]), 0.5, additive=True)
    torch.testing.assert_close(x, torch.tensor([[1.5, 0.125]]))


# ------------------------------------------------------------- neuron-specific modulators
def _dense_mstdpet(n_pre: int, n_post: int, batch: int, seed: int) -> tuple[Network, Connection]:
    g = torch.Generator().manual_seed(seed)
    net = Network(dt=1.0, batch_size=batch)
    net.add_layer(Input(n_pre), "X")
    net.add_layer(LIFNodes(n_post), "Y")
    conn = Connection(net.layers["X"], net.layers["Y"], torch.rand(n_pre, n_post, generator=g) * 8, rule=MSTDPET())
    net.add_connection(conn, "X", "Y")
    net.run({"X": torch.rand(16, batch, n_pre, generator=g) < 0.3}, reward=0.0)
    return net, conn


@pytest.mark.parametrize(("n_pre", "batch"), [(20, 1), (20, 3), (400, 2)])  # 400 x 50: the factorised form
def test_a_per_neuron_signal_weights_each_postsynaptic_column(n_pre, batch):
    net, conn = _dense_mstdpet(n_pre, 50, batch, seed=n_pre + batch)
    z = conn.rule.eligibility.value().clone()
    w0 = conn.weight.clone()
    m = torch.linspace(-1.0, 1.0, batch)
    signal = torch.randn(batch, 50, generator=torch.Generator().manual_seed(1))
    net.deliver_reward(m, signals={"Y": signal})
    expected = w0 + torch.einsum("bij,bj->ij", z, m[:, None] * signal) / batch
    torch.testing.assert_close(conn.weight, expected.clamp(min=conn.wmin, max=conn.wmax), rtol=1e-5, atol=1e-5)


def test_a_constant_signal_is_the_global_modulator():
    a, conn_a = _dense_mstdpet(20, 6, 2, seed=3)
    b, conn_b = _dense_mstdpet(20, 6, 2, seed=3)
    a.deliver_reward(torch.tensor([0.5, -1.0]))
    b.deliver_reward(1.0, signals={"Y": torch.tensor([[0.5] * 6, [-1.0] * 6])})
    torch.testing.assert_close(conn_a.weight, conn_b.weight)


def test_bad_signals_are_refused_with_their_name():
    net, _ = _dense_mstdpet(4, 3, 2, seed=0)
    with pytest.raises(ValueError, match=r"signals\['Y'\] must have shape \(B, \*layer.shape\) = \(2, 3\)"):
        net.deliver_reward(1.0, signals={"Y": torch.ones(2, 4)})
    with pytest.raises(ValueError, match=r"signals\['Z'\]: no layer named 'Z'"):
        net.deliver_reward(1.0, signals={"Z": torch.ones(2, 3)})
    with pytest.raises(ValueError, match=r"signals\['Y'\] contains NaN"):
        net.deliver_reward(1.0, signals={"Y": torch.full((2, 3), math.nan)})
    with pytest.raises(ValueError, match="modulator contains NaN"):
        net.deliver_reward(torch.tensor([1.0, math.nan]))


def test_a_rule_called_directly_refuses_a_nan_modulator():
    _, conn = _dense_mstdpet(4, 3, 1, seed=0)
    w0 = conn.weight.clone()
    with pytest.raises(ValueError, match="NaN or infinite"):
        conn.rule.deliver(conn, torch.tensor([math.nan]))
    with pytest.raises(ValueError, match="must be finite"):
        conn.rule.deliver(conn, math.inf)
    torch.testing.assert_close(conn.weight, w0)


def test_weight_sharing_connections_refuse_a_per_neuron_modulator():
    net = Network(dt=1.0)
    net.add_layer(Input(shape=(1, 6, 6)), "X")
    net.add_layer(LIFNodes(shape=(2, 4, 4)), "Y")
    net.add_connection(Conv2dConnection(net.layers["X"], net.layers["Y"], 3, rule=EProp()), "X", "Y")
    net.run({"X": torch.rand(8, 1, 1, 6, 6) < 0.5}, reward=0.0)
    net.deliver_reward(1.0)  # a global modulator works on every connection type
    with pytest.raises(ValueError, match="shares weights between synapses"):
        net.deliver_reward(1.0, signals={"Y": torch.ones(1, 2, 4, 4)})


# ------------------------------------------------------------------ decoders and feedback
def test_action_error_is_onehot_minus_policy():
    dec = SoftmaxCounts(temperature=2.0, neurons_per_action=2, seed=0)
    dec.bind(gym.spaces.Discrete(3), 6, steps=4)
    spikes = torch.zeros(4, 1, 6)
    spikes[:, 0, 0] = 1  # action 0: 4 spikes, the others none
    err = dec.action_error(spikes, torch.tensor([1]))
    p = torch.softmax(torch.tensor([4.0, 0.0, 0.0]) / 2.0, 0)
    torch.testing.assert_close(err[0], torch.tensor([0.0, 1.0, 0.0]) - p)
    torch.testing.assert_close(dec.neuron_error(spikes, torch.tensor([1]))[0], (torch.tensor([0.0, 1, 0]) - p)
                               .repeat_interleave(2))
    greedy = CountArgmax(neurons_per_action=2, seed=0)
    greedy.bind(gym.spaces.Discrete(3), 6, steps=4)
    assert greedy.action_error(spikes, torch.tensor([0])).abs().sum() == 0  # the greedy choice: no error
    with pytest.raises(ValueError, match="actions must be"):
        dec.action_error(spikes, torch.tensor([3]))


def test_feedback_signals():
    net = Network(dt=1.0)
    net.add_layer(Input(3), "X")
    net.add_layer(LIFNodes(5), "H")
    net.add_layer(LIFNodes(4), "A")
    net.add_connection(Connection(net.layers["X"], net.layers["H"]), "X", "H")
    w = torch.arange(20.0).reshape(5, 4)
    net.add_connection(Connection(net.layers["H"], net.layers["A"], w), "H", "A")
    err = torch.tensor([[0.25, -0.25]])
    rnd = Feedback(net, "A", 2, neurons_per_action=2, hidden=["H"], seed=3)
    sig = rnd.signals(err)
    torch.testing.assert_close(sig["A"], torch.tensor([[0.25, 0.25, -0.25, -0.25]]))
    torch.testing.assert_close(sig["H"], err @ rnd.weights["H"].t())
    assert torch.equal(rnd.weights["H"], Feedback(net, "A", 2, neurons_per_action=2, hidden=["H"], seed=3)
                       .weights["H"])
    sym = Feedback(net, "A", 2, neurons_per_action=2, hidden=["H"], mode="symmetric")
    torch.testing.assert_close(sym.signals(err)["H"], err @ w.view(5, 2, 2).sum(-1).t())
    with pytest.raises(ValueError, match="feedback mode must be one of"):
        Feedback(net, "A", 2, mode="sideways")
    with pytest.raises(ValueError, match="no layer named 'Q'"):
        Feedback(net, "A", 2, hidden=["Q"])


@pytest.mark.parametrize("batch", [1, 3])
def test_windowed_eligibility_equals_the_step_by_step_equations(batch):
    """EProp records zbar and psi and adds a window to E in one batched product; the result must be
    the per-step recursion E <- d E + psi zbar, also across a flush mid-run and a state_dict."""
    g = torch.Generator().manual_seed(batch)
    net = Network(dt=1.0, batch_size=batch)
    net.add_layer(Input(12), "X")
    net.add_layer(LIFNodes(5, refrac=2.0), "Y")
    rule = EProp(nu=0.1, tc_e_trace=10.0)
    rule.capacity = 7  # windows that end mid-run
    net.add_connection(Connection(net.layers["X"], net.layers["Y"], torch.rand(12, 5, generator=g) * 8, rule=rule),
                       "X", "Y")
    x = torch.rand(30, batch, 12, generator=g) < 0.4
    conn = net.connections["X->Y"]
    e = torch.zeros(batch, 12, 5)
    zbar = torch.zeros(batch, 12)
    d, alpha = math.exp(-1 / 10), math.exp(-1 / 100)
    for t in range(30):
        net.run({"X": x[t : t + 1]}, reward=0.0)
        psi = rule.psi(conn, net.layers["Y"].s)
        e = e * d + zbar.unsqueeze(2) * psi.unsqueeze(1)
        zbar = zbar * alpha + x[t].float()
        if t == 12:
            net.state_dict()  # reading the state flushes; nothing changes
    torch.testing.assert_close(rule.eligibility(), e, rtol=1e-5, atol=1e-6)


def _two_outputs(rule: EProp, batch: int) -> Network:
    net = Network(dt=1.0, batch_size=batch)
    net.add_layer(Input(3), "X")
    net.add_layer(LIFNodes(2), "A")
    w = torch.tensor([[6.0, 4.0], [5.0, 7.0], [3.0, 6.0]])
    net.add_connection(Connection(net.layers["X"], net.layers["A"], w, rule=rule), "X", "A")
    return net


@pytest.mark.parametrize("batch", [1, 2])
def test_signal_trace_filters_signal_times_eligibility(batch):
    """tc_signal: F <- exp(-k dt / tau_s) F + L * E, E <- 0 at each delivery with a signal, and
    dw = nu mean_b(delta_b F_b): the first window keeps the sign of its own action's error."""
    tau_s, steps, nu = 40.0, 8, 0.5
    rule = EProp(nu=nu, tc_e_trace=25.0, tc_signal=tau_s)
    twin = EProp(nu=nu, tc_e_trace=25.0)  # the same eligibility, delivered the plain way
    nets = [_two_outputs(rule, batch), _two_outputs(twin, batch)]
    gen = torch.Generator().manual_seed(0)
    windows = [torch.rand(steps, batch, 3, generator=gen) < 0.6 for _ in range(2)]
    signals = [torch.tensor([[1.0, -1.0]] * batch) * s for s in (0.7, -0.4)]  # action 0, then action 1
    deltas = [torch.zeros(batch), torch.tensor([1.5, -0.5][:batch])]
    es, w0 = [], nets[0].connections["X->A"].weight.clone()
    for x, sig, d in zip(windows, signals, deltas, strict=True):
        for net in nets:
            net.run({"X": x}, reward=0.0)
        es.append(rule.eligibility().clone())
        torch.testing.assert_close(es[-1], twin.eligibility() if len(es) == 1 else es[-1])
        nets[0].deliver_reward(d, signals={"A": sig})
    assert not rule.e.any()  # consumed into F
    kappa = math.exp(-steps / tau_s)
    f = kappa * signals[0][:, None, :] * es[0] + signals[1][:, None, :] * es[1]
    torch.testing.assert_close(rule.f, f)
    want = w0 + nu * (deltas[1][:, None, None] * f).mean(0)
    torch.testing.assert_close(nets[0].connections["X->A"].weight, want)
    # the plain delivery multiplies the second signal into the decayed first window instead
    nets[1].deliver_reward(deltas[1], signals={"A": signals[1]})
    assert not torch.allclose(nets[1].connections["X->A"].weight, want)


def test_signal_trace_resets_with_the_episode_and_checkpoints():
    rule = EProp(nu=1.0, tc_signal=50.0)
    net = _two_outputs(rule, 2)
    net.run({"X": torch.ones(8, 2, 3, dtype=torch.bool)}, reward=0.0)
    net.deliver_reward(torch.zeros(2), signals={"A": torch.ones(2, 2)})
    assert rule.f.abs().sum() > 0 and "f" in rule.state_dict()
    rule.reset_state_variables(torch.tensor([True, False]))
    assert not rule.f[0].any() and rule.f[1].any()
    assert "f" not in EProp(nu=1.0).state_dict()  # checkpoints of the plain rule are unchanged
    with pytest.raises(ValueError, match="tc_signal"):
        EProp(tc_signal=0.0)


def _two_layer_eprop(batch: int, hidden, seed: int) -> Network:
    """30 inputs -> ``hidden`` (12 neurons) -> 4 LIF, e-prop on both connections, the second keeping
    its learning signal (``tc_signal``)."""
    g = torch.Generator().manual_seed(seed)
    net = Network(dt=1.0, batch_size=batch)
    net.add_layer(Input(30), "X")
    net.add_layer(hidden, "H")
    net.add_layer(LIFNodes(4), "A")
    net.add_connection(Connection(net.layers["X"], net.layers["H"], torch.rand(30, 12, generator=g) * 6,
                                  rule=EProp(nu=0.2, tc_e_trace=30.0)), "X", "H")
    net.add_connection(Connection(net.layers["H"], net.layers["A"], torch.rand(12, 4, generator=g) * 8,
                                  rule=EProp(nu=0.2, tc_e_trace=30.0, tc_signal=40.0)), "H", "A")
    return net


@pytest.mark.parametrize("compiled", [False, True])
@pytest.mark.parametrize("target", ["lif", "lif_norefrac", "adaptive"])
@pytest.mark.parametrize("batch", [1, 3])
def test_whole_run_equals_step_by_step_bit_for_bit(target, batch, compiled):
    """A reward-free run hands EProp the run's spikes and the target's recorded voltage (and
    refractory counts, adaptive threshold) at once (step_sequence), from the eager loop or the
    compiled kernel: zbar, E, F and the weights after a delivery are the same bits as calling
    the rule after every step, across a window flush (capacity) in the middle of a run."""
    from snnrl import AdaptiveLIFNodes

    if compiled:
        pytest.importorskip("numba")

    def build() -> Network:
        layer = {"lif": lambda: LIFNodes(12, refrac=2.0), "lif_norefrac": lambda: LIFNodes(12, refrac=0.0),
                 "adaptive": lambda: AdaptiveLIFNodes(12, theta_plus=0.5, tc_theta_decay=50.0)}[target]
        net = _two_layer_eprop(batch, layer(), seed=7)
        net.compiled = compiled
        return net

    whole, stepped = build(), build()
    calls = []
    for conn in whole.connections.values():
        original = conn.rule.step_sequence
        conn.rule.step_sequence = (lambda f: lambda *a: calls.append(a[1].shape[0]) or f(*a))(original)
    gen = torch.Generator().manual_seed(8)
    for steps in (10, 40, 8):  # 10 + 40 crosses the 32-step window capacity
        x = torch.rand(steps, batch, 30, generator=gen) < 0.3
        whole.run({"X": x}, reward=0.0)
        for t in range(steps):
            stepped.run({"X": x[t : t + 1]}, reward=0.0)
        signal = torch.randn(batch, 4, generator=gen)
        for net in (whole, stepped):
            net.deliver_reward(torch.full((batch,), 0.5), signals={"A": signal, "H": torch.ones(batch, 12)})
    assert calls == [10, 10, 40, 40, 8, 8]
    for c1, c2 in zip(whole.connections.values(), stepped.connections.values(), strict=True):
        for name in ("zbar", "e", "f"):
            assert torch.equal(getattr(c1.rule, name), getattr(c2.rule, name)), name
        assert torch.equal(c1.weight, c2.weight)
        assert c1.rule._since == c2.rule._since
    assert not torch.equal(whole.connections["H->A"].weight, build().connections["H->A"].weight)
    assert whole.connections["X->H"].rule.sequence_state(whole.connections["X->H"]) == \
        {"lif": ("v", "refrac_count"), "lif_norefrac": ("v", "refrac_count"),
         "adaptive": ("v", "refrac_count", "theta")}[target]


def test_step_sequence_refuses_a_rewarded_run_and_missing_states():
    net = _two_outputs(EProp(nu=1.0), 1)
    conn = net.connections["X->A"]
    s = torch.zeros(2, 1, 3, dtype=torch.bool)
    with pytest.raises(ValueError, match="leaves the weights alone"):
        conn.rule.step_sequence(conn, s, torch.zeros(2, 1, 2, dtype=torch.bool), 1.0, {"v": torch.zeros(2, 1, 2)})
    with pytest.raises(ValueError, match="refrac_count"):
        conn.rule.step_sequence(conn, s, torch.zeros(2, 1, 2, dtype=torch.bool), 0.0, {"v": torch.zeros(2, 1, 2)})


@pytest.mark.parametrize("between", [False, True])
@pytest.mark.parametrize("batch", [1, 3])
def test_prepare_reward_then_deliver_is_deliver_bit_for_bit(batch, between):
    """Network.prepare_reward(signals) folds the kept signal into F while the environments step;
    the delivery that follows (same signals, no step in between) applies only the modulator: the
    same bits as delivering alone, for zero and non-zero modulators. With a run in between
    (``between``), it is a zero delivery, then the run and the delivery."""
    def build() -> Network:
        return _two_layer_eprop(batch, LIFNodes(12), seed=3)

    prepared, reference = build(), build()
    rule = prepared.connections["H->A"].rule
    folds = []
    original = rule._fold
    rule._fold = lambda s: folds.append(1) or original(s)
    gen = torch.Generator().manual_seed(4)
    for m in (0.5, 0.0, -1.0, 0.25):
        x = torch.rand(8, batch, 30, generator=gen) < 0.3
        signals = {"A": torch.randn(batch, 4, generator=gen)}
        mod = torch.full((batch,), m)
        for net in (prepared, reference):
            net.run({"X": x}, reward=0.0)
        prepared.prepare_reward(signals)
        if between:
            reference.deliver_reward(0.0, signals)
            x2 = torch.rand(4, batch, 30, generator=gen) < 0.3
            for net in (prepared, reference):
                net.run({"X": x2}, reward=0.0)
        for net in (prepared, reference):
            net.deliver_reward(mod, signals)
    assert len(folds) == (8 if between else 4)  # one per prepare, and one per delivery after a run
    assert float(rule.f.abs().sum()) > 0
    for c1, c2 in zip(prepared.connections.values(), reference.connections.values(), strict=True):
        assert torch.equal(c1.weight, c2.weight)
        for name in ("zbar", "e", "f"):
            assert torch.equal(getattr(c1.rule, name), getattr(c2.rule, name)), name
    assert not torch.equal(prepared.connections["H->A"].weight, build().connections["H->A"].weight)
    prepared.train(False)
    prepared.prepare_reward({"A": torch.zeros(batch, 4)})  # evaluation mode: nothing
    assert len(folds) == (8 if between else 4)
    with pytest.raises(ValueError, match="signals\\['Q'\\]: no layer named 'Q'"):
        prepared.prepare_reward({"Q": torch.zeros(batch, 4)})


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("spike_dtype", [torch.bool, "float"])
def test_compiled_trace_window_equals_the_torch_loop_bit_for_bit(monkeypatch, dtype, spike_dtype):
    """step_sequence's presynaptic trace (zbar and the window buffer) from the Numba kernel and
    from PyTorch's mul/add_ per step: the same bits, through window flushes, for spikes and for
    real-valued presynaptic activity."""
    pytest.importorskip("numba")
    from snnrl.network import compiled as compiled_module

    gen = torch.Generator().manual_seed(11)
    steps, batch = 45, 2
    x = torch.rand(steps, batch, 30, generator=gen)
    x = x < 0.3 if spike_dtype is torch.bool else (x * 3).to(dtype)
    out = {}
    for use_kernel in (True, False):
        monkeypatch.setattr(compiled_module, "_enabled", use_kernel)
        torch.manual_seed(0)
        conn = Connection(Input(30), LIFNodes(6), torch.rand(30, 6, generator=torch.Generator().manual_seed(3),
                                                             dtype=dtype) * 4, rule=EProp(nu=0.1, tc_e_trace=25.0))
        net = Network(batch_size=batch)
        net.add_layer(conn.source, "X")
        net.add_layer(conn.target, "A")
        net.add_connection(conn, "X", "A")
        net.compiled = False
        for part in (x[:20], x[20:]):  # 20 + 25 steps cross the 32-step window
            net.run({"X": part}, reward=0.0)
        rule = conn.rule
        out[use_kernel] = (rule.zbar.clone(), rule._win_pre.clone(), rule.eligibility().clone())
    for a, b in zip(out[True], out[False], strict=True):
        assert a.dtype == dtype and torch.equal(a, b)
    assert out[True][0].abs().sum() > 0
