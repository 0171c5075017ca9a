"""Build environments from presets: ``make_env("breakout", seed=0, num_envs=2)``."""

from __future__ import annotations

import functools
import os
from collections.abc import Mapping
from typing import Any

from snnrl import _checks as checks
from snnrl.envs._deps import require
from snnrl.envs.config import EnvPreset, PresetError, load_preset

__all__ = ["VECTORIZATION_MODES", "build_env", "make_env"]

VECTORIZATION_MODES = ("sync", "async")


def _tuple(value: Any) -> Any:
    """TOML arrays -> tuples (Gymnasium wants tuples for shapes)."""
    return tuple(_tuple(v) for v in value) if isinstance(value, list) else value


def _register(env_id: str, gym: Any) -> None:
    """Make sure ``env_id`` is registered: snnrl's own tasks, then ale-py's Atari games."""
    if env_id.startswith("snnrl/"):
        from snnrl.envs.tasks import register_tasks

        register_tasks()
        return
    if env_id.startswith("ALE/"):
        ale_py = require("ale_py", f"the Atari environment {env_id!r}")
        gym.register_envs(ale_py)
        return
    if env_id not in gym.registry:  # e.g. the v4 ids (BreakoutNoFrameskip-v4) come from ale-py too
        try:
            import ale_py
        except ImportError:
            return
        gym.register_envs(ale_py)


def _sticky_probability(env_id: str, kwargs: Mapping[str, Any], gym: Any) -> float:
    """The sticky-action probability of an ALE environment (the preset's, else the registered
    default, else ``AtariEnv``'s 0.25) built with ``frameskip = 1``; 0 for anything else: other
    environments, ``continuous`` ALE games, and ALE frame skipping (ALE draws once per frame, and a
    wrapper would see one step of several frames).

    :func:`build_env` builds such an environment with ``repeat_action_probability=0`` and plays
    the rule in :class:`snnrl.wrappers.sticky.StickyActions`, whose seeded resets do not reload
    the ROM (see that module)."""
    try:
        registered = gym.spec(env_id)
    except gym.error.Error:
        return 0.0  # gymnasium.make reports it
    if "ale_py" not in str(registered.entry_point) or kwargs.get("continuous", False):
        return 0.0
    if kwargs.get("frameskip", registered.kwargs.get("frameskip", 4)) != 1:
        return 0.0
    p = kwargs.get("repeat_action_probability", registered.kwargs.get("repeat_action_probability", 0.25))
    return float(p) if checks.is_real(p) else 0.0  # a bad value: AtariEnv's own error


def _preprocess(env: Any, step: Mapping[str, Any]) -> Any:
    """Apply one preprocessing step (a checked ``{type, options}`` table)."""
    from snnrl import wrappers as W

    options = {k: _tuple(v) for k, v in step.items() if k != "type"}
    kind = step["type"]
    if kind in ("atari", "resize"):
        require("cv2", f"the {kind!r} preprocessing step")
    if kind == "atari":
        return W.AtariPreprocessing(env, **options)  # Gymnasium's, with a faster step on a plain ALE env
    if kind == "fire_reset":
        return W.FireOnReset(env, **options)
    if kind == "crop":
        return W.CropObservation(env, **options)
    if kind == "resize":
        return W.ResizeObservation(env, **options)  # Gymnasium's, faster on grayscale frames
    if kind == "binarize":
        return W.BinarizeObservation(env, **options)
    if kind == "frame_difference":
        return W.FrameDifferenceObservation(env, **options)
    if kind == "stack":
        return W.FrameStackObservation(
            env, stack_size=options["size"], padding_type=options.get("padding", "zero")
        )
    if kind == "overlay":
        return W.OverlayObservation(env, **options)
    if kind == "background":
        return W.SubtractBackground(env, **options)
    if kind == "pool":
        return W.PoolObservation(env, **options)
    if kind == "spread":
        return W.SpreadObservation(env, **options)
    if kind == "project":
        return W.ProjectObservation(env, **options)
    if kind == "repeat_action":
        return W.ActionRepeat(env, **options)
    if kind == "actions":
        return W.ActionSubset(env, **options)
    raise PresetError(f"unknown preprocessing step {kind!r}")  # unreachable: the schema checks it


def _encode(env: Any, encoder: Mapping[str, Any]) -> Any:
    from snnrl import wrappers as W

    classes = {
        "poisson": W.PoissonObservation,
        "bernoulli": W.BernoulliObservation,
        "rank_order": W.RankOrderObservation,
        "latency": W.LatencyObservation,
        "population": W.PopulationObservation,
        "joint_population": W.JointPopulationObservation,
        "repeat": W.RepeatObservation,
    }
    options = {k: _tuple(v) for k, v in encoder.items() if k != "type"}
    return classes[encoder["type"]](env, **options)


def build_env(
    preset: str | os.PathLike[str] | EnvPreset,
    *,
    seed: int | None = None,
    render_mode: str | None = None,
    encode: bool = True,
) -> Any:
    """Build one (non-vector) environment from a preset; see :func:`make_env`."""
    spec = load_preset(preset)
    gym = require("gymnasium", "snnrl environments")
    _register(spec.id, gym)
    kwargs = dict(spec.make)
    if render_mode is not None:
        kwargs["render_mode"] = render_mode
    sticky = _sticky_probability(spec.id, kwargs, gym)
    if sticky:
        kwargs["repeat_action_probability"] = 0.0  # played by StickyActions instead (no ROM reload per seed)
    try:
        env = gym.make(spec.id, **kwargs)
        if sticky:
            from snnrl.wrappers.sticky import StickyActions

            env = StickyActions(env, sticky)
    except gym.error.NamespaceNotFound as err:
        raise PresetError(f"preset {spec.name!r}: {err}") from err
    except (TypeError, ValueError, gym.error.Error) as err:
        raise PresetError(f"preset {spec.name!r}: gymnasium.make({spec.id!r}, **{kwargs}) failed: {err}") from err
    for i, step in enumerate(spec.preprocess):
        try:
            env = _preprocess(env, step)
        except (TypeError, ValueError) as err:
            raise PresetError(f"preset {spec.name!r}, preprocess step {i} ({step['type']}): {err}") from err
    if encode and spec.encoder is not None:
        try:
            env = _encode(env, spec.encoder)
        except (TypeError, ValueError) as err:
            raise PresetError(f"preset {spec.name!r}, [encoder] ({spec.encoder['type']}): {err}") from err
    if seed is not None:
        from snnrl.wrappers import SeedFirstReset

        env = SeedFirstReset(env, seed)
    return env


def make_env(
    preset: str | os.PathLike[str] | EnvPreset,
    *,
    seed: int | None = None,
    num_envs: int | None = None,
    vectorization_mode: str = "sync",
    render_mode: str | None = None,
    encode: bool = True,
) -> Any:
    """Build the environment a preset describes: ``gymnasium.make``, preprocessing, encoder.

    Args:
        preset: a bundled preset's name (``"breakout"``, see ``snnrl.envs.list_presets()``), a
            path to a ``.toml`` file, or an :class:`~snnrl.envs.EnvPreset`.
        seed: seeds the first reset that comes without a seed and the action space
            (sub-environment ``i`` of a vector environment gets ``seed + i``); None leaves both
            unseeded.
        num_envs: None for a single ``gymnasium.Env``; an int >= 1 for a
            ``gymnasium.vector.VectorEnv`` of that many copies, whose observations are batched
            ``(num_envs, ...)`` and whose sub-environments autoreset one by one (Gymnasium's
            default ``NEXT_STEP`` mode: the step after an episode ends returns the reset
            observation).
        vectorization_mode: ``"sync"`` (``SyncVectorEnv``; the faster choice on 2 cores) or
            ``"async"`` (``AsyncVectorEnv``, one process per environment).
        render_mode: passed to ``gymnasium.make``.
        encode: apply the preset's encoder (False: stop after preprocessing).

    Returns:
        The environment (``gymnasium.Env`` or ``gymnasium.vector.VectorEnv``).

    Raises:
        PresetError: an unknown preset (the message lists the known ones) or a bad preset.
        ImportError: the ``atari`` extra is missing (``pip install 'snnrl[atari]'``).
    """
    spec = load_preset(preset)
    if seed is not None:
        seed = checks.integer("seed", seed, 0, what="None or a non-negative int")
    gym = require("gymnasium", "snnrl environments")
    _register(spec.id, gym)
    if num_envs is None:
        return build_env(spec, seed=seed, render_mode=render_mode, encode=encode)
    num_envs = checks.integer("num_envs", num_envs, 1, what="None or an int >= 1")
    checks.choice("vectorization_mode", vectorization_mode, VECTORIZATION_MODES)
    fns = [
        functools.partial(
            build_env, spec, seed=None if seed is None else seed + i, render_mode=render_mode, encode=encode
        )
        for i in range(int(num_envs))
    ]
    if vectorization_mode == "sync":
        venv = gym.vector.SyncVectorEnv(fns)
    else:
        venv = gym.vector.AsyncVectorEnv(fns)
    if seed is not None:
        venv.action_space.seed(seed)
    return venv
