"""OpenTelemetry set-up for every Plinth process, and the helpers the stages use for step spans.

One job is one trace: the webhook starts it, FastStream's telemetry middleware carries the W3C
context through Kafka headers (``plinth.adapters.kafka.make_broker``), and each stage opens one
span per step beneath the consume span. A step's duration is read back FROM its span
(``end_time - start_time``), so the timings written on the job are exactly what Jaeger shows.

Exporters: OTLP/HTTP when ``settings.otlp_endpoint`` is set (Jaeger in docker-compose), and a
JSON-lines file when ``PLINTH_TRACE_FILE`` is set: every process appends its finished spans to
that file, which is how the end-to-end test checks "one trace per job, every step in it".
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Sequence
from typing import Any, Final

from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import (
    BatchSpanProcessor,
    SimpleSpanProcessor,
    SpanExporter,
    SpanExportResult,
)
from opentelemetry.trace import Span

from plinth.settings import TelemetrySettings

TRACE_FILE_ENV: Final = "PLINTH_TRACE_FILE"

# Span attribute names used by every stage (kept in one place so queries in Jaeger, the e2e test
# and the dashboard agree).
ATTR_JOB_ID: Final = "job.id"
ATTR_SKU: Final = "sku"
ATTR_THEME: Final = "theme"
ATTR_PROVIDER: Final = "provider"
ATTR_BYTES: Final = "bytes"
ATTR_STAGE: Final = "plinth.stage"
ATTR_STEP: Final = "plinth.step"
ATTR_INSTANCE: Final = "plinth.instance"


class JsonLinesSpanExporter(SpanExporter):
    """Appends one JSON object per finished span to a file shared by several processes.

    Each span is written with a single ``write`` on a file opened with ``O_APPEND``, so lines
    from concurrent processes do not interleave.
    """

    def __init__(self, path: str) -> None:
        self.path = path
        self._lock = threading.Lock()

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        lines = "".join(json.dumps(span_record(span), default=str) + "\n" for span in spans)
        data = lines.encode()
        with self._lock:
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
            try:
                os.write(fd, data)
            finally:
                os.close(fd)
        return SpanExportResult.SUCCESS

    def shutdown(self) -> None:
        return None


def span_record(span: ReadableSpan) -> dict[str, Any]:
    """The fields of a finished span that tests and tools read back."""
    ctx = span.get_span_context()
    parent = span.parent
    service = span.resource.attributes.get("service.name") if span.resource else None
    return {
        "name": span.name,
        "trace_id": format(ctx.trace_id, "032x") if ctx else None,
        "span_id": format(ctx.span_id, "016x") if ctx else None,
        "parent_id": format(parent.span_id, "016x") if parent else None,
        "service": service,
        "start_ns": span.start_time,
        "end_ns": span.end_time,
        "duration_ms": span_duration_ms(span),
        "attributes": dict(span.attributes or {}),
        "status": span.status.status_code.name,
    }


def setup_tracing(settings: TelemetrySettings, service_name: str) -> TracerProvider:
    """Install the process-wide tracer provider with the exporters the settings ask for."""
    provider = TracerProvider(
        resource=Resource.create(
            {"service.name": service_name, "service.instance.id": settings.instance_id or ""}
        )
    )
    if settings.otlp_endpoint:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        provider.add_span_processor(
            BatchSpanProcessor(OTLPSpanExporter(endpoint=settings.otlp_endpoint))
        )
    trace_file = os.environ.get(TRACE_FILE_ENV)
    if trace_file:
        # Simple (synchronous) processor: a test reading the file right after a job is DONE
        # must find its spans, not wait for a batch flush.
        provider.add_span_processor(SimpleSpanProcessor(JsonLinesSpanExporter(trace_file)))
    trace.set_tracer_provider(provider)
    return provider


def tracer(name: str = "plinth") -> trace.Tracer:
    return trace.get_tracer(name)


def span_duration_ms(span: ReadableSpan | Span) -> int | None:
    """Milliseconds between a finished span's start and end; None while it is still open."""
    start: int | None = getattr(span, "start_time", None)
    end: int | None = getattr(span, "end_time", None)
    if start is None or end is None:
        return None
    return round((end - start) / 1_000_000)


def current_trace_id() -> str | None:
    """The hex trace id of the active span, or None outside any trace."""
    ctx = trace.get_current_span().get_span_context()
    if not ctx.is_valid:
        return None
    return format(ctx.trace_id, "032x")
