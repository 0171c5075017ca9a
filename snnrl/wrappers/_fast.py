"""The loader of the wrappers' compiled kernels (:mod:`snnrl.wrappers._kernels`)."""

from __future__ import annotations

from typing import Any

__all__ = ["compiled_kernels"]

_KERNELS: Any = None


def compiled_kernels() -> Any:
    """The module of compiled kernels (``snnrl.wrappers._kernels``), or None without Numba (the
    ``fast`` extra) or with ``SNNRL_COMPILED=0`` (read once, at import of
    :mod:`snnrl.network.compiled`). Every user has a NumPy or OpenCV path that gives the same
    bits; tests compare the two."""
    global _KERNELS
    if _KERNELS is None:
        from snnrl.network import compiled

        _KERNELS = False
        if compiled._enabled:
            try:
                from snnrl.wrappers import _kernels
            except ImportError:
                pass
            else:
                _KERNELS = _kernels
    return _KERNELS or None
