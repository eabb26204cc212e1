"""Stage 4: placement, shadows, linear-light blending and fringe-free edges."""

from __future__ import annotations

import numpy as np
import pytest

from plinth.imaging.backgrounds import Margins, Shadow, load_theme, render_background
from plinth.imaging.backgrounds.model import Theme
from plinth.imaging.composite import (
    CompositeOptions,
    composite,
    composite_on_theme,
    place_product,
)
from plinth.imaging.errors import EmptyCutoutError

NO_SHADOW = Shadow(opacity=0.0, contact_strength=0.0)


def product(w: int = 60, h: int = 120, colour: tuple[int, int, int] = (200, 40, 40)) -> np.ndarray:
    """An opaque textured rectangle with a transparent border of black 'garbage' pixels."""
    rng = np.random.default_rng(3)
    cut = np.zeros((h + 40, w + 30, 4), np.uint8)
    body = np.clip(np.array(colour) + rng.normal(0, 8, (h, w, 3)), 0, 255).astype(np.uint8)
    cut[20 : 20 + h, 15 : 15 + w, :3] = body
    cut[20 : 20 + h, 15 : 15 + w, 3] = 255
    return cut


def flat_background(value: int = 235, size: int = 200) -> np.ndarray:
    return np.full((size, size, 3), value, np.uint8)


def solid_theme(**overrides: object) -> Theme:
    data: dict[str, object] = {
        "name": "t",
        "title": "t",
        "background": {"kind": "solid", "colour": "#eeeeee"},
        "prompt": "p",
        "margins": {"top": 0.1, "right": 0.1, "bottom": 0.1, "left": 0.1},
    }
    data.update(overrides)
    return Theme.model_validate(data)


# ---------------------------------------------------------------------------- placement


def test_fit_inside_margins_and_centre() -> None:
    place = place_product((60, 120), (200, 200), Margins(), None)
    assert place.height == 160 and place.width == 80  # limited by the 160 px tall box
    assert place.y == 20 and place.x == 60
    assert not place.on_floor


def test_floor_placement_stands_the_base_on_the_floor_line() -> None:
    place = place_product((100, 50), (200, 200), Margins(), 0.8)
    assert place.bottom == 160
    assert place.on_floor and place.width == 160


def test_upscaling_is_capped() -> None:
    place = place_product((10, 10), (200, 200), Margins(), None, max_upscale=4.0)
    assert (place.width, place.height) == (40, 40)


# ------------------------------------------------------------------------------ pixels


def test_output_shape_and_untouched_far_background() -> None:
    bg = flat_background()
    out = composite(product(), bg, solid_theme())
    assert out.shape == bg.shape and out.dtype == np.uint8
    assert np.array_equal(out[:5], bg[:5])  # far from product and shadow: the background
    centre = out[100, 100].astype(int)
    assert centre[0] > 150 and centre[1] < 90  # the red product is there


def test_product_is_cropped_to_its_alpha_and_fills_the_margin_box() -> None:
    out = composite(product(), flat_background(), solid_theme(shadow=NO_SHADOW.model_dump()))
    red = (out[..., 0].astype(int) - out[..., 1].astype(int)) > 80
    rows, cols = np.flatnonzero(red.any(1)), np.flatnonzero(red.any(0))
    assert rows[0] == 20 and rows[-1] == 179  # 10% margins on a 200 px canvas
    assert cols[0] == 60 and cols[-1] == 139


def test_shadows_darken_below_the_product() -> None:
    theme = load_theme("default")
    bg = render_background(theme, 0, (300, 300))
    out = composite(product(), bg, theme)
    floor_y = round(theme.floor_line * 300)  # type: ignore[operator]
    just_below = out[floor_y + 1, 150].astype(int).sum()
    assert just_below < bg[floor_y + 1, 150].astype(int).sum() - 30  # contact shadow
    far_side = out[floor_y + 1, 5].astype(int).sum()
    assert abs(far_side - bg[floor_y + 1, 5].astype(int).sum()) <= 3


def test_shadow_can_be_turned_off() -> None:
    theme = load_theme("default")
    bg = render_background(theme, 0, (300, 300))
    out = composite(product(), bg, theme, CompositeOptions(shadow=NO_SHADOW))
    floor_y = round(theme.floor_line * 300)  # type: ignore[operator]
    assert np.array_equal(out[floor_y + 2 :], bg[floor_y + 2 :])


def test_blending_happens_in_linear_light() -> None:
    cut = np.zeros((50, 50, 4), np.uint8)
    cut[..., 3] = 128  # half-transparent black everywhere
    out = composite(cut, flat_background(255), solid_theme(shadow=NO_SHADOW.model_dump()))
    # 50% coverage of white in linear light is 0.5 -> sRGB 188, not the naive 128.
    assert 184 <= int(out[100, 100, 0]) <= 190


def test_premultiplied_resampling_leaves_no_dark_fringe() -> None:
    # White product whose transparent surroundings are black: naive resampling would bleed
    # the black into the edge and draw a grey outline on the white background.
    cut = np.zeros((400, 300, 4), np.uint8)
    cut[50:350, 50:250] = 255
    out = composite(cut, flat_background(255), solid_theme(shadow=NO_SHADOW.model_dump()))
    assert out.min() >= 254


def test_composite_on_theme_renders_its_background() -> None:
    theme = load_theme("warm_paper")
    bg, out = composite_on_theme(product(), theme, 1, canvas=(160, 120))
    assert bg.shape == out.shape == (120, 160, 3)
    assert np.array_equal(bg, render_background(theme, 1, (160, 120)))


@pytest.mark.parametrize("name", ["default", "charcoal_spotlight", "pastel_gradient"])
def test_every_theme_style_composites(name: str) -> None:
    _, out = composite_on_theme(product(), load_theme(name), 0, canvas=(128, 128))
    assert out.shape == (128, 128, 3)


# ------------------------------------------------------------------------------- errors


def test_empty_cutout() -> None:
    cut = np.zeros((20, 20, 4), np.uint8)
    cut[..., 3] = 5  # faint matting noise only
    with pytest.raises(EmptyCutoutError, match="transparent"):
        composite(cut, flat_background(), solid_theme())


@pytest.mark.parametrize(
    ("cut", "bg"),
    [
        (np.zeros((10, 10, 3), np.uint8), np.zeros((10, 10, 3), np.uint8)),
        (np.zeros((10, 10, 4), np.float32), np.zeros((10, 10, 3), np.uint8)),
        (np.zeros((10, 10, 4), np.uint8), np.zeros((10, 10), np.uint8)),
    ],
)
def test_bad_arrays(cut: np.ndarray, bg: np.ndarray) -> None:
    with pytest.raises(ValueError, match="HxWx"):
        composite(cut, bg, solid_theme())
