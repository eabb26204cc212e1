"""One Admin GraphQL request, done right: auth header, cost-based throttling, typed failures.

``AdminGraphQL.execute`` returns the ``data`` object or raises a
:mod:`plinth.vendors.shopify.errors` error. Throttling (a ``THROTTLED`` GraphQL error, or HTTP
429) waits as long as the bucket needs and tries again, a bounded number of times; 5xx and
network errors retry with exponential backoff; everything else is permanent.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx

from plinth.vendors.shopify.config import ShopifyConfig
from plinth.vendors.shopify.errors import (
    ShopifyAuthError,
    ShopifyEndpointNotFound,
    ShopifyQueryError,
    ShopifyThrottled,
    ShopifyUnavailable,
)
from plinth.vendors.shopify.throttle import CostBudget

log = logging.getLogger(__name__)

Sleep = Callable[[float], Awaitable[None]]


@dataclass
class TransportStats:
    """What the transport did, for logs, spans and tests."""

    requests: int = 0
    throttled: int = 0
    throttle_waits_s: list[float] = field(default_factory=list)
    transient_retries: int = 0

    @property
    def waited_s(self) -> float:
        return sum(self.throttle_waits_s)


class AdminGraphQL:
    def __init__(
        self,
        config: ShopifyConfig,
        http: httpx.AsyncClient,
        *,
        budget: CostBudget | None = None,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        self.config = config
        self._http = http
        self.budget = budget or CostBudget()
        self._sleep = sleep
        self.stats = TransportStats()

    async def execute(
        self, operation: str, query: str, variables: Mapping[str, Any] | None = None
    ) -> dict[str, Any]:
        """Run the named operation of ``query`` and return its ``data``."""
        throttled = 0
        transient = 0
        waited = False  # a throttle wait already paid for the refill the next try needs
        while True:
            wait = 0.0 if waited else self.budget.wait_before(operation)
            if wait > 0:
                await self._wait(wait, operation, reason="bucket low")
            waited = False
            try:
                body = await self._post(operation, query, variables)
            except ShopifyThrottled:
                throttled += 1
                if throttled > self.config.max_throttle_retries:
                    raise
                await self._wait(self.budget.wait_after_throttle(operation), operation, "429")
                waited = True
                continue
            except ShopifyUnavailable:
                transient += 1
                if transient > self.config.max_transient_retries:
                    raise
                self.stats.transient_retries += 1
                await self._sleep(self.config.transient_backoff_s * 2 ** (transient - 1))
                continue

            extensions = body.get("extensions")
            cost = extensions.get("cost") if isinstance(extensions, Mapping) else None
            self.budget.observe(operation, cost if isinstance(cost, Mapping) else None)
            errors = body.get("errors")
            if errors:
                if _is_throttled(errors):
                    throttled += 1
                    self.stats.throttled += 1
                    if throttled > self.config.max_throttle_retries:
                        raise ShopifyThrottled(
                            f"{operation}: still throttled after {throttled - 1} waits"
                        )
                    await self._wait(
                        self.budget.wait_after_throttle(operation), operation, "THROTTLED"
                    )
                    waited = True
                    continue
                _raise_for_errors(operation, errors)
            data = body.get("data")
            if not isinstance(data, dict):
                raise ShopifyQueryError(f"{operation}: response has no data object")
            return data

    async def _wait(self, seconds: float, operation: str, reason: str) -> None:
        log.info("shopify %s: waiting %.2fs (%s)", operation, seconds, reason)
        self.stats.throttle_waits_s.append(seconds)
        await self._sleep(seconds)

    async def _post(
        self, operation: str, query: str, variables: Mapping[str, Any] | None
    ) -> dict[str, Any]:
        self.stats.requests += 1
        payload: dict[str, Any] = {"query": query, "operationName": operation}
        if variables:
            payload["variables"] = dict(variables)
        try:
            response = await self._http.post(
                self.config.endpoint,
                json=payload,
                headers={
                    "X-Shopify-Access-Token": self.config.access_token,
                    "Accept": "application/json",
                },
                timeout=self.config.request_timeout_s,
            )
        except httpx.TimeoutException as exc:
            raise ShopifyUnavailable(f"{operation}: timed out: {exc}") from exc
        except httpx.TransportError as exc:
            raise ShopifyUnavailable(f"{operation}: {type(exc).__name__}: {exc}") from exc

        status = response.status_code
        if status in (401, 403):
            raise ShopifyAuthError(f"{operation}: HTTP {status}: {_error_text(response)}")
        if status == 404:
            raise ShopifyEndpointNotFound(
                f"{self.config.endpoint}: HTTP 404 (store domain or API version "
                f"{self.config.api_version!r} not served)"
            )
        if status == 429:
            self.stats.throttled += 1
            raise ShopifyThrottled(f"{operation}: HTTP 429")
        if status >= 500:
            raise ShopifyUnavailable(f"{operation}: HTTP {status}: {_error_text(response)}")
        if status >= 400:
            # 400 bad request, 402 shop frozen, 423 shop locked: none of these heal by retrying
            raise ShopifyQueryError(f"{operation}: HTTP {status}: {_error_text(response)}")
        try:
            body = response.json()
        except ValueError as exc:
            raise ShopifyUnavailable(f"{operation}: response is not JSON") from exc
        if not isinstance(body, dict):
            raise ShopifyQueryError(f"{operation}: response is not a JSON object")
        return body


def _is_throttled(errors: Any) -> bool:
    return isinstance(errors, list) and any(
        isinstance(e, Mapping)
        and isinstance(e.get("extensions"), Mapping)
        and e["extensions"].get("code") == "THROTTLED"
        for e in errors
    )


def _raise_for_errors(operation: str, errors: Any) -> None:
    if not isinstance(errors, list):  # Shopify sends a bare string for some HTTP-level errors
        raise ShopifyQueryError(f"{operation}: {errors}")
    codes = {
        e["extensions"].get("code")
        for e in errors
        if isinstance(e, Mapping) and isinstance(e.get("extensions"), Mapping)
    }
    messages = "; ".join(
        str(e.get("message", e)) if isinstance(e, Mapping) else str(e) for e in errors
    )
    if "ACCESS_DENIED" in codes:
        raise ShopifyAuthError(f"{operation}: {messages}")
    if codes & {"INTERNAL_SERVER_ERROR", "SERVICE_UNAVAILABLE"}:
        raise ShopifyUnavailable(f"{operation}: {messages}")
    raise ShopifyQueryError(f"{operation}: {messages}")


def _error_text(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.text[:200]
    if isinstance(body, Mapping) and "errors" in body:
        return str(body["errors"])[:300]
    return str(body)[:300]
