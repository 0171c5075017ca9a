"""Learning rules: equations (STDP windows, hand-computed sequences), options, state and errors."""

import math

import pytest
import torch

from snnrl import (
    Connection,
    Conv2dConnection,
    Input,
    LIFNodes,
    LocalConnection2D,
    MeanFieldConnection,
    Network,
    SparseConnection,
    SRM0Nodes,
)
from snnrl.learning import MSTDP, MSTDPET, Hebbian, LearningRule, NoOp, PostPre, Rmax, WeightDependentPostPre
from snnrl.registry import constructor_args, lookup

TWO_FACTOR = [PostPre, Hebbian, WeightDependentPostPre]
THREE_FACTOR = [MSTDP, MSTDPET]
D = math.exp(-1 / 20)  # trace decay per 1 ms step with tc = 20 ms
DE = math.exp(-1 / 25)  # eligibility decay with tc_e = 25 ms


def gen(seed):
    return torch.Generator().manual_seed(seed)


def drive(conn, pre, post, rewards):
    """Give the two Input populations these spikes, step by step, and call the rule."""
    for t in range(pre.shape[0]):
        conn.source.step(pre[t])
        conn.target.step(post[t])
        conn.rule.step(conn, rewards[t] if isinstance(rewards, list) else rewards)


def pairs(lags, t_post=60, steps=130):
    """One presynaptic neuron per lag, each spiking once at t_post - lag; one postsynaptic spike at t_post."""
    pre = torch.zeros(steps, 1, len(lags), dtype=torch.bool)
    post = torch.zeros(steps, 1, 1, dtype=torch.bool)
    for i, lag in enumerate(lags):
        pre[t_post - lag, 0, i] = True
    post[t_post, 0, 0] = True
    return pre, post


LAGS = list(range(-50, 51))  # t_post - t_pre, ms


# ------------------------------------------------------------------------- STDP windows
@pytest.mark.parametrize("additive", [False, True])
def test_postpre_stdp_window(additive):
    pre, post = pairs(LAGS)
    conn = Connection(Input(len(LAGS)), Input(1), torch.zeros(len(LAGS), 1),
                      rule=PostPre(nu=(0.3, 0.5), tc_pre=20.0, tc_post=10.0, traces_additive=additive))
    drive(conn, pre, post, None)
    dw = conn.weight[:, 0]
    for i, lag in enumerate(LAGS):
        if lag > 0:  # pre before post: potentiation, decaying with the presynaptic trace
            expected = 0.5 * math.exp(-lag / 20.0)
        elif lag < 0:  # post before pre: depression, decaying with the postsynaptic trace
            expected = -0.3 * math.exp(lag / 10.0)
        else:
            expected = 0.5 - 0.3
        assert dw[i].item() == pytest.approx(expected, rel=1e-5, abs=1e-7), lag


@pytest.mark.parametrize("cls", THREE_FACTOR)
def test_modulated_stdp_window_both_signs(cls):
    """Under a constant reward r, one pair changes w by r * zeta; MSTDPET spreads it over time via z."""
    r, nu, a_plus, a_minus = 2.0, 0.1, 1.0, -0.6
    steps = 400  # long enough for z to decay (e^{-340/25} ~ 1e-6)
    pre, post = pairs(LAGS, steps=steps)
    conn = Connection(Input(len(LAGS)), Input(1), torch.zeros(len(LAGS), 1),
                      rule=cls(nu=nu, a_plus=a_plus, a_minus=a_minus, tc_plus=20.0, tc_minus=15.0))
    drive(conn, pre, post, r)
    dw = conn.weight[:, 0]
    for i, lag in enumerate(LAGS):
        if lag > 0:
            zeta = nu * a_plus * math.exp(-lag / 20.0)
        elif lag < 0:
            zeta = nu * a_minus * math.exp(lag / 15.0)
        else:
            zeta = nu * (a_plus + a_minus)
        if cls is MSTDPET:  # dt * sum_k zeta/tc_e * DE^k over the steps from the later spike on
            t_last = 60 + max(0, -lag)
            zeta *= (1 - DE ** (steps - t_last)) / (25.0 * (1 - DE))
        assert dw[i].item() == pytest.approx(r * zeta, rel=1e-4, abs=1e-7), lag
    # potentiation for causal pairs, depression for anti-causal ones, decaying with |lag|
    assert (dw[51:] > 0).all() and (dw[:50] < 0).all()
    assert (dw[51:].diff() < 0).all() and (dw[:50].diff() < 0).all()


# ----------------------------------------------------------- hand-computed spike sequence
def hand_sequence():
    """Steps: t0 pre0 spikes; t1 post spikes; t2 pre1 spikes; t3 nothing."""
    pre = torch.tensor([[1, 0], [0, 0], [0, 1], [0, 0]], dtype=torch.bool).view(4, 1, 2)
    post = torch.tensor([[0], [1], [0], [0]], dtype=torch.bool).view(4, 1, 1)
    return pre, post


def test_mstdp_on_a_hand_computed_sequence():
    pre, post = hand_sequence()
    rewards = [5.0, 1.0, 2.0, 3.0]
    conn = Connection(Input(2), Input(1), torch.zeros(2, 1), rule=MSTDP(nu=0.5))
    drive(conn, pre, post, rewards)
    # t1: P+ = (D, 0), post spike -> zeta = nu (D, 0); t2: P- = -D, pre1 spike -> zeta = nu (0, -D)
    expected = [0.5 * 1.0 * D, 0.5 * 2.0 * -D]
    assert conn.weight[:, 0].tolist() == pytest.approx(expected, rel=1e-6)
    p_plus, p_minus = conn.rule.p_plus[0], conn.rule.p_minus[0]
    assert p_plus.tolist() == pytest.approx([D**3, D], rel=1e-6)
    assert p_minus.tolist() == pytest.approx([-(D**2)], rel=1e-6)


def test_mstdpet_on_a_hand_computed_sequence():
    pre, post = hand_sequence()
    rewards = [5.0, 1.0, 2.0, 3.0]
    conn = Connection(Input(2), Input(1), torch.zeros(2, 1), rule=MSTDPET(nu=0.5))
    drive(conn, pre, post, rewards)
    zeta1 = [0.5 * D, 0.0]
    zeta2 = [0.0, -0.5 * D]
    z1 = [x / 25 for x in zeta1]
    z2 = [DE * a + b / 25 for a, b in zip(z1, zeta2, strict=True)]
    z3 = [DE * a for a in z2]
    expected = [1.0 * a + 2.0 * b + 3.0 * c for a, b, c in zip(z1, z2, z3, strict=True)]  # dt = 1, z0 = 0
    assert conn.weight[:, 0].tolist() == pytest.approx(expected, rel=1e-5)
    assert conn.rule.eligibility.value()[0, :, 0].tolist() == pytest.approx(z3, rel=1e-5)


def test_mstdpet_weight_change_scales_with_dt():
    pre, post = hand_sequence()
    out = []
    for dt in (1.0, 0.5):
        src, tgt = Input(2), Input(1)
        src.set_dt(dt)
        tgt.set_dt(dt)
        conn = Connection(src, tgt, torch.zeros(2, 1), rule=MSTDPET(nu=0.5))
        drive(conn, pre, post, [0.0, 1.0, 0.0, 0.0])
        out.append(conn.weight[0, 0].item())
    # at t1: z = zeta/tc_e with zeta = nu e^{-dt/20}; dw = dt * r * z
    assert out[0] == pytest.approx(1.0 * 0.5 * math.exp(-1 / 20) / 25, rel=1e-6)
    assert out[1] == pytest.approx(0.5 * 0.5 * math.exp(-0.5 / 20) / 25, rel=1e-6)


# ------------------------------------------------------------------ reward and drift
@pytest.mark.parametrize("cls", [*THREE_FACTOR, Rmax])
@pytest.mark.parametrize("zero", [0.0, "tensor"])
def test_three_factor_rules_do_not_change_weights_without_reward(cls, zero):
    g = gen(0)
    net = Network()
    net.add_layer(Input(30), "X")
    net.add_layer(SRM0Nodes(5, generator=gen(1)) if cls is Rmax else LIFNodes(5), "Y")
    conn = Connection(net.layers["X"], net.layers["Y"], torch.rand(30, 5, generator=g) * 8, rule=cls(nu=1.0))
    net.add_connection(conn, "X", "Y")
    w0 = conn.weight.clone()
    reward = torch.zeros(3) if zero == "tensor" else zero
    net.run({"X": torch.rand(300, 3, 30, generator=g) < 0.2}, reward=reward)
    assert torch.equal(conn.weight, w0)
    assert net.layers["Y"].s.shape == (3, 5)
    # the eligibility did evolve: a later reward changes the weights
    net.run({"X": torch.rand(5, 3, 30, generator=g) < 0.2}, reward=1.0)
    assert not torch.equal(conn.weight, w0)


@pytest.mark.parametrize("cls", [*THREE_FACTOR, Rmax])
def test_three_factor_rules_require_a_reward(cls):
    net = Network()
    net.add_layer(Input(3), "X")
    net.add_layer(SRM0Nodes(2) if cls is Rmax else LIFNodes(2), "Y")
    net.add_connection(Connection(net.layers["X"], net.layers["Y"], rule=cls()), "X", "Y")
    with pytest.raises(ValueError, match="needs a reward"):
        net.run({"X": torch.ones(2, 1, 3, dtype=torch.bool)})


def test_per_batch_reward_modulates_each_element():
    """Batch element b's eligibility is multiplied by reward[b]: two elements with opposite
    rewards and the same spikes cancel; with reward (1, 0) half of the full change remains (mean)."""
    g = gen(2)
    pre = torch.rand(50, 1, 8, generator=g) < 0.3
    post = torch.rand(50, 1, 3, generator=g) < 0.3
    results = {}
    for name, reward in [("single", 1.0), ("cancel", torch.tensor([1.0, -1.0])), ("half", torch.tensor([1.0, 0.0]))]:
        b = 1 if name == "single" else 2
        conn = Connection(Input(8), Input(3), torch.zeros(8, 3), rule=MSTDPET(nu=1.0))
        drive(conn, pre.expand(50, b, 8), post.expand(50, b, 3), reward)
        results[name] = conn.weight.clone()
    assert results["single"].abs().sum() > 0
    torch.testing.assert_close(results["cancel"], torch.zeros(8, 3), atol=1e-7, rtol=0)
    torch.testing.assert_close(results["half"], results["single"] / 2)


# ------------------------------------------------------------------ batch reduction
ALL_RULES = [PostPre, Hebbian, WeightDependentPostPre, MSTDP, MSTDPET, Rmax]


def make_conn(cls, n_pre=12, n_post=4, batch_seed=0, conn_kwargs=None, **rule_kwargs):
    target = SRM0Nodes(n_post, generator=gen(batch_seed)) if cls is Rmax else Input(n_post)
    kwargs = {"wmin": -1.0, "wmax": 1.0} if cls is WeightDependentPostPre else {}
    kwargs.update(conn_kwargs or {})
    return Connection(Input(n_pre), target, torch.full((n_pre, n_post), 0.1), rule=cls(**rule_kwargs), **kwargs)


def run_rule(conn, pre, post, reward, rho=None):
    for t in range(pre.shape[0]):
        conn.source.step(pre[t])
        if isinstance(conn.target, SRM0Nodes):
            # a deterministic stand-in for the stochastic target: given spikes and intensity
            conn.target.__dict__["s"] = post[t]
            conn.target.__dict__["state"] = conn.target.state._replace(rho=rho.expand_as(post[t]).clone())
        else:
            conn.target.step(post[t])
        conn.rule.step(conn, reward)


@pytest.mark.parametrize("cls", ALL_RULES)
def test_batch_reduction_mean_and_sum(cls):
    g = gen(3)
    pre = torch.rand(40, 1, 12, generator=g) < 0.3
    post = torch.rand(40, 1, 4, generator=g) < 0.3
    rho = torch.full((1, 4), 0.05)
    changes = {}
    for name, batch, reduction in [("one", 1, "mean"), ("mean", 3, "mean"), ("sum", 3, "sum")]:
        conn = make_conn(cls, reduction=reduction)
        run_rule(conn, pre.expand(40, batch, 12), post.expand(40, batch, 4), 1.0, rho)
        changes[name] = conn.weight - 0.1
    assert changes["one"].abs().sum() > 0
    torch.testing.assert_close(changes["mean"], changes["one"], rtol=1e-5, atol=1e-7)
    if cls is not WeightDependentPostPre:  # soft bounds make later changes depend on the weights
        torch.testing.assert_close(changes["sum"], 3 * changes["one"], rtol=1e-5, atol=1e-7)
    else:
        assert changes["sum"].abs().sum() > changes["one"].abs().sum()


def test_reduction_validated():
    with pytest.raises(ValueError, match="reduction must be one of"):
        PostPre(reduction="average")


# -------------------------------------------------------------- options honoured by every rule
@pytest.mark.parametrize("cls", ALL_RULES)
def test_every_rule_honours_bounds_decay_and_normalization(cls):
    g = gen(4)
    pre = torch.rand(60, 2, 12, generator=g) < 0.4
    post = torch.rand(60, 2, 4, generator=g) < 0.4
    rho = torch.full((2, 4), 0.2)
    # bounds: a huge learning rate drives every weight to a bound
    conn = make_conn(cls, nu=100.0, conn_kwargs={"wmin": -0.05, "wmax": 0.15})
    run_rule(conn, pre, post, 1.0, rho)
    assert conn.weight.min() >= -0.05 and conn.weight.max() <= 0.15
    # normalisation after every update
    conn = make_conn(cls, nu=0.5, normalize=True, conn_kwargs={"norm": 2.0})
    run_rule(conn, pre, post, 1.0, rho)
    torch.testing.assert_close(conn.weight.abs().sum(0), torch.full((4,), 2.0))
    # weight decay acts on every learning step, even without any change from the rule
    conn = make_conn(cls, nu=0.0, conn_kwargs={"weight_decay": 0.01})
    run_rule(conn, pre[:10], post[:10], 0.0 if cls in (*THREE_FACTOR, Rmax) else None, rho)
    torch.testing.assert_close(conn.weight, torch.full((12, 4), 0.1 * 0.99**10))


def test_noop_changes_nothing_but_decays():
    conn = Connection(Input(3), Input(2), torch.ones(3, 2), rule=NoOp())
    drive(conn, torch.ones(5, 1, 3, dtype=torch.bool), torch.ones(5, 1, 2, dtype=torch.bool), None)
    assert torch.equal(conn.weight, torch.ones(3, 2))
    conn = Connection(Input(3), Input(2), torch.ones(3, 2), weight_decay=0.5, rule=NoOp())
    drive(conn, torch.ones(2, 1, 3, dtype=torch.bool), torch.ones(2, 1, 2, dtype=torch.bool), None)
    torch.testing.assert_close(conn.weight, torch.full((3, 2), 0.25))


def test_weight_dependent_postpre_soft_bounds():
    pre, post = pairs([5, -5])
    out = {}
    for w in (0.0, 0.5, 0.9):
        conn = Connection(Input(2), Input(1), torch.full((2, 1), w), wmin=0.0, wmax=1.0,
                          rule=WeightDependentPostPre(nu=(0.2, 0.2)))
        drive(conn, pre, post, None)
        out[w] = (conn.weight[:, 0] - w).tolist()
    # potentiation (lag +5) proportional to wmax - w, depression (lag -5) to w - wmin
    for w, (pot, dep) in out.items():
        assert pot == pytest.approx(0.2 * math.exp(-5 / 20) * (1.0 - w), rel=1e-5)
        assert dep == pytest.approx(-0.2 * math.exp(-5 / 20) * (w - 0.0), rel=1e-5, abs=1e-9)
    with pytest.raises(ValueError, match="finite weight bounds"):
        Connection(Input(2), Input(1), rule=WeightDependentPostPre())


def test_hebbian_potentiates_both_orders():
    pre, post = pairs([7, -7])
    conn = Connection(Input(2), Input(1), torch.zeros(2, 1), rule=Hebbian(nu=(0.1, 0.2)))
    drive(conn, pre, post, None)
    assert conn.weight[:, 0].tolist() == pytest.approx([0.2 * math.exp(-7 / 20), 0.1 * math.exp(-7 / 20)],
                                                       rel=1e-5)


# ------------------------------------------------------------------------ state and modes
@pytest.mark.parametrize("cls", [PostPre, MSTDP, MSTDPET])
def test_learning_off_in_eval_mode(cls):
    g = gen(5)
    net = Network()
    net.add_layer(Input(20), "X")
    net.add_layer(LIFNodes(4), "Y")
    conn = Connection(net.layers["X"], net.layers["Y"], torch.rand(20, 4, generator=g) * 10, rule=cls(nu=0.5))
    net.add_connection(conn, "X", "Y")
    x = torch.rand(100, 1, 20, generator=g) < 0.3
    w0 = conn.weight.clone()
    net.train(False)
    net.run({"X": x}, reward=1.0)
    assert torch.equal(conn.weight, w0)
    net.train(True)
    net.run({"X": x}, reward=1.0)
    assert not torch.equal(conn.weight, w0)


@pytest.mark.parametrize("cls", [PostPre, MSTDP, MSTDPET, Rmax])
def test_state_follows_batch_size_and_resets_per_element(cls):
    g = gen(6)
    n_pre, n_post = 10, 3
    conn = make_conn(cls, n_pre, n_post, nu=0.5)
    rho = torch.full((1, n_post), 0.1)
    pre = torch.rand(30, 3, n_pre, generator=g) < 0.3
    post = torch.rand(30, 3, n_post, generator=g) < 0.3
    assert conn.rule.batch_size == 1
    run_rule(conn, pre, post, 0.0, rho)
    assert conn.rule.batch_size == 3

    def state(rule):
        if isinstance(rule, MSTDPET):
            return [*rule.eligibility.traces(), rule.eligibility.value()]
        return [buf.clone() for buf in rule._state()]

    before = state(conn.rule)
    assert all(s.shape[0] == 3 for s in before) and any(s[1].abs().sum() > 0 for s in before)
    conn.rule.reset_state_variables(torch.tensor([False, True, False]))
    after = state(conn.rule)
    for b, a in zip(before, after, strict=True):
        assert a[1].abs().sum() == 0
        torch.testing.assert_close(a[[0, 2]], b[[0, 2]])
    conn.reset_state_variables()  # the connection's reset clears the rule (all elements)
    assert all(s.abs().sum() == 0 for s in state(conn.rule))
    with pytest.raises(ValueError, match="mask must be a bool tensor of shape"):
        conn.rule.reset_state_variables(torch.tensor([True, False]))


def test_rule_state_is_in_state_dict_and_follows_dtype():
    conn = Connection(Input(5), LIFNodes(2), rule=MSTDP())
    keys = set(conn.state_dict())
    assert {"rule.p_plus", "rule.p_minus"} <= keys
    conn = Connection(Input(5), LIFNodes(2), rule=MSTDPET())
    assert any(k.startswith("rule.eligibility.") for k in conn.state_dict())
    conn.double()
    assert conn.rule.eligibility.value().dtype == torch.float64


def test_network_reset_clears_traces():
    net = Network()
    net.add_layer(Input(5), "X")
    net.add_layer(LIFNodes(2), "Y")
    conn = Connection(net.layers["X"], net.layers["Y"], torch.full((5, 2), 20.0), rule=MSTDPET())
    net.add_connection(conn, "X", "Y")
    net.run({"X": torch.ones(10, 1, 5, dtype=torch.bool)}, reward=0.0)
    assert conn.rule.eligibility.value().abs().sum() > 0
    net.reset_state_variables()
    assert conn.rule.eligibility.value().abs().sum() == 0
    assert all(t.abs().sum() == 0 for t in conn.rule.eligibility.traces())


# ------------------------------------------------------------ every rule on every connection
def connection_zoo():
    g = gen(7)
    img = Input(shape=(2, 6, 6))
    return [
        ("dense", lambda tgt: Connection(img, tgt(shape=(2, 3, 3)), torch.rand(72, 18, generator=g))),
        ("sparse", lambda tgt: SparseConnection(img, tgt(shape=(2, 3, 3)),
                                                torch.rand(72, 18, generator=g) * (torch.rand(72, 18) < 0.3))),
        ("conv", lambda tgt: Conv2dConnection(img, tgt(shape=(3, 4, 4)), 3, generator=g)),
        ("local", lambda tgt: LocalConnection2D(img, tgt(shape=(2, 2, 2)), 3, stride=3, generator=g)),
        ("meanfield", lambda tgt: MeanFieldConnection(img, tgt(shape=(2, 3, 3)), 0.5)),
    ]


@pytest.mark.parametrize("cls", ALL_RULES)
@pytest.mark.parametrize("kind", ["dense", "sparse", "conv", "local", "meanfield"])
def test_every_rule_on_every_connection_type(cls, kind):
    g = gen(8)
    factory = dict(connection_zoo())[kind]

    def target(shape):
        return SRM0Nodes(shape=shape, generator=gen(9)) if cls is Rmax else LIFNodes(shape=shape, thresh=-64.0)

    conn = factory(target)
    if cls is WeightDependentPostPre:
        conn.wmin, conn.wmax = -5.0, 5.0
    conn.set_rule(cls(nu=0.05))
    net = Network()
    net.add_layer(conn.source, "X")
    net.add_layer(conn.target, "Y")
    net.add_connection(conn, "X", "Y")
    w0 = conn.weight.clone()
    x = torch.rand(30, 2, *conn.source.shape, generator=g) < 0.3
    net.run({"X": x}, reward=torch.tensor([1.0, -0.5]))
    assert net.layers["Y"].s.shape[0] == 2
    assert torch.isfinite(conn.weight).all()
    assert not torch.equal(conn.weight, w0), "the rule did not change any weight"


@pytest.mark.parametrize("cls", [PostPre, MSTDP, MSTDPET])
def test_sparse_connection_with_all_synapses_learns_like_dense(cls):
    """The generic path (SparseConnection.correlate) gives the dense fast path's weights."""
    g = gen(10)
    w0 = torch.rand(15, 6, generator=g) + 0.1
    pre = torch.rand(80, 2, 15, generator=g) < 0.2
    post = torch.rand(80, 2, 6, generator=g) < 0.2
    rewards = [torch.tensor([1.0, -0.3]) if t % 4 == 0 else 0.0 for t in range(80)]
    dense = Connection(Input(15), Input(6), w0, rule=cls(nu=0.2))
    sparse = SparseConnection(Input(15), Input(6), w0, rule=cls(nu=0.2))
    drive(dense, pre, post, rewards)
    drive(sparse, pre, post, rewards)
    torch.testing.assert_close(sparse.to_dense(), dense.weight, rtol=1e-5, atol=1e-6)


# ------------------------------------------------------------------------------ errors
def test_bad_arguments_name_the_value():
    with pytest.raises(ValueError, match=r"nu must be a number or a pair \(nu_pre, nu_post\), got \(1, 2, 3\)"):
        PostPre(nu=(1, 2, 3))
    with pytest.raises(ValueError, match="nu must be a finite number, got nan"):
        MSTDP(nu=float("nan"))
    with pytest.raises(ValueError, match="tc_plus must be > 0, got 0"):
        MSTDPET(tc_plus=0)
    with pytest.raises(ValueError, match="tc_e_trace must be > 0, got -1"):
        MSTDPET(tc_e_trace=-1)
    with pytest.raises(ValueError, match="a_minus must be a finite number, got 'x'"):
        MSTDP(a_minus="x")
    with pytest.raises(ValueError, match="Rmax takes one learning rate"):
        Rmax(nu=(0.1, 0.2))
    with pytest.raises(ValueError, match="normalize must be a bool"):
        PostPre(normalize=1)
    with pytest.raises(ValueError, match="needs a connection with norm"):
        Connection(Input(2), Input(2), rule=PostPre(normalize=True))
    with pytest.raises(ValueError, match=r"firing intensity 'rho'.*LIFNodes"):
        Connection(Input(2), LIFNodes(2), rule=Rmax())
    with pytest.raises(TypeError, match="unexpected keyword"):
        MSTDPET(tc_e=25.0)


def test_one_rule_per_connection():
    rule = MSTDP()
    Connection(Input(2), Input(2), rule=rule)
    with pytest.raises(ValueError, match="already bound to another connection"):
        Connection(Input(2), Input(2), rule=rule)


def test_bad_reward_shape():
    conn = Connection(Input(2), Input(2), rule=MSTDPET())
    conn.source.step(torch.ones(1, 2, dtype=torch.bool))
    conn.target.step(torch.ones(1, 2, dtype=torch.bool))
    expected = r"reward must be a number, a \(1,\) tensor or a per-neuron \(1, 2\) tensor, got shape \(3,\)"
    with pytest.raises(ValueError, match=expected):
        conn.rule.step(conn, torch.ones(3))


@pytest.mark.parametrize("cls", [NoOp, *ALL_RULES])
def test_rules_are_registered_with_their_arguments(cls):
    assert lookup("rule", cls.__name__) is cls
    rule = cls()
    assert isinstance(rule, LearningRule)
    args = constructor_args(rule)
    assert cls(**args).extra_repr() == rule.extra_repr()
