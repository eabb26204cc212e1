"""Job states, the stages that move a job between them, and which moves are allowed.

Flow v2 of the original system: NEW -> BG_REMOVED -> BACKGROUND_READY -> COMPOSITED ->
DERIVATIVES -> SHOPIFY_PUSH -> DONE, with FAILED reachable from every live state. The flow v1
states (QUEUED, SEGMENTING, BG_GENERATING, COMPOSITING) may still sit in old documents: they are
readable and behave like the v2 state they map to.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Final


class JobStatus(StrEnum):
    NEW = "NEW"
    BG_REMOVED = "BG_REMOVED"
    BACKGROUND_READY = "BACKGROUND_READY"
    COMPOSITED = "COMPOSITED"
    DERIVATIVES = "DERIVATIVES"
    SHOPIFY_PUSH = "SHOPIFY_PUSH"
    DONE = "DONE"
    FAILED = "FAILED"
    # flow v1, read-only
    QUEUED = "QUEUED"
    SEGMENTING = "SEGMENTING"
    BG_GENERATING = "BG_GENERATING"
    COMPOSITING = "COMPOSITING"


class Stage(StrEnum):
    """A unit of work, done by one service, that moves a job forward."""

    DOWNLOAD = "download"
    SEGMENT = "segment"
    BACKGROUND = "background"
    COMPOSITE = "composite"
    DERIVE = "derive"
    MANIFEST = "manifest"
    PUBLISH = "publish"


PIPELINE: Final[tuple[JobStatus, ...]] = (
    JobStatus.NEW,
    JobStatus.BG_REMOVED,
    JobStatus.BACKGROUND_READY,
    JobStatus.COMPOSITED,
    JobStatus.DERIVATIVES,
    JobStatus.SHOPIFY_PUSH,
    JobStatus.DONE,
)
TERMINAL: Final[frozenset[JobStatus]] = frozenset({JobStatus.DONE, JobStatus.FAILED})
LEGACY_EQUIVALENT: Final[dict[JobStatus, JobStatus]] = {
    JobStatus.QUEUED: JobStatus.NEW,
    JobStatus.SEGMENTING: JobStatus.NEW,
    JobStatus.BG_GENERATING: JobStatus.BG_REMOVED,
    JobStatus.COMPOSITING: JobStatus.BACKGROUND_READY,
}

# The stage that takes a job out of each live state (what runs next, and what failed if it fails).
STAGE_FROM: Final[dict[JobStatus, Stage]] = {
    JobStatus.NEW: Stage.SEGMENT,
    JobStatus.BG_REMOVED: Stage.BACKGROUND,
    JobStatus.BACKGROUND_READY: Stage.COMPOSITE,
    JobStatus.COMPOSITED: Stage.DERIVE,
    JobStatus.DERIVATIVES: Stage.MANIFEST,
    JobStatus.SHOPIFY_PUSH: Stage.PUBLISH,
}

# Fields (Job attribute names) that must be set for a job to be in a state.
REQUIRED_FIELDS: Final[dict[JobStatus, tuple[str, ...]]] = {
    JobStatus.NEW: ("sku", "theme", "image_url"),
    JobStatus.BG_REMOVED: ("img_sha256", "s3_original_key", "s3_cutout_key", "s3_mask_key"),
    JobStatus.BACKGROUND_READY: ("s3_background_keys",),
    JobStatus.COMPOSITED: ("s3_composite_keys",),
    JobStatus.DERIVATIVES: ("s3_derivative_keys",),
    JobStatus.SHOPIFY_PUSH: ("manifest_s3_key",),
    JobStatus.DONE: ("shopify",),
    JobStatus.FAILED: ("error_code", "error_message", "failed_stage", "failed_from"),
}


def canonical(status: JobStatus) -> JobStatus:
    """The flow v2 state a (possibly legacy) status behaves as."""
    return LEGACY_EQUIVALENT.get(status, status)


def next_status(status: JobStatus) -> JobStatus | None:
    """The state the pipeline moves a live job to next; None for terminal states."""
    current = canonical(status)
    if current in TERMINAL:
        return None
    return PIPELINE[PIPELINE.index(current) + 1]


def allowed_targets(status: JobStatus) -> frozenset[JobStatus]:
    """Every state a job in ``status`` may move to.

    Forward by one step, or to FAILED, from a live state; from FAILED only back to a live state
    (a retry, which must also match the state it failed from: see ``transitions.retry``).
    """
    current = canonical(status)
    if current is JobStatus.DONE:
        return frozenset()
    if current is JobStatus.FAILED:
        return frozenset(STAGE_FROM)
    following = next_status(current)
    assert following is not None
    return frozenset({following, JobStatus.FAILED})


def required_fields_for(status: JobStatus) -> tuple[str, ...]:
    """Fields a job must carry in ``status``, cumulative along the pipeline."""
    target = canonical(status)
    if target is JobStatus.FAILED:
        return REQUIRED_FIELDS[JobStatus.FAILED]
    fields: list[str] = []
    for state in PIPELINE[: PIPELINE.index(target) + 1]:
        fields.extend(REQUIRED_FIELDS[state])
    return tuple(fields)
