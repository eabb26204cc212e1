"""An in-memory job repository with the calls the download worker makes (``get``,
``create_or_get`` by id, ``replace_if_status`` as a compare-and-set), for unit tests that run
the worker without a document store."""

from __future__ import annotations

from typing import Any

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
