"""The Kafka broker of the local stack: topics we create, a round trip, no auto-creation."""

from __future__ import annotations

import asyncio
import uuid

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaTimeoutError, UnknownTopicOrPartitionError

pytestmark = pytest.mark.stack


async def test_created_topic_round_trip_and_no_auto_creation(shared_stack: dict[str, str]) -> None:
    bootstrap = shared_stack["kafka"]
    topic = f"stacktest.{uuid.uuid4().hex[:10]}"
    missing = f"{topic}.never-created"
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(topic, num_partitions=3, replication_factor=1)])
        producer = AIOKafkaProducer(bootstrap_servers=bootstrap, request_timeout_ms=3000)
        await producer.start()
        try:
            await producer.send_and_wait(topic, b"payload", key=b"sku-1")
            # auto.create.topics.enable=false: a typo in a topic name must not pass silently.
            # aiokafka reports it as unknown topic or, racing its metadata refresh, a timeout.
            with pytest.raises((UnknownTopicOrPartitionError, KafkaTimeoutError, TimeoutError)):
                await asyncio.wait_for(producer.send_and_wait(missing, b"x"), 4)
        finally:
            await producer.stop()

        consumer = AIOKafkaConsumer(
            topic,
            bootstrap_servers=bootstrap,
            group_id=f"{topic}.group",
            auto_offset_reset="earliest",
        )
        await consumer.start()
        try:
            message = await asyncio.wait_for(consumer.getone(), 30)
        finally:
            await consumer.stop()
        assert (message.key, message.value) == (b"sku-1", b"payload")

        described = await admin.describe_topics([topic])
        assert len(described[0]["partitions"]) == 3
        assert missing not in await admin.list_topics()
    finally:
        await admin.delete_topics([topic])
        await admin.close()
