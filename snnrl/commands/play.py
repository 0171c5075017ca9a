"""``snnrl play``: watch a trained checkpoint play one episode, written as a GIF, an MP4 or a PNG strip.

Frames come from the environment's ``rgb_array`` rendering; environments that cannot render
(no render mode, or a missing extra such as pygame for the classic-control tasks) fall back to
the observation itself (the spike counts of each window as a grayscale image).
"""

from __future__ import annotations

import argparse
import sys
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from snnrl.commands._args import positive_float, positive_int, seed_int

FORMATS = (".gif", ".mp4", ".png")


def observation_frame(obs: np.ndarray, size: int = 160) -> np.ndarray:
    """A spike-train observation ``(T, *shape)`` as an RGB frame: spike counts over the window,
    1-D populations drawn as a bar of cells."""
    counts = np.asarray(obs, dtype=np.float32)
    counts = counts.sum(0) if counts.ndim >= 2 else counts
    img = counts if counts.ndim == 2 else counts.reshape(1, -1)
    peak = float(img.max())
    img = img / peak if peak > 0 else img
    h, w = img.shape
    scale = max(1, size // max(h, w))
    img = np.kron(img, np.ones((scale * (1 if h > 1 else 8), scale)))
    return np.repeat((img * 255).astype(np.uint8)[..., None], 3, axis=2)


def write_frames(frames: list[np.ndarray], path: Path, fps: float, strip: int) -> None:
    """Write RGB frames ``(H, W, 3)`` to ``.gif`` (Pillow), ``.mp4`` (OpenCV) or a ``.png`` strip."""
    path.parent.mkdir(parents=True, exist_ok=True)
    suffix = path.suffix.lower()
    if suffix == ".mp4":
        try:
            import cv2
        except ImportError as e:
            raise ImportError("MP4 output needs OpenCV: pip install 'snnrl[atari]' (or write a .gif)") from e
        h, w = frames[0].shape[:2]
        writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), float(fps), (w, h))
        if not writer.isOpened():
            raise RuntimeError(f"OpenCV cannot write {path}")
        for f in frames:
            writer.write(cv2.cvtColor(f, cv2.COLOR_RGB2BGR))
        writer.release()
        return
    try:
        from PIL import Image
    except ImportError as e:
        raise ImportError("GIF and PNG output need Pillow: pip install 'snnrl[vision]'") from e
    if suffix == ".gif":
        images = [Image.fromarray(f) for f in frames]
        images[0].save(path, save_all=True, append_images=images[1:], duration=int(1000 / fps), loop=0)
        return
    picks = np.linspace(0, len(frames) - 1, num=min(strip, len(frames))).round().astype(int)
    h = max(frames[i].shape[0] for i in picks)
    row = [np.pad(frames[i], ((0, h - frames[i].shape[0]), (0, 4), (0, 0)), constant_values=255) for i in picks]
    Image.fromarray(np.concatenate(row, axis=1)).save(path)


def _frame(env: Any, obs: np.ndarray, use_render: bool) -> np.ndarray:
    if use_render:
        frame = env.render()
        if isinstance(frame, np.ndarray) and frame.ndim == 3:
            return frame
    return observation_frame(obs)


def play(args: argparse.Namespace) -> int:
    import torch

    from snnrl.checkpoint import CheckpointError
    from snnrl.commands.evaluate import checkpoint_argument, load_for_play
    from snnrl.envs import PresetError
    from snnrl.pipeline import AgentError
    from snnrl.pipeline.build import derive_seed

    torch.set_num_threads(args.threads)
    out = Path(args.out)
    if out.suffix.lower() not in FORMATS:
        print(f"snnrl play: --out must end in one of {FORMATS}, got {args.out!r}", file=sys.stderr)
        return 2
    use_render = args.frames == "render"
    try:
        args.checkpoint = checkpoint_argument(args)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # Gymnasium warns before failing on unsupported render modes
                trainer, config = load_for_play(args.checkpoint, args.env,
                                                render_mode="rgb_array" if use_render else None)
        except (PresetError, ValueError) as e:
            if not use_render or "render" not in str(e).lower():
                raise
            print("note: the environment has no rgb_array rendering; drawing the observations instead",
                  file=sys.stderr)
            use_render = False
            trainer, config = load_for_play(args.checkpoint, args.env)
    except (AgentError, PresetError, CheckpointError, FileNotFoundError, ValueError) as e:
        print(f"snnrl play: {e}", file=sys.stderr)
        return 2
    env = trainer.driver.envs[0]
    policy = trainer.policy
    seed = trainer.seed if args.seed is None else args.seed
    obs, _ = env.reset(seed=derive_seed(seed, 1, 0) % (2**31))
    policy.reset()
    frames: list[np.ndarray] = []
    try:
        frames.append(_frame(env, obs, use_render))
    except Exception as e:
        print(f"note: the environment cannot render ({type(e).__name__}: {e}); drawing the observations instead",
              file=sys.stderr)
        use_render = False
        frames.append(_frame(env, obs, use_render))
    ret, steps = 0.0, 0
    while steps < args.max_steps:
        action = policy.act(obs, deterministic=not args.stochastic)
        obs, reward, terminated, truncated, _ = env.step(action)
        ret += float(reward)
        steps += 1
        if steps % args.every == 0:
            frames.append(_frame(env, obs, use_render))
        if terminated or truncated:
            break
    trainer.close()
    try:
        write_frames(frames, out, args.fps, args.strip)
    except (ImportError, RuntimeError) as e:
        print(f"snnrl play: {e}", file=sys.stderr)
        return 2
    print(f"{config.env_name}: return {ret:.1f} in {steps} steps; wrote {len(frames)} frames to {out}")
    return 0


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Register ``play`` on the ``snnrl`` command."""
    p = sub.add_parser("play", help="render a trained checkpoint playing one episode (GIF, MP4 or PNG strip)",
                       description="Play one episode with a checkpoint (deterministic decoding, no learning) "
                                   "and write its frames.")
    which = p.add_mutually_exclusive_group(required=True)
    which.add_argument("--checkpoint", help="a checkpoint file or a run directory")
    which.add_argument("--agent", help="a trained agent that ships with snnrl (agents/trained/<name>.safetensors), "
                                       "e.g. cartpole")
    p.add_argument("--out", default="play.gif", help="output file: .gif, .mp4 or .png (a strip of frames); "
                                                     "default: play.gif")
    p.add_argument("--max-steps", type=positive_int, default=2000, help="stop after this many steps (default: 2000)")
    p.add_argument("--every", type=positive_int, default=1, help="keep every k-th frame (default: 1)")
    p.add_argument("--fps", type=positive_float, default=30.0, help="frames per second of GIF/MP4 (default: 30)")
    p.add_argument("--strip", type=positive_int, default=8, help="frames in a PNG strip (default: 8)")
    p.add_argument("--frames", choices=("render", "observation"), default="render",
                   help="draw the environment's rendering (default) or the spike-count observation")
    p.add_argument("--seed", type=seed_int, help="seed of the episode (default: the training seed)")
    p.add_argument("--stochastic", action="store_true", help="sample actions as in training")
    p.add_argument("--env", help="environment preset (default: the one of the checkpoint's agent preset)")
    p.add_argument("--threads", type=positive_int, default=1, help="torch threads (default: 1)")
    p.set_defaults(func=play)
