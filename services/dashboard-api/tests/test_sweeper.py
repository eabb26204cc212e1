"""The stuck-job sweeper on the local stack's store, with a recording publisher and a given
backlog per stage."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest
from pydantic import BaseModel

from plinth.adapters.mongo import Database
from plinth.domain.job import Job, utcnow
from plinth.domain.states import JobStatus, Stage
from plinth.messaging.events import IngestRequested, JobEvent
from plinth.messaging.topics import INGEST_REQUESTED, JOB_BG_REMOVED, JOB_COMPOSITED
from plinth_dashboard_api.sweeper import NOTE, sweep

pytestmark = [pytest.mark.stack, pytest.mark.asyncio(loop_scope="session")]

NOW = utcnow()
SHA = "a" * 64


@dataclass
class Lag:
    lag: int


class Recorder:
    def __init__(self) -> None:
        self.sent: list[tuple[str, BaseModel, str | None]] = []

    async def publish(self, topic: str, event: BaseModel, *, key: str | None = None) -> None:
        self.sent.append((topic, event, key))


async def _store(db: Database, status: JobStatus, minutes_ago: float, **fields: Any) -> Job:
    at = NOW - timedelta(minutes=minutes_ago)
    job = Job(sku=f"SW-{status.value}-{minutes_ago}", theme="studio",
              image_url="https://cdn.example/p.jpg", status=status, created_at=at,
              updated_at=at, **fields)
    await db.jobs_collection.insert_one(job.to_document())
    return job


async def test_stuck_jobs_go_back_to_their_stage_once(scratch_db: Database) -> None:
    db = scratch_db
    waiting_download = await _store(db, JobStatus.NEW, 60)
    segmented = await _store(db, JobStatus.BG_REMOVED, 60, img_sha256=SHA,
                             s3_original_key="o", s3_cutout_key="c", s3_mask_key="m")
    derived = await _store(db, JobStatus.DERIVATIVES, 45, img_sha256=SHA,
                           s3_derivative_keys=["k"])
    queued = await _store(db, JobStatus.BACKGROUND_READY, 60, img_sha256=SHA,
                          s3_background_keys=["k"])
    await _store(db, JobStatus.BG_REMOVED, 2, img_sha256=SHA)  # recent: moving along
    await _store(db, JobStatus.DONE, 600)  # finished: never swept

    async def lag() -> dict[Stage, list[Lag]]:
        return {Stage.DERIVE: [Lag(0)], Stage.COMPOSITE: [Lag(3)], Stage.SEGMENT: [Lag(0)]}

    async def derive_busy() -> dict[Stage, list[Lag]]:
        return {Stage.DERIVE: [Lag(7)]}

    dry = await sweep(db, None, derive_busy, stuck_after_s=900, now=NOW)
    assert sorted(dry.redriven) == sorted([waiting_download.id, segmented.id, queued.id])
    assert dry.skipped_busy == 1  # the derived job waits behind derive's backlog

    sent = Recorder()
    report = await sweep(db, sent, lag, stuck_after_s=900, now=NOW)
    assert report.as_dict() == {"redriven": 3, "skipped_busy": 1}  # composite has a backlog
    by_topic = {topic: (event, key) for topic, event, key in sent.sent}
    download, _ = by_topic[INGEST_REQUESTED]
    assert isinstance(download, IngestRequested) and download.job_ids == [waiting_download.id]
    background, key = by_topic[JOB_BG_REMOVED]
    assert isinstance(background, JobEvent) and key == segmented.id
    manifest, _ = by_topic[JOB_COMPOSITED]  # derive runs the manifest step too
    assert isinstance(manifest, JobEvent) and manifest.job_id == derived.id
    assert manifest.status is JobStatus.DERIVATIVES
    assert queued.id not in {key for _, _, key in sent.sent}

    stored = Job.from_document(await db.jobs_collection.find_one({"_id": segmented.id}) or {})
    assert stored.status is JobStatus.BG_REMOVED and stored.updated_at >= NOW - timedelta(seconds=1)
    assert stored.history[-1].note == NOTE

    again = await sweep(db, Recorder(), lag, stuck_after_s=900, now=NOW)
    assert again.redriven == []  # touched: not stuck again before another 15 minutes
