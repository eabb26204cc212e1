"""Job states, the stages that move a job between them, and which moves are allowed.

Flow v2 of the original system: NEW -> BG_REMOVED -> BACKGROUND_READY -> COMPOSITED ->
DERIVATIVES -> SHOPIFY_PUSH -> DONE, with FAILED reachable from every live state. The manifest
step may hold an uncertain cut-out for a person instead of sending it to publish: DERIVATIVES ->
IN_REVIEW, which a reviewer approves (-> SHOPIFY_PUSH) or rejects (-> FAILED). A touch-up of the
mask reworks a job (IN_REVIEW, DONE or FAILED -> BG_REMOVED: see ``transitions.rework``). The
flow v1 states (QUEUED, SEGMENTING, BG_GENERATING, COMPOSITING) may still sit in old documents:
they are readable and behave like the v2 state they map to.
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
    IN_REVIEW = "IN_REVIEW"
    """held by the manifest step for a person to approve or reject (no Kafka consumer)"""
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
    REVIEW = "review"
    """a person approving or rejecting a held job: no service and no Kafka topic"""


PIPELINE: Final[tuple[JobStatus, ...]] = (
    JobStatus.NEW,
    JobStatus.BG_REMOVED,
    JobStatus.BACKGROUND_READY,
    JobStatus.COMPOSITED,
    JobStatus.DERIVATIVES,
    JobStatus.SHOPIFY_PUSH,
    JobStatus.DONE,
)
HELD: Final[JobStatus] = JobStatus.IN_REVIEW
"""The state off the linear ``PIPELINE``, between DERIVATIVES and SHOPIFY_PUSH, where a job waits
for a person; the stuck-job sweeper leaves it alone (it is not stuck, it is waiting)."""
REWORK_FROM: Final[frozenset[JobStatus]] = frozenset(
    {JobStatus.IN_REVIEW, JobStatus.DONE, JobStatus.FAILED}
)
"""States a touch-up can take a job from, back to BG_REMOVED (``transitions.rework``)."""
REWORK_TO: Final[JobStatus] = JobStatus.BG_REMOVED
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
    JobStatus.IN_REVIEW: Stage.REVIEW,
}

# Fields (Job attribute names) that must be set for a job to be in a state.
REQUIRED_FIELDS: Final[dict[JobStatus, tuple[str, ...]]] = {
    JobStatus.NEW: ("sku", "theme", "image_url"),
    JobStatus.BG_REMOVED: ("img_sha256", "s3_original_key", "s3_cutout_key", "s3_mask_key"),
    JobStatus.BACKGROUND_READY: ("s3_background_keys",),
    JobStatus.COMPOSITED: ("s3_composite_keys",),
    JobStatus.DERIVATIVES: ("s3_derivative_keys",),
    JobStatus.SHOPIFY_PUSH: ("manifest_s3_key",),
    JobStatus.IN_REVIEW: ("manifest_s3_key", "review"),
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
    if current is HELD:
        return JobStatus.SHOPIFY_PUSH  # once approved
    return PIPELINE[PIPELINE.index(current) + 1]


def allowed_targets(status: JobStatus) -> frozenset[JobStatus]:
    """Every state a job in ``status`` may move to.

    Forward by one step, or to FAILED, from a live state; DERIVATIVES may also go to IN_REVIEW
    (held), and IN_REVIEW goes on to SHOPIFY_PUSH (approved); from FAILED only back to a live state
    (a retry, which must also match the state it failed from: see ``transitions.retry``). A
    touch-up's rework (``REWORK_FROM`` -> ``REWORK_TO``) is a move of its own, like a retry, made
    only by ``transitions.rework``; it is not listed here.
    """
    current = canonical(status)
    if current is JobStatus.DONE:
        return frozenset()
    if current is JobStatus.FAILED:
        return frozenset(STAGE_FROM)
    following = next_status(current)
    assert following is not None
    if current is JobStatus.DERIVATIVES:
        return frozenset({following, HELD, JobStatus.FAILED})
    return frozenset({following, JobStatus.FAILED})


def required_fields_for(status: JobStatus) -> tuple[str, ...]:
    """Fields a job must carry in ``status``, cumulative along the pipeline."""
    target = canonical(status)
    if target is JobStatus.FAILED:
        return REQUIRED_FIELDS[JobStatus.FAILED]
    if target is HELD:
        before = required_fields_for(JobStatus.DERIVATIVES)
        return before + tuple(f for f in REQUIRED_FIELDS[HELD] if f not in before)
    fields: list[str] = []
    for state in PIPELINE[: PIPELINE.index(target) + 1]:
        fields.extend(REQUIRED_FIELDS[state])
    return tuple(fields)
