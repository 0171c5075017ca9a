"""Every connection type on a CUDA device gives what it gives on the CPU (skipped without CUDA)."""

import copy

import pytest
import torch

from snnrl import (
    Connection,
    Conv2dConnection,
    Conv3dConnection,
    Input,
    LIFNodes,
    LocalConnection1D,
    LocalConnection2D,
    MaxPool2dConnection,
    MeanFieldConnection,
    Monitor,
    Network,
    RandomSparseConnection,
    SparseConnection,
)

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")


def gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def cases():
    dale = torch.rand(300, generator=gen(0)) < 0.7
    return {
        "dense": lambda: Connection(Input(300), LIFNodes(80), torch.randn(300, 80, generator=gen(1)),
                                    b=torch.ones(80), dale=dale, intensity=torch.rand(300, 80, generator=gen(2))),
        "dense_delays": lambda: Connection(Input(300), LIFNodes(80), torch.randn(300, 80, generator=gen(1)),
                                           delay=torch.randint(0, 4, (300, 80), generator=gen(3))),
        "sparse": lambda: RandomSparseConnection(Input(300), LIFNodes(80), 0.3, b=torch.ones(80), dale=dale,
                                                 generator=gen(4)),
        "sparse_delays": lambda: RandomSparseConnection(Input(300), LIFNodes(80), 0.3, delay=(0, 3),
                                                        generator=gen(5)),
        "conv2d": lambda: Conv2dConnection(Input(shape=(4, 9, 9)), LIFNodes(shape=(6, 5, 5)), 3, 2, 1, 1, 2,
                                           b=torch.ones(6), generator=gen(6), delay=2),
        "conv3d": lambda: Conv3dConnection(Input(shape=(2, 5, 5, 5)), LIFNodes(shape=(3, 3, 3, 3)), 3,
                                           generator=gen(7)),
        "local1d": lambda: LocalConnection1D(Input(shape=(3, 12)), LIFNodes(shape=(4, 5)), 3, 2, 0, 1,
                                             generator=gen(8)),
        "local2d": lambda: LocalConnection2D(Input(shape=(2, 7, 7)), LIFNodes(shape=(3, 7, 7)), 3, padding=1,
                                             dale=torch.rand(2, 7, 7, generator=gen(9)) < 0.5, generator=gen(9)),
        "mean_field": lambda: MeanFieldConnection(Input(shape=(3, 10)), LIFNodes(7), torch.randn(7, generator=gen(10)),
                                                  delay=1),
        "pool_rate": lambda: MaxPool2dConnection(Input(shape=(3, 8, 8)), LIFNodes(shape=(3, 4, 4)), 2, mode="rate"),
    }


@pytest.mark.parametrize("name", list(cases()))
def test_cuda_matches_cpu(name):
    cpu = cases()[name]()
    gpu = copy.deepcopy(cpu).to("cuda")
    seq = torch.rand(6, 3, *cpu.source.shape, generator=gen(11)) < 0.2
    want = torch.stack([cpu.compute(x) for x in seq])
    got = torch.stack([gpu.compute(x.cuda()) for x in seq])
    assert got.device.type == "cuda"
    torch.testing.assert_close(got.cpu(), want, rtol=1e-4, atol=1e-4)
    cpu.reset_state_variables()
    gpu.reset_state_variables()
    torch.testing.assert_close(gpu.compute_sequence(seq.float().cuda()).cpu(), cpu.compute_sequence(seq.float()),
                               rtol=1e-4, atol=1e-4)
    if name == "pool_rate":
        return
    pre, post = torch.rand(3, *cpu.source.shape), torch.rand(3, *cpu.target.shape)
    torch.testing.assert_close(gpu.correlate(pre.cuda(), post.cuda()).cpu(), cpu.correlate(pre, post),
                               rtol=1e-4, atol=1e-4)
    dw = torch.randn(cpu.weight.shape, generator=gen(12))
    cpu.apply_update(dw)
    gpu.apply_update(dw.cuda())
    torch.testing.assert_close(gpu.weight.cpu(), cpu.weight, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("sparse", [False, True])
def test_cuda_transmission_probability(sparse):
    w = torch.rand(200, 50, generator=gen(13)) + 0.5
    cls = SparseConnection if sparse else Connection
    s = (torch.rand(4, 200, generator=gen(14)) < 0.5).cuda()
    always = cls(Input(200), LIFNodes(50), w, probability=1.0).cuda()
    torch.testing.assert_close(always.compute(s), s.float() @ w.cuda(), rtol=1e-4, atol=1e-3)
    g = torch.Generator(device="cuda").manual_seed(0)
    half = cls(Input(200), LIFNodes(50), w, probability=0.5, generator=g).cuda()
    ratio = torch.stack([half.compute(s) for _ in range(50)]).mean(0) / (s.float() @ w.cuda())
    assert (ratio - 0.5).abs().max() < 0.1


def test_cuda_network_with_delays_runs_like_steps():
    def build():
        net = Network().to("cuda")
        net.add_layer(Input(64), "X")
        net.add_layer(LIFNodes(16), "Y")
        net.add_connection(Connection(net.layers["X"], net.layers["Y"], torch.rand(64, 16, generator=gen(15)) * 0.5,
                                      delay=torch.randint(0, 5, (64, 16), generator=gen(16))), "X", "Y")
        net.add_connection(SparseConnection(net.layers["X"], net.layers["Y"], torch.rand(64, 16, generator=gen(17)),
                                            delay=2), "X", "Y", name="sparse")
        net.to("cuda")
        net.add_monitor(Monitor(net.layers["Y"], ["v"]), "Y")
        return net

    x = (torch.rand(20, 2, 64, generator=gen(18)) < 0.2).cuda()
    a, b = build(), build()
    a.run({"X": x})
    for t in range(20):
        b.step({"X": x[t]})
    torch.testing.assert_close(a.monitors["Y"].get("v"), b.monitors["Y"].get("v"))
    assert a.monitors["Y"].get("v").is_cuda
