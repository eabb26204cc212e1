"""A bound on how often one Kafka record may fail before it is set aside.

A consumer that cannot finish a record does not commit it, so it comes again: right for an
outage (MongoDB, S3 or Kafka unreachable: the record succeeds once they are back), wrong for a
record that fails on its own merits (a key the store refuses, a bug): redelivered forever, it
blocks every later record of its partition. Only failures while every dependency answers count
against the record; after ``max_deliveries`` of those, the runtime dead-letters it with the
reason and moves on.

The counts live in this process: a restart forgets them, which only means a poison record gets
``max_deliveries`` more tries.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Hashable

from plinth.adapters.readiness import Readiness

log = logging.getLogger(__name__)

MAX_TRACKED = 10_000
"""Records with a failure count kept at once (oldest forgotten first)."""


class RedeliveryGuard:
    def __init__(self, max_deliveries: int, readiness: Readiness | None = None) -> None:
        if max_deliveries < 1:
            raise ValueError("max_deliveries must be at least 1")
        self.max_deliveries = max_deliveries
        self.readiness = readiness
        self._failures: OrderedDict[Hashable, int] = OrderedDict()

    async def failed(self, record: Hashable) -> bool:
        """Count a failed delivery of ``record``; True when it has now failed ``max_deliveries``
        times with every dependency reachable, i.e. it must be dead-lettered, not retried."""
        if self.readiness is not None:
            report = await self.readiness.report()
            if not report.ready:
                log.info("not counted against %s: %s", record, report.reason())
                return False
        count = self._failures.pop(record, 0) + 1
        self._failures[record] = count
        while len(self._failures) > MAX_TRACKED:
            self._failures.popitem(last=False)
        return count >= self.max_deliveries

    def failures(self, record: Hashable) -> int:
        return self._failures.get(record, 0)

    def forget(self, record: Hashable) -> None:
        """The record is done (committed or dead-lettered)."""
        self._failures.pop(record, None)
