"""docker-compose.yml names every service and gives each the PLINTH_* settings it needs,
with the same names the local stack uses and values Plinth's settings models accept."""

from __future__ import annotations

import importlib
import os
import re
import subprocess
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import pytest
import yaml

from plinth.settings import Settings

from .conftest import REPO_ROOT, STACK

COMPOSE = yaml.safe_load((REPO_ROOT / "docker-compose.yml").read_text())
SERVICES = COMPOSE["services"]
APP_SERVICES = sorted(p.parent.name for p in (REPO_ROOT / "services").glob("*/pyproject.toml"))
INFRA = {"kafka", "mongo", "s3", "jaeger"}
# What every service needs to reach the infrastructure (and what the local stack exports).
CORE_SETTINGS = {
    "PLINTH_KAFKA_BOOTSTRAP",
    "PLINTH_MONGO_URI",
    "PLINTH_MONGO_DB",
    "PLINTH_S3_ENDPOINT",
    "PLINTH_S3_BUCKET",
    "PLINTH_S3_ACCESS_KEY",
    "PLINTH_S3_SECRET_KEY",
    "PLINTH_S3_REGION",
    "PLINTH_OTLP_ENDPOINT",
}
# HTTP services must listen on all interfaces inside their container.
HTTP_BIND = {
    "ingest": {"PLINTH_INGEST_HOST": "0.0.0.0"},
    "dashboard-api": {"PLINTH_DASHBOARD_HOST": "0.0.0.0"},
}


def _settings_class(service: str) -> type[Settings]:
    """The service's own settings model if it has one, else the shared one."""
    module_name = f"plinth_{service.replace('-', '_')}.settings"
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name != module_name:
            raise
        return Settings
    subclasses = [
        obj
        for obj in vars(module).values()
        if isinstance(obj, type)
        and issubclass(obj, Settings)
        and obj.__module__ == module_name  # defined here, not imported (e.g. its base class)
    ]
    assert len(subclasses) == 1, f"{module_name}: expected one Settings subclass"
    return subclasses[0]


def test_names_the_infrastructure_and_every_service() -> None:
    assert len(APP_SERVICES) == 7
    assert set(SERVICES) == INFRA | set(APP_SERVICES)
    assert SERVICES["kafka"]["image"].startswith("apache/kafka:4.")
    assert SERVICES["mongo"]["image"].startswith("mongo:")
    assert SERVICES["jaeger"]["environment"]["COLLECTOR_OTLP_ENABLED"] == "true"
    assert SERVICES["kafka"]["environment"]["KAFKA_AUTO_CREATE_TOPICS_ENABLE"] == "false"


def test_local_stack_exports_exactly_the_core_settings() -> None:
    out = subprocess.run([str(STACK), "env"], capture_output=True, text=True, check=True).stdout
    assert {line.split("=", 1)[0] for line in out.splitlines()} == CORE_SETTINGS


@pytest.mark.parametrize("service", APP_SERVICES)
def test_service_is_built_from_its_dockerfile_and_runs_its_entry_point(service: str) -> None:
    spec = SERVICES[service]
    dockerfile = Path(spec["build"]["dockerfile"])
    assert spec["build"]["context"] == "."
    assert dockerfile == Path("services", service, "Dockerfile")
    text = (REPO_ROOT / dockerfile).read_text()
    script = f"plinth-{service}"
    assert f'ENTRYPOINT ["{script}"]' in text
    assert f"--package {script}" in text
    pyproject = (REPO_ROOT / "services" / service / "pyproject.toml").read_text()
    assert re.search(rf'^{re.escape(script)} = "', pyproject, re.MULTILINE)
    assert {name for name, cond in spec["depends_on"].items()
            if cond["condition"] == "service_healthy"} == {"kafka", "mongo", "s3"}  # fmt: skip


@pytest.mark.parametrize("service", APP_SERVICES)
def test_service_gets_every_setting_it_needs(service: str, monkeypatch: pytest.MonkeyPatch) -> None:
    env: dict[str, Any] = SERVICES[service]["environment"]
    missing = CORE_SETTINGS - {k for k, v in env.items() if v is not None}
    assert not missing, f"{service} lacks {sorted(missing)}"
    for key, value in HTTP_BIND.get(service, {}).items():
        assert env.get(key) == value

    # Every PLINTH_* name is a real setting of the model the service reads...
    model = _settings_class(service)
    unknown = [k for k in env if k.removeprefix("PLINTH_").lower() not in model.model_fields]
    assert not unknown, f"{service}: {unknown} are not fields of {model.__name__}"

    # ... and the values validate (a None value is passed through from the host).
    for key in [k for k in os.environ if k.startswith("PLINTH_")]:
        monkeypatch.delenv(key)
    for key, value in env.items():
        if value is not None and "${" not in str(value):
            monkeypatch.setenv(key, str(value))
    settings = model()

    # Endpoints point at services of this compose file, on ports they listen on.
    kafka_host, kafka_port = settings.kafka_bootstrap.split(":")
    assert kafka_host == "kafka"
    assert f":{kafka_port}" in SERVICES["kafka"]["environment"]["KAFKA_LISTENERS"]
    assert urlparse(settings.mongo_uri).hostname == "mongo"
    assert urlparse(settings.s3_endpoint).hostname == "s3"
    assert urlparse(settings.otlp_endpoint or "").hostname == "jaeger"


def test_s3_server_uses_the_credentials_the_services_use() -> None:
    s3_env = SERVICES["s3"]["environment"]
    for service in APP_SERVICES:
        env = SERVICES[service]["environment"]
        for key in ("PLINTH_S3_BUCKET", "PLINTH_S3_ACCESS_KEY", "PLINTH_S3_SECRET_KEY"):
            assert env[key] == s3_env[key], f"{service}: {key} differs from the s3 server's"
