"""A wider look: the model looks again at the photo set inside a margin of its own backdrop.

Salient-object models are trained on photos that show the whole object. When a product fills
the frame and runs out of it (a close-up of a mug, a box cut by the frame on three sides), the
model often reads the product as the backdrop: it finds nothing, or only the part that stands
free. Set inside a margin of the backdrop's colour, the same photo shows the model an object
inside a frame again, and it outlines it (measured on synthetic studio photos cut by the frame:
"no product found" -> IoU 0.85-1.0, a shoe 0.26 -> 0.999, a box 0.74 -> 1.0).

When: the first look found nothing, or its object touches the frame's edge (at least
``min_frame_contact`` of the edge pixels). Products standing free in the frame are left alone,
so the second inference is paid only on those photos.

Which look is kept: the wider one when the first found nothing; otherwise only when it keeps
what the first look saw and adds a part that the backdrop model calls product. Set in a
margin, a photo whose product only grazes the frame can make the model spread into the
backdrop (a floor, the top of a sweep, a cast shadow) or lose a part; a product part the first
look missed differs from the backdrop and is no shadow. Where the backdrop model cannot judge
(a scene: its pixels are not classified), only a first look that found nothing is replaced.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
import numpy.typing as npt

from plinth.imaging.segment.frame import frame_edge, frame_share
from plinth.imaging.types import RGB

F32 = npt.NDArray[np.float32]
BoolMap = npt.NDArray[np.bool_]


@dataclass(frozen=True)
class WiderLookOptions:
    margin: float = 0.2
    """Margin added on each side, as a share of the photo's width (left, right) and height (top,
    bottom): the photo takes 1 / (1 + 2 x margin) of the model's input side."""
    min_frame_contact: float = 0.01
    """Least share of the frame's edge pixels the first look calls object (>= 0.5) for a wider
    look; a first look that found nothing always gets one."""
    min_kept: float = 0.7
    """The wider look must still call object this share of what the first look did: one that
    drops much of it saw a different object (synthetic: 0.55 on a can it cut in half)."""
    min_added: float = 0.05
    """... and add at least this share of the first look's object (less is edge jitter: the
    two looks of a product standing free agree to within 1-2%) ..."""
    min_added_product: float = 0.5
    """... of which the backdrop model calls at least this share product: a part the first look
    missed differs from the backdrop and is no shadow, while what a wider look may spread into
    is backdrop or its shadow (synthetic: 0.85-1.0 of the parts added to shoes, a jar and a box
    cut by the frame; 0.0-0.04 of spreads into a floor or a sweep's top; a cast shadow on grey)."""


@dataclass(frozen=True)
class Framed:
    """The model's input with the photo inside a margin, and where the photo lies in it."""

    image: RGB
    top: int
    left: int
    height: int
    width: int

    def crop(self, look: F32) -> F32:
        """The part of a look at ``image`` that covers the photo, at the input's size."""
        inner = look[self.top:self.top + self.height, self.left:self.left + self.width]
        size = (look.shape[1], look.shape[0])
        return np.asarray(cv2.resize(np.ascontiguousarray(inner), size,
                                     interpolation=cv2.INTER_LINEAR), np.float32)


def needs_wider_look(look: F32, options: WiderLookOptions, product: BoolMap | None) -> bool:
    """Whether the first look found nothing, or runs into the frame's edge where the wider
    look can be judged: ``product`` is the backdrop model's product map at the look's size
    (``None`` where its pixels were not classified), and it must reach beyond the first look
    by as much as :func:`wider_look_is_better` asks of an added part (else no wider look could
    be kept, and the inference is saved)."""
    solid = look >= 0.5
    if not solid.any():
        return True
    if product is None:
        return False
    if frame_share(solid) < options.min_frame_contact:
        return False
    beyond = np.count_nonzero(product & ~solid)
    least = options.min_added * options.min_added_product * np.count_nonzero(solid)
    return bool(beyond >= least)


def wider_look_is_better(first: F32, wider: F32, product: BoolMap | None,
                         options: WiderLookOptions) -> bool:
    """Whether the wider look replaces the first (both at the size of ``product``, the
    backdrop model's product map; ``None`` where its pixels were not classified, and then only
    a first look that found nothing is replaced)."""
    now = wider >= 0.5
    if not now.any():
        return False
    seen = first >= 0.5
    if not seen.any():
        return True
    if product is None:
        return False
    seen_pixels = int(np.count_nonzero(seen))
    if np.count_nonzero(seen & now) < options.min_kept * seen_pixels:
        return False
    added = now & ~seen
    added_pixels = int(np.count_nonzero(added))
    if added_pixels < options.min_added * seen_pixels:
        return False
    return bool(np.count_nonzero(product & added) >= options.min_added_product * added_pixels)


def framed_input(resized: RGB, options: WiderLookOptions) -> Framed:
    """``resized`` (the model's input) shrunk into a margin of the backdrop's colour, at the
    same size."""
    h, w = resized.shape[:2]
    height = max(1, round(h / (1 + 2 * options.margin)))
    width = max(1, round(w / (1 + 2 * options.margin)))
    top, left = (h - height) // 2, (w - width) // 2
    canvas = np.empty_like(resized)
    canvas[...] = backdrop_colour(resized)
    canvas[top:top + height, left:left + width] = cv2.resize(resized, (width, height),
                                                             interpolation=cv2.INTER_AREA)
    return Framed(canvas, top, left, height, width)


def backdrop_colour(rgb: RGB) -> npt.NDArray[np.uint8]:
    """The colour the margin is filled with: the median of the lightest quarter of the frame's
    edge pixels. A product cut by the frame covers much of the edge (up to 70% on synthetic
    close-ups) and is mostly darker than a studio backdrop."""
    edge = frame_edge(rgb).astype(np.float32)
    light = edge.mean(axis=1)
    lightest = edge[light >= np.percentile(light, 75)]
    return np.asarray(np.median(lightest, axis=0).round(), np.uint8)
