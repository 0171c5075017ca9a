"""A small TOML writer for plain data, and readers built on the standard library's ``tomllib``.

Network specs, presets (``agents/``, ``envs/``) and checkpoints hold plain data, and this module
writes exactly that subset of TOML:

* tables (``dict`` with ``str`` keys), written as ``[a.b]`` sections;
* arrays of tables (non-empty lists whose items are all dicts), written as ``[[a.b]]``
  sections, their sub-tables as ``[a.b.c]`` sections after each item;
* strings, ints (64-bit signed, as TOML requires), floats including ``inf``, ``-inf`` and
  ``nan``, bools, and arrays of any of these (nested arrays and inline tables included).

Small flat tables three or more levels deep (``layers.params.thresh``) are written as inline
tables (``thresh = { tensor = [-52.0, -50.0], dtype = "float32" }``) when they fit in 100
characters; everything else as sections.

There is no ``None`` in TOML: a ``None`` anywhere is an error that names its key path (leave the
key out instead). Dates and times are not supported. Keys that are not bare TOML keys
(``A-Za-z0-9_-``) are quoted.

``loads(dumps(data)) == data`` for every value the writer accepts (tuples come back as lists and
``nan`` compares unequal to itself, as always).
"""

from __future__ import annotations

import math
import numbers
import os
import re
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

__all__ = ["TOMLDecodeError", "dump", "dumps", "load", "loads"]

TOMLDecodeError = tomllib.TOMLDecodeError

_BARE_KEY = re.compile(r"[A-Za-z0-9_-]+")
_ESCAPES = {'"': '\\"', "\\": "\\\\", "\b": "\\b", "\t": "\\t", "\n": "\\n", "\f": "\\f", "\r": "\\r"}
_INT64 = (-(2**63), 2**63 - 1)
_INLINE_DEPTH = 3  # tables at least this deep (``layers.params.thresh``) ...
_INLINE_WIDTH = 100  # ... and at most this wide, without sub-tables, are written inline


def loads(text: str) -> dict[str, Any]:
    """Parse TOML text (``tomllib.loads``); raises :class:`TOMLDecodeError` on bad input."""
    return tomllib.loads(text)


def load(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Parse a TOML file."""
    with open(path, "rb") as f:
        return tomllib.load(f)


def dumps(data: Mapping[str, Any]) -> str:
    """TOML text for ``data`` (a mapping with ``str`` keys); see the module docstring.

    Raises:
        TypeError: a value has an unsupported type (the message names its key path).
        ValueError: ``None``, or an int outside the signed 64-bit range.
    """
    if not isinstance(data, Mapping):
        raise TypeError(f"TOML documents are tables (mappings), got {type(data).__name__}")
    lines: list[str] = []
    _table(lines, data, [], "", header=None)
    return "\n".join(lines).lstrip("\n") + "\n"


def dump(data: Mapping[str, Any], path: str | os.PathLike[str]) -> None:
    """Write ``dumps(data)`` to ``path`` (UTF-8)."""
    Path(path).write_text(dumps(data), encoding="utf-8")


# ----------------------------------------------------------------------------- writer
# ``keys`` is the key path used in section headers (``[a.b]``); ``where`` the path shown in
# error messages, with array indices (``layers[1].params``).
def _key(key: Any, where: str) -> str:
    if not isinstance(key, str):
        raise TypeError(f"{where or '<root>'}: TOML keys must be strings, got {key!r}")
    return key if _BARE_KEY.fullmatch(key) else _string(key)


def _join(where: str, key: str) -> str:
    return f"{where}.{key}" if where else key


def _is_table_array(value: Any) -> bool:
    return isinstance(value, (list, tuple)) and len(value) > 0 and all(isinstance(v, Mapping) for v in value)


def _table(lines: list[str], table: Mapping[str, Any], keys: list[str], where: str, header: str | None) -> None:
    """Write one table: its plain keys first, then its sub-tables, then its arrays of tables."""
    if header is not None:
        lines.append("")
        lines.append(header)
    tables, arrays = [], []
    for key, value in table.items():
        bare = _key(key, where)
        if isinstance(value, Mapping) and not _inline(value, len(keys) + 1):
            tables.append((key, value))
        elif _is_table_array(value):
            arrays.append((key, value))
        else:
            lines.append(f"{bare} = {_value(value, _join(where, key))}")
    for key, value in tables:
        sub = [*keys, key]
        _table(lines, value, sub, _join(where, key), f"[{_dotted(sub, where)}]")
    for key, items in arrays:
        sub = [*keys, key]
        for i, item in enumerate(items):
            _table(lines, item, sub, f"{_join(where, key)}[{i}]", f"[[{_dotted(sub, where)}]]")


def _inline(table: Mapping[str, Any], depth: int) -> bool:
    """Write a small flat table deep in the document inline: ``thresh = { tensor = [...] }``."""
    if depth < _INLINE_DEPTH or any(isinstance(v, Mapping) or _is_table_array(v) for v in table.values()):
        return False
    try:
        return len(_value(table, "")) <= _INLINE_WIDTH
    except (TypeError, ValueError):
        return False  # reported with its full path when written as a section


def _dotted(keys: list[str], where: str) -> str:
    return ".".join(_key(k, where) for k in keys)


def _value(value: Any, where: str) -> str:
    """An inline TOML value."""
    if value is None:
        raise ValueError(f"{where}: TOML has no null/None; leave the key out instead")
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return _string(value)
    if isinstance(value, numbers.Integral):
        value = int(value)
        if not _INT64[0] <= value <= _INT64[1]:
            raise ValueError(f"{where}: {value} is outside TOML's signed 64-bit integer range")
        return str(value)
    if isinstance(value, numbers.Real):
        return _float(float(value))
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_value(v, f"{where}[{i}]") for i, v in enumerate(value)) + "]"
    if isinstance(value, Mapping):
        items = ", ".join(f"{_key(k, where)} = {_value(v, _join(where, k))}" for k, v in value.items())
        return "{" + (f" {items} " if items else "") + "}"
    raise TypeError(f"{where}: cannot write a {type(value).__name__} to TOML "
                    "(supported: str, int, float, bool, list, dict)")


def _float(x: float) -> str:
    if math.isnan(x):
        return "nan"
    if math.isinf(x):
        return "inf" if x > 0 else "-inf"
    return repr(x)  # always has '.', 'e' or both: a TOML float, exact round trip


def _string(s: str) -> str:
    out = []
    for ch in s:
        if ch in _ESCAPES:
            out.append(_ESCAPES[ch])
        elif ord(ch) < 0x20 or ord(ch) == 0x7F:
            out.append(f"\\u{ord(ch):04x}")
        else:
            out.append(ch)
    return '"' + "".join(out) + '"'
