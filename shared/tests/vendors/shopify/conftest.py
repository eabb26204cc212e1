from __future__ import annotations

import io
from collections.abc import AsyncIterator, Iterator

import pytest
from PIL import Image

from plinth.vendors.shopify import ShopifyClient, ShopifyConfig
from plinth_testkit.fakes.shopify import DEFAULT_VERSION, FakeShopify


def jpeg_bytes(size: tuple[int, int] = (64, 48)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, (180, 40, 40)).save(buffer, "JPEG")
    return buffer.getvalue()


def config_for(fake: FakeShopify, **overrides: object) -> ShopifyConfig:
    values: dict[str, object] = {
        "store_domain": "plinth-test.myshopify.com",
        "access_token": fake.access_token,
        "api_version": DEFAULT_VERSION,
        "base_url": fake.admin_base_url,
        "media_poll_interval_s": 0.02,
        "media_ready_timeout_s": 5.0,
        "transient_backoff_s": 0.01,
    }
    values.update(overrides)
    return ShopifyConfig(**values)  # type: ignore[arg-type]


@pytest.fixture
def fake() -> Iterator[FakeShopify]:
    with FakeShopify() as server:
        server.add_product("Blue Mug", ["MUG-1", "MUG-1-LARGE"])
        yield server


@pytest.fixture
async def client(fake: FakeShopify) -> AsyncIterator[ShopifyClient]:
    async with ShopifyClient(config_for(fake)) as shopify:
        yield shopify
