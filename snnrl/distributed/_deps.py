"""Import guards for the optional ``distributed`` extra (Ray, Optuna, rliable)."""

from __future__ import annotations

from types import ModuleType

from snnrl._extras import install_hint, require_extra

__all__ = ["INSTALL_HINT", "require"]

INSTALL_HINT = install_hint("distributed")

_WHAT = {
    "ray": "Ray",
    "optuna": "Optuna",
    "rliable": "rliable",
    "rliable.library": "rliable",
    "rliable.metrics": "rliable",
}


def require(module: str, needed_for: str) -> ModuleType:
    """Import ``module`` or raise an ImportError that names the extra to install
    (:func:`snnrl._extras.require_extra` with ``distributed``)."""
    return require_extra(module, needed_for, "distributed", _WHAT)
