"""Where the stack keeps its state and which ports and credentials it uses.

Every value can be overridden from the environment so a test can run a second, private
stack (own state dir, own ports) without touching the shared one on the default ports.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[3]

S3_ACCESS_KEY = "plinth"
S3_SECRET_KEY = "plinth-secret-key"
S3_REGION = "us-east-1"
S3_BUCKET = "plinth"
MONGO_DB = "plinth"


class ConfigError(Exception):
    """An environment override that cannot be used."""


def _port(name: str, default: int) -> int:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError as exc:
        raise ConfigError(f"{name}={raw!r} is not a port number") from exc
    if not 1 <= value <= 65535:
        raise ConfigError(f"{name}={value} is outside 1..65535")
    return value


@dataclass(frozen=True)
class StackConfig:
    state_dir: Path
    install_dir: Path
    kafka_port: int
    kafka_controller_port: int
    postgres_port: int
    mongo_port: int
    s3_port: int
    ready_timeout_s: float
    host: str = "127.0.0.1"

    @property
    def logs_dir(self) -> Path:
        return self.state_dir / "logs"

    @property
    def run_dir(self) -> Path:
        return self.state_dir / "run"

    @property
    def data_dir(self) -> Path:
        return self.state_dir / "data"

    @property
    def env_file(self) -> Path:
        return self.state_dir / "env"

    def log_file(self, component: str) -> Path:
        return self.logs_dir / f"{component}.log"

    def pid_file(self, component: str) -> Path:
        return self.run_dir / f"{component}.pid"

    def plinth_env(self) -> dict[str, str]:
        """The PLINTH_* settings that point the services at this stack."""
        return {
            "PLINTH_KAFKA_BOOTSTRAP": f"{self.host}:{self.kafka_port}",
            "PLINTH_MONGO_URI": f"mongodb://{self.host}:{self.mongo_port}",
            "PLINTH_MONGO_DB": MONGO_DB,
            "PLINTH_S3_ENDPOINT": f"http://{self.host}:{self.s3_port}",
            "PLINTH_S3_BUCKET": S3_BUCKET,
            "PLINTH_S3_ACCESS_KEY": S3_ACCESS_KEY,
            "PLINTH_S3_SECRET_KEY": S3_SECRET_KEY,
            "PLINTH_S3_REGION": S3_REGION,
            "PLINTH_OTLP_ENDPOINT": "",
        }


def load_config() -> StackConfig:
    default_state = REPO_ROOT / ".stack"
    state_dir = Path(os.environ.get("PLINTH_STACK_DIR") or default_state).resolve()
    # Installs are shared between state dirs so a private test stack does not rebuild.
    install_dir = Path(
        os.environ.get("PLINTH_STACK_INSTALL_DIR") or default_state / "install"
    ).resolve()
    try:
        timeout = float(os.environ.get("PLINTH_STACK_READY_TIMEOUT") or 120)
    except ValueError as exc:
        raise ConfigError("PLINTH_STACK_READY_TIMEOUT must be a number of seconds") from exc
    return StackConfig(
        state_dir=state_dir,
        install_dir=install_dir,
        kafka_port=_port("PLINTH_STACK_KAFKA_PORT", 9092),
        kafka_controller_port=_port("PLINTH_STACK_KAFKA_CONTROLLER_PORT", 9093),
        postgres_port=_port("PLINTH_STACK_POSTGRES_PORT", 54329),
        mongo_port=_port("PLINTH_STACK_MONGO_PORT", 27017),
        s3_port=_port("PLINTH_STACK_S3_PORT", 9000),
        ready_timeout_s=timeout,
    )
