"""Stage workers run as tasks of this process against the local stack, for stack tests that carry
a job through several stages (and the dashboard API) in one process."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any

from plinth.adapters.kafka import ensure_topics
from plinth.adapters.mongo import Database
from plinth.domain.states import Stage
from plinth.worker import Step
from plinth.worker.groups import pipeline_groups, start_groups_at_end
from plinth.worker.service import serve_stage
from plinth.worker.settings import WorkerSettings
from plinth_testkit.waiting import until

StageWorker = tuple[Stage, Sequence[Step], WorkerSettings]
"""A stage, its steps and the settings its worker runs with."""


def worker_fields(stack: WorkerSettings, db: Database, *, label: str, unique: str
                  ) -> dict[str, Any]:
    """The settings fields one test's workers share: the test's database, consumer groups and
    worker-control scope of their own (no other test's worker takes their records), quick retries.
    Each worker adds its ``instance_id`` and its stage's own fields."""
    return {**stack.model_dump(), "mongo_db": db.db.name,
            "kafka_consumer_group_prefix": f"{stack.kafka_consumer_group_prefix}-{label}-{unique}",
            "worker_control_scope": unique, "retry_base_delay_s": 0.5}


@asynccontextmanager
async def stage_workers(db: Database, workers: Sequence[StageWorker], *, name: str,
                        ready_s: float = 90) -> AsyncIterator[None]:
    """Serve each stage worker as a task until the block ends; entered once every stage holds
    its partitions. Their consumer groups start at the end of their topics, so records published
    before the block (by other tests) are not theirs. ``name`` prefixes the service names."""
    settings = workers[0][2]
    await ensure_topics(settings)
    suffixes = tuple(f"-{stage.value}" for stage, _, _ in workers)
    await start_groups_at_end(settings, {group: topics for group, topics
                                         in pipeline_groups(settings).items()
                                         if group.endswith(suffixes)})
    stop = asyncio.Event()
    tasks = [asyncio.create_task(serve_stage(stage, steps, service_name=f"{name}-{stage.value}",
                                             settings=own, stop=stop))
             for stage, steps, own in workers]
    wanted = {stage.value for stage, _, _ in workers}

    async def ready() -> bool:
        docs = await db.workers.find({"stopped": False}).to_list()
        return {d["stage"] for d in docs if d.get("assignment")} >= wanted

    try:
        await until(ready, ready_s, "the workers never held their partitions")
        yield
    finally:
        stop.set()
        await asyncio.wait_for(asyncio.gather(*tasks, return_exceptions=True), 30)
