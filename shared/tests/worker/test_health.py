"""The worker's health server on its own; a real worker's /live, /ready and /metrics across a
Kafka outage are checked in test_waits_for_dependencies.py."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest

from plinth.worker.health import HealthServer

pytestmark = pytest.mark.asyncio


async def test_routes_status_codes_and_bad_requests() -> None:
    healthy = {"ready": False}

    async def live() -> tuple[bool, dict[str, Any]]:
        return True, {"status": "alive"}

    async def ready() -> tuple[bool, dict[str, Any]]:
        return healthy["ready"], {"ready": healthy["ready"]}

    server = HealthServer("127.0.0.1", 0, live=live, ready=ready, metrics=lambda: b"m 1\n")
    port = await server.start()
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client:
            assert (await client.get("/live")).json() == {"status": "alive"}
            not_yet = await client.get("/ready")
            assert (not_yet.status_code, not_yet.json()) == (503, {"ready": False})
            healthy["ready"] = True
            assert (await client.get("/ready?verbose=1")).status_code == 200
            scraped = await client.get("/metrics")
            assert (scraped.status_code, scraped.content) == (200, b"m 1\n")
            assert scraped.headers["content-type"].startswith("text/plain; version=0.0.4")
            assert (await client.get("/nothing")).status_code == 404
            assert (await client.post("/live")).status_code == 405
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"GARBAGE\r\n")
        writer.write_eof()
        assert (await reader.read()).startswith(b"HTTP/1.1 400 ")
        writer.close()
    finally:
        await server.stop()
