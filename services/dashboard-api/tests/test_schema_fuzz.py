"""Schemathesis against the dashboard API's own OpenAPI document: generated requests for every
operation, valid and invalid, answered without a server error and, where a status is declared,
in the declared shape.

The app runs in-process (lifespan included) on the local stack with a private
database holding the demo jobs; requests carry an operator key. Its Kafka publisher is replaced
by one that keeps the events: a generated pause command must not reach the workers of anyone
else sharing the broker. Half of the generated job ids are swapped for real ones, so that the
job routes get past 404. Bounded: ``MAX_EXAMPLES`` per operation.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from litestar.testing import TestClient
from pydantic import BaseModel
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance

from plinth.worker.settings import WorkerSettings
from plinth_dashboard_api.app import create_app
from plinth_dashboard_api.demo import seed_demo, seed_webhook_events, seed_workers
from plinth_dashboard_api.resources import Resources
from plinth_dashboard_api.settings import DashboardSettings
from plinth_testkit.fuzz import FUZZ_MARKS, send_case

pytestmark = FUZZ_MARKS

OPERATOR_KEY = "fuzz-operator-key"
STATUSES: Counter[tuple[str, int]] = Counter()
"""(path template, status) of every response, for the checks after the fuzzing."""
MAX_EXAMPLES = 60

schema = schemathesis.openapi.from_dict(
    create_app(
        DashboardSettings(dashboard_api_keys={OPERATOR_KEY: "fuzz:operator"})  # type: ignore[dict-item]
    ).openapi_schema.to_schema()
)


class KeptEvents:
    """Stands in for Kafka: the events the app would publish, kept in memory."""

    def __init__(self) -> None:
        self.events: list[tuple[str, BaseModel, str | None]] = []

    async def publish(self, topic: str, event: BaseModel, *, key: str | None = None) -> None:
        self.events.append((topic, event, key))

    async def close(self) -> None:
        return None


class Fuzzed:
    def __init__(self, client: TestClient[Any], job_ids: list[str]) -> None:
        self.client = client
        self.job_ids = job_ids


@pytest.fixture(scope="module")
def fuzzed(stack_settings: WorkerSettings, test_namespace: Any) -> Iterator[Fuzzed]:
    settings = DashboardSettings(
        **{
            **stack_settings.model_dump(),
            "mongo_db": test_namespace.database("dashboard_fuzz"),
            "dashboard_api_keys": {OPERATOR_KEY: "fuzz:operator"},
        }
    )
    app = create_app(settings)
    with TestClient(app=app, raise_server_exceptions=False) as client:
        resources: Resources = app.state.resources
        resources.publisher = KeptEvents()  # type: ignore[assignment]

        async def seed() -> list[str]:
            await resources.blobs.ensure_bucket()
            demo = await seed_demo(resources.db, resources.blobs, prefix="FUZZ")
            await seed_workers(resources.db)
            await seed_webhook_events(resources.db, demo)
            return [job.id for job in demo.all]

        job_ids = client.blocking_portal.call(seed)
        yield Fuzzed(client, job_ids)
        client.blocking_portal.call(resources.db.client.drop_database, settings.mongo_db)


def send(fuzzed: Fuzzed, case: Any) -> Any:
    job_id = case.path_parameters.get("job_id")
    if isinstance(job_id, str) and len(job_id) % 2 == 0:
        case.path_parameters["job_id"] = fuzzed.job_ids[len(job_id) % len(fuzzed.job_ids)]
    return send_case(fuzzed.client, case,
                     lambda headers, _content: headers.setdefault("X-API-Key", OPERATOR_KEY))


@schema.parametrize()
@settings(
    max_examples=MAX_EXAMPLES,
    deadline=None,
    database=None,
    suppress_health_check=list(HealthCheck),
)
def test_no_server_errors_and_declared_shapes(case: Any, fuzzed: Fuzzed) -> None:
    response = send(fuzzed, case)
    STATUSES[(case.path, response.status_code)] += 1
    case.validate_response(response, checks=[not_a_server_error, response_schema_conformance])


def test_the_fuzzing_reached_real_jobs() -> None:
    """Half of the job routes' requests were about real jobs, so they got past 404."""
    jobs = {status for (path, status) in STATUSES if path.startswith("/api/jobs/{job_id}")}
    assert 200 in jobs and 404 in jobs, STATUSES
    assert all(status < 500 for _, status in STATUSES), STATUSES
