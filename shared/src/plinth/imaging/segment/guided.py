"""Colour guided filter, used to lift a working-resolution mask to full resolution.

The filter's linear coefficients are computed at working resolution and interpolated to full
resolution ("fast guided filter", He & Sun 2015), so the soft alpha follows the full-resolution
edges of the photo while the heavy work stays small. Full resolution is processed in strips of
rows so a 24 MP photo never needs full-size float planes.
"""

from __future__ import annotations

from collections.abc import Iterator

import cv2
import numpy as np
import numpy.typing as npt

F32 = npt.NDArray[np.float32]


def guided_coefficients(guide: F32, source: F32, radius: int, eps: float) -> F32:
    """Per-pixel ``(a_r, a_g, a_b, b)`` so that ``source ≈ a · guide + b`` locally, ``hxwx4``."""
    size = (2 * radius + 1, 2 * radius + 1)

    def box(x: F32) -> F32:
        return np.asarray(cv2.blur(x, size, borderType=cv2.BORDER_REFLECT), np.float32)

    mean_i = box(guide)
    mean_p = box(source)
    r, g, b = guide[..., 0], guide[..., 1], guide[..., 2]
    cov_ip = box(guide * source[..., None]) - mean_i * mean_p[..., None]
    mr, mg, mb = mean_i[..., 0], mean_i[..., 1], mean_i[..., 2]
    srr = box(r * r) - mr * mr + eps
    srg = box(r * g) - mr * mg
    srb = box(r * b) - mr * mb
    sgg = box(g * g) - mg * mg + eps
    sgb = box(g * b) - mg * mb
    sbb = box(b * b) - mb * mb + eps
    # Inverse of the symmetric 3x3 covariance by cofactors, vectorised over pixels.
    c_rr = sgg * sbb - sgb * sgb
    c_rg = sgb * srb - srg * sbb
    c_rb = srg * sgb - sgg * srb
    c_gg = srr * sbb - srb * srb
    c_gb = srb * srg - srr * sgb
    c_bb = srr * sgg - srg * srg
    det = srr * c_rr + srg * c_rg + srb * c_rb
    pr, pg, pb = cov_ip[..., 0], cov_ip[..., 1], cov_ip[..., 2]
    a_r = (c_rr * pr + c_rg * pg + c_rb * pb) / det
    a_g = (c_rg * pr + c_gg * pg + c_gb * pb) / det
    a_b = (c_rb * pr + c_gb * pg + c_bb * pb) / det
    offset = mean_p - a_r * mr - a_g * mg - a_b * mb
    coefficients = np.stack([a_r, a_g, a_b, offset], axis=-1).astype(np.float32)
    return box(coefficients)


def upsampled_strips(maps: F32, height: int, width: int, rows: int
                     ) -> Iterator[tuple[int, int, F32]]:
    """Bilinearly upsample ``maps`` (``hxwxC``) to ``height x width``, ``rows`` rows at a time.

    Yields ``(row0, row1, strip)``; pixel centres are aligned the way ``cv2.resize`` aligns them.
    """
    low_h = maps.shape[0]
    for row0 in range(0, height, rows):
        row1 = min(height, row0 + rows)
        ys = (np.arange(row0, row1, dtype=np.float32) + 0.5) * (low_h / height) - 0.5
        ys = np.clip(ys, 0, low_h - 1)
        y0 = np.floor(ys).astype(np.int64)
        y1 = np.minimum(y0 + 1, low_h - 1)
        wy = (ys - y0)[:, None, None]
        blended = maps[y0] * (1 - wy) + maps[y1] * wy
        strip = cv2.resize(blended, (width, row1 - row0), interpolation=cv2.INTER_LINEAR)
        if strip.ndim == 2:
            strip = strip[..., None]
        yield row0, row1, strip.astype(np.float32, copy=False)


def sample_bilinear(maps: F32, ys: npt.NDArray[np.intp], xs: npt.NDArray[np.intp],
                    height: int, width: int) -> F32:
    """Sample low-resolution ``maps`` at full-resolution pixel positions ``(ys, xs)``."""
    low_h, low_w = maps.shape[:2]
    fy = np.clip((ys + 0.5) * (low_h / height) - 0.5, 0, low_h - 1)
    fx = np.clip((xs + 0.5) * (low_w / width) - 0.5, 0, low_w - 1)
    y0 = np.floor(fy).astype(np.intp)
    x0 = np.floor(fx).astype(np.intp)
    y1 = np.minimum(y0 + 1, low_h - 1)
    x1 = np.minimum(x0 + 1, low_w - 1)
    wy = (fy - y0)[:, None].astype(np.float32)
    wx = (fx - x0)[:, None].astype(np.float32)
    top = maps[y0, x0] * (1 - wx) + maps[y0, x1] * wx
    bottom = maps[y1, x0] * (1 - wx) + maps[y1, x1] * wx
    return np.asarray(top * (1 - wy) + bottom * wy, np.float32)
