"""Features that compose across connection types: Dale's rule, synaptic delays, transmission
probability, intensity, masks and bounds; and their place in the network (no precomputation
where the output is not a pure function of the current step, several connections between the
same layers, a learning rule written only against ``correlate`` + ``apply_update``)."""

import itertools

import pytest
import torch

from snnrl import (
    Connection,
    Conv1dConnection,
    Conv2dConnection,
    Input,
    LIFNodes,
    LocalConnection1D,
    LocalConnection2D,
    MaxPool1dConnection,
    McCullochPitts,
    MeanFieldConnection,
    Monitor,
    Network,
    RandomSparseConnection,
    SparseConnection,
)
from snnrl.learning.base import LearningRule


def gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


# ------------------------------------------------------------------------------ Dale's rule
def dale_cases():
    """name -> () -> (connection, +-1 sign of the presynaptic unit of every weight)."""
    d12 = torch.rand(12, generator=gen(0)) < 0.5
    d12[:2] = torch.tensor([True, False])

    def dense():
        conn = Connection(Input(12), LIFNodes(7), torch.randn(12, 7, generator=gen(1)), dale=d12)
        return conn, torch.where(d12, 1.0, -1.0).view(-1, 1).expand(12, 7)

    def sparse():
        conn = RandomSparseConnection(Input(12), LIFNodes(9), 0.4, dale=d12, generator=gen(2))
        return conn, torch.where(d12, 1.0, -1.0)[conn.pre_index.long()]

    def conv():
        dale = torch.tensor([True, False, False, True])
        conn = Conv2dConnection(Input(shape=(4, 6, 6)), LIFNodes(shape=(4, 4, 4)), 3, groups=2, dale=dale,
                                w=torch.randn(4, 2, 3, 3, generator=gen(3)))
        unit = torch.tensor([[(o // 2) * 2 + c for c in range(2)] for o in range(4)])
        return conn, torch.where(dale[unit], 1.0, -1.0).view(4, 2, 1, 1).expand(4, 2, 3, 3)

    def local_channel():
        dale = torch.tensor([False, True])
        conn = LocalConnection1D(Input(shape=(2, 7)), LIFNodes(shape=(3, 5)), 3, dale=dale,
                                 w=torch.randn(3, 5, 2, 3, generator=gen(4)))
        return conn, torch.where(dale, 1.0, -1.0).view(1, 1, 2, 1).expand(3, 5, 2, 3)

    def local_neuron():
        dale = torch.rand(2, 5, 5, generator=gen(5)) < 0.5
        conn = LocalConnection2D(Input(shape=(2, 5, 5)), LIFNodes(shape=(2, 3, 3)), 3, stride=2, padding=1,
                                 dale=dale, w=torch.randn(2, 3, 3, 2, 3, 3, generator=gen(6)))
        sign = torch.ones(2, 3, 3, 2, 3, 3)  # weights that read the padding count as excitatory
        for o, y, x, c, ky, kx in itertools.product(*map(range, sign.shape)):
            iy, ix = 2 * y + ky - 1, 2 * x + kx - 1
            if 0 <= iy < 5 and 0 <= ix < 5:
                sign[o, y, x, c, ky, kx] = 1.0 if dale[c, iy, ix] else -1.0
        return conn, sign

    def mean_field():
        conn = MeanFieldConnection(Input(5), LIFNodes(4), -0.3, dale=torch.tensor(False))
        return conn, torch.tensor(-1.0)

    return {"dense": dense, "sparse": sparse, "conv": conv, "local_channel": local_channel,
            "local_neuron": local_neuron, "mean_field": mean_field}


@pytest.mark.parametrize("name", list(dale_cases()))
def test_dale_rule_holds_after_updates_and_only_clamps_wrong_signs(name):
    conn, sign = dale_cases()[name]()
    assert ((conn.weight * sign) >= 0).all()  # initial weights obey the rule
    g = gen(7)
    for _ in range(6):
        before = conn.weight.detach().clone()
        dw = torch.randn(conn.weight.shape, generator=g) * 0.5
        conn.apply_update(dw)
        raw = before + dw
        expected = torch.where(sign > 0, raw.clamp(min=0.0), raw.clamp(max=0.0))
        assert torch.equal(conn.weight, expected)  # clamped to the sign; every other weight untouched
        assert ((conn.weight * sign) >= 0).all()
    changed = conn.weight != 0
    assert changed.any()  # BindsNET's rule zeroes every weight


def test_dale_per_presynaptic_neuron_keeps_one_sign_and_default_init_takes_it():
    dale = torch.tensor([True, False, True, False, False])
    conn = Connection(Input(5), LIFNodes(30), dale=dale, generator=gen(8))
    assert (conn.weight[dale] > 0).all() and (conn.weight[~dale] < 0).all()  # U(0, 1) with the sign
    g = gen(9)
    for _ in range(10):
        conn.apply_update(torch.randn(5, 30, generator=g))
        for i in range(5):
            row = conn.weight[i]
            assert (row >= 0).all() if dale[i] else (row <= 0).all()
    sparse = SparseConnection(Input(shape=(1, 5)), LIFNodes(3), torch.ones(5, 3), dale=dale.view(1, 5))
    assert (sparse.to_dense()[~dale] == 0).all() and (sparse.to_dense()[dale] == 1).all()
    with pytest.raises(TypeError, match="dale must be a bool tensor"):
        Connection(Input(5), LIFNodes(3), dale=torch.ones(5))
    with pytest.raises(ValueError, match=r"dale has shape \(3,\), expected \(5,\)"):
        Connection(Input(5), LIFNodes(3), dale=torch.ones(3, dtype=torch.bool))


# ------------------------------------------------------------------------------ delays
def first_spikes(delay, steps=10, spike_steps=(0,), w=None, n_pre=1, n_post=1, sparse=False, run=True):
    """Input -> McCullochPitts(thresh 0.5): the steps at which each target neuron spikes."""
    net = Network()
    net.add_layer(Input(n_pre), "X")
    net.add_layer(McCullochPitts(n_post, thresh=0.5), "Y")
    w = torch.ones(n_pre, n_post) if w is None else w
    cls = SparseConnection if sparse else Connection
    net.add_connection(cls(net.layers["X"], net.layers["Y"], w, delay=delay), "X", "Y")
    net.add_monitor(Monitor(net.layers["Y"], ["s"]), "Y")
    x = torch.zeros(steps, 1, n_pre, dtype=torch.bool)
    for t, i in spike_steps if isinstance(spike_steps[0], tuple) else [(t, 0) for t in spike_steps]:
        x[t, 0, i] = True
    if run:
        net.run({"X": x})
    else:
        for t in range(steps):
            net.step({"X": x[t]})
    s = net.monitors["Y"].get("s")[:, 0]
    return [s[:, j].nonzero().flatten().tolist() for j in range(n_post)]


@pytest.mark.parametrize("sparse", [False, True])
@pytest.mark.parametrize("run", [True, False])
def test_a_spike_arrives_exactly_d_steps_later(sparse, run):
    base = first_spikes(0, sparse=sparse, run=run)
    assert base == [[1]]  # synchronous update: one step from X to Y
    for d in (1, 2, 5):
        assert first_spikes(d, sparse=sparse, run=run) == [[1 + d]]
    assert first_spikes(3, spike_steps=(0, 1, 4), sparse=sparse, run=run) == [[4, 5, 8]]


@pytest.mark.parametrize("sparse", [False, True])
def test_per_synapse_delays_each_synapse_its_own(sparse):
    delays = torch.tensor([[0, 2, 5], [1, 3, 0]])
    w = torch.ones(2, 3)
    spikes = ((0, 0), (3, 1))  # pre neuron 0 at step 0, pre neuron 1 at step 3
    expected = [sorted({1 + delays[0, j].item(), 4 + delays[1, j].item()}) for j in range(3)]
    d = delays if not sparse else delays.reshape(-1)  # sparse: one delay per stored synapse
    got = first_spikes(d, steps=12, spike_steps=spikes, w=w, n_pre=2, n_post=3, sparse=sparse)
    assert got == expected


def delayed_pairs():
    """name -> (connection without delay, same with delay 3, source shape)."""
    g = gen(10)
    w_conv = torch.randn(3, 2, 3, generator=g)
    w_local = torch.randn(3, 4, 2, 3, generator=g)
    w_dense = torch.randn(12, 5, generator=g)
    return {
        "dense": lambda d: Connection(Input(12), LIFNodes(5), w_dense, b=torch.ones(5), delay=d),
        "sparse": lambda d: SparseConnection(Input(12), LIFNodes(5), w_dense * (w_dense > 0), delay=d),
        "conv": lambda d: Conv1dConnection(Input(shape=(2, 6)), LIFNodes(shape=(3, 4)), 3, w=w_conv,
                                           b=torch.ones(3), delay=d),
        "local": lambda d: LocalConnection1D(Input(shape=(2, 6)), LIFNodes(shape=(3, 4)), 3, w=w_local, delay=d),
        "mean_field": lambda d: MeanFieldConnection(Input(12), LIFNodes(5), 0.5, delay=d),
        "pool_rate": lambda d: MaxPool1dConnection(Input(shape=(2, 6)), LIFNodes(shape=(2, 3)), 2, mode="rate",
                                                   delay=d),
    }


@pytest.mark.parametrize("name", list(delayed_pairs()))
def test_delay_shifts_the_output_of_every_type(name):
    make = delayed_pairs()[name]
    plain, delayed, chunked = make(0), make(3), make(3)
    assert not delayed.precomputable and delayed.max_delay == 3
    shape = plain.source.shape
    seq = torch.rand(9, 2, *shape, generator=gen(11)) < 0.4
    zeros = torch.zeros_like(seq[:3])
    expected = torch.stack([plain.compute(x) for x in torch.cat([zeros, seq[:-3]])])
    got = torch.stack([delayed.compute(x) for x in seq])
    torch.testing.assert_close(got, expected)
    # compute_sequence, in two calls, continues the same delay line
    torch.testing.assert_close(torch.cat([chunked.compute_sequence(seq[:4]), chunked.compute_sequence(seq[4:])]),
                               expected)
    delayed.reset_state_variables()
    plain.reset_state_variables()
    torch.testing.assert_close(delayed.compute(seq[0]), plain.compute(torch.zeros_like(seq[0])))
    # a new batch size starts an empty delay line
    torch.testing.assert_close(delayed.compute(seq[0, :1]), plain.compute(torch.zeros_like(seq[0, :1])))


@pytest.mark.parametrize("sparse", [False, True])
def test_per_synapse_delays_sequence_and_batch(sparse):
    g = gen(12)
    w = torch.randn(40, 30, generator=g) * (torch.rand(40, 30, generator=g) < 0.5)
    delays = torch.randint(0, 4, (40, 30), generator=g)
    if sparse:
        conn = SparseConnection(Input(40), LIFNodes(30), w, delay=delays[w != 0], b=torch.ones(30))
    else:
        conn = Connection(Input(40), LIFNodes(30), w, delay=delays, b=torch.ones(30))
    seq = torch.rand(8, 3, 40, generator=g) < 0.3
    # reference: input at t sums w_ij * s_{t - d_ij}
    expected = torch.ones(8, 3, 30)
    for t in range(8):
        for d in range(4):
            if t - d >= 0:
                expected[t] += seq[t - d].float() @ (w * (delays == d))
    got = torch.stack([conn.compute(x) for x in seq])
    torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-5)
    conn.reset_state_variables()
    torch.testing.assert_close(conn.compute_sequence(seq), expected, rtol=1e-5, atol=1e-5)
    conn.reset_state_variables()
    torch.testing.assert_close(conn.compute(seq[0].float() * 0.5), 1 + 0.5 * (seq[0].float() @ (w * (delays == 0))))


def test_bad_delays():
    src, tgt = Input(3), LIFNodes(2)
    with pytest.raises(ValueError, match=r"delay must be an int >= 0"):
        Connection(src, tgt, delay=-1)
    with pytest.raises(ValueError, match="delays must be >= 0"):
        Connection(src, tgt, delay=torch.tensor([[0, 1], [1, -2], [0, 0]]))
    with pytest.raises(TypeError, match="integer tensor"):
        Connection(src, tgt, delay=torch.zeros(3, 2))
    with pytest.raises(ValueError, match="supports only a per-connection delay"):
        Conv1dConnection(Input(shape=(1, 4)), LIFNodes(shape=(1, 2)), 3, delay=torch.zeros(1, 1, 3, dtype=torch.long))


# ------------------------------------------------------------------------------ transmission
@pytest.mark.parametrize("sparse", [False, True])
def test_transmission_probability(sparse):
    g = gen(13)
    w = torch.rand(200, 50, generator=g) + 0.5
    s = torch.rand(4, 200, generator=g) < 0.5

    def make(p, seed=0, **kwargs):
        cls = SparseConnection if sparse else Connection
        return cls(Input(200), LIFNodes(50), w, probability=p, b=torch.ones(50), generator=gen(seed), **kwargs)

    exact = s.float() @ w + 1
    torch.testing.assert_close(make(1.0).compute(s), exact, rtol=1e-5, atol=1e-4)
    torch.testing.assert_close(make(0.0).compute(s), torch.ones(4, 50))
    pattern = torch.rand(200, 50, generator=g) < 0.5  # per-synapse probabilities of 0 or 1
    p = pattern.float() if not sparse else pattern.float().reshape(-1)
    torch.testing.assert_close(make(p).compute(s), s.float() @ (w * pattern) + 1, rtol=1e-5, atol=1e-4)
    a, b = make(0.3, seed=1), make(0.3, seed=1)
    assert a.stochastic and not a.precomputable
    outs = torch.stack([a.compute(s) for _ in range(40)])
    torch.testing.assert_close(outs, torch.stack([b.compute(s) for _ in range(40)]))  # same seed, same draws
    mean = (outs - 1).mean(0)
    assert ((mean / (s.float() @ w)) - 0.3).abs().max() < 0.08
    assert not torch.equal(outs[0], outs[1])  # fresh draws every step
    x = torch.rand(4, 200, generator=g)  # real-valued activity
    torch.testing.assert_close(make(1.0).compute(x), x @ w + 1, rtol=1e-5, atol=1e-4)
    with pytest.raises(ValueError, match=r"probability must be in \[0, 1\]"):
        make(1.5)


@pytest.mark.parametrize("sparse", [False, True])
@pytest.mark.parametrize("n_pre", [20, 400])  # small: dense product; large: active-row paths
def test_intensity_scales_transmission_not_bias(sparse, n_pre):
    g = gen(14)
    w = torch.randn(n_pre, 60, generator=g)
    scale = torch.rand(n_pre, 60, generator=g) * 2
    s = torch.rand(3, n_pre, generator=g) < 0.05
    cls = SparseConnection if sparse else Connection
    for inten in (0.5, scale if not sparse else scale.reshape(-1)):
        conn = cls(Input(n_pre), LIFNodes(60), w, intensity=inten, b=torch.ones(60))
        full = inten if isinstance(inten, float) else scale
        torch.testing.assert_close(conn.compute(s), s.float() @ (w * full) + 1, rtol=1e-5, atol=1e-4)
        conn.apply_update(torch.ones_like(conn.weight))
        assert torch.equal(torch.as_tensor(conn.intensity), torch.as_tensor(inten))  # learning changes w only
    per_post = Connection(Input(n_pre), LIFNodes(60), w, intensity=torch.full((60,), 2.0), probability=1.0)
    torch.testing.assert_close(per_post.compute(s), s.float() @ (2 * w), rtol=1e-5, atol=1e-4)
    with pytest.raises(ValueError, match="intensity has shape"):
        Connection(Input(n_pre), LIFNodes(60), intensity=torch.ones(7))


def test_sparse_mask_and_tensor_bounds():
    g = gen(15)
    structure = RandomSparseConnection(Input(30), LIFNodes(20), 0.3, generator=g)
    mask = torch.rand(structure.nnz, generator=g) < 0.5
    wmax = torch.rand(structure.nnz, generator=g)
    conn = SparseConnection(Input(30), LIFNodes(20), structure.weight.detach(), indices=structure.indices,
                            mask=mask, wmin=0.0, wmax=wmax)
    conn.apply_update(torch.full((conn.nnz,), 5.0))
    assert (conn.weight[~mask] == 0).all()
    torch.testing.assert_close(conn.weight[mask], wmax[mask])


# ------------------------------------------------------------------------------ in the network
def test_precomputable_connections():
    src, tgt = Input(10), LIFNodes(4)
    assert Connection(src, tgt).precomputable
    assert not Connection(src, tgt, delay=2).precomputable
    assert not Connection(src, tgt, probability=0.5).precomputable
    assert Connection(src, tgt, delay=torch.zeros(10, 4, dtype=torch.long)).precomputable  # all zero: no delay
    assert not Connection(src, tgt, delay=torch.ones(10, 4, dtype=torch.long)).precomputable
    pool = Input(shape=(1, 4))
    assert MaxPool1dConnection(pool, LIFNodes(shape=(1, 2)), 2).precomputable
    assert not MaxPool1dConnection(pool, LIFNodes(shape=(1, 2)), 2, mode="rate").precomputable


@pytest.mark.parametrize("kind", ["stochastic", "delayed", "per_synapse_delay", "pool_rate"])
def test_run_equals_step_for_stateful_connections(kind):
    x = torch.rand(30, 2, 64, generator=gen(16)) < 0.2

    pool = kind == "pool_rate"

    def build():
        net = Network()
        net.add_layer(Input(shape=(4, 16) if pool else (64,)), "X")
        net.add_layer(LIFNodes(shape=(4, 4) if pool else (16,)), "Y")
        w = torch.rand(64, 16, generator=gen(17)) * 0.5
        src, tgt = net.layers["X"], net.layers["Y"]
        if kind == "stochastic":
            conn = Connection(src, tgt, w, probability=0.5, generator=gen(18))
        elif kind == "delayed":
            conn = SparseConnection(src, tgt, w, delay=3)
        elif kind == "per_synapse_delay":
            conn = Connection(src, tgt, w, delay=torch.randint(0, 5, (64, 16), generator=gen(19)))
        else:
            conn = MaxPool1dConnection(src, tgt, 4, mode="rate")
        net.add_connection(conn, "X", "Y")
        net.add_monitor(Monitor(net.layers["Y"], ["v"]), "Y")
        return net

    a, b = build(), build()
    inputs = x.view(30, 2, 4, 16) if pool else x
    a.run({"X": inputs})
    for t in range(30):
        b.step({"X": inputs[t]})
    torch.testing.assert_close(a.monitors["Y"].get("v"), b.monitors["Y"].get("v"))
    assert a.monitors["Y"].get("v").std() > 0


def test_several_connections_between_the_same_layers():
    net = Network()
    net.add_layer(Input(20), "X")
    net.add_layer(McCullochPitts(5, thresh=0.5), "Y")
    src, tgt = net.layers["X"], net.layers["Y"]
    net.add_connection(Connection(src, tgt, torch.ones(20, 5)), "X", "Y", name="exc")
    net.add_connection(SparseConnection(src, tgt, -2 * torch.eye(20, 5)), "X", "Y", name="inh")
    net.add_connection(Connection(src, tgt, torch.ones(20, 5), delay=2), "X", "Y", name="late")
    assert set(net.connections) == {"exc", "inh", "late"}
    x = torch.zeros(5, 1, 20, dtype=torch.bool)
    x[0, 0, :3] = True  # 3 excitatory inputs; neurons 0-2 also get -2 from "inh"
    net.add_monitor(Monitor(tgt, ["s"]), "Y")
    net.run({"X": x})
    s = net.monitors["Y"].get("s")[:, 0]
    assert s[1].tolist() == [True, True, True, True, True]  # 3 - 2 = 1 >= 0.5 and 3 >= 0.5
    assert s[3].tolist() == [True] * 5  # the delayed copy arrives 2 steps later


class Hebbian(LearningRule):
    """A rule that knows nothing of connection classes: dw = nu * sum_b correlate(pre_b, post_b)."""

    def __init__(self, nu: float = 0.01) -> None:
        super().__init__()
        self.nu = nu

    def step(self, connection, reward):
        pre = connection.source.s.float()
        post = connection.target.s.float()
        connection.apply_update(self.nu * connection.correlate(pre, post).sum(0))


def learnable_connections(src_shape, tgt_shape):
    return {
        "dense": lambda s, t: Connection(s, t, wmin=0.0, wmax=1.0, rule=Hebbian()),
        "sparse": lambda s, t: RandomSparseConnection(s, t, 0.5, wmin=0.0, wmax=1.0, rule=Hebbian(),
                                                      generator=gen(20)),
        "conv": lambda s, t: Conv2dConnection(s, t, 3, padding=1, wmin=0.0, wmax=1.0, rule=Hebbian()),
        "local": lambda s, t: LocalConnection2D(s, t, 3, padding=1, wmin=0.0, wmax=1.0, rule=Hebbian()),
        "mean_field": lambda s, t: MeanFieldConnection(s, t, 0.1, rule=Hebbian()),
    }


@pytest.mark.parametrize("name", list(learnable_connections(None, None)))
def test_one_rule_learns_on_every_connection_type(name):
    net = Network()
    net.add_layer(Input(shape=(2, 5, 5)), "X")
    net.add_layer(McCullochPitts(shape=(3, 5, 5), thresh=0.2), "Y")
    conn = learnable_connections(None, None)[name](net.layers["X"], net.layers["Y"])
    net.add_connection(conn, "X", "Y")
    before = conn.weight.detach().clone()
    net.run({"X": torch.rand(6, 2, 2, 5, 5, generator=gen(21)) < 0.5})
    assert (conn.weight != before).any()
    assert conn.weight.shape == before.shape


def test_pooling_refuses_a_rule():
    with pytest.raises(TypeError, match="cannot take a learning rule"):
        MaxPool1dConnection(Input(shape=(1, 4)), LIFNodes(shape=(1, 2)), 2, rule=Hebbian())
