"""The runtime in-process against the real local stack: a transient failure goes round the real
retry topic (same consumer group, backoff honoured) and an undecodable record reaches the real
dead-letter topic."""

from __future__ import annotations

import asyncio
import time

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from plinth.adapters.kafka import ensure_topics
from plinth.adapters.mongo import Database
from plinth.adapters.s3 import BlobStore
from plinth.domain.job import Job
from plinth.domain.states import JobStatus, Stage
from plinth.imaging.errors import ProviderError
from plinth.messaging.events import DeadLetter, JobEvent
from plinth.messaging.topics import DEAD_LETTER, JOB_NEW
from plinth.worker import StageContext, StageResult, Step
from plinth.worker.groups import pipeline_groups, start_groups_at_end
from plinth.worker.service import serve_stage
from plinth.worker.settings import WorkerSettings
from plinth_testkit.kafka import publish_once
from plinth_testkit.waiting import until

pytestmark = [pytest.mark.stack, pytest.mark.asyncio(loop_scope="session"),
              pytest.mark.timeout(120)]


async def test_retry_topic_backoff_and_dead_letter_through_kafka(
    stack_settings: WorkerSettings, database: Database, blobs: BlobStore, unique: str
) -> None:
    settings = WorkerSettings(
        mongo_db=stack_settings.mongo_db, s3_bucket=stack_settings.s3_bucket,
        kafka_consumer_group_prefix=f"{stack_settings.kafka_consumer_group_prefix}-rt-{unique}",
        worker_control_scope=unique, instance_id=f"rt-{unique}",
        retry_base_delay_s=1.0, max_attempts=3)
    sha = unique.ljust(64, "0")
    calls: list[float] = []

    async def flaky(job: Job, ctx: StageContext) -> StageResult:
        calls.append(time.monotonic())
        if len(calls) == 1:
            raise ProviderError("503 from the provider")
        cutout = f"cutouts/{job.sku}/{sha}.png"
        return StageResult(changes={"s3_cutout_key": cutout, "s3_mask_key": cutout},
                           artefacts={cutout: b"png"})

    await ensure_topics(settings)
    # The groups of this test start at the topics' end: no replay of other runs' records, and
    # the worker keeps the production offset reset (earliest).
    groups = pipeline_groups(settings)
    await start_groups_at_end(settings, {g: t for g, t in groups.items() if g.endswith("segment")})
    stop = asyncio.Event()
    worker = asyncio.create_task(serve_stage(
        Stage.SEGMENT, [Step(Stage.SEGMENT, JobStatus.NEW, JobStatus.BG_REMOVED, flaky)],
        service_name="plinth-test-worker", settings=settings, stop=stop))
    dead_letters = AIOKafkaConsumer(bootstrap_servers=settings.kafka_bootstrap)
    producer = AIOKafkaProducer(bootstrap_servers=settings.kafka_bootstrap)
    try:
        async def ready() -> bool:
            doc = await database.workers.find_one({"_id": f"segment:rt-{unique}"})
            return bool(doc and doc.get("assignment") and len(doc["assignment"]) == 2 *
                        settings.kafka_partitions)
        await until(ready, 60, "the worker never held its partitions")

        await dead_letters.start()
        await producer.start()
        partitions = [TopicPartition(DEAD_LETTER, p)
                      for p in await producer.partitions_for(DEAD_LETTER)]
        dead_letters.assign(partitions)
        await dead_letters.seek_to_end(*partitions)

        job = Job(sku=f"RT-{unique}", theme="default", image_url="https://x/a.jpg",
                  img_sha256=sha, s3_original_key=f"originals/RT-{unique}/{sha}.jpg")
        await database.jobs.insert(job)
        await publish_once(settings, JOB_NEW, JobEvent(job_id=job.id, sku=job.sku, theme=job.theme,
                                                       img_sha256=sha, status=JobStatus.NEW),
                           key=job.id)
        await producer.send_and_wait(JOB_NEW, f"garbage {unique}".encode(), key=unique.encode())

        async def moved() -> Job | None:
            stored = await database.jobs.get(job.id)
            return stored if stored and stored.status is not JobStatus.NEW else None
        stored = await until(moved, 60, "the job never left NEW")
        assert stored.status is JobStatus.BG_REMOVED
        assert stored.attempts == {"segment": 1}
        assert len(calls) == 2 and calls[1] - calls[0] >= 0.9, "retried after the backoff"
        assert await blobs.get(f"cutouts/RT-{unique}/{sha}.png") == b"png"

        async def letter() -> DeadLetter | None:
            batch = await dead_letters.getmany(timeout_ms=500)
            for records in batch.values():
                for record in records:
                    found = DeadLetter.model_validate_json(record.value)
                    if unique in found.payload:
                        return found
            return None
        found = await until(letter, 30, "no dead letter for the garbage record")
        assert found.source_topic == JOB_NEW and "not JSON" in found.reason
    finally:
        stop.set()
        await asyncio.wait_for(worker, 30)
        await dead_letters.stop()
        await producer.stop()
