"""Consumer-group lag per stage, read from Kafka itself: committed offsets vs end offsets.

A stage's group is the one its workers join (``plinth.worker.groups.pipeline_groups``:
``<prefix>-ingest`` for downloads, ``<prefix>-<stage>`` for the others, with the configured
``PLINTH_KAFKA_CONSUMER_GROUP_PREFIX``); a group that has never committed shows its whole backlog
as lag. Other groups on the same topics (test sessions, demo runs, another deployment sharing the
Kafka) are not this deployment's backlog and are not counted.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass, field

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from plinth.domain.states import Stage
from plinth.messaging.topics import STAGE_INPUT
from plinth.settings import KafkaSettings
from plinth.worker.groups import pipeline_groups

_TIMEOUT_MS = 5000


@dataclass
class PartitionLag:
    partition: int
    committed: int | None
    end: int
    lag: int


@dataclass
class GroupLag:
    group_id: str
    topic: str
    lag: int
    partitions: list[PartitionLag] = field(default_factory=list)


def conventional_group(settings: KafkaSettings, stage: Stage) -> str:
    """The consumer group of this deployment that reads ``stage``'s input topic."""
    topic = STAGE_INPUT[stage]
    for group, topics in pipeline_groups(settings).items():
        if topic in topics:
            return group
    return f"{settings.kafka_consumer_group_prefix}-{stage.value}"


def partition_lag(partition: int, committed: int | None, beginning: int, end: int) -> PartitionLag:
    """A group that never committed on a partition will read it from the beginning."""
    start = committed if committed is not None and committed >= 0 else beginning
    return PartitionLag(
        partition=partition,
        committed=committed if committed is not None and committed >= 0 else None,
        end=end,
        lag=max(0, end - start),
    )


class KafkaInspector:
    """Long-lived admin client and group-less consumer, opened on first use."""

    def __init__(self, settings: KafkaSettings) -> None:
        self._settings = settings
        self._admin: AIOKafkaAdminClient | None = None
        self._consumer: AIOKafkaConsumer | None = None
        self._lock = asyncio.Lock()

    async def _clients(self) -> tuple[AIOKafkaAdminClient, AIOKafkaConsumer]:
        async with self._lock:
            if self._admin is None or self._consumer is None:
                admin = AIOKafkaAdminClient(
                    bootstrap_servers=self._settings.kafka_bootstrap,
                    client_id="plinth-dashboard-admin",
                    request_timeout_ms=_TIMEOUT_MS,
                )
                consumer = AIOKafkaConsumer(
                    bootstrap_servers=self._settings.kafka_bootstrap,
                    client_id="plinth-dashboard-lag",
                    enable_auto_commit=False,
                    request_timeout_ms=_TIMEOUT_MS,
                )
                try:
                    await asyncio.wait_for(admin.start(), _TIMEOUT_MS / 1000)
                    await asyncio.wait_for(consumer.start(), _TIMEOUT_MS / 1000)
                except BaseException:
                    await _quietly_close(admin, consumer)
                    raise
                self._admin, self._consumer = admin, consumer
            return self._admin, self._consumer

    async def reset(self) -> None:
        async with self._lock:
            admin, consumer = self._admin, self._consumer
            self._admin = self._consumer = None
        await _quietly_close(admin, consumer)

    async def close(self) -> None:
        await self.reset()

    async def ping(self) -> int:
        """The number of topics the cluster reports; raises when Kafka cannot be reached."""
        try:
            admin, _ = await self._clients()
            return len(await asyncio.wait_for(admin.list_topics(), _TIMEOUT_MS / 1000))
        except Exception:
            await self.reset()
            raise

    async def lag_by_stage(self) -> dict[Stage, list[GroupLag]]:
        try:
            return await self._lag_by_stage()
        except Exception:
            await self.reset()  # a broken connection must not stick for the process lifetime
            raise

    async def _lag_by_stage(self) -> dict[Stage, list[GroupLag]]:
        admin, consumer = await self._clients()
        committed: dict[str, dict[TopicPartition, int]] = {}
        for stage in STAGE_INPUT:
            group = conventional_group(self._settings, stage)
            offsets = await admin.list_consumer_group_offsets(group)
            committed[group] = {tp: meta.offset for tp, meta in offsets.items()}

        topics = sorted(set(STAGE_INPUT.values()))
        partitions: dict[str, list[TopicPartition]] = {}
        for description in await admin.describe_topics(topics):
            if description.get("error_code", 0):
                continue  # a topic not created yet has no backlog
            name = description["topic"]
            partitions[name] = [
                TopicPartition(name, p["partition"]) for p in description["partitions"]
            ]
        every_partition = [tp for tps in partitions.values() for tp in tps]
        ends = await consumer.end_offsets(every_partition) if every_partition else {}
        beginnings = await consumer.beginning_offsets(every_partition) if every_partition else {}

        result: dict[Stage, list[GroupLag]] = {}
        for stage, topic in STAGE_INPUT.items():
            group = conventional_group(self._settings, stage)
            per_partition = [
                partition_lag(
                    tp.partition,
                    committed.get(group, {}).get(tp),
                    beginnings.get(tp, 0),
                    ends.get(tp, 0),
                )
                for tp in sorted(partitions.get(topic, []), key=lambda tp: tp.partition)
            ]
            lag = sum(p.lag for p in per_partition)
            result[stage] = [GroupLag(group, topic, lag, per_partition)]
        return result


async def _quietly_close(
    admin: AIOKafkaAdminClient | None, consumer: AIOKafkaConsumer | None
) -> None:
    for client in (consumer, admin):
        if client is None:
            continue
        # closing a half-open client may itself fail; there is nothing left to do then
        with contextlib.suppress(Exception):
            await client.close() if isinstance(client, AIOKafkaAdminClient) else await client.stop()
