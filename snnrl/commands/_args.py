"""Argument types shared by the ``snnrl`` subcommands (errors name the bad value)."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any


def _number(text: str, kind: type, ok: Callable[[float], bool], expected: str) -> Any:
    """``kind(text)`` if it converts and passes ``ok``, else an argparse error naming the value."""
    try:
        value = kind(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected {expected}, got {text!r}") from None
    if not ok(value):
        raise argparse.ArgumentTypeError(f"expected {expected}, got {text!r}")
    return value


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
