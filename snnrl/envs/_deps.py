"""Import guards for the optional ``atari`` extra (Gymnasium, ale-py, OpenCV)."""

from __future__ import annotations

import importlib
from types import ModuleType

__all__ = ["INSTALL_HINT", "require"]

INSTALL_HINT = "pip install 'snnrl[atari]'"

_WHAT = {
    "gymnasium": "Gymnasium",
    "ale_py": "ale-py (the Atari emulator and its ROMs)",
    "cv2": "OpenCV (opencv-python-headless)",
}


def require(module: str, needed_for: str) -> ModuleType:
    """Import ``module`` or raise an ImportError that names the extra to install.

    Args:
        module: the importable name (``"gymnasium"``, ``"ale_py"`` or ``"cv2"``).
        needed_for: what needs it, for the message (e.g. ``"Atari environments"``).

    Returns:
        The imported module.

    Raises:
        ImportError: the module is not installed; the message says ``pip install 'snnrl[atari]'``.
    """
    try:
        return importlib.import_module(module)
    except ImportError as err:
        what = _WHAT.get(module, module)
        raise ImportError(f"{needed_for} needs {what}, which is not installed: {INSTALL_HINT}") from err
