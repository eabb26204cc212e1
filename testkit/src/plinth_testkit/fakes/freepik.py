"""A fake Freepik API: remove-background and Mystic, over real HTTP on 127.0.0.1.

It follows the published contract request by request (docs.freepik.com API reference):

``POST /v1/ai/beta/remove-background``
    needs ``x-freepik-api-key``; body ``application/x-www-form-urlencoded`` with exactly one
    field ``image_url`` (http/https). The fake downloads that URL (JPG or PNG, at most 20 MB,
    like Freepik), cuts the object out with a colour-distance threshold against the border
    colour, and answers ``{"original", "high_resolution", "preview", "url"}`` with URLs it serves
    itself for ``result_ttl_s`` seconds (Freepik: 5 minutes).
``POST /v1/ai/mystic``
    needs the key and ``Content-Type: application/json``; the body's fields are checked against
    the documented names, types and enums. Answers ``{"data": {"generated": [], "task_id",
    "status": "CREATED"}}``.
``GET /v1/ai/mystic/{task_id}``
    ``IN_PROGRESS`` for ``mystic_polls_to_complete - 1`` polls, then ``COMPLETED`` with a
    generated JPEG URL (or ``FAILED``; or never finishing, for timeout tests).

Errors are ``{"message": ...}``: 401 for a missing or wrong key, 400 for a bad body, 404 for an
unknown task or expired file, 429 with ``Retry-After`` while ``throttle`` is set, 503 while
``fail_next`` is set. Every request is recorded in :attr:`FakeFreepik.requests`.

Test helpers: :meth:`FakeFreepik.host_blob` (and ``PUT /_blobs/{name}``) stand in for the S3
bucket whose presigned URLs the real service would hand to Freepik.

Run standalone: ``python -m plinth_testkit.fakes.freepik --port 8089 --api-key dev-key``.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import re
import threading
import time
import urllib.error
import urllib.request
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any, Literal
from urllib.parse import parse_qs, urlsplit

import numpy as np
import numpy.typing as npt
from PIL import Image, UnidentifiedImageError

from plinth_testkit.fakes.threaded import ThreadedFake

MAX_INPUT_BYTES = 20 * 1024 * 1024
PREVIEW_MAX_PIXELS = 250_000

MYSTIC_ASPECT_RATIOS = {
    "square_1_1": (1, 1),
    "classic_4_3": (4, 3),
    "traditional_3_4": (3, 4),
    "widescreen_16_9": (16, 9),
    "social_story_9_16": (9, 16),
    "smartphone_horizontal_20_9": (20, 9),
    "smartphone_vertical_9_20": (9, 20),
    "standard_3_2": (3, 2),
    "portrait_2_3": (2, 3),
    "horizontal_2_1": (2, 1),
    "vertical_1_2": (1, 2),
    "social_5_4": (5, 4),
    "social_post_4_5": (4, 5),
}
MYSTIC_ENUMS: dict[str, frozenset[str]] = {
    "resolution": frozenset({"1k", "2k", "4k"}),
    "aspect_ratio": frozenset(MYSTIC_ASPECT_RATIOS),
    "model": frozenset(
        {"realism", "fluid", "zen", "flexible", "super_real", "editorial_portraits"}
    ),
    "engine": frozenset({"automatic", "magnific_illusio", "magnific_sharpy", "magnific_sparkle"}),
}
MYSTIC_PERCENT_FIELDS = frozenset({"structure_strength", "adherence", "hdr", "creative_detailing"})
MYSTIC_STRING_FIELDS = frozenset(
    {"prompt", "webhook_url", "structure_reference", "style_reference"}
)
MYSTIC_BOOL_FIELDS = frozenset({"fixed_generation", "filter_nsfw", "realism"})
MYSTIC_FIELDS = (
    set(MYSTIC_ENUMS)
    | MYSTIC_PERCENT_FIELDS
    | MYSTIC_STRING_FIELDS
    | MYSTIC_BOOL_FIELDS
    | {"styling"}
)

MysticOutcome = Literal["COMPLETED", "FAILED", "NEVER"]


@dataclass(frozen=True)
class RecordedRequest:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class _StoredFile:
    data: bytes
    content_type: str
    expires_at: float | None


@dataclass
class _MysticTask:
    task_id: str
    prompt: str
    aspect_ratio: str
    polls: int = 0
    image_path: str | None = None


class _BadRequest(Exception):
    def __init__(self, message: str, invalid: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.invalid = invalid or {}


@dataclass
class FakeFreepik(ThreadedFake):
    """The fake's state and knobs; :meth:`start` serves it on ``host:port`` in a thread."""

    thread_name = "fake-freepik"

    api_key: str = "test-key"
    throttle: int = 0
    """The next N API calls answer 429."""
    retry_after: str | None = "1"
    """``Retry-After`` on those 429s (``None``: no header)."""
    fail_next: int = 0
    """The next N API calls answer 503."""
    mystic_polls_to_complete: int = 3
    mystic_outcome: MysticOutcome = "COMPLETED"
    generated_long_side: int = 256
    """Long side of Mystic's fake images (the real ones are 1k/2k/4k; kept small for tests)."""
    result_ttl_s: float = 300.0
    requests: list[RecordedRequest] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._files: dict[str, _StoredFile] = {}
        self._tasks: dict[str, _MysticTask] = {}

    # -- lifecycle (start/stop/url come from ThreadedFake) ---------------------------------

    def handler_class(self) -> type[BaseHTTPRequestHandler]:
        return _make_handler(self)

    # -- test helpers ---------------------------------------------------------------------

    def host_blob(self, data: bytes, content_type: str, name: str | None = None) -> str:
        """Serve ``data`` at a URL (what a presigned S3 URL is to the real service)."""
        path = f"/_blobs/{name or uuid.uuid4().hex}"
        self._store(path, data, content_type, ttl_s=None)
        return self.url + path

    def calls(self, method: str, path_prefix: str) -> list[RecordedRequest]:
        with self._lock:
            return [
                r for r in self.requests if r.method == method and r.path.startswith(path_prefix)
            ]

    # -- state ----------------------------------------------------------------------------

    def _store(self, path: str, data: bytes, content_type: str, ttl_s: float | None) -> None:
        expires = None if ttl_s is None else time.monotonic() + ttl_s
        with self._lock:
            self._files[path] = _StoredFile(data, content_type, expires)

    def _file(self, path: str) -> _StoredFile | None:
        with self._lock:
            stored = self._files.get(path)
        if stored is None or (
            stored.expires_at is not None and time.monotonic() > stored.expires_at
        ):
            return None
        return stored

    def _injected_failure(self) -> tuple[int, dict[str, str], dict[str, Any]] | None:
        with self._lock:
            if self.throttle > 0:
                self.throttle -= 1
                headers = {} if self.retry_after is None else {"Retry-After": self.retry_after}
                return 429, headers, {"message": "Rate limit exceeded"}
            if self.fail_next > 0:
                self.fail_next -= 1
                return 503, {}, {"message": "Service Unavailable. Please try again later."}
        return None

    # -- remove-background ----------------------------------------------------------------

    def _remove_background(self, content_type: str, body: bytes) -> dict[str, Any]:
        if _media_type(content_type) != "application/x-www-form-urlencoded":
            raise _BadRequest(
                "Content-Type must be application/x-www-form-urlencoded",
                {"content-type": content_type or "(missing)"},
            )
        try:
            fields = parse_qs(body.decode("ascii"), keep_blank_values=True, strict_parsing=True)
        except (UnicodeDecodeError, ValueError) as exc:
            raise _BadRequest("Body is not a valid urlencoded form") from exc
        unknown = sorted(set(fields) - {"image_url"})
        if unknown:
            raise _BadRequest("Unknown fields", {name: "not allowed" for name in unknown})
        values = fields.get("image_url", [])
        if len(values) != 1 or not values[0]:
            raise _BadRequest("image_url is required", {"image_url": "required, exactly once"})
        image_url = values[0]
        parts = urlsplit(image_url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise _BadRequest("image_url must be an http(s) URI", {"image_url": "invalid uri"})

        data = self._fetch(image_url)
        rgb = _decode_input(data)
        rgba = _threshold_cutout(rgb)

        result_id = uuid.uuid4().hex
        high = f"/v1/ai/beta/images/download/{result_id}/high.png"
        preview = f"/v1/ai/beta/images/download/{result_id}/preview.png"
        original = f"/v1/ai/beta/images/original/{result_id}/thumbnail.jpg"
        self._store(high, _png(rgba), "image/png", self.result_ttl_s)
        self._store(
            preview, _png(_shrink_to(rgba, PREVIEW_MAX_PIXELS)), "image/png", self.result_ttl_s
        )
        self._store(
            original, _jpeg(_shrink_to(rgb, PREVIEW_MAX_PIXELS)), "image/jpeg", self.result_ttl_s
        )
        return {
            "original": self.url + original,
            "high_resolution": self.url + high,
            "preview": self.url + preview,
            "url": self.url + high,
        }

    def _fetch(self, image_url: str) -> bytes:
        own = self.url
        if image_url.startswith(own + "/"):
            # Served by this fake (host_blob): read it directly, no loop back through HTTP.
            stored = self._file(urlsplit(image_url).path)
            if stored is None:
                raise _BadRequest("Could not download image_url", {"image_url": "404"})
            return stored.data
        try:
            with urllib.request.urlopen(image_url, timeout=10) as response:
                data: bytes = response.read(MAX_INPUT_BYTES + 1)
        except (urllib.error.URLError, OSError, ValueError) as exc:
            raise _BadRequest("Could not download image_url", {"image_url": str(exc)}) from exc
        return data

    # -- mystic ---------------------------------------------------------------------------

    def _create_mystic(self, content_type: str, body: bytes) -> dict[str, Any]:
        if _media_type(content_type) != "application/json":
            # The real API silently ignores a non-JSON body and generates a random image;
            # the fake refuses, so a client that sends the wrong type is caught in tests.
            raise _BadRequest("Content-Type must be application/json")
        try:
            payload = json.loads(body or b"null")
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise _BadRequest("Body is not valid JSON") from exc
        if not isinstance(payload, dict):
            raise _BadRequest("Body must be a JSON object")
        invalid = _validate_mystic(payload)
        if invalid:
            raise _BadRequest("Invalid parameters", invalid)
        task = _MysticTask(
            task_id=str(uuid.uuid4()),
            prompt=str(payload.get("prompt", "")),
            aspect_ratio=str(payload.get("aspect_ratio", "square_1_1")),
        )
        with self._lock:
            self._tasks[task.task_id] = task
        return {"data": {"generated": [], "task_id": task.task_id, "status": "CREATED"}}

    def _poll_mystic(self, task_id: str) -> dict[str, Any] | None:
        with self._lock:
            task = self._tasks.get(task_id)
            if task is None:
                return None
            task.polls += 1
            polls = task.polls
        done = self.mystic_outcome != "NEVER" and polls >= self.mystic_polls_to_complete
        if not done:
            return {"data": {"generated": [], "task_id": task_id, "status": "IN_PROGRESS"}}
        if self.mystic_outcome == "FAILED":
            return {"data": {"generated": [], "task_id": task_id, "status": "FAILED"}}
        if task.image_path is None:
            path = f"/statics/mystic/{task_id}/0.jpg"
            image = _generated_image(task.prompt, task.aspect_ratio, self.generated_long_side)
            self._store(path, _jpeg(image), "image/jpeg", ttl_s=None)
            task.image_path = path
        return {
            "data": {
                "generated": [self.url + task.image_path],
                "task_id": task_id,
                "status": "COMPLETED",
                "has_nsfw": [False],
            }
        }


# -- HTTP plumbing --------------------------------------------------------------------------

_MYSTIC_TASK = re.compile(r"^/v1/ai/mystic/([0-9a-fA-F-]{1,64})$")


def _make_handler(fake: FakeFreepik) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        server_version = "FakeFreepik/1.0"
        # Headers and body go out in two writes; without TCP_NODELAY every keep-alive request
        # waits ~40 ms for the client's delayed ACK.
        disable_nagle_algorithm = True

        def log_message(self, format: str, *args: Any) -> None:  # keep test output quiet
            return

        def _body(self) -> bytes:
            length = int(self.headers.get("Content-Length") or 0)
            return self.rfile.read(length) if length > 0 else b""

        def _record(self, body: bytes) -> None:
            path = urlsplit(self.path).path
            headers = {k.lower(): v for k, v in self.headers.items()}
            with fake._lock:
                fake.requests.append(RecordedRequest(self.command, path, headers, body))

        def _send(self, status: int, body: bytes, content_type: str, extra: dict[str, str]) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            for name, value in extra.items():
                self.send_header(name, value)
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)

        def _json(self, status: int, obj: Any, extra: dict[str, str] | None = None) -> None:
            self._send(status, json.dumps(obj).encode(), "application/json", extra or {})

        def _api(self, body: bytes) -> bool:
            """Auth and injected failures for API routes; True when a reply was sent."""
            if self.headers.get("x-freepik-api-key") != fake.api_key:
                self._json(401, {"message": "Invalid API key"})
                return True
            injected = fake._injected_failure()
            if injected is not None:
                status, headers, payload = injected
                self._json(status, payload, headers)
                return True
            return False

        def do_GET(self) -> None:
            self._record(b"")
            path = urlsplit(self.path).path
            match = _MYSTIC_TASK.match(path)
            if match:
                if self._api(b""):
                    return
                answer = fake._poll_mystic(match.group(1))
                if answer is None:
                    self._json(404, {"message": "Task not found"})
                else:
                    self._json(200, answer)
                return
            stored = fake._file(path)
            if stored is None:
                self._json(404, {"message": "Not found"})
                return
            self._send(200, stored.data, stored.content_type, {})

        def do_POST(self) -> None:
            body = self._body()
            self._record(body)
            path = urlsplit(self.path).path
            content_type = self.headers.get("Content-Type", "")
            routes = {
                "/v1/ai/beta/remove-background": fake._remove_background,
                "/v1/ai/mystic": fake._create_mystic,
            }
            route = routes.get(path)
            if route is None:
                self._json(404, {"message": "Not found"})
                return
            if self._api(body):
                return
            try:
                self._json(200, route(content_type, body))
            except _BadRequest as exc:
                payload: dict[str, Any] = {"message": exc.message}
                if exc.invalid:
                    payload["invalid_params"] = [
                        {"field": name, "reason": reason} for name, reason in exc.invalid.items()
                    ]
                self._json(400, payload)

        def do_PUT(self) -> None:
            body = self._body()
            self._record(body)
            path = urlsplit(self.path).path
            if not path.startswith("/_blobs/") or len(path) <= len("/_blobs/"):
                self._json(404, {"message": "Not found"})
                return
            content_type = self.headers.get("Content-Type", "application/octet-stream")
            fake._store(path, body, content_type, ttl_s=None)
            self._send(201, b"", "text/plain", {"Location": fake.url + path})

    return Handler


def _media_type(content_type: str) -> str:
    return content_type.split(";", 1)[0].strip().lower()


# -- request validation ---------------------------------------------------------------------


def _validate_mystic(payload: dict[str, Any]) -> dict[str, str]:
    invalid: dict[str, str] = {}
    for name, value in payload.items():
        if name not in MYSTIC_FIELDS:
            invalid[name] = "unknown field"
        elif name in MYSTIC_ENUMS:
            if value not in MYSTIC_ENUMS[name]:
                invalid[name] = f"must be one of {sorted(MYSTIC_ENUMS[name])}"
        elif name in MYSTIC_PERCENT_FIELDS:
            if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= 100:
                invalid[name] = "must be an integer in [0, 100]"
        elif name in MYSTIC_STRING_FIELDS:
            if not isinstance(value, str):
                invalid[name] = "must be a string"
        elif name in MYSTIC_BOOL_FIELDS:
            if not isinstance(value, bool):
                invalid[name] = "must be a boolean"
        elif name == "styling" and not isinstance(value, dict):
            invalid[name] = "must be an object"
    return invalid


# -- images ---------------------------------------------------------------------------------

U8 = npt.NDArray[np.uint8]


def _decode_input(data: bytes) -> U8:
    if len(data) > MAX_INPUT_BYTES:
        raise _BadRequest("Image is larger than 20 MB", {"image_url": "too large"})
    try:
        with Image.open(io.BytesIO(data)) as image:
            if image.format not in ("JPEG", "PNG"):
                raise _BadRequest(
                    "Unsupported image format; use JPG or PNG", {"image_url": str(image.format)}
                )
            return np.array(image.convert("RGB"), dtype=np.uint8)
    except (UnidentifiedImageError, OSError) as exc:
        raise _BadRequest("image_url is not an image", {"image_url": "not an image"}) from exc


def _threshold_cutout(rgb: U8) -> U8:
    """Alpha from the distance to the border's median colour, with a soft 24-level ramp."""
    border = np.concatenate([rgb[0], rgb[-1], rgb[:, 0], rgb[:, -1]]).astype(np.int16)
    background = np.median(border, axis=0)
    distance = np.abs(rgb.astype(np.int16) - background).max(axis=2)
    alpha = np.clip((distance.astype(np.float32) - 12.0) * (255.0 / 24.0), 0, 255)
    rgba = np.dstack([rgb, alpha.astype(np.uint8)])
    rgba[..., :3][rgba[..., 3] == 0] = 0
    return rgba


def _shrink_to(pixels: U8, max_pixels: int) -> U8:
    height, width = pixels.shape[:2]
    if width * height <= max_pixels:
        return pixels
    scale = (max_pixels / (width * height)) ** 0.5
    size = (max(1, int(width * scale)), max(1, int(height * scale)))
    mode = "RGBA" if pixels.shape[2] == 4 else "RGB"
    small = Image.fromarray(pixels, mode).resize(size, Image.Resampling.BOX)
    return np.array(small, dtype=np.uint8)


def _png(pixels: U8) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(pixels, "RGBA" if pixels.shape[2] == 4 else "RGB").save(buffer, "PNG")
    return buffer.getvalue()


def _jpeg(pixels: U8) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(pixels, "RGB").save(buffer, "JPEG", quality=90)
    return buffer.getvalue()


def _generated_image(prompt: str, aspect_ratio: str, long_side: int) -> U8:
    """A vertical two-colour gradient whose colours are a hash of the prompt."""
    ratio_w, ratio_h = MYSTIC_ASPECT_RATIOS[aspect_ratio]
    if ratio_w >= ratio_h:
        width, height = long_side, max(1, round(long_side * ratio_h / ratio_w))
    else:
        width, height = max(1, round(long_side * ratio_w / ratio_h)), long_side
    digest = hashlib.sha256(prompt.encode()).digest()
    top = np.frombuffer(digest[:3], dtype=np.uint8).astype(np.float32)
    bottom = np.frombuffer(digest[3:6], dtype=np.uint8).astype(np.float32)
    t = np.linspace(0.0, 1.0, height, dtype=np.float32)[:, None, None]
    column = top * (1 - t) + bottom * t
    return np.ascontiguousarray(np.broadcast_to(column, (height, width, 3)).astype(np.uint8))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Run a fake Freepik API on this machine.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8089)
    parser.add_argument("--api-key", default="test-key")
    parser.add_argument("--throttle", type=int, default=0, help="answer 429 to the next N calls")
    parser.add_argument("--retry-after", default="1")
    parser.add_argument("--mystic-polls", type=int, default=3)
    parser.add_argument(
        "--mystic-outcome", choices=["COMPLETED", "FAILED", "NEVER"], default="COMPLETED"
    )
    args = parser.parse_args(argv)
    fake = FakeFreepik(
        api_key=args.api_key,
        throttle=args.throttle,
        retry_after=args.retry_after,
        mystic_polls_to_complete=args.mystic_polls,
        mystic_outcome=args.mystic_outcome,
    ).start(args.host, args.port)
    print(f"fake Freepik API listening on {fake.url} (key {args.api_key!r})", flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        fake.stop()


if __name__ == "__main__":
    main()
