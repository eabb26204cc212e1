"""The segment step against an in-memory blob store, with the real local provider (pinned:
the default ``auto`` would use a learned model where one is installed). No stack needed."""

from __future__ import annotations

import io
import sys
from pathlib import Path

import numpy as np
import pytest
from opentelemetry.trace import INVALID_SPAN
from PIL import Image

from plinth.domain.job import Job
from plinth.imaging.errors import SegmentationError, TruncatedImageError
from plinth.worker import StageContext
from plinth.worker.errors import PermanentStageError, classify
from plinth_segment.main import segment
from plinth_segment.settings import SegmentWorkerSettings
from plinth_testkit.memory import MemoryBlobs

sys.path.insert(0, str(Path(__file__).resolve().parents[3]))
from bench.quality.synth import make_case

SHA = "d" * 64


LOCAL = SegmentWorkerSettings(segment_provider="local")


def job_with(
    original: bytes, settings: SegmentWorkerSettings = LOCAL
) -> tuple[Job, StageContext[SegmentWorkerSettings]]:
    key = f"originals/SKU-9/{SHA}.jpg"
    job = Job(sku="SKU-9", theme="default", image_url="https://x/a.jpg", img_sha256=SHA,
              s3_original_key=key)
    return job, StageContext(settings, MemoryBlobs({key: original}), INVALID_SPAN, "t")


def photo() -> bytes:
    buf = io.BytesIO()
    Image.fromarray(make_case(7).image).save(buf, "JPEG", quality=90)
    return buf.getvalue()


async def test_cutout_and_mask_are_stored_at_the_seed_keys() -> None:
    data = photo()
    job, ctx = job_with(data)
    result = await segment(job, ctx)

    assert result.changes["s3_cutout_key"] == f"cutouts/SKU-9/{SHA}.png"
    assert result.changes["s3_mask_key"] == f"masks/SKU-9/{SHA}.png"
    cutout = Image.open(io.BytesIO(result.artefacts[result.changes["s3_cutout_key"]]))
    mask = Image.open(io.BytesIO(result.artefacts[result.changes["s3_mask_key"]]))
    source = Image.open(io.BytesIO(data))
    assert cutout.mode == "RGBA" and mask.mode == "L"
    assert cutout.size == mask.size == source.size
    alpha = np.asarray(mask)
    assert 0 < (alpha > 128).mean() < 0.9, "a product was found and the background removed"
    meta = result.changes["provider_metadata"]["segment"]
    assert meta["provider"] == "local" and meta["bytes"] == len(data)
    assert result.attributes["provider"] == "local"
    [first] = result.changes["mask_versions"]
    assert (first.version, first.source) == (1, "model")
    assert (first.s3_mask_key, first.s3_cutout_key) == (
        result.changes["s3_mask_key"], result.changes["s3_cutout_key"])


async def test_a_corrupt_original_is_a_permanent_error() -> None:
    job, ctx = job_with(photo()[:400])
    with pytest.raises(TruncatedImageError) as caught:
        await segment(job, ctx)
    verdict = classify(caught.value)
    assert verdict.permanent and verdict.code == "truncated_image"


async def test_an_unknown_provider_is_a_permanent_error() -> None:
    job, ctx = job_with(photo(), SegmentWorkerSettings(segment_provider="magic"))
    with pytest.raises(PermanentStageError) as caught:
        await segment(job, ctx)
    assert caught.value.code == "provider_not_configured"
    message = str(caught.value)
    assert "unknown segment provider 'magic'" in message
    assert "choose one of auto, learned, onnx, local, freepik" in message
    assert isinstance(caught.value.__cause__, SegmentationError)
    verdict = classify(caught.value)
    assert verdict.permanent and verdict.code == "provider_not_configured"
