"""The photos of the browser tests, without the stack: under each segment provider the clean
studio photo is over the default review threshold and the hard one
(``plinth_testkit.photos.mug_on_gingham``, which ``make demo`` sends too) under it, and the brush
plan the browser test draws fixes the hard one's cut-out."""

from __future__ import annotations

import io
from typing import Any

import numpy as np
import pytest
from hard_photo import brush_plan, iou
from harness import sample_photos
from PIL import Image

from plinth.imaging.errors import SegmentationError
from plinth.imaging.segment import get_provider
from plinth.imaging.touchup import Stroke, paint
from plinth.models.segmenters import SegmenterConfig, build_segmenter
from plinth_derive.review import DEFAULT_REVIEW_THRESHOLD
from plinth_testkit.photos import mug_on_gingham


@pytest.fixture(scope="module", params=["local", "learned"])
def provider(request: pytest.FixtureRequest) -> Any:
    """Each provider ``auto`` can pick: the learned model when installed, else local."""
    if request.param == "local":
        return get_provider("local")
    try:
        return build_segmenter(SegmenterConfig(provider="learned"))
    except SegmentationError as exc:
        pytest.skip(f"the learned model is not installed: {exc}")


def pixels(jpeg: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(jpeg)).convert("RGB"))


def test_the_clean_studio_photo_is_over_the_threshold(provider: Any) -> None:
    result = provider.segment(pixels(sample_photos(1, first_seed=300)[0]))
    assert result.meta["confidence"] >= DEFAULT_REVIEW_THRESHOLD, result.meta


def test_the_hard_photo_is_under_the_threshold_and_the_brush_fixes_it(provider: Any) -> None:
    hard = mug_on_gingham()
    assert mug_on_gingham().jpeg == hard.jpeg, "the photo is drawn the same every time"
    result = provider.segment(pixels(hard.jpeg))
    assert result.meta["confidence"] < DEFAULT_REVIEW_THRESHOLD, result.meta
    before = iou(result.mask, hard.truth)
    assert before < 0.9, before
    plan = brush_plan(hard, round(max(hard.size) * 0.1))
    touched = paint(result.mask, [Stroke(mode=mode, size=size, points=tuple(points))
                                  for mode, size, points in plan])
    after = iou(touched, hard.truth)
    assert after >= before + 0.15 and after > 0.85, (before, after)
