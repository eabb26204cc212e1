"""Fixtures for the dashboard-api tests: a private database on the local stack, demo data in it,
and the Litestar app running in-process (lifespan included) behind an async test client."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
from litestar.testing import AsyncTestClient

from plinth.adapters.kafka import ensure_topics
from plinth.adapters.mongo import Database
from plinth.adapters.s3 import BlobStore
from plinth_dashboard_api.app import create_app
from plinth_dashboard_api.demo import DemoJobs, seed_demo, seed_webhook_events, seed_workers
from plinth_dashboard_api.settings import DashboardSettings
from plinth_testkit.kafka import TopicTail

OPERATOR_KEY = "test-operator-key"
VIEWER_KEY = "test-viewer-key"
OPERATOR = {"X-API-Key": OPERATOR_KEY}
VIEWER = {"X-API-Key": VIEWER_KEY}


@pytest.fixture(scope="session")
def run_id() -> str:
    return uuid.uuid4().hex[:8]


@pytest.fixture(scope="session")
def dashboard_settings(test_namespace: Any) -> DashboardSettings:
    """The session's test names (root conftest), removed from the stack at the session's end."""
    return DashboardSettings(
        mongo_db=test_namespace.database("dashboard"),
        s3_bucket=test_namespace.bucket,
        kafka_consumer_group_prefix=test_namespace.group_prefix("dashboard"),
        dashboard_api_keys={OPERATOR_KEY: "tester:operator", VIEWER_KEY: "viewer"},  # type: ignore[dict-item]
        dashboard_trace_url_template="https://traces.example/t/{trace_id}",
        retention_interval_s=0,  # test_retention.py and test_sweeper.py run their passes
        sweeper_interval_s=0,
    )


@pytest.fixture
async def scratch_db(
    dashboard_settings: DashboardSettings, test_namespace: Any
) -> AsyncIterator[Database]:
    """An empty database of its own, with Plinth's indexes, dropped after the test."""
    database = Database(dashboard_settings.mongo_uri, test_namespace.database("scratch"))
    await database.ensure_indexes()
    yield database
    await database.client.drop_database(database.db.name)
    await database.close()


@pytest.fixture(scope="session")
async def stack_db(dashboard_settings: DashboardSettings) -> AsyncIterator[Database]:
    db = Database.from_settings(dashboard_settings)
    yield db
    await db.client.drop_database(dashboard_settings.mongo_db)
    await db.close()


@pytest.fixture(scope="session")
async def seeded(
    dashboard_settings: DashboardSettings, stack_db: Database, run_id: str
) -> DemoJobs:
    await ensure_topics(dashboard_settings)
    async with BlobStore.from_settings(dashboard_settings) as blobs:
        await blobs.ensure_bucket()
        demo = await seed_demo(stack_db, blobs, prefix=f"T{run_id}")
    await seed_workers(stack_db)
    await seed_webhook_events(stack_db, demo)
    return demo


@pytest.fixture(scope="session")
async def client(
    dashboard_settings: DashboardSettings, seeded: DemoJobs
) -> AsyncIterator[AsyncTestClient]:  # type: ignore[type-arg]
    async with AsyncTestClient(app=create_app(dashboard_settings)) as test_client:
        yield test_client


@pytest.fixture
def topic_tail(dashboard_settings: DashboardSettings):  # type: ignore[no-untyped-def]
    return lambda topic: TopicTail(dashboard_settings.kafka_bootstrap, topic)


@pytest.fixture(scope="session")
def operator() -> dict[str, str]:
    return dict(OPERATOR)


@pytest.fixture(scope="session")
def viewer() -> dict[str, str]:
    return dict(VIEWER)
