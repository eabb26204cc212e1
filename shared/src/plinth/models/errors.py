"""Errors raised while installing, verifying or finding a learned model's weights."""

from __future__ import annotations


class ModelError(Exception):
    """Base class: a model could not be installed, verified or found (the message says why)."""

    code = "model_error"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class ModelNotInstalledError(ModelError):
    """The model's file is not in the model directory; the message names the install command."""

    code = "model_not_installed"


class ModelChecksumError(ModelError):
    """A chunk, the assembled file or the upstream chunk list differs from the committed hashes."""

    code = "model_checksum"
