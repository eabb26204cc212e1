"""The publish step with the real MongoDB-wire server and S3 of the local stack (no Kafka: the
record is handed to the worker directly, so this test never touches the shared topics)."""

from __future__ import annotations

import functools
from collections.abc import Iterator

import pytest

from plinth.adapters.mongo import Database
from plinth.adapters.s3 import BlobStore
from plinth.domain.states import JobStatus, Stage
from plinth.messaging.events import Event
from plinth.worker import StageWorker, Step
from plinth.worker.settings import WorkerSettings
from plinth_publish.handler import ShopifyClients, hero_key, publish
from plinth_publish.settings import PublishWorkerSettings
from plinth_testkit.fakes.shopify import FakeShopify

from .test_publish_handler import jpeg, pushed_job, record_for

pytestmark = [pytest.mark.stack, pytest.mark.asyncio(loop_scope="session")]


class NoEvents:
    def __init__(self) -> None:
        self.sent: list[tuple[str, Event]] = []

    async def publish(self, event: Event, topic: str, key: bytes) -> None:
        self.sent.append((topic, event))


@pytest.fixture
def fake() -> Iterator[FakeShopify]:
    with FakeShopify() as server:
        yield server


async def test_job_in_mongo_and_hero_in_s3_is_published_and_done(
    stack_settings: WorkerSettings,
    database: Database,
    blobs: BlobStore,
    fake: FakeShopify,
    unique: str,
) -> None:
    sku = f"MUG-{unique}"
    fake.add_product("Stack Mug", [sku])
    settings = PublishWorkerSettings(**{**stack_settings.model_dump(), **fake.client_settings()})
    job = pushed_job(sku=sku)
    await database.jobs.insert(job)
    await blobs.put(hero_key(job), jpeg(), content_type="image/jpeg")
    clients = ShopifyClients(media_poll_interval_s=0.05)
    step = Step(
        Stage.PUBLISH,
        JobStatus.SHOPIFY_PUSH,
        JobStatus.DONE,
        functools.partial(publish, clients=clients),
    )
    worker = StageWorker(
        stage=Stage.PUBLISH,
        steps=[step],
        settings=settings,
        jobs=database.jobs,
        blobs=blobs,
        publisher=NoEvents(),
        instance="stack-test",
    )
    try:
        await worker.handle_record(record_for(job))
        await worker.handle_record(record_for(job))  # a redelivery: nothing happens twice
    finally:
        await clients.aclose()

    stored = await database.jobs.get(job.id)
    assert stored is not None and stored.status is JobStatus.DONE, stored and stored.error_message
    assert stored.shopify is not None and stored.shopify.status == "published"
    assert stored.shopify.media_ids == [m.id for m in fake.media_for(sku, job.theme)]
    assert stored.timings.publish_ms is not None
    assert worker.stats.processed == 1 and worker.stats.skipped == 1
