"""``plinth-ingest [all|http|downloader]``: the webhook/batch HTTP app, the download consumer,
or both in one process (the default)."""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import logging
import os
import signal
from typing import Any

import uvicorn
from litestar import Litestar

from plinth.metrics import exposition, setup_metrics
from plinth.telemetry import setup_tracing
from plinth.worker.dependencies import open_when_ready, probes_for
from plinth.worker.health import HealthServer
from plinth.worker.logs import setup_logging
from plinth_ingest.app import create_app
from plinth_ingest.runtime import IngestRuntime, open_runtime
from plinth_ingest.settings import get_ingest_settings

log = logging.getLogger("plinth.ingest")


async def run_downloader_only() -> None:
    settings = get_ingest_settings()
    provider = setup_tracing(settings, "plinth-ingest-downloader")
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    opened: list[IngestRuntime] = []
    health: HealthServer | None = None

    def on_open(runtime: IngestRuntime | None) -> None:
        opened[:] = [runtime] if runtime is not None else []

    async def live() -> tuple[bool, dict[str, Any]]:
        # Waiting for a dependency is the job, not a reason to restart (plinth.worker.health).
        return True, {"status": "downloading" if opened else "waiting for dependencies"}

    try:
        # Waits (and retries with backoff) while Kafka, the document store or S3 is down.
        async with (
            probes_for(settings) as probes,
            open_when_ready(
                "the downloader",
                lambda: open_runtime(
                    settings, http=False, downloader=True, tracer_provider=provider
                ),
                probes,
                on_open=on_open,
            ) as pending,
        ):
            async def ready() -> tuple[bool, dict[str, Any]]:
                if not opened:
                    return False, {"status": "starting", "reason": await pending.reason()}
                report = await opened[0].readiness.report()
                return report.ready, {"status": "ready" if report.ready else "not ready",
                                      "dependencies": report.as_dict()}

            if settings.health_port:  # the stage workers' /live, /ready and /metrics
                setup_metrics("plinth-ingest-downloader")
                health = HealthServer(settings.health_host, settings.health_port, live=live,
                                      ready=ready, metrics=exposition)
                await health.start()
            await stop.wait()
    finally:
        if health is not None:
            await health.stop()
        provider.shutdown()


# How the parent tells uvicorn's worker processes (which build their app from the
# environment) whether to run the downloader too.
_DOWNLOADER_ENV = "PLINTH_INGEST_RUN_DOWNLOADER"
PROFILE_ENV = "PLINTH_INGEST_PROFILE"


def app_factory() -> Litestar:
    """The app of one uvicorn worker process (``PLINTH_INGEST_WORKERS`` > 1)."""
    setup_logging("plinth-ingest")
    settings = get_ingest_settings()
    provider = setup_tracing(settings, "plinth-ingest")
    app = create_app(
        settings,
        downloader=os.environ.get(_DOWNLOADER_ENV, "1") == "1",
        tracer_provider=provider,
    )
    app.on_shutdown.append(provider.shutdown)
    return app


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="plinth-ingest", description=__doc__)
    parser.add_argument(
        "mode", nargs="?", default="all", choices=("all", "http", "downloader"),
        help="all: HTTP app and downloader (default); http: only the HTTP app; "
        "downloader: only the consumer",
    )  # fmt: skip
    parser.add_argument("--host", default=None, help="bind address (PLINTH_INGEST_HOST)")
    parser.add_argument("--port", type=int, default=None, help="port (PLINTH_INGEST_PORT)")
    parser.add_argument(
        "--workers", type=int, default=None, help="HTTP worker processes (PLINTH_INGEST_WORKERS)"
    )
    args = parser.parse_args(argv)
    setup_logging("plinth-ingest")
    if args.mode == "downloader":
        asyncio.run(run_downloader_only())
        return
    settings = get_ingest_settings()
    workers = args.workers or settings.ingest_workers
    server: dict[str, Any] = {
        "host": args.host or settings.ingest_host,
        "port": args.port or settings.ingest_port,
        "log_level": "info",
        "log_config": None,  # uvicorn's loggers go to the root handler: plain, rate-limited
        "access_log": settings.ingest_access_log,
        "proxy_headers": True,
    }
    if workers > 1:
        # Each worker imports the factory and builds its own app, connections and tracer.
        os.environ[_DOWNLOADER_ENV] = "1" if args.mode == "all" else "0"
        uvicorn.run(
            "plinth_ingest.main:app_factory", factory=True, workers=workers, **server
        )
        return
    profile_path = os.environ.get(PROFILE_ENV)
    profiler = cProfile.Profile() if profile_path else None
    provider = setup_tracing(settings, "plinth-ingest")
    try:
        app = create_app(settings, downloader=args.mode == "all", tracer_provider=provider)
        if profiler is not None:
            # Development only: the whole process under cProfile, dumped when it stops.
            log.warning("profiling the process into %s (%s)", profile_path, PROFILE_ENV)
            profiler.enable()
        uvicorn.run(app, **server)
    finally:
        if profiler is not None and profile_path:
            profiler.disable()
            profiler.dump_stats(profile_path)
        provider.shutdown()


if __name__ == "__main__":
    main()
