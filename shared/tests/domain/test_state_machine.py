"""The job state machine: every allowed transition, a sample of refused ones, required fields."""

from __future__ import annotations

import pytest

from plinth.domain.job import Job
from plinth.domain.states import (
    PIPELINE,
    STAGE_FROM,
    JobStatus,
    Stage,
    allowed_targets,
    canonical,
    next_status,
)
from plinth.domain.transitions import (
    IllegalTransition,
    MissingFields,
    TransitionError,
    advance,
    amend,
    count_attempt,
    fail,
    retry,
)

from .builders import FIELDS_FOR, SHA, job_in, new_job


@pytest.mark.parametrize("current", PIPELINE[:-1])
def test_every_forward_step_is_allowed_with_its_fields(current: JobStatus) -> None:
    job = job_in(current)
    target = next_status(current)
    assert target is not None
    moved = advance(job, target, **FIELDS_FOR[target])
    assert moved.status is target
    assert moved.history[-1].from_status is current
    assert moved.history[-1].to_status is target
    assert job.status is current, "advance must not mutate its input"


@pytest.mark.parametrize("current", PIPELINE[:-1])
def test_every_live_state_can_fail_and_retry_resumes_there(current: JobStatus) -> None:
    job = job_in(current)
    failed = fail(job, stage=STAGE_FROM[current], code="boom", message="it broke")
    assert failed.status is JobStatus.FAILED
    assert failed.failed_from is current
    assert failed.failed_stage is STAGE_FROM[current]
    resumed = retry(failed)
    assert resumed.status is current
    assert resumed.error_code is None and resumed.failed_from is None
    assert resumed.retry_count == 1


def test_full_run_sets_completed_at_and_history() -> None:
    done = job_in(JobStatus.DONE)
    assert done.completed_at is not None
    assert [t.to_status for t in done.history] == list(PIPELINE[1:])
    assert done.processing_ms is not None and done.processing_ms >= 0


@pytest.mark.parametrize(
    ("current", "target"),
    [
        (JobStatus.NEW, JobStatus.BACKGROUND_READY),  # skipping a step
        (JobStatus.NEW, JobStatus.DONE),
        (JobStatus.BG_REMOVED, JobStatus.NEW),  # going back
        (JobStatus.COMPOSITED, JobStatus.BG_REMOVED),
        (JobStatus.SHOPIFY_PUSH, JobStatus.SHOPIFY_PUSH),  # staying put
        (JobStatus.DONE, JobStatus.NEW),  # leaving a terminal state
        (JobStatus.DONE, JobStatus.SHOPIFY_PUSH),
    ],
)
def test_refused_transitions(current: JobStatus, target: JobStatus) -> None:
    job = job_in(current)
    with pytest.raises(IllegalTransition, match=f"{current.value} -> {target.value}"):
        advance(job, target, **FIELDS_FOR.get(target, {}))


def test_failed_job_only_leaves_through_retry() -> None:
    failed = fail(job_in(JobStatus.NEW), stage=Stage.SEGMENT, code="x", message="y")
    with pytest.raises(IllegalTransition):
        advance(failed, JobStatus.BG_REMOVED, **FIELDS_FOR[JobStatus.BG_REMOVED])
    with pytest.raises(IllegalTransition):
        fail(failed, stage=Stage.SEGMENT, code="x", message="again")
    with pytest.raises(TransitionError):
        advance(job_in(JobStatus.NEW), JobStatus.FAILED)


def test_done_cannot_fail_and_live_job_cannot_retry() -> None:
    with pytest.raises(IllegalTransition):
        fail(job_in(JobStatus.DONE), stage=Stage.PUBLISH, code="x", message="y")
    with pytest.raises(IllegalTransition):
        retry(job_in(JobStatus.COMPOSITED))


def test_missing_fields_are_named() -> None:
    with pytest.raises(MissingFields) as caught:
        advance(new_job(), JobStatus.BG_REMOVED, s3_original_key="originals/SKU1/x.jpg")
    assert caught.value.missing == ["img_sha256", "s3_cutout_key", "s3_mask_key"]
    assert "img_sha256, s3_cutout_key, s3_mask_key" in str(caught.value)


def test_empty_list_counts_as_missing() -> None:
    with pytest.raises(MissingFields, match="s3_background_keys"):
        advance(job_in(JobStatus.BG_REMOVED), JobStatus.BACKGROUND_READY, s3_background_keys=[])


def test_legacy_states_are_readable_and_behave_like_v2() -> None:
    doc = new_job().to_document() | {"status": "COMPOSITING", **FIELDS_FOR[JobStatus.BG_REMOVED]}
    doc |= FIELDS_FOR[JobStatus.BACKGROUND_READY]
    legacy = Job.from_document(doc)
    assert legacy.status is JobStatus.COMPOSITING
    assert canonical(legacy.status) is JobStatus.BACKGROUND_READY
    assert allowed_targets(legacy.status) == {JobStatus.COMPOSITED, JobStatus.FAILED}
    moved = advance(legacy, JobStatus.COMPOSITED, **FIELDS_FOR[JobStatus.COMPOSITED])
    assert moved.status is JobStatus.COMPOSITED
    failed = fail(Job.from_document(doc | {"status": "QUEUED"}), stage=Stage.SEGMENT, code="c",
                  message="m")
    assert failed.failed_from is JobStatus.NEW


def test_attempts_count_per_stage_and_retry_resets_the_failed_stage() -> None:
    job = count_attempt(count_attempt(job_in(JobStatus.NEW), Stage.SEGMENT), Stage.SEGMENT)
    assert job.attempts == {"segment": 2}
    failed = fail(job, stage=Stage.SEGMENT, code="x", message="y")
    assert retry(failed).attempts == {}


def test_document_round_trip_uses_mongo_id() -> None:
    job = job_in(JobStatus.DONE)
    doc = job.to_document()
    assert doc["_id"] == job.id and "id" not in doc
    assert doc["status"] == "DONE"
    assert Job.from_document(doc) == job


def test_amend_keeps_the_state_checks_it_and_adds_no_history() -> None:
    """The downloader stores a NEW job's original: the job stays NEW, through the state machine."""
    job = new_job()
    amended = amend(job, s3_original_key=f"originals/SKU1/{SHA}.jpg", img_sha256=SHA)
    assert amended.status is JobStatus.NEW and amended.history == job.history
    assert amended.s3_original_key == f"originals/SKU1/{SHA}.jpg"
    assert amended.updated_at >= job.updated_at
    with pytest.raises(TransitionError):
        amend(job, status=JobStatus.BG_REMOVED)
    with pytest.raises(MissingFields):
        amend(job, image_url="")
    failed = fail(job, stage=Stage.DOWNLOAD, code="timeout", message="slow")
    with pytest.raises(IllegalTransition):
        amend(failed, s3_original_key="x")
