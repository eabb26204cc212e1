"""Telling a photo that went through JPEG by its block seams."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from plinth.imaging.segment.jpeg_seams import block_seam_ratio, looks_jpeg_compressed


def studio_photo(height: int = 480, width: int = 640, seed: int = 0) -> np.ndarray:
    """A shaded product on a light, slightly grainy backdrop."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    image = np.stack([0.93 - 0.05 * yy / height] * 3, -1)
    product = (np.abs(xx - width / 2) < width / 5) & (np.abs(yy - height / 2) < height / 3)
    image[product] = np.array([0.7, 0.25, 0.2]) * (0.8 + 0.2 * np.cos(xx[product] / 40))[:, None]
    image += rng.normal(0, 0.01, image.shape)
    return np.clip(image * 255 + 0.5, 0, 255).astype(np.uint8)


def through_jpeg(image: np.ndarray, quality: int) -> np.ndarray:
    ok, encoded = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, quality])
    assert ok
    return np.asarray(cv2.imdecode(encoded, cv2.IMREAD_COLOR))


@pytest.mark.parametrize("quality", [60, 75, 90])
def test_a_jpeg_shows_its_block_seams(quality: int) -> None:
    assert looks_jpeg_compressed(through_jpeg(studio_photo(), quality))


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_a_photo_never_compressed_shows_none(seed: int) -> None:
    photo = studio_photo(seed=seed)
    assert not looks_jpeg_compressed(photo)
    assert block_seam_ratio(photo) == pytest.approx(1.0, abs=0.1)


def test_tiny_photos_have_no_grid_to_judge() -> None:
    assert block_seam_ratio(np.zeros((10, 10, 3), np.uint8)) == 1.0
