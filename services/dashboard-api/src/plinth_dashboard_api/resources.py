"""Everything a request handler talks to, opened once per process in the app's lifespan."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from litestar.exceptions import ServiceUnavailableException

from plinth.adapters.mongo import Database
from plinth.adapters.readiness import Readiness
from plinth.adapters.s3 import BlobStore
from plinth.adapters.themes import ThemeStore
from plinth_dashboard_api import lag_metrics, retention, sweeper
from plinth_dashboard_api.indexes import ensure_dashboard_indexes
from plinth_dashboard_api.kafka_lag import KafkaInspector
from plinth_dashboard_api.publisher import EventPublisher
from plinth_dashboard_api.settings import DashboardSettings

LAG_REFRESH_S = 15.0
"""How often the consumer-lag metric is refreshed from Kafka."""


@dataclass
class Resources:
    settings: DashboardSettings
    db: Database
    blobs: BlobStore
    publisher: EventPublisher
    kafka: KafkaInspector
    readiness: Readiness = field(init=False)
    """What ``/ready`` reports: every dependency the API reads or writes."""

    def __post_init__(self) -> None:
        self.readiness = Readiness(
            {"kafka": self.kafka.ping, "mongo": self.db.ping, "s3": self.blobs.ping}
        )


def current_resources(app: Any) -> Resources:
    """The app's resources; 503 while they are still waiting for their dependencies."""
    resources: Resources | None = app.state.get("resources")
    if resources is None:
        raise ServiceUnavailableException(
            "starting: waiting for Kafka, the document store and S3 (see /ready)"
        )
    return resources


@asynccontextmanager
async def open_resources(settings: DashboardSettings) -> AsyncIterator[Resources]:
    db = Database.from_settings(settings)
    publisher = EventPublisher(settings)
    kafka = KafkaInspector(settings)
    housekeeping: list[asyncio.Task[None]] = []
    try:
        async with BlobStore.from_settings(settings) as blobs:
            await ensure_dashboard_indexes(db)
            await ThemeStore.of(db).ensure_ready()  # the packaged themes, on the first start
            if settings.retention_interval_s > 0:
                housekeeping.append(asyncio.create_task(
                    retention.run_periodically(
                        db, retention.policy_from_settings(settings),
                        settings.retention_interval_s,
                    ),
                    name="retention",
                ))
            if settings.sweeper_interval_s > 0:
                housekeeping.append(asyncio.create_task(
                    sweeper.run_periodically(
                        db, publisher, kafka.lag_by_stage,
                        stuck_after_s=settings.sweeper_stuck_after_s,
                        interval_s=settings.sweeper_interval_s,
                    ),
                    name="stuck-job sweeper",
                ))
            housekeeping.append(asyncio.create_task(
                lag_metrics.refresh_periodically(kafka.lag_by_stage, LAG_REFRESH_S),
                name="consumer lag metric",
            ))
            yield Resources(settings, db, blobs, publisher, kafka)
    finally:
        for task in housekeeping:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await publisher.close()
        await kafka.close()
        await db.close()
