"""Byte-level stage functions: what each returns, and when a URL-fetching provider gets a URL."""

from __future__ import annotations

import io
from typing import Any

import numpy as np
import pytest
from PIL import Image

from plinth.imaging.backgrounds import load_theme
from plinth.imaging.decode import decode_image
from plinth.imaging.errors import NotAnImageError
from plinth.imaging.segment.base import RGB, Segmentation
from plinth.stages import composite_photos, derive_files, render_backgrounds, segment_photo


class RecordingProvider:
    """A provider that keeps the product (centre square) and records how it was called."""

    name = "recording"

    def __init__(self) -> None:
        self.calls: list[tuple[str, Any]] = []

    def _cut(self, height: int, width: int, rgb: RGB | None) -> Segmentation:
        mask = np.zeros((height, width), np.uint8)
        mask[height // 4 : 3 * height // 4, width // 4 : 3 * width // 4] = 255
        colour = rgb if rgb is not None else np.full((height, width, 3), 90, np.uint8)
        return Segmentation(np.dstack([colour, mask]), mask, self.name, cost_usd=0.25)

    def segment(self, rgb: RGB) -> Segmentation:
        self.calls.append(("pixels", rgb.shape))
        return self._cut(rgb.shape[0], rgb.shape[1], rgb)

    def segment_url(self, url: str, *, size: tuple[int, int]) -> Segmentation:
        self.calls.append(("url", url))
        return self._cut(size[1], size[0], None)


def encoded(fmt: str, orientation: int | None = None) -> bytes:
    image = Image.new("RGB", (64, 48), (240, 240, 240))
    buf = io.BytesIO()
    kwargs: dict[str, Any] = {}
    if orientation is not None:
        exif = Image.Exif()
        exif[0x0112] = orientation
        kwargs["exif"] = exif
    image.save(buf, fmt, **kwargs)
    return buf.getvalue()


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (encoded("JPEG"), "url"),
        (encoded("PNG"), "url"),
        (encoded("WEBP"), "pixels"),  # the vendor reads only JPEG and PNG
        (encoded("JPEG", orientation=6), "pixels"),  # the vendor would not see it upright
    ],
)
def test_url_fetching_providers_get_a_url_only_when_it_shows_the_same_pixels(
    data: bytes, expected: str
) -> None:
    provider = RecordingProvider()
    result = segment_photo(data, provider, image_url="https://s3.example/presigned")
    assert [kind for kind, _ in provider.calls] == [expected]
    assert result.cost_usd == 0.25
    cutout = decode_image(result.cutout_png)
    assert cutout.alpha is not None
    assert (cutout.width, cutout.height) == (result.width, result.height)


def test_without_a_url_pixels_are_sent() -> None:
    provider = RecordingProvider()
    segment_photo(encoded("JPEG"), provider)
    assert provider.calls == [("pixels", (48, 64, 3))]


def test_segment_refuses_garbage_with_a_typed_error() -> None:
    with pytest.raises(NotAnImageError):
        segment_photo(b"<html>nope</html>", RecordingProvider())


def test_backgrounds_composites_and_derivatives_chain() -> None:
    theme = load_theme("default")
    backgrounds = render_backgrounds(theme, 2, canvas=(256, 256))
    assert len(backgrounds) == 2
    assert backgrounds[0].jpeg != backgrounds[1].jpeg, "variants differ"
    assert render_backgrounds(theme, 1, canvas=(256, 256))[0].jpeg == backgrounds[0].jpeg
    cut = segment_photo(encoded("PNG"), RecordingProvider())
    composites = composite_photos(cut.cutout_png, [bg.jpeg for bg in backgrounds], theme)
    assert [decode_image(c).width for c in composites] == [256, 256]
    files = derive_files(composites[:1])
    assert len(files) == 9
    assert {(f.size, f.fmt) for f in files} == {
        (s, f) for s in ("hero", "pdp", "thumb") for f in ("jpg", "webp", "avif")
    }
    assert all(f.variant == 0 for f in files)
