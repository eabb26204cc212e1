"""First-use installs, cached under the install dir and keyed by version.

Each install runs its tool (mvn, go) with output going to logs/install-<name>.log and
is marked complete only after it succeeded, so an interrupted install is redone.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

from . import ferretdb_patch
from .config import REPO_ROOT, StackConfig

KAFKA_POM = REPO_ROOT / "deploy" / "local" / "kafka" / "pom.xml"
FERRETDB_MODULE = "github.com/FerretDB/FerretDB"
FERRETDB_VERSION = "v1.24.2"
VERSITYGW_MODULE = "github.com/versity/versitygw"
VERSITYGW_VERSION = "v1.8.0"


class InstallError(Exception):
    """A tool is missing or an install step failed; the message says which and where."""


def find_tool(name: str, *fallbacks: str) -> str:
    found = shutil.which(name)
    if found:
        return found
    for candidate in fallbacks:
        if os.access(candidate, os.X_OK):
            return candidate
    raise InstallError(f"'{name}' is not installed (needed to install the local stack)")


_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


def _run_logged(
    argv: list[str], *, log: Path, cwd: Path | None = None, env: dict[str, str] | None = None
) -> str:
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("a") as out:
        out.write(f"\n$ {' '.join(argv)}\n")
        out.flush()
        result = subprocess.run(
            argv,
            cwd=cwd,
            env={**os.environ, "NO_COLOR": "1", **(env or {})},
            capture_output=True,
            text=True,
            check=False,
        )
        # A log file is no terminal: Debian's Maven 3.8 writes colour resets even with -B, -q
        # and NO_COLOR, so they are taken out here.
        out.write(_ANSI.sub("", result.stderr))
        out.write(_ANSI.sub("", result.stdout))
    if result.returncode != 0:
        command = " ".join(argv[:3])
        raise InstallError(f"`{command} ...` failed (exit {result.returncode}); see {log}")
    return result.stdout


def _timed(name: str, step: Callable[[], None]) -> None:
    started = time.monotonic()
    step()
    print(f"  installed {name} in {time.monotonic() - started:.1f}s", flush=True)


def kafka_libs_dir(cfg: StackConfig) -> Path:
    # Keyed by the pom's content: editing the versions in the pom triggers a fresh resolve.
    digest = hashlib.sha256(KAFKA_POM.read_bytes()).hexdigest()[:12]
    return cfg.install_dir / "kafka" / digest / "libs"


def install_kafka(cfg: StackConfig) -> None:
    libs = kafka_libs_dir(cfg)
    marker = libs.parent / ".complete"
    if marker.exists():
        return
    mvn = find_tool("mvn")
    find_tool("java")

    def step() -> None:
        shutil.rmtree(libs, ignore_errors=True)
        _run_logged(
            [
                mvn,
                "-q",
                "-B",
                "-f",
                str(KAFKA_POM),
                "dependency:copy-dependencies",
                f"-DoutputDirectory={libs}",
                "-DincludeScope=runtime",
            ],
            log=cfg.logs_dir / "install-kafka.log",
        )
        marker.write_text("ok\n")

    _timed("kafka (Maven Central)", step)


def _go() -> str:
    return find_tool("go", "/usr/local/go/bin/go")


def ferretdb_binary(cfg: StackConfig) -> Path:
    # Keyed by our patch too, so changing it rebuilds.
    patched = f"{FERRETDB_VERSION}-{ferretdb_patch.fingerprint()}"
    return cfg.install_dir / "ferretdb" / patched / "ferretdb"


def install_ferretdb(cfg: StackConfig) -> None:
    binary = ferretdb_binary(cfg)
    if binary.exists():
        return
    go = _go()
    log = cfg.logs_dir / "install-ferretdb.log"

    def step() -> None:
        # `go install module@version` builds a binary that panics at start: FerretDB's
        # main package insists on build/version/version.txt, which its release process
        # generates and the module zip lacks. So copy the module source, add the file,
        # apply our two fixes (ferretdb_patch.py) and build that copy; dependencies still
        # come from its go.sum through the module proxy.
        info = json.loads(
            _run_logged(
                [go, "mod", "download", "-json", f"{FERRETDB_MODULE}@{FERRETDB_VERSION}"], log=log
            )
        )
        src = binary.parent / "src"
        shutil.rmtree(src, ignore_errors=True)
        shutil.copytree(info["Dir"], src)
        for root, dirs, files in os.walk(src):
            for name in dirs + files:
                path = Path(root) / name
                path.chmod(path.stat().st_mode | 0o200)
        (src / "build" / "version" / "version.txt").write_text(FERRETDB_VERSION + "\n")
        try:
            ferretdb_patch.apply(src)
        except ferretdb_patch.PatchError as exc:
            raise InstallError(str(exc)) from exc
        tmp = binary.with_suffix(".tmp")
        _run_logged([go, "build", "-trimpath", "-o", str(tmp), "./cmd/ferretdb"], log=log, cwd=src)
        tmp.replace(binary)
        shutil.rmtree(src, ignore_errors=True)
        for older in binary.parent.parent.iterdir():  # builds of earlier patch versions
            if older != binary.parent:
                shutil.rmtree(older, ignore_errors=True)

    _timed(f"ferretdb {FERRETDB_VERSION} (Go module proxy)", step)


def versitygw_binary(cfg: StackConfig) -> Path:
    return cfg.install_dir / "versitygw" / VERSITYGW_VERSION / "versitygw"


def install_versitygw(cfg: StackConfig) -> None:
    binary = versitygw_binary(cfg)
    if binary.exists():
        return
    go = _go()

    def step() -> None:
        gobin = binary.parent / "gobin"
        shutil.rmtree(gobin, ignore_errors=True)
        _run_logged(
            [go, "install", f"{VERSITYGW_MODULE}/cmd/versitygw@{VERSITYGW_VERSION}"],
            log=cfg.logs_dir / "install-versitygw.log",
            env={"GOBIN": str(gobin)},
        )
        (gobin / "versitygw").replace(binary)
        shutil.rmtree(gobin, ignore_errors=True)

    _timed(f"versitygw {VERSITYGW_VERSION} (Go module proxy)", step)
