"""Dense connection: propagation paths, constraints and the learning interface."""

import math

import pytest
import torch

from snnrl import Connection, Input, LIFNodes, registry
from snnrl.network import AbstractConnection, Plasticity
from snnrl.network.connections.base import WeightLayout


def pair(n_pre: int, n_post: int):
    return Input(n_pre), LIFNodes(n_post)


@pytest.mark.parametrize("batch", [1, 3])
@pytest.mark.parametrize("density", [0.0, 0.02, 0.1, 0.6])
def test_sparse_gather_matches_dense_product(batch, density):
    g = torch.Generator().manual_seed(0)
    src, tgt = pair(400, 80)  # 32k synapses: the gather path is eligible
    w = torch.randn(400, 80, generator=g)
    conn = Connection(src, tgt, w, b=torch.randn(80, generator=g))
    s = torch.rand(batch, 400, generator=g) < density
    expected = s.float() @ w + conn.bias
    torch.testing.assert_close(conn.compute(s), expected, rtol=1e-5, atol=1e-4)
    # real-valued sources take the dense path
    torch.testing.assert_close(conn.compute(s.float()), expected, rtol=1e-5, atol=1e-4)



def test_dense_input_shortcut_gives_the_same_bits_as_a_fresh_connection():
    # After a dense bool input the next one is counted before nonzero(); the product chosen (and
    # so every bit of the result) must be the one a connection without that memory chooses.
    g = torch.Generator().manual_seed(3)
    src, tgt = pair(400, 80)
    w = torch.randn(400, 80, generator=g)
    conn = Connection(src, tgt, w.clone(), sparse_threshold=0.2)
    for density in (0.5, 0.6, 0.05, 0.5, 0.19, 0.21, 0.0, 0.9, 0.9, 0.01):
        s = torch.rand(3, 400, generator=g) < density
        fresh = Connection(src, tgt, w.clone(), sparse_threshold=0.2)
        assert torch.equal(conn.compute(s), fresh.compute(s))
        assert conn._was_dense == (int(s.count_nonzero()) > 0.2 * s.numel())

def test_compute_sequence_matches_per_step():
    g = torch.Generator().manual_seed(1)
    src, tgt = pair(300, 60)
    conn = Connection(src, tgt, torch.randn(300, 60, generator=g))
    seq = torch.rand(7, 2, 300, generator=g) < 0.05
    per_step = torch.stack([conn.compute(seq[t]) for t in range(7)])
    torch.testing.assert_close(conn.compute_sequence(seq), per_step)


def test_multidimensional_shapes():
    src, tgt = Input(shape=(2, 4, 4)), LIFNodes(shape=(3, 2))
    w = torch.randn(32, 6)
    conn = Connection(src, tgt, w)
    s = torch.rand(5, 2, 4, 4) < 0.3
    out = conn.compute(s)
    assert out.shape == (5, 3, 2)
    torch.testing.assert_close(out.reshape(5, 6), s.reshape(5, 32).float() @ w)


def test_default_init_respects_bounds():
    src, tgt = pair(50, 20)
    w = Connection(src, tgt, wmin=-0.5, wmax=0.25, generator=torch.Generator().manual_seed(0)).weight
    assert w.min() >= -0.5 and w.max() <= 0.25 and w.min() < 0  # U(wmin, wmax)
    w = Connection(src, tgt, wmax=0.3).weight  # only one finite bound: U(0, 1) clamped
    assert w.min() >= 0 and w.max() == pytest.approx(0.3)


def test_apply_update_enforces_bounds_mask_and_decay():
    src, tgt = pair(3, 2)
    mask = torch.tensor([[True, False], [True, True], [False, True]])
    wmax = torch.tensor([1.0, 0.5])
    conn = Connection(src, tgt, torch.full((3, 2), 0.4), wmin=0.0, wmax=wmax, mask=mask, weight_decay=0.5)
    assert conn.weight[0, 1] == 0 and conn.weight[2, 0] == 0
    conn.apply_update(torch.tensor([[1.0, 1.0], [-2.0, 0.1], [0.3, 0.3]]))
    expected = torch.tensor([[0.7, 0.0], [0.0, 0.25], [0.0, 0.35]])
    torch.testing.assert_close(conn.weight.data, expected)
    # per-synapse upper bound by column
    conn.apply_update(torch.full((3, 2), 10.0))
    assert conn.weight[:, 1].max() <= 0.5 and conn.weight[0, 0] == 1.0


def test_normalize_sets_incoming_abs_sum():
    src, tgt = pair(10, 4)
    conn = Connection(src, tgt, torch.rand(10, 4) - 0.3, norm=2.0)
    torch.testing.assert_close(conn.weight.abs().sum(0), torch.full((4,), 2.0))
    conn.weight.data[:, 2] = 0.0
    conn.normalize()  # an all-zero column stays zero instead of dividing by zero
    assert conn.weight[:, 2].abs().sum() == 0


def test_correlate_is_the_batched_outer_product():
    src, tgt = pair(5, 3)
    conn = Connection(src, tgt, torch.zeros(5, 3))
    pre, post = torch.rand(4, 5), torch.rand(4, 3)
    corr = conn.correlate(pre, post)
    assert corr.shape == (4, 5, 3)
    torch.testing.assert_close(corr[2], torch.outer(pre[2], post[2]))


def test_bad_connection_arguments():
    src, tgt = pair(3, 2)
    with pytest.raises(TypeError, match="source and target must be Nodes"):
        Connection(src, "Y")
    with pytest.raises(ValueError, match=r"b has shape \(3,\), expected"):
        Connection(src, tgt, b=torch.zeros(3))
    with pytest.raises(ValueError, match="mask must be a bool tensor"):
        Connection(src, tgt, mask=torch.ones(3, 2))
    with pytest.raises(ValueError, match=r"wmin=1\.0 is greater than wmax=0\.0"):
        Connection(src, tgt, wmin=1.0, wmax=0.0)
    with pytest.raises(ValueError, match="wmax has shape"):
        Connection(src, tgt, wmax=torch.ones(4))
    with pytest.raises(ValueError, match="NaN"):
        Connection(src, tgt, torch.full((3, 2), float("nan")))
    with pytest.raises(ValueError, match="norm must be > 0"):
        Connection(src, tgt, norm=0.0)


# ------------------------------------------------------------- the set-up in AbstractConnection
class _Diagonal(AbstractConnection):
    """A minimal weighted type: one weight per neuron of equal-size populations (only _layout)."""

    def __init__(self, source, target, w=None, *, wmin=-math.inf, wmax=math.inf, rule=None, forward_rule=True):
        super().__init__(source, target, w, wmin=wmin, wmax=wmax, rule=rule if forward_rule else None)

    def _layout(self):
        n = self.source.n
        return WeightLayout((n,), "(source.n,)", [(n,)], "neuron", lambda sign: sign)

    def _propagate(self, s):
        return s.to(self.weight.dtype) * self.weight

    def correlate(self, pre, post):
        return pre * post


class _Recorder:
    """Not a LearningRule: any object with the Plasticity methods is accepted as a rule."""

    def __init__(self):
        self.bound = None

    def bind(self, connection):
        self.bound = connection

    def step(self, connection, reward):
        pass

    def deliver(self, connection, modulator):
        pass

    def changes_weights(self, connection, reward):
        return False

    def accepts_sequence(self, connection, reward):
        return False

    def step_sequence(self, connection, s_pre, s_post, reward):
        pass

    def reset_state_variables(self, mask=None):
        pass


def test_the_base_constructor_runs_the_whole_set_up():
    src, tgt = pair(4, 4)
    rule = _Recorder()
    conn = _Diagonal(src, tgt, torch.tensor([-2.0, 0.5, 3.0, 1.0]), wmin=0.0, wmax=2.0, rule=rule)
    assert torch.equal(conn.weight, torch.tensor([0.0, 0.5, 2.0, 1.0]))  # bounds imposed on the initial weights
    assert conn.rule is rule and rule.bound is conn and isinstance(rule, Plasticity)
    assert conn.mask is None and conn.delay == 0 and not conn.stochastic
    with pytest.raises(ValueError, match=r"w has shape \(3,\), expected \(source.n,\) = \(4,\)"):
        _Diagonal(src, tgt, torch.zeros(3))
    with pytest.raises(TypeError, match="rule must be a LearningRule instance, got str"):
        _Diagonal(src, tgt, rule="PostPre")


def test_a_registered_type_that_drops_its_rule_is_an_error():
    registered = registry.register("connection", "_DiagonalForTest")(type("_DiagonalForTest", (_Diagonal,), {}))
    try:
        src, tgt = pair(2, 2)
        assert registered(src, tgt, rule=_Recorder()).rule is not None
        with pytest.raises(TypeError, match=r"did not pass it on to AbstractConnection\.__init__"):
            registered(src, tgt, rule=_Recorder(), forward_rule=False)
    finally:
        registry._REGISTRY["connection"].pop("_DiagonalForTest")
        registry._NAMES.pop(registered)
