"""Named registry of the component types that network specs can refer to.

Every populations, connection, learning-rule, encoder, monitor and reward-signal type that can
appear in a spec registers under a name::

    @register("connection")
    class MyConnection(AbstractConnection): ...

Registration also records, for every instance, the arguments its constructor was called with
(``constructor_args(obj)``), so a spec can describe the object as plain data without each class
writing its own serialiser. Users register their own types the same way.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from typing import Any, TypeVar

__all__ = ["KINDS", "constructor_args", "lookup", "name_of", "register", "registered"]

KINDS = ("nodes", "connection", "rule", "encoder", "monitor", "reward")

_REGISTRY: dict[str, dict[str, type]] = {kind: {} for kind in KINDS}
_NAMES: dict[type, tuple[str, str]] = {}

T = TypeVar("T", bound=type)


def _check_kind(kind: str) -> None:
    if kind not in _REGISTRY:
        raise ValueError(f"unknown registry kind {kind!r}; known kinds: {list(KINDS)}")


def register(kind: str, name: str | None = None) -> Callable[[T], T]:
    """Class decorator: register a type under ``name`` (default: the class name)."""
    _check_kind(kind)

    def decorate(cls: T) -> T:
        key = cls.__name__ if name is None else name
        existing = _REGISTRY[kind].get(key)
        if existing is not None and existing is not cls:
            where = f"{existing.__module__}.{existing.__qualname__}"
            raise ValueError(f"a {kind} type named {key!r} is already registered ({where})")
        original = cls.__init__
        signature = inspect.signature(original)

        @functools.wraps(original)
        def __init__(self: Any, *args: Any, **kwargs: Any) -> None:
            if "_constructor_args" not in self.__dict__:  # outermost registered constructor only
                bound = signature.bind(self, *args, **kwargs)
                bound.apply_defaults()
                arguments = dict(bound.arguments)
                arguments.pop(next(iter(signature.parameters)))  # self
                self.__dict__["_constructor_args"] = arguments
            original(self, *args, **kwargs)

        cls.__init__ = __init__  # type: ignore[misc]
        _REGISTRY[kind][key] = cls
        _NAMES[cls] = (kind, key)
        return cls

    return decorate


def lookup(kind: str, name: str) -> type:
    """The type registered as ``name``; an unknown name is an error listing the known ones."""
    _check_kind(kind)
    try:
        return _REGISTRY[kind][name]
    except KeyError:
        raise ValueError(f"unknown {kind} type {name!r}; registered: {sorted(_REGISTRY[kind])}") from None


def registered(kind: str) -> dict[str, type]:
    """All types registered under ``kind`` (a copy)."""
    _check_kind(kind)
    return dict(_REGISTRY[kind])


def name_of(obj: Any) -> tuple[str, str]:
    """``(kind, name)`` of a registered object or type (its exact type must be registered)."""
    cls = obj if isinstance(obj, type) else type(obj)
    try:
        return _NAMES[cls]
    except KeyError:
        raise ValueError(f"{cls.__qualname__} is not registered; decorate it with @register(kind)") from None


def constructor_args(obj: Any) -> dict[str, Any]:
    """The arguments a registered object's constructor was called with (defaults filled in)."""
    try:
        return dict(obj.__dict__["_constructor_args"])
    except KeyError:
        raise ValueError(f"{type(obj).__qualname__} instance has no recorded constructor arguments; "
                         "is its class registered?") from None
