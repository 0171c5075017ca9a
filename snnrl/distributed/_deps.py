"""Import guards for the optional ``distributed`` extra (Ray, Optuna, rliable)."""

from __future__ import annotations

import importlib
from types import ModuleType

__all__ = ["INSTALL_HINT", "require"]

INSTALL_HINT = "pip install 'snnrl[distributed]'"

_WHAT = {
    "ray": "Ray",
    "optuna": "Optuna",
    "rliable": "rliable",
    "rliable.library": "rliable",
    "rliable.metrics": "rliable",
}


def require(module: str, needed_for: str) -> ModuleType:
    """Import ``module`` or raise an ImportError that names the extra to install.

    Args:
        module: the importable name (``"ray"``, ``"optuna"``, ``"rliable.library"``, ...).
        needed_for: what needs it, for the message (e.g. ``"snnrl train --seeds"``).

    Returns:
        The imported module.

    Raises:
        ImportError: the module is not installed (or fails to import); the message says
            ``pip install 'snnrl[distributed]'``.
    """
    try:
        return importlib.import_module(module)
    except ImportError as err:
        what = _WHAT.get(module, module)
        raise ImportError(f"{needed_for} needs {what}, which is not installed or does not import ({err}): "
                          f"{INSTALL_HINT}") from err
