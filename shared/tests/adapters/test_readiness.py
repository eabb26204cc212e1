"""Readiness: every dependency probed at once with a deadline, the answer cached briefly, and the
one that is down named. Kafka is probed on a closed port: no stack needed."""

from __future__ import annotations

import asyncio
import socket

from plinth.adapters.readiness import Readiness, kafka_probe


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def test_an_unreachable_kafka_is_named_and_fast() -> None:
    readiness = Readiness({"kafka": kafka_probe(f"127.0.0.1:{closed_port()}")}, timeout_s=2.0)
    report = await readiness.report()
    assert not report.ready and report.down == ["kafka"]
    assert report.reason().startswith("kafka unreachable (")
    assert report.as_dict()["kafka"]["status"] == "down"
    assert report.components["kafka"].latency_ms < 2000


async def test_each_probe_has_a_deadline_and_they_run_together() -> None:
    async def hangs() -> None:
        await asyncio.sleep(30)

    async def fine() -> None:
        return None

    readiness = Readiness({"mongo": hangs, "s3": hangs, "kafka": fine}, timeout_s=0.2)
    loop = asyncio.get_running_loop()
    started = loop.time()
    report = await readiness.report()
    assert loop.time() - started < 1.0  # concurrent: not 2 x 0.2 s plus
    assert report.down == ["mongo", "s3"]
    assert report.components["mongo"].error == "no answer within 0.2 s"


async def test_the_report_is_cached_and_shared() -> None:
    calls = 0

    async def counted() -> None:
        nonlocal calls
        calls += 1
        await asyncio.sleep(0.05)

    readiness = Readiness({"mongo": counted}, cache_s=10)
    reports = await asyncio.gather(*(readiness.report() for _ in range(20)))
    assert calls == 1 and all(r.ready for r in reports)
    await readiness.report()
    assert calls == 1
    readiness.cache_s = 0
    await readiness.report()
    assert calls == 2


async def test_an_error_is_reported_with_its_type() -> None:
    async def refused() -> None:
        raise ConnectionRefusedError("connection refused")

    report = await Readiness({"s3": refused}).report()
    assert report.reason() == "s3 unreachable (ConnectionRefusedError: connection refused)"
