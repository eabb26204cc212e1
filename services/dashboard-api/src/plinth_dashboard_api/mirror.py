"""A local, indexed mirror of the job summaries, for a fast jobs list on any document store.

FerretDB 1.24 on SQLite (the local stack) pushes only ``_id`` equality down to SQLite: every
other filter, sort or count scans the whole collection, so ``GET /api/jobs`` took seconds at a
thousand jobs. The mirror keeps the list's fields of every job in an in-memory SQLite table with
an index per filter and sort, and is kept fresh three ways:

- a full sync at start-up and every ``dashboard_mirror_resync_s`` (the only scan of the store;
  at least ten times as long as the last sync took apart, so it never dominates the CPU);
- the job topics: every event names a job; that job is re-read by ``_id`` (an indexed lookup on
  every store) and its row replaced, so the list follows the pipeline within a second;
- the dashboard's own retries and fails, written through as they happen.

Until the first full sync completes the list is answered by the store itself. The event
consumer starts at the end of the topics when the process starts, so a change that lands in the
moment between the sync reading a job and the consumer joining is picked up by the next sync.
Against MongoDB the mirror can be switched off (``PLINTH_DASHBOARD_LIST_MIRROR=false``): its
indexes serve the list.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import sqlite3
import threading
import time
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from aiokafka import AIOKafkaConsumer

from plinth.adapters.mongo import Database
from plinth.messaging.topics import JOB_FAILED, STAGE_OUTPUT
from plinth.settings import Settings
from plinth_dashboard_api.job_query import SORTABLE, JobQuery
from plinth_dashboard_api.views import SUMMARY_FIELDS

log = logging.getLogger("plinth.dashboard.mirror")

COLUMNS = (
    "id",
    "sku",
    "theme",
    "status",
    "created_at",
    "updated_at",
    "completed_at",
    "cost_usd",
    "retry_count",
    "error_code",
    "failed_stage",
    "segment_confidence",
)
# stored too, for the stats; not part of a list row
_STATS_COLUMNS = ("timings",)
_PROJECTION = dict.fromkeys((*SUMMARY_FIELDS, "timings"), 1)
_TIMES = ("created_at", "updated_at", "completed_at")
_SCHEMA = """
CREATE TABLE jobs (
    id TEXT PRIMARY KEY, sku TEXT NOT NULL, theme TEXT NOT NULL, status TEXT NOT NULL,
    created_at REAL NOT NULL, updated_at REAL, completed_at REAL, cost_usd REAL NOT NULL,
    retry_count INTEGER NOT NULL, error_code TEXT, failed_stage TEXT, segment_confidence REAL,
    timings TEXT, synced INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX jobs_created ON jobs (created_at, cost_usd, status, id);
CREATE INDEX jobs_status_created ON jobs (status, created_at, id);
CREATE INDEX jobs_sku ON jobs (sku, id);
CREATE INDEX jobs_theme_created ON jobs (theme, created_at, status, id);
CREATE INDEX jobs_cost ON jobs (cost_usd, id);
CREATE INDEX jobs_updated ON jobs (updated_at, id);
CREATE INDEX jobs_status_cost ON jobs (status, cost_usd, id);
CREATE INDEX jobs_confidence ON jobs (segment_confidence, id);
-- jobs per (status, theme), kept with every write: totals of status/theme-only filters in O(1)
CREATE TABLE counts (
    status TEXT NOT NULL, theme TEXT NOT NULL, n INTEGER NOT NULL, PRIMARY KEY (status, theme)
) WITHOUT ROWID;
"""
# Every topic whose events move a job: stage outputs and failures.
JOB_TOPICS = sorted({*STAGE_OUTPUT.values(), JOB_FAILED})


def _epoch(value: datetime | None) -> float | None:
    if value is None:
        return None
    if value.tzinfo is None:  # a naive datetime from the store is UTC
        value = value.replace(tzinfo=UTC)
    return value.timestamp()


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _row(doc: dict[str, Any], generation: int) -> tuple[Any, ...]:
    return (
        str(doc["_id"]),
        doc.get("sku", ""),
        doc.get("theme", ""),
        str(doc.get("status", "")),
        _epoch(doc.get("created_at")) or 0.0,
        _epoch(doc.get("updated_at")),
        _epoch(doc.get("completed_at")),
        float(doc.get("cost_usd") or 0.0),
        int(doc.get("retry_count") or 0),
        doc.get("error_code"),
        doc.get("failed_stage"),
        _number(doc.get("segment_confidence")),
        json.dumps(doc.get("timings") or {}),
        generation,
    )


def where_clause(query: JobQuery) -> tuple[str, list[Any]]:
    """The SQL equivalent of ``job_query.mongo_filter``.

    A range on a column the page is not sorted by is written ``+column``, which keeps SQLite
    from choosing that column's index: without statistics it would pick the cost index for a
    wide cost range and then sort every match, instead of walking the sort's index.
    """
    sort_column = SORTABLE[query.sort.lstrip("-")]

    def col(name: str) -> str:
        return name if name == sort_column else f"+{name}"

    parts: list[str] = []
    args: list[Any] = []
    if query.statuses:
        parts.append(f"status IN ({', '.join('?' * len(query.statuses))})")
        args.extend(s.value for s in query.statuses)
    if query.sku_prefix:
        # a range on the binary collation: a prefix match that uses the sku index, case-sensitive
        # like the store's anchored regex (LIKE would ignore case)
        parts.append("sku >= ? AND sku < ?")
        args.extend([query.sku_prefix, query.sku_prefix + "\U0010ffff"])
    if query.theme:
        parts.append("theme = ?")
        args.append(query.theme)
    created = (_epoch(query.created_from) if query.created_from else None,
               _epoch(query.created_to) if query.created_to else None)
    # like the store's range, a bound never matches NULL: jobs without a confidence drop out
    ranges = {"created_at": created, "cost_usd": (query.cost_min, query.cost_max),
              "segment_confidence": (query.min_confidence, query.max_confidence)}
    for column, (low, high) in ranges.items():
        for op, value in ((">=", low), ("<=", high)):
            if value is not None:
                parts.append(f"{col(column)} {op} ?")
                args.append(value)
    return (" WHERE " + " AND ".join(parts) if parts else ""), args


def order_clause(query: JobQuery) -> str:
    column = SORTABLE[query.sort.lstrip("-")]
    direction = "DESC" if query.sort.startswith("-") else "ASC"
    return f" ORDER BY {column} {direction}, id {direction}"


class JobMirror:
    def __init__(self, settings: Settings, db: Database, *, resync_s: float) -> None:
        self._settings = settings
        self._db = db
        self._resync_s = resync_s
        self._conn = sqlite3.connect(":memory:", check_same_thread=False)
        self._conn.executescript(_SCHEMA)
        self._lock = threading.Lock()  # one sqlite connection, used from worker threads
        self._generation = 0
        self.ready = False
        self.last_sync_at: float | None = None
        self.last_sync_s: float | None = None
        self._tasks: list[asyncio.Task[None]] = []

    # --- writes ---------------------------------------------------------------------------
    def _upsert(self, docs: Iterable[dict[str, Any]], generation: int) -> None:
        rows = [_row(doc, generation) for doc in docs]
        with self._lock, self._conn:
            ids = [row[0] for row in rows]
            for chunk in range(0, len(ids), 500):
                part = ids[chunk : chunk + 500]
                old = self._conn.execute(
                    f"SELECT status, theme FROM jobs WHERE id IN ({', '.join('?' * len(part))})",
                    part,
                ).fetchall()
                self._count(old, -1)
            self._conn.executemany(
                f"INSERT OR REPLACE INTO jobs VALUES "
                f"({', '.join('?' * (len(COLUMNS) + len(_STATS_COLUMNS) + 1))})",
                rows,
            )
            self._count([(row[3], row[2]) for row in rows], +1)

    def _count(self, keys: Iterable[tuple[str, str]], delta: int) -> None:
        self._conn.executemany(
            "INSERT INTO counts VALUES (?, ?, ?) "
            "ON CONFLICT (status, theme) DO UPDATE SET n = n + excluded.n",
            [(status, theme, delta) for status, theme in keys],
        )

    def _recount(self) -> None:
        self._conn.execute("DELETE FROM counts")
        self._conn.execute(
            "INSERT INTO counts SELECT status, theme, count(*) FROM jobs GROUP BY status, theme"
        )

    async def upsert(self, doc: dict[str, Any]) -> None:
        await asyncio.to_thread(self._upsert, [doc], self._generation)

    async def refresh(self, job_id: str) -> None:
        """Re-read one job from the store (by ``_id``) and replace its row, or drop it."""
        doc = await self._db.jobs_collection.find_one({"_id": job_id}, projection=_PROJECTION)
        if doc is None:
            await asyncio.to_thread(self._delete, job_id)
        else:
            await self.upsert(doc)

    def _delete(self, job_id: str) -> None:
        with self._lock, self._conn:
            old = self._conn.execute(
                "SELECT status, theme FROM jobs WHERE id = ?", (job_id,)
            ).fetchall()
            self._count(old, -1)
            self._conn.execute("DELETE FROM jobs WHERE id = ?", (job_id,))

    async def full_sync(self, batch: int = 2000) -> int:
        """Copy every job's summary; rows of jobs no longer in the store are dropped."""
        started = time.monotonic()
        self._generation += 1
        generation = self._generation
        count = 0
        pending: list[dict[str, Any]] = []
        cursor = self._db.jobs_collection.find({}, projection=_PROJECTION, batch_size=batch)
        async for doc in cursor:
            pending.append(doc)
            if len(pending) >= batch:
                await asyncio.to_thread(self._upsert, pending, generation)
                count += len(pending)
                pending = []
        if pending:
            await asyncio.to_thread(self._upsert, pending, generation)
            count += len(pending)
        await asyncio.to_thread(self._drop_older_than, generation)
        self.last_sync_at = time.time()
        self.last_sync_s = time.monotonic() - started
        self.ready = True
        log.info("job mirror synced: %d jobs in %.1f s", count, self.last_sync_s)
        return count

    def _drop_older_than(self, generation: int) -> None:
        # every write since the sync began (the sync's own and the events') carries its
        # generation: a row with an older one is a job the store no longer has
        with self._lock, self._conn:
            self._conn.execute("DELETE FROM jobs WHERE synced < ?", (generation,))
            self._recount()

    def status(self) -> dict[str, Any]:
        with self._lock:
            rows = self._conn.execute("SELECT count(*) FROM jobs").fetchone()[0]
        return {
            "ready": self.ready,
            "jobs": rows,
            "last_sync_at": self.last_sync_at,
            "last_sync_s": self.last_sync_s,
        }

    # --- reads ----------------------------------------------------------------------------
    def _page(self, query: JobQuery) -> tuple[list[dict[str, Any]], int]:
        where, args = where_clause(query)
        with self._lock:
            rows = self._conn.execute(
                f"SELECT {', '.join(COLUMNS)} FROM jobs{where}{order_clause(query)} "
                "LIMIT ? OFFSET ?",
                [*args, query.page_size, query.skip],
            ).fetchall()
            if len(rows) < query.page_size and (rows or query.skip == 0):
                total = query.skip + len(rows)  # a short page is the last one: no count needed
            else:
                total = self._total(query, where, args)
        docs = []
        for row in rows:
            doc = dict(zip(COLUMNS, row, strict=True))
            doc["_id"] = doc.pop("id")
            for name in _TIMES:
                if doc[name] is not None:
                    doc[name] = datetime.fromtimestamp(doc[name], UTC)
            docs.append(doc)
        return docs, total

    def _total(self, query: JobQuery, where: str, args: list[Any]) -> int:
        ranged = (
            query.sku_prefix,
            query.created_from,
            query.created_to,
            query.cost_min,
            query.cost_max,
            query.min_confidence,
            query.max_confidence,
        )
        if any(value is not None for value in ranged):
            return int(self._conn.execute(f"SELECT count(*) FROM jobs{where}", args).fetchone()[0])
        # status and theme only: the per-(status, theme) counts answer it without a scan
        parts: list[str] = []
        params: list[Any] = []
        if query.statuses:
            parts.append(f"status IN ({', '.join('?' * len(query.statuses))})")
            params.extend(s.value for s in query.statuses)
        if query.theme:
            parts.append("theme = ?")
            params.append(query.theme)
        clause = " WHERE " + " AND ".join(parts) if parts else ""
        row = self._conn.execute(f"SELECT coalesce(sum(n), 0) FROM counts{clause}", params)
        return int(row.fetchone()[0])

    async def page(self, query: JobQuery) -> tuple[list[dict[str, Any]], int]:
        return await asyncio.to_thread(self._page, query)

    def _stats_inputs(
        self, day_start: datetime, since: datetime, cap: int
    ) -> tuple[tuple[int, int, int], list[dict[str, Any]]]:
        with self._lock:
            total, done, failed = self._conn.execute(
                "SELECT count(*), coalesce(sum(status = 'DONE'), 0), "
                "coalesce(sum(status = 'FAILED'), 0) FROM jobs WHERE created_at >= ?",
                (_epoch(day_start),),
            ).fetchone()
            rows = self._conn.execute(
                "SELECT status, created_at, completed_at, cost_usd, timings FROM jobs "
                "WHERE created_at >= ? ORDER BY created_at DESC LIMIT ?",
                (_epoch(since), cap),
            ).fetchall()
        docs = [
            {
                "status": status,
                "created_at": datetime.fromtimestamp(created, UTC),
                "completed_at": datetime.fromtimestamp(completed, UTC) if completed else None,
                "cost_usd": cost,
                "timings": json.loads(timings or "{}"),
            }
            for status, created, completed, cost, timings in rows
        ]
        return (total, done, failed), docs

    async def stats_inputs(
        self, day_start: datetime, since: datetime, cap: int
    ) -> tuple[tuple[int, int, int], list[dict[str, Any]]]:
        """Today's (total, done, failed) and the newest ``cap`` jobs since ``since``."""
        return await asyncio.to_thread(self._stats_inputs, day_start, since, cap)

    # --- background upkeep ----------------------------------------------------------------
    def start(self) -> None:
        self._tasks = [
            asyncio.create_task(self._resync_forever(), name="mirror-resync"),
            asyncio.create_task(self._follow_events(), name="mirror-events"),
        ]

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._conn.close()

    async def _resync_forever(self) -> None:
        while True:
            try:
                await self.full_sync()
                # On FerretDB a sync is a scan (about 1-3 ms a job on this machine): never spend
                # more than a tenth of the time syncing, whatever the configured interval.
                await asyncio.sleep(max(self._resync_s, 10 * (self.last_sync_s or 0)))
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("job mirror sync failed; retrying in 10 s")
                await asyncio.sleep(10)

    async def _follow_events(self) -> None:
        while True:
            consumer = AIOKafkaConsumer(
                *JOB_TOPICS,
                bootstrap_servers=self._settings.kafka_bootstrap,
                client_id="plinth-dashboard-mirror",
                group_id=None,  # every dashboard instance sees every event; nothing committed
                auto_offset_reset="latest",
                enable_auto_commit=False,
            )
            try:
                await consumer.start()
                while True:
                    batches = await consumer.getmany(timeout_ms=1000, max_records=500)
                    job_ids = {
                        job_id
                        for records in batches.values()
                        for record in records
                        if (job_id := _job_id(record.value))
                    }
                    for job_id in job_ids:
                        await self.refresh(job_id)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("job mirror lost its Kafka consumer; reconnecting in 5 s")
                await asyncio.sleep(5)
            finally:
                with contextlib.suppress(Exception):
                    await consumer.stop()


def _job_id(value: bytes | None) -> str | None:
    try:
        body = json.loads(value or b"")
    except ValueError:
        return None
    job_id = body.get("job_id") if isinstance(body, dict) else None
    return job_id if isinstance(job_id, str) else None
