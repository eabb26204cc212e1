"""Placing brand-new consumer groups at the end of their topics, before any member starts.

A deployment's groups start at ``earliest`` (nothing published before the first start is lost).
A throwaway run (the end-to-end test, the demo) on a Kafka shared with other runs must neither
replay what those left on the topics nor rely on ``latest``: with ``latest`` and no committed
offset, a rebalance re-resets a partition to its end and can skip a record published in between.
Committing the end offsets for the run's groups first gives both: no replay, no race, and the
workers keep the production setting.
"""

from __future__ import annotations

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from plinth.domain.states import Stage
from plinth.messaging.topics import INGEST_REQUESTED, STAGE_INPUT, retry_topic
from plinth.settings import KafkaSettings


def pipeline_groups(settings: KafkaSettings) -> dict[str, list[str]]:
    """Every consumer group of the pipeline (ingest's downloader and the stage workers) and the
    topics each consumes."""
    prefix = settings.kafka_consumer_group_prefix
    groups = {f"{prefix}-ingest": [INGEST_REQUESTED, retry_topic(Stage.DOWNLOAD)]}
    for stage, topic in STAGE_INPUT.items():
        if stage is not Stage.DOWNLOAD:
            groups[f"{prefix}-{stage.value}"] = [topic, retry_topic(stage)]
    return groups


async def start_groups_at_end(settings: KafkaSettings, groups: dict[str, list[str]]) -> None:
    """Commit, for each group, the current end offset of every partition of its topics."""
    producer = AIOKafkaProducer(bootstrap_servers=settings.kafka_bootstrap)
    await producer.start()
    try:
        partitions = {
            topic: [TopicPartition(topic, p) for p in sorted(await producer.partitions_for(topic))]
            for topic in {t for topics in groups.values() for t in topics}
        }
    finally:
        await producer.stop()
    for group, topics in groups.items():
        consumer = AIOKafkaConsumer(bootstrap_servers=settings.kafka_bootstrap, group_id=group,
                                    enable_auto_commit=False)
        await consumer.start()
        try:
            held = [tp for topic in topics for tp in partitions[topic]]
            consumer.assign(held)
            ends = await consumer.end_offsets(held)
            await consumer.commit({tp: ends[tp] for tp in held})
        finally:
            await consumer.stop()
