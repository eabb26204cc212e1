"""What a person asks of a mask: brush strokes and clicked points, in original-image pixels."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from plinth.imaging.errors import ImagingError

Method = Literal["paint", "grabcut", "learned"]
"""``paint``: the strokes alone; ``grabcut``: GrabCut re-cut seeded by the strokes and points;
``learned``: the learned model re-run on the crop around the points and strokes."""

METHODS: tuple[Method, ...] = ("paint", "grabcut", "learned")


class TouchUpError(ImagingError):
    """A touch-up that cannot be made as asked (nothing to do, a point off the photo, a re-cut
    that found no product where it was clicked)."""

    code = "touchup_failed"


@dataclass(frozen=True)
class Stroke:
    """A round brush dragged along ``points``: ``add`` makes what it covers product, ``remove``
    makes it background. ``size`` is the brush's diameter in original-image pixels."""

    mode: Literal["add", "remove"]
    size: float
    points: tuple[tuple[float, float], ...]

    def __post_init__(self) -> None:
        if self.mode not in ("add", "remove"):
            raise TouchUpError(f"stroke mode {self.mode!r} is not 'add' or 'remove'")
        if not self.size > 0:
            raise TouchUpError(f"stroke size {self.size} must be more than 0 pixels")
        if not self.points:
            raise TouchUpError("a stroke needs at least one point")


@dataclass(frozen=True)
class SeedPoint:
    """A click: ``positive`` says the product is here, else the background is."""

    x: float
    y: float
    positive: bool = True


@dataclass(frozen=True)
class TouchUpRequest:
    method: Method = "paint"
    strokes: tuple[Stroke, ...] = ()
    points: tuple[SeedPoint, ...] = field(default_factory=tuple)

    def __post_init__(self) -> None:
        if self.method not in METHODS:
            raise TouchUpError(f"method {self.method!r} is not one of {', '.join(METHODS)}")
        if self.method == "paint" and not self.strokes:
            raise TouchUpError("method 'paint' needs at least one stroke")
        if not self.strokes and not self.points:
            raise TouchUpError(f"method {self.method!r} needs at least one stroke or point")

    def check_inside(self, width: int, height: int) -> None:
        """Raise :class:`TouchUpError` naming the first coordinate outside a ``width`` x
        ``height`` image."""
        for s, stroke in enumerate(self.strokes):
            for p, (x, y) in enumerate(stroke.points):
                if not (0 <= x < width and 0 <= y < height):
                    raise TouchUpError(
                        f"strokes[{s}].points[{p}] ({x}, {y}) is outside the "
                        f"{width}x{height} image")
        for p, point in enumerate(self.points):
            if not (0 <= point.x < width and 0 <= point.y < height):
                raise TouchUpError(
                    f"points[{p}] ({point.x}, {point.y}) is outside the {width}x{height} image")
