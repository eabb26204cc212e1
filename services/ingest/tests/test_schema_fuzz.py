"""Schemathesis against ingest's own OpenAPI document: generated requests for every operation,
valid and invalid, answered without a server error and, where a status is declared, in the
declared shape.

The app runs in-process (lifespan included) on the local stack with a private database and
without its downloader; its Kafka publisher is replaced by one that keeps the events, so that no
generated image URL ever reaches a downloader. Webhook and batch bodies are signed like 3JMS
signs them unless the case carries a generated signature header (then it is sent as generated,
which exercises the refusals). Bounded: ``MAX_EXAMPLES`` per operation.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from litestar.testing import TestClient
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance

from plinth.messaging.events import Event
from plinth.worker.settings import WorkerSettings
from plinth_ingest.app import create_app
from plinth_ingest.runtime import IngestRuntime
from plinth_ingest.settings import IngestSettings
from plinth_ingest.signature import SIGNATURE_HEADER, signed_headers
from plinth_testkit.fuzz import FUZZ_MARKS, send_case

pytestmark = FUZZ_MARKS

SECRET = "fuzz-webhook-secret"
STATUSES: Counter[tuple[str, int]] = Counter()
"""(path template, status) of every response, for the checks after the fuzzing."""
MAX_EXAMPLES = 150
SIGNED_PATHS = ("/api/webhooks/3jms/images", "/api/ingest/batch")

schema = schemathesis.openapi.from_dict(
    create_app(IngestSettings(webhook_secret=SECRET), downloader=False).openapi_schema.to_schema()
)


class KeptEvents:
    """Stands in for Kafka: the events the app would publish, kept in memory."""

    def __init__(self) -> None:
        self.events: list[tuple[str, Event]] = []

    async def publish(self, event: Event, topic: str, key: bytes) -> None:
        self.events.append((topic, event))


@pytest.fixture(scope="module")
def fuzz_client(stack_settings: WorkerSettings, test_namespace: Any) -> Iterator[TestClient[Any]]:
    settings = IngestSettings(
        **{
            **stack_settings.model_dump(),
            "mongo_db": test_namespace.database("ingest_fuzz"),
            "webhook_secret": SECRET,
            "webhook_dev_bypass": False,
        }
    )
    app = create_app(settings, downloader=False)
    with TestClient(app=app, raise_server_exceptions=False) as client:
        # The runtime may open in the background once Kafka and the store answer.
        deadline = time.monotonic() + 30
        while app.state.get("ingest") is None:
            assert time.monotonic() < deadline, "the ingest runtime did not open within 30 s"
            time.sleep(0.1)
        runtime: IngestRuntime = app.state.ingest
        runtime.webhook.intake.publisher = KeptEvents()
        yield client
        client.blocking_portal.call(runtime.db.client.drop_database, settings.mongo_db)


def send(client: TestClient[Any], case: Any) -> Any:
    """The case as an httpx request; webhook and batch bodies signed unless the case brings its
    own signature header."""

    def sign(headers: dict[str, str], content: bytes | None) -> None:
        if case.path in SIGNED_PATHS and SIGNATURE_HEADER.lower() not in {
                k.lower() for k in headers}:
            headers.update(signed_headers(SECRET, content or b""))

    return send_case(client, case, sign)


@schema.parametrize()
@settings(
    max_examples=MAX_EXAMPLES,
    deadline=None,
    database=None,
    suppress_health_check=list(HealthCheck),
)
def test_no_server_errors_and_declared_shapes(case: Any, fuzz_client: TestClient[Any]) -> None:
    response = send(fuzz_client, case)
    STATUSES[(case.path, response.status_code)] += 1
    case.validate_response(response, checks=[not_a_server_error, response_schema_conformance])


def test_the_fuzzing_reached_every_outcome() -> None:
    """The generated deliveries got past the signature into validation and the intake."""
    webhook = {status for (path, status) in STATUSES if path == "/api/webhooks/3jms/images"}
    assert {202, 401, 422} <= webhook, STATUSES
    assert all(status < 500 for _, status in STATUSES), STATUSES
