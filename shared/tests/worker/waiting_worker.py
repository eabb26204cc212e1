"""A stage worker with a trivial step, run as its own process by test_waits_for_dependencies:
the real entry point (``run_stage_service``: logging set-up, waiting for the dependencies)."""

from __future__ import annotations

from plinth.domain.job import Job
from plinth.domain.states import JobStatus, Stage
from plinth.worker import StageContext, StageResult, Step, run_stage_service


async def cut(job: Job, ctx: StageContext) -> StageResult:
    key = f"cutouts/{job.sku}/{job.img_sha256}.png"
    return StageResult(changes={"s3_cutout_key": key, "s3_mask_key": key},
                       artefacts={key: b"png"})


if __name__ == "__main__":
    run_stage_service(Stage.SEGMENT, [Step(Stage.SEGMENT, JobStatus.NEW, JobStatus.BG_REMOVED,
                                           cut)], service_name="plinth-test-waiting")
