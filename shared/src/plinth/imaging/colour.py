"""sRGB <-> linear-light conversions through lookup tables.

Blending, shadows and resampling happen in linear light (physically additive), storage in sRGB.
A 256-entry table decodes; a 16384-entry table encodes, fine enough that the darkest sRGB steps
(where the curve is steepest) land within a fifth of a level.
"""

from __future__ import annotations

import cv2
import numpy as np

from plinth.imaging.types import RGB, FloatImage, as_float32

_ENCODE_STEPS = 16384


def _srgb_to_linear_exact(v: np.ndarray) -> np.ndarray:
    return np.where(v <= 0.04045, v / 12.92, ((v + 0.055) / 1.055) ** 2.4)


def _linear_to_srgb_exact(v: np.ndarray) -> np.ndarray:
    return np.where(v <= 0.0031308, v * 12.92, 1.055 * np.power(v, 1 / 2.4) - 0.055)


SRGB_TO_LINEAR = _srgb_to_linear_exact(np.arange(256, dtype=np.float64) / 255.0).astype(np.float32)
_LINEAR_TO_SRGB8 = np.clip(
    np.round(_linear_to_srgb_exact(np.linspace(0.0, 1.0, _ENCODE_STEPS)) * 255.0), 0, 255
).astype(np.uint8)


def to_linear(srgb: RGB) -> FloatImage:
    """uint8 sRGB -> float32 linear light in [0, 1] (any shape)."""
    if srgb.ndim in (2, 3) and (srgb.ndim == 2 or srgb.shape[2] <= 4):
        # OpenCV's LUT keeps the table's depth: a SIMD uint8 -> float32 lookup, ~6x numpy's.
        out = as_float32(cv2.LUT(srgb, SRGB_TO_LINEAR))
        return out
    gathered: FloatImage = SRGB_TO_LINEAR[srgb]
    return gathered


def to_srgb8(linear: FloatImage) -> RGB:
    """float linear light (clipped to [0, 1]) -> uint8 sRGB (any shape)."""
    idx = linear * np.float32(_ENCODE_STEPS - 1)
    np.clip(idx, 0.0, np.float32(_ENCODE_STEPS - 1), out=idx)
    idx += np.float32(0.5)
    out: RGB = _LINEAR_TO_SRGB8[idx.astype(np.uint16)]
    return out


_ENCODE_GAIN = 1.055 * 255.0
_ENCODE_OFFSET = -0.055 * 255.0
_ENCODE_LINEAR_GAIN = 12.92 * 255.0
_ENCODE_LINEAR_TOP = 10
"""The highest 8-bit level of the curve's linear toe (12.92 * 0.0031308 * 255 = 10.3)."""


def to_srgb8_consuming(linear: FloatImage) -> RGB:
    """``to_srgb8`` for a float32 array the caller is done with: it is overwritten.

    Computes the curve with OpenCV's SIMD ``pow`` instead of gathering from the 16384-entry
    table (a random-access gather numpy cannot vectorise): ~10-25% less CPU for the composite's
    region. Within 1 level of ``to_srgb8`` everywhere and closer to the exact curve (the toe is
    taken as the larger of the two branches capped at the toe's top level: the power branch lies
    below the line 12.92 x everywhere, so below the toe the line wins and above it the cap does
    not reach the power branch's values).
    """
    if linear.dtype != np.float32 or not linear.flags.c_contiguous or not linear.flags.writeable:
        return to_srgb8(linear)
    shape = linear.shape
    x = linear.reshape(shape[0] if linear.ndim > 1 else 1, -1)
    np.maximum(x, np.float32(0.0), out=x)  # pow takes |x|: negatives must be 0 first
    toe = cv2.convertScaleAbs(x, alpha=_ENCODE_LINEAR_GAIN)  # x >= 0: abs is a no-op
    np.minimum(toe, np.uint8(_ENCODE_LINEAR_TOP), out=toe)
    cv2.pow(x, 1 / 2.4, dst=x)
    out = cv2.addWeighted(x, _ENCODE_GAIN, x, 0.0, _ENCODE_OFFSET, dtype=cv2.CV_8U)
    cv2.max(out, toe, dst=out)
    srgb: RGB = np.asarray(out, np.uint8).reshape(shape)
    return srgb
