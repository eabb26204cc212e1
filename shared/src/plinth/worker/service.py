"""Wiring a worker (:class:`plinth.worker.runtime.EventWorker`: a stage, or ingest's downloader)
to Kafka (FastStream), MongoDB and S3, and running it.

Subscriptions per worker process:
- the stage's input topic and its retry topic, both in the consumer group ``{prefix}-{stage}``
  (``{prefix}-ingest`` for the downloader; instances of one stage share partitions; Kafka never
  gives one partition to two members), with manual acknowledgement: the offset is committed only
  after ``handle_record`` returned, i.e. after the work and the events it caused are durable;
- the control topic in a group unique to this instance, so every instance sees every command.

Without ``concurrency`` (the stages) a partition's records are handled one at a time, in the
subscriber. With it (the downloader: ``PLINTH_DOWNLOAD_CONCURRENCY``), up to that many records
per subscribed topic run at once in tasks of their own, so a slow one holds only itself; a
record that fails is tried again in place (pause doubling from ``NACK_PAUSE_S``), and offsets are
committed by hand up to the lowest record still running
(:class:`plinth.worker.offsets.CommitTracker`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import uuid
from collections.abc import AsyncIterator, Callable, Sequence
from datetime import datetime
from typing import Any, Literal, Protocol

from aiokafka import TopicPartition
from faststream import AckPolicy
from faststream.kafka import KafkaBroker, KafkaMessage
from faststream.message import StreamMessage

from plinth.adapters.kafka import ensure_topics, make_broker
from plinth.adapters.mongo import Database
from plinth.adapters.readiness import Readiness, kafka_probe
from plinth.adapters.s3 import BlobStore
from plinth.domain.job import utcnow
from plinth.domain.states import Stage
from plinth.messaging.events import Event
from plinth.messaging.topics import CONTROL, STAGE_INPUT, retry_topic
from plinth.metrics import exposition, setup_metrics
from plinth.settings import KafkaSettings
from plinth.telemetry import setup_tracing
from plinth.worker.control import PauseGate, apply_command, command_for
from plinth.worker.dependencies import DependencyWatch, retry_until_done, unless_stopped
from plinth.worker.health import HealthServer
from plinth.worker.heartbeat import (
    WorkersCollection,
    default_instance_id,
    heartbeat_loop,
    write_heartbeat,
)
from plinth.worker.logs import setup_logging
from plinth.worker.offsets import CommitTracker, Partition
from plinth.worker.redelivery import RedeliveryGuard
from plinth.worker.result import Step
from plinth.worker.runtime import EventPublisher, Record, StageWorker, WorkerStats
from plinth.worker.settings import WorkerSettings

log = logging.getLogger(__name__)


NACK_PAUSE_S = 2.0
"""After an infrastructure failure, wait before the record is redelivered (no hot loop)."""
NACK_PAUSE_MAX_S = 30.0
"""With ``concurrency`` > 1 a record is tried again in place, the pause doubling up to this."""
DEFAULT_MAX_DELIVERIES = 5


class Worker(Protocol):
    """What the binding needs of a worker (:class:`plinth.worker.runtime.EventWorker`)."""

    stage: Stage
    instance: str
    stats: WorkerStats
    gate: PauseGate

    async def handle_record(self, record: Record) -> None: ...

    async def give_up(self, record: Record, reason: str) -> None: ...


def nack_pause_s(failures: int) -> float:
    return float(min(NACK_PAUSE_S * 2 ** max(failures - 1, 0), NACK_PAUSE_MAX_S))


class BrokerPublisher:
    """Publishes events through FastStream (JSON body, trace context in the headers)."""

    def __init__(self, broker: KafkaBroker) -> None:
        self.broker = broker

    async def publish(self, event: Event, topic: str, key: bytes) -> None:
        await self.broker.publish(
            event.model_dump_json().encode(),
            topic,
            key=key,
            headers={"content-type": "application/json"},
        )


async def raw_body(message: StreamMessage[Any]) -> bytes:
    """Decoder that hands the handler the raw bytes: decoding is the runtime's job, so an
    undecodable body reaches the dead-letter logic instead of failing inside FastStream."""
    return bytes(message.body)


def consumer_group(settings: KafkaSettings, stage: Stage) -> str:
    # The downloader's group kept the name it had as ingest's own consumer (committed offsets).
    name = "ingest" if stage is Stage.DOWNLOAD else stage.value
    return f"{settings.kafka_consumer_group_prefix}-{name}"


def to_record(message: KafkaMessage) -> Record:
    raw = message.raw_message
    if isinstance(raw, tuple):  # batch subscribers only; ours are not
        raw = raw[0]
    return Record(
        topic=raw.topic,
        value=bytes(message.body),
        key=raw.key,
        partition=raw.partition,
        offset=raw.offset,
        headers=dict(message.headers),
    )


class KafkaStageBinding:
    """The FastStream subscribers of one worker and the pause/resume of its consumers."""

    def __init__(
        self, broker: KafkaBroker, worker: Worker, settings: WorkerSettings,
        *, offset_reset: Literal["earliest", "latest"] = "earliest",
        control_scope: str | None = None,
        max_deliveries: int = DEFAULT_MAX_DELIVERIES,
        readiness: Readiness | None = None,
        concurrency: int | None = None,
        hold_s: float = 0.0,
    ) -> None:
        if concurrency is not None and concurrency < 1:
            raise ValueError("concurrency must be at least 1")
        self.broker = broker
        self.control_scope = control_scope
        self.worker = worker
        self.guard = RedeliveryGuard(max_deliveries, readiness)
        self.concurrency = concurrency
        self.offsets = CommitTracker()
        self.tasks: set[asyncio.Task[None]] = set()
        self._closing = False
        group = consumer_group(settings, worker.stage)
        # The retry consumer may hold a record until its not_before (at most retry_max_delay_s),
        # and with concurrency a handler waits for a free slot (at most ``hold_s``, one record's
        # longest run): allow that much longer between polls before the group thinks it is dead.
        poll_interval_ms = int((max(settings.retry_max_delay_s, hold_s) + 300) * 1000)
        topics = (STAGE_INPUT[worker.stage], retry_topic(worker.stage))
        self.job_subscribers = [
            broker.subscriber(
                topic,
                group_id=group,
                ack_policy=AckPolicy.MANUAL,
                auto_offset_reset=offset_reset,
                max_poll_interval_ms=poll_interval_ms,
                decoder=raw_body,
            )
            for topic in topics
        ]
        # One pool per topic: retries waiting for their not_before never take the input's slots.
        self.slots = {topic: asyncio.Semaphore(concurrency or 1) for topic in topics}
        self._subscriber_of = dict(zip(topics, self.job_subscribers, strict=True))
        for subscriber in self.job_subscribers:
            subscriber(self.on_job_message)
        self.control_subscriber = broker.subscriber(
            CONTROL,
            group_id=f"{group}-control-{uuid.uuid4().hex[:12]}",
            auto_offset_reset="latest",
            decoder=raw_body,
        )
        self.control_subscriber(self.on_control_message)

    async def on_job_message(self, body: bytes, message: KafkaMessage) -> None:
        record = to_record(message)
        if self.concurrency is not None:
            await self._hand_off(record)
            return
        where = (record.topic, record.partition, record.offset)
        try:
            await self.worker.handle_record(record)
        except Exception as exc:
            # MongoDB/S3/Kafka unreachable while recording the outcome: do not commit; rewind
            # so this record comes again. Unless it keeps failing while they all answer: then
            # the record itself is the problem, and rewinding would block its partition forever.
            if await self.guard.failed(where):
                try:
                    await self._give_up(record, exc)
                except Exception:
                    log.exception("could not dead-letter %s[%s]@%s; it will be redelivered",
                                  *where)
                    await asyncio.sleep(NACK_PAUSE_S)
                    await message.nack()
                    return
                self.guard.forget(where)
                await message.ack()
                return
            log.exception("could not finish a record; it will be redelivered")
            self.worker.stats.last_error = "infrastructure error, record redelivered"
            await asyncio.sleep(NACK_PAUSE_S)
            await message.nack()
            return
        self.guard.forget(where)
        await message.ack()

    async def _give_up(self, record: Record, exc: Exception) -> None:
        where = (record.topic, record.partition, record.offset)
        reason = (f"failed {self.guard.failures(where)} deliveries while Kafka, the "
                  f"document store and S3 answered: {type(exc).__name__}: {exc}")
        log.error("%s[%s]@%s %s; dead-lettering it", *where, reason)
        await self.worker.give_up(record, reason)

    # ---------------------------------------------------------------- with concurrency
    async def _hand_off(self, record: Record) -> None:
        """Hand the record to a task of its own and return for the next one; wait here (and so
        stop fetching that topic) while every slot is taken."""
        assert record.partition is not None and record.offset is not None
        partition: Partition = (record.topic, record.partition)
        if self._closing or not self.offsets.start(partition, record.offset):
            # Shutting down: left uncommitted, it comes again. Or redelivered after a rebalance
            # while it still runs here: that run commits it.
            return
        slots = self.slots[record.topic]
        await slots.acquire()
        if self._closing:
            slots.release()
            return
        task = asyncio.create_task(self._run(record, partition, slots))
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def _run(self, record: Record, partition: Partition, slots: asyncio.Semaphore) -> None:
        """Handle the record, trying again in place (the partition's later records go on in
        other tasks) until it is done or set aside; then commit what may be committed."""
        assert record.offset is not None
        where = (record.topic, record.partition, record.offset)
        try:
            failures = 0
            while True:
                try:
                    await self.worker.handle_record(record)
                    break
                except Exception as exc:
                    failures += 1
                    if await self.guard.failed(where):
                        try:
                            await self._give_up(record, exc)
                            break
                        except Exception:
                            log.exception("could not dead-letter %s[%s]@%s; trying again",
                                          *where)
                    else:
                        log.warning("%s[%s]@%s could not finish (%s: %s); trying again in %.0f s",
                                    *where, type(exc).__name__, exc, nack_pause_s(failures),
                                    exc_info=failures == 1)
                        self.worker.stats.last_error = "infrastructure error, record retried"
                    await asyncio.sleep(nack_pause_s(failures))
            self.guard.forget(where)
            point = self.offsets.finish(partition, record.offset)
            if point is not None:
                await self._commit(partition, point)
        finally:
            slots.release()

    async def _commit(self, partition: Partition, point: int) -> None:
        consumer = getattr(self._subscriber_of.get(partition[0]), "consumer", None)
        if consumer is None:
            return
        try:
            await consumer.commit({TopicPartition(*partition): point})
        except Exception as exc:
            # Not ours any more (rebalanced) or Kafka unreachable: the next finished record of
            # the partition commits past it, or its new owner does the work again (idempotent).
            log.info("commit of %s:%d at %d not taken: %r", *partition, point, exc)
            return
        self.offsets.confirm(partition, point)

    async def close(self) -> None:
        """Stop the running records without committing them: they come again."""
        self._closing = True
        for task in list(self.tasks):
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)

    async def on_control_message(self, body: bytes, message: KafkaMessage) -> None:
        command = command_for(body, message.headers, self.worker.stage, self.control_scope)
        if command is not None:
            consumers = (getattr(sub, "consumer", None) for sub in self.job_subscribers)
            apply_command(command, self.worker.gate, consumers)

    def assignment(self) -> list[str]:
        """``topic:partition`` of every job partition this instance holds right now."""
        held: list[str] = []
        for subscriber in self.job_subscribers:
            consumer = getattr(subscriber, "consumer", None)
            if consumer is not None:
                held.extend(f"{tp.topic}:{tp.partition}" for tp in consumer.assignment())
        return sorted(held)

    def holds_every_topic(self) -> bool:
        """True once each job consumer (input and retry topic) holds partitions: both joined
        the group, so no rebalance for their joining is to come. A throwaway group reading from
        ``latest`` must wait for this (a rebalance re-resets a partition to its end)."""
        consumers = [getattr(sub, "consumer", None) for sub in self.job_subscribers]
        return all(consumer is not None and consumer.assignment() for consumer in consumers)

    def heartbeat_extra(self) -> dict[str, Any]:
        return {"assignment": self.assignment(), "control_ready": self.control_ready(),
                "stopped": False}

    def control_ready(self) -> bool:
        """True once the control consumer holds its partitions (commands sent now arrive)."""
        consumer = getattr(self.control_subscriber, "consumer", None)
        return consumer is not None and bool(consumer.assignment())


async def serve_stage(
    stage: Stage,
    steps: Sequence[Step],
    *,
    service_name: str,
    settings: WorkerSettings | None = None,
    stop: asyncio.Event | None = None,
) -> None:
    """Run one stage worker until ``stop`` is set (SIGTERM/SIGINT set it in ``main``)."""
    settings = settings or WorkerSettings()
    instance = settings.instance_id or default_instance_id()
    stop = stop or asyncio.Event()
    provider = setup_tracing(settings, service_name)
    db = Database.from_settings(settings)
    state = WorkerHealth()
    health: HealthServer | None = None
    try:
        async with BlobStore.from_settings(settings) as blobs:
            # Failures while a dependency is down are an outage, not the record's fault; and a
            # dependency that is down at start-up (or later) is waited for, never a reason to exit.
            readiness = Readiness({"kafka": kafka_probe(settings.kafka_bootstrap),
                                   "mongo": db.ping, "s3": blobs.ping})
            state.readiness = readiness
            if settings.health_port:
                setup_metrics(service_name)
                health = HealthServer(settings.health_host, settings.health_port,
                                      live=state.live, ready=state.ready, metrics=exposition)
                await health.start()
            watch = DependencyWatch(readiness)
            started, _ = await unless_stopped(stop, retry_until_done(
                "create the Kafka topics", lambda: ensure_topics(settings), readiness,
                journal=watch.journal))
            if not started:
                return
            broker = make_broker(settings, client_id=f"{service_name}-{instance}",
                                 tracer_provider=provider)
            publisher: EventPublisher = BrokerPublisher(broker)
            worker = StageWorker(stage=stage, steps=steps, settings=settings, jobs=db.jobs,
                                 blobs=blobs, publisher=publisher, instance=instance, db=db)
            binding = KafkaStageBinding(broker, worker, settings,
                                        offset_reset=settings.worker_offset_reset,
                                        control_scope=settings.worker_control_scope,
                                        max_deliveries=settings.max_deliveries,
                                        readiness=readiness)
            started, _ = await unless_stopped(stop, retry_until_done(
                "start the Kafka consumers", broker.start, readiness, journal=watch.journal,
                undo=broker.stop))
            if not started:
                with contextlib.suppress(Exception):
                    await broker.stop()
                return
            watch.start()
            state.subscribers = binding.job_subscribers
            log.info("%s worker %s running (group %s)", stage, instance,
                     consumer_group(settings, stage))
            async with beating(db.workers, worker, binding.heartbeat_extra):
                try:
                    await stop.wait()
                finally:
                    await watch.stop()
                    await broker.stop()
    finally:
        state.stopping = True
        if health is not None:
            await health.stop()
        await db.close()
        provider.shutdown()


@contextlib.asynccontextmanager
async def beating(
    workers: WorkersCollection, worker: Worker, extra: Callable[[], dict[str, Any]]
) -> AsyncIterator[datetime]:
    """The worker's heartbeat in ``workers`` while inside; marked ``stopped`` on the way out."""
    started_at = utcnow()
    beat = asyncio.create_task(heartbeat_loop(workers, worker, started_at, extra))
    try:
        yield started_at
    finally:
        beat.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await beat
        with contextlib.suppress(Exception):
            await write_heartbeat(workers, worker, started_at, {"stopped": True})


class WorkerHealth:
    """What ``/live`` and ``/ready`` answer (plinth.worker.health) for one stage worker."""

    def __init__(self) -> None:
        self.readiness: Readiness | None = None
        self.subscribers: list[Any] | None = None  # set once the consumers run
        self.stopping = False

    def _stopped_consumers(self) -> int:
        return sum(not getattr(sub, "running", True) for sub in self.subscribers or [])

    async def live(self) -> tuple[bool, dict[str, Any]]:
        if self.subscribers is None:
            return True, {"status": "waiting for dependencies"}
        stopped = self._stopped_consumers()
        if stopped and not self.stopping:
            return False, {"status": f"{stopped} consumer(s) stopped"}
        return True, {"status": "consuming"}

    async def ready(self) -> tuple[bool, dict[str, Any]]:
        if self.readiness is None or self.subscribers is None or self.stopping:
            return False, {"status": "starting" if not self.stopping else "stopping"}
        report = await self.readiness.report()
        consuming = self._stopped_consumers() == 0
        body = {"status": "ready" if report.ready and consuming else "not ready",
                "dependencies": report.as_dict()}
        return report.ready and consuming, body


def run_stage_service(
    stage: Stage,
    steps: Sequence[Step],
    *,
    service_name: str,
    settings: type[WorkerSettings] = WorkerSettings,
) -> None:
    """Console-script entry point body: run until SIGTERM or Ctrl-C.

    ``settings`` is the service's composition of concerns (the worker's and what its steps use,
    e.g. ``plinth_publish.settings.PublishWorkerSettings``), read from the environment here."""
    setup_logging(service_name)
    config = settings()

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        await serve_stage(stage, steps, service_name=service_name, settings=config, stop=stop)

    asyncio.run(main())
