"""``/api/jobs``: list, detail, stats, presign, and the two operator actions, retry and fail."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from litestar import Controller, Request, get, post
from litestar.di import NamedDependency
from litestar.exceptions import ClientException, NotFoundException
from litestar.params import FromPath, FromQuery, JSONBody, QueryParameter
from pydantic import BaseModel, Field

from plinth.adapters.mongo import count_matching
from plinth.domain.job import utcnow
from plinth.domain.states import STAGE_FROM, TERMINAL, JobStatus, Stage, canonical
from plinth.domain.transitions import TransitionError, fail, retry
from plinth.messaging.resume import resume_message
from plinth_dashboard_api import audit
from plinth_dashboard_api.auth import principal_of, require_operator, require_viewer
from plinth_dashboard_api.errors import ConflictException
from plinth_dashboard_api.job_changes import load_job, publish_or_503, save_if_status
from plinth_dashboard_api.job_query import (
    MAX_PAGE,
    InvalidQuery,
    JobQuery,
    build_query,
    mongo_filter,
    mongo_sort,
)
from plinth_dashboard_api.presign import AssetNotFound, BadAssetRequest, asset_key
from plinth_dashboard_api.resources import Resources, current_resources
from plinth_dashboard_api.stats import DashboardStats, dashboard_stats
from plinth_dashboard_api.views import SUMMARY_FIELDS, JobPage, JobSummary, job_detail

MANUAL_FAIL_CODE = "MANUAL_FAIL"


def provide_resources(request: Request[Any, Any, Any]) -> Resources:
    return current_resources(request.app)


class FailRequest(BaseModel):
    reason: str = Field(min_length=1, max_length=500)


class PresignedUrl(BaseModel):
    url: str
    key: str
    expires_in: int
    type: str


def reject_nul(**params: str | None) -> None:
    """400 for a filter string holding a NUL character: no stored value has one, and PostgreSQL
    (under the local stack's FerretDB, which pushes filters down to SQL) cannot take one in a
    query at all (SQLSTATE 22P05, a 500 here)."""
    for name, value in params.items():
        if value is not None and "\x00" in value:
            raise ClientException(f"{name} must not contain a NUL character")


async def _page_from_store(
    res: Resources, query: JobQuery
) -> tuple[list[dict[str, Any]], int, bool]:
    """The page's jobs, the total and whether it is exact: the count stops at the cap (or just
    past this page), because counting visits every matching job and a full page must not cost
    more with every million jobs in the store."""
    flt = mongo_filter(query)
    jobs = res.db.jobs_collection
    cursor = (
        jobs.find(flt, projection=dict.fromkeys(SUMMARY_FIELDS, 1))
        .sort(mongo_sort(query))
        .skip(query.skip)
        .limit(query.page_size)
    )
    docs = [doc async for doc in cursor]
    if len(docs) < query.page_size and (docs or query.skip == 0):
        return docs, query.skip + len(docs), True  # a short page is the last one: no count
    cap = max(res.settings.dashboard_count_cap, query.skip + query.page_size + 1)
    total = await count_matching(jobs, flt, limit=cap)
    return docs, total, total < cap


class JobsController(Controller):
    path = "/api/jobs"
    tags = ("jobs",)
    guards = (require_viewer,)

    @get("/", summary="List jobs with filters, sort and pagination")
    async def list_jobs(
        self,
        res: NamedDependency[Resources],
        status: Annotated[
            list[str] | None,
            QueryParameter(description="one or more statuses; repeat or comma-separate"),
        ] = None,
        sku: Annotated[str | None, QueryParameter(description="SKU prefix")] = None,
        theme: FromQuery[str | None] = None,
        created_from: FromQuery[datetime | None] = None,
        created_to: FromQuery[datetime | None] = None,
        cost_min: Annotated[float | None, QueryParameter(ge=0)] = None,
        cost_max: Annotated[float | None, QueryParameter(ge=0)] = None,
        min_confidence: Annotated[
            float | None,
            QueryParameter(ge=0, le=1, description="cut-outs at least this certain (0..1)"),
        ] = None,
        max_confidence: Annotated[
            float | None,
            QueryParameter(
                ge=0,
                le=1,
                description="cut-outs at most this certain (0..1); either bound leaves out "
                "jobs without a confidence",
            ),
        ] = None,
        sort: Annotated[
            str | None,
            QueryParameter(
                description="field, '-' prefix for descending; default -created_at. "
                "'confidence' lists the least certain cut-outs first (jobs with one only)"
            ),
        ] = None,
        page: Annotated[int, QueryParameter(ge=1, le=MAX_PAGE)] = 1,
        page_size: Annotated[int, QueryParameter(ge=1)] = 25,
    ) -> JobPage:
        reject_nul(sku=sku, theme=theme)
        try:
            query = build_query(
                status=status,
                sku=sku,
                theme=theme,
                created_from=created_from,
                created_to=created_to,
                cost_min=cost_min,
                cost_max=cost_max,
                min_confidence=min_confidence,
                max_confidence=max_confidence,
                sort=sort,
                page=page,
                page_size=page_size,
                max_page_size=res.settings.dashboard_list_max_limit,
            )
        except InvalidQuery as err:
            raise ClientException(str(err)) from err
        docs, total, exact = await _page_from_store(res, query)
        return JobPage(
            items=[JobSummary.from_document(doc) for doc in docs],
            total=total,
            total_exact=exact,
            page=query.page,
            page_size=query.page_size,
            pages=max(1, -(-total // query.page_size)),
        )

    @get("/stats", summary="Dashboard statistics over today and the last 24 hours")
    async def stats(self, res: NamedDependency[Resources]) -> DashboardStats:
        return await dashboard_stats(res.db, utcnow())

    @get("/{job_id:str}", summary="One job with everything on it")
    async def get_job(
        self, res: NamedDependency[Resources], job_id: FromPath[str]
    ) -> dict[str, Any]:
        job = await load_job(res, job_id)
        return job_detail(job, res.settings.dashboard_trace_url_template)

    @get("/{job_id:str}/presign", summary="A short-lived presigned GET URL for one of its assets")
    async def presign(
        self,
        res: NamedDependency[Resources],
        job_id: FromPath[str],
        asset_type: Annotated[
            str,
            QueryParameter(
                name="type",
                description="original|cutout|mask|background|composite|derivative|manifest",
            ),
        ],
        index: Annotated[int | None, QueryParameter(ge=0)] = None,
        variant: Annotated[int | None, QueryParameter(ge=0)] = None,
        size: FromQuery[str | None] = None,
        asset_format: Annotated[str | None, QueryParameter(name="format")] = None,
    ) -> PresignedUrl:
        job = await load_job(res, job_id)
        try:
            key = asset_key(
                job, asset_type, index=index, variant=variant, size=size, fmt=asset_format
            )
        except BadAssetRequest as err:
            raise ClientException(str(err)) from err
        except AssetNotFound as err:
            raise NotFoundException(str(err)) from err
        ttl = res.settings.dashboard_presign_ttl_s
        url = await res.blobs.presign_get(key, ttl_s=ttl)
        return PresignedUrl(url=url, key=key, expires_in=ttl, type=asset_type)

    @post(
        "/{job_id:str}/retry",
        guards=[require_operator],
        status_code=200,
        summary="Resume a FAILED job at the stage that failed",
    )
    async def retry_job(
        self,
        request: Request[Any, Any, Any],
        res: NamedDependency[Resources],
        job_id: FromPath[str],
    ) -> dict[str, Any]:
        job = await load_job(res, job_id)
        if job.status is not JobStatus.FAILED:
            raise ConflictException(
                f"job {job_id} is {job.status.value}; only FAILED jobs can be retried"
            )
        try:
            resumed = retry(job)
        except TransitionError as err:
            raise ConflictException(f"job {job_id} cannot be retried: {err}") from err
        await save_if_status(res, resumed, JobStatus.FAILED, doing="retrying")
        if resumed.status is JobStatus.IN_REVIEW:
            # a rejected job goes back to the review queue: a person takes it, no stage
            await audit.record(
                res.db, principal_of(request), "job.retry", job_id=job_id,
                details={"resumed_at": resumed.status.value, "stage": Stage.REVIEW.value,
                         "topic": None, "failed_code": job.error_code},
            )
            return job_detail(resumed, res.settings.dashboard_trace_url_template)
        topic, event = resume_message(job, resumed)
        stage = job.failed_stage or STAGE_FROM[resumed.status]
        # Without its event the job would sit in a live state forever: it is put back.
        await publish_or_503(res, job, resumed, topic, event, action="retry", undone="retried")
        await audit.record(
            res.db,
            principal_of(request),
            "job.retry",
            job_id=job_id,
            details={
                "resumed_at": resumed.status.value,
                "stage": stage.value,
                "topic": topic,
                "event_id": event.event_id,
                "failed_code": job.error_code,
            },
        )
        return job_detail(resumed, res.settings.dashboard_trace_url_template)

    @post(
        "/{job_id:str}/fail",
        guards=[require_operator],
        status_code=200,
        summary="Mark a live job FAILED with a reason",
    )
    async def fail_job(
        self,
        request: Request[Any, Any, Any],
        res: NamedDependency[Resources],
        job_id: FromPath[str],
        data: JSONBody[FailRequest],
    ) -> dict[str, Any]:
        job = await load_job(res, job_id)
        current = canonical(job.status)
        if current in TERMINAL:
            raise ConflictException(f"job {job_id} is {job.status.value} already; nothing to fail")
        principal = principal_of(request)
        reason = data.reason.strip()
        if not reason:
            raise ClientException("reason must not be blank")
        failed = fail(
            job,
            stage=STAGE_FROM[current],
            code=MANUAL_FAIL_CODE,
            message=f"failed by {principal.name}: {reason}",
        )
        await save_if_status(res, failed, job.status, doing="failing it")
        await audit.record(
            res.db,
            principal,
            "job.fail",
            job_id=job_id,
            details={"reason": reason, "was": job.status.value},
        )
        return job_detail(failed, res.settings.dashboard_trace_url_template)
