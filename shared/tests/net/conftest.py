from __future__ import annotations

import io
from collections.abc import Iterator

import pytest
from PIL import Image

from plinth_testkit.http_server import LocalHttpServer


def jpeg_bytes(size: tuple[int, int] = (64, 48)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, (200, 30, 30)).save(buffer, format="JPEG")
    return buffer.getvalue()


@pytest.fixture
def server() -> Iterator[LocalHttpServer]:
    with LocalHttpServer() as running:
        yield running


@pytest.fixture
def jpeg() -> bytes:
    return jpeg_bytes()
