"""The segment service: NEW -> BG_REMOVED.

Decodes the stored original, cuts the product out with the provider named by
``PLINTH_SEGMENT_PROVIDER`` (auto, learned, onnx, local or freepik; see
``plinth.models.segmenters``) and stores the RGBA cutout and its mask.
A photo is segmented once: the jobs of its other themes reuse the stored cut-out
(:mod:`plinth_segment.reuse`).
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import Callable
from typing import Any

from plinth.adapters.mask_versions import MaskVersionRecords
from plinth.domain.job import Job, utcnow
from plinth.domain.states import JobStatus, Stage
from plinth.imaging.errors import ImagingError
from plinth.imaging.segment import SegmentProvider
from plinth.keys import cutout_key, mask_key
from plinth.models.segmenters import build_segmenter, config_from_settings
from plinth.stages import segment_photo
from plinth.worker import StageContext, StageResult, Step, run_stage_service
from plinth.worker.errors import PermanentStageError
from plinth_segment.reuse import (
    confidence_of,
    identity_of,
    model_versions,
    segment_once,
    with_touch_up,
)
from plinth_segment.settings import SegmentWorkerSettings

UPLOAD_PREFIX = "uploads/segment/"
"""Where photos a URL-fetching provider cannot read as stored (WebP, HEIC, TIFF, EXIF-rotated)
are put, decoded, for it to fetch; a bucket lifecycle rule may expire this prefix."""

log = logging.getLogger("plinth_segment")
_providers: dict[tuple[Any, ...], SegmentProvider] = {}


def provider_for(
    settings: SegmentWorkerSettings, ctx: StageContext[SegmentWorkerSettings]
) -> SegmentProvider:
    """One provider per process and configuration (a learned one loads its model once)."""
    identity = _identity(settings)
    if settings.segment_provider.strip().lower() == "freepik":
        # Its uploader is bound to this blob store and event loop: a provider cached for
        # another (a closed store, a finished loop) would fail or upload elsewhere. The cached
        # uploader keeps both alive, so their ids cannot be reused while the entry exists.
        identity += (id(ctx.blobs), id(asyncio.get_running_loop()))
    if identity not in _providers:
        _providers[identity] = _build_provider(settings, ctx)
    return _providers[identity]


def preload_provider(settings: SegmentWorkerSettings) -> None:
    """Build the provider at start-up, so the model is loaded (and ``auto``'s fallback to
    ``local`` logged) before the first job. Freepik's is bound to the running loop later; a
    provider that cannot be built fails each job with ``provider_not_configured`` instead."""
    if settings.segment_provider.strip().lower() == "freepik":
        return
    try:
        _providers[_identity(settings)] = _build_provider(settings, None)
    except PermanentStageError as exc:
        log.error("segment provider: %s", exc)


def _identity(settings: SegmentWorkerSettings) -> tuple[Any, ...]:
    api_key = settings.freepik_api_key.get_secret_value() if settings.freepik_api_key else None
    return (api_key, settings.freepik_base_url, settings.freepik_remove_bg_price_usd,
            config_from_settings(settings))


def _build_provider(
    settings: SegmentWorkerSettings, ctx: StageContext[SegmentWorkerSettings] | None
) -> SegmentProvider:
    config: dict[str, Any] = {}
    if settings.segment_provider.strip().lower() == "freepik":
        api_key = settings.freepik_api_key.get_secret_value() if settings.freepik_api_key else None
        if api_key is None or ctx is None:
            raise PermanentStageError("provider_not_configured",
                                      "segment provider freepik needs PLINTH_FREEPIK_API_KEY")
        config = {"api_key": api_key, "base_url": settings.freepik_base_url,
                  "unit_price_usd": settings.freepik_remove_bg_price_usd,
                  "uploader": s3_uploader(ctx.blobs, asyncio.get_running_loop())}
    try:
        return build_segmenter(config_from_settings(settings), **config)
    except ImagingError as exc:
        raise PermanentStageError("provider_not_configured", exc.message) from exc


def s3_uploader(blobs: Any, loop: asyncio.AbstractEventLoop) -> Callable[[bytes, str], str]:
    """An uploader for providers that fetch by URL, callable from the provider's worker thread:
    it stores the bytes under ``uploads/segment/`` and returns a presigned GET URL."""

    def upload(data: bytes, content_type: str) -> str:
        ext = "png" if content_type == "image/png" else "jpg"
        key = f"{UPLOAD_PREFIX}{hashlib.sha256(data).hexdigest()}.{ext}"
        asyncio.run_coroutine_threadsafe(blobs.put(key, data, content_type), loop).result(120)
        url: str = asyncio.run_coroutine_threadsafe(
            blobs.presign_get(key, ttl_s=600), loop).result(120)
        return url

    return upload


async def segment(job: Job, ctx: StageContext[SegmentWorkerSettings]) -> StageResult:
    if job.s3_original_key is None or job.img_sha256 is None:
        raise PermanentStageError("missing_original", "the job has no stored original image")
    provider = provider_for(ctx.settings, ctx)
    if ctx.db is None:  # no job store to keep the photo's segmentation in: segment every time
        return await cut_out(job, ctx, provider)
    result = await segment_once(ctx.db.segmentations, ctx.blobs, job, identity_of(provider),
                                lambda: cut_out(job, ctx, provider))
    return await with_touch_up(MaskVersionRecords.of(ctx.db), job, result)


async def cut_out(
    job: Job, ctx: StageContext[SegmentWorkerSettings], provider: SegmentProvider
) -> StageResult:
    """Call the provider on the job's original: the cut-out and mask, their keys and metadata."""
    assert job.s3_original_key is not None and job.img_sha256 is not None
    original = await ctx.blobs.get(job.s3_original_key)
    # URL-fetching providers (Freepik) read the stored original through a short-lived URL.
    url = None
    if callable(getattr(provider, "segment_url", None)):
        url = await ctx.blobs.presign_get(job.s3_original_key, ttl_s=600)
    cut = await ctx.to_thread(segment_photo, original, provider, image_url=url,
                              max_pixels=ctx.settings.max_image_pixels,
                              max_bytes=ctx.settings.max_image_bytes)
    cutout = cutout_key(job.sku, job.img_sha256)
    mask = mask_key(job.sku, job.img_sha256)
    metadata = {**job.provider_metadata,
                "segment": {"provider": cut.provider, "width": cut.width, "height": cut.height,
                            "format": cut.source_format, "bytes": len(original), **cut.meta}}
    return StageResult(
        changes={"s3_cutout_key": cutout, "s3_mask_key": mask, "provider_metadata": metadata,
                 "segment_confidence": confidence_of(cut.meta),
                 "mask_versions": model_versions(job, cutout, mask, utcnow())},
        artefacts={cutout: cut.cutout_png, mask: cut.mask_png},
        cost_usd={"segmentation": cut.cost_usd} if cut.cost_usd else {},
        attributes={"provider": cut.provider,
                    "image.megapixels": cut.width * cut.height / 1e6},
    )


STEPS = [Step(Stage.SEGMENT, JobStatus.NEW, JobStatus.BG_REMOVED, segment)]


def main() -> None:
    logging.basicConfig(level=logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    preload_provider(SegmentWorkerSettings())
    run_stage_service(Stage.SEGMENT, STEPS, service_name="plinth-segment",
                      settings=SegmentWorkerSettings)


if __name__ == "__main__":
    main()
