"""``floor_reflection`` (fusion rule 7) on hand-made difference maps: a product standing on its
fading mirror image, and the products that must not be read as one."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pytest

from plinth.imaging.segment.reflection import ReflectionOptions, floor_reflection

F32 = npt.NDArray[np.float32]
OPTIONS = ReflectionOptions()
TOP, BASE, LEFT, RIGHT = 40, 200, 60, 140
"""The product: rows 40-199, columns 60-139 of a 320x200 frame."""


def product_difference() -> F32:
    """A product's difference from a white backdrop: darker than it, shaded across (a
    cylinder), with a label band and a dark cap, so its rows are not all alike."""
    difference = np.zeros((320, 200, 3), np.float32)
    columns = np.linspace(-1, 1, RIGHT - LEFT, dtype=np.float32)
    shading = 0.55 + 0.25 * (1 - columns**2)
    difference[TOP:BASE, LEFT:RIGHT] = -shading[None, :, None] * np.array([0.6, 0.7, 0.9],
                                                                          np.float32)
    difference[110:150, LEFT:RIGHT] = -shading[None, :, None] * np.array([0.9, 0.3, 0.2],
                                                                         np.float32)
    difference[TOP:TOP + 15, LEFT:RIGHT] = -0.9
    return difference


def with_reflection(difference: F32, strengths: F32) -> tuple[F32, npt.NDArray[np.bool_]]:
    """``difference`` with the product mirrored under its base at ``strengths`` per row, and
    the solid mask of both (as a model that kept the reflection gives it)."""
    out = difference.copy()
    rows = strengths.size
    out[BASE:BASE + rows] = strengths[:, None, None] * difference[BASE - rows:BASE][::-1]
    solid = np.zeros(difference.shape[:2], bool)
    solid[TOP:BASE + rows, LEFT:RIGHT] = True
    return out, solid


def fading(rows: int = 100, start: float = 0.4) -> F32:
    return (start * np.exp(-np.linspace(0, 1, rows) * 3.0)).astype(np.float32)


def test_a_fading_mirror_image_under_the_base_is_found() -> None:
    difference, solid = with_reflection(product_difference(), fading())
    cut = floor_reflection(solid, difference, OPTIONS)
    assert cut is not None
    assert cut[BASE:BASE + 100, LEFT:RIGHT].all(), "the whole reflection"
    assert not cut[:BASE].any(), "nothing of the product"


def test_a_reflection_under_a_contact_shadow_is_found() -> None:
    """The first rows under the base are darkened by the contact shadow too."""
    difference, solid = with_reflection(product_difference(), fading())
    difference[BASE:BASE + 3, LEFT:RIGHT] -= 0.15
    cut = floor_reflection(solid, difference, OPTIONS)
    assert cut is not None and not cut[:BASE].any() and cut[BASE:BASE + 100, LEFT:RIGHT].all()


def test_a_wide_contact_shadow_goes_with_the_reflection() -> None:
    """A contact shadow ten rows deep under a dark base: axes under the shadow explain the
    rows below as well as the contact line does (the shadow is no mirror image), so the
    highest axis that passes is taken and the shadow's rows are cleared too."""
    difference, solid = with_reflection(product_difference(), fading())
    difference[BASE:BASE + 10, LEFT:RIGHT] -= np.linspace(0.2, 0.05, 10,
                                                          dtype=np.float32)[:, None, None]
    cut = floor_reflection(solid, difference, OPTIONS)
    assert cut is not None and not cut[:BASE].any() and cut[BASE:BASE + 100, LEFT:RIGHT].all()


def test_a_product_alone_is_no_reflection() -> None:
    difference = product_difference()
    solid = np.zeros(difference.shape[:2], bool)
    solid[TOP:BASE, LEFT:RIGHT] = True
    assert floor_reflection(solid, difference, OPTIONS) is None


@pytest.mark.parametrize("strength", [0.3, 0.45])
def test_a_paler_band_of_one_strength_is_no_reflection(strength: float) -> None:
    """A lower part that is the upper part mirrored at a constant strength (a paler band of
    the same material): no fade, so no reflection."""
    difference, solid = with_reflection(product_difference(), np.full(100, strength,
                                                                      np.float32))
    assert floor_reflection(solid, difference, OPTIONS) is None


def test_a_mirror_as_strong_as_the_product_is_no_reflection() -> None:
    """Rows of one material on both sides of an axis (a product symmetric top to bottom)."""
    difference, solid = with_reflection(product_difference(), np.ones(100, np.float32))
    assert floor_reflection(solid, difference, OPTIONS) is None


def test_a_short_tail_under_the_base_is_left_to_the_edge() -> None:
    """Fewer rows than ``min_rows`` / ``min_share`` of the object's height are its own edge."""
    difference, solid = with_reflection(product_difference(), fading(rows=5))
    assert floor_reflection(solid, difference, OPTIONS) is None


def test_a_reflection_wider_than_the_product_is_not_one() -> None:
    """What lies below must lie under the mirrored outline (``min_inside``)."""
    difference, solid = with_reflection(product_difference(), fading())
    solid[BASE:BASE + 100, 10:LEFT] = True  # a wide floor patch beside the mirror image
    difference[BASE:BASE + 100, 10:LEFT] = -0.2
    assert floor_reflection(solid, difference, OPTIONS) is None


def light_based_product() -> F32:
    """``product_difference`` on a near-white base (a white sole): its last 12 rows barely
    differ from the backdrop."""
    difference = product_difference()
    difference[BASE - 12:BASE, LEFT:RIGHT] = -0.05
    return difference


def test_a_deep_contact_shadow_under_a_light_base_is_cleared_with_the_reflection() -> None:
    """Under a white sole the floor is much darker than the rows above (a contact shadow over
    the reflection), so its mirror strength exceeds ``max_contact``: the contact line is read
    as a shadow, and the shadow's rows go with the reflection instead of staying as product."""
    difference, solid = with_reflection(light_based_product(), fading())
    difference[BASE:BASE + 10, LEFT:RIGHT] -= np.linspace(0.3, 0.1, 10,
                                                          dtype=np.float32)[:, None, None]
    cut = floor_reflection(solid, difference, OPTIONS)
    assert cut is not None
    assert cut[BASE:BASE + 100, LEFT:RIGHT].all(), "the shadow's rows and the reflection"
    assert not cut[:BASE].any(), "nothing of the product"


def test_a_dark_base_under_a_light_body_is_no_reflection() -> None:
    """A dark band at the bottom of a product (a black sole) under a lighter body is darker
    than the rows above it, as a contact shadow is; it is no fading mirror of them."""
    difference = product_difference()
    difference[TOP:BASE - 20, LEFT:RIGHT] = -0.08
    difference[BASE - 20:BASE, LEFT:RIGHT] = -0.7
    solid = np.zeros(difference.shape[:2], bool)
    solid[TOP:BASE, LEFT:RIGHT] = True
    assert floor_reflection(solid, difference, OPTIONS) is None



def test_a_band_of_a_product_that_runs_out_of_the_frame_is_no_reflection() -> None:
    """A close-up: the product spans the frame's width, so its mirrored outline covers any band
    under it. Its lower part, a fading mirror of the upper as a reflection would be, is kept;
    the same photo standing free in a wider frame is read as a reflection."""
    difference, solid = with_reflection(product_difference(), fading())
    close_up_difference = difference[:, LEFT:RIGHT]
    close_up = solid[:, LEFT:RIGHT]
    assert floor_reflection(close_up, close_up_difference, OPTIONS) is None
    assert floor_reflection(solid, difference, OPTIONS) is not None
