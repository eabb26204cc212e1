"""``plinth-ingest [all|http|downloader]``: the webhook/batch HTTP app, the download consumer,
or both in one process (the default)."""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal

import uvicorn

from plinth.telemetry import setup_tracing
from plinth.worker.dependencies import open_when_ready, probes_for
from plinth.worker.logs import setup_logging
from plinth_ingest.app import create_app
from plinth_ingest.runtime import open_runtime
from plinth_ingest.settings import get_ingest_settings

log = logging.getLogger("plinth.ingest")


async def run_downloader_only() -> None:
    settings = get_ingest_settings()
    provider = setup_tracing(settings, "plinth-ingest-downloader")
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
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
            ),
        ):
            await stop.wait()
    finally:
        provider.shutdown()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="plinth-ingest", description=__doc__)
    parser.add_argument(
        "mode", nargs="?", default="all", choices=("all", "http", "downloader"),
        help="all: HTTP app and downloader (default); http: only the HTTP app; "
        "downloader: only the consumer",
    )  # fmt: skip
    parser.add_argument("--host", default=None, help="bind address (PLINTH_INGEST_HOST)")
    parser.add_argument("--port", type=int, default=None, help="port (PLINTH_INGEST_PORT)")
    args = parser.parse_args(argv)
    setup_logging("plinth-ingest")
    if args.mode == "downloader":
        asyncio.run(run_downloader_only())
        return
    settings = get_ingest_settings()
    provider = setup_tracing(settings, "plinth-ingest")
    try:
        uvicorn.run(
            create_app(settings, downloader=args.mode == "all", tracer_provider=provider),
            host=args.host or settings.ingest_host,
            port=args.port or settings.ingest_port,
            log_level="info",
            log_config=None,  # uvicorn's loggers go to the root handler: plain, rate-limited
            proxy_headers=True,
        )
    finally:
        provider.shutdown()


if __name__ == "__main__":
    main()
