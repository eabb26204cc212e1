"""The publish step: SHOPIFY_PUSH -> DONE, the hero derivative attached to the Shopify product
and made the image of the variant the job's SKU names.

Its alt text is the job's own (``job.alt_text``, a person's edit) or the ``alt_text_template``
of the theme version the job rendered with, filled with the SKU, the product's title in
Shopify and the theme's title (see :mod:`plinth.vendors.shopify.media`). A job published
before (a touch-up sends it round again) has its earlier media (``job.shopify.media_ids``)
replaced, never piled up.

Runtime-agnostic: :func:`publish` takes the job and a :class:`~plinth.worker.StageContext`
(settings, a blob reader, the step's span) and returns a :class:`~plinth.worker.StageResult`
whose ``changes`` carry ``shopify`` (a :class:`~plinth.domain.job.ShopifyResult`). The runtime
turns the span's duration into ``publish_ms`` and applies the change with a conditional update.

Without Shopify settings (``PLINTH_SHOPIFY_STORE_DOMAIN`` and ``PLINTH_SHOPIFY_ACCESS_TOKEN``) the
step records ``status="skipped"`` with the reason, and the job still reaches DONE.

Shopify errors are sorted as the client types them: permanent ones (bad token, unknown SKU, an
image Shopify cannot process, a rejected mutation) fail the job now with the error's code;
transient ones (throttling that outlasts the client's own waits, 5xx, media slow to be READY)
go back to the runtime's bounded retries with backoff. A retry is safe: the client replaces the
media Plinth published earlier for the same (SKU, theme), so nothing is ever duplicated.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from plinth.adapters.themes import load_job_theme
from plinth.domain.job import Job, ShopifyResult
from plinth.imaging.errors import ThemeError
from plinth.keys import derivative_key
from plinth.settings import ShopifySettings
from plinth.telemetry import ATTR_BYTES, ATTR_PROVIDER
from plinth.vendors.shopify import ShopifyClient, ShopifyConfig, ShopifyError
from plinth.worker import StageContext, StageResult
from plinth.worker.errors import PermanentStageError
from plinth_publish.settings import PublishWorkerSettings

log = logging.getLogger(__name__)

SKIPPED_REASON = (
    "Shopify is not configured (PLINTH_SHOPIFY_STORE_DOMAIN and PLINTH_SHOPIFY_ACCESS_TOKEN)"
)


def hero_key(job: Job) -> str:
    """The hero JPEG of the job's first composite (``derivatives/.../0_hero.jpg``)."""
    if job.img_sha256 is None:
        raise PermanentStageError("missing_derivatives", "the job has no image hash")
    expected = derivative_key(job.theme, job.sku, job.img_sha256, 0, "hero", "jpg")
    if expected in job.s3_derivative_keys:
        return expected
    heroes = sorted(k for k in job.s3_derivative_keys if k.endswith("_hero.jpg"))
    if not heroes:
        raise PermanentStageError("missing_hero", "the job has no hero JPEG derivative")
    return heroes[0]


class ShopifyClients:
    """One client per process and configuration: its connection pool and its picture of the
    store's cost bucket are shared by every job this worker publishes."""

    def __init__(self, **overrides: Any) -> None:
        self._overrides = overrides  # ShopifyConfig fields (tests shorten waits)
        self._clients: dict[ShopifyConfig, ShopifyClient] = {}
        self._lock = asyncio.Lock()

    async def get(self, settings: ShopifySettings) -> ShopifyClient:
        config = replace(ShopifyConfig.from_settings(settings), **self._overrides)
        async with self._lock:
            client = self._clients.get(config)
            if client is None:
                client = self._clients[config] = ShopifyClient(config)
            return client

    async def aclose(self) -> None:
        async with self._lock:
            clients, self._clients = list(self._clients.values()), {}
        for client in clients:
            await client.aclose()


CLIENTS = ShopifyClients()


async def alt_template_of(job: Job, ctx: StageContext[Any]) -> tuple[str | None, str | None]:
    """The alt text template and title of the theme version the job rendered with (the
    packaged theme for older jobs). A theme that cannot be found does not stop the publish:
    the default template is used and the reason logged."""
    try:
        theme = await load_job_theme(ctx.db, job.theme, job.theme_version)
    except ThemeError as exc:  # UnknownThemeVersion among them
        log.warning("job %s: alt text from the default template: %s", job.id, exc)
        return None, None
    return theme.alt_text_template, theme.title


async def publish(
    job: Job, ctx: StageContext[PublishWorkerSettings], *, clients: ShopifyClients = CLIENTS
) -> StageResult:
    if not ctx.settings.shopify_enabled:
        return StageResult(
            changes={"shopify": ShopifyResult(status="skipped", reason=SKIPPED_REASON)},
            attributes={ATTR_PROVIDER: "shopify", "shopify.status": "skipped"},
        )
    key = hero_key(job)
    image = await ctx.blobs.get(key)
    client = await clients.get(ctx.settings)
    requests_before = client.graphql.stats.requests
    waits_before = len(client.graphql.stats.throttle_waits_s)
    template, theme_title = await alt_template_of(job, ctx)
    earlier = job.shopify.media_ids if job.shopify and job.shopify.status == "published" else []
    try:
        published = await client.publish_image(
            sku=job.sku,
            theme=job.theme,
            image=image,
            filename=key.rsplit("/", 1)[-1],
            alt_override=job.alt_text,
            alt_template=template,
            theme_title=theme_title,
            replace_media_ids=earlier,
        )
    except ShopifyError as exc:
        if exc.transient:
            raise  # the runtime retries it with backoff, a bounded number of times
        raise PermanentStageError(exc.code, str(exc)) from exc
    stats = client.graphql.stats
    result = ShopifyResult(
        status="published",
        product_id=published.product_id,
        media_ids=list(published.media_ids),
        published_at=datetime.now(UTC),
    )
    return StageResult(
        changes={
            "shopify": result,
            "provider_metadata": {
                **job.provider_metadata,
                "shopify": {
                    "variant_id": published.variant_id,
                    "alt": published.alt,
                    "alt_from": "job" if job.alt_text else "theme",
                    "replaced_media_ids": list(published.removed_media_ids),
                    "detached_from_variant": list(published.detached_media_ids),
                    "superseded_by_concurrent_run": published.superseded,
                    "api_version": client.config.api_version,
                    "source_key": key,
                },
            },
        },
        attributes={
            ATTR_PROVIDER: "shopify",
            ATTR_BYTES: len(image),
            "shopify.status": "published",
            "shopify.product_id": published.product_id,
            "shopify.media_ids": ",".join(published.media_ids),
            "shopify.replaced": len(published.removed_media_ids),
            "shopify.superseded": published.superseded,
            "shopify.requests": stats.requests - requests_before,
            "shopify.throttle_waits": len(stats.throttle_waits_s) - waits_before,
        },
    )
