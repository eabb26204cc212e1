"""The stage-worker runtime every stage service runs on.

A stage service declares its :class:`Step` list (what it does to a job, from which state to which)
and calls :func:`run_stage_service`; the runtime does everything else: Kafka consumption with
manual commits, decoding and dead-lettering, idempotent skipping, artefact storage, conditional
state updates, the next event, retries with backoff, failures, pause/resume and heartbeats.
"""

from plinth.worker.result import StageContext, StageResult, Step
from plinth.worker.runtime import StageWorker
from plinth.worker.service import run_stage_service

__all__ = ["StageContext", "StageResult", "StageWorker", "Step", "run_stage_service"]
