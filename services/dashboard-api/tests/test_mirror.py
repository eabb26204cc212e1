"""The job mirror answers every list query exactly as the store's filter and sort would."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from plinth.domain.states import JobStatus
from plinth_dashboard_api.job_query import JobQuery, build_query, mongo_sort
from plinth_dashboard_api.mirror import JobMirror
from plinth_dashboard_api.settings import DashboardSettings

NOW = datetime(2026, 3, 1, 12, tzinfo=UTC)
STATUSES = [s.value for s in JobStatus][:8]


def _docs(n: int) -> list[dict[str, Any]]:
    rng = random.Random(7)
    return [
        {
            "_id": f"{i:06x}",
            "sku": rng.choice(["AB", "ab", "AC", "B"]) + f"{rng.randrange(1000):03d}",
            "theme": rng.choice(["studio", "kitchen"]),
            "status": rng.choice(STATUSES),
            "created_at": NOW - timedelta(minutes=rng.randrange(5000)),
            "updated_at": NOW,
            "completed_at": None,
            "cost_usd": round(rng.uniform(0, 0.3), 3) if i % 7 else 0.1,  # ties on cost
            "retry_count": 0,
            "error_code": None,
            "failed_stage": None,
            # ties on confidence, and jobs without one
            "segment_confidence": None if i % 5 == 0 else round(rng.choice([0.3, 0.6, 0.9]), 1),
        }
        for i in range(n)
    ]


def _matches(doc: dict[str, Any], q: JobQuery) -> bool:
    return (
        (not q.statuses or doc["status"] in {s.value for s in q.statuses})
        and (not q.sku_prefix or doc["sku"].startswith(q.sku_prefix))
        and (not q.theme or doc["theme"] == q.theme)
        and (q.created_from is None or doc["created_at"] >= q.created_from)
        and (q.created_to is None or doc["created_at"] <= q.created_to)
        and (q.cost_min is None or doc["cost_usd"] >= q.cost_min)
        and (q.cost_max is None or doc["cost_usd"] <= q.cost_max)
        and (q.min_confidence is None or _at_least(doc["segment_confidence"], q.min_confidence))
        and (q.max_confidence is None or _at_least(q.max_confidence, doc["segment_confidence"]))
    )


def _at_least(value: float | None, bound: float | None) -> bool:
    """A range never matches a missing confidence (as in the store)."""
    return value is not None and bound is not None and value >= bound


def _expected(docs: list[dict[str, Any]], q: JobQuery) -> tuple[list[str], int]:
    (field, direction), _ = mongo_sort(q)
    hits = sorted(
        (d for d in docs if _matches(d, q)),
        key=lambda d: (d[field], d["_id"]),
        reverse=direction < 0,
    )
    return [d["_id"] for d in hits[q.skip : q.skip + q.page_size]], len(hits)


@pytest.fixture(scope="module")
def mirror_and_docs() -> tuple[JobMirror, list[dict[str, Any]]]:
    docs = _docs(600)
    mirror = JobMirror(DashboardSettings(), db=None, resync_s=60)  # type: ignore[arg-type]
    mirror._upsert(docs, generation=0)
    return mirror, docs


@pytest.mark.parametrize(
    "kwargs",
    [
        {},
        {"status": ["FAILED"]},
        {"status": ["DONE,FAILED"], "theme": "studio", "sort": "-cost_usd"},
        {"sku": "AB"},  # case-sensitive: 'ab...' does not match
        {"sku": "AB1", "sort": "sku"},
        {"created_from": NOW - timedelta(hours=24), "cost_min": 0.05, "cost_max": 0.2},
        {"created_to": NOW - timedelta(hours=40), "sort": "created_at", "page": 3},
        {"sort": "cost_usd", "page": 5, "page_size": 50},
        {"status": ["NEW"], "page": 99},  # past the end: empty page, total still counted
        {"sort": "confidence", "page": 2, "page_size": 50},  # least certain first, scored only
        {"sort": "-confidence", "status": ["DONE"]},
        {"max_confidence": 0.6, "sort": "-created_at"},
        {"min_confidence": 0.5, "max_confidence": 0.9, "theme": "studio", "sort": "confidence"},
    ],
)
def test_mirror_pages_equal_the_store_semantics(
    mirror_and_docs: tuple[JobMirror, list[dict[str, Any]]], kwargs: dict[str, Any]
) -> None:
    mirror, docs = mirror_and_docs
    query = build_query(**kwargs)
    rows, total = mirror._page(query)
    assert ([r["_id"] for r in rows], total) == _expected(docs, query)
    if rows:
        assert rows[0]["created_at"].tzinfo is not None


def test_rows_the_sync_did_not_see_are_dropped() -> None:
    mirror = JobMirror(DashboardSettings(), db=None, resync_s=60)  # type: ignore[arg-type]
    docs = _docs(5)
    mirror._upsert(docs, generation=1)
    mirror._upsert(docs[:3], generation=2)  # the next sync saw only three of them
    mirror._drop_older_than(2)
    rows, total = mirror._page(build_query())
    assert total == 3 and {r["_id"] for r in rows} == {d["_id"] for d in docs[:3]}


def test_stats_inputs_count_today_and_return_the_window_newest_first() -> None:
    mirror = JobMirror(DashboardSettings(), db=None, resync_s=60)  # type: ignore[arg-type]
    docs = _docs(200)
    for doc in docs[:10]:
        doc["timings"] = {"download_ms": 5}
    mirror._upsert(docs, generation=0)
    day_start = NOW.replace(hour=0)
    (total, done, failed), window = mirror._stats_inputs(day_start, NOW - timedelta(hours=24), 50)
    today = [d for d in docs if d["created_at"] >= day_start]
    assert total == len(today)
    assert done == sum(d["status"] == "DONE" for d in today)
    assert failed == sum(d["status"] == "FAILED" for d in today)
    recent = sorted(
        (d for d in docs if d["created_at"] >= NOW - timedelta(hours=24)),
        key=lambda d: d["created_at"],
        reverse=True,
    )[:50]
    assert [w["created_at"] for w in window] == [d["created_at"] for d in recent]
    by_created = {d["created_at"]: d for d in docs}
    assert all(w["timings"] == (by_created[w["created_at"]].get("timings") or {}) for w in window)


def test_totals_follow_status_changes_and_deletes() -> None:
    mirror = JobMirror(DashboardSettings(), db=None, resync_s=60)  # type: ignore[arg-type]
    docs = [{**d, "status": "NEW", "theme": "studio"} for d in _docs(60)]
    mirror._upsert(docs, generation=0)
    moved = [{**d, "status": "FAILED"} for d in docs[:40]]
    mirror._upsert(moved, generation=0)
    mirror._delete(docs[59]["_id"])
    failed = build_query(status=["FAILED"], theme="studio", page_size=10)
    assert mirror._page(failed)[1] == 40
    assert mirror._page(build_query(status=["NEW"], page_size=10))[1] == 19
    assert mirror._page(build_query(page_size=10))[1] == 59


def test_a_row_keeps_the_jobs_confidence() -> None:
    mirror = JobMirror(DashboardSettings(), db=None, resync_s=60)  # type: ignore[arg-type]
    docs = _docs(3)
    docs[0]["segment_confidence"], docs[1]["segment_confidence"] = 0.25, None
    mirror._upsert(docs, generation=0)
    rows, total = mirror._page(build_query(sort="confidence"))
    assert total == 2 and rows[0]["_id"] == docs[0]["_id"]
    assert rows[0]["segment_confidence"] == 0.25
