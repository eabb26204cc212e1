"""Settings per concern (issue 16): each service composes only the concerns it uses, so it never
reads nor holds a secret it has no use for, and every ``PLINTH_*`` name the deployment files and
the documentation use is a field of some settings class (no variable was renamed on the way)."""

from __future__ import annotations

import importlib
import inspect
import json
import logging
import os
import re
import subprocess
from typing import Any

import pytest
from pydantic import SecretStr
from pydantic_settings import BaseSettings

from plinth.cli.settings import CliSettings
from plinth.settings import CONCERNS, SECRET_FIELDS, PlinthSettings, secrets_of
from plinth.worker import run_stage_service
from plinth.worker.logs import LogSettings
from plinth.worker.settings import WorkerSettings

from .service_settings import REPO_ROOT, SERVICES, service_settings

INFRASTRUCTURE_SECRETS = {"mongo_uri", "s3_secret_key"}
# What each process may hold besides the infrastructure's credentials, and nothing more.
SECRETS = {
    "ingest": {"webhook_secret"},
    "segment": {"freepik_api_key"},
    "background": {"freepik_api_key"},
    "composite": set(),
    "derive": set(),
    "publish": {"shopify_access_token"},
    "dashboard-api": {"dashboard_api_keys", "shopify_access_token"},  # alt-text edits
}
STAGES = ["segment", "background", "composite", "derive", "publish"]
SENTINEL = "sentinel-{}-value"


def secret_environment() -> dict[str, str]:
    """A value for every credential any Plinth process reads, each one recognisable."""
    env = {f"PLINTH_{name.upper()}": SENTINEL.format(name) for name in all_secret_fields()}
    env["PLINTH_MONGO_URI"] = f"mongodb://plinth:{SENTINEL.format('mongo_uri')}@mongo:27017"
    env["PLINTH_DASHBOARD_API_KEYS"] = json.dumps({SENTINEL.format("dashboard_api_keys"): "viewer"})
    return env


def all_secret_fields() -> set[str]:
    return set(SECRET_FIELDS).union(*(secrets_of(service_settings(s)) for s in SERVICES))


def revealed(value: Any) -> Any:
    """``value`` with every secret in clear (dict keys too), for looking for the sentinels."""
    if isinstance(value, SecretStr):
        return value.get_secret_value()
    if isinstance(value, dict):
        return {str(revealed(k)): revealed(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set):
        return [revealed(v) for v in value]
    return value if isinstance(value, int | float | bool | str | None) else str(value)


def test_every_service_is_covered() -> None:
    assert set(SECRETS) == set(SERVICES)


def test_each_concern_owns_its_fields() -> None:
    owners: dict[str, str] = {}
    for concern in CONCERNS:
        for name in concern.model_fields:
            assert name not in owners, f"{name}: in {owners.get(name)} and {concern.__name__}"
            owners[name] = concern.__name__
    assert {"kafka_bootstrap", "mongo_uri", "s3_secret_key", "freepik_api_key",
            "shopify_access_token", "webhook_secret"} <= set(owners)


@pytest.mark.parametrize("service", SERVICES)
def test_a_service_declares_only_the_secrets_it_uses(service: str) -> None:
    assert secrets_of(service_settings(service)) == INFRASTRUCTURE_SECRETS | SECRETS[service]


@pytest.mark.parametrize("service", SERVICES)
def test_a_service_does_not_hold_the_secrets_of_others(
    service: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With every credential of every process in its environment, the settings a service builds
    carry its own and none of the others'."""
    for name in [n for n in os.environ if n.startswith("PLINTH_")]:
        monkeypatch.delenv(name)
    for name, value in secret_environment().items():
        monkeypatch.setenv(name, value)
    settings = service_settings(service)()
    held = json.dumps(revealed(settings.model_dump()))
    for name in all_secret_fields():
        wanted = name in INFRASTRUCTURE_SECRETS | SECRETS[service]
        assert (SENTINEL.format(name) in held) == wanted, (
            f"{service}: {name} {'missing' if wanted else 'held, though it is not used'}"
        )


def test_the_command_line_holds_no_secret() -> None:
    assert secrets_of(CliSettings) == set()


@pytest.mark.parametrize("service", STAGES)
def test_a_stage_runs_on_the_settings_its_package_declares(
    service: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What ``main()`` hands the runtime is the class the deployment tests check."""
    main = importlib.import_module(f"plinth_{service}.main")
    calls: list[dict[str, Any]] = []
    monkeypatch.setattr(main, "run_stage_service", lambda *a, **kw: calls.append(kw))
    monkeypatch.setattr(main, "preload_provider", lambda settings: None, raising=False)
    monkeypatch.setattr(logging, "basicConfig", lambda **kw: None)
    main.main()
    [call] = calls
    used = call.get("settings", inspect.signature(run_stage_service).parameters["settings"].default)
    assert used is service_settings(service)
    assert issubclass(used, WorkerSettings)


# ------------------------------------------------------- names in deploy files and documentation
NOT_SETTINGS = {
    # read from the environment by the tools themselves, not by a settings class
    "PLINTH_REQUIRE_STACK",  # conftest.py: fail, not skip, without the local stack
    "PLINTH_REAL_MODEL_TESTS",  # shared/tests/models: the 113 MB download test
    "PLINTH_INGEST_PROFILE",  # plinth_ingest.main.PROFILE_ENV: cProfile one worker
    "PLINTH_FERRETDB_PUSHDOWN",  # the local stack's FerretDB build (deploy/local)
    "PLINTH_TRACE_FILE",  # plinth.telemetry.TRACE_FILE_ENV: spans as JSON lines (tests, demo)
}
NOT_SETTINGS_PREFIXES = ("PLINTH_STACK_",)  # deploy/local/stack's own variables


def documented_names() -> dict[str, set[str]]:
    """``PLINTH_*`` name -> files that use it: deploy/, compose, Makefile, every README, docs/."""
    files = subprocess.run(
        ["git", "ls-files", "deploy", "docker-compose.yml", "Makefile", "docs", "*README.md"],
        cwd=REPO_ROOT, capture_output=True, text=True, check=True,
    ).stdout.split()
    names: dict[str, set[str]] = {}
    for path in files:
        try:
            text = (REPO_ROOT / path).read_text()
        except (UnicodeDecodeError, FileNotFoundError):
            continue
        for name in re.findall(r"\bPLINTH_[A-Z0-9_]*[A-Z0-9]\b", text):
            names.setdefault(name, set()).add(path)
    return names


def settings_classes() -> set[type[BaseSettings]]:
    """Every class that reads ``PLINTH_*``: the concerns, each service's composition, and any
    other loaded by the services' entry points (log settings, a service's own)."""
    for service in SERVICES:
        importlib.import_module(f"plinth_{service.replace('-', '_')}.main")
    found: set[type[BaseSettings]] = set()
    todo = list(BaseSettings.__subclasses__())
    while todo:
        cls = todo.pop()
        if cls not in found:
            found.add(cls)
            todo.extend(cls.__subclasses__())
    return {cls for cls in found if cls.model_config.get("env_prefix") == "PLINTH_"}


def test_every_documented_name_is_a_setting() -> None:
    classes = settings_classes()
    assert {*CONCERNS, WorkerSettings, LogSettings, CliSettings} <= classes
    assert {service_settings(s) for s in SERVICES} <= classes
    fields = {name for cls in classes for name in cls.model_fields}
    names = documented_names()
    assert "PLINTH_KAFKA_BOOTSTRAP" in names and "PLINTH_SHOPIFY_ACCESS_TOKEN" in names
    unknown = {
        name: sorted(paths)
        for name, paths in names.items()
        if name.removeprefix("PLINTH_").lower() not in fields
        and name not in NOT_SETTINGS
        and not name.startswith(NOT_SETTINGS_PREFIXES)
    }
    assert not unknown, f"PLINTH_* names that no settings class reads: {unknown}"


def test_every_concern_field_is_read_by_some_service() -> None:
    """A concern no process composes would be configuration nobody reads."""
    composed = set().union(*(service_settings(s).model_fields for s in SERVICES),
                           CliSettings.model_fields)
    for concern in CONCERNS:
        assert set(concern.model_fields) <= composed, concern.__name__


def test_the_settings_module_keeps_no_monolith() -> None:
    module = importlib.import_module("plinth.settings")
    assert not hasattr(module, "Settings") and not hasattr(module, "get_settings")
    biggest = max(len(concern.model_fields) for concern in CONCERNS)
    assert biggest <= 14, "a concern has grown into a catch-all"
    assert all(issubclass(concern, PlinthSettings) for concern in CONCERNS)
