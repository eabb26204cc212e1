"""Helpers of the browser tests (see conftest.py): the running pipeline's handles, screenshots,
a signed-in page."""

from __future__ import annotations

import io
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness import ServiceProcesses

from plinth.adapters.mongo import Database
from plinth.adapters.s3 import BlobStore
from plinth_testkit.fakes.shopify import FakeShopify
from plinth_testkit.http_server import LocalHttpServer
from plinth_testkit.photos import HardPhoto

REPO = Path(__file__).resolve().parents[2]
OPERATOR_KEY = "browser-flows-operator"
VIEWER_KEY = "browser-flows-viewer"
SECRET = "browser-webhook-secret"


def screenshots_dir() -> Path:
    configured = os.environ.get("PLINTH_SCREENSHOTS_DIR")
    path = Path(configured) if configured else REPO / "out" / "screenshots" / "browser"
    path.mkdir(parents=True, exist_ok=True)
    return path


async def shot(page: Any, name: str) -> Path:
    """A screenshot of the viewport, stored as a small palette PNG (they are committed)."""
    from PIL import Image

    data = await page.screenshot(full_page=False)
    image = Image.open(io.BytesIO(data)).convert("RGB")
    path = screenshots_dir() / f"{name}.png"
    image.quantize(colors=256, method=Image.Quantize.MEDIANCUT).save(path, optimize=True)
    return path


@dataclass
class Flows:
    settings: Any
    db: Database
    blobs: BlobStore
    processes: ServiceProcesses
    photos: LocalHttpServer
    photo_urls: list[str]
    photo_bytes: list[bytes]
    hard: HardPhoto
    """A photo whose cut-out any provider is unsure of (``plinth_testkit.photos``)."""
    hard_url: str
    shopify: FakeShopify
    ingest_url: str
    dashboard_url: str
    run: str
    secret: str = SECRET


async def signed_in_page(context: Any, url: str) -> Any:
    page = await context.new_page()
    page.set_default_timeout(60_000)
    await page.goto(url + "/")
    if await page.locator("input[name=api-key]").count():
        await page.fill("input[name=api-key]", OPERATOR_KEY)
        await page.click("button[type=submit]")
    await page.wait_for_selector("nav[aria-label=Main]")
    return page
