"""Import guard for the optional ``nir`` extra (the Neuromorphic Intermediate Representation)."""

from __future__ import annotations

import re
from types import ModuleType

from snnrl._extras import install_hint, require_extra

__all__ = ["INSTALL_HINT", "MIN_VERSION", "require_nir"]

INSTALL_HINT = install_hint("nir")

#: Oldest ``nir`` release whose IF, LIF and CubaLIF nodes carry ``v_reset`` (added in 1.0.6; before
#: it a neuron always reset to 0, so reading a graph written by an older ``nir`` is fine, writing is not).
MIN_VERSION = (1, 0, 6)


def _version(text: str) -> tuple[int, ...]:
    """``"1.0.8"`` -> ``(1, 0, 8)`` (pre-release and local suffixes ignored)."""
    return tuple(int(part) for part in re.findall(r"\d+", text)[:3])


def require_nir(needed_for: str = "NIR export and import") -> ModuleType:
    """Import ``nir`` or raise an ImportError that names the extra to install.

    Raises:
        ImportError: ``nir`` is missing or older than :data:`MIN_VERSION`.
    """
    nir = require_extra("nir", needed_for, "nir", {"nir": "the nir package"})
    found = str(getattr(nir, "__version__", "0"))
    if _version(found) < MIN_VERSION:
        need = ".".join(map(str, MIN_VERSION))
        raise ImportError(f"{needed_for} needs nir >= {need} (neurons with v_reset), found nir {found}: "
                          f"pip install -U 'nir>={need}'")
    return nir
