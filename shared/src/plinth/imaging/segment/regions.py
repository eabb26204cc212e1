"""Measures of a boolean region shared by the fusion rules and the translucency reading."""

from __future__ import annotations

import cv2
import numpy as np
import numpy.typing as npt


def depth(region: npt.NDArray[np.bool_]) -> npt.NDArray[np.float32]:
    """Each pixel's distance (in pixels) from the outside of ``region``: 0 outside it. The
    distance from a mask is the depth of its complement."""
    return np.asarray(cv2.distanceTransform(region.astype(np.uint8), cv2.DIST_L2, 3), np.float32)
