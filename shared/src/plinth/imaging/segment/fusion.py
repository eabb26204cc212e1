"""Fusing the learned mask with the backdrop model on studio photos.

The two segmenters fail in opposite places. The learned model knows what an object is, but on a
plain backdrop it can leave a near-white product (a white shirt on white) partly transparent.
The backdrop model (the ``local`` provider's classification, :mod:`.coarse`) knows exactly
which pixels differ from a plain backdrop, but keeps whatever is not backdrop: a table, a sheet
of paper, a reflection. So the fusion is small:

1. **Gate: a plain, light backdrop.** Only when the fitted backdrop explains at least
   ``min_backdrop_fit`` of the frame's border band, leaves a residual noise of at most
   ``max_backdrop_noise`` there (a scene's border is explained only loosely, a studio sweep's
   closely) and is at least ``min_backdrop_lightness`` light (the backdrop model is built for
   white to light-grey studio backdrops; on a dark one a glow or a rim light reads as product
   to it). On any other photo the learned map is used alone.
2. **Fill what both call product.** Each connected region the backdrop model calls product is
   kept only where the learned model already covers at least ``min_overlap`` of it: a region the
   learned model does not recognise as part of the object (a table, a shadow, a prop) is never
   added. Inside a kept region, pixels at least ``edge_margin`` working pixels from its outline
   and where the learned map gives at least ``min_support`` are made opaque, so a faint, partly
   transparent body becomes solid; the outline itself stays the learned model's, whose edges
   are finer, and what the model sees as clear floor (a shadow or a reflection the backdrop
   model joined to the product) is never filled.

3. **Hand over to the backdrop model** when the learned model has missed the product: it found
   nothing, or it covers less than ``min_coverage`` of what the backdrop model calls product
   while the part it misses stands out clearly from the backdrop (median relative colour
   difference at least ``distinct_contrast``). A clearly visible object on a plain studio
   backdrop is the product; a faint region (a sheet of paper a shade off the backdrop, glare,
   a soft shadow) is not a reason to overrule the model.

4. **A second look where they disagree.** When the support floor of rule 2 refuses a sizeable
   share (``second_look_share``) of the regions being filled, the two models disagree about a
   part of the object (typically a near-white sole or rim the model reads as floor, or a
   reflection the backdrop model joined to the product). The learned model's answer there is
   often unstable rather than certain: the same network on the mirrored photo may see the part
   (measured on synthetic shoes: 3 of 4 white soles the first look missed). So the model looks
   again at the mirrored photo and, where that look calls a pixel object (>= 0.5), rule 2 runs
   on the mean of the two looks if it is higher than the first (test-time augmentation, only
   where it can matter; it costs one more inference on those photos only). A trace of support
   is not enough: on floor reflections the mirrored look gave 0.25-0.3 (never 0.5; with the mean
   alone 2 of 17 reflections were filled), on the soles it found 0.5-1. A part the second look
   does not call object stays as the first look left it.

Otherwise nothing is removed from the learned map, so the fused mask covers at least what the
model alone covers, and the backdrop model only adds where the two agree on the object.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import cv2
import numpy as np
import numpy.typing as npt

F32 = npt.NDArray[np.float32]
BoolMap = npt.NDArray[np.bool_]
Decision = Literal["learned", "filled", "backdrop"]


@dataclass(frozen=True)
class FusionOptions:
    min_backdrop_fit: float = 0.8
    """Share of the border band the backdrop model must explain for the photo to count as a
    studio photo on a plain backdrop."""
    max_backdrop_noise: float = 0.08
    """Largest robust residual (relative to the backdrop's light) of a plain backdrop: studio
    sweeps, papers and textures measure 0.00-0.07, scenes 0.1-1."""
    min_backdrop_lightness: float = 0.5
    """Least mean sRGB value (0..1) of the backdrop for the backdrop model to be trusted."""
    min_overlap: float = 0.5
    """A backdrop-model region is filled only where the learned map already covers this share."""
    edge_margin: int = 3
    """Working pixels inside a region's outline that are left to the learned map's edge."""
    min_support: float = 0.05
    """Pixels the learned map puts below this are never filled: a shadow or a floor reflection
    the backdrop model joined to the product stays out (so does a part the model dropped
    entirely, such as a white sole: measured, filling those added more reflections than it
    mended soles)."""
    min_coverage: float = 0.6
    """Below this share of the backdrop model's product covered by the learned mask, and ..."""
    distinct_contrast: float = 0.4
    """... with the missed part this distinct from the backdrop, the backdrop model takes over."""
    second_look_share: float = 0.02
    """Rule 4: when the support floor refuses at least this share of the regions being filled
    (inside their outline, so not edge jitter: the two models really disagree there), the
    learned model looks again at the mirrored photo; 0 < share, 1.0 or more turns it off."""


@dataclass(frozen=True)
class BackdropView:
    """What the backdrop model says about a photo, at the learned map's working size."""

    product: BoolMap
    """Pixels that differ from the backdrop and are not its shadow."""
    contrast: F32
    """Per-pixel colour difference from the modelled backdrop, relative to its luminance."""
    fit: float
    """Share of the frame's border band the backdrop explains."""
    noise: float
    """Robust residual of the backdrop fit on the border."""
    lightness: float
    """Mean sRGB value (0..1) of the backdrop at the frame's centre."""


@dataclass(frozen=True)
class Fused:
    probability: F32
    decision: Decision
    plain_backdrop: bool
    agreement: float | None
    """IoU of the two masks when the backdrop is plain, else ``None``."""
    filled_share: float
    """Share of the frame the fill made more opaque (0 when nothing changed)."""
    second_look: bool = False
    """Whether rule 4 looked again (a second inference, on the mirrored photo)."""


def plain_backdrop(backdrop: BackdropView, options: FusionOptions) -> bool:
    """Whether the photo is a studio photo on a plain, light backdrop (rule 1)."""
    return is_plain_backdrop(backdrop.fit, backdrop.noise, backdrop.lightness, options)


def is_plain_backdrop(fit: float, noise: float, lightness: float, options: FusionOptions
                      ) -> bool:
    """Rule 1 on the backdrop fit's own figures (asked before its pixels are classified)."""
    return (fit >= options.min_backdrop_fit
            and noise <= options.max_backdrop_noise
            and lightness >= options.min_backdrop_lightness)


def fuse(learned: F32, backdrop: BackdropView, options: FusionOptions,
         second_look: Callable[[], F32] | None = None) -> Fused:
    """Fuse ``learned`` (0..1) with the backdrop model's view; see the module docstring.

    ``second_look``, when given, returns the learned model's map of the mirrored photo
    (mirrored back), for rule 4; it is called at most once, and only when that rule applies.
    """
    if not plain_backdrop(backdrop, options):
        return Fused(learned, "learned", False, None, 0.0)
    solid = learned >= 0.5
    product = backdrop.product
    both = np.logical_and(solid, product)
    union = np.logical_or(solid, product).sum()
    agreement = float(both.sum() / union) if union else 1.0
    if _learned_missed_the_product(solid, product, both, backdrop.contrast, options):
        return Fused(product.astype(np.float32), "backdrop", True, agreement, 0.0)

    count, labels = cv2.connectedComponents(product.astype(np.uint8), connectivity=8)
    if count <= 1:
        return Fused(learned, "learned", True, agreement, 0.0)
    sizes = np.bincount(labels.ravel(), minlength=count)
    covered = np.bincount(labels.ravel(), weights=solid.ravel(), minlength=count)
    keep = covered >= options.min_overlap * np.maximum(sizes, 1)
    keep[0] = False
    kept = keep[labels]
    if options.edge_margin > 0:
        side = 2 * options.edge_margin + 1
        kernel = np.ones((side, side), np.uint8)
        kept = cv2.erode(kept.astype(np.uint8), kernel, borderType=cv2.BORDER_REPLICATE) > 0
    refused = kept & (learned < options.min_support)
    looked_again = False
    if (second_look is not None and kept.any()
            and refused.sum() >= options.second_look_share * kept.sum()):
        # Rule 4: the two models disagree over a part of the object; look again with the
        # mirrored photo. Where that look calls a pixel object (>= 0.5) the mean of both looks
        # is used if higher (test-time augmentation); a mere trace of support is not enough.
        second = second_look()
        mean = (learned + second) * np.float32(0.5)
        learned = np.where(second >= 0.5, np.maximum(learned, mean), learned).astype(np.float32)
        looked_again = True
    kept &= learned >= options.min_support
    fused = np.where(kept, np.float32(1.0), learned).astype(np.float32)
    filled = float((fused - learned > 0.1).mean())
    return Fused(fused, "filled" if filled > 0 else "learned", True, agreement, filled,
                 looked_again)


def _learned_missed_the_product(solid: BoolMap, product: BoolMap, both: BoolMap, contrast: F32,
                                options: FusionOptions) -> bool:
    """Rule 3: nothing found, or a clearly visible part of the product left out."""
    product_pixels = int(product.sum())
    if product_pixels == 0:
        return False
    if not solid.any():
        return True
    if both.sum() >= options.min_coverage * product_pixels:
        return False
    missed = product & ~solid
    return float(np.median(contrast[missed])) >= options.distinct_contrast
