"""Jobs for the domain tests: what each stage adds to a job, a new job, and one walked forward
through the pipeline to any state."""

from __future__ import annotations

from typing import Any

from plinth.domain.job import Job, ShopifyResult
from plinth.domain.states import PIPELINE, JobStatus
from plinth.domain.transitions import advance

SHA = "a" * 64

# What each stage adds to the job when it moves it into the state.
FIELDS_FOR: dict[JobStatus, dict[str, Any]] = {
    JobStatus.BG_REMOVED: {
        "img_sha256": SHA,
        "s3_original_key": f"originals/SKU1/{SHA}.jpg",
        "s3_cutout_key": f"cutouts/SKU1/{SHA}.png",
        "s3_mask_key": f"masks/SKU1/{SHA}.png",
    },
    JobStatus.BACKGROUND_READY: {"s3_background_keys": [f"backgrounds/default/SKU1/{SHA}_0.jpg"]},
    JobStatus.COMPOSITED: {"s3_composite_keys": [f"composites/default/SKU1/{SHA}_0.jpg"]},
    JobStatus.DERIVATIVES: {"s3_derivative_keys": [f"derivatives/default/SKU1/{SHA}/0_hero.jpg"]},
    JobStatus.SHOPIFY_PUSH: {"manifest_s3_key": f"manifests/SKU1/{SHA}-default.json"},
    JobStatus.DONE: {"shopify": ShopifyResult(status="published", product_id="p1")},
}


def new_job() -> Job:
    return Job(sku="SKU1", theme="default", image_url="https://img.example/1.jpg")


def job_in(status: JobStatus) -> Job:
    """A new job moved forward, with each stage's fields, to ``status``."""
    job = new_job()
    for state in PIPELINE[1 : PIPELINE.index(status) + 1]:
        job = advance(job, state, **FIELDS_FOR[state])
    return job
