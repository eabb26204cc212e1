"""The webhook delivery history (``webhook_events``): every delivery, accepted or not.

Shape (contracts.md): {_id: delivery_id, received_at, source, signature_valid, sku, image_url,
themes, job_ids, outcome, reason, status_code}; ingest adds ``download`` (the downloader's
result for deliveries whose jobs it creates) and ``line`` for batch rows.
"""

from __future__ import annotations

import uuid
from typing import Any, Literal, Protocol

from plinth.domain.job import utcnow
from plinth.metrics import webhook_deliveries

Source = Literal["webhook", "batch"]
Outcome = Literal["accepted", "duplicate", "rejected"]
MAX_TEXT = 512


class Collection(Protocol):
    async def insert_one(self, document: dict[str, Any]) -> Any: ...

    async def update_one(self, filter: dict[str, Any], update: dict[str, Any]) -> Any: ...


def new_delivery_id() -> str:
    return uuid.uuid4().hex


def _clip(value: Any) -> Any:
    """Untrusted strings (from rejected bodies) are stored, but never unbounded."""
    if isinstance(value, str):
        return value[:MAX_TEXT]
    return value


class DeliveryLog:
    def __init__(self, collection: Collection) -> None:
        self.collection = collection

    async def record(
        self,
        *,
        delivery_id: str,
        source: Source,
        signature_valid: bool,
        outcome: Outcome,
        status_code: int,
        sku: Any = None,
        image_url: Any = None,
        themes: list[str] | None = None,
        job_ids: list[str] | None = None,
        reason: str | None = None,
        **extra: Any,
    ) -> None:
        webhook_deliveries.add(1, {"outcome": outcome, "source": source})
        await self.collection.insert_one(
            {
                "_id": delivery_id,
                "received_at": utcnow(),
                "source": source,
                "signature_valid": signature_valid,
                "sku": _clip(sku) if isinstance(sku, str) else None,
                "image_url": _clip(image_url) if isinstance(image_url, str) else None,
                "themes": [_clip(t) for t in (themes or []) if isinstance(t, str)][:50],
                "job_ids": list(job_ids or []),
                "outcome": outcome,
                "reason": _clip(reason),
                "status_code": status_code,
                **extra,
            }
        )

    async def set_job_ids(self, delivery_id: str, job_ids: list[str]) -> None:
        await self.collection.update_one({"_id": delivery_id}, {"$set": {"job_ids": job_ids}})

    async def set_download(self, delivery_id: str, result: dict[str, Any]) -> None:
        await self.collection.update_one(
            {"_id": delivery_id}, {"$set": {"download": {**result, "at": utcnow()}}}
        )
