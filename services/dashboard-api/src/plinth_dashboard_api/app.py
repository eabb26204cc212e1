"""The Litestar application: API controllers, /health, OpenAPI at /schema and the web dashboard."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from litestar import Litestar
from litestar.di import Provide
from litestar.openapi import OpenAPIConfig
from litestar.openapi.spec import Components, SecurityScheme

from plinth_dashboard_api.bodies import BoundedJsonRequest
from plinth_dashboard_api.health import health, ready
from plinth_dashboard_api.jobs import JobsController, provide_resources
from plinth_dashboard_api.processor import ProcessorController
from plinth_dashboard_api.resources import open_resources
from plinth_dashboard_api.settings import DashboardSettings, get_dashboard_settings
from plinth_dashboard_api.spa import spa_router
from plinth_dashboard_api.webhooks import WebhooksController

log = logging.getLogger("plinth.dashboard")


def create_app(settings: DashboardSettings | None = None) -> Litestar:
    settings = settings or get_dashboard_settings()
    if not settings.dashboard_api_keys:
        log.warning("PLINTH_DASHBOARD_API_KEYS is empty: every /api request will be refused")

    @asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        async with open_resources(settings) as resources:
            app.state.resources = resources
            yield

    return Litestar(
        route_handlers=[
            JobsController,
            ProcessorController,
            WebhooksController,
            health,
            ready,
            spa_router(settings.dashboard_ui_dir),
        ],
        request_class=BoundedJsonRequest,
        lifespan=[lifespan],
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
