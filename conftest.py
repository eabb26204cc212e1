"""Fixtures shared by every test suite in the workspace.

Tests marked ``stack`` talk to the real local stack (Kafka, the MongoDB-wire server, S3) that
``deploy/local/stack up`` starts. ``make test`` starts it and sets ``PLINTH_REQUIRE_STACK=1``, so a
missing component fails the run there; run alone without a stack, those tests are skipped.
"""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import AsyncIterator
from urllib.parse import urlparse

import pytest
import pytest_asyncio

from plinth.adapters.mongo import Database
from plinth.adapters.s3 import BlobStore
from plinth.settings import Settings


def _reachable(host_port: str) -> bool:
    host, _, port = host_port.rpartition(":")
    try:
        with socket.create_connection((host or "127.0.0.1", int(port)), timeout=1):
            return True
    except OSError:
        return False


def _stack_endpoints(settings: Settings) -> dict[str, str]:
    mongo = urlparse(settings.mongo_uri)
    s3 = urlparse(settings.s3_endpoint)
    return {
        "kafka": settings.kafka_bootstrap.split(",")[0],
        "mongo": f"{mongo.hostname}:{mongo.port or 27017}",
        "s3": f"{s3.hostname}:{s3.port or 80}",
    }


@pytest.fixture(scope="session")
def stack_settings() -> Settings:
    """Settings pointing at the running local stack, with a database private to this run."""
    settings = Settings(mongo_db=f"plinth_test_{uuid.uuid4().hex[:8]}")
    down = [name for name, addr in _stack_endpoints(settings).items() if not _reachable(addr)]
    if down:
        message = f"local stack not reachable ({', '.join(down)}): run deploy/local/stack up"
        if os.environ.get("PLINTH_REQUIRE_STACK") == "1":
            pytest.fail(message)
        pytest.skip(message)
    return settings


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def database(stack_settings: Settings) -> AsyncIterator[Database]:
    db = Database.from_settings(stack_settings)
    await db.ensure_indexes()
    yield db
    await db.client.drop_database(stack_settings.mongo_db)
    await db.close()


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def blobs(stack_settings: Settings) -> AsyncIterator[BlobStore]:
    async with BlobStore.from_settings(stack_settings) as store:
        await store.ensure_bucket()
        yield store


@pytest.fixture
def unique() -> str:
    """A short random token to keep one test's names apart from another's."""
    return uuid.uuid4().hex[:10]

