"""``/live``, ``/ready`` and ``/metrics`` for a worker process, on a port of its own
(``PLINTH_HEALTH_PORT``).

A stage worker has no HTTP app, yet an orchestrator needs two answers from it:

* ``GET /live``: 200 while the process is worth keeping: it is waiting for its dependencies
  (waiting is its job, never a reason to restart it) or its Kafka consumers are running; 503 once
  a consumer has stopped on its own (a restart is the cure). A blocked event loop answers
  nothing, which a probe with a timeout reads as "not alive" too.
* ``GET /ready``: 200 when its consumers run and Kafka, the document store and S3 answer
  (``plinth.adapters.readiness``, cached 1.5 s); 503 with the same JSON naming what is down.

* ``GET /metrics``: the Prometheus exposition of the process's metrics (``plinth.metrics``).

A deliberately small HTTP/1.1 server on asyncio streams (GET only, one request per connection,
bounded request size), so a worker gains no web framework for three routes.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any

log = logging.getLogger(__name__)

MAX_REQUEST_BYTES = 8 * 1024
METRICS_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
READ_TIMEOUT_S = 5.0

Check = Callable[[], Awaitable[tuple[bool, dict[str, Any]]]]
"""Returns (healthy, details); details become the JSON body."""


class HealthServer:
    def __init__(
        self, host: str, port: int, *, live: Check, ready: Check,
        metrics: Callable[[], bytes] | None = None,
    ) -> None:
        self.host = host
        self.port = port
        self.routes: dict[str, Check] = {"/live": live, "/ready": ready}
        self.metrics = metrics
        self._server: asyncio.AbstractServer | None = None

    async def start(self) -> int:
        """Listen; returns the port (useful with port 0)."""
        self._server = await asyncio.start_server(self._serve, self.host, self.port)
        self.port = self._server.sockets[0].getsockname()[1]
        log.info("health endpoints on http://%s:%d/live and /ready", self.host, self.port)
        return self.port

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            with contextlib.suppress(Exception):
                await self._server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        content_type = "application/json"
        try:
            status, body = await asyncio.wait_for(self._answer(reader), READ_TIMEOUT_S)
        except (TimeoutError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError,
                ConnectionError):
            status, body = 400, {"error": "bad request"}
        if isinstance(body, bytes):
            payload, content_type = body, METRICS_CONTENT_TYPE
        else:
            payload = json.dumps(body).encode()
        reason = {200: "OK", 400: "Bad Request", 404: "Not Found", 405: "Method Not Allowed",
                  503: "Service Unavailable"}[status]
        head = (f"HTTP/1.1 {status} {reason}\r\nContent-Type: {content_type}\r\n"
                f"Content-Length: {len(payload)}\r\nConnection: close\r\n\r\n")
        with contextlib.suppress(ConnectionError):
            writer.write(head.encode() + payload)
            await writer.drain()
        writer.close()
        with contextlib.suppress(Exception):
            await writer.wait_closed()

    async def _answer(self, reader: asyncio.StreamReader) -> tuple[int, dict[str, Any] | bytes]:
        head = await reader.readuntil(b"\r\n\r\n")
        if len(head) > MAX_REQUEST_BYTES:
            raise ValueError("request head too large")
        method, _, rest = head.decode("latin-1").partition(" ")
        path = rest.split(" ", 1)[0].split("?", 1)[0]
        check = self.routes.get(path)
        if path == "/metrics" and self.metrics is not None and method in ("GET", "HEAD"):
            return 200, self.metrics()
        if check is None:
            return 404, {"error": f"no route {path!r}; try /live, /ready or /metrics"}
        if method not in ("GET", "HEAD"):
            return 405, {"error": "GET only"}
        healthy, details = await check()
        return (200 if healthy else 503), details
