"""Chaos benchmark: the whole pipeline under crashes and outages, then a check of what it left.

Every service runs as its own process (``tests/e2e/harness.py``'s :class:`ServiceProcesses`) on a
*private* local stack (own state dir under /tmp, own free ports: ``PLINTH_STACK_DIR`` and
``PLINTH_STACK_*_PORT``), so restarting Kafka, the document store or S3 never disturbs the shared
stack others test against. N jobs (photos x themes, 3 background variants by default) arrive as
signed webhooks; photos come from a loopback HTTP server, publish talks to the fake Shopify.

While the jobs run, at points spread over the run's progress (fraction of jobs terminal):

- ``kill -9`` of a random stage worker (segment, background, composite, derive, publish),
  restarted after ``--restart-delay`` seconds as a supervisor would; a service that exits on its
  own is restarted the same way (counted as a crash);
- a Kafka restart (``stack down kafka`` / ``up kafka``), a document store restart (FerretDB and
  its PostgreSQL), an S3 outage of ``--s3-outage`` seconds.

Then the checks: every job terminal (none stuck), no duplicate job per (sku, image hash, theme),
no duplicate transition in a job's history, one Shopify media per (sku, theme), every DONE job's
artefacts in S3 (keys from :mod:`plinth.keys`) and its manifest valid against
``manifest.schema.json``. Everything started is recorded (``pids.jsonl`` in the log dir) and only
that is stopped; the private stack is torn down at the end, also on Ctrl-C, SIGTERM or timeout.

    uv run python bench/chaos.py [--jobs 200] [--timeout 3600] [--markdown]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import json
import math
import os
import random
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests" / "e2e"))

from harness import (  # noqa: E402
    ServiceProcesses,
    free_port,
    sample_photos,
    send_webhook,
    wait_for_port,
    wait_for_workers,
)

from plinth import keys  # noqa: E402
from plinth.adapters.kafka import ensure_topics  # noqa: E402
from plinth.adapters.mongo import Database  # noqa: E402
from plinth.adapters.s3 import BlobStore  # noqa: E402
from plinth.domain.job import Job  # noqa: E402
from plinth.domain.states import TERMINAL, JobStatus  # noqa: E402
from plinth.imaging.backgrounds import load_theme  # noqa: E402
from plinth.imaging.manifest import validate_manifest  # noqa: E402
from plinth.settings import InfrastructureSettings  # noqa: E402
from plinth_testkit.fakes.shopify import FakeShopify  # noqa: E402
from plinth_testkit.http_server import LocalHttpServer  # noqa: E402

STACK = REPO / "deploy" / "local" / "stack"
# Themes with at least 3 variants (marketplace_white has one: a plain white backdrop).
THEMES = ("default", "warm_paper", "cool_grey_studio", "charcoal_spotlight", "pastel_gradient",
          "radial_glow")
KILLABLE = ("segment", "background", "composite", "derive", "publish")
SERVICES = ("ingest", *KILLABLE)
# The shared stack's ports (deploy/local/stackctl/config.py): a private stack never takes them.
SHARED_PORTS = frozenset({9092, 9093, 54329, 27017, 9000})


# -- the private stack ------------------------------------------------------------------------


@dataclass
class PrivateStack:
    """``deploy/local/stack`` with its own state dir and free ports on 127.0.0.1.

    The root is made under /tmp with mode 0755: PostgreSQL runs as user ``postgres`` when we are
    root and must be able to reach its data dir (pytest's tmp dirs are 0700)."""

    root: Path
    env: dict[str, str]

    @classmethod
    def create(cls, prefix: str = "plinth-chaos-") -> PrivateStack:
        root = Path(tempfile.mkdtemp(prefix=prefix, dir="/tmp"))
        root.chmod(0o755)
        ports: set[int] = set()
        while len(ports) < 5:
            port = free_port()
            if port not in SHARED_PORTS:
                ports.add(port)
        kafka, controller, pg, mongo, s3 = sorted(ports)
        env = {k: v for k, v in os.environ.items() if not k.startswith("PLINTH_STACK_")}
        env.update(PLINTH_STACK_DIR=str(root / "stack"), PLINTH_STACK_KAFKA_PORT=str(kafka),
                   PLINTH_STACK_KAFKA_CONTROLLER_PORT=str(controller),
                   PLINTH_STACK_POSTGRES_PORT=str(pg), PLINTH_STACK_MONGO_PORT=str(mongo),
                   PLINTH_STACK_S3_PORT=str(s3))
        return cls(root, env)

    def run(self, *args: str, timeout: float = 180) -> str:
        done = subprocess.run([str(STACK), *args], env=self.env, capture_output=True, text=True,
                              timeout=timeout, check=False)
        if done.returncode != 0:
            raise RuntimeError(f"stack {' '.join(args)} failed ({done.returncode}): "
                               f"{done.stderr.strip() or done.stdout.strip()}")
        return done.stdout

    def up(self, *components: str) -> None:
        self.run("up", *components)

    def down(self, *components: str) -> None:
        self.run("down", *components, timeout=120)

    def plinth_env(self) -> dict[str, str]:
        """The PLINTH_* settings that point the services at this stack (``stack env``)."""
        lines = self.run("env").splitlines()
        return dict(line.split("=", 1) for line in lines if "=" in line)

    def destroy(self) -> None:
        """Stop every component (only the ones this state dir's pid files name) and delete it."""
        try:
            self.down()
        finally:
            shutil.rmtree(self.root, ignore_errors=True)


def settings_from_env(env: dict[str, str], **overrides: Any) -> InfrastructureSettings:
    values: dict[str, Any] = {k.removeprefix("PLINTH_").lower(): v for k, v in env.items()
                              if k.startswith("PLINTH_") and v != ""}
    return InfrastructureSettings(**{**values, **overrides})


# -- configuration and report -----------------------------------------------------------------


@dataclass
class ChaosConfig:
    jobs: int = 200
    themes_per_photo: int = 4
    variants: int = 3
    kills: int | None = None
    """kill -9 of stage workers; default: one per 20 jobs, at least 3"""
    kafka_restarts: int = 1
    mongo_restarts: int = 1
    s3_outages: int = 1
    s3_outage_s: float = 10.0
    mongo_outage_s: float = 3.0
    restart_delay_s: float = 2.0
    timeout_s: float = 3600.0
    seed: int = 17
    log_dir: Path | None = None

    @property
    def kill_count(self) -> int:
        return self.kills if self.kills is not None else max(3, self.jobs // 20)


@dataclass
class ChaosReport:
    jobs: int = 0
    done: int = 0
    failed: int = 0
    stuck: int = 0
    duplicate_jobs: int = 0
    duplicate_transitions: int = 0
    duplicate_media: int = 0
    missing_artefacts: int = 0
    invalid_manifests: int = 0
    kills: int = 0
    restarts: int = 0
    crashes: int = 0
    kafka_restarts: int = 0
    mongo_restarts: int = 0
    s3_outages: int = 0
    webhook_retries: int = 0
    wall_s: float = 0.0
    setup_s: float = 0.0
    timed_out: bool = False
    problems: list[str] = field(default_factory=list)
    failures: dict[str, int] = field(default_factory=dict)
    log_dir: str = ""

    @property
    def jobs_per_min(self) -> float:
        return self.done / self.wall_s * 60 if self.wall_s > 0 else 0.0

    @property
    def clean(self) -> bool:
        """Nothing lost, stuck, duplicated or broken (FAILED jobs are reported, not judged)."""
        return not self.timed_out and self.stuck == 0 and self.done + self.failed == self.jobs \
            and not any((self.duplicate_jobs, self.duplicate_transitions, self.duplicate_media,
                         self.missing_artefacts, self.invalid_manifests))

    def rows(self) -> list[tuple[str, str]]:
        return [
            ("jobs", str(self.jobs)), ("DONE", str(self.done)), ("FAILED", str(self.failed)),
            ("stuck (not terminal)", str(self.stuck)),
            ("duplicate jobs (sku, hash, theme)", str(self.duplicate_jobs)),
            ("duplicate transitions", str(self.duplicate_transitions)),
            ("duplicate Shopify media", str(self.duplicate_media)),
            ("missing artefacts (S3 keys)", str(self.missing_artefacts)),
            ("invalid manifests", str(self.invalid_manifests)),
            ("kill -9 of stage workers", str(self.kills)),
            ("worker restarts (after kills + crashes)", f"{self.restarts} ({self.crashes} "
             "crashes)"),
            ("Kafka restarts", str(self.kafka_restarts)),
            ("document store restarts", str(self.mongo_restarts)),
            ("S3 outages", str(self.s3_outages)),
            ("webhook retries", str(self.webhook_retries)),
            ("wall time (first webhook to last job)", f"{self.wall_s:.0f} s"),
            ("jobs/min (DONE)", f"{self.jobs_per_min:.1f}"),
        ]

    def table(self, markdown: bool = False) -> str:
        rows = self.rows()
        if markdown:
            lines = ["| metric | value |", "|---|---:|"]
            lines += [f"| {name} | {value} |" for name, value in rows]
        else:
            width = max(len(name) for name, _ in rows)
            lines = [f"{name.ljust(width)}  {value}" for name, value in rows]
        notes = [f"failure codes: {self.failures}"] if self.failures else []
        notes += [f"problem: {p}" for p in self.problems[:20]]
        if len(self.problems) > 20:
            notes.append(f"... and {len(self.problems) - 20} more problems")
        if self.timed_out:
            notes.append("the run hit its --timeout")
        return "\n".join(lines + (["", *notes] if notes else []))


# -- supervision of the service processes -----------------------------------------------------


@dataclass
class Slot:
    service: str
    name: str = ""
    generation: int = 0
    restart_at: float | None = None


class Supervisor:
    """One process per service; whatever dies (kill -9 by us, or a crash) is restarted after
    ``delay_s``, as systemd or Kubernetes would. Every pid started is appended to pids.jsonl."""

    def __init__(self, processes: ServiceProcesses, delay_s: float, report: ChaosReport,
                 pid_log: Path, say: Callable[[str], None]) -> None:
        self.processes = processes
        self.delay_s = delay_s
        self.report = report
        self.pid_log = pid_log
        self.say = say
        self.slots = {service: Slot(service) for service in SERVICES}
        self.killed: set[str] = set()

    def start(self, slot: Slot) -> None:
        slot.generation += 1
        slot.name = self.processes.start(slot.service, f"{slot.service}-{slot.generation}")
        slot.restart_at = None
        proc = self.processes.procs[slot.name]
        with self.pid_log.open("a") as out:
            out.write(json.dumps({"name": slot.name, "pid": proc.pid, "at": time.time()}) + "\n")

    def start_all(self) -> None:
        for slot in self.slots.values():
            self.start(slot)

    def kill(self, service: str) -> None:
        slot = self.slots[service]
        if slot.name in self.processes.procs:
            self.killed.add(slot.name)
            self.processes.kill(slot.name)
            self.report.kills += 1
            self.say(f"kill -9 {slot.name}")

    def tick(self) -> None:
        now = time.monotonic()
        for slot in self.slots.values():
            proc = self.processes.procs.get(slot.name)
            if proc is not None and proc.poll() is None:
                continue
            if slot.restart_at is None:
                if proc is not None:  # exited on its own
                    self.processes.procs.pop(slot.name)
                    self.report.crashes += 1
                    self.say(f"{slot.name} exited with {proc.returncode}")
                slot.restart_at = now + self.delay_s
            elif now >= slot.restart_at:
                self.start(slot)
                self.report.restarts += 1

    async def run(self) -> None:
        while True:
            self.tick()
            await asyncio.sleep(0.25)


# -- the run ----------------------------------------------------------------------------------


def deliveries_for(cfg: ChaosConfig, run_id: str, photo_urls: list[str], photos: list[bytes]
                   ) -> list[dict[str, Any]]:
    """``cfg.jobs`` jobs: one delivery per photo with ``themes_per_photo`` themes (rotating)."""
    per = max(1, min(cfg.themes_per_photo, len(THEMES)))
    out = []
    remaining = cfg.jobs
    for i, (url, data) in enumerate(zip(photo_urls, photos, strict=True)):
        themes = [THEMES[(i + k) % len(THEMES)] for k in range(min(per, remaining))]
        remaining -= len(themes)
        out.append({"sku": f"CHAOS-{run_id}-{i:04d}", "image_url": url, "themes": themes,
                    "img_sha256": hashlib.sha256(data).hexdigest()})
    return out


def identities(deliveries: list[dict[str, Any]]) -> set[tuple[str, str, str]]:
    return {(d["sku"], d["img_sha256"], t) for d in deliveries for t in d["themes"]}


async def send_all(client: httpx.Client, ingest_url: str, secret: str,
                   deliveries: list[dict[str, Any]], report: ChaosReport, deadline: float,
                   say: Callable[[str], None]) -> None:
    """Every delivery until it is accepted (202) or known (duplicate), retried through outages
    and restarts as 3JMS retries a delivery that was not acknowledged."""
    for payload in deliveries:
        while True:
            try:
                reply = await asyncio.to_thread(send_webhook, client, ingest_url, secret, payload)
                if reply.status_code in (200, 202):
                    break
                if reply.status_code < 500 and reply.status_code not in (408, 429):
                    report.problems.append(f"webhook {payload['sku']}: HTTP {reply.status_code} "
                                           f"{reply.text[:200]}")
                    break
            except httpx.HTTPError:
                pass
            report.webhook_retries += 1
            if time.monotonic() > deadline:
                report.problems.append(f"webhook {payload['sku']} never accepted")
                break
            await asyncio.sleep(1.0)
    say(f"{len(deliveries)} deliveries sent ({report.webhook_retries} retries)")


async def terminal_count(db: Database) -> tuple[int, int]:
    """(jobs that exist, jobs terminal); raises while the document store is down."""
    docs = await db.jobs_collection.find({}, {"status": 1}).to_list()
    terminal = {s.value for s in TERMINAL}
    return len(docs), sum(1 for d in docs if d["status"] in terminal)


def chaos_plan(cfg: ChaosConfig) -> list[tuple[float, str]]:
    """(fraction of jobs terminal, action), in order: kills at random points, the outages
    spread between them."""
    rng = random.Random(cfg.seed)
    plan = [(rng.uniform(0.03, 0.85), f"kill:{rng.choice(KILLABLE)}")
            for _ in range(cfg.kill_count)]
    for action, count, start in (("kafka", cfg.kafka_restarts, 0.2), ("mongo", cfg.mongo_restarts,
                                 0.4), ("s3", cfg.s3_outages, 0.6)):
        plan += [(start + 0.5 * i / max(1, count), action) for i in range(count)]
    return sorted(plan)


class Progress:
    """The fraction of jobs terminal, as the run's monitor last saw it."""

    def __init__(self) -> None:
        self.fraction = 0.0
        self._changed = asyncio.Event()

    def set(self, fraction: float) -> None:
        self.fraction = fraction
        self._changed.set()

    async def reach(self, point: float) -> None:
        while self.fraction < point:
            self._changed.clear()
            await self._changed.wait()


async def run_chaos_actions(cfg: ChaosConfig, plan: list[tuple[float, str]], stack: PrivateStack,
                            supervisor: Supervisor, progress: Progress,
                            report: ChaosReport, say: Callable[[str], None]) -> None:
    """Run each action once the run's progress passes its point, one at a time."""
    for point, action in plan:
        await progress.reach(point)
        if progress.fraction >= 1.0:
            return
        if action.startswith("kill:"):
            supervisor.kill(action.split(":", 1)[1])
            await asyncio.sleep(1.0)
            continue
        component = action
        say(f"{component} down (at {progress.fraction:.0%} terminal)")
        down_at = time.monotonic()
        await asyncio.to_thread(stack.down, component)
        try:
            pause = {"s3": cfg.s3_outage_s, "mongo": cfg.mongo_outage_s}.get(component, 0.0)
            await asyncio.sleep(pause)
        finally:
            # Shielded: a cancelled run must still bring the component back for the checks.
            await asyncio.shield(asyncio.to_thread(stack.up, component))
        say(f"{component} up again after {time.monotonic() - down_at:.1f}s")
        counter = {"kafka": "kafka_restarts", "mongo": "mongo_restarts",
                   "s3": "s3_outages"}[component]
        setattr(report, counter, getattr(report, counter) + 1)
        await asyncio.sleep(2.0)


def variants_of(job: Job, cfg: ChaosConfig) -> int:
    """As the background service decides (plinth_background.main.variant_count)."""
    return min(cfg.variants, load_theme(job.theme).variants)


def expected_keys(job: Job, variants: int) -> list[str]:
    sha = job.img_sha256 or ""
    out = [keys.original_key(job.sku, sha), keys.cutout_key(job.sku, sha),
           keys.mask_key(job.sku, sha), keys.manifest_key(job.sku, sha, job.theme)]
    for i in range(variants):
        out += [keys.background_key(job.theme, job.sku, sha, i),
                keys.composite_key(job.theme, job.sku, sha, i)]
        out += [keys.derivative_key(job.theme, job.sku, sha, i, size, fmt)
                for size in keys.DERIVATIVE_SIZES for fmt in keys.DERIVATIVE_FORMATS]
    return out


async def check(cfg: ChaosConfig, db: Database, settings: InfrastructureSettings,
                shopify: FakeShopify, wanted: set[tuple[str, str, str]],
                report: ChaosReport) -> None:
    docs = await db.jobs_collection.find({}).to_list()
    groups: dict[tuple[str, str, str], list[Job]] = {}
    for doc in docs:
        job = Job.from_document(doc)
        groups.setdefault((job.sku, job.img_sha256 or "", job.theme), []).append(job)
    report.jobs = len(wanted)
    report.duplicate_jobs = sum(len(g) - 1 for g in groups.values())
    if extra := set(groups) - wanted:
        report.problems.append(f"{len(extra)} job(s) nobody asked for: {sorted(extra)[:3]}")
    done: list[Job] = []
    for identity in sorted(wanted):
        group = groups.get(identity, [])
        statuses = [j.status for j in group]
        if JobStatus.DONE in statuses:
            done.append(next(j for j in group if j.status is JobStatus.DONE))
        elif JobStatus.FAILED in statuses:
            report.failed += 1
            bad = next(j for j in group if j.status is JobStatus.FAILED)
            code = f"{bad.failed_stage}:{bad.error_code}"
            report.failures[code] = report.failures.get(code, 0) + 1
        else:
            report.stuck += 1
            report.problems.append(f"stuck {identity[0]}/{identity[2]}: "
                                   f"{[s.value for s in statuses] or 'never created'}")
    report.done = len(done)
    for group in groups.values():
        for job in group:
            pairs = Counter((t.from_status, t.to_status) for t in job.history)
            repeats = sum(n - 1 for n in pairs.values() if n > 1)
            if repeats:
                report.duplicate_transitions += repeats
                report.problems.append(f"job {job.id}: repeated transitions "
                                       f"{[p for p, n in pairs.items() if n > 1]}")
    for sku, _sha, theme in sorted(wanted):
        media = shopify.media_for(sku, theme)
        report.duplicate_media += max(0, len(media) - 1)
    for job in done:
        media = sorted(m.id for m in shopify.media_for(job.sku, job.theme))
        if job.shopify is None or sorted(job.shopify.media_ids) != media:
            report.problems.append(f"job {job.id}: Shopify has {media}, the job says "
                                   f"{job.shopify.media_ids if job.shopify else None}")
    async with BlobStore.from_settings(settings) as blobs:
        listed: set[str] = set()
        for prefix in ("originals/", "cutouts/", "masks/", "backgrounds/", "composites/",
                       "derivatives/", "manifests/"):
            listed.update(await blobs.list(prefix))
        for job in done:
            recorded = [job.s3_original_key, job.s3_cutout_key, job.s3_mask_key,
                        job.manifest_s3_key, *job.s3_background_keys, *job.s3_composite_keys,
                        *job.s3_derivative_keys]
            wanted_keys = set(expected_keys(job, variants_of(job, cfg)))
            missing = (wanted_keys | {k for k in recorded if k}) - listed
            if missing or set(recorded) != wanted_keys:
                report.missing_artefacts += len(missing)
                report.problems.append(f"job {job.id}: {len(missing)} key(s) missing "
                                       f"{sorted(missing)[:2]}; recorded != expected: "
                                       f"{sorted(set(recorded) ^ wanted_keys)[:2]}")
            key = keys.manifest_key(job.sku, job.img_sha256 or "", job.theme)
            if key not in listed:
                continue
            try:
                manifest = json.loads(await blobs.get(key))
                validate_manifest(manifest)
                assert manifest["job"]["job_id"] == job.id, "manifest of another job"
                count = 9 * variants_of(job, cfg)
                assert manifest["totals"]["derivative_count"] == count, "derivative count"
                assert {d["key"] for d in manifest["assets"]["derivatives"]} == set(
                    job.s3_derivative_keys), "derivative keys differ from the job's"
            except Exception as exc:  # any way the manifest is wrong counts
                report.invalid_manifests += 1
                report.problems.append(f"manifest {key}: {exc}"[:300])


async def run_chaos(cfg: ChaosConfig, say: Callable[[str], None] = print) -> ChaosReport:
    """One chaos run, start to teardown, within ``cfg.timeout_s``; returns the report."""
    started = time.monotonic()
    deadline = started + cfg.timeout_s
    report = ChaosReport()
    stack = PrivateStack.create()
    log_dir = cfg.log_dir or stack.root / "logs"
    log_dir.mkdir(parents=True, exist_ok=True)
    report.log_dir = str(log_dir)
    say(f"private stack in {stack.root}, service logs in {log_dir}")
    shopify = FakeShopify(auto_products=True).start()
    photo_server = LocalHttpServer().start()
    processes: ServiceProcesses | None = None
    tasks: list[asyncio.Task[None]] = []
    db: Database | None = None
    try:
        await asyncio.to_thread(stack.up)
        stack_env = await asyncio.to_thread(stack.plinth_env)
        settings = settings_from_env(stack_env)
        await ensure_topics(settings)
        db = Database.from_settings(settings)
        await db.ensure_indexes()
        photo_count = math.ceil(cfg.jobs / max(1, min(cfg.themes_per_photo, len(THEMES))))
        photos = await asyncio.to_thread(sample_photos, photo_count, 700)
        urls = [photo_server.image(f"/chaos/p{i}.jpg", data) for i, data in enumerate(photos)]
        run_id = secrets.token_hex(3).upper()
        deliveries = deliveries_for(cfg, run_id, urls, photos)
        wanted = identities(deliveries)
        secret = secrets.token_hex(16)
        port = free_port()
        env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("PLINTH_")},
            **stack_env,
            "PLINTH_WEBHOOK_SECRET": secret,
            "PLINTH_DOWNLOAD_ALLOW_HOSTS": json.dumps(["127.0.0.1"]),
            "PLINTH_INGEST_PORT": str(port),
            "PLINTH_SHOPIFY_STORE_DOMAIN": "plinth-chaos.myshopify.com",
            "PLINTH_SHOPIFY_ACCESS_TOKEN": shopify.access_token,
            "PLINTH_SHOPIFY_BASE_URL": shopify.admin_base_url,
            "PLINTH_BACKGROUND_VARIANTS": str(cfg.variants),
            "PLINTH_REVIEW_THRESHOLD": "0",  # every job must end DONE or FAILED: none held
            "PYTHONUNBUFFERED": "1",
        }
        if "PLINTH_SEGMENT_PROVIDER" in os.environ:
            env["PLINTH_SEGMENT_PROVIDER"] = os.environ["PLINTH_SEGMENT_PROVIDER"]
        processes = ServiceProcesses(env=env, log_dir=log_dir)
        supervisor = Supervisor(processes, cfg.restart_delay_s, report, log_dir / "pids.jsonl",
                                say)
        supervisor.start_all()
        await wait_for_port(port, processes)
        await wait_for_workers(db, {s: 1 for s in ("download", *KILLABLE)}, processes=processes)
        report.setup_s = time.monotonic() - started
        say(f"stack and services up in {report.setup_s:.0f}s; {len(wanted)} jobs from "
            f"{len(deliveries)} deliveries, {cfg.variants} variants each")

        tasks.append(asyncio.create_task(supervisor.run()))
        progress = Progress()
        plan = chaos_plan(cfg)
        tasks.append(asyncio.create_task(run_chaos_actions(
            cfg, plan, stack, supervisor, progress, report, say)))
        first_webhook = time.monotonic()
        wait_until = deadline - 90  # time left for the checks and the teardown
        with httpx.Client(timeout=30) as client:
            tasks.append(asyncio.create_task(send_all(
                client, f"http://127.0.0.1:{port}", secret, deliveries, report, wait_until, say)))
            last_said = 0.0
            while True:
                try:
                    created, terminal = await asyncio.wait_for(terminal_count(db), 10)
                except Exception:  # the document store is restarting: no news this time
                    created, terminal = -1, round(progress.fraction * len(wanted))
                progress.set(terminal / len(wanted))
                if time.monotonic() - last_said > 15:
                    say(f"{terminal}/{len(wanted)} terminal, {max(created, 0)} created, "
                        f"{time.monotonic() - first_webhook:.0f}s")
                    last_said = time.monotonic()
                if terminal >= len(wanted):
                    break
                if time.monotonic() > wait_until:
                    report.timed_out = True
                    break
                await asyncio.sleep(1.0)
            report.wall_s = time.monotonic() - first_webhook
            progress.set(1.0)
            for task in tasks[1:]:  # the chaos actions (restoring what is down) and the sender
                task.cancel()
            await asyncio.gather(*tasks[1:], return_exceptions=True)
        # Whatever an interrupted action left down comes back before the checks.
        await asyncio.to_thread(stack.up)
        say("checking jobs, histories, Shopify media, artefacts and manifests")
        await asyncio.wait_for(check(cfg, db, settings, shopify, wanted, report),
                               max(60.0, deadline - time.monotonic()))
        return report
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        if processes is not None:
            processes.stop_all()
        photo_server.stop()
        shopify.stop()
        if db is not None:
            with contextlib.suppress(Exception):
                await db.close()
        if cfg.log_dir is None:  # keep the service logs next to the stack's, minus its data
            kept = Path(tempfile.mkdtemp(prefix="plinth-chaos-logs-"))
            shutil.copytree(log_dir, kept, dirs_exist_ok=True)
            report.log_dir = str(kept)
        await asyncio.to_thread(stack.destroy)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--jobs", type=int, default=200)
    parser.add_argument("--themes-per-photo", type=int, default=4)
    parser.add_argument("--variants", type=int, default=3, help="backgrounds per job")
    parser.add_argument("--kills", type=int, default=None,
                        help="kill -9 of stage workers (default: jobs/20, at least 3)")
    parser.add_argument("--kafka-restarts", type=int, default=1)
    parser.add_argument("--mongo-restarts", type=int, default=1)
    parser.add_argument("--s3-outages", type=int, default=1)
    parser.add_argument("--s3-outage", type=float, default=10.0, help="seconds S3 is down")
    parser.add_argument("--restart-delay", type=float, default=2.0,
                        help="seconds before a dead worker is restarted")
    parser.add_argument("--timeout", type=float, default=3600.0, help="bound on the whole run")
    parser.add_argument("--seed", type=int, default=17)
    parser.add_argument("--log-dir", type=Path, default=None)
    parser.add_argument("--markdown", action="store_true", help="the report as a markdown table")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    cfg = ChaosConfig(jobs=args.jobs, themes_per_photo=args.themes_per_photo,
                      variants=args.variants, kills=args.kills,
                      kafka_restarts=args.kafka_restarts, mongo_restarts=args.mongo_restarts,
                      s3_outages=args.s3_outages, s3_outage_s=args.s3_outage,
                      restart_delay_s=args.restart_delay, timeout_s=args.timeout,
                      seed=args.seed, log_dir=args.log_dir)
    t0 = time.monotonic()

    def say(message: str) -> None:
        print(f"[{time.monotonic() - t0:6.0f}s] {message}", file=sys.stderr, flush=True)

    async def guarded() -> ChaosReport:
        # SIGTERM tears down like Ctrl-C (asyncio.run turns SIGINT into a cancellation).
        task = asyncio.current_task()
        assert task is not None
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, task.cancel)
        return await run_chaos(cfg, say)

    try:
        report = asyncio.run(guarded())
    except (KeyboardInterrupt, asyncio.CancelledError):
        print("interrupted: everything started was stopped, the private stack is gone",
              file=sys.stderr)
        return 130
    print(report.table(markdown=args.markdown))
    print(f"\nservice logs: {report.log_dir}", file=sys.stderr)
    return 0 if report.clean and report.failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
