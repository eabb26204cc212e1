"""``plinth-dashboard-api``: run the dashboard API and web UI with uvicorn."""

from __future__ import annotations

import logging

import uvicorn

from plinth_dashboard_api.app import create_app
from plinth_dashboard_api.settings import get_dashboard_settings


def main() -> None:
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    settings = get_dashboard_settings()
    uvicorn.run(
        create_app(settings),
        host=settings.dashboard_host,
        port=settings.dashboard_port,
        log_level="info",
        proxy_headers=True,
    )


if __name__ == "__main__":
    main()
