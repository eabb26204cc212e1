"""Bounded redelivery (a poison record is dead-lettered, an outage is waited out) and commit
points of partitions whose records finish out of order."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest

from plinth.adapters.readiness import Readiness
from plinth.domain.job import Job
from plinth.domain.states import JobStatus, Stage
from plinth.messaging.events import DeadLetter, JobEvent, JobFailed
from plinth.messaging.topics import DEAD_LETTER, JOB_FAILED, JOB_NEW
from plinth.worker import StageContext, StageResult, StageWorker, Step
from plinth.worker import service as service_module
from plinth.worker.offsets import CommitTracker
from plinth.worker.redelivery import RedeliveryGuard
from plinth.worker.service import KafkaStageBinding
from plinth.worker.settings import WorkerSettings

SHA = "c" * 64


def switchable() -> tuple[Readiness, dict[str, bool]]:
    state = {"up": True}

    async def probe() -> None:
        if not state["up"]:
            raise ConnectionError("down")

    return Readiness({"mongo": probe}, cache_s=0), state


async def test_failures_count_only_while_the_dependencies_answer() -> None:
    readiness, state = switchable()
    guard = RedeliveryGuard(3, readiness)
    record = ("t", 0, 7)
    state["up"] = False
    for _ in range(10):  # an outage: any number of failures, none counted
        assert not await guard.failed(record)
    assert guard.failures(record) == 0
    state["up"] = True
    assert not await guard.failed(record)
    assert not await guard.failed(record)
    assert await guard.failed(record)  # the third failure with everything up
    guard.forget(record)
    assert guard.failures(record) == 0


def test_a_guard_needs_at_least_one_delivery() -> None:
    with pytest.raises(ValueError):
        RedeliveryGuard(0)


def test_commit_point_is_the_lowest_record_still_running() -> None:
    tracker = CommitTracker()
    part = ("plinth.ingest.requested.v1", 2)
    for offset in (10, 11, 12):
        assert tracker.start(part, offset)
    assert not tracker.start(part, 11)  # already running: not twice
    assert tracker.finish(part, 12) is None  # 10 still runs: nothing past it
    assert tracker.finish(part, 11) is None  # still 10
    assert tracker.finish(part, 10) == 13  # everything done
    tracker.confirm(part, 13)
    assert tracker.running() == 0
    # A commit that was not confirmed is offered again with the next finished record.
    tracker.start(part, 13)
    tracker.start(part, 14)
    assert tracker.finish(part, 13) == 14
    assert tracker.finish(part, 14) == 15
    # A redelivery of something already committed (after a rebalance) commits nothing earlier.
    tracker.confirm(part, 15)
    tracker.start(part, 12)
    assert tracker.finish(part, 12) is None


# --- the stage runtime: a record that keeps failing while everything answers ---------------


@dataclass
class Publisher:
    sent: list[tuple[str, Any]] = field(default_factory=list)

    async def publish(self, event: Any, topic: str, key: bytes) -> None:
        self.sent.append((topic, event))


class BrokenJobs:
    """A job store whose update of one job always fails (a bug, a document the store refuses)."""

    def __init__(self, job: Job) -> None:
        self.job = job
        self.updates = 0

    async def get(self, job_id: str) -> Job | None:
        return self.job if job_id == self.job.id else None

    async def replace_if_status(self, job: Job, expected: JobStatus) -> bool:
        self.updates += 1
        raise RuntimeError("document refused")


class Message:
    def __init__(self, value: bytes) -> None:
        self.raw_message = type("R", (), {"topic": JOB_NEW, "partition": 1, "offset": 41,
                                          "key": b"k"})()  # fmt: skip
        self.body = value
        self.headers: dict[str, Any] = {}
        self.acked = self.nacked = 0

    async def ack(self) -> None:
        self.acked += 1

    async def nack(self) -> None:
        self.nacked += 1


async def cut(job: Job, ctx: StageContext) -> StageResult:
    return StageResult(changes={"s3_cutout_key": "c.png", "s3_mask_key": "m.png"})


async def test_a_poison_record_is_dead_lettered_after_max_deliveries(
    monkeypatch: pytest.MonkeyPatch, memory_blobs: Any
) -> None:
    monkeypatch.setattr(service_module, "NACK_PAUSE_S", 0)
    job = Job(sku="S", theme="default", image_url="https://x/a.jpg", img_sha256=SHA,
              s3_original_key=f"originals/S/{SHA}.jpg")  # fmt: skip
    jobs, publisher = BrokenJobs(job), Publisher()
    worker = StageWorker(stage=Stage.SEGMENT, settings=WorkerSettings(), jobs=jobs,
                         blobs=memory_blobs, publisher=publisher, instance="t:1",
                         steps=[Step(Stage.SEGMENT, JobStatus.NEW, JobStatus.BG_REMOVED, cut)])
    from faststream.kafka import KafkaBroker

    readiness, _ = switchable()
    binding = KafkaStageBinding(KafkaBroker(), worker, WorkerSettings(), max_deliveries=3,
                                readiness=readiness)
    event = JobEvent(job_id=job.id, sku="S", theme="default", img_sha256=SHA,
                     status=JobStatus.NEW)
    message = Message(event.model_dump_json().encode())
    for _ in range(3):
        await binding.on_job_message(message.body, message)  # type: ignore[arg-type]
    assert (message.nacked, message.acked) == (2, 1)  # rewound twice, then set aside
    letters = [e for topic, e in publisher.sent if topic == DEAD_LETTER]
    assert len(letters) == 1 and isinstance(letters[0], DeadLetter)
    assert "failed 3 deliveries" in letters[0].reason and "document refused" in letters[0].reason
    assert (letters[0].partition, letters[0].offset) == (1, 41)
    assert worker.stats.dead_lettered == 1
    # Failing the job hit the same broken store: best effort, logged, the record still moved on.
    assert not [e for topic, e in publisher.sent if topic == JOB_FAILED]


async def test_a_dead_lettered_record_fails_its_job_when_the_store_allows(
    jobs: Any, memory_blobs: Any
) -> None:
    job = Job(sku="S", theme="default", image_url="https://x/a.jpg", img_sha256=SHA,
              status=JobStatus.BG_REMOVED)  # fmt: skip
    jobs.docs[job.id] = job
    publisher = Publisher()
    worker = StageWorker(stage=Stage.BACKGROUND, settings=WorkerSettings(), jobs=jobs,
                         blobs=memory_blobs, publisher=publisher, instance="t:1",
                         steps=[Step(Stage.BACKGROUND, JobStatus.BG_REMOVED,
                                     JobStatus.BACKGROUND_READY, cut)])  # fmt: skip
    from plinth.worker.runtime import Record

    event = JobEvent(job_id=job.id, sku="S", theme="default", img_sha256=SHA,
                     status=JobStatus.BG_REMOVED)
    await worker.give_up(Record(topic="t", value=event.model_dump_json().encode()), "why")
    stored = jobs.docs[job.id]
    assert (stored.status, stored.error_code, stored.failed_stage) == (
        JobStatus.FAILED, "redelivery_limit", Stage.BACKGROUND,
    )  # fmt: skip
    assert [type(e) for _, e in publisher.sent] == [DeadLetter, JobFailed]
