"""The review hold: DERIVATIVES -> IN_REVIEW, approve, reject, retry of a rejection, rework after
a touch-up, and when the manifest step holds a job (``hold_review``)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from plinth.domain.job import Job, MaskVersion, Review
from plinth.domain.states import (
    STAGE_FROM,
    JobStatus,
    Stage,
    allowed_targets,
    next_status,
    required_fields_for,
)
from plinth.domain.transitions import (
    REJECTED_CODE,
    TOUCHED_UP_REASON,
    IllegalTransition,
    MissingFields,
    TransitionError,
    advance,
    approve,
    fail,
    hold,
    hold_review,
    reject,
    retry,
    rework,
)

from .builders import FIELDS_FOR, SHA, job_in

AT = datetime(2026, 12, 5, 3, 0, tzinfo=UTC)
MANIFEST = FIELDS_FOR[JobStatus.SHOPIFY_PUSH]


def review(confidence: float | None = 0.3, threshold: float = 0.5) -> Review:
    return Review(held_at=AT, confidence=confidence, threshold=threshold, reason="uncertain")


def held_job(confidence: float | None = 0.3) -> Job:
    job = job_in(JobStatus.DERIVATIVES).model_copy(update={"segment_confidence": confidence})
    return hold(job, review=review(confidence), now=AT, **MANIFEST)


def touch_up(version: int) -> MaskVersion:
    return MaskVersion(
        version=version,
        s3_mask_key=f"masks/SKU1/{SHA}/v{version}.png",
        s3_cutout_key=f"cutouts/SKU1/{SHA}/v{version}.png",
        source="touch-up",
        created_at=AT,
        created_by="ann",
    )


def test_the_state_machine_knows_the_hold() -> None:
    assert JobStatus.IN_REVIEW in allowed_targets(JobStatus.DERIVATIVES)
    assert allowed_targets(JobStatus.IN_REVIEW) == {JobStatus.SHOPIFY_PUSH, JobStatus.FAILED}
    assert next_status(JobStatus.IN_REVIEW) is JobStatus.SHOPIFY_PUSH
    assert STAGE_FROM[JobStatus.IN_REVIEW] is Stage.REVIEW
    assert JobStatus.IN_REVIEW in allowed_targets(JobStatus.FAILED)  # a retried rejection
    fields = required_fields_for(JobStatus.IN_REVIEW)
    assert fields[-2:] == ("manifest_s3_key", "review")
    assert "s3_derivative_keys" in fields and "shopify" not in fields


def test_hold_needs_the_manifest_and_the_review() -> None:
    job = job_in(JobStatus.DERIVATIVES)
    with pytest.raises(MissingFields) as caught:
        hold(job, review=review())
    assert caught.value.missing == ["manifest_s3_key"]
    with pytest.raises(MissingFields, match="review"):
        advance(job, JobStatus.IN_REVIEW, **MANIFEST)
    held = hold(job, review=review(), now=AT, **MANIFEST)
    assert held.status is JobStatus.IN_REVIEW and held.review == review()
    assert held.history[-1].from_status is JobStatus.DERIVATIVES
    assert held.history[-1].note == "held: uncertain"
    with pytest.raises(IllegalTransition):
        hold(job_in(JobStatus.COMPOSITED), review=review(), **MANIFEST)


def test_approve_goes_on_to_publish_and_records_who() -> None:
    held = held_job()
    approved = approve(held, actor="ann", note="fine", now=AT)
    assert approved.status is JobStatus.SHOPIFY_PUSH
    assert approved.review is not None
    assert approved.review.decision == "approved"
    assert (approved.review.decided_by, approved.review.decided_at) == ("ann", AT)
    assert approved.review.note == "fine"
    assert approved.history[-1].note == "approved by ann: fine"
    assert approve(held, actor="bob").history[-1].note == "approved by bob"
    done = advance(approved, JobStatus.DONE, **FIELDS_FOR[JobStatus.DONE])
    assert done.status is JobStatus.DONE
    with pytest.raises(IllegalTransition):
        approve(approved, actor="ann")  # not IN_REVIEW any more
    with pytest.raises(IllegalTransition):
        approve(job_in(JobStatus.DERIVATIVES), actor="ann")


def test_reject_fails_with_the_reason_and_retry_requeues() -> None:
    held = held_job()
    with pytest.raises(TransitionError, match="reason"):
        reject(held, actor="ann", reason="  ")
    rejected = reject(held, actor="ann", reason="halo around the handle", now=AT)
    assert rejected.status is JobStatus.FAILED
    assert rejected.error_code == REJECTED_CODE
    assert rejected.error_message == "rejected by ann: halo around the handle"
    assert rejected.failed_stage is Stage.REVIEW
    assert rejected.failed_from is JobStatus.IN_REVIEW
    assert rejected.review is not None and rejected.review.decision == "rejected"
    assert rejected.review.note == "halo around the handle"
    with pytest.raises(IllegalTransition):
        reject(rejected, actor="ann", reason="again")
    again = retry(rejected)
    assert again.status is JobStatus.IN_REVIEW
    assert again.review is not None and again.review.decision is None
    assert again.review.decided_by is None


def test_a_held_job_can_be_failed_by_hand() -> None:
    failed = fail(held_job(), stage=Stage.REVIEW, code="manual", message="x")
    assert failed.failed_from is JobStatus.IN_REVIEW


@pytest.mark.parametrize("source", ["held", "done", "rejected"])
def test_rework_goes_back_to_bg_removed_and_clears_what_came_from_the_old_mask(
    source: str,
) -> None:
    job = {
        "held": held_job,
        "done": lambda: job_in(JobStatus.DONE),
        "rejected": lambda: reject(held_job(), actor="ann", reason="bad edge"),
    }[source]()
    version = touch_up(2)
    redone = rework(job, mask_version=version, actor="ann", now=AT)
    assert redone.status is JobStatus.BG_REMOVED
    assert redone.s3_mask_key == version.s3_mask_key
    assert redone.s3_cutout_key == version.s3_cutout_key
    # a job from before mask versions gets its model mask recorded as version 1
    assert [v.version for v in redone.mask_versions] == [1, 2]
    assert redone.mask_versions[0].source == "model"
    assert redone.mask_versions[0].s3_mask_key == job.s3_mask_key
    assert redone.s3_background_keys == redone.s3_composite_keys == []
    assert redone.s3_derivative_keys == [] and redone.manifest_s3_key is None
    assert redone.shopify == job.shopify
    assert redone.error_code is None and redone.failed_from is None
    assert redone.completed_at is None
    assert redone.history[-1].note == "touch-up by ann (mask v2)"
    assert redone.history[-1].from_status is job.status
    if source == "done":
        assert redone.review is None
    else:
        assert redone.review is not None and redone.review.decision is None
        assert redone.review.reason == TOUCHED_UP_REASON


def test_rework_refuses_live_jobs_and_old_versions() -> None:
    with pytest.raises(IllegalTransition, match="COMPOSITED -> BG_REMOVED"):
        rework(job_in(JobStatus.COMPOSITED), mask_version=touch_up(2), actor="ann")
    with pytest.raises(IllegalTransition):
        rework(job_in(JobStatus.SHOPIFY_PUSH), mask_version=touch_up(2), actor="ann")
    once = rework(job_in(JobStatus.DONE), mask_version=touch_up(2), actor="ann")
    assert [v.version for v in once.mask_versions] == [1, 2]
    with pytest.raises(TransitionError, match="not after v2"):
        again = job_in(JobStatus.DONE).model_copy(update={"mask_versions": once.mask_versions})
        rework(again, mask_version=touch_up(2), actor="ann")
    with pytest.raises(TransitionError, match="not after v1"):
        rework(held_job(), mask_version=touch_up(1), actor="ann")  # v1 is the model's
    # a job that failed before it had a cut-out cannot be reworked: BG_REMOVED needs one
    early = fail(job_in(JobStatus.NEW), stage=Stage.SEGMENT, code="x", message="y")
    with pytest.raises(MissingFields):
        rework(early, mask_version=touch_up(1), actor="ann")


def test_rework_appends_to_existing_versions() -> None:
    model = touch_up(1).model_copy(update={"source": "model", "created_by": None})
    job = job_in(JobStatus.DONE).model_copy(update={"mask_versions": [model]})
    redone = rework(job, mask_version=touch_up(2), actor="ann")
    assert redone.mask_versions == [model, touch_up(2)]


# --- when the manifest step holds ----------------------------------------------------------------


def with_confidence(confidence: float | None) -> Job:
    return job_in(JobStatus.DERIVATIVES).model_copy(update={"segment_confidence": confidence})


@pytest.mark.parametrize(
    ("confidence", "threshold", "held"),
    [
        (0.3, 0.5, True),
        (0.5, 0.5, False),  # at the threshold is good enough
        (0.9, 0.5, False),
        (0.0, 0.0, False),  # 0 never holds
        (1.0, 1.0, True),  # 1 holds everything
        (None, 0.5, False),  # no confidence: held only at 1
        (None, 1.0, True),
    ],
)
def test_hold_review_compares_confidence_with_threshold(
    confidence: float | None, threshold: float, held: bool
) -> None:
    decision = hold_review(with_confidence(confidence), threshold=threshold, now=AT)
    assert (decision is not None) is held
    if decision is not None:
        assert decision.confidence == confidence and decision.threshold == threshold
        assert decision.held_at == AT and decision.decision is None


def test_hold_review_reason_names_the_numbers() -> None:
    decision = hold_review(with_confidence(0.31), threshold=0.6)
    assert decision is not None and decision.reason == "cut-out confidence 0.31 is under 0.60"


def test_hold_review_rejects_a_threshold_out_of_range() -> None:
    with pytest.raises(ValueError, match=r"0\.\.1"):
        hold_review(with_confidence(0.5), threshold=1.5)


def test_touched_up_jobs_are_held_only_when_a_review_is_pending() -> None:
    done = job_in(JobStatus.DONE).model_copy(update={"segment_confidence": 0.1})
    reworked = rework(done, mask_version=touch_up(2), actor="ann")
    assert hold_review(reworked, threshold=0.9) is None  # a person made the mask
    assert hold_review(reworked, threshold=1.0) is None
    held = held_job(confidence=0.1)
    reworked_held = rework(held, mask_version=touch_up(2), actor="ann")
    again = hold_review(reworked_held, threshold=0.0)
    assert again is not None and again.reason == TOUCHED_UP_REASON
    approved = approve(held, actor="ann")
    assert approved.review is not None
    after = approved.model_copy(update={"mask_versions": [touch_up(2)]})
    assert hold_review(after, threshold=0.9) is None
