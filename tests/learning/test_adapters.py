"""Connection adapters: the dense fast paths equal the plain equations and the generic adapter."""

import copy
import math

import pytest
import torch

from snnrl import Connection, Input
from snnrl.learning import MSTDP, MSTDPET, ConnectionAdapter, DenseAdapter, Hebbian, PostPre, Rmax, adapter_for
from snnrl.learning.adapters import FactorizedSTDPEligibility, ScaledSTDPEligibility, STDPEligibility

ELIGIBILITY = {"scaled": ScaledSTDPEligibility, "factorized": FactorizedSTDPEligibility, "generic": STDPEligibility}


@pytest.fixture(params=["scaled", "factorized", "generic"])
def variant(request, monkeypatch):
    """Which STDP eligibility a small test connection gets (the dense ones by size threshold)."""
    if request.param == "factorized":
        monkeypatch.setattr(DenseAdapter, "factorize_above", 0)
    return request.param


def make(variant, *args, **kwargs):
    cls = PlainConnection if variant == "generic" else Connection
    conn = cls(*args, **kwargs)
    if conn.rule is not None and hasattr(conn.rule, "eligibility"):
        assert type(conn.rule.eligibility) is ELIGIBILITY[variant]
    return conn


class PlainConnection(Connection):
    """Same class behaviour, unregistered type: gets the generic (correlate-based) adapter."""


def gen(seed):
    return torch.Generator().manual_seed(seed)


def spikes(steps, batch, n, p, seed):
    return torch.rand(steps, batch, n, generator=gen(seed)) < p


def drive(conn, pre, post, rewards):
    """Feed given spikes to Input populations and call the rule once per step."""
    for t in range(pre.shape[0]):
        conn.source.step(pre[t])
        conn.target.step(post[t])
        conn.rule.step(conn, rewards[t])


def reference_mstdpet(w0, pre, post, rewards, *, nu, a_plus, a_minus, tc_plus, tc_minus, tc_e, dt=1.0,
                      mean=True, wmin=-math.inf, wmax=math.inf):
    """Florian (2007) MSTDPET, plain per-step equations in float64."""
    w = w0.double().clone()
    b, n_pre = pre.shape[1:]
    n_post = post.shape[2]
    p_plus = torch.zeros(b, n_pre, dtype=torch.float64)
    p_minus = torch.zeros(b, n_post, dtype=torch.float64)
    z = torch.zeros(b, n_pre, n_post, dtype=torch.float64)
    for t in range(pre.shape[0]):
        sp, so = pre[t].double(), post[t].double()
        p_plus = p_plus * math.exp(-dt / tc_plus) + a_plus * sp
        p_minus = p_minus * math.exp(-dt / tc_minus) + a_minus * so
        zeta = nu * (p_plus[:, :, None] * so[:, None, :] + sp[:, :, None] * p_minus[:, None, :])
        z = z * math.exp(-dt / tc_e) + zeta / tc_e
        r = torch.as_tensor(rewards[t], dtype=torch.float64).expand(b)
        dw = dt * (r[:, None, None] * z).sum(0)
        w = (w + (dw / b if mean else dw)).clamp(wmin, wmax)
    return w, z, p_plus, p_minus


@pytest.mark.parametrize("batch", [1, 3])
def test_mstdpet_matches_the_plain_equations(batch, variant):
    n_pre, n_post, steps = 40, 7, 600
    pre = spikes(steps, batch, n_pre, 0.08, 1)
    post = spikes(steps, batch, n_post, 0.1, 2)
    # sparse, sometimes per-batch rewards; long reward-free stretches exercise re-anchoring
    rewards = []
    g = gen(3)
    for t in range(steps):
        if t % 97 == 50:
            rewards.append(torch.randn(batch, generator=g) if batch > 1 else 1.5)
        elif t > 400 and t % 3 == 0:
            rewards.append(-0.5)
        else:
            rewards.append(0.0)
    w0 = torch.randn(n_pre, n_post, generator=gen(4))
    kw = dict(nu=0.05, a_plus=1.0, a_minus=-0.8, tc_plus=20.0, tc_minus=15.0)
    conn = make(variant, Input(n_pre), Input(n_post), w0, rule=MSTDPET(tc_e_trace=25.0, **kw))
    drive(conn, pre, post, rewards)
    w, z, p_plus, p_minus = reference_mstdpet(w0, pre, post, rewards, tc_e=25.0, **kw)
    torch.testing.assert_close(conn.weight.double(), w, rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(conn.rule.eligibility.value().double(), z, rtol=1e-4, atol=1e-6)
    got_plus, got_minus = conn.rule.eligibility.traces()
    torch.testing.assert_close(got_plus.double(), p_plus, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(got_minus.double(), p_minus, rtol=1e-5, atol=1e-6)


def test_dense_eligibilities_survive_long_runs_without_reward(variant):
    """Thousands of reward-free steps (scales renormalised many times), then one reward."""
    n_pre, n_post, steps = 30, 5, 5000
    pre = spikes(steps, 2, n_pre, 0.05, 5)
    post = spikes(steps, 2, n_post, 0.05, 6)
    rewards = [0.0] * (steps - 1) + [torch.tensor([1.0, -2.0])]
    w0 = torch.zeros(n_pre, n_post)
    conn = make(variant, Input(n_pre), Input(n_post), w0, rule=MSTDPET(nu=1.0))
    drive(conn, pre, post, rewards)
    w, _, _, _ = reference_mstdpet(w0, pre, post, rewards, nu=1.0, a_plus=1.0, a_minus=-1.0, tc_plus=20.0,
                                   tc_minus=20.0, tc_e=25.0)
    torch.testing.assert_close(conn.weight.double(), w, rtol=1e-4, atol=1e-6)
    assert conn.weight.abs().sum() > 0


def test_fused_dense_update_applies_decay_bounds_mask_and_dale_like_apply_update(monkeypatch):
    n_pre, n_post, steps = 20, 6, 200
    pre = spikes(steps, 2, n_pre, 0.1, 7)
    post = spikes(steps, 2, n_post, 0.15, 8)
    rewards = [torch.tensor([1.0, 0.5]) if t % 10 == 0 else 0.0 for t in range(steps)]
    w0 = torch.rand(n_pre, n_post, generator=gen(9)) - 0.3
    mask = torch.rand(n_pre, n_post, generator=gen(10)) < 0.8
    dale = torch.arange(n_pre) % 3 != 0
    results = []
    for threshold, cls in ((1 << 14, Connection), (0, Connection), (0, PlainConnection)):
        monkeypatch.setattr(DenseAdapter, "factorize_above", threshold)
        conn = cls(Input(n_pre), Input(n_post), w0, wmin=-0.2, wmax=0.9, mask=mask, dale=dale, weight_decay=0.01,
                   rule=MSTDPET(nu=0.3))
        drive(conn, pre, post, rewards)
        results.append(conn.weight.clone())
    torch.testing.assert_close(results[0], results[2], rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(results[1], results[2], rtol=1e-5, atol=1e-6)
    assert (results[0] != w0).any()


@pytest.mark.parametrize("rule_factory", [
    lambda: PostPre(nu=(0.01, 0.02)),
    lambda: Hebbian(nu=(0.01, 0.02), traces_additive=True),
    lambda: MSTDP(nu=0.1, a_minus=-0.7),
    lambda: PostPre(nu=(0.01, 0.02), reduction="sum"),
])
def test_dense_correlations_equal_generic_correlate(rule_factory):
    n_pre, n_post, steps = 25, 8, 120
    pre = spikes(steps, 3, n_pre, 0.1, 11)
    post = spikes(steps, 3, n_post, 0.1, 12)
    rewards = [torch.tensor([1.0, -1.0, 0.5]) if t % 2 else 0.3 for t in range(steps)]
    w0 = torch.randn(n_pre, n_post, generator=gen(13))
    out = []
    for cls in (Connection, PlainConnection):
        conn = cls(Input(n_pre), Input(n_post), w0, rule=rule_factory())
        drive(conn, pre, post, rewards)
        out.append(conn.weight.clone())
    torch.testing.assert_close(out[0], out[1], rtol=1e-5, atol=1e-6)
    assert (out[0] != w0).any()


def test_adapter_lookup_is_by_exact_type():
    src, tgt = Input(3), Input(2)
    assert type(adapter_for(Connection(src, tgt))) is DenseAdapter
    assert type(adapter_for(PlainConnection(src, tgt))) is ConnectionAdapter


@pytest.mark.parametrize("batch", [1, 2])
def test_real_valued_presynaptic_activity(variant, batch):
    """Inputs that are not boolean spikes (e.g. intensities) scale the STDP terms linearly."""
    n_pre, n_post, steps = 12, 4, 150
    mask = torch.rand(steps, batch, n_pre, generator=gen(15)) < 0.2
    pre = torch.rand(steps, batch, n_pre, generator=gen(14)) * mask
    post = spikes(steps, batch, n_post, 0.1, 16)
    rewards = [0.0 if t % 7 else 1.0 for t in range(steps)]
    w0 = torch.zeros(n_pre, n_post)
    conn = make(variant, Input(n_pre), Input(n_post), w0, rule=MSTDPET(nu=1.0))
    drive(conn, pre, post, rewards)
    w, *_ = reference_mstdpet(w0, pre, post, rewards, nu=1.0, a_plus=1.0, a_minus=-1.0, tc_plus=20.0,
                              tc_minus=20.0, tc_e=25.0)
    torch.testing.assert_close(conn.weight.double(), w, rtol=1e-4, atol=1e-6)


def test_rmax_dense_and_generic_agree():
    from snnrl import SRM0Nodes

    n_pre, n_post, steps = 15, 5, 100
    out = []
    for cls in (Connection, PlainConnection):
        src, tgt = Input(n_pre), SRM0Nodes(n_post, generator=gen(17))
        conn = cls(src, tgt, torch.full((n_pre, n_post), 5.0), rule=Rmax(nu=0.5))
        pre = spikes(steps, 2, n_pre, 0.2, 18)
        for t in range(steps):
            src.step(pre[t])
            tgt.step(conn.compute(pre[t]))
            conn.rule.step(conn, torch.tensor([1.0, -0.5]))
        out.append(conn.weight.clone())
    torch.testing.assert_close(out[0], out[1], rtol=1e-5, atol=1e-6)


def test_state_saved_between_flushes_continues_exactly(variant):
    """The dense eligibilities process steps in windows; a state_dict taken mid-window holds the
    state of the plain equations, and a rule loaded from it continues as the original does."""
    n_pre, n_post = 25, 6
    pre = spikes(90, 2, n_pre, 0.1, 30)
    post = spikes(90, 2, n_post, 0.15, 31)
    w0 = torch.rand(n_pre, n_post, generator=gen(32))
    conns = [make(variant, Input(n_pre), Input(n_post), w0.clone(), rule=MSTDPET(nu=0.5)) for _ in range(2)]
    drive(conns[0], pre[:10], post[:10], [0.0] * 10)  # fewer steps than a window
    state = copy.deepcopy(conns[0].rule.state_dict())
    _, ref_z, ref_plus, ref_minus = reference_mstdpet(w0, pre[:10], post[:10], [0.0] * 10, nu=0.5, a_plus=1.0,
                                                          a_minus=-1.0, tc_plus=20.0, tc_minus=20.0, tc_e=25.0)
    drive(conns[1], pre[:1], post[:1], [0.0])  # batch size 2, and a pending step that loading discards
    conns[1].rule.load_state_dict(state)
    torch.testing.assert_close(conns[1].rule.eligibility.value().double(), ref_z, rtol=1e-5, atol=1e-7)
    got_plus, got_minus = conns[1].rule.eligibility.traces()
    torch.testing.assert_close(got_plus.double(), ref_plus, rtol=1e-5, atol=1e-7)
    torch.testing.assert_close(got_minus.double(), ref_minus, rtol=1e-5, atol=1e-7)
    rewards = [0.0 if t % 20 else 1.0 for t in range(80)]
    for conn in conns:
        drive(conn, pre[10:], post[10:], rewards)
    torch.testing.assert_close(conns[1].weight, conns[0].weight)
    assert not torch.equal(conns[0].weight, w0)


def test_network_reward_free_window_is_precomputed_and_learns_as_step_by_step(monkeypatch):
    """With reward 0 during a run, a plastic connection from an Input layer keeps its batched input
    currents; the eligibility, and the weights after ``deliver_reward``, equal a step-by-step run."""
    from snnrl import LIFNodes, Network

    def build() -> Network:
        net = Network(dt=1.0)
        net.add_layer(Input(60), "X")
        net.add_layer(LIFNodes(8), "H")
        net.add_connection(Connection(net.layers["X"], net.layers["H"], torch.rand(60, 8, generator=gen(40)) * 6,
                                      rule=MSTDPET(nu=0.1)), "X", "H")
        return net

    x = spikes(24, 1, 60, 0.1, 41)
    batched, stepped = build(), build()
    calls = []
    conn = next(iter(batched.connections.values()))
    original = conn.compute_sequence
    monkeypatch.setattr(conn, "compute_sequence", lambda s: calls.append(s.shape[0]) or original(s))
    batched.run({"X": x}, reward=0.0)
    for t in range(x.shape[0]):
        stepped.run({"X": x[t : t + 1]}, reward=0.0)
    assert calls == [24]
    for net in (batched, stepped):
        net.deliver_reward(2.0)
    c1, c2 = (next(iter(n.connections.values())) for n in (batched, stepped))
    torch.testing.assert_close(c1.rule.eligibility.value(), c2.rule.eligibility.value())
    torch.testing.assert_close(c1.weight, c2.weight)
    assert not torch.equal(c1.weight, torch.rand(60, 8, generator=gen(40)) * 6)


@pytest.mark.parametrize("batch", [1, 3])
def test_whole_run_learning_equals_step_by_step(variant, batch):
    """A reward-free run hands each rule the whole run's spikes at once (step_sequence): across
    window boundaries and renormalisations it equals calling the rule after every step."""
    from snnrl import LIFNodes, Network

    def build() -> Network:
        net = Network(dt=1.0)
        net.add_layer(Input(20), "X")
        net.add_layer(LIFNodes(3), "H")
        net.add_layer(LIFNodes(2), "O")
        cls = PlainConnection if variant == "generic" else Connection
        net.add_connection(cls(net.layers["X"], net.layers["H"], torch.rand(20, 3, generator=gen(50)) * 15,
                               rule=MSTDPET(nu=0.1, tc_e_trace=500.0)), "X", "H")
        net.add_connection(cls(net.layers["H"], net.layers["O"], torch.rand(3, 2, generator=gen(51)) * 40,
                               rule=MSTDPET(nu=0.1, a_minus=-0.5)), "H", "O")
        return net

    x = spikes(300, batch, 20, 0.1, 52)
    whole, stepped = build(), build()
    rules = [c.rule for c in whole.connections.values()]
    for rule in rules:
        assert rule.accepts_sequence(rule.connection, 0.0) and not rule.accepts_sequence(rule.connection, 1.0)
    whole.run({"X": x}, reward=0.0)
    for t in range(x.shape[0]):
        stepped.run({"X": x[t : t + 1]}, reward=0.0)
    for c1, c2 in zip(whole.connections.values(), stepped.connections.values(), strict=True):
        assert type(c1.rule.eligibility) is ELIGIBILITY[variant]
        torch.testing.assert_close(c1.rule.eligibility.value(), c2.rule.eligibility.value())
        for t1, t2 in zip(c1.rule.eligibility.traces(), c2.rule.eligibility.traces(), strict=True):
            torch.testing.assert_close(t1, t2)
    assert float(next(iter(stepped.connections.values())).rule.eligibility.value().abs().max()) > 0
    with pytest.raises(ValueError, match="leaves the weights alone"):
        rules[0].step_sequence(rules[0].connection, x[:2], torch.zeros(2, batch, 3, dtype=torch.bool), 1.0)


@pytest.mark.parametrize("dtype", [torch.bool, torch.float32])
@pytest.mark.parametrize("shape", [(16, 6400), (1, 7), (5, 1), (64, 300)])
def test_nonzero_by_column_lists_what_torch_lists(shape, dtype):
    from snnrl.learning.adapters import _nonzero_by_column

    g = torch.Generator().manual_seed(shape[0])
    x = torch.rand(shape, generator=g) < 0.05
    x = x if dtype == torch.bool else x * torch.rand(shape, generator=g)
    expected = x.t().nonzero()
    found = _nonzero_by_column(x)
    if not expected.shape[0]:
        assert found is None
    else:
        assert found[0].dtype == found[1].dtype == torch.int64
        assert torch.equal(torch.stack(found, 1), expected)
    assert _nonzero_by_column(torch.zeros(shape, dtype=dtype)) is None


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("batch", [1, 3])
def test_factorized_compiled_rows_equal_the_torch_path_bit_for_bit(monkeypatch, batch, dtype):
    """The factorised eligibility's Numba kernel (spike rows summed per neuron, added to K and p)
    gives the same bits as embedding_bag + index_add_, through windows, rewards and renormalisation."""
    pytest.importorskip("numba")
    from snnrl.network import compiled as compiled_module

    monkeypatch.setattr(DenseAdapter, "factorize_above", 0)
    n_pre, n_post, steps = 300, 9, 400
    pre = spikes(steps, batch, n_pre, 0.05, 60)
    post = spikes(steps, batch, n_post, 0.1, 61)
    rewards = [0.7 if t % 16 == 15 else 0.0 for t in range(steps)]
    w0 = torch.randn(n_pre, n_post, generator=gen(62), dtype=dtype)
    out = {}
    for use_kernel in (True, False):
        monkeypatch.setattr(compiled_module, "_enabled", use_kernel)
        conn = Connection(Input(n_pre), Input(n_post), w0.clone(), rule=MSTDPET(nu=0.05, tc_e_trace=40.0))
        assert type(conn.rule.eligibility) is FactorizedSTDPEligibility
        conn.rule.eligibility.capacity = 16
        drive(conn, pre, post, rewards)
        el = conn.rule.eligibility
        el.flush()
        out[use_kernel] = (conn.weight.clone(), el.k.clone(), el.p.clone(), el.c.clone())
    for a, b in zip(out[True], out[False], strict=True):
        assert torch.equal(a, b)
    assert not torch.equal(out[True][0], w0)
