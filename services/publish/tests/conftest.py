"""Fixtures for the publish tests."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from plinth_publish.handler import ShopifyClients


@pytest.fixture
async def clients() -> AsyncIterator[ShopifyClients]:
    """A Shopify client pool of the test's own that polls media and backs off quickly."""
    pool = ShopifyClients(media_poll_interval_s=0.02, transient_backoff_s=0.01)
    yield pool
    await pool.aclose()
