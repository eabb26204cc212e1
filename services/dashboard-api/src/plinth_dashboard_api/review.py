"""The review queue: jobs the manifest step held IN_REVIEW, and a person's decision on each.

- ``GET /api/review``: the held jobs, least confident first (jobs held without a confidence
  last), keyset-paginated with an opaque ``cursor``.
- ``POST /api/jobs/{id}/approve`` ``{note?}``: IN_REVIEW -> SHOPIFY_PUSH, and the job's event goes
  to ``plinth.job.shopify-push.v1``, where publish takes it as if derive had sent it.
- ``POST /api/jobs/{id}/reject`` ``{reason}``: IN_REVIEW -> FAILED (``rejected_in_review``); a
  retry (``POST /api/jobs/{id}/retry``) puts it back in the queue.
- ``POST /api/review/approve`` ``{job_ids}``: approve several, a result per id.
- ``GET /api/jobs/{id}/audit``: every audited action on the job, newest first.

Mutations need the operator role and are audited (``audit.record``: who, when, what).
"""

from __future__ import annotations

import base64
import binascii
import json
from typing import Annotated, Any

from litestar import Controller, Request, get, post
from litestar.di import NamedDependency
from litestar.exceptions import ClientException, HTTPException
from litestar.params import FromPath, JSONBody, QueryParameter
from pydantic import BaseModel, Field

from plinth.domain.job import Job
from plinth.domain.states import JobStatus
from plinth.domain.transitions import TransitionError, approve, reject
from plinth.messaging.topics import JOB_SHOPIFY_PUSH
from plinth_dashboard_api import audit
from plinth_dashboard_api.auth import Principal, principal_of, require_operator, require_viewer
from plinth_dashboard_api.errors import ConflictException
from plinth_dashboard_api.job_changes import job_event, load_job, publish_or_503, save_if_status
from plinth_dashboard_api.resources import Resources
from plinth_dashboard_api.views import job_detail

MAX_BULK = 200
CONFIDENCE = "review.confidence"


class ApproveRequest(BaseModel):
    note: str | None = Field(default=None, max_length=500)


class RejectRequest(BaseModel):
    reason: str | None = Field(default=None, max_length=500,
                               description="why the cut-out is rejected (required)")


class BulkApproveRequest(BaseModel):
    job_ids: list[str] = Field(min_length=1, max_length=MAX_BULK)
    note: str | None = Field(default=None, max_length=500)


class BulkResult(BaseModel):
    job_id: str
    ok: bool
    error: str | None = None
    status: JobStatus | None = None


class BulkApproveResponse(BaseModel):
    results: list[BulkResult]


# --- the queue's cursor: where the last page ended --------------------------------------------


def encode_cursor(job: Job) -> str:
    assert job.review is not None
    raw = json.dumps([job.review.confidence, job.id]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[float | None, str]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        confidence, job_id = json.loads(raw)
        if confidence is not None:
            confidence = float(confidence)
        if not isinstance(job_id, str) or "\x00" in job_id:
            raise ValueError("bad id")
    except (binascii.Error, ValueError, TypeError) as err:
        raise ClientException("cursor is not valid: pass next_cursor of the previous page") \
            from err
    return confidence, job_id


def queue_filters(after: tuple[float | None, str] | None) -> list[dict[str, Any]]:
    """The queries that, one after the other, list the queue from ``after`` on: the jobs held
    with a confidence (ascending, then by id), then those held without one (by id)."""
    held: dict[str, Any] = {"status": JobStatus.IN_REVIEW.value}
    scored = {**held, CONFIDENCE: {"$gte": 0}}
    unscored = {**held, CONFIDENCE: None}
    if after is None:
        return [scored, unscored]
    confidence, job_id = after
    if confidence is None:
        return [{**unscored, "_id": {"$gt": job_id}}]
    return [
        {**held, "$or": [{CONFIDENCE: {"$gt": confidence}},
                         {CONFIDENCE: confidence, "_id": {"$gt": job_id}}]},
        unscored,
    ]


async def review_page(
    res: Resources, *, limit: int, cursor: str | None
) -> tuple[list[Job], str | None]:
    after = decode_cursor(cursor) if cursor else None
    jobs: list[Job] = []
    for flt in queue_filters(after):
        wanted = limit + 1 - len(jobs)  # one more than the page: is there a next one?
        if wanted <= 0:
            break
        found = (res.db.jobs_collection.find(flt).sort([(CONFIDENCE, 1), ("_id", 1)])
                 .limit(wanted))
        jobs.extend([Job.from_document(doc) async for doc in found])
    page = jobs[:limit]
    more = len(jobs) > limit
    return page, (encode_cursor(page[-1]) if more and page else None)


def review_item(job: Job, trace_url_template: str | None) -> dict[str, Any]:
    review = job.review
    return {
        "job": job_detail(job, trace_url_template),
        "confidence": review.confidence if review else job.segment_confidence,
        "threshold": review.threshold if review else None,
        "reason": review.reason if review else None,
        "held_at": review.model_dump(mode="json")["held_at"] if review else None,
    }


# --- decisions ---------------------------------------------------------------------------------


def _must_be_held(job: Job, verb: str) -> None:
    if job.status is not JobStatus.IN_REVIEW:
        raise ConflictException(
            f"job {job.id} is {job.status.value}; only IN_REVIEW jobs can be {verb}"
        )


async def approve_job(
    res: Resources, principal: Principal, job_id: str, *, note: str | None, bulk: bool = False
) -> Job:
    """Approve one held job, hand it to publish and audit it; HTTP exceptions say why not."""
    job = await load_job(res, job_id)
    _must_be_held(job, "approved")
    note = (note or "").strip() or None
    try:
        approved = approve(job, actor=principal.name, note=note)
    except TransitionError as err:
        raise ConflictException(f"job {job_id} cannot be approved: {err}") from err
    await save_if_status(res, approved, JobStatus.IN_REVIEW, doing="approving it")
    event = job_event(approved)
    # Without its event the job would sit in SHOPIFY_PUSH forever: it goes back in the queue.
    await publish_or_503(res, job, approved, JOB_SHOPIFY_PUSH, event, action="approval",
                         undone="approved")
    review = job.review
    await audit.record(
        res.db, principal, "job.approve", job_id=job_id,
        details={"note": note, "confidence": review.confidence if review else None,
                 "threshold": review.threshold if review else None,
                 "topic": JOB_SHOPIFY_PUSH, "event_id": event.event_id, "bulk": bulk},
    )
    return approved


class ReviewController(Controller):
    path = "/api"
    tags = ("review",)
    guards = (require_viewer,)

    @get("/review", summary="The review queue: held jobs, least confident first")
    async def queue(
        self,
        res: NamedDependency[Resources],
        limit: Annotated[int, QueryParameter(ge=1, le=200)] = 50,
        cursor: Annotated[str | None, QueryParameter(
            description="next_cursor of the previous page", max_length=512)] = None,
    ) -> dict[str, Any]:
        jobs, next_cursor = await review_page(res, limit=limit, cursor=cursor)
        template = res.settings.dashboard_trace_url_template
        return {"items": [review_item(job, template) for job in jobs], "next_cursor": next_cursor}

    @post("/jobs/{job_id:str}/approve", guards=[require_operator], status_code=200,
          summary="Approve a held job: it goes on to publish")
    async def approve_one(
        self,
        request: Request[Any, Any, Any],
        res: NamedDependency[Resources],
        job_id: FromPath[str],
        data: JSONBody[ApproveRequest | None] = None,
    ) -> dict[str, Any]:
        approved = await approve_job(res, principal_of(request), job_id,
                                     note=data.note if data else None)
        return job_detail(approved, res.settings.dashboard_trace_url_template)

    @post("/jobs/{job_id:str}/reject", guards=[require_operator], status_code=200,
          summary="Reject a held job with a reason: it is FAILED (a retry re-queues it)")
    async def reject_one(
        self,
        request: Request[Any, Any, Any],
        res: NamedDependency[Resources],
        job_id: FromPath[str],
        data: JSONBody[RejectRequest],
    ) -> dict[str, Any]:
        reason = (data.reason or "").strip()
        if not reason:
            raise ClientException("reason is required: say why the cut-out is rejected")
        job = await load_job(res, job_id)
        _must_be_held(job, "rejected")
        principal = principal_of(request)
        try:
            rejected = reject(job, actor=principal.name, reason=reason)
        except TransitionError as err:
            raise ConflictException(f"job {job_id} cannot be rejected: {err}") from err
        await save_if_status(res, rejected, JobStatus.IN_REVIEW, doing="rejecting it")
        review = job.review
        await audit.record(
            res.db, principal, "job.reject", job_id=job_id,
            details={"reason": reason, "confidence": review.confidence if review else None,
                     "threshold": review.threshold if review else None},
        )
        return job_detail(rejected, res.settings.dashboard_trace_url_template)

    @post("/review/approve", guards=[require_operator], status_code=200,
          summary="Approve several held jobs; a result per id")
    async def approve_many(
        self,
        request: Request[Any, Any, Any],
        res: NamedDependency[Resources],
        data: JSONBody[BulkApproveRequest],
    ) -> BulkApproveResponse:
        principal = principal_of(request)
        results: list[BulkResult] = []
        for job_id in dict.fromkeys(data.job_ids):
            try:
                approved = await approve_job(res, principal, job_id, note=data.note, bulk=True)
            except HTTPException as err:
                results.append(BulkResult(job_id=job_id, ok=False, error=err.detail))
                continue
            results.append(BulkResult(job_id=job_id, ok=True, status=approved.status))
        return BulkApproveResponse(results=results)

    @get("/jobs/{job_id:str}/audit", summary="The job's audit trail, newest first")
    async def job_audit(
        self,
        res: NamedDependency[Resources],
        job_id: FromPath[str],
        limit: Annotated[int, QueryParameter(ge=1, le=500)] = 100,
    ) -> dict[str, Any]:
        await load_job(res, job_id)
        cursor = res.db.audit.find({"job_id": job_id}).sort("at", -1).limit(limit)
        items = []
        async for doc in cursor:
            entry = {"id": str(doc.pop("_id")), **doc}
            items.append(entry)
        return {"items": items}
