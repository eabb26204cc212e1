"""Waiting for dependencies (no stack): backoff, one log line per state change, start-up steps
retried, resources opened in the background."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest

from plinth.adapters.readiness import ComponentState, ReadinessReport
from plinth.worker.dependencies import (
    Backoff,
    DependencyLog,
    open_when_ready,
    retry_until_done,
    unless_stopped,
    wait_until_ready,
)


class FakeReadiness:
    """Reports from a script: each entry says which dependencies are down."""

    def __init__(self, *down: set[str]) -> None:
        self.script = list(down)
        self.calls = 0

    def set_down(self, *names: str) -> None:
        self.script = [set(names)]

    async def report(self) -> ReadinessReport:
        down = self.script[min(self.calls, len(self.script) - 1)]
        self.calls += 1
        return report_with(*down)


def report_with(*down: str) -> ReadinessReport:
    return ReadinessReport({
        name: ComponentState(ok=name not in down, latency_ms=1.0,
                             error="KafkaConnectionError: Unable to bootstrap"
                             if name in down else None)
        for name in ("kafka", "mongo", "s3")
    })  # fmt: skip


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


async def no_sleep(_: float) -> None:
    await asyncio.sleep(0)


def test_backoff_grows_to_its_cap_with_jitter() -> None:
    top = Backoff(0.5, 8.0, rng=lambda: 0.0)
    assert [top.next_delay() for _ in range(7)] == [0.5, 1.0, 2.0, 4.0, 8.0, 8.0, 8.0]
    low = Backoff(0.5, 8.0, jitter=0.5, rng=lambda: 1.0)
    assert [low.next_delay() for _ in range(6)] == [0.25, 0.5, 1.0, 2.0, 4.0, 4.0]
    low.reset()
    assert low.next_delay() == 0.25


def test_one_line_per_state_change(caplog: pytest.LogCaptureFixture) -> None:
    clock = Clock()
    journal = DependencyLog(logger=logging.getLogger("plinth.test.deps"), still_every_s=30,
                            clock=clock)
    caplog.set_level(logging.INFO, logger="plinth.test.deps")

    def observe(*down: str) -> None:
        journal.observe(report_with(*down))

    for _ in range(100):  # 100 probes over 99 s while Kafka is down
        observe("kafka")
        clock.now += 1
    clock.now = 120
    observe()  # back
    for _ in range(10):
        observe()
    observe("kafka", "s3")  # lost
    observe("kafka", "s3")
    lines = [r.getMessage() for r in caplog.records]
    assert lines[0] == "waiting for kafka: KafkaConnectionError: Unable to bootstrap"
    assert lines[1:4] == [
        f"still waiting for kafka after {s} s: KafkaConnectionError: Unable to bootstrap"
        for s in (30, 60, 90)
    ]
    assert lines[4] == "kafka back after 120 s"
    assert lines[5:] == [
        "kafka lost: KafkaConnectionError: Unable to bootstrap; waiting for it",
        "s3 lost: KafkaConnectionError: Unable to bootstrap; waiting for it",
    ]
    assert journal.down() == ["kafka", "s3"]


async def test_wait_until_ready_backs_off_until_everything_answers() -> None:
    readiness = FakeReadiness({"kafka"}, {"kafka"}, {"kafka", "mongo"}, set())
    delays: list[float] = []

    async def sleep(delay: float) -> None:
        delays.append(delay)

    report = await wait_until_ready(readiness, backoff=Backoff(rng=lambda: 0.0), sleep=sleep)
    assert report.ready
    assert delays == [0.5, 1.0, 2.0]


async def test_a_start_up_step_is_retried_and_undone_between_tries() -> None:
    readiness = FakeReadiness(set())
    tries: list[int] = []
    undone: list[int] = []

    async def start() -> str:
        tries.append(1)
        if len(tries) < 3:
            raise ConnectionError("Unable to bootstrap")
        return "started"

    async def undo() -> None:
        undone.append(1)
        raise RuntimeError("stop failed too")  # ignored

    result = await retry_until_done("start", start, readiness, undo=undo, sleep=no_sleep)
    assert result == "started" and len(tries) == 3 and len(undone) == 2


async def test_unless_stopped_ends_a_wait_on_sigterm() -> None:
    stop = asyncio.Event()
    forever = FakeReadiness({"kafka"})
    waiting = wait_until_ready(forever, sleep=lambda _: asyncio.sleep(0.01))
    asyncio.get_running_loop().call_later(0.1, stop.set)
    done, result = await asyncio.wait_for(unless_stopped(stop, waiting), 5)
    assert (done, result) == (False, None)
    finished, value = await unless_stopped(stop, asyncio.sleep(0, "x"))
    assert (finished, value) == (True, "x")


async def test_open_when_ready_serves_first_and_opens_once_dependencies_answer() -> None:
    readiness = FakeReadiness({"mongo"})
    events: list[str] = []
    seen: list[object] = []

    @asynccontextmanager
    async def opener() -> AsyncIterator[str]:
        events.append("open")
        if events.count("open") == 1:
            raise ConnectionError("refused")  # the first try fails after the wait
        try:
            yield "resource"
        finally:
            events.append("closed")

    async with open_when_ready("thing", opener, readiness, on_open=seen.append,
                               backoff=Backoff(0.01, 0.02)) as pending:
        # entered although mongo is down: nothing opened yet, the reason names it
        assert pending.value is None and events == []
        assert "mongo unreachable" in await pending.reason()
        readiness.set_down()
        for _ in range(200):
            if pending.value is not None:
                break
            await asyncio.sleep(0.01)
        assert pending.value == "resource"
        assert events == ["open", "open"] and seen == ["resource"]
        assert pending.error is None
    assert events[-1] == "closed" and seen == ["resource", None]


async def test_open_when_ready_is_open_on_entry_when_all_is_well() -> None:
    @asynccontextmanager
    async def opener() -> AsyncIterator[int]:
        yield 42

    async with open_when_ready("thing", opener, FakeReadiness(set())) as pending:
        assert pending.value == 42


async def test_open_when_ready_leaves_at_once_while_still_waiting() -> None:
    @asynccontextmanager
    async def opener() -> AsyncIterator[int]:
        yield 1  # pragma: no cover - never reached

    async def leave() -> None:
        async with open_when_ready("thing", opener, FakeReadiness({"kafka"})) as pending:
            assert pending.value is None

    await asyncio.wait_for(leave(), 5)
