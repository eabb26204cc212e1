"""A step that chooses one of its alternatives (derive's manifest step holding a job IN_REVIEW):
the job stops there, its event goes to the alternative's topic and not to the stage's output."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from plinth.domain.job import Job, Review
from plinth.domain.states import JobStatus, Stage
from plinth.messaging.events import JobEvent
from plinth.messaging.topics import JOB_COMPOSITED, JOB_IN_REVIEW, JOB_SHOPIFY_PUSH
from plinth.worker import StageContext, StageResult, StageWorker, Step
from plinth.worker.runtime import Record
from plinth.worker.settings import WorkerSettings

SHA = "c" * 64
REVIEW = Review(held_at=datetime(2026, 12, 5, tzinfo=UTC), confidence=0.2, threshold=0.5,
                reason="uncertain")


def composited() -> Job:
    return Job(sku="SKU-A", theme="default", image_url="https://x/a.jpg", img_sha256=SHA,
               status=JobStatus.COMPOSITED, s3_original_key="o.jpg", s3_cutout_key="c.png",
               s3_mask_key="m.png", s3_background_keys=["b.jpg"], s3_composite_keys=["c.jpg"])


def record_for(job: Job) -> Record:
    event = JobEvent(job_id=job.id, sku=job.sku, theme=job.theme, img_sha256=job.img_sha256,
                     status=job.status)
    return Record(topic=JOB_COMPOSITED, value=event.model_dump_json().encode(),
                  key=job.id.encode(), partition=0, offset=1)


async def derive(job: Job, ctx: StageContext) -> StageResult:  # type: ignore[type-arg]
    return StageResult(changes={"s3_derivative_keys": ["d/0_hero.jpg"]},
                       artefacts={"d/0_hero.jpg": b"jpg"})


def manifest_that(hold: bool, target: JobStatus = JobStatus.IN_REVIEW):  # type: ignore[no-untyped-def]
    async def manifest(job: Job, ctx: StageContext) -> StageResult:  # type: ignore[type-arg]
        if not hold:
            return StageResult(changes={"manifest_s3_key": "m.json"}, artefacts={"m.json": b"{}"})
        return StageResult(changes={"manifest_s3_key": "m.json", "review": REVIEW},
                           artefacts={"m.json": b"{}"}, target=target, note="held: uncertain")

    return manifest


def worker_for(jobs, blobs, publisher, manifest, alternatives=None) -> StageWorker:  # type: ignore[no-untyped-def]
    steps = [Step(Stage.DERIVE, JobStatus.COMPOSITED, JobStatus.DERIVATIVES, derive),
             Step(Stage.MANIFEST, JobStatus.DERIVATIVES, JobStatus.SHOPIFY_PUSH, manifest,
                  alternatives={JobStatus.IN_REVIEW: JOB_IN_REVIEW} if alternatives is None
                  else alternatives)]
    return StageWorker(stage=Stage.DERIVE, steps=steps, settings=WorkerSettings(), jobs=jobs,
                       blobs=blobs, publisher=publisher, instance="test:1")


async def test_a_held_job_stops_in_review_and_is_not_sent_to_publish(
    jobs, memory_blobs, publisher
) -> None:
    job = composited()
    jobs.docs[job.id] = job
    worker = worker_for(jobs, memory_blobs, publisher, manifest_that(hold=True))
    await worker.handle_record(record_for(job))
    held = jobs.docs[job.id]
    assert held.status is JobStatus.IN_REVIEW
    assert held.review == REVIEW and held.manifest_s3_key == "m.json"
    assert memory_blobs.objects["m.json"] == b"{}"
    assert held.timings.manifest_ms is not None
    assert held.history[-1].note == "held: uncertain"
    assert held.history[-1].from_status is JobStatus.DERIVATIVES
    assert publisher.on(JOB_SHOPIFY_PUSH) == []
    [event] = publisher.on(JOB_IN_REVIEW)
    assert isinstance(event, JobEvent) and event.status is JobStatus.IN_REVIEW
    assert worker.stats.processed == 1

    # A redelivery does nothing again but re-announces the hold (the event may have been lost).
    writes = jobs.writes
    await worker.handle_record(record_for(job))
    assert jobs.writes == writes and len(publisher.on(JOB_IN_REVIEW)) == 2
    assert publisher.on(JOB_SHOPIFY_PUSH) == []


async def test_a_job_that_is_not_held_goes_on_as_before(jobs, memory_blobs, publisher) -> None:
    job = composited()
    jobs.docs[job.id] = job
    worker = worker_for(jobs, memory_blobs, publisher, manifest_that(hold=False))
    await worker.handle_record(record_for(job))
    assert jobs.docs[job.id].status is JobStatus.SHOPIFY_PUSH
    assert [e.status for e in publisher.on(JOB_SHOPIFY_PUSH)] == [JobStatus.SHOPIFY_PUSH]
    assert publisher.on(JOB_IN_REVIEW) == []


async def test_an_alternative_without_a_topic_publishes_nothing(
    jobs, memory_blobs, publisher
) -> None:
    job = composited()
    jobs.docs[job.id] = job
    worker = worker_for(jobs, memory_blobs, publisher, manifest_that(hold=True),
                        alternatives={JobStatus.IN_REVIEW: None})
    await worker.handle_record(record_for(job))
    assert jobs.docs[job.id].status is JobStatus.IN_REVIEW
    assert publisher.sent == []


@pytest.mark.parametrize("declared", [{}, {JobStatus.IN_REVIEW: JOB_IN_REVIEW}])
async def test_a_target_the_step_does_not_declare_fails_the_job(
    jobs, memory_blobs, publisher, declared: dict[JobStatus, str]
) -> None:
    job = composited()
    jobs.docs[job.id] = job
    target = JobStatus.IN_REVIEW if not declared else JobStatus.DONE
    worker = worker_for(jobs, memory_blobs, publisher, manifest_that(True, target),
                        alternatives=declared)
    await worker.handle_record(record_for(job))
    stored = jobs.docs[job.id]
    assert stored.status is not JobStatus.IN_REVIEW and stored.status is not JobStatus.DONE
    assert publisher.on(JOB_SHOPIFY_PUSH) == [] and publisher.on(JOB_IN_REVIEW) == []
