"""``local`` background removal: no learned weights, built for studio product photos.

Pipeline: downscale to a working size (512 px long side); fit the backdrop's colour surface and
classify pixels as backdrop, shadow or product (:mod:`.coarse`); re-estimate alpha in a band
around the hard outline by unmixing the product and backdrop colours found either side of it
(:func:`.decontaminate.edge_alpha`); lift that working alpha to a soft full-size alpha with a
colour guided filter whose coefficients are upsampled strip by strip (:mod:`.refine`, shared
with the learned provider); undo the backdrop's colour on partly transparent pixels
(:mod:`.decontaminate`). Fully transparent pixels are black in the cutout.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace

import cv2
import numpy as np

from plinth.imaging.errors import SegmentationError
from plinth.imaging.segment.base import RGB, Segmentation
from plinth.imaging.segment.coarse import CoarseOptions, coarse_mask
from plinth.imaging.segment.confidence import confidence
from plinth.imaging.segment.decontaminate import (
    decontaminate_edges,
    edge_alpha,
    neighbourhood_colours,
)
from plinth.imaging.segment.jpeg_seams import looks_jpeg_compressed
from plinth.imaging.segment.refine import RefineOptions, refined_cutout

_JPEG_CHROMA_BLOCK = 16
"""Full-resolution pixels a JPEG chroma block spans (8x8 on chroma halved each way, 4:2:0)."""


@dataclass(frozen=True)
class LocalOptions:
    work_side: int = 512
    """Long side (pixels) of the working image the masks are computed on."""
    guided_radius: int = 2
    """Guided-filter window radius, in working pixels."""
    guided_eps: float = 1e-4
    """Guided-filter regulariser: lower follows weaker edges (near-white products)."""
    alpha_low: float = 0.08
    alpha_high: float = 0.92
    """Filter outputs below/above these become fully transparent/opaque (cleans the tails)."""
    edge_band: int = 3
    """Working pixels either side of the hard outline whose alpha is estimated from colour."""
    min_product_share: float = 0.0005
    """Less product than this share of the frame means nothing was found."""
    strip_rows: int = 256
    """Full-resolution rows processed at a time (bounds memory on 24 MP photos)."""
    coarse: CoarseOptions = field(default_factory=CoarseOptions)


class LocalSegmenter:
    """Background removal for products on plain, light studio backgrounds."""

    name = "local"

    def __init__(self, options: LocalOptions | None = None) -> None:
        self.options = options or LocalOptions()

    def segment(self, rgb: RGB) -> Segmentation:
        _check_input(rgb)
        options = self.options
        started = time.perf_counter()
        height, width = rgb.shape[:2]
        scale = min(1.0, options.work_side / max(height, width))
        work_w, work_h = max(1, round(width * scale)), max(1, round(height * scale))
        if scale < 1:
            small = np.asarray(
                cv2.resize(rgb, (work_w, work_h), interpolation=cv2.INTER_AREA), np.uint8)
        else:
            small = np.ascontiguousarray(rgb)

        coarse_options = options.coarse
        if looks_jpeg_compressed(rgb):
            coarse_options = replace(coarse_options, jpeg_block=_JPEG_CHROMA_BLOCK * scale)
        coarse = coarse_mask(small, coarse_options)
        product_share = float(coarse.product.mean())
        if product_share < options.min_product_share:
            raise SegmentationError(
                "no product found: the photo looks like plain background "
                f"(background colour {coarse.model.colour_srgb()})")
        if product_share > 0.995:
            raise SegmentationError(
                "no background found: the product fills the whole frame or the backdrop is "
                "not plain enough for the local provider")
        coarse_done = time.perf_counter()

        guide = small.astype(np.float32) / 255.0
        inside, outside = neighbourhood_colours(guide, coarse.product)
        working_alpha = edge_alpha(guide, coarse.product, inside, outside, options.edge_band)
        refine = RefineOptions(radius=options.guided_radius, eps=options.guided_eps,
                               alpha_low=options.alpha_low, alpha_high=options.alpha_high,
                               strip_rows=options.strip_rows)
        rgba = refined_cutout(rgb, guide, working_alpha, refine)
        alpha_done = time.perf_counter()

        decontaminate_edges(rgba, inside, outside)
        finished = time.perf_counter()

        mask = np.ascontiguousarray(rgba[..., 3])
        score, factors = confidence(working_alpha, None)
        meta = {
            "background_rgb": list(coarse.model.colour_srgb()),
            "working_size": [work_h, work_w],
            "product_share": round(product_share, 4),
            "shadow_share": round(coarse.shadow_share, 4),
            "confidence": score,
            "confidence_factors": factors,
            "timings_ms": {
                "coarse": round((coarse_done - started) * 1000, 1),
                "alpha": round((alpha_done - coarse_done) * 1000, 1),
                "decontaminate": round((finished - alpha_done) * 1000, 1),
            },
        }
        return Segmentation(cutout=rgba, mask=mask, provider=self.name, cost_usd=0.0, meta=meta)


def _check_input(rgb: RGB) -> None:
    if not isinstance(rgb, np.ndarray) or rgb.dtype != np.uint8:
        raise SegmentationError("local segmenter expects a uint8 numpy array")
    if rgb.ndim != 3 or rgb.shape[2] != 3:
        raise SegmentationError(f"local segmenter expects HxWx3 RGB pixels, got shape {rgb.shape}")
    if min(rgb.shape[:2]) < 4:
        raise SegmentationError(
            f"image is too small to segment ({rgb.shape[1]}x{rgb.shape[0]} pixels)")
