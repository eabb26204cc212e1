"""What a stage handler receives and returns."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Generic, ParamSpec, Protocol, TypeVar

from opentelemetry.trace import Span
from typing_extensions import TypeVar as TypeVar_  # PEP 696 defaults (pydantic needs it too)

from plinth.adapters.mongo import Database
from plinth.domain.job import Job
from plinth.domain.states import JobStatus, Stage
from plinth.worker.settings import WorkerSettings

P = ParamSpec("P")
T = TypeVar("T")
S = TypeVar_("S", bound=WorkerSettings, default=WorkerSettings)


class BlobReader(Protocol):
    """The part of the blob store a handler may use: reading its inputs, checking that an
    object is there (and lending a short-lived URL of one to a provider that fetches by URL)."""

    async def get(self, key: str) -> bytes: ...

    async def exists(self, key: str) -> bool: ...

    async def presign_get(self, key: str, ttl_s: int | None = None) -> str: ...


@dataclass
class StageResult:
    """What one step produced; the runtime stores and applies it.

    ``artefacts`` are written to S3 (deterministic keys, so a redelivery overwrites the same
    objects) BEFORE ``changes`` are applied to the job with a conditional update.
    """

    changes: dict[str, Any] = field(default_factory=dict)
    """Job fields to set together with the state transition."""
    artefacts: dict[str, bytes] = field(default_factory=dict)
    """S3 key -> bytes."""
    cost_usd: dict[str, float] = field(default_factory=dict)
    """Cost breakdown entries (e.g. ``{"segmentation": 0.02}``) added to the job's cost."""
    attributes: dict[str, str | int | float | bool] = field(default_factory=dict)
    """Extra span attributes (``provider``, ...)."""
    after_store: Callable[[], Awaitable[None]] | None = None
    """Called once ``artefacts`` are stored, before the job is updated: a step that keeps a record
    of its own about what it wrote (segment's per-photo segmentations) completes it here, so the
    record never names objects that are not stored yet. If it raises, the step failed."""
    target: JobStatus | None = None
    """The state to move the job to instead of the step's ``target``: one of the step's
    ``alternatives`` (the manifest step holding a job IN_REVIEW). None: the step's target."""
    note: str | None = None
    """A few words for the job's history entry of this move (why it was held)."""


@dataclass
class StageContext(Generic[S]):
    """What a handler may use besides the job: settings, its inputs, and a thread pool.

    ``settings`` is what the service composed (``run_stage_service(..., settings=...)``): the
    worker's own and the concerns its steps use; a handler that reads more than the worker's
    names the class it needs (``ctx: StageContext[SegmentWorkerSettings]``)."""

    settings: S
    blobs: BlobReader
    span: Span
    instance: str
    db: Database | None = None
    """The job store, for a step that keeps records of its own besides the job (segment's
    per-photo ``segmentations``); None where a step runs without one (unit tests)."""

    async def to_thread(self, func: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        """Run CPU-bound image work off the event loop (heartbeats and Kafka keep running)."""
        return await asyncio.to_thread(func, *args, **kwargs)


Handler = Callable[[Job, StageContext[Any]], Awaitable[StageResult]]


@dataclass(frozen=True)
class Step:
    """One state transition a service performs: ``source`` -> ``target`` by ``run``.

    ``stage`` names the span and the timing field (``plinth.domain.job.STAGE_TIMING_FIELD``).
    A service with several steps (derive: derivatives, then manifest) runs them in order, each
    with its own span and conditional update, and publishes once after the last (or after the
    step that moved the job to one of its ``alternatives``).
    """

    stage: Stage
    source: JobStatus
    target: JobStatus
    run: Handler
    alternatives: Mapping[JobStatus, str | None] = field(default_factory=dict)
    """Other states ``run`` may choose (``StageResult.target``), each with the topic its event
    then goes to (None: none). A job moved to one stops there: the later steps do not run and
    the stage's output topic gets nothing (derive's manifest step: IN_REVIEW, held for a person,
    announced on ``plinth.job.in-review.v1``)."""
