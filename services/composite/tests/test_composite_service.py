"""The composite step: the cutout on every background of the job."""

from __future__ import annotations

import io

import numpy as np
from opentelemetry.trace import INVALID_SPAN
from PIL import Image

from plinth.domain.job import Job
from plinth.domain.states import JobStatus
from plinth.imaging.backgrounds import load_theme, render_background
from plinth.imaging.decode import encode_jpeg, encode_png
from plinth.worker import StageContext
from plinth.worker.settings import WorkerSettings
from plinth_composite.main import composites
from plinth_testkit.memory import MemoryBlobs

SHA = "f" * 64


async def test_one_composite_per_background_with_the_product_on_it() -> None:
    cutout = np.zeros((300, 200, 4), np.uint8)
    cutout[50:250, 50:150] = (200, 30, 30, 255)  # a red box
    theme = load_theme("default")
    backgrounds = {f"backgrounds/default/SKU-C/{SHA}_{i}.jpg":
                   encode_jpeg(render_background(theme, i, (800, 800))) for i in range(2)}
    objects = {f"cutouts/SKU-C/{SHA}.png": encode_png(cutout), **backgrounds}
    job = Job(sku="SKU-C", theme="default", image_url="https://x/a.jpg", img_sha256=SHA,
              status=JobStatus.BACKGROUND_READY, s3_cutout_key=f"cutouts/SKU-C/{SHA}.png",
              s3_background_keys=list(backgrounds))
    ctx = StageContext(WorkerSettings(), MemoryBlobs(objects), INVALID_SPAN, "t")
    result = await composites(job, ctx)

    keys = [f"composites/default/SKU-C/{SHA}_{i}.jpg" for i in (0, 1)]
    assert result.changes == {"s3_composite_keys": keys}
    image = np.asarray(Image.open(io.BytesIO(result.artefacts[keys[0]])).convert("RGB"))
    assert image.shape == (800, 800, 3)
    red = (image[..., 0] > 150) & (image[..., 1] < 90) & (image[..., 2] < 90)
    assert red.sum() > 5000, "the product is on the background"
