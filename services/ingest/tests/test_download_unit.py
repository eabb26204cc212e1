"""The download worker with in-memory stores: permanent storage refusals, keys no store can
hold, the deadline of an attempt, and transient failures through the retry topic (a failing
download does not hold its partition). Runs without the local stack."""

from __future__ import annotations

import asyncio
import hashlib
import io
import time
from types import SimpleNamespace
from typing import Any

from PIL import Image

from plinth.adapters.s3 import BlobRefused
from plinth.domain.job import Job, utcnow
from plinth.domain.states import JobStatus, Stage
from plinth.messaging.events import Event, IngestRequested, JobEvent, JobFailed
from plinth.messaging.topics import INGEST_REQUESTED, JOB_NEW
from plinth.net import Downloaded, HttpStatusError
from plinth.worker.runtime import Record
from plinth_ingest.deliveries import DeliveryLog
from plinth_ingest.download import DownloadWorker
from plinth_ingest.settings import IngestSettings
from plinth_testkit.memory import MemoryEvents, MemoryJobs


def jpeg() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (8, 8), (200, 10, 10)).save(buffer, format="JPEG")
    return buffer.getvalue()


PHOTO = jpeg()
SHA = hashlib.sha256(PHOTO).hexdigest()


class RefusingBlobs:
    """An S3 that refuses every put the way versitygw refuses a 280-byte path segment."""

    def __init__(self) -> None:
        self.puts = 0

    async def put(self, key: str, data: bytes, content_type: str | None = None) -> None:
        self.puts += 1
        raise BlobRefused(key, 400, "KeyTooLongError", "Your key is too long.")

    async def exists(self, key: str) -> bool:
        return False


class Kafka:
    def __init__(self) -> None:
        self.sent: list[tuple[Event, str, bytes]] = []

    async def publish(self, event: Event, topic: str, key: bytes) -> None:
        self.sent.append((event, topic, key))


class Fetcher:
    def __init__(self, delay_s: float = 0.0) -> None:
        self.delay_s = delay_s
        self.calls = 0

    async def fetch(self, url: str) -> Downloaded:
        self.calls += 1
        if self.delay_s:
            await asyncio.sleep(self.delay_s)
        return Downloaded(url=url, final_url=url, content=PHOTO, content_type="image/jpeg",
                          declared_type="image/jpeg", redirects=0, address="127.0.0.1",
                          elapsed_s=0.0)  # fmt: skip


def worker(blobs: Any, fetcher: Any, **settings: Any) -> tuple[DownloadWorker, MemoryJobs, Kafka]:
    jobs, kafka = MemoryJobs(), Kafka()
    built = DownloadWorker(
        settings=IngestSettings(**settings), jobs=jobs, blobs=blobs, publisher=kafka,
        deliveries=DeliveryLog(MemoryEvents()), fetcher=fetcher, instance="test:1",
    )  # fmt: skip
    return built, jobs, kafka


def new_job(jobs: MemoryJobs, sku: str) -> Job:
    job = Job(sku=sku, theme="default", image_url="https://cdn.test/a.jpg", img_sha256=SHA)
    jobs.jobs[job.id] = job
    return job


def request_for(job: Job) -> IngestRequested:
    return IngestRequested(delivery_id="d1", sku=job.sku, image_url=job.image_url,  # type: ignore[arg-type]
                           img_sha256=SHA, themes=["default"], job_ids=[job.id])  # fmt: skip


async def test_a_put_the_store_refuses_fails_the_job_instead_of_raising() -> None:
    """Before: the refusal escaped as an infrastructure error, the record was rewound and came
    back every 2 s forever, blocking its partition."""
    blobs = RefusingBlobs()
    download, jobs, kafka = worker(blobs, Fetcher())
    job = new_job(jobs, "SKU-1")
    outcome = await download.handle(request_for(job))
    assert outcome.status == "failed" and outcome.failure is not None
    assert outcome.failure.code == "s3_refused"
    stored = jobs.jobs[job.id]
    assert stored.status is JobStatus.FAILED and stored.failed_stage is Stage.DOWNLOAD
    assert stored.error_code == "s3_refused" and "KeyTooLongError" in (stored.error_message or "")
    assert [type(e) for e, _, _ in kafka.sent] == [JobFailed]
    assert blobs.puts == 1  # not retried


async def test_a_request_whose_sku_no_key_can_hold_fails_its_jobs() -> None:
    """A request published before the webhook measured SKUs in bytes (70 emoji = 280 bytes)."""
    fetcher = Fetcher()
    download, jobs, _ = worker(RefusingBlobs(), fetcher)
    job = new_job(jobs, "😀" * 70)
    outcome = await download.handle(request_for(job))
    assert outcome.failure is not None and outcome.failure.code == "invalid_key"
    assert jobs.jobs[job.id].status is JobStatus.FAILED
    assert "280 bytes" in (jobs.jobs[job.id].error_message or "")
    assert fetcher.calls == 0  # refused before anything was fetched


async def test_one_deadline_bounds_an_attempt_and_the_retry_goes_through_the_retry_topic() -> None:
    """A server that never finishes: the attempt is cut at the deadline, and the request goes to
    plinth.retry.download.v1 with the next attempt and a not_before from the backoff settings,
    instead of being retried (and slept on) in process while it holds its slot."""

    class Hanging:
        calls = 0

        async def fetch(self, url: str) -> Downloaded:
            Hanging.calls += 1
            await asyncio.sleep(30)
            raise AssertionError("cut by the deadline")

    download, jobs, kafka = worker(
        RefusingBlobs(), Hanging(), max_attempts=3, retry_base_delay_s=2.0,
        retry_max_delay_s=5.0, download_deadline_s=0.3,
    )  # fmt: skip
    job = new_job(jobs, "SLOW-1")
    started = time.monotonic()
    outcome = await download.handle(request_for(job))
    assert time.monotonic() - started < 1.5
    assert outcome.status == "retrying" and outcome.failure is not None
    assert outcome.failure.code == "timeout"
    assert "0.3s download deadline" in outcome.failure.message
    assert Hanging.calls == 1
    ((again, topic, key),) = kafka.sent
    assert topic == "plinth.retry.download.v1" and key == job.sku.encode()
    assert isinstance(again, IngestRequested) and again.attempt == 2
    assert again.not_before is not None
    assert 1.5 < (again.not_before - utcnow()).total_seconds() <= 2.0
    assert (again.delivery_id, again.job_ids) == ("d1", [job.id])
    assert jobs.jobs[job.id].status is JobStatus.NEW
    assert download.stats.retried == 1


async def test_the_last_attempt_fails_the_job_with_the_code() -> None:
    class Unavailable:
        async def fetch(self, url: str) -> Downloaded:
            raise HttpStatusError(503, url=url)

    download, jobs, kafka = worker(RefusingBlobs(), Unavailable(), max_attempts=2)
    job = new_job(jobs, "5XX-1")
    last = request_for(job).model_copy(update={"attempt": 2})
    outcome = await download.handle(last)
    assert outcome.status == "failed"
    stored = jobs.jobs[job.id]
    assert stored.status is JobStatus.FAILED and stored.error_code == "http_503"
    assert (stored.error_message or "").startswith("gave up after 2 attempts: ")
    assert [type(e) for e, _, _ in kafka.sent] == [JobFailed]


class Flaky:
    """The image server of ``bad`` answers 503 until ``healed``; every other URL answers."""

    def __init__(self) -> None:
        self.healed = False

    async def fetch(self, url: str) -> Downloaded:
        if "bad" in url and not self.healed:
            raise HttpStatusError(503, url=url)
        return await Fetcher().fetch(url)


class MemoryBlobs:
    def __init__(self) -> None:
        self.objects: dict[str, bytes] = {}

    async def put(self, key: str, data: bytes, content_type: str | None = None) -> None:
        self.objects[key] = data

    async def exists(self, key: str) -> bool:
        return key in self.objects


class Consumer:
    def __init__(self) -> None:
        self.commits: list[tuple[str, int]] = []

    async def commit(self, offsets: dict[Any, int]) -> None:
        ((tp, offset),) = offsets.items()
        self.commits.append((tp.topic, offset))


async def test_a_failing_download_does_not_block_the_partition_for_the_jobs_behind_it() -> None:
    """On the runtime's Kafka binding, one record at a time per partition (concurrency 1): the
    request whose server answers 503 goes to the retry topic and is committed; the good request
    behind it on the same partition completes meanwhile; the retry then succeeds."""
    from faststream.kafka import KafkaBroker

    from plinth.worker.service import KafkaStageBinding

    flaky = Flaky()
    download, jobs, kafka = worker(MemoryBlobs(), flaky, max_attempts=3,
                                   retry_base_delay_s=0.05, retry_max_delay_s=0.1)  # fmt: skip
    bad, good = new_job(jobs, "BAD-1"), new_job(jobs, "GOOD-1")
    jobs.jobs[bad.id] = bad = bad.model_copy(update={"image_url": "https://cdn.test/bad.jpg"})
    binding = KafkaStageBinding(KafkaBroker(), download, download.settings)
    consumer = Consumer()
    for subscriber in binding.job_subscribers:
        subscriber.consumer = consumer  # type: ignore[attr-defined]

    async def deliver(topic: str, offset: int, request: IngestRequested) -> Any:
        raw = SimpleNamespace(topic=topic, partition=0, offset=offset, key=request.sku.encode())
        message = Message(raw, request.model_dump_json().encode())
        await binding.on_job_message(message.body, message)  # type: ignore[arg-type]
        return message

    def request(job: Job, url: str) -> IngestRequested:
        return IngestRequested(delivery_id=f"d-{job.sku}", sku=job.sku, image_url=url,  # type: ignore[arg-type]
                               img_sha256=SHA, themes=["default"], job_ids=[job.id])  # fmt: skip

    first = await deliver(INGEST_REQUESTED, 0, request(bad, "https://cdn.test/bad.jpg"))
    second = await deliver(INGEST_REQUESTED, 1, request(good, "https://cdn.test/good.jpg"))
    assert first.acked and second.acked  # both committed: nothing rewound, nothing waits
    assert jobs.jobs[good.id].s3_original_key is not None  # the good one completed
    assert jobs.jobs[bad.id].status is JobStatus.NEW and jobs.jobs[bad.id].s3_original_key is None
    retries = [(e, t) for e, t, _ in kafka.sent if t == "plinth.retry.download.v1"]
    ((again, _),) = retries
    assert isinstance(again, IngestRequested) and again.attempt == 2
    assert [e.job_id for e, t, _ in kafka.sent if t == JOB_NEW and isinstance(e, JobEvent)] == [
        good.id]
    flaky.healed = True
    assert isinstance(again, IngestRequested)
    redelivered = await deliver("plinth.retry.download.v1", 0, again)
    assert redelivered.acked
    assert jobs.jobs[bad.id].status is JobStatus.NEW and jobs.jobs[bad.id].s3_original_key
    assert [e.job_id for e, t, _ in kafka.sent if t == JOB_NEW and isinstance(e, JobEvent)] == [
        good.id, bad.id]


class Message:
    """What the binding reads of a FastStream message, and whether it acked or rewound it."""

    def __init__(self, raw: Any, body: bytes) -> None:
        self.raw_message = raw
        self.body = body
        self.headers: dict[str, Any] = {}
        self.acked = self.nacked = False

    async def ack(self) -> None:
        self.acked = True

    async def nack(self) -> None:
        self.nacked = True


async def test_set_aside_fails_the_new_jobs_with_the_reason() -> None:
    download, jobs, kafka = worker(RefusingBlobs(), Fetcher())
    job = new_job(jobs, "GIVEUP-1")
    await download.set_aside(request_for(job), "failed 5 times: boom")
    stored = jobs.jobs[job.id]
    assert (stored.status, stored.error_code) == (JobStatus.FAILED, "redelivery_limit")
    assert stored.error_message == "failed 5 times: boom"
    assert download.stats.failed == 1
    assert isinstance(kafka.sent[0][0], JobFailed)


async def test_give_up_dead_letters_the_record_and_fails_its_jobs() -> None:
    download, jobs, kafka = worker(RefusingBlobs(), Fetcher())
    job = new_job(jobs, "GIVEUP-2")
    record = Record(topic=INGEST_REQUESTED, value=request_for(job).model_dump_json().encode(),
                    key=b"k", partition=0, offset=7)  # fmt: skip
    await download.give_up(record, "failed 3 deliveries: boom")
    assert [type(e).__name__ for e, _, _ in kafka.sent] == ["DeadLetter", "JobFailed"]
    assert jobs.jobs[job.id].error_code == "redelivery_limit"
