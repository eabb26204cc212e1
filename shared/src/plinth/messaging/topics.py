"""Kafka topics: one per stage transition, plus per-stage retry topics, a dead-letter topic and
the processor control topic.

Names carry a version suffix so that an incompatible event change ships on a new topic while old
consumers drain the old one. Every job event is keyed by job id, so one job's events stay ordered
on one partition and a consumer group shares jobs, never splits one.
"""

from __future__ import annotations

from typing import Final

from plinth.domain.states import Stage

INGEST_REQUESTED: Final = "plinth.ingest.requested.v1"
"""webhook/batch accepted a delivery -> ingest's downloader fetches the image"""
JOB_NEW: Final = "plinth.job.new.v1"
"""original stored, job NEW -> segment"""
JOB_BG_REMOVED: Final = "plinth.job.bg-removed.v1"
"""cutout and mask stored -> background"""
JOB_BACKGROUND_READY: Final = "plinth.job.background-ready.v1"
"""backgrounds stored -> composite"""
JOB_COMPOSITED: Final = "plinth.job.composited.v1"
"""composites stored -> derive (derivatives, then manifest)"""
JOB_SHOPIFY_PUSH: Final = "plinth.job.shopify-push.v1"
"""manifest stored -> publish (from derive; or from dashboard-api when a reviewer approves a held
job)"""
JOB_IN_REVIEW: Final = "plinth.job.in-review.v1"
"""manifest stored but the cut-out is held for a person (IN_REVIEW): no stage consumes it; for
anyone who wants to know (a notification, a chat message). Approval goes on through
``JOB_SHOPIFY_PUSH``."""
JOB_DONE: Final = "plinth.job.done.v1"
"""published (or skipped): the job is finished; for anyone who wants to know"""
JOB_FAILED: Final = "plinth.job.failed.v1"
"""a stage gave up on a job: for alerting"""
DEAD_LETTER: Final = "plinth.dead-letter.v1"
"""messages no consumer could decode, with the reason"""
CONTROL: Final = "plinth.control.v1"
"""pause/resume commands for stage workers"""

STAGE_INPUT: Final[dict[Stage, str]] = {
    Stage.DOWNLOAD: INGEST_REQUESTED,
    Stage.SEGMENT: JOB_NEW,
    Stage.BACKGROUND: JOB_BG_REMOVED,
    Stage.COMPOSITE: JOB_BACKGROUND_READY,
    Stage.DERIVE: JOB_COMPOSITED,
    Stage.PUBLISH: JOB_SHOPIFY_PUSH,
}
STAGE_OUTPUT: Final[dict[Stage, str]] = {
    Stage.DOWNLOAD: JOB_NEW,
    Stage.SEGMENT: JOB_BG_REMOVED,
    Stage.BACKGROUND: JOB_BACKGROUND_READY,
    Stage.COMPOSITE: JOB_COMPOSITED,
    Stage.DERIVE: JOB_SHOPIFY_PUSH,
    Stage.PUBLISH: JOB_DONE,
}


def retry_topic(stage: Stage) -> str:
    """Where a stage re-publishes a job whose attempt failed transiently, to try again later."""
    return f"plinth.retry.{stage.value}.v1"


def all_topics() -> list[str]:
    """Every topic Plinth uses; created explicitly at start-up (no broker auto-creation)."""
    topics = {
        INGEST_REQUESTED,
        JOB_NEW,
        JOB_BG_REMOVED,
        JOB_BACKGROUND_READY,
        JOB_COMPOSITED,
        JOB_SHOPIFY_PUSH,
        JOB_IN_REVIEW,
        JOB_DONE,
        JOB_FAILED,
        DEAD_LETTER,
        CONTROL,
    }
    topics.update(retry_topic(stage) for stage in STAGE_INPUT)
    return sorted(topics)
