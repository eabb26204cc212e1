"""The derive service: COMPOSITED -> DERIVATIVES -> SHOPIFY_PUSH (or IN_REVIEW, held).

Two steps, two spans, two conditional updates: the nine storefront files of every composite
(hero/pdp/thumb x jpg/webp/avif), then the manifest, validated against its published schema
before it is stored. A redelivery after the first update resumes at the manifest.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from functools import lru_cache

from plinth.domain.job import Job
from plinth.domain.states import JobStatus, Stage
from plinth.keys import derivative_key
from plinth.messaging.topics import JOB_IN_REVIEW
from plinth.stages import derive_files
from plinth.worker import StageContext, StageResult, Step, run_stage_service
from plinth.worker.errors import PermanentStageError
from plinth_derive.manifest_step import manifest
from plinth_derive.settings import DeriveWorkerSettings

DERIVATIVES_PER_COMPOSITE = 9


@lru_cache(maxsize=1)
def encoder_pool() -> ThreadPoolExecutor:
    """One pool for the process: the encoders release the GIL, one thread per core is enough."""
    return ThreadPoolExecutor(max_workers=os.cpu_count() or 2, thread_name_prefix="encode")


async def derivatives(job: Job, ctx: StageContext) -> StageResult:
    if job.img_sha256 is None or not job.s3_composite_keys:
        raise PermanentStageError("missing_composites", "the job has no composites")
    composites = [await ctx.blobs.get(key) for key in job.s3_composite_keys]
    rendered = await ctx.to_thread(derive_files, composites, executor=encoder_pool())
    artefacts: dict[str, bytes] = {}
    files: list[dict[str, object]] = []
    for item in rendered:
        key = derivative_key(job.theme, job.sku, job.img_sha256, item.variant, item.size, item.fmt)
        artefacts[key] = item.data
        files.append({"key": key, "variant": item.variant, "size": item.size,
                      "format": item.fmt, "width": item.width, "height": item.height,
                      "bytes": len(item.data), "content_type": item.content_type})
    expected = DERIVATIVES_PER_COMPOSITE * len(job.s3_composite_keys)
    if len(artefacts) != expected:
        raise PermanentStageError("derivatives_incomplete",
                                  f"made {len(artefacts)} derivatives, expected {expected}")
    return StageResult(
        changes={"s3_derivative_keys": list(artefacts),
                 "provider_metadata": {**job.provider_metadata, "derivatives": files}},
        artefacts=artefacts,
        attributes={"derivatives": len(artefacts)},
    )


STEPS = [
    Step(Stage.DERIVE, JobStatus.COMPOSITED, JobStatus.DERIVATIVES, derivatives),
    # a cut-out under the review threshold is held for a person instead of going to publish
    Step(Stage.MANIFEST, JobStatus.DERIVATIVES, JobStatus.SHOPIFY_PUSH, manifest,
         alternatives={JobStatus.IN_REVIEW: JOB_IN_REVIEW}),
]


def main() -> None:
    run_stage_service(Stage.DERIVE, STEPS, service_name="plinth-derive",
                      settings=DeriveWorkerSettings)


if __name__ == "__main__":
    main()
