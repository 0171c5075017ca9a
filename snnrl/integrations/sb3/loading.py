"""Loading stable-baselines3 ``.zip`` models, including those saved by other SB3 versions.

Models of the RL Baselines3 Zoo were saved by SB3 1.x with the old ``gym`` package: their
observation and action spaces are pickled ``gym.spaces`` objects and their schedules
(``lr_schedule``, ``exploration_schedule``, ``clip_range``) pickled closures of an older Python,
neither of which unpickles today. :func:`load_sb3_model` reads the model's JSON header first,
rebuilds the spaces from the plain fields SB3 writes next to every pickle (``shape``, ``low``,
``high``, ``n``, ...) and replaces the schedules by constants (they only matter for further
training), then lets SB3 load the weights. Pass ``custom_objects`` to override any of these.

Note that SB3's own loader unpickles the rest of the header: load only models you trust.
"""

from __future__ import annotations

import json
import os
import re
import warnings
import zipfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

__all__ = [
    "ALGOS",
    "SB3LoadError",
    "algo_class",
    "detect_algo",
    "load_sb3_model",
    "read_model_header",
    "require_sb3",
    "space_from_header",
]

ALGOS = ("dqn", "qrdqn", "ppo", "a2c")
_SCHEDULES = ("learning_rate", "lr_schedule", "clip_range", "clip_range_vf", "exploration_schedule")


class SB3LoadError(ValueError):
    """A file that is not a stable-baselines3 model, or one that cannot be loaded (the message says why)."""


def require_sb3(what: str = "the stable-baselines3 integration") -> Any:
    """Import ``stable_baselines3`` or raise an ImportError naming the extra to install."""
    try:
        import stable_baselines3
    except ImportError as e:
        raise ImportError(f"{what} needs stable-baselines3: pip install 'snnrl[sb3]'") from e
    return stable_baselines3


def algo_class(algo: str) -> type:
    """The SB3 class of ``algo`` (``"dqn"``, ``"qrdqn"``, ``"ppo"``, ``"a2c"``)."""
    algo = algo.lower()
    if algo not in ALGOS:
        raise ValueError(f"unknown algorithm {algo!r}; supported: {ALGOS}")
    if algo == "qrdqn":
        require_sb3("QR-DQN")
        try:
            from sb3_contrib import QRDQN
        except ImportError as e:
            raise ImportError("QR-DQN models need sb3-contrib: pip install sb3-contrib") from e
        return QRDQN
    sb3 = require_sb3()
    return {"dqn": sb3.DQN, "ppo": sb3.PPO, "a2c": sb3.A2C}[algo]


class _Constant:
    """A constant schedule (picklable), standing in for schedules that cannot be unpickled."""

    def __init__(self, value: float) -> None:
        self.value = float(value)

    def __call__(self, _progress: float) -> float:
        return self.value

    def __repr__(self) -> str:
        return f"constant({self.value})"


def read_model_header(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The JSON header (``data``) and SB3 version of a model file, without unpickling anything.

    Returns:
        ``{"data": dict, "sb3_version": str, "members": [names in the zip]}``.

    Raises:
        FileNotFoundError: no such file.
        SB3LoadError: not a stable-baselines3 model file.
    """
    p = Path(path)
    if not p.exists():
        raise FileNotFoundError(f"{p}: no such file")
    if p.is_dir() or not zipfile.is_zipfile(p):
        raise SB3LoadError(f"{p}: not a stable-baselines3 model (expected the .zip file written by model.save())")
    with zipfile.ZipFile(p) as z:
        members = z.namelist()
        if "data" not in members or "policy.pth" not in members:
            raise SB3LoadError(f"{p}: a zip file but not a stable-baselines3 model (no 'data' and 'policy.pth' "
                               f"inside; found {members[:8]})")
        try:
            data = json.loads(z.read("data").decode("utf-8"))
        except (UnicodeDecodeError, ValueError) as e:
            raise SB3LoadError(f"{p}: corrupt stable-baselines3 model: its 'data' header is not JSON ({e})") from None
        version = z.read("_stable_baselines3_version").decode().strip() if "_stable_baselines3_version" in members \
            else "unknown"
    if not isinstance(data, dict):
        raise SB3LoadError(f"{p}: corrupt stable-baselines3 model: its 'data' header is not a JSON object")
    return {"data": data, "sb3_version": version, "members": members}


def detect_algo(header: Mapping[str, Any], path: str | os.PathLike[str] | None = None) -> str:
    """The algorithm that saved a model, from its header (and the zoo's file naming, ``ppo-...zip``)."""
    data = header["data"]
    policy = data.get("policy_class", {})
    module = policy.get("__module__", "") if isinstance(policy, dict) else ""
    stem = Path(path).name.lower() if path is not None else ""
    hint = next((a for a in ALGOS if stem.startswith(a + "-") or stem.startswith(a + "_")), None)
    if ".qrdqn." in module:
        return "qrdqn"
    if module.startswith("stable_baselines3.dqn"):
        return "dqn"
    if module.endswith("common.policies") or ".ppo." in module or ".a2c." in module:
        if hint in ("ppo", "a2c"):
            return hint
        return "ppo" if "clip_range" in data or "n_epochs" in data else "a2c"
    where = module or "an unknown policy class"
    if hint is not None:
        return hint
    raise SB3LoadError(f"{path}: cannot tell the algorithm of this model ({where}); conversion supports "
                       f"{', '.join(ALGOS)}: pass algo=...")


def _numbers(text: str) -> list[float] | None:
    try:
        return [float(v) for v in re.findall(r"[-+]?(?:\d+\.?\d*(?:e[-+]?\d+)?|inf|nan)", text, flags=re.I)]
    except ValueError:
        return None


def _array(text: Any, shape: tuple[int, ...], dtype: str) -> np.ndarray | None:
    if not isinstance(text, str):
        return None
    values = _numbers(text)
    if not values:
        return None
    n = int(np.prod(shape)) if shape else 1
    if "..." in text:  # numpy's summary of a large array: only a uniform one can be rebuilt
        return np.full(shape, values[0], dtype=dtype) if len(set(values)) == 1 else None
    if len(values) == 1:
        return np.full(shape, values[0], dtype=dtype)
    if len(values) != n:
        return None
    return np.array(values, dtype=dtype).reshape(shape)


def space_from_header(entry: Any) -> Any | None:
    """A Gymnasium space rebuilt from a header entry's plain fields, or None if it cannot be."""
    if not isinstance(entry, dict):
        return None
    from gymnasium import spaces

    kind = str(entry.get(":type:", ""))
    try:
        if kind.endswith(".Box'>"):
            shape = tuple(int(d) for d in entry["shape"])
            dtype = str(entry.get("dtype", "float32"))
            low, high = _array(entry.get("low"), shape, dtype), _array(entry.get("high"), shape, dtype)
            if low is None or high is None:
                return None
            return spaces.Box(low=low, high=high, shape=shape, dtype=dtype)
        if kind.endswith(".Discrete'>"):
            return spaces.Discrete(int(entry["n"]), start=int(entry.get("start", 0)))
        if kind.endswith(".MultiDiscrete'>"):
            nvec = _numbers(str(entry["nvec"]))
            return spaces.MultiDiscrete([int(v) for v in nvec]) if nvec else None
        if kind.endswith(".MultiBinary'>"):
            return spaces.MultiBinary(entry["n"])
    except (KeyError, TypeError, ValueError):
        return None
    return None


def load_sb3_model(
    path: str | os.PathLike[str],
    algo: str | None = None,
    *,
    env: Any = None,
    custom_objects: Mapping[str, Any] | None = None,
    device: str = "cpu",
) -> Any:
    """Load a stable-baselines3 model saved by any SB3 version (1.x models of the RL Zoo included).

    Args:
        path: the ``.zip`` file.
        algo: ``"dqn"``, ``"qrdqn"``, ``"ppo"`` or ``"a2c"``; None reads it from the file.
        env: optional environment; its spaces stand in for the file's when those cannot be rebuilt.
        custom_objects: header entries to replace (as SB3's ``custom_objects``); they take
            precedence over the replacements made here.
        device: torch device of the loaded policy.

    Raises:
        FileNotFoundError: no such file.
        SB3LoadError: not a stable-baselines3 model, or one that cannot be loaded.
        ImportError: stable-baselines3 (or sb3-contrib for QR-DQN) is not installed.
    """
    header = read_model_header(path)
    require_sb3()
    algo = (algo or detect_algo(header, path)).lower()
    cls = algo_class(algo)
    data = header["data"]
    objects: dict[str, Any] = {}
    for key in _SCHEDULES:
        entry = data.get(key)
        if isinstance(entry, dict) and ":serialized:" in entry:
            value = 0.0
            if key == "exploration_schedule":
                value = float(data.get("exploration_final_eps", data.get("exploration_rate", 0.0)))
            objects[key] = _Constant(value)
    for key in ("observation_space", "action_space"):
        space = space_from_header(data.get(key))
        if space is None and env is not None:
            space = getattr(env, key)
        if space is not None:
            objects[key] = space
    objects.update(custom_objects or {})
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="You are probably loading a .* model saved with SB3 < 2.4.0")
            return cls.load(path, env=env, device=device, custom_objects=objects)
    except ModuleNotFoundError as e:
        raise SB3LoadError(
            f"{path}: this {algo} model (saved by SB3 {header['sb3_version']}) pickles an object of the missing "
            f"module {e.name!r}; pass custom_objects={{name: replacement}} for that header entry"
        ) from e
    except (KeyError, ValueError, TypeError, RuntimeError, AttributeError, AssertionError) as e:
        raise SB3LoadError(f"{path}: stable-baselines3 could not load this {algo} model (saved by SB3 "
                           f"{header['sb3_version']}): {type(e).__name__}: {e}") from e
