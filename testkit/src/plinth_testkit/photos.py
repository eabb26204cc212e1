"""Product photos drawn from code, for tests and the demo.

:func:`mug_on_gingham`: a hard product photo for the review hold, with its exact ground truth.
A red mug on a red-and-white gingham tablecloth (in perspective) in front of a plain wall, shot
too close: the frame cuts the mug's base off. Three things every cut-out provider finds hard at
once, as on a real kitchen-table shot:

- the product is cut by the frame's bottom edge, so its mask touches the frame
  (``confidence``'s ``frame_contact``);
- the busy check shares the mug's red, so a learned model hesitates over the body
  (``certainty``), and a backdrop model, which expects a plain surface, keeps the tablecloth
  as product (``frame_contact`` again, the whole bottom edge);
- the handle's hole shows the tablecloth through it.

Nothing here knows the confidence function; the photo is only made the way such photos go wrong.
The geometry is returned with it, so a test can brush where the product or the tablecloth truly
is and measure the touched-up mask against the truth (``tests/browser/hard_photo.py``). The
browser tests (``tests/browser/``) and ``make demo`` (``scripts/demo.py``) both send it: at the
default review threshold (0.5) it is held for review.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

import cv2
import numpy as np
import numpy.typing as npt
from PIL import Image

WIDTH, HEIGHT = 960, 720
_SUPERSAMPLE = 4
_RED = np.array([0.74, 0.11, 0.13], np.float32)
_CLOTH_RED = np.array([0.80, 0.13, 0.15], np.float32)
_CLOTH_WHITE = np.array([0.96, 0.95, 0.92], np.float32)
_WALL = np.array([0.90, 0.88, 0.84], np.float32)


@dataclass(frozen=True)
class HardPhoto:
    jpeg: bytes
    truth: npt.NDArray[np.bool_]
    """HxW: where the mug is (its exact coverage at least half a pixel)."""
    body: tuple[float, float, float, float]
    """The mug's body, ``(x0, y0, x1, y1)`` in pixels; ``y1`` is past the frame's bottom."""
    handle: tuple[float, float, float, float]
    """The handle's outer box, ``(x0, y0, x1, y1)``."""
    horizon: float
    """Where the tablecloth meets the wall (rows above it are wall)."""

    @property
    def size(self) -> tuple[int, int]:
        return self.truth.shape[1], self.truth.shape[0]


def mug_on_gingham(width: int = WIDTH, height: int = HEIGHT) -> HardPhoto:
    """The photo (JPEG, deterministic) and where its parts are."""
    rng = np.random.default_rng(20)
    horizon = height * 0.45
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)

    # the wall, lit from above; below the horizon the tablecloth, its checks in perspective
    wall = _WALL * (1.0 - 0.06 * yy / height)[..., None]
    depth = np.clip((yy - horizon) / (height - horizon), 1e-3, None)
    distance = 1.0 / (0.25 + depth)
    u = (xx - width / 2) / (width / 2) * distance * 3.0
    v = distance * 4.0
    checks = ((np.sin(u * np.pi * 6) > 0).astype(np.float32)
              + (np.sin(v * np.pi * 6) > 0).astype(np.float32)) / 2
    cloth = _CLOTH_WHITE * (1 - checks[..., None]) + _CLOTH_RED * checks[..., None]
    cloth = cv2.GaussianBlur(cloth, (0, 0), 0.8)
    photo = np.where((yy < horizon)[..., None], wall, cloth).astype(np.float32)

    # the mug: a cylinder body cut by the bottom edge, a D handle on its left
    body = (width * 0.41, height * 0.5, width * 0.75, height * 1.1)
    handle_cx, handle_cy = body[0], height * 0.69
    handle_rx, handle_ry, thick = width * 0.115, height * 0.17, width * 0.035
    hi_w, hi_h = width * _SUPERSAMPLE, height * _SUPERSAMPLE

    def scaled(points: npt.NDArray[np.float64]) -> npt.NDArray[np.int32]:
        return np.round((points * _SUPERSAMPLE - 0.5) * 16).astype(np.int32)

    def coverage(outline: npt.NDArray[np.float64],
                 hole: npt.NDArray[np.float64] | None = None) -> npt.NDArray[np.float32]:
        hi = np.zeros((hi_h, hi_w), np.uint8)
        cv2.fillPoly(hi, [scaled(outline)], 1, lineType=cv2.LINE_8, shift=4)
        if hole is not None:
            cv2.fillPoly(hi, [scaled(hole)], 0, lineType=cv2.LINE_8, shift=4)
        return np.asarray(cv2.resize(hi.astype(np.float32), (width, height),
                                     interpolation=cv2.INTER_AREA), np.float32)

    x0, y0, x1, y1 = body
    body_outline = np.array([[x0, y0], [x1, y0], [x1, y1], [x0, y1]], np.float64)
    t = np.linspace(0, 2 * np.pi, 120, endpoint=False)
    outer = np.stack([handle_cx + handle_rx * np.cos(t), handle_cy + handle_ry * np.sin(t)], 1)
    inner = np.stack([handle_cx + (handle_rx - thick) * np.cos(t),
                      handle_cy + (handle_ry - thick) * np.sin(t)], 1)
    for outline, hole, axis, half in ((outer, inner, handle_cx, handle_rx),
                                      (body_outline, None, (x0 + x1) / 2, (x1 - x0) / 2)):
        alpha = coverage(outline, hole)[..., None]
        across = np.clip((np.arange(width, dtype=np.float32) - axis) / half, -1, 1)
        light = 0.55 + 0.5 * np.clip(np.sqrt(1 - across * across) * 0.9 + across * 0.2, 0, 1)
        colour = _RED[None, None, :] * light[None, :, None]
        photo = alpha * colour + (1 - alpha) * photo
        if hole is None:
            truth_body = alpha[..., 0]
        else:
            truth_handle = alpha[..., 0]

    photo += rng.normal(0, 0.01, photo.shape).astype(np.float32)
    pixels = np.clip(photo * 255 + 0.5, 0, 255).astype(np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, "JPEG", quality=88)
    truth = np.maximum(truth_body, truth_handle) >= 0.5
    return HardPhoto(
        jpeg=buffer.getvalue(), truth=truth, body=body,
        handle=(handle_cx - handle_rx, handle_cy - handle_ry, handle_cx + handle_rx,
                handle_cy + handle_ry),
        horizon=horizon,
    )
