"""How sure a cut-out is, from signs visible without ground truth.

Each factor is 1 for a cut-out that looks clean and falls towards 0 with the symptom of a bad
one; the confidence is their product, so one strong symptom is enough to put the cut-out at the
head of the review list:

- ``certainty``: share of the object that is firmly in or out. A model that hesitates leaves a
  broad band of middle values (0.15-0.85) over the object.
- ``agreement``: on a plain backdrop, the IoU of the learned mask with the backdrop model's
  (square-rooted, it is a strong but noisy signal); absent on busy scenes.
- ``frame_contact``: the share of the frame's edge covered by the object. A product cut by the
  frame may be cropped, or the "object" may be the scene.
- ``fragments``: the largest piece's share of the object. A clean cut-out is one piece, or a
  main piece with small parts.
- ``area``: an object under 1% or over 90% of the frame is rarely a well-framed product.
"""

from __future__ import annotations

import cv2
import numpy as np
import numpy.typing as npt

from plinth.imaging.segment.frame import frame_share

F32 = npt.NDArray[np.float32]


def confidence(probability: F32, agreement: float | None) -> tuple[float, dict[str, float]]:
    """The confidence in 0..1 and its factors, from the final working-resolution alpha."""
    solid = probability >= 0.5
    area = float(solid.mean())
    object_pixels = max(int(solid.sum()), 1)
    uncertain = int(((probability > 0.15) & (probability < 0.85)).sum())
    factors: dict[str, float] = {
        "certainty": float(np.clip(1.0 - 2.0 * uncertain / object_pixels, 0.0, 1.0)),
        "frame_contact": float(np.clip(1.0 - 2.0 * frame_share(solid), 0.0, 1.0)),
        "fragments": _largest_piece_share(solid),
        "area": _area_factor(area),
    }
    if agreement is not None:
        factors["agreement"] = float(np.sqrt(np.clip(agreement, 0.0, 1.0)))
    score = float(np.prod(list(factors.values())))
    return round(score, 4), {name: round(value, 4) for name, value in factors.items()}


def _largest_piece_share(solid: npt.NDArray[np.bool_]) -> float:
    count, labels = cv2.connectedComponents(solid.astype(np.uint8), connectivity=8)
    if count <= 1:
        return 0.0
    sizes = np.bincount(labels.ravel())[1:]
    return float(sizes.max() / sizes.sum())


def _area_factor(area: float) -> float:
    if area < 0.01:
        return float(np.clip(area / 0.01, 0.0, 1.0))
    if area > 0.9:
        return float(np.clip((1.0 - area) / 0.1, 0.0, 1.0))
    return 1.0
