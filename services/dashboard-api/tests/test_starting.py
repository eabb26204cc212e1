"""Started while its dependencies are unreachable, the API serves at once: /live 200, /ready and
/health 503 naming what it waits for, /api 503 (no stack needed: everything points at a closed
port)."""

from __future__ import annotations

import socket

from litestar.testing import AsyncTestClient

from plinth_dashboard_api.app import create_app
from plinth_dashboard_api.settings import DashboardSettings


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


async def test_the_api_serves_while_the_document_store_is_unreachable() -> None:
    port = closed_port()
    settings = DashboardSettings(
        mongo_uri=f"mongodb://127.0.0.1:{port}", kafka_bootstrap=f"127.0.0.1:{port}",
        s3_endpoint=f"http://127.0.0.1:{port}",
        dashboard_api_keys={"key": "viewer"},  # type: ignore[dict-item]
    )  # fmt: skip
    async with AsyncTestClient(app=create_app(settings), timeout=20) as client:
        live = await client.get("/live")
        assert live.status_code == 200 and live.json()["status"] == "alive"
        ready = await client.get("/ready")
        assert ready.status_code == 503
        body = ready.json()
        assert body["error"] == "not_ready" and body["reason"].startswith("starting: ")
        assert "mongo unreachable" in body["reason"]
        assert body["components"]["mongo"]["status"] == "down"
        assert (await client.get("/health")).status_code == 503
        jobs = await client.get("/api/jobs", headers={"X-API-Key": "key"})
        assert jobs.status_code == 503
