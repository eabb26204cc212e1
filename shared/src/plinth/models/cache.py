"""Where installed model files live: a per-user cache directory, outside the git tree.

``PLINTH_MODEL_DIR`` when set, else ``$XDG_CACHE_HOME/plinth/models`` (``XDG_CACHE_HOME`` only
when it is an absolute path, as the XDG spec says), else ``~/.cache/plinth/models``. Each model is
one file, ``<name>.onnx``.
"""

from __future__ import annotations

import os
from pathlib import Path

MODEL_DIR_ENV = "PLINTH_MODEL_DIR"


def default_model_dir() -> Path:
    """The model directory this process uses (read from the environment on every call)."""
    configured = os.environ.get(MODEL_DIR_ENV, "").strip()
    if configured:
        return Path(configured).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME", "").strip()
    base = Path(xdg) if xdg and Path(xdg).is_absolute() else Path.home() / ".cache"
    return base / "plinth" / "models"


def model_file(name: str, model_dir: Path | None = None) -> Path:
    """The path model ``name`` is installed at (whether or not it is there)."""
    return (model_dir if model_dir is not None else default_model_dir()) / f"{name}.onnx"
