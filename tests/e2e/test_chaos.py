"""The chaos benchmark (bench/chaos.py), short: 20 jobs while stage workers are killed with
SIGKILL and the broker restarts, on a private stack of its own (free ports, state under /tmp), so
the shared stack on the default ports is never touched. Nothing may be stuck, lost or done twice.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
if str(REPO) not in sys.path:  # bench/ is a plain folder at the repository root
    sys.path.insert(0, str(REPO))

from bench.chaos import SHARED_PORTS, ChaosConfig, PrivateStack, run_chaos  # noqa: E402

pytestmark = [pytest.mark.e2e, pytest.mark.stack, pytest.mark.timeout(300)]


def test_a_private_stack_never_takes_the_shared_ports() -> None:
    stack = PrivateStack.create()
    try:
        ports = {int(v) for k, v in stack.env.items() if k.endswith("_PORT")}
        assert len(ports) == 5 and not ports & SHARED_PORTS
        assert stack.root.stat().st_mode & 0o755 == 0o755  # PostgreSQL (user postgres) gets in
    finally:
        stack.destroy()


@pytest.mark.asyncio(loop_scope="session")
async def test_twenty_jobs_survive_kills_and_a_broker_restart(tmp_path: Path) -> None:
    cfg = ChaosConfig(jobs=20, themes_per_photo=4, variants=1, kills=3, kafka_restarts=1,
                      mongo_restarts=0, s3_outages=0, restart_delay_s=1.0, timeout_s=220,
                      log_dir=tmp_path / "logs")
    started = time.monotonic()
    report = await run_chaos(cfg, say=lambda message: print(message, flush=True))
    print(f"\n{report.table()}\nin {time.monotonic() - started:.0f}s")
    assert report.kills == 3 and report.kafka_restarts == 1, report.table()
    assert report.restarts >= report.kills
    assert report.clean, report.table()
    assert report.failed == 0, report.table()
    assert report.done == report.jobs == 20
