"""Populations: per-neuron parameters, state API, dtype/device moves."""

import inspect

import pytest
import torch

from snnrl import (
    AdaptiveLIFNodes,
    BoostedLIFNodes,
    Connection,
    CurrentLIFNodes,
    DiehlAndCookNodes,
    IFNodes,
    Input,
    IzhikevichNodes,
    LIFNodes,
    McCullochPitts,
    Monitor,
    Network,
    SRM0Nodes,
    SubtractiveResetIFNodes,
)
from snnrl.registry import constructor_args

ALL_NODES = [McCullochPitts, IFNodes, LIFNodes, BoostedLIFNodes, CurrentLIFNodes, AdaptiveLIFNodes,
             DiehlAndCookNodes, IzhikevichNodes, SRM0Nodes, SubtractiveResetIFNodes]


def test_per_neuron_parameters():
    thresh = torch.tensor([-60.0, -55.0, -50.0])
    layer = LIFNodes(3, thresh=thresh, refrac=torch.tensor([0.0, 2.0, 5.0]))
    for _ in range(4):
        layer(torch.full((1, 3), 3.0))  # -65 + 3 per step (minus a little leak)
    # only the neuron with the lowest threshold has crossed it (after 3 steps)
    assert layer.refrac_count[0].tolist()[0] <= 0
    counts = torch.zeros(3)
    for _ in range(100):
        counts += layer(torch.full((1, 3), 3.0))[0].float()
    assert counts[0] > counts[1] > counts[2] > 0
    with pytest.raises(ValueError, match="broadcastable to the population shape"):
        LIFNodes(3, thresh=torch.zeros(4))


@pytest.mark.parametrize("cls", ALL_NODES)
def test_every_population_steps_resets_and_lists_its_state(cls):
    layer = cls(shape=(2, 3), traces=True)
    layer.set_batch_size(4)
    s = layer(torch.full((4, 2, 3), 30.0))
    assert s.shape == (4, 2, 3) and s.dtype == torch.bool
    for name in layer.state_names:
        assert getattr(layer, name) is not None
    assert layer.x.shape == (4, 2, 3)
    layer.reset_state_variables()
    assert not layer.s.any() and layer.x.abs().sum() == 0
    with pytest.raises(ValueError, match=r"expected \(4, 2, 3\)"):
        layer(torch.zeros(2, 2, 3))


def test_input_layer_stores_its_input_unchanged():
    layer = Input(5)
    x = torch.tensor([[0.0, 0.5, 1.0, 2.0, -1.0]])
    assert layer(x) is x  # no copy, no conversion
    assert torch.equal(x, torch.tensor([[0.0, 0.5, 1.0, 2.0, -1.0]]))


def test_network_double_precision_matches_float():
    def build():
        net = Network()
        net.add_layer(Input(20), "X")
        net.add_layer(AdaptiveLIFNodes(10, traces=True), "Y")
        w = torch.rand(20, 10, generator=torch.Generator().manual_seed(0)) * 6
        net.add_connection(Connection(net.layers["X"], net.layers["Y"], w, wmin=0.0, wmax=torch.ones(20, 10)), "X", "Y")
        net.add_monitor(Monitor(net.layers["Y"], ["v"]), "v")
        return net

    x = torch.rand(30, 1, 20, generator=torch.Generator().manual_seed(1)) < 0.3
    a, b = build(), build().double()
    a.run({"X": x})
    b.run({"X": x})
    assert b.layers["Y"].v.dtype == torch.float64 and b.layers["Y"].theta.dtype == torch.float64
    assert b.connections["X->Y"].wmax.dtype == torch.float64
    torch.testing.assert_close(a.monitors["v"].get("v").double(), b.monitors["v"].get("v"), rtol=0, atol=1e-4)


def test_state_dict_holds_each_tensor_once():
    net = Network()
    net.add_layer(Input(4), "X")
    net.add_layer(DiehlAndCookNodes(3), "Y")
    net.add_connection(Connection(net.layers["X"], net.layers["Y"], b=torch.zeros(3)), "X", "Y")
    assert sorted(net.state_dict()) == ["connections.X->Y.bias", "connections.X->Y.weight", "layers.Y.theta"]


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_matches_cpu():
    def build():
        net = Network()
        net.add_layer(Input(500), "X")
        net.add_layer(LIFNodes(64, traces=True), "H")
        net.add_layer(AdaptiveLIFNodes(8), "O")
        g = torch.Generator().manual_seed(0)
        net.add_connection(Connection(net.layers["X"], net.layers["H"], torch.rand(500, 64, generator=g)), "X", "H")
        net.add_connection(Connection(net.layers["H"], net.layers["O"], torch.rand(64, 8, generator=g) * 5), "H", "O")
        net.add_monitor(Monitor(net.layers["O"], ["s", "v"]), "O")
        return net

    x = torch.rand(50, 3, 500, generator=torch.Generator().manual_seed(1)) < 0.05
    cpu, gpu = build(), build().to("cuda")
    cpu.run({"X": x})
    gpu.run({"X": x.cuda()})
    assert gpu.layers["O"].v.device.type == "cuda"
    assert torch.equal(cpu.monitors["O"].get("s"), gpu.monitors["O"].get("s").cpu())
    torch.testing.assert_close(cpu.monitors["O"].get("v"), gpu.monitors["O"].get("v").cpu(), rtol=1e-4, atol=1e-3)


def test_reset_selected_batch_elements_only():
    layer = LIFNodes(3, traces=True)
    layer.set_batch_size(3)
    for _ in range(3):
        layer(torch.full((3, 3), 5.0))
    before_v, before_x = layer.v.clone(), layer.x.clone()
    layer.reset_state_variables(torch.tensor([False, True, False]))
    assert torch.equal(layer.v[[0, 2]], before_v[[0, 2]]) and torch.equal(layer.x[[0, 2]], before_x[[0, 2]])
    assert torch.equal(layer.v[1], torch.full((3,), -65.0)) and layer.x[1].abs().sum() == 0
    with pytest.raises(ValueError, match=r"shape \(B,\) = \(3,\)"):
        layer.reset_state_variables(torch.tensor([True, False]))


OPTIONS = {"traces": False, "traces_additive": False, "tc_trace": 20.0, "trace_scale": 1.0, "sum_input": False}


@pytest.mark.parametrize("cls", ALL_NODES)
def test_the_population_options_are_spelled_out_in_every_signature(cls):
    """Subclasses take them as **options; specs and the registry still see them one by one."""
    params = inspect.signature(cls).parameters
    assert {name: params[name].default for name in OPTIONS} == OPTIONS
    assert all(params[name].kind is inspect.Parameter.KEYWORD_ONLY for name in OPTIONS)
    assert not any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())
    layer = cls(4, traces=True, traces_additive=True, tc_trace=5.0, trace_scale=0.5, sum_input=True)
    assert (layer.traces, layer.traces_additive, layer.tc_trace, layer.trace_scale, layer.sum_input) == (
        True, True, 5.0, 0.5, True)
    assert {k: v for k, v in constructor_args(layer).items() if k in OPTIONS}["tc_trace"] == 5.0
    with pytest.raises(TypeError, match="unexpected keyword argument 'tc_trcae'"):
        cls(4, tc_trcae=5.0)


def test_a_subclass_may_not_declare_an_option_and_take_options():
    with pytest.raises(TypeError, match=r"declares \['traces'\] and \*\*options"):
        class Bad(LIFNodes):
            def __init__(self, n=None, *, traces=False, **options):
                super().__init__(n, traces=traces, **options)
