"""Dashboard statistics.

Counts are one ``count`` command each (``count_matching``) on indexed fields. Percentiles and
hourly buckets are computed here over a bounded projection of the last 24 hours, not with an
aggregation pipeline: FerretDB 1.24 (the local document store) has no ``$percentile``,
``$dateTrunc`` or date-part operators, and the same code must run on MongoDB and FerretDB alike.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from pydantic import BaseModel

from plinth.adapters.mongo import Database, count_matching
from plinth.domain.job import StepTimings
from plinth.domain.states import JobStatus

WINDOW = timedelta(hours=24)
SAMPLE_CAP = 50_000
STEP_FIELDS: tuple[str, ...] = tuple(StepTimings.model_fields)


class StepDuration(BaseModel):
    step: str
    count: int
    p50_ms: float | None
    p95_ms: float | None


class HourBucket(BaseModel):
    hour: datetime
    total: int
    done: int
    failed: int


class JobsToday(BaseModel):
    total: int
    done: int
    failed: int


class DashboardStats(BaseModel):
    generated_at: datetime
    jobs_today: JobsToday
    avg_cost_usd_24h: float | None
    avg_processing_ms_24h: float | None
    steps: list[StepDuration]
    jobs_per_hour: list[HourBucket]
    window_jobs: int
    sampled: bool
    in_review: int = 0
    """jobs held for review now, whenever they were created (the queue's length)"""


def percentile(sorted_values: Sequence[float], q: float) -> float | None:
    """Linear interpolation between closest ranks (numpy's default) on sorted data."""
    if not sorted_values:
        return None
    if len(sorted_values) == 1:
        return float(sorted_values[0])
    position = (len(sorted_values) - 1) * q
    low, high = math.floor(position), math.ceil(position)
    fraction = position - low
    return float(sorted_values[low] + (sorted_values[high] - sorted_values[low]) * fraction)


@dataclass
class _Window:
    costs: list[float]
    processing_ms: list[float]
    steps: dict[str, list[float]]
    buckets: dict[datetime, HourBucket]
    count: int


def _hour(at: datetime) -> datetime:
    return at.replace(minute=0, second=0, microsecond=0)


def summarise_window(docs: Iterable[dict[str, Any]], now: datetime) -> _Window:
    first_hour = _hour(now) - timedelta(hours=23)
    buckets = {
        first_hour + timedelta(hours=i): HourBucket(
            hour=first_hour + timedelta(hours=i), total=0, done=0, failed=0
        )
        for i in range(24)
    }
    window = _Window([], [], {name: [] for name in STEP_FIELDS}, buckets, 0)
    for doc in docs:
        window.count += 1
        created: datetime = doc["created_at"]
        status = doc.get("status")
        bucket = buckets.get(_hour(created))
        if bucket is not None:
            bucket.total += 1
            bucket.done += status == JobStatus.DONE.value
            bucket.failed += status == JobStatus.FAILED.value
        if status == JobStatus.DONE.value:
            window.costs.append(float(doc.get("cost_usd") or 0.0))
            completed = doc.get("completed_at")
            if completed is not None:
                window.processing_ms.append((completed - created).total_seconds() * 1000)
        for name, value in (doc.get("timings") or {}).items():
            if value is not None and name in window.steps:
                window.steps[name].append(float(value))
    return window


async def _stats_inputs_from_store(
    db: Database, day_start: datetime, now: datetime
) -> tuple[tuple[int, int, int], list[dict[str, Any]]]:
    jobs = db.jobs_collection
    today = {"created_at": {"$gte": day_start}}
    total = await count_matching(jobs, today)
    done = await count_matching(jobs, {**today, "status": JobStatus.DONE.value})
    failed = await count_matching(jobs, {**today, "status": JobStatus.FAILED.value})
    cursor = (
        jobs.find(
            {"created_at": {"$gte": now - WINDOW}},
            projection={
                "status": 1,
                "created_at": 1,
                "completed_at": 1,
                "cost_usd": 1,
                "timings": 1,
            },
        )
        .sort("created_at", -1)
        .limit(SAMPLE_CAP)
    )
    return (total, done, failed), [doc async for doc in cursor]


def _mean(values: list[float]) -> float | None:
    return sum(values) / len(values) if values else None


async def dashboard_stats(db: Database, now: datetime) -> DashboardStats:
    day_start = now.replace(hour=0, minute=0, second=0, microsecond=0)
    (total, done, failed), docs = await _stats_inputs_from_store(db, day_start, now)
    window = summarise_window(docs, now)
    steps = []
    for name in STEP_FIELDS:
        values = sorted(window.steps[name])
        steps.append(
            StepDuration(
                step=name.removesuffix("_ms"),
                count=len(values),
                p50_ms=percentile(values, 0.5),
                p95_ms=percentile(values, 0.95),
            )
        )
    return DashboardStats(
        generated_at=now,
        jobs_today=JobsToday(total=total, done=done, failed=failed),
        avg_cost_usd_24h=_mean(window.costs),
        avg_processing_ms_24h=_mean(window.processing_ms),
        steps=steps,
        jobs_per_hour=list(window.buckets.values()),
        window_jobs=window.count,
        sampled=window.count >= SAMPLE_CAP,
        in_review=await count_matching(db.jobs_collection,
                                       {"status": JobStatus.IN_REVIEW.value}),
    )
