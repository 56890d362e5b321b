"""Optional dependencies: imported where needed, or one line saying which extra installs them.

``import sim2real`` needs none of them: ONNX export and inference (onnx, onnxscript,
onnxruntime: the ``export`` extra), videos (imageio, imageio-ffmpeg for MP4: ``video``) and
studies on Ray Tune (ray[tune], optuna: ``ray``).
"""

from __future__ import annotations

import importlib
from typing import Any

from sim2real.errors import UserError

__all__ = ["EXTRAS", "require"]

# Importable module -> (pip package, extra of pyproject.toml that installs it).
EXTRAS = {
    "onnx": ("onnx", "export"),
    "onnxscript": ("onnxscript", "export"),
    "onnxruntime": ("onnxruntime", "export"),
    "imageio": ("imageio", "video"),
    "imageio_ffmpeg": ("imageio-ffmpeg", "video"),
    "ray.tune": ("ray[tune]", "ray"),
    "optuna": ("optuna", "ray"),
}


def require(module: str, purpose: str) -> Any:
    """Import ``module`` (one of :data:`EXTRAS`) or raise a one-line :class:`UserError`."""
    try:
        return importlib.import_module(module)
    except ImportError:
        package, extra = EXTRAS[module]
        raise UserError(
            f"{purpose} needs {package}, which is not installed; install it with: "
            f"pip install 'sim2real[{extra}]' (or pip install {package})"
        ) from None
