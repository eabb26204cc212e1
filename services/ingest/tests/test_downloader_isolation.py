"""One bad request must not hold up the others: a slow image server delays only its own job,
and a request that can never succeed fails (or is set aside) instead of being rewound forever
in front of every later request of its partition. On the real stack."""

from __future__ import annotations

import asyncio
import hashlib
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.partitioner import murmur2

from plinth.adapters.kafka import make_broker
from plinth.adapters.mongo import Database
from plinth.domain.job import Job
from plinth.domain.states import JobStatus, Stage
from plinth.messaging.events import IngestRequested
from plinth.messaging.topics import DEAD_LETTER, INGEST_REQUESTED
from plinth.worker import service as service_module
from plinth.worker.service import consumer_group
from plinth_ingest.runtime import IngestRuntime
from plinth_testkit.http_server import LocalHttpServer, Route

pytestmark = [pytest.mark.stack, pytest.mark.asyncio(loop_scope="session")]


def stored(count: int) -> Any:
    return lambda jobs: len(jobs) == count and all(j.s3_original_key for j in jobs)


async def test_a_slow_server_delays_only_its_own_job(
    post_webhook, ingest_settings, images: LocalHttpServer, db: Database, wait_jobs, make_jpeg,
    unique: str,
) -> None:  # fmt: skip
    """Before: one download at a time, so a server sending 1 byte/s held every request behind
    it (5 attempts x 30 s plus backoff; a good job sent 1 s later finished 168 s later).

    Both requests are on one partition: the fast one finishes first, yet the committed offset
    stays at the slow one until it is done too (at-least-once: a crash now redoes the slow one).
    """
    async with Offsets(ingest_settings) as offsets:
        slow_sku = f"SLOW-{unique}"
        partition = offsets.partition_of(slow_sku)
        fast_sku = next(
            sku for n in range(1000)
            if offsets.partition_of(sku := f"FAST-{unique}-{n}") == partition
        )  # fmt: skip
        slow_offset = await offsets.end(partition)
        slow_photo, fast_photo = make_jpeg((1, 1, 1)), make_jpeg((250, 250, 250))
        slow_url = images.add(
            f"/{unique}/slow.jpg",
            Route(body=slow_photo, headers={"Content-Type": "image/jpeg"}, byte_interval_s=1.0),
        )
        fast_url = images.image(f"/{unique}/fast.jpg", fast_photo)
        slow_sha = hashlib.sha256(slow_photo).hexdigest()
        slow = await post_webhook(
            {"sku": slow_sku, "image_url": slow_url, "theme": "default", "img_sha256": slow_sha}
        )
        assert slow.status_code == 202
        for _ in range(50):  # the slow download has started
            if images.hits[f"/{unique}/slow.jpg"]:
                break
            await asyncio.sleep(0.1)
        await asyncio.sleep(1.0)
        fast_sha = hashlib.sha256(fast_photo).hexdigest()
        fast = await post_webhook(
            {"sku": fast_sku, "image_url": fast_url, "theme": "default", "img_sha256": fast_sha}
        )
        assert fast.status_code == 202
        loop = asyncio.get_running_loop()
        sent = loop.time()
        (job,) = await wait_jobs({"sku": fast_sku}, stored(1), timeout_s=4.0)
        assert loop.time() - sent < 4.0
        assert job.status is JobStatus.NEW
        # ...while the slow one is still being trickled, and nothing past it is committed.
        (slow_job,) = [Job.from_document(d) async for d in db.jobs_collection.find(
            {"sku": slow_sku})]  # fmt: skip
        assert slow_job.status is JobStatus.NEW and slow_job.s3_original_key is None
        assert (await offsets.committed(partition) or 0) <= slow_offset
        # It ends on its own (timeouts, then FAILED), and then both are committed.
        (slow_job,) = await wait_jobs(
            {"sku": slow_sku}, lambda js: js and js[0].status is JobStatus.FAILED,
            timeout_s=30.0,
        )  # fmt: skip
        assert slow_job.error_code == "timeout"
        for _ in range(50):
            if await offsets.committed(partition) == slow_offset + 2:
                break
            await asyncio.sleep(0.1)
        assert await offsets.committed(partition) == slow_offset + 2


class Offsets:
    """The downloader group's committed offsets and the end offsets of the request topic."""

    def __init__(self, settings: Any) -> None:
        self.settings = settings
        self.group = consumer_group(settings, Stage.DOWNLOAD)

    async def __aenter__(self) -> Offsets:
        self.admin = AIOKafkaAdminClient(bootstrap_servers=self.settings.kafka_bootstrap)
        self.consumer = AIOKafkaConsumer(bootstrap_servers=self.settings.kafka_bootstrap)
        await self.admin.start()
        await self.consumer.start()
        (topic,) = await self.admin.describe_topics([INGEST_REQUESTED])
        self.count = len(topic["partitions"])
        assert self.count
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.consumer.stop()
        await self.admin.close()

    def partition_of(self, sku: str) -> int:
        """Where the producer's default partitioner puts a request keyed by ``sku``."""
        return (murmur2(sku.encode()) & 0x7FFFFFFF) % self.count

    async def end(self, partition: int) -> int:
        tp = TopicPartition(INGEST_REQUESTED, partition)
        return int((await self.consumer.end_offsets([tp]))[tp])

    async def committed(self, partition: int) -> int | None:
        offsets = await self.admin.list_consumer_group_offsets(self.group)
        meta = offsets.get(TopicPartition(INGEST_REQUESTED, partition))
        return None if meta is None or meta.offset < 0 else int(meta.offset)


async def publish(settings: Any, request: IngestRequested, unique: str) -> None:
    broker = make_broker(settings, client_id=f"test-{unique}")
    async with broker:
        await broker.start()
        await broker.publish(request, INGEST_REQUESTED, key=request.sku.encode())


async def test_a_request_for_a_sku_no_key_can_hold_fails_its_job_and_the_next_one_runs(
    ingest_settings, images: LocalHttpServer, db: Database, wait_jobs, make_jpeg, unique: str,
) -> None:  # fmt: skip
    """What an old webhook let through (70 emoji: 280 bytes): the S3 server refused the key, the
    downloader rewound, and the record came back every 2 s forever. Now the job FAILS."""
    photo = make_jpeg((9, 99, 199))
    sha = hashlib.sha256(photo).hexdigest()
    url = images.image(f"/{unique}/poison.jpg", photo)
    poison = Job(sku="😀" * 70, theme="default", image_url=url, img_sha256=sha,
                 delivery_id=f"poison-{unique}")  # fmt: skip
    await db.jobs_collection.insert_one(poison.to_document())
    good_url = images.image(f"/{unique}/good.jpg", make_jpeg((10, 20, 30)))
    await publish(ingest_settings, IngestRequested(
        delivery_id=f"poison-{unique}", sku=poison.sku, image_url=url, img_sha256=sha,  # type: ignore[arg-type]
        themes=["default"], job_ids=[poison.id]), unique)  # fmt: skip
    await publish(ingest_settings, IngestRequested(
        delivery_id=f"good-{unique}", sku=poison.sku[:1] + unique, image_url=good_url,  # type: ignore[arg-type]
        themes=["default"]), unique)  # fmt: skip
    (failed,) = await wait_jobs(
        {"_id": poison.id}, lambda js: js and js[0].status is JobStatus.FAILED, timeout_s=15.0
    )
    assert failed.error_code == "invalid_key" and "280 bytes" in (failed.error_message or "")
    await wait_jobs({"sku": poison.sku[:1] + unique}, stored(1), timeout_s=15.0)
    assert images.hits[f"/{unique}/poison.jpg"] == 0


async def test_a_request_that_keeps_failing_is_dead_lettered_and_the_partition_moves_on(
    ingest_settings, runtime: IngestRuntime, images: LocalHttpServer, db: Database, tail,
    wait_jobs, make_jpeg, unique: str, monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    """Any failure that no retry fixes, while Kafka, the document store and S3 all answer: after
    PLINTH_MAX_DELIVERIES (3 here) tries the request is dead-lettered with the reason and its job
    FAILED, and later requests of the same SKU (same partition) are downloaded."""
    assert runtime.worker is not None
    monkeypatch.setattr(service_module, "NACK_PAUSE_S", 0.05)
    handle = runtime.worker.handle
    sku = f"STUCK-{unique}"
    tries = 0

    async def broken(request: IngestRequested) -> Any:
        nonlocal tries
        if request.delivery_id == f"stuck-{unique}":
            tries += 1
            raise RuntimeError("a bug that fails this request every time")
        return await handle(request)

    monkeypatch.setattr(runtime.worker, "handle", broken)
    photo = make_jpeg((77, 7, 177))
    sha = hashlib.sha256(photo).hexdigest()
    url = images.image(f"/{unique}/stuck.jpg", photo)
    job = Job(sku=sku, theme="default", image_url=url, img_sha256=sha)
    await db.jobs_collection.insert_one(job.to_document())
    later_url = images.image(f"/{unique}/later.jpg", make_jpeg((7, 177, 77)))
    async with tail(DEAD_LETTER) as letters:
        await publish(ingest_settings, IngestRequested(
            delivery_id=f"stuck-{unique}", sku=sku, image_url=url, img_sha256=sha,  # type: ignore[arg-type]
            themes=["default"], job_ids=[job.id]), unique)  # fmt: skip
        await publish(ingest_settings, IngestRequested(
            delivery_id=f"later-{unique}", sku=sku, image_url=later_url,  # type: ignore[arg-type]
            themes=["default"]), unique)  # fmt: skip
        ((_, letter),) = await letters.collect(lambda e: f"stuck-{unique}" in e["payload"], 1)
        (failed,) = await wait_jobs(
            {"_id": job.id}, lambda js: js and js[0].status is JobStatus.FAILED, timeout_s=15.0
        )
        await wait_jobs({"sku": sku, "_id": {"$ne": job.id}}, stored(1), timeout_s=15.0)
    assert tries == 3
    assert letter["source_topic"] == INGEST_REQUESTED
    assert "failed 3 deliveries" in letter["reason"] and "fails this request" in letter["reason"]
    assert failed.error_code == "redelivery_limit"
