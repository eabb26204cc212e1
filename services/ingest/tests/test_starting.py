"""Started while Kafka and the document store are unreachable, ingest serves at once: /live and
/health 200, /ready 503 naming what it waits for, the webhook 503 not_ready (no stack needed:
everything points at a closed port)."""

from __future__ import annotations

import socket

from litestar.testing import AsyncTestClient

from plinth_ingest.app import WEBHOOK_PATH, create_app
from plinth_ingest.settings import IngestSettings


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


async def test_ingest_serves_while_its_dependencies_are_unreachable() -> None:
    port = closed_port()
    settings = IngestSettings(
        mongo_uri=f"mongodb://127.0.0.1:{port}", kafka_bootstrap=f"127.0.0.1:{port}",
        s3_endpoint=f"http://127.0.0.1:{port}", webhook_secret="secret",
    )  # fmt: skip
    async with AsyncTestClient(app=create_app(settings), timeout=20) as client:
        live = await client.get("/live")
        assert live.status_code == 200 and live.json()["status"] == "alive"
        assert (await client.get("/health")).status_code == 200
        ready = await client.get("/ready")
        assert ready.status_code == 503
        body = ready.json()
        assert body["error"] == "not_ready" and body["reason"].startswith("starting: ")
        assert "kafka unreachable" in body["reason"] and "mongo unreachable" in body["reason"]
        webhook = await client.post(WEBHOOK_PATH, content=b"{}")
        assert webhook.status_code == 503 and webhook.json()["error"] == "not_ready"
