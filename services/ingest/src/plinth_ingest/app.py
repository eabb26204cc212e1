"""The Litestar application: the 3JMS webhook, the CSV batch endpoint and /health."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from litestar import Litestar, Request, Response, get, post
from litestar.datastructures import UploadFile
from litestar.exceptions import HTTPException, ServiceUnavailableException
from opentelemetry.trace import TracerProvider

from plinth.metrics import CONTENT_TYPE as METRICS_CONTENT_TYPE
from plinth.metrics import exposition, setup_metrics
from plinth.worker.dependencies import Pending, open_when_ready, probes_for
from plinth.worker.logs import litestar_logging_config
from plinth_ingest.auth import Authenticator
from plinth_ingest.batch import new_batch_id
from plinth_ingest.download import Fetcher
from plinth_ingest.openapi import (
    BatchOperation,
    WebhookOperation,
    batch_responses,
    webhook_responses,
)
from plinth_ingest.runtime import IngestRuntime, open_runtime
from plinth_ingest.settings import IngestSettings, get_ingest_settings
from plinth_ingest.webhook import Reply, error_body

log = logging.getLogger("plinth.ingest.http")

WEBHOOK_PATH = "/api/webhooks/3jms/images"
BATCH_PATH = "/api/ingest/batch"


def _runtime(request: Request[Any, Any, Any]) -> IngestRuntime:
    """The process's runtime; 503 while it is still waiting for Kafka or the document store."""
    runtime: IngestRuntime | None = request.app.state.get("ingest")
    if runtime is None:
        raise ServiceUnavailableException("starting: waiting for Kafka and the document store")
    return runtime


def _json(reply: Reply) -> Response[dict[str, Any]]:
    return Response(reply.body, status_code=reply.status)


async def _csv_text(request: Request[Any, Any, Any], body: bytes) -> str:
    """The CSV from a ``text/csv`` body or the first file (or ``csv`` field) of a multipart form."""
    content_type, _ = request.content_type
    if content_type == "multipart/form-data":
        form = await request.form()
        for value in form.values():
            if isinstance(value, UploadFile):
                data = await value.read()
                return data.decode("utf-8-sig")
        text = form.get("csv")
        if isinstance(text, str):
            return text
        raise ValueError("multipart upload has no file part (and no 'csv' field)")
    return body.decode("utf-8-sig")


def create_app(
    settings: IngestSettings | None = None,
    *,
    downloader: bool = True,
    fetcher: Fetcher | None = None,
    tracer_provider: TracerProvider | None = None,
) -> Litestar:
    """``downloader=True`` also runs the download consumer here (``plinth-ingest all``)."""
    settings = settings or get_ingest_settings()
    setup_metrics("plinth-ingest")
    webhook_configured = Authenticator(settings).configured

    @asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        # The app serves at once; the runtime opens (in the background, retried with backoff)
        # once Kafka, the document store (and S3) answer. Until then /live is 200, /ready 503.
        def on_open(runtime: IngestRuntime | None) -> None:
            app.state.ingest = runtime

        async with (
            probes_for(settings, s3=downloader) as probes,
            open_when_ready(
                "the ingest runtime",
                lambda: open_runtime(
                    settings, downloader=downloader, fetcher=fetcher,
                    tracer_provider=tracer_provider,
                ),
                probes, on_open=on_open, needs={"kafka", "mongo"},  # S3 connects when used
            ) as pending,
        ):  # fmt: skip
            app.state.ingest_pending = pending
            yield

    @post(
        WEBHOOK_PATH, request_max_body_size=settings.webhook_max_body_bytes, status_code=202,
        operation_class=WebhookOperation, responses=webhook_responses(),
    )  # fmt: skip
    async def receive_webhook(request: Request[Any, Any, Any]) -> Response[dict[str, Any]]:
        """A 3JMS image event: signed JSON {sku, image_url, img_sha256?, themes | theme}."""
        body = await request.body()
        return _json(await _runtime(request).webhook.receive(request.headers, body))

    @post(
        BATCH_PATH, request_max_body_size=settings.batch_max_body_bytes, status_code=202,
        operation_class=BatchOperation, responses=batch_responses(),
    )  # fmt: skip
    async def receive_batch(request: Request[Any, Any, Any]) -> Response[dict[str, Any]]:
        """CSV (sku,image_url,theme[,img_sha256]) as text/csv or multipart, signed like webhooks."""
        runtime = _runtime(request)
        body = await request.body()
        batch_id = new_batch_id()
        auth = await runtime.batch.authenticate(request.headers, body, batch_id)
        if isinstance(auth, Reply):
            return _json(auth)
        try:
            text = await _csv_text(request, body)
        except (ValueError, UnicodeDecodeError) as exc:
            reason = f"cannot read the CSV: {exc}"
            await runtime.batch.record_refusal(
                batch_id, 400, "invalid_csv", reason, auth.signature_valid
            )
            return _json(Reply(400, error_body("invalid_csv", reason, batch_id=batch_id)))
        return _json(
            await runtime.batch.receive(batch_id, text, signature_valid=auth.signature_valid)
        )

    @get("/live", sync_to_thread=False)
    def live() -> dict[str, Any]:
        """Liveness only: the process serves HTTP (also while it waits for its dependencies)."""
        return {"status": "alive", "service": "plinth-ingest"}

    @get("/health", sync_to_thread=False)
    def health() -> dict[str, Any]:
        """Liveness: the process is up and serving (dependencies are checked by /ready)."""
        return {
            "status": "ok",
            "service": "plinth-ingest",
            "webhook_configured": webhook_configured,
            "downloader": downloader,
        }

    @get("/ready")
    async def ready(request: Request[Any, Any, Any]) -> Response[dict[str, Any]]:
        """Readiness: Kafka and the document store (and S3 with the downloader) answer; checked
        at most every 1.5 s however often this is polled. 503 while the process is starting."""
        runtime: IngestRuntime | None = request.app.state.get("ingest")
        if runtime is None:
            pending: Pending[IngestRuntime] = request.app.state.ingest_pending
            waiting = await pending.readiness.report()
            return Response(
                error_body("not_ready", await pending.reason(), components=waiting.as_dict()),
                status_code=503,
            )
        report = await runtime.readiness.report()
        if not report.ready:
            return Response(
                error_body("not_ready", report.reason(), components=report.as_dict()),
                status_code=503,
            )
        return Response({"status": "ready", "components": report.as_dict()}, status_code=200)

    @get("/metrics", sync_to_thread=False, include_in_schema=False)
    def metrics() -> Response[bytes]:
        """Prometheus exposition (plinth.metrics): webhook outcomes, the downloader's jobs."""
        return Response(exposition(), media_type=METRICS_CONTENT_TYPE)

    def http_error(request: Request[Any, Any, Any], exc: HTTPException) -> Response[dict[str, Any]]:
        # Framework-level refusals (413 body too large, 404, 405) in the same JSON shape.
        slug = {413: "body_too_large", 404: "not_found", 405: "method_not_allowed",
                503: "not_ready"}.get(
            exc.status_code, "http_error"
        )
        return Response(error_body(slug, str(exc.detail)), status_code=exc.status_code)

    return Litestar(
        route_handlers=[receive_webhook, receive_batch, live, health, ready, metrics],
        lifespan=[lifespan],
        logging_config=litestar_logging_config(),
        exception_handlers={HTTPException: http_error},
    )
