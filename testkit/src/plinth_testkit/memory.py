"""In-memory stand-ins for unit tests that run a worker or a stage without the stack: a job
repository with the calls the download worker makes (``get``, ``create_or_get`` by id,
``replace_if_status`` as a compare-and-set), the webhook delivery log, and a blob store."""

from __future__ import annotations

from typing import Any

from plinth.adapters.s3 import BlobNotFound
from plinth.domain.job import Job
from plinth.domain.states import JobStatus


class MemoryJobs:
    def __init__(self) -> None:
        self.jobs: dict[str, Job] = {}

    async def get(self, job_id: str) -> Job | None:
        return self.jobs.get(job_id)

    async def create_or_get(self, job: Job) -> tuple[Job, bool]:
        if job.id in self.jobs:
            return self.jobs[job.id], False
        self.jobs[job.id] = job
        return job, True

    async def replace_if_status(self, job: Job, expected: JobStatus) -> bool:
        stored = self.jobs.get(job.id)
        if stored is None or stored.status is not expected:
            return False
        self.jobs[job.id] = job
        return True


class MemoryEvents:
    """The ``webhook_events`` collection as the delivery log uses it (insert, then ``$set``)."""

    def __init__(self) -> None:
        self.docs: dict[str, dict[str, Any]] = {}

    async def insert_one(self, document: dict[str, Any]) -> None:
        self.docs[document["_id"]] = document

    async def update_one(self, filter: dict[str, Any], update: dict[str, Any]) -> None:
        self.docs.setdefault(filter["_id"], {}).update(update["$set"])


class MemoryBlobs:
    """A blob store in a dict, with the calls stages make: ``get`` (``BlobNotFound`` like S3),
    ``put`` (counted in ``puts``), ``exists`` and ``presign_get``, whose URL is
    ``url_template`` with the key."""

    def __init__(self, objects: dict[str, bytes] | None = None, *,
                 url_template: str = "memory://{key}") -> None:
        self.objects: dict[str, bytes] = {} if objects is None else objects
        self.url_template = url_template
        self.puts = 0

    async def get(self, key: str) -> bytes:
        try:
            return self.objects[key]
        except KeyError:
            raise BlobNotFound(key) from None

    async def put(self, key: str, data: bytes, content_type: str | None = None) -> None:
        self.objects[key] = data
        self.puts += 1

    async def exists(self, key: str) -> bool:
        return key in self.objects

    async def presign_get(self, key: str, ttl_s: int | None = None) -> str:
        return self.url_template.format(key=key)
