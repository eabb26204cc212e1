"""One touch-up, start to end: the new mask (and cut-out) from the photo, its mask and a
:class:`~.model.TouchUpRequest`; on arrays, or on the stored bytes (the API's entry points)."""

from __future__ import annotations

import io
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt
from PIL import Image

from plinth.imaging.decode import DEFAULT_MAX_BYTES, DEFAULT_MAX_PIXELS, decode_image, encode_png
from plinth.imaging.segment.saliency import SaliencyModel
from plinth.imaging.touchup.cutout import CutoutOptions, recompose_cutout
from plinth.imaging.touchup.grabcut import GrabCutOptions, grabcut_recut
from plinth.imaging.touchup.learned_recut import LearnedRecutOptions, learned_recut
from plinth.imaging.touchup.model import TouchUpError, TouchUpRequest
from plinth.imaging.touchup.strokes import paint

Mask = npt.NDArray[np.uint8]
RGB = npt.NDArray[np.uint8]


@dataclass(frozen=True)
class TouchUpOptions:
    grabcut: GrabCutOptions = field(default_factory=GrabCutOptions)
    learned: LearnedRecutOptions = field(default_factory=LearnedRecutOptions)
    cutout: CutoutOptions = field(default_factory=CutoutOptions)


@dataclass(frozen=True)
class TouchedUp:
    mask_png: bytes
    cutout_png: bytes | None
    """None when only the mask was asked for (a preview)."""
    width: int
    height: int


def touched_mask(rgb: RGB, mask: Mask, request: TouchUpRequest, *,
                 model: SaliencyModel | None = None,
                 options: TouchUpOptions | None = None) -> Mask:
    """The mask after ``request`` (a new array; ``mask`` is not changed)."""
    options = options or TouchUpOptions()
    height, width = mask.shape[:2]
    if rgb.shape[:2] != (height, width):
        raise TouchUpError(f"the mask is {width}x{height}, the photo "
                           f"{rgb.shape[1]}x{rgb.shape[0]}")
    request.check_inside(width, height)
    if request.method == "paint":
        return paint(mask, request.strokes)
    if request.method == "grabcut":
        return grabcut_recut(rgb, mask, request.strokes, request.points, options.grabcut)
    if model is None:
        raise TouchUpError("the learned re-cut needs the learned model, and none is installed")
    return learned_recut(rgb, mask, request.strokes, request.points, model, options.learned)


def decode_mask(data: bytes) -> Mask:
    """A stored mask PNG as an ``HxW`` 8-bit array."""
    try:
        with Image.open(io.BytesIO(data)) as image:
            grey = image.convert("L") if image.mode != "L" else image.copy()
    except (OSError, ValueError) as exc:
        raise TouchUpError(f"the stored mask is not a readable image: {exc}") from exc
    return np.asarray(grey, np.uint8)


def touch_up_files(original: bytes, mask_png: bytes, request: TouchUpRequest, *,
                   model: SaliencyModel | None = None, with_cutout: bool = True,
                   options: TouchUpOptions | None = None,
                   max_pixels: int = DEFAULT_MAX_PIXELS,
                   max_bytes: int = DEFAULT_MAX_BYTES) -> TouchedUp:
    """The touched-up mask PNG (and cut-out PNG) from the stored original and mask bytes."""
    options = options or TouchUpOptions()
    decoded = decode_image(original, max_pixels=max_pixels, max_bytes=max_bytes)
    mask = touched_mask(decoded.rgb, decode_mask(mask_png), request, model=model,
                        options=options)
    cutout = recompose_cutout(decoded.rgb, mask, options.cutout) if with_cutout else None
    return TouchedUp(
        mask_png=encode_png(mask),
        cutout_png=encode_png(cutout) if cutout is not None else None,
        width=decoded.width,
        height=decoded.height,
    )
