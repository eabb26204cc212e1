"""The segment service: NEW -> BG_REMOVED.

Decodes the stored original, cuts the product out with the provider named by
``PLINTH_SEGMENT_PROVIDER`` (local, freepik or onnx) and stores the RGBA cutout and its mask.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from plinth.domain.job import Job
from plinth.domain.states import JobStatus, Stage
from plinth.imaging.decode import decode_image, encode_png
from plinth.imaging.segment import SegmentProvider, get_provider
from plinth.imaging.segment.base import Segmentation
from plinth.imaging.segment.freepik import FreepikSegmenter
from plinth.keys import cutout_key, mask_key
from plinth.settings import Settings
from plinth.worker import StageContext, StageResult, Step, run_stage_service
from plinth.worker.errors import PermanentStageError


def provider_for(settings: Settings) -> SegmentProvider:
    """One provider per process and configuration (the onnx one loads its model once)."""
    key = settings.freepik_api_key.get_secret_value() if settings.freepik_api_key else None
    return _provider(settings.segment_provider, key, settings.freepik_base_url,
                     settings.freepik_remove_bg_price_usd, settings.onnx_model_path)


@lru_cache(maxsize=4)
def _provider(name: str, api_key: str | None, freepik_base_url: str, price_usd: float,
              onnx_model_path: str | None) -> SegmentProvider:
    config: dict[str, Any] = {}
    if name == "freepik":
        if api_key is None:
            raise PermanentStageError("provider_not_configured",
                                      "segment provider freepik needs PLINTH_FREEPIK_API_KEY")
        config = {"api_key": api_key, "base_url": freepik_base_url, "unit_price_usd": price_usd}
    elif name == "onnx":
        if not onnx_model_path:
            raise PermanentStageError("provider_not_configured",
                                      "segment provider onnx needs PLINTH_ONNX_MODEL_PATH")
        config = {"model_path": onnx_model_path}
    return get_provider(name, **config)


async def segment(job: Job, ctx: StageContext) -> StageResult:
    if job.s3_original_key is None or job.img_sha256 is None:
        raise PermanentStageError("missing_original", "the job has no stored original image")
    original = await ctx.blobs.get(job.s3_original_key)
    decoded = await ctx.to_thread(decode_image, original,
                                  max_pixels=ctx.settings.max_image_pixels,
                                  max_bytes=ctx.settings.max_image_bytes)
    provider = provider_for(ctx.settings)
    result: Segmentation
    if isinstance(provider, FreepikSegmenter):
        # Freepik fetches by URL: lend it a short-lived URL of the original already in S3.
        url = await ctx.blobs.presign_get(job.s3_original_key, ttl_s=600)
        result = await ctx.to_thread(provider.segment_url, url,
                                     size=(decoded.width, decoded.height))
    else:
        result = await ctx.to_thread(provider.segment, decoded.rgb)
    cutout_png = await ctx.to_thread(encode_png, result.cutout)
    mask_png = await ctx.to_thread(encode_png, result.mask)
    cutout = cutout_key(job.sku, job.img_sha256)
    mask = mask_key(job.sku, job.img_sha256)
    metadata = {**job.provider_metadata,
                "segment": {"provider": result.provider, "width": decoded.width,
                            "height": decoded.height, "format": decoded.format,
                            "bytes": len(original), **result.meta}}
    return StageResult(
        changes={"s3_cutout_key": cutout, "s3_mask_key": mask, "provider_metadata": metadata},
        artefacts={cutout: cutout_png, mask: mask_png},
        cost_usd={"segmentation": result.cost_usd} if result.cost_usd else {},
        attributes={"provider": result.provider, "image.megapixels": decoded.megapixels},
    )


STEPS = [Step(Stage.SEGMENT, JobStatus.NEW, JobStatus.BG_REMOVED, segment)]


def main() -> None:
    run_stage_service(Stage.SEGMENT, STEPS, service_name="plinth-segment")


if __name__ == "__main__":
    main()
