"""The FastStream wiring of a worker, with FastStream's in-memory TestKafkaBroker."""

from __future__ import annotations

import asyncio

from faststream.kafka import KafkaBroker, TestKafkaBroker

from plinth.domain.job import Job
from plinth.domain.states import JobStatus, Stage
from plinth.messaging.events import ControlCommand, DeadLetter, JobEvent
from plinth.messaging.topics import CONTROL, DEAD_LETTER, JOB_BG_REMOVED, JOB_NEW
from plinth.worker import StageContext, StageResult, StageWorker, Step
from plinth.worker.control import CONTROL_SCOPE_HEADER
from plinth.worker.service import BrokerPublisher, KafkaStageBinding, consumer_group
from plinth.worker.settings import WorkerSettings

SHA = "c" * 64


async def cut(job: Job, ctx: StageContext) -> StageResult:
    return StageResult(changes={"s3_cutout_key": "c.png", "s3_mask_key": "m.png"},
                       artefacts={"c.png": b"png"})


def build(jobs, blobs):  # type: ignore[no-untyped-def]
    broker = KafkaBroker()
    worker = StageWorker(stage=Stage.SEGMENT, settings=WorkerSettings(), jobs=jobs, blobs=blobs,
                         publisher=BrokerPublisher(broker), instance="t:1",
                         steps=[Step(Stage.SEGMENT, JobStatus.NEW, JobStatus.BG_REMOVED, cut)])
    binding = KafkaStageBinding(broker, worker, WorkerSettings())
    return broker, worker, binding


async def test_job_events_flow_and_garbage_is_dead_lettered(jobs, memory_blobs) -> None:
    broker, worker, _ = build(jobs, memory_blobs)
    job = Job(sku="S", theme="default", image_url="https://x/a.jpg", img_sha256=SHA,
              s3_original_key=f"originals/S/{SHA}.jpg")
    jobs.docs[job.id] = job
    letters: list[DeadLetter] = []
    nexts: list[JobEvent] = []

    @broker.subscriber(DEAD_LETTER)
    async def on_letter(letter: DeadLetter) -> None:
        letters.append(letter)

    @broker.subscriber(JOB_BG_REMOVED)
    async def on_next(event: JobEvent) -> None:
        nexts.append(event)

    async with TestKafkaBroker(broker) as test_broker:
        # A body that is not even JSON, sent with a JSON content type: FastStream's own decoder
        # would choke on it; the runtime must dead-letter it instead.
        await test_broker.publish(b"\x00garbage", JOB_NEW,
                                  headers={"content-type": "application/json"})
        event = JobEvent(job_id=job.id, sku="S", theme="default", img_sha256=SHA,
                         status=JobStatus.NEW)
        await test_broker.publish(event.model_dump_json().encode(), JOB_NEW,
                                  key=job.id.encode())

    assert len(letters) == 1 and "not JSON" in letters[0].reason
    assert letters[0].source_topic == JOB_NEW
    assert [e.status for e in nexts] == [JobStatus.BG_REMOVED]
    assert jobs.docs[job.id].status is JobStatus.BG_REMOVED
    assert worker.stats.dead_lettered == 1 and worker.stats.processed == 1


async def test_control_commands_pause_and_resume_the_right_stage(jobs, memory_blobs) -> None:
    broker, worker, _ = build(jobs, memory_blobs)
    async with TestKafkaBroker(broker) as test_broker:
        await test_broker.publish(ControlCommand(action="pause", stage=Stage.BACKGROUND), CONTROL)
        assert not worker.gate.paused, "a command for another stage is ignored"
        await test_broker.publish(ControlCommand(action="pause", stage="all"), CONTROL)
        assert worker.gate.paused
        await test_broker.publish(ControlCommand(action="resume", stage=Stage.SEGMENT), CONTROL)
        assert not worker.gate.paused
        await asyncio.sleep(0)


def test_instances_of_a_stage_share_one_consumer_group() -> None:
    settings = WorkerSettings(kafka_consumer_group_prefix="acme")
    assert consumer_group(settings, Stage.COMPOSITE) == "acme-composite"


async def test_a_scoped_worker_obeys_only_commands_of_its_scope(jobs, memory_blobs) -> None:
    broker = KafkaBroker()
    worker = StageWorker(stage=Stage.SEGMENT, settings=WorkerSettings(), jobs=jobs,
                         blobs=memory_blobs, publisher=BrokerPublisher(broker), instance="t:1",
                         steps=[Step(Stage.SEGMENT, JobStatus.NEW, JobStatus.BG_REMOVED, cut)])
    KafkaStageBinding(broker, worker, WorkerSettings(), control_scope="run-1")
    async with TestKafkaBroker(broker) as test_broker:
        await test_broker.publish(ControlCommand(action="pause"), CONTROL)
        await test_broker.publish(ControlCommand(action="pause"), CONTROL,
                                  headers={CONTROL_SCOPE_HEADER: "run-2"})
        assert not worker.gate.paused
        await test_broker.publish(ControlCommand(action="pause"), CONTROL,
                                  headers={CONTROL_SCOPE_HEADER: "run-1"})
        assert worker.gate.paused
