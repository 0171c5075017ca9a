"""Diagnostics of a grid-screen Breakout agent (what limits it), not a way to train one.

``ties``: plays a checkpoint's deterministic policy and reports the spike counts per action of
each decision: their levels, and how often the actions tie (a tie is broken at random).

``linear``: how well *any* linear readout of an agent preset's input could follow the ball. The
labels come from the rule "move the paddle towards the ball", read from the screen's pixels
(the paddle's and the ball's columns; an oracle the agents never see). It plays that rule with
20 % random actions to collect decisions, fits a logistic readout of the preset's input rates
(the mean over the window of each input neuron) to its choices, with every decision also
mirrored (columns reversed, RIGHT and LEFT swapped, as the mirror-tied agents are), then plays
the fitted readout greedily. Its score is an estimate of what a single-layer readout of that
input can do when it is taught the tracker directly (with the data and the fit used here).
With ``--hidden N`` the readout reads instead the spike counts of a fixed random layer of ``N``
LIF neurons (no refractory period, weights N(0, ``--std``) mV, mirrored twins in two halves as
``[policy] mirror = true`` ties them) that sees the window's spikes: what a readout of a random
spiking hidden layer can do.

Examples::

    python scripts/breakout_diagnostics.py ties --checkpoint agents/trained/breakout_eprop.safetensors
    python scripts/breakout_diagnostics.py linear --agent agents/breakout_eprop.toml
"""

from __future__ import annotations

import argparse
import sys

import numpy as np
import torch

# Breakout's screen (210 x 160 grayscale): the paddle's rows and the rows the ball falls through
PADDLE_ROWS, BALL_ROWS, COLS = slice(189, 193), slice(94, 188), slice(8, 152)


def tracker_action(screen: np.ndarray, previous: int) -> int:
    """0 (RIGHT) when the ball is right of the paddle's centre, 1 (LEFT) when left; the
    previous action when either is not on the screen or they are within 2 pixels."""
    paddle = np.nonzero(screen[PADDLE_ROWS, COLS].any(0))[0]
    ball = np.nonzero(screen[BALL_ROWS, COLS].any(0))[0]
    if len(paddle) and len(ball):
        d = ball.mean() - paddle.mean()
        if abs(d) > 2:
            return 0 if d > 0 else 1
    return previous


def ties(args: argparse.Namespace) -> int:
    from snnrl.commands.evaluate import load_for_play
    from snnrl.pipeline import build_envs

    trainer, config = load_for_play(args.checkpoint, None)
    policy, env = trainer.policy, build_envs(config)[0]
    counts = []
    for episode in range(args.episodes):
        obs, _ = env.reset(seed=args.seed + episode)
        done = False
        while not done:
            action = policy.act(obs, deterministic=True)
            counts.append(policy.decoder.counts(policy.last_output)[0].numpy())
            obs, _, terminated, truncated, _ = env.step(action)
            done = terminated or truncated
    c = np.array(counts)
    levels, freq = np.unique(c, return_counts=True)
    print(f"{len(c)} decisions over {args.episodes} episodes")
    shares = {int(v): round(float(f) / c.size, 3) for v, f in zip(levels, freq, strict=True)}
    print("count levels per action (value: share):", shares)
    print(f"decisions where the top actions tie: {np.mean(c.max(1) == np.sort(c, 1)[:, -2]):.3f}")
    trainer.close()
    env.close()
    return 0


def random_hidden(n_input: int, grid: tuple[int, int], n: int, std: float, seed: int) -> torch.Tensor:
    """Random ``(n_input, n)`` weights whose second half sees the mirrored grid (twins)."""
    from snnrl.policy.symmetry import mirror_cells

    half = torch.randn(n_input, n // 2, generator=torch.Generator().manual_seed(seed)) * std
    return torch.cat([half, half[mirror_cells(grid, "width")]], 1)


def hidden_counts(spikes: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """Spike counts ``(B, n)`` of a random LIF layer driven by ``spikes`` ``(B, T, n_input)``."""
    from snnrl.network import Connection, Input, LIFNodes, Monitor, Network

    out = []
    for chunk in spikes.split(2000):
        net = Network(dt=1.0, batch_size=chunk.shape[0])
        net.add_layer(Input(weight.shape[0]), "X")
        net.add_layer(LIFNodes(weight.shape[1], refrac=0.0), "H")
        net.add_connection(Connection(net.layers["X"], net.layers["H"], weight), "X", "H")
        monitor = Monitor(net.layers["H"], ["s"])
        net.add_monitor(monitor, "h")
        net.train(False)
        net.run({"X": chunk.transpose(0, 1).contiguous()})
        out.append(monitor.get("s").float().sum(0))
    return torch.cat(out)


def linear(args: argparse.Namespace) -> int:
    from snnrl.pipeline import build_envs, load_agent

    config = load_agent(args.agent)
    env = build_envs(config)[0]
    ale = env.unwrapped.ale
    height, width = env.observation_space.shape[-2:]
    rng = np.random.default_rng(args.seed)
    xs, ys, spikes = [], [], []
    for episode in range(args.collect):
        obs, _ = env.reset(seed=args.seed + episode)
        done, action = False, 0
        while not done:
            action = tracker_action(ale.getScreenGrayscale(), action)
            xs.append(np.asarray(obs, np.float32).mean(0).reshape(-1))
            spikes.append(np.asarray(obs, bool).reshape(len(obs), -1))
            ys.append(action)
            played = action if rng.random() >= args.explore else int(rng.integers(2))
            obs, _, terminated, truncated, _ = env.step(played)
            done = terminated or truncated
    x = torch.tensor(np.array(xs))
    y = torch.tensor(ys, dtype=torch.float32)
    mirrored = x.view(-1, height, width).flip(2).reshape(len(x), -1)
    x_all, right = torch.cat([x, mirrored]), torch.cat([1 - y, y])  # right: 1 where the label is RIGHT
    if args.hidden:
        weight = random_hidden(height * width, (height, width), args.hidden, args.std, args.seed + 1)
        windows = torch.tensor(np.array(spikes))
        mirrored_windows = windows.view(len(x), -1, height, width).flip(3).reshape(len(x), -1, height * width)
        x_all = hidden_counts(torch.cat([windows, mirrored_windows]), weight)
        print(f"random hidden layer: {args.hidden} LIF, mean count {float(x_all.mean()):.2f} per neuron and "
              f"window, {float((x_all > 0).float().mean()):.2f} of them active")
    mean, scale = x_all.mean(0), x_all.std(0) + 1e-3

    def features(obs: np.ndarray) -> torch.Tensor:
        if args.hidden:
            window = torch.tensor(np.asarray(obs, bool)).reshape(1, -1, height * width)
            return (hidden_counts(window, weight) - mean) / scale
        return (torch.tensor(np.asarray(obs, np.float32).mean(0).reshape(1, -1)) - mean) / scale

    x_all = (x_all - mean) / scale
    w = torch.zeros(x_all.shape[1], requires_grad=True)
    b = torch.zeros(1, requires_grad=True)
    opt = torch.optim.LBFGS([w, b], max_iter=500)

    def closure() -> torch.Tensor:
        opt.zero_grad()
        loss = torch.nn.functional.binary_cross_entropy_with_logits(x_all @ w + b, right) + args.l2 * (w * w).sum()
        loss.backward()
        return loss

    opt.step(closure)
    w, b = w.detach(), b.detach()
    agree = float((((x_all @ w + b) > 0).float() == right).float().mean())
    print(f"{len(x)} decisions of the tracker (with {args.explore:.0%} random actions) over {args.collect} episodes; "
          f"the fitted readout agrees with it on {agree:.3f} of them (mirrored copies included)")
    returns = []
    for episode in range(args.episodes):
        obs, _ = env.reset(seed=args.seed + 1000 + episode)
        done, total = False, 0.0
        while not done:
            score = float(features(obs) @ w + b)
            obs, reward, terminated, truncated, _ = env.step(0 if score > 0 else 1)
            total += float(reward)
            done = terminated or truncated
        returns.append(total)
    print(f"the readout playing greedily: returns {returns}, mean {np.mean(returns):.2f} over {args.episodes} episodes")
    env.close()
    return 0


def main(argv: list[str] | None = None) -> int:
    torch.set_num_threads(1)
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("ties", help="spike-count levels and ties of a checkpoint's deterministic decisions")
    p.add_argument("--checkpoint", required=True)
    p.add_argument("--episodes", type=int, default=3)
    p.add_argument("--seed", type=int, default=1000)
    p.set_defaults(run=ties)
    p = sub.add_parser("linear", help="the tracker fitted by a logistic readout of a preset's input")
    p.add_argument("--agent", default="agents/breakout_eprop.toml")
    p.add_argument("--collect", type=int, default=6, help="episodes of the tracker to fit on")
    p.add_argument("--explore", type=float, default=0.2, help="share of random actions while collecting")
    p.add_argument("--l2", type=float, default=1e-3)
    p.add_argument("--hidden", type=int, default=0, help="read a fixed random LIF layer of this many (even) neurons")
    p.add_argument("--std", type=float, default=2.0, help="its weights' standard deviation (mV)")
    p.add_argument("--episodes", type=int, default=5, help="episodes the fitted readout plays")
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(run=linear)
    args = parser.parse_args(argv)
    return int(args.run(args))


if __name__ == "__main__":
    sys.exit(main())
