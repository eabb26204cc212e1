"""Which message resumes a job that a manual retry moved out of FAILED.

A retry resumes at the stage that failed, so the message goes to that stage's input topic. A job
that failed while downloading sits in NEW like one that failed in segment; it must go back to the
downloader (an ``IngestRequested`` naming the job), not on to segment, which needs the original.
"""

from __future__ import annotations

from plinth.domain.job import Job
from plinth.domain.states import STAGE_FROM, Stage
from plinth.messaging.events import Event, IngestRequested, JobEvent
from plinth.messaging.topics import INGEST_REQUESTED, STAGE_INPUT


def download_request(job: Job, *, why: str) -> IngestRequested:
    """The downloader's input that (re)fetches ``job``'s photo; ``why`` names the delivery when
    the job has none of its own (``retry``, ``sweep``)."""
    return IngestRequested(
        delivery_id=job.delivery_id or f"{why}-{job.id}",
        sku=job.sku,
        image_url=job.image_url,  # type: ignore[arg-type,unused-ignore]  # pydantic coerces
        img_sha256=job.img_sha256,
        themes=[job.theme],
        job_ids=[job.id],
    )


def resume_message(failed: Job, resumed: Job) -> tuple[str, Event]:
    """The topic and event that hand ``resumed`` (``retry(failed)``) to the stage that failed."""
    if failed.failed_stage is Stage.DOWNLOAD:
        return INGEST_REQUESTED, download_request(resumed, why="retry")
    stage = STAGE_FROM[resumed.status]
    return STAGE_INPUT[stage], JobEvent(
        job_id=resumed.id,
        sku=resumed.sku,
        theme=resumed.theme,
        img_sha256=resumed.img_sha256,
        status=resumed.status,
    )
