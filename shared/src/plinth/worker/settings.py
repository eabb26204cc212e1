"""What every worker (a stage, or ingest's downloader) reads: the infrastructure, the retries, and
the worker's own settings (same ``PLINTH_*`` variables). Each stage service adds the concerns its
steps use (``plinth_segment.settings``, ...); a stage with none runs on this class alone."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from plinth.settings import InfrastructureSettings, RetrySettings


class WorkerSettings(InfrastructureSettings, RetrySettings):
    worker_offset_reset: Literal["earliest", "latest"] = Field(
        default="earliest",
        description="where a NEW consumer group starts reading: earliest (at-least-once from "
        "the topic's start) for deployments; latest for throwaway groups of tests and demos, "
        "which must not replay what other runs left on shared topics",
    )
    max_deliveries: int = Field(
        default=5,
        ge=1,
        description="failed deliveries of one Kafka record, each while Kafka, the document store "
        "and S3 all answered, before the record is dead-lettered and its job FAILED: a poison "
        "record must not block its partition forever (failures during an outage do not count)",
    )
    worker_control_scope: str | None = Field(
        default=None,
        description="when set, obey only control commands whose Kafka header "
        "'plinth-control-scope' carries this value (isolates a test or demo run's workers "
        "from commands meant for others on a shared Kafka); unset: obey every command",
    )
    health_port: int = Field(
        default=0,
        ge=0,
        le=65535,
        description="port of the worker's /live and /ready endpoints (plinth.worker.health); "
        "0: none",
    )
    health_host: str = Field(
        default="127.0.0.1", description="address the health endpoints listen on (0.0.0.0 in pods)"
    )
