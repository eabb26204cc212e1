"""A hard product photo for the review hold, drawn from code with its exact ground truth.

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
is and measure the touched-up mask against the truth.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from typing import Literal

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


def iou(mask: npt.NDArray[np.uint8], truth: npt.NDArray[np.bool_]) -> float:
    """Intersection over union of ``mask >= 128`` (resized to the truth's size) and the truth."""
    if mask.shape != truth.shape:
        mask = np.asarray(cv2.resize(mask, (truth.shape[1], truth.shape[0]),
                                     interpolation=cv2.INTER_LINEAR), np.uint8)
    kept = mask >= 128
    union = int((kept | truth).sum())
    return int((kept & truth).sum()) / union if union else 1.0




Mode = Literal["add", "remove"]
Plan = list[tuple[Mode, float, list[tuple[float, float]]]]
"""Strokes as ``(mode, size, points)``, in the photo's pixels."""


def brush_plan(photo: HardPhoto, size: float) -> Plan:
    """The strokes a person makes on this photo's cut-out: ``remove`` over the tablecloth
    (what a backdrop model keeps as product), ``add`` over the mug's body (what a hesitant
    model leaves half transparent). First rows with a big brush (``size``) away from the mug's
    outline, then the outline traced on either side with a brush half as big. Every stroke
    stays a margin clear of the other side of the truth, so each is right whatever the cut-out
    it is made on."""
    margin = 4.0
    big_reach = size / 2 + margin
    small = round(size / 2)
    trace_at = small / 2 + margin  # from the outline: the traced stroke covers margin..
    assert trace_at + small / 2 >= big_reach, "the traced strokes must meet the rows"
    outside = np.asarray(cv2.distanceTransform((~photo.truth).astype(np.uint8), cv2.DIST_L2, 5),
                         np.float32)
    inside = np.asarray(cv2.distanceTransform(photo.truth.astype(np.uint8), cv2.DIST_L2, 5),
                        np.float32)
    height = photo.truth.shape[0]
    plan: Plan = []
    rows: list[tuple[Mode, npt.NDArray[np.float32], float]] = [
        ("remove", outside, photo.horizon + size * 0.25),
        ("add", inside, photo.body[1] + big_reach)]
    for mode, clear, first in rows:
        y = first
        while True:
            for start, end in _runs(clear[min(height - 1, round(y))] > big_reach):
                plan.append((mode, float(size), [(float(start), y), (float(end - 1), y)]))
            if y >= height - 1:
                break
            y = min(y + size * 0.5, height - 1.0)
    traces: list[tuple[Mode, npt.NDArray[np.float32]]] = [("remove", outside), ("add", inside)]
    for mode, clear in traces:
        region = (clear >= trace_at).astype(np.uint8)
        contours, _ = cv2.findContours(region, cv2.RETR_LIST, cv2.CHAIN_APPROX_NONE)
        for contour in contours:
            # only along the outline: not where the region's edge is the frame's
            ring = contour[:, 0, :]
            near = clear[ring[:, 1], ring[:, 0]] < trace_at + 2
            for start, end in _cyclic_runs(near):
                piece = np.concatenate([ring, ring])[start:end]
                if len(piece) < 3:
                    continue
                line = cv2.approxPolyDP(piece[:, None, :], 1.5, closed=False)[:, 0, :]
                closed = end - start == len(ring)
                points = [(float(x), float(y)) for x, y in line]
                plan.append((mode, float(small), [*points, points[0]] if closed else points))
    return plan


def _runs(row: npt.NDArray[np.bool_]) -> list[tuple[int, int]]:
    """``(start, end)`` (end-exclusive) of each run of True in ``row``."""
    padded = np.concatenate([[False], row, [False]]).astype(np.int8)
    edges = np.flatnonzero(np.diff(padded))
    return [(int(a), int(b)) for a, b in zip(edges[::2], edges[1::2], strict=True)]


def _cyclic_runs(flags: npt.NDArray[np.bool_]) -> list[tuple[int, int]]:
    """Runs of True in a closed ring, as ``(start, end)`` into the ring repeated twice (a run
    that wraps past the end continues into the copy); the whole ring when all are True."""
    if flags.all():
        return [(0, len(flags))]
    shift = int(np.flatnonzero(~flags)[0])  # start after a False, so no run wraps
    return [(start + shift, end + shift) for start, end in _runs(np.roll(flags, -shift))]
