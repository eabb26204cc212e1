"""The message-processing core of a worker, independent of how records arrive.

A worker is an input topic, a retry topic, an event type and a handler. :class:`EventWorker` is
what every one of them shares: decoding (or dead-lettering), ``not_before``, the pause gate,
ordering, re-publishing to the retry topic and setting a record aside. :class:`StageWorker` is
the handler of the job stages (a ``JobEvent`` and a list of steps); ingest's downloader is
another (an ``IngestRequested``: ``plinth_ingest.download``).

``handle_record`` takes one Kafka record and returns once the record may be committed: the work
and every event it caused are durable. If it raises, the caller must NOT commit (the record is
redelivered); that only happens when MongoDB, S3 or Kafka are unreachable while recording the
outcome itself.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import time
from collections.abc import AsyncIterator, Hashable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, ClassVar, Generic, Protocol, TypeVar

from opentelemetry import trace
from pydantic import ValidationError

from plinth import jsonlimits
from plinth import metrics as plinth_metrics
from plinth.adapters.mongo import Database
from plinth.domain.job import STAGE_TIMING_FIELD, Job, utcnow
from plinth.domain.states import TERMINAL, JobStatus, Stage, canonical
from plinth.domain.transitions import advance, count_attempt, fail
from plinth.keys import content_type_for
from plinth.messaging.events import DeadLetter, Event, IngestRequested, JobEvent, JobFailed
from plinth.messaging.topics import DEAD_LETTER, JOB_FAILED, STAGE_INPUT, STAGE_OUTPUT, retry_topic
from plinth.telemetry import (
    ATTR_BYTES,
    ATTR_INSTANCE,
    ATTR_JOB_ID,
    ATTR_SKU,
    ATTR_STAGE,
    ATTR_STEP,
    ATTR_THEME,
    current_trace_id,
    span_duration_ms,
    tracer,
)
from plinth.worker.backoff import not_before
from plinth.worker.control import PauseGate
from plinth.worker.errors import Classified, classify
from plinth.worker.logs import job_context
from plinth.worker.result import StageContext, Step
from plinth.worker.settings import WorkerSettings

log = logging.getLogger(__name__)

MAX_DEAD_LETTER_PAYLOAD = 64 * 1024
STORE_CONCURRENCY = 8
REDELIVERY_LIMIT = "redelivery_limit"
"""Error code of a job whose record was dead-lettered after too many failed deliveries."""


class JobStore(Protocol):
    async def get(self, job_id: str) -> Job | None: ...

    async def replace_if_status(self, job: Job, expected: JobStatus) -> bool: ...


class BlobStore(Protocol):
    async def get(self, key: str) -> bytes: ...

    async def presign_get(self, key: str, ttl_s: int | None = None) -> str: ...

    async def exists(self, key: str) -> bool: ...

    async def put(self, key: str, data: bytes, content_type: str | None = None) -> None: ...


class EventPublisher(Protocol):
    async def publish(self, event: Event, topic: str, key: bytes) -> None:
        """Return only once the broker acknowledged the event."""
        ...


@dataclass(frozen=True)
class Record:
    """One Kafka record, as much of it as the runtime needs."""

    topic: str
    value: bytes
    key: bytes | None = None
    partition: int | None = None
    offset: int | None = None
    headers: dict[str, Any] = field(default_factory=dict)


@dataclass
class WorkerStats:
    in_flight: int = 0
    processed: int = 0
    failed: int = 0
    retried: int = 0
    skipped: int = 0
    dead_lettered: int = 0
    last_error: str | None = None


RetryableEvent = TypeVar("RetryableEvent", JobEvent, IngestRequested)
"""The events a worker consumes: each carries ``attempt`` and ``not_before`` for its retries."""


class EventWorker(Generic[RetryableEvent]):
    """One consumer: ``stage``'s input topic and retry topic, ``event_type`` records, and
    :meth:`handle_event`. Everything else here is the same for every consumer."""

    event_type: ClassVar[type[Event]]

    def __init__(
        self, *, stage: Stage, settings: WorkerSettings, publisher: EventPublisher, instance: str
    ) -> None:
        self.stage = stage
        self.settings = settings
        self.publisher = publisher
        self.instance = instance
        self.gate = PauseGate()
        self.stats = WorkerStats()
        self.input_topic = STAGE_INPUT[stage]
        self.retry_topic = retry_topic(stage)
        self._order: dict[Hashable, tuple[asyncio.Lock, int]] = {}

    # ---------------------------------------------------------------- what a consumer defines
    async def handle_event(self, event: RetryableEvent, record: Record) -> None:
        raise NotImplementedError

    async def set_aside(self, event: RetryableEvent, reason: str) -> None:
        """The runtime gave up on the record carrying ``event`` (dead-lettered): fail its work
        so that it shows instead of sitting in its state forever."""

    def ordering_key(self, event: RetryableEvent) -> Hashable | None:
        """Events with the same key are handled one after the other even when the runtime runs
        records concurrently (``concurrency`` > 1); None: no constraint."""
        return None

    def job_of(self, event: RetryableEvent) -> str | None:
        """The job id that log lines made while handling ``event`` name."""
        return None

    # ---------------------------------------------------------------- entry point
    async def handle_record(self, record: Record) -> None:
        event = await self._decode_or_dead_letter(record)
        if event is None:
            return
        with job_context(self.job_of(event)):  # every log line made meanwhile names the job
            await self._wait_until(event.not_before)
            async with self._in_order(self.ordering_key(event)):
                await self.gate.wait_open()
                self.stats.in_flight += 1
                try:
                    await self.handle_event(event, record)
                finally:
                    self.stats.in_flight -= 1

    # ---------------------------------------------------------------- decoding
    def decode(self, value: bytes) -> RetryableEvent:
        decoded: RetryableEvent = self.event_type.model_validate_json(value)  # type: ignore[assignment]
        return decoded

    async def _decode_or_dead_letter(self, record: Record) -> RetryableEvent | None:
        reason = _undecodable_reason(record.value)
        if reason is None:
            try:
                return self.decode(record.value)
            except ValidationError as exc:
                reason = f"not a valid {self.event_type.__name__}: {_first_error(exc)}"
        await self.dead_letter(record, reason)
        return None

    async def dead_letter(self, record: Record, reason: str) -> None:
        log.warning("dead-lettering %s[%s]@%s: %s", record.topic, record.partition,
                    record.offset, reason)
        letter = DeadLetter(
            source_topic=record.topic,
            partition=record.partition,
            offset=record.offset,
            reason=reason,
            payload=record.value[:MAX_DEAD_LETTER_PAYLOAD].decode("utf-8", "replace"),
            headers={k: _header_text(v) for k, v in record.headers.items()},
        )
        await self.publisher.publish(letter, DEAD_LETTER, record.key or b"")
        self.stats.dead_lettered += 1
        self._count("dead_lettered")
        self.stats.last_error = reason

    async def give_up(self, record: Record, reason: str) -> None:
        """The record failed too often with every dependency up: dead-letter it, then fail its
        work (:meth:`set_aside`). Failing the work is best effort; the letter is not."""
        await self.dead_letter(record, reason)
        try:
            await self.set_aside(self.decode(record.value), reason)
        except Exception:
            log.exception("could not fail the work of a dead-lettered record")

    async def retry_later(
        self, event: RetryableEvent, key: bytes, *, attempt: int, not_before: datetime
    ) -> None:
        """Re-publish ``event`` to the retry topic as attempt ``attempt``, to be handled again
        after ``not_before``; the record is then committed and the partition moves on."""
        again = type(event).model_validate(
            {**event.model_dump(exclude={"event_id", "occurred_at"}), "attempt": attempt,
             "not_before": not_before})
        await self.publisher.publish(again, self.retry_topic, key)
        self.stats.retried += 1
        self._count("retried")

    async def _wait_until(self, when: datetime | None) -> None:
        """Retry events carry ``not_before``: hold them until then (bounded, in case of skew)."""
        if when is None:
            return
        delay = (when - utcnow()).total_seconds()
        if delay > 0:
            await asyncio.sleep(min(delay, self.settings.retry_max_delay_s))

    def _count(self, outcome: str) -> None:
        plinth_metrics.jobs_processed.add(1, {"stage": self.stage.value, "outcome": outcome})

    @contextlib.asynccontextmanager
    async def _in_order(self, key: Hashable | None) -> AsyncIterator[None]:
        if key is None:
            yield
            return
        lock, users = self._order.get(key, (asyncio.Lock(), 0))
        self._order[key] = (lock, users + 1)
        try:
            async with lock:
                yield
        finally:
            lock, users = self._order[key]
            if users <= 1:
                del self._order[key]
            else:
                self._order[key] = (lock, users - 1)

class StageWorker(EventWorker[JobEvent]):
    """Runs ``steps`` for every job event of ``stage``'s input and retry topics."""

    event_type = JobEvent

    def __init__(
        self,
        *,
        stage: Stage,
        steps: Sequence[Step],
        settings: WorkerSettings,
        jobs: JobStore,
        blobs: BlobStore,
        publisher: EventPublisher,
        instance: str,
        db: Database | None = None,
    ) -> None:
        if not steps:
            raise ValueError("a stage worker needs at least one step")
        for before, after in itertools.pairwise(steps):
            if before.target is not after.source:
                raise ValueError(f"steps do not chain: {before.target} then {after.source}")
        super().__init__(stage=stage, settings=settings, publisher=publisher, instance=instance)
        self.steps = tuple(steps)
        self.jobs = jobs
        self.blobs = blobs
        self.db = db
        self.output_topic = STAGE_OUTPUT[stage]

    def job_of(self, event: JobEvent) -> str | None:
        return event.job_id

    async def set_aside(self, event: JobEvent, reason: str) -> None:
        """Fail the job (if still in flight) with ``redelivery_limit``."""
        job = await self.jobs.get(event.job_id)
        if job is None or canonical(job.status) in TERMINAL:
            return
        failed = fail(job, stage=self.stage, code=REDELIVERY_LIMIT, message=reason)
        if await self.jobs.replace_if_status(failed, job.status):
            await self.publisher.publish(
                JobFailed(job_id=job.id, stage=self.stage, error_code=REDELIVERY_LIMIT,
                          error_message=reason),
                JOB_FAILED, job.id.encode())
            self.stats.failed += 1
            plinth_metrics.job_failures.add(1, {"stage": self.stage.value,
                                                "error_code": REDELIVERY_LIMIT})

    # ---------------------------------------------------------------- the job
    async def handle_event(self, event: JobEvent, record: Record) -> None:
        trace.get_current_span().set_attributes(
            {ATTR_JOB_ID: event.job_id, ATTR_STAGE: self.stage.value,
             ATTR_INSTANCE: self.instance,
             "messaging.queue_ms": _ms_since(event.occurred_at)}
        )
        job = await self.jobs.get(event.job_id)
        if job is None:
            await self.dead_letter(record, f"job {event.job_id} does not exist")
            return
        status = canonical(job.status)
        first = next((i for i, step in enumerate(self.steps) if step.source is status), None)
        if first is None:
            await self._already_handled(job)
            return
        for step in self.steps[first:]:
            try:
                moved = await self._run_step(step, job)
            except Exception as exc:
                await self._after_failure(step, job, classify(exc), exc)
                return
            if moved is None:
                self.stats.skipped += 1
                self._count("skipped")
                return
            job = moved
            if job.status is not step.target:  # the step chose one of its alternatives
                await self._emit_alternative(step, job)
                self.stats.processed += 1
                self._count("advanced")
                return
        await self._emit_next(job)
        self.stats.processed += 1
        self._count("advanced")

    async def _already_handled(self, job: Job) -> None:
        """Redelivery of an event this stage already acted on: never redo the work. If the job
        still sits in this stage's output state, the next event may have been lost between the
        update and the publish, so publish it again (the next stage is idempotent too)."""
        self.stats.skipped += 1
        self._count("skipped")
        status = canonical(job.status)
        chose = next((s for s in self.steps if status in s.alternatives), None)
        if status is self.steps[-1].target:
            log.info("job %s already %s: re-emitting the next event", job.id, job.status)
            await self._emit_next(job)
        elif chose is not None:
            log.info("job %s already %s: re-emitting its event", job.id, job.status)
            await self._emit_alternative(chose, job)
        else:
            log.info("job %s is %s: nothing for %s to do", job.id, job.status, self.stage)

    async def _run_step(self, step: Step, job: Job) -> Job | None:
        """Run one step and store its outcome; None if another worker moved the job first."""
        attributes = {
            ATTR_JOB_ID: job.id, ATTR_SKU: job.sku, ATTR_THEME: job.theme,
            ATTR_STEP: step.stage.value, ATTR_INSTANCE: self.instance,
        }
        started = time.perf_counter()
        with tracer().start_as_current_span(step.stage.value, attributes=attributes) as span:
            context = StageContext(self.settings, self.blobs, span, self.instance, self.db)
            result = await step.run(job, context)
            span.set_attributes(result.attributes)
            if ATTR_BYTES not in result.attributes:  # publish stores nothing but uploads bytes
                span.set_attribute(ATTR_BYTES,
                                   sum(len(data) for data in result.artefacts.values()))
            trace_id = current_trace_id()
        # From the span, so the job shows what the trace shows; the clock only when tracing is
        # not set up in this process (a non-recording span has no times).
        step_ms = span_duration_ms(span)
        if step_ms is None:
            step_ms = round((time.perf_counter() - started) * 1000)
        labels = {"stage": step.stage.value}
        plinth_metrics.stage_duration.record(step_ms / 1000, labels)
        for item, usd in result.cost_usd.items():
            if usd:
                plinth_metrics.provider_cost.add(usd, {**labels, "item": item})

        with tracer().start_as_current_span("plinth.store_artefacts",
                                            attributes={ATTR_JOB_ID: job.id}):
            await self._store(result.artefacts)
            if result.after_store is not None:
                await result.after_store()

        timings = job.timings.model_copy(update={STAGE_TIMING_FIELD[step.stage]: step_ms})
        breakdown = {**job.cost_breakdown}
        for item, usd in result.cost_usd.items():
            breakdown[item] = breakdown.get(item, 0.0) + usd
        target = result.target or step.target
        if target is not step.target and target not in step.alternatives:
            raise ValueError(f"step {step.stage} may not move a job to {target}")
        updated = advance(
            job,
            target,
            note=result.note,
            **result.changes,
            timings=timings,
            cost_breakdown=breakdown,
            cost_usd=round(sum(breakdown.values()), 6),
            trace_id=job.trace_id or trace_id,
        )
        with tracer().start_as_current_span("plinth.update_job",
                                            attributes={ATTR_JOB_ID: job.id}):
            stored = await self.jobs.replace_if_status(updated, job.status)
        if not stored:
            log.info("job %s moved on while %s ran; leaving it", job.id, step.stage)
            return None
        return updated

    async def _store(self, artefacts: dict[str, bytes]) -> None:
        limit = asyncio.Semaphore(STORE_CONCURRENCY)

        async def put(key: str, data: bytes) -> None:
            async with limit:
                await self.blobs.put(key, data, content_type=content_type_for(key))

        await asyncio.gather(*(put(key, data) for key, data in artefacts.items()))

    async def _after_failure(
        self, step: Step, job: Job, error: Classified, exc: BaseException
    ) -> None:
        counted = count_attempt(job, step.stage) if error.counts else job
        attempt = counted.attempts.get(step.stage.value, 0)
        if error.counts:  # a wait for someone else's work is no error of this worker's
            self.stats.last_error = f"{job.id} {step.stage}: {error.code}: {error.message}"
        if error.permanent or (error.counts and attempt >= self.settings.max_attempts):
            message = error.message if error.permanent else (
                f"gave up after {attempt} attempts: {error.message}")
            log.warning("job %s FAILED at %s: %s", job.id, step.stage, message,
                        exc_info=not error.permanent)
            failed = fail(counted, stage=step.stage, code=error.code, message=message)
            if await self.jobs.replace_if_status(failed, job.status):
                await self.publisher.publish(
                    JobFailed(job_id=job.id, stage=step.stage, error_code=error.code,
                              error_message=message),
                    JOB_FAILED, job.id.encode())
            self.stats.failed += 1
            self._count("failed")
            plinth_metrics.job_failures.add(1, {"stage": step.stage.value,
                                                "error_code": error.code})
            return
        if error.retry_after_s is not None:
            delay_s = min(error.retry_after_s, self.settings.retry_max_delay_s)
            delay_until = utcnow() + timedelta(seconds=delay_s)
        else:
            delay_until = not_before(self.settings, attempt, utcnow())
        if error.counts:
            log.warning("job %s attempt %d at %s failed (%s), retrying after %s", job.id,
                        attempt, step.stage, error.message, delay_until.isoformat(),
                        exc_info=exc)
        else:
            log.info("job %s waits at %s (%s), back after %s", job.id, step.stage,
                     error.message, delay_until.isoformat())
        if await self.jobs.replace_if_status(counted, job.status):
            await self.publisher.publish(
                _event_for(job, attempt=attempt + 1, not_before=delay_until),
                self.retry_topic, job.id.encode())
            self.stats.retried += 1
            self._count("retried")

    async def _emit_alternative(self, step: Step, job: Job) -> None:
        topic = step.alternatives[canonical(job.status)]
        if topic is None:
            return
        with tracer().start_as_current_span("plinth.publish_event",
                                            attributes={ATTR_JOB_ID: job.id}):
            await self.publisher.publish(_event_for(job), topic, job.id.encode())

    async def _emit_next(self, job: Job) -> None:
        with tracer().start_as_current_span("plinth.publish_event",
                                            attributes={ATTR_JOB_ID: job.id}):
            await self.publisher.publish(_event_for(job), self.output_topic, job.id.encode())


def _event_for(job: Job, *, attempt: int = 1, not_before: datetime | None = None) -> JobEvent:
    return JobEvent(job_id=job.id, sku=job.sku, theme=job.theme, img_sha256=job.img_sha256,
                    status=job.status, attempt=attempt, not_before=not_before)


def _undecodable_reason(value: bytes) -> str | None:
    """Why ``value`` cannot be a JobEvent of a version we know, before validating its fields."""
    try:
        # Bounded depth: a deeply nested body is dead-lettered, not a RecursionError that the
        # binding would take for an outage and rewind forever.
        raw = jsonlimits.loads(value)
    except ValueError as exc:
        return f"body is not JSON: {exc}"
    if not isinstance(raw, dict):
        return f"body is a JSON {type(raw).__name__}, not an object"
    version = raw.get("schema_version")
    if version != 1:
        return f"unknown schema_version {version!r} (this worker reads version 1)"
    return None


def _first_error(exc: ValidationError) -> str:
    err = exc.errors()[0]
    where = ".".join(str(part) for part in err["loc"]) or "body"
    return f"{where}: {err['msg']} ({exc.error_count()} error(s))"


def _header_text(value: Any) -> str:
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return str(value)


def _ms_since(when: datetime) -> int:
    return int((utcnow() - when).total_seconds() * 1000)
