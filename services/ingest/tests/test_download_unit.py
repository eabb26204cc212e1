"""The download worker with in-memory stores: permanent storage refusals, keys no store can
hold, and the deadline over all attempts. Runs without the local stack."""

from __future__ import annotations

import asyncio
import hashlib
import io
import time
from typing import Any

from PIL import Image

from plinth.adapters.s3 import BlobRefused
from plinth.domain.job import Job
from plinth.domain.states import JobStatus, Stage
from plinth.messaging.events import Event, IngestRequested, JobFailed
from plinth.net import Downloaded, DownloadTimeout
from plinth_ingest.deliveries import DeliveryLog
from plinth_ingest.download import DownloadWorker
from plinth_ingest.settings import IngestSettings


def jpeg() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (8, 8), (200, 10, 10)).save(buffer, format="JPEG")
    return buffer.getvalue()


PHOTO = jpeg()
SHA = hashlib.sha256(PHOTO).hexdigest()


class Jobs:
    def __init__(self) -> None:
        self.jobs: dict[str, Job] = {}

    async def get(self, job_id: str) -> Job | None:
        return self.jobs.get(job_id)

    async def create_or_get(self, job: Job) -> tuple[Job, bool]:
        if job.id in self.jobs:
            return self.jobs[job.id], False
        self.jobs[job.id] = job
        return job, True

    async def replace_if_status(self, job: Job, expected: JobStatus) -> bool:
        stored = self.jobs.get(job.id)
        if stored is None or stored.status is not expected:
            return False
        self.jobs[job.id] = job
        return True


class RefusingBlobs:
    """An S3 that refuses every put the way versitygw refuses a 280-byte path segment."""

    def __init__(self) -> None:
        self.puts = 0

    async def put(self, key: str, data: bytes, content_type: str | None = None) -> None:
        self.puts += 1
        raise BlobRefused(key, 400, "KeyTooLongError", "Your key is too long.")

    async def exists(self, key: str) -> bool:
        return False


class Events:
    def __init__(self) -> None:
        self.docs: dict[str, dict[str, Any]] = {}

    async def insert_one(self, document: dict[str, Any]) -> None:
        self.docs[document["_id"]] = document

    async def update_one(self, filter: dict[str, Any], update: dict[str, Any]) -> None:
        self.docs.setdefault(filter["_id"], {}).update(update["$set"])


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


def worker(blobs: Any, fetcher: Any, **settings: Any) -> tuple[DownloadWorker, Jobs, Kafka]:
    jobs, kafka = Jobs(), Kafka()
    built = DownloadWorker(
        settings=IngestSettings(**settings), jobs=jobs, blobs=blobs, publisher=kafka,
        deliveries=DeliveryLog(Events()), fetcher=fetcher, instance="test:1",
    )  # fmt: skip
    return built, jobs, kafka


def new_job(jobs: Jobs, sku: str) -> Job:
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


async def test_one_deadline_bounds_every_attempt_and_backoff() -> None:
    """A server that never finishes: each attempt would run its own 30 s timeout and five of them
    plus backoff held the download for minutes; the deadline ends it."""

    class Hanging:
        calls = 0

        async def fetch(self, url: str) -> Downloaded:
            Hanging.calls += 1
            await asyncio.sleep(0.15)
            raise DownloadTimeout("download did not finish within 0.15s", url=url)

    download, jobs, _ = worker(
        RefusingBlobs(), Hanging(), max_attempts=50, retry_base_delay_s=0.05,
        retry_max_delay_s=0.05, download_deadline_s=0.5,
    )  # fmt: skip
    job = new_job(jobs, "SLOW-1")
    started = time.monotonic()
    outcome = await download.handle(request_for(job))
    assert time.monotonic() - started < 1.5
    assert outcome.failure is not None and outcome.failure.code == "timeout"
    assert "0.5s download deadline" in outcome.failure.message
    assert 2 <= Hanging.calls < 50


async def test_give_up_fails_the_new_jobs_with_the_reason() -> None:
    download, jobs, kafka = worker(RefusingBlobs(), Fetcher())
    job = new_job(jobs, "GIVEUP-1")
    await download.give_up(request_for(job), "redelivery_limit", "failed 5 times: boom")
    stored = jobs.jobs[job.id]
    assert (stored.status, stored.error_code) == (JobStatus.FAILED, "redelivery_limit")
    assert stored.error_message == "failed 5 times: boom"
    assert download.stats.failed == 1
    assert isinstance(kafka.sent[0][0], JobFailed)
