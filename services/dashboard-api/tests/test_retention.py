"""Retention passes on the local stack: old deliveries and audit entries go, finished jobs
lose their history after a while, everything recent or unfinished stays."""

from __future__ import annotations

from datetime import timedelta

import pytest

from plinth.adapters.mongo import Database
from plinth.domain.job import Job, Transition, utcnow
from plinth.domain.states import JobStatus
from plinth_dashboard_api.retention import RetentionPolicy, prune

pytestmark = [pytest.mark.stack, pytest.mark.asyncio(loop_scope="session")]

NOW = utcnow()


def _job(sku: str, status: JobStatus, age_days: float) -> Job:
    created = NOW - timedelta(days=age_days)
    return Job(
        sku=sku, theme="studio", image_url="https://cdn.example/p.jpg", img_sha256="0" * 64,
        status=status, created_at=created, updated_at=created,
        history=[Transition(from_status=None, to_status=JobStatus.NEW, at=created)],
        provider_metadata={"segment": {"provider": "learned"}},
    )


async def test_a_pass_removes_what_is_old_and_keeps_the_rest(scratch_db: Database) -> None:
    db = scratch_db
    for i, age in enumerate((40, 31, 29, 1)):
        received = NOW - timedelta(days=age)
        await db.webhook_events.insert_one({"_id": f"d{i}", "received_at": received})
    for i, age in enumerate((400, 10)):
        await db.audit.insert_one({"_id": f"a{i}", "at": NOW - timedelta(days=age)})
    old_done = _job("OLD-DONE", JobStatus.DONE, 120)
    old_failed = _job("OLD-FAILED", JobStatus.FAILED, 95)
    old_running = _job("OLD-RUNNING", JobStatus.COMPOSITING, 120)
    recent_done = _job("NEW-DONE", JobStatus.DONE, 5)
    for job in (old_done, old_failed, old_running, recent_done):
        await db.jobs_collection.insert_one(job.to_document())
    policy = RetentionPolicy(webhook_events_days=30, audit_days=365, job_detail_days=90, batch=1)

    would = await prune(db, policy, now=NOW, dry_run=True)
    assert would.as_dict() == {"webhook_events_deleted": 2, "audit_deleted": 1, "jobs_slimmed": 2}
    assert await db.webhook_events.count_documents({}) == 4  # a dry run changes nothing

    done = await prune(db, policy, now=NOW)
    assert done.as_dict() == would.as_dict()
    assert sorted([d["_id"] async for d in db.webhook_events.find({})]) == ["d2", "d3"]
    assert [d["_id"] async for d in db.audit.find({})] == ["a1"]
    for job, slimmed in ((old_done, True), (old_failed, True), (old_running, False),
                         (recent_done, False)):
        doc = await db.jobs_collection.find_one({"_id": job.id})
        assert doc is not None
        assert ("history" not in doc) is slimmed, job.sku
        assert ("detail_pruned_at" in doc) is slimmed, job.sku
        assert doc["status"] == job.status.value
        assert Job.from_document(doc).history == ([] if slimmed else job.history)

    again = await prune(db, policy, now=NOW)
    assert again.as_dict() == {"webhook_events_deleted": 0, "audit_deleted": 0, "jobs_slimmed": 0}


async def test_zero_days_keeps_everything(scratch_db: Database) -> None:
    db = scratch_db
    await db.webhook_events.insert_one({"_id": "old", "received_at": NOW - timedelta(days=999)})
    await db.jobs_collection.insert_one(_job("OLD", JobStatus.DONE, 999).to_document())
    keep = RetentionPolicy(webhook_events_days=0, audit_days=0, job_detail_days=0)
    assert (await prune(db, keep, now=NOW)).as_dict() == {
        "webhook_events_deleted": 0, "audit_deleted": 0, "jobs_slimmed": 0
    }
    assert await db.webhook_events.count_documents({}) == 1
