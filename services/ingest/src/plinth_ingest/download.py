"""The downloader: a worker of ``plinth.worker`` whose input is the ``IngestRequested`` on
``plinth.ingest.requested.v1`` (and its retry topic ``plinth.retry.download.v1``), whose output is
the original stored and its jobs NEW announced.

Steps for one request:
1. Find the jobs it is about: those created at the webhook (``job_ids``), or none yet when the
   hash was unknown. Jobs no longer NEW are left alone (a redelivery after success).
2. Fetch the image with the SSRF-guarded :class:`plinth.net.SafeDownloader` inside a
   ``download`` span, once, within ``download_deadline_s``. A transient failure (a timeout, a
   5xx, a refused connection, an S3 hiccup while storing) re-publishes the request to
   ``plinth.retry.download.v1`` with ``attempt + 1`` and ``not_before`` from the backoff settings
   (the partition moves on meanwhile); after ``max_attempts`` the jobs FAIL ("gave up after N
   attempts: ..."). Permanent failures (``ssrf_refused``, ``too_large``, ``not_an_image``, ...)
   fail at once.
3. Check the hash (``sha256_mismatch``), store ``originals/{sku}/{sha256}.jpg`` with the bytes as
   received and their real content type, then create or amend the jobs (still NEW, through
   :func:`plinth.domain.transitions.amend`) with the original key, the hash and ``download_ms``
   from the span, and publish ``JobEvent(NEW)`` on ``plinth.job.new.v1`` keyed by job id.
A failure moves the jobs to FAILED (stage ``download``) and announces ``JobFailed``. A request
without a hash has no jobs to fail (jobs are stored only once their hash is known): its failure
is recorded on the delivery in ``webhook_events`` (``download.status = failed``) instead.

Everything is idempotent: an original already stored is not fetched again, job creation goes
through the unique index, and re-announcing a NEW job is harmless (segment skips jobs past NEW).
Decoding, dead letters, ``not_before``, pause/resume, bounded redelivery, concurrency and
heartbeats are the runtime's (``plinth.worker``), as for every stage.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Hashable
from dataclasses import dataclass
from typing import Any, Protocol

from opentelemetry.trace import Status, StatusCode, Tracer

from plinth.adapters.s3 import BlobRefused
from plinth.domain.job import Job, StepTimings, utcnow
from plinth.domain.states import JobStatus, Stage, canonical
from plinth.domain.transitions import amend, fail
from plinth.keys import InvalidKeyPart, original_key
from plinth.messaging.events import IngestRequested, JobEvent, JobFailed
from plinth.messaging.topics import JOB_FAILED, JOB_NEW
from plinth.net import Downloaded, DownloadError, DownloadTimeout, SafeDownloader
from plinth.telemetry import (
    ATTR_BYTES,
    ATTR_SKU,
    ATTR_STAGE,
    ATTR_STEP,
    current_trace_id,
    span_duration_ms,
)
from plinth.telemetry import tracer as get_tracer
from plinth.worker.backoff import not_before
from plinth.worker.runtime import REDELIVERY_LIMIT, EventPublisher, EventWorker, Record
from plinth_ingest.deliveries import DeliveryLog
from plinth_ingest.intake import identity_job_id
from plinth_ingest.settings import IngestSettings
from plinth_ingest.themes import ThemeSource

log = logging.getLogger("plinth.ingest.download")

_ANY_SHA256 = "0" * 64


class JobStore(Protocol):
    async def get(self, job_id: str) -> Job | None: ...

    async def create_or_get(self, job: Job) -> tuple[Job, bool]: ...

    async def replace_if_status(self, job: Job, expected: JobStatus) -> bool: ...


class Blobs(Protocol):
    async def put(self, key: str, data: bytes, content_type: str | None = None) -> None: ...

    async def exists(self, key: str) -> bool: ...


class Fetcher(Protocol):
    async def fetch(self, url: str) -> Downloaded: ...


@dataclass(frozen=True)
class Failure:
    code: str
    message: str


@dataclass(frozen=True)
class DownloadOutcome:
    """What happened to one request (returned for tests and logs)."""

    status: str  # "stored", "reused", "skipped", "failed", "retrying"
    job_ids: list[str]
    img_sha256: str | None = None
    failure: Failure | None = None


class Retry(Exception):
    """This attempt failed transiently: the request goes to the retry topic."""

    def __init__(self, failure: Failure) -> None:
        super().__init__(failure.message)
        self.failure = failure


class DownloadWorker(EventWorker[IngestRequested]):
    event_type = IngestRequested

    def __init__(
        self,
        *,
        settings: IngestSettings,
        jobs: JobStore,
        blobs: Blobs,
        publisher: EventPublisher,
        deliveries: DeliveryLog,
        fetcher: Fetcher,
        instance: str,
        tracer: Tracer | None = None,
        themes: ThemeSource | None = None,
    ) -> None:
        super().__init__(
            stage=Stage.DOWNLOAD, settings=settings, publisher=publisher, instance=instance
        )
        self.tracer = tracer or get_tracer("plinth.ingest")
        self.settings: IngestSettings = settings
        self.jobs = jobs
        self.blobs = blobs
        self.deliveries = deliveries
        self.fetcher = fetcher
        self.themes = themes
        """The store's themes: the version a job created here records (none without it)."""

    # ---------------------------------------------------------------- the runtime's hooks
    async def handle_event(self, event: IngestRequested, record: Record) -> None:
        await self.handle(event)

    async def set_aside(self, event: IngestRequested, reason: str) -> None:
        await self.fail_request(event, REDELIVERY_LIMIT, reason)

    def ordering_key(self, event: IngestRequested) -> Hashable:
        """Requests for the same photo of the same SKU run in order, as on the partition: the
        second finds the original stored, and a job is announced once, in one trace."""
        return (event.sku, str(event.image_url))

    def job_of(self, event: IngestRequested) -> str | None:
        return event.job_ids[0] if len(event.job_ids) == 1 else None

    # ---------------------------------------------------------------- one request
    async def handle(self, request: IngestRequested) -> DownloadOutcome:
        outcome = await self._handle(request)
        if outcome.status == "failed":
            self.stats.failed += 1
            self.stats.last_error = outcome.failure.code if outcome.failure else "failed"
        elif outcome.status == "skipped":
            self.stats.skipped += 1
        elif outcome.status == "retrying":
            self.stats.last_error = outcome.failure.code if outcome.failure else "retrying"
        else:
            self.stats.processed += 1
        return outcome

    async def fail_request(
        self, request: IngestRequested, code: str, message: str
    ) -> DownloadOutcome:
        """Fail the request's jobs that are still NEW (and record it on the delivery) without
        trying again: the runtime gave up on the record that carries it."""
        known = [job for job in await self._load(request.job_ids) if _is_new(job)]
        outcome = await self._fail(request, known, Failure(code, message))
        self.stats.failed += 1
        self.stats.last_error = code
        return outcome

    async def _handle(self, request: IngestRequested) -> DownloadOutcome:
        url = str(request.image_url)
        known = [job for job in await self._load(request.job_ids) if _is_new(job)]
        if request.job_ids and not known:
            log.info("delivery %s: jobs are past NEW already; nothing to do", request.delivery_id)
            return DownloadOutcome("skipped", list(request.job_ids))
        try:
            # Every original of this SKU has this key's shape. A request from before the webhook
            # measured SKUs in bytes can name one no key can hold: fail it, never rewind on it.
            original_key(request.sku, _ANY_SHA256)
        except InvalidKeyPart as exc:
            return await self._fail(request, known, Failure("invalid_key", str(exc)))
        # The hash to verify: the delivery's, or the one on the jobs (a retry names only job ids).
        sha = request.img_sha256 or next((j.img_sha256 for j in known if j.img_sha256), None)
        failure: Failure | None = None
        started = time.monotonic()
        with self.tracer.start_as_current_span(
            "download",
            attributes={ATTR_SKU: request.sku, ATTR_STAGE: Stage.DOWNLOAD.value,
                        ATTR_STEP: "download", "url.full": url[:512]},
        ) as span:  # fmt: skip
            try:
                reused, sha, failure = await self._fetch_and_store(request, url, sha, span)
            except Retry as retry:
                span.set_status(Status(StatusCode.ERROR, retry.failure.code))
                return await self._retry_or_fail(request, known, retry.failure)
            if failure is not None:
                span.set_status(Status(StatusCode.ERROR, failure.code))
        if failure is not None:
            return await self._fail(request, known, failure)
        assert sha is not None
        # The span's own duration (what Jaeger shows); measured here when tracing is off.
        download_ms = span_duration_ms(span)
        if download_ms is None:
            download_ms = round((time.monotonic() - started) * 1000)
        job_ids = await self._announce(request, known, sha, download_ms)
        return DownloadOutcome("reused" if reused else "stored", job_ids, img_sha256=sha)

    async def _load(self, job_ids: list[str]) -> list[Job]:
        jobs = []
        for job_id in job_ids:
            job = await self.jobs.get(job_id)
            if job is None:
                log.warning("job %s named by a download request does not exist", job_id)
            else:
                jobs.append(job)
        return jobs

    async def _fetch_and_store(
        self, request: IngestRequested, url: str, sha: str | None, span: Any
    ) -> tuple[bool, str | None, Failure | None]:
        """(reused, sha256, permanent failure); raises :class:`Retry` on a transient one."""
        try:
            if sha is not None and await self.blobs.exists(original_key(request.sku, sha)):
                span.set_attribute("plinth.reused_original", True)
                return True, sha, None
        except Exception as exc:  # an S3 hiccup: try the request again later
            raise Retry(Failure("transient_error", f"{type(exc).__name__}: {exc}")) from exc
        try:
            downloaded = await self._fetch(url)
        except DownloadError as exc:
            if exc.transient:
                raise Retry(Failure(exc.code, exc.message)) from exc
            return False, sha, Failure(exc.code, exc.message)
        span.set_attribute(ATTR_BYTES, len(downloaded.content))
        if sha is not None and downloaded.sha256 != sha:
            return False, sha, Failure(
                "sha256_mismatch",
                f"the image's sha256 is {downloaded.sha256}, the delivery said {sha}",
            )
        sha = downloaded.sha256
        try:
            await self.blobs.put(
                original_key(request.sku, sha), downloaded.content,
                content_type=downloaded.content_type,
            )  # fmt: skip
        except BlobRefused as exc:  # permanent: FAILED, not a retry
            return False, sha, Failure(exc.code, exc.message)
        except Exception as exc:  # an S3 hiccup: try the request again later
            raise Retry(Failure("transient_error", f"{type(exc).__name__}: {exc}")) from exc
        return False, sha, None

    async def _fetch(self, url: str) -> Downloaded:
        """One attempt, within one deadline: a server that trickles bytes cannot hold a download
        slot longer than ``download_deadline_s`` (``PLINTH_DOWNLOAD_TIMEOUT_S`` bounds the
        attempt's own reads)."""
        deadline_s = self.settings.download_deadline_s
        try:
            async with asyncio.timeout(deadline_s):
                return await self.fetcher.fetch(url)
        except TimeoutError:
            raise DownloadTimeout(
                f"did not finish within the {deadline_s:g}s download deadline", url=url
            ) from None

    async def _retry_or_fail(
        self, request: IngestRequested, known: list[Job], failure: Failure
    ) -> DownloadOutcome:
        """A transient failure: the request again through the retry topic after the backoff,
        unless this was its last attempt."""
        attempt = request.attempt
        if attempt >= self.settings.max_attempts:
            message = f"gave up after {attempt} attempts: {failure.message}"
            return await self._fail(request, known, Failure(failure.code, message))
        when = not_before(self.settings, attempt, utcnow())
        log.warning(
            "download for delivery %s (%s) failed (%s, attempt %d/%d); retrying after %s",
            request.delivery_id, request.image_url, failure.code, attempt,
            self.settings.max_attempts, when.isoformat(),
        )  # fmt: skip
        await self.retry_later(request, request.sku.encode(), attempt=attempt + 1, not_before=when)
        return DownloadOutcome("retrying", [j.id for j in known], failure=failure)

    async def _announce(
        self, request: IngestRequested, known: list[Job], sha: str, download_ms: int | None
    ) -> list[str]:
        key = original_key(request.sku, sha)
        trace_id = current_trace_id()
        jobs: list[Job] = []
        if request.job_ids:
            for job in known:
                stored = await self._refresh(job, key, download_ms, trace_id)
                if stored is not None:
                    jobs.append(stored)
        else:
            versions = (await self.themes.snapshot()).versions if self.themes else {}
            for theme in request.themes:
                job_id = identity_job_id(request.sku, sha, theme)
                existing = await self.jobs.get(job_id)
                if existing is not None:
                    job, created = existing, False
                else:
                    job, created = await self.jobs.create_or_get(
                        Job(
                            id=job_id,
                            sku=request.sku,
                            theme=theme,
                            theme_version=versions.get(theme),
                            image_url=str(request.image_url),
                            img_sha256=sha,
                            delivery_id=request.delivery_id,
                            s3_original_key=key,
                            trace_id=trace_id,
                            timings=StepTimings(download_ms=download_ms),
                        )
                    )
                if created:
                    jobs.append(job)
                elif _is_new(job):
                    # Created by a concurrent delivery: make sure it has its original, announce.
                    stored = await self._refresh(job, key, download_ms, trace_id)
                    if stored is not None:
                        jobs.append(stored)
            await self._quietly(
                self.deliveries.set_job_ids(request.delivery_id, [j.id for j in jobs])
            )
        for job in jobs:
            event = JobEvent(
                job_id=job.id, sku=job.sku, theme=job.theme, img_sha256=sha, status=JobStatus.NEW
            )
            await self.publisher.publish(event, JOB_NEW, job.id.encode())
        await self._quietly(
            self.deliveries.set_download(
                request.delivery_id,
                {"status": "stored", "img_sha256": sha, "original_key": key,
                 "download_ms": download_ms, "job_ids": [j.id for j in jobs]},
            )
        )  # fmt: skip
        return [job.id for job in jobs]

    async def _refresh(
        self, job: Job, key: str, download_ms: int | None, trace_id: str | None
    ) -> Job | None:
        """The NEW job with its original key and timing stored (``amend``: it stays NEW), to
        announce; None: don't.

        One job is one trace. A job announced before carries the trace it was announced in: it
        is announced again only by a redelivery of that same request (same trace, the record
        was not committed), never by a later delivery, whose trace would split the job's.
        A job announced for the first time takes the trace of the request announcing it.
        """
        if job.s3_original_key == key:
            if job.trace_id is None or trace_id is None or job.trace_id == trace_id:
                return job
            log.info("job %s was announced already (trace %s); not again", job.id, job.trace_id)
            return None
        timings = job.timings.model_copy(update={"download_ms": download_ms})
        updated = amend(
            job, s3_original_key=key, timings=timings, trace_id=trace_id or job.trace_id
        )
        if await self.jobs.replace_if_status(updated, job.status):
            return updated
        log.info("job %s moved on while downloading; not announcing it again", job.id)
        return None

    async def _fail(
        self, request: IngestRequested, known: list[Job], failure: Failure
    ) -> DownloadOutcome:
        log.warning(
            "download for delivery %s (%s) failed: %s: %s",
            request.delivery_id, request.image_url, failure.code, failure.message,
        )  # fmt: skip
        failed_ids = []
        for job in known:
            failed = fail(job, stage=Stage.DOWNLOAD, code=failure.code, message=failure.message)
            if await self.jobs.replace_if_status(failed, job.status):
                failed_ids.append(job.id)
                await self.publisher.publish(
                    JobFailed(job_id=job.id, stage=Stage.DOWNLOAD, error_code=failure.code,
                              error_message=failure.message),
                    JOB_FAILED,
                    job.id.encode(),
                )  # fmt: skip
        await self._quietly(
            self.deliveries.set_download(
                request.delivery_id,
                {"status": "failed", "code": failure.code, "message": failure.message,
                 "job_ids": failed_ids},
            )
        )  # fmt: skip
        return DownloadOutcome("failed", failed_ids, failure=failure)

    async def _quietly(self, work: Any) -> None:
        """History updates are for people; a failure there must not undo or repeat the work."""
        try:
            await work
        except Exception:
            log.exception("cannot update the delivery history")


def _is_new(job: Job) -> bool:
    return canonical(job.status) is JobStatus.NEW


def make_fetcher(settings: IngestSettings) -> SafeDownloader:
    from plinth.net import DownloadPolicy

    return SafeDownloader(DownloadPolicy.from_settings(settings))
