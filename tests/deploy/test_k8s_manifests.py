"""deploy/k8s checked with no cluster and no network.

Each kustomization (the base and the local, production and gpu overlays) is rendered by
``kustomize_subset`` (and compared with ``kubectl kustomize`` where kubectl is installed), then:

- every object validates against the Kubernetes API models of the ``kubernetes`` package
  (pydantic models that refuse unknown fields, wrong types and missing required fields), and
  every ScaledObject against a model of KEDA's keda.sh/v1alpha1 schema (with the kafka trigger's
  metadata keys);
- every service under services/ has its Deployment (ingest two: the HTTP intake and the
  downloader), running its own console script from the one image of deploy/docker/Dockerfile;
- every consumer (each stage worker and the downloader) has exactly one ScaledObject, whose
  triggers name its real consumer group and every topic that group consumes, with the brokers
  of the ConfigMap, and maxReplicaCount <= PLINTH_KAFKA_PARTITIONS;
- every key of the ConfigMap and the Secret, and every PLINTH_* variable of a container, is a
  field of the settings models, the values validate, and no secret sits in the ConfigMap;
- probes point at routes the Litestar apps and the stage workers' health server
  (plinth.worker.health, also the downloader's) really serve, on the port and address they
  listen on;
- Services, PodDisruptionBudgets and the Ingress select real Deployments, ports and routes;
- docs/runbook.md has the section each alert of deploy/monitoring/alerts.yaml links to.

The planted-mistake tests at the end put a mistake of each kind in a copy of the rendered base
and check that the check meant for it reports it.
"""

from __future__ import annotations

import contextlib
import copy
import functools
import io
import os
import re
import shutil
import subprocess
import tempfile
import tomllib
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal
from unittest import mock

import pytest
import yaml
from kubernetes.client import models as k8s
from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError

from plinth.domain.states import Stage
from plinth.messaging.topics import all_topics
from plinth.settings import CONCERNS, KafkaSettings, PlinthSettings, secrets_of
from plinth.worker.groups import pipeline_groups
from plinth.worker.logs import LogSettings
from plinth.worker.service import consumer_group as stage_consumer_group
from plinth.worker.settings import WorkerSettings
from plinth_dashboard_api.settings import DashboardSettings
from plinth_ingest.settings import IngestSettings

from .kustomize_subset import KustomizeError, build, object_id, split_image
from .service_settings import SERVICES, service_settings

REPO_ROOT = Path(__file__).resolve().parents[2]
K8S = REPO_ROOT / "deploy" / "k8s"
RENDERS = {
    "base": K8S / "base",
    "local": K8S / "overlays" / "local",
    "production": K8S / "overlays" / "production",
    "gpu": K8S / "overlays" / "gpu",
}
NAMESPACES = {"local": "plinth-local", "production": "plinth", "gpu": "plinth"}
DOCKERFILE = "deploy/docker/Dockerfile"
CONFIGMAP = "plinth-config"
Obj = dict[str, Any]


@functools.cache
def _rendered(name: str) -> tuple[Obj, ...]:
    return tuple(build(RENDERS[name]))


def rendered(name: str) -> list[Obj]:
    """A fresh copy: tests may change it."""
    return copy.deepcopy(list(_rendered(name)))


def of_kind(objs: list[Obj], kind: str) -> dict[str, Obj]:
    return {o["metadata"]["name"]: o for o in objs if o.get("kind") == kind}


def pod_spec(deployment: Obj) -> Obj:
    spec: Obj = deployment["spec"]["template"]["spec"]
    return spec


def main_container(deployment: Obj) -> Obj:
    container: Obj = pod_spec(deployment)["containers"][0]
    return container


def command(deployment: Obj) -> list[str]:
    c = main_container(deployment)
    return [*c.get("command", []), *c.get("args", [])]


def selects(selector: dict[str, str], deployment: Obj) -> bool:
    labels = deployment["spec"]["template"]["metadata"].get("labels", {})
    return bool(selector) and all(labels.get(k) == v for k, v in selector.items())


# ---------------------------------------------------------------------------- the code's facts
def console_scripts() -> dict[str, str]:
    """console script -> service folder, from each service's [project.scripts]."""
    scripts = {}
    for pyproject in sorted((REPO_ROOT / "services").glob("*/pyproject.toml")):
        project = tomllib.loads(pyproject.read_text())["project"]
        for script in project.get("scripts", {}):
            scripts[script] = pyproject.parent.name
    return scripts


def ingest_mode_is_valid(mode: str) -> bool:
    """``plinth-ingest MODE --help`` exits 0 only when argparse accepts MODE."""
    from plinth_ingest.main import main

    out = io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
        try:
            main([mode, "--help"])
        except SystemExit as exc:
            return exc.code == 0
    return False


def serves_http(deployment: Obj) -> bool:
    """An HTTP app (ingest's intake, the dashboard-api), not a Kafka consumer to scale."""
    argv = command(deployment)
    if argv[:1] == ["plinth-dashboard-api"]:
        return True
    return argv[:1] == ["plinth-ingest"] and (argv[1:2] or ["all"])[0] in ("all", "http")


def stage_of(deployment: Obj) -> Stage | None:
    argv = command(deployment)
    name = argv[0].removeprefix("plinth-") if len(argv) == 1 else ""
    return Stage(name) if name in {s.value for s in Stage} else None


def worker_routes() -> dict[str, frozenset[str]]:
    """The routes of a stage worker's health server (plinth.worker.health)."""
    from plinth.worker.health import HealthServer

    async def check() -> tuple[bool, dict[str, Any]]:
        return True, {}

    server = HealthServer("127.0.0.1", 0, live=check, ready=check)
    return {path: frozenset({"GET", "HEAD"}) for path in server.routes}


def served(objs: list[Obj], deployment: Obj) -> tuple[dict[str, frozenset[str]], int, str] | None:
    """(routes, port, listen address) of what the container serves over HTTP; None: nothing."""
    script = command(deployment)[0]
    settings = settings_of(objs, deployment)
    if script == "plinth-dashboard-api":
        return routes(script), settings.dashboard_port, settings.dashboard_host
    if script == "plinth-ingest":
        if not serves_http(deployment):
            # the downloader (plinth_ingest.main.run_downloader_only): the workers' health server
            if settings.health_port:
                return worker_routes(), settings.health_port, settings.health_host
            return None
        return routes(script), settings.ingest_port, settings.ingest_host
    if stage_of(deployment) is not None and settings.health_port:
        return worker_routes(), settings.health_port, settings.health_host
    return None


@functools.cache
def routes(script: str) -> dict[str, frozenset[str]]:
    """path -> HTTP methods of the Litestar app the console script serves (literal paths only:
    the dashboard's catch-all ``/{path:path}`` must not make any probe path look real)."""
    if script == "plinth-ingest":
        from plinth_ingest.app import create_app as ingest_app

        app = ingest_app(IngestSettings(), downloader=False)
    else:
        from plinth_dashboard_api.app import create_app as dashboard_app

        with tempfile.TemporaryDirectory() as ui:
            app = dashboard_app(
                DashboardSettings(dashboard_ui_dir=Path(ui), dashboard_api_keys={"k": "viewer"})
            )
    found: dict[str, set[str]] = {}
    for route in app.routes:
        if "{" not in route.path:
            found.setdefault(route.path, set()).update(getattr(route, "methods", ()))
    return {path: frozenset(methods) for path, methods in found.items()}


def settings_class(deployment: Obj) -> type[PlinthSettings]:
    """The composition of concerns the container's console script reads."""
    return service_settings(command(deployment)[0])


SETTINGS_CLASSES: tuple[type[Any], ...] = (
    *CONCERNS, WorkerSettings, *map(service_settings, SERVICES), LogSettings,
)
SETTING_FIELDS = {name for cls in SETTINGS_CLASSES for name in cls.model_fields}
# Fields that hold a credential: never in the ConfigMap. The MongoDB URI carries its password.
SECRET_FIELDS = {
    name
    for cls in SETTINGS_CLASSES
    for name, field in cls.model_fields.items()
    if "SecretStr" in repr(field.annotation) or field.annotation is SecretStr
} | {"mongo_uri"}


def environment(objs: list[Obj], deployment: Obj) -> dict[str, str]:
    """The container's environment as Kubernetes would build it (envFrom, then env)."""
    maps, secrets = of_kind(objs, "ConfigMap"), of_kind(objs, "Secret")
    container = main_container(deployment)
    env: dict[str, str] = {}
    for source in container.get("envFrom", []):
        if "configMapRef" in source and source["configMapRef"]["name"] in maps:
            env.update(maps[source["configMapRef"]["name"]].get("data", {}))
        if "secretRef" in source and source["secretRef"]["name"] in secrets:
            env.update(secrets[source["secretRef"]["name"]].get("stringData", {}))
    for var in container.get("env", []):
        if "value" in var:
            env[var["name"]] = var["value"]
        ref = var.get("valueFrom", {}).get("secretKeyRef")
        if ref is not None and ref["name"] in secrets:
            data = secrets[ref["name"]].get("stringData", {})
            if ref["key"] in data:
                env[var["name"]] = data[ref["key"]]
    return env


def secret_refs(deployment: Obj) -> dict[str, dict[str, Any]]:
    """Variable -> its ``secretKeyRef``, of the container's environment."""
    return {var["name"]: var["valueFrom"]["secretKeyRef"]
            for var in main_container(deployment).get("env", [])
            if "secretKeyRef" in var.get("valueFrom", {})}


def settings_of(objs: list[Obj], deployment: Obj, cls: type[Any] | None = None) -> Any:
    with mock.patch.dict(os.environ, environment(objs, deployment), clear=True):
        return (cls or settings_class(deployment))()


def shared_settings(objs: list[Obj]) -> WorkerSettings:
    data = of_kind(objs, "ConfigMap").get(CONFIGMAP, {}).get("data", {})
    with mock.patch.dict(os.environ, data, clear=True):
        return WorkerSettings()


# -------------------------------------------------------------------------- KEDA's schema
class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


class ScaleTargetRef(_Strict):
    name: str
    apiVersion: str | None = None
    kind: str | None = None
    envSourceContainerName: str | None = None


class AuthenticationRef(_Strict):
    name: str
    kind: Literal["TriggerAuthentication", "ClusterTriggerAuthentication"] | None = None


class Trigger(_Strict):
    type: str
    name: str | None = None
    metadata: dict[str, str]  # KEDA: additionalProperties of type string
    authenticationRef: AuthenticationRef | None = None
    metricType: Literal["AverageValue", "Value", "Utilization"] | None = None
    useCachedMetrics: bool | None = None


class Fallback(_Strict):
    failureThreshold: int
    replicas: int


class HorizontalPodAutoscalerConfig(_Strict):
    name: str | None = None
    behavior: k8s.V2HorizontalPodAutoscalerBehavior | None = None


class Advanced(_Strict):
    restoreToOriginalReplicaCount: bool | None = None
    horizontalPodAutoscalerConfig: HorizontalPodAutoscalerConfig | None = None


class ScaledObjectSpec(_Strict):
    scaleTargetRef: ScaleTargetRef
    pollingInterval: int | None = Field(default=None, ge=1)
    cooldownPeriod: int | None = Field(default=None, ge=0)
    initialCooldownPeriod: int | None = Field(default=None, ge=0)
    idleReplicaCount: int | None = Field(default=None, ge=0)
    minReplicaCount: int | None = Field(default=None, ge=0)
    maxReplicaCount: int | None = Field(default=None, ge=1)
    fallback: Fallback | None = None
    advanced: Advanced | None = None
    triggers: list[Trigger] = Field(min_length=1)


class ScaledObject(_Strict):
    """keda.sh/v1alpha1 ScaledObject (KEDA 2.x CRD), the fields a ScaledObject may carry."""

    apiVersion: Literal["keda.sh/v1alpha1"]
    kind: Literal["ScaledObject"]
    metadata: k8s.V1ObjectMeta
    spec: ScaledObjectSpec


# The kafka scaler's metadata (keda.sh docs, scalers/apache-kafka). topic is optional for KEDA,
# required here: without it a group that never committed cannot be scaled up from zero.
KAFKA_METADATA = {
    "bootstrapServers", "consumerGroup", "topic", "lagThreshold", "activationLagThreshold",
    "offsetResetPolicy", "allowIdleConsumers", "scaleToZeroOnInvalidOffset",
    "excludePersistentLag", "limitToPartitionsWithLag", "version", "partitionLimitation",
    "sasl", "saslTokenProvider", "tls", "unsafeSsl", "awsRegion",
}
KAFKA_REQUIRED = {"bootstrapServers", "consumerGroup", "topic", "lagThreshold",
                  "activationLagThreshold"}

K8S_MODELS: dict[tuple[str, str], type[BaseModel]] = {
    ("v1", "Namespace"): k8s.V1Namespace,
    ("v1", "ConfigMap"): k8s.V1ConfigMap,
    ("v1", "Secret"): k8s.V1Secret,
    ("v1", "Service"): k8s.V1Service,
    ("apps/v1", "Deployment"): k8s.V1Deployment,
    ("policy/v1", "PodDisruptionBudget"): k8s.V1PodDisruptionBudget,
    ("networking.k8s.io/v1", "Ingress"): k8s.V1Ingress,
    ("keda.sh/v1alpha1", "ScaledObject"): ScaledObject,
}


# ------------------------------------------------------------------------------------ checks
def schema_errors(objs: list[Obj]) -> list[str]:
    errors = []
    for obj in objs:
        model = K8S_MODELS.get((obj.get("apiVersion", ""), obj.get("kind", "")))
        if model is None:
            errors.append(f"{object_id(obj)}: not a kind these manifests are checked for")
            continue
        try:
            model.model_validate(obj)
        except ValidationError as exc:
            errors.append(f"{object_id(obj)}: {exc}")
            continue
        if obj["kind"] == "ScaledObject":
            for trigger in obj["spec"]["triggers"]:
                meta = trigger["metadata"]
                if trigger["type"] != "kafka":
                    errors.append(f"{object_id(obj)}: trigger type {trigger['type']}, not kafka")
                    continue
                if set(meta) - KAFKA_METADATA:
                    errors.append(f"{object_id(obj)}: unknown kafka metadata "
                                  f"{sorted(set(meta) - KAFKA_METADATA)}")
                if KAFKA_REQUIRED - set(meta):
                    errors.append(f"{object_id(obj)}: kafka metadata lacks "
                                  f"{sorted(KAFKA_REQUIRED - set(meta))}")
                for key, least in (("lagThreshold", 1), ("activationLagThreshold", 0)):
                    value = meta.get(key, "")
                    if not value.isdigit() or int(value) < least:
                        errors.append(f"{object_id(obj)}: {key} {value!r} is no integer >= {least}")
                if meta.get("offsetResetPolicy", "latest") not in ("earliest", "latest"):
                    errors.append(f"{object_id(obj)}: bad offsetResetPolicy")
    return errors


def service_errors(objs: list[Obj]) -> list[str]:
    """Every service has its Deployment(s), each runs a real console script."""
    errors = []
    scripts = console_scripts()
    by_service: dict[str, list[Obj]] = {service: [] for service in scripts.values()}
    for deployment in of_kind(objs, "Deployment").values():
        argv = command(deployment)
        if not argv or argv[0] not in scripts:
            errors.append(f"{deployment['metadata']['name']}: command {argv} is no console script"
                          f" of services/*/pyproject.toml")
            continue
        by_service[scripts[argv[0]]].append(deployment)
    for service, deployments in sorted(by_service.items()):
        if service == "ingest":
            modes = sorted((command(d)[1:2] or ["all"])[0] for d in deployments)
            if modes != ["downloader", "http"]:
                errors.append(f"ingest: wants two Deployments, `plinth-ingest http` and "
                              f"`plinth-ingest downloader`; found modes {modes}")
            errors += [f"ingest: mode {m!r} is refused by plinth-ingest"
                       for m in modes if not ingest_mode_is_valid(m)]
        elif len(deployments) != 1:
            errors.append(f"{service}: {len(deployments)} Deployments, wants 1")
    return errors


def scaling_errors(objs: list[Obj]) -> list[str]:
    errors = []
    deployments = of_kind(objs, "Deployment")
    shared = shared_settings(objs)
    groups = pipeline_groups(shared)
    claimed: dict[str, list[str]] = {group: [] for group in groups}
    scaled_targets = set()
    for name, scaled in sorted(of_kind(objs, "ScaledObject").items()):
        spec = scaled["spec"]
        target = deployments.get(spec["scaleTargetRef"]["name"])
        if target is None:
            errors.append(f"ScaledObject {name}: no Deployment {spec['scaleTargetRef']['name']}")
            continue
        scaled_targets.add(target["metadata"]["name"])
        if "replicas" in target["spec"]:
            errors.append(f"Deployment {target['metadata']['name']}: sets replicas while "
                          f"ScaledObject {name} owns them")
        settings = settings_of(objs, target)
        argv = command(target)
        if argv == ["plinth-ingest", "downloader"]:
            group, reset = (stage_consumer_group(settings, Stage.DOWNLOAD),
                            settings.ingest_offset_reset)
        elif (stage := stage_of(target)) is not None:
            group, reset = stage_consumer_group(settings, stage), settings.worker_offset_reset
        else:
            errors.append(f"ScaledObject {name}: its target runs {argv}, no Kafka consumer")
            continue
        if group not in groups:
            errors.append(f"ScaledObject {name}: group {group} is no pipeline group")
            continue
        claimed[group].append(name)
        topics = []
        for trigger in spec["triggers"]:
            meta = trigger["metadata"]
            topics.append(meta.get("topic"))
            if meta.get("consumerGroup") != group:
                errors.append(f"ScaledObject {name}: consumerGroup {meta.get('consumerGroup')} "
                              f"but {argv} consumes in {group}")
            if meta.get("bootstrapServers") != shared.kafka_bootstrap:
                errors.append(f"ScaledObject {name}: bootstrapServers "
                              f"{meta.get('bootstrapServers')} != PLINTH_KAFKA_BOOTSTRAP "
                              f"{shared.kafka_bootstrap}")
            if meta.get("offsetResetPolicy", "latest") != reset:
                errors.append(f"ScaledObject {name}: offsetResetPolicy "
                              f"{meta.get('offsetResetPolicy')} but the group starts at {reset}")
        if sorted(topics) != sorted(groups[group]):
            errors.append(f"ScaledObject {name}: triggers on {sorted(map(str, topics))}; group "
                          f"{group} consumes {sorted(groups[group])}")
        low, high = spec.get("minReplicaCount", 0), spec.get("maxReplicaCount", 100)
        if low not in (0, 1):
            errors.append(f"ScaledObject {name}: minReplicaCount {low}, wants 0 or 1")
        if not max(low, 1) <= high <= shared.kafka_partitions:
            errors.append(f"ScaledObject {name}: maxReplicaCount {high} outside "
                          f"[{max(low, 1)}, PLINTH_KAFKA_PARTITIONS={shared.kafka_partitions}]")
    for group, names in sorted(claimed.items()):
        if len(names) != 1:
            errors.append(f"consumer group {group}: {len(names)} ScaledObjects {names}, wants 1")
    for name, deployment in sorted(deployments.items()):
        if serves_http(deployment) and name in scaled_targets:
            errors.append(f"Deployment {name} serves HTTP, has no consumer group to scale on")
    return errors


def config_errors(objs: list[Obj]) -> list[str]:
    errors = []
    sources = [(o["kind"], o["metadata"]["name"], o.get("data", {}) | o.get("stringData", {}))
               for o in objs if o["kind"] in ("ConfigMap", "Secret")]
    for kind, name, data in sources:
        for key in sorted(data):
            field = key.removeprefix("PLINTH_").lower()
            if not key.startswith("PLINTH_") or field not in SETTING_FIELDS:
                errors.append(f"{kind} {name}: {key} is no PLINTH_* setting")
            elif kind == "ConfigMap" and field in SECRET_FIELDS:
                errors.append(f"ConfigMap {name}: {key} is a secret; it belongs in the Secret")
    maps = of_kind(objs, "ConfigMap")
    for name, deployment in sorted(of_kind(objs, "Deployment").items()):
        cls = settings_class(deployment)
        container = main_container(deployment)
        for source in container.get("envFrom", []):
            ref = source.get("configMapRef", {}).get("name")
            if ref is not None and ref not in maps:
                errors.append(f"Deployment {name}: envFrom ConfigMap {ref} is not rendered")
        for var in container.get("env", []):
            field = var["name"].removeprefix("PLINTH_").lower()
            known = field in cls.model_fields or field in LogSettings.model_fields
            if var["name"].startswith("PLINTH_") and not known:
                errors.append(f"Deployment {name}: {var['name']} is no setting of {cls.__name__}")
        for model in (cls, LogSettings):
            try:
                settings_of(objs, deployment, model)
            except ValidationError as exc:
                errors.append(f"Deployment {name}: its environment fails {model.__name__}: {exc}")
    return errors


def probe_errors(objs: list[Obj]) -> list[str]:
    errors = []
    for name, deployment in sorted(of_kind(objs, "Deployment").items()):
        container = main_container(deployment)
        probes = {kind: container[kind] for kind in
                  ("livenessProbe", "readinessProbe", "startupProbe") if kind in container}
        serving = served(objs, deployment)
        if serving is None:
            if stage_of(deployment) is not None:
                errors.append(f"{name}: a stage worker without PLINTH_HEALTH_PORT serves no "
                              f"/live and /ready (plinth.worker.health)")
            if probes:
                errors.append(f"{name}: {sorted(probes)} on a process that serves no HTTP and "
                              f"has no health command")
            continue
        paths, port, host = serving
        script = command(deployment)[0]
        if host not in ("0.0.0.0", "::"):
            errors.append(f"{name}: listens on {host}; the kubelet's probes cannot reach it")
        ports = {p.get("name"): p["containerPort"] for p in container.get("ports", [])}
        for kind, wanted in (("livenessProbe", "/live"), ("readinessProbe", "/ready")):
            if kind not in probes or "httpGet" not in probes[kind]:
                errors.append(f"{name}: no HTTP {kind}")
                continue
            get = probes[kind]["httpGet"]
            if "GET" not in paths.get(get.get("path", ""), ()):
                errors.append(f"{name}: {kind} GET {get.get('path')} is no route of {script}")
            elif get["path"] != wanted:
                errors.append(f"{name}: {kind} on {get['path']}, wants {wanted} (liveness must "
                              f"not depend on Kafka or the store; readiness must)")
            number = ports.get(get.get("port")) if isinstance(get.get("port"), str) else get.get(
                "port")
            if number != port:
                errors.append(f"{name}: {kind} port {get.get('port')} -> {number}, but the app "
                              f"listens on {port}")
    return errors


def network_errors(objs: list[Obj]) -> list[str]:
    errors = []
    deployments = of_kind(objs, "Deployment")
    services = of_kind(objs, "Service")
    scaled = {s["spec"]["scaleTargetRef"]["name"] for s in of_kind(objs, "ScaledObject").values()}

    def one(kind: str, name: str, selector: dict[str, str]) -> Obj | None:
        found = [d for d in deployments.values() if selects(selector, d)]
        if len(found) != 1:
            errors.append(f"{kind} {name}: selects {len(found)} Deployments, wants 1")
            return None
        return found[0]

    for name, deployment in sorted(deployments.items()):
        if not selects(deployment["spec"]["selector"].get("matchLabels", {}), deployment):
            errors.append(f"Deployment {name}: selector does not match its pod template")
    for name, service in sorted(services.items()):
        target = one("Service", name, service["spec"].get("selector", {}))
        if target is None:
            continue
        names = {p.get("name") for p in main_container(target).get("ports", [])}
        numbers = {p["containerPort"] for p in main_container(target).get("ports", [])}
        for port in service["spec"]["ports"]:
            wanted = port.get("targetPort", port["port"])
            if wanted not in (names if isinstance(wanted, str) else numbers):
                errors.append(f"Service {name}: targetPort {wanted} is no port of "
                              f"{target['metadata']['name']}")
    for name, budget in sorted(of_kind(objs, "PodDisruptionBudget").items()):
        target = one("PodDisruptionBudget", name, budget["spec"]["selector"].get("matchLabels",
                                                                                  {}))
        if target is None:
            continue
        least = budget["spec"].get("minAvailable")
        if least is not None and target["metadata"]["name"] in scaled:
            errors.append(f"PodDisruptionBudget {name}: minAvailable on a KEDA-scaled Deployment "
                          f"blocks drains at its minimum; use maxUnavailable")
        if isinstance(least, int) and least >= target["spec"].get("replicas", 1):
            errors.append(f"PodDisruptionBudget {name}: minAvailable {least} >= replicas "
                          f"{target['spec'].get('replicas', 1)} blocks every drain")
    batch_max = IngestSettings().batch_max_body_bytes
    for name, ingress in sorted(of_kind(objs, "Ingress").items()):
        body = ingress["metadata"].get("annotations", {}).get(
            "nginx.ingress.kubernetes.io/proxy-body-size", "1m")
        if _nginx_size(body) < batch_max:
            errors.append(f"Ingress {name}: proxy-body-size {body} < PLINTH_BATCH_MAX_BODY_BYTES")
        for rule in ingress["spec"].get("rules", []):
            for path in rule["http"]["paths"]:
                backend = path["backend"]["service"]
                service = services.get(backend["name"])
                if service is None:
                    errors.append(f"Ingress {name}: no Service {backend['name']}")
                    continue
                port = backend["port"].get("name", backend["port"].get("number"))
                if port not in {p.get("name") for p in service["spec"]["ports"]} | {
                        p["port"] for p in service["spec"]["ports"]}:
                    errors.append(f"Ingress {name}: Service {backend['name']} has no port {port}")
                target = next((d for d in deployments.values()
                               if selects(service["spec"].get("selector", {}), d)), None)
                if target is not None and path["path"] not in routes(command(target)[0]):
                    errors.append(f"Ingress {name}: {path['path']} is no route of "
                                  f"{command(target)[0]}")
    return errors


def _nginx_size(text: str) -> int:
    number, unit = re.fullmatch(r"(\d+)([kKmMgG]?)", text).groups()  # type: ignore[union-attr]
    return int(number) * {"": 1, "k": 1024, "m": 1024**2, "g": 1024**3}[unit.lower()]


def dockerfile_image() -> tuple[str, int]:
    """The image name docker-compose gives deploy/docker/Dockerfile's build, and its user id."""
    compose = yaml.safe_load((REPO_ROOT / "docker-compose.yml").read_text())
    images = {
        service["image"]
        for service in compose["services"].values()
        if isinstance(service.get("build"), dict)
        and service["build"].get("dockerfile") == DOCKERFILE
        and "image" in service
    }
    assert len(images) == 1, images
    uid = re.search(r"useradd[^\n]*--uid (\d+)", (REPO_ROOT / DOCKERFILE).read_text())
    assert uid is not None
    return images.pop(), int(uid.group(1))


def image_errors(objs: list[Obj], overlay: str) -> list[str]:
    errors = []
    image, uid = dockerfile_image()  # plinth:local
    name = split_image(image)[0]
    for deployment_name, deployment in sorted(of_kind(objs, "Deployment").items()):
        for container in pod_spec(deployment)["containers"]:
            repository, tag = split_image(container["image"])
            if repository.rsplit("/", 1)[-1] != name or tag is None:
                errors.append(f"{deployment_name}: image {container['image']} is not a tagged "
                              f"build of {DOCKERFILE} ({name})")
            if overlay == "local" and container["image"] != image:
                errors.append(f"{deployment_name}: local runs {container['image']}, not {image}")
        security = pod_spec(deployment).get("securityContext", {})
        if security.get("runAsUser") != uid or not security.get("runAsNonRoot"):
            errors.append(f"{deployment_name}: not run as the image's user {uid}, non-root")
    return errors


_QUANTITY = re.compile(r"(\d+(?:\.\d+)?)(m|k|Ki|M|Mi|G|Gi|T|Ti)?")
_FACTORS = {None: 1, "m": 1e-3, "k": 1e3, "Ki": 1024, "M": 1e6, "Mi": 1024**2, "G": 1e9,
            "Gi": 1024**3, "T": 1e12, "Ti": 1024**4}


def quantity(text: str) -> float:
    match = _QUANTITY.fullmatch(text)
    if match is None:
        raise ValueError(f"{text!r} is no Kubernetes quantity")
    return float(match.group(1)) * _FACTORS[match.group(2)]


def resource_errors(objs: list[Obj]) -> list[str]:
    errors = []
    for name, deployment in sorted(of_kind(objs, "Deployment").items()):
        resources = main_container(deployment).get("resources", {})
        for resource in ("cpu", "memory"):
            try:
                low = quantity(resources.get("requests", {})[resource])
                high = quantity(resources.get("limits", {})[resource])
            except (KeyError, ValueError) as exc:
                errors.append(f"{name}: {resource} request and limit: {exc!r}")
                continue
            if low > high:
                errors.append(f"{name}: {resource} request above its limit")
    return errors


CHECKS: dict[str, Callable[[list[Obj]], list[str]]] = {
    "schema": schema_errors,
    "services": service_errors,
    "scaling": scaling_errors,
    "config": config_errors,
    "probes": probe_errors,
    "network": network_errors,
    "resources": resource_errors,
}


# ------------------------------------------------------------------------------------- tests
@pytest.mark.parametrize("overlay", RENDERS)
@pytest.mark.parametrize("check", CHECKS)
def test_manifests(overlay: str, check: str) -> None:
    errors = CHECKS[check](rendered(overlay))
    assert not errors, "\n".join(errors)


@pytest.mark.parametrize("overlay", RENDERS)
def test_the_one_image(overlay: str) -> None:
    errors = image_errors(rendered(overlay), overlay)
    assert not errors, "\n".join(errors)


@pytest.mark.parametrize("overlay", RENDERS)
def test_a_complete_system(overlay: str) -> None:
    objs = rendered(overlay)
    deployments = of_kind(objs, "Deployment")
    assert len(deployments) == len(console_scripts()) + 1  # ingest runs twice
    consumers = [d for d in deployments.values() if not serves_http(d)]
    groups = pipeline_groups(KafkaSettings())
    assert len(of_kind(objs, "ScaledObject")) == len(consumers) == len(groups)
    assert {"ingest", "dashboard-api"} <= set(of_kind(objs, "Service"))
    assert len(of_kind(objs, "PodDisruptionBudget")) == len(deployments)
    assert of_kind(objs, "Ingress") and CONFIGMAP in of_kind(objs, "ConfigMap")
    namespace = NAMESPACES.get(overlay)
    assert {o["metadata"].get("namespace") for o in objs if o["kind"] != "Namespace"} == {
        namespace}
    assert set(of_kind(objs, "Namespace")) == ({namespace} if namespace else set())


@pytest.mark.parametrize("overlay", RENDERS)
def test_same_output_as_kubectl_kustomize(overlay: str) -> None:
    """The Python renderer agrees with kustomize itself (kubectl's), where kubectl is here."""
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        pytest.skip("kubectl is not installed; the Python renderer alone is used")
    out = subprocess.run([kubectl, "kustomize", str(RENDERS[overlay])], capture_output=True,
                         text=True, timeout=120, check=True).stdout
    theirs = {object_id(o): _order_free(o) for o in yaml.safe_load_all(out) if o}
    mine = {object_id(o): _order_free(o) for o in rendered(overlay)}
    assert mine == theirs


def _order_free(value: Any) -> Any:
    """Lists of named items compared as sets: kustomize orders merged lists its own way."""
    if isinstance(value, dict):
        return {k: _order_free(v) for k, v in value.items()}
    if isinstance(value, list):
        items = [_order_free(v) for v in value]
        if all(isinstance(i, dict) and "name" in i for i in items):
            items.sort(key=lambda i: str(i["name"]))
        return items
    return value


# The downloader verifies no webhook: it is not given the webhook secret its class could read.
NOT_GIVEN = {"ingest-downloader": {"webhook_secret"}}


@pytest.mark.parametrize("overlay", sorted(RENDERS))
def test_each_deployment_takes_only_the_credentials_its_process_reads(overlay: str) -> None:
    """By key from the Secret, never the whole Secret: a process's environment holds its own
    credentials (those its settings class composes) and no other process's."""
    example = of_kind(rendered("base"), "Secret")["plinth-secrets"]["stringData"]
    for name, deployment in of_kind(rendered(overlay), "Deployment").items():
        container = main_container(deployment)
        assert not [s for s in container.get("envFrom", []) if "secretRef" in s], name
        refs = secret_refs(deployment)
        assert all(var == ref["key"] for var, ref in refs.items()), name
        given = {var.removeprefix("PLINTH_").lower() for var in refs}
        wanted = secrets_of(settings_class(deployment)) | {"s3_access_key"}
        assert given == wanted - NOT_GIVEN.get(name, set()), name
        # A key a pod cannot start without is one the Secret documents.
        assert {var for var, ref in refs.items() if not ref.get("optional")} <= set(example), name


def test_production_ships_no_example_secret() -> None:
    for overlay in ("production", "gpu"):
        objs = rendered(overlay)
        assert not of_kind(objs, "Secret"), "the real Secret is created out of band"
        refs = {ref["name"] for d in of_kind(objs, "Deployment").values()
                for ref in secret_refs(d).values()}
        assert refs == {"plinth-secrets"}
        assert "EXAMPLE-" not in yaml.safe_dump_all(objs)


def test_example_secret_is_marked() -> None:
    secret = of_kind(rendered("base"), "Secret")["plinth-secrets"]
    assert all("EXAMPLE" in v for k, v in secret["stringData"].items())
    assert "EXAMPLE VALUES ONLY" in (K8S / "base" / "secret.example.yaml").read_text()


def test_gpu_overlay_puts_segment_on_a_gpu() -> None:
    production, gpu = rendered("production"), rendered("gpu")
    segment = of_kind(gpu, "Deployment")["segment"]
    container = main_container(segment)
    assert container["resources"]["limits"]["nvidia.com/gpu"] == "1"
    assert pod_spec(segment)["nodeSelector"] and pod_spec(segment)["tolerations"]
    assert settings_of(gpu, segment).segment_use_cuda is True
    assert of_kind(gpu, "ScaledObject")["segment"]["spec"]["maxReplicaCount"] <= shared_settings(
        gpu).kafka_partitions
    for name, deployment in of_kind(gpu, "Deployment").items():
        if name != "segment":
            assert deployment == of_kind(production, "Deployment")[name]
            assert "nvidia.com/gpu" not in yaml.safe_dump(deployment)


def test_readme_documents_every_topic_and_the_partitions() -> None:
    readme = (K8S / "README.md").read_text()
    for topic in all_topics():
        assert f"`{topic}`" in readme, f"deploy/k8s/README.md does not mention {topic}"
    for overlay in ("local", "production"):
        partitions = shared_settings(rendered(overlay)).kafka_partitions
        assert f"PLINTH_KAFKA_PARTITIONS={partitions}" in readme


def test_runbook_explains_every_alert() -> None:
    """Each alert of deploy/monitoring/alerts.yaml links a section of docs/runbook.md."""
    runbook = (REPO_ROOT / "docs" / "runbook.md").read_text()
    rules = yaml.safe_load((REPO_ROOT / "deploy" / "monitoring" / "alerts.yaml").read_text())
    alerts = [r for group in rules["spec"]["groups"] for r in group["rules"] if "alert" in r]
    assert alerts
    for rule in alerts:
        assert f"\n### {rule['alert']}\n" in runbook, f"docs/runbook.md lacks {rule['alert']}"
        link = rule.get("annotations", {}).get("runbook")
        assert link == f"docs/runbook.md#{rule['alert'].lower()}", link


def test_renderer_refuses_what_it_does_not_know(tmp_path: Path) -> None:
    (tmp_path / "kustomization.yaml").write_text(
        "resources: [../base]\ncommonLabels: {team: images}\n")
    with pytest.raises(KustomizeError, match="commonLabels"):
        build(tmp_path)


# --------------------------------------------------------- planted mistakes must be caught
def _deployment(objs: list[Obj], name: str) -> Obj:
    return of_kind(objs, "Deployment")[name]


def _env(objs: list[Obj], deployment: str, variable: str) -> dict[str, Any]:
    """The container's ``env`` entry named ``variable``."""
    env = main_container(_deployment(objs, deployment))["env"]
    return next(var for var in env if var["name"] == variable)


def _drop_env(objs: list[Obj], deployment: str, variable: str) -> None:
    main_container(_deployment(objs, deployment))["env"].remove(_env(objs, deployment, variable))


def _scaled(objs: list[Obj], name: str) -> Obj:
    return of_kind(objs, "ScaledObject")[name]


def _config(objs: list[Obj]) -> dict[str, str]:
    data: dict[str, str] = of_kind(objs, "ConfigMap")[CONFIGMAP]["data"]
    return data


def _drop(objs: list[Obj], kind: str, name: str) -> None:
    objs.remove(of_kind(objs, kind)[name])


PLANTED: dict[str, tuple[str, Callable[[list[Obj]], None]]] = {
    "unknown probe field": ("schema", lambda o: main_container(_deployment(o, "ingest-http"))[
        "livenessProbe"]["httpGet"].update(pathh="/live")),
    "number as env value": ("schema", lambda o: main_container(_deployment(o, "segment"))[
        "env"][0].update(value=2)),
    "kafka metadata typo": ("schema", lambda o: _scaled(o, "derive")["spec"]["triggers"][0][
        "metadata"].update(lagTreshold="5")),
    "unknown ScaledObject field": ("schema", lambda o: _scaled(o, "derive")["spec"].update(
        maxReplicas=3)),
    "unknown kind": ("schema", lambda o: o.append({"apiVersion": "v1", "kind": "Pod",
                                                   "metadata": {"name": "x"}})),
    "probe at a missing route": ("probes", lambda o: main_container(
        _deployment(o, "dashboard-api"))["readinessProbe"]["httpGet"].update(path="/healthz")),
    "liveness on /ready": ("probes", lambda o: main_container(
        _deployment(o, "ingest-http"))["livenessProbe"]["httpGet"].update(path="/ready")),
    "downloader probe without its health port": ("probes", lambda o: _drop_env(
        o, "ingest-downloader", "PLINTH_HEALTH_PORT")),
    "worker probe at a missing route": ("probes", lambda o: main_container(
        _deployment(o, "derive"))["livenessProbe"]["httpGet"].update(path="/healthz")),
    "worker health on localhost": ("probes", lambda o: _env(
        o, "segment", "PLINTH_HEALTH_HOST").update(value="127.0.0.1")),
    "worker without health port": ("probes", lambda o: _drop_env(
        o, "publish", "PLINTH_HEALTH_PORT")),
    "probe on the wrong port": ("probes", lambda o: main_container(
        _deployment(o, "ingest-http"))["ports"][0].update(containerPort=9999)),
    "consumer group typo": ("scaling", lambda o: _scaled(o, "segment")["spec"]["triggers"][0][
        "metadata"].update(consumerGroup="plinth-segmnet")),
    "retry topic forgotten": ("scaling", lambda o: _scaled(o, "composite")["spec"][
        "triggers"].pop()),
    "more replicas than partitions": ("scaling", lambda o: _scaled(o, "derive")["spec"].update(
        maxReplicaCount=99)),
    "no ScaledObject for a stage": ("scaling", lambda o: _drop(o, "ScaledObject", "publish")),
    "other brokers than the ConfigMap's": ("scaling", lambda o: _config(o).update(
        PLINTH_KAFKA_BOOTSTRAP="elsewhere:9092")),
    "group prefix changed alone": ("scaling", lambda o: _config(o).update(
        PLINTH_KAFKA_CONSUMER_GROUP_PREFIX="acme")),
    "replicas on a scaled Deployment": ("scaling", lambda o: _deployment(o, "background")[
        "spec"].update(replicas=2)),
    "unknown setting": ("config", lambda o: _config(o).update(PLINTH_KAFKA_BOOTSTRAPP="x:1")),
    "invalid setting value": ("config", lambda o: _config(o).update(
        PLINTH_KAFKA_PARTITIONS="many")),
    "secret in the ConfigMap": ("config", lambda o: _config(o).update(
        PLINTH_S3_SECRET_KEY="oops")),
    "unknown container setting": ("config", lambda o: main_container(
        _deployment(o, "segment"))["env"].append({"name": "PLINTH_SEGMENT_THREAD", "value": "2"})),
    "a service without Deployment": ("services", lambda o: _drop(o, "Deployment", "publish")),
    "downloader missing": ("services", lambda o: _drop(o, "Deployment", "ingest-downloader")),
    "ingest mode that does not exist": ("services", lambda o: main_container(
        _deployment(o, "ingest-http")).update(command=["plinth-ingest", "web"])),
    "Service to a missing port": ("network", lambda o: of_kind(o, "Service")["ingest"]["spec"][
        "ports"][0].update(targetPort="web")),
    "PDB selecting nothing": ("network", lambda o: of_kind(o, "PodDisruptionBudget")["derive"][
        "spec"]["selector"]["matchLabels"].update({"app.kubernetes.io/name": "derives"})),
    "Ingress to a missing route": ("network", lambda o: of_kind(o, "Ingress")["plinth"]["spec"][
        "rules"][1]["http"]["paths"][0].update(path="/api/webhooks")),
    "limit below request": ("resources", lambda o: main_container(_deployment(o, "derive"))[
        "resources"]["limits"].update(cpu="500m")),
}


@pytest.mark.parametrize("mistake", PLANTED)
def test_checks_catch_planted_mistakes(mistake: str) -> None:
    check, plant = PLANTED[mistake]
    objs = rendered("base")
    assert CHECKS[check](objs) == []
    plant(objs)
    assert CHECKS[check](objs), f"the {check} check missed: {mistake}"


def test_image_check_catches_another_image() -> None:
    objs = rendered("local")
    main_container(_deployment(objs, "publish"))["image"] = "python:3.11-slim"
    assert image_errors(objs, "local")
