"""The review hold on the real local stack (Kafka, the document store, S3), derive and publish
running as stage workers in this process and the dashboard API in-process:

- a low-confidence cut-out is held IN_REVIEW with its manifest stored, announced on
  ``plinth.job.in-review.v1`` and never sent to ``plinth.job.shopify-push.v1`` nor to Shopify;
- a confident one goes on to DONE as before;
- a theme with ``review_threshold`` 0 never holds, one with 1 holds every job;
- approve (dashboard API) -> publish -> DONE with its media in the fake Shopify;
- reject -> FAILED with the reviewer's reason.
"""

from __future__ import annotations

import functools
import uuid
from collections.abc import Iterator

import numpy as np
import pytest
from litestar.testing import AsyncTestClient

from plinth.adapters.mongo import Database
from plinth.adapters.s3 import BlobStore
from plinth.adapters.themes import ThemeStore
from plinth.domain.job import Job, utcnow
from plinth.domain.states import JobStatus, Stage
from plinth.domain.themes import new_record
from plinth.imaging.backgrounds import Theme
from plinth.imaging.decode import encode_jpeg
from plinth.messaging.events import JobEvent
from plinth.messaging.topics import JOB_COMPOSITED, JOB_IN_REVIEW, JOB_SHOPIFY_PUSH
from plinth.worker import Step
from plinth.worker.settings import WorkerSettings
from plinth_dashboard_api.app import create_app
from plinth_dashboard_api.settings import DashboardSettings
from plinth_derive.main import STEPS as DERIVE_STEPS
from plinth_derive.review import review_settings
from plinth_derive.settings import DeriveWorkerSettings
from plinth_publish.handler import ShopifyClients, publish
from plinth_publish.settings import PublishWorkerSettings
from plinth_testkit.fakes.shopify import FakeShopify
from plinth_testkit.kafka import TopicTail, publish_once
from plinth_testkit.stages import stage_workers, worker_fields
from plinth_testkit.waiting import until

pytestmark = [pytest.mark.stack, pytest.mark.asyncio(loop_scope="session"),
              pytest.mark.timeout(300)]

OPERATOR_KEY = "review-stack-operator"
OPERATOR = {"X-API-Key": OPERATOR_KEY}


@pytest.fixture
def fake() -> Iterator[FakeShopify]:
    with FakeShopify(auto_products=True) as server:
        yield server


@pytest.fixture
def global_threshold(monkeypatch: pytest.MonkeyPatch) -> Iterator[float]:
    """PLINTH_REVIEW_THRESHOLD set explicitly, so the test does not depend on the default."""
    monkeypatch.setenv("PLINTH_REVIEW_THRESHOLD", "0.5")
    review_settings.cache_clear()
    yield 0.5
    review_settings.cache_clear()


def theme_with(name: str, threshold: float | None) -> Theme:
    return Theme.model_validate({
        "name": name, "title": f"Review {name}", "prompt": "a plain backdrop",
        "background": {"kind": "solid", "colour": "#dddddd"}, "variants": 1,
        "review_threshold": threshold,
    })  # fmt: skip


async def composited(blobs: BlobStore, sku: str, theme: str, version: int | None,
                     confidence: float) -> Job:
    """A job at COMPOSITED with its composite in S3: derive takes it from there."""
    sha = uuid.uuid4().hex * 2
    ramp = np.linspace(60, 220, 400, dtype=np.float32)
    picture = np.dstack([np.add.outer(ramp, ramp) / 2, np.tile(ramp, (400, 1)),
                         np.tile(ramp[:, None], (1, 400))]).astype(np.uint8)
    key = f"composites/{theme}/{sku}/{sha}_0.jpg"
    await blobs.put(key, encode_jpeg(picture), content_type="image/jpeg")
    return Job(sku=sku, theme=theme, theme_version=version, image_url="https://x/r.jpg",
               img_sha256=sha, status=JobStatus.COMPOSITED,
               s3_original_key=f"originals/{sku}/{sha}.jpg",
               s3_cutout_key=f"cutouts/{sku}/{sha}.png", s3_mask_key=f"masks/{sku}/{sha}.png",
               s3_background_keys=[f"backgrounds/{theme}/{sku}/{sha}_0.jpg"],
               s3_composite_keys=[key], segment_confidence=confidence)


async def test_held_jobs_wait_for_a_person_and_go_on_or_fail_by_their_decision(
    stack_settings: WorkerSettings, own_db: Database, blobs: BlobStore, fake: FakeShopify,
    global_threshold: float, unique: str,
) -> None:
    base = worker_fields(stack_settings, own_db, label="rv", unique=unique)
    derive_settings = DeriveWorkerSettings(**{**base, "instance_id": f"derive-{unique}"})
    publish_settings = PublishWorkerSettings(**{
        **base, "instance_id": f"publish-{unique}",
        **fake.client_settings("plinth-review.myshopify.com")})
    dashboard_settings = DashboardSettings(
        mongo_db=own_db.db.name, s3_bucket=stack_settings.s3_bucket,
        kafka_consumer_group_prefix=base["kafka_consumer_group_prefix"],
        dashboard_api_keys={OPERATOR_KEY: "reviewer:operator"},  # type: ignore[dict-item]
        retention_interval_s=0, sweeper_interval_s=0,
    )

    # themes: one that never holds, one that holds everything (stored, version 1)
    never, always = f"rv-never-{unique}", f"rv-always-{unique}"
    store = ThemeStore.of(own_db)
    for name, threshold in ((never, 0.0), (always, 1.0)):
        await store.create(new_record(theme_with(name, threshold), actor="test", now=utcnow()))

    sku = f"RV-{unique}"
    jobs = {
        "doubtful": await composited(blobs, f"{sku}-A", "default", None, 0.2),
        "confident": await composited(blobs, f"{sku}-B", "default", None, 0.9),
        "never": await composited(blobs, f"{sku}-C", never, 1, 0.05),
        "always": await composited(blobs, f"{sku}-D", always, 1, 0.99),
        "rejected": await composited(blobs, f"{sku}-E", "default", None, 0.1),
    }
    for job in jobs.values():
        await own_db.jobs.insert(job)

    clients = ShopifyClients(media_poll_interval_s=0.05)
    publish_steps = [Step(Stage.PUBLISH, JobStatus.SHOPIFY_PUSH, JobStatus.DONE,
                          functools.partial(publish, clients=clients))]
    workers = [(Stage.DERIVE, DERIVE_STEPS, derive_settings),
               (Stage.PUBLISH, publish_steps, publish_settings)]
    in_review = TopicTail(derive_settings.kafka_bootstrap, JOB_IN_REVIEW)
    pushed = TopicTail(derive_settings.kafka_bootstrap, JOB_SHOPIFY_PUSH)
    try:
        async with stage_workers(own_db, workers, name="review"), in_review, pushed:
            for job in jobs.values():
                await publish_once(derive_settings, JOB_COMPOSITED, JobEvent(
                    job_id=job.id, sku=job.sku, theme=job.theme, img_sha256=job.img_sha256,
                    status=JobStatus.COMPOSITED), key=job.id)

            async def settled() -> dict[str, Job] | None:
                now = {name: await own_db.jobs.get(job.id) for name, job in jobs.items()}
                done = all(j is not None and j.status in (JobStatus.IN_REVIEW, JobStatus.DONE,
                                                          JobStatus.FAILED) for j in now.values())
                return now if done else None  # type: ignore[return-value]
            first = await until(settled, 120, "the jobs never left derive")

            assert {name: j.status for name, j in first.items()} == {
                "doubtful": JobStatus.IN_REVIEW, "confident": JobStatus.DONE,
                "never": JobStatus.DONE, "always": JobStatus.IN_REVIEW,
                "rejected": JobStatus.IN_REVIEW,
            }, {name: (j.status, j.error_message) for name, j in first.items()}
            held = first["doubtful"]
            assert held.review is not None and held.review.decision is None
            assert (held.review.confidence, held.review.threshold) == (0.2, global_threshold)
            assert held.manifest_s3_key and await blobs.exists(held.manifest_s3_key)
            assert len(held.s3_derivative_keys) == 9
            assert held.history[-1].note == ("held for review: cut-out confidence 0.20 is "
                                             "under 0.50")
            assert first["always"].review is not None
            assert first["always"].review.threshold == 1.0
            assert first["never"].review is None and first["confident"].review is None

            held_ids = {jobs[n].id for n in ("doubtful", "always", "rejected")}
            announced = await in_review.collect(lambda b: b.get("job_id") in held_ids, 3)
            assert {event["status"] for _, event in announced} == {"IN_REVIEW"}
            went_on = await pushed.collect(
                lambda b: b.get("job_id") in {jobs["confident"].id, jobs["never"].id}, 2)
            assert len(went_on) == 2
            # nothing held reached publish: no event, no media in Shopify
            assert not [b for _, b in pushed.seen if b.get("job_id") in held_ids]
            for name in ("doubtful", "always", "rejected"):
                assert fake.media_for(jobs[name].sku) == [], name
            assert fake.media_for(jobs["confident"].sku)

            async with AsyncTestClient(app=create_app(dashboard_settings)) as client:
                queue = (await client.get("/api/review", headers=OPERATOR)).json()
                assert [item["job"]["id"] for item in queue["items"]] == [
                    jobs["rejected"].id, jobs["doubtful"].id, jobs["always"].id]
                for name in ("doubtful", "always"):
                    response = await client.post(f"/api/jobs/{jobs[name].id}/approve",
                                                 headers=OPERATOR, json={"note": "looks right"})
                    assert response.status_code == 200, response.text
                response = await client.post(f"/api/jobs/{jobs['rejected'].id}/reject",
                                             headers=OPERATOR,
                                             json={"reason": "background left in the handle"})
                assert response.status_code == 200, response.text

            async def finished() -> dict[str, Job] | None:
                now = {n: await own_db.jobs.get(jobs[n].id) for n in ("doubtful", "always")}
                return now if all(j and j.status is JobStatus.DONE
                                  for j in now.values()) else None  # type: ignore[return-value]
            final = await until(finished, 120, "the approved jobs never reached DONE")
    finally:
        await clients.aclose()

    for name in ("doubtful", "always"):
        job = final[name]
        assert job.shopify is not None and job.shopify.status == "published"
        assert job.review is not None and job.review.decision == "approved"
        assert job.review.decided_by == "reviewer"
        assert sorted(m.id for m in fake.media_for(job.sku)) == sorted(job.shopify.media_ids)
        assert any(t.note == "approved by reviewer: looks right" for t in job.history)
    rejected = await own_db.jobs.get(jobs["rejected"].id)
    assert rejected is not None and rejected.status is JobStatus.FAILED
    assert rejected.error_code == "rejected_in_review"
    assert rejected.error_message == "rejected by reviewer: background left in the handle"
    assert fake.media_for(rejected.sku) == []
    actions = {(e["job_id"], e["action"], e["actor"]) async for e in own_db.audit.find({})}
    assert actions == {(jobs["doubtful"].id, "job.approve", "reviewer"),
                       (jobs["always"].id, "job.approve", "reviewer"),
                       (jobs["rejected"].id, "job.reject", "reviewer")}
