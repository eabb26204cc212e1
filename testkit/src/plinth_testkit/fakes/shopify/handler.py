"""The HTTP side: the Admin GraphQL endpoint's checks, the staged-upload target, inspection."""

from __future__ import annotations

import json
import re
from email.parser import BytesParser
from email.policy import HTTP
from http.server import BaseHTTPRequestHandler
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlsplit

if TYPE_CHECKING:
    from plinth_testkit.fakes.shopify.server import FakeShopify

INVALID_TOKEN_MESSAGE = (
    "[API] Invalid API key or access token (unrecognized login or wrong password)"
)

_GRAPHQL_PATH = re.compile(r"^/admin/api/([^/]+)/graphql\.json$")


def make_handler(fake: FakeShopify) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True  # headers and body go out as separate writes

        def log_message(self, format: str, *args: Any) -> None:
            pass  # keep test output clean

        def _send(self, status: int, body: Any, content_type: str = "application/json") -> None:
            data = body if isinstance(body, bytes) else json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _body(self) -> bytes:
            length = int(self.headers.get("Content-Length") or 0)
            return self.rfile.read(length) if length > 0 else b""

        def do_POST(self) -> None:
            path = urlsplit(self.path).path
            body = self._body()
            match = _GRAPHQL_PATH.match(path)
            if match:
                self._graphql(match.group(1), body)
            elif path == "/_staged":
                self._staged_post(body)
            elif path == "/_fake/products":
                self._seed(body)
            else:
                self._send(404, {"errors": "Not Found"})

        def do_PUT(self) -> None:
            parts = urlsplit(self.path)
            body = self._body()
            if not parts.path.startswith("/_staged/"):
                self._send(404, {"errors": "Not Found"})
                return
            key = parts.path[len("/_staged/") :]
            signature = next(iter(parse_qs(parts.query).get("signature", [])), None)
            if not fake._check_signature(key, signature, "PUT"):
                self._send(403, b"<Error><Code>AccessDenied</Code></Error>", "application/xml")
                return
            problem = fake._receive_upload(key, body, self.headers.get("Content-Type"))
            if problem:
                self._send(400, problem.encode(), "text/plain")
            else:
                self._send(200, b"", "text/plain")

        def do_GET(self) -> None:
            parts = urlsplit(self.path)
            query = parse_qs(parts.query)
            if parts.path == "/_fake/media":
                sku = (query.get("sku") or [""])[0]
                theme = next(iter(query.get("theme", [])), None)
                product = fake.product_for_sku(sku)
                media = fake.media_for(sku, theme)
                self._send(
                    200,
                    {
                        "sku": sku,
                        "theme": theme,
                        "product_id": product.id if product else None,
                        "media": [{"id": m.id, "alt": m.alt, "status": m.status} for m in media],
                    },
                )
            elif parts.path == "/_fake/requests":
                with fake._lock:
                    served = [s.__dict__ for s in fake.served]
                self._send(200, {"requests": served})
            elif parts.path == "/_fake/health":
                self._send(200, {"ok": True})
            elif parts.path.startswith("/admin/api/"):
                self._send(405, {"errors": "GraphQL requests must be POSTed"})
            else:
                self._send(404, {"errors": "Not Found"})

        def _graphql(self, version: str, body: bytes) -> None:
            if fake.take_failure():
                self._send(503, {"errors": "Service Unavailable"})
                return
            token = self.headers.get("X-Shopify-Access-Token")
            if token != fake.access_token:
                self._send(401, {"errors": INVALID_TOKEN_MESSAGE})
                return
            if version not in fake.api_versions:
                self._send(404, {"errors": "Not Found"})
                return
            content_type = (self.headers.get("Content-Type") or "").split(";")[0].strip()
            if content_type == "application/graphql":
                payload: Any = {"query": body.decode("utf-8", "replace")}
            elif content_type == "application/json":
                try:
                    payload = json.loads(body or b"null")
                except (json.JSONDecodeError, UnicodeDecodeError):
                    self._send(400, {"errors": "Bad Request: body is not valid JSON"})
                    return
            else:
                self._send(415, {"errors": "Content-Type must be application/json"})
                return
            self._send(200, fake.graphql(payload))

        def _staged_post(self, body: bytes) -> None:
            fields = parse_multipart(self.headers.get("Content-Type") or "", body)
            if fields is None or "file" not in fields or "key" not in fields:
                self._send(400, b"<Error><Code>InvalidArgument</Code></Error>", "application/xml")
                return
            if list(fields)[-1] != "file":
                # GCS ignores fields after the file: a policy field sent late is a client bug.
                self._send(400, b"<Error><Code>InvalidPolicyDocument</Code></Error>")
                return
            key = fields["key"][0].decode()
            signature = fields.get("x-goog-signature", (b"",))[0].decode()
            if not fake._check_signature(key, signature, "POST"):
                self._send(403, b"<Error><Code>AccessDenied</Code></Error>", "application/xml")
                return
            content_type = fields.get("Content-Type", (b"",))[0].decode() or None
            problem = fake._receive_upload(key, fields["file"][0], content_type)
            if problem:
                self._send(400, problem.encode(), "text/plain")
                return
            self._send(
                201,
                f"<PostResponse><Key>{key}</Key></PostResponse>".encode(),
                "application/xml",
            )

        def _seed(self, body: bytes) -> None:
            try:
                payload = json.loads(body or b"null")
                sku, title = str(payload["sku"]), str(payload.get("title") or payload["sku"])
            except (json.JSONDecodeError, KeyError, TypeError):
                self._send(400, {"errors": 'expected {"sku": ..., "title": ...}'})
                return
            existing = fake.product_for_sku(sku)
            product = existing or fake.add_product(title, [sku])
            self._send(201 if existing is None else 200, {"product_id": product.id, "sku": sku})

    return Handler


def parse_multipart(content_type: str, body: bytes) -> dict[str, tuple[bytes, str | None]] | None:
    """``multipart/form-data`` fields in order: name -> (bytes, filename)."""
    if not content_type.startswith("multipart/form-data"):
        return None
    message = BytesParser(policy=HTTP).parsebytes(
        f"Content-Type: {content_type}\r\n\r\n".encode() + body
    )
    if not message.is_multipart():
        return None
    fields: dict[str, tuple[bytes, str | None]] = {}
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        if not isinstance(name, str):
            return None
        payload = part.get_payload(decode=True)
        fields[name] = (payload if isinstance(payload, bytes) else b"", part.get_filename())
    return fields
