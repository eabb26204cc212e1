"""Sorting failures into permanent (FAILED now) and transient (retry with backoff)."""

from __future__ import annotations

from dataclasses import dataclass

from pydantic import ValidationError

from plinth.adapters.s3 import BlobNotFound
from plinth.domain.transitions import TransitionError
from plinth.imaging.errors import ImagingError
from plinth.imaging.manifest import ManifestValidationError
from plinth.keys import InvalidKeyPart


class PermanentStageError(Exception):
    """Raised by a handler for bad input that no retry can fix."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True)
class Classified:
    code: str
    message: str
    permanent: bool


def classify(exc: BaseException) -> Classified:
    """Permanent: bad input or a state the job cannot leave by retrying. Transient: everything
    else (network, S3, MongoDB, provider hiccups), bounded by ``max_attempts``, so even an
    unexpected bug ends as FAILED with its message instead of looping forever."""
    if isinstance(exc, ImagingError):
        return Classified(exc.code, exc.message, exc.permanent)
    if isinstance(exc, PermanentStageError):
        return Classified(exc.code, exc.message, True)
    if isinstance(exc, BlobNotFound):
        return Classified("missing_artefact", f"input artefact not found: {exc}", True)
    if isinstance(exc, InvalidKeyPart):
        return Classified("invalid_key", str(exc), True)
    if isinstance(exc, ManifestValidationError):
        return Classified("invalid_manifest", str(exc), True)
    if isinstance(exc, TransitionError):
        return Classified("invalid_transition", str(exc), True)
    if isinstance(exc, ValidationError):
        return Classified("invalid_data", str(exc).splitlines()[0], True)
    return Classified("transient_error", f"{type(exc).__name__}: {exc}", False)
