"""The end-to-end fixture: the local stack, every service as its own process, a photo server
and a fake Shopify, started once for the module."""

from __future__ import annotations

import json
import os
import sys
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio

sys.path.insert(0, str(Path(__file__).resolve().parent))

from harness import (
    REPO,
    ServiceProcesses,
    corrupt_jpeg,
    free_port,
    sample_photos,
    wait_for_port,
    wait_for_workers,
)

from plinth.adapters.kafka import ensure_topics
from plinth.adapters.mongo import Database
from plinth.worker.groups import pipeline_groups, start_groups_at_end
from plinth.worker.settings import WorkerSettings
from plinth_testkit.fakes.shopify import FakeShopify
from plinth_testkit.http_server import LocalHttpServer

PHOTOS = 8
SECRET = "e2e-webhook-secret"
SHOPIFY_TOKEN = "e2e-shopify-token"


@dataclass
class Pipeline:
    settings: WorkerSettings
    db: Database
    processes: ServiceProcesses
    photos: LocalHttpServer
    photo_urls: list[str]
    photo_bytes: list[bytes]
    corrupt_url: str
    corrupt_bytes: bytes
    shopify: FakeShopify
    ingest_url: str
    trace_file: Path
    control_scope: str
    secret: str = SECRET


@pytest.fixture(scope="module")
def e2e_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    yield tmp_path_factory.mktemp("e2e")


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def pipeline(
    stack_settings: WorkerSettings, test_namespace: Any, e2e_dir: Path
) -> AsyncIterator[Pipeline]:
    run = uuid.uuid4().hex[:8]
    # The session's test names (root conftest): removed from the stack when the session ends.
    db_name = test_namespace.database("e2e")
    trace_file = e2e_dir / "traces.jsonl"
    shopify = FakeShopify(access_token=SHOPIFY_TOKEN, auto_products=True).start()
    photos = LocalHttpServer().start()
    images = sample_photos(PHOTOS)
    urls = [photos.image(f"/photos/p{i}.jpg", data) for i, data in enumerate(images)]
    broken = corrupt_jpeg(images[0])
    corrupt_url = photos.image("/photos/broken.jpg", broken)
    ingest_port = free_port()
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("PLINTH_")},
        "PLINTH_MONGO_DB": db_name,
        "PLINTH_S3_BUCKET": stack_settings.s3_bucket,
        # Topic names are shared by every run on this Kafka: consumer groups of this run only,
        # placed at the end of each topic before the services start (start_groups_at_end), so
        # nothing other runs left behind is replayed and nothing sent now can be skipped.
        "PLINTH_KAFKA_CONSUMER_GROUP_PREFIX": test_namespace.group_prefix("e2e"),
        # Pause/resume commands of other runs on the shared control topic must not reach us.
        "PLINTH_WORKER_CONTROL_SCOPE": run,
        "PLINTH_TRACE_FILE": str(trace_file),
        "PLINTH_WEBHOOK_SECRET": SECRET,
        "PLINTH_DOWNLOAD_ALLOW_HOSTS": json.dumps(["127.0.0.1"]),
        "PLINTH_INGEST_PORT": str(ingest_port),
        "PLINTH_SHOPIFY_STORE_DOMAIN": "plinth-e2e.myshopify.com",
        "PLINTH_SHOPIFY_ACCESS_TOKEN": SHOPIFY_TOKEN,
        "PLINTH_SHOPIFY_BASE_URL": shopify.admin_base_url,
        # One background per theme keeps the run short; every other count is unchanged.
        "PLINTH_BACKGROUND_VARIANTS": "1",
        # Every job goes straight on to publish: the review hold has its own stack test
        # (services/derive/tests/test_review_stack.py).
        "PLINTH_REVIEW_THRESHOLD": "0",
        "PLINTH_RETRY_BASE_DELAY_S": "0.5",
        "PLINTH_MAX_ATTEMPTS": "3",
        "PYTHONUNBUFFERED": "1",
    }
    settings = WorkerSettings(mongo_db=db_name, kafka_bootstrap=stack_settings.kafka_bootstrap,
                              s3_bucket=stack_settings.s3_bucket,
                              kafka_consumer_group_prefix=env["PLINTH_KAFKA_CONSUMER_GROUP_PREFIX"])
    await ensure_topics(settings)
    await start_groups_at_end(settings, pipeline_groups(settings))
    db = Database.from_settings(settings)
    await db.ensure_indexes()
    processes = ServiceProcesses(env=env, log_dir=e2e_dir)
    try:
        processes.start("ingest")
        # Two segment instances in one consumer group: the scaling check.
        processes.start("segment", "segment-1")
        processes.start("segment", "segment-2")
        for service in ("background", "composite", "derive", "publish"):
            processes.start(service)
        await wait_for_port(ingest_port, processes)
        await wait_for_workers(db, {"download": 1, "segment": 2, "background": 1, "composite": 1,
                                    "derive": 1, "publish": 1}, processes=processes)
        yield Pipeline(settings=settings, db=db, processes=processes, photos=photos,
                       photo_urls=urls, photo_bytes=images, corrupt_url=corrupt_url,
                       corrupt_bytes=broken, shopify=shopify,
                       ingest_url=f"http://127.0.0.1:{ingest_port}", trace_file=trace_file,
                       control_scope=run)
    finally:
        names = list(processes.procs)
        processes.stop_all()
        for name in names:
            print(f"----- {name} -----\n{processes.log_tail(name, 15)}")
        photos.stop()
        shopify.stop()
        await db.client.drop_database(db_name)
        await db.close()


__all__ = ["REPO", "Pipeline"]
