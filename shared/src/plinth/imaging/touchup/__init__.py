"""Touch-up of a cut-out's mask by a person (issue 20): pure, arrays or bytes in and out.

- :mod:`.model`: what is asked (brush strokes, clicked points, a method), in original pixels;
- :mod:`.strokes`: a round brush of a given size along a polyline, adding or removing;
- :mod:`.region`: the crop a re-cut works on and the feathered merge of its answer;
- :mod:`.grabcut`: GrabCut seeded by the current mask (probable) and the marks (certain);
- :mod:`.learned_recut`: the learned model re-run on the crop around the clicks;
- :mod:`.cutout`: the RGBA cut-out from the photo and the new mask, edges decontaminated;
- :mod:`.apply`: one touch-up start to end (:func:`touched_mask`, :func:`touch_up_files`).
"""

from __future__ import annotations

from plinth.imaging.touchup.apply import (
    TouchedUp,
    TouchUpOptions,
    decode_mask,
    touch_up_files,
    touched_mask,
)
from plinth.imaging.touchup.cutout import CutoutOptions, recompose_cutout
from plinth.imaging.touchup.grabcut import GrabCutOptions, grabcut_recut
from plinth.imaging.touchup.learned_recut import LearnedRecutOptions, learned_recut
from plinth.imaging.touchup.model import (
    METHODS,
    Method,
    SeedPoint,
    Stroke,
    TouchUpError,
    TouchUpRequest,
)
from plinth.imaging.touchup.strokes import paint

__all__ = [
    "METHODS",
    "CutoutOptions",
    "GrabCutOptions",
    "LearnedRecutOptions",
    "Method",
    "SeedPoint",
    "Stroke",
    "TouchUpError",
    "TouchUpOptions",
    "TouchUpRequest",
    "TouchedUp",
    "decode_mask",
    "grabcut_recut",
    "learned_recut",
    "paint",
    "recompose_cutout",
    "touch_up_files",
    "touched_mask",
]
