"""The log set-up: repeated errors are rate-limited and summarised, JSON lines carry the trace and
job id, nothing writes ANSI colours."""

from __future__ import annotations

import io
import json
import logging
import time
from collections.abc import Iterator

import pytest
from opentelemetry.sdk.trace import TracerProvider

from plinth.worker.logs import (
    SUMMARY_ATTR,
    ContextFilter,
    JsonFormatter,
    LogSettings,
    PlinthHandler,
    RateLimitFilter,
    TextFormatter,
    job_context,
    setup_logging,
)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)

    def lines(self) -> list[str]:
        return [record.getMessage() for record in self.records]


Limited = tuple[logging.Logger, Collect, RateLimitFilter, Clock]


@pytest.fixture
def limited() -> Iterator[Limited]:
    clock = Clock()
    limit = RateLimitFilter(window_s=10.0, burst=5, clock=clock, background=False)
    sink = Collect()
    sink.addFilter(limit)
    logger = logging.getLogger(f"plinth.test.logs.{id(sink)}")
    logger.propagate = False
    logger.setLevel(logging.DEBUG)
    logger.addHandler(sink)
    yield logger, sink, limit, clock
    logger.removeHandler(sink)
    limit.close()


def test_a_burst_of_identical_errors_is_bounded_and_summarised(limited: Limited) -> None:
    logger, sink, _limit, clock = limited
    for i in range(10_000):
        clock.now += 0.0005  # 10,000 errors in 5 s, one window
        try:
            raise ConnectionError(f"Unable to bootstrap from 127.0.0.1:{i}")
        except ConnectionError:
            logger.exception("could not finish a record; it will be redelivered")
    assert len(sink.records) == 5, "only the burst passes within the window"
    assert all(r.exc_info for r in sink.records), "the ones that pass keep their traceback"

    clock.now += 10.0  # the window is over: the next record (of any kind) brings the summary
    logger.info("something else")
    summary = sink.records[5]
    assert getattr(summary, SUMMARY_ATTR) == 9_995
    assert summary.getMessage().startswith("9995 more in the last 10 s like: could not finish")
    assert "ConnectionError" in summary.getMessage()
    assert summary.levelno == logging.ERROR and summary.exc_info is None
    assert sink.lines()[6] == "something else"
    assert len(sink.records) == 7


def test_different_messages_and_exception_types_are_not_merged(limited: Limited) -> None:
    logger, sink, _limit, clock = limited
    for _ in range(100):
        clock.now += 0.01
        logger.error("kafka down: %s", "x")
        logger.error("mongo down: %s", "y")
        try:
            raise TimeoutError
        except TimeoutError:
            logger.exception("kafka down: %s", "x")
    lines = sink.lines()
    assert lines.count("kafka down: x") == 10  # 5 without, 5 with a TimeoutError
    assert lines.count("mongo down: y") == 5
    # the arguments do not make a record different: same template, same limit
    for i in range(10):
        logger.warning("job %s failed", f"J{i}")
    assert sum(line.startswith("job ") for line in sink.lines()) == 5


def test_the_summary_comes_after_the_window_and_a_new_window_starts(limited: Limited) -> None:
    logger, sink, limit, clock = limited
    for _ in range(8):
        logger.error("storm")
    assert len(sink.records) == 5
    clock.now += 9.0
    limit.flush()
    assert len(sink.records) == 5, "no summary before the window is over"
    clock.now += 1.0
    limit.flush()
    assert sink.lines()[5] == "3 more in the last 10 s like: storm"
    limit.flush()
    assert len(sink.records) == 6, "a summary is given once"
    logger.error("storm")
    assert sink.lines()[6] == "storm", "a new window lets the next burst through"


def test_infos_are_never_limited(limited: Limited) -> None:
    logger, sink, _limit, _clock = limited
    for _ in range(50):
        logger.info("consumed")
    assert len(sink.records) == 50


def test_the_background_thread_summarises_without_another_record() -> None:
    limit = RateLimitFilter(window_s=0.3, burst=1)
    sink = Collect()
    sink.addFilter(limit)
    logger = logging.getLogger("plinth.test.logs.background")
    logger.propagate = False
    logger.addHandler(sink)
    try:
        for _ in range(20):
            logger.error("outage")
        assert sink.lines() == ["outage"]
        deadline = time.monotonic() + 5
        while len(sink.records) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert sink.lines()[1:] == ["19 more in the last 0.3 s like: outage"]
    finally:
        logger.removeHandler(sink)
        limit.close()


def _record(message: str = "hello %s", *args: object, **extra: object) -> logging.LogRecord:
    record = logging.LogRecord("plinth.test", logging.WARNING, __file__, 1, message, args, None)
    record.__dict__.update(extra)
    return record


def test_json_lines_carry_trace_and_job_id() -> None:
    provider = TracerProvider()
    tracer = provider.get_tracer("test")
    formatter = JsonFormatter("plinth-test")
    context = ContextFilter()
    with tracer.start_as_current_span("step") as span, job_context("job-123"):
        record = _record("hello %s", "world")
        context.filter(record)
    line = formatter.format(record)
    body = json.loads(line)
    ids = span.get_span_context()
    assert body["message"] == "hello world"
    assert body["level"] == "WARNING" and body["logger"] == "plinth.test"
    assert body["service"] == "plinth-test"
    assert body["trace_id"] == format(ids.trace_id, "032x")
    assert body["span_id"] == format(ids.span_id, "016x")
    assert body["job_id"] == "job-123"
    assert body["ts"].endswith("Z")
    assert "\n" not in line


def test_json_without_context_and_with_an_exception() -> None:
    try:
        raise ValueError("bad")
    except ValueError:
        import sys

        record = logging.LogRecord("x", logging.ERROR, __file__, 1, "failed", (), sys.exc_info())
    ContextFilter().filter(record)
    body = json.loads(JsonFormatter().format(record))
    assert "trace_id" not in body and "job_id" not in body
    assert body["exc_type"] == "ValueError" and "Traceback" in body["exc"]


def test_text_has_the_ids_and_no_ansi_colours() -> None:
    record = _record("\x1b[31mred\x1b[0m %s", "text", job_id="J1", trace_id="ab" * 16)
    line = TextFormatter().format(record)
    assert "\x1b" not in line
    assert line.endswith(f"plinth.test: red text [job=J1 trace={'ab' * 16}]")
    assert "\x1b" not in JsonFormatter().format(_record("\x1b[1mbold\x1b[0m"))


def test_setup_logging_installs_one_root_handler_and_tames_libraries() -> None:
    root = logging.getLogger()
    saved = (list(root.handlers), root.level)
    faststream = logging.getLogger("faststream")
    saved_fs = (list(faststream.handlers), faststream.propagate)
    aiokafka = logging.getLogger("aiokafka")
    saved_level = aiokafka.level
    stream = io.StringIO()
    try:
        faststream.addHandler(logging.StreamHandler(io.StringIO()))
        faststream.propagate = False
        aiokafka.setLevel(logging.NOTSET)
        settings = LogSettings(log_format="json", log_rate_burst=2)
        handler = setup_logging("plinth-test", stream=stream, settings=settings)
        again = setup_logging("plinth-test", stream=stream, settings=settings)
        assert [h for h in root.handlers if isinstance(h, PlinthHandler)] == [again]
        assert handler not in root.handlers
        assert faststream.propagate and not faststream.handlers
        assert aiokafka.level == logging.WARNING
        for _ in range(10):
            logging.getLogger("faststream").error("Kafka error occurred")
        logging.getLogger("aiokafka.conn").info("connected")  # below aiokafka's floor
        lines = [json.loads(line) for line in stream.getvalue().splitlines()]
        assert [line["message"] for line in lines] == ["Kafka error occurred"] * 2
        assert {line["service"] for line in lines} == {"plinth-test"}
        again.rate_limit.close()
        assert json.loads(stream.getvalue().splitlines()[-1])["suppressed"] == 8
    finally:
        for handler in list(root.handlers):
            root.removeHandler(handler)
        for handler in saved[0]:
            root.addHandler(handler)
        root.setLevel(saved[1])
        faststream.handlers[:] = saved_fs[0]
        faststream.propagate = saved_fs[1]
        aiokafka.setLevel(saved_level)
