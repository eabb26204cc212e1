"""The job repository and the other collections, on PyMongo's native async client.

Only features that both MongoDB and FerretDB 1.x support are used (see deploy/local/README.md):
plain CRUD, compound and unique indexes, ``find_one_and_update``/``replace_one`` with a filter,
``$set``/``$inc``, the ``count`` command.
"""

from __future__ import annotations

from typing import Any

from pymongo import ASCENDING, DESCENDING, AsyncMongoClient
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import DuplicateKeyError

from plinth.adapters.segmentations import SegmentationRepository
from plinth.domain.job import Job
from plinth.domain.states import JobStatus
from plinth.settings import MongoSettings

Document = dict[str, Any]


async def count_matching(
    collection: AsyncCollection[Document], flt: Document, *, limit: int | None = None
) -> int:
    """How many documents match ``flt`` (at most ``limit``), in one ``count`` command.

    Not ``count_documents``: that runs an aggregation, which FerretDB 1.24 evaluates document by
    document, while the local stack's FerretDB answers ``count`` with one SQL ``count(*)`` on
    its indexes when the filter is on indexed fields (deploy/local/ferretdb/plinth_pushdown.go);
    MongoDB answers both from its indexes. Either way an exact count visits every match, so a
    count shown on every page view should be capped with ``limit``."""
    options: Document = {"limit": limit} if limit else {}
    reply = await collection.database.command("count", collection.name, query=flt, **options)
    return int(reply["n"])


class DuplicateJob(Exception):
    """A job with the same (sku, img_sha256, theme) exists already."""

    def __init__(self, existing_id: str) -> None:
        super().__init__(f"job already exists: {existing_id}")
        self.existing_id = existing_id


class JobRepository:
    def __init__(self, collection: AsyncCollection[Document]) -> None:
        self.collection = collection

    async def ensure_indexes(self) -> None:
        await self.collection.create_index(
            [("sku", ASCENDING), ("img_sha256", ASCENDING), ("theme", ASCENDING)],
            unique=True,
            name="job_identity",
        )
        await self.collection.create_index(
            [("status", ASCENDING), ("created_at", DESCENDING)], name="status_created"
        )
        await self.collection.create_index([("created_at", DESCENDING)], name="created")

    async def insert(self, job: Job) -> Job:
        """Insert a new job; raise :class:`DuplicateJob` if its identity is taken."""
        if job.img_sha256 is None:
            # The unique index treats a missing hash as a value: two hash-less jobs of one SKU and
            # theme would collide. Jobs are created once the image hash is known.
            raise ValueError("a job is stored only once its img_sha256 is known")
        try:
            await self.collection.insert_one(job.to_document())
        except DuplicateKeyError as err:
            existing = await self.find_identity(job.sku, job.img_sha256, job.theme)
            if existing is None:  # pragma: no cover - the duplicate vanished in between
                raise
            raise DuplicateJob(existing.id) from err
        return job

    async def create_or_get(self, job: Job) -> tuple[Job, bool]:
        """The stored job with this identity, creating it from ``job`` if there is none."""
        try:
            return await self.insert(job), True
        except DuplicateJob as dup:
            existing = await self.get(dup.existing_id)
            assert existing is not None
            return existing, False

    async def get(self, job_id: str) -> Job | None:
        doc = await self.collection.find_one({"_id": job_id})
        return Job.from_document(doc) if doc else None

    async def find_identity(self, sku: str, img_sha256: str, theme: str) -> Job | None:
        doc = await self.collection.find_one(
            {"sku": sku, "img_sha256": img_sha256, "theme": theme}
        )
        return Job.from_document(doc) if doc else None

    async def replace_if_status(self, job: Job, expected: JobStatus) -> bool:
        """Store ``job`` only if the stored copy is still in ``expected``: a conditional update,
        so of two workers racing on one job exactly one wins."""
        result = await self.collection.replace_one(
            {"_id": job.id, "status": expected.value}, job.to_document()
        )
        return result.matched_count == 1


class Database:
    """One ``AsyncMongoClient`` and the collections Plinth uses."""

    def __init__(self, uri: str, name: str) -> None:
        # tz_aware: datetimes come back as UTC-aware, like the ones the domain creates.
        self.client: AsyncMongoClient[Document] = AsyncMongoClient(
            uri, tz_aware=True, serverSelectionTimeoutMS=5000
        )
        self.db = self.client[name]
        self.jobs_collection: AsyncCollection[Document] = self.db["jobs"]
        self.webhook_events: AsyncCollection[Document] = self.db["webhook_events"]
        self.workers: AsyncCollection[Document] = self.db["workers"]
        self.audit: AsyncCollection[Document] = self.db["audit"]
        self.jobs = JobRepository(self.jobs_collection)
        self.segmentations = SegmentationRepository(self.db["segmentations"])

    @classmethod
    def from_settings(cls, settings: MongoSettings) -> Database:
        return cls(settings.mongo_uri, settings.mongo_db)

    async def ensure_indexes(self) -> None:
        await self.jobs.ensure_indexes()
        await self.webhook_events.create_index([("received_at", DESCENDING)], name="received")
        await self.workers.create_index([("stage", ASCENDING)], name="stage")
        await self.audit.create_index([("at", DESCENDING)], name="at")
        await self.segmentations.ensure_indexes()

    async def ping(self) -> None:
        await self.client.admin.command("ping")

    async def close(self) -> None:
        await self.client.close()
