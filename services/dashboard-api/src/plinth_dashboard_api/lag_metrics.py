"""``plinth_consumer_lag{stage}``: each stage's consumer-group backlog as a metric.

A gauge is read at scrape time, synchronously, so the lag (an async Kafka admin round trip) is
refreshed in the background every ``interval_s`` by dashboard-api and the gauge reports the last
value; a stage whose lag could not be read is left out rather than reported as 0.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator
from typing import Any

from plinth.domain.states import Stage
from plinth.metrics import observe_gauge
from plinth_dashboard_api.sweeper import LagByStage

log = logging.getLogger("plinth.dashboard.lag_metrics")

_latest: dict[Stage, int] = {}


def _observations() -> Iterator[tuple[float, dict[str, Any]]]:
    for stage, lag in _latest.items():
        yield float(lag), {"stage": stage.value}


observe_gauge("plinth.consumer.lag", _observations,
              "records waiting in each stage's input topic for its consumer group")


async def refresh_periodically(lag_by_stage: LagByStage, interval_s: float) -> None:
    while True:
        try:
            lags = await lag_by_stage()
            _latest.clear()
            _latest.update({stage: sum(group.lag for group in groups)
                            for stage, groups in lags.items()})
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            _latest.clear()
            log.debug("consumer lag unavailable: %s", exc)
        await asyncio.sleep(interval_s)
