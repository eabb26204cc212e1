"""The whole pipeline, every service its own process, against the real local stack.

20 signed webhooks (duplicates, several themes) must end as DONE jobs with every artefact in S3,
valid manifests, one media set per (sku, theme) at the fake Shopify and one trace per job; then
a corrupt photo, a redelivered message, pause/resume, and the two segment instances' split.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import time
from typing import Any

import httpx
import pytest
from harness import send_webhook, spans_by_job, wait_for_jobs

from plinth.adapters.kafka import make_broker
from plinth.adapters.s3 import BlobStore
from plinth.domain.job import Job
from plinth.domain.states import JobStatus, Stage
from plinth.imaging.manifest import validate_manifest
from plinth.messaging.events import ControlCommand, JobEvent
from plinth.messaging.topics import CONTROL, JOB_NEW, JOB_SHOPIFY_PUSH
from plinth.worker.control import CONTROL_SCOPE_HEADER
from plinth_testkit.waiting import until

pytestmark = [pytest.mark.e2e, pytest.mark.stack, pytest.mark.asyncio(loop_scope="session"),
              pytest.mark.timeout(900)]

THEMES = ["default", "warm_paper", "marketplace_white", "cool_grey_studio"]
STEP_SPANS = {"segment", "background", "composite", "derive", "manifest", "publish"}


def photo_payload(pipeline: Any, index: int, themes: list[str]) -> dict[str, Any]:
    data = pipeline.photo_bytes[index]
    return {"sku": f"E2E-{index:03d}", "image_url": pipeline.photo_urls[index],
            "img_sha256": hashlib.sha256(data).hexdigest(), "themes": themes}


@pytest.fixture(scope="module")
def deliveries(pipeline: Any) -> list[dict[str, Any]]:
    """20 deliveries: 10 distinct (13 jobs), then all 10 again as duplicates."""
    distinct = []
    for i in range(8):
        themes = [THEMES[i % len(THEMES)]]
        if i % 3 == 0:
            themes.append("charcoal_spotlight")
        distinct.append(photo_payload(pipeline, i, themes))
    distinct.append(photo_payload(pipeline, 1, ["pastel_gradient"]))  # same photo, new theme
    distinct.append(photo_payload(pipeline, 2, ["pastel_gradient"]))
    return distinct + [dict(d) for d in distinct]


def identities(deliveries: list[dict[str, Any]]) -> set[tuple[str, str, str]]:
    return {(d["sku"], d["img_sha256"], t) for d in deliveries for t in d["themes"]}


async def jobs_by_identity(pipeline: Any, wanted: set[tuple[str, str, str]], timeout_s: float
                           ) -> dict[tuple[str, str, str], Job]:
    deadline = time.monotonic() + timeout_s
    while True:
        docs = await pipeline.db.jobs_collection.find({}).to_list()
        found = {(d["sku"], d["img_sha256"], d["theme"]): Job.from_document(d) for d in docs}
        if wanted <= set(found):
            return {k: found[k] for k in wanted}
        if time.monotonic() > deadline:
            raise TimeoutError(f"jobs never created: {sorted(wanted - set(found))}")
        await asyncio.sleep(0.5)


async def test_twenty_webhooks_end_as_published_jobs(pipeline: Any, deliveries: list) -> None:
    started = time.monotonic()
    replies = []
    with httpx.Client(timeout=30) as client:
        for payload in deliveries:
            replies.append(send_webhook(client, pipeline.ingest_url, pipeline.secret, payload))
    first, again = replies[:10], replies[10:]
    assert [r.status_code for r in first] == [202] * 10, [r.text for r in first]
    # A duplicate delivery is answered with the jobs the first one created, and creates nothing.
    assert [r.json()["outcome"] for r in again] == ["duplicate"] * 10
    assert [r.json()["job_ids"] for r in again] == [r.json()["job_ids"] for r in first]
    wanted = identities(deliveries)
    assert len(wanted) == 13
    created = await jobs_by_identity(pipeline, wanted, timeout_s=60)
    jobs = await wait_for_jobs(pipeline.db, [j.id for j in created.values()], timeout_s=600,
                               processes=pipeline.processes)
    elapsed = time.monotonic() - started
    print(f"\n13 jobs through the pipeline in {elapsed:.1f}s: "
          f"{13 / elapsed * 60:.1f} jobs per minute")

    # Topic names are shared by every run on this Kafka, so only count this test's SKUs: other
    # suites' deliveries may reach this run's ingest consumer too.
    ours = await pipeline.db.jobs_collection.find(
        {"sku": {"$in": sorted({d["sku"] for d in deliveries})}},
        {"sku": 1, "theme": 1, "img_sha256": 1}).to_list()
    assert len(ours) == 13, f"duplicates made jobs: {ours}"
    failed = {j.id: (j.failed_stage, j.error_message) for j in jobs.values()
              if j.status is not JobStatus.DONE}
    assert not failed, failed

    async with BlobStore.from_settings(pipeline.settings) as blobs:
        for job in jobs.values():
            await check_artefacts(blobs, job)

    # Every stage worker is ready, and the /metrics of each stage's instances counted the jobs
    # they moved on (segment runs two instances).
    async with httpx.AsyncClient(timeout=10) as client:
        for stage in ("segment", "background", "composite", "derive", "publish"):
            moved = 0.0
            for name, port in pipeline.processes.health_ports.items():
                if name.split("-")[0] != stage:
                    continue
                base = f"http://127.0.0.1:{port}"
                ready = await client.get(f"{base}/ready")
                assert ready.status_code == 200, (name, ready.text)
                moved += sum(
                    float(line.rsplit(" ", 1)[1])
                    for line in (await client.get(f"{base}/metrics")).text.splitlines()
                    if line.startswith("plinth_jobs_processed_total{")
                    and 'outcome="advanced"' in line and f'stage="{stage}"' in line)
            assert moved >= 1, f"{stage}: no job counted on /metrics"

    for (sku, _sha, theme), new in created.items():
        job = jobs[new.id]
        media = pipeline.shopify.media_for(sku, theme)
        assert job.shopify is not None and job.shopify.status == "published"
        assert sorted(m.id for m in media) == sorted(job.shopify.media_ids), (sku, theme)
        assert len(media) >= 1

    check_traces(pipeline, list(jobs.values()))
    await check_segment_instances_split_the_work(pipeline, list(jobs.values()))


async def check_artefacts(blobs: BlobStore, job: Job) -> None:
    assert job.s3_original_key and job.s3_cutout_key and job.s3_mask_key
    assert len(job.s3_composite_keys) == len(job.s3_background_keys) == 1
    assert len(job.s3_derivative_keys) == 9 * len(job.s3_composite_keys)
    keys = [job.s3_original_key, job.s3_cutout_key, job.s3_mask_key, *job.s3_background_keys,
            *job.s3_composite_keys, *job.s3_derivative_keys, job.manifest_s3_key]
    listed = set(await blobs.list(f"derivatives/{job.theme}/{job.sku}/"))
    assert set(job.s3_derivative_keys) <= listed
    for key in keys:
        assert key and await blobs.exists(key), key
    manifest = json.loads(await blobs.get(job.manifest_s3_key or ""))
    validate_manifest(manifest)
    assert manifest["totals"]["derivative_count"] == 9
    assert {d["key"] for d in manifest["assets"]["derivatives"]} == set(job.s3_derivative_keys)
    assert manifest["job"]["job_id"] == job.id
    for name in ("segmentation_ms", "backgrounds_ms", "compositing_ms", "derivatives_ms",
                 "manifest_ms", "publish_ms"):
        assert getattr(job.timings, name) is not None, name


def check_traces(pipeline: Any, jobs: list[Job]) -> None:
    from harness import read_spans

    grouped = spans_by_job(read_spans(pipeline.trace_file))
    for job in jobs:
        spans = grouped.get(job.id, [])
        traces = {s["trace_id"] for s in spans}
        assert traces == {job.trace_id}, f"job {job.id}: traces {traces}, job says {job.trace_id}"
        names = {s["name"] for s in spans}
        assert names >= STEP_SPANS, f"job {job.id} misses steps {STEP_SPANS - names}"
        services = {s["service"] for s in spans}
        assert {"plinth-segment", "plinth-derive", "plinth-publish"} <= services
        step = {s["name"]: s for s in spans if s["name"] in STEP_SPANS}
        assert job.timings.segmentation_ms == step["segment"]["duration_ms"]
        assert job.timings.derivatives_ms == step["derive"]["duration_ms"]


async def check_segment_instances_split_the_work(pipeline: Any, jobs: list[Job]) -> None:
    from harness import read_spans

    # Completed segment steps only: a job whose photo another job is segmenting waits through
    # the retry topic (RetryLater, an ERROR span), and that topic's partitions may be held by
    # the other instance. Two completed steps for one job would be the real double work.
    by_job: dict[str, set[str]] = {}
    for span in read_spans(pipeline.trace_file):
        if span["name"] == "segment" and span.get("status") != "ERROR":
            by_job.setdefault(span["attributes"]["job.id"], set()).add(
                span["attributes"]["plinth.instance"])
    assert all(len(by_job[j.id]) == 1 for j in jobs), "a job was segmented by two instances"
    used = set().union(*by_job.values())
    assert len(used) == 2, f"one instance did all the work: {used}"
    workers = await pipeline.db.workers.find({"stage": "segment", "stopped": False}).to_list()
    held = [set(w["assignment"]) for w in workers]
    assert len(held) == 2 and not (held[0] & held[1]) and all(held)


async def test_a_corrupt_photo_fails_its_job_and_the_workers_keep_going(
    pipeline: Any, deliveries: list
) -> None:
    broken = pipeline.corrupt_bytes
    payload = {"sku": "E2E-BROKEN", "image_url": pipeline.corrupt_url,
               "img_sha256": hashlib.sha256(broken).hexdigest(), "themes": ["default"]}
    after = photo_payload(pipeline, 5, ["radial_glow"])
    with httpx.Client(timeout=30) as client:
        for body in (payload, after):
            reply = send_webhook(client, pipeline.ingest_url, pipeline.secret, body)
            assert reply.status_code == 202, reply.text
    created = await jobs_by_identity(pipeline, identities([payload, after]), timeout_s=60)
    jobs = await wait_for_jobs(pipeline.db, [j.id for j in created.values()], timeout_s=300)
    bad = jobs[created[("E2E-BROKEN", payload["img_sha256"], "default")].id]
    assert bad.status is JobStatus.FAILED
    assert bad.failed_stage in (Stage.SEGMENT, Stage.DOWNLOAD)
    assert bad.error_code in ("truncated_image", "not_an_image"), bad.error_code
    assert bad.error_message and ("truncated" in bad.error_message
                                  or "corrupt" in bad.error_message)
    good = jobs[created[(after["sku"], after["img_sha256"], "radial_glow")].id]
    assert good.status is JobStatus.DONE
    assert not pipeline.processes.dead()


async def worker_counts(pipeline: Any, stage: str, field: str) -> int:
    docs = await pipeline.db.workers.find({"stage": stage, "stopped": False}).to_list()
    return sum(int(d.get(field, 0)) for d in docs)


async def test_a_redelivered_message_has_no_duplicate_effect(
    pipeline: Any, deliveries: list
) -> None:
    doc = await pipeline.db.jobs_collection.find_one({"status": "DONE", "sku": "E2E-000"})
    job = Job.from_document(doc)
    media_before = [m.id for m in pipeline.shopify.media_for(job.sku, job.theme)]
    skipped = {s: await worker_counts(pipeline, s, "skipped") for s in ("segment", "publish")}
    broker = make_broker(pipeline.settings, client_id="e2e-redeliver")
    await broker.start()
    try:
        for status, topic in ((JobStatus.NEW, JOB_NEW),
                              (JobStatus.SHOPIFY_PUSH, JOB_SHOPIFY_PUSH)):
            event = JobEvent(job_id=job.id, sku=job.sku, theme=job.theme,
                             img_sha256=job.img_sha256, status=status)
            await broker.publish(event, topic, key=job.id.encode())
    finally:
        await broker.stop()
    for stage in ("segment", "publish"):
        async def seen(stage: str = stage) -> bool:
            return await worker_counts(pipeline, stage, "skipped") > skipped[stage]
        await until(seen, 30, f"{stage} never saw the redelivered event")
    again = Job.from_document(await pipeline.db.jobs_collection.find_one({"_id": job.id}))
    assert again.updated_at == job.updated_at and len(again.history) == len(job.history)
    assert [m.id for m in pipeline.shopify.media_for(job.sku, job.theme)] == media_before


async def test_pause_holds_a_stage_and_resume_lets_it_finish(
    pipeline: Any, deliveries: list
) -> None:
    broker = make_broker(pipeline.settings, client_id="e2e-control")
    await broker.start()
    try:
        scope = {CONTROL_SCOPE_HEADER: pipeline.control_scope}
        # Scoped to this run: other runs' commands on the shared control topic (and ours to
        # them) are ignored (see shared/tests/worker/test_kafka_binding.py).
        await broker.publish(ControlCommand(action="pause", stage=Stage.BACKGROUND,
                                            issued_by="e2e"), CONTROL, headers=scope)

        async def paused() -> bool:
            doc = await pipeline.db.workers.find_one({"stage": "background", "stopped": False})
            return bool(doc and doc["paused"])
        await until(paused, 20, "background never reported paused")

        payload = photo_payload(pipeline, 6, ["radial_glow"])
        with httpx.Client(timeout=30) as client:
            assert send_webhook(client, pipeline.ingest_url, pipeline.secret, payload
                                ).status_code == 202
        [job] = (await jobs_by_identity(pipeline, identities([payload]), timeout_s=60)).values()
        held = await wait_for_jobs(pipeline.db, [job.id], timeout_s=120,
                                   statuses=frozenset({JobStatus.BG_REMOVED, JobStatus.FAILED}))
        assert held[job.id].status is JobStatus.BG_REMOVED
        await asyncio.sleep(4)
        still = await pipeline.db.jobs.get(job.id)
        assert still is not None and still.status is JobStatus.BG_REMOVED, "paused stage worked"

        await broker.publish(ControlCommand(action="resume", stage="all", issued_by="e2e"),
                             CONTROL, headers=scope)
        done = await wait_for_jobs(pipeline.db, [job.id], timeout_s=180)
        assert done[job.id].status is JobStatus.DONE
    finally:
        await broker.stop()


async def test_a_worker_killed_mid_job_loses_nothing(pipeline: Any, deliveries: list) -> None:
    """At-least-once: derive holds a record it has not committed (paused at its gate), dies
    with SIGKILL, and a new instance gets the partition, the record again, and finishes the
    job exactly once."""
    broker = make_broker(pipeline.settings, client_id="e2e-crash")
    await broker.start()
    scope = {CONTROL_SCOPE_HEADER: pipeline.control_scope}
    try:
        await broker.publish(ControlCommand(action="pause", stage=Stage.DERIVE, issued_by="e2e"),
                             CONTROL, headers=scope)

        async def paused() -> bool:
            doc = await pipeline.db.workers.find_one({"stage": "derive", "stopped": False})
            return bool(doc and doc["paused"])
        await until(paused, 20, "derive never reported paused")
        payload = photo_payload(pipeline, 7, ["radial_glow"])
        with httpx.Client(timeout=30) as client:
            reply = send_webhook(client, pipeline.ingest_url, pipeline.secret, payload)
            assert reply.status_code == 202, reply.text
        [job] = (await jobs_by_identity(pipeline, identities([payload]), timeout_s=60)).values()
        await wait_for_jobs(pipeline.db, [job.id], timeout_s=180,
                            statuses=frozenset({JobStatus.COMPOSITED, JobStatus.FAILED}))
        await asyncio.sleep(2)  # the record reaches derive and waits at the gate, uncommitted

        pipeline.processes.kill("derive")
        await pipeline.db.workers.update_many({"stage": "derive"}, {"$set": {"stopped": True}})
        pipeline.processes.start("derive", "derive-2")
        done = await wait_for_jobs(pipeline.db, [job.id], timeout_s=240)
        finished = done[job.id]
        assert finished.status is JobStatus.DONE, finished.error_message
        assert [t.to_status for t in finished.history].count(JobStatus.DERIVATIVES) == 1
        media = pipeline.shopify.media_for(finished.sku, finished.theme)
        assert finished.shopify and sorted(m.id for m in media) == sorted(
            finished.shopify.media_ids)
    finally:
        await broker.stop()
