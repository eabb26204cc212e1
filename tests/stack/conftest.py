"""Helpers for tests of the local stack (deploy/local/stack) and of docker-compose.yml.

Two kinds of test live here:
- CLI tests run a *private* stack (own state dir, own free ports) so they never disturb
  the shared stack on the default ports that other test suites use;
- server tests talk to the shared stack. Without it they skip, unless
  PLINTH_REQUIRE_STACK=1 (set by `make test`), where a missing stack is a failure.
"""

from __future__ import annotations

import os
import socket
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
STACK = REPO_ROOT / "deploy" / "local" / "stack"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class PrivateStack:
    state_dir: Path
    env: dict[str, str]

    def run(self, *args: str, timeout: float = 180) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(STACK), *args],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )

    def port(self, component: str) -> int:
        return int(self.env[f"PLINTH_STACK_{component.upper()}_PORT"])


@pytest.fixture
def private_stack(tmp_path: Path) -> Iterator[PrivateStack]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PLINTH_STACK_")}
    env.update(
        PLINTH_STACK_DIR=str(tmp_path / "stack"),
        PLINTH_STACK_KAFKA_PORT=str(free_port()),
        PLINTH_STACK_KAFKA_CONTROLLER_PORT=str(free_port()),
        PLINTH_STACK_POSTGRES_PORT=str(free_port()),
        PLINTH_STACK_MONGO_PORT=str(free_port()),
        PLINTH_STACK_S3_PORT=str(free_port()),
    )
    stack = PrivateStack(tmp_path / "stack", env)
    yield stack
    # Whatever a test left running in its private stack goes, pass or fail.
    stack.run("down")


def group_members(pgid: int) -> list[int]:
    """Live (non-zombie) processes in a process group, read from /proc."""
    members = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            raw = (entry / "stat").read_text()
        except OSError:
            continue
        fields = raw[raw.rindex(")") + 2 :].split()
        if int(fields[2]) == pgid and fields[0] not in ("Z", "X"):
            members.append(int(entry.name))
    return members


def _reachable(url_host: str, port: int) -> bool:
    try:
        with socket.create_connection((url_host, port), timeout=1):
            return True
    except OSError:
        return False


def _host_port(value: str, default_port: int) -> tuple[str, int]:
    hostport = value.split("://", 1)[-1].split("/", 1)[0]
    host, _, port = hostport.rpartition(":")
    return (host, int(port)) if host else (hostport, default_port)


@pytest.fixture(scope="session")
def shared_stack() -> dict[str, str]:
    """The PLINTH_* settings of the shared stack, after checking it answers."""
    settings = {
        "kafka": os.environ.get("PLINTH_KAFKA_BOOTSTRAP", "127.0.0.1:9092"),
        "mongo": os.environ.get("PLINTH_MONGO_URI", "mongodb://127.0.0.1:27017"),
        "s3": os.environ.get("PLINTH_S3_ENDPOINT", "http://127.0.0.1:9000"),
    }
    down = [
        name
        for name, value in settings.items()
        if not _reachable(*_host_port(value, {"kafka": 9092, "mongo": 27017, "s3": 9000}[name]))
    ]
    if down:
        message = f"local stack not running ({', '.join(down)}); run deploy/local/stack up"
        if os.environ.get("PLINTH_REQUIRE_STACK") == "1":
            pytest.fail(message)
        pytest.skip(message)
    return settings
