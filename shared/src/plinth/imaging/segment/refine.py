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
from typing import Any

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
    """Full-resolution rows processed at a time (the every-pixel reference path)."""
    tile: int = 32
    """Side of the full-resolution tiles that are filled at once where the alpha is settled
    (solid product, clear backdrop) and computed pixel by pixel elsewhere."""


def refined_alpha_strips(
    rgb: RGB, guide: F32, probability: F32, options: RefineOptions
) -> Iterator[tuple[int, int, npt.NDArray[np.uint8]]]:
    """Yield ``(row0, row1, alpha)`` strips of the full-resolution 8-bit alpha, every pixel
    computed (the reference for :func:`refined_alpha`, which computes only the edge band).

    ``guide`` is the photo at working size (sRGB 0..1, ``hxwx3``) and ``probability`` the
    model's answer at the same size.
    """
    height, width = rgb.shape[:2]
    coefficients = _folded_coefficients(guide, probability, options)
    for row0, row1, coeff in upsampled_strips(coefficients, height, width, options.strip_rows):
        q = coeff[..., 3].copy()
        for channel in range(3):
            q += rgb[row0:row1, :, channel] * coeff[..., channel]
        np.clip(q, 0, 255, out=q)
        yield row0, row1, q.astype(np.uint8)


def refined_alpha(rgb: RGB, guide: F32, probability: F32, options: RefineOptions,
                  partial: list[tuple[npt.NDArray[np.intp], npt.NDArray[np.intp]]] | None = None
                  ) -> npt.NDArray[np.uint8]:
    """The full-resolution 8-bit alpha, computed pixel by pixel only near the edges.

    Each full-resolution pixel's alpha is ``q = b + a·I`` with coefficients interpolated from
    (at most) four working pixels. A working pixel whose ``q`` is >= 255 (or < 1) for *every*
    8-bit colour ``I`` is settled opaque (clear); ``q`` is linear in the coefficients, so a
    full-resolution pixel whose four working neighbours are all settled the same way is
    255 (0) whatever its colour. Tiles of ``tile`` pixels made only of such pixels are filled
    at once; the others (the edge band, where the alpha really depends on the photo's colours)
    are computed exactly as :func:`refined_alpha_strips` computes every pixel. Same result, a
    fraction of the work on a product photo (mostly solid product and clear backdrop).

    With ``partial`` (a list), the ``(ys, xs)`` of the partly transparent pixels are appended
    to it: only computed tiles can hold them, so no full-size search is needed afterwards.
    """
    height, width = rgb.shape[:2]
    coefficients = _folded_coefficients(guide, probability, options)
    low_h, low_w = coefficients.shape[:2]
    q_min = coefficients[..., 3].copy()
    q_max = q_min.copy()
    for channel in range(3):
        a = coefficients[..., channel] * 255.0
        q_min += np.minimum(a, 0)
        q_max += np.maximum(a, 0)
    opaque = cv2.integral((q_min >= 255.0).astype(np.uint8))
    clear = cv2.integral((q_max < 1.0).astype(np.uint8))

    y0s, y1s, wys = _taps(height, low_h)
    x0s, x1s, wxs = _taps(width, low_w)
    tile = max(1, options.tile)
    row_starts = np.arange(0, height, tile)
    col_starts = np.arange(0, width, tile)
    row_ends = np.minimum(row_starts + tile, height)
    col_ends = np.minimum(col_starts + tile, width)
    # The working rows/columns each tile reads: from its first pixel's first tap to its last
    # pixel's second tap.
    top, bottom = y0s[row_starts], y1s[row_ends - 1] + 1
    left, right = x0s[col_starts], x1s[col_ends - 1] + 1
    area = (bottom - top)[:, None] * (right - left)[None, :]

    def count(table: npt.NDArray[Any]) -> npt.NDArray[np.int64]:
        return np.asarray(table[bottom][:, right] - table[top][:, right]
                          - table[bottom][:, left] + table[top][:, left], np.int64)

    state = np.full(area.shape, 1, np.uint8)  # 1: compute, 2: opaque, 0: clear
    state[count(opaque) == area] = 2
    state[count(clear) == area] = 0
    fill = np.array([0, 0, 255], np.uint8)[state]
    alpha = np.ascontiguousarray(
        np.repeat(np.repeat(fill, tile, axis=0), tile, axis=1)[:height, :width])
    for ty in np.flatnonzero((state == 1).any(axis=1)):
        r0, r1 = int(row_starts[ty]), int(row_ends[ty])
        ys = slice(r0, r1)
        wy = wys[ys, None, None]
        for c0, c1 in _runs(state[ty] == 1):
            x0, x1 = int(col_starts[c0]), int(col_ends[c1 - 1])
            lo, hi = int(x0s[x0]), int(x1s[x1 - 1]) + 1
            rows = (coefficients[y0s[ys], lo:hi] * (1 - wy)
                    + coefficients[y1s[ys], lo:hi] * wy)
            wx = wxs[None, x0:x1, None]
            coeff = rows[:, x0s[x0:x1] - lo] * (1 - wx) + rows[:, x1s[x0:x1] - lo] * wx
            q = coeff[..., 3].copy()
            pixels = rgb[r0:r1, x0:x1]
            for channel in range(3):
                q += pixels[..., channel] * coeff[..., channel]
            np.clip(q, 0, 255, out=q)
            values = q.astype(np.uint8)
            alpha[r0:r1, x0:x1] = values
            if partial is not None:
                ys_in, xs_in = np.nonzero((values > 0) & (values < 255))
                partial.append((ys_in + r0, xs_in + x0))
    return alpha


def refined_cutout(rgb: RGB, guide: F32, probability: F32, options: RefineOptions,
                   partial: list[tuple[npt.NDArray[np.intp], npt.NDArray[np.intp]]] | None = None
                   ) -> npt.NDArray[np.uint8]:
    """The full-resolution RGBA cut-out: the refined alpha, the photo's colours under it, and
    black where it is fully transparent, so nothing of the old backdrop can bleed back in when
    the cut-out is resized. ``partial`` as :func:`refined_alpha` takes it."""
    alpha = refined_alpha(rgb, guide, probability, options, partial)
    rgba = np.asarray(cv2.cvtColor(cv2.bitwise_and(rgb, rgb, mask=alpha), cv2.COLOR_RGB2RGBA),
                      np.uint8)
    rgba[..., 3] = alpha
    return rgba


def _folded_coefficients(guide: F32, probability: F32, options: RefineOptions) -> F32:
    """Guided-filter coefficients with the tail clean-up and the 8-bit scaling folded in, so
    each full-resolution pixel costs three multiply-adds: alpha = a·I + b with I in 0..1, so
    on 8-bit pixels ``q = (a/span)·I8 + (b - low)·255/span (+0.5 to round)``."""
    coefficients = guided_coefficients(guide, probability, options.radius, options.eps)
    span = options.alpha_high - options.alpha_low
    coefficients[..., :3] *= 1.0 / span
    coefficients[..., 3] = (coefficients[..., 3] - options.alpha_low) * (255.0 / span) + 0.5
    return coefficients


def _taps(size: int, low: int) -> tuple[npt.NDArray[np.intp], npt.NDArray[np.intp], F32]:
    """Bilinear taps of each of ``size`` full-resolution positions on ``low`` working ones,
    pixel centres aligned as ``cv2.resize`` (and :func:`upsampled_strips`) align them."""
    fs = np.clip((np.arange(size, dtype=np.float32) + 0.5) * (low / size) - 0.5, 0, low - 1)
    first = np.floor(fs).astype(np.intp)
    second = np.minimum(first + 1, low - 1)
    return first, second, (fs - first).astype(np.float32)


def _runs(flags: npt.NDArray[np.bool_]) -> list[tuple[int, int]]:
    """``(start, end)`` of each run of ``True`` in ``flags``."""
    padded = np.concatenate([[False], flags, [False]]).astype(np.int8)
    edges = np.flatnonzero(np.diff(padded))
    return [(int(s), int(e)) for s, e in zip(edges[::2], edges[1::2], strict=True)]
