"""Can this process reach what it needs right now? Kafka, the document store, S3: each probed
with a deadline, all at once, and the answer kept for a moment.

Used by the ``/ready`` endpoints (a load balancer polls them; each poll must be cheap, hence the
cache) and by the consumers' redelivery bound, which must tell an outage (every record fails:
wait, count nothing) from a poison record (it fails while everything is reachable).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

from aiokafka.client import AIOKafkaClient

Probe = Callable[[], Awaitable[Any]]
"""Returns when the dependency answers; raises (or takes too long) when it does not."""

PROBE_TIMEOUT_S = 2.0
CACHE_S = 1.5


@dataclass(frozen=True)
class ComponentState:
    ok: bool
    latency_ms: float
    error: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "status": "ok" if self.ok else "down",
            "latency_ms": self.latency_ms,
            "error": self.error,
        }


@dataclass(frozen=True)
class ReadinessReport:
    components: Mapping[str, ComponentState]

    @property
    def ready(self) -> bool:
        return all(state.ok for state in self.components.values())

    @property
    def down(self) -> list[str]:
        return [name for name, state in self.components.items() if not state.ok]

    def reason(self) -> str:
        """``kafka unreachable (KafkaConnectionError: ...); s3 unreachable (...)``."""
        return "; ".join(
            f"{name} unreachable ({self.components[name].error})" for name in self.down
        )

    def as_dict(self) -> dict[str, Any]:
        return {name: state.as_dict() for name, state in self.components.items()}


class Readiness:
    """Probes every dependency concurrently, each within ``timeout_s``; a report younger than
    ``cache_s`` is reused, and concurrent callers share one round of probes."""

    def __init__(
        self,
        probes: Mapping[str, Probe],
        *,
        timeout_s: float = PROBE_TIMEOUT_S,
        cache_s: float = CACHE_S,
    ) -> None:
        self.probes = dict(probes)
        self.timeout_s = timeout_s
        self.cache_s = cache_s
        self._report: ReadinessReport | None = None
        self._at = 0.0
        self._lock = asyncio.Lock()

    async def report(self) -> ReadinessReport:
        async with self._lock:
            if self._report is None or time.monotonic() - self._at >= self.cache_s:
                names = list(self.probes)
                states = await asyncio.gather(*(self._probe(self.probes[n]) for n in names))
                self._report = ReadinessReport(dict(zip(names, states, strict=True)))
                self._at = time.monotonic()
            return self._report

    async def ready(self) -> bool:
        return (await self.report()).ready

    async def _probe(self, probe: Probe) -> ComponentState:
        started = time.perf_counter()
        error: str | None = None
        try:
            async with asyncio.timeout(self.timeout_s):
                await probe()
        except TimeoutError:
            error = f"no answer within {self.timeout_s:g} s"
        except Exception as exc:
            text = str(exc)
            name = type(exc).__name__
            error = text if text.startswith(name) else f"{name}: {text}"
        latency = round((time.perf_counter() - started) * 1000, 1)
        return ComponentState(ok=error is None, latency_ms=latency, error=error)


def kafka_probe(bootstrap: str, *, timeout_s: float = PROBE_TIMEOUT_S) -> Probe:
    """A metadata round trip over a connection of its own: what a producer or consumer needs
    first. Cheap (one connection per probe, and probes are cached) and independent of the
    process's long-lived clients, which retry quietly in the background and would not say."""

    async def probe() -> None:
        client = AIOKafkaClient(
            bootstrap_servers=bootstrap,
            client_id="plinth-readiness",
            request_timeout_ms=int(timeout_s * 1000),
        )
        try:
            await client.bootstrap()
        finally:
            await client.close()

    return probe
