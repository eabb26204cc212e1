"""Segment once per photo: the jobs of one (sku, img_sha256) on other themes reuse its cut-out.

The cut-out and mask keys depend on the photo only (``plinth.keys``), so one segmentation serves
every theme. The photo's record in ``segmentations`` (``plinth.adapters.segmentations``) decides
who calls the provider:

- no record: claim it (an atomic insert) and segment; once the cut-out and mask are stored, the
  runtime calls ``after_store``, which marks the record done with what was made;
- done by the provider (and model) this worker would use, both objects still in S3: reuse it.
  No provider call, nothing written, no cost; the job's ``provider_metadata["segment"]`` is the
  segmenting job's plus ``reused_from`` (that job's id);
- claimed by another job less than ``CLAIM_STALE_AFTER_S`` ago: :class:`RetryLater`; the job
  comes back through the retry topic, without using up an attempt;
- anything else takes the record over and segments again: a stale claim (its worker died), this
  job's own claim (a redelivery), a segmentation by another provider or model (the
  configuration changed), or one whose objects are gone.

A segmentation that fails gives its claim back, so waiting jobs need not wait for it to go stale.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import logging
import math
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from plinth.adapters.mask_versions import MaskVersionRecords
from plinth.adapters.segmentations import (
    CLAIMED,
    DONE,
    Identity,
    SegmentationRecord,
    SegmentationRepository,
    segmentation_id,
)
from plinth.domain.job import Job, MaskVersion, utcnow
from plinth.imaging.segment import SegmentProvider
from plinth.worker import StageResult
from plinth.worker.errors import RetryLater
from plinth.worker.result import BlobReader

log = logging.getLogger(__name__)

CLAIM_STALE_AFTER_S = 300.0
"""A claim older than this is a worker that died while segmenting: another job may take it."""
WAIT_MIN_S = 2.0
WAIT_MAX_S = 30.0
"""A job waiting for another's segmentation looks again after half the claim's age, within
these bounds (and no later than the claim goes stale)."""
_TRIES = 3


@dataclass(frozen=True)
class Claim:
    """This job segments the photo and completes ``record`` afterwards."""

    record: SegmentationRecord


@dataclass(frozen=True)
class Reuse:
    """The photo is segmented already: ``record`` says by whom and where."""

    record: SegmentationRecord


def identity_of(provider: SegmentProvider) -> Identity:
    """The provider and model a provider object says it uses, before it is called.

    A learned provider may show its model as ``model`` (a name, or an object with ``name`` and
    ``sha256`` as in ``plinth.imaging.segment.saliency``) or as ``model_name`` and
    ``model_sha256``; one that shows none is known by its name alone.
    """
    model = getattr(provider, "model", None)
    name = (_text(getattr(provider, "model_name", None)) or _text(model)
            or _text(getattr(model, "name", None)))
    sha256 = _text(getattr(provider, "model_sha256", None)) or _text(getattr(model, "sha256", None))
    return Identity(provider=provider.name, model=name, model_sha256=sha256)


def model_versions(job: Job, cutout_key: str, mask_key: str,
                   created_at: datetime) -> list[MaskVersion]:
    """The job's mask versions with the segmentation's as version 1 (source ``model``); a
    person's later versions, if the job has any (a retry that segments again), are kept."""
    first = MaskVersion(version=1, s3_mask_key=mask_key, s3_cutout_key=cutout_key,
                        source="model", created_at=created_at)
    return [first, *(version for version in job.mask_versions if version.version != 1)]


async def with_touch_up(records: MaskVersionRecords, job: Job,
                        result: StageResult) -> StageResult:
    """``result`` with the photo's latest saved touch-up (if a person made one) as the job's
    mask and cut-out: a job of the photo that comes after the touch-up (a theme added later)
    starts from the person's mask, like the photo's other jobs. The segmentation record keeps
    the model's keys (``result``'s own ``after_store`` still reads ``result``)."""
    assert job.img_sha256 is not None
    touched = await records.latest_saved(job.sku, job.img_sha256)
    if touched is None:
        return result
    versions = [v for v in result.changes.get("mask_versions", []) if v.version != touched.version]
    changes = {**result.changes, "s3_mask_key": touched.s3_mask_key,
               "s3_cutout_key": touched.s3_cutout_key,
               "mask_versions": sorted([*versions, touched], key=lambda v: v.version)}
    return dataclasses.replace(result, changes=changes)


def confidence_of(meta: Mapping[str, Any]) -> float | None:
    """The provider's confidence in its cut-out (``meta["confidence"]``, 0..1), or None when it
    gives none or something that is not one."""
    value = meta.get("confidence")
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    value = float(value)
    return value if math.isfinite(value) and 0.0 <= value <= 1.0 else None


async def segment_once(
    store: SegmentationRepository,
    blobs: BlobReader,
    job: Job,
    identity: Identity,
    cut_out: Callable[[], Awaitable[StageResult]],
    *,
    stale_after_s: float = CLAIM_STALE_AFTER_S,
) -> StageResult:
    """The segment step's result for ``job``: the photo's stored segmentation when it can be
    reused, else ``cut_out()``'s (whose record is completed once its artefacts are stored)."""
    outcome = await claim_or_reuse(store, blobs, job, identity, stale_after_s=stale_after_s)
    if isinstance(outcome, Reuse):
        return reused(job, outcome.record)
    claim = outcome.record
    try:
        result = await cut_out()
    except BaseException:
        with contextlib.suppress(Exception):
            await store.release(claim)
        raise
    result.after_store = functools.partial(_complete, store, claim, result)
    return result


async def claim_or_reuse(
    store: SegmentationRepository,
    blobs: BlobReader,
    job: Job,
    identity: Identity,
    *,
    stale_after_s: float = CLAIM_STALE_AFTER_S,
) -> Claim | Reuse:
    """Reuse the photo's segmentation or claim the photo for ``job``; raise :class:`RetryLater`
    while another job's fresh claim is on it."""
    if job.img_sha256 is None:
        raise ValueError("a job is segmented once its img_sha256 is known")
    record_id = segmentation_id(job.sku, job.img_sha256)
    for _ in range(_TRIES):
        now = utcnow()
        seen = await store.get(record_id)
        if seen is None:
            claimed = await store.claim(job.sku, job.img_sha256, job.id, now, identity)
        else:
            if seen.status == DONE and identity.made(seen) and await _stored(blobs, seen):
                return Reuse(seen)
            age_s = (now - seen.claimed_at).total_seconds()
            if seen.status == CLAIMED and seen.claimed_by != job.id:
                if age_s < stale_after_s:
                    raise RetryLater(
                        "segmentation_in_progress",
                        f"job {seen.claimed_by} is segmenting this photo (claimed "
                        f"{max(age_s, 0):.0f} s ago); its cut-out will be reused",
                        after_s=_wait_s(age_s, stale_after_s),
                    )
                log.warning("job %s takes over the segmentation of %s: job %s claimed it "
                            "%.0f s ago and never finished", job.id, record_id, seen.claimed_by,
                            age_s)
            elif seen.status == DONE:
                log.info("job %s segments %s again: the stored one is by %s/%s (%s), this "
                         "worker uses %s/%s (%s)", job.id, record_id, seen.provider, seen.model,
                         seen.model_sha256, identity.provider, identity.model,
                         identity.model_sha256)
            claimed = await store.take_over(seen, job.id, now, identity)
        if claimed is not None:
            return Claim(claimed)
    raise RetryLater("segmentation_contended",
                     "the photo's segmentation record kept changing; looking again later",
                     after_s=WAIT_MIN_S)


def reused(job: Job, record: SegmentationRecord) -> StageResult:
    """The step's result from a stored segmentation: nothing to write, nothing to pay, unless the
    segmentation is this very job's (stored, but the job was not updated: its cost is still
    the job's)."""
    own = record.claimed_by == job.id
    meta = dict(record.segment) if own else {**record.segment, "reused_from": record.claimed_by}
    attributes: dict[str, str | int | float | bool] = {
        "provider": record.provider or "", "segment.reused": not own}
    width, height = meta.get("width"), meta.get("height")
    if isinstance(width, int) and isinstance(height, int):
        attributes["image.megapixels"] = width * height / 1e6
    return StageResult(
        changes={"s3_cutout_key": record.cutout_key, "s3_mask_key": record.mask_key,
                 "provider_metadata": {**job.provider_metadata, "segment": meta},
                 "segment_confidence": record.confidence,
                 "mask_versions": model_versions(job, record.cutout_key or "",
                                                 record.mask_key or "",
                                                 record.done_at or record.claimed_at)},
        cost_usd={"segmentation": record.cost_usd} if own and record.cost_usd else {},
        attributes=attributes,
    )


async def _complete(
    store: SegmentationRepository, claim: SegmentationRecord, result: StageResult
) -> None:
    meta: dict[str, Any] = result.changes["provider_metadata"]["segment"]
    completed = await store.complete(
        claim,
        utcnow(),
        provider=_text(meta.get("provider")) or claim.provider or "",
        model=_text(meta.get("model")) or claim.model,
        model_sha256=_text(meta.get("model_sha256")) or claim.model_sha256,
        segment=meta,
        confidence=result.changes.get("segment_confidence"),
        cutout_key=result.changes["s3_cutout_key"],
        mask_key=result.changes["s3_mask_key"],
        cost_usd=result.cost_usd.get("segmentation", 0.0),
    )
    if not completed:
        # Someone took the claim over as stale while this job was still at it: its job keeps
        # this cut-out, the record becomes the other one's.
        log.warning("job %s finished segmenting %s after its claim was taken over",
                    claim.claimed_by, claim.id)


async def _stored(blobs: BlobReader, record: SegmentationRecord) -> bool:
    if record.cutout_key is None or record.mask_key is None:
        return False
    return await blobs.exists(record.cutout_key) and await blobs.exists(record.mask_key)


def _wait_s(age_s: float, stale_after_s: float) -> float:
    return max(WAIT_MIN_S, min(age_s / 2, WAIT_MAX_S, stale_after_s - age_s + 1))


def _text(value: object) -> str | None:
    return value if isinstance(value, str) and value else None
