"""Composite reuse: the cutout's work done once per canvas gives the same bytes as per-variant."""

from __future__ import annotations

import numpy as np
import pytest

from plinth.imaging.backgrounds import load_theme, render_background
from plinth.imaging.composite import (
    _NEGLIGIBLE_SHADOW,
    _contact_shadow,
    apply_composite,
    composite,
    prepare_composite,
)
from plinth.imaging.decode import decode_image, encode_jpeg, encode_png
from plinth.stages import composite_photos, decoded_background


def cutout(w: int = 70, h: int = 130) -> np.ndarray:
    rng = np.random.default_rng(5)
    cut = np.zeros((h + 40, w + 30, 4), np.uint8)
    cut[20 : 20 + h, 15 : 15 + w, :3] = rng.integers(0, 255, (h, w, 3), dtype=np.uint8)
    alpha = np.full((h, w), 255, np.uint8)
    alpha[:, :3] = 128  # a soft edge
    cut[20 : 20 + h, 15 : 15 + w, 3] = alpha
    return cut


@pytest.mark.parametrize("theme_name", ["warm_paper", "charcoal_spotlight", "marketplace_white"])
def test_prepared_once_equals_composite_per_variant(theme_name: str) -> None:
    theme = load_theme(theme_name)
    cut = cutout()
    backgrounds = [render_background(theme, v, (240, 200)) for v in range(theme.variants)]
    prepared = prepare_composite(cut, (240, 200), theme)
    for background in backgrounds:
        reused = apply_composite(prepared, background)
        assert np.array_equal(reused, composite(cut, background, theme))


def test_composite_photos_bytes_equal_the_uncached_path() -> None:
    theme = load_theme("warm_paper")
    cut = cutout()
    backgrounds = [encode_jpeg(render_background(theme, v, (240, 200))) for v in range(3)]
    reused = composite_photos(encode_png(cut), backgrounds, theme)
    rgba = decode_image(encode_png(cut)).rgba()
    fresh = [encode_jpeg(composite(rgba, decode_image(bg).rgb, theme)) for bg in backgrounds]
    assert reused == fresh


def test_prepared_arrays_are_read_only_and_size_checked() -> None:
    theme = load_theme("warm_paper")
    prepared = prepare_composite(cutout(), (240, 200), theme)
    with pytest.raises(ValueError):
        prepared.light[0, 0] = 0.0
    with pytest.raises(ValueError, match="prepared for 240x200"):
        apply_composite(prepared, render_background(theme, 0, (200, 200)))
    background = render_background(theme, 0, (240, 200))
    before = background.copy()
    apply_composite(prepared, background)
    assert np.array_equal(background, before)  # the background is not written to


@pytest.mark.parametrize("theme_name", ["warm_paper", "charcoal_spotlight", "pastel_gradient"])
def test_three_channel_light_multiply_equals_the_broadcast_one(theme_name: str) -> None:
    from dataclasses import replace

    theme = load_theme(theme_name)
    rng = np.random.default_rng(8)
    cut = cutout(90, 150)
    cut[..., 3] = np.where(cut[..., 3] > 0, rng.integers(1, 256, cut.shape[:2]), 0)  # soft alpha
    prepared = prepare_composite(cut, (260, 240), theme)
    assert prepared.light3 is not None
    broadcast = replace(prepared, light3=None)
    background = rng.integers(0, 256, (240, 260, 3), dtype=np.uint8)
    assert np.array_equal(
        apply_composite(prepared, background), apply_composite(broadcast, background)
    )


def test_decoded_backgrounds_are_shared_read_only_and_keyed_by_their_bytes() -> None:
    theme = load_theme("warm_paper")
    first, second = (encode_jpeg(render_background(theme, v, (240, 200))) for v in range(2))
    a = decoded_background(first)
    assert decoded_background(bytes(first)) is a  # equal bytes, another object: a hit
    assert not a.flags.writeable
    assert np.array_equal(a, decode_image(first).rgb)
    b = decoded_background(second)
    assert b is not a and np.array_equal(b, decode_image(second).rgb)


def test_contact_shadow_rows_cover_every_pixel_it_darkens() -> None:
    """The contact shadow is computed on its own rows only; outside them its transmission must
    be exactly 1, so the light there is the cast shadow's alone."""
    theme = load_theme("warm_paper")
    cut = cutout()
    prepared = prepare_composite(cut, (240, 200), theme)
    px, py = prepared.origin
    place = prepared.place
    rows, contact = _contact_shadow(
        np.ones((place.height, place.width), np.float32), place, theme.shadow, (px, py),
        prepared.light.shape,
    )
    assert contact is not None and contact.shape[0] == rows.stop - rows.start
    assert rows.start <= py + place.height <= rows.stop  # under the base
    assert contact.min() < _NEGLIGIBLE_SHADOW * 64  # it fades out inside its rows
    assert np.float32(1.0) - _NEGLIGIBLE_SHADOW == np.float32(1.0)
