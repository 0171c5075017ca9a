"""Environment presets and the factory that builds them: ``snnrl.make_env("breakout")``.

Importing this package is cheap and does not import Gymnasium; building an environment needs
the ``atari`` extra (``pip install 'snnrl[atari]'``). The presets are the TOML files of the
repository's ``envs/`` directory (documented in ``envs/README.md``), shipped inside the package.
Gymnasium ids of snnrl's own small tasks (``snnrl/CueBandit-v0``) live in
:mod:`snnrl.envs.tasks`.
"""

from snnrl.envs.config import (
    ENCODERS,
    PREPROCESS_STEPS,
    EnvPreset,
    PresetError,
    list_presets,
    load_preset,
    presets_dir,
)
from snnrl.envs.factory import VECTORIZATION_MODES, build_env, make_env

__all__ = [
    "ENCODERS",
    "PREPROCESS_STEPS",
    "VECTORIZATION_MODES",
    "EnvPreset",
    "PresetError",
    "build_env",
    "list_presets",
    "load_preset",
    "make_env",
    "presets_dir",
]
