"""Webhook load benchmark for ingest: signed 3JMS deliveries from a bounded async client.

Starts ``plinth-ingest http`` on 127.0.0.1 against the local stack (a private database, dropped
at the end unless ``--keep-db``), or targets a running one with ``--url`` (and its
``--secret``). For each scenario and concurrency it sends up to ``--requests`` deliveries within
``--seconds``, signed the way 3JMS signs them (``X-3JMS-Signature: sha256=HMAC(secret,
timestamp + "." + body)``, ``plinth_ingest.signature``), and reports req/s, latency percentiles,
errors and the CPU of the server, of the document store and Kafka (from the stack's pid files)
and of this client.

Scenarios:

* ``accepted-sha``: a new SKU and hash per delivery, ``img_sha256`` given: the jobs are created
  in the request (202 ``accepted``).
* ``accepted-nosha``: a new SKU per delivery without a hash: nothing to create yet, the request
  goes to the downloader (202 ``accepted``, ``job_ids`` empty).
* ``duplicate``: redeliveries of deliveries seen before whose jobs already have their original
  (200 ``duplicate``, nothing created, nothing published). The pool is seeded first (not timed)
  and its jobs marked downloaded in the database.

No image is ever fetched: the server runs without its downloader, and every ``image_url`` points
at 192.0.2.1 (TEST-NET-1), which any downloader refuses at its address check without a
connection (``ssrf_refused``), should one consume these requests later.

    uv run python bench/webhook_load.py                          # everything, default bounds
    uv run python bench/webhook_load.py --scenarios duplicate --concurrency 32 --markdown
    uv run python bench/webhook_load.py --workers 2 --json out/after.json
    uv run python bench/webhook_load.py --profile out/ingest.prof   # cProfile in the server

Only loopback traffic; every loop is bounded by count and time; the server process (and its
uvicorn workers) started here is the only process stopped.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import httpx

from plinth_ingest.app import WEBHOOK_PATH
from plinth_ingest.signature import signed_headers

REPO = Path(__file__).resolve().parent.parent
STACK_RUN = REPO / ".stack" / "run"
SCENARIOS = ("accepted-sha", "accepted-nosha", "duplicate")
EXPECTED = {"accepted-sha": (202, "accepted"), "accepted-nosha": (202, "accepted"),
            "duplicate": (200, "duplicate")}  # fmt: skip
CLK_TCK = os.sysconf("SC_CLK_TCK")
GOAL = (
    "goal: accepted >= 500/s with p99 < 100 ms at concurrency 32, 0 errors; "
    "duplicates >= 2,000/s"
)


# --- CPU of processes, from /proc ---------------------------------------------------------


def _proc_times(pid: int) -> tuple[int, float] | None:
    """(parent pid, user+system CPU seconds) of a live process."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name is in parentheses and may contain spaces: split after its end.
    fields = raw[raw.rindex(")") + 2 :].split()
    return int(fields[1]), (int(fields[11]) + int(fields[12])) / CLK_TCK


def _tree_cpu(root: int) -> dict[int, float]:
    """CPU seconds of ``root`` and every live descendant (uvicorn's workers)."""
    parents: dict[int, int] = {}
    cpu: dict[int, float] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        times = _proc_times(int(entry.name))
        if times is not None:
            parents[int(entry.name)], cpu[int(entry.name)] = times
    tree = {root}
    for _ in range(8):  # bounded depth
        grown = tree | {pid for pid, ppid in parents.items() if ppid in tree}
        if grown == tree:
            break
        tree = grown
    return {pid: cpu[pid] for pid in tree if pid in cpu}


def _stack_pid(component: str) -> int | None:
    try:
        return int(json.loads((STACK_RUN / f"{component}.pid").read_text())["pid"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


class CpuMeter:
    """CPU seconds used between two snapshots by the server tree, the store, Kafka, this client."""

    def __init__(self, server_pid: int | None) -> None:
        self.roots = {"server": server_pid, "store": _stack_pid("mongo"),
                      "kafka": _stack_pid("kafka")}  # fmt: skip

    def snapshot(self) -> dict[str, dict[int, float]]:
        snap = {name: _tree_cpu(pid) for name, pid in self.roots.items() if pid is not None}
        snap["client"] = {0: time.process_time()}
        return snap

    @staticmethod
    def used(
        before: dict[str, dict[int, float]], after: dict[str, dict[int, float]]
    ) -> dict[str, float]:
        return {
            name: sum(t - before.get(name, {}).get(pid, 0.0) for pid, t in procs.items())
            for name, procs in after.items()
        }


# --- the server ---------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class IngestProcess:
    """``plinth-ingest http`` as its own process (its own session, so its workers go with it)."""

    def __init__(
        self, *, secret: str, mongo_db: str, workers: int, profile: Path | None,
        extra_env: dict[str, str],
    ) -> None:  # fmt: skip
        self.port = _free_port()
        env = {
            **os.environ,
            **extra_env,
            "PLINTH_MONGO_DB": mongo_db,
            "PLINTH_WEBHOOK_SECRET": secret,
            "PLINTH_WEBHOOK_DEV_BYPASS": "false",
            "PLINTH_INGEST_HOST": "127.0.0.1",
            "PLINTH_INGEST_PORT": str(self.port),
        }
        if workers:
            env["PLINTH_INGEST_WORKERS"] = str(workers)
        if profile is not None:
            env["PLINTH_INGEST_PROFILE"] = str(profile)
        self.log = open(REPO / "out" / "webhook_load.server.log", "wb")  # noqa: SIM115
        self.process = subprocess.Popen(
            [sys.executable, "-m", "plinth_ingest.main", "http"],
            env=env, stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def wait_ready(self, timeout_s: float = 90.0) -> None:
        deadline = time.monotonic() + timeout_s
        async with httpx.AsyncClient(timeout=5) as http:
            while time.monotonic() < deadline:
                if self.process.poll() is not None:
                    raise RuntimeError(
                        f"plinth-ingest exited ({self.process.returncode}); see {self.log.name}"
                    )
                with contextlib.suppress(httpx.HTTPError):
                    if (await http.get(f"{self.url}/ready")).status_code == 200:
                        return
                await asyncio.sleep(0.3)
        raise RuntimeError(f"plinth-ingest not ready within {timeout_s:.0f}s; see {self.log.name}")

    def stop(self) -> None:
        """SIGINT to the server (uvicorn stops gracefully, then re-raises it: a KeyboardInterrupt,
        so the profile is still written, where a re-raised SIGTERM would end the process at
        once); the process group only if it lingers."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.process.pid, signal.SIGKILL)  # our own session only
                self.process.wait(5)
        self.log.close()


# --- the client ---------------------------------------------------------------------------


@dataclass
class Cell:
    scenario: str
    concurrency: int
    requests: int = 0
    errors: int = 0
    wall_s: float = 0.0
    latencies_ms: list[float] = field(default_factory=list)
    cpu_s: dict[str, float] = field(default_factory=dict)
    outcomes: Counter[str] = field(default_factory=Counter)
    error_samples: list[str] = field(default_factory=list)

    @property
    def rate(self) -> float:
        return (self.requests - self.errors) / self.wall_s if self.wall_s else 0.0

    def pct(self, q: float) -> float:
        if not self.latencies_ms:
            return float("nan")
        ordered = sorted(self.latencies_ms)
        return ordered[min(len(ordered) - 1, int(q / 100 * len(ordered)))]

    def cpu_pct(self, name: str) -> float:
        return 100 * self.cpu_s.get(name, float("nan")) / self.wall_s if self.wall_s else 0.0

    def summary(self) -> dict[str, Any]:
        data = {k: v for k, v in asdict(self).items() if k not in ("latencies_ms", "outcomes")}
        data.update(
            outcomes=dict(self.outcomes),
            rate=round(self.rate, 1),
            p50_ms=round(self.pct(50), 2), p95_ms=round(self.pct(95), 2),
            p99_ms=round(self.pct(99), 2),
            mean_ms=round(statistics.fmean(self.latencies_ms), 2) if self.latencies_ms else None,
        )  # fmt: skip
        return data


class Deliveries:
    """Bodies for a scenario: each ``next()`` is a new delivery, or one from the duplicate pool."""

    def __init__(self, run: str, scenario: str, themes: list[str]) -> None:
        self.run, self.scenario, self.themes = run, scenario, themes
        self.count = 0
        self.pool: list[bytes] = []

    def fresh(self, tag: str) -> bytes:
        self.count += 1
        sku = f"B{self.run}-{tag}{self.count}"
        body: dict[str, Any] = {
            "sku": sku,
            "image_url": f"http://192.0.2.1/bench/{sku}.jpg",
            "themes": self.themes,
        }
        if tag != "n":
            body["img_sha256"] = hashlib.sha256(sku.encode()).hexdigest()
        return json.dumps(body).encode()

    def next(self) -> bytes:
        if self.scenario == "duplicate":
            body = self.pool[self.count % len(self.pool)]
            self.count += 1
            return body
        return self.fresh("s" if self.scenario == "accepted-sha" else "n")


async def post(http: httpx.AsyncClient, url: str, secret: str, body: bytes) -> httpx.Response:
    headers = {"content-type": "application/json", **signed_headers(secret, body)}
    return await http.post(url + WEBHOOK_PATH, content=body, headers=headers)


def one_connection() -> httpx.AsyncClient:
    """A client of one keep-alive connection: one per simulated sender, made once per run (one
    shared client with a pool of 64 connections costs more CPU per request than the server;
    making a client costs tens of milliseconds: its TLS context)."""
    limits = httpx.Limits(max_connections=1, max_keepalive_connections=1)
    return httpx.AsyncClient(limits=limits, timeout=30.0)


async def run_cell(
    clients: list[httpx.AsyncClient], url: str, secret: str, deliveries: Deliveries, cell: Cell,
    *, max_requests: int, max_seconds: float, meter: CpuMeter,
) -> None:  # fmt: skip
    want_status, want_outcome = EXPECTED[cell.scenario]
    sent = 0
    deadline = time.monotonic() + max_seconds

    async def sender(http: httpx.AsyncClient) -> None:
        nonlocal sent
        while sent < max_requests and time.monotonic() < deadline:
            sent += 1
            body = deliveries.next()
            started = time.perf_counter()
            try:
                response = await post(http, url, secret, body)
            except httpx.HTTPError as exc:
                cell.requests += 1
                cell.errors += 1
                if len(cell.error_samples) < 5:
                    cell.error_samples.append(f"{type(exc).__name__}: {exc}")
                continue
            cell.latencies_ms.append((time.perf_counter() - started) * 1000)
            cell.requests += 1
            try:
                reply = response.json()
            except ValueError:
                reply = {}
            outcome = reply.get("outcome") or reply.get("error") or "?"
            cell.outcomes[f"{response.status_code} {outcome}"] += 1
            if cell.scenario == "duplicate" and reply.get("download") == "queued":
                cell.outcomes["re-published"] += 1
            if response.status_code != want_status or outcome != want_outcome:
                cell.errors += 1
                if len(cell.error_samples) < 5:
                    cell.error_samples.append(f"{response.status_code} {response.text[:200]}")

    before = meter.snapshot()
    started = time.monotonic()
    await asyncio.gather(*(sender(http) for http in clients[: cell.concurrency]))
    cell.wall_s = time.monotonic() - started
    cell.cpu_s = CpuMeter.used(before, meter.snapshot())


async def seed_duplicates(
    clients: list[httpx.AsyncClient], url: str, secret: str, deliveries: Deliveries, size: int,
    mongo_db: str,
) -> None:  # fmt: skip
    """Send ``size`` new deliveries (not timed), then mark their jobs downloaded, so that their
    redeliveries are pure duplicates (nothing to publish)."""
    bodies = [deliveries.fresh("d") for _ in range(size)]
    queue = iter(bodies)

    async def sender(http: httpx.AsyncClient) -> None:
        for body in queue:
            response = await post(http, url, secret, body)
            if response.status_code not in (200, 202):
                raise RuntimeError(f"seeding failed: {response.status_code} {response.text}")

    await asyncio.wait_for(asyncio.gather(*(sender(h) for h in clients[:16])), timeout=300)
    deliveries.pool = bodies
    deliveries.count = 0
    from pymongo import AsyncMongoClient

    from plinth.settings import MongoSettings

    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(MongoSettings().mongo_uri)
    try:
        result = await client[mongo_db]["jobs"].update_many(
            {"sku": {"$regex": f"^B{deliveries.run}-d"}},
            {"$set": {"s3_original_key": "bench/not-downloaded.jpg"}},
        )
        marked = result.modified_count
        print(f"  duplicate pool: {size} deliveries, {marked} jobs marked downloaded")
    finally:
        await client.close()


# --- report -------------------------------------------------------------------------------


def table(cells: list[Cell], markdown: bool) -> str:
    head = ["scenario", "conc", "requests", "errors", "req/s", "p50 ms", "p95 ms", "p99 ms",
            "server CPU", "store CPU", "kafka CPU", "client CPU"]  # fmt: skip
    rows = [
        [
            c.scenario, str(c.concurrency), str(c.requests), str(c.errors), f"{c.rate:.0f}",
            f"{c.pct(50):.1f}", f"{c.pct(95):.1f}", f"{c.pct(99):.1f}",
            *(f"{c.cpu_pct(name):.0f}%" for name in ("server", "store", "kafka", "client")),
        ]
        for c in cells
    ]
    if markdown:
        lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        lines += ["| " + " | ".join(row) + " |" for row in rows]
        return "\n".join(lines)
    widths = [max(len(r[i]) for r in [head, *rows]) for i in range(len(head))]
    return "\n".join(
        "  ".join(value.rjust(width) for value, width in zip(row, widths, strict=True))
        for row in [head, *rows]
    )


def print_profile(path: Path, top: int = 30) -> None:
    import pstats

    if not path.exists():
        print(f"no profile written at {path} (see out/webhook_load.server.log)")
        return
    stats = pstats.Stats(str(path))
    print(f"\n--- server profile ({path}), by own time ---")
    stats.sort_stats("tottime").print_stats(top)
    print("--- by cumulative time ---")
    stats.sort_stats("cumulative").print_stats(top)


# --- main ---------------------------------------------------------------------------------


@contextlib.asynccontextmanager
async def target(args: argparse.Namespace, mongo_db: str) -> AsyncIterator[str]:
    if args.url:
        yield args.url.rstrip("/")
        return
    server = IngestProcess(
        secret=args.secret, mongo_db=mongo_db, workers=args.workers, profile=args.profile,
        extra_env=dict(item.split("=", 1) for item in args.server_env),
    )  # fmt: skip
    try:
        await server.wait_ready()
        args.server_pid = server.process.pid
        yield server.url
    finally:
        server.stop()
        if not args.keep_db:
            await _drop(mongo_db)


async def _drop(mongo_db: str) -> None:
    from pymongo import AsyncMongoClient

    from plinth.settings import MongoSettings

    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(MongoSettings().mongo_uri)
    try:
        await client.drop_database(mongo_db)
    finally:
        await client.close()


def _csv(value: str) -> list[str]:
    return [part.strip() for part in value.split(",") if part.strip()]


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", help="a running ingest (default: start one here)")
    parser.add_argument("--secret", default=None, help="webhook secret (default: a random one)")
    parser.add_argument("--mongo-db", default=None, help="the server's database (with --url)")
    parser.add_argument("--server-pid", type=int, default=None,
                        help="with --url: the server's pid, for its CPU figures")
    parser.add_argument("--server-env", action="append", default=[], metavar="KEY=VALUE",
                        help="extra environment of the server started here (repeatable)")
    parser.add_argument("--workers", type=int, default=None,
                        help="uvicorn workers of the server started here (default: its own)")
    parser.add_argument("--scenarios", type=_csv, default=list(SCENARIOS))
    parser.add_argument("--concurrency", type=lambda v: [int(x) for x in _csv(v)],
                        default=[1, 8, 32, 64])
    parser.add_argument("--requests", type=int, default=2000, help="most requests per cell")
    parser.add_argument("--seconds", type=float, default=15.0, help="most seconds per cell")
    parser.add_argument("--themes", type=_csv, default=["default"])
    parser.add_argument("--pool", type=int, default=400, help="deliveries in the duplicate pool")
    parser.add_argument("--markdown", action="store_true", help="print a markdown table")
    parser.add_argument("--json", type=Path, help="also write the cells as JSON here")
    parser.add_argument("--profile", type=Path,
                        help="run the server under cProfile (one worker) and print its top")
    parser.add_argument("--keep-db", action="store_true", help="keep the private database")
    args = parser.parse_args(argv)  # fmt: skip
    unknown = set(args.scenarios) - set(SCENARIOS)
    if unknown:
        parser.error(f"unknown scenarios {sorted(unknown)}; choose from {SCENARIOS}")
    if args.url and not args.secret:
        parser.error("--url needs --secret (the server's PLINTH_WEBHOOK_SECRET)")
    if args.profile and (args.url or (args.workers or 1) > 1):
        parser.error("--profile needs the server started here with one worker")
    args.requests = max(1, min(args.requests, 1_000_000))
    args.seconds = max(1.0, min(args.seconds, 600.0))
    args.secret = args.secret or uuid.uuid4().hex
    if args.workers is None and not args.url:
        args.workers = 0  # 0: the server's own default (PLINTH_INGEST_WORKERS)
    if any("=" not in item for item in args.server_env):
        parser.error("--server-env takes KEY=VALUE")
    return args


async def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    (REPO / "out").mkdir(exist_ok=True)
    run = uuid.uuid4().hex[:6]
    from plinth.settings import MongoSettings

    mongo_db = args.mongo_db or (MongoSettings().mongo_db if args.url else f"bench_webhook_{run}")
    cells: list[Cell] = []
    async with target(args, mongo_db) as url, contextlib.AsyncExitStack() as stack:
        meter = CpuMeter(args.server_pid)
        clients = [one_connection() for _ in range(max(16, *args.concurrency))]
        stack.push_async_callback(asyncio.gather, *(c.aclose() for c in clients))
        print(f"ingest at {url}, database {mongo_db}, themes {args.themes}")
        for scenario in args.scenarios:
            deliveries = Deliveries(run, scenario, args.themes)
            if scenario == "duplicate":
                await seed_duplicates(
                    clients, url, args.secret, deliveries, min(args.pool, args.requests),
                    mongo_db,
                )  # fmt: skip
            # Warm-up (connections, caches), not counted.
            warm = Cell(scenario, 4)
            await run_cell(clients, url, args.secret, deliveries, warm,
                           max_requests=20, max_seconds=10, meter=meter)  # fmt: skip
            for concurrency in args.concurrency:
                cell = Cell(scenario, concurrency)
                await run_cell(
                    clients, url, args.secret, deliveries, cell,
                    max_requests=args.requests, max_seconds=args.seconds, meter=meter,
                )  # fmt: skip
                cells.append(cell)
                print(
                    f"  {scenario:15} c={concurrency:<3} {cell.rate:7.0f} req/s  "
                    f"p99 {cell.pct(99):7.1f} ms  errors {cell.errors}  "
                    f"{dict(cell.outcomes)}"
                )
                for sample in cell.error_samples:
                    print(f"    error: {sample}")
    print()
    print(table(cells, args.markdown))
    print(f"\nCPU: percent of one core over the cell's wall time (2 cores = 200%). {GOAL}")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps([c.summary() for c in cells], indent=2, default=str))
    if args.profile:
        print_profile(args.profile)
    return 1 if any(c.errors for c in cells) else 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
