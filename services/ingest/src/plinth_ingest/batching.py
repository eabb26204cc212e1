"""Group commit for the webhook's writes: concurrent single-document inserts share round trips.

Every delivery writes one ``webhook_events`` record and, with a hash, one job per theme. Sent one
by one, each is a round trip and a transaction of its own in the document store (the local
stack's FerretDB serialises every write behind one lock). :class:`InsertBatcher` queues the
documents of concurrent requests and writes each queue with one unordered ``insert_many``: a
lone request waits for nobody (its document leaves at once), and while a round trip is in flight
the next requests' documents gather for the following one. Every caller still awaits its own
document and learns its own fate: nothing is answered before it is stored, and a duplicate is a
``DuplicateKeyError`` for that caller only.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any, Protocol

from pymongo.errors import BulkWriteError, DuplicateKeyError, WriteError

from plinth.domain.job import Job

log = logging.getLogger("plinth.ingest.batching")

Document = dict[str, Any]
DUPLICATE_KEY = 11000


class BulkCollection(Protocol):
    async def insert_many(self, documents: list[Document], *, ordered: bool) -> Any: ...

    async def update_one(self, filter: Document, update: Document) -> Any: ...


class InsertBatcher:
    """Inserts documents into one collection, several concurrent ones per round trip."""

    def __init__(self, collection: BulkCollection, *, max_batch: int = 256) -> None:
        self.collection = collection
        self.max_batch = max_batch
        self._pending: list[tuple[Document, asyncio.Future[None]]] = []
        self._flusher: asyncio.Task[None] | None = None
        self.round_trips = 0
        self.documents = 0

    async def insert_one(self, document: Document) -> None:
        """Return once ``document`` is stored; ``DuplicateKeyError`` if a unique index refused it
        (others in the same round trip are unaffected)."""
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._pending.append((document, future))
        if self._flusher is None:
            self._flusher = asyncio.create_task(self._flush())
        await future

    async def update_one(self, filter: Document, update: Document) -> Any:
        return await self.collection.update_one(filter, update)

    async def _flush(self) -> None:
        try:
            while self._pending:
                batch = self._pending[: self.max_batch]
                del self._pending[: self.max_batch]
                await self._write(batch)
        finally:
            self._flusher = None
            # Cancelled (shutdown) with documents still queued: their callers must not hang.
            leftover, self._pending = self._pending, []
            for _, future in leftover:
                if not future.done():
                    future.set_exception(RuntimeError("the insert batcher stopped"))

    async def _write(self, batch: list[tuple[Document, asyncio.Future[None]]]) -> None:
        self.round_trips += 1
        self.documents += len(batch)
        try:
            await self.collection.insert_many([doc for doc, _ in batch], ordered=False)
        except BulkWriteError as exc:
            errors = {e.get("index"): e for e in exc.details.get("writeErrors", [])}
            concern = exc.details.get("writeConcernErrors") or []
            for index, (_, future) in enumerate(batch):
                if future.done():  # its caller is gone (cancelled)
                    continue
                error = errors.get(index)
                if error is not None:
                    future.set_exception(_write_error(error))
                elif concern:
                    future.set_exception(WriteError(f"write concern: {concern[0]}", None, None))
                else:
                    future.set_result(None)
        except BaseException as exc:
            for _, future in batch:
                if not future.done():
                    future.set_exception(_copy(exc))
            if not isinstance(exc, Exception):  # cancellation and the like go on up
                raise
        else:
            for _, future in batch:
                if not future.done():
                    future.set_result(None)


def _write_error(error: Document) -> Exception:
    message = str(error.get("errmsg", "write error"))
    code = error.get("code")
    if code == DUPLICATE_KEY:
        return DuplicateKeyError(message, code, error)
    return WriteError(message, code, error)


class BatchWriteFailed(Exception):
    """The round trip that carried this caller's document failed (the cause says how); one
    instance per caller, so that no traceback collects every caller's frames."""


def _copy(exc: BaseException) -> Exception:
    failed = BatchWriteFailed(f"{type(exc).__name__}: {exc}")
    failed.__cause__ = exc
    return failed


class FindCollection(Protocol):
    def find(self, filter: Document) -> Any: ...


class ReadBatcher:
    """Reads documents by ``_id``; from ``in_from`` waiting callers on, their ids go in one
    ``$in`` query per round trip, fewer are read with one equality query each, concurrently.

    On MongoDB either is an index lookup. The local stack's FerretDB 1.24 on SQLite scans the
    collection for every read, even by ``_id`` (its ``_id`` index is on ``json->"_id"``, the
    pushed-down filter compares ``json->'$._id'``, so SQLite never uses the index): an
    equality scan runs inside SQLite (~20 us a job), a ``$in`` is filtered document by
    document in FerretDB (~150 us a job): one ``$in`` costs about as much as eight equality
    scans, so it is used only from ``in_from`` (16) waiting ids on, where it clearly wins."""

    def __init__(
        self, collection: FindCollection, *, max_batch: int = 256, in_from: int = 16
    ) -> None:
        self.collection = collection
        self.max_batch = max_batch
        self.in_from = in_from
        self._pending: list[tuple[str, asyncio.Future[Document | None]]] = []
        self._flusher: asyncio.Task[None] | None = None
        self.round_trips = 0

    async def get(self, document_id: str) -> Document | None:
        future: asyncio.Future[Document | None] = asyncio.get_running_loop().create_future()
        self._pending.append((document_id, future))
        if self._flusher is None:
            self._flusher = asyncio.create_task(self._flush())
        return await future

    async def _flush(self) -> None:
        try:
            while self._pending:
                batch = self._pending[: self.max_batch]
                del self._pending[: self.max_batch]
                await self._read(batch)
        finally:
            self._flusher = None
            leftover, self._pending = self._pending, []
            for _, future in leftover:
                if not future.done():
                    future.set_exception(RuntimeError("the read batcher stopped"))

    async def _read(self, batch: list[tuple[str, asyncio.Future[Document | None]]]) -> None:
        self.round_trips += 1
        ids = sorted({document_id for document_id, _ in batch})
        try:
            if len(ids) >= self.in_from:
                found = await self._find({"_id": {"$in": ids}})
            else:
                found = {}
                for part in await asyncio.gather(*(self._find({"_id": i}) for i in ids)):
                    found.update(part)
        except BaseException as exc:
            for _, future in batch:
                if not future.done():
                    future.set_exception(_copy(exc))
            if not isinstance(exc, Exception):
                raise
            return
        for document_id, future in batch:
            if not future.done():
                future.set_result(found.get(document_id))


    async def _find(self, query: Document) -> dict[Any, Document]:
        return {doc["_id"]: doc async for doc in self.collection.find(query)}


class JobRepositoryLike(Protocol):
    async def get(self, job_id: str) -> Job | None: ...

    async def find_identity(self, sku: str, img_sha256: str, theme: str) -> Job | None: ...


class BatchedJobs:
    """The intake's job store: creations through an :class:`InsertBatcher` and reads by ``_id``
    through a :class:`ReadBatcher` on the jobs collection (the unique index still decides
    races)."""

    def __init__(
        self, repository: JobRepositoryLike, inserts: InsertBatcher, reads: ReadBatcher
    ) -> None:
        self.repository = repository
        self.inserts = inserts
        self.reads = reads

    async def get(self, job_id: str) -> Job | None:
        doc = await self.reads.get(job_id)
        return Job.from_document(doc) if doc else None

    async def create_or_get(self, job: Job) -> tuple[Job, bool]:
        if job.img_sha256 is None:
            raise ValueError("a job is stored only once its img_sha256 is known")
        try:
            await self.inserts.insert_one(job.to_document())
        except DuplicateKeyError:
            # Ids derive from the identity, so the holder is found by _id; a job stored under
            # another id (before ids were derived) is found by its identity.
            existing = await self.get(job.id) or await self.repository.find_identity(
                job.sku, job.img_sha256, job.theme
            )
            if existing is None:  # pragma: no cover - the duplicate vanished in between
                raise
            return existing, False
        return job, True
