"""A full-resolution alpha from a low-resolution probability map: fast guided filtering.

A learned model answers at its input size (640-1024 px). Blowing that map up to a 4000 px photo
gives soft, blocky edges. Instead the map is treated as the filter input of a colour guided
filter whose guide is the photo itself ("fast guided filter", He & Sun 2015): the local linear
coefficients are fitted at working resolution, interpolated to full size, and applied to the
full-resolution pixels, so the alpha's edges land on the photo's real edges (hair, threads,
a bottle's rim) at every resolution. Full resolution is processed in strips of rows, so a 24 MP
photo never needs full-size float planes.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import cv2
import numpy as np
import numpy.typing as npt

from plinth.imaging.segment.guided import guided_coefficients, upsampled_strips

F32 = npt.NDArray[np.float32]
RGB = npt.NDArray[np.uint8]


@dataclass(frozen=True)
class RefineOptions:
    radius: int = 3
    """Guided-filter window radius, in working pixels (about 1/340 of the long side at 1024)."""
    eps: float = 1e-3
    """Regulariser: lower follows weaker colour edges, higher stays closer to the model's map."""
    alpha_low: float = 0.04
    alpha_high: float = 0.96
    """Filtered values below/above these become fully transparent/opaque (cleans the tails of
    the filter, while glass and other partly transparent products keep the values between)."""
    strip_rows: int = 256
    """Full-resolution rows processed at a time."""


def refined_alpha_strips(
    rgb: RGB, guide: F32, probability: F32, options: RefineOptions
) -> Iterator[tuple[int, int, npt.NDArray[np.uint8]]]:
    """Yield ``(row0, row1, alpha)`` strips of the full-resolution 8-bit alpha.

    ``guide`` is the photo at working size (sRGB 0..1, ``hxwx3``) and ``probability`` the
    model's answer at the same size.
    """
    height, width = rgb.shape[:2]
    coefficients = guided_coefficients(guide, probability, options.radius, options.eps)
    span = options.alpha_high - options.alpha_low
    # Fold the tail clean-up and the 8-bit scaling into the coefficients once, at working size,
    # so each full-resolution pixel costs three multiply-adds.
    # alpha = a·I + b with I in 0..1, so on 8-bit pixels a·I·255/span = (a/span)·I8.
    coefficients[..., :3] *= 1.0 / span
    coefficients[..., 3] = (coefficients[..., 3] - options.alpha_low) * (255.0 / span) + 0.5
    for row0, row1, coeff in upsampled_strips(coefficients, height, width, options.strip_rows):
        q = coeff[..., 3].copy()
        for channel in range(3):
            q += rgb[row0:row1, :, channel] * coeff[..., channel]
        np.clip(q, 0, 255, out=q)
        yield row0, row1, q.astype(np.uint8)


def refined_cutout(rgb: RGB, guide: F32, probability: F32,
                   options: RefineOptions) -> npt.NDArray[np.uint8]:
    """The full-resolution RGBA cut-out: the refined alpha, the photo's colours under it, and
    black where it is fully transparent, so nothing of the old backdrop can bleed back in when
    the cut-out is resized."""
    height, width = rgb.shape[:2]
    rgba = np.empty((height, width, 4), np.uint8)
    for row0, row1, alpha in refined_alpha_strips(rgb, guide, probability, options):
        rgba[row0:row1, :, 3] = alpha
        rows = rgb[row0:row1]
        rgba[row0:row1, :, :3] = cv2.bitwise_and(rows, rows, mask=alpha)
    return rgba
