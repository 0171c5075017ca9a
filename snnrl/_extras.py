"""One import guard for every optional extra: a missing dependency names the extra to install."""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from types import ModuleType

__all__ = ["install_hint", "require_extra"]


def install_hint(extra: str) -> str:
    """``pip install 'snnrl[<extra>]'``."""
    return f"pip install 'snnrl[{extra}]'"


def require_extra(module: str, needed_for: str, extra: str, names: Mapping[str, str] | None = None) -> ModuleType:
    """Import ``module`` or raise an ImportError that names the extra to install.

    Args:
        module: the importable name (``"gymnasium"``, ``"rliable.library"``, ...).
        needed_for: what needs it, for the message (``"Atari environments"``).
        extra: the ``snnrl[...]`` extra that installs it.
        names: readable names of modules for the message (default: the module's name).

    Raises:
        ImportError: ``module`` is not installed ("... which is not installed: pip install
            'snnrl[extra]'"), or it is installed but fails to import (the message also gives that
            error, e.g. a dependency of the wrong version).
    """
    try:
        return importlib.import_module(module)
    except ImportError as err:
        what = (names or {}).get(module, module)
        missing = isinstance(err, ModuleNotFoundError) and err.name is not None and \
            module.split(".")[0] == err.name.split(".")[0]
        reason = "which is not installed" if missing else f"which does not import ({err})"
        raise ImportError(f"{needed_for} needs {what}, {reason}: {install_hint(extra)}") from err
