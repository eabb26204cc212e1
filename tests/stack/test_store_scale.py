"""The document store holds at scale: a store that scans collections is caught here.

Loads 100,000 job documents (Plinth's shape and indexes) into a private database on the shared
stack and compares, at 1,000 and at 100,000 jobs, the median of a stage transition (the
conditional replace on ``{_id, status}``), the dashboard's list (status filter, sort, limit 50)
and its count (capped at 1,000, as the dashboard counts). Absolute times depend on the machine;
the ratio does not: a store that uses its indexes costs about the same at both sizes, one that
scans costs ~100x more. The bound (3x) is generous so that a busy machine does not fail it; the
benchmark with figures is bench/store.py.
"""

from __future__ import annotations

import statistics
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from pymongo import DESCENDING, MongoClient
from pymongo.collection import Collection

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))
from store import ensure_indexes, load

pytestmark = [pytest.mark.stack, pytest.mark.scale]

SMALL, LARGE = 1_000, 100_000
MAX_RATIO = 3.0


@pytest.fixture
def jobs(shared_stack: dict[str, str]) -> Iterator[Collection[dict]]:  # type: ignore[type-arg]
    client: MongoClient[dict] = MongoClient(  # type: ignore[type-arg]
        shared_stack["mongo"], tz_aware=True, serverSelectionTimeoutMS=5000
    )
    db = client[f"scaletest_{uuid.uuid4().hex[:10]}"]
    yield db["jobs"]
    client.drop_database(db.name)
    client.close()


def _median_ms(call: Callable[[int], object], samples: int = 40) -> float:
    call(0)  # a first call pays for plans and caches
    times = []
    for i in range(samples):
        started = time.perf_counter()
        call(i)
        times.append(time.perf_counter() - started)
    return statistics.median(times) * 1000


def _operations(jobs: Collection[dict], size: int) -> dict[str, Callable[[int], object]]:  # type: ignore[type-arg]
    def transition(i: int) -> None:
        job_id = f"job-{(i * 7919) % size:09d}"
        doc = jobs.find_one({"_id": job_id})
        assert doc is not None
        expected = doc["status"]
        doc["status"] = "DONE" if expected != "DONE" else "DERIVATIVES"
        assert jobs.replace_one({"_id": job_id, "status": expected}, doc).matched_count == 1

    def page(i: int) -> None:
        found = list(
            jobs.find({"status": "FAILED"}).sort([("created_at", DESCENDING), ("_id", DESCENDING)])
            .limit(50)
        )
        assert found

    def count(i: int) -> None:
        # capped as the dashboard counts: an exact count grows with the matches, not the store
        reply = jobs.database.command("count", jobs.name, query={"status": "FAILED"}, limit=1000)
        assert 0 < reply["n"] <= 1000

    return {"conditional replace": transition, "list": page, "count": count}


def test_transition_list_and_count_cost_the_same_at_100k_jobs_as_at_1k(
    jobs: Collection[dict],  # type: ignore[type-arg]
) -> None:
    ensure_indexes(jobs)
    load(jobs, 0, SMALL)
    small = {name: _median_ms(op) for name, op in _operations(jobs, SMALL).items()}
    load(jobs, SMALL, LARGE)
    large = {name: _median_ms(op) for name, op in _operations(jobs, LARGE).items()}
    report = {name: f"{small[name]:.1f} -> {large[name]:.1f} ms" for name in small}
    for name in small:
        # a floor of 1 ms: sub-millisecond medians are all noise
        assert large[name] <= MAX_RATIO * max(small[name], 1.0), report
