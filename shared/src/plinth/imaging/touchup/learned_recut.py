"""Learned re-cut: the salient-object model run again on the crop around the person's clicks.

On a whole photo the model spreads its input size over everything; on a crop around the region
the person clicked it sees that region at several times the detail, and what is salient there
(a handle, a strap, a cap the whole-photo pass missed) comes out.

1. **Crop** (:mod:`.region`): the points and strokes with a generous margin (the model needs to
   see the object's shape), at least ``min_side`` pixels a side.
2. **Infer and refine**: :class:`plinth.imaging.segment.learned.LearnedSegmenter` on the crop,
   without backdrop fusion (the crop is not a studio frame), so its answer is a full-resolution
   alpha with the crop's own edges.
3. **Edit**: the clicks say what to change, and nothing else changes. A positive click adds the
   region of the answer it is on (with its soft rim) to the mask. A negative click on a region
   of the answer takes that region out; on a region only the old mask calls product (a shadow,
   a piece of backdrop) it takes that region out down to the answer's edge. Without clicks,
   the points of ``add``/``remove`` strokes count as positive/negative clicks.
4. **Merge** (:mod:`.region`): the edited crop goes back into the mask, feathered into the old
   mask at the crop's edges; the strokes are painted on last, exactly as drawn.

The model comes through the :class:`~plinth.imaging.segment.saliency.SaliencyModel` port.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np
import numpy.typing as npt

from plinth.imaging.errors import SegmentationError
from plinth.imaging.segment.learned import LearnedOptions, LearnedSegmenter
from plinth.imaging.segment.saliency import SaliencyModel
from plinth.imaging.touchup.model import SeedPoint, Stroke, TouchUpError
from plinth.imaging.touchup.region import Box, marked_box, merge
from plinth.imaging.touchup.strokes import paint

Mask = npt.NDArray[np.uint8]
RGB = npt.NDArray[np.uint8]


@dataclass(frozen=True)
class LearnedRecutOptions:
    margin_share: float = 0.6
    """The crop extends this share of the marks' extent beyond them on each side..."""
    min_margin: int = 64
    """...and at least this many original pixels."""
    min_side: int = 400
    """Smallest crop side, in original pixels (the model needs the object's context)."""
    feather: int = 16
    """Original pixels over which the answer blends into the old mask at the crop's edges."""
    point_reach: int = 3
    """A point selects a region it lies within this many pixels of (a click on the outline)."""


def learned_recut(rgb: RGB, mask: Mask, strokes: Sequence[Stroke], points: Sequence[SeedPoint],
                  model: SaliencyModel, options: LearnedRecutOptions | None = None) -> Mask:
    """``mask`` with the crop around ``points``/``strokes`` re-cut by ``model`` (a new array)."""
    options = options or LearnedRecutOptions()
    height, width = mask.shape[:2]
    box = marked_box(strokes, points, width, height, margin_share=options.margin_share,
                     min_margin=options.min_margin, min_side=options.min_side)
    clicks = list(points) or [SeedPoint(x, y, stroke.mode == "add")
                              for stroke in strokes for x, y in stroke.points]
    rows, cols = box.slices()
    answer = _infer(rgb, box, model, clicks)
    edited = _edit(mask[rows, cols], answer, box, clicks, options.point_reach)
    merged = merge(mask, edited, box, options.feather)
    return paint(merged, strokes)


def _infer(rgb: RGB, box: Box, model: SaliencyModel, points: Sequence[SeedPoint]) -> Mask:
    rows, cols = box.slices()
    crop = np.ascontiguousarray(rgb[rows, cols])
    if min(crop.shape[:2]) < 4:
        raise TouchUpError("the region to re-cut is too small")
    try:
        result = LearnedSegmenter(model, LearnedOptions(fusion=None)).segment(crop)
    except SegmentationError as exc:
        if any(point.positive for point in points):
            raise TouchUpError(
                f"the model found no product around the clicked points ({exc.message})") from exc
        return np.zeros(crop.shape[:2], np.uint8)  # only background was clicked: so it is
    return np.ascontiguousarray(result.mask)


def _edit(old: Mask, answer: Mask, box: Box, points: Sequence[SeedPoint], reach: int) -> Mask:
    """The crop of the mask with what the clicks ask of the model's answer (step 3)."""
    height, width = old.shape
    model_says = answer >= 128
    mask_says = old >= 128
    product_labels = _components(model_says)
    extra_labels = _components(mask_says & ~model_says)

    def at(labels: npt.NDArray[np.int32], point: SeedPoint) -> set[int]:
        x, y = int(point.x) - box.x0, int(point.y) - box.y0
        window = labels[max(0, y - reach):min(height, y + reach + 1),
                        max(0, x - reach):min(width, x + reach + 1)]
        return {int(v) for v in np.unique(window) if v != 0}

    out = old.copy()
    added = False
    for point in points:
        if point.positive:
            found = at(product_labels, point)
            added |= bool(found)
            region = _with_rim(np.isin(product_labels, sorted(found)), answer)
            out[region] = np.maximum(out[region], answer[region])
        else:
            # what the model calls product there, or else what only the old mask does
            found = at(product_labels, point)
            labels = product_labels
            if not found:
                found, labels = at(extra_labels, point), extra_labels
            region = _with_rim(np.isin(labels, sorted(found)), answer)
            if labels is product_labels:
                out[region] = np.minimum(out[region], 255 - answer[region])
            else:
                out[region] = np.minimum(out[region], answer[region])
    if any(point.positive for point in points) and not added:
        raise TouchUpError("the model found no product at the clicked points: click on the "
                           "product, or paint it in")
    return out


def _components(region: npt.NDArray[np.bool_]) -> npt.NDArray[np.int32]:
    """Each 8-connected part of ``region`` numbered from 1 (0 outside it)."""
    _, labels = cv2.connectedComponents(region.astype(np.uint8), connectivity=8)
    return np.asarray(labels, np.int32)


def _with_rim(region: npt.NDArray[np.bool_], answer: Mask) -> npt.NDArray[np.bool_]:
    """``region`` and the partly transparent pixels of ``answer`` along its outline."""
    if not region.any():
        return region
    near = cv2.dilate(region.astype(np.uint8), np.ones((5, 5), np.uint8)) > 0
    rim: npt.NDArray[np.bool_] = region | (near & (answer > 0) & (answer < 128))
    return rim
