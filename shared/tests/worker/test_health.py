"""The worker's /live and /ready: the server itself, and a stage worker that waits for its
dependencies (alive, not ready) without a stack."""

from __future__ import annotations

import asyncio
import socket
from typing import Any

import httpx
import pytest

from plinth.domain.states import JobStatus, Stage
from plinth.worker import StageResult, Step
from plinth.worker.health import HealthServer
from plinth.worker.service import serve_stage
from plinth.worker.settings import WorkerSettings

pytestmark = pytest.mark.asyncio


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def test_routes_status_codes_and_bad_requests() -> None:
    healthy = {"ready": False}

    async def live() -> tuple[bool, dict[str, Any]]:
        return True, {"status": "alive"}

    async def ready() -> tuple[bool, dict[str, Any]]:
        return healthy["ready"], {"ready": healthy["ready"]}

    server = HealthServer("127.0.0.1", 0, live=live, ready=ready)
    port = await server.start()
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client:
            assert (await client.get("/live")).json() == {"status": "alive"}
            not_yet = await client.get("/ready")
            assert (not_yet.status_code, not_yet.json()) == (503, {"ready": False})
            healthy["ready"] = True
            assert (await client.get("/ready?verbose=1")).status_code == 200
            assert (await client.get("/metrics")).status_code == 404
            assert (await client.post("/live")).status_code == 405
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"GARBAGE\r\n")
        writer.write_eof()
        assert (await reader.read()).startswith(b"HTTP/1.1 400 ")
        writer.close()
    finally:
        await server.stop()


async def test_a_worker_waiting_for_its_dependencies_is_alive_but_not_ready() -> None:
    closed = _closed_port()
    health_port = _closed_port()
    settings = WorkerSettings(
        kafka_bootstrap=f"127.0.0.1:{closed}", mongo_uri=f"mongodb://127.0.0.1:{closed}",
        s3_endpoint=f"http://127.0.0.1:{closed}", health_port=health_port,
    )

    async def never(job: Any, ctx: Any) -> StageResult:
        raise AssertionError("no record can arrive")

    stop = asyncio.Event()
    worker = asyncio.create_task(serve_stage(
        Stage.SEGMENT, [Step(Stage.SEGMENT, JobStatus.NEW, JobStatus.BG_REMOVED, never)],
        service_name="plinth-test-health", settings=settings, stop=stop))
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{health_port}") as client:
            for _ in range(100):
                try:
                    live = await client.get("/live")
                    break
                except httpx.ConnectError:
                    await asyncio.sleep(0.05)
            assert (live.status_code, live.json()["status"]) == (200, "waiting for dependencies")
            ready = await client.get("/ready")
            assert ready.status_code == 503
    finally:
        stop.set()
        await asyncio.wait_for(worker, 30)
    with pytest.raises(httpx.ConnectError):  # the server went with the worker
        async with httpx.AsyncClient() as client:
            await client.get(f"http://127.0.0.1:{health_port}/live")
