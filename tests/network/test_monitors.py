"""Monitors: buffer contents, ring buffers, sparse storage, network monitors."""

import numpy as np
import pytest
import torch

from snnrl import Connection, Input, LIFNodes, Monitor, Network, NetworkMonitor


def small_net() -> Network:
    net = Network()
    net.add_layer(Input(30), "X")
    net.add_layer(LIFNodes(10), "Y")
    w = torch.rand(30, 10, generator=torch.Generator().manual_seed(0)) * 8
    net.add_connection(Connection(net.layers["X"], net.layers["Y"], w), "X", "Y")
    return net


def inputs(steps: int, seed: int = 0) -> torch.Tensor:
    return torch.rand(steps, 2, 30, generator=torch.Generator().manual_seed(seed)) < 0.2


def test_monitor_records_exactly_the_state_of_every_step():
    net = small_net()
    mon = Monitor(net.layers["Y"], ["v", "s"])
    net.add_monitor(mon, "Y")
    x = inputs(25)
    manual_v, manual_s = [], []
    for t in range(25):
        net.step({"X": x[t]})
        manual_v.append(net.layers["Y"].v.clone())
        manual_s.append(net.layers["Y"].s.clone())
    assert len(mon) == 25
    torch.testing.assert_close(mon.get("v"), torch.stack(manual_v))
    assert torch.equal(mon.get("s"), torch.stack(manual_s))
    assert mon.get("s").any()


def test_growth_across_runs_keeps_order():
    net = small_net()
    mon = Monitor(net.layers["Y"], "v")
    net.add_monitor(mon, "Y")
    net.run({"X": inputs(7)})
    first = mon.get("v").clone()
    net.run({"X": inputs(50, seed=1)})
    assert mon.get("v").shape == (57, 2, 10)
    torch.testing.assert_close(mon.get("v")[:7], first)


def test_ring_buffer_keeps_last_steps_in_order():
    net = small_net()
    full = Monitor(net.layers["Y"], ["v"])
    ring = Monitor(net.layers["Y"], ["v"], time=8)
    net.add_monitor(full, "full")
    net.add_monitor(ring, "ring")
    net.run({"X": inputs(21)})
    assert len(ring) == 8
    torch.testing.assert_close(ring.get("v"), full.get("v")[-8:])


def test_sparse_spike_storage_matches_dense():
    net = small_net()
    dense = Monitor(net.layers["Y"], ["s"])
    sparse = Monitor(net.layers["Y"], ["s", "v"], sparse=True)
    net.add_monitor(dense, "dense")
    net.add_monitor(sparse, "sparse")
    net.run({"X": inputs(30)})
    got = sparse.get("s")
    assert got.is_sparse and got.shape == (30, 2, 10)
    assert torch.equal(got.to_dense(), dense.get("s"))
    assert not sparse.get("v").is_sparse  # only boolean variables are stored sparsely


def test_connection_weights_and_reset():
    net = small_net()
    mon = Monitor(net.connections["X->Y"], ["w"])
    net.add_monitor(mon, "w")
    net.run({"X": inputs(3)})
    assert mon.get("w").shape == (3, 30, 10)
    net.reset_state_variables()
    assert len(mon) == 0


def test_network_monitor_and_save(tmp_path):
    net = small_net()
    nm = NetworkMonitor(net, state_vars=("s", "v", "w"))
    net.add_monitor(nm, "all")
    net.run({"X": inputs(5)})
    got = nm.get()
    assert set(got) == {"X", "Y", "X->Y"}
    assert set(got["Y"]) == {"s", "v"} and set(got["X"]) == {"s"} and set(got["X->Y"]) == {"w"}
    path = tmp_path / "rec.npz"
    nm.save(str(path))
    with np.load(path) as data:
        np.testing.assert_array_equal(data["Y/v"], got["Y"]["v"].numpy())


def test_monitor_errors():
    net = small_net()
    with pytest.raises(ValueError, match="has no state variable 'q'"):
        Monitor(net.layers["Y"], ["v", "q"])
    with pytest.raises(ValueError, match="positive int"):
        Monitor(net.layers["Y"], ["v"], time=0)
    with pytest.raises(TypeError, match="can only monitor"):
        Monitor(net, ["v"])
    mon = Monitor(net.layers["Y"], ["v"])
    with pytest.raises(ValueError, match="does not record 's'"):
        mon.get("s")
    with pytest.raises(ValueError, match="unknown layer 'Z'"):
        NetworkMonitor(net, layers=["Z"])
