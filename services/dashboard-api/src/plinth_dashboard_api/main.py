"""``plinth-dashboard-api``: run the dashboard API and web UI with uvicorn."""

from __future__ import annotations

import uvicorn

from plinth.worker.logs import setup_logging
from plinth_dashboard_api.app import create_app
from plinth_dashboard_api.settings import get_dashboard_settings


def main() -> None:
    setup_logging("plinth-dashboard-api")
    settings = get_dashboard_settings()
    uvicorn.run(
        create_app(settings),
        host=settings.dashboard_host,
        port=settings.dashboard_port,
        log_level="info",
        log_config=None,  # uvicorn's loggers go to the root handler: plain, rate-limited
        proxy_headers=True,
    )


if __name__ == "__main__":
    main()
