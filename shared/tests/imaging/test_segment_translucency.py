"""Tinted glass read against the fitted backdrop (:mod:`plinth.imaging.segment.translucency`).

Each photo is drawn here: a body with a rim of its own colour, on a plain backdrop, either
translucent (its inside the rim's colour mixed towards the backdrop) or opaque (shaded, grey,
near-white, or with a small print of a lighter tint). Only the translucent one may get partial
alpha, and at the opacity it was drawn with.
"""

from __future__ import annotations

import cv2
import numpy as np
import numpy.typing as npt
import pytest

from plinth.imaging.segment import translucency
from plinth.imaging.segment.translucency import (
    TranslucencyOptions,
    Translucent,
    find_translucency,
    unmix_translucent,
)

F32 = npt.NDArray[np.float32]
WHITE = (0.97, 0.97, 0.96)
HEIGHT, WIDTH = 300, 240


def body_mask() -> npt.NDArray[np.bool_]:
    """A rounded bottle-like body, mid-frame."""
    mask = np.zeros((HEIGHT, WIDTH), np.uint8)
    cv2.rectangle(mask, (70, 60), (170, 260), 1, -1)
    cv2.circle(mask, (120, 60), 50, 1, -1)
    return mask > 0


def rim_and_inside(mask: npt.NDArray[np.bool_], width: float = 4.0
                   ) -> tuple[npt.NDArray[np.bool_], npt.NDArray[np.bool_]]:
    distance = cv2.distanceTransform(mask.astype(np.uint8), cv2.DIST_L2, 3)
    return mask & (distance <= width), mask & (distance > width)


def photo(inside_colour: F32, rim_colour: tuple[float, float, float],
          backdrop: tuple[float, float, float] = WHITE) -> tuple[npt.NDArray[np.uint8], F32]:
    """The photo (8-bit) and its difference from the backdrop (what the backdrop model gives)."""
    mask = body_mask()
    rim, inside = rim_and_inside(mask)
    image = np.empty((HEIGHT, WIDTH, 3), np.float32)
    image[:] = backdrop
    image[rim] = rim_colour
    image[inside] = inside_colour[inside] if inside_colour.ndim == 3 else inside_colour
    rgb = np.clip(image * 255 + 0.5, 0, 255).astype(np.uint8)
    difference = rgb.astype(np.float32) / 255 - np.asarray(backdrop, np.float32)
    return rgb, difference.astype(np.float32)


def mixed(colour: tuple[float, float, float], opacity: float,
          backdrop: tuple[float, float, float] = WHITE) -> F32:
    return (opacity * np.asarray(colour, np.float32)
            + (1 - opacity) * np.asarray(backdrop, np.float32)).astype(np.float32)


def find(rgb: npt.NDArray[np.uint8], difference: F32,
         options: TranslucencyOptions | None = None):
    probability = body_mask().astype(np.float32)
    return find_translucency(probability, rgb, difference, options or TranslucencyOptions())


@pytest.mark.parametrize("opacity", [0.25, 0.4, 0.6])
@pytest.mark.parametrize("colour", [(0.2, 0.6, 0.25), (0.55, 0.15, 0.3), (0.2, 0.3, 0.7)])
def test_a_tinted_glass_body_gets_the_opacity_it_was_drawn_with(
        opacity: float, colour: tuple[float, float, float]) -> None:
    rgb, difference = photo(mixed(colour, opacity), colour)
    found = find(rgb, difference)
    assert found is not None
    assert found.opacity == pytest.approx(opacity, abs=0.03)
    _, inside = rim_and_inside(body_mask(), width=6.0)
    assert (found.region & inside).sum() / inside.sum() > 0.95, "the whole body, not a patch"
    rim, _ = rim_and_inside(body_mask(), width=3.0)
    assert not (found.region & rim).any(), "the rim stays opaque"
    capped = found.applied(body_mask().astype(np.float32))
    assert capped[found.region].max() == pytest.approx(opacity, abs=0.03)
    assert capped[rim].min() == 1.0


def test_glass_over_a_grey_backdrop_is_read_against_that_backdrop() -> None:
    grey = (0.62, 0.63, 0.64)
    colour = (0.15, 0.5, 0.2)
    rgb, difference = photo(mixed(colour, 0.35, grey), colour, grey)
    found = find(rgb, difference)
    assert found is not None and found.opacity == pytest.approx(0.35, abs=0.04)


def test_a_shaded_opaque_body_is_not_glass() -> None:
    """Lit more brightly in its middle: the rim's colour scaled, not mixed towards white."""
    colour = np.asarray((0.5, 0.12, 0.15), np.float32)
    xs = np.linspace(-1, 1, WIDTH, dtype=np.float32)
    gain = 0.6 + 0.9 * np.sqrt(np.clip(1 - xs * xs, 0, 1))
    shaded = np.clip(colour * gain[None, :, None] * np.ones((HEIGHT, 1, 1), np.float32), 0, 1)
    rgb, difference = photo(shaded.astype(np.float32), tuple(colour * 0.6))
    assert find(rgb, difference) is None


@pytest.mark.parametrize(("inside", "rim"), [
    ((0.75, 0.75, 0.76), (0.3, 0.3, 0.31)),     # a grey body with a dark outline
    ((0.95, 0.95, 0.94), (0.8, 0.8, 0.79)),     # a near-white body on white
])
def test_grey_and_near_white_bodies_stay_opaque(inside: tuple[float, float, float],
                                                rim: tuple[float, float, float]) -> None:
    """Mixing towards a white backdrop and shading differ only in colour: without colour in
    the rim nothing tells them apart, so the body is kept solid (a white shirt never gets a
    hole)."""
    rgb, difference = photo(np.asarray(inside, np.float32), rim)
    assert find(rgb, difference) is None


def test_a_small_print_of_a_lighter_tint_is_not_glass() -> None:
    """A pink patch on a red box is the red mixed towards white, but a tenth of the product."""
    red = (0.7, 0.1, 0.12)
    inside = np.empty((HEIGHT, WIDTH, 3), np.float32)
    inside[:] = red
    inside[150:190, 100:140] = mixed(red, 0.4)
    rgb, difference = photo(inside, red)
    assert find(rgb, difference) is None


def test_unmixing_gives_the_glass_its_own_colour() -> None:
    colour = np.asarray((0.2, 0.6, 0.25), np.float32)
    seen = mixed(tuple(colour), 0.4)
    photo_rgb = np.empty((4, 4, 3), np.uint8)
    photo_rgb[:] = np.clip(seen * 255 + 0.5, 0, 255).astype(np.uint8)
    rgba = np.zeros((4, 4, 4), np.uint8)
    rgba[..., 3] = 102  # 0.4
    backdrop = np.empty((2, 2, 3), np.float32)  # working size: half the cut-out's
    backdrop[:] = WHITE
    glass = Translucent(region=np.ones((2, 2), bool), opacity=0.4, share=1.0, backdrop=backdrop)
    unmix_translucent(rgba, photo_rgb, glass)
    np.testing.assert_allclose(rgba[..., :3] / 255, np.broadcast_to(colour, (4, 4, 3)), atol=0.02)


def test_an_empty_map_has_no_glass() -> None:
    rgb, difference = photo(mixed((0.2, 0.6, 0.25), 0.4), (0.2, 0.6, 0.25))
    empty = np.zeros((HEIGHT, WIDTH), np.float32)
    assert find_translucency(empty, rgb, difference, TranslucencyOptions()) is None


def test_a_nearly_grey_body_stays_opaque_though_it_is_a_perfect_mix() -> None:
    """A bluish-grey rim with its inside mixed 40/60 towards white: shading cannot explain
    it, but the rim has too little colour (channel spread 0.06) to tell glass from a grey
    product with a faintly tinted shadow line, so the body is kept solid."""
    rim = (0.3, 0.3, 0.36)
    rgb, difference = photo(mixed(rim, 0.4), rim)
    assert find(rgb, difference) is None
    assert find(rgb, difference, TranslucencyOptions(min_rim_chroma=0.0)) is not None, (
        "the rim's colour is what keeps it opaque")


def test_glass_over_a_graded_backdrop_is_grown_over_the_grade_seen_through_it() -> None:
    """On a sweep from dark grey to near white, the glass shows the grade through it: its
    colour changes down the body by 0.7 of the backdrop's change. Under the dark cap the rim
    test cannot read the glass (the cap is the nearest outline), so the body is grown there,
    over pixels that differ from the glass lower down by more than the growing tolerance yet
    are the same glass: its own colour mixed with the backdrop behind them."""
    colour = np.asarray((0.2, 0.55, 0.3), np.float32)
    opacity = 0.3
    grade = np.linspace(0.45, 0.95, HEIGHT, dtype=np.float32)[:, None, None]
    backdrop = np.broadcast_to(grade, (HEIGHT, WIDTH, 3)).astype(np.float32)
    mask = body_mask()
    rim, inside = rim_and_inside(mask)
    cap = mask & (np.arange(HEIGHT) < 90)[:, None]
    image = backdrop.copy()
    image[rim] = colour
    image[inside] = (opacity * colour + (1 - opacity) * backdrop)[inside]
    image[cap] = (0.1, 0.1, 0.3)
    rgb = np.clip(image * 255 + 0.5, 0, 255).astype(np.uint8)
    difference = (rgb.astype(np.float32) / 255 - backdrop).astype(np.float32)
    found = find(rgb, difference)
    assert found is not None and found.opacity == pytest.approx(opacity, abs=0.04)
    _, deep = rim_and_inside(mask & ~cap, width=6.0)
    assert (found.region & deep).sum() / deep.sum() > 0.95, "the whole body, up to the cap"
    assert not (found.region & cap).any(), "the cap stays opaque"


def test_a_thin_highlight_is_glass_and_a_wide_band_of_the_same_light_is_not() -> None:
    """A highlight lightens glass evenly in every channel, in a thin streak; a label in a
    lighter grey of the body's colour is a wide band, and stays opaque."""
    colour = (0.2, 0.3, 0.7)
    inside = np.empty((HEIGHT, WIDTH, 3), np.float32)
    inside[:] = mixed(colour, 0.4)
    streak = (slice(70, 170), slice(112, 120))       # 8 px of a 100 px wide body
    band = (slice(190, 235), slice(60, 180))          # 45 px tall, the body's whole width
    inside[streak] += 0.18
    inside[band] += 0.18
    rgb, difference = photo(inside, colour)
    found = find(rgb, difference)
    assert found is not None
    assert found.region[streak].mean() > 0.95, "the highlight is part of the glass"
    _, deep = rim_and_inside(body_mask(), width=6.0)
    assert not (found.region[band] & deep[band]).any(), "the band stays opaque"
    unlit = find(rgb, difference, TranslucencyOptions(light_shift=0.0))
    assert unlit is not None and unlit.region[streak].mean() < 0.5, "only the light term takes it"


def test_faintly_tinted_glass_is_read() -> None:
    """A blue-grey glass whose rim differs from the backdrop with a channel spread of 0.09:
    enough colour to tell mixing from shading (a grey one, 0.06, is not; see above)."""
    rim = (0.45, 0.5, 0.53)
    rgb, difference = photo(mixed(rim, 0.35), rim)
    found = find(rgb, difference)
    assert found is not None and found.opacity == pytest.approx(0.35, abs=0.03)
    assert find(rgb, difference, TranslucencyOptions(min_rim_chroma=0.1)) is None


def test_a_grey_cap_a_highlight_leads_into_stays_opaque(monkeypatch: pytest.MonkeyPatch) -> None:
    """A cap in a grey of the glass's lightness, parted from the body by a dark line that a
    highlight streak crosses: the streak is glass, the cap is not, beyond the rim band the
    body's hull reaches out by. Only that hull stops the growth there: the cap is no wider
    than a streak may be on a body this wide."""
    colour = np.asarray((0.1, 0.7, 0.2), np.float32)
    product = np.zeros((HEIGHT, WIDTH), bool)
    product[70:262, 20:220] = True
    body = np.zeros_like(product)
    body[96:262, 20:220] = True
    rim, inside = rim_and_inside(product)
    glass = (0.4 * colour + 0.6 * np.asarray(WHITE, np.float32)).astype(np.float32)
    image = np.empty((HEIGHT, WIDTH, 3), np.float32)
    image[:] = WHITE
    image[body & inside] = glass
    image[inside & ~body] = glass + 0.15             # the cap: the glass's colour, greyed
    image[93:96, 20:220] = 0.1                       # the line under the cap
    image[rim] = colour
    image[74:250, 112:120] = glass + 0.2             # a highlight over body, line and cap
    rgb = np.clip(image * 255 + 0.5, 0, 255).astype(np.uint8)
    difference = (rgb.astype(np.float32) / 255 - np.asarray(WHITE, np.float32)).astype(np.float32)
    probability = product.astype(np.float32)
    cap = (slice(76, 86), slice(30, 210))            # more than the rim band above the body

    found = find_translucency(probability, rgb, difference, TranslucencyOptions())
    assert found is not None
    assert found.region[120:240, 112:120].all(), "the highlight on the body is glass"
    assert found.region[cap].mean() < 0.05, "the cap stays opaque"

    monkeypatch.setattr(translucency, "_hull", lambda region: np.ones_like(region))
    unbounded = find_translucency(probability, rgb, difference, TranslucencyOptions())
    assert unbounded is not None and unbounded.region[cap].mean() > 0.8, "only the hull stops it"
