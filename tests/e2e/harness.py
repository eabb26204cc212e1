"""Running the whole pipeline as separate processes: shared by the end-to-end test and
``scripts/demo.py``.

- :class:`ServiceProcesses` starts the console scripts (``plinth-ingest``, ``plinth-segment``,
  ...) with one environment, logs each to a file, and stops them with SIGTERM (then SIGKILL).
- :func:`sample_photos` makes studio product photos with the segmentation engineer's synthetic
  generator (``bench/quality/synth.py``), served by
  :class:`plinth_testkit.http_server.LocalHttpServer`.
- :func:`send_webhook` signs and posts a delivery exactly as 3JMS does.
- :func:`wait_for_jobs`, :func:`read_spans`: watch MongoDB and the JSON-lines trace file.
"""

from __future__ import annotations

import asyncio
import io
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from PIL import Image

REPO = Path(__file__).resolve().parents[2]
if str(REPO) not in sys.path:  # bench/ is a plain folder at the repository root
    sys.path.insert(0, str(REPO))

from plinth.adapters.kafka import delete_consumer_groups  # noqa: E402
from plinth.adapters.mongo import Database  # noqa: E402
from plinth.adapters.s3 import BlobStore  # noqa: E402
from plinth.domain.job import Job  # noqa: E402
from plinth.domain.states import TERMINAL, JobStatus  # noqa: E402

STAGE_SERVICES = ("segment", "background", "composite", "derive")
ALL_SERVICES = ("ingest", *STAGE_SERVICES, "publish")
WEBHOOK_PATH = "/api/webhooks/3jms/images"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def console_script(name: str) -> str:
    """``plinth-<name>`` from the same virtual environment as this interpreter."""
    path = Path(sys.executable).parent / f"plinth-{name}"
    if not path.exists():
        raise FileNotFoundError(f"{path} is missing: run `uv sync` first")
    return str(path)


@dataclass
class ServiceProcesses:
    """Every service of one run, as child processes sharing ``env``."""

    env: dict[str, str]
    log_dir: Path
    procs: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    health_ports: dict[str, int] = field(default_factory=dict)
    """Each stage worker's /live, /ready and /metrics port (PLINTH_HEALTH_PORT)."""

    def start(self, service: str, instance: str | None = None) -> str:
        """Start ``plinth-<service>``; returns its name in this group (``segment-2``...)."""
        name = instance or service
        env = dict(self.env)
        env["PLINTH_INSTANCE_ID"] = f"{name}-{os.getpid()}"
        self.health_ports[name] = free_port()
        env["PLINTH_HEALTH_PORT"] = str(self.health_ports[name])
        log = open(self.log_dir / f"{name}.log", "ab")  # noqa: SIM115 - owned by the process
        self.procs[name] = subprocess.Popen(
            [console_script(service)], env=env, stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        log.close()
        return name

    def instance_id(self, name: str) -> str:
        return f"{name}-{os.getpid()}"

    def dead(self) -> dict[str, int]:
        return {name: code for name, p in self.procs.items() if (code := p.poll()) is not None}

    def stop(self, name: str, timeout_s: float = 20.0) -> int | None:
        proc = self.procs.pop(name, None)
        if proc is None or proc.poll() is not None:
            return None if proc is None else proc.returncode
        proc.send_signal(signal.SIGTERM)
        try:
            return proc.wait(timeout_s)
        except subprocess.TimeoutExpired:
            proc.kill()
            return proc.wait(5)

    def kill(self, name: str) -> None:
        """SIGKILL: no clean shutdown, no last commit (a crash)."""
        proc = self.procs.pop(name)
        proc.kill()
        proc.wait(10)

    def stop_all(self) -> None:
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + 20
        for name in list(self.procs):
            proc = self.procs.pop(name)
            try:
                proc.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)

    def log_tail(self, name: str, lines: int = 30) -> str:
        path = self.log_dir / f"{name}.log"
        if not path.exists():
            return ""
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])


def sample_photos(count: int, first_seed: int = 100) -> list[bytes]:
    """``count`` distinct synthetic studio photos as JPEG bytes (deterministic per seed)."""
    from bench.quality.synth import make_case

    photos = []
    for seed in range(first_seed, first_seed + count):
        buf = io.BytesIO()
        Image.fromarray(make_case(seed).image).save(buf, "JPEG", quality=90)
        photos.append(buf.getvalue())
    return photos


def corrupt_jpeg(photo: bytes) -> bytes:
    """A JPEG that starts right and then breaks off: what a failed upload leaves behind."""
    return photo[: max(200, len(photo) // 8)]


def signed_headers(secret: str, body: bytes) -> dict[str, str]:
    from plinth_ingest.signature import signed_headers as sign

    return {"content-type": "application/json", **sign(secret, body)}


def send_webhook(
    client: httpx.Client, ingest_url: str, secret: str, payload: dict[str, Any]
) -> httpx.Response:
    body = json.dumps(payload).encode()
    return client.post(f"{ingest_url}{WEBHOOK_PATH}", content=body,
                       headers=signed_headers(secret, body))


async def wait_for_jobs(
    db: Database, job_ids: Iterable[str], *, timeout_s: float, statuses: frozenset[JobStatus]
    = TERMINAL, processes: ServiceProcesses | None = None,
) -> dict[str, Job]:
    """Poll until every job is in one of ``statuses``; raise with the stragglers on timeout."""
    wanted = set(job_ids)
    deadline = time.monotonic() + timeout_s
    while True:
        docs = await db.jobs_collection.find({"_id": {"$in": sorted(wanted)}}).to_list()
        jobs = {doc["_id"]: Job.from_document(doc) for doc in docs}
        waiting = {i: (jobs[i].status if i in jobs else None) for i in wanted
                   if i not in jobs or jobs[i].status not in statuses}
        if not waiting:
            return jobs
        if processes is not None and (dead := processes.dead()):
            raise RuntimeError(f"services exited: {dead}")
        if time.monotonic() > deadline:
            raise TimeoutError(f"{len(waiting)} job(s) not finished: {waiting}")
        await asyncio.sleep(0.5)


async def wait_for_workers(
    db: Database, expected: dict[str, int], *, timeout_s: float = 90.0,
    processes: ServiceProcesses | None = None,
) -> list[dict[str, Any]]:
    """Until each stage in ``expected`` has that many live instances holding partitions, with
    disjoint assignments and their control consumers ready."""
    deadline = time.monotonic() + timeout_s
    while True:
        docs = await db.workers.find({"stopped": False}).to_list()
        ready = True
        for stage, count in expected.items():
            mine = [d for d in docs if d["stage"] == stage and d.get("control_ready")
                    and d.get("assignment")]
            held = [p for d in mine for p in d["assignment"]]
            if len(mine) < count or len(held) != len(set(held)):
                ready = False
        if ready:
            return docs
        if processes is not None and (dead := processes.dead()):
            raise RuntimeError(f"services exited: {dead}")
        if time.monotonic() > deadline:
            held = [(d["_id"], d.get("assignment")) for d in docs]
            raise TimeoutError(f"workers not ready: {held}")
        await asyncio.sleep(0.5)


async def wait_for_port(port: int, processes: ServiceProcesses | None = None,
                        timeout_s: float = 60.0) -> None:
    """Until something accepts connections on 127.0.0.1:``port`` (the ingest HTTP app)."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            _, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.close()
            return
        except OSError:
            pass
        if processes is not None and (dead := processes.dead()):
            raise RuntimeError(f"services exited: {dead}")
        if time.monotonic() > deadline:
            raise TimeoutError(f"nothing listens on port {port}")
        await asyncio.sleep(0.3)


def read_spans(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def spans_by_job(spans: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    """The spans that name each job (attribute ``job.id``)."""
    grouped: dict[str, list[dict[str, Any]]] = {}
    for span in spans:
        job_id = span["attributes"].get("job.id")
        if job_id:
            grouped.setdefault(job_id, []).append(span)
    return grouped


class NamespaceBusy(RuntimeError):
    """Live workers still hold a consumer group of the namespace (named in ``args[0]``)."""


async def empty_namespace(settings: Any, group_prefix: str) -> tuple[int, int]:
    """Empty a run's namespace on the local stack: delete its consumer groups (those starting
    with ``group_prefix``), drop its database, empty its bucket. Refuses (:class:`NamespaceBusy`)
    before touching anything else while live workers hold one of the groups. Returns (consumer
    groups deleted, objects removed)."""
    groups = await delete_consumer_groups(settings, group_prefix)
    if groups.busy:
        raise NamespaceBusy(groups.busy[0])
    db = Database.from_settings(settings)
    try:
        await db.client.drop_database(settings.mongo_db)
    finally:
        await db.close()
    async with BlobStore.from_settings(settings) as blobs:
        await blobs.ensure_bucket()
        removed = await blobs.delete_all()
    return len(groups.deleted), removed
