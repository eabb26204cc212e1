"""Turning a validated request into jobs and a download request, idempotently.

When the image hash is known, the jobs are created here (the unique index on
(sku, img_sha256, theme) makes a redelivery find the same jobs instead of creating new ones).
The download is always asynchronous: ``IngestRequested`` goes to the downloader via Kafka.

If Kafka refuses the event after jobs were created, the caller answers 503 and 3JMS redelivers;
on that redelivery the jobs already exist but are still NEW without an original, so the event is
published again: that is how a lost publish heals.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal, Protocol

from plinth.domain.job import Job
from plinth.domain.states import JobStatus, canonical
from plinth.messaging.events import Event, IngestRequested
from plinth.messaging.topics import INGEST_REQUESTED
from plinth_ingest.request import ImageRequest


class Publisher(Protocol):
    async def publish(self, event: Event, topic: str, key: bytes) -> None:
        """Return once the broker acknowledged the event."""
        ...


class JobStore(Protocol):
    async def create_or_get(self, job: Job) -> tuple[Job, bool]: ...

    async def get(self, job_id: str) -> Job | None: ...


@dataclass(frozen=True)
class JobRef:
    job_id: str
    theme: str
    created: bool
    status: str

    def as_dict(self) -> dict[str, object]:
        return {
            "job_id": self.job_id,
            "theme": self.theme,
            "created": self.created,
            "status": self.status,
        }


@dataclass(frozen=True)
class IntakeResult:
    delivery_id: str
    outcome: Literal["accepted", "duplicate"]
    jobs: list[JobRef]
    download_requested: bool

    @property
    def job_ids(self) -> list[str]:
        return [ref.job_id for ref in self.jobs]


class PublishFailed(Exception):
    """Kafka did not take the event; the jobs (if any) exist and a redelivery will heal it."""

    def __init__(self, message: str, jobs: list[JobRef]) -> None:
        super().__init__(message)
        self.jobs = jobs


def identity_job_id(sku: str, img_sha256: str, theme: str) -> str:
    """The job id of an identity (sku, img_sha256, theme): deterministic, so a redelivery finds
    its job with a primary-key read."""
    digest = hashlib.sha256("\x1f".join((sku, img_sha256, theme)).encode()).hexdigest()
    return digest[:32]


def needs_download(job: Job) -> bool:
    return canonical(job.status) is JobStatus.NEW and job.s3_original_key is None


class Intake:
    def __init__(self, jobs: JobStore, publisher: Publisher, *, publish_timeout_s: float) -> None:
        self.jobs = jobs
        self.publisher = publisher
        self.publish_timeout_s = publish_timeout_s

    async def take(
        self,
        request: ImageRequest,
        *,
        delivery_id: str,
        trace_id: str | None,
        theme_versions: Mapping[str, int] | None = None,
    ) -> IntakeResult:
        """The request's jobs (when the hash is known) and its download request; each new job
        records its theme's current version from ``theme_versions`` (the store's)."""
        versions = theme_versions or {}
        refs: list[JobRef] = []
        waiting: list[str] = []
        sha = request.img_sha256
        if sha is not None:
            found = await asyncio.gather(
                *(self._job_for(request, sha, theme, versions.get(theme), delivery_id, trace_id)
                  for theme in request.themes)
            )  # fmt: skip
            for theme, (job, created) in zip(request.themes, found, strict=True):
                refs.append(JobRef(job.id, theme, created, job.status.value))
                if needs_download(job):
                    waiting.append(job.id)
        duplicate = bool(refs) and not any(ref.created for ref in refs)
        # Without a hash nothing can be deduplicated yet: the downloader does it with the hash.
        publish = request.img_sha256 is None or bool(waiting)
        if publish:
            event = IngestRequested(
                delivery_id=delivery_id,
                sku=request.sku,
                image_url=request.image_url,  # pydantic validates it as an HttpUrl
                img_sha256=request.img_sha256,
                themes=list(request.themes),
                job_ids=waiting,
            )
            try:
                async with asyncio.timeout(self.publish_timeout_s):
                    # Keyed by SKU: one SKU's requests stay in order on one partition, so a
                    # redelivery is handled after (and skipped because of) the first.
                    await self.publisher.publish(event, INGEST_REQUESTED, request.sku.encode())
            except Exception as exc:
                raise PublishFailed(
                    f"could not publish to Kafka ({type(exc).__name__}: {exc})", refs
                ) from exc
        return IntakeResult(
            delivery_id=delivery_id,
            outcome="duplicate" if duplicate else "accepted",
            jobs=refs,
            download_requested=publish,
        )

    async def _job_for(
        self,
        request: ImageRequest,
        sha: str,
        theme: str,
        theme_version: int | None,
        delivery_id: str,
        trace_id: str | None,
    ) -> tuple[Job, bool]:
        # Write first: a new job is created in one (group-committed) insert, with no read
        # before it; the unique indexes (_id, derived from the identity, and the identity
        # itself) refuse a redelivery's job, which is then read by _id. Reading first cost a
        # read per theme on every delivery, and the local stack's MongoDB-wire server answers
        # any read, even by _id, with a scan of the collection (bench/webhook_load.py).
        job_id = identity_job_id(request.sku, sha, theme)
        return await self.jobs.create_or_get(
            Job(
                id=job_id,
                sku=request.sku,
                theme=theme,
                theme_version=theme_version,
                image_url=request.image_url,
                img_sha256=sha,
                delivery_id=delivery_id,
                trace_id=trace_id,
            )
        )
