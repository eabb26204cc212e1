"""The jobs list: query parameters validated into a MongoDB filter, sort and page.

Pure (no I/O) so the mapping from what a user asked to what the store is asked is testable alone.
Every filter and sort here has an index (see ``indexes.py``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

from plinth.domain.states import JobStatus

SORTABLE: Final[dict[str, str]] = {
    "created_at": "created_at",
    "updated_at": "updated_at",
    "cost_usd": "cost_usd",
    "sku": "sku",
    "status": "status",
    "confidence": "segment_confidence",
}
"""API sort key -> job field. Sorting by ``confidence`` lists only the jobs that have one (a
cut-out whose provider gave it): ``confidence`` is the least certain cut-outs first."""
DEFAULT_SORT: Final = "-created_at"


class InvalidQuery(ValueError):
    """A list query that cannot be answered (unknown status, bad range, unknown sort key)."""


@dataclass(frozen=True)
class JobQuery:
    statuses: tuple[JobStatus, ...] = ()
    sku_prefix: str | None = None
    theme: str | None = None
    created_from: datetime | None = None
    created_to: datetime | None = None
    cost_min: float | None = None
    cost_max: float | None = None
    min_confidence: float | None = None
    max_confidence: float | None = None
    sort: str = DEFAULT_SORT
    page: int = 1
    page_size: int = 25

    @property
    def skip(self) -> int:
        return (self.page - 1) * self.page_size


def parse_statuses(raw: list[str] | None) -> tuple[JobStatus, ...]:
    """``status=FAILED&status=DONE`` and ``status=FAILED,DONE`` both work."""
    names = [part.strip().upper() for item in raw or [] for part in item.split(",")]
    statuses: list[JobStatus] = []
    for name in filter(None, names):
        try:
            statuses.append(JobStatus(name))
        except ValueError:
            valid = ", ".join(s.value for s in JobStatus)
            raise InvalidQuery(f"unknown status {name!r}; expected one of {valid}") from None
    return tuple(dict.fromkeys(statuses))


MAX_PAGE = 1_000_000
"""The deepest page a list serves. Unbounded, ``(page - 1) * page_size`` overflowed the 64-bit
skip of SQLite and MongoDB (HTTP 500); a page this deep is no browsing anyway."""


def build_query(
    *,
    status: list[str] | None = None,
    sku: str | None = None,
    theme: str | None = None,
    created_from: datetime | None = None,
    created_to: datetime | None = None,
    cost_min: float | None = None,
    cost_max: float | None = None,
    min_confidence: float | None = None,
    max_confidence: float | None = None,
    sort: str | None = None,
    page: int = 1,
    page_size: int = 25,
    max_page_size: int = 200,
) -> JobQuery:
    if not 1 <= page <= MAX_PAGE:
        raise InvalidQuery(f"page must be between 1 and {MAX_PAGE}")
    if not 1 <= page_size <= max_page_size:
        raise InvalidQuery(f"page_size must be between 1 and {max_page_size}")
    if created_from and created_to and created_from > created_to:
        raise InvalidQuery("created_from is after created_to")
    if cost_min is not None and cost_max is not None and cost_min > cost_max:
        raise InvalidQuery("cost_min is greater than cost_max")
    for name, bound in (("min_confidence", min_confidence), ("max_confidence", max_confidence)):
        if bound is not None and not 0 <= bound <= 1:
            raise InvalidQuery(f"{name} must be between 0 and 1")
    if (min_confidence is not None and max_confidence is not None
            and min_confidence > max_confidence):
        raise InvalidQuery("min_confidence is greater than max_confidence")
    sort = sort or DEFAULT_SORT
    if sort.lstrip("-") not in SORTABLE:
        raise InvalidQuery(f"cannot sort by {sort!r}; sortable: {', '.join(SORTABLE)}")
    if sort.lstrip("-") == "confidence" and min_confidence is None and max_confidence is None:
        min_confidence = 0.0  # only jobs with a confidence: there is nothing else to rank by
    return JobQuery(
        statuses=parse_statuses(status),
        sku_prefix=(sku or "").strip() or None,
        theme=(theme or "").strip() or None,
        created_from=created_from,
        created_to=created_to,
        cost_min=cost_min,
        cost_max=cost_max,
        min_confidence=min_confidence,
        max_confidence=max_confidence,
        sort=sort,
        page=page,
        page_size=page_size,
    )


def mongo_filter(query: JobQuery) -> dict[str, Any]:
    flt: dict[str, Any] = {}
    if len(query.statuses) == 1:
        flt["status"] = query.statuses[0].value
    elif query.statuses:
        flt["status"] = {"$in": [s.value for s in query.statuses]}
    if query.sku_prefix:
        # Anchored, escaped regex: a prefix match that an index on sku can serve.
        flt["sku"] = {"$regex": "^" + re.escape(query.sku_prefix)}
    if query.theme:
        flt["theme"] = query.theme
    ranges: dict[str, tuple[Any, Any]] = {
        "created_at": (query.created_from, query.created_to),
        "cost_usd": (query.cost_min, query.cost_max),
        # a range never matches a missing or null confidence: jobs without one are left out
        "segment_confidence": (query.min_confidence, query.max_confidence),
    }
    for field, (low, high) in ranges.items():
        bounds = {op: value for op, value in (("$gte", low), ("$lte", high)) if value is not None}
        if bounds:
            flt[field] = bounds
    return flt


def mongo_sort(query: JobQuery) -> list[tuple[str, int]]:
    """The sort key, then ``_id`` so that pages are stable when sort values tie."""
    field = SORTABLE[query.sort.lstrip("-")]
    direction = -1 if query.sort.startswith("-") else 1
    return [(field, direction), ("_id", direction)]
