"""Environment speed: the ``breakout`` preset (preprocessing + spike encoding) next to raw ALE.

Rows, each in environment steps per second (agent steps; a vector environment counts every
sub-environment's step), random actions, one torch thread, median of ``--repeats`` runs of
``--steps`` steps after a warm-up (the rows' runs are interleaved, so load drift on a shared
machine hits them alike):

* raw ALE: ``gym.make("ALE/Breakout-v5")`` with its defaults (frameskip 4, sticky actions,
  RGB frames), i.e. the same number of emulator frames per step as the preset;
* preprocessing: the ``breakout`` preset without its encoder (``make_env(..., encode=False)``);
* preprocessing + encoding with the preset's Bernoulli encoder at T = 16 and T = 64;

each single and as a 2-environment ``SyncVectorEnv`` (``--async`` adds ``AsyncVectorEnv``).
A second table times the encoder alone on recorded preset observations (microseconds per
observation), next to the emulator + preprocessing time per step, and on a dense worst case
(every pixel at p = 0.5). A third times a seeded reset (``reset(seed=k)``, as the episode
pipeline starts every episode): raw ALE's, which reloads the ROM to reseed the emulator's sticky
actions, and the preset's, whose sticky actions are drawn by ``StickyActions`` outside the
emulator (milliseconds per reset, median over ``--repeats`` x 10 resets). A line gives the
emulator frames per step of raw ALE and of the preset (which plays no-ops after a reset and FIRE
after a reset or a lost life), and the T = 16 row's ratio per emulator frame.

Usage:
    python bench/bench_env.py [--steps 1000] [--repeats 7] [--async]
"""

from __future__ import annotations

import argparse
import dataclasses
import statistics
import time

import numpy as np
import torch

torch.set_num_threads(1)

import gymnasium as gym  # noqa: E402

from snnrl.envs import load_preset, make_env  # noqa: E402


def preset(steps: int | None):
    """The breakout preset, with the encoder's time window set to ``steps`` (None: no encoder)."""
    spec = load_preset("breakout")
    if steps is None:
        return dataclasses.replace(spec, encoder=None)
    return dataclasses.replace(spec, encoder={**spec.encoder, "steps": steps})


def raw_ale(num_envs: int | None, mode: str):
    import ale_py

    gym.register_envs(ale_py)
    if num_envs is None:
        return gym.make("ALE/Breakout-v5")
    fns = [lambda: gym.make("ALE/Breakout-v5")] * num_envs
    return gym.vector.SyncVectorEnv(fns) if mode == "sync" else gym.vector.AsyncVectorEnv(fns)


def _run(env, steps: int, num_envs: int | None) -> float:
    """Env steps per second over ``steps`` random steps (vector: all sub-environments)."""
    t0 = time.perf_counter()
    for _ in range(steps):
        _, _, terminated, truncated, _ = env.step(env.action_space.sample())
        if num_envs is None and (terminated or truncated):
            env.reset()
    return steps * (num_envs or 1) / (time.perf_counter() - t0)


def rates(envs: dict, steps: int, repeats: int, num_envs: int | None) -> dict[str, float]:
    """Median rate of each environment; the repeats are interleaved so that load drifts on a
    shared machine hit every row alike."""
    for env in envs.values():
        env.action_space.seed(0)
        env.reset(seed=0)
        _run(env, 50, num_envs)  # warm-up
    samples: dict[str, list[float]] = {name: [] for name in envs}
    for _ in range(repeats):
        for name, env in envs.items():
            samples[name].append(_run(env, steps, num_envs))
    for env in envs.values():
        env.close()
    return {name: statistics.median(values) for name, values in samples.items()}


def frames_per_step(env, steps: int) -> float:
    """Emulator frames per environment step under random actions (resets, no-ops and FIRE
    presses included): the preset plays a few more frames per step than raw ALE."""
    ale = env.unwrapped.ale
    env.action_space.seed(1)
    env.reset(seed=1)
    start = ale.getFrameNumber()
    for _ in range(steps):
        _, _, terminated, truncated, _ = env.step(env.action_space.sample())
        if terminated or truncated:
            env.reset()
    frames = (ale.getFrameNumber() - start) / steps
    env.close()
    return frames


def encoder_cost(steps_t: int, frames: list[np.ndarray], repeats: int) -> float:
    """Median microseconds per observation of the preset's encoder alone."""
    env = make_env(preset(steps_t), seed=0)  # SeedFirstReset -> the encoder wrapper
    encoder = env.env
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        for frame in frames:
            encoder.observation(frame)
        times.append((time.perf_counter() - t0) / len(frames) * 1e6)
    env.close()
    return statistics.median(times)


def record_frames(n: int) -> list[np.ndarray]:
    env = make_env(preset(None), seed=0)
    env.action_space.seed(0)
    frames = [env.reset()[0]]
    while len(frames) < n:
        obs, _, terminated, truncated, _ = env.step(env.action_space.sample())
        frames.append(obs)
        if terminated or truncated:
            frames.append(env.reset()[0])
    env.close()
    return frames


def seeded_reset_ms(repeats: int) -> dict[str, float]:
    """Milliseconds per ``reset(seed=k)`` (a fresh ``k`` each time), interleaved rounds."""
    envs = {"raw ALE (loadROM per seeded reset)": raw_ale(None, "sync"),
            "breakout preset (StickyActions)": make_env(preset(16))}
    times: dict[str, list[float]] = {name: [] for name in envs}
    k = 0
    for _ in range(repeats):
        for name, env in envs.items():
            t0 = time.perf_counter()
            for _ in range(10):
                env.reset(seed=k)
                k += 1
            times[name].append((time.perf_counter() - t0) / 10 * 1e3)
    return {name: statistics.median(v) for name, v in times.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--async", dest="use_async", action="store_true", help="add AsyncVectorEnv rows")
    args = parser.parse_args()

    setups = [(None, "sync"), (2, "sync")] + ([(2, "async")] if args.use_async else [])
    print(f"breakout, {args.steps} steps x {args.repeats} repeats (median), torch threads: {torch.get_num_threads()}")
    print()
    print(f"| {'setup':<36} | {'envs':>11} | {'env steps/s':>11} | {'vs raw ALE':>10} |")
    print(f"|{'-' * 38}|{'-' * 13}:|{'-' * 12}:|{'-' * 11}:|")
    per_step_us: dict[str, float] = {}
    single: dict[str, float] = {}
    for num_envs, mode in setups:
        label = "1" if num_envs is None else f"{num_envs} {mode}"
        envs = {"raw ALE (v5 defaults, frameskip 4)": raw_ale(num_envs, mode)}
        for name, steps_t in (("preprocessing", None), ("preprocessing + encoding T=16", 16),
                              ("preprocessing + encoding T=64", 64)):  # fmt: skip
            envs[name] = make_env(preset(steps_t), num_envs=num_envs, vectorization_mode=mode)
        result = rates(envs, args.steps, args.repeats, num_envs)
        raw = result["raw ALE (v5 defaults, frameskip 4)"]
        for name, value in result.items():
            print(f"| {name:<36} | {label:>11} | {value:>11,.0f} | {value / raw:>9.2f}x |")
        if num_envs is None:
            per_step_us = {name: 1e6 / value for name, value in result.items()}
            single = result

    raw_frames = frames_per_step(raw_ale(None, "sync"), 5 * args.steps)
    preset_frames = frames_per_step(make_env(preset(16)), 5 * args.steps)
    per_frame = single["preprocessing + encoding T=16"] * preset_frames / (single["raw ALE (v5 defaults, frameskip 4)"]
                                                                          * raw_frames)
    print()
    print(f"Emulator frames per step ({5 * args.steps} random steps, resets included): raw ALE {raw_frames:.3f}, "
          f"the preset {preset_frames:.3f} (no-ops after resets, FIRE after resets and lost lives). Per emulator "
          f"frame, preprocessing + encoding T=16 (1 env) runs at {per_frame:.2f}x raw ALE.")

    frames = record_frames(500)
    active = float(np.mean([np.count_nonzero(f) / f.size for f in frames]))
    partial = float(np.mean([np.count_nonzero((f > 0) & (f < 1)) / f.size for f in frames]))
    print()
    print(f"Encoder alone on {len(frames)} recorded observations (80x80; {active:.1%} of pixels > 0, "
          f"{partial:.1%} with 0 < p < 1), microseconds per observation:")  # fmt: skip
    print()
    print(f"| {'what':<46} | {'us/obs':>8} |")
    print(f"|{'-' * 48}|{'-' * 9}:|")
    print(f"| {'emulator + preprocessing (1 env, per step)':<46} | {per_step_us['preprocessing']:>8.0f} |")
    dense = [np.full_like(frames[0], 0.5)] * 50
    for steps_t in (16, 64):
        print(f"| {f'Bernoulli encoder T={steps_t}, preset observations':<46} | "
              f"{encoder_cost(steps_t, frames, args.repeats):>8.0f} |")  # fmt: skip
        print(f"| {f'Bernoulli encoder T={steps_t}, dense (all p = 0.5)':<46} | "
              f"{encoder_cost(steps_t, dense, args.repeats):>8.0f} |")  # fmt: skip
    print()
    print(f"| {'seeded reset':<46} | {'ms':>8} |")
    print(f"|{'-' * 48}|{'-' * 9}:|")
    for name, ms in seeded_reset_ms(args.repeats).items():
        print(f"| {name:<46} | {ms:>8.1f} |")


if __name__ == "__main__":
    main()
