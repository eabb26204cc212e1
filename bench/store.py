"""Document-store benchmark: every candidate MongoDB-wire server, measured in one run at scale.

Candidates (each started here on a free port, with its own data; the local stack's FerretDB build
and, for the PostgreSQL ones, the stack's PostgreSQL cluster, which must be up):

* ``ferretdb-sqlite``: FerretDB 1.24 on SQLite, the local stack's store until now.
* ``ferretdb-pg``: FerretDB 1.24 on PostgreSQL as upstream pushes queries down
  (``PLINTH_FERRETDB_PUSHDOWN=off``; the write-lock and ``$group`` fixes stay in).
* ``ferretdb-pg-pushdown``: the same binary with Plinth's pushdown patch, the local stack's store.

For each candidate the ``jobs`` collection grows through the sizes (default 1k, 10k, 100k, 1M job
documents shaped like Plinth's, with Plinth's indexes); at each size the script times, p50/p95 over
up to ``--samples`` calls (each operation stops early after ``--op-budget`` seconds):
insert, find by ``_id``, the conditional replace on ``{_id, status}`` (a stage transition), the
same as one ``find_one_and_update``, an update by ``_id``, the dashboard's list (status filter,
sort on ``created_at`` then ``_id``, limit 50) and its unfiltered form, and the count behind them.
A candidate whose slowest operation passes ``--give-up-s`` at one size is not loaded further
(the table says so). Then, once per candidate: a 5-client compare-and-set race (exactly one
winner per trial), ``$group`` with several accumulators checked against Python, start-up time
and disk use.

    deploy/local/stack up postgres mongo
    uv run python bench/store.py                              # 1k .. 1M; ~15 min
    uv run python bench/store.py --sizes 1000,10000 --candidates ferretdb-pg-pushdown --markdown
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from pymongo import ASCENDING, DESCENDING, MongoClient, ReturnDocument
from pymongo.collection import Collection

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "deploy" / "local"))

from stackctl import installs, postgres  # noqa: E402
from stackctl.config import load_config  # noqa: E402

from plinth.domain.job import Job, StepTimings, Transition  # noqa: E402
from plinth.domain.states import JobStatus  # noqa: E402

Doc = dict[str, Any]
STATUSES = (
    [JobStatus.DONE] * 85
    + [JobStatus.FAILED] * 5
    + [JobStatus.SEGMENTING, JobStatus.BG_GENERATING, JobStatus.COMPOSITING] * 2
    + [JobStatus.DERIVATIVES] * 2
    + [JobStatus.NEW] * 2
)
LIST_STATUS = JobStatus.FAILED.value  # a filter that selects ~5% of the jobs
EPOCH = datetime(2026, 1, 1, tzinfo=UTC)


# -- documents ------------------------------------------------------------------------------------


def _template() -> Doc:
    """A finished job as the pipeline stores it: history, timings, costs, artefact keys."""
    job = Job(sku="TEMPLATE", theme="studio-white", image_url="https://cdn.example/p.jpg")
    job.status = JobStatus.DONE
    job.timings = StepTimings(download_ms=120, segmentation_ms=1480, backgrounds_ms=300,
                              compositing_ms=420, derivatives_ms=610, manifest_ms=12)
    job.cost_usd = 0.012
    job.cost_breakdown = {"segment": 0.0, "background": 0.012}
    job.segment_confidence = 0.93
    job.history = [
        Transition(from_status=None, to_status=JobStatus.NEW, at=EPOCH),
        Transition(from_status=JobStatus.NEW, to_status=JobStatus.QUEUED, at=EPOCH),
        Transition(from_status=JobStatus.QUEUED, to_status=JobStatus.SEGMENTING, at=EPOCH),
        Transition(from_status=JobStatus.SEGMENTING, to_status=JobStatus.DONE, at=EPOCH),
    ]
    return job.to_document()


TEMPLATE = _template()


def job_doc(n: int) -> Doc:
    created = EPOCH + timedelta(seconds=n)
    return {
        **TEMPLATE,
        "_id": f"job-{n:09d}",
        "sku": f"SKU-{n % 50_000:06d}",
        "img_sha256": f"{n:064x}",
        "status": STATUSES[(n * 7919) % len(STATUSES)].value,
        "created_at": created,
        "updated_at": created,
        "segment_confidence": (n % 1000) / 1000,
    }


def ensure_indexes(jobs: Collection[Doc]) -> None:
    """Plinth's job indexes (plinth.adapters.mongo.JobRepository.ensure_indexes)."""
    jobs.create_index([("sku", ASCENDING), ("img_sha256", ASCENDING), ("theme", ASCENDING)],
                      unique=True, name="job_identity")
    jobs.create_index([("status", ASCENDING), ("created_at", DESCENDING)], name="status_created")
    jobs.create_index([("created_at", DESCENDING)], name="created")


# -- candidates -----------------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Candidate:
    name: str
    handler: str  # sqlite | postgresql
    pushdown: bool = True
    description: str = ""
    port: int = 0
    started_s: float = 0.0
    workdir: Path | None = None
    proc: subprocess.Popen[bytes] | None = None

    @property
    def pg_database(self) -> str:
        return "bench_" + self.name.replace("-", "_")

    def start(self, binary: Path) -> None:
        cfg = load_config()
        self.workdir = Path(tempfile.mkdtemp(prefix=f"store-bench-{self.name}-"))
        self.port = _free_port()
        argv = [str(binary), f"--listen-addr=127.0.0.1:{self.port}",
                f"--state-dir={self.workdir}", "--debug-addr=-", "--telemetry=disable",
                "--log-level=ERROR", f"--handler={self.handler}"]
        if self.handler == "sqlite":
            (self.workdir / "data").mkdir()
            argv.append(f"--sqlite-url=file:{self.workdir / 'data'}/")
        else:
            _psql(cfg, f"DROP DATABASE IF EXISTS {self.pg_database}")
            _psql(cfg, f"CREATE DATABASE {self.pg_database}")
            argv.append(f"--postgresql-url=postgres://{postgres.SUPERUSER}@{cfg.host}:"
                        f"{cfg.postgres_port}/{self.pg_database}")
        env = {**os.environ, "PLINTH_FERRETDB_PUSHDOWN": "on" if self.pushdown else "off"}
        started = time.monotonic()
        self.proc = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL,
                                     stderr=(self.workdir / "server.log").open("wb"))
        client = self.client()
        while True:
            try:
                client.admin.command("ping")
                # FerretDB answers ping before it has touched its backend: time a first write.
                client["warmup"]["c"].insert_one({"_id": 1})
                break
            except Exception:
                if self.proc.poll() is not None or time.monotonic() - started > 60:
                    raise RuntimeError(f"{self.name} did not start; see {self.workdir}") from None
                time.sleep(0.05)
        self.started_s = time.monotonic() - started
        client.close()

    def client(self) -> MongoClient[Doc]:
        return MongoClient(f"mongodb://127.0.0.1:{self.port}", tz_aware=True,
                           serverSelectionTimeoutMS=60_000, socketTimeoutMS=600_000)

    def disk_bytes(self) -> int:
        if self.handler == "sqlite":
            assert self.workdir is not None
            return sum(p.stat().st_size for p in (self.workdir / "data").rglob("*") if p.is_file())
        out = _psql(load_config(), f"SELECT pg_database_size('{self.pg_database}')")
        return int(out.strip())

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.proc.wait(10)
            if self.proc.poll() is None:
                self.proc.kill()
        if self.handler == "postgresql":
            _psql(load_config(), f"DROP DATABASE IF EXISTS {self.pg_database}")
        if self.workdir is not None:
            shutil.rmtree(self.workdir, ignore_errors=True)


def _psql(cfg: Any, sql: str, database: str = postgres.DATABASE) -> str:
    result = postgres.client(cfg, "psql", f"--dbname={database}", "-Atq", f"--command={sql}")
    if result.returncode != 0:
        raise RuntimeError(f"psql {sql!r}: {result.stderr.strip()} (is the stack's postgres up?)")
    return result.stdout


CANDIDATES = {
    c.name: c
    for c in (
        Candidate("ferretdb-sqlite", "sqlite", description="FerretDB 1.24, SQLite"),
        Candidate("ferretdb-pg", "postgresql", pushdown=False,
                  description="FerretDB 1.24, PostgreSQL 15, upstream pushdown"),
        Candidate("ferretdb-pg-pushdown", "postgresql",
                  description="FerretDB 1.24, PostgreSQL 15, Plinth's pushdown patch"),
    )
}


# -- measuring ------------------------------------------------------------------------------------


@dataclass
class Timing:
    samples: list[float] = field(default_factory=list)

    @property
    def p50(self) -> float:
        return statistics.median(self.samples) * 1000

    @property
    def p95(self) -> float:
        ordered = sorted(self.samples)
        return ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))] * 1000


def timed(call: Callable[[int], object], samples: int, budget_s: float) -> Timing:
    timing = Timing()
    deadline = time.monotonic() + budget_s
    for i in range(samples):
        started = time.perf_counter()
        call(i)
        timing.samples.append(time.perf_counter() - started)
        if time.monotonic() > deadline and (len(timing.samples) >= 3 or i == 0):
            break  # a first call that alone outlasts the budget is figure enough
    return timing


def load(jobs: Collection[Doc], start: int, stop: int, batch: int = 2000) -> float:
    began = time.monotonic()
    for first in range(start, stop, batch):
        jobs.insert_many([job_doc(n) for n in range(first, min(stop, first + batch))],
                         ordered=False)
    return time.monotonic() - began


def measure(jobs: Collection[Doc], size: int, samples: int, budget_s: float,
            next_id: Iterator[int]) -> dict[str, Timing]:
    db = jobs.database
    ids = [f"job-{(i * 104_729) % size:09d}" for i in range(samples)]
    list_sort = [("created_at", DESCENDING), ("_id", DESCENDING)]

    ops: dict[str, Callable[[int], object]] = {
        "insert": lambda i: jobs.insert_one(job_doc(next(next_id))),
        "find by _id": lambda i: jobs.find_one({"_id": ids[i]}),
        "conditional replace": lambda i: _conditional_replace(jobs, ids[i]),
        "find_one_and_update": lambda i: _find_one_and_update(jobs, ids[i]),
        "update by _id": lambda i: jobs.update_one({"_id": ids[i]},
                                                   {"$set": {"updated_at": datetime.now(UTC)}}),
        "list by status": lambda i: list(jobs.find({"status": LIST_STATUS}).sort(list_sort)
                                         .limit(50)),
        "list, no filter": lambda i: list(jobs.find({}).sort(list_sort).limit(50)),
        "count by status": lambda i: db.command("count", jobs.name,
                                                query={"status": LIST_STATUS})["n"],
    }
    return {name: timed(op, samples, budget_s) for name, op in ops.items()}


def _conditional_replace(jobs: Collection[Doc], job_id: str) -> None:
    """One stage transition as Plinth's JobRepository.replace_if_status does it; the status read
    first is outside what a worker pays (it has the job already) but inside this timing."""
    doc = jobs.find_one({"_id": job_id})
    assert doc is not None
    expected = doc["status"]
    doc["status"] = JobStatus.DONE.value if expected != JobStatus.DONE.value else "DERIVATIVES"
    result = jobs.replace_one({"_id": job_id, "status": expected}, doc)
    assert result.matched_count == 1


def _find_one_and_update(jobs: Collection[Doc], job_id: str) -> None:
    """The transition in one round trip: the status in the filter, the new one in $set."""
    for expected, new in (("DONE", "DERIVATIVES"), ("DERIVATIVES", "DONE")):
        found = jobs.find_one_and_update(
            {"_id": job_id, "status": expected},
            {"$set": {"status": new, "updated_at": datetime.now(UTC)}},
            return_document=ReturnDocument.AFTER)  # FerretDB 1.24: no projection here
        if found is not None:
            return
    # neither DONE nor DERIVATIVES: this job has another status; one call was still made


def race(client: MongoClient[Doc], trials: int, clients: int = 5) -> tuple[int, int]:
    """Trials with exactly one winner, and trials in all, for ``clients`` concurrent CAS calls."""
    coll = client["race"]["jobs"]
    coll.drop()
    exactly_one = 0
    host, port = client.address or ("127.0.0.1", 27017)
    connections: list[MongoClient[Doc]] = [
        MongoClient(f"mongodb://{host}:{port}") for _ in range(clients)
    ]
    try:
        for trial in range(trials):
            coll.insert_one({"_id": trial, "status": "SEGMENTING"})
            barrier = threading.Barrier(clients)
            wins: list[int] = []

            def contend(k: int, trial: int = trial, barrier: threading.Barrier = barrier,
                        wins: list[int] = wins) -> None:
                mine = connections[k]["race"]["jobs"]
                barrier.wait()
                result = mine.replace_one({"_id": trial, "status": "SEGMENTING"},
                                          {"status": f"WON-{k}"})
                if result.modified_count == 1:
                    wins.append(k)

            threads = [threading.Thread(target=contend, args=(k,)) for k in range(clients)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            exactly_one += len(wins) == 1
    finally:
        for c in connections:
            c.close()
    return exactly_one, trials


def group_check(client: MongoClient[Doc]) -> str:
    """Two accumulators in one $group (the case upstream 1.24 gets wrong), then each other
    accumulator on its own: right, wrong or not implemented."""
    coll = client["groupcheck"]["c"]
    coll.drop()
    docs = [{"_id": i, "k": "ab"[i % 2], "v": float(i)} for i in range(10)]
    coll.insert_many(docs)

    def expected(k: str, name: str) -> float:
        values = [d["v"] for d in docs if d["k"] == k]
        return {"n": len(values), "total": sum(values), "lo": min(values), "hi": max(values),
                "mean": sum(values) / len(values)}[name]

    def run(accumulators: Doc) -> str:
        try:
            got = {d["_id"]: d for d in coll.aggregate([{"$group": {"_id": "$k",
                                                                      **accumulators}}])}
        except Exception:
            return "not implemented"
        right = all(got.get(k, {}).get(name) == expected(k, name)
                    for k in "ab" for name in accumulators)
        return "right" if right else "WRONG"

    verdicts = {"$sum+$sum": run({"n": {"$sum": 1}, "total": {"$sum": "$v"}})}
    for op, name in (("$min", "lo"), ("$max", "hi"), ("$avg", "mean")):
        verdicts[op] = run({name: {op: "$v"}})
    return ", ".join(f"{op} {verdict}" for op, verdict in verdicts.items())


# -- report ---------------------------------------------------------------------------------------


def _fmt_ms(ms: float) -> str:
    return f"{ms:.2f}" if ms < 10 else f"{ms:.0f}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="1000,10000,100000,1000000")
    parser.add_argument("--candidates", default=",".join(CANDIDATES))
    parser.add_argument("--samples", type=int, default=200)
    parser.add_argument("--op-budget", type=float, default=15.0,
                        help="seconds per operation and size before it stops sampling")
    parser.add_argument("--give-up-s", type=float, default=2.0,
                        help="do not grow a candidate whose slowest p50 passed this")
    parser.add_argument("--race-trials", type=int, default=100)
    parser.add_argument("--markdown", action="store_true")
    args = parser.parse_args(argv)
    sizes = [int(s) for s in args.sizes.split(",")]
    binary = installs.ferretdb_binary(load_config())
    if not binary.exists():
        print(f"no FerretDB build at {binary}: run deploy/local/stack up", file=sys.stderr)
        return 2

    rows: list[list[str]] = []
    facts: list[list[str]] = []
    for name in args.candidates.split(","):
        cand = CANDIDATES[name]
        cand.start(binary)
        print(f"== {name}: {cand.description} (started in {cand.started_s:.2f} s)", flush=True)
        try:
            client = cand.client()
            jobs = client["bench"]["jobs"]
            ensure_indexes(jobs)
            loaded, stopped_at = 0, None
            next_id = iter(range(10**8, 2 * 10**8))
            load_rates = []
            for size in sizes:
                if stopped_at is not None:
                    rows.append([name, f"{size:,}", *(["-"] * 8),
                                 f"not loaded: slowest p50 at {stopped_at}"])
                    continue
                spent = load(jobs, loaded, size)
                load_rates.append(f"{(size - loaded) / spent:,.0f}/s to {size:,}")
                loaded = size
                if cand.handler == "postgresql":
                    # What autovacuum does after a bulk load, done now so the plans are settled.
                    _psql(load_config(), "ANALYZE", database=cand.pg_database)
                timings = measure(jobs, size, args.samples, args.op_budget, next_id)
                cells = [f"{_fmt_ms(t.p50)} / {_fmt_ms(t.p95)}" for t in timings.values()]
                rows.append([name, f"{size:,}", *cells, ""])
                print(f"  {size:>9,}: " + "; ".join(f"{k} {c}" for k, c in zip(timings, cells,
                                                                                 strict=True)),
                      flush=True)
                slowest = max(t.p50 for t in timings.values())
                if slowest > args.give_up_s * 1000:
                    stopped_at = f"{size:,} was {slowest / 1000:.1f} s"
            winners, trials = race(client, args.race_trials)
            facts.append([name, f"{cand.started_s:.2f}", f"{winners}/{trials}",
                          group_check(client), f"{cand.disk_bytes() / 2**20:,.0f} MiB at "
                          f"{loaded:,}", "; ".join(load_rates)])
            client.close()
        finally:
            cand.stop()

    ops = ["insert", "find by _id", "conditional replace", "find_one_and_update",
           "update by _id", "list by status", "list, no filter", "count by status"]
    header = ["candidate", "jobs", *[f"{op} p50 / p95 (ms)" for op in ops], "note"]
    fact_header = ["candidate", "start-up (s)", "5-client CAS: one winner", "$group",
                   "disk", "bulk load (docs/s)"]
    for head, body in ((header, rows), (fact_header, facts)):
        if args.markdown:
            print("\n| " + " | ".join(head) + " |\n|" + "---|" * len(head))
            for row in body:
                print("| " + " | ".join(row) + " |")
        else:
            print()
            for row in [head, *body]:
                print("  ".join(row))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
