"""The job document: one product photo on one theme, as it moves through the pipeline."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from plinth.domain.states import JobStatus, Stage


def utcnow() -> datetime:
    """Now, in UTC, at millisecond precision: BSON dates hold milliseconds, so a job read back
    from the store equals the one written."""
    now = datetime.now(UTC)
    return now.replace(microsecond=now.microsecond // 1000 * 1000)


def new_job_id() -> str:
    return uuid.uuid4().hex


class StepTimings(BaseModel):
    """Milliseconds per step, taken from the OpenTelemetry span durations."""

    model_config = ConfigDict(extra="forbid")

    download_ms: int | None = None
    segmentation_ms: int | None = None
    backgrounds_ms: int | None = None
    compositing_ms: int | None = None
    derivatives_ms: int | None = None
    manifest_ms: int | None = None
    publish_ms: int | None = None


STAGE_TIMING_FIELD: dict[Stage, str] = {
    Stage.DOWNLOAD: "download_ms",
    Stage.SEGMENT: "segmentation_ms",
    Stage.BACKGROUND: "backgrounds_ms",
    Stage.COMPOSITE: "compositing_ms",
    Stage.DERIVE: "derivatives_ms",
    Stage.MANIFEST: "manifest_ms",
    Stage.PUBLISH: "publish_ms",
}


class ShopifyResult(BaseModel):
    status: Literal["published", "skipped"]
    reason: str | None = None
    product_id: str | None = None
    media_ids: list[str] = Field(default_factory=list)
    published_at: datetime | None = None


class Review(BaseModel):
    """Why a job was held before publish, and what a person decided (see ``transitions``)."""

    held_at: datetime
    confidence: float | None = Field(description="the cut-out's confidence when it was held")
    threshold: float = Field(description="the threshold it fell under (theme's, else global)")
    reason: str = Field(description="why it is held, in words")
    decision: Literal["approved", "rejected"] | None = None
    decided_by: str | None = None
    decided_at: datetime | None = None
    note: str | None = Field(default=None, description="the reviewer's reason or comment")


class MaskVersion(BaseModel):
    """One version of a photo's mask and cut-out; the first is the model's, later ones are a
    person's touch-ups (the older versions are kept in S3, never overwritten)."""

    version: int = Field(ge=1)
    s3_mask_key: str
    s3_cutout_key: str
    source: Literal["model", "touch-up", "recut"]
    created_at: datetime
    created_by: str | None = None
    note: str | None = None


class Transition(BaseModel):
    """One entry of the job's history."""

    from_status: JobStatus | None
    to_status: JobStatus
    at: datetime
    note: str | None = None


class Job(BaseModel):
    """A job document as stored in MongoDB (``id`` is stored as ``_id``)."""

    model_config = ConfigDict(extra="ignore", populate_by_name=True)

    id: str = Field(default_factory=new_job_id, alias="_id")
    sku: str
    theme: str
    image_url: str
    img_sha256: str | None = None
    delivery_id: str | None = None
    status: JobStatus = JobStatus.NEW
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)
    completed_at: datetime | None = None

    # artefacts (S3 keys, see plinth.keys)
    s3_original_key: str | None = None
    s3_cutout_key: str | None = None
    s3_mask_key: str | None = None
    s3_background_keys: list[str] = Field(default_factory=list)
    s3_composite_keys: list[str] = Field(default_factory=list)
    s3_derivative_keys: list[str] = Field(default_factory=list)
    manifest_s3_key: str | None = None
    shopify: ShopifyResult | None = None

    # failures and retries
    attempts: dict[str, int] = Field(default_factory=dict, description="per stage")
    retry_count: int = Field(default=0, description="manual retries")
    error_code: str | None = None
    error_message: str | None = None
    failed_stage: Stage | None = None
    failed_from: JobStatus | None = None

    # observability and money
    trace_id: str | None = None
    timings: StepTimings = Field(default_factory=StepTimings)
    cost_usd: float = 0.0
    cost_breakdown: dict[str, float] = Field(default_factory=dict)
    provider_metadata: dict[str, Any] = Field(default_factory=dict)
    segment_confidence: float | None = Field(
        default=None,
        description="how sure the cut-out is, 0..1 (1 = certain), as its provider said; a "
        "top-level copy of provider_metadata.segment.confidence, indexed so the least certain "
        "cut-outs can be listed first; None when the provider gives none",
    )
    history: list[Transition] = Field(default_factory=list)

    # review, touch-up, themes and media text (issue 20)
    review: Review | None = Field(default=None, description="set when the job was held")
    mask_versions: list[MaskVersion] = Field(
        default_factory=list, description="every mask this job's photo had, oldest first"
    )
    theme_version: int | None = Field(
        default=None, description="the version of the stored theme the job was accepted with"
    )
    alt_text: str | None = Field(
        default=None, description="the media's alt text when a person edited it (else the "
        "theme's template is rendered at publish)",
    )

    def to_document(self) -> dict[str, Any]:
        """The MongoDB document (``_id`` key, enums as strings, datetimes kept native)."""
        return self.model_dump(by_alias=True, mode="python")

    @classmethod
    def from_document(cls, doc: dict[str, Any]) -> Job:
        return cls.model_validate(doc)

    @property
    def processing_ms(self) -> int | None:
        if self.completed_at is None:
            return None
        return int((self.completed_at - self.created_at).total_seconds() * 1000)
