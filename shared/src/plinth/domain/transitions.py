"""The job state machine as pure functions: each returns a new ``Job`` or raises.

Services call these to compute the next document, then store it with a conditional update on the
state they expected, so that two workers racing on one job cannot both move it.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from plinth.domain.job import Job, MaskVersion, Review, Transition, utcnow
from plinth.domain.states import (
    HELD,
    REWORK_FROM,
    REWORK_TO,
    STAGE_FROM,
    TERMINAL,
    JobStatus,
    Stage,
    allowed_targets,
    canonical,
    required_fields_for,
)


class TransitionError(ValueError):
    """A state change that the state machine refuses."""


class IllegalTransition(TransitionError):
    def __init__(self, job_id: str, current: JobStatus, target: JobStatus) -> None:
        super().__init__(f"job {job_id}: {current.value} -> {target.value} is not allowed")
        self.current = current
        self.target = target


class MissingFields(TransitionError):
    def __init__(self, job_id: str, target: JobStatus, missing: list[str]) -> None:
        super().__init__(
            f"job {job_id}: cannot enter {target.value}, missing {', '.join(missing)}"
        )
        self.target = target
        self.missing = missing


def _is_set(value: Any) -> bool:
    return value is not None and value != [] and value != ""


def missing_fields(job: Job, target: JobStatus) -> list[str]:
    return [name for name in required_fields_for(target) if not _is_set(getattr(job, name))]


def advance(
    job: Job, target: JobStatus, *, now: datetime | None = None, note: str | None = None,
    **changes: Any,
) -> Job:
    """Move ``job`` to ``target`` with ``changes`` applied, checking the move and its fields;
    ``note`` goes on the history entry."""
    if target is JobStatus.FAILED:
        raise TransitionError("use fail() to move a job to FAILED")
    if target not in allowed_targets(job.status) or canonical(job.status) is JobStatus.FAILED:
        raise IllegalTransition(job.id, job.status, target)
    return _apply(job, target, now or utcnow(), changes, note=note)


def fail(
    job: Job,
    *,
    stage: Stage,
    code: str,
    message: str,
    now: datetime | None = None,
) -> Job:
    """Mark a live job FAILED, remembering where it was so a retry can resume there."""
    if canonical(job.status) in TERMINAL:
        raise IllegalTransition(job.id, job.status, JobStatus.FAILED)
    return _apply(
        job,
        JobStatus.FAILED,
        now or utcnow(),
        {
            "error_code": code,
            "error_message": message,
            "failed_stage": stage,
            "failed_from": canonical(job.status),
        },
        note=f"{stage.value}: {code}",
    )


def amend(job: Job, *, now: datetime | None = None, **changes: Any) -> Job:
    """Record ``changes`` on a live job that stays in its state (the downloader storing the
    original of a NEW job): checked like a move (a live state, the fields that state needs),
    without a history entry, since the job did not move."""
    if canonical(job.status) in TERMINAL:
        raise IllegalTransition(job.id, job.status, job.status)
    if "status" in changes:
        raise TransitionError("amend() keeps the state: use advance() or fail() to move a job")
    updated = job.model_copy(update={**changes, "updated_at": now or utcnow()})
    missing = missing_fields(updated, job.status)
    if missing:
        raise MissingFields(job.id, job.status, missing)
    return Job.model_validate(updated.model_dump(by_alias=True))


def retry(job: Job, *, now: datetime | None = None) -> Job:
    """Resume a FAILED job at the state it failed from (not from scratch)."""
    if job.status is not JobStatus.FAILED or job.failed_from is None:
        raise IllegalTransition(job.id, job.status, job.failed_from or JobStatus.NEW)
    resume = job.failed_from
    failed_stage = STAGE_FROM[resume]
    attempts = dict(job.attempts)
    attempts.pop(failed_stage.value, None)  # a manual retry gets a fresh attempt budget
    changes: dict[str, Any] = {
        "error_code": None,
        "error_message": None,
        "failed_stage": None,
        "failed_from": None,
        "attempts": attempts,
        "retry_count": job.retry_count + 1,
    }
    if resume is HELD and job.review is not None:
        # a rejected job retried goes back into the review queue, undecided
        changes["review"] = job.review.model_copy(
            update={"decision": None, "decided_by": None, "decided_at": None}
        )
    return _apply(job, resume, now or utcnow(), changes, note="manual retry")


# --- the review hold (issue 20) ----------------------------------------------------------------

REJECTED_CODE = "rejected_in_review"
TOUCHED_UP_REASON = "touched up, awaiting approval"


def hold_review(job: Job, *, threshold: float, now: datetime | None = None) -> Review | None:
    """Whether the manifest step must hold ``job`` for a person, and why (None: let it go on).

    ``threshold`` is 0..1 (the theme's, else the global one): 0 never holds, 1 holds every job;
    in between a cut-out whose ``segment_confidence`` is under it is held, and a job without a
    confidence is not. A job that was held and has not been approved since (a touch-up of a held
    or rejected job) is held again, whatever the threshold: a person is waiting to look at it. A
    touched-up job is otherwise not held for its model's confidence: a person made its mask.
    """
    if not 0.0 <= threshold <= 1.0:
        raise ValueError(f"review threshold must be within 0..1, not {threshold}")
    at = now or utcnow()
    confidence = job.segment_confidence
    if job.review is not None and job.review.decision != "approved":
        return Review(held_at=at, confidence=confidence, threshold=threshold,
                      reason=TOUCHED_UP_REASON if _touched_up(job) else job.review.reason)
    if _touched_up(job) or threshold <= 0.0:
        return None
    if threshold >= 1.0:
        return Review(held_at=at, confidence=confidence, threshold=threshold,
                      reason="every job is held for review (threshold 1)")
    if confidence is None or confidence >= threshold:
        return None
    return Review(held_at=at, confidence=confidence, threshold=threshold,
                  reason=f"cut-out confidence {confidence:.2f} is under {threshold:.2f}")


def _touched_up(job: Job) -> bool:
    return bool(job.mask_versions) and job.mask_versions[-1].source != "model"


def hold(
    job: Job, *, review: Review, now: datetime | None = None, **changes: Any
) -> Job:
    """DERIVATIVES -> IN_REVIEW: the manifest step stores the manifest (``changes`` carry its
    ``manifest_s3_key``) but keeps the job from publish until a person decides."""
    if canonical(job.status) is not JobStatus.DERIVATIVES:
        raise IllegalTransition(job.id, job.status, HELD)
    at = now or utcnow()
    return _apply(job, HELD, at, {**changes, "review": review}, note=f"held: {review.reason}")


def approve(
    job: Job, *, actor: str, note: str | None = None, now: datetime | None = None
) -> Job:
    """IN_REVIEW -> SHOPIFY_PUSH: a person let the held job go on to publish."""
    review = _pending_review(job, JobStatus.SHOPIFY_PUSH)
    at = now or utcnow()
    decided = review.model_copy(
        update={"decision": "approved", "decided_by": actor, "decided_at": at, "note": note}
    )
    return _apply(job, JobStatus.SHOPIFY_PUSH, at, {"review": decided},
                  note=f"approved by {actor}" + (f": {note}" if note else ""))


def reject(job: Job, *, actor: str, reason: str, now: datetime | None = None) -> Job:
    """IN_REVIEW -> FAILED with the reviewer's reason; a retry puts it back in the queue."""
    review = _pending_review(job, JobStatus.FAILED)
    if not reason.strip():
        raise TransitionError(f"job {job.id}: a rejection needs a reason")
    at = now or utcnow()
    decided = review.model_copy(
        update={"decision": "rejected", "decided_by": actor, "decided_at": at,
                "note": reason.strip()}
    )
    changes = {
        "review": decided,
        "error_code": REJECTED_CODE,
        "error_message": f"rejected by {actor}: {reason.strip()}",
        "failed_stage": Stage.REVIEW,
        "failed_from": HELD,
    }
    return _apply(job, JobStatus.FAILED, at, changes, note=f"rejected by {actor}")


def _pending_review(job: Job, target: JobStatus) -> Review:
    if job.status is not HELD or job.review is None:
        raise IllegalTransition(job.id, job.status, target)
    return job.review


def rework(
    job: Job, *, mask_version: MaskVersion, actor: str, now: datetime | None = None
) -> Job:
    """IN_REVIEW, DONE or FAILED -> BG_REMOVED with a person's new mask: the pipeline redoes the
    background, composite, derivatives and manifest from it, and publish replaces the media.

    The version is appended to ``mask_versions`` (a job from before mask versions gets its
    current mask recorded as version 1 first); the artefacts made from the old mask are cleared,
    the Shopify result is kept. A held job that was not approved keeps ``review``, undecided, so
    the manifest step holds it again (see ``hold_review``).
    """
    if canonical(job.status) not in REWORK_FROM:
        raise IllegalTransition(job.id, job.status, REWORK_TO)
    at = now or utcnow()
    versions = list(job.mask_versions)
    if not versions and job.s3_mask_key and job.s3_cutout_key:
        versions.append(MaskVersion(version=1, s3_mask_key=job.s3_mask_key,
                                    s3_cutout_key=job.s3_cutout_key, source="model",
                                    created_at=job.created_at))
    latest = max((v.version for v in versions), default=0)
    if mask_version.version <= latest:
        raise TransitionError(
            f"job {job.id}: mask version {mask_version.version} is not after v{latest}"
        )
    versions.append(mask_version)
    review = job.review
    if review is not None and review.decision != "approved":
        review = review.model_copy(update={"decision": None, "decided_by": None,
                                           "decided_at": None, "reason": TOUCHED_UP_REASON})
    changes: dict[str, Any] = {
        "s3_mask_key": mask_version.s3_mask_key,
        "s3_cutout_key": mask_version.s3_cutout_key,
        "mask_versions": versions,
        "s3_background_keys": [],
        "s3_composite_keys": [],
        "s3_derivative_keys": [],
        "manifest_s3_key": None,
        "review": review,
        "completed_at": None,
        "error_code": None,
        "error_message": None,
        "failed_stage": None,
        "failed_from": None,
        "attempts": {},
    }
    return _apply(job, REWORK_TO, at, changes,
                  note=f"touch-up by {actor} (mask v{mask_version.version})")


def count_attempt(job: Job, stage: Stage) -> Job:
    attempts = dict(job.attempts)
    attempts[stage.value] = attempts.get(stage.value, 0) + 1
    return job.model_copy(update={"attempts": attempts})


def _apply(
    job: Job, target: JobStatus, now: datetime, changes: dict[str, Any], note: str | None
) -> Job:
    updated = job.model_copy(update={**changes, "status": target, "updated_at": now})
    missing = missing_fields(updated, target)
    if missing:
        raise MissingFields(job.id, target, missing)
    step = Transition(from_status=job.status, to_status=target, at=now, note=note)
    history = [*job.history, step]
    extra: dict[str, Any] = {"history": history}
    if target is JobStatus.DONE:
        extra["completed_at"] = now
    # model_copy does not validate: rebuild so bad values in ``changes`` are caught here.
    return Job.model_validate({**updated.model_dump(by_alias=True), **extra})
