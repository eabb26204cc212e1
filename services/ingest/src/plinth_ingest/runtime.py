"""Everything one ingest process holds open: MongoDB, the Kafka broker (publisher, and the
downloader's subscribers when it runs here), S3 and the downloader's HTTP client.

The downloader runs on the stage-worker runtime (``plinth.worker.service``): its
``KafkaStageBinding`` (consumer group ``{prefix}-ingest``, ``PLINTH_DOWNLOAD_CONCURRENCY`` records
at once per topic), its pause/resume and its heartbeat (``beating``)."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass

from faststream.kafka import KafkaBroker
from opentelemetry.trace import TracerProvider

from plinth.adapters.kafka import ensure_topics, make_broker
from plinth.adapters.mongo import Database
from plinth.adapters.readiness import Probe, Readiness, kafka_probe
from plinth.adapters.s3 import BlobStore
from plinth.adapters.themes import ThemeCatalogue, ThemeSettings, ThemeStore
from plinth.messaging.topics import INGEST_REQUESTED
from plinth.telemetry import tracer as get_tracer
from plinth.worker.heartbeat import default_instance_id
from plinth.worker.service import BrokerPublisher, KafkaStageBinding, beating
from plinth_ingest.auth import Authenticator
from plinth_ingest.batch import BatchReceiver
from plinth_ingest.batching import BatchedJobs, InsertBatcher, ReadBatcher
from plinth_ingest.deliveries import DeliveryLog
from plinth_ingest.download import DownloadWorker, Fetcher, make_fetcher
from plinth_ingest.intake import Intake
from plinth_ingest.settings import IngestSettings
from plinth_ingest.webhook import WebhookReceiver

log = logging.getLogger("plinth.ingest")


@dataclass
class IngestRuntime:
    settings: IngestSettings
    db: Database
    broker: KafkaBroker
    auth: Authenticator
    webhook: WebhookReceiver
    batch: BatchReceiver
    worker: DownloadWorker | None
    binding: KafkaStageBinding | None
    readiness: Readiness
    """What ``/ready`` reports and the downloader asks before counting a failure against a
    request: Kafka and the document store, and S3 when the downloader runs here."""


@asynccontextmanager
async def open_runtime(
    settings: IngestSettings,
    *,
    http: bool = True,
    downloader: bool = True,
    fetcher: Fetcher | None = None,
    tracer_provider: TracerProvider | None = None,
) -> AsyncIterator[IngestRuntime]:
    instance = settings.instance_id or default_instance_id()
    auth = Authenticator(settings)
    if http and not auth.configured:
        log.error(
            "PLINTH_WEBHOOK_SECRET is not set and PLINTH_WEBHOOK_DEV_BYPASS is off: every "
            "webhook and batch upload will be answered 503 webhook_not_configured"
        )
    if http and settings.webhook_dev_bypass:
        log.warning("PLINTH_WEBHOOK_DEV_BYPASS is on: unsigned deliveries are ACCEPTED")
    await ensure_topics(settings)
    async with AsyncExitStack() as stack:
        db = Database.from_settings(settings)
        stack.push_async_callback(db.close)
        # The unique (sku, img_sha256, theme) index is what makes deliveries idempotent.
        await db.ensure_indexes()
        # The packaged themes are seeded on the first start (idempotent, racing processes
        # safe); a delivery may then ask for any active theme of the store.
        theme_store = ThemeStore.of(db)
        await theme_store.ensure_ready()
        themes = ThemeCatalogue(theme_store, ThemeSettings().themes_cache_ttl_s)
        broker = make_broker(
            settings, client_id=f"plinth-ingest-{instance}", tracer_provider=tracer_provider
        )
        publisher = BrokerPublisher(broker)
        deliveries = DeliveryLog(db.webhook_events)
        # The HTTP side's store traffic: with group commit, the documents and job reads of
        # concurrent requests share round trips (without, one round trip each).
        per_trip = 256 if settings.ingest_group_commit else 1
        http_deliveries = DeliveryLog(InsertBatcher(db.webhook_events, max_batch=per_trip))
        jobs = BatchedJobs(
            db.jobs,
            InsertBatcher(db.jobs_collection, max_batch=per_trip),
            ReadBatcher(db.jobs_collection, max_batch=per_trip),
        )
        intake = Intake(jobs, publisher, publish_timeout_s=settings.publish_timeout_s)
        ingest_tracer = (
            tracer_provider.get_tracer("plinth.ingest")
            if tracer_provider is not None
            else get_tracer("plinth.ingest")
        )
        webhook = WebhookReceiver(
            auth=auth, intake=intake, deliveries=http_deliveries, known_themes=themes,
            max_themes=settings.max_themes_per_delivery, tracer=ingest_tracer,
        )  # fmt: skip
        batch = BatchReceiver(
            auth=auth, intake=intake, deliveries=http_deliveries, known_themes=themes,
            max_themes=settings.max_themes_per_delivery, max_rows=settings.batch_max_rows,
        )  # fmt: skip
        worker: DownloadWorker | None = None
        binding: KafkaStageBinding | None = None
        probes: dict[str, Probe] = {"kafka": kafka_probe(settings.kafka_bootstrap),
                                    "mongo": db.ping}  # fmt: skip
        blobs: BlobStore | None = None
        if downloader:
            blobs = await stack.enter_async_context(BlobStore.from_settings(settings))
            probes["s3"] = blobs.ping
        readiness = Readiness(probes)
        if blobs is not None:
            if fetcher is None:
                fetcher = await stack.enter_async_context(make_fetcher(settings))
            worker = DownloadWorker(
                settings=settings, jobs=db.jobs, blobs=blobs, publisher=publisher,
                deliveries=deliveries, fetcher=fetcher, instance=instance, tracer=ingest_tracer,
                themes=themes,
            )  # fmt: skip
            binding = KafkaStageBinding(
                broker, worker, settings, offset_reset=settings.ingest_offset_reset,
                control_scope=settings.worker_control_scope,
                max_deliveries=settings.max_deliveries, readiness=readiness,
                concurrency=settings.download_concurrency, hold_s=settings.download_deadline_s,
            )  # fmt: skip
        # Registered before the start: one that fails half-way (Kafka lost meanwhile) stops the
        # consumers it did start, so that a retry does not leave them running behind it.
        stack.push_async_callback(broker.stop)
        await broker.start()
        if binding is not None:
            # Before the broker stops (callbacks run last-in first-out): running requests are
            # cancelled uncommitted, while the consumer is still there.
            stack.push_async_callback(binding.close)
        if worker is not None and binding is not None:
            await stack.enter_async_context(
                beating(db.workers, worker, binding.heartbeat_extra)
            )
            log.info("downloader %s consuming %s", instance, INGEST_REQUESTED)
        yield IngestRuntime(settings, db, broker, auth, webhook, batch, worker, binding, readiness)
