"""Real round trips through the local stack: Kafka, the MongoDB-wire server and S3."""

from __future__ import annotations

import asyncio

import httpx
import pytest
from faststream.kafka import KafkaBroker
from faststream.kafka.annotations import KafkaMessage

from plinth.adapters.kafka import ensure_topics, make_broker
from plinth.adapters.mongo import Database, DuplicateJob
from plinth.adapters.s3 import BlobNotFound, BlobRefused, BlobStore
from plinth.domain.job import Job
from plinth.domain.states import JobStatus
from plinth.domain.transitions import advance
from plinth.messaging.events import JobEvent
from plinth.worker.settings import WorkerSettings

pytestmark = [pytest.mark.stack, pytest.mark.asyncio(loop_scope="session")]

SHA = "b" * 64


async def test_faststream_publisher_and_subscriber_through_kafka(
    stack_settings: WorkerSettings, unique: str
) -> None:
    topic = f"plinth.test.roundtrip.{unique}"
    created = await ensure_topics(stack_settings, [topic])
    assert created == [topic]
    assert await ensure_topics(stack_settings, [topic]) == [], "second call must be a no-op"

    broker: KafkaBroker = make_broker(stack_settings, client_id=f"test-{unique}")
    received: asyncio.Queue[tuple[JobEvent, bytes | None]] = asyncio.Queue()

    group = f"{stack_settings.kafka_consumer_group_prefix}-{unique}"  # removed with the session

    @broker.subscriber(topic, group_id=group, auto_offset_reset="earliest")
    async def handle(event: JobEvent, message: KafkaMessage) -> None:
        await received.put((event, message.raw_message.key))  # type: ignore[union-attr]

    async with broker:
        await broker.start()
        sent = JobEvent(job_id=f"job-{unique}", sku="SKU", theme="default", status=JobStatus.NEW)
        await broker.publish(sent, topic=topic, key=sent.job_id.encode())
        event, key = await asyncio.wait_for(received.get(), timeout=30)
    assert event == sent
    assert key == sent.job_id.encode()


async def test_job_inserted_found_and_refused_as_duplicate(database: Database, unique: str) -> None:
    job = Job(sku=f"SKU-{unique}", theme="default", image_url="https://x/a.jpg", img_sha256=SHA)
    await database.jobs.insert(job)
    assert await database.jobs.get(job.id) == job
    assert await database.jobs.find_identity(job.sku, SHA, "default") == job

    twin = Job(sku=job.sku, theme="default", image_url="https://x/other.jpg", img_sha256=SHA)
    with pytest.raises(DuplicateJob) as caught:
        await database.jobs.insert(twin)
    assert caught.value.existing_id == job.id
    stored, created = await database.jobs.create_or_get(twin)
    assert (stored.id, created) == (job.id, False)
    assert await database.jobs_collection.count_documents({"sku": job.sku}) == 1

    other_theme = Job(sku=job.sku, theme="studio", image_url="https://x/a.jpg", img_sha256=SHA)
    _, created = await database.jobs.create_or_get(other_theme)
    assert created is True


async def test_conditional_update_lets_exactly_one_writer_win(
    database: Database, unique: str
) -> None:
    job = Job(sku=f"SKU-{unique}", theme="default", image_url="https://x/a.jpg", img_sha256=SHA)
    await database.jobs.insert(job)
    moved = advance(
        job,
        JobStatus.BG_REMOVED,
        s3_original_key="o",
        s3_cutout_key="c",
        s3_mask_key="m",
    )
    results = await asyncio.gather(
        *(database.jobs.replace_if_status(moved, JobStatus.NEW) for _ in range(5))
    )
    assert sorted(results) == [False, False, False, False, True]
    stored = await database.jobs.get(job.id)
    assert stored is not None and stored.status is JobStatus.BG_REMOVED


async def test_hashless_job_is_not_stored(database: Database) -> None:
    with pytest.raises(ValueError, match="img_sha256"):
        await database.jobs.insert(Job(sku="S", theme="default", image_url="https://x/a.jpg"))


async def test_object_put_listed_fetched_by_presigned_url_and_deleted(
    blobs: BlobStore, unique: str
) -> None:
    prefix = f"test/{unique}/"
    payload = b"\x89PNG plinth " + unique.encode()
    await blobs.put(prefix + "a.png", payload)
    await blobs.put(prefix + "b.json", b"{}")
    assert sorted(await blobs.list(prefix)) == [prefix + "a.png", prefix + "b.json"]
    assert await blobs.get(prefix + "a.png") == payload
    assert await blobs.exists(prefix + "a.png")

    url = await blobs.presign_get(prefix + "a.png", ttl_s=60)
    async with httpx.AsyncClient() as http:
        response = await http.get(url)
        assert response.status_code == 200
        assert response.content == payload
        assert response.headers["content-type"] == "image/png"
        tampered = await http.get(url.replace("Signature=", "Signature=0"))
        assert tampered.status_code == 403

    await blobs.delete(prefix + "a.png")
    await blobs.delete(prefix + "b.json")
    assert await blobs.list(prefix) == []
    assert not await blobs.exists(prefix + "a.png")
    with pytest.raises(BlobNotFound):
        await blobs.get(prefix + "a.png")


async def test_a_key_the_store_will_never_take_is_refused_for_good(
    blobs: BlobStore, unique: str
) -> None:
    """versitygw answers a 280-byte path segment with 400 KeyTooLongError (or, depending on what
    exists on its disk, 409 ExistingObjectIsDirectory): that is a BlobRefused (the job fails),
    not an error to retry or rewind on."""
    key = f"test/{unique}/{'😀' * 70}/a.jpg"
    with pytest.raises(BlobRefused) as refused:
        await blobs.put(key, b"x")
    assert (refused.value.status, refused.value.s3_code) in {
        (400, "KeyTooLongError"), (409, "ExistingObjectIsDirectory"),
    }  # fmt: skip
    assert refused.value.code == "s3_refused"
    await blobs.ping()
