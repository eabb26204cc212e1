"""docker-compose.yml names every service and gives each the PLINTH_* settings it needs,
with the same names the local stack uses and values Plinth's settings models accept; every
service runs the one Plinth image (deploy/docker/Dockerfile) with its console script.

No Docker engine is needed: the Dockerfile is checked statically (its stages, what it copies,
the defaults it sets)."""

from __future__ import annotations

import os
import subprocess
import tomllib
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import pytest
import yaml

from plinth.settings import PlinthSettings
from plinth.worker.settings import WorkerSettings

from ..deploy.service_settings import service_settings
from .conftest import REPO_ROOT, STACK

COMPOSE = yaml.safe_load((REPO_ROOT / "docker-compose.yml").read_text())
SERVICES = COMPOSE["services"]
APP_SERVICES = sorted(p.parent.name for p in (REPO_ROOT / "services").glob("*/pyproject.toml"))
INFRA = {"kafka", "mongo", "s3", "jaeger"}
STAGE_WORKERS = ["segment", "background", "composite", "derive", "publish"]
"""Services that run plinth.worker's stage runtime (their settings: WorkerSettings)."""
# The one image every Plinth service runs; the S3 server's image (deploy/docker/versitygw/) is
# not Plinth's.
DOCKERFILE = Path("deploy", "docker", "Dockerfile")
OTHER_DOCKERFILES = {Path("deploy", "docker", "versitygw", "Dockerfile")}
IMAGE = "plinth:local"
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


def _settings_class(service: str) -> type[PlinthSettings]:
    """The service's composition of concerns (its package's ``settings`` module; a stage
    without one runs on the worker's)."""
    return service_settings(service)


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


def _console_scripts(member: Path) -> dict[str, str]:
    """[project.scripts] of a workspace member's pyproject.toml."""
    project = tomllib.loads((member / "pyproject.toml").read_text())["project"]
    return dict(project.get("scripts", {}))


def _dockerfile_instructions(path: Path) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, continuation lines joined and comments dropped."""
    instructions: list[tuple[str, str]] = []
    pending = ""
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if not pending and (not line or line.startswith("#")):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        keyword, _, args = (pending + line).partition(" ")
        instructions.append((keyword.upper(), args.strip()))
        pending = ""
    return instructions


def _dockerfile_env(instructions: list[tuple[str, str]], stage: int = -1) -> dict[str, str]:
    """The ENV values set in one stage (the last, by default): KEY=value forms only. Global
    ``ARG``s before the first ``FROM`` (the GPU base image's) belong to no stage."""
    stages: list[list[tuple[str, str]]] = []
    for keyword, args in instructions:
        if keyword == "FROM":
            stages.append([])
        if stages:
            stages[-1].append((keyword, args))
    env: dict[str, str] = {}
    for keyword, args in stages[stage]:
        if keyword == "ENV":
            for item in args.split():
                key, _, value = item.partition("=")
                env[key] = value
    return env


WORKSPACE_SCRIPTS = {
    script
    for member in [REPO_ROOT / "shared", *(REPO_ROOT / "services").glob("*/")]
    if (member / "pyproject.toml").is_file()
    for script in _console_scripts(member)
}
INSTRUCTIONS = _dockerfile_instructions(REPO_ROOT / DOCKERFILE)


def test_one_dockerfile_for_every_plinth_service() -> None:
    found = set()
    for dirpath, dirnames, filenames in os.walk(REPO_ROOT):
        # Not ours or not sources: virtual environments, caches, the stack's build trees.
        dirnames[:] = [d for d in dirnames if not d.startswith(".") and d != "node_modules"]
        found |= {
            (Path(dirpath) / name).relative_to(REPO_ROOT)
            for name in filenames
            if name.startswith("Dockerfile") or name.endswith(".Dockerfile")
        }
    assert found == {DOCKERFILE} | OTHER_DOCKERFILES


def test_plinth_services_share_one_image_and_one_build() -> None:
    plinth = {name: spec for name, spec in SERVICES.items() if spec.get("image") == IMAGE}
    assert set(plinth) == set(APP_SERVICES), f"every Plinth service, and only those, runs {IMAGE}"
    builds = {repr(spec.get("build")) for spec in plinth.values()}
    assert len(builds) == 1, f"one build definition for {IMAGE}, not {builds}"
    build = next(iter(plinth.values()))["build"]
    assert build["context"] == "."
    assert Path(build["dockerfile"]) == DOCKERFILE
    for name in INFRA:
        spec = SERVICES[name]
        assert spec.get("image") != IMAGE
        assert "build" not in spec or Path(spec["build"]["dockerfile"]) in OTHER_DOCKERFILES


@pytest.mark.parametrize("service", APP_SERVICES)
def test_service_runs_its_console_script(service: str) -> None:
    spec = SERVICES[service]
    scripts = _console_scripts(REPO_ROOT / "services" / service)
    assert spec["command"] == [f"plinth-{service}"]
    assert spec["command"][0] in scripts, f"{service}: not a [project.scripts] entry"
    assert {name for name, cond in spec["depends_on"].items()
            if cond["condition"] == "service_healthy"} == {"kafka", "mongo", "s3"}  # fmt: skip


def test_image_installs_every_service_with_its_console_scripts_and_no_test_kit() -> None:
    runs = [args for keyword, args in INSTRUCTIONS if keyword == "RUN"]
    syncs = [r.split("&& ")[-1] for r in runs if "uv sync " in r]
    # the CPU image and the GPU target: only the onnxruntime group, never the dev group (the
    # default groups are off), so the test kit stays out of both
    assert syncs == [f"uv sync --frozen --no-default-groups --group {build} --no-editable"
                     for build in ("cpu", "gpu")], syncs
    root = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())
    assert root["tool"]["uv"]["workspace"]["members"] == ["shared", "services/*", "testkit"]
    # Without --all-packages uv installs the root project's dependencies: exactly the library
    # and every service, so the test kit (a member only the dev group names) stays out.
    members = {"plinth"} | {f"plinth-{name}" for name in APP_SERVICES}
    assert set(root["project"]["dependencies"]) == members
    copies = [args for keyword, args in INSTRUCTIONS if keyword == "COPY"]
    assert "testkit/ testkit/" in copies, "uv reads every member's pyproject.toml"
    assert {f"plinth-{name}" for name in APP_SERVICES} | {"plinth"} <= WORKSPACE_SCRIPTS
    # No entry point: a container's command is the console script it runs.
    assert not [args for keyword, args in INSTRUCTIONS if keyword == "ENTRYPOINT"]


def test_image_installs_the_model_and_the_dashboard_ui() -> None:
    stages = [args for keyword, args in INSTRUCTIONS if keyword == "FROM"]
    assert "build AS models" in stages
    assert any(s.startswith("node:") and s.endswith(" AS ui") for s in stages)
    runs = [args for keyword, args in INSTRUCTIONS if keyword == "RUN"]
    # The checksummed install (npm pack in a throwaway stage), exactly as the CLI does it.
    assert "/app/.venv/bin/plinth models install" in runs
    assert "npm run build" in runs
    copies = [args for keyword, args in INSTRUCTIONS if keyword == "COPY"]
    assert "--from=models --chown=plinth /models /models" in copies
    assert "--from=ui /ui/dist /app/ui/dist" in copies
    env = _dockerfile_env(INSTRUCTIONS)
    assert env["PLINTH_MODEL_DIR"] == "/models"
    assert env["PLINTH_DASHBOARD_UI_DIR"] == "/app/ui/dist"
    assert _dockerfile_env(INSTRUCTIONS, stage=2)["PLINTH_MODEL_DIR"] == "/models"


def test_image_runs_as_a_non_root_user_with_the_http_defaults() -> None:
    final = INSTRUCTIONS[max(i for i, (k, _) in enumerate(INSTRUCTIONS) if k == "FROM") :]
    assert ("USER", "plinth") in final
    assert any(k == "RUN" and "useradd --system" in a for k, a in final)
    exposed = {p for k, a in final if k == "EXPOSE" for p in a.split()}
    ports = {"ingest": "PLINTH_INGEST_PORT", "dashboard-api": "PLINTH_DASHBOARD_PORT"}
    assert exposed == {str(SERVICES[s]["environment"][key]) for s, key in ports.items()}
    env = _dockerfile_env(INSTRUCTIONS)
    assert env["PATH"].startswith("/app/.venv/bin:")
    assert env["PLINTH_INGEST_HOST"] == env["PLINTH_DASHBOARD_HOST"] == "0.0.0.0"
    # Every PLINTH_* default is a setting of some service (each ignores the others').
    fields = {f for s in APP_SERVICES for f in _settings_class(s).model_fields}
    unknown = [k for k in env if k.startswith("PLINTH_")
               and k.removeprefix("PLINTH_").lower() not in fields]  # fmt: skip
    assert not unknown


def test_every_path_the_dockerfile_copies_exists() -> None:
    ignored = {
        line.strip().rstrip("/")
        for line in (REPO_ROOT / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    }
    sources = []
    for keyword, args in INSTRUCTIONS:
        if keyword in {"COPY", "ADD"} and "--from=" not in args:
            parts = [p for p in args.split() if not p.startswith("--")]
            sources += parts[:-1]
    assert sources
    for source in sources:
        assert (REPO_ROOT / source).exists(), f"COPY {source}: no such path"
        assert source.rstrip("/") not in ignored, f"COPY {source}: excluded by .dockerignore"


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


@pytest.mark.parametrize("service", STAGE_WORKERS)
def test_worker_serves_its_health_port_and_compose_checks_it(service: str) -> None:
    compose = SERVICES[service]
    port = compose["environment"]["PLINTH_HEALTH_PORT"]
    assert compose["environment"]["PLINTH_HEALTH_HOST"] == "0.0.0.0"
    probe = " ".join(compose["healthcheck"]["test"])
    assert f"127.0.0.1:{port}/live" in probe
    assert WorkerSettings(health_port=int(port)).health_port == int(port)  # a real setting
