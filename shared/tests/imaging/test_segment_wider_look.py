"""The wider look: when it is taken, the framed input, and which look is kept."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pytest

from plinth.imaging.segment.wider_look import (
    WiderLookOptions,
    backdrop_colour,
    framed_input,
    needs_wider_look,
    wider_look_is_better,
)

F32 = npt.NDArray[np.float32]
OPTIONS = WiderLookOptions()


def square(top: int, left: int, bottom: int, right: int, side: int = 100) -> F32:
    look = np.zeros((side, side), np.float32)
    look[top:bottom, left:right] = 1.0
    return look


def test_the_defaults() -> None:
    assert (OPTIONS.margin, OPTIONS.min_frame_contact) == (0.2, 0.01)
    assert (OPTIONS.min_kept, OPTIONS.min_added, OPTIONS.min_added_product) == (0.7, 0.05, 0.5)


def test_a_first_look_that_found_nothing_always_gets_a_wider_look() -> None:
    nothing = np.full((100, 100), 0.4, np.float32)
    assert needs_wider_look(nothing, OPTIONS, None) is True
    assert needs_wider_look(nothing, OPTIONS, np.zeros((100, 100), bool)) is True


EVERYWHERE = np.ones((100, 100), bool)  # a backdrop model's product reaching beyond any look


@pytest.mark.parametrize(("look", "wanted"), [
    (square(20, 20, 80, 80), False),   # stands free in the frame
    (square(20, 0, 80, 80), True),     # runs into the left edge: 60 of 396 edge pixels
    (square(97, 40, 100, 43), False),  # grazes the bottom edge: 3 of 396 pixels, under 1%
    (square(97, 40, 100, 44), True),   # 4 of 396: 1%
])
def test_a_wider_look_is_taken_where_the_object_runs_into_the_frame(look: F32,
                                                                    wanted: bool) -> None:
    assert needs_wider_look(look, OPTIONS, EVERYWHERE) is wanted


def test_without_a_backdrop_to_judge_it_by_only_a_first_look_that_found_nothing_gets_one() -> None:
    """Where no backdrop model classified the pixels (a scene), a wider look that adds to the
    first could not be judged: it is not taken, and costs nothing."""
    assert needs_wider_look(square(20, 0, 80, 80), OPTIONS, None) is False


@pytest.mark.parametrize(("extra_columns", "wanted"), [(0, False), (1, False), (2, True)])
def test_no_wider_look_where_the_backdrop_model_sees_nothing_beyond_the_first(
    extra_columns: int, wanted: bool
) -> None:
    """A wider look is kept only for an added part the backdrop model calls product (at least
    min_added x min_added_product = 2.5% of the first look's object): where its product reaches
    no further than the first look, none could be kept. First look: 60 x 80 = 4800 pixels;
    one column more is 60 pixels (1.25%), two are 120 (2.5%)."""
    product = np.zeros((100, 100), bool)
    product[20:80, 0:80 + extra_columns] = True
    assert needs_wider_look(square(20, 0, 80, 80), OPTIONS, product) is wanted


def test_the_framed_input_holds_the_photo_in_a_margin_of_the_backdrop() -> None:
    photo = np.full((140, 140, 3), 240, np.uint8)
    photo[:, :, 2] = 230
    photo[:100, :] = (40, 60, 90)  # a product cut by the frame on three sides
    framed = framed_input(photo, OPTIONS)
    assert framed.image.shape == photo.shape
    assert (framed.top, framed.left, framed.height, framed.width) == (20, 20, 100, 100)
    np.testing.assert_array_equal(framed.image[:20], np.broadcast_to((240, 240, 230),
                                                                     (20, 140, 3)))
    np.testing.assert_array_equal(framed.image[:, :20], np.broadcast_to((240, 240, 230),
                                                                        (140, 20, 3)))
    # The photo itself, shrunk: the product's top is now 20 px below the frame.
    np.testing.assert_array_equal(framed.image[25, 25], (40, 60, 90))


def test_the_margin_takes_the_lightest_quarter_of_the_edge() -> None:
    """Where a dark product covers most of the edge, the backdrop is its lightest part."""
    photo = np.full((50, 50, 3), 250, np.uint8)
    photo[:40, :] = 20  # the top row and 39 of 48 pixels of each side: 128 of 196 edge pixels
    np.testing.assert_array_equal(backdrop_colour(photo), (250, 250, 250))


def test_crop_gives_back_the_part_of_a_look_that_covers_the_photo() -> None:
    photo = np.full((140, 140, 3), 200, np.uint8)
    framed = framed_input(photo, OPTIONS)
    look = np.zeros((140, 140), np.float32)
    look[20:120, 20:70] = 1.0  # the left half of the photo, in the framed input
    cropped = framed.crop(look)
    assert cropped.shape == (140, 140)
    assert cropped[:, :68].min() == 1.0 and cropped[:, 72:].max() == 0.0


def product_map(added_share: float) -> npt.NDArray[np.bool_]:
    """The backdrop model's product: what the first look saw, and ``added_share`` of the 20
    columns the wider look adds (the rest of them it calls backdrop or shadow)."""
    product = np.zeros((100, 100), bool)
    product[20:80, 20:80] = True
    product[20:80, 20 - round(20 * added_share):20] = True
    return product


@pytest.mark.parametrize(("added_share", "kept"), [(1.0, True), (0.5, True), (0.45, False),
                                                   (0.0, False)])
def test_the_wider_look_is_kept_when_the_backdrop_model_calls_what_it_adds_product(
    added_share: float, kept: bool
) -> None:
    """A part the first look missed is product to the backdrop model; a spread into the
    backdrop or onto a cast shadow is not."""
    first, wider = square(20, 20, 80, 80), square(20, 0, 80, 80)
    assert wider_look_is_better(first, wider, product_map(added_share), OPTIONS) is kept


def test_a_wider_look_that_drops_what_the_first_saw_is_not_kept() -> None:
    first, wider = square(20, 0, 80, 80), square(20, 0, 80, 40)  # keeps 40 of 80 columns
    assert wider_look_is_better(first, wider, np.ones((100, 100), bool), OPTIONS) is False


def test_a_wider_look_that_adds_only_an_edge_is_not_kept() -> None:
    first, wider = square(20, 20, 80, 80), square(20, 18, 80, 80)  # 2 columns more: 3%
    assert wider_look_is_better(first, wider, np.ones((100, 100), bool), OPTIONS) is False


def test_unjudged_only_a_first_look_that_found_nothing_is_replaced() -> None:
    """Without the backdrop model's classification (a scene), nothing says what the wider look
    adds: only a first look that found nothing is replaced."""
    nothing = np.zeros((100, 100), np.float32)
    assert wider_look_is_better(nothing, square(20, 0, 80, 80), None, OPTIONS) is True
    assert wider_look_is_better(square(20, 20, 80, 80), square(20, 0, 80, 80), None,
                                OPTIONS) is False
    assert wider_look_is_better(nothing, nothing, None, OPTIONS) is False, "nothing for nothing"
