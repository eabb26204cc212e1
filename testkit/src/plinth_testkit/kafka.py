"""Watching a Kafka topic from a test: what is published after the tail is entered."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any, Self

from aiokafka import AIOKafkaConsumer, TopicPartition

Message = tuple[bytes | None, dict[str, Any]]
"""A record's key and its JSON body."""


class TopicTail:
    """Reads the JSON records published to one topic after ``async with`` entered.

    No consumer group and no commits: a tail never disturbs the services under test, and
    several tails of one topic each see everything.
    """

    def __init__(self, bootstrap: str, topic: str) -> None:
        self.topic = topic
        self.consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap)
        self.seen: list[Message] = []

    async def __aenter__(self) -> Self:
        await self.consumer.start()
        partitions = self.consumer.partitions_for_topic(self.topic) or set()
        if not partitions:
            await self.consumer._client.force_metadata_update()
            partitions = self.consumer.partitions_for_topic(self.topic) or set()
        assigned = [TopicPartition(self.topic, p) for p in partitions]
        self.consumer.assign(assigned)
        await self.consumer.seek_to_end(*assigned)
        for tp in assigned:  # resolve the lazy seek now, before anything is published
            await self.consumer.position(tp)
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.consumer.stop()

    async def collect(
        self, predicate: Callable[[dict[str, Any]], bool], count: int, timeout_s: float = 45.0
    ) -> list[Message]:
        """The first ``count`` records whose body satisfies ``predicate``; AssertionError if
        fewer arrive within ``timeout_s``."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        matched = [item for item in self.seen if predicate(item[1])]
        while len(matched) < count and loop.time() < deadline:
            batches = await self.consumer.getmany(timeout_ms=300)
            for records in batches.values():
                for record in records:
                    item: Message = (record.key, json.loads(record.value))
                    self.seen.append(item)
                    if predicate(item[1]):
                        matched.append(item)
        if len(matched) < count:
            raise AssertionError(
                f"{len(matched)}/{count} matching records on {self.topic} within {timeout_s} s"
            )
        return matched[:count]

    async def wait_for(
        self, predicate: Callable[[dict[str, Any]], bool], timeout_s: float = 20.0
    ) -> Message:
        """The first record whose body satisfies ``predicate``."""
        return (await self.collect(predicate, 1, timeout_s))[0]


async def publish_once(settings: Any, topic: str, event: Any, key: str) -> None:
    """Publish one event the way the services do (FastStream, JSON body), with a broker opened
    and closed for it: for tests that hand a job to a worker."""
    from plinth.adapters.kafka import make_broker

    broker = make_broker(settings, client_id=f"test-{key[:12]}")
    await broker.start()
    try:
        await broker.publish(event, topic, key=key.encode())
    finally:
        await broker.stop()
