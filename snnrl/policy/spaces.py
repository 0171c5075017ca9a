"""Gymnasium spaces as plain data (for checkpoints), without importing Gymnasium until needed."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

__all__ = ["space_from_dict", "space_to_dict"]


def _bound(values: np.ndarray) -> Any:
    """One number when all entries are equal (the usual case), else the nested list."""
    flat = values.reshape(-1)
    if flat.size and (flat == flat[0]).all():
        return float(flat[0])
    return values.astype(np.float64).tolist()


def space_to_dict(space: Any) -> dict[str, Any]:
    """``Discrete`` and ``Box`` spaces as JSON-friendly dicts (inf bounds are written as floats).

    Raises:
        ValueError: another kind of space.
    """
    kinds = [c.__name__ for c in type(space).__mro__]
    if "Discrete" in kinds:
        return {"type": "Discrete", "n": int(space.n), "start": int(space.start)}
    if "Box" in kinds:
        return {"type": "Box", "shape": list(space.shape), "dtype": str(np.dtype(space.dtype)),
                "low": _bound(np.asarray(space.low)), "high": _bound(np.asarray(space.high))}
    raise ValueError(f"only Discrete and Box spaces can be stored, got {space}")


def space_from_dict(data: Mapping[str, Any]) -> Any:
    """The space :func:`space_to_dict` described (needs Gymnasium)."""
    import gymnasium as gym

    kind = data.get("type")
    if kind == "Discrete":
        return gym.spaces.Discrete(int(data["n"]), start=int(data.get("start", 0)))
    if kind == "Box":
        shape = tuple(int(s) for s in data["shape"])
        dtype = np.dtype(data["dtype"])
        low = np.broadcast_to(np.asarray(data["low"], dtype=np.float64), shape).astype(dtype)
        high = np.broadcast_to(np.asarray(data["high"], dtype=np.float64), shape).astype(dtype)
        return gym.spaces.Box(low, high, shape, dtype=dtype)
    raise ValueError(f"unknown space type {kind!r} (expected 'Discrete' or 'Box')")
