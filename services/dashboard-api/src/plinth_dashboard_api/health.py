"""``/health``: Kafka, the document store and S3 checked concurrently, each with a deadline, with
details; ``/ready``: the same three for a load balancer, probed at most every 1.5 s."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

from litestar import Request, get
from litestar.response import Response

from plinth.adapters.asyncapi import document as asyncapi_document
from plinth.metrics import CONTENT_TYPE as METRICS_CONTENT_TYPE
from plinth.metrics import exposition
from plinth.worker.dependencies import Pending
from plinth_dashboard_api.resources import Resources

CHECK_TIMEOUT_S = 3.0


async def _check(probe: Callable[[], Awaitable[Any]]) -> dict[str, Any]:
    started = time.perf_counter()
    error: str | None
    try:
        await asyncio.wait_for(probe(), CHECK_TIMEOUT_S)
    except TimeoutError:
        status, error = "down", f"no answer within {CHECK_TIMEOUT_S:g} s"
    except Exception as err:
        status, error = "down", f"{type(err).__name__}: {err}"
    else:
        status, error = "ok", None
    return {
        "status": status,
        "latency_ms": round((time.perf_counter() - started) * 1000, 1),
        "error": error,
    }


@get("/live", tags=["health"], summary="Liveness: the process serves (also while it waits)")
async def live() -> dict[str, Any]:
    return {"status": "alive", "service": "plinth-dashboard-api"}


async def _starting(request: Request[Any, Any, Any]) -> Response[dict[str, Any]]:
    """503 while the resources wait for their dependencies (opened in the background)."""
    pending: Pending[Resources] = request.app.state.resources_pending
    report = await pending.readiness.report()
    return Response(
        {"status": "not_ready", "error": "not_ready", "reason": await pending.reason(),
         "components": report.as_dict()},
        status_code=503,
    )  # fmt: skip


@get("/health", tags=["health"], summary="Per-component health; 503 when any is down")
async def health(request: Request[Any, Any, Any]) -> Response[dict[str, Any]]:
    res: Resources | None = request.app.state.get("resources")
    if res is None:
        return await _starting(request)

    async def s3() -> None:
        await res.blobs.client.head_bucket(Bucket=res.blobs.bucket)

    kafka, mongo, blobs = await asyncio.gather(
        _check(res.kafka.ping), _check(res.db.ping), _check(s3)
    )
    components = {"kafka": kafka, "mongo": mongo, "s3": blobs}
    healthy = all(c["status"] == "ok" for c in components.values())
    body: dict[str, Any] = {"status": "ok" if healthy else "degraded", "components": components}
    return Response(
        body,
        status_code=200 if healthy else 503,
    )


@get("/ready", tags=["health"], summary="Readiness; 503 naming what is unreachable")
async def ready(request: Request[Any, Any, Any]) -> Response[dict[str, Any]]:
    res: Resources | None = request.app.state.get("resources")
    if res is None:
        return await _starting(request)
    report = await res.readiness.report()
    components = report.as_dict()
    if not report.ready:
        return Response(
            {"status": "not_ready", "error": "not_ready", "reason": report.reason(),
             "components": components},
            status_code=503,
        )  # fmt: skip
    return Response({"status": "ready", "components": components}, status_code=200)


@get("/metrics", include_in_schema=False, sync_to_thread=False)
def metrics() -> Response[bytes]:
    """Prometheus exposition (plinth.metrics): consumer lag per stage, stuck jobs re-driven."""
    return Response(exposition(), media_type=METRICS_CONTENT_TYPE)


@get("/schema/asyncapi.json", tags=["health"], sync_to_thread=False,
     summary="AsyncAPI 3.0 document of every Kafka topic (plinth.adapters.asyncapi)")
def asyncapi() -> dict[str, Any]:
    return _ASYNCAPI


_ASYNCAPI = asyncapi_document()
