"""The job state machine as pure functions: each returns a new ``Job`` or raises.

Services call these to compute the next document, then store it with a conditional update on the
state they expected, so that two workers racing on one job cannot both move it.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from plinth.domain.job import Job, Transition, utcnow
from plinth.domain.states import (
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
    job: Job, target: JobStatus, *, now: datetime | None = None, **changes: Any
) -> Job:
    """Move ``job`` to ``target`` with ``changes`` applied, checking the move and its fields."""
    if target is JobStatus.FAILED:
        raise TransitionError("use fail() to move a job to FAILED")
    if target not in allowed_targets(job.status) or canonical(job.status) is JobStatus.FAILED:
        raise IllegalTransition(job.id, job.status, target)
    return _apply(job, target, now or utcnow(), changes, note=None)


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
    return _apply(job, resume, now or utcnow(), changes, note="manual retry")


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
