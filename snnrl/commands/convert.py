"""``snnrl convert``: convert a stable-baselines3 model into a spiking network and compare them.

Loads the model (any SB3 version, RL Zoo models included, with the VecNormalize statistics of
``<Env>/vecnormalize.pkl`` beside ``<Env>.zip`` or ``--vecnormalize``), collects calibration
observations by running it in the environment, converts it
(:func:`snnrl.integrations.sb3.convert_sb3`), writes the spiking policy as an snnrl checkpoint and
reports the ANN's, the SNN's and a random policy's returns over the same episodes, the share of
the ANN's gap above random that the SNN keeps, and how often the SNN took the ANN's action (for
every T of ``--sweep``).

Example::

    snnrl convert --model ../shared/data/sb3-zoo/ppo-CartPole-v1.zip --env cartpole --sweep 8,16,32,64
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path
from typing import Any

from snnrl.commands._args import finite_float, non_negative_int, positive_float, positive_int, seed_int

ALGOS = ("dqn", "qrdqn", "ppo", "a2c", "sac", "td3", "ddpg")  # as snnrl.integrations.sb3.loading.ALGOS

def _int_list(text: str) -> list[int]:
    try:
        values = [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated positive integers, got {text!r}") from None
    if not values or any(v < 1 for v in values):
        raise argparse.ArgumentTypeError(f"expected comma-separated positive integers, got {text!r}")
    return values


def convert(args: argparse.Namespace) -> int:
    from snnrl.integrations.sb3 import ConversionError, SB3LoadError

    try:
        return _convert(args)
    except (FileNotFoundError, SB3LoadError, ConversionError) as e:  # a bad input: say why, no traceback
        print(f"snnrl convert: {e}", file=sys.stderr)
        return 2


def _same_space(a: Any, b: Any) -> bool:
    """The same kind of space with the same shape (and number of actions); bounds may differ."""
    return type(a) is type(b) and a.shape == b.shape and getattr(a, "n", None) == getattr(b, "n", None)


def _describe(space: Any) -> str:
    n = getattr(space, "n", None)
    return f"{type(space).__name__}({n})" if n is not None else f"{type(space).__name__} of shape {space.shape}"


def _env_for(model: Any, env: str, n_envs: int, seed: int) -> Any:
    """``make_vec_env(env)``, refused (an ``SB3LoadError`` naming ``--env``) when the id is unknown
    or its observation or action space is not the model's: before anything is collected."""
    import gymnasium as gym

    from snnrl.integrations.sb3 import SB3LoadError, make_vec_env

    try:
        venv = make_vec_env(env, n_envs=n_envs, seed=seed)
    except gym.error.Error as e:  # an unknown id, a missing dependency
        raise SB3LoadError(f"--env {env!r}: {e}") from None
    for what in ("observation_space", "action_space"):
        ours, theirs = getattr(venv, what), getattr(model, what)
        if not _same_space(ours, theirs):
            venv.close()
            raise SB3LoadError(f"--env {env!r} does not fit the model: its {what.replace('_', ' ')} is "
                               f"{_describe(ours)}, the model's is {_describe(theirs)}")
    return venv


def _convert(args: argparse.Namespace) -> int:
    import torch

    torch.set_num_threads(args.threads)
    from snnrl.integrations.sb3 import NormalizedModel, compare_returns, convert_sb3, load_sb3_model
    from snnrl.integrations.sb3.evaluation import collect_observations

    def log(message: str) -> None:
        print(message, file=sys.stderr, flush=True)

    vecnormalize = False if args.no_vecnormalize else (args.vecnormalize if args.vecnormalize is not None else True)
    model = load_sb3_model(args.model, None if args.algo == "auto" else args.algo, device=args.device,
                           vecnormalize=vecnormalize)
    stats_source = model.source if isinstance(model, NormalizedModel) else None
    if stats_source:
        log(f"observations normalised with the VecNormalize statistics in {stats_source}")
    t0 = time.perf_counter()
    calib_env = _env_for(model, args.env, n_envs=min(4, args.calibration), seed=args.seed + 1000)
    observations = collect_observations(model, calib_env, args.calibration)
    calib_env.close()
    agent = convert_sb3(model, observations, percentile=args.percentile, segments=args.segments,
                        v_init=args.v_init, steps=args.steps, readout=args.readout,
                        normalization=args.normalization,
                        replicas=args.replicas[0] if len(args.replicas) == 1 else args.replicas, seed=args.seed)
    agent.metadata.update(source=str(args.model), env=args.env)
    agent.to(args.device)
    convert_seconds = time.perf_counter() - t0
    log(f"converted {agent.metadata['algo']} ({len(agent.metadata['layers'])} spiking layers) from "
        f"{args.calibration} observations in {convert_seconds:.1f} s")
    norm = agent.metadata.get("obs_normalization")
    if norm is not None:
        log("the normalisation is folded into the first layer (its clip cannot bind within the observation space)"
            if norm["folded"] else "the normalisation (with its clip) is applied to the observations before the "
            "network (folding it into the first layer would not be exact)")
    out = Path(args.out) if args.out else Path("runs") / "convert" / Path(args.model).stem
    out.mkdir(parents=True, exist_ok=True)
    checkpoint = out / "snn.safetensors"
    agent.save(checkpoint)
    report = {
        "model": str(args.model), "env": args.env, "algo": agent.metadata["algo"], "episodes": args.episodes,
        "seed": args.seed, "percentile": args.percentile, "readout": args.readout, "replicas": args.replicas,
        "normalization": args.normalization, "calibration": args.calibration,
        "convert_seconds": round(convert_seconds, 2), "checkpoint": str(checkpoint),
        "vecnormalize": stats_source, "normalization_folded": None if norm is None else norm["folded"],
        "layers": agent.metadata["layers"],
    }
    if args.episodes > 0:
        steps = args.sweep or [args.steps]
        res = compare_returns(model, agent, args.env, args.episodes, steps=steps,
                              n_envs=min(args.n_envs, args.episodes), seed=args.seed, log=log)
        brief = ("returns", "lengths")
        report["ann"] = {k: v for k, v in res["ann"].items() if k not in brief}
        report["random"] = {k: v for k, v in res["random"].items() if k not in brief}
        report["snn"] = [{k: v for k, v in row.items() if k not in brief} for row in res["snn"]]
        report["returns"] = {"ann": res["ann"]["returns"], "random": res["random"]["returns"],
                             **{f"snn_T{r['steps']}": r["returns"] for r in res["snn"]}}
        a, r = res["ann"], res["random"]
        print(f"random policy: {r['mean']:.2f} +- {r['std']:.1f} (same episodes); 'kept' is the share of the ANN's "
              "gap above it that the SNN keeps, (SNN - random) / (ANN - random)")
        print(f"{'T':>6} {'ANN return':>16} {'SNN return':>16} {'kept':>8} {'agreement':>10}")
        for row in res["snn"]:
            kept = "n/a" if math.isnan(row["kept"]) else f"{100 * row['kept']:.1f}%"
            print(f"{row['steps']:>6} {a['mean']:>9.2f} +- {a['std']:<5.1f} {row['mean']:>9.2f} +- {row['std']:<5.1f}"
                  f" {kept:>8} {100 * row['agreement']:>9.2f}%")
        if any(math.isnan(row["kept"]) for row in res["snn"]):
            print("note: the ANN does no better than the random policy on these episodes: no share is defined")
        elif args.replicas == [1] and any(row["kept"] < 0.95 for row in res["snn"]):
            print("hint: the SNN keeps less than 95 % of the ANN's gap above random at some T. When the outputs' "
                  "margins are small (Q-networks), finer rates help: --replicas 1,16 (16 neurons per unit of the "
                  "last hidden layer) or a larger --steps; see bench/README.md (stable-baselines3).")
    (out / "report.json").write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {checkpoint} and {out / 'report.json'}")
    return 0


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Register ``convert`` on the ``snnrl`` command."""
    p = sub.add_parser("convert", help="convert a stable-baselines3 model into a spiking network and compare them",
                       description=__doc__.split("\n\n")[0])
    p.add_argument("--model", required=True, help="the SB3 model (.zip), e.g. an RL Zoo model")
    p.add_argument("--env", required=True,
                   help="environment: an snnrl preset (cartpole), a Gymnasium id (CartPole-v1) or atari:<id> "
                        "(SB3's Atari wrappers + 4 stacked frames, e.g. atari:BreakoutNoFrameskip-v4)")
    p.add_argument("--algo", default="auto", choices=["auto", *ALGOS],
                   help="algorithm that saved the model (default: read from the file)")
    stats = p.add_mutually_exclusive_group()
    stats.add_argument("--vecnormalize", default=None, metavar="PATH",
                       help="the model's VecNormalize statistics (vecnormalize.pkl). Default: <Env>/vecnormalize.pkl "
                            "beside <Env>.zip (the RL Zoo's layout), if present. The file is a pickle: use only "
                            "files you trust")
    stats.add_argument("--no-vecnormalize", action="store_true",
                       help="do not look for VecNormalize statistics (the model saw raw observations)")
    p.add_argument("--steps", type=positive_int, default=64, help="simulation steps per decision, T (default: 64)")
    p.add_argument("--sweep", type=_int_list, default=None,
                   help="evaluate the SNN at each of these T (comma-separated), e.g. 16,32,64,128")
    p.add_argument("--percentile", type=positive_float, default=99.9,
                   help="ReLU normalisation percentile of the positive activations (default: 99.9)")
    p.add_argument("--normalization", choices=["channel", "layer"], default="channel",
                   help="one ReLU scale per neuron/channel or per layer (default: channel)")
    p.add_argument("--segments", type=positive_int, default=8,
                   help="neurons per side for tanh/sigmoid units (default: 8)")
    p.add_argument("--replicas", type=_int_list, default=[1],
                   help="neurons per hidden unit with staggered initial voltages: one value for every hidden "
                        "layer or one per hidden layer, e.g. 1,16 (default: 1)")
    p.add_argument("--readout", choices=["potential", "spikes"], default="potential",
                   help="read the outputs from the accumulated potential or the spike counts (default: potential)")
    p.add_argument("--v-init", type=finite_float, default=0.5, help="initial voltage / threshold (default: 0.5)")
    p.add_argument("--calibration", type=positive_int, default=2000,
                   help="observations for the weight normalisation (default: 2000)")
    p.add_argument("--episodes", type=non_negative_int, default=10,
                   help="evaluation episodes, 0 for none (default: 10)")
    p.add_argument("--n-envs", type=positive_int, default=10, help="parallel evaluation environments (default: 10)")
    p.add_argument("--seed", type=seed_int, default=0, help="evaluation seed (calibration uses seed + 1000)")
    p.add_argument("--out", default=None, help="output directory (default: runs/convert/<model name>)")
    p.add_argument("--device", default="cpu", help="torch device of the ANN and the SNN (default: cpu)")
    p.add_argument("--threads", type=positive_int, default=1, help="torch threads (default: 1)")
    p.set_defaults(func=convert)
