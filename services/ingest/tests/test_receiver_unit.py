"""The webhook receiver with in-memory stores: runs without the local stack."""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest

from plinth.domain.job import Job
from plinth.messaging.events import Event, IngestRequested
from plinth.messaging.topics import INGEST_REQUESTED
from plinth_ingest.auth import Authenticator
from plinth_ingest.deliveries import DeliveryLog
from plinth_ingest.intake import Intake
from plinth_ingest.settings import IngestSettings
from plinth_ingest.signature import signed_headers
from plinth_ingest.webhook import WebhookReceiver

SHA = "c" * 64


class MemoryEvents:
    def __init__(self) -> None:
        self.docs: dict[str, dict[str, Any]] = {}

    async def insert_one(self, document: dict[str, Any]) -> None:
        assert document["_id"] not in self.docs
        self.docs[document["_id"]] = document

    async def update_one(self, filter: dict[str, Any], update: dict[str, Any]) -> None:
        self.docs[filter["_id"]].update(update["$set"])


class MemoryJobs:
    def __init__(self) -> None:
        self.jobs: dict[str, Job] = {}

    async def get(self, job_id: str) -> Job | None:
        return self.jobs.get(job_id)

    async def create_or_get(self, job: Job) -> tuple[Job, bool]:
        for stored in self.jobs.values():
            if (stored.sku, stored.img_sha256, stored.theme) == (
                job.sku,
                job.img_sha256,
                job.theme,
            ):
                return stored, False
        self.jobs[job.id] = job
        return job, True


class MemoryKafka:
    def __init__(self, fail: bool = False) -> None:
        self.fail = fail
        self.sent: list[tuple[Event, str, bytes]] = []

    async def publish(self, event: Event, topic: str, key: bytes) -> None:
        if self.fail:
            raise ConnectionError("no broker")
        self.sent.append((event, topic, key))


def receiver(settings: IngestSettings, kafka: MemoryKafka | None = None):  # type: ignore[no-untyped-def]
    events, jobs, kafka = MemoryEvents(), MemoryJobs(), kafka or MemoryKafka()
    intake = Intake(jobs, kafka, publish_timeout_s=1.0)
    webhook = WebhookReceiver(
        auth=Authenticator(settings), intake=intake, deliveries=DeliveryLog(events),
        known_themes=frozenset({"default"}), max_themes=5,
    )  # fmt: skip
    return webhook, events, jobs, kafka


BODY = json.dumps(
    {"sku": "U-1", "image_url": "https://cdn.test/u.jpg", "img_sha256": SHA, "theme": "default"}
).encode()


async def test_unconfigured_service_answers_503_and_records_it() -> None:
    webhook, events, jobs, _ = receiver(
        IngestSettings(webhook_secret=None, webhook_dev_bypass=False)
    )
    reply = await webhook.receive(signed_headers("anything", BODY), BODY)
    assert reply.status == 503
    assert reply.body["error"] == "webhook_not_configured"
    (record,) = events.docs.values()
    assert (record["outcome"], record["status_code"], record["sku"]) == ("rejected", 503, "U-1")
    assert not jobs.jobs


async def test_dev_bypass_accepts_and_says_so(caplog: pytest.LogCaptureFixture) -> None:
    webhook, events, jobs, kafka = receiver(IngestSettings(webhook_dev_bypass=True))
    with caplog.at_level(logging.WARNING, logger="plinth.ingest.auth"):
        reply = await webhook.receive({}, BODY)
    assert reply.status == 202
    assert any("WITHOUT signature check" in r.getMessage() for r in caplog.records)
    record = events.docs[reply.body["delivery_id"]]
    assert record["signature_valid"] is False and record["signature_bypassed"] is True
    ((event, topic, key),) = kafka.sent
    assert isinstance(event, IngestRequested) and topic == INGEST_REQUESTED and key == b"U-1"
    assert event.job_ids == reply.body["job_ids"] == list(jobs.jobs)


async def test_kafka_failure_is_503_and_a_redelivery_publishes_again() -> None:
    settings = IngestSettings(webhook_secret="s", webhook_dev_bypass=False)  # type: ignore[arg-type]
    broken = MemoryKafka(fail=True)
    webhook, events, jobs, _ = receiver(settings, broken)
    refused = await webhook.receive(signed_headers("s", BODY), BODY)
    assert refused.status == 503 and refused.body["error"] == "kafka_unavailable"
    assert refused.body["job_ids"] == list(jobs.jobs)
    assert events.docs[refused.body["delivery_id"]]["outcome"] == "rejected"

    broken.fail = False
    again = await webhook.receive(signed_headers("s", BODY), BODY)
    assert again.status == 200 and again.body["outcome"] == "duplicate"
    assert again.body["job_ids"] == refused.body["job_ids"]
    assert len(broken.sent) == 1  # the heal: the lost request is published now


@pytest.mark.parametrize(
    "body",
    [b'{"a":' * 2000 + b"1" + b"}" * 2000,  # 12 kB, 2,000 deep
     b"[" * 200_000,  # 200 kB of "["
     b'{"sku": "X", "themes": ' + b"[" * 3000 + b"]" * 3000 + b"}"],
)  # fmt: skip
async def test_deeply_nested_json_is_400_and_recorded(body: bytes) -> None:
    """Within the size limit, but nested past the parser's recursion limit: was a RecursionError,
    i.e. HTTP 500 with no log line and no webhook_events record."""
    settings = IngestSettings(webhook_secret="s", webhook_dev_bypass=False)  # type: ignore[arg-type]
    webhook, events, jobs, kafka = receiver(settings)
    reply = await webhook.receive(signed_headers("s", body), body)
    assert reply.status == 400
    assert reply.body["error"] == "json_too_deep"
    assert "nested deeper than 32 levels" in reply.body["reason"]
    record = events.docs[reply.body["delivery_id"]]
    assert (record["outcome"], record["status_code"], record["signature_valid"]) == (
        "rejected", 400, True,
    )  # fmt: skip
    assert record["reason"].startswith("json_too_deep")
    assert not jobs.jobs and not kafka.sent


async def test_a_sku_too_long_in_bytes_is_422_before_anything_is_stored() -> None:
    """70 emoji: 70 characters (allowed) but 280 bytes of UTF-8, more than an S3 key segment
    holds; it was accepted (202) and then poisoned the downloader's partition."""
    settings = IngestSettings(webhook_secret="s", webhook_dev_bypass=False)  # type: ignore[arg-type]
    webhook, events, jobs, kafka = receiver(settings)
    body = json.dumps(
        {"sku": "😀" * 70, "image_url": "https://cdn.test/u.jpg", "img_sha256": SHA,
         "theme": "default"}
    ).encode()  # fmt: skip
    reply = await webhook.receive(signed_headers("s", body), body)
    assert reply.status == 422
    assert reply.body["error"] == "invalid_payload"
    (problem,) = reply.body["problems"]
    assert problem["field"] == "sku" and "280 bytes of UTF-8" in problem["message"]
    assert not jobs.jobs and not kafka.sent
    assert events.docs[reply.body["delivery_id"]]["status_code"] == 422
