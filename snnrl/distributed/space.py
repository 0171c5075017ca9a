"""The search space of ``snnrl tune``: ``--param key.path=DIST``, one per preset key.

``key.path`` is any key of the agent preset, as in overrides (``training.episodes``,
``network.connections.0.rule.params.nu``). ``DIST`` is one of

* ``uniform(LOW, HIGH)``: a float in [LOW, HIGH];
* ``loguniform(LOW, HIGH)``: a float, log-uniform (0 < LOW);
* ``int(LOW, HIGH)`` or ``int(LOW, HIGH, STEP)``: an integer;
* ``choice(A, B, ...)``: one of two or more numbers, strings or booleans (values read as TOML;
  a bare word is a string).

:func:`parse_param` checks the form, :func:`check_space` that every value of the range makes a
preset that loads and builds (so an unknown key or a value of the wrong type is an error before
the search starts).

>>> p = parse_param("network.connections.0.rule.params.nu=loguniform(1e-3, 0.5)")
>>> p.kind, p.args
('loguniform', (0.001, 0.5))
>>> override(p.key, 0.02)
'network.connections.0.rule.params.nu=0.02'
"""

from __future__ import annotations

import dataclasses
import re
import tomllib
from collections.abc import Sequence
from typing import Any, Literal

from snnrl.distributed._deps import require
from snnrl.envs import PresetError
from snnrl.pipeline.agent import AgentConfig, AgentError
from snnrl.pipeline.run import build_trainer
from snnrl.toml import dumps

__all__ = ["Param", "SpaceError", "check_space", "override", "parse_param"]

Kind = Literal["uniform", "loguniform", "int", "choice"]
_FORM = re.compile(r"^\s*(uniform|loguniform|int|choice)\s*\((.*)\)\s*$", re.DOTALL)
_EXPECTED = "uniform(LOW, HIGH), loguniform(LOW, HIGH), int(LOW, HIGH[, STEP]) or choice(A, B, ...)"


class SpaceError(ValueError):
    """A ``--param`` that is malformed, has an empty range, or names a key the preset does not take."""


@dataclasses.dataclass(frozen=True)
class Param:
    """One dimension of the search: a preset key and its distribution."""

    key: str
    """The preset key path (``training.episodes``)."""
    kind: Kind
    """The distribution."""
    args: tuple[Any, ...]
    """``(low, high)``, ``(low, high, step)`` or the choices."""
    text: str
    """The ``--param`` as given."""

    def distribution(self) -> Any:
        """The Optuna distribution."""
        optuna = require("optuna", "snnrl tune")
        d = optuna.distributions
        if self.kind == "choice":
            return d.CategoricalDistribution(self.args)
        if self.kind == "int":
            return d.IntDistribution(self.args[0], self.args[1], step=self.args[2] if len(self.args) > 2 else 1)
        return d.FloatDistribution(float(self.args[0]), float(self.args[1]), log=self.kind == "loguniform")

    def candidates(self) -> list[Any]:
        """Values that :func:`check_space` tries: the ends of a range, or every choice."""
        if self.kind == "choice":
            return list(self.args)
        if self.kind == "int":
            return [self.args[0], self.args[1]]
        return [float(self.args[0]), float(self.args[1])]


def _values(text: str) -> list[Any]:
    """The comma-separated values of a ``DIST(...)``, read as a TOML array (bare words: strings)."""
    try:
        return list(tomllib.loads(f"v = [{text}]")["v"])
    except tomllib.TOMLDecodeError:
        pass
    out: list[Any] = []
    for piece in text.split(","):
        piece = piece.strip()
        try:
            out.append(tomllib.loads(f"v = {piece}")["v"])
        except tomllib.TOMLDecodeError:
            out.append(piece)
    return out


def _number(x: Any) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool)


def _check_range(text: str, kind: Kind, args: list[Any]) -> tuple[Any, ...]:
    """The checked arguments of ``kind`` (``text``: the ``--param``, for messages)."""
    if kind == "choice":
        if len(args) < 2 or any(a == "" for a in args):
            raise SpaceError(f"--param {text!r}: choice needs two or more values, e.g. choice(0.01, 0.1)")
        if not all(isinstance(a, (bool, int, float, str)) for a in args):
            raise SpaceError(f"--param {text!r}: choice values must be numbers, strings or booleans")
        if len(set(map(repr, args))) < len(args):
            raise SpaceError(f"--param {text!r}: a choice is given twice")
        return tuple(args)
    size = "2 or 3" if kind == "int" else "2"
    if len(args) not in ((2, 3) if kind == "int" else (2,)) or not all(_number(a) for a in args):
        raise SpaceError(f"--param {text!r}: {kind} takes {size} numbers, got {args}; expected {_EXPECTED}")
    if kind == "int" and not all(isinstance(a, int) for a in args):
        raise SpaceError(f"--param {text!r}: int takes integers, got {args}")
    low, high = args[0], args[1]
    if not low < high:
        raise SpaceError(f"--param {text!r}: the range is empty ({low} >= {high}); expected LOW < HIGH")
    if kind == "loguniform" and low <= 0:
        raise SpaceError(f"--param {text!r}: loguniform needs 0 < LOW, got {low}")
    if kind == "int" and len(args) == 3 and args[2] < 1:
        raise SpaceError(f"--param {text!r}: the step must be >= 1, got {args[2]}")
    return tuple(args)


def parse_param(text: str) -> Param:
    """A ``--param key.path=DIST`` (see the module docstring).

    Raises:
        SpaceError: no ``=``, an empty key, an unknown distribution, arguments of the wrong number
            or type, or an empty range (naming the ``--param``).
    """
    key, sep, dist = text.partition("=")
    key = key.strip()
    if not sep or not key or any(not k for k in key.split(".")):
        raise SpaceError(f"--param {text!r} must look like key.path=DIST, e.g. "
                         "network.connections.0.rule.params.nu=loguniform(1e-3, 0.5)")
    match = _FORM.match(dist)
    if match is None:
        raise SpaceError(f"--param {text!r}: {dist.strip()!r} is not a distribution; expected {_EXPECTED}")
    kind: Kind = match[1]  # type: ignore[assignment]
    return Param(key=key, kind=kind, args=_check_range(text, kind, _values(match[2])), text=text)


def override(key: str, value: Any) -> str:
    """The ``key.path=value`` override that sets ``key`` to ``value`` (written as TOML)."""
    return f"{key}={dumps({'v': value}).partition('=')[2].strip()}"


def check_space(config: AgentConfig, params: Sequence[Param]) -> None:
    """Check that each value of each range (:meth:`Param.candidates`) gives a preset that loads
    and builds, one parameter at a time (the others as the preset has them).

    Raises:
        SpaceError: a key given twice, or the preset's error for a value (an unknown key, a value
            of the wrong type or out of range), naming the ``--param``.
    """
    keys = [p.key for p in params]
    for key in keys:
        if keys.count(key) > 1:
            raise SpaceError(f"--param {key} is given twice")
    for p in params:
        for value in p.candidates():
            try:
                build_trainer(config.with_overrides([override(p.key, value)])).close()
            except (AgentError, PresetError, ValueError, TypeError) as e:
                raise SpaceError(f"--param {p.text!r}: with {p.key}={value!r}: {e}") from None
