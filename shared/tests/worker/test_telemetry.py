"""The JSON-lines span exporter the end-to-end test reads, and span-derived durations."""

from __future__ import annotations

import json
from pathlib import Path

from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor

from plinth.telemetry import JsonLinesSpanExporter, span_duration_ms


def test_spans_are_appended_one_json_object_per_line(tmp_path: Path) -> None:
    path = tmp_path / "spans.jsonl"
    provider = TracerProvider(resource=Resource.create({"service.name": "plinth-test"}))
    provider.add_span_processor(SimpleSpanProcessor(JsonLinesSpanExporter(str(path))))
    tracer = provider.get_tracer("t")
    with tracer.start_as_current_span("outer") as outer, tracer.start_as_current_span(
        "segment", attributes={"job.id": "j1", "bytes": 42}
    ) as inner:
        pass
    provider.shutdown()

    lines = [json.loads(line) for line in path.read_text().splitlines()]
    assert [line["name"] for line in lines] == ["segment", "outer"]
    step, parent = lines
    assert step["trace_id"] == parent["trace_id"] == format(outer.get_span_context().trace_id,
                                                            "032x")
    assert step["parent_id"] == parent["span_id"]
    assert step["service"] == "plinth-test"
    assert step["attributes"] == {"job.id": "j1", "bytes": 42}
    assert step["duration_ms"] == span_duration_ms(inner) >= 0


def test_an_open_span_has_no_duration() -> None:
    tracer = TracerProvider().get_tracer("t")
    span = tracer.start_span("open")
    assert span_duration_ms(span) is None
    span.end()
    assert span_duration_ms(span) is not None
