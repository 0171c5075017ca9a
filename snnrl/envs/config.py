"""Environment presets: TOML files that name an environment, its preprocessing and its encoder.

The schema is documented in ``envs/README.md``; in short::

    id = "ALE/Breakout-v5"              # the Gymnasium id (required)
    description = "..."                 # free text (optional)
    mirror = "width"                    # optional: the game is the same mirrored along this axis
                                        # of the observation grid with LEFT and RIGHT swapped

    [make]                              # keyword arguments of gymnasium.make (optional)
    frameskip = 1

    [[preprocess]]                      # wrappers, applied in order (optional, repeatable)
    type = "atari"                      # one of PREPROCESS_STEPS
    noop_max = 30

    [encoder]                           # the spike encoder, applied last (optional)
    type = "bernoulli"                  # one of ENCODERS
    steps = 16

Loading checks the structure without importing Gymnasium: unknown keys, step types and
encoder types are errors that name the key and list the valid ones. Values are checked by the
wrappers when the environment is built.

The preset files live in the repository's top-level ``envs/`` directory. The package reaches
them through ``snnrl/envs/presets`` (a link to ``../../envs`` that a wheel turns into copies of
the files, see ``setup.cfg``); from a source checkout without the link they are read from
``envs/`` directly.
"""

from __future__ import annotations

import dataclasses
import os
import tomllib
from collections.abc import Mapping
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Any

__all__ = [
    "ENCODERS",
    "PREPROCESS_STEPS",
    "TOP_LEVEL_KEYS",
    "EnvPreset",
    "PresetError",
    "list_presets",
    "load_preset",
    "presets_dir",
]

TOP_LEVEL_KEYS = ("id", "description", "mirror", "make", "preprocess", "encoder")

_SCALING = ("low", "high", "unbounded", "scale", "out_of_range")

PREPROCESS_STEPS: dict[str, tuple[str, ...]] = {
    # gymnasium.wrappers.AtariPreprocessing
    "atari": (
        "noop_max",
        "frame_skip",
        "screen_size",
        "terminal_on_life_loss",
        "grayscale_obs",
        "grayscale_newaxis",
        "scale_obs",
    ),
    "fire_reset": ("on_life_loss", "presses"),  # snnrl.wrappers.FireOnReset
    "crop": ("rows", "cols", "game"),  # snnrl.wrappers.CropObservation
    "resize": ("shape",),  # gymnasium.wrappers.ResizeObservation
    "binarize": ("threshold",),  # snnrl.wrappers.BinarizeObservation
    "frame_difference": ("mode",),  # snnrl.wrappers.FrameDifferenceObservation
    "stack": ("size", "padding"),  # gymnasium.wrappers.FrameStackObservation
    "overlay": ("weights", "reduce"),  # snnrl.wrappers.OverlayObservation
    "background": ("tau",),  # snnrl.wrappers.SubtractBackground
    "pool": ("size", "reduce"),  # snnrl.wrappers.PoolObservation
    "spread": ("sigma",),  # snnrl.wrappers.SpreadObservation
    "project": ("onto",),  # snnrl.wrappers.ProjectObservation
    "repeat_action": ("k",),  # snnrl.wrappers.ActionRepeat
    "actions": ("keep",),  # snnrl.wrappers.ActionSubset
}
"""Preprocessing step types and their options (besides ``type``)."""

ENCODERS: dict[str, tuple[str, ...]] = {
    "poisson": ("steps", "max_rate", "dt", *_SCALING),
    "bernoulli": ("steps", "max_prob", "dt", *_SCALING),
    "rank_order": ("steps", "dt", *_SCALING),
    "latency": ("steps", "mode", "normalize", "dt", *_SCALING),
    "population": ("steps", "n_per_dim", "max_rate", "sigma_scale", "dt", *_SCALING),
    "joint_population": ("steps", "n_per_dim", "max_rate", "sigma_scale", "dt", *_SCALING),
    "repeat": ("steps", "dt", *_SCALING),
}
"""Encoder types and their options (besides ``type``); see :mod:`snnrl.wrappers.encoding`."""

_REQUIRED: dict[str, tuple[str, ...]] = {
    "resize": ("shape",), "stack": ("size",), "overlay": ("weights",), "pool": ("size",), "spread": ("sigma",),
    "project": ("onto",), "repeat_action": ("k",), "actions": ("keep",),
}


class PresetError(ValueError):
    """A preset that does not exist or does not follow the schema."""


@dataclasses.dataclass(frozen=True)
class EnvPreset:
    """A parsed environment preset (see the module docstring for the fields' meaning).

    Attributes:
        name: the preset's name (its file name without ``.toml``).
        id: the Gymnasium environment id.
        description: free text.
        make: keyword arguments for ``gymnasium.make``.
        preprocess: the preprocessing steps, each a dict with ``type`` and options.
        encoder: the encoder (a dict with ``type`` and options) or None.
        path: the file it was read from, if any.
        mirror: ``"width"`` or ``"height"``: the axis of the observation grid along which the
            game is the same in a mirror once LEFT and RIGHT are swapped (what
            ``[policy] mirror = true`` of an agent ties, :mod:`snnrl.policy.symmetry`); None
            when the preset declares no symmetry.
    """

    name: str
    id: str
    description: str = ""
    make: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    preprocess: tuple[Mapping[str, Any], ...] = ()
    encoder: Mapping[str, Any] | None = None
    path: str | None = None
    mirror: str | None = None

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], name: str, path: str | None = None) -> EnvPreset:
        """Check ``data`` (a parsed TOML document) against the schema and build a preset."""
        where = f"preset {name!r}"
        if not isinstance(data, Mapping):
            raise PresetError(f"{where} must be a table, got {type(data).__name__}")
        _check_keys(data, TOP_LEVEL_KEYS, f"{where}: unknown top-level key")
        if "id" not in data:
            raise PresetError(f"{where} has no 'id' (the Gymnasium environment id)")
        env_id = data["id"]
        if not isinstance(env_id, str) or not env_id:
            raise PresetError(f"{where}: 'id' must be a non-empty string, got {env_id!r}")
        description = data.get("description", "")
        if not isinstance(description, str):
            raise PresetError(f"{where}: 'description' must be a string, got {description!r}")
        make = data.get("make", {})
        if not isinstance(make, Mapping):
            raise PresetError(f"{where}: [make] must be a table of gymnasium.make arguments, got {make!r}")
        steps = data.get("preprocess", [])
        if not isinstance(steps, list):
            raise PresetError(f"{where}: 'preprocess' must be an array of tables ([[preprocess]]), got {steps!r}")
        preprocess = tuple(
            _check_typed(step, PREPROCESS_STEPS, f"{where}, preprocess step {i}") for i, step in enumerate(steps)
        )
        mirror = data.get("mirror")
        if mirror is not None and mirror not in ("width", "height"):
            raise PresetError(f"{where}: 'mirror' must be \"width\" or \"height\", got {mirror!r}")
        encoder = data.get("encoder")
        if encoder is not None:
            encoder = _check_typed(encoder, ENCODERS, f"{where}, [encoder]")
            if "steps" not in encoder:
                raise PresetError(f"{where}, [encoder]: missing 'steps' (the time window T)")
        return cls(
            name=name,
            id=env_id,
            description=description,
            make=dict(make),
            preprocess=preprocess,
            encoder=encoder,
            path=path,
            mirror=mirror,
        )


def _check_keys(table: Mapping[str, Any], valid: tuple[str, ...], what: str) -> None:
    for key in table:
        if key not in valid:
            raise PresetError(f"{what} {key!r}; valid keys: {list(valid)}")


def _check_typed(table: Any, kinds: dict[str, tuple[str, ...]], where: str) -> dict[str, Any]:
    """Check a ``{type = ..., options...}`` table against ``kinds``; return a copy."""
    if not isinstance(table, Mapping):
        raise PresetError(f"{where} must be a table, got {table!r}")
    kind = table.get("type")
    if kind is None:
        raise PresetError(f"{where} has no 'type'; known types: {sorted(kinds)}")
    if kind not in kinds:
        raise PresetError(f"{where}: unknown type {kind!r}; known types: {sorted(kinds)}")
    options = kinds[kind]
    _check_keys(table, ("type", *options), f"{where} ({kind}): unknown key")
    missing = [key for key in _REQUIRED.get(kind, ()) if key not in table]
    if missing:
        raise PresetError(f"{where} ({kind}): missing {missing}")
    return dict(table)


def presets_dir() -> Traversable:
    """The directory holding the bundled preset files."""
    bundled = resources.files("snnrl.envs") / "presets"
    if bundled.is_dir():
        return bundled
    checkout = Path(__file__).resolve().parents[2] / "envs"  # a source tree without the link
    if checkout.is_dir():
        return checkout
    raise PresetError("the bundled environment presets are missing from this installation of snnrl")


def list_presets() -> list[str]:
    """Names of the bundled presets, sorted."""
    return sorted(p.name[: -len(".toml")] for p in presets_dir().iterdir() if p.name.endswith(".toml"))


def _parse(text: str, name: str, path: str | None) -> EnvPreset:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        raise PresetError(f"preset {name!r} ({path}) is not valid TOML: {err}") from err
    return EnvPreset.from_dict(data, name, path)


def load_preset(preset: str | os.PathLike[str] | EnvPreset) -> EnvPreset:
    """Load a preset by name (``"breakout"``), from a ``.toml`` path, or pass one through.

    Raises:
        PresetError: an unknown name (the message lists the known ones), a missing file, or a
            file that breaks the schema.
    """
    if isinstance(preset, EnvPreset):
        return preset
    if not isinstance(preset, str | os.PathLike):
        raise TypeError(f"preset must be a name, a path to a .toml file or an EnvPreset, got {preset!r}")
    text = os.fspath(preset)
    if text.endswith(".toml") or os.sep in text or "/" in text:
        path = Path(text)
        if not path.is_file():
            raise PresetError(f"preset file {text!r} does not exist")
        try:
            content = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as err:
            raise PresetError(f"cannot read the preset file {text!r} as UTF-8 text: {err}") from None
        return _parse(content, path.stem, str(path))
    known = list_presets()
    if text not in known:
        raise PresetError(f"unknown environment preset {text!r}; known presets: {known}")
    source = presets_dir() / f"{text}.toml"
    return _parse(source.read_text(encoding="utf-8"), text, str(source))
