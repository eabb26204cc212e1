"""``/api/processor``: per-stage workers (heartbeats) and consumer lag; pause/resume commands."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any, Literal

from litestar import Controller, Request, get, post
from litestar.di import NamedDependency
from litestar.exceptions import ServiceUnavailableException
from litestar.params import JSONBody
from pydantic import BaseModel

from plinth.domain.job import utcnow
from plinth.domain.states import Stage
from plinth.messaging.events import ControlCommand
from plinth.messaging.topics import CONTROL, STAGE_INPUT
from plinth_dashboard_api import audit
from plinth_dashboard_api.auth import principal_of, require_operator, require_viewer
from plinth_dashboard_api.kafka_lag import GroupLag
from plinth_dashboard_api.resources import Resources

log = logging.getLogger("plinth.dashboard.processor")

# A worker that has not written a heartbeat for this long is shown as stale.
STALE_AFTER = timedelta(seconds=30)


class WorkerView(BaseModel):
    id: str
    instance: str | None = None
    host: str | None = None
    pid: int | None = None
    in_flight: int = 0
    processed: int = 0
    failed: int = 0
    last_error: str | None = None
    paused: bool = False
    started_at: datetime | None = None
    last_seen: datetime | None = None
    alive: bool


class StageStatus(BaseModel):
    stage: str
    input_topic: str | None
    workers: list[WorkerView]
    alive: int
    paused: int
    lag: int | None
    groups: list[dict[str, Any]]


class ProcessorStatus(BaseModel):
    generated_at: datetime
    stages: list[StageStatus]
    kafka_error: str | None = None


class ControlRequest(BaseModel):
    stage: Stage | Literal["all"] = "all"


def _worker(doc: dict[str, Any], now: datetime) -> WorkerView:
    last_seen = doc.get("last_seen")
    return WorkerView.model_validate(
        {
            **doc,
            "id": str(doc["_id"]),
            "alive": last_seen is not None and now - last_seen <= STALE_AFTER,
        }
    )


async def processor_status(res: NamedDependency[Resources]) -> ProcessorStatus:
    now = utcnow()
    by_stage: dict[str, list[WorkerView]] = {}
    async for doc in res.db.workers.find({}).sort("_id", 1):
        by_stage.setdefault(str(doc.get("stage", "unknown")), []).append(_worker(doc, now))
    lag: dict[Stage, list[GroupLag]] = {}
    kafka_error = None
    try:
        lag = await res.kafka.lag_by_stage()
    except Exception as err:  # the worker view is still useful while Kafka is unreachable
        log.warning("cannot read consumer lag: %s", err)
        kafka_error = f"{type(err).__name__}: {err}"
    # review is a person's stage (the review queue): no worker, nothing to pause
    workers_stages = [s.value for s in Stage if s is not Stage.REVIEW]
    names = workers_stages + sorted(set(by_stage) - {s.value for s in Stage})
    stages = []
    for name in names:
        workers = by_stage.get(name, [])
        stage = Stage(name) if name in Stage.__members__.values() else None
        groups = lag.get(stage, []) if stage is not None else []
        stages.append(
            StageStatus(
                stage=name,
                input_topic=STAGE_INPUT.get(stage) if stage is not None else None,
                workers=workers,
                alive=sum(w.alive for w in workers),
                paused=sum(w.paused for w in workers if w.alive),
                # the busiest group is what holds the stage back
                lag=max((g.lag for g in groups), default=None),
                groups=[
                    {
                        "group_id": g.group_id,
                        "lag": g.lag,
                        "partitions": [vars(p) for p in g.partitions],
                    }
                    for g in groups
                ],
            )
        )
    return ProcessorStatus(generated_at=now, stages=stages, kafka_error=kafka_error)


class ProcessorController(Controller):
    path = "/api/processor"
    tags = ("processor",)
    guards = (require_viewer,)

    @get("/status", summary="Workers per stage with heartbeats, and consumer-group lag")
    async def status(self, res: NamedDependency[Resources]) -> ProcessorStatus:
        return await processor_status(res)

    async def _command(
        self,
        request: Request[Any, Any, Any],
        res: NamedDependency[Resources],
        action: str,
        stage: str,
    ) -> dict[str, Any]:
        principal = principal_of(request)
        command = ControlCommand(action=action, stage=stage, issued_by=principal.name)
        try:
            await res.publisher.publish(CONTROL, command, key=str(stage))
        except Exception as err:
            log.exception("cannot publish control command")
            raise ServiceUnavailableException(
                f"cannot publish to Kafka ({type(err).__name__})"
            ) from err
        await audit.record(
            res.db,
            principal,
            f"processor.{action}",
            details={"stage": str(stage), "event_id": command.event_id},
        )
        return {"action": action, "stage": str(stage), "event_id": command.event_id}

    @post("/start", guards=[require_operator], status_code=202, summary="Resume stage workers")
    async def start(
        self,
        request: Request[Any, Any, Any],
        res: NamedDependency[Resources],
        data: JSONBody[ControlRequest],
    ) -> dict[str, Any]:
        return await self._command(request, res, "resume", str(data.stage))

    @post("/stop", guards=[require_operator], status_code=202, summary="Pause stage workers")
    async def stop(
        self,
        request: Request[Any, Any, Any],
        res: NamedDependency[Resources],
        data: JSONBody[ControlRequest],
    ) -> dict[str, Any]:
        return await self._command(request, res, "pause", str(data.stage))
