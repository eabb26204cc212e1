"""Touch-up of a photo's mask by a person, and the re-run of every theme of the photo from it.

- ``GET /api/jobs/{id}/masks``: the job's mask versions (oldest first), each with short-lived
  presigned URLs of its mask and cut-out, and ``current`` (the version the job uses now).
- ``POST /api/jobs/{id}/touch-up``: a new mask version from ``base_version`` and the person's
  brush ``strokes`` and clicked ``points`` (ORIGINAL image pixels) by ``method`` (``paint``,
  ``grabcut`` or ``learned``; see :mod:`plinth.imaging.touchup`). The mask and the cut-out made
  from it (edges decontaminated) are stored under the next version's keys (older versions are
  kept), then every job of the photo (same sku and img_sha256, every theme) that is IN_REVIEW,
  DONE or FAILED is reworked to BG_REMOVED with it (``transitions.rework``, a conditional
  update on the status read) and published to ``plinth.job.bg-removed.v1``: background,
  composite, derive and publish run again through the normal topics. 202
  ``{version, jobs, skipped, s3_mask_key, s3_cutout_key}``; 409 while a job of the photo is
  mid-pipeline or another touch-up of it was saved first; 422 naming the problem (a coordinate
  off the image, an unknown base version, a re-cut that found nothing).
- ``POST /api/jobs/{id}/touch-up/preview``: the same body; the resulting mask as ``image/png``,
  nothing stored.

Mutations need the operator role and are audited (who, when, what), on every job changed. A
version number is claimed in the ``mask_versions`` collection
(:mod:`plinth.adapters.mask_versions`: an insert, so two people saving at once cannot both write
version N) before anything is stored, and marked saved once the jobs are reworked: the segment
service then gives the photo's later jobs (a theme added afterwards) that version.
"""

from __future__ import annotations

import asyncio
import functools
from pathlib import Path
from typing import Any, Literal

from litestar import Controller, Request, Response, get, post
from litestar.di import NamedDependency
from litestar.exceptions import ClientException
from litestar.params import FromPath, JSONBody
from pydantic import BaseModel, ConfigDict, Field

from plinth.adapters.mask_versions import MaskVersionRecords
from plinth.domain.job import Job, MaskVersion, utcnow
from plinth.domain.states import JobStatus, canonical
from plinth.domain.transitions import TransitionError, rework
from plinth.imaging.errors import ImagingError
from plinth.imaging.segment.saliency import SaliencyModel
from plinth.imaging.touchup import (
    SeedPoint,
    Stroke,
    TouchedUp,
    TouchUpError,
    TouchUpRequest,
    touch_up_files,
)
from plinth.keys import InvalidKeyPart, cutout_key, mask_key
from plinth.messaging.topics import JOB_BG_REMOVED
from plinth.models.errors import ModelError
from plinth.models.onnx_runtime import RuntimeOptions
from plinth.models.registry import DEFAULT_MODEL
from plinth.models.segmenters import SegmenterConfig, learned_segmenter
from plinth.settings import PlinthSettings
from plinth_dashboard_api import audit
from plinth_dashboard_api.auth import principal_of, require_operator, require_viewer
from plinth_dashboard_api.errors import ConflictException
from plinth_dashboard_api.job_changes import job_event, load_job, publish_or_put_back
from plinth_dashboard_api.resources import Resources

REWORKABLE = frozenset({JobStatus.IN_REVIEW, JobStatus.DONE, JobStatus.FAILED})
"""The states a touch-up reworks a job from; any other (mid-pipeline) is a 409."""


class TouchUpSettings(PlinthSettings):
    """The touch-up's own settings (``PLINTH_TOUCHUP_*``)."""

    touchup_model: str = DEFAULT_MODEL
    """The installed model the ``learned`` re-cut runs (``plinth models list``)."""
    touchup_model_dir: Path | None = None
    """Where installed models are; None: ``PLINTH_MODEL_DIR`` or the per-user cache."""
    touchup_threads: int = 2
    """onnxruntime threads for a re-cut (the API shares its cores with requests)."""
    touchup_max_strokes: int = 500
    touchup_max_points_per_stroke: int = 10_000
    touchup_max_stroke_points: int = 50_000
    """All the strokes' points together (each segment is a few array operations)."""
    touchup_max_points: int = 200
    touchup_max_image_pixels: int = 80_000_000
    touchup_max_image_bytes: int = 100 * 1024 * 1024


class Unprocessable(ClientException):
    """The touch-up cannot be made as asked: 422 with the reason."""

    status_code = 422


class StrokeBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    mode: Literal["add", "remove"]
    size: float = Field(gt=0, le=5000, description="brush diameter, original-image pixels")
    points: list[tuple[float, float]] = Field(
        min_length=1, description="[x, y] pairs in original-image pixels, in drawing order")


class PointBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    x: float
    y: float
    positive: bool = True


class TouchUpBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    base_version: int = Field(ge=1, description="the mask version the edits were made on")
    strokes: list[StrokeBody] = Field(default_factory=list)
    points: list[PointBody] = Field(default_factory=list)
    method: Literal["paint", "grabcut", "learned"] = "paint"
    note: str | None = Field(default=None, max_length=500)

    def request(self, settings: TouchUpSettings) -> TouchUpRequest:
        """The imaging request; 422 naming what is wrong with it."""
        if len(self.strokes) > settings.touchup_max_strokes:
            raise Unprocessable(
                f"at most {settings.touchup_max_strokes} strokes, got {len(self.strokes)}")
        if len(self.points) > settings.touchup_max_points:
            raise Unprocessable(
                f"at most {settings.touchup_max_points} points, got {len(self.points)}")
        for index, stroke in enumerate(self.strokes):
            if len(stroke.points) > settings.touchup_max_points_per_stroke:
                raise Unprocessable(f"strokes[{index}] has {len(stroke.points)} points; at "
                                    f"most {settings.touchup_max_points_per_stroke}")
        total = sum(len(stroke.points) for stroke in self.strokes)
        if total > settings.touchup_max_stroke_points:
            raise Unprocessable(f"the strokes have {total} points together; at most "
                                f"{settings.touchup_max_stroke_points}")
        try:
            return TouchUpRequest(
                method=self.method,
                strokes=tuple(Stroke(s.mode, s.size, tuple(s.points)) for s in self.strokes),
                points=tuple(SeedPoint(p.x, p.y, p.positive) for p in self.points),
            )
        except TouchUpError as err:
            raise Unprocessable(err.message) from err


@functools.cache
def _settings() -> TouchUpSettings:
    return TouchUpSettings()


@functools.cache
def _learned_model(model: str, model_dir: Path | None, threads: int) -> SaliencyModel:
    """The learned model, loaded once per process (raises ``ModelError`` when missing)."""
    config = SegmenterConfig(provider="learned", model=model, model_dir=model_dir,
                             runtime=RuntimeOptions(threads=threads, use_cuda=False))
    return learned_segmenter(config).model


def versions_of(job: Job) -> list[MaskVersion]:
    """The job's mask versions; a job from before versions has its mask as version 1."""
    if job.mask_versions:
        return list(job.mask_versions)
    if job.s3_mask_key and job.s3_cutout_key:
        return [MaskVersion(version=1, s3_mask_key=job.s3_mask_key,
                            s3_cutout_key=job.s3_cutout_key, source="model",
                            created_at=job.created_at)]
    return []


def current_version(job: Job) -> int | None:
    return next((v.version for v in reversed(versions_of(job))
                 if v.s3_mask_key == job.s3_mask_key), None)


def _base(job: Job, base_version: int) -> MaskVersion:
    versions = versions_of(job)
    if not versions:
        raise ConflictException(f"job {job.id} has no mask yet ({job.status.value})")
    for version in versions:
        if version.version == base_version:
            return version
    known = ", ".join(str(v.version) for v in versions)
    raise Unprocessable(f"base_version {base_version} is not a mask version of job {job.id} "
                        f"(it has {known})")


async def _photo_jobs(res: Resources, job: Job) -> list[Job]:
    cursor = res.db.jobs_collection.find({"sku": job.sku, "img_sha256": job.img_sha256})
    return [Job.from_document(doc) async for doc in cursor]


async def _next_version(records: MaskVersionRecords, job: Job, jobs: list[Job]) -> int:
    """One more than any version of the photo: on its jobs, or claimed (a claim whose save
    failed half-way still takes its number, so no key is ever written twice)."""
    assert job.img_sha256 is not None
    on_jobs = max((v.version for j in jobs for v in versions_of(j)), default=1)
    return max(on_jobs, await records.latest_number(job.sku, job.img_sha256)) + 1


async def _render(res: Resources, job: Job, base: MaskVersion, request: TouchUpRequest, *,
                  with_cutout: bool) -> TouchedUp:
    if job.s3_original_key is None:
        raise ConflictException(f"job {job.id} has no stored original")
    settings = _settings()
    original, mask_png = await asyncio.gather(res.blobs.get(job.s3_original_key),
                                              res.blobs.get(base.s3_mask_key))
    model: SaliencyModel | None = None
    if request.method == "learned":
        try:
            model = await asyncio.to_thread(_learned_model, settings.touchup_model,
                                            settings.touchup_model_dir, settings.touchup_threads)
        except ModelError as err:
            raise Unprocessable(f"the learned re-cut is not available: {err.message}") from err
    try:
        return await asyncio.to_thread(
            touch_up_files, original, mask_png, request, model=model, with_cutout=with_cutout,
            max_pixels=settings.touchup_max_image_pixels,
            max_bytes=settings.touchup_max_image_bytes)
    except ImagingError as err:
        raise Unprocessable(err.message) from err


class TouchUpController(Controller):
    path = "/api/jobs"
    tags = ("touch-up",)
    guards = (require_viewer,)

    @get("/{job_id:str}/masks", summary="The job's mask versions, with presigned URLs")
    async def masks(self, res: NamedDependency[Resources], job_id: FromPath[str]
                    ) -> dict[str, Any]:
        job = await load_job(res, job_id)
        ttl = res.settings.dashboard_presign_ttl_s
        versions = []
        for version in versions_of(job):
            mask_url, cutout_url = await asyncio.gather(
                res.blobs.presign_get(version.s3_mask_key, ttl_s=ttl),
                res.blobs.presign_get(version.s3_cutout_key, ttl_s=ttl))
            versions.append({**version.model_dump(mode="json"), "mask_url": mask_url,
                             "cutout_url": cutout_url})
        return {"versions": versions, "current": current_version(job), "expires_in": ttl}

    @post("/{job_id:str}/touch-up/preview", guards=[require_operator], status_code=200,
          summary="The mask a touch-up would make, as PNG (nothing is stored)")
    async def preview(self, res: NamedDependency[Resources], job_id: FromPath[str],
                      data: JSONBody[TouchUpBody]) -> Response[bytes]:
        job = await load_job(res, job_id)
        request = data.request(_settings())
        done = await _render(res, job, _base(job, data.base_version), request,
                             with_cutout=False)
        return Response(done.mask_png, media_type="image/png",
                        headers={"Cache-Control": "no-store"})

    @post("/{job_id:str}/touch-up", guards=[require_operator], status_code=202,
          summary="Save a touched-up mask as a new version and re-run every theme of the photo")
    async def touch_up(
        self,
        request: Request[Any, Any, Any],
        res: NamedDependency[Resources],
        job_id: FromPath[str],
        data: JSONBody[TouchUpBody],
    ) -> dict[str, Any]:
        job = await load_job(res, job_id)
        principal = principal_of(request)
        wanted = data.request(_settings())
        base = _base(job, data.base_version)
        if job.img_sha256 is None:
            raise ConflictException(f"job {job_id} has no photo hash yet")
        jobs = await _photo_jobs(res, job)
        busy = [j for j in jobs if canonical(j.status) not in REWORKABLE]
        if busy:
            listed = ", ".join(f"{j.id} ({j.theme}) is {j.status.value}" for j in busy)
            raise ConflictException(
                f"a job of this photo is mid-pipeline: {listed}; touch up once it is done")

        done = await _render(res, job, base, wanted, with_cutout=True)
        assert done.cutout_png is not None
        records = MaskVersionRecords.of(res.db)
        number = await _next_version(records, job, jobs)
        try:
            new_mask, new_cutout = (mask_key(job.sku, job.img_sha256, number),
                                    cutout_key(job.sku, job.img_sha256, number))
        except InvalidKeyPart as err:  # pragma: no cover - the job's own keys passed these
            raise Unprocessable(str(err)) from err
        version = MaskVersion(version=number, s3_mask_key=new_mask, s3_cutout_key=new_cutout,
                              source="touch-up" if data.method == "paint" else "recut",
                              created_at=utcnow(), created_by=principal.name, note=data.note)
        if not await records.claim(job.sku, job.img_sha256, version, method=data.method,
                                   base_version=base.version, job_id=job.id):
            raise ConflictException(
                f"another touch-up of this photo was saved as v{number} just now; reload "
                "and try again")
        await res.blobs.put(new_mask, done.mask_png, content_type="image/png")
        await res.blobs.put(new_cutout, done.cutout_png, content_type="image/png")

        reworked, skipped = await self._rework_all(res, jobs, version, principal.name)
        if reworked:  # a job of the photo that comes later (a new theme) starts from it
            await records.mark_saved(job.sku, job.img_sha256, number, reworked)
        details = {"version": number, "base_version": base.version, "method": data.method,
                   "strokes": len(data.strokes), "points": len(data.points), "note": data.note,
                   "s3_mask_key": new_mask, "s3_cutout_key": new_cutout, "jobs": reworked,
                   "skipped": skipped, "touched_up_on": job.id}
        # One entry per job it changed, so each job's audit trail shows the manual step.
        for audited in dict.fromkeys([job.id, *reworked]):
            await audit.record(res.db, principal, "job.touch_up", job_id=audited,
                               details=details)
        if not reworked:
            reasons = "; ".join(f"{s['job_id']}: {s['reason']}" for s in skipped)
            raise ConflictException(
                f"mask v{number} was stored but no job of the photo could be reworked: "
                f"{reasons}")
        return {"version": number, "jobs": reworked, "skipped": skipped,
                "s3_mask_key": new_mask, "s3_cutout_key": new_cutout}

    @staticmethod
    async def _rework_all(res: Resources, jobs: list[Job], version: MaskVersion, actor: str
                          ) -> tuple[list[str], list[dict[str, str]]]:
        """Rework each job of the photo and hand it to the background stage."""
        reworked: list[str] = []
        skipped: list[dict[str, str]] = []
        for job in jobs:
            try:
                moved = rework(job, mask_version=version, actor=actor)
            except TransitionError as err:
                skipped.append({"job_id": job.id, "reason": str(err)})
                continue
            if not await res.db.jobs.replace_if_status(moved, job.status):
                skipped.append({"job_id": job.id, "reason": "it changed while saving"})
                continue
            # Unpublished, the job is put back as it was, so the person can try again.
            refused = await publish_or_put_back(res, job, moved, JOB_BG_REMOVED,
                                                job_event(moved), action="touch-up")
            if refused is not None:
                skipped.append({"job_id": job.id,
                                "reason": f"cannot publish to Kafka ({type(refused).__name__})"})
                continue
            reworked.append(job.id)
        return reworked, skipped
