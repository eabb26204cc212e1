"""``PUT /api/jobs/{id}/alt-text``: a person's alt text for the job's Shopify media.

The text is stored on the job (``alt_text``, which wins over the theme's ``alt_text_template``
at every later publish) and audited with who, when, the old and the new text. When the job is
DONE and its image published, the media's alt text on Shopify is changed at once with
``fileUpdate`` (the Files API; ``productUpdateMedia`` is deprecated in the pinned version).

Why straight from the API and not by sending the job through publish again: an alt edit is one
small mutation on media that exist already; a re-publish would upload the image again, detach
and re-attach the variant's image and take the job out of DONE for a while, and a new command
topic for the publish service would need its own consumer, schema and retries for one call.
Done here, the operator also sees at once whether Shopify took it. The price is that the API
needs the store's credentials (``PLINTH_SHOPIFY_*``, read by this module only); without them
the text is saved, ``shopify.status`` says ``not_configured``, and the next publish sends it.

Plinth's marker (``[plinth:SKU/theme]``) stays at the end of the alt text on Shopify: it is how
a re-run finds Plinth's media. So the text may hold 512 characters (Shopify's limit) less the
marker and a space; longer or blank is a 422 naming the limit.

Only a job no worker holds may be edited (DONE, FAILED, IN_REVIEW): the workers store whole
jobs, and one mid-step would write its copy, without the edit, over it (409 otherwise).
"""

from __future__ import annotations

import logging
from typing import Any

from litestar import Controller, Request, put
from litestar.di import NamedDependency
from litestar.exceptions import ClientException
from litestar.params import FromPath, JSONBody

from plinth.domain.job import Job, utcnow
from plinth.domain.states import JobStatus
from plinth.settings import ShopifySettings
from plinth.vendors.shopify import ShopifyClient, ShopifyConfig, ShopifyError
from plinth.vendors.shopify.media import ALT_MAX_CHARS, alt_marker, readable_room, with_marker
from plinth_dashboard_api import audit
from plinth_dashboard_api.auth import principal_of, require_operator, require_viewer
from plinth_dashboard_api.errors import ConflictException
from plinth_dashboard_api.job_changes import load_job, save_if_status
from plinth_dashboard_api.resources import Resources
from plinth_dashboard_api.views import job_detail

log = logging.getLogger("plinth.dashboard.media")

EDITABLE = frozenset({JobStatus.DONE, JobStatus.FAILED, JobStatus.IN_REVIEW})


class UnprocessableAltText(ClientException):
    status_code = 422


def shopify_settings() -> ShopifySettings:
    """The store's settings from the environment (``PLINTH_SHOPIFY_*``), read per edit."""
    return ShopifySettings()


def checked_alt_text(data: Any, job: Job) -> str:
    """The body's ``alt_text``, single-spaced; 422 naming the problem otherwise."""
    if not isinstance(data, dict) or "alt_text" not in data:
        raise UnprocessableAltText("the body must be a JSON object with alt_text")
    value = data["alt_text"]
    if not isinstance(value, str):
        raise UnprocessableAltText("alt_text must be a string")
    text = " ".join(value.split())
    if not text:
        raise UnprocessableAltText("alt_text must not be empty")
    room = readable_room(job.sku, job.theme)
    if len(text) > room:
        raise UnprocessableAltText(
            f"alt_text is {len(text)} characters; at most {room} fit (Shopify's limit of "
            f"{ALT_MAX_CHARS} less Plinth's marker {alt_marker(job.sku, job.theme)!r})",
            extra={"max_length": room, "length": len(text)},
        )
    return text


async def update_on_shopify(job: Job, alt: str) -> dict[str, Any]:
    """Set the published media's alt text; what happened, for the response and the audit."""
    result = job.shopify
    if (
        job.status is not JobStatus.DONE
        or result is None
        or result.status != "published"
        or not result.media_ids
    ):
        return {"status": "not_published", "detail": "saved; the next publish sends it"}
    settings = shopify_settings()
    if not settings.shopify_enabled:
        return {
            "status": "not_configured",
            "detail": "saved; Shopify is not configured for the API, the next publish sends it",
        }
    media_ids = list(result.media_ids)
    try:
        async with ShopifyClient(ShopifyConfig.from_settings(settings)) as client:
            updated = await client.update_alt(media_ids, alt)
    except ShopifyError as exc:
        log.warning("job %s: Shopify refused the alt text: %s", job.id, exc)
        return {
            "status": "failed",
            "code": exc.code,
            "detail": f"saved, but Shopify refused it: {exc}",
            "media_ids": media_ids,
        }
    return {"status": "updated", "media_ids": updated, "alt": alt}


class MediaController(Controller):
    path = "/api/jobs"
    tags = ("jobs",)
    guards = (require_viewer,)

    @put(
        "/{job_id:str}/alt-text",
        guards=[require_operator],
        status_code=200,
        summary="Set the alt text of the job's Shopify media (and update it there if published)",
    )
    async def set_alt_text(
        self,
        request: Request[Any, Any, Any],
        res: NamedDependency[Resources],
        job_id: FromPath[str],
        data: JSONBody[Any],
    ) -> dict[str, Any]:
        job = await load_job(res, job_id)
        text = checked_alt_text(data, job)
        if job.status not in EDITABLE:
            raise ConflictException(
                f"job {job_id} is {job.status.value}, in the pipeline; edit its alt text once "
                "it is DONE, FAILED or IN_REVIEW"
            )
        edited = job.model_copy(update={"alt_text": text, "updated_at": utcnow()})
        await save_if_status(res, edited, job.status, doing="editing")
        alt = with_marker(text, job.sku, job.theme)
        shopify = await update_on_shopify(edited, alt)
        if shopify["status"] == "updated":
            await res.db.jobs_collection.update_one(
                {"_id": job.id, "status": edited.status.value},
                {"$set": {"provider_metadata.shopify.alt": alt}},
            )
        await audit.record(
            res.db,
            principal_of(request),
            "job.alt_text",
            job_id=job_id,
            details={"alt_text": text, "was": job.alt_text, "shopify": shopify["status"]},
        )
        stored = await res.db.jobs.get(job_id) or edited
        return {
            "job": job_detail(stored, res.settings.dashboard_trace_url_template),
            "shopify": shopify,
        }
