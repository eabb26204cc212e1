"""The review queue API against the real local stack: the queue's order and pages, approve (on to
publish through plinth.job.shopify-push.v1), reject with a reason, bulk approve, the audit."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import pytest

from plinth.adapters.mongo import Database
from plinth.domain.job import Job, Review, ShopifyResult
from plinth.domain.states import PIPELINE, JobStatus
from plinth.domain.transitions import advance, hold
from plinth.messaging.topics import JOB_SHOPIFY_PUSH
from plinth_dashboard_api.sweeper import LIVE

pytestmark = [pytest.mark.stack, pytest.mark.asyncio(loop_scope="session")]

Client = Any  # litestar.testing.AsyncTestClient


def fields(sha: str, sku: str) -> dict[JobStatus, dict[str, Any]]:
    return {
        JobStatus.BG_REMOVED: {"img_sha256": sha, "s3_original_key": f"originals/{sku}/{sha}.jpg",
                               "s3_cutout_key": f"cutouts/{sku}/{sha}.png",
                               "s3_mask_key": f"masks/{sku}/{sha}.png"},
        JobStatus.BACKGROUND_READY: {"s3_background_keys": [f"backgrounds/default/{sku}/0.jpg"]},
        JobStatus.COMPOSITED: {"s3_composite_keys": [f"composites/default/{sku}/0.jpg"]},
        JobStatus.DERIVATIVES: {"s3_derivative_keys": [f"derivatives/default/{sku}/0_hero.jpg"]},
        JobStatus.SHOPIFY_PUSH: {"manifest_s3_key": f"manifests/{sku}/{sha}-default.json"},
        JobStatus.DONE: {"shopify": ShopifyResult(status="skipped", reason="test")},
    }


def job_at(status: JobStatus, confidence: float | None = 0.3) -> Job:
    sku = f"RV-{uuid.uuid4().hex[:10]}"
    sha = uuid.uuid4().hex * 2
    job = Job(sku=sku, theme="default", image_url="https://img.example/r.jpg",
              segment_confidence=confidence)
    steps = fields(sha, sku)
    target = JobStatus.DERIVATIVES if status is JobStatus.IN_REVIEW else status
    for state in PIPELINE[1 : PIPELINE.index(target) + 1]:
        job = advance(job, state, **steps[state])
    if status is JobStatus.IN_REVIEW:
        review = Review(held_at=datetime.now(UTC), confidence=confidence, threshold=0.5,
                        reason="uncertain")
        job = hold(job, review=review, **steps[JobStatus.SHOPIFY_PUSH])
    return job


async def stored(db: Database, status: JobStatus, confidence: float | None = 0.3) -> Job:
    job = job_at(status, confidence)
    await db.jobs.insert(job)
    return job


async def whole_queue(client: Client, headers: dict[str, str], limit: int) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    cursor = None
    for _ in range(100):
        params: dict[str, Any] = {"limit": limit}
        if cursor:
            params["cursor"] = cursor
        response = await client.get("/api/review", headers=headers, params=params)
        assert response.status_code == 200, response.text
        body = response.json()
        assert len(body["items"]) <= limit
        items.extend(body["items"])
        cursor = body["next_cursor"]
        if cursor is None:
            return items
    raise AssertionError("the queue never ended")


async def test_the_queue_lists_held_jobs_least_confident_first_in_pages(
    client: Client, viewer: dict[str, str], stack_db: Database
) -> None:
    mine = [await stored(stack_db, JobStatus.IN_REVIEW, c) for c in (0.4, 0.1, None, 0.25, 0.1)]
    not_held = await stored(stack_db, JobStatus.SHOPIFY_PUSH)
    items = await whole_queue(client, viewer, limit=2)
    ids = [item["job"]["id"] for item in items]
    assert len(ids) == len(set(ids)), "a job on two pages"
    assert not_held.id not in ids
    assert all(item["job"]["status"] == "IN_REVIEW" for item in items)
    ours = [item for item in items if item["job"]["id"] in {j.id for j in mine}]
    assert [item["confidence"] for item in ours] == [0.1, 0.1, 0.25, 0.4, None]
    scored = [item["confidence"] for item in items if item["confidence"] is not None]
    assert scored == sorted(scored)
    assert items[-1]["confidence"] is None, "jobs held without a confidence come last"
    first = ours[0]
    assert first["threshold"] == 0.5 and first["reason"] == "uncertain" and first["held_at"]
    assert first["job"]["review"]["decision"] is None

    bad = await client.get("/api/review", headers=viewer, params={"cursor": "not-a-cursor"})
    assert bad.status_code == 400 and "cursor" in bad.json()["detail"]
    assert (await client.get("/api/review", headers=viewer, params={"limit": 0})).status_code \
        == 400
    assert (await client.get("/api/review")).status_code == 401

    # the job list and the statistics know the state too
    listed = await client.get("/api/jobs", headers=viewer,
                              params={"status": "IN_REVIEW", "sku": mine[0].sku})
    assert [j["id"] for j in listed.json()["items"]] == [mine[0].id]
    stats = (await client.get("/api/jobs/stats", headers=viewer)).json()
    assert stats["in_review"] >= len(mine)
    # a person's stage has no workers: the processor page does not list it
    processor = (await client.get("/api/processor/status", headers=viewer)).json()
    assert "review" not in {stage["stage"] for stage in processor["stages"]}
    assert "manifest" in {stage["stage"] for stage in processor["stages"]}
    # nor is a held job stuck: the sweeper leaves it waiting
    assert JobStatus.IN_REVIEW.value not in LIVE


async def test_approve_sends_the_job_to_publish_and_is_audited(
    client: Client, operator: dict[str, str], viewer: dict[str, str], stack_db: Database,
    topic_tail: Any,
) -> None:
    job = await stored(stack_db, JobStatus.IN_REVIEW, 0.2)
    refused = await client.post(f"/api/jobs/{job.id}/approve", headers=viewer, json={})
    assert refused.status_code == 403
    async with topic_tail(JOB_SHOPIFY_PUSH) as tail:
        response = await client.post(f"/api/jobs/{job.id}/approve", headers=operator,
                                     json={"note": "edges fine"})
        assert response.status_code == 200, response.text
        key, event = await tail.wait_for(lambda body: body.get("job_id") == job.id)
    assert key == job.id.encode() and event["status"] == "SHOPIFY_PUSH"
    body = response.json()
    assert body["status"] == "SHOPIFY_PUSH"
    assert body["review"]["decision"] == "approved" and body["review"]["decided_by"] == "tester"
    assert body["review"]["note"] == "edges fine"
    assert body["history"][-1]["note"] == "approved by tester: edges fine"
    after = await stack_db.jobs.get(job.id)
    assert after is not None and after.status is JobStatus.SHOPIFY_PUSH
    entry = await stack_db.audit.find_one({"job_id": job.id, "action": "job.approve"})
    assert entry is not None and entry["actor"] == "tester" and entry["role"] == "operator"
    assert entry["at"] is not None and entry["details"]["topic"] == JOB_SHOPIFY_PUSH
    assert entry["details"]["confidence"] == 0.2

    again = await client.post(f"/api/jobs/{job.id}/approve", headers=operator)
    assert again.status_code == 409
    assert "only IN_REVIEW jobs can be approved" in again.json()["detail"]
    missing = await client.post("/api/jobs/no-such-job/approve", headers=operator)
    assert missing.status_code == 404 and "no-such-job" in missing.json()["detail"]


async def test_reject_needs_a_reason_fails_the_job_and_a_retry_requeues_it(
    client: Client, operator: dict[str, str], stack_db: Database
) -> None:
    job = await stored(stack_db, JobStatus.IN_REVIEW, 0.15)
    for body in ({}, {"reason": "   "}):
        response = await client.post(f"/api/jobs/{job.id}/reject", headers=operator, json=body)
        assert response.status_code == 400, response.text
        assert "reason is required" in response.json()["detail"]
    nobody = await client.post(f"/api/jobs/{job.id}/reject", headers=operator)
    assert nobody.status_code == 400
    response = await client.post(f"/api/jobs/{job.id}/reject", headers=operator,
                                 json={"reason": "the handle is cut off"})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["status"] == "FAILED" and body["error_code"] == "rejected_in_review"
    assert body["failed_stage"] == "review" and body["failed_from"] == "IN_REVIEW"
    assert body["error_message"] == "rejected by tester: the handle is cut off"
    assert body["review"]["decision"] == "rejected"
    entry = await stack_db.audit.find_one({"job_id": job.id, "action": "job.reject"})
    assert entry is not None and entry["details"]["reason"] == "the handle is cut off"
    assert entry["actor"] == "tester"

    twice = await client.post(f"/api/jobs/{job.id}/reject", headers=operator,
                              json={"reason": "again"})
    assert twice.status_code == 409

    retried = await client.post(f"/api/jobs/{job.id}/retry", headers=operator)
    assert retried.status_code == 200, retried.text
    assert retried.json()["status"] == "IN_REVIEW"
    assert retried.json()["review"]["decision"] is None
    queue = await client.get("/api/review", headers=operator, params={"limit": 200})
    assert job.id in {item["job"]["id"] for item in queue.json()["items"]}

    trail = await client.get(f"/api/jobs/{job.id}/audit", headers=operator)
    assert trail.status_code == 200
    actions = [entry["action"] for entry in trail.json()["items"]]
    assert actions == ["job.retry", "job.reject"], "newest first"
    assert all(e["actor"] == "tester" and e["at"] and e["id"] for e in trail.json()["items"])
    assert (await client.get("/api/jobs/no-such-job/audit", headers=operator)).status_code == 404


async def test_bulk_approve_answers_per_job(
    client: Client, operator: dict[str, str], stack_db: Database, topic_tail: Any
) -> None:
    held = [await stored(stack_db, JobStatus.IN_REVIEW, c) for c in (0.3, 0.35)]
    done = await stored(stack_db, JobStatus.DONE)
    ids = [held[0].id, done.id, "no-such-job", held[1].id, held[0].id]
    async with topic_tail(JOB_SHOPIFY_PUSH) as tail:
        response = await client.post("/api/review/approve", headers=operator,
                                     json={"job_ids": ids})
        assert response.status_code == 200, response.text
        events = await tail.collect(lambda body: body.get("job_id") in {j.id for j in held}, 2)
    assert sorted(event["job_id"] for _, event in events) == sorted(j.id for j in held)
    results = {r["job_id"]: r for r in response.json()["results"]}
    assert len(response.json()["results"]) == 4, "a repeated id is handled once"
    assert results[held[0].id]["ok"] and results[held[1].id]["ok"]
    assert results[held[0].id]["status"] == "SHOPIFY_PUSH"
    assert not results[done.id]["ok"] and "only IN_REVIEW" in results[done.id]["error"]
    assert not results["no-such-job"]["ok"] and "no job" in results["no-such-job"]["error"]
    for job in held:
        entry = await stack_db.audit.find_one({"job_id": job.id, "action": "job.approve"})
        assert entry is not None and entry["details"]["bulk"] is True

    empty = await client.post("/api/review/approve", headers=operator, json={"job_ids": []})
    assert empty.status_code == 400
