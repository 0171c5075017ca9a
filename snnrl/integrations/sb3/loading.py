"""Loading stable-baselines3 ``.zip`` models, including those saved by other SB3 versions.

Models of the RL Baselines3 Zoo were saved by SB3 1.x with the old ``gym`` package: their
observation and action spaces are pickled ``gym.spaces`` objects and their schedules
(``lr_schedule``, ``exploration_schedule``, ``clip_range``) pickled closures of an older Python,
neither of which unpickles today. :func:`load_sb3_model` reads the model's JSON header first,
rebuilds the spaces from the plain fields SB3 writes next to every pickle (``shape``, ``low``,
``high``, ``n``, ...) and replaces the schedules by constants (they only matter for further
training), then lets SB3 load the weights. Pass ``custom_objects`` to override any of these.

Note that SB3's own loader unpickles the rest of the header: load only models you trust.

**VecNormalize statistics.** Models trained on normalised observations come with
``vecnormalize.pkl`` (the RL Zoo keeps it in ``<Env>/vecnormalize.pkl`` beside ``<Env>.zip``):
:func:`load_sb3_model` finds it there (:func:`find_vecnormalize`) or takes its path, reads it
(:func:`read_vecnormalize`) and returns a :class:`~snnrl.integrations.sb3.NormalizedModel`, whose
``predict`` takes raw observations. The file is a pickle of SB3's ``VecNormalize`` object (SB3's
own format, written by ``VecNormalize.save``); it is unpickled with SB3's classes, but only the
classes such a file holds are allowed (numpy arrays, SB3's ``RunningMeanStd`` and
``VecNormalize``, gym/gymnasium spaces, which are not needed and read as placeholders, so that
files written with the old ``gym`` package load without it). That narrows what a crafted file
can do but is no guarantee: load only files you trust.
"""

from __future__ import annotations

import io
import json
import os
import pickle
import re
import warnings
import zipfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from snnrl._extras import require_extra
from snnrl.integrations.sb3.normalization import NormalizedModel, ObsNormalization

__all__ = [
    "ALGOS",
    "SB3LoadError",
    "algo_class",
    "detect_algo",
    "find_vecnormalize",
    "load_sb3_model",
    "read_model_header",
    "read_vecnormalize",
    "require_sb3",
    "space_from_header",
]

ALGOS = ("dqn", "qrdqn", "ppo", "a2c", "sac", "td3", "ddpg")
VECNORMALIZE = "vecnormalize.pkl"
_SCHEDULES = ("learning_rate", "lr_schedule", "clip_range", "clip_range_vf", "exploration_schedule")


class SB3LoadError(ValueError):
    """A file that is not a stable-baselines3 model, or one that cannot be loaded (the message says why)."""


def require_sb3(what: str = "the stable-baselines3 integration") -> Any:
    """Import ``stable_baselines3`` or raise an ImportError naming the extra to install."""
    return require_extra("stable_baselines3", what, "sb3", {"stable_baselines3": "stable-baselines3"})


def algo_class(algo: str) -> type:
    """The SB3 class of ``algo`` (one of :data:`ALGOS`)."""
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
    return {"dqn": sb3.DQN, "ppo": sb3.PPO, "a2c": sb3.A2C, "sac": sb3.SAC, "td3": sb3.TD3, "ddpg": sb3.DDPG}[algo]


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
    if module.startswith("stable_baselines3.sac"):
        return "sac"
    if module.startswith("stable_baselines3.td3"):  # DDPG is TD3 with other settings
        return "ddpg" if hint == "ddpg" else "td3"
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



# ----------------------------------------------------------------------------- VecNormalize statistics
def find_vecnormalize(model_path: str | os.PathLike[str]) -> Path | None:
    """The ``vecnormalize.pkl`` of a model in the RL Zoo's layout, or None.

    Looks for ``<dir>/<stem>/vecnormalize.pkl`` beside ``<dir>/<stem>.zip`` (the zoo's
    ``<Env>/vecnormalize.pkl`` beside ``<Env>.zip``); failing that, for the one sub-folder of
    ``<dir>`` that holds both ``vecnormalize.pkl`` and the zoo's ``config.yml`` (a zoo run folder
    whose model is, e.g., ``best_model.zip``).
    """
    p = Path(model_path)
    own = p.parent / p.stem / VECNORMALIZE
    if own.is_file():
        return own
    found = [d / VECNORMALIZE for d in sorted(p.parent.iterdir()) if d.is_dir()
             and (d / VECNORMALIZE).is_file() and (d / "config.yml").is_file()] if p.parent.is_dir() else []
    return found[0] if len(found) == 1 else None


class _Placeholder:
    """Stands in for a pickled gym / gymnasium space: a vecnormalize.pkl's spaces are not needed."""

    def __setstate__(self, state: Any) -> None:
        self.state = state


_NUMPY_CORE = ("numpy.core.multiarray", "numpy._core.multiarray")
_ALLOWED: dict[str, tuple[str, ...]] = {
    "numpy": ("ndarray", "dtype"),
    **{m: ("_reconstruct", "scalar") for m in _NUMPY_CORE},
    "numpy.random._pickle": ("__randomstate_ctor", "__generator_ctor", "__bit_generator_ctor"),
    "collections": ("OrderedDict",),
    "copyreg": ("_reconstructor",),
    "builtins": ("object",),
    "stable_baselines3.common.running_mean_std": ("RunningMeanStd",),
    "stable_baselines3.common.vec_env.vec_normalize": ("VecNormalize",),
}


_BIT_GENERATORS = ("MT19937", "PCG64", "PCG64DXSM", "Philox", "SFC64", "RandomState", "Generator")


class _VecNormalizeUnpickler(pickle.Unpickler):
    """Unpickles only what ``VecNormalize.save`` writes (see the module docstring)."""

    def find_class(self, module: str, name: str) -> Any:
        if module.startswith(("gym.spaces", "gymnasium.spaces")):
            return _Placeholder
        if module.startswith("numpy.dtypes") and name.endswith("DType"):
            return super().find_class(module, name)
        if module.startswith("numpy.random._") and name in _BIT_GENERATORS:  # the spaces' random states
            return super().find_class(module, name)
        if name in _ALLOWED.get(module, ()):
            if module == "numpy.core.multiarray" and hasattr(np, "_core"):
                module = "numpy._core.multiarray"  # numpy 2 renamed it (the old name warns)
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"it references {module}.{name}, which a VecNormalize file does not hold")


def read_vecnormalize(path: str | os.PathLike[str]) -> ObsNormalization | None:
    """The observation statistics in a ``vecnormalize.pkl`` (SB3's ``VecNormalize.save``).

    The file is a pickle: load only files you trust (see the module docstring for what is
    allowed in it). Files of SB3 1.x (the RL Zoo's, pickled with the old ``gym``) load without gym.

    Returns:
        The statistics, or None when the file normalises rewards only (``norm_obs=False``).

    Raises:
        FileNotFoundError: no such file.
        SB3LoadError: not a VecNormalize file, one with a class it should not hold, or statistics
            of a ``Dict`` observation space (not supported).
        ImportError: stable-baselines3 is not installed.
    """
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"{p}: no such file")
    require_sb3("reading VecNormalize statistics")
    from stable_baselines3.common.running_mean_std import RunningMeanStd
    from stable_baselines3.common.vec_env import VecNormalize

    try:
        obj = _VecNormalizeUnpickler(io.BytesIO(p.read_bytes())).load()
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError, KeyError, IndexError,
            ImportError) as e:
        raise SB3LoadError(f"{p}: not a VecNormalize statistics file written by VecNormalize.save(): "
                           f"{type(e).__name__}: {e}") from None
    if not isinstance(obj, VecNormalize):
        raise SB3LoadError(f"{p}: not a VecNormalize statistics file (it holds a {type(obj).__name__})")
    if not getattr(obj, "norm_obs", True):
        return None
    rms = getattr(obj, "obs_rms", None)
    if isinstance(rms, dict):
        raise SB3LoadError(f"{p}: statistics of a Dict observation space ({sorted(rms)}); conversion supports "
                           "Box observations only")
    if not isinstance(rms, RunningMeanStd):
        raise SB3LoadError(f"{p}: a VecNormalize object without observation statistics (obs_rms)")
    try:
        return ObsNormalization(np.asarray(rms.mean, dtype=np.float64), np.asarray(rms.var, dtype=np.float64),
                                float(getattr(obj, "epsilon", 1e-8)), float(getattr(obj, "clip_obs", 10.0)))
    except (TypeError, ValueError) as e:
        raise SB3LoadError(f"{p}: bad observation statistics: {e}") from None


def _normalized(model: Any, path: str | os.PathLike[str], vecnormalize: str | os.PathLike[str] | bool) -> Any:
    """``model`` with the statistics ``vecnormalize`` selects (see :func:`load_sb3_model`)."""
    if vecnormalize is False:
        return model
    source = find_vecnormalize(path) if vecnormalize is True else Path(vecnormalize)
    if source is None:
        return model
    stats = read_vecnormalize(source)
    if stats is None:
        return model
    try:
        return NormalizedModel(model, stats, str(source))
    except ValueError as e:
        raise SB3LoadError(f"{source}: {e}") from None


def load_sb3_model(
    path: str | os.PathLike[str],
    algo: str | None = None,
    *,
    env: Any = None,
    custom_objects: Mapping[str, Any] | None = None,
    device: str = "cpu",
    vecnormalize: str | os.PathLike[str] | bool = True,
) -> Any:
    """Load a stable-baselines3 model saved by any SB3 version (1.x models of the RL Zoo included).

    Args:
        path: the ``.zip`` file.
        algo: one of :data:`ALGOS` (``"dqn"``, ``"ppo"``, ``"sac"``, ...); None reads it from the file.
        env: optional environment; its spaces stand in for the file's when those cannot be rebuilt.
        custom_objects: header entries to replace (as SB3's ``custom_objects``); they take
            precedence over the replacements made here.
        device: torch device of the loaded policy.
        vecnormalize: the model's ``VecNormalize`` statistics (a pickle: only files you trust):
            True looks for them in the RL Zoo's layout (:func:`find_vecnormalize`), a path reads
            that file, False uses none.

    Returns:
        The SB3 model, or, with observation statistics, a
        :class:`~snnrl.integrations.sb3.NormalizedModel` wrapping it (its ``predict`` takes raw
        observations; ``.model`` is the SB3 model).

    Raises:
        FileNotFoundError: no such file (model or statistics).
        SB3LoadError: not a stable-baselines3 model, or one that cannot be loaded; statistics
            that cannot be read or do not fit the model.
        ImportError: stable-baselines3 (or sb3-contrib for QR-DQN) is not installed.
    """
    header = read_model_header(path)
    if not isinstance(vecnormalize, bool) and not Path(vecnormalize).is_file():
        raise FileNotFoundError(f"{vecnormalize}: no such file (the VecNormalize statistics)")
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
            model = cls.load(path, env=env, device=device, custom_objects=objects)
    except ModuleNotFoundError as e:
        raise SB3LoadError(
            f"{path}: this {algo} model (saved by SB3 {header['sb3_version']}) pickles an object of the missing "
            f"module {e.name!r}; pass custom_objects={{name: replacement}} for that header entry"
        ) from e
    except (KeyError, ValueError, TypeError, RuntimeError, AttributeError, AssertionError) as e:
        raise SB3LoadError(f"{path}: stable-baselines3 could not load this {algo} model (saved by SB3 "
                           f"{header['sb3_version']}): {type(e).__name__}: {e}") from e
    return _normalized(model, path, vecnormalize)
