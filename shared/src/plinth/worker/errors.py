"""Sorting failures into permanent (FAILED now) and transient (retry with backoff)."""

from __future__ import annotations

from dataclasses import dataclass

from pydantic import ValidationError

from plinth.adapters.s3 import BlobNotFound, BlobRefused
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


class RetryLater(Exception):
    """Raised by a handler when the job has to wait for work someone else is doing for it (the
    segment stage: another job of the same photo is segmenting it right now).

    The job goes back through the stage's retry topic after ``after_s`` seconds (capped by
    ``retry_max_delay_s``) WITHOUT using up one of its attempts: the wait is bounded by the other
    side (a claim that is never completed goes stale and is taken over), not by failures of its
    own, so a slow sibling never makes a job run out of attempts.
    """

    def __init__(self, code: str, message: str, *, after_s: float) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.after_s = after_s


@dataclass(frozen=True)
class Classified:
    code: str
    message: str
    permanent: bool
    counts: bool = True
    """Whether this failure uses up one of the job's attempts at the stage."""
    retry_after_s: float | None = None
    """The delay before the retry, when the error says; else the exponential backoff."""


def classify(exc: BaseException) -> Classified:
    """Permanent: bad input or a state the job cannot leave by retrying. Transient: everything
    else (network, S3, MongoDB, provider hiccups), bounded by ``max_attempts``, so even an
    unexpected bug ends as FAILED with its message instead of looping forever. A
    :class:`RetryLater` is a wait, not a failure: retried, and not counted as an attempt."""
    if isinstance(exc, ImagingError):
        return Classified(exc.code, exc.message, exc.permanent)
    if isinstance(exc, PermanentStageError):
        return Classified(exc.code, exc.message, True)
    if isinstance(exc, RetryLater):
        return Classified(exc.code, exc.message, False, counts=False, retry_after_s=exc.after_s)
    if isinstance(exc, BlobRefused):  # the store will never take this key or object
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
