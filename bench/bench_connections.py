"""Connection types: sparse vs dense propagation across densities, and conv / local / pooling step time.

Sparse vs dense: ``n`` inputs -> ``n`` targets, a random fraction ``density`` of the pairs
connected (:class:`RandomSparseConnection`), and a :class:`Connection` holding the same synapses
as a dense matrix. Each step propagates a fresh boolean spike vector with ``activity`` of the
inputs active (batch 1). Columns: the dense connection's own CPU path (``embedding_bag`` over
the active rows), the dense matrix product (what BindsNET does, and what ``Connection`` does
for real-valued input), the sparse connection, and the memory of the weights (with the index
lists for sparse). Times are microseconds per step, the median of ``--repeats`` repeats of
``--steps`` steps.

Conv / local / pooling: an MNIST-sized layer, ``(1, 28, 28)`` -> 32 maps of ``24 x 24`` (5 x 5
kernels), input spikes with 10 % activity, batch 1 and 16: one ``compute`` (a step's
propagation) and one ``correlate`` (what a learning rule pays per step). The "as dense" column
is the same connection stored as a dense (masked) ``(784, 18432)`` matrix, as BindsNET's
``LocalConnection`` does.

One torch thread. Usage:
    python bench/bench_connections.py [--n 5000] [--activity 0.05] [--batch 1] [--device cpu]
                                      [--repeats 7] [--steps 100] [--skip-sparse] [--skip-spatial]
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import torch

from snnrl import (
    Connection,
    Conv2dConnection,
    Input,
    LIFNodes,
    LocalConnection2D,
    MaxPool2dConnection,
    RandomSparseConnection,
)

DENSITIES = (0.001, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2)


def median_times(fns: list[Callable[[int], object]], steps: int, repeats: int, cuda: bool = False) -> list[float]:
    """For each ``fn``: the median over ``repeats`` of the mean time of ``fn(i)`` for ``i in range(steps)``
    (seconds). The functions are timed in turn within each repeat, so that a noisy machine
    slows them alike."""
    sync = torch.cuda.synchronize if cuda else (lambda: None)
    for fn in fns:
        for i in range(min(steps, 10)):  # warm-up
            fn(i)
    times: list[list[float]] = [[] for _ in fns]
    for _ in range(repeats):
        for fn, out in zip(fns, times, strict=True):
            sync()
            t0 = time.perf_counter()
            for i in range(steps):
                fn(i)
            sync()
            out.append((time.perf_counter() - t0) / steps)
    return [statistics.median(t) for t in times]


def median_time(fn: Callable[[int], object], steps: int, repeats: int, cuda: bool = False) -> float:
    """Median over ``repeats`` of the mean time of ``fn(i)`` for ``i in range(steps)`` (seconds)."""
    return median_times([fn], steps, repeats, cuda)[0]


def module_bytes(module: torch.nn.Module) -> int:
    tensors = [*module.parameters(), *module.buffers()]
    return sum(t.numel() * t.element_size() for t in tensors)


def sparse_vs_dense(n: int, activity: float, steps: int, repeats: int, batch: int = 1, device: str = "cpu") -> None:
    print(f"\nSparse vs dense on {device}: {n} -> {n}, batch {batch}, {activity:.0%} of the inputs spike per step "
          f"(us per step, median of {repeats} x {steps} steps)")
    print(f"{'density':>8} {'synapses':>10} {'dense':>8} {'matmul':>8} {'sparse':>8} {'x dense':>8}"
          f" {'dense MB':>9} {'sparse MB':>10}")
    g = torch.Generator().manual_seed(0)
    src, tgt = Input(n), LIFNodes(n)
    spikes = [(torch.rand(batch, n, generator=g) < activity).to(device) for _ in range(64)]
    floats = [s.float() for s in spikes]
    cuda = device != "cpu"
    for density in DENSITIES:
        sparse = RandomSparseConnection(src, tgt, density, generator=g).to(device)
        dense = Connection(src, tgt, sparse.to_dense().cpu()).to(device)
        t_dense, t_sparse = median_times([lambda i, c=dense: c.compute(spikes[i % 64]),
                                          lambda i, c=sparse: c.compute(spikes[i % 64])], steps, repeats, cuda)
        t_mm = median_time(lambda i, c=dense: c.compute(floats[i % 64]), steps if cuda else max(steps // 5, 10),
                           repeats, cuda)
        check = spikes[0]
        torch.testing.assert_close(sparse.compute(check), dense.compute(check), rtol=1e-4, atol=1e-3)
        print(f"{density:>8.1%} {sparse.nnz:>10,} {t_dense * 1e6:>8.0f} {t_mm * 1e6:>8.0f} {t_sparse * 1e6:>8.0f}"
              f" {t_dense / t_sparse:>8.2f} {module_bytes(dense) / 2**20:>9.1f} {module_bytes(sparse) / 2**20:>10.2f}")


def dense_equivalent(conn: torch.nn.Module) -> Connection:
    """The same linear map as a dense ``(source.n, target.n)`` matrix (bias excluded)."""
    n = conn.source.n
    basis = torch.eye(n).view(n, *conn.source.shape)
    w = torch.cat([conn.compute(chunk) for chunk in basis.split(256)]).reshape(n, -1)
    if getattr(conn, "bias", None) is not None:
        w = w - conn.compute(torch.zeros(1, *conn.source.shape)).reshape(1, -1)
    return Connection(conn.source, conn.target, w, mask=w != 0)


def spatial_layers(steps: int, repeats: int) -> None:
    print(f"\nConv / local / pooling: (1, 28, 28) -> (32, 24, 24), 5 x 5 kernels, 10% input activity "
          f"(us per call, median of {repeats} x {steps} calls)")
    print(f"{'connection':>22} {'batch':>5} {'weights':>9} {'compute':>9} {'correlate':>10} {'as dense':>9}")
    g = torch.Generator().manual_seed(1)
    src, tgt = Input(shape=(1, 28, 28)), LIFNodes(shape=(32, 24, 24))
    pooled = LIFNodes(shape=(32, 12, 12))
    layers = {
        "Conv2dConnection": Conv2dConnection(src, tgt, 5, generator=g),
        "LocalConnection2D": LocalConnection2D(src, tgt, 5, generator=g),
    }
    pool_src = Input(shape=(32, 24, 24))
    for batch in (1, 16):
        x = [torch.rand(batch, 1, 28, 28, generator=g) < 0.1 for _ in range(16)]
        post = [torch.rand(batch, 32, 24, 24, generator=g) for _ in range(16)]
        for name, conn in layers.items():
            t_c = median_time(lambda i, c=conn, x=x: c.compute(x[i % 16]), steps, repeats)
            t_r = median_time(lambda i, c=conn, x=x, y=post: c.correlate(x[i % 16], y[i % 16]), steps, repeats)
            t_d = float("nan")
            if batch == 1:
                dense = dense_equivalent(conn)
                t_d = median_time(lambda i, d=dense, x=x: d.compute(x[i % 16]), steps, repeats)
            print(f"{name:>22} {batch:>5} {conn.weight.numel():>9,} {t_c * 1e6:>9.0f} {t_r * 1e6:>10.0f}"
                  f" {t_d * 1e6:>9.0f}")
        for mode in ("spikes", "rate"):
            pool = MaxPool2dConnection(pool_src, pooled, 2, mode=mode)
            s = [torch.rand(batch, 32, 24, 24, generator=g) < 0.1 for _ in range(16)]
            t_p = median_time(lambda i, p=pool, s=s: p.compute(s[i % 16]), steps, repeats)
            print(f"{'MaxPool2d ' + mode:>22} {batch:>5} {'-':>9} {t_p * 1e6:>9.0f} {'-':>10} {'-':>9}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=5000, help="neurons per side for sparse vs dense")
    parser.add_argument("--activity", type=float, default=0.05, help="fraction of inputs spiking per step")
    parser.add_argument("--batch", type=int, default=1, help="batch size for sparse vs dense")
    parser.add_argument("--device", default="cpu", help="device for sparse vs dense (e.g. cuda)")
    parser.add_argument("--steps", type=int, default=100)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--skip-sparse", action="store_true")
    parser.add_argument("--skip-spatial", action="store_true")
    args = parser.parse_args()
    torch.set_num_threads(1)
    print(f"torch {torch.__version__}, threads {torch.get_num_threads()}")
    with torch.no_grad():
        if not args.skip_sparse:
            sparse_vs_dense(args.n, args.activity, args.steps, args.repeats, args.batch, args.device)
        if not args.skip_spatial:
            spatial_layers(args.steps, args.repeats)


if __name__ == "__main__":
    main()
