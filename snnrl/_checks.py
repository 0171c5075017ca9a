"""Argument checks shared by the package: one argument order, typed errors, one message shape.

Every checker takes ``(name, value, ...)``, returns the value converted (``float``, ``int``,
``bool``) and raises an :class:`InvalidParameter` whose message reads::

    {name} must be {expected}, got {value!r}

``expected`` is built from the checker's own arguments (``"a finite number"``, ``"> 0"``,
``"an int >= 1"``, ``"in [0, 1]"``); ``what=`` replaces it where a call site words it its own way
(``"a positive int"``, ``"a positive number of ms"``), and then every failure, of type or of
value, gives that one message. A number is a :class:`numbers.Real` that is not a ``bool``, an
int a :class:`numbers.Integral` that is not a ``bool``; NaN and infinities are refused.

>>> from snnrl import _checks as checks
>>> checks.positive("tc_decay", 100)
100.0
>>> checks.positive("tc_decay", 0)
Traceback (most recent call last):
    ...
snnrl._checks.OutOfRange: tc_decay must be > 0, got 0
>>> checks.integer("n", True, 1, what="a positive int")
Traceback (most recent call last):
    ...
snnrl._checks.InvalidType: n must be a positive int, got True

The errors are :class:`ValueError` (and :class:`InvalidType` also a :class:`TypeError`), so code
that catches either keeps working.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence
from typing import TypeGuard, TypeVar

from torch import Tensor

__all__ = [
    "InvalidParameter",
    "InvalidType",
    "OutOfRange",
    "boolean",
    "choice",
    "finite",
    "finite_tensor",
    "integer",
    "invalid",
    "in_range",
    "is_input_error",
    "is_int",
    "is_real",
    "positive",
    "real",
]

T = TypeVar("T")


class InvalidParameter(ValueError):
    """An argument with a value the callee cannot use.

    Attributes:
        name: the argument's name as the message gives it (None when not known).
        value: the offending value.
    """

    def __init__(self, message: str, *, name: str | None = None, value: object = None) -> None:
        super().__init__(message)
        self.name = name
        self.value = value


class InvalidType(InvalidParameter, TypeError):
    """An argument of the wrong type (a ``bool`` or a string where a number is needed, ...)."""


class OutOfRange(InvalidParameter):
    """A number of the right type outside its allowed range."""


def is_input_error(error: BaseException) -> bool:
    """Whether ``error`` reports a mistake in what the user gave, not a bug in snnrl.

    Those are: an :class:`InvalidParameter`; a ``ValueError`` of a class snnrl defines for bad
    input (``AgentError``, ``PresetError``, ``SpecError``, ``CheckpointError``, ``SB3LoadError``,
    ``ConversionError``, ``IDXError``, ...: every ``ValueError`` subclass in an ``snnrl`` module);
    an ``OSError`` (a file or directory that is missing, unreadable or in the way); a
    ``UnicodeDecodeError`` (a file that is not text). The ``snnrl`` command prints these as one
    line and exits with status 2; anything else is a bug and keeps its traceback.
    """
    if isinstance(error, (InvalidParameter, OSError, UnicodeDecodeError)):
        return True
    return isinstance(error, ValueError) and type(error).__module__.split(".")[0] == "snnrl"


def invalid(name: str, expected: str, value: object,
            kind: type[InvalidParameter] = InvalidParameter) -> InvalidParameter:
    """The error ``{name} must be {expected}, got {value!r}`` of class ``kind``, to ``raise``."""
    return kind(f"{name} must be {expected}, got {value!r}", name=name, value=value)


def is_real(value: object) -> TypeGuard[float]:
    """``value`` is a real number: a :class:`numbers.Real` and not a ``bool``.

    Type checkers see it narrowed to ``float`` (NumPy scalars and ints behave alike).
    """
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def is_int(value: object) -> TypeGuard[int]:
    """``value`` is an int: a :class:`numbers.Integral` and not a ``bool``.

    Type checkers see it narrowed to ``int`` (NumPy integers behave alike).
    """
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def finite(name: str, value: object, *, what: str = "a finite number") -> float:
    """``value`` as a float; it must be a finite real number."""
    if not is_real(value):
        raise invalid(name, what, value, InvalidType)
    if not math.isfinite(value):
        raise invalid(name, what, value)
    return float(value)


def real(name: str, value: object) -> float:
    """:func:`finite` with two messages: ``must be a real number, got 'x' (str)`` for a wrong type,
    ``must be finite, got nan`` for NaN or an infinity."""
    if not is_real(value):
        raise InvalidType(f"{name} must be a real number, got {value!r} ({type(value).__name__})",
                          name=name, value=value)
    number = float(value)
    if not math.isfinite(number):
        raise InvalidParameter(f"{name} must be finite, got {number}", name=name, value=value)
    return number


def _describe_range(low: float, high: float, low_open: bool, high_open: bool) -> str:
    if high == math.inf:
        return f"{'>' if low_open else '>='} {low}"
    if low == -math.inf:
        return f"{'<' if high_open else '<='} {high}"
    return f"in {'(' if low_open else '['}{low}, {high}{')' if high_open else ']'}"


def in_range(name: str, value: object, low: float = -math.inf, high: float = math.inf, *,
             low_open: bool = False, high_open: bool = False, what: str | None = None) -> float:
    """``value`` as a float; a finite number in ``[low, high]`` (``low_open``/``high_open``: exclusive).

    The bounds are written as given: ``in_range(n, v, 0, 1)`` says ``in [0, 1]``, ``in_range(n, v,
    0.0, low_open=True)`` says ``> 0.0``. The value is shown as given too; pass ``finite(name, v)``
    (or :func:`real`) to show it as a float.
    """
    number = finite(name, value, what=what or "a finite number")
    below = number <= low if low_open else number < low
    above = number >= high if high_open else number > high
    if below or above:
        raise invalid(name, what or _describe_range(low, high, low_open, high_open), value, OutOfRange)
    return number


def positive(name: str, value: object, *, strict: bool = True, what: str | None = None) -> float:
    """``value`` as a float; a finite number ``> 0`` (``strict=False``: ``>= 0``)."""
    return in_range(name, value, 0, low_open=strict, what=what)


def integer(name: str, value: object, low: int | None = None, high: int | None = None, *,
            what: str | None = None) -> int:
    """``value`` as an int in ``[low, high]`` (None: unbounded on that side).

    One message for every failure: ``{name} must be an int >= {low}, got {value!r}`` (or ``an int``,
    ``an int <= {high}``, ``an int in [{low}, {high}]``), or ``what`` in place of the description.
    """
    if what is None:
        what = "an int" + (f" in [{low}, {high}]" if low is not None and high is not None
                           else f" >= {low}" if low is not None
                           else f" <= {high}" if high is not None else "")
    if not is_int(value):
        raise invalid(name, what, value, InvalidType)
    if (low is not None and value < low) or (high is not None and value > high):
        raise invalid(name, what, value, OutOfRange)
    return int(value)


def boolean(name: str, value: object, *, what: str = "a bool") -> bool:
    """``value``, which must be a ``bool`` (``0``, ``1`` and ``None`` are refused)."""
    if not isinstance(value, bool):
        raise invalid(name, what, value, InvalidType)
    return value


def choice(name: str, value: T, options: Sequence[T], *, what: str | None = None) -> T:
    """``value``, which must be one of ``options`` (``{name} must be one of {options}, got ...``)."""
    if value not in options:
        raise invalid(name, what or f"one of {options!r}", value)
    return value


def finite_tensor(name: str, value: Tensor) -> Tensor:
    """``value``, a tensor without NaN or infinities (the message shows the first bad element)."""
    if not isinstance(value, Tensor):
        raise InvalidType(f"{name} must be a tensor, got {type(value).__name__}", name=name, value=value)
    if value.is_floating_point() or value.is_complex():
        ok = value.isfinite()
        if not bool(ok.all()):
            bad = value[~ok][0].item()
            raise InvalidParameter(f"{name} must be finite (no NaN/inf), got {bad}", name=name, value=value)
    return value
