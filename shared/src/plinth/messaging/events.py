"""Event models, versioned with ``schema_version``; a consumer refuses versions it doesn't know
(the message goes to the dead-letter topic with the reason) rather than guessing."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, HttpUrl

from plinth.domain.job import utcnow
from plinth.domain.states import JobStatus, Stage


def new_event_id() -> str:
    return uuid.uuid4().hex


class Event(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    schema_version: Literal[1] = 1
    event_id: str = Field(default_factory=new_event_id)
    occurred_at: datetime = Field(default_factory=utcnow)


class IngestRequested(Event):
    """A webhook delivery (or a batch row) asks for one image on one or more themes."""

    delivery_id: str
    sku: str
    image_url: HttpUrl
    img_sha256: str | None = None
    themes: list[str] = Field(min_length=1)
    job_ids: list[str] = Field(
        default_factory=list, description="jobs already created at the webhook (sha256 known)"
    )
    attempt: int = Field(default=1, ge=1, description="attempt of the download")
    not_before: datetime | None = Field(
        default=None, description="plinth.retry.download.v1: do not download before this instant"
    )


class JobEvent(Event):
    """A job reached ``status``; the stage that consumes this topic takes it from there."""

    job_id: str
    sku: str
    theme: str
    img_sha256: str | None = None
    status: JobStatus
    attempt: int = Field(default=1, ge=1, description="attempt of the consuming stage")
    not_before: datetime | None = Field(
        default=None, description="retry topics: do not process before this instant"
    )


class JobFailed(Event):
    job_id: str
    stage: Stage
    error_code: str
    error_message: str


class ControlCommand(Event):
    """Pause or resume stage workers: one stage, or all of them."""

    action: Literal["pause", "resume"]
    stage: Stage | Literal["all"] = "all"
    issued_by: str = "unknown"


class DeadLetter(Event):
    source_topic: str
    partition: int | None = None
    offset: int | None = None
    reason: str
    payload: str = Field(description="the raw message body, decoded as UTF-8 with replacement")
    headers: dict[str, Any] = Field(default_factory=dict)
