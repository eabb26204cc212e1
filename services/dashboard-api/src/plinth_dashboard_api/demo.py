"""Demo data for the dashboard: job documents in every state, with small real images in S3.

Used by the browser and API tests and by developers (``python -m plinth_dashboard_api.demo``)
to see every page with data without running the pipeline.
"""

from __future__ import annotations

import asyncio
import hashlib
import io
import json
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from PIL import Image, ImageDraw

from plinth import keys
from plinth.adapters.mongo import Database
from plinth.adapters.s3 import BlobStore
from plinth.domain.job import Job, ShopifyResult, StepTimings, Transition, utcnow
from plinth.domain.states import PIPELINE, STAGE_FROM, JobStatus
from plinth_dashboard_api.settings import DashboardSettings

THEMES = ("studio", "kitchen", "outdoor")
# the cut-out's confidence per demo job (None: a provider that gives none, or not segmented)
CONFIDENCES = (0.97, 0.88, 0.62, None, 0.91, None, 0.45, 0.79, None, 0.55, 0.99, 0.83)
DEMO_MODEL_SHA256 = hashlib.sha256(b"plinth demo segmentation model").hexdigest()


@dataclass
class DemoJobs:
    done: list[Job] = field(default_factory=list)
    failed: list[Job] = field(default_factory=list)
    running: list[Job] = field(default_factory=list)

    @property
    def all(self) -> list[Job]:
        return [*self.done, *self.failed, *self.running]


def _image(
    size: tuple[int, int], colour: tuple[int, int, int], fmt: str, alpha: bool = False
) -> bytes:
    mode = "RGBA" if alpha else "RGB"
    image = Image.new(mode, size, (0, 0, 0, 0) if alpha else (235, 235, 240))
    draw = ImageDraw.Draw(image)
    w, h = size
    draw.ellipse((w * 0.25, h * 0.15, w * 0.75, h * 0.85), fill=(*colour, 255) if alpha else colour)
    buffer = io.BytesIO()
    image.save(buffer, format=fmt)
    return buffer.getvalue()


def _timings(seed: int, upto: int) -> StepTimings:
    values = {
        "download_ms": 120 + seed * 7,
        "segmentation_ms": 900 + seed * 31,
        "backgrounds_ms": 1500 + seed * 53,
        "compositing_ms": 400 + seed * 11,
        "derivatives_ms": 700 + seed * 17,
        "manifest_ms": 20 + seed,
        "publish_ms": 300 + seed * 5,
    }
    names = list(values)
    return StepTimings(**{name: values[name] for name in names[:upto]})


def _segment_metadata(i: int, confidence: float | None) -> dict[str, object]:
    if confidence is None:
        return {"provider": "local", "width": 160, "height": 120, "format": "JPEG"}
    return {
        "provider": "onnx",
        "width": 160,
        "height": 120,
        "format": "JPEG",
        "model": "isnet-general-use",
        "model_sha256": DEMO_MODEL_SHA256,
        "confidence": confidence,
        "confidence_factors": {"edge_sharpness": round(confidence + 0.01 * (i % 3), 2)},
    }


def _history(statuses: list[JobStatus], start: datetime) -> list[Transition]:
    history, previous = [], None
    for i, status in enumerate(statuses):
        history.append(
            Transition(from_status=previous, to_status=status, at=start + timedelta(seconds=2 * i))
        )
        previous = status
    return history


async def _store_assets(
    blobs: BlobStore, job: Job, upto: JobStatus, colour: tuple[int, int, int]
) -> Job:
    """Put real images for every artefact a job in ``upto`` has, and record their keys."""
    sha = job.img_sha256
    assert sha is not None
    reached = PIPELINE.index(upto) if upto in PIPELINE else 0
    changes: dict[str, object] = {}
    original = keys.original_key(job.sku, sha)
    await blobs.put(original, _image((160, 120), colour, "JPEG"))
    changes["s3_original_key"] = original
    if reached >= PIPELINE.index(JobStatus.BG_REMOVED):
        cutout, mask = keys.cutout_key(job.sku, sha), keys.mask_key(job.sku, sha)
        await blobs.put(cutout, _image((160, 120), colour, "PNG", alpha=True))
        mask_image = Image.new("L", (160, 120), 0)
        ImageDraw.Draw(mask_image).ellipse((40, 18, 120, 102), fill=255)
        buffer = io.BytesIO()
        mask_image.save(buffer, format="PNG")
        await blobs.put(mask, buffer.getvalue())
        changes |= {"s3_cutout_key": cutout, "s3_mask_key": mask}
    if reached >= PIPELINE.index(JobStatus.BACKGROUND_READY):
        backgrounds = [keys.background_key(job.theme, job.sku, sha, i) for i in range(2)]
        for i, key in enumerate(backgrounds):
            await blobs.put(key, _image((160, 120), (90 + 60 * i, 140, 200), "JPEG"))
        changes["s3_background_keys"] = backgrounds
    if reached >= PIPELINE.index(JobStatus.COMPOSITED):
        composites = [keys.composite_key(job.theme, job.sku, sha, i) for i in range(2)]
        for key in composites:
            await blobs.put(key, _image((160, 120), colour, "JPEG"))
        changes["s3_composite_keys"] = composites
    if reached >= PIPELINE.index(JobStatus.DERIVATIVES):
        derivatives = [
            keys.derivative_key(job.theme, job.sku, sha, 0, size, "jpg")
            for size in keys.DERIVATIVE_SIZES
        ]
        for key in derivatives:
            await blobs.put(key, _image((96, 72), colour, "JPEG"))
        changes["s3_derivative_keys"] = derivatives
    if reached >= PIPELINE.index(JobStatus.SHOPIFY_PUSH):
        manifest = keys.manifest_key(job.sku, sha, job.theme)
        await blobs.put(manifest, json.dumps({"sku": job.sku, "theme": job.theme}).encode())
        changes["manifest_s3_key"] = manifest
    return job.model_copy(update=changes)


async def seed_demo(
    db: Database, blobs: BlobStore, *, prefix: str = "DEMO", now: datetime | None = None
) -> DemoJobs:
    """Insert 12 jobs: 5 DONE, 3 FAILED (at different stages), 4 in progress."""
    now = now or utcnow()
    demo = DemoJobs()
    plan: list[tuple[str, JobStatus, JobStatus | None]] = [
        *[("done", JobStatus.DONE, None)] * 5,
        ("failed", JobStatus.FAILED, JobStatus.NEW),
        ("failed", JobStatus.FAILED, JobStatus.BG_REMOVED),
        ("failed", JobStatus.FAILED, JobStatus.COMPOSITED),
        ("running", JobStatus.NEW, None),
        ("running", JobStatus.BG_REMOVED, None),
        ("running", JobStatus.BACKGROUND_READY, None),
        ("running", JobStatus.DERIVATIVES, None),
    ]
    for i, (kind, status, failed_from) in enumerate(plan):
        theme = THEMES[i % len(THEMES)]
        sku = f"{prefix}-{kind.upper()}-{i:03d}"
        created = now - timedelta(hours=i * 1.7 + 0.2, minutes=i * 3)
        sha = hashlib.sha256(f"{prefix}{i}".encode()).hexdigest()
        reached = failed_from or status
        colour = (40 + i * 17 % 200, 90 + i * 29 % 150, 160)
        steps = PIPELINE[: PIPELINE.index(reached) + 1]
        segmented = PIPELINE.index(reached) >= PIPELINE.index(JobStatus.BG_REMOVED)
        confidence = CONFIDENCES[i % len(CONFIDENCES)] if segmented else None
        job = Job(
            sku=sku,
            theme=theme,
            image_url=f"https://images.example/{sku}.jpg",
            img_sha256=sha,
            delivery_id=f"delivery-{prefix}-{i}",
            status=status,
            created_at=created,
            updated_at=created + timedelta(seconds=30),
            trace_id=hashlib.md5(sha.encode()).hexdigest(),  # 32 hex chars, like OTel trace ids
            cost_usd=round(0.02 + i * 0.013, 4) if kind != "running" else 0.0,
            cost_breakdown={"remove_bg": 0.01, "mystic": round(0.01 + i * 0.013, 4)},
            attempts={"segment": 1 + i % 2},
            timings=_timings(i, PIPELINE.index(reached) + 1 if kind != "done" else 7),
            history=_history(list(steps), created),
            segment_confidence=confidence,
            provider_metadata={"segment": _segment_metadata(i, confidence)} if segmented else {},
        )
        job = await _store_assets(blobs, job, reached if kind != "done" else JobStatus.DONE, colour)
        if kind == "done":
            job = job.model_copy(
                update={
                    "completed_at": job.history[-1].at,
                    "shopify": ShopifyResult(status="skipped", reason="no Shopify settings"),
                }
            )
            demo.done.append(job)
        elif kind == "failed":
            assert failed_from is not None
            stage = STAGE_FROM[failed_from]
            job = job.model_copy(
                update={
                    "error_code": "SEGMENTATION_EMPTY"
                    if stage.value == "segment"
                    else "PROVIDER_TIMEOUT",
                    "error_message": f"{stage.value} gave up after 5 attempts",
                    "failed_stage": stage,
                    "failed_from": failed_from,
                    "attempts": {stage.value: 5},
                    "history": [
                        *job.history,
                        Transition(
                            from_status=failed_from,
                            to_status=JobStatus.FAILED,
                            at=job.updated_at,
                            note=f"{stage.value}: gave up",
                        ),
                    ],
                }
            )
            demo.failed.append(job)
        else:
            demo.running.append(job)
        await db.jobs_collection.insert_one(job.to_document())
    return demo


async def seed_workers(db: Database, now: datetime | None = None) -> None:
    now = now or utcnow()
    for stage, instances in (("segment", 2), ("background", 1), ("composite", 1), ("derive", 1)):
        for n in range(instances):
            await db.workers.replace_one(
                {"_id": f"{stage}:demo-{n}"},
                {
                    "stage": stage,
                    "instance": f"demo-{n}",
                    "host": "localhost",
                    "pid": 1000 + n,
                    "in_flight": n,
                    "processed": 40 + n,
                    "failed": n,
                    "last_error": None,
                    "paused": False,
                    "started_at": now - timedelta(hours=1),
                    "last_seen": now,
                },
                upsert=True,
            )


async def seed_webhook_events(db: Database, jobs: DemoJobs) -> None:
    for i, job in enumerate(jobs.all):
        await db.webhook_events.replace_one(
            {"_id": job.delivery_id},
            {
                "received_at": job.created_at,
                "source": "webhook",
                "signature_valid": True,
                "sku": job.sku,
                "image_url": job.image_url,
                "themes": [job.theme],
                "job_ids": [job.id],
                "outcome": "accepted" if i % 5 else "duplicate",
                "reason": None,
                "status_code": 202,
            },
            upsert=True,
        )


async def _main() -> None:
    settings = DashboardSettings()
    db = Database.from_settings(settings)
    try:
        async with BlobStore.from_settings(settings) as blobs:
            await blobs.ensure_bucket()
            demo = await seed_demo(db, blobs, prefix=f"DEMO{utcnow():%H%M%S}")
            await seed_workers(db)
            await seed_webhook_events(db, demo)
            print(f"seeded {len(demo.all)} jobs into {settings.mongo_db}")
    finally:
        await db.close()


if __name__ == "__main__":
    asyncio.run(_main())
