"""Brush strokes on a mask: a round brush of the stroke's size dragged along its polyline.

Each stroke's coverage is computed exactly (the distance of each pixel centre to the polyline,
one pixel of anti-aliasing at the rim) over its own bounding box only (a 24 MP mask is never
copied per stroke), then ``add`` raises the mask to the coverage and ``remove``
lowers it to ``255 - coverage``. Strokes apply in order, so a later stroke wins where two cross,
as on the page.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable

import cv2
import numpy as np
import numpy.typing as npt

from plinth.imaging.touchup.model import SeedPoint, Stroke

Mask = npt.NDArray[np.uint8]

SHIFT = 4
"""Fractional bits of the coordinates handed to OpenCV (sub-pixel positions, 1/16 px)."""


def stroke_box(stroke: Stroke, width: int, height: int) -> tuple[int, int, int, int] | None:
    """``(x0, y0, x1, y1)`` (end-exclusive) of what ``stroke`` can touch, clipped to the
    image; None when it touches nothing."""
    xs = [x for x, _ in stroke.points]
    ys = [y for _, y in stroke.points]
    reach = stroke.size / 2 + 2
    x0 = max(0, int(np.floor(min(xs) - reach)))
    y0 = max(0, int(np.floor(min(ys) - reach)))
    x1 = min(width, int(np.ceil(max(xs) + reach)) + 1)
    y1 = min(height, int(np.ceil(max(ys) + reach)) + 1)
    if x0 >= x1 or y0 >= y1:
        return None
    return x0, y0, x1, y1


def draw_stroke(layer: Mask, stroke: Stroke, origin: tuple[float, float] = (0.0, 0.0),
                scale: float = 1.0, value: int = 255, antialias: bool = True) -> None:
    """Draw ``stroke`` into ``layer`` (in place) with ``value``, with OpenCV (to a pixel, for
    seeds on a working grid); ``origin`` is the layer's top left in image pixels and ``scale``
    the layer's pixels per image pixel."""
    ox, oy = origin
    factor = 1 << SHIFT
    points = [(round((x - ox) * scale * factor), round((y - oy) * scale * factor))
              for x, y in stroke.points]
    radius = max(stroke.size * scale / 2, 0.5)
    line = cv2.LINE_AA if antialias else cv2.LINE_8
    # A round brush: a disc at every point, and lines as thick as the disc between them.
    thickness = max(1, round(radius * 2))
    for point in points:
        cv2.circle(layer, point, round(radius * factor), value, -1, line, SHIFT)
    for start, end in itertools.pairwise(points):
        cv2.line(layer, start, end, value, thickness, line, SHIFT)


def coverage(stroke: Stroke, box: tuple[int, int, int, int]) -> npt.NDArray[np.float32]:
    """How much of each pixel of ``box`` the brush covers, 0..1: a pixel ``(col, row)`` spans
    ``[col, col + 1) x [row, row + 1)`` in image coordinates, and is covered by how far its
    centre lies inside the brush's reach of the polyline (one pixel of anti-aliasing)."""
    x0, y0, x1, y1 = box
    cols = np.arange(x0, x1, dtype=np.float32) + 0.5
    rows = np.arange(y0, y1, dtype=np.float32) + 0.5
    radius = stroke.size / 2
    out = np.zeros((y1 - y0, x1 - x0), np.float32)
    points = stroke.points
    segments = list(itertools.pairwise(points)) or [(points[0], points[0])]
    for (ax, ay), (bx, by) in segments:
        # only the segment's own neighbourhood: a long drag costs its length, not its box
        sx0 = max(x0, int(np.floor(min(ax, bx) - radius - 1)))
        sx1 = min(x1, int(np.ceil(max(ax, bx) + radius + 1)) + 1)
        sy0 = max(y0, int(np.floor(min(ay, by) - radius - 1)))
        sy1 = min(y1, int(np.ceil(max(ay, by) + radius + 1)) + 1)
        if sx0 >= sx1 or sy0 >= sy1:
            continue
        px = cols[sx0 - x0:sx1 - x0][None, :]
        py = rows[sy0 - y0:sy1 - y0][:, None]
        dx, dy = bx - ax, by - ay
        length2 = dx * dx + dy * dy
        t = 0.0 if length2 == 0 else np.clip(((px - ax) * dx + (py - ay) * dy) / length2, 0, 1)
        distance = np.hypot(px - (ax + t * dx), py - (ay + t * dy))
        cover = np.clip(radius + 0.5 - distance, 0.0, 1.0).astype(np.float32)
        region = out[sy0 - y0:sy1 - y0, sx0 - x0:sx1 - x0]
        np.maximum(region, cover, out=region)
    return out


def paint(mask: Mask, strokes: Iterable[Stroke]) -> Mask:
    """A copy of ``mask`` (8-bit alpha) with ``strokes`` painted on it, in order."""
    out = np.array(mask, np.uint8, copy=True)
    height, width = out.shape[:2]
    for stroke in strokes:
        box = stroke_box(stroke, width, height)
        if box is None:
            continue
        x0, y0, x1, y1 = box
        layer = np.round(coverage(stroke, box) * 255).astype(np.uint8)
        region = out[y0:y1, x0:x1]
        if stroke.mode == "add":
            np.maximum(region, layer, out=region)
        else:
            np.minimum(region, 255 - layer, out=region)
    return out


def seeds(shape: tuple[int, int], strokes: Iterable[Stroke], points: Iterable[SeedPoint],
          point_radius: float, origin: tuple[float, float] = (0.0, 0.0),
          scale: float = 1.0) -> tuple[npt.NDArray[np.bool_], npt.NDArray[np.bool_]]:
    """What the person marked as surely product and surely background, on a ``shape`` grid
    whose top left is ``origin`` (image pixels) at ``scale`` grid pixels per image pixel.

    Strokes count with their brush; a clicked point as a disc of ``point_radius`` image pixels.
    A later mark wins over an earlier one where they overlap.
    """
    label = np.zeros(shape, np.uint8)  # 0 unmarked, 1 product, 2 background
    for stroke in strokes:
        draw_stroke(label, stroke, origin, scale, value=1 if stroke.mode == "add" else 2,
                    antialias=False)
    ox, oy = origin
    factor = 1 << SHIFT
    for point in points:
        centre = (round((point.x - ox) * scale * factor), round((point.y - oy) * scale * factor))
        radius = round(max(point_radius * scale, 1.0) * factor)
        cv2.circle(label, centre, radius, 1 if point.positive else 2, -1, cv2.LINE_8, SHIFT)
    return label == 1, label == 2
