"""A tiny HTTP server on 127.0.0.1 for tests and the demo: fixed routes, redirects, slow and
oversized answers, and HTML pages pretending to be images.

It runs in a background thread (standard library only), so synchronous and asyncio code can
both talk to it. Never bind it to anything but loopback: it serves whatever it is given.
"""

from __future__ import annotations

import contextlib
import ssl
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import ClassVar

from plinth.keys import content_type_for


@dataclass(frozen=True)
class Route:
    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    delay_s: float = 0.0
    send_length: bool = True
    """False: no Content-Length, the body ends when the connection closes."""
    byte_interval_s: float = 0.0
    """Above 0: send the body one byte at a time, this long apart (a server that trickles)."""


class _Handler(BaseHTTPRequestHandler):
    server_version = "plinth-testserver/1.0"
    # HTTP/1.0: one request per connection, so a body without Content-Length is well defined.
    protocol_version = "HTTP/1.0"
    routes: ClassVar[dict[str, Route]]
    hits: ClassVar[Counter[str]]
    host_headers: ClassVar[list[str]]

    def do_GET(self) -> None:
        path = self.path.split("?", 1)[0]
        type(self).hits[path] += 1
        type(self).host_headers.append(self.headers.get("Host", ""))
        route = self.routes.get(path, Route(status=404, body=b"not found"))
        if route.delay_s:
            time.sleep(route.delay_s)
        self.send_response(route.status)
        for name, value in route.headers.items():
            self.send_header(name, value)
        if route.send_length:
            self.send_header("Content-Length", str(len(route.body)))
        self.end_headers()
        # The client may give up early (size limit, timeout): that is what some tests want.
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            if route.byte_interval_s <= 0:
                self.wfile.write(route.body)
                return
            for index in range(len(route.body)):
                self.wfile.write(route.body[index : index + 1])
                self.wfile.flush()
                time.sleep(route.byte_interval_s)

    def log_message(self, format: str, *args: object) -> None:
        return  # keep test output quiet


class LocalHttpServer:
    """``with LocalHttpServer() as server: server.image("/a.jpg", data); server.url("/a.jpg")``."""

    def __init__(
        self, host: str = "127.0.0.1", port: int = 0, *, tls: ssl.SSLContext | None = None
    ) -> None:
        handler = type(
            "RouteHandler",
            (_Handler,),
            {"routes": {}, "hits": Counter(), "host_headers": []},
        )
        self._handler: type[_Handler] = handler
        self._server = ThreadingHTTPServer((host, port), handler)
        self._server.daemon_threads = True
        self._scheme = "http"
        if tls is not None:
            self._server.socket = tls.wrap_socket(self._server.socket, server_side=True)
            self._scheme = "https"
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    @property
    def hits(self) -> Counter[str]:
        return self._handler.hits

    @property
    def host_headers(self) -> list[str]:
        return self._handler.host_headers

    def url(self, path: str, host: str = "127.0.0.1") -> str:
        return f"{self._scheme}://{host}:{self.port}{path}"

    def add(self, path: str, route: Route) -> str:
        self._handler.routes[path] = route
        return self.url(path)

    def image(self, path: str, data: bytes, content_type: str | None = None) -> str:
        return self.add(
            path, Route(body=data, headers={"Content-Type": content_type or content_type_for(path)})
        )

    def page(self, path: str, html: str) -> str:
        body = html.encode()
        return self.add(
            path, Route(body=body, headers={"Content-Type": "text/html; charset=utf-8"})
        )

    def redirect(self, path: str, location: str, status: int = 302) -> str:
        return self.add(path, Route(status=status, headers={"Location": location}))

    def directory(self, prefix: str, folder: Path) -> list[str]:
        """Serve every file of ``folder`` under ``prefix``; returns their URLs."""
        urls = []
        for entry in sorted(folder.iterdir()):
            if entry.is_file():
                urls.append(self.image(f"{prefix.rstrip('/')}/{entry.name}", entry.read_bytes()))
        return urls

    def start(self) -> LocalHttpServer:
        self._thread = threading.Thread(
            target=self._server.serve_forever, args=(0.05,), name="plinth-testserver", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> LocalHttpServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
