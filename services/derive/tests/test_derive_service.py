"""The derive service's two steps: nine files per composite, then a valid manifest."""

from __future__ import annotations

import json

import numpy as np
import pytest
from opentelemetry.trace import INVALID_SPAN

from plinth.domain.job import Job, MaskVersion, utcnow
from plinth.domain.states import JobStatus
from plinth.imaging.decode import encode_jpeg
from plinth.imaging.manifest import validate_manifest
from plinth.worker import StageContext
from plinth.worker.errors import PermanentStageError
from plinth_derive.main import derivatives
from plinth_derive.manifest_step import manifest
from plinth_derive.settings import DeriveWorkerSettings
from plinth_testkit.memory import MemoryBlobs

SHA = "0" * 64


SIGNED = "https://s3.test/{key}?signed"


def composited_job() -> tuple[Job, MemoryBlobs]:
    ramp = np.linspace(60, 220, 600, dtype=np.float32)
    picture = np.dstack([np.add.outer(ramp, ramp) / 2, np.tile(ramp, (600, 1)),
                         np.tile(ramp[:, None], (1, 600))]).astype(np.uint8)
    key = f"composites/default/SKU-D/{SHA}_0.jpg"
    job = Job(sku="SKU-D", theme="default", image_url="https://x/a.jpg", img_sha256=SHA,
              status=JobStatus.COMPOSITED, s3_original_key=f"originals/SKU-D/{SHA}.jpg",
              s3_cutout_key=f"cutouts/SKU-D/{SHA}.png", s3_mask_key=f"masks/SKU-D/{SHA}.png",
              s3_background_keys=[f"backgrounds/default/SKU-D/{SHA}_0.jpg"],
              s3_composite_keys=[key],
              provider_metadata={"segment": {"provider": "local", "width": 600, "height": 600,
                                             "format": "JPEG", "bytes": 1234}})
    return job, MemoryBlobs({key: encode_jpeg(picture)}, url_template=SIGNED)


async def test_nine_derivatives_then_a_manifest_that_validates() -> None:
    job, blobs = composited_job()
    ctx = StageContext(DeriveWorkerSettings(), blobs, INVALID_SPAN, "t")
    made = await derivatives(job, ctx)
    keys = made.changes["s3_derivative_keys"]
    assert len(keys) == 9 == len(made.artefacts)
    assert f"derivatives/default/SKU-D/{SHA}/0_hero.avif" in keys
    assert f"derivatives/default/SKU-D/{SHA}/0_thumb.webp" in keys

    ready = job.model_copy(update={"status": JobStatus.DERIVATIVES, **made.changes})
    result = await manifest(ready, ctx)
    key = f"manifests/SKU-D/{SHA}-default.json"
    assert result.changes == {"manifest_s3_key": key}
    doc = json.loads(result.artefacts[key])
    validate_manifest(doc)
    assert doc["totals"]["derivative_count"] == 9
    assert doc["job"]["job_id"] == job.id and doc["source"]["bytes"] == 1234
    assert doc["assets"]["cutout"]["url"].endswith("?signed")


async def test_the_manifest_names_the_touched_up_mask_it_was_made_from() -> None:
    job, blobs = composited_job()
    ctx = StageContext(DeriveWorkerSettings(), blobs, INVALID_SPAN, "t")
    made = await derivatives(job, ctx)
    now = utcnow()
    versions = [
        MaskVersion(version=1, s3_mask_key=f"masks/SKU-D/{SHA}.png",
                    s3_cutout_key=f"cutouts/SKU-D/{SHA}.png", source="model", created_at=now),
        MaskVersion(version=2, s3_mask_key=f"masks/SKU-D/{SHA}.v2.png",
                    s3_cutout_key=f"cutouts/SKU-D/{SHA}.v2.png", source="touch-up",
                    created_at=now, created_by="ops"),
    ]
    touched = job.model_copy(update={
        "status": JobStatus.DERIVATIVES, **made.changes, "mask_versions": versions,
        "s3_mask_key": versions[1].s3_mask_key, "s3_cutout_key": versions[1].s3_cutout_key})
    result = await manifest(touched, ctx)
    doc = json.loads(result.artefacts[f"manifests/SKU-D/{SHA}-default.json"])
    validate_manifest(doc)
    mask = doc["assets"]["mask"]
    assert (mask["key"], mask["version"], mask["source"]) == (
        f"masks/SKU-D/{SHA}.v2.png", 2, "touch-up")
    assert mask["url"] == f"https://s3.test/masks/SKU-D/{SHA}.v2.png?signed"
    assert doc["assets"]["cutout"]["key"] == f"cutouts/SKU-D/{SHA}.v2.png"


async def test_a_manifest_without_derivative_metadata_is_refused() -> None:
    job, blobs = composited_job()
    broken = job.model_copy(update={"status": JobStatus.DERIVATIVES,
                                    "s3_derivative_keys": ["derivatives/x/0_hero.jpg"]})
    with pytest.raises(PermanentStageError, match="described"):
        await manifest(broken, StageContext(DeriveWorkerSettings(), blobs, INVALID_SPAN, "t"))
