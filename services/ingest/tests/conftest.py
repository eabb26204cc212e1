"""Fixtures for the ingest tests: the Litestar app (downloader included) running in-process on
the real local stack, an image server on 127.0.0.1, and a tail on Kafka topics."""

from __future__ import annotations

import asyncio
import io
import json
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import pytest
from litestar.testing import AsyncTestClient
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from PIL import Image

from plinth.adapters.kafka import ensure_topics
from plinth.adapters.mongo import Database
from plinth.adapters.s3 import BlobStore
from plinth.domain.job import Job
from plinth.worker.groups import pipeline_groups, start_groups_at_end
from plinth.worker.settings import WorkerSettings
from plinth_ingest.app import WEBHOOK_PATH, create_app
from plinth_ingest.runtime import IngestRuntime
from plinth_ingest.settings import IngestSettings
from plinth_ingest.signature import signed_headers
from plinth_testkit.http_server import LocalHttpServer
from plinth_testkit.kafka import TopicTail

SECRET = "test-webhook-secret"
MAX_BYTES = 300_000


def jpeg(colour: tuple[int, int, int], size: tuple[int, int] = (120, 90)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, colour).save(buffer, format="JPEG")
    return buffer.getvalue()


@pytest.fixture(scope="session")
def images() -> Iterator[LocalHttpServer]:
    with LocalHttpServer() as server:
        yield server


@pytest.fixture(scope="session")
def ingest_settings(stack_settings: WorkerSettings, test_namespace: Any) -> IngestSettings:
    overrides: dict[str, Any] = {
        "mongo_db": test_namespace.database("ingest"),
        "webhook_secret": SECRET,
        "webhook_dev_bypass": False,
        "download_allow_hosts": ["127.0.0.1"],
        "download_max_bytes": MAX_BYTES,
        "download_timeout_s": 5.0,
        "max_attempts": 2,
        "retry_base_delay_s": 0.05,
        "retry_max_delay_s": 0.2,
        # A group of our own whose offsets are committed at the topics' ends before it starts
        # (client fixture): other runs' requests aren't ours, and unlike an offset reset to
        # "latest" (resolved when a consumer first fetches, again after each rebalance) nothing
        # published after that point can be skipped.
        "kafka_consumer_group_prefix": test_namespace.group_prefix("ingest"),
        "ingest_offset_reset": "earliest",
        "max_deliveries": 3,
    }
    return IngestSettings(**{**stack_settings.model_dump(), **overrides})


@pytest.fixture(scope="session")
def spans() -> InMemorySpanExporter:
    """Finished spans of the app under test (its own provider: the global one is left alone)."""
    return InMemorySpanExporter()


@pytest.fixture(scope="session")
async def client(
    ingest_settings: IngestSettings, spans: InMemorySpanExporter
) -> AsyncIterator[AsyncTestClient]:  # type: ignore[type-arg]
    async with BlobStore.from_settings(ingest_settings) as blobs:
        await blobs.ensure_bucket()
    await ensure_topics(ingest_settings)
    await start_groups_at_end(ingest_settings, {
        group: topics for group, topics in pipeline_groups(ingest_settings).items()
        if group.endswith("-ingest")
    })
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(spans))
    app = create_app(ingest_settings, tracer_provider=provider)
    async with AsyncTestClient(app=app) as test_client:
        runtime: IngestRuntime = app.state.ingest
        assert runtime.binding is not None
        # Wait until the downloader holds its partitions (request and retry topic), so that the
        # tests' timings do not include the group's joining.
        for _ in range(200):
            if runtime.binding.holds_every_topic():
                break
            await asyncio.sleep(0.1)
        else:
            raise AssertionError("the downloader never got its partitions")
        yield test_client


@pytest.fixture(scope="session")
def runtime(client: AsyncTestClient) -> IngestRuntime:  # type: ignore[type-arg]
    """The app's objects. They live on the app's event loop: use ``db`` to query MongoDB."""
    value: IngestRuntime = client.app.state.ingest
    return value


@pytest.fixture(scope="session")
async def db(ingest_settings: IngestSettings) -> AsyncIterator[Database]:
    """The test's own client on the app's database (the app's client is bound to its loop)."""
    database = Database.from_settings(ingest_settings)
    yield database
    await database.client.drop_database(ingest_settings.mongo_db)
    await database.close()


@pytest.fixture(scope="session")
async def blob_store(ingest_settings: IngestSettings) -> AsyncIterator[BlobStore]:
    async with BlobStore.from_settings(ingest_settings) as store:
        yield store


Post = Callable[..., Any]


@pytest.fixture
def post_webhook(client: AsyncTestClient) -> Post:  # type: ignore[type-arg]
    async def post(payload: Any, *, secret: str = SECRET, timestamp: int | None = None) -> Any:
        body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        headers = {"content-type": "application/json", **signed_headers(secret, body, timestamp)}
        return await client.post(WEBHOOK_PATH, content=body, headers=headers)

    return post


async def wait_for_jobs(
    db: Database,
    query: dict[str, Any],
    done: Callable[[list[Job]], bool],
    timeout_s: float = 45.0,
) -> list[Job]:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    jobs: list[Job] = []
    while loop.time() < deadline:
        jobs = [Job.from_document(d) async for d in db.jobs_collection.find(query)]
        if done(jobs):
            return jobs
        await asyncio.sleep(0.1)
    raise AssertionError(f"jobs matching {query} never got there: {[j.status for j in jobs]}")


async def wait_for_delivery(
    db: Database, delivery_id: str, field: str, timeout_s: float = 45.0
) -> dict[str, Any]:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while loop.time() < deadline:
        doc = await db.webhook_events.find_one({"_id": delivery_id})
        if doc is not None and doc.get(field) is not None:
            return doc
        await asyncio.sleep(0.1)
    raise AssertionError(f"delivery {delivery_id} has no {field!r}")


@pytest.fixture
def tail(ingest_settings: IngestSettings) -> Callable[[str], TopicTail]:
    return lambda topic: TopicTail(ingest_settings.kafka_bootstrap, topic)


@pytest.fixture
def wait_jobs(db: Database) -> Callable[..., Any]:
    return lambda query, done, timeout_s=45.0: wait_for_jobs(db, query, done, timeout_s)


@pytest.fixture
def wait_delivery(db: Database) -> Callable[..., Any]:
    return lambda delivery_id, field, timeout_s=45.0: wait_for_delivery(
        db, delivery_id, field, timeout_s
    )


@pytest.fixture
def make_jpeg() -> Callable[..., bytes]:
    return jpeg
