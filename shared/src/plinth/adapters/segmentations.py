"""The ``segmentations`` collection: one record per photo, ``_id`` = ``{sku}/{img_sha256}``.

It says who segments or segmented the photo, with which provider and model, where the cut-out
and mask are, what it cost and how sure the provider was, so that the jobs of one photo on
several themes call the provider once (the policy is ``plinth_segment.reuse``). This module is
store access only, with the operations both MongoDB and FerretDB 1.x have:

- a claim is an insert: the unique ``_id`` lets exactly one of several workers have it, and a
  duplicate key says someone else does;
- every later change (take over, complete, release) is conditional on the claim's ``token``
  read before, so of two workers acting on one record exactly one wins.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import DuplicateKeyError

Document = dict[str, Any]

CLAIMED: Literal["claimed"] = "claimed"
DONE: Literal["done"] = "done"


def segmentation_id(sku: str, img_sha256: str) -> str:
    return f"{sku}/{img_sha256}"


@dataclass(frozen=True)
class Identity:
    """Which provider (and model, when it has one) makes a segmentation."""

    provider: str
    model: str | None = None
    model_sha256: str | None = None

    def made(self, record: SegmentationRecord) -> bool:
        """True when ``record`` is this provider's work: the same provider, and the same model
        weights whenever this side knows its model's sha256."""
        if record.provider != self.provider:
            return False
        return self.model_sha256 is None or record.model_sha256 == self.model_sha256


class SegmentationRecord(BaseModel):
    """One photo's segmentation as stored (``id`` is stored as ``_id``)."""

    model_config = ConfigDict(extra="ignore", populate_by_name=True)

    id: str = Field(alias="_id")
    sku: str
    img_sha256: str
    status: Literal["claimed", "done"]
    token: str
    """Changes with every claim; every conditional update names the one it read."""
    claimed_by: str
    """The job that claimed it; once done, the job whose segmentation this is."""
    claimed_at: datetime
    done_at: datetime | None = None
    provider: str | None = None
    model: str | None = None
    model_sha256: str | None = None
    segment: dict[str, Any] = Field(default_factory=dict)
    """What the segmenting job put under ``provider_metadata["segment"]``."""
    confidence: float | None = None
    cutout_key: str | None = None
    mask_key: str | None = None
    cost_usd: float = 0.0


class SegmentationRepository:
    def __init__(self, collection: AsyncCollection[Document]) -> None:
        self.collection = collection

    async def ensure_indexes(self) -> None:
        """Nothing beyond ``_id``: every read and write names the record by it."""

    async def get(self, record_id: str) -> SegmentationRecord | None:
        doc = await self.collection.find_one({"_id": record_id})
        return SegmentationRecord.model_validate(doc) if doc else None

    async def claim(
        self, sku: str, img_sha256: str, job_id: str, now: datetime, identity: Identity
    ) -> SegmentationRecord | None:
        """Claim a photo nobody has a record of; None if someone has one (a duplicate key).

        ``identity`` is the provider (and model) the claimer means to use.
        """
        record = _claimed(segmentation_id(sku, img_sha256), sku, img_sha256, job_id, now,
                          identity)
        try:
            await self.collection.insert_one(record.model_dump(by_alias=True))
        except DuplicateKeyError:
            return None
        return record

    async def take_over(
        self, seen: SegmentationRecord, job_id: str, now: datetime, identity: Identity
    ) -> SegmentationRecord | None:
        """Claim a record for ``job_id`` if it is still as ``seen`` (same token): a stale or own
        claim, or a segmentation to redo. None if it changed (or went) in between."""
        record = _claimed(seen.id, seen.sku, seen.img_sha256, job_id, now, identity)
        result = await self.collection.replace_one(
            {"_id": seen.id, "token": seen.token}, record.model_dump(by_alias=True)
        )
        return record if result.matched_count == 1 else None

    async def complete(
        self,
        claim: SegmentationRecord,
        now: datetime,
        *,
        provider: str,
        model: str | None,
        model_sha256: str | None,
        segment: dict[str, Any],
        confidence: float | None,
        cutout_key: str,
        mask_key: str,
        cost_usd: float,
    ) -> bool:
        """Mark ``claim`` done with what it produced; False if the claim was taken over."""
        result = await self.collection.update_one(
            {"_id": claim.id, "token": claim.token, "status": CLAIMED},
            {"$set": {
                "status": DONE, "done_at": now, "provider": provider, "model": model,
                "model_sha256": model_sha256, "segment": segment, "confidence": confidence,
                "cutout_key": cutout_key, "mask_key": mask_key, "cost_usd": cost_usd,
            }},
        )
        return result.matched_count == 1

    async def release(self, claim: SegmentationRecord) -> bool:
        """Give a claim up (its segmentation failed) so that waiting jobs need not wait for it
        to go stale; False if it was no longer ours."""
        result = await self.collection.delete_one(
            {"_id": claim.id, "token": claim.token, "status": CLAIMED}
        )
        return result.deleted_count == 1


def _claimed(
    record_id: str, sku: str, img_sha256: str, job_id: str, now: datetime, identity: Identity
) -> SegmentationRecord:
    return SegmentationRecord(
        id=record_id, sku=sku, img_sha256=img_sha256, status=CLAIMED,
        token=uuid.uuid4().hex, claimed_by=job_id, claimed_at=now,
        provider=identity.provider, model=identity.model, model_sha256=identity.model_sha256,
    )
