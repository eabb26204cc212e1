"""Kafka: the FastStream broker every service uses, explicit topic creation, and removing the
consumer groups of a throwaway run (a test session, the demo).

The broker carries FastStream's OpenTelemetry middleware, which injects the W3C trace context into
each message's headers on publish and continues it on consume: that is how one job becomes one
trace across every service.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError, for_code
from aiokafka.protocol.admin import DeleteGroupsRequest
from faststream.kafka import KafkaBroker
from faststream.kafka.opentelemetry import KafkaTelemetryMiddleware
from opentelemetry.trace import TracerProvider

from plinth.messaging.topics import all_topics
from plinth.settings import KafkaSettings

BROKER_LOGGER = logging.getLogger("plinth.kafka.broker")


def make_broker(
    settings: KafkaSettings,
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


async def ensure_topics(settings: KafkaSettings, names: Iterable[str] | None = None) -> list[str]:
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


# DeleteGroups answers (Kafka's error codes; aiokafka names neither).
_NON_EMPTY_GROUP = 68
_GROUP_ID_NOT_FOUND = 69


@dataclass
class DeletedGroups:
    deleted: list[str] = field(default_factory=list)
    busy: list[str] = field(default_factory=list)
    """groups that still have members (a running worker): Kafka refuses to delete those"""


async def delete_consumer_groups(settings: KafkaSettings, prefix: str) -> DeletedGroups:
    """Delete every consumer group whose id starts with ``prefix`` (their committed offsets go
    with them). Groups with live members are left alone and reported as ``busy``.

    For a throwaway run's groups (``test-<run>-``, the demo's): left behind, each keeps showing
    as lag once others publish on its topics. aiokafka's admin client has no delete call, so the
    DeleteGroups request goes to each group's coordinator directly.
    """
    if not prefix:
        raise ValueError("refusing to delete every consumer group: give a prefix")
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap)
    await admin.start()
    try:
        names = sorted(g[0] for g in await admin.list_consumer_groups() if g[0].startswith(prefix))
        by_coordinator: dict[int, list[str]] = {}
        for name in names:
            by_coordinator.setdefault(await admin.find_coordinator(name), []).append(name)
        result = DeletedGroups()
        for node, groups in by_coordinator.items():
            response = await admin._send_request(DeleteGroupsRequest(groups), node)
            for group, code in response.results:
                if code in (0, _GROUP_ID_NOT_FOUND):
                    result.deleted.append(group)
                elif code == _NON_EMPTY_GROUP:
                    result.busy.append(group)
                else:
                    raise for_code(code)(f"cannot delete consumer group {group}")
        return result
    finally:
        await admin.close()
