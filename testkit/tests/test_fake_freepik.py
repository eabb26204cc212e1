"""The fake Freepik server enforces the published contract, so client tests can trust it."""

from __future__ import annotations

import io
import socket
import subprocess
import sys
from collections.abc import Iterator

import httpx
import numpy as np
import pytest
from PIL import Image

from plinth_testkit.fakes.freepik import FakeFreepik

KEY = "k"
REMOVE = "/v1/ai/beta/remove-background"
FORM = {"content-type": "application/x-www-form-urlencoded", "x-freepik-api-key": KEY}


@pytest.fixture
def fake() -> Iterator[FakeFreepik]:
    with FakeFreepik(api_key=KEY, mystic_polls_to_complete=2) as server:
        yield server


def photo_png(width: int = 40, height: int = 30) -> bytes:
    rgb = np.full((height, width, 3), 250, np.uint8)
    rgb[10:20, 10:30] = (20, 90, 200)
    buffer = io.BytesIO()
    Image.fromarray(rgb).save(buffer, "PNG")
    return buffer.getvalue()


def test_remove_background_answers_the_documented_shape(fake: FakeFreepik) -> None:
    image_url = fake.host_blob(photo_png(), "image/png")
    answer = httpx.post(fake.url + REMOVE, data={"image_url": image_url}, headers=FORM)
    assert answer.status_code == 200
    body = answer.json()
    assert set(body) == {"original", "high_resolution", "preview", "url"}
    assert body["url"] == body["high_resolution"]

    high = Image.open(io.BytesIO(httpx.get(body["high_resolution"]).content))
    assert high.format == "PNG" and high.mode == "RGBA" and high.size == (40, 30)
    alpha = np.array(high)[..., 3]
    assert alpha[15, 20] == 255 and alpha[0, 0] == 0
    original = Image.open(io.BytesIO(httpx.get(body["original"]).content))
    assert original.format == "JPEG"


@pytest.mark.parametrize(
    ("headers", "status"),
    [
        ({"content-type": "application/x-www-form-urlencoded"}, 401),
        ({**FORM, "x-freepik-api-key": "bad"}, 401),
    ],
)
def test_bad_or_missing_key_is_401(fake: FakeFreepik, headers: dict[str, str], status: int) -> None:
    answer = httpx.post(fake.url + REMOVE, data={"image_url": "http://x/a.png"}, headers=headers)
    assert answer.status_code == status
    assert "message" in answer.json()


def test_json_body_is_refused(fake: FakeFreepik) -> None:
    answer = httpx.post(
        fake.url + REMOVE, json={"image_url": "http://x/a.png"}, headers={"x-freepik-api-key": KEY}
    )
    assert answer.status_code == 400
    assert "x-www-form-urlencoded" in answer.json()["message"]


def test_multipart_upload_is_refused(fake: FakeFreepik) -> None:
    answer = httpx.post(
        fake.url + REMOVE,
        files={"image": ("a.png", photo_png(), "image/png")},
        headers={"x-freepik-api-key": KEY},
    )
    assert answer.status_code == 400


@pytest.mark.parametrize(
    ("form", "field"),
    [
        ({}, "image_url"),
        ({"image_url": ""}, "image_url"),
        ({"image_url": "ftp://host/a.png"}, "image_url"),
        ({"image_url": "http://h/a.png", "size": "auto"}, "size"),
    ],
)
def test_bad_form_fields_are_400(fake: FakeFreepik, form: dict[str, str], field: str) -> None:
    answer = httpx.post(fake.url + REMOVE, data=form, headers=FORM)
    assert answer.status_code == 400
    assert field in {p["field"] for p in answer.json()["invalid_params"]}


def test_unfetchable_or_unsupported_images_are_400(fake: FakeFreepik) -> None:
    webp = io.BytesIO()
    Image.new("RGB", (4, 4)).save(webp, "WEBP")
    for url in (
        fake.host_blob(webp.getvalue(), "image/webp"),
        fake.host_blob(b"not an image", "image/png"),
        fake.url + "/_blobs/missing",
    ):
        answer = httpx.post(fake.url + REMOVE, data={"image_url": url}, headers=FORM)
        assert answer.status_code == 400, url


def test_preview_is_at_most_a_quarter_megapixel(fake: FakeFreepik) -> None:
    image_url = fake.host_blob(photo_png(1000, 800), "image/png")
    body = httpx.post(fake.url + REMOVE, data={"image_url": image_url}, headers=FORM).json()
    preview = Image.open(io.BytesIO(httpx.get(body["preview"]).content))
    assert preview.width * preview.height <= 250_000


def test_result_urls_expire(fake: FakeFreepik) -> None:
    fake.result_ttl_s = 0.0
    image_url = fake.host_blob(photo_png(), "image/png")
    body = httpx.post(fake.url + REMOVE, data={"image_url": image_url}, headers=FORM).json()
    assert httpx.get(body["url"]).status_code == 404


def test_throttle_answers_429_with_retry_after_then_recovers(fake: FakeFreepik) -> None:
    fake.throttle = 1
    fake.retry_after = "7"
    image_url = fake.host_blob(photo_png(), "image/png")
    first = httpx.post(fake.url + REMOVE, data={"image_url": image_url}, headers=FORM)
    assert first.status_code == 429 and first.headers["retry-after"] == "7"
    second = httpx.post(fake.url + REMOVE, data={"image_url": image_url}, headers=FORM)
    assert second.status_code == 200


def test_blobs_can_be_put_over_http(fake: FakeFreepik) -> None:
    put = httpx.put(
        fake.url + "/_blobs/a.png", content=photo_png(), headers={"content-type": "image/png"}
    )
    assert put.status_code == 201
    got = httpx.get(put.headers["location"])
    assert got.content == photo_png() and got.headers["content-type"] == "image/png"


# -- Mystic ---------------------------------------------------------------------------------

MYSTIC = "/v1/ai/mystic"
JSON = {"x-freepik-api-key": KEY}


def test_mystic_task_lifecycle(fake: FakeFreepik) -> None:
    created = httpx.post(
        fake.url + MYSTIC, json={"prompt": "a", "aspect_ratio": "widescreen_16_9"}, headers=JSON
    )
    assert created.status_code == 200
    data = created.json()["data"]
    assert data["status"] == "CREATED" and data["generated"] == []
    task = fake.url + f"{MYSTIC}/{data['task_id']}"
    first = httpx.get(task, headers=JSON).json()["data"]
    assert first["status"] == "IN_PROGRESS" and first["generated"] == []
    done = httpx.get(task, headers=JSON).json()["data"]
    assert done["status"] == "COMPLETED" and len(done["generated"]) == 1
    image = Image.open(io.BytesIO(httpx.get(done["generated"][0]).content))
    assert image.size == (256, 144)
    assert httpx.get(task).status_code == 401


@pytest.mark.parametrize(
    "body",
    [
        {"prompt": "a", "resolution": "8k"},
        {"prompt": "a", "aspect_ratio": "square"},
        {"prompt": "a", "model": "dall-e"},
        {"prompt": "a", "adherence": 101},
        {"prompt": "a", "fixed_generation": "yes"},
        {"prompt": 3},
        {"prompt": "a", "seed": 42},
    ],
)
def test_mystic_rejects_invalid_parameters(fake: FakeFreepik, body: dict[str, object]) -> None:
    answer = httpx.post(fake.url + MYSTIC, json=body, headers=JSON)
    assert answer.status_code == 400
    assert answer.json()["invalid_params"]


def test_mystic_needs_a_json_content_type(fake: FakeFreepik) -> None:
    answer = httpx.post(fake.url + MYSTIC, data={"prompt": "a"}, headers=JSON)
    assert answer.status_code == 400


def test_unknown_task_is_404(fake: FakeFreepik) -> None:
    answer = httpx.get(fake.url + f"{MYSTIC}/00000000-0000-0000-0000-000000000000", headers=JSON)
    assert answer.status_code == 404


def test_runs_as_a_module_on_a_given_port() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    process = subprocess.Popen(
        [sys.executable, "-m", "plinth_testkit.fakes.freepik",
         "--port", str(port), "--api-key", "cli"],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        assert f"127.0.0.1:{port}" in line
        answer = httpx.post(f"http://127.0.0.1:{port}{MYSTIC}", json={"prompt": "x"})
        assert answer.status_code == 401
        answer = httpx.post(
            f"http://127.0.0.1:{port}{MYSTIC}",
            json={"prompt": "x"},
            headers={"x-freepik-api-key": "cli"},
        )
        assert answer.status_code == 200
    finally:
        process.terminate()
        process.wait(timeout=10)
