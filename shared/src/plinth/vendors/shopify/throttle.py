"""Cost-based throttling: our model of Shopify's leaky bucket, read from ``extensions.cost``.

Every Admin GraphQL response carries ``extensions.cost.throttleStatus`` (``maximumAvailable``,
``currentlyAvailable``, ``restoreRate`` points per second) and the ``requestedQueryCost`` of the
query. We remember the last status and the cost each operation asked for, so that before the next
request we can wait just long enough for the bucket to refill, instead of being throttled; and when
Shopify throttles anyway (other apps do not share our bucket, but our other workers do) we wait
exactly ``(requested - available) / restoreRate`` before trying again.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

# A first guess for operations we have not seen yet: Shopify charges 10 points per mutation and
# our queries are small; a low guess only means one request may be throttled and retried.
DEFAULT_EXPECTED_COST = 10.0
MIN_THROTTLE_WAIT_S = 0.05


@dataclass(frozen=True)
class ThrottleStatus:
    maximum_available: float
    currently_available: float
    restore_rate: float

    @classmethod
    def from_cost(cls, cost: Mapping[str, Any] | None) -> ThrottleStatus | None:
        """Parse ``extensions.cost``; None when the response carried no (usable) status."""
        if not cost:
            return None
        status = cost.get("throttleStatus")
        if not isinstance(status, Mapping):
            return None
        try:
            return cls(
                maximum_available=float(status["maximumAvailable"]),
                currently_available=float(status["currentlyAvailable"]),
                restore_rate=float(status["restoreRate"]),
            )
        except (KeyError, TypeError, ValueError):
            return None


def requested_cost(cost: Mapping[str, Any] | None) -> float | None:
    if not cost:
        return None
    value = cost.get("requestedQueryCost")
    return float(value) if isinstance(value, int | float) else None


class CostBudget:
    """What we know of the bucket, and how long to wait before spending ``cost`` points."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._status: ThrottleStatus | None = None
        self._observed_at = 0.0
        self._costs: dict[str, float] = {}

    @property
    def status(self) -> ThrottleStatus | None:
        return self._status

    def expected_cost(self, operation: str) -> float:
        return self._costs.get(operation, DEFAULT_EXPECTED_COST)

    def observe(self, operation: str, cost: Mapping[str, Any] | None) -> None:
        status = ThrottleStatus.from_cost(cost)
        if status is not None:
            self._status = status
            self._observed_at = self._clock()
        asked = requested_cost(cost)
        if asked is not None:
            self._costs[operation] = asked

    def available_now(self) -> float | None:
        if self._status is None:
            return None
        elapsed = max(0.0, self._clock() - self._observed_at)
        refilled = self._status.currently_available + elapsed * self._status.restore_rate
        return min(self._status.maximum_available, refilled)

    def wait_before(self, operation: str) -> float:
        """Seconds to wait so that the bucket holds this operation's expected cost."""
        available = self.available_now()
        if available is None or self._status is None or self._status.restore_rate <= 0:
            return 0.0
        needed = min(self.expected_cost(operation), self._status.maximum_available)
        if available >= needed:
            return 0.0
        return (needed - available) / self._status.restore_rate

    def wait_after_throttle(self, operation: str) -> float:
        """Seconds to wait after a THROTTLED answer, from the status that came with it."""
        status = self._status
        if status is None or status.restore_rate <= 0:
            return 1.0  # Shopify told us nothing usable: back off for a second
        deficit = self.expected_cost(operation) - status.currently_available
        return max(MIN_THROTTLE_WAIT_S, deficit / status.restore_rate)
