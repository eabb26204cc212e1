"""GrabCut re-cut of the region a person marked, seeded by the current mask and their marks.

1. **Crop** (:mod:`.region`): the strokes and points with a margin around them.
2. **Seed**: inside the crop, the current mask is the first guess (probably product where it is
   at least half opaque, probably background elsewhere), overruled near the marks: what lies
   within ``prior_reach`` of an ``add`` stroke or positive point is probably product (of a
   ``remove`` or negative one, background), and what the marks cover is certain.
3. **Cut**: ``cv2.grabCut`` (colour models of product and background, graph cut) at a working
   size, ``iterations`` rounds.
4. **Refine** (:mod:`plinth.imaging.segment.refine`): the hard answer is lifted to a soft
   full-resolution alpha by the guided filter with the crop itself as guide, so its edges land
   on the photo's edges; the strokes are then painted on exactly as drawn.
5. **Merge** (:mod:`.region`): the answer replaces the mask inside the crop, feathered into the
   old mask at the crop's edges.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import cv2
import numpy as np
import numpy.typing as npt

from plinth.imaging.segment.refine import RefineOptions, refined_cutout
from plinth.imaging.touchup.model import SeedPoint, Stroke, TouchUpError
from plinth.imaging.touchup.region import Box, marked_box, merge
from plinth.imaging.touchup.strokes import paint, seeds

Mask = npt.NDArray[np.uint8]
RGB = npt.NDArray[np.uint8]
BoolMap = npt.NDArray[np.bool_]


@dataclass(frozen=True)
class GrabCutOptions:
    iterations: int = 5
    """GrabCut rounds (each refits the colour models and recuts)."""
    work_side: int = 512
    """Long side the crop is cut at (GrabCut's time grows with the pixels; the guided filter
    restores the full-resolution edges)."""
    margin_share: float = 0.35
    """The crop extends this share of the marks' extent beyond them on each side..."""
    min_margin: int = 48
    """...and at least this many original pixels."""
    min_side: int = 256
    """Smallest crop side, in original pixels (GrabCut needs colour samples of both sides)."""
    point_radius: float = 6.0
    """A clicked point marks a disc of this radius (original pixels) as certain..."""
    prior_reach: float = 0.3
    """...and what lies within this share of the crop's shorter side of a mark as probably on
    the mark's side (GrabCut then trims it back to the edges it finds)."""
    feather: int = 12
    """Original pixels over which the answer blends into the old mask at the crop's edges."""
    refine: RefineOptions = field(default_factory=lambda: RefineOptions(radius=2, eps=1e-4))


def grabcut_recut(rgb: RGB, mask: Mask, strokes: Sequence[Stroke], points: Sequence[SeedPoint],
                  options: GrabCutOptions | None = None) -> Mask:
    """``mask`` re-cut by GrabCut around ``strokes`` and ``points`` (a new array)."""
    options = options or GrabCutOptions()
    height, width = mask.shape[:2]
    box = marked_box(strokes, points, width, height, margin_share=options.margin_share,
                     min_margin=options.min_margin, min_side=options.min_side)
    answer = _cut(rgb, mask, box, strokes, points, options)
    return merge(mask, answer, box, options.feather)


def _likely_around_marks(labels: Mask, product: BoolMap, backdrop: BoolMap,
                         options: GrabCutOptions) -> None:
    """A mark says more than what it covers: the region around it is probably on its side.
    Without this, where the old mask says otherwise, GrabCut would learn that region's colours
    as the other side's and undo the mark; with it, GrabCut only has to trim the region back to
    the edges it finds (what it does best)."""
    radius = max(1, round(options.prior_reach * min(labels.shape)))
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1, 2 * radius + 1))
    near_product = cv2.dilate(product.astype(np.uint8), kernel) > 0
    near_backdrop = cv2.dilate(backdrop.astype(np.uint8), kernel) > 0
    labels[near_product & ~near_backdrop] = cv2.GC_PR_FGD
    labels[near_backdrop & ~near_product] = cv2.GC_PR_BGD


def _cut(rgb: RGB, mask: Mask, box: Box, strokes: Sequence[Stroke],
         points: Sequence[SeedPoint], options: GrabCutOptions) -> Mask:
    rows, cols = box.slices()
    crop = np.ascontiguousarray(rgb[rows, cols])
    scale = min(1.0, options.work_side / max(box.width, box.height))
    size = (max(1, round(box.width * scale)), max(1, round(box.height * scale)))
    if scale < 1:
        small = np.asarray(cv2.resize(crop, size, interpolation=cv2.INTER_AREA), np.uint8)
        guess = cv2.resize(mask[rows, cols], size, interpolation=cv2.INTER_AREA) >= 128
    else:
        small, guess = crop, mask[rows, cols] >= 128
    product, backdrop = seeds((size[1], size[0]), strokes, points, options.point_radius,
                              origin=(box.x0, box.y0), scale=scale)
    labels = np.where(guess, cv2.GC_PR_FGD, cv2.GC_PR_BGD).astype(np.uint8)
    _likely_around_marks(labels, product, backdrop, options)
    labels[product] = cv2.GC_FGD
    labels[backdrop] = cv2.GC_BGD
    sure_or_likely_fg = (labels == cv2.GC_FGD) | (labels == cv2.GC_PR_FGD)
    if sure_or_likely_fg.all() or not sure_or_likely_fg.any():
        side = "background" if sure_or_likely_fg.all() else "product"
        raise TouchUpError(
            f"GrabCut needs both product and background in the region it cuts, and there is no "
            f"{side} around the marks: mark some {side} too, or paint instead")
    background_model = np.zeros((1, 65), np.float64)
    foreground_model = np.zeros((1, 65), np.float64)
    try:
        cv2.grabCut(small, labels, (0, 0, 0, 0), background_model, foreground_model,
                    options.iterations, cv2.GC_INIT_WITH_MASK)
    except cv2.error as exc:  # too few pixels of one side to fit its colour model
        raise TouchUpError(
            "GrabCut could not model the colours around the marks (too little product or "
            f"background in reach): mark more, or paint instead ({exc.err})") from exc
    cut = ((labels == cv2.GC_FGD) | (labels == cv2.GC_PR_FGD)).astype(np.float32)
    guide = small.astype(np.float32) / 255.0
    alpha = refined_cutout(crop, guide, cut, options.refine)[..., 3]
    # The marks are certain: paint them on as drawn (at full resolution, anti-aliased).
    local = [Stroke(s.mode, s.size, tuple((x - box.x0, y - box.y0) for x, y in s.points))
             for s in strokes]
    return paint(np.ascontiguousarray(alpha), local)
