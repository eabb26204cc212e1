"""In-memory stand-ins for the job store, blob store and publisher the runtime talks to."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from plinth.domain.job import Job
from plinth.domain.states import JobStatus
from plinth.messaging.events import Event
from plinth_testkit.memory import MemoryBlobs


class MemoryJobs:
    def __init__(self) -> None:
        self.docs: dict[str, Job] = {}
        self.writes = 0

    async def get(self, job_id: str) -> Job | None:
        return self.docs.get(job_id)

    async def replace_if_status(self, job: Job, expected: JobStatus) -> bool:
        stored = self.docs.get(job.id)
        if stored is None or stored.status is not expected:
            return False
        self.docs[job.id] = job
        self.writes += 1
        return True


@dataclass
class RecordingPublisher:
    sent: list[tuple[str, Event, bytes]] = field(default_factory=list)

    async def publish(self, event: Event, topic: str, key: bytes) -> None:
        self.sent.append((topic, event, key))

    def on(self, topic: str) -> list[Event]:
        return [event for sent_topic, event, _ in self.sent if sent_topic == topic]


@pytest.fixture
def jobs() -> MemoryJobs:
    return MemoryJobs()


@pytest.fixture
def memory_blobs() -> MemoryBlobs:
    return MemoryBlobs()


@pytest.fixture
def publisher() -> RecordingPublisher:
    return RecordingPublisher()


@pytest.fixture(scope="session")
def span_exporter():  # type: ignore[no-untyped-def]
    """An SDK tracer provider for this test process, keeping finished spans in memory."""
    from opentelemetry import trace
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    trace.set_tracer_provider(provider)
    return exporter
