"""The worker's heartbeat document in the ``workers`` collection (read by the dashboard)."""

from __future__ import annotations

import asyncio
import logging
import os
import socket
from collections.abc import Callable
from datetime import datetime
from typing import Any, Protocol

from plinth.domain.job import utcnow
from plinth.domain.states import Stage
from plinth.worker.control import PauseGate
from plinth.worker.runtime import WorkerStats

log = logging.getLogger(__name__)

HEARTBEAT_INTERVAL_S = 3.0


class WorkersCollection(Protocol):
    async def update_one(
        self, filter: dict[str, Any], update: dict[str, Any], upsert: bool = False
    ) -> Any: ...


class Beating(Protocol):
    """Anything that reports a heartbeat: every stage worker, and ingest's downloader."""

    stage: Stage
    instance: str
    stats: WorkerStats
    gate: PauseGate


def default_instance_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def heartbeat_document(worker: Beating, started_at: datetime) -> dict[str, Any]:
    stats = worker.stats
    return {
        "stage": worker.stage.value,
        "instance": worker.instance,
        "host": socket.gethostname(),
        "pid": os.getpid(),
        "in_flight": stats.in_flight,
        "processed": stats.processed,
        "failed": stats.failed,
        "retried": stats.retried,
        "skipped": stats.skipped,
        "dead_lettered": stats.dead_lettered,
        "last_error": stats.last_error,
        "paused": worker.gate.paused,
        "started_at": started_at,
        "last_seen": utcnow(),
    }


def worker_doc_id(stage: Stage, instance: str) -> str:
    return f"{stage.value}:{instance}"


async def write_heartbeat(
    collection: WorkersCollection,
    worker: Beating,
    started_at: datetime,
    extra: dict[str, Any] | None = None,
) -> None:
    await collection.update_one(
        {"_id": worker_doc_id(worker.stage, worker.instance)},
        {"$set": {**heartbeat_document(worker, started_at), **(extra or {})}},
        upsert=True,
    )


async def heartbeat_loop(
    collection: WorkersCollection,
    worker: Beating,
    started_at: datetime,
    extra: Callable[[], dict[str, Any]] | None = None,
    interval_s: float = HEARTBEAT_INTERVAL_S,
) -> None:
    """Beat until cancelled; a MongoDB hiccup is logged, never fatal to the worker.

    ``extra`` adds fields known only to the Kafka binding (the partitions held right now)."""
    while True:
        try:
            await write_heartbeat(collection, worker, started_at, extra() if extra else None)
        except Exception as exc:
            log.warning("heartbeat failed: %s", exc)
        await asyncio.sleep(interval_s)
