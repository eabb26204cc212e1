"""Logging for every Plinth process: one handler on the root logger, bounded and plain.

:func:`setup_logging` is called once at start-up by the stage runtime (``run_stage_service``),
the ingest service and the dashboard-api. It installs on the root logger one stream handler
(stderr) with:

- :class:`RateLimitFilter`: repeated identical warnings and errors (same logger, same message
  template, same exception type) pass ``burst`` times per ``window_s``; the rest are counted and
  summarised once the window is over ("847 more in the last 10 s like: ..."). A Kafka outage
  costs a few lines per distinct error instead of tens of thousands.
- :class:`ContextFilter`: the OpenTelemetry trace and span id of the current span and the job id
  the runtime is handling (:data:`job_id_var`) go on every record.
- a formatter chosen by ``PLINTH_LOG_FORMAT``: ``text`` (the default, one line, ``[job=...
  trace=...]`` appended when known) or ``json`` (one object per line). Neither ever writes ANSI
  colour codes.

Libraries are tamed at the source: aiokafka logs from WARNING up, and FastStream's and uvicorn's
loggers lose their own (colouring) handlers and go through the root handler, so the rate limit
applies to them too.
"""

from __future__ import annotations

import atexit
import contextvars
import json
import logging
import math
import re
import sys
import threading
import time
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal, TextIO

from opentelemetry import trace
from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

job_id_var: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "plinth_job_id", default=None
)
"""The job a record is being handled for; set by the runtime while it handles one."""

SUMMARY_ATTR = "plinth_suppressed"
"""Set on a summary record: how many records it stands for (summaries are never limited)."""

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
NOISY_LOGGERS = {"aiokafka": logging.WARNING}
"""Library loggers whose INFO lines are chatter (connections, rebalances, metadata)."""
ADOPTED_LOGGERS = ("faststream", "faststream.access", "faststream.access.kafka", "uvicorn",
                   "uvicorn.error", "uvicorn.access", "litestar")
"""Loggers that bring handlers of their own (FastStream's colour the text): they lose them and
propagate to the root handler."""

_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


class LogSettings(BaseSettings):
    """``PLINTH_LOG_*``: read on their own, before any other setting, so that even a process
    whose other settings are invalid logs the way it was asked to."""

    model_config = SettingsConfigDict(env_prefix="PLINTH_", extra="ignore")

    log_format: Literal["text", "json"] = Field(
        default="text", description="text: one plain line per record; json: one JSON object "
        "per line with ts, level, logger, message, service, trace_id, span_id, job_id, exc")
    log_level: str = Field(default="INFO", description="level of the root logger")
    log_rate_window_s: float = Field(
        default=10.0, gt=0, description="window of the repeated-error limit, seconds")
    log_rate_burst: int = Field(
        default=5, ge=1, description="identical warnings/errors let through per window; the "
        "rest are summarised at its end")


@contextmanager
def job_context(job_id: str | None) -> Iterator[None]:
    """Log records made inside carry ``job_id``."""
    token = job_id_var.set(job_id)
    try:
        yield
    finally:
        job_id_var.reset(token)


# ---------------------------------------------------------------------------- rate limit
@dataclass
class _Window:
    started: float
    passed: int
    suppressed: int = 0
    last: logging.LogRecord | None = None


Key = tuple[str, str, str | None]


def rate_key(record: logging.LogRecord) -> Key:
    """Same logger, same message template (before its arguments), same exception type."""
    exc_type = record.exc_info[0] if record.exc_info and record.exc_info[0] else None
    return (record.name, str(record.msg), exc_type.__name__ if exc_type else None)


class RateLimitFilter(logging.Filter):
    """Lets ``burst`` records of one :func:`rate_key` through per ``window_s``; counts the rest
    and, once the window is over, logs one summary for them (through the same logger, so it
    reaches the same handlers). Records below ``level`` are never limited.

    The summary comes when the window ends: from a background thread (``background=True``), or
    at the next record of any key, or at :meth:`flush`. ``clock`` is injectable for tests.
    """

    def __init__(
        self,
        *,
        window_s: float = 10.0,
        burst: int = 5,
        level: int = logging.WARNING,
        clock: Callable[[], float] = time.monotonic,
        background: bool = True,
        max_keys: int = 10_000,
    ) -> None:
        super().__init__()
        self.window_s = window_s
        self.burst = burst
        self.level = level
        self.clock = clock
        self.max_keys = max_keys
        self._windows: dict[Key, _Window] = {}
        self._lock = threading.Lock()
        self._wake = threading.Condition(self._lock)
        self._background = background
        self._thread: threading.Thread | None = None
        self._closed = False
        self._next_due = math.inf
        """When the earliest window with suppressed records ends."""

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, SUMMARY_ATTR, None) is not None:
            return True
        now = self.clock()
        due: list[logging.LogRecord] = []
        if now >= self._next_due:  # a window with suppressed records is over: summary first
            with self._lock:
                due = self._take_due(now)
        if record.levelno < self.level:
            self._emit(due)
            return True
        key = rate_key(record)
        with self._lock:
            window = self._windows.get(key)
            if window is None or now - window.started >= self.window_s:
                if window is not None and window.suppressed:
                    due.extend(self._take_due(now))
                if len(self._windows) >= self.max_keys:  # a flood of distinct messages
                    due.extend(self._take_due(now, everything=True))
                self._windows[key] = _Window(started=now, passed=1)
                allowed = True
            elif window.passed < self.burst:
                window.passed += 1
                allowed = True
            else:
                window.suppressed += 1
                window.last = record
                allowed = False
                if window.suppressed == 1:
                    self._next_due = min(self._next_due, window.started + self.window_s)
                    self._start_flusher()
                    self._wake.notify()
        self._emit(due)
        return allowed

    def flush(self, *, everything: bool = False) -> None:
        """Log the summaries of windows that are over (all of them with ``everything``)."""
        with self._lock:
            due = self._take_due(self.clock(), everything=everything)
        self._emit(due)

    def close(self) -> None:
        """Stop the background thread; summaries still owed are logged now."""
        with self._lock:
            self._closed = True
            self._wake.notify()
        self.flush(everything=True)

    # -------------------------------------------------------------- internals
    def _take_due(self, now: float, *, everything: bool = False) -> list[logging.LogRecord]:
        """Summaries of the windows that are over; those windows are forgotten. Lock held."""
        due: list[logging.LogRecord] = []
        next_due = math.inf
        for key, window in list(self._windows.items()):
            if everything or now - window.started >= self.window_s:
                if window.suppressed and window.last is not None:
                    due.append(self._summary(window, min(now - window.started, self.window_s)))
                del self._windows[key]
            elif window.suppressed:
                next_due = min(next_due, window.started + self.window_s)
        self._next_due = next_due
        return due

    def _summary(self, window: _Window, elapsed_s: float) -> logging.LogRecord:
        last = window.last
        assert last is not None
        try:
            text = last.getMessage()
        except Exception:  # a record whose arguments do not fit: say what we can
            text = str(last.msg)
        if last.exc_info and last.exc_info[0] is not None:
            text = f"{text} ({last.exc_info[0].__name__}: {last.exc_info[1]})"
        summary = logging.LogRecord(
            last.name, last.levelno, last.pathname, last.lineno,
            "%d more in the last %s s like: %s",
            (window.suppressed, f"{elapsed_s:.0f}" if elapsed_s >= 1 else f"{elapsed_s:.1f}",
             text),
            None, last.funcName,
        )  # fmt: skip
        setattr(summary, SUMMARY_ATTR, window.suppressed)
        # It stands for many records: not for the job or trace that happens to be current.
        summary.__dict__.update(trace_id="", span_id="", job_id="")
        return summary

    @staticmethod
    def _emit(records: list[logging.LogRecord]) -> None:
        for record in records:
            logging.getLogger(record.name).handle(record)

    def _start_flusher(self) -> None:
        if self._background and self._thread is None and not self._closed:
            self._thread = threading.Thread(target=self._flush_loop, name="plinth-log-summary",
                                            daemon=True)
            self._thread.start()

    def _flush_loop(self) -> None:
        while True:
            with self._lock:
                while not self._closed:
                    if self._next_due == math.inf:
                        self._wake.wait()
                        continue
                    wait_s = self._next_due - self.clock()
                    if wait_s <= 0:
                        break
                    self._wake.wait(wait_s)
                if self._closed:
                    return
                due = self._take_due(self.clock())
            self._emit(due)


# ---------------------------------------------------------------------------- context
class ContextFilter(logging.Filter):
    """Puts ``trace_id``, ``span_id`` (current OpenTelemetry span) and ``job_id``
    (:data:`job_id_var`) on each record, unless the record carries them already."""

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "trace_id", None) is None:
            context = trace.get_current_span().get_span_context()
            valid = context.is_valid
            record.__dict__["trace_id"] = format(context.trace_id, "032x") if valid else None
            record.__dict__["span_id"] = format(context.span_id, "016x") if valid else None
        if getattr(record, "job_id", None) is None:
            record.__dict__["job_id"] = job_id_var.get()
        return True


# ---------------------------------------------------------------------------- formats
def strip_ansi(text: str) -> str:
    return _ANSI.sub("", text) if "\x1b" in text else text


class TextFormatter(logging.Formatter):
    """``2026-12-04 21:40:00,123 ERROR plinth.worker: message [job=... trace=...]``."""

    def __init__(self) -> None:
        super().__init__(TEXT_FORMAT)

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        where = []
        job_id = getattr(record, "job_id", None)
        trace_id = getattr(record, "trace_id", None)
        if job_id:
            where.append(f"job={job_id}")
        if trace_id:
            where.append(f"trace={trace_id}")
        if where:
            first, sep, rest = line.partition("\n")  # after the message, before a traceback
            line = f"{first} [{' '.join(where)}]{sep}{rest}"
        return strip_ansi(line)


class JsonFormatter(logging.Formatter):
    """One JSON object per line: ``ts`` (UTC, ISO 8601), ``level``, ``logger``, ``message``,
    ``service``, and when known ``trace_id``, ``span_id``, ``job_id``, ``exc_type``, ``exc``
    (the traceback), ``suppressed`` (on a rate-limit summary)."""

    def __init__(self, service: str | None = None) -> None:
        super().__init__()
        self.service = service

    def format(self, record: logging.LogRecord) -> str:
        body: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds")
            .replace("+00:00", "Z"),
            "level": record.levelname,
            "logger": record.name,
            "message": strip_ansi(record.getMessage()),
        }
        if self.service:
            body["service"] = self.service
        for name in ("trace_id", "span_id", "job_id"):
            value = getattr(record, name, None)
            if value:
                body[name] = value
        suppressed = getattr(record, SUMMARY_ATTR, None)
        if suppressed is not None:
            body["suppressed"] = suppressed
        if record.exc_info and record.exc_info[0] is not None:
            body["exc_type"] = record.exc_info[0].__name__
            body["exc"] = strip_ansi("".join(traceback.format_exception(*record.exc_info)))
        elif record.exc_text:
            body["exc"] = strip_ansi(record.exc_text)
        if record.stack_info:
            body["stack"] = record.stack_info
        return json.dumps(body, default=str, ensure_ascii=False)


# ---------------------------------------------------------------------------- set-up
class PlinthHandler(logging.StreamHandler[TextIO]):
    """The root handler :func:`setup_logging` installs (recognised when it runs again)."""

    rate_limit: RateLimitFilter


def setup_logging(
    service: str | None = None,
    *,
    fmt: Literal["text", "json"] | None = None,
    level: int | str | None = None,
    stream: TextIO | None = None,
    settings: LogSettings | None = None,
) -> PlinthHandler:
    """Install the root handler (replacing any, e.g. one from ``logging.basicConfig``) and tame
    the library loggers. Safe to call again: the previous Plinth handler is replaced."""
    settings = settings or LogSettings()
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
        if isinstance(old, PlinthHandler):
            old.rate_limit.close()
            old.close()
    handler = PlinthHandler(stream if stream is not None else sys.stderr)
    handler.rate_limit = RateLimitFilter(window_s=settings.log_rate_window_s,
                                         burst=settings.log_rate_burst)
    handler.addFilter(ContextFilter())
    handler.addFilter(handler.rate_limit)
    chosen = fmt or settings.log_format
    handler.setFormatter(JsonFormatter(service) if chosen == "json" else TextFormatter())
    root.addHandler(handler)
    root.setLevel(level if level is not None else settings.log_level.upper())
    tame_library_loggers()
    _flush_at_exit(handler)
    return handler


def tame_library_loggers() -> None:
    for name, floor in NOISY_LOGGERS.items():
        logger = logging.getLogger(name)
        if logger.level < floor:
            logger.setLevel(floor)
    for name in ADOPTED_LOGGERS:
        logger = logging.getLogger(name)
        for old in list(logger.handlers):
            logger.removeHandler(old)
        logger.propagate = True


def litestar_logging_config() -> Any:
    """For ``Litestar(logging_config=...)``. Litestar's default configuration replaces the root
    logger's handlers with its own (another format, its own queue thread); this one leaves the
    root alone, sends the ``litestar`` logger's records to the root handler, and builds no
    handler of its own."""
    from litestar.logging.config import LoggingConfig

    return LoggingConfig(
        configure_root_logger=False,
        handlers={"console": {"class": "logging.NullHandler"},
                  "queue_listener": {"class": "logging.NullHandler"}},
        loggers={"litestar": {"level": "INFO", "handlers": [], "propagate": True}},
    )


_exit_hook: list[PlinthHandler] = []


def _close_rate_limits() -> None:
    for handler in _exit_hook:
        handler.rate_limit.close()


def _flush_at_exit(handler: PlinthHandler) -> None:
    """Summaries still owed are written before the process exits."""
    if not _exit_hook:
        atexit.register(_close_rate_limits)
    _exit_hook.clear()
    _exit_hook.append(handler)
