"""Import guards for the optional ``atari`` extra (Gymnasium, ale-py, OpenCV)."""

from __future__ import annotations

from types import ModuleType

from snnrl._extras import install_hint, require_extra

__all__ = ["INSTALL_HINT", "require"]

INSTALL_HINT = install_hint("atari")

_WHAT = {
    "gymnasium": "Gymnasium",
    "ale_py": "ale-py (the Atari emulator and its ROMs)",
    "cv2": "OpenCV (opencv-python-headless)",
}


def require(module: str, needed_for: str) -> ModuleType:
    """Import ``module`` or raise an ImportError that names the extra to install
    (:func:`snnrl._extras.require_extra` with ``atari``)."""
    return require_extra(module, needed_for, "atari", _WHAT)
