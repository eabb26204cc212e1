"""``POST /api/webhooks/3jms/images``, independent of the web framework: headers and raw body in,
status and JSON body out, and one ``webhook_events`` record for every delivery."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from opentelemetry import trace
from opentelemetry.trace import SpanKind, Tracer

from plinth import jsonlimits
from plinth.telemetry import ATTR_SKU, current_trace_id
from plinth.telemetry import tracer as get_tracer
from plinth_ingest.auth import Authenticator, NotConfigured, SignatureError
from plinth_ingest.deliveries import DeliveryLog, new_delivery_id
from plinth_ingest.intake import Intake, PublishFailed
from plinth_ingest.request import InvalidRequest, parse_image_request, requested_themes
from plinth_ingest.themes import ThemeSource, as_theme_source

log = logging.getLogger("plinth.ingest.webhook")


@dataclass(frozen=True)
class Reply:
    status: int
    body: dict[str, Any] = field(default_factory=dict)


def error_body(error: str, reason: str, **extra: Any) -> dict[str, Any]:
    return {"error": error, "reason": reason, **extra}


def body_hint(body: bytes) -> dict[str, Any]:
    """Best-effort sku/image_url/themes of a rejected body, for the delivery history."""
    try:
        data = jsonlimits.loads(body) if len(body) <= 64 * 1024 else None
    except ValueError:
        return {}
    if not isinstance(data, dict):
        return {}
    themes = data.get("themes", data.get("theme"))
    if isinstance(themes, str):
        themes = [themes]
    return {
        "sku": data.get("sku"),
        "image_url": data.get("image_url"),
        "themes": themes if isinstance(themes, list) else [],
    }


class WebhookReceiver:
    def __init__(
        self,
        *,
        auth: Authenticator,
        intake: Intake,
        deliveries: DeliveryLog,
        known_themes: frozenset[str] | ThemeSource,
        max_themes: int,
        tracer: Tracer | None = None,
    ) -> None:
        self.tracer = tracer or get_tracer("plinth.ingest")
        self.auth = auth
        self.intake = intake
        self.deliveries = deliveries
        self.themes = as_theme_source(known_themes)
        self.max_themes = max_themes

    async def receive(self, headers: Mapping[str, str], body: bytes) -> Reply:
        delivery_id = new_delivery_id()
        with self.tracer.start_as_current_span(
            "webhook 3jms.images", kind=SpanKind.SERVER, attributes={"delivery.id": delivery_id}
        ) as span:
            reply = await self._receive(delivery_id, headers, body)
            span.set_attribute("http.response.status_code", reply.status)
            return reply

    async def _receive(self, delivery_id: str, headers: Mapping[str, str], body: bytes) -> Reply:
        try:
            auth = self.auth.check(headers, body, what=f"webhook delivery {delivery_id}")
        except NotConfigured as exc:
            return await self._reject(delivery_id, body, 503, "webhook_not_configured", str(exc))
        except SignatureError as exc:
            return await self._reject(delivery_id, body, 401, "invalid_signature", str(exc))
        try:
            data = jsonlimits.loads(body)
        except jsonlimits.JsonTooDeep as exc:
            return await self._reject(
                delivery_id, body, 400, "json_too_deep", f"body is not acceptable JSON: {exc}",
                signature_valid=auth.signature_valid,
            )  # fmt: skip
        except ValueError as exc:
            return await self._reject(
                delivery_id, body, 400, "malformed_json", f"body is not valid JSON: {exc}",
                signature_valid=auth.signature_valid,
            )  # fmt: skip
        try:
            themes = await self.themes.snapshot(requested_themes(data))
        except Exception as exc:
            log.exception("delivery %s: cannot read the themes", delivery_id)
            return await self._reject(
                delivery_id, body, 503, "storage_unavailable",
                f"cannot read the themes ({type(exc).__name__}: {exc}); redeliver later",
                signature_valid=auth.signature_valid,
            )  # fmt: skip
        try:
            request = parse_image_request(
                data, known_themes=themes.active, archived_themes=themes.archived,
                max_themes=self.max_themes,
            )  # fmt: skip
        except InvalidRequest as exc:
            return await self._reject(
                delivery_id, body, 422, "invalid_payload", str(exc),
                signature_valid=auth.signature_valid,
                problems=[p.as_dict() for p in exc.problems],
            )  # fmt: skip
        common = {
            "delivery_id": delivery_id,
            "source": "webhook",
            "signature_valid": auth.signature_valid,
            "sku": request.sku,
            "image_url": request.image_url,
            "themes": list(request.themes),
        }

        trace.get_current_span().set_attribute(ATTR_SKU, request.sku)
        try:
            result = await self.intake.take(
                request, delivery_id=delivery_id, trace_id=current_trace_id(),
                theme_versions=themes.versions,
            )  # fmt: skip
        except PublishFailed as exc:
            log.error("delivery %s: %s", delivery_id, exc)
            job_ids = [ref.job_id for ref in exc.jobs]
            await self._record_quietly(
                **common, job_ids=job_ids, outcome="rejected", status_code=503, reason=str(exc)
            )
            return Reply(
                503,
                error_body(
                    "kafka_unavailable",
                    f"{exc}; nothing is lost: redeliver and the existing jobs are picked up",
                    delivery_id=delivery_id,
                    job_ids=job_ids,
                ),
            )
        except Exception as exc:
            log.exception("delivery %s: storage failure", delivery_id)
            await self._record_quietly(
                **common, outcome="rejected", status_code=503, reason=f"storage failure: {exc}"
            )
            return Reply(
                503,
                error_body("storage_unavailable", f"{type(exc).__name__}: {exc}; redeliver later"),
            )
        status = 200 if result.outcome == "duplicate" else 202
        try:
            await self.deliveries.record(
                **common,  # type: ignore[arg-type]
                job_ids=result.job_ids,
                outcome=result.outcome,
                status_code=status,
                reason="every job exists already" if result.outcome == "duplicate" else None,
                signature_bypassed=auth.bypassed,
            )
        except Exception as exc:
            # The jobs and the event are durable; only the history line is missing. Ask for a
            # redelivery so that it gets recorded (the redelivery is a harmless duplicate).
            log.exception("delivery %s: cannot record the delivery", delivery_id)
            return Reply(503, error_body("storage_unavailable", f"cannot record delivery: {exc}"))
        return Reply(
            status,
            {
                "delivery_id": delivery_id,
                "outcome": result.outcome,
                "job_ids": result.job_ids,
                "jobs": [ref.as_dict() for ref in result.jobs],
                "download": "queued" if result.download_requested else "not needed",
            },
        )

    async def _reject(
        self,
        delivery_id: str,
        body: bytes,
        status: int,
        error: str,
        reason: str,
        *,
        signature_valid: bool = False,
        **extra: Any,
    ) -> Reply:
        log.warning("delivery %s rejected (%s): %s", delivery_id, status, reason)
        await self._record_quietly(
            delivery_id=delivery_id,
            source="webhook",
            signature_valid=signature_valid,
            outcome="rejected",
            status_code=status,
            reason=f"{error}: {reason}",
            **body_hint(body),
        )
        return Reply(status, error_body(error, reason, delivery_id=delivery_id, **extra))

    async def _record_quietly(self, **fields: Any) -> None:
        try:
            await self.deliveries.record(**fields)
        except Exception:
            log.exception("cannot record delivery %s", fields.get("delivery_id"))
