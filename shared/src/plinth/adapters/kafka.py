"""Kafka: the FastStream broker every service uses, and explicit topic creation.

The broker carries FastStream's OpenTelemetry middleware, which injects the W3C trace context into
each message's headers on publish and continues it on consume: that is how one job becomes one
trace across every service.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError
from faststream.kafka import KafkaBroker
from faststream.kafka.opentelemetry import KafkaTelemetryMiddleware
from opentelemetry.trace import TracerProvider

from plinth.messaging.topics import all_topics
from plinth.settings import Settings

BROKER_LOGGER = logging.getLogger("plinth.kafka.broker")


def make_broker(
    settings: Settings,
    *,
    client_id: str = "plinth",
    tracer_provider: TracerProvider | None = None,
) -> KafkaBroker:
    return KafkaBroker(
        settings.kafka_bootstrap,
        client_id=client_id,
        middlewares=[KafkaTelemetryMiddleware(tracer_provider=tracer_provider)],
        # A logger of ours: FastStream's default one writes ANSI colours to stdout past the
        # root handler (format, rate limit); its per-message "Received"/"Processed" lines are
        # DEBUG here, its errors stay errors.
        logger=BROKER_LOGGER,
        log_level=logging.DEBUG,
    )


async def ensure_topics(settings: Settings, names: Iterable[str] | None = None) -> list[str]:
    """Create every missing topic with the configured partitions; return the ones created.

    The brokers run with auto-creation off, so a typo in a topic name fails loudly instead of
    creating a topic nobody consumes.
    """
    wanted = sorted(set(names) if names is not None else all_topics())
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap)
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        missing = [name for name in wanted if name not in existing]
        if missing:
            response = await admin.create_topics(
                [
                    NewTopic(
                        name=name,
                        num_partitions=settings.kafka_partitions,
                        replication_factor=settings.kafka_replication_factor,
                    )
                    for name in missing
                ]
            )
            for topic_error in response.topic_errors:
                name, code = topic_error[0], topic_error[1]
                # Another service creating the same topic first is the point of idempotency.
                if code not in (0, TopicAlreadyExistsError.errno):
                    message = topic_error[2] if len(topic_error) > 2 else ""
                    raise RuntimeError(f"cannot create Kafka topic {name}: code {code} {message}")
        return missing
    finally:
        await admin.close()
