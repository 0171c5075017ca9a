"""TOML for plain data: read with the standard library's ``tomllib``, written with ``tomli-w``.

Network specs, presets (``agents/``, ``envs/``) and checkpoints hold plain data: tables (``dict``
with ``str`` keys), arrays (lists, tuples) and arrays of tables, strings, ints (64-bit signed, as
TOML requires), floats including ``inf``, ``-inf`` and ``nan``, and bools. :func:`dumps` checks
the data first, so that a value TOML cannot hold is reported with its key path
(``layers[0].params.x``) rather than by the writer's generic message, converts numpy scalars
and other ``numbers.Integral`` / ``numbers.Real`` to ``bool`` / ``int`` / ``float``, and hands it to
``tomli_w.dumps``, which decides the layout (sections, inline tables, one array item per line).

There is no ``None`` in TOML: a ``None`` anywhere is an error that names its key path (leave the
key out instead). Dates and times are not supported.

``loads(dumps(data)) == data`` for every value :func:`dumps` accepts (tuples come back as lists
and ``nan`` compares unequal to itself, as always).
"""

from __future__ import annotations

import numbers
import os
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import tomli_w

__all__ = ["TOMLDecodeError", "dump", "dumps", "load", "loads"]

TOMLDecodeError = tomllib.TOMLDecodeError

_INT64 = (-(2**63), 2**63 - 1)


def loads(text: str) -> dict[str, Any]:
    """Parse TOML text (``tomllib.loads``); raises :class:`TOMLDecodeError` on bad input."""
    return tomllib.loads(text)


def load(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Parse a TOML file."""
    with open(path, "rb") as f:
        return tomllib.load(f)


def dumps(data: Mapping[str, Any]) -> str:
    """TOML text for ``data`` (a mapping with ``str`` keys), written by ``tomli_w``.

    Raises:
        TypeError: a key that is not a string, or a value of an unsupported type (the message
            names its key path).
        ValueError: ``None``, or an int outside the signed 64-bit range.
    """
    if not isinstance(data, Mapping):
        raise TypeError(f"TOML documents are tables (mappings), got {type(data).__name__}")
    return tomli_w.dumps(_plain(data, ""))


def dump(data: Mapping[str, Any], path: str | os.PathLike[str]) -> None:
    """Write ``dumps(data)`` to ``path`` (UTF-8)."""
    Path(path).write_text(dumps(data), encoding="utf-8")


def _plain(value: Any, where: str) -> Any:
    """``value`` as the plain Python types ``tomli_w`` writes; ``where`` is its key path for errors."""
    if isinstance(value, np.generic):  # numpy scalars: np.bool_, np.int64, np.float32, np.str_, ...
        value = value.item()
    if value is None:
        raise ValueError(f"{where or '<root>'}: TOML has no null/None; leave the key out instead")
    if isinstance(value, (bool, str)):
        return value
    if isinstance(value, numbers.Integral):
        value = int(value)
        if not _INT64[0] <= value <= _INT64[1]:
            raise ValueError(f"{where}: {value} is outside TOML's signed 64-bit integer range")
        return value
    if isinstance(value, numbers.Real):
        return float(value)
    if isinstance(value, (list, tuple)):
        return [_plain(v, f"{where}[{i}]") for i, v in enumerate(value)]
    if isinstance(value, Mapping):
        table = {}
        for key, v in value.items():
            if not isinstance(key, str):
                raise TypeError(f"{where or '<root>'}: TOML keys must be strings, got {key!r}")
            table[key] = _plain(v, f"{where}.{key}" if where else key)
        return table
    raise TypeError(f"{where}: cannot write a {type(value).__name__} to TOML "
                    "(supported: str, int, float, bool, list, dict)")
