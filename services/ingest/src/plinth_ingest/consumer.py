"""The downloader's Kafka side: the ``plinth.ingest.requested.v1`` subscriber (consumer group
``{prefix}-ingest``), pause/resume from the control topic, and the heartbeat in ``workers``.

Offsets are committed by hand, after the request was fully handled (original stored, jobs
updated, events published). If MongoDB, S3 or Kafka fail midway the record is not committed but
rewound, so it comes again; every step is idempotent. A record that is not a valid
``IngestRequested`` goes to the dead-letter topic with the reason.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from typing import Any, Literal

from faststream import AckPolicy
from faststream.kafka import KafkaBroker, KafkaMessage
from pydantic import ValidationError

from plinth.messaging.events import DeadLetter, IngestRequested
from plinth.messaging.topics import CONTROL, DEAD_LETTER, INGEST_REQUESTED
from plinth.settings import Settings
from plinth.worker.control import apply_command, command_for
from plinth.worker.service import raw_body
from plinth_ingest.download import DownloadWorker

log = logging.getLogger("plinth.ingest.consumer")

NACK_PAUSE_S = 2.0
MAX_DEAD_LETTER_PAYLOAD = 64 * 1024


def consumer_group(settings: Settings) -> str:
    return f"{settings.kafka_consumer_group_prefix}-ingest"


class DownloaderBinding:
    def __init__(
        self,
        broker: KafkaBroker,
        worker: DownloadWorker,
        settings: Settings,
        *,
        offset_reset: Literal["earliest", "latest"] = "earliest",
        control_scope: str | None = None,
    ) -> None:
        self.broker = broker
        self.worker = worker
        self.control_scope = control_scope
        group = consumer_group(settings)
        # Retries with backoff happen inside one handler call: allow for them between polls.
        retry_budget_s = settings.max_attempts * (
            settings.retry_max_delay_s + settings.download_timeout_s
        )
        self.subscriber = broker.subscriber(
            INGEST_REQUESTED,
            group_id=group,
            ack_policy=AckPolicy.MANUAL,
            auto_offset_reset=offset_reset,
            max_poll_interval_ms=int((retry_budget_s + 300) * 1000),
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
        try:
            request = IngestRequested.model_validate_json(body)
        except ValidationError as exc:
            await self._dead_letter(
                body, message, f"not a valid IngestRequested: {exc.errors()[:1]}"
            )
            await message.ack()
            return
        try:
            await self.worker.handle(request)
        except Exception:
            log.exception(
                "delivery %s: could not finish; it will be redelivered", request.delivery_id
            )
            self.worker.stats.last_error = "infrastructure error, request redelivered"
            await asyncio.sleep(NACK_PAUSE_S)
            await message.nack()
            return
        await message.ack()

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

    async def _dead_letter(self, body: bytes, message: KafkaMessage, reason: str) -> None:
        raw: Any = message.raw_message
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

