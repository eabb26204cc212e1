"""Stuck jobs: a live job that has not moved for a while, while its stage has nothing queued, is
handed to that stage again through the normal topics.

A job can be left behind when its event was lost between the job update and the publish in a
way the runtime could not repair (a record deleted by retention, a topic recreated, a bug), or
when a retry gave up publishing. The sweeper finds live jobs whose ``updated_at`` is older than
``stuck_after_s`` through the ``updated`` index, skips the stages whose consumer group still has
a backlog (their jobs are queued, not stuck; a paused stage has one too), and for each of the
rest publishes the event its stage consumes: an ``IngestRequested`` for a job still waiting for
its download, else the ``JobEvent`` of its state. Re-driving is idempotent: a worker skips a job
that is already past its stage. Before publishing, the job is touched with a conditional update
(its status and ``updated_at`` unchanged) that also appends a history entry, so two sweepers
never re-drive one job twice and the job page shows the step.

    uv run python -m plinth_dashboard_api.sweeper --dry-run    # list what would be re-driven
"""

from __future__ import annotations

import argparse
import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol

from pydantic import BaseModel

from plinth.adapters.mongo import Database
from plinth.domain.job import Job, Transition, utcnow
from plinth.domain.states import LEGACY_EQUIVALENT, PIPELINE, STAGE_FROM, TERMINAL, JobStatus, Stage
from plinth.domain.states import canonical as canonical_status
from plinth.messaging.events import Event, JobEvent
from plinth.messaging.resume import download_request
from plinth.messaging.topics import STAGE_INPUT
from plinth.metrics import stuck_jobs_redriven
from plinth_dashboard_api.periodic import every

log = logging.getLogger("plinth.dashboard.sweeper")

LIVE: list[str] = [s.value for s in (*PIPELINE, *LEGACY_EQUIVALENT) if s not in TERMINAL]
NOTE = "re-driven by the stuck-job sweeper"


class Publisher(Protocol):
    async def publish(self, topic: str, event: BaseModel, *, key: str | None = None) -> None: ...


LagByStage = Callable[[], Awaitable[Mapping[Stage, Sequence[Any]]]]
"""Stage -> its consumer groups' lag records (objects with a ``lag`` attribute)."""


@dataclass
class SweepReport:
    redriven: list[str] = field(default_factory=list)
    skipped_busy: int = 0
    """stuck-looking jobs left alone because their stage has a backlog"""

    def as_dict(self) -> dict[str, Any]:
        return {"redriven": len(self.redriven), "skipped_busy": self.skipped_busy}


def next_message(job: Job) -> tuple[Stage, str, Event]:
    """The stage that takes ``job`` on, its input topic and the event to put there."""
    status = canonical_status(job.status)
    if status is JobStatus.NEW and not job.s3_original_key:
        return Stage.DOWNLOAD, STAGE_INPUT[Stage.DOWNLOAD], download_request(job, why="sweep")
    stage = STAGE_FROM[status]
    consumer = Stage.DERIVE if stage is Stage.MANIFEST else stage  # derive runs both steps
    return consumer, STAGE_INPUT[consumer], JobEvent(
        job_id=job.id, sku=job.sku, theme=job.theme, img_sha256=job.img_sha256, status=status
    )


async def sweep(
    db: Database,
    publisher: Publisher | None,
    lag_by_stage: LagByStage,
    *,
    stuck_after_s: float,
    now: datetime | None = None,
    limit: int = 200,
) -> SweepReport:
    """One pass; ``publisher=None`` is a dry run (the report lists what would be re-driven)."""
    now = now or utcnow()
    backlog = {stage: sum(group.lag for group in groups)
               for stage, groups in (await lag_by_stage()).items()}
    report = SweepReport()
    cursor = (
        db.jobs_collection.find({"status": {"$in": LIVE},
                                 "updated_at": {"$lt": now - timedelta(seconds=stuck_after_s)}})
        .sort("updated_at", 1)
        .limit(limit)
    )
    async for doc in cursor:
        job = Job.from_document(doc)
        stage, topic, event = next_message(job)
        if backlog.get(stage, 0) > 0:
            report.skipped_busy += 1
            continue
        if publisher is None:
            report.redriven.append(job.id)
            continue
        entry = Transition(from_status=job.status, to_status=job.status, at=now, note=NOTE)
        touched = await db.jobs_collection.update_one(
            {"_id": job.id, "status": job.status.value, "updated_at": doc["updated_at"]},
            {"$set": {"updated_at": now},
             "$push": {"history": entry.model_dump(mode="python")}},
        )
        if touched.matched_count != 1:
            continue  # it moved, or another sweeper took it
        await publisher.publish(topic, event, key=job.id)
        stuck_jobs_redriven.add(1, {"stage": stage.value})
        log.warning("job %s sat in %s since %s: re-driven to %s", job.id, job.status.value,
                    doc["updated_at"].isoformat(), topic)
        report.redriven.append(job.id)
    return report


async def run_periodically(
    db: Database, publisher: Publisher, lag_by_stage: LagByStage, *,
    stuck_after_s: float, interval_s: float,
) -> None:
    """A pass every ``interval_s`` until cancelled; a failed pass (Kafka down) is retried later."""

    async def one_pass() -> dict[str, Any]:
        report = await sweep(db, publisher, lag_by_stage, stuck_after_s=stuck_after_s)
        return report.as_dict()

    await every(interval_s, "stuck-job sweep", one_pass, log)


async def _main(dry_run: bool) -> None:
    from plinth_dashboard_api.kafka_lag import KafkaInspector
    from plinth_dashboard_api.publisher import EventPublisher
    from plinth_dashboard_api.settings import get_dashboard_settings

    settings = get_dashboard_settings()
    db = Database.from_settings(settings)
    kafka = KafkaInspector(settings)
    publisher = None if dry_run else EventPublisher(settings)
    try:
        report = await sweep(db, publisher, kafka.lag_by_stage,
                             stuck_after_s=settings.sweeper_stuck_after_s)
    finally:
        if publisher is not None:
            await publisher.close()
        await kafka.close()
        await db.close()
    verb = "would re-drive" if dry_run else "re-drove"
    print(f"{verb} {len(report.redriven)} jobs ({report.skipped_busy} left alone: their stage "
          f"has a backlog)")
    for job_id in report.redriven:
        print(f"  {job_id}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="One stuck-job sweep over the document store.")
    parser.add_argument("--dry-run", action="store_true", help="list only, publish nothing")
    asyncio.run(_main(parser.parse_args().dry_run))
