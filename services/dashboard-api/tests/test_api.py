"""The API against the real local stack: FerretDB, S3 and Kafka."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition
from litestar.testing import AsyncTestClient

from plinth.adapters.mongo import Database
from plinth.domain.job import Job
from plinth.domain.states import STAGE_FROM, JobStatus, Stage
from plinth.domain.transitions import fail
from plinth.messaging.topics import CONTROL, STAGE_INPUT
from plinth_dashboard_api.app import create_app
from plinth_dashboard_api.demo import DemoJobs

pytestmark = [pytest.mark.stack, pytest.mark.asyncio(loop_scope="session")]

Client = Any  # litestar.testing.AsyncTestClient


async def test_every_api_route_needs_a_key(client: Client) -> None:
    for path in ("/api/jobs", "/api/jobs/stats", "/api/processor/status", "/api/webhooks/events"):
        response = await client.get(path)
        assert response.status_code == 401, path
        assert "API key is required" in response.json()["detail"]
    response = await client.get("/api/jobs", headers={"X-API-Key": "wrong"})
    assert response.status_code == 401
    assert response.json()["detail"] == "the API key is not valid"
    bearer = await client.get("/api/jobs", headers={"Authorization": "Bearer test-viewer-key"})
    assert bearer.status_code == 200


async def test_viewer_cannot_mutate(
    client: Client, viewer: dict[str, str], seeded: DemoJobs
) -> None:
    job = seeded.failed[0]
    response = await client.post(f"/api/jobs/{job.id}/retry", headers=viewer)
    assert response.status_code == 403
    assert "needs 'operator'" in response.json()["detail"]
    response = await client.post("/api/processor/stop", headers=viewer, json={"stage": "all"})
    assert response.status_code == 403


async def test_list_filters_sort_and_paginate(
    client: Client, viewer: dict[str, str], seeded: DemoJobs, run_id: str
) -> None:
    prefix = f"T{run_id}"
    everything = (await client.get("/api/jobs", headers=viewer, params={"sku": prefix})).json()
    assert everything["total"] == 12
    failed = await client.get(
        "/api/jobs", headers=viewer, params={"sku": prefix, "status": "FAILED"}
    )
    assert {j["id"] for j in failed.json()["items"]} == {j.id for j in seeded.failed}
    several = await client.get(
        "/api/jobs", headers=viewer, params=[("sku", prefix), ("status", "DONE"), ("status", "NEW")]
    )
    assert several.json()["total"] == 5 + 1
    studio = (
        await client.get("/api/jobs", headers=viewer, params={"sku": prefix, "theme": "studio"})
    ).json()
    assert studio["total"] == sum(j.theme == "studio" for j in seeded.all)
    costly = (
        await client.get(
            "/api/jobs",
            headers=viewer,
            params={"sku": prefix, "cost_min": 0.1, "sort": "-cost_usd"},
        )
    ).json()
    costs = [j["cost_usd"] for j in costly["items"]]
    assert costs == sorted(costs, reverse=True) and min(costs) >= 0.1
    assert costly["total"] == sum(j.cost_usd >= 0.1 for j in seeded.all)
    newest = min(
        seeded.all,
        key=lambda j: abs(
            j.created_at.timestamp() - max(x.created_at.timestamp() for x in seeded.all)
        ),
    )
    recent = (
        await client.get(
            "/api/jobs",
            headers=viewer,
            params={"sku": prefix, "created_from": newest.created_at.isoformat()},
        )
    ).json()
    assert [j["id"] for j in recent["items"]] == [newest.id]
    page2 = (
        await client.get(
            "/api/jobs", headers=viewer, params={"sku": prefix, "page": 2, "page_size": 5}
        )
    ).json()
    page1 = (
        await client.get(
            "/api/jobs", headers=viewer, params={"sku": prefix, "page": 1, "page_size": 5}
        )
    ).json()
    assert (page2["total"], page2["pages"], len(page2["items"])) == (12, 3, 5)
    assert not {j["id"] for j in page1["items"]} & {j["id"] for j in page2["items"]}


async def test_a_full_page_counts_matches_only_up_to_the_cap(
    dashboard_settings: Any, viewer: dict[str, str], seeded: DemoJobs, run_id: str
) -> None:
    """Counting visits every match, so a full page counts up to the cap (or just past itself)
    and says so; a short page is the last one and its total is exact."""
    capped = dashboard_settings.model_copy(update={"dashboard_count_cap": 3})
    async with AsyncTestClient(app=create_app(capped)) as capped_client:

        async def page(number: int, size: int) -> dict[str, Any]:
            params = {"sku": f"T{run_id}", "page": number, "page_size": size}
            response = await capped_client.get("/api/jobs", headers=viewer, params=params)
            assert response.status_code == 200, response.text
            return response.json()  # type: ignore[no-any-return]

        first = await page(1, 2)
        assert (first["total"], first["total_exact"], len(first["items"])) == (3, False, 2)
        second = await page(2, 5)  # counted up to 11, just past this page: 12 match
        assert (second["total"], second["total_exact"], second["pages"]) == (11, False, 3)
        last = await page(3, 5)
        assert (last["total"], last["total_exact"], len(last["items"])) == (12, True, 2)


async def test_list_by_confidence_least_certain_first(
    client: Client, viewer: dict[str, str], seeded: DemoJobs, run_id: str
) -> None:
    prefix = f"T{run_id}"
    scored = [j for j in seeded.all if j.segment_confidence is not None]
    assert scored and len(scored) < len(seeded.all), "the demo has jobs without a confidence"
    body = (
        await client.get(
            "/api/jobs", headers=viewer, params={"sku": prefix, "sort": "confidence"}
        )
    ).json()
    assert [j["segment_confidence"] for j in body["items"]] == sorted(
        j.segment_confidence for j in scored
    )
    assert body["total"] == len(scored), "jobs without a confidence are left out"
    unsure = (
        await client.get(
            "/api/jobs",
            headers=viewer,
            params={"sku": prefix, "max_confidence": 0.8, "sort": "confidence"},
        )
    ).json()
    expected = sorted(
        (j for j in scored if (j.segment_confidence or 0) <= 0.8),
        key=lambda j: (j.segment_confidence, j.id),
    )
    assert [j["id"] for j in unsure["items"]] == [j.id for j in expected]
    for params in ({"max_confidence": 1.5}, {"min_confidence": 0.9, "max_confidence": 0.1}):
        response = await client.get("/api/jobs", headers=viewer, params=params)
        assert response.status_code == 400, params


async def test_bad_list_queries_are_400(client: Client, viewer: dict[str, str]) -> None:
    for params in ({"status": "BOGUS"}, {"sort": "image_url"}, {"cost_min": 5, "cost_max": 1}):
        response = await client.get("/api/jobs", headers=viewer, params=params)
        assert response.status_code == 400, params
        assert response.json()["detail"]


async def test_a_huge_page_is_400_not_500(client: Client, viewer: dict[str, str]) -> None:
    """Found by schemathesis: page=10**20 overflowed the 64-bit skip, the only 5xx of 9,522."""
    for path in ("/api/jobs", "/api/webhooks/events"):
        for page in (10**20, 1_000_001, 0):
            response = await client.get(path, headers=viewer, params={"page": page})
            assert response.status_code == 400, (path, page, response.text)
            assert response.json()["detail"], (path, page)
        deepest = await client.get(path, headers=viewer, params={"page": 1_000_000})
        assert deepest.status_code == 200 and deepest.json()["items"] == []


async def test_a_deeply_nested_json_body_is_400_not_500(
    client: Client, operator: dict[str, str], seeded: DemoJobs
) -> None:
    job = seeded.failed[0]
    for path, body in ((f"/api/jobs/{job.id}/fail", b"[" * 5000),
                       ("/api/processor/stop", b'{"stage":' * 3000 + b'"all"' + b"}" * 3000)):
        response = await client.post(
            path, headers={**operator, "content-type": "application/json"}, content=body
        )
        assert response.status_code == 400, (path, response.text)
        assert "nested deeper than" in response.json()["detail"]


async def test_job_detail_and_404(client: Client, viewer: dict[str, str], seeded: DemoJobs) -> None:
    job = seeded.done[0]
    body = (await client.get(f"/api/jobs/{job.id}", headers=viewer)).json()
    assert body["id"] == job.id and body["status"] == "DONE"
    assert body["s3_derivative_keys"] == job.s3_derivative_keys
    assert body["trace_url"] == f"https://traces.example/t/{job.trace_id}"
    assert body["processing_ms"] == job.processing_ms
    assert body["segment_confidence"] == job.segment_confidence
    assert body["provider_metadata"] == job.provider_metadata
    missing = await client.get("/api/jobs/nope", headers=viewer)
    assert missing.status_code == 404 and "no job" in missing.json()["detail"]


async def test_presign_gives_a_working_short_lived_url(
    client: Client, viewer: dict[str, str], seeded: DemoJobs
) -> None:
    job = seeded.done[1]
    response = await client.get(
        f"/api/jobs/{job.id}/presign", headers=viewer, params={"type": "composite", "index": 1}
    )
    assert response.status_code == 200
    body = response.json()
    assert body["key"] == job.s3_composite_keys[1] and body["expires_in"] == 300
    async with httpx.AsyncClient() as http:
        image = await http.get(body["url"])
    assert image.status_code == 200 and image.content[:2] == b"\xff\xd8"  # a JPEG
    derivative = await client.get(
        f"/api/jobs/{job.id}/presign",
        headers=viewer,
        params={"type": "derivative", "variant": 0, "size": "thumb", "format": "jpg"},
    )
    assert derivative.json()["key"] == job.s3_derivative_keys[2]
    running = seeded.running[0]  # NEW: no cutout yet
    assert (
        await client.get(
            f"/api/jobs/{running.id}/presign", headers=viewer, params={"type": "cutout"}
        )
    ).status_code == 404
    assert (
        await client.get(f"/api/jobs/{job.id}/presign", headers=viewer, params={"type": "x"})
    ).status_code == 400


async def test_retry_resumes_the_failed_stage_and_emits_its_event(
    client: Client,
    operator: dict[str, str],
    seeded: DemoJobs,
    stack_db: Database,
    topic_tail: Any,
) -> None:
    job = next(j for j in seeded.failed if j.failed_from is JobStatus.BG_REMOVED)
    topic = STAGE_INPUT[STAGE_FROM[JobStatus.BG_REMOVED]]
    async with topic_tail(topic) as tail:
        response = await client.post(f"/api/jobs/{job.id}/retry", headers=operator)
        assert response.status_code == 200, response.text
        assert response.json()["status"] == "BG_REMOVED"
        key, event = await tail.wait_for(lambda body: body.get("job_id") == job.id)
    assert key == job.id.encode()
    assert event["status"] == "BG_REMOVED" and event["sku"] == job.sku
    stored = await stack_db.jobs.get(job.id)
    assert stored is not None and stored.status is JobStatus.BG_REMOVED
    assert stored.retry_count == 1 and stored.error_code is None
    entry = await stack_db.audit.find_one({"job_id": job.id, "action": "job.retry"})
    assert entry is not None and entry["actor"] == "tester" and entry["role"] == "operator"
    assert entry["details"]["topic"] == topic

    again = await client.post(f"/api/jobs/{job.id}/retry", headers=operator)
    assert again.status_code == 409
    assert "only FAILED jobs can be retried" in again.json()["detail"]


async def test_retry_of_a_job_failed_at_new_goes_to_the_new_topic(
    client: Client, operator: dict[str, str], seeded: DemoJobs, topic_tail: Any
) -> None:
    job = next(j for j in seeded.failed if j.failed_from is JobStatus.NEW)
    async with topic_tail("plinth.job.new.v1") as tail:
        response = await client.post(f"/api/jobs/{job.id}/retry", headers=operator)
        assert response.status_code == 200
        _, event = await tail.wait_for(lambda body: body.get("job_id") == job.id)
    assert event["status"] == "NEW"


async def test_retry_of_a_download_failure_goes_back_to_the_downloader(
    client: Client, operator: dict[str, str], stack_db: Database, topic_tail: Any
) -> None:
    job = Job(sku="DL-RETRY", theme="default", image_url="https://img.example/a.jpg",
              img_sha256="d" * 64, delivery_id="delivery-dl")
    failed = fail(job, stage=Stage.DOWNLOAD, code="http_404", message="image gone")
    await stack_db.jobs.insert(failed)
    async with topic_tail("plinth.ingest.requested.v1") as tail:
        response = await client.post(f"/api/jobs/{job.id}/retry", headers=operator)
        assert response.status_code == 200, response.text
        _, event = await tail.wait_for(lambda body: job.id in body.get("job_ids", []))
    assert event["image_url"] == "https://img.example/a.jpg"
    assert event["themes"] == ["default"] and event["delivery_id"] == "delivery-dl"
    stored = await stack_db.jobs.get(job.id)
    assert stored is not None and stored.status is JobStatus.NEW


async def test_fail_with_reason_then_409_once_terminal(
    client: Client, operator: dict[str, str], seeded: DemoJobs, stack_db: Database
) -> None:
    job = seeded.running[2]
    blank = await client.post(f"/api/jobs/{job.id}/fail", headers=operator, json={"reason": ""})
    assert blank.status_code == 400
    response = await client.post(
        f"/api/jobs/{job.id}/fail", headers=operator, json={"reason": "bad photo"}
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["status"] == "FAILED" and body["error_code"] == "MANUAL_FAIL"
    assert body["failed_from"] == job.status.value and "bad photo" in body["error_message"]
    again = await client.post(f"/api/jobs/{job.id}/fail", headers=operator, json={"reason": "x"})
    assert again.status_code == 409
    done = await client.post(
        f"/api/jobs/{seeded.done[0].id}/fail", headers=operator, json={"reason": "x"}
    )
    assert done.status_code == 409 and "DONE already" in done.json()["detail"]
    entry = await stack_db.audit.find_one({"job_id": job.id, "action": "job.fail"})
    assert entry is not None and entry["details"]["reason"] == "bad photo"


async def test_stats(client: Client, viewer: dict[str, str], seeded: DemoJobs) -> None:
    body = (await client.get("/api/jobs/stats", headers=viewer)).json()
    assert len(body["jobs_per_hour"]) == 24
    assert sum(b["total"] for b in body["jobs_per_hour"]) == body["window_jobs"] >= 12
    steps = {s["step"]: s for s in body["steps"]}
    assert steps["segmentation"]["count"] >= 5
    assert steps["segmentation"]["p50_ms"] <= steps["segmentation"]["p95_ms"]
    assert body["avg_cost_usd_24h"] > 0 and body["avg_processing_ms_24h"] > 0


async def test_lag_counts_only_the_groups_of_the_configured_prefix(
    client: Client, viewer: dict[str, str], dashboard_settings: Any, test_namespace: Any
) -> None:
    """A group of another run on a stage's topic (a test session, an earlier demo) is not this
    deployment's backlog: it showed as lag while every job was DONE."""
    other = f"{test_namespace.group_prefix('other')}-segment"
    consumer = AIOKafkaConsumer(bootstrap_servers=dashboard_settings.kafka_bootstrap,
                                group_id=other, enable_auto_commit=False)
    await consumer.start()
    try:
        partition = TopicPartition(STAGE_INPUT[Stage.SEGMENT], 0)
        consumer.assign([partition])
        await consumer.commit({partition: 0})
    finally:
        await consumer.stop()
    body = (await client.get("/api/processor/status", headers=viewer)).json()
    segment = next(s for s in body["stages"] if s["stage"] == "segment")
    prefix = dashboard_settings.kafka_consumer_group_prefix
    assert [g["group_id"] for g in segment["groups"]] == [f"{prefix}-segment"]


async def test_processor_status_and_control(
    client: Client, operator: dict[str, str], stack_db: Database, topic_tail: Any
) -> None:
    body = (await client.get("/api/processor/status", headers=operator)).json()
    assert body["kafka_error"] is None
    stages = {s["stage"]: s for s in body["stages"]}
    assert (
        stages["segment"]["alive"] == 2 and stages["segment"]["input_topic"] == "plinth.job.new.v1"
    )
    assert stages["segment"]["lag"] is not None
    assert stages["segment"]["groups"][0]["partitions"], "lag is read per partition"
    async with topic_tail(CONTROL) as tail:
        response = await client.post(
            "/api/processor/stop", headers=operator, json={"stage": "segment"}
        )
        assert response.status_code == 202
        _, command = await tail.wait_for(lambda b: b.get("event_id") == response.json()["event_id"])
    assert command["action"] == "pause" and command["stage"] == "segment"
    assert command["issued_by"] == "tester"
    bad = await client.post("/api/processor/start", headers=operator, json={"stage": "nope"})
    assert bad.status_code == 400
    assert await stack_db.audit.find_one({"action": "processor.pause"}) is not None


async def test_webhook_events(client: Client, viewer: dict[str, str], seeded: DemoJobs) -> None:
    body = (await client.get("/api/webhooks/events", headers=viewer)).json()
    assert body["total"] == 12
    received = [e["received_at"] for e in body["items"]]
    assert received == sorted(received, reverse=True)
    duplicates = (
        await client.get("/api/webhooks/events", headers=viewer, params={"outcome": "duplicate"})
    ).json()
    assert duplicates["total"] == 3 and all(
        e["outcome"] == "duplicate" for e in duplicates["items"]
    )


async def test_health_schema_and_spa(client: Client) -> None:
    health = await client.get("/health")
    assert health.status_code == 200
    assert {name: c["status"] for name, c in health.json()["components"].items()} == {
        "kafka": "ok",
        "mongo": "ok",
        "s3": "ok",
    }
    schema = await client.get("/schema/openapi.json")
    assert "/api/jobs/{job_id}/retry" in schema.json()["paths"]
    page = await client.get("/jobs/some-id")
    assert page.status_code in (200, 503) and "<title>" in page.text
    unknown_api = await client.get("/api/nothing-here")
    assert unknown_api.status_code in (401, 404)


async def test_ready(client: Client) -> None:
    response = await client.get("/ready")
    assert response.status_code == 200
    assert {name: c["status"] for name, c in response.json()["components"].items()} == {
        "kafka": "ok", "mongo": "ok", "s3": "ok",
    }  # fmt: skip


async def test_ready_is_503_naming_what_is_unreachable(dashboard_settings: Any) -> None:
    """Kafka and S3 pointed at a closed port (the document store is needed to start)."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        closed = sock.getsockname()[1]
    settings = dashboard_settings.model_copy(update={
        "kafka_bootstrap": f"127.0.0.1:{closed}", "s3_endpoint": f"http://127.0.0.1:{closed}",
    })  # fmt: skip
    async with AsyncTestClient(app=create_app(settings)) as other:
        response = await other.get("/ready")
    assert response.status_code == 503
    body = response.json()
    assert body["error"] == "not_ready"
    assert {name: c["status"] for name, c in body["components"].items()} == {
        "kafka": "down", "mongo": "ok", "s3": "down",
    }  # fmt: skip
    assert "kafka unreachable (" in body["reason"] and "s3 unreachable (" in body["reason"]


async def test_a_nul_character_in_a_filter_is_a_400_and_in_a_job_id_a_404(
    client: Client, viewer: dict[str, str]
) -> None:
    """PostgreSQL (under the local stack's FerretDB) cannot take a NUL in a query: not a 500."""
    for path, params in (
        ("/api/jobs", {"theme": "a\x00"}),
        ("/api/jobs", {"sku": "\x00"}),
        ("/api/webhooks/events", {"outcome": "\x00"}),
        ("/api/webhooks/events", {"sku": "x\x00"}),
    ):
        response = await client.get(path, headers=viewer, params=params)
        assert response.status_code == 400, (path, params, response.text)
    assert (await client.get("/api/jobs/a%00b", headers=viewer)).status_code == 404
