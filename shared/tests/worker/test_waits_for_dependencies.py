"""A stage worker started while Kafka is unreachable waits (alive, a few log lines) and becomes
ready and consumes a job once Kafka answers. Its own process, the real entry point; "Kafka comes
back" is a TCP forwarder to the stack's broker started on the port the worker was given."""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import signal
import socket
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from plinth.adapters.kafka import ensure_topics
from plinth.adapters.mongo import Database
from plinth.domain.job import Job
from plinth.domain.states import JobStatus
from plinth.messaging.events import JobEvent
from plinth.messaging.topics import JOB_NEW
from plinth.worker.groups import pipeline_groups, start_groups_at_end
from plinth.worker.settings import WorkerSettings
from plinth_testkit.kafka import publish_once
from plinth_testkit.waiting import until

pytestmark = [pytest.mark.stack, pytest.mark.asyncio(loop_scope="session"),
              pytest.mark.timeout(150)]

WORKER = Path(__file__).with_name("waiting_worker.py")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


async def forwarder(port: int, target: str) -> asyncio.Server:
    """Accepts on ``port`` and pipes every connection to ``target`` (host:port)."""
    host, _, target_port = target.rpartition(":")

    async def pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        except (ConnectionError, asyncio.CancelledError):
            pass
        finally:
            writer.close()

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection(host, int(target_port))
        except OSError:
            writer.close()
            return
        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))

    return await asyncio.start_server(handle, "127.0.0.1", port)


async def test_a_worker_started_without_kafka_waits_and_then_consumes(
    stack_settings: WorkerSettings, database: Database, unique: str, tmp_path: Path
) -> None:
    real_kafka = stack_settings.kafka_bootstrap.split(",")[0]
    prefix = f"{stack_settings.kafka_consumer_group_prefix}-wait-{unique}"
    settings = stack_settings.model_copy(update={"kafka_consumer_group_prefix": prefix})
    await ensure_topics(settings)
    groups = pipeline_groups(settings)
    await start_groups_at_end(settings, {g: t for g, t in groups.items() if g.endswith("segment")})

    port = free_port()
    health = f"http://127.0.0.1:{free_port()}"
    instance = f"wait-{unique}"
    log_path = tmp_path / "worker.log"
    env = {
        **os.environ,
        "PLINTH_KAFKA_BOOTSTRAP": f"127.0.0.1:{port}",  # nothing listens there yet
        "PLINTH_MONGO_DB": settings.mongo_db,
        "PLINTH_S3_BUCKET": settings.s3_bucket,
        "PLINTH_KAFKA_CONSUMER_GROUP_PREFIX": settings.kafka_consumer_group_prefix,
        "PLINTH_WORKER_CONTROL_SCOPE": unique,
        "PLINTH_INSTANCE_ID": instance,
        "PLINTH_LOG_FORMAT": "text",
        "PLINTH_HEALTH_PORT": health.rsplit(":", 1)[1],
    }
    env.pop("PLINTH_TRACE_FILE", None)
    server: asyncio.Server | None = None
    with log_path.open("wb") as log_file:
        worker = await asyncio.create_subprocess_exec(
            sys.executable, str(WORKER), env=env, stdout=log_file, stderr=subprocess.STDOUT)
    try:
        async def says_it_waits() -> bool:
            assert worker.returncode is None, f"the worker exited:\n{log_path.read_text()}"
            return "waiting for kafka" in log_path.read_text()

        await until(says_it_waits, 30, "the worker never said it waits for Kafka")
        await asyncio.sleep(4)  # and keeps waiting
        waited = log_path.read_text()
        assert worker.returncode is None, f"the worker exited while Kafka was down:\n{waited}"
        assert "waiting for kafka" in waited, waited
        assert len(waited.splitlines()) < 30, f"too chatty while waiting:\n{waited}"
        assert "Traceback" not in waited, waited
        async with httpx.AsyncClient(base_url=health) as client:  # alive, waiting, not ready
            live, ready = await client.get("/live"), await client.get("/ready")
        assert (live.status_code, live.json()["status"]) == (200, "waiting for dependencies")
        assert ready.status_code == 503

        server = await forwarder(port, real_kafka)  # Kafka is "back"

        async def holding() -> bool:
            doc = await database.workers.find_one({"_id": f"segment:{instance}"})
            return bool(doc and len(doc.get("assignment") or []) == 2 * settings.kafka_partitions)

        await until(holding, 60, "the worker never held its partitions after Kafka came back")

        sha = unique.ljust(64, "0")
        job = Job(sku=f"WAIT-{unique}", theme="default", image_url="https://x/a.jpg",
                  img_sha256=sha, s3_original_key=f"originals/WAIT-{unique}/{sha}.jpg")
        await database.jobs.insert(job)
        await publish_once(settings, JOB_NEW, JobEvent(job_id=job.id, sku=job.sku, theme=job.theme,
                                                       img_sha256=sha, status=JobStatus.NEW),
                           key=job.id)

        async def moved() -> Job | None:
            stored = await database.jobs.get(job.id)
            return stored if stored and stored.status is JobStatus.BG_REMOVED else None

        await until(moved, 60, "the worker never handled the job")
        assert worker.returncode is None
        async with httpx.AsyncClient(base_url=health) as client:
            ready, scraped = await client.get("/ready"), await client.get("/metrics")
        assert ready.status_code == 200, ready.text
        assert ready.json()["dependencies"]["kafka"]["status"] == "ok"
        assert re.search(r'^plinth_jobs_processed_total\{[^}]*outcome="advanced"[^}]*'
                         r'stage="segment"[^}]*\} 1\.0$', scraped.text, re.MULTILINE), scraped.text
        assert "kafka back after" in log_path.read_text()
    finally:
        if worker.returncode is None:
            worker.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(worker.wait(), 30)
            except TimeoutError:
                worker.kill()
                await asyncio.wait_for(worker.wait(), 10)
        if server is not None:
            server.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(server.wait_closed(), 5)
    assert worker.returncode == 0, log_path.read_text()
