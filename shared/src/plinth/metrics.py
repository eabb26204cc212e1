"""Plinth's metrics: OpenTelemetry instruments, exposed for Prometheus on ``/metrics``.

Instruments are created once, on the global meter provider; until a process calls
:func:`setup_metrics` they are no-ops (unit tests, the CLI). :func:`setup_metrics` installs an
SDK meter provider whose reader is OpenTelemetry's Prometheus exporter, which registers with
``prometheus_client``'s default registry; :func:`exposition` renders it for a ``/metrics``
route (the workers' health port, ingest's and dashboard-api's HTTP apps).

Names follow Prometheus conventions once exported (``_total`` on counters, units in names):

==========================================  =====================================================
``plinth_jobs_processed_total``             records a stage finished, by ``stage`` and ``outcome``
                                            (advanced, skipped, failed, retried, dead_lettered)
``plinth_job_failures_total``               jobs FAILED, by ``stage`` and ``error_code``
``plinth_stage_duration_seconds``           one step's duration (histogram), by ``stage``
``plinth_provider_cost_usd_total``          provider cost, by ``stage`` and ``item``
``plinth_webhook_deliveries_total``         webhook deliveries answered, by ``outcome``
``plinth_stuck_jobs_redriven_total``        jobs the sweeper handed back to their stage
``plinth_consumer_lag``                     each stage's consumer-group lag (dashboard-api)
``plinth_onnx_execution_provider``          1 per ONNX model loaded, by ``model``, the ``provider``
                                            its session really runs on and ``cuda`` (used,
                                            fallback, not_in_build, off): segment's CPU fallback
==========================================  =====================================================
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from opentelemetry import metrics

_meter = metrics.get_meter("plinth")

jobs_processed = _meter.create_counter(
    "plinth.jobs.processed", description="records a stage worker finished, by outcome"
)
job_failures = _meter.create_counter(
    "plinth.job.failures", description="jobs moved to FAILED, by stage and error code"
)
stage_duration = _meter.create_histogram(
    "plinth.stage.duration", unit="s", description="duration of one step of a stage",
    # steps take from tens of milliseconds (manifest) to tens of seconds (AI backgrounds)
    explicit_bucket_boundaries_advisory=[0.05, 0.1, 0.25, 0.5, 1, 2, 4, 8, 15, 30, 60, 120],
)
provider_cost = _meter.create_counter(
    "plinth.provider.cost", unit="USD", description="what providers charged"
)
webhook_deliveries = _meter.create_counter(
    "plinth.webhook.deliveries", description="webhook deliveries answered, by outcome"
)
stuck_jobs_redriven = _meter.create_counter(
    "plinth.stuck_jobs.redriven", description="live jobs the sweeper handed back to their stage"
)

_execution_providers: dict[str, dict[str, str]] = {}


def record_execution_provider(model: str, provider: str, cuda: str) -> None:
    """The execution provider ``model``'s onnxruntime session really runs on (the last load of a
    model wins), read by the ``plinth_onnx_execution_provider`` gauge."""
    _execution_providers[model] = {"model": model, "provider": provider, "cuda": cuda}


def _observe_execution_providers(
    _options: metrics.CallbackOptions,
) -> Iterable[metrics.Observation]:
    return [metrics.Observation(1, dict(labels)) for labels in _execution_providers.values()]


_meter.create_observable_gauge(
    "plinth.onnx.execution_provider", callbacks=[_observe_execution_providers],
    description="1 per loaded ONNX model: the execution provider its session runs on",
)

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
_installed = False


def setup_metrics(service_name: str) -> None:
    """Install the SDK meter provider with the Prometheus reader (once per process)."""
    global _installed
    if _installed:
        return
    from opentelemetry.exporter.prometheus import PrometheusMetricReader
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.resources import SERVICE_NAME, Resource

    provider = MeterProvider(
        metric_readers=[PrometheusMetricReader()],
        resource=Resource.create({SERVICE_NAME: service_name}),
    )
    metrics.set_meter_provider(provider)
    _installed = True


def exposition() -> bytes:
    """The Prometheus text exposition of everything this process recorded."""
    from prometheus_client import REGISTRY, generate_latest

    return bytes(generate_latest(REGISTRY))


def observe_gauge(
    name: str, callback: Callable[[], Iterable[tuple[float, dict[str, Any]]]], description: str
) -> None:
    """An observable gauge read at scrape time: ``callback`` yields (value, attributes)."""

    def observe(_options: metrics.CallbackOptions) -> Iterable[metrics.Observation]:
        return [metrics.Observation(value, attributes) for value, attributes in callback()]

    _meter.create_observable_gauge(name, callbacks=[observe], description=description)
