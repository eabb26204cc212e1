"""Retention: history that does not grow without bound.

Three kinds of record only grow: webhook deliveries (one per request, accepted or not), audit
entries, and the per-job transition history inside finished jobs. A pass of :func:`prune`

* deletes ``webhook_events`` received more than ``webhook_events_days`` ago,
* deletes ``audit`` entries older than ``audit_days``,
* slims jobs that finished (DONE or FAILED) and were created more than ``job_detail_days`` ago:
  their ``history`` and ``provider_metadata`` go, ``detail_pruned_at`` says when. The job itself,
  its status, timings, costs, artefact keys and Shopify result stay.

A setting of 0 keeps that kind forever. Deletions go in batches of ``batch`` ids found through the
time indexes (``received``, ``at``, ``created``), so a pass never holds the store for long and no
filter scans a collection. Slimmed jobs are found from a watermark (the ``created_at`` the last
pass reached, kept in the ``retention`` collection), not by looking for jobs that still carry a
history (a query no index serves); so a job that finishes only after the watermark has passed
its creation (a retry months later) keeps its history. Every replica may run it: each step is
idempotent. MongoDB's TTL indexes would do the first two; FerretDB 1.24 has none, and the third
is an update, not a delete.

    uv run python -m plinth_dashboard_api.retention            # one pass with the settings
    uv run python -m plinth_dashboard_api.retention --dry-run  # counts only
"""

from __future__ import annotations

import argparse
import asyncio
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from plinth.adapters.mongo import Database, count_matching
from plinth.domain.job import utcnow
from plinth.domain.states import JobStatus
from plinth_dashboard_api.periodic import every

log = logging.getLogger("plinth.dashboard.retention")

SLIMMED_FIELDS = ("history", "provider_metadata")
FINISHED = [JobStatus.DONE.value, JobStatus.FAILED.value]
WATERMARK_ID = "jobs.detail"


@dataclass(frozen=True)
class RetentionPolicy:
    webhook_events_days: float = 30
    audit_days: float = 365
    job_detail_days: float = 90
    batch: int = 500


@dataclass
class PruneReport:
    webhook_events_deleted: int = 0
    audit_deleted: int = 0
    jobs_slimmed: int = 0

    def as_dict(self) -> dict[str, int]:
        return dict(vars(self))


async def _delete_older(
    collection: Any, time_field: str, cutoff: datetime, batch: int, dry_run: bool
) -> int:
    older = {time_field: {"$lt": cutoff}}
    if dry_run:
        return await count_matching(collection, older)
    deleted = 0
    while True:
        cursor = collection.find(older, projection={"_id": 1}).sort(time_field, 1).limit(batch)
        ids = [doc["_id"] async for doc in cursor]
        if not ids:
            return deleted
        result = await collection.delete_many({"_id": {"$in": ids}})
        deleted += result.deleted_count


async def _slim_finished_jobs(
    db: Database, cutoff: datetime, batch: int, dry_run: bool, now: datetime
) -> int:
    marks = db.db["retention"]
    mark = await marks.find_one({"_id": WATERMARK_ID})
    window: dict[str, Any] = {"$lt": cutoff}
    if mark is not None:
        window["$gt"] = mark["created_at"]  # everything up to it was slimmed by earlier passes
    if dry_run:
        return await count_matching(db.jobs_collection, {"status": {"$in": FINISHED},
                                                         "created_at": window})
    slimmed = 0
    while True:
        cursor = (
            db.jobs_collection.find({"status": {"$in": FINISHED}, "created_at": window},
                                    projection={"_id": 1, "created_at": 1})
            .sort([("created_at", 1), ("_id", 1)])
            .limit(batch)
        )
        docs = [doc async for doc in cursor]
        if not docs:
            return slimmed
        last = docs[-1]["created_at"]
        # the batch may have cut an instant in two: take all of that instant's jobs now
        same_instant = db.jobs_collection.find(
            {"status": {"$in": FINISHED}, "created_at": last}, projection={"_id": 1}
        )
        ids = {d["_id"] for d in docs} | {d["_id"] async for d in same_instant}
        await db.jobs_collection.update_many(
            {"_id": {"$in": sorted(ids)}, "status": {"$in": FINISHED}},
            {"$unset": dict.fromkeys(SLIMMED_FIELDS, ""), "$set": {"detail_pruned_at": now}},
        )
        slimmed += len(ids)
        await marks.update_one(
            {"_id": WATERMARK_ID}, {"$set": {"created_at": last, "at": now}}, upsert=True
        )
        if len(docs) < batch:
            return slimmed
        window = {"$gt": last, "$lt": cutoff}


async def prune(
    db: Database, policy: RetentionPolicy, *, now: datetime | None = None, dry_run: bool = False
) -> PruneReport:
    """One pass; with ``dry_run`` nothing changes and the report counts what would."""
    now = now or utcnow()
    report = PruneReport()
    if policy.webhook_events_days > 0:
        cutoff = now - timedelta(days=policy.webhook_events_days)
        report.webhook_events_deleted = await _delete_older(
            db.webhook_events, "received_at", cutoff, policy.batch, dry_run
        )
    if policy.audit_days > 0:
        cutoff = now - timedelta(days=policy.audit_days)
        report.audit_deleted = await _delete_older(db.audit, "at", cutoff, policy.batch, dry_run)
    if policy.job_detail_days > 0:
        cutoff = now - timedelta(days=policy.job_detail_days)
        report.jobs_slimmed = await _slim_finished_jobs(db, cutoff, policy.batch, dry_run, now)
    return report


async def run_periodically(db: Database, policy: RetentionPolicy, interval_s: float) -> None:
    """A pass every ``interval_s`` until cancelled; a failed pass is logged and retried later."""

    async def one_pass() -> dict[str, int]:
        return (await prune(db, policy)).as_dict()

    await every(interval_s, "retention pass", one_pass, log)


def policy_from_settings(settings: Any) -> RetentionPolicy:
    return RetentionPolicy(
        webhook_events_days=settings.retention_webhook_events_days,
        audit_days=settings.retention_audit_days,
        job_detail_days=settings.retention_job_detail_days,
    )


async def _main(dry_run: bool) -> None:
    from plinth_dashboard_api.settings import get_dashboard_settings

    settings = get_dashboard_settings()
    db = Database.from_settings(settings)
    try:
        report = await prune(db, policy_from_settings(settings), dry_run=dry_run)
    finally:
        await db.close()
    verb = "would remove" if dry_run else "removed"
    print(
        f"{verb}: {report.webhook_events_deleted} webhook events, {report.audit_deleted} audit "
        f"entries; {'would slim' if dry_run else 'slimmed'} {report.jobs_slimmed} finished jobs"
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="One retention pass over the document store.")
    parser.add_argument("--dry-run", action="store_true", help="count only, change nothing")
    asyncio.run(_main(parser.parse_args().dry_run))
