"""deploy/local/stack as a user drives it, on a private stack (S3 server only: it starts
in well under a second, and proves the same pid-file and process-group mechanism)."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path

import boto3
import pytest
from botocore.config import Config
from pymongo import MongoClient

from .conftest import STACK, PrivateStack, free_port, group_members

pytestmark = pytest.mark.stack

PLINTH_SETTINGS = {
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


def _pid(stack: PrivateStack, component: str) -> int:
    return int(json.loads((stack.state_dir / "run" / f"{component}.pid").read_text())["pid"])


def _status_rows(output: str) -> dict[str, list[str]]:
    lines = output.strip().splitlines()
    assert lines[0].split()[:4] == ["COMPONENT", "PID", "PORT", "STATE"]
    return {line.split()[0]: line.split() for line in lines[1:]}


def _port_is_free(port: int) -> bool:
    """Nobody listens there (SO_REUSEADDR: TIME_WAIT leftovers do not count)."""
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def test_up_is_idempotent_and_down_leaves_no_process(private_stack: PrivateStack) -> None:
    first = private_stack.run("up", "s3")
    assert first.returncode == 0, first.stderr
    assert "s3       started" in first.stdout
    pid = _pid(private_stack, "s3")

    again = private_stack.run("up", "s3")
    assert again.returncode == 0, again.stderr
    assert "already running" in again.stdout
    assert _pid(private_stack, "s3") == pid

    status = private_stack.run("status", "s3")
    assert status.returncode == 0
    assert _status_rows(status.stdout)["s3"][:4] == [
        "s3",
        str(pid),
        str(private_stack.port("s3")),
        "ready",
    ]

    # `up` created the default bucket and the credentials from the env file work.
    env = dict(line.split("=", 1) for line in (private_stack.state_dir / "env").read_text().split())
    client = boto3.client(
        "s3",
        endpoint_url=env["PLINTH_S3_ENDPOINT"],
        aws_access_key_id=env["PLINTH_S3_ACCESS_KEY"],
        aws_secret_access_key=env["PLINTH_S3_SECRET_KEY"],
        region_name=env["PLINTH_S3_REGION"],
        config=Config(signature_version="s3v4", s3={"addressing_style": "path"}),
    )
    assert env["PLINTH_S3_BUCKET"] in [b["Name"] for b in client.list_buckets()["Buckets"]]

    down = private_stack.run("down")
    assert down.returncode == 0, down.stderr
    assert f"s3       stopped (pid {pid})" in down.stdout
    assert group_members(pid) == []
    assert _port_is_free(private_stack.port("s3"))
    assert not (private_stack.state_dir / "run" / "s3.pid").exists()

    after = private_stack.run("status", "s3")
    assert after.returncode == 3
    assert _status_rows(after.stdout)["s3"][1:4] == ["-", str(private_stack.port("s3")), "stopped"]

    twice = private_stack.run("down", "s3")
    assert twice.returncode == 0
    assert "not running" in twice.stdout


def test_up_refuses_a_port_held_by_another_process(private_stack: PrivateStack) -> None:
    port = free_port()
    private_stack.env["PLINTH_STACK_S3_PORT"] = str(port)
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", port))
        squatter.listen()
        result = private_stack.run("up", "s3")
    assert result.returncode == 2
    assert f"s3: port {port} on 127.0.0.1 is already in use by pid {os.getpid()}" in result.stderr
    assert "PLINTH_STACK_S3_PORT" in result.stderr
    assert not (private_stack.state_dir / "run" / "s3.pid").exists()


def test_readiness_timeout_names_component_and_log_and_cleans_up(
    private_stack: PrivateStack,
) -> None:
    private_stack.env["PLINTH_STACK_READY_TIMEOUT"] = "0"
    result = private_stack.run("up", "s3")
    log = private_stack.state_dir / "logs" / "s3.log"
    assert result.returncode == 3
    assert "s3 did not become ready within 0s" in result.stderr
    assert str(log) in result.stderr
    assert not (private_stack.state_dir / "run" / "s3.pid").exists()
    assert _port_is_free(private_stack.port("s3"))


def test_status_lists_every_component_and_notices_a_stale_pid_file(
    private_stack: PrivateStack,
) -> None:
    run_dir = private_stack.state_dir / "run"
    run_dir.mkdir(parents=True)
    # A pid that cannot be alive: beyond the kernel's pid_max.
    (run_dir / "mongo.pid").write_text(json.dumps({"pid": 2**22 + 1, "port": 1, "exe": "x"}))
    result = private_stack.run("status")
    assert result.returncode == 3
    rows = _status_rows(result.stdout)
    assert set(rows) == {"kafka", "postgres", "mongo", "s3"}
    assert rows["kafka"][2] == (
        f"{private_stack.port('kafka')},{private_stack.env['PLINTH_STACK_KAFKA_CONTROLLER_PORT']}"
    )
    assert rows["s3"][3] == "stopped"
    assert " ".join(rows["mongo"][3:6]) == "stale pid file"


def test_env_prints_every_setting_with_the_ports_in_use(private_stack: PrivateStack) -> None:
    result = private_stack.run("env")
    assert result.returncode == 0
    env = dict(line.split("=", 1) for line in result.stdout.splitlines())
    assert set(env) == PLINTH_SETTINGS
    assert env["PLINTH_KAFKA_BOOTSTRAP"] == f"127.0.0.1:{private_stack.port('kafka')}"
    assert env["PLINTH_MONGO_URI"] == f"mongodb://127.0.0.1:{private_stack.port('mongo')}"
    assert env["PLINTH_S3_ENDPOINT"] == f"http://127.0.0.1:{private_stack.port('s3')}"
    assert env["PLINTH_OTLP_ENDPOINT"] == ""


def test_unknown_component_is_refused(private_stack: PrivateStack) -> None:
    result = private_stack.run("up", "redis")
    assert result.returncode != 0
    assert "redis" in result.stderr


WITH_STACK = STACK.parent / "with-stack"


def test_with_stack_keeps_the_exit_code_and_stops_what_it_started(
    private_stack: PrivateStack,
) -> None:
    private_stack.env["PLINTH_STACK_COMPONENTS"] = "s3"
    probe = 'echo "endpoint=$PLINTH_S3_ENDPOINT require=$PLINTH_REQUIRE_STACK"; exit 7'
    result = subprocess.run(
        [str(WITH_STACK), "bash", "-c", probe],
        env=private_stack.env,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert result.returncode == 7, result.stderr
    port = private_stack.port("s3")
    assert f"endpoint=http://127.0.0.1:{port} require=1" in result.stdout
    assert "s3       stopped" in result.stdout
    assert not (private_stack.state_dir / "run" / "s3.pid").exists()
    assert _port_is_free(port)


def test_with_stack_leaves_a_stack_it_did_not_start_running(
    private_stack: PrivateStack,
) -> None:
    private_stack.env["PLINTH_STACK_COMPONENTS"] = "s3"
    assert private_stack.run("up").returncode == 0
    pid = _pid(private_stack, "s3")
    result = subprocess.run(
        [str(WITH_STACK), "true"], env=private_stack.env, capture_output=True, text=True,
        timeout=180, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "stopped" not in result.stdout
    assert _pid(private_stack, "s3") == pid
    assert group_members(pid) == [pid]


def test_reset_stops_and_deletes_data_but_keeps_the_install(private_stack: PrivateStack) -> None:
    assert private_stack.run("up", "s3").returncode == 0
    pid = _pid(private_stack, "s3")
    leftover = private_stack.state_dir / "data" / "s3" / "plinth" / "leftover.txt"
    leftover.write_text("from an earlier run")

    reset = private_stack.run("reset", "s3")
    assert reset.returncode == 0, reset.stderr
    assert f"s3       stopped (pid {pid}); data deleted" in reset.stdout
    assert group_members(pid) == []
    assert not leftover.exists()

    again = private_stack.run("up", "s3")
    assert again.returncode == 0, again.stderr
    assert "installed" not in again.stdout  # the binary was kept
    assert (private_stack.state_dir / "data" / "s3" / "plinth").is_dir()  # bucket recreated
    assert not leftover.exists()


def test_kafka_starts_in_a_fresh_state_dir_and_its_jvm_is_gone_after_down(
    private_stack: PrivateStack,
) -> None:
    # The heaviest component: storage format on first start, a JVM that must not linger.
    up = private_stack.run("up", "kafka")
    assert up.returncode == 0, up.stderr
    pid = _pid(private_stack, "kafka")
    assert (private_stack.state_dir / "data" / "kafka" / "meta.properties").exists()
    down = private_stack.run("down", "kafka")
    assert down.returncode == 0, down.stderr
    assert group_members(pid) == []
    assert _port_is_free(private_stack.port("kafka"))


def test_mongo_brings_its_postgres_and_down_stops_both() -> None:
    # Not under pytest's 0700 tmp base: PostgreSQL runs as the 'postgres' user when we are root.
    root = Path(tempfile.mkdtemp(prefix="plinth-stack-", dir="/tmp"))
    root.chmod(0o755)
    env = {k: v for k, v in os.environ.items() if not k.startswith("PLINTH_STACK_")}
    env.update(
        PLINTH_STACK_DIR=str(root / "stack"),
        PLINTH_STACK_POSTGRES_PORT=str(free_port()),
        PLINTH_STACK_MONGO_PORT=str(free_port()),
    )
    stack = PrivateStack(state_dir=root / "stack", env=env)
    try:
        up = stack.run("up", "mongo")
        assert up.returncode == 0, up.stderr
        assert "postgres started" in up.stdout and "mongo    started" in up.stdout
        client: MongoClient[dict[str, object]] = MongoClient(
            f"mongodb://127.0.0.1:{stack.port('mongo')}", serverSelectionTimeoutMS=10_000
        )
        client["t"]["c"].insert_one({"_id": "a", "status": "DONE"})
        assert client["t"]["c"].find_one({"_id": "a"}) == {"_id": "a", "status": "DONE"}
        client.close()
        pids = {name: _pid(stack, name) for name in ("postgres", "mongo")}
    finally:
        down = stack.run("down")
        shutil.rmtree(root, ignore_errors=True)
    assert down.returncode == 0, down.stderr
    for name, pid in pids.items():
        assert f"{name:8} stopped (pid {pid})" in down.stdout
        assert group_members(pid) == []
