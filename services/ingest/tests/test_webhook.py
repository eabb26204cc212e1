"""The webhook end to end on the real stack: signature, validation, idempotency, the download
consumer and what it announces on Kafka."""

from __future__ import annotations

import hashlib
import time
from typing import Any

import pytest

from plinth.adapters.mongo import Database
from plinth.adapters.s3 import BlobStore
from plinth.domain.states import JobStatus, Stage
from plinth.keys import original_key
from plinth.messaging.topics import JOB_NEW
from plinth_ingest.app import WEBHOOK_PATH
from plinth_ingest.runtime import IngestRuntime
from plinth_testkit.http_server import LocalHttpServer

pytestmark = [pytest.mark.stack, pytest.mark.asyncio(loop_scope="session")]


def all_have_original(count: int) -> Any:
    return lambda jobs: len(jobs) == count and all(j.s3_original_key for j in jobs)


async def test_signed_webhook_creates_jobs_stores_original_and_announces(
    post_webhook, images: LocalHttpServer, db: Database, blob_store: BlobStore,
    tail, wait_jobs, make_jpeg, spans, unique: str,
) -> None:  # fmt: skip
    photo = make_jpeg((200, 40, 40))
    sha = hashlib.sha256(photo).hexdigest()
    url = images.image(f"/{unique}/photo.jpg", photo)
    sku = f"SKU-{unique}"
    async with tail(JOB_NEW) as job_new:
        response = await post_webhook(
            {"sku": sku, "image_url": url, "img_sha256": sha, "themes": ["default", "warm_paper"]}
        )
        assert response.status_code == 202, response.text
        body = response.json()
        assert body["outcome"] == "accepted"
        assert len(body["job_ids"]) == 2
        assert {j["theme"] for j in body["jobs"]} == {"default", "warm_paper"}

        jobs = await wait_jobs({"sku": sku}, all_have_original(2))
        events = await job_new.collect(lambda e: e["sku"] == sku, count=2)

    assert {j.id for j in jobs} == set(body["job_ids"])
    for job in jobs:
        assert job.status is JobStatus.NEW
        assert job.img_sha256 == sha
        assert job.s3_original_key == original_key(sku, sha)
        assert job.timings.download_ms is not None
        assert job.trace_id is not None and len(job.trace_id) == 32
    assert {key for key, _ in events} == {job_id.encode() for job_id in body["job_ids"]}
    assert all(e["status"] == "NEW" and e["img_sha256"] == sha for _, e in events)
    assert await blob_store.get(original_key(sku, sha)) == photo
    # One trace from the webhook through Kafka to the download span.
    (trace_id,) = {job.trace_id for job in jobs}
    names = {
        span.name for span in spans.get_finished_spans()
        if format(span.context.trace_id, "032x") == trace_id
    }  # fmt: skip
    assert {"webhook 3jms.images", "download"} <= names
    assert images.hits[f"/{unique}/photo.jpg"] == 1  # one download for both themes

    record = await db.webhook_events.find_one({"_id": body["delivery_id"]})
    assert record is not None
    assert record["outcome"] == "accepted" and record["signature_valid"] is True
    assert record["status_code"] == 202 and sorted(record["job_ids"]) == sorted(body["job_ids"])


async def test_duplicate_delivery_returns_the_same_jobs_and_creates_nothing(
    post_webhook, images: LocalHttpServer, db: Database, wait_jobs, make_jpeg,
    unique: str,
) -> None:  # fmt: skip
    photo = make_jpeg((10, 200, 10))
    sha = hashlib.sha256(photo).hexdigest()
    sku = f"DUP-{unique}"
    payload = {"sku": sku, "image_url": images.image(f"/{unique}.jpg", photo),
               "img_sha256": sha, "theme": "default"}  # fmt: skip
    first = await post_webhook(payload)
    assert first.status_code == 202
    await wait_jobs({"sku": sku}, all_have_original(1))

    again = await post_webhook(payload)
    assert again.status_code == 200, again.text
    assert again.json()["outcome"] == "duplicate"
    assert again.json()["job_ids"] == first.json()["job_ids"]
    assert again.json()["download"] == "not needed"
    assert await db.jobs_collection.count_documents({"sku": sku}) == 1
    record = await db.webhook_events.find_one({"_id": again.json()["delivery_id"]})
    assert record is not None and record["outcome"] == "duplicate"
    assert images.hits[f"/{unique}.jpg"] == 1


async def test_a_later_request_does_not_announce_a_job_again_in_another_trace(
    post_webhook, images: LocalHttpServer, runtime: IngestRuntime, ingest_settings, tail,
    wait_jobs, make_jpeg, unique: str,
) -> None:  # fmt: skip
    """One job, one trace: a second download request (a new trace) for a job that was already
    announced must not announce it again; the original is reused, not fetched again."""
    import asyncio

    from plinth.adapters.kafka import make_broker
    from plinth.messaging.events import IngestRequested
    from plinth.messaging.topics import INGEST_REQUESTED

    photo = make_jpeg((33, 66, 99))
    sha = hashlib.sha256(photo).hexdigest()
    sku = f"ONCE-{unique}"
    url = images.image(f"/{unique}/once.jpg", photo)
    async with tail(JOB_NEW) as job_new:
        first = await post_webhook({"sku": sku, "image_url": url, "img_sha256": sha,
                                    "theme": "default"})  # fmt: skip
        (job,) = await wait_jobs({"sku": sku}, all_have_original(1))
        await job_new.collect(lambda e: e["sku"] == sku, count=1)
        assert runtime.worker is not None
        before = runtime.worker.stats.processed
        broker = make_broker(ingest_settings, client_id=f"test-again-{unique}")
        async with broker:
            await broker.start()
            again = IngestRequested(delivery_id=f"again-{unique}", sku=sku, image_url=url,
                                    img_sha256=sha, themes=["default"], job_ids=[job.id])  # type: ignore[arg-type]  # fmt: skip
            await broker.publish(again, INGEST_REQUESTED, key=sku.encode())
        for _ in range(100):
            if runtime.worker.stats.processed > before:
                break
            await asyncio.sleep(0.1)
        else:
            raise AssertionError("the second request was never handled")
        with pytest.raises(AssertionError, match="1/2 matching"):
            await job_new.collect(lambda e: e["sku"] == sku, count=2, timeout_s=1.5)
    assert first.json()["job_ids"] == [job.id]
    assert images.hits[f"/{unique}/once.jpg"] == 1


async def test_without_a_hash_the_downloader_creates_the_jobs(
    post_webhook, images: LocalHttpServer, db: Database, tail, wait_delivery,
    make_jpeg, unique: str,
) -> None:  # fmt: skip
    photo = make_jpeg((30, 30, 220))
    sku = f"NOHASH-{unique}"
    url = images.image(f"/{unique}/nohash.jpg", photo)
    async with tail(JOB_NEW) as job_new:
        response = await post_webhook({"sku": sku, "image_url": url, "themes": ["default"]})
        assert response.status_code == 202
        assert response.json()["job_ids"] == []
        record = await wait_delivery(response.json()["delivery_id"], "download")
        events = await job_new.collect(lambda e: e["sku"] == sku, count=1)
    assert record["download"]["status"] == "stored"
    assert record["download"]["img_sha256"] == hashlib.sha256(photo).hexdigest()
    (job_doc,) = await db.jobs_collection.find({"sku": sku}).to_list()
    assert record["job_ids"] == [job_doc["_id"]]
    assert events[0][0] == job_doc["_id"].encode()

    # The same image announced again (still without hash): deduplicated by the index.
    again = await post_webhook({"sku": sku, "image_url": url, "themes": ["default"]})
    await wait_delivery(again.json()["delivery_id"], "download")
    assert await db.jobs_collection.count_documents({"sku": sku}) == 1


async def test_bad_signature_is_refused_and_recorded(
    post_webhook, db: Database, unique: str
) -> None:
    payload = {"sku": f"BAD-{unique}", "image_url": "https://x.test/a.jpg", "theme": "default"}
    response = await post_webhook(payload, secret="not-the-secret")
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_signature"
    assert "does not match" in response.json()["reason"]
    record = await db.webhook_events.find_one({"_id": response.json()["delivery_id"]})
    assert record is not None
    assert (record["outcome"], record["signature_valid"], record["status_code"]) == (
        "rejected", False, 401,
    )  # fmt: skip
    assert record["sku"] == f"BAD-{unique}"
    assert await db.jobs_collection.count_documents({"sku": f"BAD-{unique}"}) == 0


async def test_missing_signature_headers(client, unique: str) -> None:  # type: ignore[no-untyped-def]
    response = await client.post(WEBHOOK_PATH, json={"sku": unique})
    assert response.status_code == 401
    assert "missing X-3JMS-Timestamp" in response.json()["reason"]


async def test_replayed_timestamp_is_refused(post_webhook, unique: str) -> None:
    payload = {"sku": f"OLD-{unique}", "image_url": "https://x.test/a.jpg", "theme": "default"}
    response = await post_webhook(payload, timestamp=int(time.time()) - 301)
    assert response.status_code == 401
    assert "outside the 300s window" in response.json()["reason"]
    future = await post_webhook(payload, timestamp=int(time.time()) + 3600)
    assert future.status_code == 401


async def test_malformed_json_is_400(post_webhook, db: Database) -> None:
    response = await post_webhook(b'{"sku": "A", ')
    assert response.status_code == 400
    assert response.json()["error"] == "malformed_json"
    record = await db.webhook_events.find_one({"_id": response.json()["delivery_id"]})
    assert record is not None and record["signature_valid"] is True
    assert record["outcome"] == "rejected"


@pytest.mark.parametrize(
    "body", [b'{"a":' * 700 + b"1" + b"}" * 700, b"[" * 200_000], ids=["4kB-700-deep", "200kB-of-["]
)
async def test_deeply_nested_json_is_400_not_500(post_webhook, db: Database, body: bytes) -> None:
    response = await post_webhook(body)
    assert response.status_code == 400
    assert response.json()["error"] == "json_too_deep"
    assert "nested deeper than" in response.json()["reason"]
    record = await db.webhook_events.find_one({"_id": response.json()["delivery_id"]})
    assert record is not None and record["outcome"] == "rejected"
    assert record["status_code"] == 400


async def test_a_sku_too_long_in_bytes_is_422(post_webhook) -> None:
    response = await post_webhook(
        {"sku": "😀" * 70, "image_url": "https://x.test/a.jpg", "theme": "default"}
    )
    assert response.status_code == 422
    (problem,) = response.json()["problems"]
    assert problem["field"] == "sku" and "280 bytes of UTF-8" in problem["message"]


async def test_invalid_fields_are_422_naming_each_field(post_webhook) -> None:
    response = await post_webhook(
        {"sku": "../etc", "image_url": "file:///etc/passwd", "img_sha256": "abc",
         "themes": ["default", "no_such_theme"]}
    )  # fmt: skip
    assert response.status_code == 422
    problems = {p["field"]: p["message"] for p in response.json()["problems"]}
    assert set(problems) == {"sku", "image_url", "img_sha256", "themes"}
    assert "unknown theme 'no_such_theme'" in problems["themes"]
    assert "'file'" in problems["image_url"]

    no_theme = await post_webhook({"sku": "A1", "image_url": "https://x.test/a.jpg"})
    assert no_theme.status_code == 422
    assert no_theme.json()["problems"][0]["field"] == "themes"
    not_object = await post_webhook(b"[1, 2]")
    assert not_object.status_code == 422


@pytest.mark.parametrize(
    ("path_or_url", "code"),
    [
        ("http://10.0.0.1/a.jpg", "ssrf_refused"),
        ("http://169.254.169.254/latest/meta-data/", "ssrf_refused"),
        ("/redirect-to-private", "ssrf_refused"),
        ("/page.html", "html_page"),
        ("/huge.jpg", "too_large"),
        ("/missing.jpg", "http_404"),
        ("/busy.jpg", "http_503"),
    ],
)
async def test_download_failures_fail_the_jobs_with_a_clear_code(
    post_webhook, images: LocalHttpServer, tail, wait_jobs, make_jpeg, path_or_url: str,
    code: str, unique: str,
) -> None:  # fmt: skip
    from plinth.messaging.topics import JOB_FAILED
    from plinth_testkit.http_server import Route

    images.redirect("/redirect-to-private", "http://192.168.10.10/a.jpg")
    images.page("/page.html", "<!DOCTYPE html><html><body>product page</body></html>")
    images.image("/huge.jpg", make_jpeg((1, 2, 3)) + b"\0" * 400_000)
    images.add("/busy.jpg", Route(status=503))
    url = path_or_url if path_or_url.startswith("http") else images.url(path_or_url)
    sku = f"FAIL-{unique}"
    async with tail(JOB_FAILED) as failed_topic:
        response = await post_webhook(
            {"sku": sku, "image_url": url, "img_sha256": "a" * 64, "theme": "default"}
        )
        assert response.status_code == 202
        (job,) = await wait_jobs({"sku": sku}, lambda js: js and js[0].status is JobStatus.FAILED)
        (event,) = await failed_topic.collect(lambda e: e["job_id"] == job.id, count=1)
    assert job.error_code == code
    assert job.failed_stage is Stage.DOWNLOAD
    assert job.error_message
    assert event[1]["error_code"] == code
    if code == "http_503":
        assert "gave up after 2 attempts" in (job.error_message or "")


async def test_sha256_mismatch_fails_the_jobs(
    post_webhook, images: LocalHttpServer, blob_store: BlobStore, wait_jobs, make_jpeg,
    unique: str,
) -> None:  # fmt: skip
    claimed = "b" * 64
    sku = f"MISMATCH-{unique}"
    url = images.image(f"/{unique}/m.jpg", make_jpeg((90, 90, 90)))
    response = await post_webhook(
        {"sku": sku, "image_url": url, "img_sha256": claimed, "themes": ["default", "warm_paper"]}
    )
    assert response.status_code == 202
    jobs = await wait_jobs(
        {"sku": sku}, lambda js: len(js) == 2 and all(j.status is JobStatus.FAILED for j in js)
    )
    assert {j.error_code for j in jobs} == {"sha256_mismatch"}
    assert not await blob_store.exists(original_key(sku, claimed))


async def test_a_lost_publish_is_answered_503_and_healed_by_redelivery(
    post_webhook, images: LocalHttpServer, runtime: IngestRuntime, wait_jobs, make_jpeg,
    unique: str,
) -> None:  # fmt: skip
    class BrokenKafka:
        async def publish(self, event: object, topic: str, key: bytes) -> None:
            raise ConnectionError("broker unreachable")

    photo = make_jpeg((120, 0, 120))
    sku = f"HEAL-{unique}"
    payload = {"sku": sku, "image_url": images.image(f"/{unique}/h.jpg", photo),
               "img_sha256": hashlib.sha256(photo).hexdigest(), "theme": "default"}  # fmt: skip
    intake = runtime.webhook.intake
    working = intake.publisher
    intake.publisher = BrokenKafka()
    try:
        refused = await post_webhook(payload)
    finally:
        intake.publisher = working
    assert refused.status_code == 503
    assert refused.json()["error"] == "kafka_unavailable"
    (job_id,) = refused.json()["job_ids"]

    redelivered = await post_webhook(payload)  # what 3JMS does after a 5xx
    assert redelivered.status_code == 200
    assert redelivered.json()["job_ids"] == [job_id]
    assert redelivered.json()["download"] == "queued"
    (job,) = await wait_jobs({"sku": sku}, all_have_original(1))
    assert job.id == job_id and job.status is JobStatus.NEW


async def test_health(client) -> None:  # type: ignore[no-untyped-def]
    response = await client.get("/health")
    assert response.status_code == 200
    assert response.json() == {
        "status": "ok", "service": "plinth-ingest", "webhook_configured": True, "downloader": True,
    }  # fmt: skip
    ready = await client.get("/ready")
    assert ready.status_code == 200
    assert {name: c["status"] for name, c in ready.json()["components"].items()} == {
        "kafka": "ok", "mongo": "ok", "s3": "ok",
    }  # fmt: skip


@pytest.mark.parametrize("dependency", ["kafka", "s3"])
async def test_ready_is_503_naming_a_dependency_that_is_unreachable(
    client, runtime: IngestRuntime, dependency: str
) -> None:  # type: ignore[no-untyped-def]
    """/ready said 200 while Kafka was down, and every new delivery then waited 10 s for a 503.
    Here the probe of one dependency is pointed at a closed port."""
    import socket

    from plinth.adapters.readiness import kafka_probe
    from plinth.adapters.s3 import BlobStore

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        closed = sock.getsockname()[1]
    readiness = runtime.readiness
    saved, saved_cache = readiness.probes[dependency], readiness.cache_s
    settings = runtime.settings.model_copy(update={"s3_endpoint": f"http://127.0.0.1:{closed}"})
    async with BlobStore.from_settings(settings) as unreachable_s3:
        readiness.probes[dependency] = (
            kafka_probe(f"127.0.0.1:{closed}") if dependency == "kafka" else unreachable_s3.ping
        )
        readiness.cache_s = 0
        try:
            response = await client.get("/ready")
        finally:
            readiness.probes[dependency], readiness.cache_s = saved, saved_cache
    assert response.status_code == 503
    body = response.json()
    assert body["error"] == "not_ready"
    assert body["reason"].startswith(f"{dependency} unreachable (")
    assert body["components"][dependency]["status"] == "down"
    assert body["components"]["mongo"]["status"] == "ok"


async def test_oversized_body_is_413_json(client) -> None:  # type: ignore[no-untyped-def]
    response = await client.post(
        WEBHOOK_PATH, content=b"{" + b" " * 300_000 + b"}",
        headers={"content-type": "application/json"},
    )  # fmt: skip
    assert response.status_code == 413
    assert response.json()["error"] == "body_too_large"


async def test_downloader_obeys_pause_and_resume(
    runtime: IngestRuntime, ingest_settings, unique: str
) -> None:  # type: ignore[no-untyped-def]
    import asyncio

    from plinth.adapters.kafka import make_broker
    from plinth.messaging.events import ControlCommand
    from plinth.messaging.topics import CONTROL

    assert runtime.worker is not None and runtime.binding is not None
    for _ in range(100):
        if runtime.binding.control_ready():
            break
        await asyncio.sleep(0.1)

    async def until(paused: bool) -> None:
        for _ in range(100):
            if runtime.worker is not None and runtime.worker.gate.paused is paused:
                return
            await asyncio.sleep(0.1)
        raise AssertionError(f"downloader never became paused={paused}")

    broker = make_broker(ingest_settings, client_id=f"test-control-{unique}")
    async with broker:
        await broker.start()
        await broker.publish(ControlCommand(action="pause", stage=Stage.SEGMENT), CONTROL)
        await broker.publish(ControlCommand(action="pause", stage=Stage.DOWNLOAD), CONTROL)
        await until(True)
        await broker.publish(ControlCommand(action="resume", stage="all"), CONTROL)
        await until(False)


async def test_a_failed_download_without_hash_is_recorded_on_the_delivery(
    post_webhook, images: LocalHttpServer, db: Database, wait_delivery, unique: str
) -> None:  # type: ignore[no-untyped-def]
    url = images.page(f"/{unique}/product.html", "<html><body>not a photo</body></html>")
    response = await post_webhook({"sku": f"PAGE-{unique}", "image_url": url, "theme": "default"})
    assert response.status_code == 202
    record = await wait_delivery(response.json()["delivery_id"], "download")
    assert record["download"]["status"] == "failed"
    assert record["download"]["code"] == "html_page"
    assert "HTML page" in record["download"]["message"]
    assert await db.jobs_collection.count_documents({"sku": f"PAGE-{unique}"}) == 0


async def test_an_undecodable_request_goes_to_the_dead_letter_topic(
    ingest_settings, tail, unique: str
) -> None:  # type: ignore[no-untyped-def]
    from plinth.adapters.kafka import make_broker
    from plinth.messaging.topics import DEAD_LETTER, INGEST_REQUESTED

    # Version 1, so that the fields are what is wrong (without a version the runtime refuses it
    # as "unknown schema_version None", as for the stages).
    garbage = f'{{"schema_version": 1, "not": "an IngestRequested", "marker": "{unique}"}}'
    async with tail(DEAD_LETTER) as letters:
        broker = make_broker(ingest_settings, client_id=f"test-garbage-{unique}")
        async with broker:
            await broker.start()
            await broker.publish(garbage.encode(), INGEST_REQUESTED, key=unique.encode())
        (letter,) = (await letters.collect(lambda e: unique in e.get("payload", ""), count=1))[:1]
    assert letter[1]["source_topic"] == INGEST_REQUESTED
    assert "not a valid IngestRequested" in letter[1]["reason"]
