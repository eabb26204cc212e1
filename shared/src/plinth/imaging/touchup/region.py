"""The region a re-cut works on, and how its answer is merged back into the whole mask.

A re-cut (GrabCut or the learned model) only sees a crop around what the person marked, grown by
a margin so the method has context (background to learn from, the product's shape). Its answer
replaces the mask inside the crop only; towards the crop's edges it is blended into the old mask
over a feather band, so a product that crosses the crop's edge shows no seam. Where the crop
touches the photo's own edge there is nothing to blend with, and no feather.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from plinth.imaging.touchup.model import SeedPoint, Stroke

Mask = npt.NDArray[np.uint8]


@dataclass(frozen=True)
class Box:
    """A rectangle of the image, ``x1``/``y1`` exclusive."""

    x0: int
    y0: int
    x1: int
    y1: int

    @property
    def width(self) -> int:
        return self.x1 - self.x0

    @property
    def height(self) -> int:
        return self.y1 - self.y0

    def slices(self) -> tuple[slice, slice]:
        return slice(self.y0, self.y1), slice(self.x0, self.x1)


def marked_box(strokes: Iterable[Stroke], points: Iterable[SeedPoint], width: int, height: int,
               *, margin_share: float, min_margin: int, min_side: int) -> Box:
    """The crop around every stroke (with its brush) and point, grown on each side by
    ``max(min_margin, margin_share x its longer side)`` and to at least ``min_side`` per side
    (both within the image)."""
    xs: list[float] = []
    ys: list[float] = []
    for stroke in strokes:
        half = stroke.size / 2
        for x, y in stroke.points:
            xs += [x - half, x + half]
            ys += [y - half, y + half]
    for point in points:
        xs.append(point.x)
        ys.append(point.y)
    if not xs:
        return Box(0, 0, width, height)
    left, right, top, bottom = min(xs), max(xs), min(ys), max(ys)
    margin = max(min_margin, margin_share * max(right - left, bottom - top))
    x0, x1 = _grown(left - margin, right + margin, min_side, width)
    y0, y1 = _grown(top - margin, bottom + margin, min_side, height)
    return Box(x0, y0, x1, y1)


def _grown(low: float, high: float, min_side: int, limit: int) -> tuple[int, int]:
    start, end = max(0, int(np.floor(low))), min(limit, int(np.ceil(high)) + 1)
    short = min(min_side, limit) - (end - start)
    if short > 0:  # widen evenly, then push off the image's edge
        start -= short // 2
        end += short - short // 2
        if start < 0:
            end, start = end - start, 0
        if end > limit:
            start, end = max(0, start - (end - limit)), limit
    return start, end


def feather_weights(box: Box, width: int, height: int, feather: int) -> npt.NDArray[np.float32]:
    """How much of the re-cut's answer to take at each pixel of ``box``: 1 inside, falling
    linearly to 0 over ``feather`` pixels towards each crop edge that is not the image's."""
    def ramp(length: int, at_start: bool, at_end: bool) -> npt.NDArray[np.float32]:
        idx = np.arange(length, dtype=np.float32)
        weight = np.ones(length, np.float32)
        if feather > 0:
            if not at_start:
                weight = np.minimum(weight, (idx + 0.5) / feather)
            if not at_end:
                weight = np.minimum(weight, (length - idx - 0.5) / feather)
        return np.clip(weight, 0.0, 1.0)

    rows = ramp(box.height, box.y0 == 0, box.y1 == height)
    cols = ramp(box.width, box.x0 == 0, box.x1 == width)
    out: npt.NDArray[np.float32] = np.minimum(rows[:, None], cols[None, :])
    return out


def merge(mask: Mask, answer: Mask, box: Box, feather: int) -> Mask:
    """A copy of ``mask`` with ``answer`` (the re-cut of ``box``) blended in over ``box``."""
    height, width = mask.shape[:2]
    if answer.shape != (box.height, box.width):
        raise ValueError(f"answer is {answer.shape}, the box {box.height}x{box.width}")
    out = np.array(mask, np.uint8, copy=True)
    rows, cols = box.slices()
    weight = feather_weights(box, width, height, feather)
    old = out[rows, cols].astype(np.float32)
    blended = old + weight * (answer.astype(np.float32) - old)
    out[rows, cols] = np.clip(blended + 0.5, 0, 255).astype(np.uint8)
    return out
