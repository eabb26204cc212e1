"""The downloader's pool without Kafka: records are handed to tasks, a slow one does not hold
the others, and offsets are committed only up to the lowest record still running."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any

from faststream.kafka import KafkaBroker

from plinth.messaging.events import IngestRequested
from plinth.messaging.topics import INGEST_REQUESTED
from plinth.worker.runtime import WorkerStats
from plinth_ingest.consumer import DownloaderBinding
from plinth_ingest.settings import IngestSettings


class Consumer:
    def __init__(self) -> None:
        self.commits: list[int] = []

    async def commit(self, offsets: dict[Any, int]) -> None:
        ((_, offset),) = offsets.items()
        self.commits.append(offset)


class Worker:
    stage = "download"

    def __init__(self) -> None:
        self.stats = WorkerStats()
        self.release: dict[str, asyncio.Event] = {}
        self.done: list[str] = []

    async def handle(self, request: IngestRequested) -> None:
        gate = self.release.get(request.delivery_id)
        if gate is not None:
            await gate.wait()
        self.done.append(request.delivery_id)


def message(offset: int, delivery_id: str) -> tuple[bytes, Any]:
    request = IngestRequested(delivery_id=delivery_id, sku=f"S-{delivery_id}",
                              image_url=f"https://cdn.test/{delivery_id}.jpg",  # type: ignore[arg-type]
                              themes=["default"])  # fmt: skip
    raw = SimpleNamespace(topic=INGEST_REQUESTED, partition=0, offset=offset, key=b"k")
    return request.model_dump_json().encode(), SimpleNamespace(raw_message=raw)


def binding(worker: Worker, consumer: Consumer, concurrency: int = 8) -> DownloaderBinding:
    settings = IngestSettings(download_concurrency=concurrency)
    built = DownloaderBinding(KafkaBroker(), worker, settings)  # type: ignore[arg-type]
    built.subscriber.consumer = consumer  # type: ignore[attr-defined]
    return built


async def settle() -> None:
    for _ in range(20):
        await asyncio.sleep(0)


async def test_a_slow_record_holds_only_itself_and_the_commit_point() -> None:
    worker, consumer = Worker(), Consumer()
    pool = binding(worker, consumer)
    worker.release["slow"] = asyncio.Event()
    for offset, delivery in ((10, "slow"), (11, "a"), (12, "b")):
        await pool.on_request(*message(offset, delivery))
    await settle()
    assert worker.done == ["a", "b"]  # not behind the slow one
    assert consumer.commits == []  # 10 still runs: nothing may be committed past it
    worker.release["slow"].set()
    await settle()
    assert consumer.commits == [13]


async def test_a_full_pool_stops_intake_and_close_commits_nothing() -> None:
    worker, consumer = Worker(), Consumer()
    pool = binding(worker, consumer, concurrency=1)
    worker.release["first"] = asyncio.Event()
    await pool.on_request(*message(0, "first"))
    second = asyncio.create_task(pool.on_request(*message(1, "second")))
    await settle()
    assert not second.done()  # waits for a slot: the consumer fetches nothing more meanwhile
    await pool.close()
    await settle()
    assert second.done() and worker.done == [] and consumer.commits == []
