"""Plinth's settings, one small class per concern, read from ``PLINTH_*`` environment variables.

Each concern (Kafka, the document store, S3, telemetry, the pipeline's retries, segmentation,
backgrounds, webhooks, downloads, image limits, Freepik, Shopify) is a ``pydantic-settings`` class
of its own; a process composes only the concerns it uses (``class PublishWorkerSettings(
WorkerSettings, ShopifySettings)``), so it never reads nor holds a secret it has no use for: the
publisher has no Freepik key, the segmenter no Shopify token, the ingest service neither. The
field names, hence the environment variable names, are the same for every process
(``PLINTH_{FIELD}``), so one environment still configures them all, each ignoring what it does not
use. Code that needs one concern asks for that class (``Database.from_settings(settings:
MongoSettings)``), and any composition that holds it will do.

Defaults point at the local stack started by ``deploy/local/stack up`` so that a developer needs
no configuration at all; docker-compose and deployments override them with the same names.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class PlinthSettings(BaseSettings):
    """Base of every concern: the ``PLINTH_`` prefix, and other processes' variables ignored."""

    model_config = SettingsConfigDict(env_prefix="PLINTH_", extra="ignore")


# --- where the infrastructure lives --------------------------------------------------------------
class KafkaSettings(PlinthSettings):
    kafka_bootstrap: str = "127.0.0.1:9092"
    kafka_partitions: int = Field(default=4, ge=1, description="partitions per topic we create")
    kafka_replication_factor: int = Field(default=1, ge=1)
    kafka_consumer_group_prefix: str = "plinth"


class MongoSettings(PlinthSettings):
    mongo_uri: str = Field(
        default="mongodb://127.0.0.1:27017", description="carries the password where one is needed"
    )
    mongo_db: str = "plinth"


class S3Settings(PlinthSettings):
    s3_endpoint: str = "http://127.0.0.1:9000"
    s3_bucket: str = "plinth"
    s3_access_key: str = "plinth"
    s3_secret_key: SecretStr = SecretStr("plinth-secret-key")
    s3_region: str = "us-east-1"
    presign_ttl_s: int = Field(default=900, ge=1, le=7 * 24 * 3600)


class TelemetrySettings(PlinthSettings):
    otlp_endpoint: str | None = Field(
        default=None, description="OTLP/HTTP traces endpoint, e.g. http://jaeger:4318/v1/traces"
    )
    service_name: str = "plinth"
    instance_id: str | None = Field(default=None, description="worker instance; hostname:pid")


class InfrastructureSettings(KafkaSettings, MongoSettings, S3Settings, TelemetrySettings):
    """What every service needs to reach Kafka, the document store and S3, and to trace."""


# --- pipeline behaviour --------------------------------------------------------------------------
class RetrySettings(PlinthSettings):
    """A stage's retries: attempts before FAILED, and the backoff between them."""

    max_attempts: int = Field(default=5, ge=1, description="attempts per stage before FAILED")
    retry_base_delay_s: float = Field(default=1.0, gt=0)
    retry_max_delay_s: float = Field(default=60.0, gt=0)


class SegmentSettings(PlinthSettings):
    """Which segmentation provider runs, and how (see ``plinth.models.segmenters``)."""

    segment_provider: str = Field(
        default="auto",
        description="auto (learned when its model is installed, else local), learned, onnx, "
        "local or freepik",
    )
    segment_model: str = Field(
        default="isnet-medium",
        description="installed model name (plinth models list) or, for onnx, an ONNX file path",
    )
    segment_input_side: int | None = Field(
        default=None, ge=32, le=2048, description="inference side (default 768 for IS-Net)"
    )
    segment_model_mean: tuple[float, float, float] | None = Field(
        default=None, description="per-channel mean, 0..255 units, of a model given by path"
    )
    segment_model_std: tuple[float, float, float] | None = Field(
        default=None, description="per-channel std, 0..255 units, of a model given by path"
    )
    segment_model_output: Literal["clamp", "sigmoid", "minmax"] | None = Field(
        default=None, description="how a model given by path's output becomes 0..1"
    )
    segment_fusion: bool = Field(
        default=True, description="fuse the learned mask with the backdrop model on plain backdrops"
    )
    segment_threads: int = Field(default=0, ge=0, description="onnxruntime threads; 0: all cores")
    segment_use_cuda: bool = Field(default=True, description="CUDA execution provider if present")
    segment_use_openvino: bool = Field(
        default=False, description="OpenVINO execution provider (needs onnxruntime-openvino)"
    )
    segment_graph_optimisation: Literal["all", "extended", "basic", "off"] = "all"
    segment_memory_arena: bool = Field(
        default=False, description="onnxruntime CPU memory arena (faster reuse, higher peak RSS)"
    )
    model_dir: str | None = Field(
        default=None, description="where installed models live (default ~/.cache/plinth/models)"
    )
    onnx_model_path: str | None = Field(
        default=None, description="older name of segment_model for the onnx provider"
    )


class BackgroundSettings(PlinthSettings):
    background_mode: str = Field(default="procedural", pattern="^(procedural|ai)$")
    background_variants: int | None = Field(
        default=None, ge=1, le=8, description="overrides the theme's own variant count"
    )
    background_cache_mb: int = Field(
        default=64, ge=0, description="in-process LRU of rendered procedural backgrounds, MiB "
        "of JPEG (keyed by theme name and version, variant, size); 0 turns it off",
    )


class ImageLimitSettings(PlinthSettings):
    """The largest photo a process decodes (decompression bombs are refused before decoding)."""

    max_image_pixels: int = 80_000_000
    max_image_bytes: int = 60 * 1024 * 1024


# --- ingest --------------------------------------------------------------------------------------
class WebhookSettings(PlinthSettings):
    webhook_secret: SecretStr | None = None
    webhook_dev_bypass: bool = Field(
        default=False, description="accept unsigned webhooks; development only, logs a warning"
    )
    webhook_tolerance_s: int = 300


class DownloadSettings(PlinthSettings):
    """How a photo is fetched from a URL (``plinth.net.downloader``)."""

    download_allow_hosts: list[str] = Field(
        default_factory=list,
        description="hosts/CIDRs exempt from the SSRF guard (local development only)",
    )
    download_max_bytes: int = 50 * 1024 * 1024
    download_timeout_s: float = 30.0
    download_max_redirects: int = 5


# --- third parties -------------------------------------------------------------------------------
class FreepikSettings(PlinthSettings):
    """Freepik's API: the ``freepik`` segmentation provider and the ``ai`` background mode."""

    freepik_api_key: SecretStr | None = None
    freepik_base_url: str = "https://api.freepik.com"
    freepik_remove_bg_price_usd: float = 0.0
    freepik_mystic_price_usd: float = 0.0


class ShopifySettings(PlinthSettings):
    """One store's Admin API, for the publish stage (``plinth.vendors.shopify``)."""

    shopify_store_domain: str | None = None
    shopify_access_token: SecretStr | None = None
    shopify_api_version: str = Field(
        default="2026-10", description="pinned Admin API version (2025-10 left support in 2026-10)"
    )
    shopify_base_url: str | None = Field(
        default=None, description="override https://{store}/admin/api (tests, fakes)"
    )

    @property
    def shopify_enabled(self) -> bool:
        return bool(self.shopify_store_domain and self.shopify_access_token)


CONCERNS: tuple[type[PlinthSettings], ...] = (
    KafkaSettings, MongoSettings, S3Settings, TelemetrySettings, RetrySettings, SegmentSettings,
    BackgroundSettings, ImageLimitSettings, WebhookSettings, DownloadSettings, FreepikSettings,
    ShopifySettings,
)
"""Every shared concern; services add their own (``plinth.worker.settings``, each service's
``settings`` module) on top of some of these."""

SECRET_FIELDS = frozenset({"mongo_uri"}) | {
    name
    for concern in CONCERNS
    for name, field in concern.model_fields.items()
    if "SecretStr" in repr(field.annotation)
}
"""Fields that may hold a credential (the MongoDB URI carries its password)."""


def secrets_of(cls: type[BaseSettings]) -> set[str]:
    """The credential-holding fields a settings class (a composition of concerns) reads."""
    return {
        name
        for name, field in cls.model_fields.items()
        if name in SECRET_FIELDS or "SecretStr" in repr(field.annotation)
    }
