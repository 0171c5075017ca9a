"""Every connection type against a reference computed another way (explicit loops over synapses,
per-position products, hand examples), with batches; correlate against brute force."""

import itertools
import math

import pytest
import torch

from snnrl import (
    Connection,
    Conv1dConnection,
    Conv2dConnection,
    Conv3dConnection,
    Input,
    LIFNodes,
    LocalConnection1D,
    LocalConnection2D,
    LocalConnection3D,
    MaxPool1dConnection,
    MaxPool2dConnection,
    MaxPool3dConnection,
    MeanFieldConnection,
    RandomSparseConnection,
    SparseConnection,
)
from snnrl.network.connections import random_pairs

CONV = {1: Conv1dConnection, 2: Conv2dConnection, 3: Conv3dConnection}
LOCAL = {1: LocalConnection1D, 2: LocalConnection2D, 3: LocalConnection3D}
POOL = {1: MaxPool1dConnection, 2: MaxPool2dConnection, 3: MaxPool3dConnection}


def gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def out_size(size, k, s, p, d):
    return (size + 2 * p - d * (k - 1) - 1) // s + 1


def window_synapses(spatial, kernel, stride, padding, dilation):
    """Yield (output position, kernel offset, input position) for every in-bounds pair."""
    outs = [out_size(*a) for a in zip(spatial, kernel, stride, padding, dilation, strict=True)]
    for pos in itertools.product(*map(range, outs)):
        for off in itertools.product(*map(range, kernel)):
            idx = tuple(p * s + o * d - pd for p, o, s, d, pd in zip(pos, off, stride, dilation, padding, strict=True))
            if all(0 <= i < n for i, n in zip(idx, spatial, strict=True)):
                yield pos, off, idx


# --------------------------------------------------------------------------------- convolution
CONV_CASES = [
    # dims, c_in, c_out, spatial, kernel, stride, padding, dilation, groups
    (1, 2, 4, (11,), (3,), (2,), (1,), (1,), 2),
    (1, 3, 2, (9,), (2,), (1,), (0,), (3,), 1),
    (2, 2, 4, (7, 6), (3, 2), (2, 1), (1, 0), (1, 2), 2),
    (2, 4, 2, (5, 5), (3, 3), (1, 1), (1, 1), (1, 1), 1),
    (3, 2, 2, (4, 5, 4), (2, 3, 2), (1, 2, 1), (0, 1, 1), (2, 1, 1), 1),
]


def conv_pair(case, batch_seed=0):
    dims, c_in, c_out, spatial, kernel, stride, padding, dilation, groups = case
    out = tuple(out_size(*a) for a in zip(spatial, kernel, stride, padding, dilation, strict=True))
    src, tgt = Input(shape=(c_in, *spatial)), LIFNodes(shape=(c_out, *out))
    g = gen(batch_seed)
    w = torch.randn(c_out, c_in // groups, *kernel, generator=g)
    b = torch.randn(c_out, generator=g)
    conn = CONV[dims](src, tgt, kernel, stride, padding, dilation, groups, w, b=b)
    return conn, g


def conv_synapses(conn):
    """Yield (weight index, output index, input index) of every synapse, by explicit loops."""
    c_in, c_out, groups = conn.source.shape[0], conn.target.shape[0], conn.groups
    per_in, per_out = c_in // groups, c_out // groups
    for pos, off, idx in window_synapses(conn.source.shape[1:], conn.kernel_size, conn.stride, conn.padding,
                                         conn.dilation):
        for o in range(c_out):
            for cl in range(per_in):
                c = (o // per_out) * per_in + cl
                yield (o, cl, *off), (o, *pos), (c, *idx)


@pytest.mark.parametrize("case", CONV_CASES)
def test_conv_matches_explicit_loop(case):
    conn, g = conv_pair(case)
    s = torch.rand(3, *conn.source.shape, generator=g) < 0.4
    expected = conn.bias.view(1, -1, *([1] * case[0])).expand(3, *conn.target.shape).clone()
    x = s.float()
    for wi, oi, ii in conv_synapses(conn):
        expected[(slice(None), *oi)] += conn.weight[wi] * x[(slice(None), *ii)]
    torch.testing.assert_close(conn.compute(s), expected, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(conn.compute(x), expected, rtol=1e-5, atol=1e-5)  # real-valued input
    seq = torch.stack([s, ~s])
    per_step = torch.stack([conn.compute(s), conn.compute(~s)])
    torch.testing.assert_close(conn.compute_sequence(seq), per_step)


@pytest.mark.parametrize("case", CONV_CASES)
def test_conv_correlate_matches_brute_force(case):
    conn, g = conv_pair(case, 1)
    pre = torch.rand(2, *conn.source.shape, generator=g)
    post = torch.rand(2, *conn.target.shape, generator=g)
    expected = torch.zeros(2, *conn.weight.shape)
    for wi, oi, ii in conv_synapses(conn):
        expected[(slice(None), *wi)] += post[(slice(None), *oi)] * pre[(slice(None), *ii)]
    torch.testing.assert_close(conn.correlate(pre, post), expected, rtol=1e-5, atol=1e-5)


def test_conv_target_shape_is_validated():
    src = Input(shape=(3, 8, 8))
    with pytest.raises(ValueError, match=r"the target shape must be \(4, 3, 3\)"):
        Conv2dConnection(src, LIFNodes(shape=(4, 4, 4)), 3, stride=2)
    with pytest.raises(ValueError, match=r"needs a source of shape \(C, H, W\)"):
        Conv2dConnection(Input(64), LIFNodes(shape=(4, 6, 6)), 3)
    with pytest.raises(ValueError, match="groups=2 must divide"):
        Conv2dConnection(src, LIFNodes(shape=(4, 6, 6)), 3, groups=2)
    with pytest.raises(TypeError, match="kernel_size must be an int or a sequence of 2 ints"):
        Conv2dConnection(src, LIFNodes(shape=(4, 6, 6)), (3, 3, 3))
    with pytest.raises(ValueError, match=r"w has shape \(4, 3, 2, 2\), expected"):
        Conv2dConnection(src, LIFNodes(shape=(4, 6, 6)), 3, w=torch.zeros(4, 3, 2, 2))
    with pytest.raises(ValueError, match="the kernel spans 9 positions"):
        Conv2dConnection(src, LIFNodes(shape=(4, 1, 1)), 3, dilation=4)
    with pytest.raises(ValueError, match=r"dale has shape \(3, 8, 8\), expected \(3,\)"):
        Conv2dConnection(src, LIFNodes(shape=(4, 6, 6)), 3, dale=torch.ones(3, 8, 8, dtype=torch.bool))


def test_conv_normalize_and_mask():
    src, tgt = Input(shape=(2, 6, 6)), LIFNodes(shape=(3, 4, 4))
    mask = torch.rand(3, 2, 3, 3, generator=gen(2)) < 0.7
    conn = Conv2dConnection(src, tgt, 3, w=torch.randn(3, 2, 3, 3, generator=gen(3)), norm=2.0, mask=mask)
    torch.testing.assert_close(conn.weight.abs().sum((1, 2, 3)), torch.full((3,), 2.0))
    conn.apply_update(torch.ones(3, 2, 3, 3))
    assert (conn.weight[~mask] == 0).all()


# --------------------------------------------------------------------------------- local
LOCAL_CASES = [
    # dims, c_in, c_out, spatial, kernel, stride, padding, dilation
    (1, 2, 3, (10,), (3,), (2,), (1,), (1,)),
    (2, 2, 3, (6, 7), (3, 2), (1, 2), (1, 0), (1, 1)),
    (2, 1, 2, (7, 7), (2, 2), (2, 2), (0, 0), (2, 2)),
    (3, 2, 2, (4, 4, 5), (2, 2, 3), (2, 1, 1), (0, 1, 1), (1, 1, 1)),
]


def local_pair(case, seed=0, **kwargs):
    dims, c_in, c_out, spatial, kernel, stride, padding, dilation = case
    out = tuple(out_size(*a) for a in zip(spatial, kernel, stride, padding, dilation, strict=True))
    src, tgt = Input(shape=(c_in, *spatial)), LIFNodes(shape=(c_out, *out))
    g = gen(seed)
    w = torch.randn(c_out, *out, c_in, *kernel, generator=g)
    b = torch.randn(c_out, *out, generator=g)
    return LOCAL[dims](src, tgt, kernel, stride, padding, dilation, w, b=b, **kwargs), g


def local_synapses(conn):
    """Yield (weight index, output index, input index) of every synapse, by explicit loops."""
    c_in, c_out = conn.source.shape[0], conn.target.shape[0]
    for pos, off, idx in window_synapses(conn.source.shape[1:], conn.kernel_size, conn.stride, conn.padding,
                                         conn.dilation):
        for o in range(c_out):
            for c in range(c_in):
                yield (o, *pos, c, *off), (o, *pos), (c, *idx)


@pytest.mark.parametrize("case", LOCAL_CASES)
def test_local_matches_per_position_matmul(case):
    conn, g = local_pair(case)
    dims = case[0]
    s = torch.rand(4, *conn.source.shape, generator=g) < 0.5
    x = torch.nn.functional.pad(s.float(), [p for p in reversed(conn.padding) for _ in range(2)])
    expected = torch.empty(4, *conn.target.shape)
    for pos in itertools.product(*map(range, conn.target.shape[1:])):
        window = tuple(slice(p * st, p * st + d * (k - 1) + 1, d)
                       for p, st, k, d in zip(pos, conn.stride, conn.kernel_size, conn.dilation, strict=True))
        patch = x[(slice(None), slice(None), *window)].reshape(4, -1)  # (B, C_in * prod(kernel))
        filters = conn.weight[(slice(None), *pos)].reshape(conn.target.shape[0], -1)  # (C_out, C_in * K)
        expected[(slice(None), slice(None), *pos)] = patch @ filters.T + conn.bias[(slice(None), *pos)]
    out = conn.compute(s)
    assert out.shape == (4, *conn.target.shape)  # the batch dimension is kept
    torch.testing.assert_close(out, expected, rtol=1e-5, atol=1e-5)
    assert dims == len(conn.kernel_size)


@pytest.mark.parametrize("case", LOCAL_CASES)
def test_local_correlate_matches_brute_force(case):
    conn, g = local_pair(case, 5)
    pre = torch.rand(2, *conn.source.shape, generator=g)
    post = torch.rand(2, *conn.target.shape, generator=g)
    expected = torch.zeros(2, *conn.weight.shape)
    for wi, oi, ii in local_synapses(conn):
        expected[(slice(None), *wi)] += post[(slice(None), *oi)] * pre[(slice(None), *ii)]
    torch.testing.assert_close(conn.correlate(pre, post), expected, rtol=1e-6, atol=1e-6)


def test_local_normalize_per_target_neuron_and_errors():
    conn, _ = local_pair(LOCAL_CASES[1], norm=3.0)
    sums = conn.weight.abs().flatten(start_dim=3).sum(-1)
    torch.testing.assert_close(sums, torch.full(conn.target.shape, 3.0))
    with pytest.raises(ValueError, match=r"the target shape must be \(3, 6, 3\)"):
        LocalConnection2D(Input(shape=(2, 6, 7)), LIFNodes(shape=(3, 5, 5)), (3, 2), (1, 2), (1, 0))
    with pytest.raises(ValueError, match="b has shape"):
        LocalConnection1D(Input(shape=(1, 5)), LIFNodes(shape=(2, 3)), 3, b=torch.zeros(2))


# --------------------------------------------------------------------------------- pooling
def test_maxpool2d_spikes_hand_example():
    src, tgt = Input(shape=(1, 4, 4)), LIFNodes(shape=(1, 2, 2))
    conn = MaxPool2dConnection(src, tgt, 2)
    s = torch.zeros(2, 1, 4, 4, dtype=torch.bool)
    s[0, 0, 0, 1] = True  # top-left window
    s[0, 0, 3, 3] = True  # bottom-right window
    s[1, 0, 2, 0] = True  # bottom-left window (second batch element)
    expected = torch.tensor([[[[1.0, 0.0], [0.0, 1.0]]], [[[0.0, 0.0], [1.0, 0.0]]]])
    torch.testing.assert_close(conn.compute(s), expected)
    assert conn.precomputable


def test_maxpool_rate_follows_the_most_active_neuron():
    # one window of two neurons (A, B); B fired three times, then only A fires
    src, tgt = Input(shape=(1, 2)), LIFNodes(shape=(1, 1))
    conn = MaxPool1dConnection(src, tgt, 2, mode="rate", decay=0.1)
    assert not conn.precomputable
    b_only = torch.tensor([[[False, True]]])
    a_only = torch.tensor([[[True, False]]])
    outs = [conn.compute(x).item() for x in (b_only, b_only, b_only, a_only)]
    # rates after step 3: A = 1, B = 0.9 * (1 + 0.9 + 0.81) = 2.439: B wins, and B is silent
    assert outs == [1.0, 1.0, 1.0, 0.0]
    torch.testing.assert_close(conn.rate, torch.tensor([[[1.0, 2.439]]]))
    conn.reset_state_variables()
    assert conn.compute(a_only).item() == 1.0  # estimate forgotten: A is the most active now


def test_maxpool_rate_is_per_batch_element_and_sequence_matches_steps():
    src, tgt = Input(shape=(2, 6)), LIFNodes(shape=(2, 3))
    seq = torch.rand(8, 3, 2, 6, generator=gen(4)) < 0.4

    def fresh():
        return MaxPool1dConnection(src, tgt, 2, mode="rate", decay=0.3)

    whole = fresh().compute_sequence(seq)
    step = fresh()
    torch.testing.assert_close(whole, torch.stack([step.compute(x) for x in seq]))
    alone = fresh()  # batch element 1 on its own: its estimate does not see the others
    torch.testing.assert_close(torch.stack([alone.compute(x[1:2]) for x in seq]), whole[:, 1:2])


@pytest.mark.parametrize("dims", [1, 3])
def test_maxpool_spikes_matches_window_loop(dims):
    spatial = (7,) if dims == 1 else (4, 5, 3)
    kernel, stride, padding, dilation = (2,) * dims, (2,) * dims, (1,) * dims, (1,) * dims
    out = tuple(out_size(*a) for a in zip(spatial, kernel, stride, padding, dilation, strict=True))
    conn = POOL[dims](Input(shape=(2, *spatial)), LIFNodes(shape=(2, *out)), 2, 2, 1)
    s = torch.rand(3, 2, *spatial, generator=gen(dims)) < 0.3
    expected = torch.zeros(3, 2, *out)
    for pos, _, idx in window_synapses(spatial, kernel, stride, padding, dilation):
        cur = expected[(slice(None), slice(None), *pos)]
        expected[(slice(None), slice(None), *pos)] = torch.maximum(cur, s[(slice(None), slice(None), *idx)].float())
    torch.testing.assert_close(conn.compute(s), expected)


def test_maxpool_has_no_weights():
    conn = MaxPool2dConnection(Input(shape=(1, 4, 4)), LIFNodes(shape=(1, 2, 2)), 2)
    with pytest.raises(TypeError, match="no learnable weights"):
        conn.correlate(torch.zeros(1, 1, 4, 4), torch.zeros(1, 1, 2, 2))
    with pytest.raises(TypeError, match="no learnable weights"):
        conn.apply_update(torch.zeros(1))
    with pytest.raises(AttributeError, match="no attribute 'weight'"):
        _ = conn.weight
    with pytest.raises(ValueError, match=r"expected the pooled shape \(C, \*spatial_out\) = \(1, 2, 2\)"):
        MaxPool2dConnection(Input(shape=(1, 4, 4)), LIFNodes(shape=(1, 3, 3)), 2)
    with pytest.raises(ValueError, match="unknown mode"):
        MaxPool2dConnection(Input(shape=(1, 4, 4)), LIFNodes(shape=(1, 2, 2)), 2, mode="trace")
    with pytest.raises(ValueError, match=r"decay must be in \(0, 1\]"):
        MaxPool2dConnection(Input(shape=(1, 4, 4)), LIFNodes(shape=(1, 2, 2)), 2, mode="rate", decay=0.0)


# --------------------------------------------------------------------------------- mean field
def test_mean_field_compute_and_correlate():
    src, tgt = Input(shape=(3, 4)), LIFNodes(shape=(2, 5))
    g = gen(6)
    s = torch.rand(3, 3, 4, generator=g) < 0.5
    scalar = MeanFieldConnection(src, tgt, 0.25)
    assert scalar.weight.shape == ()
    counts = s.reshape(3, -1).sum(1).float()
    torch.testing.assert_close(scalar.compute(s), (0.25 * counts).view(3, 1, 1).expand(3, 2, 5))
    per_target = MeanFieldConnection(src, tgt, torch.randn(2, 5, generator=g))
    torch.testing.assert_close(per_target.compute(s), counts.view(3, 1, 1) * per_target.weight)
    pre, post = torch.rand(3, 3, 4, generator=g), torch.rand(3, 2, 5, generator=g)
    brute = torch.zeros(3)
    brute_t = torch.zeros(3, 2, 5)
    for i in range(12):
        for j in range(10):
            prod = pre.reshape(3, -1)[:, i] * post.reshape(3, -1)[:, j]
            brute += prod
            brute_t.view(3, -1)[:, j] += prod
    torch.testing.assert_close(scalar.correlate(pre, post), brute)
    torch.testing.assert_close(per_target.correlate(pre, post), brute_t)
    normed = MeanFieldConnection(src, tgt, -2.0, norm=3.0)
    assert normed.weight.item() == pytest.approx(-3.0 / 12)
    with pytest.raises(ValueError, match=r"expected \(\) or target.shape = \(2, 5\)"):
        MeanFieldConnection(src, tgt, torch.zeros(10))


# --------------------------------------------------------------------------------- sparse
def sparse_pair(n_pre=300, n_post=120, density=0.15, seed=0, **kwargs):
    g = gen(seed)
    dense = torch.randn(n_pre, n_post, generator=g) * (torch.rand(n_pre, n_post, generator=g) < density)
    return SparseConnection(Input(n_pre), LIFNodes(n_post), dense.to_sparse(), **kwargs), dense, g


@pytest.mark.parametrize("batch", [1, 3])
@pytest.mark.parametrize("threshold", [0.0, 1.0])  # all-synapse path / active-row path
@pytest.mark.parametrize("activity", [0.0, 0.03, 0.5])
def test_sparse_matches_dense_product(batch, threshold, activity):
    b = torch.randn(120, generator=gen(9))
    conn, dense, g = sparse_pair(b=b, sparse_threshold=threshold)
    assert conn.nnz == int((dense != 0).sum()) and conn.nnz >= 4096  # the active-row path is eligible
    s = torch.rand(batch, 300, generator=g) < activity
    torch.testing.assert_close(conn.compute(s), s.float() @ dense + b, rtol=1e-5, atol=1e-4)
    x = torch.rand(batch, 300, generator=g) * s  # real-valued activity
    torch.testing.assert_close(conn.compute(x), x @ dense + b, rtol=1e-5, atol=1e-4)


@pytest.mark.filterwarnings("ignore:Sparse CSR tensor support is in beta")
def test_sparse_input_forms_and_sorting():
    src, tgt = Input(shape=(2, 3)), LIFNodes(4)
    indices = torch.tensor([[5, 0, 3, 0, 5], [1, 2, 0, 2, 3]])  # unsorted, with a parallel pair (0, 2)
    values = torch.tensor([1.0, 2.0, 3.0, 4.0, 5.0])
    wmax = torch.tensor([9.0, 9.0, 9.0, 0.5, 9.0])  # caps the synapse (0 -> 2) with value 4
    conn = SparseConnection(src, tgt, values, indices=indices, wmax=wmax)
    assert conn.pre_index.tolist() == [0, 0, 3, 5, 5]  # stable sort by presynaptic neuron
    assert conn.post_index.tolist() == [2, 2, 0, 1, 3]
    assert conn.weight.tolist() == [2.0, 0.5, 3.0, 1.0, 5.0]
    dense = torch.zeros(6, 4)
    dense[5, 1], dense[0, 2], dense[3, 0], dense[5, 3] = 1.0, 2.5, 3.0, 5.0
    torch.testing.assert_close(conn.to_dense(), dense)
    torch.testing.assert_close(conn.to_sparse().to_dense(), dense)
    s = torch.rand(3, 2, 3) < 0.5
    torch.testing.assert_close(conn.compute(s), s.reshape(3, 6).float() @ dense)
    for w in (dense, dense.to_sparse(), dense.to_sparse_csr()):
        other = SparseConnection(src, tgt, w)
        assert other.nnz == 4
        torch.testing.assert_close(other.to_dense(), dense)
    # memory: the weight and two index lists, one entry per synapse
    assert conn.weight.shape == conn.pre_index.shape == conn.post_index.shape == (5,)


def test_sparse_correlate_normalize_and_sequence():
    conn, dense, g = sparse_pair(60, 40, 0.2, seed=3)
    pre, post = torch.rand(2, 60, generator=g), torch.rand(2, 40, generator=g)
    expected = torch.stack([pre[:, i] * post[:, j] for i, j in zip(conn.pre_index.tolist(), conn.post_index.tolist(),
                                                                    strict=True)], 1)
    torch.testing.assert_close(conn.correlate(pre, post), expected)
    seq = torch.rand(5, 2, 60, generator=g) < 0.1
    torch.testing.assert_close(conn.compute_sequence(seq), torch.stack([conn.compute(x) for x in seq]))
    normed = SparseConnection(Input(60), LIFNodes(40), dense, norm=1.5)
    sums = normed.to_dense().abs().sum(0)
    torch.testing.assert_close(sums[sums > 0], torch.full((int((sums > 0).sum()),), 1.5))


def test_sparse_state_dict_round_trip_and_dtype():
    conn, dense, g = sparse_pair(50, 30, 0.3, seed=4, b=torch.zeros(30))
    conn.apply_update(torch.randn(conn.nnz, generator=g))
    clone = SparseConnection(Input(50), LIFNodes(30), dense.to_sparse(), b=torch.zeros(30))
    clone.load_state_dict(conn.state_dict())
    s = torch.rand(2, 50, generator=g) < 0.3
    torch.testing.assert_close(clone.compute(s), conn.compute(s))
    conn.double()
    assert conn.compute(s).dtype == torch.float64 and conn.pre_index.dtype == torch.int32


def test_sparse_bad_arguments():
    src, tgt = Input(4), LIFNodes(3)
    with pytest.raises(ValueError, match="give the synapses"):
        SparseConnection(src, tgt)
    with pytest.raises(ValueError, match=r"postsynaptic indices must lie in \[0, 3\)"):
        SparseConnection(src, tgt, indices=torch.tensor([[0, 1], [2, 3]]))
    with pytest.raises(ValueError, match=r"indices must be an integer tensor of shape \(2, nnz\)"):
        SparseConnection(src, tgt, indices=torch.zeros(3, 2, dtype=torch.long))
    with pytest.raises(ValueError, match=r"w must be the \(2,\) synapse values"):
        SparseConnection(src, tgt, torch.zeros(3), indices=torch.tensor([[0, 1], [2, 0]]))
    with pytest.raises(ValueError, match=r"expected \(source.n, target.n\) = \(4, 3\)"):
        SparseConnection(src, tgt, torch.zeros(3, 4))
    with pytest.raises(ValueError, match=r"delay has shape \(2,\), expected"):
        SparseConnection(src, tgt, torch.eye(4, 3), delay=torch.ones(2, dtype=torch.long))


def test_random_sparse_connection():
    src, tgt = Input(200), LIFNodes(300)
    a = RandomSparseConnection(src, tgt, 0.05, generator=gen(0))
    b = RandomSparseConnection(src, tgt, 0.05, generator=gen(0))
    assert torch.equal(a.pre_index, b.pre_index) and torch.equal(a.weight, b.weight)  # reproducible
    n, p = 200 * 300, 0.05
    assert abs(a.nnz - n * p) < 5 * math.sqrt(n * p * (1 - p))
    flat = a.pre_index.long() * 300 + a.post_index.long()
    assert torch.equal(flat.unique(), flat)  # distinct pairs, sorted
    # every row and column is hit about equally often
    assert abs(torch.bincount(a.pre_index.long(), minlength=200).float().mean().item() - 15.0) < 1.0
    pop = LIFNodes(50)
    rec = RandomSparseConnection(pop, pop, 0.5, 0.1, allow_autapses=False, delay=(1, 4), generator=gen(1))
    assert (rec.pre_index != rec.post_index).all() and (rec.weight == 0.1).all()
    assert rec.delay.min() >= 1 and rec.delay.max() <= 4 and rec.max_delay == 4
    assert RandomSparseConnection(src, tgt, 0.0).nnz == 0
    assert RandomSparseConnection(Input(3), LIFNodes(4), 1.0).nnz == 12
    with pytest.raises(ValueError, match="connectivity must be a probability"):
        RandomSparseConnection(src, tgt, 1.5)
    with pytest.raises(ValueError, match="low <= high"):
        RandomSparseConnection(src, tgt, 0.1, delay=(3, 1))
    draws = torch.stack([torch.bincount(random_pairs(4, 5, 0.3, gen(s)), minlength=20) for s in range(400)])
    assert (draws.float().mean(0) - 0.3).abs().max() < 0.1  # each pair Bernoulli(0.3)


def test_dense_and_sparse_agree_on_the_same_synapses():
    conn, dense, g = sparse_pair(80, 50, 0.1, seed=7)
    full = Connection(Input(80), LIFNodes(50), dense)
    s = torch.rand(4, 80, generator=g) < 0.2
    torch.testing.assert_close(conn.compute(s), full.compute(s), rtol=1e-5, atol=1e-5)
    pre, post = torch.rand(4, 80, generator=g), torch.rand(4, 50, generator=g)
    corr = full.correlate(pre, post)[:, conn.pre_index.long(), conn.post_index.long()]
    torch.testing.assert_close(conn.correlate(pre, post), corr)


@pytest.mark.parametrize("batch", [1, 4])
def test_sparse_windows_with_uneven_rows(batch):
    # rows of 0, 1, 2, ... 2900 synapses, the longest last: windows of several lengths, rows split
    # over several windows, windows moved back at the end of the lists
    g = gen(30)
    degrees = torch.tensor([0, 1, 1700, 2, 0, 57, 3, 130, 1, 0, 33, 260, 5, 2900])
    n_pre, n_post = degrees.numel(), 3000
    pre = torch.repeat_interleave(torch.arange(n_pre), degrees)
    post = torch.cat([torch.randperm(n_post, generator=g)[:d] for d in degrees.tolist()])
    w = torch.randn(pre.numel(), generator=g)
    inten = torch.rand(pre.numel(), generator=g)
    delay = torch.randint(0, 3, (pre.numel(),), generator=g)
    dense_w = torch.zeros(n_pre, n_post).index_put_((pre, post), w * inten)
    conn = SparseConnection(Input(n_pre), LIFNodes(n_post), w, indices=torch.stack([pre, post]), intensity=inten,
                            sparse_threshold=1.0)
    assert conn._gather and conn.window > 1
    s = torch.rand(batch, n_pre, generator=g) < 0.5
    s[0, -1] = True  # the row that ends the lists
    x = torch.rand(batch, n_pre, generator=g) * s
    for inp in (s, x):
        torch.testing.assert_close(conn.compute(inp), inp.float() @ dense_w, rtol=1e-5, atol=1e-4)
    delayed = SparseConnection(Input(n_pre), LIFNodes(n_post), w, indices=torch.stack([pre, post]), delay=delay,
                               intensity=inten)
    seq = torch.rand(5, batch, n_pre, generator=g) < 0.5
    expected = torch.zeros(5, batch, n_post)
    for d in range(3):
        part = torch.zeros(n_pre, n_post).index_put_((pre[delay == d], post[delay == d]), (w * inten)[delay == d])
        expected[d:] += seq[: 5 - d].float() @ part
    torch.testing.assert_close(delayed.compute_sequence(seq), expected, rtol=1e-5, atol=1e-4)
    keep = torch.rand(pre.numel(), generator=g) < 0.5  # per-synapse probabilities of 0 or 1
    chance = SparseConnection(Input(n_pre), LIFNodes(n_post), w, indices=torch.stack([pre, post]),
                              probability=keep.float(), sparse_threshold=1.0)
    kept = torch.zeros(n_pre, n_post).index_put_((pre[keep], post[keep]), w[keep])
    torch.testing.assert_close(chance.compute(s), s.float() @ kept, rtol=1e-5, atol=1e-4)
