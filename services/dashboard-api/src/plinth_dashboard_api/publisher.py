"""Publishing events (retries, control commands) through the shared FastStream broker.

The broker connects on first use, not at start-up, so the dashboard stays up (and /health says
why) while Kafka is down.
"""

from __future__ import annotations

import asyncio

from faststream.kafka import KafkaBroker
from pydantic import BaseModel

from plinth.adapters.kafka import make_broker
from plinth.settings import KafkaSettings


class EventPublisher:
    def __init__(self, settings: KafkaSettings) -> None:
        self._settings = settings
        self._broker: KafkaBroker | None = None
        self._lock = asyncio.Lock()

    async def _connected(self) -> KafkaBroker:
        async with self._lock:
            if self._broker is None:
                broker = make_broker(self._settings, client_id="plinth-dashboard-api")
                await asyncio.wait_for(broker.start(), timeout=10)
                self._broker = broker
            return self._broker

    async def publish(self, topic: str, event: BaseModel, *, key: str | None = None) -> None:
        broker = await self._connected()
        try:
            await broker.publish(
                event.model_dump(mode="json"),
                topic=topic,
                key=key.encode() if key is not None else None,
            )
        except Exception:
            await self.close()  # reconnect next time rather than reuse a broken producer
            raise

    async def close(self) -> None:
        async with self._lock:
            broker, self._broker = self._broker, None
        if broker is not None:
            await broker.stop()
