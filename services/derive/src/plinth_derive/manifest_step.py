"""The manifest step of the derive service: DERIVATIVES -> SHOPIFY_PUSH, or IN_REVIEW.

Builds the manifest from what the earlier stages recorded on the job, with presigned URLs for
every asset, validates it against the published schema and stores it under ``manifests/``. Then
it decides whether the job goes on to publish or waits for a person: a cut-out whose confidence
is under the review threshold (the theme's, else ``PLINTH_REVIEW_THRESHOLD``) is held IN_REVIEW
and announced on ``plinth.job.in-review.v1`` instead of ``plinth.job.shopify-push.v1``.
"""

from __future__ import annotations

from typing import Any

from plinth import keys
from plinth.adapters.themes import load_job_theme
from plinth.domain.job import Job, MaskVersion
from plinth.domain.states import JobStatus
from plinth.domain.transitions import hold_review
from plinth.imaging.backgrounds import Theme
from plinth.imaging.errors import ThemeError
from plinth.imaging.manifest import (
    DerivativeInfo,
    SourceInfo,
    build_manifest,
    manifest_json,
    validate_manifest,
)
from plinth.worker import StageContext, StageResult
from plinth.worker.errors import PermanentStageError
from plinth_derive.review import global_threshold
from plinth_derive.settings import DeriveWorkerSettings


def derivative_infos(job: Job) -> list[DerivativeInfo]:
    recorded: list[dict[str, Any]] = job.provider_metadata.get("derivatives") or []
    if len(recorded) != len(job.s3_derivative_keys):
        raise PermanentStageError(
            "missing_derivative_metadata",
            f"{len(job.s3_derivative_keys)} derivatives stored but {len(recorded)} described",
        )
    return [DerivativeInfo(variant=int(d["variant"]), size=d["size"], fmt=d["format"],
                           width=int(d["width"]), height=int(d["height"]), bytes=int(d["bytes"]))
            for d in recorded]


def source_info(job: Job) -> SourceInfo | None:
    seg: dict[str, Any] = job.provider_metadata.get("segment") or {}
    if not all(seg.get(name) for name in ("width", "height", "format", "bytes")):
        return None
    return SourceInfo(width=int(seg["width"]), height=int(seg["height"]),
                      format=str(seg["format"]), bytes=int(seg["bytes"]))


def mask_version_of(job: Job) -> MaskVersion | None:
    """The mask version the job's cut-out is (None: a job from before versions, version 1)."""
    return next((v for v in reversed(job.mask_versions) if v.s3_mask_key == job.s3_mask_key),
                None)


def asset_keys(job: Job) -> list[str]:
    return [key for key in (job.s3_original_key, job.s3_cutout_key, job.s3_mask_key,
                            *job.s3_background_keys, *job.s3_composite_keys,
                            *job.s3_derivative_keys) if key]


async def manifest(job: Job, ctx: StageContext[DeriveWorkerSettings]) -> StageResult:
    if job.img_sha256 is None:
        raise PermanentStageError("missing_original", "the job has no image hash")
    # The manifest's signer is synchronous; presigning is local computation, so sign every
    # asset up front and hand it a lookup.
    urls = {key: await ctx.blobs.presign_get(key) for key in asset_keys(job)}
    segment = job.provider_metadata.get("segment") or {}
    used = mask_version_of(job)
    doc = build_manifest(
        sku=job.sku,
        sha256=job.img_sha256,
        theme=job.theme,
        background_indices=range(len(job.s3_background_keys)),
        composite_indices=range(len(job.s3_composite_keys)),
        derivatives=derivative_infos(job),
        timings_ms=job.timings.model_dump(),
        costs_usd=job.cost_breakdown,
        source=source_info(job),
        segmentation_provider=segment.get("provider"),
        background_source=ctx.settings.background_mode,
        job_id=job.id,
        signer=urls.__getitem__,
        mask_version=used.version if used else 1,
        mask_source=used.source if used else "model",
    )
    validate_manifest(doc)
    key = keys.manifest_key(job.sku, job.img_sha256, job.theme)
    body = manifest_json(doc)
    attributes: dict[str, str | int | float | bool] = {
        "manifest.derivatives": doc["totals"]["derivative_count"]}
    threshold = await review_threshold(job, ctx)
    review = hold_review(job, threshold=threshold)
    attributes["review.threshold"] = threshold
    attributes["review.held"] = review is not None
    if review is None:
        return StageResult(changes={"manifest_s3_key": key}, artefacts={key: body},
                           attributes=attributes)
    return StageResult(changes={"manifest_s3_key": key, "review": review},
                       artefacts={key: body}, attributes=attributes,
                       target=JobStatus.IN_REVIEW, note=f"held for review: {review.reason}")


async def review_threshold(job: Job, ctx: StageContext[Any]) -> float:
    """The job's theme's ``review_threshold`` when it sets one, else the global one."""
    theme = await theme_of(job, ctx)
    if theme is not None and theme.review_threshold is not None:
        return theme.review_threshold
    return global_threshold(ctx.settings)


async def theme_of(job: Job, ctx: StageContext[Any]) -> Theme | None:
    """The theme the job was made with (its stored version; the packaged one for a job from
    before themes were stored); None when neither has it: the global threshold applies."""
    try:
        return await load_job_theme(ctx.db, job.theme, job.theme_version)
    except ThemeError:
        return None
