"""NIR export and import (snnrl.nir): exact round trips, the neuron mapping, refusals, and snnTorch as a peer."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
import torch

from snnrl.network import (
    AdaptiveLIFNodes,
    Connection,
    Conv2dConnection,
    CurrentLIFNodes,
    IFNodes,
    Input,
    IzhikevichNodes,
    LIFNodes,
    LocalConnection2D,
    MaxPool2dConnection,
    McCullochPitts,
    Network,
    SparseConnection,
    SubtractiveResetIFNodes,
)
from snnrl.network.monitors import Monitor

nir = pytest.importorskip("nir")

from snnrl.nir import (  # noqa: E402
    NIRApproximationWarning,
    NIRExportError,
    NIRImportError,
    NIRMetadataWarning,
    approximations,
    from_nir,
    read_nir,
    to_nir,
    write_nir,
)
from snnrl.nir.neurons import MS  # noqa: E402

# a graph snnrl wrote must read back through its metadata (the tests that edit one expect the warning)
pytestmark = pytest.mark.filterwarnings("error::snnrl.nir.NIRMetadataWarning")


def _gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _mixed(propagation: str) -> Network:
    """Every exact population type, a bias, a recurrent connection, a delay and per-synapse delays."""
    g = _gen()
    net = Network(dt=1.0, propagation=propagation, learning=False)
    net.add_layer(Input(8), "X")
    net.add_layer(LIFNodes(16, thresh=1.0, rest=-0.2, reset=-0.1, refrac=0.0, tc_decay=20.0), "H")
    net.add_layer(CurrentLIFNodes(6, thresh=0.5, rest=0.0, reset=0.0, refrac=0.0, tc_decay=10.0, tc_i_decay=3.0), "C")
    net.add_layer(IFNodes(5, thresh=torch.linspace(0.5, 1.5, 5), reset=0.0, refrac=0.0), "I")
    net.add_layer(SubtractiveResetIFNodes(4), "S")  # starts at 0, as NIR readers do
    net.add_layer(McCullochPitts(3, thresh=0.7), "M")
    layers = net.layers
    net.add_connection(Connection(layers["X"], layers["H"], torch.randn(8, 16, generator=g),
                                  b=0.1 * torch.randn(16, generator=g)), "X", "H")
    net.add_connection(Connection(layers["H"], layers["H"], 0.2 * torch.randn(16, 16, generator=g)), "H", "H")
    net.add_connection(Connection(layers["H"], layers["C"], torch.randn(16, 6, generator=g), delay=2), "H", "C")
    per_source = torch.randint(0, 3, (6, 1), generator=g).expand(6, 5).contiguous()
    net.add_connection(Connection(layers["C"], layers["I"], torch.rand(6, 5, generator=g), delay=per_source), "C", "I")
    net.add_connection(Connection(layers["I"], layers["S"], torch.rand(5, 4, generator=g),
                                  b=0.05 * torch.ones(4)), "I", "S")
    net.add_connection(Connection(layers["S"], layers["M"], torch.rand(4, 3, generator=g)), "S", "M")
    return net


def _spikes(net: Network, inputs: dict[str, torch.Tensor], layers: list[str] | None = None) -> dict[str, torch.Tensor]:
    """Spikes of ``layers`` (default: all non-input ones) over a run from rest, ``(T, B, *shape)``."""
    names = layers or [n for n, layer in net.layers.items() if not isinstance(layer, Input)]
    net.reset_state_variables()
    monitors = {}
    for name in names:
        monitors[name] = Monitor(net.layers[name], ["s"])
        net.add_monitor(monitors[name], f"_nir_test_{name}")
    net.run(inputs)
    out = {name: m.get("s").clone() for name, m in monitors.items()}
    for name in names:
        del net.monitors[f"_nir_test_{name}"]
    return out


def _assert_same_spikes(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> None:
    assert a.keys() == b.keys()
    for name in a:
        assert torch.equal(a[name], b[name]), name


def _without_metadata(path) -> object:
    graph = nir.read(path)
    graph.metadata.pop("snnrl")
    return graph


@pytest.mark.parametrize("propagation", ["synchronous", "in_order"])
def test_round_trip_gives_identical_spikes(tmp_path, propagation):
    net = _mixed(propagation)
    path = tmp_path / "net.nir"
    write_nir(net, path)
    x = torch.rand(80, 2, 8, generator=_gen(1)) < 0.3
    expected = _spikes(net, {"X": x})
    assert all(s.any() for s in expected.values())  # every population takes part
    back = read_nir(path)
    assert list(back.layers) == list(net.layers) and list(back.connections) == list(net.connections)
    assert [type(v) for v in back.layers.values()] == [type(v) for v in net.layers.values()]
    assert back.propagation == propagation
    _assert_same_spikes(expected, _spikes(back, {"X": x}))
    # without snnrl's metadata the graph alone says the same: types, names and delays from NIR nodes
    plain = from_nir(_without_metadata(path), dt=1.0)
    assert plain.propagation == "in_order"
    kinds = {n: type(v).__name__ for n, v in net.layers.items()}
    assert {n: type(v).__name__ for n, v in plain.layers.items()} == kinds
    _assert_same_spikes(expected, _spikes(plain, {"X": x}))


def test_graph_structure_and_delays():
    graph = to_nir(_mixed("synchronous"))
    kinds = {name: type(node).__name__ for name, node in graph.nodes.items()}
    assert kinds["X"] == "Input" and kinds["H"] == "LIF" and kinds["C"] == "CubaLIF" and kinds["I"] == "IF"
    assert kinds["S"] == "NIRGraph" and kinds["M"] == "Threshold" and kinds["X_to_H"] == "Affine"
    assert kinds["H_to_H"] == "Linear" and kinds["output"] == "Output"
    # synchronous: a forward connection is one step late (Delay of dt), the recurrent one is not (the
    # reader's own step on the cycle); H->C adds its 2 steps
    assert ("X", "X_to_H_delay") in graph.edges and ("H", "H_to_H") in graph.edges
    assert np.allclose(graph.nodes["H_to_C_delay"].delay, 3 * MS)
    assert np.allclose(graph.nodes["X_to_H_delay"].delay, 1 * MS)
    in_order = to_nir(_mixed("in_order"))
    assert "X_to_H_delay" not in in_order.nodes and np.allclose(in_order.nodes["H_to_C_delay"].delay, 2 * MS)
    # per-synapse delays that depend only on the source: one Delay per source neuron
    assert in_order.nodes["C_to_I_delay"].delay.shape == (6,)
    # reset by subtraction, exactly: I -> Threshold -> Scale(-thresh) -> I
    sub = graph.nodes["S"]
    assert {type(n).__name__ for n in sub.nodes.values()} == {"Input", "I", "Threshold", "Scale", "Output"}
    assert np.allclose(sub.nodes["reset"].scale, -1.0) and ("reset", "v") in sub.edges
    assert graph.metadata["dt"] == pytest.approx(1e-3)


def test_neuron_parameters_follow_the_documented_discretisation():
    dt, tc, tc_i = 0.5, 20.0, 3.0
    net = Network(dt=dt)
    net.add_layer(Input(2), "X")
    net.add_layer(LIFNodes(2, thresh=-50.0, rest=-65.0, reset=-70.0, refrac=0.0, tc_decay=tc), "L")
    net.add_layer(CurrentLIFNodes(2, refrac=0.0, tc_decay=tc, tc_i_decay=tc_i), "C")
    net.add_layer(IFNodes(2, refrac=0.0), "F")
    for name in ("L", "C", "F"):
        net.add_connection(Connection(net.layers["X"], net.layers[name], torch.ones(2, 2)), "X", name)
    graph = to_nir(net)
    h, d, a = dt * MS, math.exp(-dt / tc), math.exp(-dt / tc_i)
    lif = graph.nodes["L"]
    assert np.allclose(lif.tau, h / (1 - d), rtol=1e-12) and np.allclose(lif.r, 1 / (1 - d), rtol=1e-12)
    assert np.allclose(lif.r * h / lif.tau, 1.0, rtol=1e-12)  # the input gain of Euler's step is exactly 1
    assert (lif.v_leak == -65.0).all() and (lif.v_threshold == -50.0).all() and (lif.v_reset == -70.0).all()
    cuba = graph.nodes["C"]
    assert np.allclose(cuba.tau_syn, h / (1 - a), rtol=1e-12) and np.allclose(cuba.w_in, 1 / (1 - a), rtol=1e-12)
    assert np.allclose(cuba.tau_mem, h / (1 - d), rtol=1e-12)
    assert np.allclose(graph.nodes["F"].r, 1 / h)
    back = from_nir(graph.__class__(nodes=graph.nodes, edges=graph.edges, metadata={}), dt=dt)
    assert back.layers["L"].p.tc_decay == pytest.approx(tc, rel=1e-12)
    assert back.layers["C"].p.tc_i_decay == pytest.approx(tc_i, rel=1e-12)
    # another dt re-discretises the same ODE: tau is kept, the decay per step changes
    fine = from_nir(graph, dt=dt / 2)
    assert math.exp(-dt / 2 / fine.layers["L"].p.tc_decay) == pytest.approx(1 - dt / 2 * MS / lif.tau[0], rel=1e-12)


def test_conv_and_sparse_round_trip(tmp_path):
    g = _gen(2)
    net = Network(dt=1.0, propagation="in_order", learning=False)
    net.add_layer(Input(shape=(2, 8, 8)), "X")
    net.add_layer(LIFNodes(shape=(3, 6, 6), thresh=0.8, rest=0.0, reset=0.0, refrac=0.0, tc_decay=5.0), "A")
    net.add_layer(IFNodes(shape=(3, 3, 3), thresh=0.5, reset=0.0, refrac=0.0), "P")
    net.add_layer(LIFNodes(10, thresh=0.6, rest=0.0, reset=0.0, refrac=0.0, tc_decay=8.0), "D")
    net.add_layer(LIFNodes(4, thresh=0.3, rest=0.0, reset=0.0, refrac=0.0, tc_decay=8.0), "Z")
    net.add_connection(Conv2dConnection(net.layers["X"], net.layers["A"], 3, w=torch.randn(3, 2, 3, 3, generator=g),
                                        b=0.1 * torch.randn(3, generator=g)), "X", "A")
    avg = torch.full((3, 1, 2, 2), 0.25)  # average pooling as a depthwise convolution
    net.add_connection(Conv2dConnection(net.layers["A"], net.layers["P"], 2, 2, groups=3, w=avg), "A", "P")
    net.add_connection(Connection(net.layers["P"], net.layers["D"], torch.randn(27, 10, generator=g)), "P", "D")
    idx = torch.tensor([[0, 3, 5, 9, 9], [1, 0, 2, 3, 1]])
    net.add_connection(SparseConnection(net.layers["D"], net.layers["Z"], torch.sparse_coo_tensor(
        idx, torch.tensor([1.0, -0.5, 0.7, 0.9, 0.4]), (10, 4), check_invariants=True)), "D", "Z")
    path = tmp_path / "conv.nir"
    write_nir(net, path)
    kinds = {type(n).__name__ for n in nir.read(path).nodes.values()}
    assert {"Conv2d", "AvgPool2d", "Flatten", "Linear"} <= kinds
    x = torch.rand(30, 2, 2, 8, 8, generator=g) < 0.4
    expected = _spikes(net, {"X": x})
    assert expected["Z"].any()
    back = read_nir(path)
    assert type(back.connections["D->Z"]) is SparseConnection
    _assert_same_spikes(expected, _spikes(back, {"X": x}))
    plain = from_nir(_without_metadata(path))  # dt from the graph's metadata
    assert type(plain.connections["X->A"]) is Conv2dConnection and type(plain.connections["D->Z"]) is Connection
    _assert_same_spikes(expected, _spikes(plain, {"X": x}))


def test_grouped_convolution_round_trip(tmp_path):
    g = _gen(9)
    net = Network(dt=1.0, propagation="in_order", learning=False)
    net.add_layer(Input(shape=(2, 5, 5)), "X")
    net.add_layer(LIFNodes(shape=(4, 3, 3), thresh=0.5, rest=0.0, reset=0.0, refrac=0.0), "A")
    net.add_connection(Conv2dConnection(net.layers["X"], net.layers["A"], 3, groups=2,
                                        w=torch.randn(4, 1, 3, 3, generator=g)), "X", "A")
    path = tmp_path / "grouped.nir"
    write_nir(net, path)
    x = torch.rand(10, 1, 2, 5, 5, generator=g) < 0.5
    expected = _spikes(net, {"X": x})
    assert expected["A"].any()
    _assert_same_spikes(expected, _spikes(read_nir(path), {"X": x}))
    graph = nir.read(path, type_check=False)  # nir 1.0.8's check miscounts a grouped conv's input channels
    graph.metadata.pop("snnrl")
    plain = from_nir(graph)
    assert plain.connections["X->A"].groups == 2
    _assert_same_spikes(expected, _spikes(plain, {"X": x}))


def test_a_population_only_dense_connections_touch_is_written_flat():
    """A locally connected layer into a (C, H, W) population and a dense one out of it: NIR cannot
    reshape, so the population's node is (C*H*W,); snnrl reads its own graph back with the shape."""
    g = _gen(6)
    net = Network(dt=1.0, propagation="in_order", learning=False)
    net.add_layer(Input(shape=(1, 6, 6)), "X")
    net.add_layer(LIFNodes(shape=(2, 2, 2), thresh=0.5, rest=0.0, reset=0.0, refrac=0.0), "L")
    net.add_layer(LIFNodes(3, thresh=0.5, rest=0.0, reset=0.0, refrac=0.0), "O")
    net.add_connection(LocalConnection2D(net.layers["X"], net.layers["L"], 3, 3,
                                         w=torch.rand(2, 2, 2, 1, 3, 3, generator=g)), "X", "L")
    net.add_connection(Connection(net.layers["L"], net.layers["O"], torch.rand(8, 3, generator=g)), "L", "O")
    graph = to_nir(net)
    assert tuple(graph.nodes["L"].v_threshold.shape) == (8,) and type(graph.nodes["X_to_L"]).__name__ == "Linear"
    x = torch.rand(20, 2, 1, 6, 6, generator=g) < 0.5
    expected = _spikes(net, {"X": x})
    assert expected["O"].any()
    back = from_nir(graph)
    assert back.layers["L"].shape == (2, 2, 2) and type(back.connections["X->L"]) is LocalConnection2D
    _assert_same_spikes(expected, _spikes(back, {"X": x}))
    plain = from_nir(graph.__class__(nodes=graph.nodes, edges=graph.edges, metadata={"dt": 1e-3}))
    assert plain.layers["L"].shape == (8,)
    got = _spikes(plain, {"X": x})
    assert torch.equal(got["L"], expected["L"].flatten(2)) and torch.equal(got["O"], expected["O"])


def _approximable() -> Network:
    from snnrl.learning import PostPre

    net = Network(dt=1.0, learning=False)
    net.add_layer(Input(4), "X")
    net.add_layer(LIFNodes(5, refrac=2.0, lbound=-80.0), "L")
    net.add_layer(AdaptiveLIFNodes(3, refrac=0.0), "A")
    net.layers["A"].theta.copy_(torch.tensor([0.5, 1.0, 2.0]))
    net.add_connection(Connection(net.layers["X"], net.layers["L"], torch.full((4, 5), 8.0), rule=PostPre(nu=0.01),
                                  probability=0.5, generator=_gen(7)), "X", "L")
    net.add_connection(Connection(net.layers["L"], net.layers["A"], torch.full((5, 3), 9.0)), "L", "A")
    return net


def test_what_nir_cannot_say_is_refused_in_one_message():
    with pytest.raises(NIRExportError) as info:
        to_nir(_approximable())
    message = str(info.value)
    for part in ("layer 'L': refractory period 2.0 ms", "lower voltage bound lbound=-80.0",
                 "layer 'A': adaptive threshold", "connection 'X->L': learning rule PostPre",
                 "connection 'X->L': transmission probability", "approximate=True"):
        assert part in message, part
    assert "\n" not in message


def test_approximate_export_lists_its_changes_and_snnrl_reads_the_original_back(tmp_path):
    net = _approximable()
    x = torch.rand(40, 1, 4, generator=_gen(8)) < 0.5
    _spikes(net, {"X": x})  # move the transmission draws' generator on
    with pytest.warns(NIRApproximationWarning) as record:
        graph = write_nir(net, tmp_path / "a.nir", approximate=True)
    changes = approximations(graph)
    assert [str(w.message) for w in record] == [f"NIR export approximated {c}" for c in changes]
    assert "layer 'L': refractory period 2.0 ms: dropped" in changes
    assert len(changes) == 5 and any("frozen at thresh + theta" in c for c in changes)
    assert approximations(nir.read(tmp_path / "a.nir")) == changes
    assert np.allclose(graph.nodes["A"].v_threshold, -52.0 + np.array([0.5, 1.0, 2.0]))  # frozen thresholds
    assert np.allclose(graph.nodes["X_to_L"].weight, 4.0)  # expected value of 8 x probability 0.5
    back = read_nir(tmp_path / "a.nir")  # the metadata rebuilds the exact original
    assert back.layers["L"].p.refrac == 2.0 and back.connections["X->L"].rule is not None
    assert torch.equal(back.layers["A"].theta, net.layers["A"].theta)
    assert torch.equal(back.connections["X->L"].weight, net.connections["X->L"].weight)
    # the same network, random stream included: the same spikes from here on
    _assert_same_spikes(_spikes(net, {"X": x}), _spikes(back, {"X": x}))
    spec = __import__("json").loads(graph.metadata["snnrl"])["spec"]
    assert spec["connections"][0]["rule"]["type"] == "PostPre"  # rule settings live in the metadata


def test_the_shipped_cartpole_agent_exports_with_approximate(tmp_path):
    from snnrl.pipeline.agent import trained_agent
    from snnrl.policy import load_policy

    net = load_policy(trained_agent("cartpole"))[0].network
    with pytest.raises(NIRExportError, match=r"refractory period 5\.0 ms"):
        to_nir(net)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NIRApproximationWarning)
        write_nir(net, tmp_path / "cartpole.nir", approximate=True)
    back = read_nir(tmp_path / "cartpole.nir")
    a, b = net.state_dict(), back.state_dict()
    assert a.keys() == b.keys()
    for key in a:
        assert torch.equal(a[key], b[key]) if isinstance(a[key], torch.Tensor) else a[key] == b[key], key


@pytest.mark.parametrize(("build", "match"), [
    (lambda net: net.add_layer(IzhikevichNodes(3), "Z"), "'Z' is a IzhikevichNodes: NIR has no such neuron model"),
    (lambda net: net.add_layer(LIFNodes(shape=(1, 2, 2), refrac=0.0), "Z") or net.add_layer(
        LIFNodes(shape=(1, 1, 1), refrac=0.0), "W") or net.add_connection(
        Conv2dConnection(net.layers["Z"], net.layers["W"], 2), "Z", "W"), "that convolutions leave cannot be written"),
    (lambda net: net.add_layer(LIFNodes(3, refrac=0.0), "Z") or net.add_layer(LIFNodes(3, refrac=0.0), "W"),
     "layer 'W' receives no connection"),
])
def test_hard_refusals(build, match):
    net = Network()
    net.add_layer(Input(4), "X")
    build(net)
    net.add_connection(Connection(net.layers["X"], net.layers["Z"]), "X", "Z")
    with pytest.raises(NIRExportError, match=match):
        to_nir(net, approximate=True)


def test_max_pooling_and_mixed_synapse_delays_are_refused():
    net = Network()
    net.add_layer(Input(shape=(1, 4, 4)), "X")
    net.add_layer(LIFNodes(shape=(1, 2, 2), refrac=0.0), "P")
    net.add_connection(MaxPool2dConnection(net.layers["X"], net.layers["P"], 2), "X", "P")
    with pytest.raises(NIRExportError, match="NIR has no max pooling"):
        to_nir(net)
    net = Network(propagation="in_order")
    net.add_layer(Input(2), "X")
    net.add_layer(LIFNodes(2, refrac=0.0), "Y")
    net.add_connection(Connection(net.layers["X"], net.layers["Y"], delay=torch.tensor([[0, 1], [1, 0]])), "X", "Y")
    with pytest.raises(NIRExportError, match="depend on both the source and the target"):
        to_nir(net)
    with pytest.raises(NIRExportError, match="outputs: 'X' is not a non-input layer"):
        to_nir(_mixed("in_order"), outputs=["X"])


def test_an_edited_graph_is_read_from_its_nodes():
    net = _mixed("in_order")
    graph = to_nir(net)
    graph.nodes["X_to_H"].weight[0, 0] += 1.0  # weights are always read from the NIR nodes
    back = from_nir(graph)
    assert back.connections["X->H"].weight[0, 0] == pytest.approx(net.connections["X->H"].weight[0, 0] + 1.0)
    assert type(back.layers["S"]) is SubtractiveResetIFNodes and back.layers["S"].p.thresh == 1.0
    graph.nodes["H"].v_threshold[:] = 2.0  # a change the metadata does not describe
    with pytest.warns(NIRMetadataWarning, match="differs from its snnrl metadata at graph.nodes.H.v_threshold"):
        back = from_nir(graph)
    assert back.layers["H"].p.thresh == 2.0 and back.propagation == "in_order"


def test_pooling_and_composed_chains_import_as_torch_computes_them():
    g = np.random.default_rng(0)
    w = g.normal(size=(5, 8)).astype(np.float32)
    nodes = {
        "in": nir.Input(input_type=np.array([2, 4, 4])),
        "pool": nir.SumPool2d(kernel_size=np.array([2, 2]), stride=np.array([2, 2]), padding=np.array([0, 0])),
        "lif": nir.IF(r=np.full((2, 2, 2), 1e3), v_threshold=np.full((2, 2, 2), 1e9), v_reset=np.zeros((2, 2, 2))),
        "avg": nir.AvgPool2d(kernel_size=np.array([2, 2]), stride=np.array([2, 2]), padding=np.array([0, 0])),
        "flat": nir.Flatten(input_type=None, start_dim=0, end_dim=-1),
        "fc": nir.Affine(weight=w, bias=np.arange(5, dtype=np.float32)),
        "out": nir.IF(r=np.full(5, 1e3), v_threshold=np.full(5, 1e9), v_reset=np.zeros(5)),
        "o": nir.Output(output_type=np.array([5])),
    }
    edges = [("in", "pool"), ("pool", "lif"), ("in", "avg"), ("avg", "flat"), ("flat", "fc"), ("fc", "out"),
             ("out", "o"), ("lif", "o2")]
    nodes["o2"] = nir.Output(output_type=np.array([2, 2, 2]))
    net = from_nir(nir.NIRGraph(nodes=nodes, edges=edges), dt=1.0)
    x = torch.rand(1, 1, 2, 4, 4, generator=_gen(3))
    conn = net.connections["in->lif"]
    assert type(conn) is Conv2dConnection and conn.groups == 2
    assert torch.allclose(conn.compute(x[0]), torch.nn.functional.avg_pool2d(x[0], 2) * 4)
    dense = net.connections["in->out"]
    expected = torch.nn.functional.avg_pool2d(x[0].double(), 2).flatten(1) @ torch.from_numpy(w).double().t()
    assert torch.allclose(dense.compute(x[0]).double(), expected + torch.arange(5.0).double(), atol=1e-5)


def test_import_refusals():
    lif = nir.LIF(tau=np.full(2, 2e-3), r=np.full(2, 2.0), v_leak=np.zeros(2), v_threshold=np.ones(2))
    graph = nir.NIRGraph.from_list(nir.Affine(weight=np.eye(2, dtype=np.float32), bias=np.zeros(2)), lif)
    with pytest.raises(NIRImportError, match="does not state its time step: pass dt=<ms>"):
        from_nir(graph)
    with pytest.raises(NIRImportError, match="not longer than the step"):
        from_nir(graph, dt=5.0)
    li = nir.NIRGraph.from_list(nir.Linear(weight=np.eye(2)), nir.LI(tau=np.ones(2), r=np.ones(2), v_leak=np.zeros(2)))
    with pytest.raises(NIRImportError, match="non-spiking integrator"):
        from_nir(li, dt=1.0)
    delayed = nir.NIRGraph.from_list(nir.Delay(delay=np.full(2, 1.5e-3)), nir.Linear(weight=np.eye(2)), lif)
    with pytest.raises(NIRImportError, match="not whole steps"):
        from_nir(delayed, dt=1.0)
    # forward Euler's gain h R / tau = 1e-3 * 2 / 2e-3 = 1 here: the LIF reads back with unit input
    net = from_nir(graph, dt=1.0)
    assert net.layers["lif"].p.tc_decay == pytest.approx(-1.0 / math.log(0.5))


def test_a_file_from_before_nir_1_0_6_resets_to_zero(tmp_path):
    """nir < 1.0.6 wrote IF/LIF/CubaLIF without v_reset (they reset to 0); such files still read."""
    h5py = pytest.importorskip("h5py")
    net = _mixed("in_order")
    path = tmp_path / "old.nir"
    write_nir(net, path)
    with h5py.File(path, "r+") as f:
        del f["node/nodes/H/v_reset"]
        del f["node/metadata"]
    back = from_nir(path, dt=1.0)
    assert back.layers["H"].p.reset == 0.0 and back.layers["H"].p.rest == pytest.approx(-0.2)


def test_missing_or_old_nir_names_the_extra(monkeypatch):
    import sys

    from snnrl.nir._deps import require_nir

    monkeypatch.setattr(nir, "__version__", "1.0.5")
    with pytest.raises(ImportError, match=r"nir >= 1\.0\.6"):
        require_nir()
    monkeypatch.setitem(sys.modules, "nir", None)
    with pytest.raises(ImportError, match=r"pip install 'snnrl\[nir\]'"):
        to_nir(_mixed("in_order"))


def test_a_converted_sb3_network_exports_exactly():
    """Reset by subtraction (converted ANNs) needs no approximation: its NIR form is exact."""
    from snnrl.integrations.sb3 import convert_modules
    from snnrl.integrations.sb3.convert import INPUT_LAYER

    torch.manual_seed(0)
    mlp = torch.nn.Sequential(torch.nn.Linear(4, 16), torch.nn.ReLU(), torch.nn.Linear(16, 3))
    converted = convert_modules(mlp, torch.randn(64, 4), v_init=0.0)  # NIR has no initial voltage: start at 0
    graph = to_nir(converted.network)
    assert approximations(graph) == []
    plain = from_nir(graph.__class__(nodes=graph.nodes, edges=graph.edges, metadata={"dt": 1e-3}))
    assert [type(v).__name__ for v in plain.layers.values()] == ["Input", "SubtractiveResetIFNodes",
                                                                 "SubtractiveResetIFNodes"]
    obs = torch.randn(5, 4, generator=_gen(5))
    steps = 32
    inputs = {INPUT_LAYER: obs.unsqueeze(0).expand(steps, 5, 4)}
    ref = _spikes(converted.network, inputs)
    assert ref["output"].any()
    _assert_same_spikes(ref, _spikes(plain, inputs))


# ---------------------------------------------------------------------------------------- snnTorch
def _dyadic(shape: tuple[int, ...], g: torch.Generator) -> torch.Tensor:
    """Weights in multiples of 1/16: sums of them over 0/1 spikes are exact in float32 in any order."""
    return torch.randint(-8, 17, shape, generator=g) / 16


def test_snntorch_reads_our_graph_and_spikes_the_same(tmp_path):
    """snnrl -> NIR -> snnTorch. Compared: the output population's spikes at every one of 200 steps,
    for 0/1 input spikes and dyadic weights (exact sums, so both frameworks compute the same float32
    voltages operation by operation: snnTorch's Euler step with the exported tau is snnrl's decay).
    They may differ only where a voltage equals the threshold exactly (NIR and snnTorch fire on
    ``v > threshold``, snnrl on ``v >= threshold``); the test checks no voltage does."""
    pytest.importorskip("nirtorch")
    snn_import = pytest.importorskip("snntorch.import_nir")
    g = _gen(1)
    net = Network(dt=0.1, propagation="in_order", learning=False)  # snnTorch reads NIR for dt = 1e-4 s
    net.add_layer(Input(8), "X")
    net.add_layer(LIFNodes(16, thresh=1.3, rest=0.0, reset=0.0, refrac=0.0, tc_decay=2.0), "H")
    net.add_layer(CurrentLIFNodes(4, thresh=1.1, rest=0.0, reset=0.0, refrac=0.0, tc_decay=1.5, tc_i_decay=0.4), "O")
    net.add_connection(Connection(net.layers["X"], net.layers["H"], _dyadic((8, 16), g),
                                  b=_dyadic((16,), g) / 4), "X", "H")
    net.add_connection(Connection(net.layers["H"], net.layers["O"], _dyadic((16, 4), g)), "H", "O")
    write_nir(net, tmp_path / "ours.nir")
    peer = snn_import.import_from_nir(nir.read(tmp_path / "ours.nir"))
    steps = 200
    x = (torch.rand(steps, 1, 8, generator=g) < 0.3).float()
    voltages = {name: Monitor(net.layers[name], ["v"]) for name in ("H", "O")}
    for name, mon in voltages.items():
        net.add_monitor(mon, f"v_{name}")
    ours = _spikes(net, {"X": x}, ["O"])["O"]
    theirs, state = [], None
    with torch.no_grad():
        for t in range(steps):
            out, state = peer(x[t], state)
            theirs.append(out)
    assert ours.sum() > 50
    assert torch.equal(torch.stack(theirs).bool(), ours)
    for name, thresh in (("H", 1.3), ("O", 1.1)):
        assert not (voltages[name].get("v") == torch.tensor(thresh)).any()


def test_we_read_a_graph_snntorch_wrote_and_spike_the_same(tmp_path):
    """snnTorch -> NIR -> snnrl. snnTorch writes float32 parameters (tau = dt / (1 - beta) rounded),
    so snnrl's decays and input gains differ from snnTorch's by about 1e-7 relative: compared are the
    output spikes at every one of 300 steps (identical) and the membrane voltages (within 1e-5).
    snnTorch neurons reset to zero at once (``reset_delay=False``), the semantics of NIR's v_reset and
    of snnTorch's own NIR import."""
    pytest.importorskip("nirtorch")
    snn = pytest.importorskip("snntorch")
    from snntorch.export_nir import export_to_nir

    g = _gen(4)
    lin1, lin2 = torch.nn.Linear(8, 16), torch.nn.Linear(16, 4)
    with torch.no_grad():
        lin1.weight.copy_(_dyadic((16, 8), g))
        lin1.bias.copy_(_dyadic((16,), g) / 4)
        lin2.weight.copy_(_dyadic((4, 16), g))
        lin2.bias.zero_()
    # per-neuron parameters: snnTorch 1.0's exporter writes 0-d arrays for scalars, which nir 1.0.8 refuses
    lif = snn.Leaky(beta=torch.full((16,), 0.9), threshold=torch.full((16,), 1.3), reset_mechanism="zero",
                    reset_delay=False, init_hidden=True)
    syn = snn.Synaptic(alpha=torch.full((4,), 0.8), beta=torch.full((4,), 0.85), threshold=torch.full((4,), 1.1),
                       reset_mechanism="zero", reset_delay=False, init_hidden=True, output=True)
    peer = torch.nn.Sequential(lin1, lif, lin2, syn)
    nir.write(tmp_path / "theirs.nir", export_to_nir(peer, torch.zeros(1, 8), ignore_dims=[0]))
    net = read_nir(tmp_path / "theirs.nir", dt=0.1)
    assert [type(v).__name__ for v in net.layers.values()] == ["Input", "LIFNodes", "CurrentLIFNodes"]
    steps = 300
    x = (torch.rand(steps, 1, 8, generator=g) < 0.3).float()
    spikes, mem = [], []
    with torch.no_grad():
        for t in range(steps):
            s, _, m = peer(x[t])
            spikes.append(s)
            mem.append(m)
    inp, _, out = list(net.layers)
    mon = Monitor(net.layers[out], ["s", "v"])
    net.add_monitor(mon, "out")
    net.run({inp: x})
    assert mon.get("s").sum() > 50
    assert torch.equal(torch.stack(spikes).bool(), mon.get("s"))
    assert torch.allclose(torch.stack(mem), mon.get("v"), atol=1e-5)
