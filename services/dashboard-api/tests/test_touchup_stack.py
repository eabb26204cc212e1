"""Touch-up on the real local stack (Kafka, the document store, S3): a photo goes through
background, composite, derive and publish (stage workers in this process, the fake Shopify) to
DONE; a person paints its mask through the dashboard API; the job runs again from BG_REMOVED
through the normal topics and is DONE again, its manifest naming the new mask version and its
history the manual step (issue 20, item 3)."""

from __future__ import annotations

import functools
import hashlib
import io
import json
from collections.abc import Iterator

import pytest
from litestar.testing import AsyncTestClient
from PIL import Image, ImageDraw

from plinth import keys
from plinth.adapters.mongo import Database
from plinth.adapters.s3 import BlobStore
from plinth.domain.job import Job
from plinth.domain.states import JobStatus, Stage
from plinth.messaging.events import JobEvent
from plinth.messaging.topics import JOB_BG_REMOVED
from plinth.worker import Step
from plinth.worker.settings import WorkerSettings
from plinth_background.main import STEPS as BACKGROUND_STEPS
from plinth_background.settings import BackgroundWorkerSettings
from plinth_composite.main import STEPS as COMPOSITE_STEPS
from plinth_dashboard_api.app import create_app
from plinth_dashboard_api.settings import DashboardSettings
from plinth_derive.main import STEPS as DERIVE_STEPS
from plinth_derive.review import review_settings
from plinth_derive.settings import DeriveWorkerSettings
from plinth_publish.handler import ShopifyClients, publish
from plinth_publish.settings import PublishWorkerSettings
from plinth_testkit.fakes.shopify import FakeShopify
from plinth_testkit.kafka import publish_once
from plinth_testkit.stages import stage_workers, worker_fields
from plinth_testkit.waiting import until

pytestmark = [pytest.mark.stack, pytest.mark.asyncio(loop_scope="session"),
              pytest.mark.timeout(400)]

OPERATOR_KEY = "touchup-stack-operator"
OPERATOR = {"X-API-Key": OPERATOR_KEY}
WIDTH, HEIGHT = 480, 400


@pytest.fixture
def fake() -> Iterator[FakeShopify]:
    with FakeShopify(auto_products=True) as server:
        yield server


@pytest.fixture
def never_hold(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """PLINTH_REVIEW_THRESHOLD 0: no job is held for review, whatever the default."""
    monkeypatch.setenv("PLINTH_REVIEW_THRESHOLD", "0")
    review_settings.cache_clear()
    yield
    review_settings.cache_clear()


def png(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    return buffer.getvalue()


async def segmented(blobs: BlobStore, sku: str) -> Job:
    """A job at BG_REMOVED: a bottle-like shape on a light backdrop, its mask and cut-out (as
    the model made them: version 1) in S3."""
    photo = Image.new("RGB", (WIDTH, HEIGHT), (238, 238, 234))
    mask = Image.new("L", (WIDTH, HEIGHT), 0)
    for draw, fill in ((ImageDraw.Draw(photo), (30, 110, 60)), (ImageDraw.Draw(mask), 255)):
        draw.rectangle((180, 120, 300, 360), fill=fill)  # body
        draw.rectangle((220, 60, 260, 120), fill=fill)  # neck
    ImageDraw.Draw(photo).text((4, 4), sku, fill=(238, 238, 233))
    buffer = io.BytesIO()
    photo.save(buffer, "JPEG", quality=95)
    original = buffer.getvalue()
    sha = hashlib.sha256(original).hexdigest()
    cutout = photo.convert("RGBA")
    cutout.putalpha(mask)
    await blobs.put(keys.original_key(sku, sha), original, content_type="image/jpeg")
    await blobs.put(keys.mask_key(sku, sha), png(mask), content_type="image/png")
    await blobs.put(keys.cutout_key(sku, sha), png(cutout), content_type="image/png")
    return Job(sku=sku, theme="default", image_url=f"https://x/{sku}.jpg", img_sha256=sha,
               status=JobStatus.BG_REMOVED, s3_original_key=keys.original_key(sku, sha),
               s3_mask_key=keys.mask_key(sku, sha), s3_cutout_key=keys.cutout_key(sku, sha))


async def test_a_done_job_is_touched_up_and_done_again_with_the_new_mask(
    stack_settings: WorkerSettings, own_db: Database, blobs: BlobStore, fake: FakeShopify,
    never_hold: None, unique: str,
) -> None:
    base = worker_fields(stack_settings, own_db, label="tu", unique=unique)
    background_settings = BackgroundWorkerSettings(**{
        **base, "instance_id": f"background-{unique}", "background_variants": 1})
    composite_settings = WorkerSettings(**{**base, "instance_id": f"composite-{unique}"})
    derive_settings = DeriveWorkerSettings(**{**base, "instance_id": f"derive-{unique}"})
    publish_settings = PublishWorkerSettings(**{
        **base, "instance_id": f"publish-{unique}",
        **fake.client_settings("plinth-touchup.myshopify.com")})
    dashboard_settings = DashboardSettings(
        mongo_db=own_db.db.name, s3_bucket=stack_settings.s3_bucket,
        kafka_consumer_group_prefix=base["kafka_consumer_group_prefix"],
        dashboard_api_keys={OPERATOR_KEY: "retoucher:operator"},  # type: ignore[dict-item]
        retention_interval_s=0, sweeper_interval_s=0,
    )

    job = await own_db.jobs.insert(await segmented(blobs, f"TU-{unique}"))
    sha = job.img_sha256
    assert sha is not None

    clients = ShopifyClients(media_poll_interval_s=0.05)
    publish_steps = [Step(Stage.PUBLISH, JobStatus.SHOPIFY_PUSH, JobStatus.DONE,
                          functools.partial(publish, clients=clients))]
    workers = [(Stage.BACKGROUND, BACKGROUND_STEPS, background_settings),
               (Stage.COMPOSITE, COMPOSITE_STEPS, composite_settings),
               (Stage.DERIVE, DERIVE_STEPS, derive_settings),
               (Stage.PUBLISH, publish_steps, publish_settings)]

    async def done_with(mask: str) -> Job | None:
        now = await own_db.jobs.get(job.id)
        assert now is not None
        assert now.status is not JobStatus.FAILED, (now.error_code, now.error_message)
        return now if now.status is JobStatus.DONE and now.s3_mask_key == mask else None

    try:
        async with stage_workers(own_db, workers, name="touchup"):
            await publish_once(derive_settings, JOB_BG_REMOVED, JobEvent(
                job_id=job.id, sku=job.sku, theme=job.theme, img_sha256=sha,
                status=JobStatus.BG_REMOVED), key=job.id)
            first = await until(functools.partial(done_with, keys.mask_key(job.sku, sha)), 180,
                                "the job never reached DONE the first time")
            assert first.shopify is not None and first.shopify.status == "published"
            assert first.manifest_s3_key is not None
            manifest = json.loads(await blobs.get(first.manifest_s3_key))
            assert manifest["assets"]["mask"]["key"] == keys.mask_key(job.sku, sha)

            async with AsyncTestClient(app=create_app(dashboard_settings)) as client:
                masks = (await client.get(f"/api/jobs/{job.id}/masks", headers=OPERATOR)).json()
                assert masks["current"] == 1
                body = {"base_version": 1, "method": "paint", "note": "the neck was cut short",
                        "strokes": [{"mode": "add", "size": 40,
                                     "points": [[240, 30], [240, 70]]},
                                    {"mode": "remove", "size": 30,
                                     "points": [[190, 340], [290, 340]]}],
                        "points": []}
                response = await client.post(f"/api/jobs/{job.id}/touch-up", headers=OPERATOR,
                                             json=body)
                assert response.status_code == 202, response.text
                assert response.json()["version"] == 2
                assert response.json()["jobs"] == [job.id]

            new_mask = keys.mask_key(job.sku, sha, 2)
            final = await until(functools.partial(done_with, new_mask), 180,
                                "the touched-up job never reached DONE again")
    finally:
        await clients.aclose()

    assert final.s3_cutout_key == keys.cutout_key(job.sku, sha, 2)
    assert [(v.version, v.source, v.created_by) for v in final.mask_versions] == [
        (1, "model", None), (2, "touch-up", "retoucher")]
    notes = [t.note for t in final.history]
    assert "touch-up by retoucher (mask v2)" in notes
    after = final.history[notes.index("touch-up by retoucher (mask v2)"):]
    assert [(t.from_status, t.to_status) for t in after] == [
        (JobStatus.DONE, JobStatus.BG_REMOVED),
        (JobStatus.BG_REMOVED, JobStatus.BACKGROUND_READY),
        (JobStatus.BACKGROUND_READY, JobStatus.COMPOSITED),
        (JobStatus.COMPOSITED, JobStatus.DERIVATIVES),
        (JobStatus.DERIVATIVES, JobStatus.SHOPIFY_PUSH),
        (JobStatus.SHOPIFY_PUSH, JobStatus.DONE),
    ]
    assert final.manifest_s3_key is not None
    manifest = json.loads(await blobs.get(final.manifest_s3_key))
    assert manifest["assets"]["mask"]["key"] == new_mask
    assert (manifest["assets"]["mask"]["version"], manifest["assets"]["mask"]["source"]) == (
        2, "touch-up")
    assert manifest["assets"]["cutout"]["key"] == keys.cutout_key(job.sku, sha, 2)
    assert await blobs.exists(keys.mask_key(job.sku, sha)), "the model's mask is kept"
    assert final.shopify is not None and final.shopify.status == "published"
    assert fake.media_for(job.sku)
    [entry] = [e async for e in own_db.audit.find({"action": "job.touch_up"})]
    assert (entry["job_id"], entry["actor"]) == (job.id, "retoucher")
