"""What the ingest service reads: the worker's settings (its downloader is a worker), the webhook's
and the downloads', and its own (same ``PLINTH_*`` environment variables). No Freepik key, no
Shopify token."""

from __future__ import annotations

from functools import lru_cache
from typing import Literal

from pydantic import Field

from plinth.settings import DownloadSettings, WebhookSettings
from plinth.worker.settings import WorkerSettings


class IngestSettings(WorkerSettings, WebhookSettings, DownloadSettings):
    """The downloader is a worker too: it obeys ``PLINTH_WORKER_CONTROL_SCOPE`` like the stages."""

    ingest_host: str = "127.0.0.1"
    ingest_port: int = Field(default=8081, ge=1, le=65535)
    webhook_max_body_bytes: int = Field(default=256 * 1024, ge=1024)
    batch_max_body_bytes: int = Field(default=10 * 1024 * 1024, ge=1024)
    batch_max_rows: int = Field(default=10_000, ge=1)
    max_themes_per_delivery: int = Field(default=20, ge=1)
    ingest_offset_reset: Literal["earliest", "latest"] = Field(
        default="earliest", description="where a new downloader consumer group starts"
    )
    download_concurrency: int = Field(
        default=8,
        ge=1,
        description="downloads in flight at once in one downloader: a slow server holds one slot, "
        "not the whole partition",
    )
    download_deadline_s: float = Field(
        default=120.0,
        gt=0,
        description="the most one download may take, every attempt and backoff included "
        "(PLINTH_DOWNLOAD_TIMEOUT_S bounds one attempt)",
    )
    publish_timeout_s: float = Field(
        default=10.0, gt=0, description="how long a webhook waits for Kafka before answering 503"
    )
    ingest_workers: int = Field(
        default=1,
        ge=1,
        le=32,
        description="uvicorn worker processes of the HTTP app (each with its own connections; "
        "with the downloader in the process, each runs one, sharing the consumer group)",
    )
    ingest_group_commit: bool = Field(
        default=True,
        description="write the delivery records and new jobs of concurrent requests with one "
        "insert_many per round trip (each request still waits for its own documents)",
    )
    ingest_access_log: bool = Field(
        default=True, description="uvicorn's access log line for every request"
    )


@lru_cache(maxsize=1)
def get_ingest_settings() -> IngestSettings:
    return IngestSettings()
