"""List-endpoint benchmark for dashboard-api: seed jobs in bulk, then time ``GET /api/jobs``.

Seeds realistic job documents (the shape ``Job.to_document()`` stores) with ``insert_many`` in
batches into a private database, starts a real dashboard-api process (uvicorn, HTTP on
127.0.0.1) against it, waits until it answers the list, and reports p50/p95 over typical
filters, the list being answered by the document store. It grows the collection in steps up to
``--count`` (default 1,000,000) and stops growing when the seeding budget is spent or when the
list is already far past the target, printing the largest size it measured.

    uv run python bench/list_bench.py                     # steps 1k, 10k, 100k, 1M
    uv run python bench/list_bench.py --steps 5000 --requests 20

The target is p95 < 50 ms. The indexes dashboard-api creates serve every filter and sort, and
the total is one ``count`` command: on the local stack, FerretDB 1.24 on PostgreSQL with
Plinth's pushdown patch (deploy/local/ferretdb/plinth_pushdown.go) runs the filter, sort, limit
and count as indexed SQL; MongoDB answers them from the same indexes.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import socket
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from pymongo import AsyncMongoClient

from plinth import keys
from plinth.domain.job import Job, ShopifyResult, StepTimings, Transition
from plinth.domain.states import PIPELINE, JobStatus, Stage

THEMES = ["studio", "kitchen", "outdoor", "marble", "linen"]
API_KEY = "bench-viewer-key"
TARGET_P95_MS = 50.0


def _template() -> dict[str, Any]:
    """One DONE job with every field filled, as stored; the seed varies a copy of it."""
    sha = "0" * 64
    now = datetime.now(UTC)
    job = Job(
        sku="SKU0000000",
        theme="studio",
        image_url="https://images.example/SKU0000000.jpg",
        img_sha256=sha,
        delivery_id="delivery-0",
        status=JobStatus.DONE,
        s3_original_key=keys.original_key("SKU0000000", sha),
        s3_cutout_key=keys.cutout_key("SKU0000000", sha),
        s3_mask_key=keys.mask_key("SKU0000000", sha),
        s3_background_keys=[keys.background_key("studio", "SKU0000000", sha, i) for i in range(2)],
        s3_composite_keys=[keys.composite_key("studio", "SKU0000000", sha, i) for i in range(2)],
        s3_derivative_keys=[
            keys.derivative_key("studio", "SKU0000000", sha, 0, size, fmt)
            for size in keys.DERIVATIVE_SIZES
            for fmt in keys.DERIVATIVE_FORMATS
        ],
        manifest_s3_key=keys.manifest_key("SKU0000000", sha, "studio"),
        shopify=ShopifyResult(status="skipped", reason="no Shopify settings"),
        trace_id="0" * 32,
        timings=StepTimings(
            download_ms=120,
            segmentation_ms=900,
            backgrounds_ms=1500,
            compositing_ms=400,
            derivatives_ms=700,
            manifest_ms=20,
            publish_ms=300,
        ),
        attempts={"segment": 1},
        history=[
            Transition(from_status=a, to_status=b, at=now)
            for a, b in zip([None, *PIPELINE[:-1]], PIPELINE, strict=True)
        ],
    )
    return job.to_document()


def make_docs(start: int, count: int, now: datetime, rng: random.Random) -> list[dict[str, Any]]:
    base = _template()
    docs = []
    for n in range(start, start + count):
        created = now - timedelta(seconds=rng.uniform(0, 30 * 86400))
        roll = rng.random()
        status = (
            JobStatus.DONE
            if roll < 0.80
            else JobStatus.FAILED
            if roll < 0.90
            else rng.choice(PIPELINE[:-1])
        )
        doc = dict(base)
        doc.update(
            _id=uuid.uuid4().hex,
            sku=f"SKU{n:07d}",
            theme=THEMES[n % len(THEMES)],
            img_sha256=f"{n:064x}",
            status=status.value,
            created_at=created,
            updated_at=created + timedelta(seconds=12),
            completed_at=created + timedelta(seconds=12) if status is JobStatus.DONE else None,
            cost_usd=round(rng.uniform(0.0, 0.3), 4),
        )
        if status is JobStatus.FAILED:
            doc.update(
                error_code="PROVIDER_TIMEOUT",
                error_message="background gave up after 5 attempts",
                failed_stage=Stage.BACKGROUND.value,
                failed_from=JobStatus.BG_REMOVED.value,
            )
        docs.append(doc)
    return docs


def typical_queries(now: datetime) -> dict[str, dict[str, Any] | list[tuple[str, str]]]:
    day_ago = (now - timedelta(days=1)).isoformat()
    return {
        "newest (no filter)": {},
        "status=FAILED": {"status": "FAILED"},
        "status DONE|FAILED + theme": [
            ("status", "DONE"),
            ("status", "FAILED"),
            ("theme", "studio"),
        ],
        "sku prefix": {"sku": "SKU00012"},
        "last 24h + cost range": {"created_from": day_ago, "cost_min": "0.05", "cost_max": "0.2"},
        "sort -cost_usd, page 3": {"sort": "-cost_usd", "page": "3"},
    }


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class DashboardProcess:
    """dashboard-api as a separate process, the way it runs in production."""

    def __init__(self, mongo_db: str) -> None:
        self.port = _free_port()
        env = {
            **os.environ,
            "PLINTH_MONGO_DB": mongo_db,
            "PLINTH_DASHBOARD_PORT": str(self.port),
            "PLINTH_DASHBOARD_API_KEYS": json.dumps({API_KEY: "bench:viewer"}),
        }
        self.process = subprocess.Popen(
            [sys.executable, "-m", "plinth_dashboard_api.main"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def wait_ready(self, timeout_s: float = 3600) -> None:
        """Wait until it answers the list (its resources are open and its indexes created)."""
        deadline = time.monotonic() + timeout_s
        async with httpx.AsyncClient(headers={"X-API-Key": API_KEY}) as http:
            while time.monotonic() < deadline:
                if self.process.poll() is not None:
                    raise RuntimeError(f"dashboard-api exited: {self.process.stderr.read()!r}")  # type: ignore[union-attr]
                try:
                    response = await http.get(
                        f"{self.url}/api/jobs", params={"page_size": 1}, timeout=30
                    )
                except httpx.HTTPError:
                    await asyncio.sleep(0.3)
                    continue
                if response.status_code == 200:
                    return
                await asyncio.sleep(0.5)
        raise RuntimeError("dashboard-api did not get ready")

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()


async def measure(
    url: str, requests: int, budget_s: float, now: datetime
) -> dict[str, list[float]]:
    timings: dict[str, list[float]] = {name: [] for name in typical_queries(now)}
    started = time.monotonic()
    async with httpx.AsyncClient(base_url=url, headers={"X-API-Key": API_KEY}, timeout=600) as http:
        await http.get("/api/jobs", params={"page_size": 1})  # warm the connection pool
        for round_no in range(requests):
            for name, params in typical_queries(now).items():
                t0 = time.perf_counter()
                response = await http.get("/api/jobs", params=params)
                timings[name].append((time.perf_counter() - t0) * 1000)
                response.raise_for_status()
            if round_no >= 2 and time.monotonic() - started > budget_s:
                break  # at least 3 rounds, then respect the budget
    return timings


def _p(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def report(size: int, timings: dict[str, list[float]]) -> float:
    every = [v for values in timings.values() for v in values]
    print(f"\n  list endpoint at {size:,} jobs ({len(every)} requests)")
    for name, values in timings.items():
        print(f"    {name:30s} p50 {_p(values, 0.5):9.1f} ms   p95 {_p(values, 0.95):9.1f} ms")
    p50, p95 = _p(every, 0.5), _p(every, 0.95)
    verdict = "meets" if p95 < TARGET_P95_MS else "misses"
    print(f"    {'all filters':30s} p50 {p50:9.1f} ms   p95 {p95:9.1f} ms  ({verdict} p95 < 50 ms)")
    return p95


def settle_statistics() -> float | None:
    """On the local stack, ANALYZE the store's tables: what autovacuum does within seconds after a
    bulk load (deploy/local/stackctl/postgres.py), done now so that every size is measured with
    the plans a running system has. None where the store is not the local stack's PostgreSQL."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "deploy" / "local"))
    from stackctl import postgres
    from stackctl.config import load_config

    cfg = load_config()
    if not os.environ.get("PLINTH_MONGO_URI", "").endswith(f":{cfg.mongo_port}"):
        return None
    started = time.perf_counter()
    analysed = postgres.client(cfg, "psql", f"--dbname={postgres.DATABASE}", "-q",
                               "--command=ANALYZE")
    return time.perf_counter() - started if analysed.returncode == 0 else None


async def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=1_000_000, help="jobs to reach (default 1M)")
    parser.add_argument(
        "--steps", type=str, default="1000,10000,100000,1000000", help="sizes to measure at"
    )
    parser.add_argument("--batch", type=int, default=5000, help="documents per insert_many")
    parser.add_argument("--requests", type=int, default=10, help="rounds of the typical filters")
    parser.add_argument("--seed-budget-s", type=float, default=900, help="stop seeding after this")
    parser.add_argument("--size-budget-s", type=float, default=120, help="query time per size")
    parser.add_argument(
        "--give-up-p95-ms", type=float, default=2000, help="stop growing once p95 exceeds this"
    )
    parser.add_argument(
        "--mongo-uri", default=os.environ.get("PLINTH_MONGO_URI", "mongodb://127.0.0.1:27017")
    )
    parser.add_argument("--db", default=f"plinth_bench_{uuid.uuid4().hex[:6]}")
    parser.add_argument("--keep", action="store_true", help="keep the bench database")
    args = parser.parse_args()
    steps = sorted({min(int(s), args.count) for s in args.steps.split(",") if s.strip()})
    if not steps or steps[0] < 1 or args.batch < 1:
        parser.error("--steps and --batch must be positive")

    rng = random.Random(42)
    now = datetime.now(UTC)
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(args.mongo_uri, tz_aware=True)
    jobs = client[args.db]["jobs"]
    seeded, seed_seconds, largest = 0, 0.0, 0
    print(f"bench database {args.db}; list answered by the document store")
    try:
        for target in steps:
            t0 = time.perf_counter()
            while (
                seeded < target and seed_seconds + (time.perf_counter() - t0) < args.seed_budget_s
            ):
                batch = min(args.batch, target - seeded)
                await jobs.insert_many(make_docs(seeded, batch, now, rng), ordered=False)
                seeded += batch
            seed_seconds += time.perf_counter() - t0
            print(
                f"\nseeded {seeded:,} jobs in {seed_seconds:.1f} s total "
                f"({seeded / seed_seconds:,.0f} docs/s overall)"
            )
            # a fresh dashboard-api per size: it creates its indexes at start
            server = DashboardProcess(args.db)
            try:
                t_start = time.perf_counter()
                await server.wait_ready()
                print(
                    f"dashboard-api up, indexes created, list answering in "
                    f"{time.perf_counter() - t_start:.1f} s from process start"
                )
                largest = seeded
                settled = settle_statistics()
                if settled is not None:
                    print(f"table statistics refreshed (ANALYZE) in {settled:.1f} s")
                timings = await measure(server.url, args.requests, args.size_budget_s, now)
            finally:
                server.stop()
            p95 = report(seeded, timings)
            if seeded < target:
                print(f"\nseeding budget ({args.seed_budget_s:.0f} s) spent before {target:,} jobs")
                break
            if p95 > args.give_up_p95_ms and target != steps[-1]:
                print(
                    f"\np95 is {p95:,.0f} ms at {seeded:,} jobs, past --give-up-p95-ms: "
                    "growing further only takes longer to show the same thing"
                )
                break
        print(f"\nlargest size measured: {largest:,} jobs (asked for {args.count:,})")
    finally:
        if not args.keep:
            await client.drop_database(args.db)
        await client.close()
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
