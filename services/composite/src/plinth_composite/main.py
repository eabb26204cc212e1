"""The composite service: BACKGROUND_READY -> COMPOSITED.

Sets the job's cutout on each of its backgrounds with the theme's layout and shadow.
"""

from __future__ import annotations

from plinth.adapters.themes import load_job_theme
from plinth.domain.job import Job
from plinth.domain.states import JobStatus, Stage
from plinth.keys import composite_key
from plinth.stages import composite_photos
from plinth.worker import StageContext, StageResult, Step, run_stage_service
from plinth.worker.errors import PermanentStageError


async def composites(job: Job, ctx: StageContext) -> StageResult:
    if job.img_sha256 is None or job.s3_cutout_key is None:
        raise PermanentStageError("missing_cutout", "the job has no cutout to composite")
    # The version the job recorded at ingest; the packaged theme for jobs older than that.
    theme = await load_job_theme(ctx.db, job.theme, job.theme_version)
    cutout = await ctx.blobs.get(job.s3_cutout_key)
    backgrounds = [await ctx.blobs.get(key) for key in job.s3_background_keys]
    jpegs = await ctx.to_thread(composite_photos, cutout, backgrounds, theme)
    artefacts = {
        composite_key(job.theme, job.sku, job.img_sha256, index): jpeg
        for index, jpeg in enumerate(jpegs)
    }
    return StageResult(changes={"s3_composite_keys": list(artefacts)}, artefacts=artefacts,
                       attributes={"composites": len(artefacts)})


STEPS = [Step(Stage.COMPOSITE, JobStatus.BACKGROUND_READY, JobStatus.COMPOSITED, composites)]


def main() -> None:
    run_stage_service(Stage.COMPOSITE, STEPS, service_name="plinth-composite")


if __name__ == "__main__":
    main()
