"""The frame's edge: its pixels, and how much of it an object touches."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt


def frame_edge(image: npt.NDArray[np.generic]) -> npt.NDArray[np.generic]:
    """The pixels on the frame's edge of ``image`` (``HxW`` or ``HxWxC``), each once."""
    return np.concatenate([image[0], image[-1], image[1:-1, 0], image[1:-1, -1]])


def frame_share(solid: npt.NDArray[np.bool_]) -> float:
    """Share of the frame's edge pixels that ``solid`` covers."""
    edge = frame_edge(solid)
    return float(edge.mean()) if edge.size else 0.0
