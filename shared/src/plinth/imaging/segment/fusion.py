"""Fusing the learned mask with the backdrop model on studio photos.

The two segmenters fail in opposite places. The learned model knows what an object is, but on a
plain backdrop it can leave a near-white product (a white shirt on white) partly transparent.
The backdrop model (the ``local`` provider's classification, :mod:`.coarse`) knows exactly
which pixels differ from a plain backdrop, but keeps whatever is not backdrop: a table, a sheet
of paper, a reflection. So the fusion is small:

1. **Gate: a plain, light backdrop.** Only when the fitted backdrop explains at least
   ``min_backdrop_fit`` of the frame's border band and is at least ``min_backdrop_lightness``
   light (the backdrop model is built for white to light-grey studio backdrops; on a dark one
   a glow or a rim light reads as product to it). On any other photo the learned map is used
   alone.
2. **Fill what both call product.** Each connected region the backdrop model calls product is
   kept only where the learned model already covers at least ``min_overlap`` of it: a region the
   learned model does not recognise as part of the object (a table, a shadow, a prop) is never
   added. Inside a kept region, pixels at least ``edge_margin`` working pixels from its outline
   are made opaque, so a faint, partly transparent body (or a white sole the model dropped)
   becomes solid; the outline itself stays the learned model's, whose edges are finer.

Nothing is ever removed from the learned map, so the fused mask covers at least what the model
alone covers, and the backdrop model only adds where the two agree on the object.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
import numpy.typing as npt

F32 = npt.NDArray[np.float32]
BoolMap = npt.NDArray[np.bool_]


@dataclass(frozen=True)
class FusionOptions:
    min_backdrop_fit: float = 0.9
    """Share of the border band the backdrop model must explain for the photo to count as a
    studio photo on a plain backdrop."""
    min_backdrop_lightness: float = 0.5
    """Least mean sRGB value (0..1) of the backdrop for the backdrop model to be trusted."""
    min_overlap: float = 0.5
    """A backdrop-model region is used only where the learned map already covers this share."""
    edge_margin: int = 3
    """Working pixels inside a region's outline that are left to the learned map's edge."""


@dataclass(frozen=True)
class Fused:
    probability: F32
    plain_backdrop: bool
    agreement: float | None
    """IoU of the two masks when the backdrop is plain, else ``None``."""
    filled_share: float
    """Share of the frame the fill made more opaque (0 when nothing changed)."""


def fuse(learned: F32, backdrop_product: BoolMap, backdrop_fit: float,
         backdrop_lightness: float, options: FusionOptions) -> Fused:
    """Fuse ``learned`` (0..1) with ``backdrop_product`` (same size); see the module docstring."""
    if (backdrop_fit < options.min_backdrop_fit
            or backdrop_lightness < options.min_backdrop_lightness):
        return Fused(learned, False, None, 0.0)
    solid = learned >= 0.5
    union = np.logical_or(solid, backdrop_product).sum()
    agreement = float(np.logical_and(solid, backdrop_product).sum() / union) if union else 1.0

    count, labels = cv2.connectedComponents(backdrop_product.astype(np.uint8), connectivity=8)
    if count <= 1:
        return Fused(learned, True, agreement, 0.0)
    sizes = np.bincount(labels.ravel(), minlength=count)
    covered = np.bincount(labels.ravel(), weights=solid.ravel(), minlength=count)
    keep = covered >= options.min_overlap * np.maximum(sizes, 1)
    keep[0] = False
    kept = keep[labels]
    if options.edge_margin > 0:
        side = 2 * options.edge_margin + 1
        kernel = np.ones((side, side), np.uint8)
        kept = cv2.erode(kept.astype(np.uint8), kernel, borderType=cv2.BORDER_REPLICATE) > 0
    fused = np.where(kept, np.float32(1.0), learned).astype(np.float32)
    filled = float((fused - learned > 0.1).mean())
    return Fused(fused, True, agreement, filled)
