"""The downloader's pool without Kafka (the runtime's ``KafkaStageBinding`` with
``concurrency`` = ``PLINTH_DOWNLOAD_CONCURRENCY``): records are handed to tasks, a slow one does
not hold the others, and offsets are committed only up to the lowest record still running."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any

from faststream.kafka import KafkaBroker

from plinth.domain.states import Stage
from plinth.messaging.events import IngestRequested
from plinth.messaging.topics import INGEST_REQUESTED
from plinth.worker.control import PauseGate
from plinth.worker.runtime import Record, WorkerStats
from plinth.worker.service import KafkaStageBinding
from plinth_ingest.settings import IngestSettings


class Consumer:
    def __init__(self) -> None:
        self.commits: list[int] = []

    async def commit(self, offsets: dict[Any, int]) -> None:
        ((_, offset),) = offsets.items()
        self.commits.append(offset)


class Worker:
    stage = Stage.DOWNLOAD
    instance = "test:1"

    def __init__(self) -> None:
        self.stats = WorkerStats()
        self.gate = PauseGate()
        self.release: dict[str, asyncio.Event] = {}
        self.done: list[str] = []

    async def handle_record(self, record: Record) -> None:
        request = IngestRequested.model_validate_json(record.value)
        gate = self.release.get(request.delivery_id)
        if gate is not None:
            await gate.wait()
        self.done.append(request.delivery_id)

    async def give_up(self, record: Record, reason: str) -> None:
        raise AssertionError(reason)


def message(offset: int, delivery_id: str) -> tuple[bytes, Any]:
    request = IngestRequested(delivery_id=delivery_id, sku=f"S-{delivery_id}",
                              image_url=f"https://cdn.test/{delivery_id}.jpg",  # type: ignore[arg-type]
                              themes=["default"])  # fmt: skip
    raw = SimpleNamespace(topic=INGEST_REQUESTED, partition=0, offset=offset, key=b"k")
    body = request.model_dump_json().encode()
    return body, SimpleNamespace(raw_message=raw, body=body, headers={})


def binding(worker: Worker, consumer: Consumer, concurrency: int = 8) -> KafkaStageBinding:
    settings = IngestSettings(download_concurrency=concurrency)
    built = KafkaStageBinding(KafkaBroker(), worker, settings,
                              concurrency=settings.download_concurrency)  # fmt: skip
    for subscriber in built.job_subscribers:
        subscriber.consumer = consumer  # type: ignore[attr-defined]
    return built


async def settle() -> None:
    for _ in range(20):
        await asyncio.sleep(0)


async def test_a_slow_record_holds_only_itself_and_the_commit_point() -> None:
    worker, consumer = Worker(), Consumer()
    pool = binding(worker, consumer)
    worker.release["slow"] = asyncio.Event()
    for offset, delivery in ((10, "slow"), (11, "a"), (12, "b")):
        await pool.on_job_message(*message(offset, delivery))  # type: ignore[arg-type]
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
    await pool.on_job_message(*message(0, "first"))  # type: ignore[arg-type]
    second = asyncio.create_task(pool.on_job_message(*message(1, "second")))  # type: ignore[arg-type]
    await settle()
    assert not second.done()  # waits for a slot: the consumer fetches nothing more meanwhile
    await pool.close()
    await settle()
    assert second.done() and worker.done == [] and consumer.commits == []
