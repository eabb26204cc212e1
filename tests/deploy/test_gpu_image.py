"""The GPU variant wired end to end, checked with no Docker engine, no cluster and no GPU.

- uv.lock: onnxruntime (CPU) and onnxruntime-gpu are two conflicting dependency groups of the
  workspace, ``cpu`` a default one and ``gpu`` not, and nothing else depends on either, so the
  default install stays CPU-only and exactly as before, and the GPU install swaps one package;
  ``uv export`` shows both sets from the lock, offline.
- deploy/docker/Dockerfile: the default (last) stage is still the CPU image; target ``gpu``
  installs the ``gpu`` group on an ``nvidia/cuda`` cuDNN runtime image whose CUDA major is the one
  the locked onnxruntime-gpu release was built for, with the same user, entry points and
  defaults as the CPU image.
- deploy/k8s/overlays/gpu: segment (only segment) runs the ``-gpu`` tag of the production image,
  with one ``nvidia.com/gpu`` and the CUDA setting on, rendered by the Python kustomize subset
  and, where kubectl is installed, by ``kubectl kustomize``.

Each check is a function returning errors, and a planted mistake of each kind must be reported.
Not checked here (nothing can be, without Docker and a GPU): that the image builds, and that
CUDA really runs; see docs/runbook.md, "Segment on GPU nodes".
"""

from __future__ import annotations

import copy
import functools
import re
import shutil
import subprocess
import tomllib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from .kustomize_subset import build, split_image

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = ROOT / "deploy" / "docker" / "Dockerfile"
LOCK = ROOT / "uv.lock"
OVERLAYS = ROOT / "deploy" / "k8s" / "overlays"
Obj = dict[str, Any]

# The CUDA and cuDNN majors each onnxruntime-gpu release on PyPI is built for, read from its
# Linux x86_64 wheel: onnxruntime/capi/build_and_package_info.py (cuda_version), the NEEDED
# entries of libonnxruntime_providers_cuda.so (libcublasLt.so.13, libcudart.so.13), the `cudnn`
# extra of its METADATA (nvidia-cudnn-cu13~=9.0), and its own error without them ("Require
# cuDNN 9.* and CUDA 13.*"). Upgrading onnxruntime-gpu in uv.lock fails this test until the new
# release is read the same way and the Dockerfile's CUDA image follows.
ONNXRUNTIME_GPU_BUILDS = {"1.31": ("13", "9")}
RUNTIME_GROUPS = {"cpu": "onnxruntime", "gpu": "onnxruntime-gpu"}


# ------------------------------------------------------------------------------------ the lock
@functools.cache
def _lock() -> Obj:
    return tomllib.loads(LOCK.read_text())


def lock() -> Obj:
    return copy.deepcopy(_lock())


def locked_version(data: Obj, name: str) -> str:
    versions = [p["version"] for p in data["package"] if p["name"] == name]
    assert len(versions) == 1, f"{name}: {versions}"
    return str(versions[0])


def lock_errors(data: Obj) -> list[str]:
    errors = []
    root = next(p for p in data["package"] if p["name"] == "plinth-workspace")
    groups = {g: {d["name"] for d in deps} for g, deps in root.get("dev-dependencies", {}).items()}
    for group, package in RUNTIME_GROUPS.items():
        if groups.get(group) != {package}:
            errors.append(f"group {group} holds {groups.get(group)}, not just {package}")
    conflicts = [{c.get("group") for c in conflict} for conflict in data.get("conflicts", [])]
    if set(RUNTIME_GROUPS) not in conflicts:
        errors.append("groups cpu and gpu are not declared conflicting: an install may hold both")
    defaults = set(root.get("default-groups", []))
    if "cpu" not in defaults or "gpu" in defaults:
        errors.append(f"default groups {sorted(defaults)}: the default install must be the CPU one")
    for package in data["package"]:
        names = {d["name"] for d in package.get("dependencies", [])}
        for extra in package.get("optional-dependencies", {}).values():
            names |= {d["name"] for d in extra}
        runtimes = sorted(names & set(RUNTIME_GROUPS.values()))
        if runtimes:
            errors.append(f"{package['name']} depends on {runtimes}: only the cpu/gpu groups "
                          "may choose the onnxruntime build")
    return errors


def test_the_lock_offers_the_two_builds_as_conflicting_groups() -> None:
    assert lock_errors(lock()) == []


def test_the_locked_onnxruntime_gpu_is_a_release_whose_cuda_is_known() -> None:
    version = locked_version(lock(), "onnxruntime-gpu")
    minor = ".".join(version.split(".")[:2])
    assert minor in ONNXRUNTIME_GPU_BUILDS, (
        f"onnxruntime-gpu {version} is locked: read its wheel's CUDA and cuDNN versions, add "
        "them to ONNXRUNTIME_GPU_BUILDS and match the Dockerfile's CUDA_IMAGE")


def test_an_installed_onnxruntime_gpu_is_the_cuda_build_the_table_says() -> None:
    """Where onnxruntime-gpu is installed (a GPU venv: ``uv sync --no-group cpu --group gpu``),
    its own build record must agree with ONNXRUNTIME_GPU_BUILDS."""
    from importlib import metadata

    try:
        version = metadata.version("onnxruntime-gpu")
    except metadata.PackageNotFoundError:
        pytest.skip("onnxruntime-gpu is not installed here (the default, CPU environment)")
    from onnxruntime.capi import build_and_package_info

    cuda = str(build_and_package_info.cuda_version).split(".")[0]
    assert (version, cuda) == (locked_version(lock(), "onnxruntime-gpu"),
                               ONNXRUNTIME_GPU_BUILDS[".".join(version.split(".")[:2])][0])


def _uv(*args: str) -> subprocess.CompletedProcess[str]:
    uv = shutil.which("uv")
    if uv is None:
        pytest.skip("uv is not installed here")
    return subprocess.run([uv, *args], cwd=ROOT, capture_output=True, text=True, timeout=120)


def test_uv_lock_is_current() -> None:
    out = _uv("lock", "--check", "--offline")
    assert out.returncode == 0, out.stderr


def _exported(*groups: str) -> set[str]:
    out = _uv("export", "--frozen", "--offline", "--no-hashes", "--no-header",
              "--no-annotate", *groups)
    assert out.returncode == 0, out.stderr
    return {re.split(r"[=@ ;]", line.strip(), maxsplit=1)[0].lower()
            for line in out.stdout.splitlines() if line.strip() and not line.startswith(("#", "-"))}


def test_default_install_is_cpu_only_and_the_gpu_one_swaps_one_package() -> None:
    default = _exported("--no-dev")  # what `uv sync --no-dev` installs
    cpu_image = _exported("--no-default-groups", "--group", "cpu")  # the Dockerfile's cpu stage
    gpu_image = _exported("--no-default-groups", "--group", "gpu")  # its gpu stage
    assert default == cpu_image
    assert "onnxruntime" in default and "onnxruntime-gpu" not in default
    assert not {name for name in default if name.startswith("nvidia-")}, "CUDA wheels by default"
    assert cpu_image ^ gpu_image == {"onnxruntime", "onnxruntime-gpu"}
    both = _uv("export", "--frozen", "--offline", "--no-dev", "--group", "gpu")
    assert both.returncode != 0 and "incompatible" in both.stderr, "cpu and gpu together"


# ------------------------------------------------------------------------------ the Dockerfile
def dockerfile_stages(text: str) -> tuple[dict[str, str], list[Obj]]:
    """Global ARG defaults, and each stage: base, name, its instructions (continuations joined)."""
    joined = re.sub(r"\\\n\s*", " ", text)
    args: dict[str, str] = {}
    stages: list[Obj] = []
    for line in joined.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        word, _, rest = line.partition(" ")
        word = word.upper()
        if word == "FROM":
            match = re.fullmatch(r"(\S+)(?:\s+AS\s+(\S+))?", rest.strip(), flags=re.IGNORECASE)
            assert match is not None, line
            base = re.sub(r"\$\{(\w+)\}", lambda m: args.get(m.group(1), m.group(0)),
                          match.group(1))
            stages.append({"base": base, "name": match.group(2), "lines": []})
        elif word == "ARG" and not stages:
            name, _, default = rest.partition("=")
            args[name.strip()] = default.strip()
        elif stages:
            stages[-1]["lines"].append((word, rest.strip()))
    return args, stages


def _labels(stage: Obj) -> dict[str, str]:
    found: dict[str, str] = {}
    for word, rest in stage["lines"]:
        if word == "LABEL":
            found.update(re.findall(r'(\S+?)="([^"]*)"', rest))
    return found


def _runs(stage: Obj) -> str:
    return "\n".join(rest for word, rest in stage["lines"] if word == "RUN")


def _env_keys(stage: Obj) -> set[str]:
    return {key for word, rest in stage["lines"] if word == "ENV"
            for key in re.findall(r"(\w+)=", rest)}


def _same(stage: Obj, word: str) -> list[str]:
    return [rest for w, rest in stage["lines"] if w == word]


def dockerfile_errors(text: str, onnxruntime_gpu: str) -> list[str]:
    args, stages = dockerfile_stages(text)
    by_name = {s["name"]: s for s in stages if s["name"]}
    errors = []
    cpu = stages[-1]
    if cpu["name"] != "cpu" or not cpu["base"].startswith("python:3.11-slim"):
        errors.append(f"the default (last) stage is {cpu['name']} on {cpu['base']}, not the CPU "
                      "image on python:3.11-slim")
    if "--group cpu" not in _runs(by_name.get("build", {"lines": []})):
        errors.append("the CPU venv (stage build) does not install the cpu group")
    gpu, build_gpu = by_name.get("gpu"), by_name.get("build-gpu")
    if gpu is None or build_gpu is None:
        return [*errors, "no gpu target (stages build-gpu and gpu)"]
    image = args.get("CUDA_IMAGE", "")
    match = re.fullmatch(r"nvidia/cuda:(\d+)\.(\d+)\.(\d+)-cudnn-runtime-ubuntu(\d\d\.\d\d)", image)
    if match is None:
        return [*errors, f"CUDA_IMAGE {image!r} is not an nvidia/cuda cudnn-runtime tag"]
    for stage in (build_gpu, gpu):
        if stage["base"] != image:
            errors.append(f"stage {stage['name']} is built on {stage['base']}, not {image}")
    sync = _runs(build_gpu)
    if not re.search(r"uv sync --frozen --no-default-groups --group gpu\b", sync):
        errors.append("build-gpu does not install exactly the gpu group (frozen, no defaults)")
    labels = _labels(gpu)
    minor = ".".join(onnxruntime_gpu.split(".")[:2])
    cuda, cudnn = ONNXRUNTIME_GPU_BUILDS.get(minor, ("?", "?"))
    if labels.get("org.plinth.onnxruntime-gpu") != onnxruntime_gpu:
        errors.append(f"gpu label onnxruntime-gpu {labels.get('org.plinth.onnxruntime-gpu')}, "
                      f"uv.lock has {onnxruntime_gpu}")
    if (labels.get("org.plinth.cuda"), labels.get("org.plinth.cudnn")) != (cuda, cudnn):
        errors.append(f"gpu labels say CUDA {labels.get('org.plinth.cuda')} cuDNN "
                      f"{labels.get('org.plinth.cudnn')}; onnxruntime-gpu {minor} needs "
                      f"CUDA {cuda}, cuDNN {cudnn}")
    if match.group(1) != cuda:
        errors.append(f"{image} is CUDA {match.group(1)}; onnxruntime-gpu {onnxruntime_gpu} "
                      f"is built for CUDA {cuda}")
    copies = _same(gpu, "COPY")
    if not any("--from=build-gpu /app/.venv" in c for c in copies) or any(
            "--from=build /app/.venv" in c for c in copies):
        errors.append("the gpu image does not take its venv from build-gpu")
    for word in ("USER", "WORKDIR", "CMD", "EXPOSE"):
        if _same(gpu, word) != _same(cpu, word):
            errors.append(f"gpu {word} {_same(gpu, word)} differs from the CPU image's")
    if _same(gpu, "RUN")[:1] != _same(cpu, "RUN")[:1]:
        errors.append("the gpu image does not create the same user as the CPU image")
    if not _env_keys(cpu) <= _env_keys(gpu):
        errors.append(f"gpu image lacks the defaults {sorted(_env_keys(cpu) - _env_keys(gpu))}")
    return errors


def test_the_dockerfile_builds_a_cpu_default_and_a_matching_gpu_target() -> None:
    version = locked_version(lock(), "onnxruntime-gpu")
    assert dockerfile_errors(DOCKERFILE.read_text(), version) == []


# ------------------------------------------------------------------------------- the overlay
@functools.cache
def _rendered(overlay: str) -> tuple[Obj, ...]:
    return tuple(build(OVERLAYS / overlay))


def deployments(objs: list[Obj]) -> dict[str, Obj]:
    return {o["metadata"]["name"]: o for o in objs if o["kind"] == "Deployment"}


def container(deployment: Obj) -> Obj:
    found: Obj = deployment["spec"]["template"]["spec"]["containers"][0]
    return found


def overlay_errors(gpu: list[Obj], production: list[Obj]) -> list[str]:
    errors = []
    gpu_deployments, cpu_deployments = deployments(gpu), deployments(production)
    repository, tag = split_image(container(cpu_deployments["segment"])["image"])
    wanted = f"{repository}:{tag}-gpu"
    segment = container(gpu_deployments["segment"])
    if segment["image"] != wanted:
        errors.append(f"segment runs {segment['image']}, not the gpu variant {wanted}")
    for name, deployment in gpu_deployments.items():
        if name != "segment" and container(deployment)["image"] != container(
                cpu_deployments[name])["image"]:
            errors.append(f"{name} runs {container(deployment)['image']}: only segment needs CUDA")
    resources = segment.get("resources", {})
    for kind in ("requests", "limits"):
        if resources.get(kind, {}).get("nvidia.com/gpu") != "1":
            errors.append(f"segment {kind} no nvidia.com/gpu: 1")
    env = {e["name"]: e.get("value") for e in segment.get("env", [])}
    if env.get("PLINTH_SEGMENT_USE_CUDA") != "true":
        errors.append("segment does not turn PLINTH_SEGMENT_USE_CUDA on")
    config = next(o for o in gpu if o["kind"] == "ConfigMap")["data"]
    provider = env.get("PLINTH_SEGMENT_PROVIDER", config.get("PLINTH_SEGMENT_PROVIDER"))
    if provider != "learned":
        errors.append(f"segment provider {provider!r}: only the learned model runs on CUDA")
    return errors


def test_the_gpu_overlay_runs_segment_from_the_gpu_image() -> None:
    gpu, production = list(_rendered("gpu")), list(_rendered("production"))
    assert overlay_errors(copy.deepcopy(gpu), copy.deepcopy(production)) == []
    assert container(deployments(gpu)["segment"])["image"] == (
        "registry.example.com/plinth:0.1.0-gpu")


def test_kubectl_kustomize_gives_segment_the_same_image() -> None:
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        pytest.skip("kubectl is not installed; the Python renderer alone is used")
    out = subprocess.run([kubectl, "kustomize", str(OVERLAYS / "gpu")], capture_output=True,
                         text=True, timeout=120, check=True).stdout
    theirs = deployments([o for o in yaml.safe_load_all(out) if o])
    mine = deployments(list(_rendered("gpu")))
    assert {n: container(d)["image"] for n, d in theirs.items()} == {
        n: container(d)["image"] for n, d in mine.items()}


# ------------------------------------------------------------- planted mistakes must be caught
def _lock_with(change: Callable[[Obj], Any]) -> Obj:
    data = lock()
    change(data)
    return data


def _root(data: Obj) -> Obj:
    root: Obj = next(p for p in data["package"] if p["name"] == "plinth-workspace")
    return root


LOCK_MISTAKES: dict[str, Callable[[Obj], Any]] = {
    "onnxruntime back in plinth's dependencies": lambda d: next(
        p for p in d["package"] if p["name"] == "plinth")["dependencies"].append(
        {"name": "onnxruntime"}),
    "no conflict declared": lambda d: d.pop("conflicts"),
    "gpu a default group": lambda d: _root(d)["default-groups"].append("gpu"),
    "cpu not a default group": lambda d: _root(d)["default-groups"].remove("cpu"),
    "gpu group holding the CPU build too": lambda d: _root(d)["dev-dependencies"]["gpu"].append(
        {"name": "onnxruntime"}),
}


@pytest.mark.parametrize("mistake", LOCK_MISTAKES)
def test_lock_check_catches(mistake: str) -> None:
    assert lock_errors(_lock_with(LOCK_MISTAKES[mistake]))


def _gpu_stage_last(text: str) -> str:
    """The gpu stages moved after the CPU one: `docker build` would then build the GPU image."""
    start = text.index("FROM ${CUDA_IMAGE} AS gpu")
    end = text.index("FROM python:3.11-slim-bookworm AS cpu")
    return text[:start] + text[end:] + "\n" + text[start:end]


def _replace(old: str, new: str) -> Callable[[str], str]:
    def plant(text: str) -> str:
        assert old in text, f"the planted mistake no longer applies: {old!r}"
        return text.replace(old, new)
    return plant


DOCKERFILE_MISTAKES: dict[str, Callable[[str], str]] = {
    "a CUDA 12 base": _replace("13.0.1-cudnn-runtime", "12.8.0-cudnn-runtime"),
    "a base without cuDNN": _replace("13.0.1-cudnn-runtime", "13.0.1-runtime"),
    "the gpu venv from the cpu group": _replace("--no-default-groups --group gpu",
                                                "--no-default-groups --group cpu"),
    "the gpu image with the CPU venv": _replace("COPY --from=build-gpu /app/.venv",
                                                "COPY --from=build /app/.venv"),
    "a stale onnxruntime-gpu label": _replace('org.plinth.onnxruntime-gpu="1.31.1"',
                                              'org.plinth.onnxruntime-gpu="1.30.0"'),
    "the gpu stage last (the default build)": _gpu_stage_last,
    "another user in the gpu image": _replace(
        "RUN useradd --system --uid 10001 --home-dir /app plinth\nCOPY --from=build-gpu",
        "RUN useradd --system --uid 1000 --home-dir /app plinth\nCOPY --from=build-gpu"),
}


@pytest.mark.parametrize("mistake", DOCKERFILE_MISTAKES)
def test_dockerfile_check_catches(mistake: str) -> None:
    text = DOCKERFILE_MISTAKES[mistake](DOCKERFILE.read_text())
    assert dockerfile_errors(text, locked_version(lock(), "onnxruntime-gpu"))


def _segment(objs: list[Obj]) -> Obj:
    return container(deployments(objs)["segment"])


OVERLAY_MISTAKES: dict[str, Callable[[list[Obj]], Any]] = {
    "segment on the CPU image": lambda o: _segment(o).update(
        image="registry.example.com/plinth:0.1.0"),
    "the gpu name left untagged": lambda o: _segment(o).update(image="plinth-gpu"),
    "derive on the gpu image": lambda o: container(deployments(o)["derive"]).update(
        image="registry.example.com/plinth:0.1.0-gpu"),
    "no GPU limit": lambda o: _segment(o)["resources"]["limits"].pop("nvidia.com/gpu"),
    "CUDA setting off": lambda o: next(e for e in _segment(o)["env"]
                                       if e["name"] == "PLINTH_SEGMENT_USE_CUDA").update(
        value="false"),
    "the local provider": lambda o: next(x for x in o if x["kind"] == "ConfigMap")["data"].update(
        PLINTH_SEGMENT_PROVIDER="local"),
}


@pytest.mark.parametrize("mistake", OVERLAY_MISTAKES)
def test_overlay_check_catches(mistake: str) -> None:
    gpu = copy.deepcopy(list(_rendered("gpu")))
    OVERLAY_MISTAKES[mistake](gpu)
    assert overlay_errors(gpu, copy.deepcopy(list(_rendered("production"))))
