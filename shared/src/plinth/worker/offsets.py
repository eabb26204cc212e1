"""Commit points of partitions whose records finish out of order.

Kafka's committed offset means "everything before it is done". When records of one partition
run concurrently, a later one may finish first; the offset that may be committed is then the
lowest one still running (or, with none running, one past the highest finished). Committing more
would lose the running record if the process died; committing this keeps at-least-once.
"""

from __future__ import annotations

from dataclasses import dataclass, field

Partition = tuple[str, int]


@dataclass
class _State:
    running: set[int] = field(default_factory=set)
    next_offset: int = 0
    """One past the highest offset finished."""
    committed: int = -1
    """The last commit point Kafka confirmed."""


class CommitTracker:
    def __init__(self) -> None:
        self._partitions: dict[Partition, _State] = {}

    def start(self, partition: Partition, offset: int) -> bool:
        """Note ``offset`` as running; False if it already is (a redelivery after a rebalance
        while the first copy still runs: the caller must not start it twice)."""
        # The first record seen of a partition is where the group's committed offset stands
        # (that is where fetching starts): nothing below it needs committing.
        state = self._partitions.setdefault(partition, _State(committed=offset))
        if offset in state.running:
            return False
        state.running.add(offset)
        return True

    def finish(self, partition: Partition, offset: int) -> int | None:
        """Note ``offset`` as done; the offset to commit if the commit point is past the last
        confirmed one, else None. A commit that failed is thus tried again at the next finish."""
        state = self._partitions.setdefault(partition, _State())
        state.running.discard(offset)
        state.next_offset = max(state.next_offset, offset + 1)
        point = min(state.running) if state.running else state.next_offset
        return point if point > state.committed else None

    def confirm(self, partition: Partition, point: int) -> None:
        """Kafka took the commit of ``point``."""
        state = self._partitions.setdefault(partition, _State())
        state.committed = max(state.committed, point)

    def running(self, partition: Partition | None = None) -> int:
        if partition is not None:
            state = self._partitions.get(partition)
            return len(state.running) if state else 0
        return sum(len(state.running) for state in self._partitions.values())
