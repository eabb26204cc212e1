"""Fixtures shared by every test suite in the workspace.

Tests marked ``stack`` talk to the real local stack (Kafka, the MongoDB-wire server, S3) that
``deploy/local/stack up`` starts. ``make test`` starts it and sets ``PLINTH_REQUIRE_STACK=1``, so a
missing component fails the run there; run alone without a stack, those tests are skipped.

That stack is shared with ``make demo`` and with other test sessions. Everything a session creates
there is named from ``test_namespace``: databases ``test_<run>_*``, the bucket ``test-<run>``,
consumer groups ``test-<run>-*`` (the demo's are ``plinth_demo``/``plinth-demo``; a deployment's
``plinth``), and ``pytest_sessionfinish`` removes all of it when the session ends.
"""

from __future__ import annotations

import asyncio
import os
import socket
import threading
import uuid
from collections.abc import AsyncIterator, Coroutine
from dataclasses import dataclass
from typing import Any, TypeVar
from urllib.parse import urlparse

import pytest
import pytest_asyncio

from plinth.adapters.kafka import delete_consumer_groups
from plinth.adapters.mongo import Database
from plinth.adapters.s3 import BlobStore
from plinth.worker.settings import WorkerSettings

T = TypeVar("T")

def _reachable(host_port: str) -> bool:
    host, _, port = host_port.rpartition(":")
    try:
        with socket.create_connection((host or "127.0.0.1", int(port)), timeout=1):
            return True
    except OSError:
        return False


def _stack_endpoints(settings: WorkerSettings) -> dict[str, str]:
    mongo = urlparse(settings.mongo_uri)
    s3 = urlparse(settings.s3_endpoint)
    return {
        "kafka": settings.kafka_bootstrap.split(",")[0],
        "mongo": f"{mongo.hostname}:{mongo.port or 27017}",
        "s3": f"{s3.hostname}:{s3.port or 80}",
    }


@dataclass(frozen=True)
class SessionNamespace:
    """The names this test session may use on the shared stack; removed at the session's end."""

    run: str

    @property
    def database_prefix(self) -> str:
        return f"test_{self.run}"

    @property
    def group_prefix_root(self) -> str:
        return f"test-{self.run}"

    @property
    def bucket(self) -> str:
        return f"test-{self.run}"

    def database(self, label: str) -> str:
        """A database of its own for ``label`` (a suite, a fixture)."""
        return f"{self.database_prefix}_{label}_{uuid.uuid4().hex[:6]}"

    def group_prefix(self, label: str) -> str:
        """A consumer-group prefix of its own for ``label``."""
        return f"{self.group_prefix_root}-{label}-{uuid.uuid4().hex[:6]}"


NAMESPACE = SessionNamespace(uuid.uuid4().hex[:8])
_namespace_used = False


@pytest.fixture(scope="session")
def test_namespace() -> SessionNamespace:
    """Names for databases, consumer groups and the S3 bucket of this session (see above)."""
    global _namespace_used
    _namespace_used = True
    return NAMESPACE


async def remove_namespace(settings: WorkerSettings, namespace: SessionNamespace) -> str:
    """Drop the session's databases, its bucket and its consumer groups; says what it did."""
    db = Database.from_settings(settings)
    try:
        databases = [name for name in await db.client.list_database_names()
                     if name.startswith(namespace.database_prefix)]
        for name in databases:
            await db.client.drop_database(name)
    finally:
        await db.close()
    bucket = settings.model_copy(update={"s3_bucket": namespace.bucket})
    async with BlobStore.from_settings(bucket) as store:
        objects = await store.delete_bucket()
    deleted: list[str] = []
    # A member that was killed (not stopped) stays in its group until its session times out.
    for _ in range(15):
        groups = await delete_consumer_groups(settings, f"{namespace.group_prefix_root}-")
        deleted.extend(groups.deleted)
        if not groups.busy:
            break
        await asyncio.sleep(2)
    left = f"; still in use, left: {', '.join(groups.busy)}" if groups.busy else ""
    return (f"removed {len(databases)} database(s), bucket {namespace.bucket} ({objects} "
            f"objects) and {len(deleted)} consumer group(s) from the local stack{left}")


def _in_own_loop(coro: Coroutine[Any, Any, T], timeout_s: float) -> T:
    """Run ``coro`` on an event loop of its own in a thread: pytest-asyncio's is left alone."""
    outcome: list[T] = []
    failure: list[BaseException] = []

    def work() -> None:
        try:
            outcome.append(asyncio.run(asyncio.wait_for(coro, timeout_s)))
        except BaseException as err:
            failure.append(err)

    thread = threading.Thread(target=work, name="test-namespace", daemon=True)
    thread.start()
    thread.join(timeout_s + 10)
    if failure:
        raise failure[0]
    if not outcome:
        raise TimeoutError(f"gave up after {timeout_s:.0f} s")
    return outcome[0]


async def _ensure_bucket(settings: WorkerSettings) -> None:
    async with BlobStore.from_settings(settings) as store:
        await store.ensure_bucket()


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """After every fixture is torn down: remove what this session left on the stack."""
    settings = WorkerSettings()
    if not _namespace_used or not all(map(_reachable, _stack_endpoints(settings).values())):
        return
    try:
        summary = _in_own_loop(remove_namespace(settings, NAMESPACE), 90)
    except Exception as err:  # a cleanup problem is reported, it does not fail the session
        summary = f"cleanup failed: {type(err).__name__}: {err}"
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    if reporter is not None:
        reporter.write_line("")  # the progress line may be unterminated
        reporter.write_line(f"test namespace {NAMESPACE.run}: {summary}")


@pytest.fixture(scope="session")
def stack_settings(test_namespace: SessionNamespace) -> WorkerSettings:
    """WorkerSettings pointing at the running local stack, with a database, a bucket and consumer
    groups private to this run."""
    settings = WorkerSettings(
        mongo_db=test_namespace.database("shared"),
        s3_bucket=test_namespace.bucket,
        kafka_consumer_group_prefix=test_namespace.group_prefix("shared"),
    )
    down = [name for name, addr in _stack_endpoints(settings).items() if not _reachable(addr)]
    if down:
        message = f"local stack not reachable ({', '.join(down)}): run deploy/local/stack up"
        if os.environ.get("PLINTH_REQUIRE_STACK") == "1":
            pytest.fail(message)
        pytest.skip(message)
    # Services started by tests wait for their bucket: it is there before any of them starts.
    _in_own_loop(_ensure_bucket(settings), 30)
    return settings


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def database(stack_settings: WorkerSettings) -> AsyncIterator[Database]:
    db = Database.from_settings(stack_settings)
    await db.ensure_indexes()
    yield db
    await db.client.drop_database(stack_settings.mongo_db)
    await db.close()


@pytest_asyncio.fixture(loop_scope="session")
async def own_db(stack_settings: WorkerSettings, test_namespace: SessionNamespace
                 ) -> AsyncIterator[Database]:
    """An empty database of the test's own, with Plinth's indexes, dropped after the test: for
    tests that run workers or count what is stored (the shared ``database`` holds other tests'
    documents)."""
    db = Database(stack_settings.mongo_uri, test_namespace.database("own"))
    await db.ensure_indexes()
    yield db
    await db.client.drop_database(db.db.name)
    await db.close()


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def blobs(stack_settings: WorkerSettings) -> AsyncIterator[BlobStore]:
    async with BlobStore.from_settings(stack_settings) as store:
        await store.ensure_bucket()
        yield store


@pytest.fixture
def unique() -> str:
    """A short random token to keep one test's names apart from another's."""
    return uuid.uuid4().hex[:10]

