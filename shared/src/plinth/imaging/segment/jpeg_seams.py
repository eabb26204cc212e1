"""Whether a photo went through JPEG: the seams of its 8x8 blocks.

JPEG codes each 8x8 block on its own, so in smooth areas the small steps between neighbouring
pixels are larger across a block boundary than inside a block. Product edges are large steps
and are left out; what remains compares the boundary columns (and rows) with the rest. The grid
is taken where the decoder left it, from the top-left corner.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

_LUMA = np.array([0.299, 0.587, 0.114], np.float32)
_SMALL_STEP = 12.0
"""Steps up to this (8-bit levels) are smooth shading, noise or block seams; above, edges."""


def block_seam_ratio(rgb: npt.NDArray[np.uint8], stride: int = 8) -> float:
    """How much larger small steps are across the 8-pixel grid than off it (1.0: no seams).

    Every ``stride``-th row (for steps along a row) and column (for steps down a column) is
    enough, and keeps a 24 MP photo cheap."""
    ratios = []
    for axis in (1, 0):
        lines = rgb[::stride] if axis == 1 else rgb[:, ::stride]
        grey = lines.astype(np.float32) @ _LUMA
        steps = np.abs(np.diff(grey, axis=axis))
        small = steps < _SMALL_STEP
        total = np.sum(np.where(small, steps, 0), axis=1 - axis)
        count = np.sum(small, axis=1 - axis)
        n = len(total) // 8 * 8
        if n < 16:
            continue
        by_phase = total[:n].reshape(-1, 8).sum(0) / np.maximum(count[:n].reshape(-1, 8).sum(0), 1)
        others = by_phase[:7]
        ratios.append(float(by_phase[7] / max(float(np.median(others)), 1e-6)))
    return float(np.mean(ratios)) if ratios else 1.0


def looks_jpeg_compressed(rgb: npt.NDArray[np.uint8], threshold: float = 1.2) -> bool:
    """Whether ``rgb`` shows JPEG's block seams."""
    return block_seam_ratio(rgb) > threshold
