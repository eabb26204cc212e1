"""The ``mask_versions`` collection: one record per touched-up mask version of a photo.

``_id`` is ``{sku}/{img_sha256}/v{N}``. The dashboard's touch-up claims version ``N`` with an
insert (the unique ``_id`` lets one of two people saving at once have it, so no S3 key is ever
written twice), stores the mask and cut-out, reworks the photo's jobs and marks the record
saved. The segment service gives a job of the photo that comes later (a theme added after the
touch-up) the latest saved version, so every theme of a photo shows the person's mask.

Version 1 (the segmentation's) has no record here: it lives in ``segmentations``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from pymongo import DESCENDING
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import DuplicateKeyError

from plinth.domain.job import MaskVersion

if TYPE_CHECKING:
    from plinth.adapters.mongo import Database

Document = dict[str, Any]
COLLECTION = "mask_versions"


def record_id(sku: str, img_sha256: str, version: int) -> str:
    return f"{sku}/{img_sha256}/v{version}"


class MaskVersionRecord(BaseModel):
    """A touched-up mask version of one photo, as stored."""

    model_config = ConfigDict(extra="ignore", populate_by_name=True)

    id: str = Field(alias="_id")
    sku: str
    img_sha256: str
    version: MaskVersion
    method: Literal["paint", "grabcut", "learned"] | None = None
    base_version: int | None = None
    job_id: str | None = Field(default=None, description="the job the person worked on")
    saved: bool = False
    """True once the files are stored and the photo's jobs reworked with it."""
    jobs: list[str] = Field(default_factory=list, description="the jobs reworked with it")


class MaskVersionRecords:
    def __init__(self, collection: AsyncCollection[Document]) -> None:
        self.collection = collection

    @classmethod
    def of(cls, db: Database) -> MaskVersionRecords:
        return cls(db.db[COLLECTION])

    async def latest_number(self, sku: str, img_sha256: str) -> int:
        """The highest version claimed for the photo (saved or not); 0 when none is."""
        doc = await self.collection.find_one(
            {"sku": sku, "img_sha256": img_sha256}, sort=[("version.version", DESCENDING)])
        return int(doc["version"]["version"]) if doc else 0

    async def claim(self, sku: str, img_sha256: str, version: MaskVersion, *,
                    method: str | None = None, base_version: int | None = None,
                    job_id: str | None = None) -> bool:
        """Claim ``version.version`` for the photo; False when it is someone else's already."""
        record = MaskVersionRecord.model_validate({
            "_id": record_id(sku, img_sha256, version.version), "sku": sku,
            "img_sha256": img_sha256, "version": version, "method": method,
            "base_version": base_version, "job_id": job_id})
        try:
            await self.collection.insert_one(record.model_dump(by_alias=True, mode="python"))
        except DuplicateKeyError:
            return False
        return True

    async def mark_saved(self, sku: str, img_sha256: str, version: int,
                         jobs: list[str]) -> None:
        await self.collection.update_one({"_id": record_id(sku, img_sha256, version)},
                                          {"$set": {"saved": True, "jobs": jobs}})

    async def latest_saved(self, sku: str, img_sha256: str) -> MaskVersion | None:
        """The photo's newest saved touch-up, or None when a person never touched it up."""
        doc = await self.collection.find_one(
            {"sku": sku, "img_sha256": img_sha256, "saved": True},
            sort=[("version.version", DESCENDING)])
        return MaskVersionRecord.model_validate(doc).version if doc else None
