"""JSON shapes the API returns, built from stored documents."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field

from plinth.domain.job import Job
from plinth.domain.states import JobStatus, Stage

# Only these fields travel for a list row: a smaller projection is a faster list.
SUMMARY_FIELDS = (
    "_id",
    "sku",
    "theme",
    "status",
    "created_at",
    "updated_at",
    "completed_at",
    "cost_usd",
    "retry_count",
    "error_code",
    "failed_stage",
    "segment_confidence",
)


class JobSummary(BaseModel):
    id: str
    sku: str
    theme: str
    status: JobStatus
    created_at: datetime
    updated_at: datetime | None = None
    completed_at: datetime | None = None
    cost_usd: float = 0.0
    retry_count: int = 0
    error_code: str | None = None
    failed_stage: Stage | None = None
    segment_confidence: float | None = None

    @classmethod
    def from_document(cls, doc: dict[str, Any]) -> JobSummary:
        return cls.model_validate({**doc, "id": doc["_id"]})


class JobPage(BaseModel):
    items: list[JobSummary]
    total: int
    total_exact: bool = Field(
        default=True, description="false: at least ``total`` jobs match (the count was capped)"
    )
    page: int
    page_size: int
    pages: int


def job_detail(job: Job, trace_url_template: str | None) -> dict[str, Any]:
    """Every field of the job (``id`` rather than ``_id``) plus what the UI derives from it.

    Without a trace viewer configured, ``trace_url`` and ``trace_url_template`` are null and the
    UI shows no link."""
    body = job.model_dump(mode="json")
    body["processing_ms"] = job.processing_ms
    template = (trace_url_template or "").strip() or None
    body["trace_url_template"] = template
    body["trace_url"] = (
        template.replace("{trace_id}", job.trace_id) if template and job.trace_id else None
    )
    return body
