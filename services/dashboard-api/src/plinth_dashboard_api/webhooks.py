"""``/api/webhooks/events``: the webhook delivery history written by ingest."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from litestar import Controller, get
from litestar.di import NamedDependency
from litestar.params import FromQuery, QueryParameter
from pydantic import BaseModel, ConfigDict

from plinth.adapters.mongo import count_matching
from plinth_dashboard_api.auth import require_viewer
from plinth_dashboard_api.job_query import MAX_PAGE
from plinth_dashboard_api.jobs import reject_nul
from plinth_dashboard_api.resources import Resources


class WebhookEvent(BaseModel):
    model_config = ConfigDict(extra="allow")

    id: str
    received_at: datetime | None = None
    source: str | None = None
    signature_valid: bool | None = None
    sku: str | None = None
    image_url: str | None = None
    themes: list[str] = []
    job_ids: list[str] = []
    outcome: str | None = None
    reason: str | None = None
    status_code: int | None = None


class WebhookPage(BaseModel):
    items: list[WebhookEvent]
    total: int
    total_exact: bool = True
    """false: at least ``total`` deliveries match (the count was capped, as for jobs)"""
    page: int
    page_size: int


class WebhooksController(Controller):
    path = "/api/webhooks"
    tags = ("webhooks",)
    guards = (require_viewer,)

    @get("/events", summary="Webhook deliveries, newest first")
    async def events(
        self,
        res: NamedDependency[Resources],
        outcome: Annotated[
            str | None, QueryParameter(description="accepted|duplicate|rejected")
        ] = None,
        sku: FromQuery[str | None] = None,
        page: Annotated[int, QueryParameter(ge=1, le=MAX_PAGE)] = 1,
        page_size: Annotated[int, QueryParameter(ge=1, le=200)] = 50,
    ) -> WebhookPage:
        reject_nul(outcome=outcome, sku=sku)
        flt: dict[str, Any] = {}
        if outcome:
            flt["outcome"] = outcome
        if sku:
            flt["sku"] = sku
        collection = res.db.webhook_events
        cursor = (
            collection.find(flt)
            .sort([("received_at", -1), ("_id", -1)])
            .skip((page - 1) * page_size)
            .limit(page_size)
        )
        items = [
            WebhookEvent.model_validate({**doc, "id": str(doc.pop("_id"))}) async for doc in cursor
        ]
        cap = max(res.settings.dashboard_count_cap, page * page_size + 1)
        total = await count_matching(collection, flt, limit=cap)
        return WebhookPage(
            items=items, total=total, total_exact=total < cap, page=page, page_size=page_size
        )
