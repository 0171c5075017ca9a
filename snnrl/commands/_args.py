"""Argument types shared by the ``snnrl`` subcommands (errors name the bad value).

Every number an option takes goes through one of these: they refuse NaN and infinities (plain
``type=float`` would take ``nan`` and ``inf``) and say what was expected. ``tests/test_cli.py``
checks that no option of any subcommand uses ``float`` or ``int`` directly.
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable
from typing import Any

MAX_SEED = 2**63 - 1
"""The largest seed (seeds are derived with 64-bit arithmetic)."""


def _number(text: str, kind: type, ok: Callable[[float], bool], expected: str) -> Any:
    """``kind(text)`` if it converts, is finite and passes ``ok``, else an argparse error naming the value."""
    try:
        value = kind(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected {expected}, got {text!r}") from None
    if (isinstance(value, float) and not math.isfinite(value)) or not ok(value):
        raise argparse.ArgumentTypeError(f"expected {expected}, got {text!r}")
    return value


def finite_float(text: str) -> float:
    """Any finite float."""
    return _number(text, float, lambda v: True, "a finite number")


def integer(text: str) -> int:
    """Any integer."""
    return _number(text, int, lambda v: True, "an integer")


def seed_int(text: str) -> int:
    """A seed: an integer in ``[0, 2**63 - 1]``."""
    return _number(text, int, lambda v: 0 <= v <= MAX_SEED, f"a seed, an integer in [0, {MAX_SEED}]")


def positive_int(text: str) -> int:
    """An integer >= 1."""
    return _number(text, int, lambda v: v >= 1, "a positive integer")


def positive_float(text: str) -> float:
    """A float > 0."""
    return _number(text, float, lambda v: v > 0, "a positive number")


def non_negative_int(text: str) -> int:
    """An integer >= 0."""
    return _number(text, int, lambda v: v >= 0, "an integer >= 0")


def non_negative_float(text: str) -> float:
    """A float >= 0."""
    return _number(text, float, lambda v: v >= 0, "a number >= 0")
