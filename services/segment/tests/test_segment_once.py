"""A photo is segmented once, whatever the number of its themes: the segment step on the stack's
real MongoDB-wire server and S3, driven through the stage-worker runtime (no Kafka: records are
handed to the worker directly), with a provider that counts its calls."""

from __future__ import annotations

import asyncio
import hashlib
import io
from collections.abc import Iterator
from datetime import timedelta

import numpy as np
import pytest
from PIL import Image

import plinth_segment.main as segment_main
from plinth.adapters.mask_versions import MaskVersionRecords
from plinth.adapters.mongo import Database
from plinth.adapters.s3 import BlobStore
from plinth.adapters.segmentations import Identity, segmentation_id
from plinth.domain.job import Job, MaskVersion, utcnow
from plinth.domain.states import JobStatus, Stage
from plinth.imaging.errors import ProviderError
from plinth.imaging.segment import Segmentation
from plinth.messaging.events import Event, JobEvent
from plinth.messaging.topics import JOB_BG_REMOVED, JOB_NEW, retry_topic
from plinth.worker import StageWorker
from plinth.worker.runtime import Record
from plinth.worker.settings import WorkerSettings
from plinth_segment.main import STEPS
from plinth_segment.reuse import CLAIM_STALE_AFTER_S, WAIT_MIN_S
from plinth_segment.settings import SegmentWorkerSettings

pytestmark = [pytest.mark.stack, pytest.mark.asyncio(loop_scope="session")]

MODEL_SHA = "5" * 64
PRICE_USD = 0.02


class CountingProvider:
    """A learned provider stand-in: a fixed rectangle, its confidence, model and price."""

    name = "counting"

    def __init__(self, model_sha256: str = MODEL_SHA, confidence: float = 0.42,
                 fail: bool = False) -> None:
        self.model_sha256 = model_sha256
        self.confidence = confidence
        self.fail = fail
        self.calls = 0

    def segment(self, rgb: np.ndarray) -> Segmentation:
        self.calls += 1
        if self.fail:
            raise ProviderError("503 from the provider", permanent=False)
        height, width = rgb.shape[:2]
        mask = np.zeros((height, width), np.uint8)
        mask[height // 4 : 3 * height // 4, width // 4 : 3 * width // 4] = 255
        cutout = np.dstack([rgb, mask])
        meta = {"confidence": self.confidence, "confidence_factors": {"edges": 0.5},
                "model": "tiny-net", "model_sha256": self.model_sha256}
        return Segmentation(cutout=cutout, mask=mask, provider=self.name, cost_usd=PRICE_USD,
                            meta=meta)


class Events:
    def __init__(self) -> None:
        self.sent: list[tuple[str, Event]] = []

    async def publish(self, event: Event, topic: str, key: bytes) -> None:
        self.sent.append((topic, event))


class CountingBlobs:
    """The stack's S3, counting what is written through it."""

    def __init__(self, store: BlobStore) -> None:
        self.store = store
        self.put_keys: list[str] = []

    async def get(self, key: str) -> bytes:
        return await self.store.get(key)

    async def exists(self, key: str) -> bool:
        return await self.store.exists(key)

    async def presign_get(self, key: str, ttl_s: int | None = None) -> str:
        return await self.store.presign_get(key, ttl_s)

    async def put(self, key: str, data: bytes, content_type: str | None = None) -> None:
        self.put_keys.append(key)
        await self.store.put(key, data, content_type)


@pytest.fixture
def provider(monkeypatch: pytest.MonkeyPatch) -> Iterator[CountingProvider]:
    counting = CountingProvider()
    monkeypatch.setattr(segment_main, "provider_for", lambda settings, ctx: counting)
    yield counting


def photo(seed: int) -> bytes:
    pixels = np.full((90, 120, 3), 235, np.uint8)
    pixels[20:70, 30 + seed % 20 : 90] = (40, 80, 160)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, "PNG")
    return buffer.getvalue()


async def stored_photo(blobs: BlobStore, sku: str, seed: int = 0) -> tuple[str, str]:
    data = photo(seed)
    sha = hashlib.sha256(data).hexdigest()
    key = f"originals/{sku}/{sha}.png"
    await blobs.put(key, data)
    return sha, key


async def new_job(database: Database, sku: str, sha: str, key: str, theme: str) -> Job:
    job = Job(sku=sku, theme=theme, image_url=f"https://x/{sku}.png", img_sha256=sha,
              s3_original_key=key)
    return await database.jobs.insert(job)


def worker(settings: WorkerSettings, database: Database, blobs: CountingBlobs | BlobStore,
           events: Events) -> StageWorker:
    return StageWorker(stage=Stage.SEGMENT, steps=STEPS,
                       settings=SegmentWorkerSettings(**settings.model_dump()), jobs=database.jobs,
                       blobs=blobs, publisher=events, instance="segment-test", db=database)


def record_for(job: Job) -> Record:
    event = JobEvent(job_id=job.id, sku=job.sku, theme=job.theme, img_sha256=job.img_sha256,
                     status=job.status)
    return Record(topic=JOB_NEW, value=event.model_dump_json().encode(), key=job.id.encode())


async def stored_job(database: Database, job: Job) -> Job:
    stored = await database.jobs.get(job.id)
    assert stored is not None
    return stored


async def test_two_themes_of_one_photo_call_the_provider_once(
    stack_settings: WorkerSettings, database: Database, blobs: BlobStore, unique: str,
    provider: CountingProvider,
) -> None:
    sku = f"ONCE-{unique}"
    sha, key = await stored_photo(blobs, sku)
    first = await new_job(database, sku, sha, key, "default")
    second = await new_job(database, sku, sha, key, "warm_paper")
    counting, events = CountingBlobs(blobs), Events()
    stage = worker(stack_settings, database, counting, events)

    await stage.handle_record(record_for(first))
    writes_by_first = list(counting.put_keys)
    await stage.handle_record(record_for(second))

    assert provider.calls == 1
    assert sorted(writes_by_first) == [f"cutouts/{sku}/{sha}.png", f"masks/{sku}/{sha}.png"]
    assert counting.put_keys == writes_by_first, "the second job wrote nothing"
    one, two = await stored_job(database, first), await stored_job(database, second)
    assert one.status is two.status is JobStatus.BG_REMOVED
    assert (one.s3_cutout_key, one.s3_mask_key) == (two.s3_cutout_key, two.s3_mask_key)
    for job in (one, two):  # each records the model's mask as its version 1
        assert [(v.version, v.source, v.s3_mask_key, v.s3_cutout_key)
                for v in job.mask_versions] == [(1, "model", one.s3_mask_key, one.s3_cutout_key)]
    assert one.cost_breakdown == {"segmentation": PRICE_USD} and one.cost_usd == PRICE_USD
    assert two.cost_breakdown == {} and two.cost_usd == 0.0
    assert one.segment_confidence == two.segment_confidence == 0.42
    made, reused = one.provider_metadata["segment"], two.provider_metadata["segment"]
    assert "reused_from" not in made
    assert reused == {**made, "reused_from": first.id}
    assert (made["provider"], made["model"], made["model_sha256"]) == (
        "counting", "tiny-net", MODEL_SHA)
    assert made["confidence_factors"] == {"edges": 0.5}
    assert [topic for topic, _ in events.sent] == [JOB_BG_REMOVED, JOB_BG_REMOVED]

    record = await database.segmentations.get(segmentation_id(sku, sha))
    assert record is not None and record.status == "done" and record.claimed_by == first.id
    assert (record.provider, record.model, record.model_sha256) == (
        "counting", "tiny-net", MODEL_SHA)
    assert record.segment == made and record.confidence == 0.42
    assert record.cost_usd == PRICE_USD
    assert (record.cutout_key, record.mask_key) == (one.s3_cutout_key, one.s3_mask_key)


async def test_a_theme_added_after_a_touch_up_starts_from_the_persons_mask(
    stack_settings: WorkerSettings, database: Database, blobs: BlobStore, unique: str,
    provider: CountingProvider,
) -> None:
    sku = f"TOUCHED-{unique}"
    sha, key = await stored_photo(blobs, sku)
    first = await new_job(database, sku, sha, key, "default")
    stage = worker(stack_settings, database, CountingBlobs(blobs), Events())
    await stage.handle_record(record_for(first))
    # a person touched the photo up (the dashboard stores v2 and marks it saved)
    touched = MaskVersion(version=2, s3_mask_key=f"masks/{sku}/{sha}.v2.png",
                          s3_cutout_key=f"cutouts/{sku}/{sha}.v2.png", source="touch-up",
                          created_at=utcnow(), created_by="ops")
    records = MaskVersionRecords.of(database)
    assert await records.claim(sku, sha, touched, method="paint")
    unsaved = MaskVersion(**{**touched.model_dump(), "version": 3})
    assert await records.claim(sku, sha, unsaved, method="paint")  # claimed, never saved
    await records.mark_saved(sku, sha, 2, [first.id])

    later = await new_job(database, sku, sha, key, "warm_paper")
    await stage.handle_record(record_for(later))

    assert provider.calls == 1, "the segmentation is reused"
    job = await stored_job(database, later)
    assert job.status is JobStatus.BG_REMOVED
    assert (job.s3_mask_key, job.s3_cutout_key) == (touched.s3_mask_key, touched.s3_cutout_key)
    assert [(v.version, v.source) for v in job.mask_versions] == [(1, "model"), (2, "touch-up")]
    record = await database.segmentations.get(segmentation_id(sku, sha))
    assert record is not None and record.mask_key == f"masks/{sku}/{sha}.png"  # the model's


async def test_a_fresh_claim_by_another_job_sends_the_job_back_without_using_an_attempt(
    stack_settings: WorkerSettings, database: Database, blobs: BlobStore, unique: str,
    provider: CountingProvider,
) -> None:
    sku = f"BUSY-{unique}"
    sha, key = await stored_photo(blobs, sku)
    other = await new_job(database, sku, sha, key, "default")
    job = await new_job(database, sku, sha, key, "warm_paper")
    claimed = await database.segmentations.claim(sku, sha, other.id, utcnow(),
                                                 Identity("counting"))
    assert claimed is not None
    events = Events()
    before = utcnow()

    await worker(stack_settings, database, blobs, events).handle_record(record_for(job))

    assert provider.calls == 0
    waiting = await stored_job(database, job)
    assert waiting.status is JobStatus.NEW and waiting.attempts == {}
    [(topic, event)] = events.sent
    assert topic == retry_topic(Stage.SEGMENT)
    assert isinstance(event, JobEvent) and event.not_before is not None
    assert event.not_before >= before + timedelta(seconds=WAIT_MIN_S)
    record = await database.segmentations.get(claimed.id)
    assert record == claimed, "the claim is left to its job"


async def test_concurrent_jobs_of_one_photo_wait_for_the_one_that_segments(
    stack_settings: WorkerSettings, database: Database, blobs: BlobStore, unique: str,
    provider: CountingProvider,
) -> None:
    sku = f"RACE-{unique}"
    sha, key = await stored_photo(blobs, sku)
    jobs = [await new_job(database, sku, sha, key, theme)
            for theme in ("default", "warm_paper", "slate")]
    settings = stack_settings.model_copy(update={"retry_max_delay_s": 0.1})
    events = Events()
    workers = [worker(settings, database, blobs, events) for _ in jobs]  # one per instance

    await asyncio.gather(*(w.handle_record(record_for(j)) for w, j in zip(workers, jobs,
                                                                            strict=True)))
    assert provider.calls == 1
    retries = [e for topic, e in events.sent if topic == retry_topic(Stage.SEGMENT)]
    assert len(retries) == 2, "the two others wait for the first"
    for retry in retries:  # their retry events come back
        await workers[0].handle_record(Record(topic=retry_topic(Stage.SEGMENT),
                                              value=retry.model_dump_json().encode()))

    assert provider.calls == 1
    stored = [await stored_job(database, j) for j in jobs]
    assert all(j.status is JobStatus.BG_REMOVED for j in stored)
    [segmented] = [j for j in stored if "reused_from" not in j.provider_metadata["segment"]]
    assert all(j.provider_metadata["segment"]["reused_from"] == segmented.id
               for j in stored if j is not segmented)
    assert sum(j.cost_usd for j in stored) == PRICE_USD


async def test_a_stale_claim_is_taken_over(
    stack_settings: WorkerSettings, database: Database, blobs: BlobStore, unique: str,
    provider: CountingProvider,
) -> None:
    sku = f"STALE-{unique}"
    sha, key = await stored_photo(blobs, sku)
    job = await new_job(database, sku, sha, key, "default")
    long_ago = utcnow() - timedelta(seconds=CLAIM_STALE_AFTER_S + 60)
    dead = await database.segmentations.claim(sku, sha, "a-job-whose-worker-died", long_ago,
                                              Identity("counting"))
    assert dead is not None

    await worker(stack_settings, database, blobs, Events()).handle_record(record_for(job))

    assert provider.calls == 1
    assert (await stored_job(database, job)).status is JobStatus.BG_REMOVED
    record = await database.segmentations.get(dead.id)
    assert record is not None and record.status == "done" and record.claimed_by == job.id
    assert record.token != dead.token


async def test_a_changed_provider_segments_again_and_overwrites_the_record(
    stack_settings: WorkerSettings, database: Database, blobs: BlobStore, unique: str,
    provider: CountingProvider,
) -> None:
    sku = f"MODEL-{unique}"
    sha, key = await stored_photo(blobs, sku)
    before = await new_job(database, sku, sha, key, "default")
    after = await new_job(database, sku, sha, key, "warm_paper")
    stage = worker(stack_settings, database, blobs, Events())
    await stage.handle_record(record_for(before))

    provider.model_sha256, provider.confidence = "6" * 64, 0.9  # new weights deployed
    await stage.handle_record(record_for(after))

    assert provider.calls == 2
    job = await stored_job(database, after)
    assert "reused_from" not in job.provider_metadata["segment"]
    assert job.segment_confidence == 0.9 and job.cost_usd == PRICE_USD
    record = await database.segmentations.get(segmentation_id(sku, sha))
    assert record is not None and record.claimed_by == after.id
    assert (record.model_sha256, record.confidence) == ("6" * 64, 0.9)


async def test_a_segmentation_whose_objects_are_gone_is_made_again(
    stack_settings: WorkerSettings, database: Database, blobs: BlobStore, unique: str,
    provider: CountingProvider,
) -> None:
    sku = f"GONE-{unique}"
    sha, key = await stored_photo(blobs, sku)
    first = await new_job(database, sku, sha, key, "default")
    second = await new_job(database, sku, sha, key, "warm_paper")
    stage = worker(stack_settings, database, blobs, Events())
    await stage.handle_record(record_for(first))
    await blobs.delete(f"masks/{sku}/{sha}.png")

    await stage.handle_record(record_for(second))

    assert provider.calls == 2
    assert await blobs.exists(f"masks/{sku}/{sha}.png")
    record = await database.segmentations.get(segmentation_id(sku, sha))
    assert record is not None and record.claimed_by == second.id


async def test_a_failed_segmentation_gives_its_claim_back(
    stack_settings: WorkerSettings, database: Database, blobs: BlobStore, unique: str,
    provider: CountingProvider,
) -> None:
    sku = f"FAIL-{unique}"
    sha, key = await stored_photo(blobs, sku)
    job = await new_job(database, sku, sha, key, "default")
    provider.fail = True

    await worker(stack_settings, database, blobs, Events()).handle_record(record_for(job))

    assert provider.calls == 1
    retried = await stored_job(database, job)
    assert retried.status is JobStatus.NEW and retried.attempts == {"segment": 1}
    assert await database.segmentations.get(segmentation_id(sku, sha)) is None
