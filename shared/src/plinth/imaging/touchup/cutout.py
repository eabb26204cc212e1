"""The cut-out recomputed from the original photo and a (touched-up) mask.

The alpha is the mask exactly. The colours are the photo's, with the edge pixels unmixed from
the old backdrop (:func:`plinth.imaging.segment.decontaminate.decontaminate_edges`, with the
product and backdrop colours sampled either side of the mask's outline at a working size), and
black where the mask is fully transparent, as every provider's cut-out is.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
import numpy.typing as npt

from plinth.imaging.segment.decontaminate import (
    clear_transparent,
    decontaminate_edges,
    neighbourhood_colours,
)
from plinth.imaging.touchup.model import TouchUpError

Mask = npt.NDArray[np.uint8]
RGB = npt.NDArray[np.uint8]
RGBA = npt.NDArray[np.uint8]


@dataclass(frozen=True)
class CutoutOptions:
    decontaminate_side: int = 512
    """Long side of the neighbourhood colours used to unmix edge pixels (as the providers)."""


def recompose_cutout(rgb: RGB, mask: Mask, options: CutoutOptions | None = None) -> RGBA:
    """The ``HxWx4`` cut-out of ``rgb`` under ``mask`` (same height and width)."""
    options = options or CutoutOptions()
    if rgb.shape[:2] != mask.shape[:2]:
        raise TouchUpError(f"the mask is {mask.shape[1]}x{mask.shape[0]}, the photo "
                           f"{rgb.shape[1]}x{rgb.shape[0]}")
    rgba: RGBA = np.dstack([rgb, mask]).astype(np.uint8)
    clear_transparent(rgba)
    height, width = mask.shape
    scale = min(1.0, options.decontaminate_side / max(height, width))
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    colours = cv2.resize(rgb, size, interpolation=cv2.INTER_AREA).astype(np.float32) / 255.0
    product = cv2.resize(mask, size, interpolation=cv2.INTER_AREA) >= 128
    if product.any() and not product.all():
        inside, outside = neighbourhood_colours(colours, product)
        decontaminate_edges(rgba, inside, outside)
    return rgba
