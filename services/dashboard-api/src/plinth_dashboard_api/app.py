"""The Litestar application: API controllers, /health, OpenAPI at /schema and the web dashboard."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from litestar import Litestar
from litestar.di import Provide
from litestar.openapi import OpenAPIConfig
from litestar.openapi.spec import Components, SecurityScheme

from plinth.metrics import setup_metrics
from plinth.worker.dependencies import open_when_ready, probes_for
from plinth.worker.logs import litestar_logging_config
from plinth_dashboard_api.bodies import BoundedJsonRequest
from plinth_dashboard_api.health import asyncapi, health, live, metrics, ready
from plinth_dashboard_api.jobs import JobsController, provide_resources
from plinth_dashboard_api.media import MediaController
from plinth_dashboard_api.processor import ProcessorController
from plinth_dashboard_api.resources import Resources, open_resources
from plinth_dashboard_api.review import ReviewController
from plinth_dashboard_api.session import me
from plinth_dashboard_api.settings import DashboardSettings, get_dashboard_settings
from plinth_dashboard_api.spa import spa_router
from plinth_dashboard_api.themes import ThemesController
from plinth_dashboard_api.touchup import TouchUpController
from plinth_dashboard_api.webhooks import WebhooksController

log = logging.getLogger("plinth.dashboard")


def create_app(settings: DashboardSettings | None = None) -> Litestar:
    settings = settings or get_dashboard_settings()
    setup_metrics("plinth-dashboard-api")
    if not settings.dashboard_api_keys:
        log.warning("PLINTH_DASHBOARD_API_KEYS is empty: every /api request will be refused")

    @asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        # The app serves at once; its resources open (in the background, retried with backoff)
        # once the document store answers. Until then /live is 200, the rest 503; /ready is
        # 503 while any of Kafka, the document store and S3 is unreachable.
        def on_open(resources: Resources | None) -> None:
            app.state.resources = resources

        async with (
            probes_for(settings) as probes,
            open_when_ready(
                "the dashboard resources", lambda: open_resources(settings), probes,
                on_open=on_open, needs={"mongo"},  # Kafka and S3 clients connect when used
            ) as pending,
        ):  # fmt: skip
            app.state.resources_pending = pending
            yield

    return Litestar(
        route_handlers=[
            JobsController,
            MediaController,
            ProcessorController,
            WebhooksController,
            me,
            ReviewController,
            ThemesController,
            TouchUpController,
            live,
            health,
            ready,
            metrics,
            asyncapi,
            spa_router(settings.dashboard_ui_dir),
        ],
        request_class=BoundedJsonRequest,
        lifespan=[lifespan],
        logging_config=litestar_logging_config(),
        dependencies={"res": Provide(provide_resources, sync_to_thread=False)},
        openapi_config=OpenAPIConfig(
            title="Plinth dashboard API",
            version="1.0.0",
            path="/schema",
            components=Components(
                security_schemes={
                    "apiKey": SecurityScheme(
                        type="apiKey", name="X-API-Key", security_scheme_in="header"
                    ),
                }
            ),
            security=[{"apiKey": []}],
        ),
    )
