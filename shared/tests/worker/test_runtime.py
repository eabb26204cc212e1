"""The stage-worker runtime's logic, against in-memory stores (no Kafka, MongoDB or S3)."""

from __future__ import annotations

import asyncio
import json
from datetime import timedelta

import pytest

from plinth.domain.job import Job, utcnow
from plinth.domain.states import JobStatus, Stage
from plinth.imaging.errors import NotAnImageError, ProviderError
from plinth.messaging.events import DeadLetter, JobEvent, JobFailed
from plinth.messaging.topics import (
    DEAD_LETTER,
    JOB_BG_REMOVED,
    JOB_FAILED,
    JOB_NEW,
    JOB_SHOPIFY_PUSH,
    retry_topic,
)
from plinth.worker import StageContext, StageResult, StageWorker, Step
from plinth.worker.backoff import retry_delay_s
from plinth.worker.errors import RetryLater
from plinth.worker.runtime import Record
from plinth.worker.settings import WorkerSettings

SHA = "a" * 64


def new_job(status: JobStatus = JobStatus.NEW, **fields: object) -> Job:
    base: dict[str, object] = dict(sku="SKU-1", theme="default", image_url="https://x/a.jpg",
                                   img_sha256=SHA, s3_original_key=f"originals/SKU-1/{SHA}.jpg")
    base.update(fields)
    return Job.model_validate({**base, "status": status})


def record_for(job: Job, topic: str = JOB_NEW, **event_fields: object) -> Record:
    event = JobEvent(job_id=job.id, sku=job.sku, theme=job.theme, img_sha256=job.img_sha256,
                     status=job.status, **event_fields)  # type: ignore[arg-type]
    return Record(topic=topic, value=event.model_dump_json().encode(), key=job.id.encode(),
                  partition=0, offset=7)


class Segmenter:
    """A step that records its calls and can be told to fail."""

    def __init__(self, failures: list[Exception] | None = None) -> None:
        self.calls = 0
        self.failures = list(failures or [])

    async def __call__(self, job: Job, ctx: StageContext) -> StageResult:
        self.calls += 1
        original = await ctx.blobs.get(job.s3_original_key or "")
        if self.failures:
            raise self.failures.pop(0)
        cutout = f"cutouts/{job.sku}/{SHA}.png"
        mask = f"masks/{job.sku}/{SHA}.png"
        return StageResult(
            changes={"s3_cutout_key": cutout, "s3_mask_key": mask},
            artefacts={cutout: b"cut:" + original, mask: b"mask"},
            cost_usd={"segmentation": 0.25},
            attributes={"provider": "test"},
        )


def make_worker(jobs, blobs, publisher, steps, **settings: object) -> StageWorker:  # type: ignore[no-untyped-def]
    return StageWorker(stage=steps[0].stage if steps[0].stage is not Stage.MANIFEST
                       else Stage.DERIVE, steps=steps,
                       settings=WorkerSettings(**settings),  # type: ignore[arg-type]
                       jobs=jobs, blobs=blobs, publisher=publisher, instance="test:1")


@pytest.fixture
def seeded(jobs, memory_blobs):  # type: ignore[no-untyped-def]
    job = new_job()
    jobs.docs[job.id] = job
    memory_blobs.objects[job.s3_original_key] = b"photo"
    return job


async def test_a_step_stores_artefacts_moves_the_job_and_publishes_the_next_event(
    jobs, memory_blobs, publisher, seeded, span_exporter
) -> None:
    span_exporter.clear()
    segment = Segmenter()
    worker = make_worker(jobs, memory_blobs, publisher,
                         [Step(Stage.SEGMENT, JobStatus.NEW, JobStatus.BG_REMOVED, segment)])
    await worker.handle_record(record_for(seeded))

    stored = jobs.docs[seeded.id]
    assert stored.status is JobStatus.BG_REMOVED
    assert memory_blobs.objects[stored.s3_cutout_key or ""] == b"cut:photo"
    assert stored.timings.segmentation_ms is not None and stored.timings.segmentation_ms >= 0
    assert stored.cost_breakdown == {"segmentation": 0.25} and stored.cost_usd == 0.25
    [(topic, event, key)] = publisher.sent
    assert (topic, key) == (JOB_BG_REMOVED, seeded.id.encode())
    assert isinstance(event, JobEvent) and event.status is JobStatus.BG_REMOVED
    assert worker.stats.processed == 1

    # The timing on the job is the step span's own duration, and the trace id is the span's.
    [span] = [s for s in span_exporter.get_finished_spans() if s.name == "segment"]
    assert stored.timings.segmentation_ms == round((span.end_time - span.start_time) / 1e6)
    assert stored.trace_id == format(span.context.trace_id, "032x")
    assert span.attributes["job.id"] == seeded.id and span.attributes["provider"] == "test"
    assert span.attributes["bytes"] == len(b"cut:photo") + len(b"mask")


async def test_redelivery_never_redoes_the_work_but_re_emits_the_next_event(
    jobs, memory_blobs, publisher, seeded
) -> None:
    segment = Segmenter()
    worker = make_worker(jobs, memory_blobs, publisher,
                         [Step(Stage.SEGMENT, JobStatus.NEW, JobStatus.BG_REMOVED, segment)])
    record = record_for(seeded)
    await worker.handle_record(record)
    puts, writes = memory_blobs.puts, jobs.writes
    await worker.handle_record(record)

    assert segment.calls == 1
    assert (memory_blobs.puts, jobs.writes) == (puts, writes), "no effect repeated"
    assert [e.status for e in publisher.on(JOB_BG_REMOVED)] == [JobStatus.BG_REMOVED] * 2

    # Once the next stage has moved the job on, a redelivery publishes nothing at all.
    jobs.docs[seeded.id] = jobs.docs[seeded.id].model_copy(
        update={"status": JobStatus.BACKGROUND_READY})
    await worker.handle_record(record)
    assert len(publisher.sent) == 2 and segment.calls == 1


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"\xff\xfe not json", "not JSON"),
        (b"[1, 2]", "JSON list"),
        (json.dumps({"schema_version": 2, "job_id": "x"}).encode(), "unknown schema_version 2"),
        (json.dumps({"schema_version": 1, "job_id": "x"}).encode(), "not a valid JobEvent"),
    ],
)
async def test_undecodable_messages_go_to_the_dead_letter_topic_with_the_reason(
    jobs, memory_blobs, publisher, body: bytes, reason: str
) -> None:
    segment = Segmenter()
    worker = make_worker(jobs, memory_blobs, publisher,
                         [Step(Stage.SEGMENT, JobStatus.NEW, JobStatus.BG_REMOVED, segment)])
    await worker.handle_record(Record(topic=JOB_NEW, value=body, key=b"k", partition=2,
                                      offset=41, headers={"h": b"v"}))
    [(topic, letter, key)] = publisher.sent
    assert topic == DEAD_LETTER and key == b"k"
    assert isinstance(letter, DeadLetter)
    assert reason in letter.reason
    assert (letter.source_topic, letter.partition, letter.offset) == (JOB_NEW, 2, 41)
    assert letter.headers == {"h": "v"}
    assert segment.calls == 0


async def test_an_event_for_a_missing_job_is_dead_lettered(jobs, memory_blobs, publisher) -> None:
    worker = make_worker(jobs, memory_blobs, publisher,
                         [Step(Stage.SEGMENT, JobStatus.NEW, JobStatus.BG_REMOVED, Segmenter())])
    await worker.handle_record(record_for(new_job()))
    [(topic, letter, _)] = publisher.sent
    assert topic == DEAD_LETTER and "does not exist" in letter.reason  # type: ignore[attr-defined]


async def test_a_permanent_error_fails_the_job_with_stage_code_and_message(
    jobs, memory_blobs, publisher, seeded
) -> None:
    segment = Segmenter([NotAnImageError("the file is not an image")])
    worker = make_worker(jobs, memory_blobs, publisher,
                         [Step(Stage.SEGMENT, JobStatus.NEW, JobStatus.BG_REMOVED, segment)])
    await worker.handle_record(record_for(seeded))

    failed = jobs.docs[seeded.id]
    assert failed.status is JobStatus.FAILED
    assert (failed.failed_stage, failed.error_code) == (Stage.SEGMENT, "not_an_image")
    assert failed.error_message == "the file is not an image"
    assert failed.failed_from is JobStatus.NEW
    [(topic, event, _)] = publisher.sent
    assert topic == JOB_FAILED and isinstance(event, JobFailed)
    assert worker.stats.failed == 1 and worker.stats.last_error


async def test_transient_errors_retry_with_backoff_then_fail_when_attempts_run_out(
    jobs, memory_blobs, publisher, seeded
) -> None:
    settings = {"max_attempts": 3, "retry_base_delay_s": 0.01, "retry_max_delay_s": 0.05}
    segment = Segmenter([ProviderError("503 from provider")] * 5)
    worker = make_worker(jobs, memory_blobs, publisher,
                         [Step(Stage.SEGMENT, JobStatus.NEW, JobStatus.BG_REMOVED, segment)],
                         **settings)
    before = utcnow()
    await worker.handle_record(record_for(seeded))
    [retry] = publisher.on(retry_topic(Stage.SEGMENT))
    assert isinstance(retry, JobEvent) and retry.attempt == 2
    assert retry.not_before is not None and retry.not_before >= before + timedelta(seconds=0.01)
    assert jobs.docs[seeded.id].status is JobStatus.NEW
    assert jobs.docs[seeded.id].attempts == {"segment": 1}

    await worker.handle_record(Record(topic=retry_topic(Stage.SEGMENT),
                                      value=retry.model_dump_json().encode()))
    second = publisher.on(retry_topic(Stage.SEGMENT))[-1]
    assert isinstance(second, JobEvent) and second.attempt == 3
    await worker.handle_record(Record(topic=retry_topic(Stage.SEGMENT),
                                      value=second.model_dump_json().encode()))
    failed = jobs.docs[seeded.id]
    assert failed.status is JobStatus.FAILED and failed.error_code == "provider_error"
    assert "gave up after 3 attempts" in (failed.error_message or "")
    assert segment.calls == 3


async def test_a_wait_for_other_work_retries_after_its_delay_without_using_an_attempt(
    jobs, memory_blobs, publisher, seeded
) -> None:
    jobs.docs[seeded.id] = seeded.model_copy(update={"attempts": {"segment": 2}})

    async def busy(job: Job, ctx: StageContext) -> StageResult:
        raise RetryLater("segmentation_in_progress", "job x is segmenting it", after_s=0.2)

    worker = make_worker(jobs, memory_blobs, publisher,
                         [Step(Stage.SEGMENT, JobStatus.NEW, JobStatus.BG_REMOVED, busy)],
                         max_attempts=2, retry_max_delay_s=30)
    before = utcnow()
    await worker.handle_record(record_for(seeded))

    waiting = jobs.docs[seeded.id]
    assert waiting.status is JobStatus.NEW and waiting.attempts == {"segment": 2}
    [retry] = publisher.on(retry_topic(Stage.SEGMENT))
    assert isinstance(retry, JobEvent) and retry.not_before is not None
    assert before + timedelta(seconds=0.2) <= retry.not_before <= utcnow() + timedelta(seconds=1)
    assert worker.stats.retried == 1 and worker.stats.last_error is None


async def test_after_store_runs_once_the_artefacts_are_stored_and_before_the_job_moves(
    jobs, memory_blobs, publisher, seeded
) -> None:
    seen: list[tuple[bool, JobStatus]] = []

    async def step(job: Job, ctx: StageContext) -> StageResult:
        async def stored() -> None:
            seen.append(("cutouts/c.png" in memory_blobs.objects, jobs.docs[job.id].status))

        return StageResult(changes={"s3_cutout_key": "cutouts/c.png", "s3_mask_key": "m"},
                           artefacts={"cutouts/c.png": b"png"}, after_store=stored)

    worker = make_worker(jobs, memory_blobs, publisher,
                         [Step(Stage.SEGMENT, JobStatus.NEW, JobStatus.BG_REMOVED, step)])
    await worker.handle_record(record_for(seeded))
    assert seen == [(True, JobStatus.NEW)]
    assert jobs.docs[seeded.id].status is JobStatus.BG_REMOVED


def test_backoff_doubles_and_is_capped() -> None:
    settings = WorkerSettings(retry_base_delay_s=1.0, retry_max_delay_s=5.0)
    assert [retry_delay_s(settings, n) for n in (1, 2, 3, 4)] == [1.0, 2.0, 4.0, 5.0]


async def test_a_retry_event_waits_for_its_not_before(
    jobs, memory_blobs, publisher, seeded
) -> None:
    worker = make_worker(jobs, memory_blobs, publisher,
                         [Step(Stage.SEGMENT, JobStatus.NEW, JobStatus.BG_REMOVED, Segmenter())])
    due = utcnow() + timedelta(seconds=0.3)
    started = asyncio.get_running_loop().time()
    await worker.handle_record(record_for(seeded, topic=retry_topic(Stage.SEGMENT),
                                          attempt=2, not_before=due))
    assert asyncio.get_running_loop().time() - started >= 0.25
    assert jobs.docs[seeded.id].status is JobStatus.BG_REMOVED


async def test_two_steps_run_in_order_and_a_redelivery_resumes_at_the_second(
    jobs, memory_blobs, publisher
) -> None:
    calls: list[str] = []

    async def derive(job: Job, ctx: StageContext) -> StageResult:
        calls.append("derive")
        return StageResult(changes={"s3_derivative_keys": ["d/0_hero.jpg"]},
                           artefacts={"d/0_hero.jpg": b"jpg"})

    async def manifest(job: Job, ctx: StageContext) -> StageResult:
        calls.append("manifest")
        return StageResult(changes={"manifest_s3_key": "m.json"}, artefacts={"m.json": b"{}"})

    steps = [Step(Stage.DERIVE, JobStatus.COMPOSITED, JobStatus.DERIVATIVES, derive),
             Step(Stage.MANIFEST, JobStatus.DERIVATIVES, JobStatus.SHOPIFY_PUSH, manifest)]
    ready = new_job(JobStatus.COMPOSITED, s3_cutout_key="c.png", s3_mask_key="m.png",
                    s3_background_keys=["b.jpg"], s3_composite_keys=["c.jpg"])
    jobs.docs[ready.id] = ready
    worker = make_worker(jobs, memory_blobs, publisher, steps)
    await worker.handle_record(record_for(ready))
    done = jobs.docs[ready.id]
    assert done.status is JobStatus.SHOPIFY_PUSH and calls == ["derive", "manifest"]
    assert done.timings.derivatives_ms is not None and done.timings.manifest_ms is not None
    assert [e.status for e in publisher.on(JOB_SHOPIFY_PUSH)] == [JobStatus.SHOPIFY_PUSH]

    # A crash after the first update: the redelivered event only runs the manifest step.
    halfway = done.model_copy(update={"status": JobStatus.DERIVATIVES, "manifest_s3_key": None})
    jobs.docs[ready.id] = halfway
    await worker.handle_record(record_for(ready))
    assert calls == ["derive", "manifest", "manifest"]


async def test_a_job_moved_by_someone_else_meanwhile_is_left_alone(
    jobs, memory_blobs, publisher, seeded
) -> None:
    async def slow(job: Job, ctx: StageContext) -> StageResult:
        # Another worker (or an operator) moves the job while this one works.
        jobs.docs[job.id] = jobs.docs[job.id].model_copy(update={"status": JobStatus.FAILED})
        return StageResult(changes={"s3_cutout_key": "c", "s3_mask_key": "m"})

    worker = make_worker(jobs, memory_blobs, publisher,
                         [Step(Stage.SEGMENT, JobStatus.NEW, JobStatus.BG_REMOVED, slow)])
    await worker.handle_record(record_for(seeded))
    assert jobs.docs[seeded.id].status is JobStatus.FAILED
    assert publisher.sent == []


async def test_pause_holds_new_work_until_resume(jobs, memory_blobs, publisher, seeded) -> None:
    segment = Segmenter()
    worker = make_worker(jobs, memory_blobs, publisher,
                         [Step(Stage.SEGMENT, JobStatus.NEW, JobStatus.BG_REMOVED, segment)])
    worker.gate.pause()
    task = asyncio.create_task(worker.handle_record(record_for(seeded)))
    await asyncio.sleep(0.2)
    assert not task.done() and segment.calls == 0
    worker.gate.resume()
    await asyncio.wait_for(task, 5)
    assert segment.calls == 1


def test_steps_must_chain() -> None:
    async def noop(job: Job, ctx: StageContext) -> StageResult:
        return StageResult()

    with pytest.raises(ValueError, match="do not chain"):
        StageWorker(stage=Stage.DERIVE, settings=WorkerSettings(), jobs=None, blobs=None,  # type: ignore[arg-type]
                    publisher=None, instance="x",  # type: ignore[arg-type]
                    steps=[Step(Stage.DERIVE, JobStatus.COMPOSITED, JobStatus.DERIVATIVES, noop),
                           Step(Stage.MANIFEST, JobStatus.COMPOSITED, JobStatus.SHOPIFY_PUSH,
                                noop)])
