"""Array aliases shared by every image stage."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

RGB = npt.NDArray[np.uint8]
"""``HxWx3`` uint8 sRGB pixels."""

RGBA = npt.NDArray[np.uint8]
"""``HxWx4`` uint8 sRGB pixels with straight (not premultiplied) alpha."""

Mask = npt.NDArray[np.uint8]
"""``HxW`` uint8 alpha, 0 = background, 255 = product, soft values on edges."""

FloatImage = npt.NDArray[np.float32]
"""Float32 pixels, usually linear light in ``[0, 1]``."""


def as_float32(array: object) -> FloatImage:
    """View OpenCV's loosely typed results as float32 (no copy when they already are)."""
    return np.asarray(array, dtype=np.float32)
