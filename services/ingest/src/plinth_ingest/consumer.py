"""The downloader's Kafka side: the ``plinth.ingest.requested.v1`` subscriber (consumer group
``{prefix}-ingest``), pause/resume from the control topic, and the heartbeat in ``workers``.

Requests run concurrently, up to ``PLINTH_DOWNLOAD_CONCURRENCY`` at once, so a slow image server
delays only its own request, never the ones behind it on the partition. Two requests for the same
photo of the same SKU still run one after the other (the second then finds the original stored).

Offsets are committed by hand, and only up to the lowest request of the partition that is still
running (:class:`plinth.worker.offsets.CommitTracker`): a request is committed once it and every
request before it were fully handled (original stored, jobs updated, events published). If
MongoDB, S3 or Kafka fail midway, the request is tried again in place with backoff; a process
that dies meanwhile leaves it uncommitted, so it comes again. Every step is idempotent. A request
that keeps failing while every dependency answers is dead-lettered after
``PLINTH_MAX_DELIVERIES`` tries and its jobs FAILED (``redelivery_limit``); a record that is not a
valid ``IngestRequested`` goes to the dead-letter topic at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import AsyncIterator
from typing import Any, Literal

from aiokafka import TopicPartition
from faststream import AckPolicy
from faststream.kafka import KafkaBroker, KafkaMessage
from pydantic import ValidationError

from plinth.adapters.readiness import Readiness
from plinth.messaging.events import DeadLetter, IngestRequested
from plinth.messaging.topics import CONTROL, DEAD_LETTER, INGEST_REQUESTED
from plinth.settings import Settings
from plinth.worker.control import apply_command, command_for
from plinth.worker.offsets import CommitTracker
from plinth.worker.redelivery import RedeliveryGuard
from plinth.worker.service import raw_body
from plinth_ingest.download import DownloadWorker
from plinth_ingest.settings import IngestSettings

log = logging.getLogger("plinth.ingest.consumer")

RETRY_PAUSE_S = 2.0
"""First pause before a request that failed is tried again; doubled each time up to the cap."""
RETRY_PAUSE_MAX_S = 30.0
MAX_DEAD_LETTER_PAYLOAD = 64 * 1024
REDELIVERY_LIMIT = "redelivery_limit"


def consumer_group(settings: Settings) -> str:
    return f"{settings.kafka_consumer_group_prefix}-ingest"


def retry_pause_s(failures: int) -> float:
    return float(min(RETRY_PAUSE_S * 2 ** max(failures - 1, 0), RETRY_PAUSE_MAX_S))


class DownloaderBinding:
    def __init__(
        self,
        broker: KafkaBroker,
        worker: DownloadWorker,
        settings: IngestSettings,
        *,
        offset_reset: Literal["earliest", "latest"] = "earliest",
        control_scope: str | None = None,
        readiness: Readiness | None = None,
    ) -> None:
        self.broker = broker
        self.worker = worker
        self.control_scope = control_scope
        self.slots = asyncio.Semaphore(settings.download_concurrency)
        self.offsets = CommitTracker()
        self.guard = RedeliveryGuard(settings.max_deliveries, readiness)
        self.tasks: set[asyncio.Task[None]] = set()
        self._closing = False
        self._photos: dict[tuple[str, str], tuple[asyncio.Lock, int]] = {}
        group = consumer_group(settings)
        self.subscriber = broker.subscriber(
            INGEST_REQUESTED,
            group_id=group,
            ack_policy=AckPolicy.MANUAL,
            auto_offset_reset=offset_reset,
            # The handler waits for a free slot, i.e. at most about one download deadline.
            max_poll_interval_ms=int((settings.download_deadline_s + 300) * 1000),
            decoder=raw_body,
        )
        self.subscriber(self.on_request)
        self.control = broker.subscriber(
            CONTROL,
            group_id=f"{group}-control-{uuid.uuid4().hex[:12]}",
            auto_offset_reset="latest",
            decoder=raw_body,
        )
        self.control(self.on_control)

    async def on_request(self, body: bytes, message: KafkaMessage) -> None:
        """Hand the record to a task of its own and return for the next one; wait here (and so
        stop fetching) while every slot is taken."""
        raw: Any = message.raw_message
        partition, offset = (raw.topic, raw.partition), raw.offset
        if self._closing or not self.offsets.start(partition, offset):
            # Shutting down: left uncommitted, it comes again. Or redelivered after a rebalance
            # while it still runs here: that run commits it.
            return
        await self.slots.acquire()
        if self._closing:
            self.slots.release()
            return
        task = asyncio.create_task(self._run(body, raw, partition, offset))
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def close(self) -> None:
        """Stop the running requests without committing them: they come again."""
        self._closing = True
        for task in list(self.tasks):
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)

    async def _run(self, body: bytes, raw: Any, partition: tuple[str, int], offset: int) -> None:
        record = (*partition, offset)
        try:
            undecodable = ""
            try:
                request: IngestRequested | None = IngestRequested.model_validate_json(body)
            except ValidationError as exc:
                request = None
                undecodable = f"not a valid IngestRequested: {exc.errors()[:1]}"
            async with self._one_at_a_time(request):
                failures = 0
                given_up: str | None = None
                while True:
                    try:
                        if request is None:
                            await self._dead_letter(body, raw, undecodable)
                        elif given_up is not None:
                            await self._set_aside(body, raw, request, given_up)
                        else:
                            await self.worker.handle(request)
                        break
                    except Exception as exc:
                        failures += 1
                        what = request.delivery_id if request else f"{record}"
                        if given_up is None and await self.guard.failed(record):
                            given_up = (
                                f"failed {self.guard.failures(record)} times while Kafka, the "
                                f"document store and S3 answered: {type(exc).__name__}: {exc}"
                            )
                            log.error("request %s: %s; dead-lettering it", what, given_up)
                            continue
                        pause = retry_pause_s(failures)
                        log.warning(
                            "request %s could not finish (%s: %s); trying again in %.0f s",
                            what, type(exc).__name__, exc, pause, exc_info=failures == 1,
                        )  # fmt: skip
                        self.worker.stats.last_error = "infrastructure error, request retried"
                        await asyncio.sleep(pause)
            self.guard.forget(record)
            point = self.offsets.finish(partition, offset)
            if point is not None:
                await self._commit(partition, point)
        finally:
            self.slots.release()

    @contextlib.asynccontextmanager
    async def _one_at_a_time(self, request: IngestRequested | None) -> AsyncIterator[None]:
        """Requests for the same photo of the same SKU run in order, as on the partition: the
        second finds the original stored, and a job is announced once, in one trace."""
        if request is None:
            yield
            return
        key = (request.sku, str(request.image_url))
        lock, users = self._photos.get(key, (asyncio.Lock(), 0))
        self._photos[key] = (lock, users + 1)
        try:
            async with lock:
                yield
        finally:
            lock, users = self._photos[key]
            if users <= 1:
                del self._photos[key]
            else:
                self._photos[key] = (lock, users - 1)

    async def _commit(self, partition: tuple[str, int], point: int) -> None:
        consumer = getattr(self.subscriber, "consumer", None)
        if consumer is None:
            return
        try:
            await consumer.commit({TopicPartition(*partition): point})
        except Exception as exc:
            # Not ours any more (rebalanced) or Kafka unreachable: the next finished request of
            # the partition commits past it, or its new owner does the work again (idempotent).
            log.info("commit of %s:%d at %d not taken: %r", *partition, point, exc)
            return
        self.offsets.confirm(partition, point)

    async def _set_aside(
        self, body: bytes, raw: Any, request: IngestRequested, reason: str
    ) -> None:
        await self._dead_letter(body, raw, reason)
        try:
            await self.worker.give_up(request, REDELIVERY_LIMIT, reason)
        except Exception:
            # The record is dead-lettered (with the reason); failing its jobs is a courtesy.
            log.exception("request %s: could not fail its jobs", request.delivery_id)

    async def on_control(self, body: bytes, message: KafkaMessage) -> None:
        command = command_for(body, message.headers, self.worker.stage, self.control_scope)
        if command is not None:
            consumers = [getattr(self.subscriber, "consumer", None)]
            apply_command(command, self.worker.gate, consumers)

    def assignment(self) -> list[str]:
        """``topic:partition`` of every request partition this instance holds right now."""
        consumer = getattr(self.subscriber, "consumer", None)
        if consumer is None:
            return []
        return sorted(f"{tp.topic}:{tp.partition}" for tp in consumer.assignment())

    def control_ready(self) -> bool:
        consumer = getattr(self.control, "consumer", None)
        return consumer is not None and bool(consumer.assignment())

    def heartbeat_extra(self) -> dict[str, Any]:
        return {
            "assignment": self.assignment(),
            "control_ready": self.control_ready(),
            "stopped": False,
        }

    async def _dead_letter(self, body: bytes, raw: Any, reason: str) -> None:
        log.warning("dead-lettering a download request: %s", reason)
        letter = DeadLetter(
            source_topic=INGEST_REQUESTED,
            partition=getattr(raw, "partition", None),
            offset=getattr(raw, "offset", None),
            reason=reason,
            payload=body[:MAX_DEAD_LETTER_PAYLOAD].decode("utf-8", "replace"),
        )
        await self.broker.publish(
            letter.model_dump_json().encode(), DEAD_LETTER,
            key=getattr(raw, "key", None) or b"", headers={"content-type": "application/json"},
        )  # fmt: skip
        self.worker.stats.last_error = reason

