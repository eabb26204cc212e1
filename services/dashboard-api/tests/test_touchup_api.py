"""The touch-up endpoints on the local stack: mask versions, preview, save and the rework of
every theme of the photo (issue 20, item 3)."""

from __future__ import annotations

import hashlib
import io
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import numpy as np
import pytest
from litestar.testing import AsyncTestClient
from PIL import Image, ImageDraw

from plinth import keys
from plinth.adapters.mask_versions import MaskVersionRecords
from plinth.adapters.mongo import Database
from plinth.adapters.s3 import BlobStore
from plinth.domain.job import Job, MaskVersion, Review, ShopifyResult, utcnow
from plinth.domain.states import JobStatus, Stage
from plinth.messaging.topics import JOB_BG_REMOVED
from plinth_dashboard_api.settings import DashboardSettings

Client = AsyncTestClient  # type: ignore[type-arg]
WIDTH, HEIGHT = 200, 160
Photo = Callable[..., Awaitable[list[Job]]]


def png(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    return buffer.getvalue()


def photo_files(seed: str) -> tuple[bytes, bytes, bytes]:
    """A dark disc on a light backdrop (JPEG), its mask and cut-out (PNG)."""
    image = Image.new("RGB", (WIDTH, HEIGHT), (236, 236, 232))
    mask = Image.new("L", (WIDTH, HEIGHT), 0)
    box = (50, 30, 150, 130)
    ImageDraw.Draw(image).ellipse(box, fill=(40, 70, 150))
    ImageDraw.Draw(mask).ellipse(box, fill=255)
    ImageDraw.Draw(image).text((2, 2), seed[:8], fill=(236, 236, 231))  # a distinct photo
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=95)
    cutout = image.convert("RGBA")
    cutout.putalpha(mask)
    return buffer.getvalue(), png(mask), png(cutout)


@pytest.fixture
async def photo(stack_db: Database, dashboard_settings: DashboardSettings) -> Photo:
    """Jobs of one stored photo, one per (theme, status) asked for."""

    async def make(*states: tuple[str, JobStatus]) -> list[Job]:
        sku = f"TU-{uuid.uuid4().hex[:8]}"
        original, mask, cutout = photo_files(sku)
        sha = hashlib.sha256(original).hexdigest()
        async with BlobStore.from_settings(dashboard_settings) as blobs:
            await blobs.put(keys.original_key(sku, sha), original, "image/jpeg")
            await blobs.put(keys.mask_key(sku, sha), mask, "image/png")
            await blobs.put(keys.cutout_key(sku, sha), cutout, "image/png")
        jobs = []
        for theme, status in states:
            job = Job(sku=sku, theme=theme, image_url=f"https://x/{sku}.jpg", img_sha256=sha,
                      status=status, s3_original_key=keys.original_key(sku, sha),
                      s3_mask_key=keys.mask_key(sku, sha),
                      s3_cutout_key=keys.cutout_key(sku, sha),
                      s3_background_keys=[keys.background_key(theme, sku, sha, 0)],
                      s3_composite_keys=[keys.composite_key(theme, sku, sha, 0)],
                      s3_derivative_keys=[keys.derivative_key(theme, sku, sha, 0, "hero", "jpg")],
                      manifest_s3_key=keys.manifest_key(sku, sha, theme),
                      shopify=ShopifyResult(status="published", product_id="gid://p/1",
                                            media_ids=["gid://m/1"], published_at=utcnow()))
            if status is JobStatus.IN_REVIEW:
                job = job.model_copy(update={"shopify": None, "review": Review(
                    held_at=utcnow(), confidence=0.2, threshold=0.5, reason="doubtful")})
            if status is JobStatus.FAILED:
                job = job.model_copy(update={
                    "error_code": "boom", "error_message": "boom",
                    "failed_stage": Stage.COMPOSITE, "failed_from": JobStatus.BACKGROUND_READY})
            jobs.append(await stack_db.jobs.insert(job))
        return jobs

    return make


def stroke_body(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "base_version": 1,
        "method": "paint",
        "strokes": [{"mode": "remove", "size": 30, "points": [[100, 80], [140, 80]]}],
        "points": [],
        "note": "trim the right side",
    }
    body.update(overrides)
    return body


def decoded(data: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(data)).convert("L"))


async def test_masks_lists_the_versions_with_urls(
    client: Client, viewer: dict[str, str], photo: Photo
) -> None:
    [job] = await photo(("studio", JobStatus.DONE))
    response = await client.get(f"/api/jobs/{job.id}/masks", headers=viewer)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["current"] == 1
    [first] = body["versions"]
    assert (first["version"], first["source"]) == (1, "model")
    assert first["s3_mask_key"] == job.s3_mask_key
    assert first["mask_url"].startswith("http") and first["cutout_url"].startswith("http")
    assert (await client.get("/api/jobs/nope/masks", headers=viewer)).status_code == 404


async def test_preview_returns_the_mask_and_stores_nothing(
    client: Client, operator: dict[str, str], viewer: dict[str, str], photo: Photo,
    stack_db: Database, dashboard_settings: DashboardSettings,
) -> None:
    [job] = await photo(("studio", JobStatus.DONE))
    refused = await client.post(f"/api/jobs/{job.id}/touch-up/preview", headers=viewer,
                                json=stroke_body())
    assert refused.status_code == 403
    response = await client.post(f"/api/jobs/{job.id}/touch-up/preview", headers=operator,
                                 json=stroke_body())
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "image/png"
    mask = decoded(response.content)
    assert mask.shape == (HEIGHT, WIDTH)
    assert mask[80, 120] == 0 and mask[80, 70] == 255  # removed under the stroke only
    after = await stack_db.jobs.get(job.id)
    assert after is not None and after.status is JobStatus.DONE and not after.mask_versions
    async with BlobStore.from_settings(dashboard_settings) as blobs:
        assert job.img_sha256 is not None
        assert not await blobs.exists(keys.mask_key(job.sku, job.img_sha256, 2))


@pytest.mark.parametrize(
    ("body", "status", "needle"),
    [
        ({"strokes": [{"mode": "add", "size": 5, "points": [[10, 10], [250, 10]]}]}, 422,
         "strokes[0].points[1] (250.0, 10.0) is outside the 200x160 image"),
        ({"base_version": 7}, 422, "base_version 7 is not a mask version"),
        ({"method": "grabcut", "strokes": []}, 422, "needs at least one stroke or point"),
        ({"method": "paint", "strokes": [], "points": [{"x": 5, "y": 5}]}, 422,
         "'paint' needs at least one stroke"),
        ({"method": "magic"}, 400, "method"),
        ({"base_version": None}, 400, "base_version"),
        ({"strokes": [{"mode": "add", "size": -2, "points": [[1, 1]]}]}, 400, "size"),
        ({"strokes": [{"mode": "smudge", "size": 2, "points": [[1, 1]]}]}, 400, "mode"),
    ],
)
async def test_bad_bodies_are_refused_naming_the_problem(
    client: Client, operator: dict[str, str], photo: Photo, body: dict[str, Any], status: int,
    needle: str,
) -> None:
    [job] = await photo(("studio", JobStatus.DONE))
    for path in ("touch-up", "touch-up/preview"):
        response = await client.post(f"/api/jobs/{job.id}/{path}", headers=operator,
                                     json=stroke_body(**body))
        assert response.status_code == status, response.text
        assert needle in response.text, response.text


async def test_saving_reworks_every_theme_of_the_photo(
    client: Client, operator: dict[str, str], photo: Photo, stack_db: Database,
    dashboard_settings: DashboardSettings, topic_tail: Any,
) -> None:
    done, failed, other, held = await photo(
        ("studio", JobStatus.DONE), ("kitchen", JobStatus.FAILED), ("outdoor", JobStatus.DONE),
        ("held", JobStatus.IN_REVIEW))
    ids = {done.id, failed.id, other.id, held.id}
    async with topic_tail(JOB_BG_REMOVED) as tail:
        response = await client.post(f"/api/jobs/{done.id}/touch-up", headers=operator,
                                     json=stroke_body())
        assert response.status_code == 202, response.text
        events = await tail.collect(lambda body: body.get("job_id") in ids, 4)
    body = response.json()
    sku, sha = done.sku, done.img_sha256
    assert sha is not None
    assert body["version"] == 2 and sorted(body["jobs"]) == sorted(ids)
    assert body["s3_mask_key"] == keys.mask_key(sku, sha, 2) == f"masks/{sku}/{sha}.v2.png"
    assert {key for key, _ in events} == {i.encode() for i in ids}
    assert all(event["status"] == "BG_REMOVED" for _, event in events)

    for job_id in ids:
        job = await stack_db.jobs.get(job_id)
        assert job is not None and job.status is JobStatus.BG_REMOVED
        assert job.s3_mask_key == keys.mask_key(sku, sha, 2)
        assert job.s3_cutout_key == keys.cutout_key(sku, sha, 2)
        assert [(v.version, v.source) for v in job.mask_versions] == [(1, "model"),
                                                                       (2, "touch-up")]
        assert job.mask_versions[1].created_by == "tester"
        assert job.mask_versions[1].note == "trim the right side"
        assert job.history[-1].note == "touch-up by tester (mask v2)"
        assert job.s3_background_keys == [] and job.manifest_s3_key is None
        assert (job.shopify is not None) is (job_id != held.id)  # publish replaces the media
    rechecked = await stack_db.jobs.get(held.id)
    assert rechecked is not None and rechecked.review is not None
    assert rechecked.review.decision is None  # held again after the touch-up, for a person

    async with BlobStore.from_settings(dashboard_settings) as blobs:
        new_mask = decoded(await blobs.get(keys.mask_key(sku, sha, 2)))
        old_mask = decoded(await blobs.get(keys.mask_key(sku, sha, 1)))  # kept
        cutout = np.asarray(Image.open(io.BytesIO(await blobs.get(keys.cutout_key(sku, sha, 2)))))
    assert old_mask[80, 120] == 255 and new_mask[80, 120] == 0
    assert cutout.shape == (HEIGHT, WIDTH, 4) and np.array_equal(cutout[..., 3], new_mask)

    for job_id in ids:  # every job it changed has the step in its audit trail
        entries = [e async for e in stack_db.audit.find({"job_id": job_id,
                                                         "action": "job.touch_up"})]
        assert len(entries) == 1 and entries[0]["actor"] == "tester"
        details = entries[0]["details"]
        assert (details["version"], details["method"]) == (2, "paint")
        assert details["touched_up_on"] == done.id

    masks = (await client.get(f"/api/jobs/{failed.id}/masks", headers=operator)).json()
    assert masks["current"] == 2 and [v["version"] for v in masks["versions"]] == [1, 2]

    # The jobs are mid-pipeline now: another touch-up waits until they are done.
    again = await client.post(f"/api/jobs/{done.id}/touch-up", headers=operator,
                              json=stroke_body(base_version=2))
    assert again.status_code == 409, again.text
    assert "mid-pipeline" in again.json()["detail"]


async def test_a_re_cut_is_recorded_as_such_and_versions_keep_counting(
    client: Client, operator: dict[str, str], photo: Photo, stack_db: Database,
) -> None:
    [job] = await photo(("studio", JobStatus.DONE))
    assert job.img_sha256 is not None
    # a number claimed by a save that failed half-way is never reused
    records = MaskVersionRecords.of(stack_db)
    assert await records.claim(job.sku, job.img_sha256, MaskVersion(
        version=2, s3_mask_key="masks/x.v2.png", s3_cutout_key="cutouts/x.v2.png",
        source="touch-up", created_at=utcnow()))
    body = stroke_body(method="grabcut", strokes=[],
                       points=[{"x": 100, "y": 80, "positive": True},
                               {"x": 10, "y": 150, "positive": False}])
    response = await client.post(f"/api/jobs/{job.id}/touch-up", headers=operator, json=body)
    assert response.status_code == 202, response.text
    assert response.json()["version"] == 3
    after = await stack_db.jobs.get(job.id)
    assert after is not None
    assert [(v.version, v.source) for v in after.mask_versions] == [(1, "model"), (3, "recut")]
    assert await records.latest_number(job.sku, job.img_sha256) == 3
    saved = await records.latest_saved(job.sku, job.img_sha256)  # v2 never was
    assert saved is not None and (saved.version, saved.created_by) == (3, "tester")


@pytest.fixture
def touchup_model(monkeypatch: pytest.MonkeyPatch) -> Callable[[str], None]:
    """Point the learned re-cut at model ``name`` for one test."""
    from plinth_dashboard_api import touchup

    def use(name: str) -> None:
        monkeypatch.setenv("PLINTH_TOUCHUP_MODEL", name)
        monkeypatch.setenv("PLINTH_TOUCHUP_THREADS", "1")
        touchup._settings.cache_clear()

    yield use  # type: ignore[misc]
    touchup._settings.cache_clear()


async def test_the_learned_re_cut_without_its_model_says_so(
    client: Client, operator: dict[str, str], photo: Photo,
    touchup_model: Callable[[str], None],
) -> None:
    touchup_model("no-such-model")
    [job] = await photo(("studio", JobStatus.DONE))
    body = stroke_body(method="learned", strokes=[], points=[{"x": 100, "y": 80}])
    response = await client.post(f"/api/jobs/{job.id}/touch-up/preview", headers=operator,
                                 json=body)
    assert response.status_code == 422, response.text
    assert "learned re-cut is not available" in response.json()["detail"]
    assert "no-such-model" in response.json()["detail"]


async def test_the_learned_re_cut_runs_the_installed_model(
    client: Client, operator: dict[str, str], photo: Photo,
    touchup_model: Callable[[str], None],
) -> None:
    from plinth.models.cache import model_file

    if not model_file("isnet-small").is_file():
        pytest.skip("isnet-small is not installed (plinth models install isnet-small)")
    touchup_model("isnet-small")
    [job] = await photo(("studio", JobStatus.DONE))
    # a negative click on the disc: the model sees it as the product there and takes it out
    body = stroke_body(method="learned", strokes=[],
                       points=[{"x": 100, "y": 80, "positive": False}])
    response = await client.post(f"/api/jobs/{job.id}/touch-up/preview", headers=operator,
                                 json=body)
    assert response.status_code == 200, response.text
    mask = decoded(response.content)
    assert (mask >= 128).mean() < 0.02
