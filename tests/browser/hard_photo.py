"""Measuring and touching up the hard photo of the browser tests.

The photo itself (a red mug cut by the frame on a gingham tablecloth, with its exact outline) is
drawn by :func:`plinth_testkit.photos.mug_on_gingham`, which ``make demo`` sends too; this module
holds what only the tests need: :func:`iou` against the photo's truth and :func:`brush_plan`, the
strokes a person makes on its cut-out.
"""

from __future__ import annotations

from typing import Literal

import cv2
import numpy as np
import numpy.typing as npt

from plinth_testkit.photos import HardPhoto


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
