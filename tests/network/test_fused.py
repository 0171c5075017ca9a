"""The core's fused path for competitive networks (``snnrl.fused``) on networks built by hand,
with their own layer names, against ``Network.run``; what it refuses, and why."""

from __future__ import annotations

import pytest
import torch

from snnrl.fused import ShapeError, competitive_parts, run_competitive
from snnrl.learning import Hebbian, PostPre
from snnrl.network import Connection, DiehlAndCookNodes, Input, LIFNodes, Monitor, Network

N_IN, N = 40, 6


def competitive(inhibition: str = "layer", *, rule: object = "postpre", batch: int = 1, seed: int = 0,
                thresh: float | torch.Tensor = -54.0, bias: bool = False, propagation: str = "synchronous",
                reduction: str = "sum") -> Network:
    """A Diehl & Cook-like network named unlike the vision model's (``pixels``, ``exc``, ``inh``)."""
    g = torch.Generator().manual_seed(seed)
    net = Network(dt=1.0, batch_size=batch, propagation=propagation)
    net.add_layer(Input(N_IN), "pixels")
    exc = DiehlAndCookNodes(N, thresh=thresh, rest=-65.0, reset=-60.0, refrac=4.0, tc_decay=80.0, theta_plus=0.2,
                            tc_theta_decay=500.0, one_spike=False)
    net.add_layer(exc, "exc")
    learn = PostPre(nu=(2e-3, 5e-2), reduction=reduction, tc_pre=15.0, tc_post=25.0) if rule == "postpre" else rule
    net.add_connection(Connection(net.layers["pixels"], exc, torch.rand(N_IN, N, generator=g) * 0.6, wmin=0.0,
                                  wmax=1.0, rule=learn, b=torch.full((N,), 0.5) if bias else None), "pixels", "exc")
    lateral = -30.0 * (1.0 - torch.eye(N)) - 5.0 * torch.rand(N, N, generator=g)
    if inhibition == "layer":
        inh = LIFNodes(N, thresh=-45.0, rest=-60.0, reset=-50.0, refrac=2.0, tc_decay=12.0)
        net.add_layer(inh, "inh")
        net.add_connection(Connection(exc, inh, 20.0 * torch.eye(N)), "exc", "inh")
        net.add_connection(Connection(inh, exc, lateral), "inh", "exc")
    else:
        net.add_connection(Connection(exc, exc, lateral), "exc", "exc")
    return net


def generic_run(net: Network, spikes: torch.Tensor, learning: bool) -> torch.Tensor:
    net.train(learning)
    mon = Monitor(net.layers["exc"], ["s"])
    net.add_monitor(mon, "exc_spikes")
    net.run({"pixels": spikes})
    del net.monitors["exc_spikes"]
    return mon.get("s")


@pytest.mark.parametrize("inhibition", ["layer", "direct"])
@pytest.mark.parametrize("learning", [True, False])
@pytest.mark.parametrize("batch", [1, 3])
def test_a_network_of_that_shape_runs_as_network_run_computes(inhibition: str, learning: bool, batch: int) -> None:
    """Side by side inputs learn with the batch mean, as ``Network.run`` (the module docstring says
    how ``reduction="sum"`` differs)."""
    spikes = torch.rand(160, batch, N_IN, generator=torch.Generator().manual_seed(1)) < 0.1
    reduction = "sum" if batch == 1 else "mean"
    fast = competitive(inhibition, batch=batch, reduction=reduction)
    ref = competitive(inhibition, batch=batch, reduction=reduction)
    act = run_competitive(fast, spikes, learning=learning)
    s_ref = generic_run(ref, spikes, learning)
    assert int(s_ref.sum()) > 10  # the comparison is not between two silent networks
    assert torch.equal(act.spikes(), s_ref)
    # the network's own tensors changed in place, as Network.run changed the reference's
    w, w_ref = fast.connections["pixels->exc"].weight, ref.connections["pixels->exc"].weight
    torch.testing.assert_close(w, w_ref, rtol=0, atol=1e-6)
    torch.testing.assert_close(fast.layers["exc"].theta, ref.layers["exc"].theta, rtol=1e-5, atol=1e-6)
    if learning:
        assert not torch.equal(w, competitive(inhibition).connections["pixels->exc"].weight)


def test_the_parts_are_read_from_the_network() -> None:
    net = competitive()
    parts = competitive_parts(net)
    p = parts.params
    assert (p.n_input, p.n_neurons, p.inhibition, p.exc) == (N_IN, N, "layer", 20.0)
    assert (p.thresh, p.reset, p.refrac, p.tc_decay, p.theta_plus, p.tc_theta_decay) == (-54.0, -60.0, 4.0, 80.0,
                                                                                         pytest.approx(0.2), 500.0)
    assert (p.inh_thresh, p.inh_reset, p.inh_tc_decay) == (-45.0, -50.0, 12.0)
    assert (p.nu_pre, p.nu_post, p.tc_pre, p.tc_post, p.reduction) == (pytest.approx(2e-3), pytest.approx(5e-2),
                                                                        15.0, 25.0, "sum")
    assert parts.weight.data_ptr() == net.connections["pixels->exc"].weight.data_ptr()
    assert parts.theta is net.layers["exc"].theta and parts.learns


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda net: net.add_monitor(Monitor(net.layers["exc"], ["s"]), "m"), r"records no monitors; remove \['m'\]"),
        (lambda net: net.add_layer(LIFNodes(3), "extra"), "at most one LIFNodes layer"),
        (lambda net: net.add_connection(Connection(net.layers["pixels"], net.layers["inh"]), "pixels", "inh"),
         "connections are"),
    ],
)
def test_another_shape_is_refused_with_what_differs(change, message) -> None:
    net = competitive()
    change(net)
    with pytest.raises(ShapeError, match=message):
        run_competitive(net, torch.zeros(5, 1, N_IN, dtype=torch.bool))


def test_refused_options_are_named() -> None:
    spikes = torch.zeros(5, 1, N_IN, dtype=torch.bool)
    with pytest.raises(ShapeError, match="pixels->exc has a bias; the fused path has none"):
        run_competitive(competitive(bias=True), spikes)
    with pytest.raises(ShapeError, match="must learn by PostPre"):
        run_competitive(competitive(rule=Hebbian()), spikes)
    with pytest.raises(ShapeError, match="synchronous propagation; this network's is 'in_order'"):
        run_competitive(competitive(propagation="in_order"), spikes)
    with pytest.raises(ShapeError, match=r"'exc''s thresh must be one number .* shape \(6,\)"):
        run_competitive(competitive(thresh=torch.full((N,), -54.0)), spikes)
    with pytest.raises(ShapeError, match="learning=True needs a rule"):
        run_competitive(competitive(rule=None), spikes, learning=True)
    assert run_competitive(competitive(rule=None), spikes).counts.shape == (1, N)  # testing needs no rule
    with pytest.raises(TypeError, match="expected a Network"):
        competitive_parts("net")  # type: ignore[arg-type]


def test_diehl_cook_runs_through_a_network_that_shares_its_tensors() -> None:
    from snnrl.vision.models import DiehlCook, DiehlCookConfig

    model = DiehlCook(DiehlCookConfig(n_input=N_IN, n_neurons=N, one_spike=False, norm=None, init_scale=1.0),
                      generator=torch.Generator().manual_seed(0))
    net = model.network()
    assert net.connections["X->Ae"].weight.data_ptr() == model.weight.data_ptr()
    assert net.layers["Ae"].theta is model.theta
    spikes = torch.rand(100, 1, N_IN, generator=torch.Generator().manual_seed(2)) < 0.1
    before = model.weight.clone()
    model.run(spikes, learning=True)
    assert not torch.equal(model.weight, before) and float(model.theta.sum()) > 0
    # new tensors (a load that replaces them, a dtype or device move) are picked up
    moved = model.to(torch.float64).to(torch.float32)
    assert moved._fused_parts().weight.data_ptr() == moved.weight.data_ptr()
