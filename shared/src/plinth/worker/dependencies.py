"""Waiting for Kafka, the document store and S3 instead of exiting.

A process that starts while a dependency is down, or loses one while it runs, waits for it: it
probes (``plinth.adapters.readiness``) with capped exponential backoff and jitter, logs one line
per state change (``waiting for kafka``, ``still waiting for kafka after 30 s``, ``kafka back
after 42 s``, ``kafka lost``) and never exits because something is unreachable.

- :func:`wait_until_ready`: return once every dependency answers (start-up).
- :func:`retry_until_done`: run a start-up step (create topics, start the broker) until it
  succeeds, waiting for the dependencies between tries.
- :class:`DependencyWatch`: a background task that keeps probing while the process runs and logs
  losses and recoveries; the long-lived clients (aiokafka, PyMongo, botocore) reconnect on their
  own, the watch says when and for how long they could not.
- :func:`open_when_ready`: for the HTTP apps: open their resources in the background, retried
  until they open, so that the app serves ``/live`` (and ``/ready`` says 503) meanwhile.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Collection
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass, field
from typing import Generic, Protocol, TypeVar

from plinth.adapters.mongo import Database
from plinth.adapters.readiness import Probe, Readiness, ReadinessReport, kafka_probe
from plinth.adapters.s3 import BlobStore
from plinth.settings import InfrastructureSettings

log = logging.getLogger("plinth.dependencies")

T = TypeVar("T")

INITIAL_DELAY_S = 0.5
MAX_DELAY_S = 15.0
STILL_WAITING_EVERY_S = 30.0
WATCH_INTERVAL_S = 5.0


class ReportSource(Protocol):
    """What the helpers probe: :class:`plinth.adapters.readiness.Readiness`."""

    async def report(self) -> ReadinessReport: ...


class Backoff:
    """Capped exponential backoff with jitter: ``initial_s * factor**n`` up to ``max_s``, each
    delay shortened by a random share of up to ``jitter`` so that many processes waiting for the
    same broker do not all knock at once."""

    def __init__(
        self,
        initial_s: float = INITIAL_DELAY_S,
        max_s: float = MAX_DELAY_S,
        *,
        factor: float = 2.0,
        jitter: float = 0.5,
        rng: Callable[[], float] = random.random,
    ) -> None:
        self.initial_s = initial_s
        self.max_s = max_s
        self.factor = factor
        self.jitter = jitter
        self.rng = rng
        self.tries = 0

    def next_delay(self) -> float:
        delay = min(self.max_s, self.initial_s * self.factor**self.tries)
        self.tries += 1
        return delay * (1.0 - self.jitter * self.rng())

    def reset(self) -> None:
        self.tries = 0


@dataclass
class _State:
    up: bool
    since: float
    noted: float
    error: str | None = None


@dataclass
class DependencyLog:
    """One log line per state change of each dependency: lost (or, before it was ever seen up,
    waiting), still waiting every ``still_every_s``, back."""

    logger: logging.Logger = field(default_factory=lambda: log)
    still_every_s: float = STILL_WAITING_EVERY_S
    clock: Callable[[], float] = time.monotonic
    states: dict[str, _State] = field(default_factory=dict)

    def observe(self, report: ReadinessReport) -> None:
        now = self.clock()
        for name, component in report.components.items():
            state = self.states.get(name)
            if state is None:
                self.states[name] = _State(component.ok, now, now, component.error)
                if not component.ok:
                    self.logger.warning("waiting for %s: %s", name, component.error)
                continue
            if component.ok and not state.up:
                self.logger.info("%s back after %.0f s", name, now - state.since)
                self.states[name] = _State(True, now, now)
            elif not component.ok and state.up:
                self.logger.warning("%s lost: %s; waiting for it", name, component.error)
                self.states[name] = _State(False, now, now, component.error)
            elif not component.ok and now - state.noted >= self.still_every_s:
                self.logger.warning("still waiting for %s after %.0f s: %s", name,
                                    now - state.since, component.error)
                state.noted = now
                state.error = component.error

    def down(self) -> list[str]:
        return [name for name, state in self.states.items() if not state.up]


async def wait_until_ready(
    readiness: ReportSource,
    *,
    journal: DependencyLog | None = None,
    backoff: Backoff | None = None,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
) -> ReadinessReport:
    """Return the first report in which every dependency answers; until then probe with
    backoff and log state changes. Never raises for an unreachable dependency."""
    journal = journal or DependencyLog()
    backoff = backoff or Backoff()
    while True:
        report = await readiness.report()
        journal.observe(report)
        if report.ready:
            return report
        await sleep(backoff.next_delay())


async def retry_until_done(
    what: str,
    attempt: Callable[[], Awaitable[T]],
    readiness: ReportSource,
    *,
    journal: DependencyLog | None = None,
    backoff: Backoff | None = None,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    undo: Callable[[], Awaitable[object]] | None = None,
) -> T:
    """Run ``attempt`` until it succeeds. Before each try wait until every dependency answers;
    after a failed one call ``undo`` (if given, errors ignored) and back off. One warning per
    failed try (they are spaced by the backoff, and the rate limit merges repeats)."""
    journal = journal or DependencyLog()
    backoff = backoff or Backoff()
    while True:
        await wait_until_ready(readiness, journal=journal, sleep=sleep)
        try:
            return await attempt()
        except Exception as exc:
            delay = backoff.next_delay()
            log.warning("could not %s (%s: %s); trying again in %.1f s", what,
                        type(exc).__name__, exc, delay)
            if undo is not None:
                with contextlib.suppress(Exception):
                    await undo()
            await sleep(delay)


class DependencyWatch:
    """Probes every ``interval_s`` in the background and logs losses and recoveries."""

    def __init__(
        self,
        readiness: ReportSource,
        *,
        interval_s: float = WATCH_INTERVAL_S,
        journal: DependencyLog | None = None,
    ) -> None:
        self.readiness = readiness
        self.interval_s = interval_s
        self.journal = journal or DependencyLog()
        self.last: ReadinessReport | None = None
        self._task: asyncio.Task[None] | None = None

    async def check(self) -> ReadinessReport:
        report = await self.readiness.report()
        self.last = report
        self.journal.observe(report)
        return report

    async def run(self) -> None:
        while True:
            try:
                await self.check()
            except Exception:  # a probe helper itself broke: say so, keep watching
                log.exception("dependency check failed")
            await asyncio.sleep(self.interval_s)

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self.run(), name="plinth-dependency-watch")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None


async def unless_stopped(stop: asyncio.Event, work: Awaitable[T]) -> tuple[bool, T | None]:
    """Run ``work`` until it finishes or ``stop`` is set (then it is cancelled): ``(True,
    result)`` or ``(False, None)``. Lets SIGTERM end a process that is still waiting."""
    task = asyncio.ensure_future(work)
    stopper = asyncio.ensure_future(stop.wait())
    try:
        await asyncio.wait({task, stopper}, return_when=asyncio.FIRST_COMPLETED)
    except asyncio.CancelledError:
        task.cancel()
        raise
    finally:
        stopper.cancel()
    if task.done():
        return True, task.result()
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    return False, None


# ---------------------------------------------------------------------------- HTTP apps
@asynccontextmanager
async def probes_for(
    settings: InfrastructureSettings, *, kafka: bool = True, mongo: bool = True, s3: bool = True
) -> AsyncIterator[Readiness]:
    """A :class:`Readiness` over clients of its own: for a process whose resources (and their
    probes) are not open yet."""
    db = Database.from_settings(settings)
    try:
        async with BlobStore.from_settings(settings) as blobs:
            probes: dict[str, Probe] = {}
            if kafka:
                probes["kafka"] = kafka_probe(settings.kafka_bootstrap)
            if mongo:
                probes["mongo"] = db.ping
            if s3:
                probes["s3"] = blobs.ping
            yield Readiness(probes)
    finally:
        await db.close()


class Pending(Generic[T]):
    """A resource opened in the background: ``value`` is None until it is open."""

    def __init__(self, what: str, readiness: ReportSource) -> None:
        self.what = what
        self.readiness = readiness
        self.value: T | None = None
        self.error: str | None = None
        self.tried = asyncio.Event()
        """Set once the first try is over, whether it opened the resource or not."""

    async def reason(self) -> str:
        """Why it is not open (yet): what is unreachable, or the last error."""
        report = await self.readiness.report()
        if not report.ready:
            return f"starting: {report.reason()}"
        return f"starting: {self.error or 'opening ' + self.what}"


@asynccontextmanager
async def open_when_ready(
    what: str,
    opener: Callable[[], AbstractAsyncContextManager[T]],
    readiness: ReportSource,
    *,
    on_open: Callable[[T | None], None] | None = None,
    backoff: Backoff | None = None,
    needs: Collection[str] | None = None,
) -> AsyncIterator[Pending[T]]:
    """Open ``opener()`` in a background task, retried (waiting for the dependencies in
    ``readiness`` first, backing off between tries) until it opens; it stays open until this
    context exits, when it is closed by the same task. ``on_open`` is called with the value
    once open and with None before it closes. ``needs``: the components that must answer
    before a try (default: all of them); the others are only logged (and ``/ready`` reports
    them), opening does not wait for them.

    The context is entered at once (after a first try that finished either way: a healthy
    start is open by then), so an HTTP app can serve while its dependencies are missing."""
    pending: Pending[T] = Pending(what, readiness)
    closing = asyncio.Event()
    backoff = backoff or Backoff()
    journal = DependencyLog()

    async def keep_open() -> None:
        while not closing.is_set():
            report = await readiness.report()
            journal.observe(report)
            if not any(name in report.down for name in needs or report.components):
                try:
                    async with opener() as value:
                        pending.value, pending.error = value, None
                        if on_open is not None:
                            on_open(value)
                        pending.tried.set()
                        log.info("%s open", what)
                        watch = DependencyWatch(readiness, journal=journal)  # lost / back
                        watch.start()
                        try:
                            await closing.wait()
                        finally:
                            await watch.stop()
                            if on_open is not None:
                                on_open(None)
                            pending.value = None
                    return
                except Exception as exc:
                    pending.error = f"{type(exc).__name__}: {exc}"
                    delay = backoff.next_delay()
                    log.warning("could not open %s (%s); trying again in %.1f s", what,
                                pending.error, delay, exc_info=exc)
            else:
                delay = backoff.next_delay()
            pending.tried.set()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(closing.wait(), delay)

    task = asyncio.create_task(keep_open(), name=f"plinth-open-{what}")
    tried = asyncio.ensure_future(pending.tried.wait())
    try:
        await asyncio.wait({task, tried}, return_when=asyncio.FIRST_COMPLETED)
        if task.done():
            task.result()  # only a bug ends it early: raise it here
        yield pending
    finally:
        tried.cancel()
        closing.set()
        if pending.value is None and not task.done():
            task.cancel()  # still connecting: nothing to close
        with contextlib.suppress(asyncio.CancelledError):
            await task
