"""apply_composite computes only the pixels a background shows through: bit-identical to the
dense pass over the whole product-and-shadow region it replaced."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from plinth.imaging.backgrounds import list_themes, load_theme, render_background
from plinth.imaging.colour import to_linear, to_srgb8
from plinth.imaging.composite import PreparedCutout, apply_composite, prepare_composite


def soft_cutout(w: int = 160, h: int = 260, seed: int = 3) -> np.ndarray:
    """A textured product with a feathered (soft, many-level) alpha edge and a hole."""
    rng = np.random.default_rng(seed)
    cut = np.zeros((h + 60, w + 40, 4), np.uint8)
    cut[..., :3] = rng.integers(0, 255, (*cut.shape[:2], 3), dtype=np.uint8)
    alpha = np.zeros(cut.shape[:2], np.float32)
    cv2.ellipse(alpha, (20 + w // 2, 30 + h // 2), (w // 2, h // 2), 0, 0, 360, 1.0, -1)
    cv2.circle(alpha, (20 + w // 2, 30 + h // 3), w // 8, 0.0, -1)
    alpha = cv2.GaussianBlur(alpha, (0, 0), 3.0)
    cut[..., 3] = np.round(alpha * 255).astype(np.uint8)
    return cut


def dense_reference(prepared: PreparedCutout, background: np.ndarray) -> np.ndarray:
    """The previous apply_composite: every pixel of the region in float32 linear light."""
    x0, y0, x1, y1 = prepared.region
    px, py = prepared.origin
    h, w = prepared.premult.shape[:2]
    out = to_linear(background[y0:y1, x0:x1])
    out *= prepared.light[..., None]
    out[py : py + h, px : px + w] += prepared.premult
    result = background.copy()
    result[y0:y1, x0:x1] = to_srgb8(out)
    return result


@pytest.mark.parametrize("theme_name", list_themes())
def test_sparse_apply_is_bit_identical_to_the_dense_pass(theme_name: str) -> None:
    theme = load_theme(theme_name)
    canvas = (420, 360)
    prepared = prepare_composite(soft_cutout(), canvas, theme)
    rng = np.random.default_rng(11)
    for variant in range(min(theme.variants, 2)):
        background = render_background(theme, variant, canvas)
        noisy = np.clip(
            background.astype(np.int16) + rng.integers(-40, 40, background.shape), 0, 255
        ).astype(np.uint8)  # every level, not only the theme's smooth ramp
        for bg in (background, noisy):
            got = apply_composite(prepared, bg)
            assert np.array_equal(got, dense_reference(prepared, bg))


def test_every_region_pixel_is_either_computed_pasted_or_left_alone() -> None:
    theme = load_theme("warm_paper")
    prepared = prepare_composite(soft_cutout(), (420, 360), theme)
    mixed, solid = prepared.mixed_index, prepared.solid_index
    assert mixed.size > 0 and solid.size > 0  # shadows and soft edges, and an opaque body
    assert np.intersect1d(mixed, solid).size == 0
    x0, y0, x1, y1 = prepared.region
    left_alone = (y1 - y0) * (x1 - x0) - mixed.size - solid.size
    assert left_alone > 0  # the corners of the region, far from product and shadow
    # Pasted pixels do not depend on the background; computed ones do.
    black = apply_composite(prepared, np.zeros((360, 420, 3), np.uint8))
    white = apply_composite(prepared, np.full((360, 420, 3), 255, np.uint8))
    assert np.array_equal(black.reshape(-1, 3)[solid], white.reshape(-1, 3)[solid])
    assert (black.reshape(-1, 3)[mixed] != white.reshape(-1, 3)[mixed]).any(axis=1).mean() > 0.5
