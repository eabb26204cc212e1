"""Poll until something is true, for tests that watch processes and the stack from outside."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

T = TypeVar("T")


async def until(predicate: Callable[[], Awaitable[T]], timeout_s: float, what: str,
                interval_s: float = 0.2) -> T:
    """The first truthy result of ``predicate``; ``TimeoutError(what)`` after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while not (result := await predicate()):
        if time.monotonic() > deadline:
            raise TimeoutError(what)
        await asyncio.sleep(interval_s)
    return result
