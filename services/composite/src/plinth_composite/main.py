"""The composite service: BACKGROUND_READY -> COMPOSITED.

Sets the job's cutout on each of its backgrounds with the theme's layout and shadow.
"""

from __future__ import annotations

from plinth.domain.job import Job
from plinth.domain.states import JobStatus, Stage
from plinth.imaging.backgrounds import Theme, load_theme
from plinth.imaging.composite import composite
from plinth.imaging.decode import decode_image, encode_jpeg
from plinth.imaging.types import RGBA
from plinth.keys import composite_key
from plinth.worker import StageContext, StageResult, Step, run_stage_service
from plinth.worker.errors import PermanentStageError


def composite_jpeg(cutout: RGBA, background_bytes: bytes, theme: Theme) -> bytes:
    background = decode_image(background_bytes).rgb
    return encode_jpeg(composite(cutout, background, theme))


async def composites(job: Job, ctx: StageContext) -> StageResult:
    if job.img_sha256 is None or job.s3_cutout_key is None:
        raise PermanentStageError("missing_cutout", "the job has no cutout to composite")
    theme = load_theme(job.theme)
    cutout = (await ctx.to_thread(decode_image, await ctx.blobs.get(job.s3_cutout_key))).rgba()
    artefacts: dict[str, bytes] = {}
    for index, background in enumerate(job.s3_background_keys):
        jpeg = await ctx.to_thread(composite_jpeg, cutout, await ctx.blobs.get(background), theme)
        artefacts[composite_key(job.theme, job.sku, job.img_sha256, index)] = jpeg
    return StageResult(changes={"s3_composite_keys": list(artefacts)}, artefacts=artefacts,
                       attributes={"composites": len(artefacts)})


STEPS = [Step(Stage.COMPOSITE, JobStatus.BACKGROUND_READY, JobStatus.COMPOSITED, composites)]


def main() -> None:
    run_stage_service(Stage.COMPOSITE, STEPS, service_name="plinth-composite")


if __name__ == "__main__":
    main()
