"""``snnrl simulate``: a small excitatory/inhibitory network driven by Poisson input.

Builds the network, runs it and writes a spike raster (PNG), the recorded spikes (NPZ) and a
summary (JSON). This is the README's main job until spiking-agent training lands.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

from snnrl.commands._args import positive_float, positive_int, seed_int
from snnrl.encoding import PoissonEncoder
from snnrl.network import Connection, Input, LIFNodes, Monitor, Network


def build_demo_network(n_input: int, n_exc: int, n_inh: int, generator: torch.Generator) -> Network:
    """Poisson input -> excitatory LIF <-> inhibitory LIF (a small balanced network)."""
    net = Network(dt=1.0)
    net.add_layer(Input(n_input), "input")
    net.add_layer(LIFNodes(n_exc), "exc")
    net.add_layer(LIFNodes(n_inh, tc_decay=20.0, refrac=2.0), "inh")
    layers = net.layers
    net.add_connection(Connection(layers["input"], layers["exc"], torch.rand(n_input, n_exc, generator=generator)
                                  * (60.0 / n_input)), "input", "exc")
    net.add_connection(Connection(layers["exc"], layers["inh"], torch.rand(n_exc, n_inh, generator=generator)
                                  * (120.0 / n_exc)), "exc", "inh")
    net.add_connection(Connection(layers["inh"], layers["exc"], -torch.rand(n_inh, n_exc, generator=generator)
                                  * (200.0 / n_inh)), "inh", "exc")
    for name in ("input", "exc", "inh"):
        net.add_monitor(Monitor(layers[name], ["s"]), name)
    return net


def simulate(args: argparse.Namespace) -> int:
    torch.set_num_threads(args.threads)
    generator = torch.Generator().manual_seed(args.seed)
    net = build_demo_network(args.inputs, args.exc, args.inh, generator)
    rates = torch.rand(1, args.inputs, generator=generator) * args.max_rate
    spikes_in = PoissonEncoder(args.time, generator=generator)(rates)  # (T, 1, n_input)
    t0 = time.perf_counter()
    net.run({"input": spikes_in})
    elapsed = time.perf_counter() - t0
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    spikes = {name: net.monitors[name].get("s")[:, 0] for name in ("input", "exc", "inh")}
    summary = {
        "steps": spikes_in.shape[0],
        "seconds": round(elapsed, 4),
        "steps_per_second": round(spikes_in.shape[0] / elapsed, 1),
        "mean_rate_hz": {k: round(v.float().mean().item() * 1000.0, 2) for k, v in spikes.items()},
        "seed": args.seed,
    }
    (out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    import numpy as np

    np.savez_compressed(out / "spikes.npz", **{k: v.numpy() for k, v in spikes.items()})
    if not args.no_plot:
        from snnrl.analysis import plot_raster

        plot_raster(spikes, out / "raster.png", title=f"snnrl simulate (seed {args.seed})")
    print(json.dumps(summary))
    print(f"wrote {out / 'summary.json'}, {out / 'spikes.npz'}" + ("" if args.no_plot else f", {out / 'raster.png'}"))
    return 0


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Register ``simulate`` on the ``snnrl`` command."""
    sim = sub.add_parser("simulate", help="run a small E/I network on Poisson input and plot its spikes")
    sim.add_argument("--out", default="runs/simulate", help="output directory (default: runs/simulate)")
    sim.add_argument("--time", type=positive_float, default=500.0, help="simulated time in ms (default: 500)")
    sim.add_argument("--inputs", type=positive_int, default=200, help="Poisson input neurons (default: 200)")
    sim.add_argument("--exc", type=positive_int, default=80, help="excitatory LIF neurons (default: 80)")
    sim.add_argument("--inh", type=positive_int, default=20, help="inhibitory LIF neurons (default: 20)")
    sim.add_argument("--max-rate", type=positive_float, default=40.0,
                     help="input rates are drawn from U(0, max-rate) Hz (default: 40)")
    sim.add_argument("--seed", type=seed_int, default=0, help="random seed (default: 0)")
    sim.add_argument("--threads", type=positive_int, default=1, help="torch threads (default: 1)")
    sim.add_argument("--no-plot", action="store_true", help="skip the PNG (no matplotlib needed)")
    sim.set_defaults(func=simulate)
