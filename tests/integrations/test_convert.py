"""ANN -> SNN conversion of plain torch networks (no stable-baselines3 needed)."""

import itertools

import pytest
import torch
from torch import nn

from snnrl.checkpoint import load_checkpoint, save_checkpoint
from snnrl.integrations.sb3.convert import (
    ConversionError,
    activation_code,
    convert_modules,
    linearize,
    simulate,
)
from snnrl.network import Monitor, Network, SubtractiveResetIFNodes


def _relative_error(conv, net, x, steps):
    summed, _ = simulate(conv.network, x, steps, conv.v_init)
    out = summed * conv.output_scale / steps
    ref = net(x)
    return float((out - ref).abs().mean() / ref.abs().mean()), out, ref


def _mlp(act, seed=0):
    torch.manual_seed(seed)
    return nn.Sequential(nn.Flatten(), nn.Linear(4, 32), act(), nn.Linear(32, 32), act(), nn.Linear(32, 3)).eval()


@pytest.mark.parametrize("act", [nn.ReLU, nn.Tanh])
def test_mlp_outputs_match_and_the_error_shrinks_with_t(act):
    net = _mlp(act).requires_grad_(False)
    gen = torch.Generator().manual_seed(1)
    conv = convert_modules(net, torch.randn(400, 4, generator=gen))
    x = torch.randn(100, 4, generator=gen)
    steps = (16, 32, 64, 128, 256)
    errors = [_relative_error(conv, net, x, t)[0] for t in steps]
    assert all(a > b for a, b in itertools.pairwise(errors)), errors
    # The tolerance tightens as 1/T (rate quantisation) down to a floor: rounding noise for ReLU,
    # plus the 8-segment approximation of tanh (0.25 % of the range, ~1 % of these outputs).
    floor = 0.005 if act is nn.ReLU else 0.015
    for t, e in zip(steps, errors, strict=True):
        assert e <= 2.0 / t + floor, (t, errors)
    assert errors[-1] < 0.02
    _, out, ref = _relative_error(conv, net, x, 256)
    assert (out.argmax(1) == ref.argmax(1)).float().mean() >= 0.95


def test_cnn_with_pooling_matches_the_ann():
    torch.manual_seed(0)
    net = nn.Sequential(
        nn.Conv2d(2, 8, 3, stride=2), nn.ReLU(), nn.Conv2d(8, 8, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(8, 8, 3), nn.ReLU(), nn.AvgPool2d(2), nn.Flatten(), nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 4),
    ).eval().requires_grad_(False)
    gen = torch.Generator().manual_seed(2)
    conv = convert_modules(net, torch.rand(200, 2, 17, 17, generator=gen))
    x = torch.rand(50, 2, 17, 17, generator=gen)
    errors = [_relative_error(conv, net, x, t)[0] for t in (16, 32, 64, 128)]
    e256, out, ref = _relative_error(conv, net, x, 256)
    errors.append(e256)
    assert all(a > b for a, b in itertools.pairwise(errors)), errors
    for t, e in zip((16, 32, 64, 128, 256), errors, strict=True):
        assert e <= 1.0 / t + 0.003, (t, errors)  # tightens as 1/T
    assert e256 < 0.02
    assert (out.argmax(1) == ref.argmax(1)).float().mean() >= 0.95
    kinds = [type(c).__name__ for c in conv.network.connections.values()]
    assert kinds == ["Conv2dConnection", "Conv2dConnection", "MaxPool2dConnection", "Conv2dConnection",
                     "Conv2dConnection", "Connection", "Connection"]


def test_network_structure_in_order_if_neurons_threshold_one():
    net = _mlp(nn.ReLU)
    conv = convert_modules(net, torch.randn(50, 4))
    n = conv.network
    assert isinstance(n, Network) and n.propagation == "in_order" and not n.learning
    assert list(n.layers) == ["input", "l1", "l2", "output"]
    for name in ("l1", "l2", "output"):
        layer = n.layers[name]
        assert isinstance(layer, SubtractiveResetIFNodes) and float(layer.p.thresh) == 1.0
    assert n.layers["output"].sum_input
    assert all(c.bias is not None for c in n.connections.values())


def test_spike_counts_are_exact():
    """``simulate``'s counts (summed + v_init - v) equal the recorded output spikes."""
    net = _mlp(nn.ReLU)
    conv = convert_modules(net, torch.randn(100, 4))
    conv.network.add_monitor(Monitor(conv.network.layers["output"], ["s"]), "out")
    _, counts = simulate(conv.network, torch.randn(7, 4), 40, conv.v_init)
    recorded = conv.network.monitors["out"].get("s").sum(0).float()
    assert torch.equal(counts, recorded)


def test_replicas_buy_precision_like_more_steps():
    net = _mlp(nn.ReLU, seed=3).requires_grad_(False)
    calib, x = torch.randn(400, 4), torch.randn(100, 4)
    single = convert_modules(net, calib)
    quad = convert_modules(net, calib, replicas=4)
    assert quad.network.layers["l1"].n == 4 * 32
    e_single, _, _ = _relative_error(single, net, x, 32)
    e_quad, _, _ = _relative_error(quad, net, x, 32)
    e_long, _, _ = _relative_error(single, net, x, 128)
    assert e_quad < 0.6 * e_single
    assert e_quad < 2.0 * e_long


def test_layer_and_channel_normalisation_both_work():
    net = _mlp(nn.ReLU).requires_grad_(False)
    calib, x = torch.randn(300, 4), torch.randn(60, 4)
    for mode in ("layer", "channel"):
        conv = convert_modules(net, calib, normalization=mode)
        assert _relative_error(conv, net, x, 128)[0] < 0.05


@pytest.mark.parametrize("module, fn", [
    (nn.ReLU6(), nn.functional.relu6),
    (nn.Hardtanh(-2.0, 0.5), lambda x: nn.functional.hardtanh(x, -2.0, 0.5)),
    (nn.Hardsigmoid(), nn.functional.hardsigmoid),
])
def test_piecewise_linear_activations_are_exact(module, fn):
    x = torch.linspace(-9, 9, 2001, dtype=torch.float64)
    code = activation_code(module)
    assert torch.allclose(code(x), fn(x), atol=1e-9)


def test_smooth_activations_approximation_error():
    x = torch.linspace(-12, 12, 4001, dtype=torch.float64)
    for module, fn in ((nn.Tanh(), torch.tanh), (nn.Sigmoid(), torch.sigmoid)):
        errors = []
        for k in (4, 8):
            code = activation_code(module, segments=k)
            err = float((code(x) - fn(x)).abs().max())
            assert err <= code.max_error + 1e-9
            assert code(torch.zeros(1, dtype=torch.float64)).item() == pytest.approx(float(fn(torch.zeros(1))))
            errors.append(err)
        assert errors[1] < errors[0] / 2 and errors[1] < 0.003


def test_clear_errors_for_unsupported_networks():
    with pytest.raises(ConversionError, match="LeakyReLU"):
        convert_modules(nn.Sequential(nn.Linear(3, 4), nn.LeakyReLU(), nn.Linear(4, 2)), torch.randn(5, 3))
    with pytest.raises(ConversionError, match="end with a Linear layer"):
        convert_modules(nn.Sequential(nn.Linear(3, 4), nn.ReLU()), torch.randn(5, 3))
    with pytest.raises(ConversionError, match="must follow an activation"):
        convert_modules(nn.Sequential(nn.Conv2d(1, 2, 3), nn.MaxPool2d(2), nn.Flatten(), nn.Linear(2, 2)),
                        torch.randn(5, 1, 6, 6))
    with pytest.raises(ConversionError, match="max pooling"):
        convert_modules(nn.Sequential(nn.Conv2d(1, 2, 3), nn.Tanh(), nn.MaxPool2d(2), nn.Flatten(), nn.Linear(8, 2)),
                        torch.randn(5, 1, 6, 6))
    with pytest.raises(ValueError, match="percentile"):
        convert_modules(_mlp(nn.ReLU), torch.randn(5, 4), percentile=0)


def test_linear_layers_in_a_row_are_merged():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(3, 5), nn.Linear(5, 6), nn.ReLU(), nn.Linear(6, 2)).requires_grad_(False)
    conv = convert_modules(net, torch.randn(200, 3))
    assert list(conv.network.layers) == ["input", "l1", "output"]
    x = torch.randn(40, 3)
    assert _relative_error(conv, net, x, 256)[0] < 0.02


def test_linearize_opens_containers_and_skips_identity():
    inner = nn.Sequential(nn.Linear(2, 3), nn.Identity(), nn.Dropout(0.1), nn.ReLU())
    leaves = linearize([inner, nn.Linear(3, 1)])
    assert [type(m).__name__ for m in leaves] == ["Linear", "ReLU", "Linear"]


def test_converted_network_checkpoint_round_trip(tmp_path):
    net = _mlp(nn.Tanh)
    conv = convert_modules(net, torch.randn(100, 4), replicas=2)
    path = tmp_path / "snn.safetensors"
    save_checkpoint(conv.network, str(path))
    loaded = load_checkpoint(str(path)).network
    x = torch.randn(9, 4)
    a, _ = simulate(conv.network, x, 20, conv.v_init)
    b, _ = simulate(loaded, x, 20, conv.v_init)
    assert torch.equal(a, b)
