"""Housekeeping that dashboard-api runs in the background: one loop for every periodic pass."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Any


async def every(
    interval_s: float,
    what: str,
    one_pass: Callable[[], Awaitable[Mapping[str, Any]]],
    log: logging.Logger,
) -> None:
    """Run ``one_pass`` now and then every ``interval_s`` until cancelled. A pass that did
    something (any non-zero figure in its report) is logged; one that failed (a dependency down)
    is logged and tried again at the next interval, never ending the loop."""
    while True:
        try:
            report = await one_pass()
            if any(report.values()):
                log.info("%s: %s", what, dict(report))
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("%s failed; next try in %.0f s", what, interval_s)
        await asyncio.sleep(interval_s)
