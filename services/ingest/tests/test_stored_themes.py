"""Stored themes through the pipeline on the real stack: a theme made with the dashboard's API
is accepted by a webhook delivery, its jobs record the version, and the background and composite
steps render that version (not a later edit); archived and unknown themes are refused with a
422 naming them."""

from __future__ import annotations

import hashlib
import io
from collections.abc import AsyncIterator
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest
from litestar.testing import AsyncTestClient
from opentelemetry.trace import INVALID_SPAN
from PIL import Image

from plinth.adapters.mongo import Database
from plinth.adapters.themes import ThemeCatalogue
from plinth.domain.job import Job
from plinth.worker import StageContext
from plinth_composite.main import composites
from plinth_dashboard_api.app import create_app as create_dashboard
from plinth_dashboard_api.settings import DashboardSettings
from plinth_dashboard_api.themes import sample_cutout
from plinth_ingest.runtime import IngestRuntime
from plinth_ingest.settings import IngestSettings
from plinth_testkit.http_server import LocalHttpServer
from plinth_testkit.memory import MemoryBlobs

pytestmark = [pytest.mark.stack, pytest.mark.asyncio(loop_scope="session")]

OPERATOR = {"X-API-Key": "themes-operator"}


@pytest.fixture
async def dashboard(ingest_settings: IngestSettings) -> AsyncIterator[Any]:
    """The dashboard API on the ingest tests' database."""
    settings = DashboardSettings(
        mongo_db=ingest_settings.mongo_db,
        s3_bucket=ingest_settings.s3_bucket,
        kafka_consumer_group_prefix=ingest_settings.kafka_consumer_group_prefix,
        dashboard_api_keys={"themes-operator": "editor:operator"},  # type: ignore[dict-item]
        retention_interval_s=0,
        sweeper_interval_s=0,
    )
    async with AsyncTestClient(app=create_dashboard(settings)) as client:
        yield client


def solid(name: str, colour: str) -> dict[str, Any]:
    return {
        "name": name, "title": f"Solid {name}", "prompt": "a plain backdrop", "variants": 1,
        "background": {"kind": "solid", "colour": colour}, "noise": None,
    }  # fmt: skip


def fresh_catalogue(runtime: IngestRuntime) -> None:
    """Make ingest re-read the themes now instead of after ``PLINTH_THEMES_CACHE_TTL_S``."""
    themes = runtime.webhook.themes
    assert isinstance(themes, ThemeCatalogue)
    themes.invalidate()


def pixels(jpeg: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(jpeg)).convert("RGB")).astype(int)


def rgb(colour: str) -> list[int]:
    return [int(colour[i : i + 2], 16) for i in (1, 3, 5)]


async def render(job: Job, db: Database) -> tuple[np.ndarray, np.ndarray]:
    """The job's background and composite as the background and composite services make them."""
    from plinth_background.main import backgrounds

    settings = SimpleNamespace(background_variants=None, background_mode="procedural",
                               background_cache_mb=8)  # fmt: skip
    background = await backgrounds(
        job, StageContext(settings, MemoryBlobs({}), INVALID_SPAN, "t", db)  # type: ignore[type-var]
    )
    (bg_key,) = background.artefacts
    cutout = Image.fromarray(sample_cutout(), "RGBA")
    buffer = io.BytesIO()
    cutout.save(buffer, format="PNG")
    job = job.model_copy(update={"s3_cutout_key": "cutout.png", "s3_background_keys": [bg_key]})
    blobs = MemoryBlobs({"cutout.png": buffer.getvalue(), **background.artefacts})
    composite = await composites(job, StageContext(settings, blobs, INVALID_SPAN, "t", db))  # type: ignore[type-var]
    (jpeg,) = composite.artefacts.values()
    return pixels(background.artefacts[bg_key]), pixels(jpeg)


async def test_a_theme_made_in_the_dashboard_is_used_by_a_delivery_at_its_version(
    dashboard: Any, runtime: IngestRuntime, post_webhook: Any, images: LocalHttpServer,
    db: Database, wait_jobs: Any, make_jpeg: Any, unique: str,
) -> None:  # fmt: skip
    name = f"stored-{unique}"
    created = await dashboard.post("/api/themes", json={"theme": solid(name, "#2a6f97")},
                                   headers=OPERATOR)  # fmt: skip
    assert created.status_code == 201, created.text
    edited = await dashboard.put(f"/api/themes/{name}", json={"theme": solid(name, "#b5651d")},
                                 headers=OPERATOR)  # fmt: skip
    assert edited.json()["version"] == 2
    fresh_catalogue(runtime)

    photo = make_jpeg((90, 90, 200))
    sha = hashlib.sha256(photo).hexdigest()
    url = images.image(f"/{unique}/stored.jpg", photo)
    response = await post_webhook(
        {"sku": f"ST-{unique}", "image_url": url, "img_sha256": sha, "theme": name}
    )
    assert response.status_code == 202, response.text
    # Without the hash the downloader makes the job: it records the version too.
    other = make_jpeg((200, 90, 90))
    url2 = images.image(f"/{unique}/stored2.jpg", other)
    response2 = await post_webhook({"sku": f"ST2-{unique}", "image_url": url2, "theme": name})
    assert response2.status_code == 202, response2.text

    (job,) = await wait_jobs({"sku": f"ST-{unique}"}, lambda jobs: len(jobs) == 1)
    (job2,) = await wait_jobs({"sku": f"ST2-{unique}"}, lambda jobs: len(jobs) == 1)
    assert (job.theme, job.theme_version) == (name, 2)
    assert (job2.theme, job2.theme_version) == (name, 2)

    # A later edit makes version 3; the job still renders with version 2.
    third = await dashboard.put(f"/api/themes/{name}", json={"theme": solid(name, "#11aa44")},
                                headers=OPERATOR)  # fmt: skip
    assert third.json()["version"] == 3
    background, composite = await render(job, db)
    assert np.abs(background.reshape(-1, 3).mean(axis=0) - rgb("#b5651d")).max() < 6
    corner = composite[:100, :100].reshape(-1, 3).mean(axis=0)
    assert np.abs(corner - rgb("#b5651d")).max() < 6
    height, width = composite.shape[:2]
    centre = composite[height // 2 - 100 : height // 2 + 100, width // 2 - 50 : width // 2 + 50]
    assert np.abs(centre.reshape(-1, 3).mean(axis=0) - corner).max() > 30, "the product is on it"
    # The process's background cache tells the versions of one theme apart.
    newer, _ = await render(job.model_copy(update={"theme_version": 3}), db)
    assert np.abs(newer.reshape(-1, 3).mean(axis=0) - rgb("#11aa44")).max() < 6
    again, _ = await render(job, db)
    assert np.abs(again.reshape(-1, 3).mean(axis=0) - rgb("#b5651d")).max() < 6


async def test_archived_and_unknown_themes_are_refused_naming_them(
    dashboard: Any, runtime: IngestRuntime, post_webhook: Any, unique: str
) -> None:
    name = f"retired-{unique}"
    created = await dashboard.post("/api/themes", json={"theme": solid(name, "#444444")},
                                   headers=OPERATOR)  # fmt: skip
    assert created.status_code == 201
    archived = await dashboard.post(f"/api/themes/{name}/archive", headers=OPERATOR)
    assert archived.status_code == 200
    fresh_catalogue(runtime)

    response = await post_webhook({
        "sku": f"AR-{unique}", "image_url": "http://127.0.0.1:1/x.jpg",
        "themes": [name, f"never-{unique}", "default"],
    })  # fmt: skip
    assert response.status_code == 422
    body = response.json()
    assert body["error"] == "invalid_payload"
    messages = [p["message"] for p in body["problems"] if p["field"] == "themes"]
    assert any(f"archived theme '{name}'" in m for m in messages), messages
    assert any(f"unknown theme 'never-{unique}'" in m for m in messages), messages

    restored = await dashboard.post(f"/api/themes/{name}/restore", headers=OPERATOR)
    assert restored.status_code == 200
    fresh_catalogue(runtime)
    response = await post_webhook({
        "sku": f"AR-{unique}", "image_url": "http://127.0.0.1:1/x.jpg", "themes": [name],
    })  # fmt: skip
    assert response.status_code == 202, response.text
