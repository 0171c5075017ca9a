"""Network specs: round trips for every registered type, init tables, user types and every error path."""

import copy
import importlib
import pkgutil

import pytest
import torch

from snnrl import (
    AdaptiveLIFNodes,
    BernoulliEncoder,
    BoostedLIFNodes,
    Connection,
    CurrentLIFNodes,
    DiehlAndCookNodes,
    IFNodes,
    Input,
    IzhikevichNodes,
    LatencyEncoder,
    LIFNodes,
    McCullochPitts,
    Monitor,
    Network,
    NetworkMonitor,
    PoissonEncoder,
    PopulationEncoder,
    RankOrderEncoder,
    RepeatEncoder,
    SingleEncoder,
    SRM0Nodes,
    SubtractiveResetIFNodes,
    registry,
    toml,
)
from snnrl.checkpoint import load_checkpoint, save_checkpoint
from snnrl.learning import LearningRule
from snnrl.network.spec import (
    SpecError,
    component_from_spec,
    component_to_spec,
    constructor_tensors,
    network_from_spec,
    network_to_spec,
    read_spec,
    write_spec,
)

# Import every module that may register types, so the loops below see all of them.
for _pkg in ("snnrl.network", "snnrl.learning", "snnrl.encoding"):
    _mod = importlib.import_module(_pkg)
    for _info in pkgutil.walk_packages(_mod.__path__, _pkg + "."):
        importlib.import_module(_info.name)


def _gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


# ------------------------------------------------------------------- factories
# One valid instance per registered library type, with non-default arguments where possible.
# A newly registered type must get an entry here (the tests below fail until it has one).
NODES = {
    "Input": lambda: Input(shape=(2, 2), traces=True),
    "McCullochPitts": lambda: McCullochPitts(3, thresh=torch.tensor([0.5, 1.0, 1.5])),
    "IFNodes": lambda: IFNodes(3, thresh=-55.0, lbound=-70.0),
    "SubtractiveResetIFNodes": lambda: SubtractiveResetIFNodes(3, thresh=0.8),
    "LIFNodes": lambda: LIFNodes(3, thresh=torch.tensor([-52.0, -53.0, -54.0]), traces=True, traces_additive=True),
    "BoostedLIFNodes": lambda: BoostedLIFNodes(shape=(1, 3)),
    "CurrentLIFNodes": lambda: CurrentLIFNodes(3, tc_i_decay=3.0, sum_input=True),
    "AdaptiveLIFNodes": lambda: AdaptiveLIFNodes(3, theta_plus=0.5, tc_theta_decay=50.0),
    "DiehlAndCookNodes": lambda: DiehlAndCookNodes(3, theta_plus=0.5, generator=_gen(1)),
    "IzhikevichNodes": lambda: IzhikevichNodes(3, preset="fast", a=0.05),
    "SRM0Nodes": lambda: SRM0Nodes(3, rho_0=5.0, generator=_gen(2)),
}


def _pair(net: Network, source_shape: tuple, target_shape: tuple):
    """An Input "X" and a lively LIF population "Y" of the given shapes."""
    net.add_layer(Input(shape=source_shape), "X")
    net.add_layer(LIFNodes(shape=target_shape, thresh=-63.0, refrac=0.0), "Y")
    return net.layers["X"], net.layers["Y"]


def _conn(name: str):
    return registry.lookup("connection", name)


def _dense(net: Network) -> None:
    x, y = _pair(net, (4,), (3,))
    mask = torch.tensor([[True, False, True], [True, True, False], [False, True, True], [True, True, True]])
    net.add_connection(Connection(x, y, torch.rand(4, 3, generator=_gen(3)) * 20, b=torch.tensor([0.5, 0.0, 1.0]),
                                  mask=mask, wmin=torch.zeros(3), wmax=25.0, norm=40.0), "X", "Y")
    net.add_connection(Connection(y, y, wmin=-5.0, wmax=0.0, generator=_gen(4), sparse_threshold=0.5), "Y", "Y",
                       name="lateral")
    net.add_connection(Connection(x, y, torch.rand(4, 3, generator=_gen(5)) * 5,
                                  dale=torch.tensor([True, False, True, True]),
                                  delay=torch.randint(0, 3, (4, 3), generator=_gen(6)),
                                  probability=torch.full((4, 3), 0.7), intensity=torch.rand(4, 3, generator=_gen(7)),
                                  generator=_gen(8)), "X", "Y", name="features")


def _conv(dims: int):
    shapes = {1: ((2, 6), (4, 4)), 2: ((2, 5, 5), (4, 5, 5)), 3: ((1, 3, 3, 3), (2, 2, 2, 2))}
    extra = {1: {"kernel_size": 3}, 2: {"kernel_size": [3, 3], "padding": 1, "groups": 2},
             3: {"kernel_size": 2}}

    def build(net: Network) -> None:
        x, y = _pair(net, *shapes[dims])
        cls = _conn(f"Conv{dims}dConnection")
        probe = cls(x, y, **extra[dims])
        w = torch.rand(probe.weight.shape, generator=_gen(dims)) * 10
        net.add_connection(cls(x, y, **extra[dims], w=w, b=torch.rand(y.shape[0], generator=_gen(9)),
                               mask=torch.rand(w.shape, generator=_gen(10)) < 0.8, dale=torch.ones(x.shape[0]) > 0,
                               delay=1, wmin=0.0, wmax=12.0), "X", "Y")
    return build


def _local(dims: int):
    shapes = {1: ((2, 6), (3, 4)), 2: ((1, 4, 4), (2, 2, 2)), 3: ((1, 2, 2, 2), (2, 2, 2, 2))}
    extra = {1: {"kernel_size": 3}, 2: {"kernel_size": 2, "stride": 2}, 3: {"kernel_size": 1}}

    def build(net: Network) -> None:
        x, y = _pair(net, *shapes[dims])
        cls = _conn(f"LocalConnection{dims}D")
        probe = cls(x, y, **extra[dims])
        w = torch.rand(probe.weight.shape, generator=_gen(dims)) * 10
        net.add_connection(cls(x, y, **extra[dims], w=w, b=torch.rand(y.shape, generator=_gen(9)),
                               mask=torch.rand(w.shape, generator=_gen(10)) < 0.8, norm=5.0,
                               dale=torch.tensor([True] * x.shape[0]), delay=2), "X", "Y")
    return build


def _pool(dims: int):
    shapes = {1: ((2, 6), (2, 3)), 2: ((1, 4, 4), (1, 2, 2)), 3: ((1, 2, 2, 2), (1, 1, 1, 1))}

    def build(net: Network) -> None:
        x, y = _pair(net, *shapes[dims])
        net.add_layer(LIFNodes(shape=shapes[dims][1], thresh=-64.0), "Z")
        cls = _conn(f"MaxPool{dims}dConnection")
        net.add_connection(cls(x, y, kernel_size=2, mode="rate", decay=0.2, intensity=20.0, delay=1), "X", "Y")
        net.add_connection(cls(x, net.layers["Z"], kernel_size=2, intensity=5.0), "X", "Z")
    return build


def _mean_field(net: Network) -> None:
    x, y = _pair(net, (4,), (3,))
    cls = _conn("MeanFieldConnection")
    net.add_connection(cls(x, y, torch.tensor([1.0, 2.0, 3.0]), wmin=0.0, dale=torch.tensor(True), delay=2), "X", "Y")
    net.add_connection(cls(y, y, -0.5), "Y", "Y")


def _sparse(net: Network) -> None:
    x, y = _pair(net, (4,), (3,))
    cls = _conn("SparseConnection")
    dense = torch.rand(4, 3, generator=_gen(11)) * 15 * (torch.rand(4, 3, generator=_gen(12)) < 0.6)
    net.add_connection(cls(x, y, dense, b=torch.tensor([1.0, 0.0, 2.0]), wmax=12.0), "X", "Y")
    indices = torch.tensor([[3, 0, 1, 1, 2], [0, 2, 1, 1, 0]])  # unsorted, with parallel synapses
    net.add_connection(cls(x, y, torch.tensor([5.0, 9.0, 7.0, 8.0, 6.0]), indices=indices,
                           delay=torch.tensor([0, 1, 2, 0, 1]), mask=torch.tensor([True, True, False, True, True]),
                           probability=0.8, generator=_gen(13)), "X", "Y", name="listed")
    net.add_connection(cls(x, y, dense.to_sparse(), dale=torch.tensor([True, True, False, True])), "X", "Y",
                       name="coo")


def _random_sparse(net: Network) -> None:
    x, y = _pair(net, (4,), (3,))
    cls = _conn("RandomSparseConnection")
    net.add_connection(cls(x, y, 0.6, 9.0, delay=(0, 2), generator=_gen(14)), "X", "Y")
    net.add_connection(cls(y, y, 0.5, allow_autapses=False, wmin=-3.0, wmax=0.0, generator=_gen(15)), "Y", "Y")


CONNECTIONS = {
    "Connection": _dense,
    "SparseConnection": _sparse,
    "RandomSparseConnection": _random_sparse,
    **{f"Conv{d}dConnection": _conv(d) for d in (1, 2, 3)},
    **{f"LocalConnection{d}D": _local(d) for d in (1, 2, 3)},
    **{f"MaxPool{d}dConnection": _pool(d) for d in (1, 2, 3)},
    "MeanFieldConnection": _mean_field,
}
def _rule(name: str, target=None, **kwargs):
    def build(net: Network) -> None:
        net.add_layer(Input(5), "X")
        net.add_layer(LIFNodes(3, thresh=-63.0, refrac=0.0) if target is None else target(), "Y")
        x, y = net.layers["X"], net.layers["Y"]
        rule = registry.lookup("rule", name)(**kwargs)
        w = torch.rand(5, 3, generator=_gen(16)) * 10
        net.add_connection(Connection(x, y, w, wmin=0.0, wmax=20.0, norm=25.0 if kwargs.get("normalize") else None,
                                      rule=rule), "X", "Y")
    return build


RULES = {
    "NoOp": _rule("NoOp"),
    "PostPre": _rule("PostPre", nu=(1e-2, 5e-2), reduction="sum", tc_pre=10.0, traces_additive=True),
    "Hebbian": _rule("Hebbian", nu=0.05, normalize=True),
    "WeightDependentPostPre": _rule("WeightDependentPostPre", nu=(1e-2, 2e-2)),
    "MSTDP": _rule("MSTDP", nu=0.1, tc_minus=15.0),
    "MSTDPET": _rule("MSTDPET", nu=(0.1, 0.2), tc_e_trace=10.0),
    "Rmax": _rule("Rmax", target=lambda: SRM0Nodes(3, rho_0=20.0, generator=_gen(17)), nu=0.1, tc_psp=5.0),
    "EProp": _rule("EProp", nu=0.1, tc_e_trace=10.0, gamma=0.5, width=8.0),
}


def _monitor(net: Network) -> None:
    net.add_layer(Input(2), "X")
    net.add_layer(LIFNodes(2), "Y")
    net.add_connection(Connection(net.layers["X"], net.layers["Y"], torch.full((2, 2), 30.0)), "X", "Y")
    net.add_monitor(Monitor(net.layers["Y"], ["s", "v"], time=4), "Y")
    net.add_monitor(Monitor(net.connections["X->Y"], "w", sparse=True), "w")


def _network_monitor(net: Network) -> None:
    _monitor(net)
    net.add_monitor(NetworkMonitor(net, layers=["Y"], state_vars=("s",)), "all")


MONITORS = {"Monitor": _monitor, "NetworkMonitor": _network_monitor}

ENCODERS = {
    "SingleEncoder": lambda: SingleEncoder(10, sparsity=0.3),
    "RepeatEncoder": lambda: RepeatEncoder(5, dt=0.5),
    "BernoulliEncoder": lambda: BernoulliEncoder(10, max_prob=0.5, seed=3),
    "PoissonEncoder": lambda: PoissonEncoder(10, generator=_gen(5)),
    "RankOrderEncoder": lambda: RankOrderEncoder(10),
    "LatencyEncoder": lambda: LatencyEncoder(10, mode="log", normalize=False),
    "PopulationEncoder": lambda: PopulationEncoder(10, n_per_dim=4, low=-1.0, high=torch.tensor([1.0, 2.0]), seed=1),
}
REWARDS = {
    "RawReward": lambda: _reward("RawReward", scale=2.0),
    "MovingAverageRPE": lambda: _reward("MovingAverageRPE", window=5.0, update="step", shared=True),
    "TDError": lambda: _reward("TDError", gamma=0.9),
}


def _reward(name: str, **kwargs):
    return registry.lookup("reward", name)(**kwargs)

FACTORIES = {"nodes": NODES, "connection": CONNECTIONS, "rule": RULES, "monitor": MONITORS,
             "encoder": ENCODERS, "reward": REWARDS}


def _library_types(kind: str) -> list[str]:
    return sorted(name for name, cls in registry.registered(kind).items() if cls.__module__.startswith("snnrl."))


def _factory(kind: str, name: str):
    factory = FACTORIES[kind].get(name)
    if factory is None:
        pytest.fail(f"the {kind} type {name!r} is registered but tests/network/test_spec.py has no factory for it: "
                    f"add one to FACTORIES[{kind!r}] so its spec and checkpoint round trips are tested")
    return factory


def _network_for(kind: str, name: str) -> Network:
    net = Network(batch_size=2)
    factory = _factory(kind, name)
    if kind == "nodes":
        obj = factory()
        if not isinstance(obj, Input):
            net.add_layer(Input(4), "in")
        net.add_layer(obj, "obj")
        if not isinstance(obj, Input):
            w = torch.rand(4, obj.n, generator=_gen(0)) * 30
            net.add_connection(Connection(net.layers["in"], obj, w), "in", "obj")
    else:
        factory(net)
    found = {spec_entry_type for section in ("layers", "connections", "monitors")
             for spec_entry_type in _types(network_to_spec(net), section)}
    assert name in found, f"the factory for {kind} {name!r} does not put one in the network"
    return net


def _types(spec: dict, section: str):
    for entry in spec[section]:
        yield entry["type"]
        if "rule" in entry:
            yield entry["rule"]["type"]


def _drive(net: Network, steps: int, seed: int) -> list[torch.Tensor]:
    """Run ``steps`` single steps with random input to every Input layer; spikes of every layer per step."""
    g = _gen(seed)
    out = []
    for _ in range(steps):
        inputs = {name: torch.rand(net.batch_size, *layer.shape, generator=g) < 0.5
                  for name, layer in net.layers.items() if isinstance(layer, Input)}
        net.step(inputs, reward=0.5)
        out.extend(layer.s.clone() for layer in net.layers.values())
    return out


def _assert_same_state(a: Network, b: Network) -> None:
    sa, sb = a.state_dict(), b.state_dict()
    assert list(sa) == list(sb)
    for key, value in sb.items():
        same = torch.equal(sa[key], value) if isinstance(value, torch.Tensor) else sa[key] == value
        assert same, key


NETWORK_KINDS = ("nodes", "connection", "rule", "monitor")
CASES = [(kind, name) for kind in NETWORK_KINDS for name in _library_types(kind)]


@pytest.mark.parametrize("kind", list(registry.KINDS))
def test_every_registered_library_type_has_a_factory(kind):
    for name in _library_types(kind):
        _factory(kind, name)


@pytest.mark.parametrize(("kind", "name"), CASES)
def test_spec_and_checkpoint_round_trip_for_every_registered_type(kind, name, tmp_path):
    net = _network_for(kind, name)
    _drive(net, 4, seed=1)  # learned state (theta, weights) and generators move on
    spec = network_to_spec(net)
    text = toml.dumps(spec)
    assert toml.loads(text) == spec
    rebuilt = network_from_spec(toml.loads(text), net.state_dict(), args=constructor_tensors(net))
    assert network_to_spec(rebuilt) == spec
    _assert_same_state(rebuilt, net)

    path = tmp_path / "net.safetensors"
    save_checkpoint(net, path)
    loaded = load_checkpoint(path).network
    assert network_to_spec(loaded) == spec
    _assert_same_state(loaded, net)  # learned state, rule traces included
    net.reset_state_variables()  # transient state (voltages, ...) is not saved
    loaded.reset_state_variables()
    expected = _drive(net, 5, seed=2)
    got = _drive(loaded, 5, seed=2)
    assert all(torch.equal(a, b) for a, b in zip(expected, got, strict=True))
    _assert_same_state(loaded, net)


STANDALONE = [(kind, name) for kind in ("encoder", "reward") for name in _library_types(kind)]


@pytest.mark.parametrize(("kind", "name"), STANDALONE)
def test_component_round_trip_for_every_registered_standalone_type(kind, name):
    obj = _factory(kind, name)()
    entry = component_to_spec(obj)
    assert entry["type"] == name
    again = component_from_spec(kind, toml.loads(toml.dumps(entry)))
    assert type(again) is type(obj)
    assert component_to_spec(again) == entry
    if kind == "encoder":
        datum = torch.rand(3, 2, generator=_gen(0))
        assert torch.equal(obj(datum), again(datum))


# ------------------------------------------------------------------ the format
def small_network() -> Network:
    net = Network(dt=0.5, batch_size=2, learning=False, propagation="in_order")
    net.add_layer(Input(4, traces=True), "X")
    net.add_layer(LIFNodes(3, thresh=torch.tensor([-52.0, -53.0, -54.0])), "Y")
    net.add_connection(Connection(net.layers["X"], net.layers["Y"], torch.rand(4, 3)), "X", "Y")
    net.add_monitor(Monitor(net.layers["Y"], ["s"]), "Y")
    return net


def test_spec_layout_and_values():
    spec = network_to_spec(small_network())
    assert set(spec) == {"snnrl_spec", "network", "layers", "connections", "monitors"}
    assert spec["snnrl_spec"] == 1
    assert spec["network"] == {"dt": 0.5, "batch_size": 2, "learning": False, "propagation": "in_order"}
    x, y = spec["layers"]
    assert (x["name"], x["type"], x["params"]["n"], x["params"]["traces"]) == ("X", "Input", 4, True)
    assert y["params"]["thresh"] == {"tensor": [-52.0, -53.0, -54.0], "dtype": "float32"}
    assert "lbound" not in y["params"]  # None is left out
    conn = spec["connections"][0]
    assert {k: conn[k] for k in ("name", "source", "target", "type")} == {
        "name": "X->Y", "source": "X", "target": "Y", "type": "Connection"}
    assert conn["params"]["w"] == {"tensor": "checkpoint", "shape": [4, 3], "dtype": "float32"}
    assert "source" not in conn["params"] and "rule" not in conn["params"] and "generator" not in conn["params"]
    assert spec["monitors"] == [{"name": "Y", "type": "Monitor",
                                 "params": {"obj": {"ref": "layers.Y"}, "state_vars": ["s"], "sparse": False}}]


def test_spec_file_round_trip_and_from_path(tmp_path):
    net = small_network()
    path = tmp_path / "net.toml"
    write_spec(network_to_spec(net), path)
    assert read_spec(path) == network_to_spec(net)
    with pytest.raises(SpecError, match="checkpoint"):
        network_from_spec(path)  # its weights live in a checkpoint
    rebuilt = network_from_spec(str(path), net.state_dict())
    assert rebuilt.propagation == "in_order" and rebuilt.dt == 0.5 and not rebuilt.learning
    (tmp_path / "bad.toml").write_text("snnrl_spec = [")
    with pytest.raises(SpecError, match="not valid TOML"):
        network_from_spec(tmp_path / "bad.toml")


PRESET = """
snnrl_spec = 1

[network]
batch_size = 1

[[layers]]
name = "X"
type = "Input"
params = { n = 6, traces = true }

[[layers]]
name = "E"
type = "DiehlAndCookNodes"
params = { n = 5, generator = { seed = 11 } }

[[connections]]
source = "X"
target = "E"
type = "Connection"
params = { wmin = 0.0, wmax = 1.0, norm = 2.0 }
init = { dist = "uniform", low = 0.0, high = 0.3, seed = 0 }

[[connections]]
name = "inhibition"
source = "E"
target = "E"
type = "Connection"
init = { dist = "diagonal", value = 0.0, off = -120.0 }

[[connections]]
name = "const"
source = "X"
target = "X"
type = "Connection"
params = { b = { tensor = [1, 2, 3, 4, 5, 6] } }
init = { dist = "constant", value = 0.25 }

[[connections]]
name = "gauss"
source = "E"
target = "X"
type = "Connection"
params = { wmax = 0.5 }
init = { dist = "normal", mean = 0.0, std = 2.0, seed = 1 }

[[monitors]]
name = "E"
type = "Monitor"
params = { obj = { ref = "layers.E" }, state_vars = ["s", "theta"] }
"""


def test_preset_builds_from_init_tables():
    spec = toml.loads(PRESET)
    net = network_from_spec(spec)
    w = net.connections["X->E"].weight
    torch.testing.assert_close(w.sum(0), torch.full((5,), 2.0))  # norm re-imposed after init
    again = network_from_spec(spec).connections["X->E"].weight
    assert torch.equal(w, again)  # seeded
    inh = net.connections["inhibition"].weight
    assert torch.equal(inh, -120.0 * (1 - torch.eye(5)))
    const = net.connections["const"]
    assert torch.equal(const.weight, torch.full((6, 6), 0.25))
    assert torch.equal(const.bias, torch.arange(1.0, 7.0))
    gauss = net.connections["gauss"].weight
    assert gauss.max() <= 0.5 and gauss.min() < -1.0  # bounds re-imposed, std 2
    assert torch.equal(gauss, network_from_spec(spec).connections["gauss"].weight)
    assert net.layers["E"].generator.initial_seed() == 11
    # to_spec keeps the init tables, and the spec rebuilds the same network
    out = network_to_spec(net)
    assert out["connections"][0]["init"] == {"dist": "uniform", "low": 0.0, "high": 0.3, "seed": 0}
    assert out["connections"][2]["params"]["b"] == {"tensor": [1, 2, 3, 4, 5, 6], "dtype": "int64"}  # kept inline
    assert network_to_spec(network_from_spec(out)) == out  # so this spec still builds on its own
    net.run({"X": torch.rand(20, 1, 6) < 0.5})


def test_state_replaces_init():
    spec = toml.loads(PRESET)
    net = network_from_spec(spec)
    state = {k: v + 1 if v.is_floating_point() else v for k, v in net.state_dict().items()}
    loaded = network_from_spec(network_to_spec(net), state)
    for key, value in state.items():
        assert torch.equal(loaded.state_dict()[key], value)


def test_network_subclass_builds_itself():
    class MyNetwork(Network):
        pass

    net = network_from_spec(toml.loads(PRESET), network_cls=MyNetwork)
    assert type(net) is MyNetwork


@pytest.fixture
def scratch_registry():
    """Register test-only types and remove them afterwards."""
    saved = {kind: dict(table) for kind, table in registry._REGISTRY.items()}
    names = dict(registry._NAMES)
    yield
    for kind, table in registry._REGISTRY.items():
        table.clear()
        table.update(saved[kind])
    registry._NAMES.clear()
    registry._NAMES.update(names)


def test_user_registered_types(scratch_registry, tmp_path):
    @registry.register("nodes", name="GainLIF")
    class GainLIF(LIFNodes):
        def __init__(self, n: int, *, gain: float = 1.0, thresh: float | torch.Tensor = -52.0) -> None:
            super().__init__(n, thresh=thresh, refrac=0.0)
            self.gain = gain

        def _advance(self, x, state):
            return super()._advance(None if x is None else x * self.gain, state)

    @registry.register("rule", name="TestHebb")
    class TestHebb(LearningRule):
        def __init__(self, nu: float = 0.01, decay: float = 0.5) -> None:
            super().__init__()
            self.nu, self.decay = nu, decay
            self.register_buffer("trace", torch.zeros(0))

        def bind(self, connection):
            self.trace = torch.zeros(connection.weight.shape)

        def step(self, connection, reward):
            corr = connection.correlate(connection.source.s.float(), connection.target.s.float()).mean(0)
            self.trace.mul_(self.decay).add_(corr)
            connection.apply_update(self.nu * (1.0 if reward is None else float(reward)) * self.trace)

        def reset_state_variables(self, mask=None):
            self.trace.zero_()

    net = Network()
    net.add_layer(Input(4, traces=True), "X")
    net.add_layer(GainLIF(3, gain=2.0, thresh=torch.tensor([-60.0, -55.0, -50.0])), "Y")
    net.add_connection(Connection(net.layers["X"], net.layers["Y"], torch.rand(4, 3) * 10, wmin=0.0, wmax=20.0,
                                  rule=TestHebb(nu=0.1)), "X", "Y")
    x = torch.rand(10, 1, 4) < 0.5
    net.run({"X": x}, reward=1.0)
    spec = network_to_spec(net)
    assert spec["layers"][1]["type"] == "GainLIF" and spec["layers"][1]["params"]["gain"] == 2.0
    assert spec["connections"][0]["rule"] == {"type": "TestHebb", "params": {"nu": 0.1, "decay": 0.5}}
    assert toml.loads(toml.dumps(spec)) == spec
    save_checkpoint(net, tmp_path / "c.safetensors")
    loaded = load_checkpoint(tmp_path / "c.safetensors").network
    assert torch.equal(loaded.connections["X->Y"].rule.trace, net.connections["X->Y"].rule.trace)
    assert loaded.connections["X->Y"].rule.trace.abs().sum() > 0
    net.reset_state_variables()
    loaded.reset_state_variables()
    net.run({"X": x}, reward=1.0)
    loaded.run({"X": x}, reward=1.0)
    assert torch.equal(net.connections["X->Y"].weight, loaded.connections["X->Y"].weight)


def test_unregistered_type_cannot_be_described():
    class Plain(LIFNodes):  # a subclass inherits the recorded arguments but not the registration
        pass

    net = Network()
    net.add_layer(Plain(2), "P")
    with pytest.raises(SpecError, match=r"layers\[0\]\.type: .*Plain is not registered"):
        network_to_spec(net)


def test_foreign_objects_cannot_be_described():
    net = small_network()
    other = LIFNodes(3)
    net.add_monitor(Monitor(other, ["v"]), "foreign")
    with pytest.raises(SpecError, match=r"monitors\[1\]\.params\.obj: this LIFNodes is not a layer or connection"):
        network_to_spec(net)


def test_large_generator_seed_round_trips():
    g = torch.Generator()
    g.manual_seed(2**64 - 5)
    net = Network()
    net.add_layer(SRM0Nodes(2, generator=g), "S")
    spec = network_to_spec(net)
    assert spec["layers"][0]["params"]["generator"] == {"seed": str(2**64 - 5)}
    rebuilt = network_from_spec(toml.loads(toml.dumps(spec)))
    assert rebuilt.layers["S"].generator.initial_seed() == 2**64 - 5


# ---------------------------------------------------------------------- errors
def _base() -> dict:
    return toml.loads(PRESET)


def _set(path: list, value):
    def mutate(spec):
        target = spec
        for key in path[:-1]:
            target = target[key]
        target[path[-1]] = value
    return mutate


def _delete(path: list):
    def mutate(spec):
        target = spec
        for key in path[:-1]:
            target = target[key]
        del target[path[-1]]
    return mutate


ERRORS = [
    (_set(["layer"], []), r"^layer: unknown key; allowed: \['snnrl_spec'"),
    (_delete(["snnrl_spec"]), r"^snnrl_spec: missing required key"),
    (_set(["snnrl_spec"], 2), r"^snnrl_spec: unsupported spec version 2"),
    (_set(["network", "dtt"], 1.0), r"^network\.dtt: unknown key; allowed: \['dt', 'batch_size'"),
    (_set(["network", "dt"], -1.0), r"^network: dt must be a positive number"),
    (_set(["layers"], {"name": "X"}), r"^layers: must be an array of tables"),
    (_set(["layers", 1, "typ"], "LIFNodes"), r"^layers\[1\]\.typ: unknown key"),
    (_delete(["layers", 0, "name"]), r"^layers\[0\]\.name: missing required key"),
    (_delete(["layers", 1, "type"]), r"^layers\[1\]\.type: missing required key"),
    (_set(["layers", 1, "type"], "DiehlAndCook"),
     r"^layers\[1\]\.type: unknown nodes type 'DiehlAndCook'; registered: \[.*'DiehlAndCookNodes'"),
    (_set(["layers", 1, "params", "thetaplus"], 0.1),
     r"^layers\[1\]\.params\.thetaplus: unknown parameter of DiehlAndCookNodes; valid: \['n', 'shape'"),
    (_set(["layers", 1, "params", "refrac"], -1.0),
     r"^layers\[1\]\.params: DiehlAndCookNodes rejected its parameters: refrac must be >= 0"),
    (_set(["layers", 1, "params", "thresh"], {"tensor": [1.0], "dtyp": "float32"}),
     r"^layers\[1\]\.params\.thresh\.dtyp: unknown key in a tensor table"),
    (_set(["layers", 1, "params", "thresh"], {"tensor": [1.0], "dtype": "float33"}),
     r"^layers\[1\]\.params\.thresh\.dtype: unknown dtype 'float33'"),
    (_set(["layers", 1, "params", "thresh"], {"tensor": [[1.0], [2.0, 3.0]]}),
     r"^layers\[1\]\.params\.thresh\.tensor: not a valid tensor"),
    (_set(["layers", 1, "params", "generator"], {"seed": -3}), r"^layers\[1\]\.params\.generator\.seed: must be"),
    (_set(["layers", 1, "params"], [1, 2]), r"^layers\[1\]\.params: must be a table"),
    (_set(["layers", 1, "name"], "X"), r"^layers\[1\]\.name: a layer named 'X' already exists"),
    (_set(["layers", 1, "name"], ""), r"^layers\[1\]\.name: must be a non-empty string"),
    (_set(["connections", 0, "params", "wmaxx"], 1.0),
     r"^connections\[0\]\.params\.wmaxx: unknown parameter of Connection"),
    (_set(["connections", 0, "params", "source"], "X"),
     r"^connections\[0\]\.params\.source: is set by the entry's 'source' key"),
    (_set(["connections", 1, "source"], "Z"), r"^connections\[1\]\.source: unknown layer 'Z'; layers: \['X', 'E'\]"),
    (_delete(["connections", 1, "target"]), r"^connections\[1\]\.target: missing required key"),
    (_set(["connections", 1, "weights"], 1.0), r"^connections\[1\]\.weights: unknown key"),
    (_set(["connections", 1, "type"], "Dense"), r"^connections\[1\]\.type: unknown connection type 'Dense'"),
    (_set(["connections", 0, "init", "hig"], 1.0),
     r"^connections\[0\]\.init\.hig: unknown key for init dist 'uniform'; allowed: \['low', 'high', 'seed'\]"),
    (_set(["connections", 0, "init", "dist"], "xavier"), r"^connections\[0\]\.init\.dist: unknown init dist"),
    (_delete(["connections", 0, "init", "dist"]), r"^connections\[0\]\.init\.dist: missing"),
    (_set(["connections", 0, "init", "low"], "zero"), r"^connections\[0\]\.init\.low: must be a finite number"),
    (_set(["connections", 0, "init", "low"], 2.0), r"^connections\[0\]\.init\.low: low=2.0 is greater than high"),
    (_delete(["connections", 2, "init", "value"]), r"^connections\[2\]\.init: init dist 'constant' needs 'value'"),
    (_set(["connections", 0, "rule"], {"type": "NoSuchRule"}), r"^connections\[0\]\.rule\.type: unknown rule type"),
    (_set(["connections", 0, "rule"], {"type": "X", "parms": {}}), r"^connections\[0\]\.rule\.parms: unknown key"),
    (_set(["connections", 0, "params", "w"], {"tensor": "checkpoint", "shape": [6, 5], "dtype": "float32"}),
     r"^connections\[0\]\.params\.w: this tensor's values live in a checkpoint"),
    (_set(["connections", 0, "params", "w"], {"tensor": "checkpoint", "shape": [6, -5], "dtype": "float32"}),
     r"^connections\[0\]\.params\.w\.shape: must be a list of non-negative ints"),
    (_set(["connections", 0, "params", "w"], {"tensor": [1.0], "shape": [1]}),
     r"^connections\[0\]\.params\.w\.shape: only allowed with tensor = 'checkpoint'"),
    (_set(["connections", 1, "name"], "X->E"), r"^connections\[1\]\.name: a connection named 'X->E' already exists"),
    (_set(["monitors", 0, "params", "obj"], {"ref": "layers.Q"}),
     r"^monitors\[0\]\.params\.obj\.ref: unknown reference 'layers.Q'; known: \["),
    (_delete(["monitors", 0, "params", "state_vars"]),
     r"^monitors\[0\]\.params\.state_vars: missing required parameter of Monitor"),
    (_set(["monitors", 0, "params", "state_vars"], ["q"]),
     r"^monitors\[0\]\.params: Monitor rejected its parameters: .*no state variable 'q'"),
    (_set(["monitors", 0, "kind"], "x"), r"^monitors\[0\]\.kind: unknown key"),
]


@pytest.mark.parametrize(("mutate", "pattern"), ERRORS)
def test_spec_errors_name_the_key(mutate, pattern):
    spec = _base()
    network_from_spec(copy.deepcopy(spec))  # the unmodified preset is valid
    mutate(spec)
    with pytest.raises(SpecError, match=pattern):
        network_from_spec(spec)


def test_state_that_does_not_match_the_spec():
    net = small_network()
    state = net.state_dict()
    with pytest.raises(SpecError, match=r"state: the tensors do not match the spec: missing \['connections.X->Y."):
        network_from_spec(network_to_spec(net), {})
    bad = dict(state, extra=torch.zeros(1))
    with pytest.raises(SpecError, match=r"unexpected \['extra'\]"):
        network_from_spec(network_to_spec(net), bad)
    bad = dict(state, **{"connections.X->Y.weight": torch.zeros(3, 4)})
    with pytest.raises(SpecError, match=r"state\['connections.X->Y.weight'\]: has shape \(3, 4\)"):
        network_from_spec(network_to_spec(net), bad)
    bad = dict(state, **{"connections.X->Y.weight": torch.zeros(4, 3, dtype=torch.int64)})
    with pytest.raises(SpecError, match=r"dtype torch\.int64"):
        network_from_spec(network_to_spec(net), bad)


def test_component_errors():
    with pytest.raises(SpecError, match=r"^encoder\.type: unknown encoder type 'Poisson'"):
        component_from_spec("encoder", {"type": "Poisson"})
    with pytest.raises(SpecError, match=r"^enc\.params\.rate: unknown parameter of PoissonEncoder"):
        component_from_spec("encoder", {"type": "PoissonEncoder", "params": {"time": 5, "rate": 1}}, path="enc")
    with pytest.raises(SpecError, match=r"^encoder\.params\.time: missing required parameter"):
        component_from_spec("encoder", {"type": "PoissonEncoder"})
    with pytest.raises(SpecError, match=r"^encoder\.seed: unknown key"):
        component_from_spec("encoder", {"type": "PoissonEncoder", "seed": 1})
    enc = component_from_spec("encoder", {"type": "PoissonEncoder", "params": {"time": 5, "seed": 3}})
    assert isinstance(enc, PoissonEncoder) and enc.steps == 5


def test_blocks_init_inhibits_between_populations():
    spec = {"snnrl_spec": 1, "layers": [{"name": "A", "type": "LIFNodes", "params": {"n": 6}}],
            "connections": [{"source": "A", "target": "A", "type": "Connection",
                             "init": {"dist": "blocks", "size": 2, "off": -10.0}}]}
    w = network_from_spec(spec).connections["A->A"].weight
    expected = torch.full((6, 6), -10.0)
    for k in range(3):
        expected[2 * k:2 * k + 2, 2 * k:2 * k + 2] = 0.0
    assert torch.equal(w, expected)
    for bad, key in (({"dist": "blocks", "size": 4, "off": -1.0}, "size"), ({"dist": "blocks", "size": 2}, "off"),
                     ({"dist": "blocks", "size": 0, "off": -1.0}, "size")):
        spec["connections"][0]["init"] = bad
        with pytest.raises(SpecError, match=key):
            network_from_spec(spec)
