"""The publish step through the stage-worker runtime, with in-memory stores and the fake Shopify."""

from __future__ import annotations

import functools
import io
from collections.abc import Iterator

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from PIL import Image

from plinth.domain.job import Job
from plinth.domain.states import JobStatus, Stage
from plinth.keys import derivative_key
from plinth.messaging.events import Event, JobEvent, JobFailed
from plinth.messaging.topics import JOB_DONE, JOB_FAILED, JOB_SHOPIFY_PUSH, retry_topic
from plinth.worker import StageWorker, Step, runtime
from plinth.worker.errors import PermanentStageError
from plinth.worker.runtime import Record
from plinth_publish.handler import SKIPPED_REASON, ShopifyClients, hero_key, publish
from plinth_publish.main import STEPS
from plinth_publish.settings import PublishWorkerSettings
from plinth_testkit.fakes.shopify import FakeShopify
from plinth_testkit.memory import MemoryBlobs, MemoryJobs


class Events:
    def __init__(self) -> None:
        self.sent: list[tuple[str, Event]] = []

    async def publish(self, event: Event, topic: str, key: bytes) -> None:
        self.sent.append((topic, event))

    def on(self, topic: str) -> list[Event]:
        return [event for sent_topic, event in self.sent if sent_topic == topic]


def jpeg() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (80, 60), (20, 120, 200)).save(buffer, "JPEG")
    return buffer.getvalue()


def pushed_job(sku: str = "MUG-1", theme: str = "studio-white", sha: str = "a" * 64) -> Job:
    derivatives = [
        derivative_key(theme, sku, sha, variant, size, fmt)
        for variant in (0, 1)
        for size in ("hero", "pdp", "thumb")
        for fmt in ("jpg", "webp", "avif")
    ]
    return Job.model_validate(
        {
            "sku": sku,
            "theme": theme,
            "image_url": "https://3jms.example/a.jpg",
            "img_sha256": sha,
            "status": JobStatus.SHOPIFY_PUSH,
            "s3_original_key": f"originals/{sku}/{sha}.jpg",
            "s3_cutout_key": f"cutouts/{sku}/{sha}.png",
            "s3_mask_key": f"masks/{sku}/{sha}.png",
            "s3_background_keys": [f"backgrounds/{theme}/{sku}/{sha}_0.jpg"],
            "s3_composite_keys": [f"composites/{theme}/{sku}/{sha}_0.jpg"],
            "s3_derivative_keys": derivatives,
            "manifest_s3_key": f"manifests/{sku}/{sha}-{theme}.json",
        }
    )


def record_for(job: Job) -> Record:
    event = JobEvent(
        job_id=job.id, sku=job.sku, theme=job.theme, img_sha256=job.img_sha256, status=job.status
    )
    return Record(topic=JOB_SHOPIFY_PUSH, value=event.model_dump_json().encode(), key=b"k")


class Harness:
    def __init__(self, settings: PublishWorkerSettings, steps: list[Step]) -> None:
        self.jobs = MemoryJobs()
        self.blobs = MemoryBlobs()
        self.events = Events()
        self.worker = StageWorker(
            stage=Stage.PUBLISH,
            steps=steps,
            settings=settings,
            jobs=self.jobs,
            blobs=self.blobs,
            publisher=self.events,
            instance="test:1",
        )

    async def run(self, job: Job, hero: bytes | None = None) -> Job:
        self.jobs.jobs[job.id] = job
        self.blobs.objects[hero_key(job)] = jpeg() if hero is None else hero
        await self.worker.handle_record(record_for(job))
        return self.jobs.jobs[job.id]


@pytest.fixture
def fake() -> Iterator[FakeShopify]:
    with FakeShopify(polls_to_ready=2) as server:
        server.add_product("Blue Mug", ["MUG-1"])
        yield server


def shopify_settings(fake: FakeShopify, **extra: object) -> PublishWorkerSettings:
    return PublishWorkerSettings(**fake.client_settings(), **extra)


def harness(settings: PublishWorkerSettings, clients: ShopifyClients) -> Harness:
    step = Step(
        Stage.PUBLISH,
        JobStatus.SHOPIFY_PUSH,
        JobStatus.DONE,
        functools.partial(publish, clients=clients),
    )
    return Harness(settings, [step])


async def test_without_shopify_settings_the_job_is_done_and_marked_skipped() -> None:
    settings = PublishWorkerSettings(shopify_store_domain=None, shopify_access_token=None)
    assert not settings.shopify_enabled
    h = Harness(settings, STEPS)

    done = await h.run(pushed_job())

    assert done.status is JobStatus.DONE
    assert done.shopify is not None
    assert done.shopify.status == "skipped"
    assert done.shopify.reason == SKIPPED_REASON
    assert done.shopify.media_ids == []
    assert done.timings.publish_ms is not None and done.timings.publish_ms >= 0
    assert done.completed_at is not None
    [event] = h.events.on(JOB_DONE)
    assert isinstance(event, JobEvent) and event.status is JobStatus.DONE


async def test_published_job_stores_product_and_media_ids(
    fake: FakeShopify, clients: ShopifyClients
) -> None:
    h = harness(shopify_settings(fake), clients)

    done = await h.run(pushed_job())

    assert done.status is JobStatus.DONE, done.error_message
    assert done.shopify is not None and done.shopify.status == "published"
    product = fake.product_for_sku("MUG-1")
    assert product is not None and done.shopify.product_id == product.id
    media = fake.media_for("MUG-1", "studio-white")
    assert done.shopify.media_ids == [m.id for m in media]
    assert media[0].status == "READY"
    assert done.provider_metadata["shopify"]["source_key"].endswith("/0_hero.jpg")
    assert done.timings.publish_ms is not None
    assert len(h.events.on(JOB_DONE)) == 1


async def test_a_new_image_for_the_same_sku_and_theme_replaces_the_old_media(
    fake: FakeShopify, clients: ShopifyClients
) -> None:
    h = harness(shopify_settings(fake), clients)
    first = await h.run(pushed_job(sha="a" * 64))
    second = await h.run(pushed_job(sha="b" * 64))
    other_theme = await h.run(pushed_job(theme="marble", sha="b" * 64))

    assert first.shopify and second.shopify and other_theme.shopify
    assert [m.id for m in fake.media_for("MUG-1", "studio-white")] == second.shopify.media_ids
    assert second.provider_metadata["shopify"]["replaced_media_ids"] == first.shopify.media_ids
    assert len(fake.media_for("MUG-1")) == 2  # one per theme


async def test_unknown_sku_fails_the_job_permanently(
    fake: FakeShopify, clients: ShopifyClients
) -> None:
    h = harness(shopify_settings(fake), clients)

    failed = await h.run(pushed_job(sku="NOT-IN-STORE"))

    assert failed.status is JobStatus.FAILED
    assert failed.error_code == "shopify_sku_not_found"
    assert failed.failed_stage is Stage.PUBLISH
    assert failed.failed_from is JobStatus.SHOPIFY_PUSH
    [event] = h.events.on(JOB_FAILED)
    assert isinstance(event, JobFailed) and event.error_code == "shopify_sku_not_found"


async def test_an_image_shopify_cannot_process_fails_the_job(
    fake: FakeShopify, clients: ShopifyClients
) -> None:
    h = harness(shopify_settings(fake), clients)

    failed = await h.run(pushed_job(), hero=b"\x00garbage")

    assert failed.status is JobStatus.FAILED
    assert failed.error_code == "shopify_media_failed"
    assert fake.media_for("MUG-1", "studio-white") == []


async def test_shopify_unreachable_is_retried_not_failed(clients: ShopifyClients) -> None:
    with FakeShopify() as gone:
        settings = shopify_settings(gone)
    h = harness(settings, clients)  # the fake has stopped: connection refused

    job = await h.run(pushed_job())

    assert job.status is JobStatus.SHOPIFY_PUSH
    assert job.attempts == {"publish": 1}
    [retry] = h.events.on(retry_topic(Stage.PUBLISH))
    assert isinstance(retry, JobEvent) and retry.attempt == 2


def test_hero_key_is_the_first_composites_hero_jpeg() -> None:
    job = pushed_job()
    assert hero_key(job) == derivative_key(job.theme, job.sku, "a" * 64, 0, "hero", "jpg")
    without = job.model_copy(
        update={"s3_derivative_keys": [k for k in job.s3_derivative_keys if "hero.jpg" not in k]}
    )
    with pytest.raises(PermanentStageError):
        hero_key(without)


@pytest.fixture
def spans(monkeypatch: pytest.MonkeyPatch) -> InMemorySpanExporter:
    """The runtime's spans, from a provider of this test's own (the global one is left alone:
    other suites in this process set it)."""
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    monkeypatch.setattr(runtime, "tracer", lambda name="plinth": provider.get_tracer(name))
    return exporter


async def test_the_publish_span_carries_provider_bytes_and_the_timing(
    fake: FakeShopify, clients: ShopifyClients, spans: InMemorySpanExporter
) -> None:
    h = harness(shopify_settings(fake), clients)
    hero = jpeg()
    job = pushed_job()

    done = await h.run(job, hero=hero)

    [span] = [
        s
        for s in spans.get_finished_spans()
        if s.name == "publish" and (s.attributes or {}).get("job.id") == job.id
    ]
    attributes = dict(span.attributes or {})
    assert attributes["provider"] == "shopify"
    assert attributes["bytes"] == len(hero)
    assert attributes["sku"] == job.sku and attributes["theme"] == job.theme
    assert attributes["shopify.media_ids"] == ",".join(done.shopify.media_ids)  # type: ignore[union-attr]
    assert span.end_time is not None and span.start_time is not None
    assert done.timings.publish_ms == round((span.end_time - span.start_time) / 1_000_000)
