"""``fuse`` (the learned map with the backdrop model's view of the photo) and ``confidence``, on
hand-made arrays whose right answer can be written down pixel by pixel."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt
import pytest

from plinth.imaging.segment.confidence import confidence
from plinth.imaging.segment.fusion import BackdropView, Fused, FusionOptions, fuse, plain_backdrop

F32 = npt.NDArray[np.float32]
BoolMap = npt.NDArray[np.bool_]

OPTIONS = FusionOptions(min_backdrop_fit=0.9, max_backdrop_noise=0.08, min_backdrop_lightness=0.5,
                        min_overlap=0.5, edge_margin=2)
PLAIN = {"fit": 0.98, "noise": 0.02, "lightness": 0.95}
FAINT = 0.2
"""The contrast the backdrop model's product has unless a test says otherwise: below
``distinct_contrast`` (0.4), so rule 3 (hand over to the backdrop model) only fires in the tests
written for it, or when the learned map has nothing firm at all."""
DISTINCT = 0.8
"""A product that stands out clearly from the backdrop (a dark shoe on white)."""


def box(shape: tuple[int, int], top: int, left: int, bottom: int, right: int) -> BoolMap:
    region = np.zeros(shape, bool)
    region[top:bottom, left:right] = True
    return region


def body_with_a_faint_part() -> tuple[F32, BoolMap]:
    """A 60x60 body the backdrop model sees whole; the learned model is sure of its left 40
    columns (1.0) and only faint (0.3) on its right 20."""
    learned = np.zeros((100, 100), np.float32)
    learned[20:80, 20:60] = 1.0
    learned[20:80, 60:80] = 0.3
    return learned, box((100, 100), 20, 20, 80, 80)


def view(product: BoolMap, contrast: float | F32 = FAINT, fit: float = PLAIN["fit"],
         noise: float = PLAIN["noise"], lightness: float = PLAIN["lightness"]) -> BackdropView:
    """The backdrop model's view: ``contrast`` on its product (a number, or a whole map), 0 on
    the backdrop."""
    if np.isscalar(contrast):
        contrast_map = np.where(product, np.float32(contrast), np.float32(0.0))
    else:
        contrast_map = contrast
    return BackdropView(product=product, contrast=np.asarray(contrast_map, np.float32),
                        fit=fit, noise=noise, lightness=lightness)


def run(learned: F32, product: BoolMap, options: FusionOptions = OPTIONS,
        **backdrop: Any) -> Fused:
    """``fuse`` with the backdrop model's view made by :func:`view` from ``backdrop``."""
    return fuse(learned, view(product, **backdrop), options)


# --- rule 1: the gate ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fit", "noise", "lightness"),
    [
        (0.85, 0.02, 0.95),   # the border is not explained well enough
        (0.2, 0.02, 0.95),
        (0.98, 0.02, 0.3),    # a dark backdrop
        (1.0, 0.1, 0.95),     # a noisy border: a scene, even if "explained" and light
        (1.0, 0.95, 1.0),     # a busy scene: its fit is ~1 because its noise is huge
    ],
)
def test_the_gate_is_shut_on_a_poor_fit_a_noisy_border_or_a_dark_backdrop(
    fit: float, noise: float, lightness: float
) -> None:
    learned, product = body_with_a_faint_part()
    before = learned.copy()
    fused = run(learned, product, fit=fit, noise=noise, lightness=lightness)
    assert fused.plain_backdrop is False
    assert fused.decision == "learned"
    assert fused.agreement is None
    assert fused.filled_share == 0.0
    np.testing.assert_array_equal(fused.probability, before)
    np.testing.assert_array_equal(learned, before)  # the input is never modified
    assert plain_backdrop(view(product, fit=fit, noise=noise, lightness=lightness),
                          OPTIONS) is False


def test_a_noisy_border_shuts_the_gate_even_for_a_product_the_model_missed() -> None:
    """Rule 3 is behind the gate too: on a scene the backdrop model's "product" is noise."""
    product = box((100, 100), 20, 20, 80, 80)
    empty = np.zeros((100, 100), np.float32)
    fused = run(empty, product, contrast=DISTINCT, fit=1.0, noise=0.3, lightness=1.0)
    assert fused.decision == "learned" and fused.plain_backdrop is False
    np.testing.assert_array_equal(fused.probability, empty)


def test_the_gate_opens_at_its_thresholds() -> None:
    learned, product = body_with_a_faint_part()
    fused = run(learned, product, fit=0.9, noise=0.08, lightness=0.5)
    assert fused.plain_backdrop is True and fused.filled_share > 0
    assert fused.decision == "filled"
    assert plain_backdrop(view(product, fit=0.9, noise=0.08, lightness=0.5), OPTIONS) is True
    assert plain_backdrop(view(product, fit=0.9, noise=0.0801, lightness=0.5), OPTIONS) is False


def test_the_default_options() -> None:
    options = FusionOptions()
    assert options.min_backdrop_fit == 0.8
    assert options.max_backdrop_noise == 0.08
    assert options.min_backdrop_lightness == 0.4, "a grey seamless paper (18% grey: 0.46) passes"
    assert options.min_support == 0.05
    assert (options.min_coverage, options.distinct_contrast) == (0.6, 0.3)
    assert (options.shadow_band, options.shadow_darkening, options.shadow_edge,
            options.shadow_agreement) == (16, 0.3, 1, 0.9)


# --- rule 2: fill what both call product ------------------------------------------------------


def test_a_faint_part_of_a_region_both_call_product_is_filled_inside_its_outline() -> None:
    learned, product = body_with_a_faint_part()
    fused = run(learned, product)

    expected = learned.copy()
    expected[22:78, 22:78] = 1.0  # the region less edge_margin=2 pixels all round
    np.testing.assert_array_equal(fused.probability, expected)
    assert fused.probability.dtype == np.float32
    # The outline's two rows/columns stay the learned model's: 0.3 on the faint side.
    assert np.all(fused.probability[20:80, 78:80] == np.float32(0.3))
    assert np.all(fused.probability[20:22, 60:80] == np.float32(0.3))
    assert fused.plain_backdrop is True
    assert fused.decision == "filled"
    assert fused.agreement == pytest.approx(2400 / 3600)
    assert fused.filled_share == pytest.approx(56 * 18 / 10_000)
    np.testing.assert_array_equal(learned, body_with_a_faint_part()[0])  # input unchanged


@pytest.mark.parametrize("margin", [0, 1, 4])
def test_edge_margin_is_the_band_left_to_the_learned_edge(margin: int) -> None:
    learned, product = body_with_a_faint_part()
    options = FusionOptions(min_backdrop_fit=0.9, min_backdrop_lightness=0.5, min_overlap=0.5,
                            edge_margin=margin)
    fused = run(learned, product, options)
    expected = learned.copy()
    expected[20 + margin:80 - margin, 20 + margin:80 - margin] = 1.0
    np.testing.assert_array_equal(fused.probability, expected)


def test_a_region_the_learned_map_does_not_cover_is_never_added() -> None:
    """A table under the product: the backdrop model calls it product, the learned model
    barely responds (0.2) or not at all; it stays as the learned model had it."""
    learned, body = body_with_a_faint_part()
    table = box((100, 100), 85, 5, 97, 95)
    learned[85:97, 5:50] = 0.2
    fused = run(learned, body | table)
    assert fused.decision == "filled"
    np.testing.assert_array_equal(fused.probability[83:], learned[83:])
    assert fused.probability[22:78, 22:78].min() == 1.0, "the body is still filled"


def test_a_region_only_faintly_covered_everywhere_is_not_filled() -> None:
    """min_overlap counts firm (>= 0.5) learned pixels: 0.3 over a whole region is not enough
    evidence that it is the product rather than, say, a sheet of paper. (The model is sure of
    a small thing elsewhere, so its map is not empty: an empty map is rule 3's.)"""
    learned = np.zeros((100, 100), np.float32)
    learned[20:80, 20:80] = 0.3
    learned[88:95, 88:95] = 1.0
    fused = run(learned, box((100, 100), 20, 20, 80, 80))
    np.testing.assert_array_equal(fused.probability, learned)
    assert fused.decision == "learned"
    assert fused.filled_share == 0.0 and fused.agreement == 0.0


@pytest.mark.parametrize(("firm_columns", "kept"), [(30, True), (29, False)])
def test_min_overlap_is_the_share_of_the_region_the_learned_map_must_cover(
    firm_columns: int, kept: bool
) -> None:
    learned = np.zeros((100, 100), np.float32)
    learned[20:80, 20:80] = 0.3
    learned[20:80, 20:20 + firm_columns] = 0.9  # 30 of 60 columns: exactly half
    fused = run(learned, box((100, 100), 20, 20, 80, 80))
    assert bool(fused.probability[50, 70] == 1.0) is kept
    assert fused.decision == ("filled" if kept else "learned")
    assert fused.probability[50, 79] == np.float32(0.3), "the outline is left either way"


def test_a_part_the_model_barely_sees_inside_a_kept_region_is_filled() -> None:
    """A white sole on a white backdrop: the model gives it 0.1, the backdrop model sees it as
    part of the shoe it is sure of; inside the outline it becomes opaque."""
    learned = np.zeros((100, 100), np.float32)
    learned[20:70, 20:80] = 1.0          # the shoe's upper
    learned[70:80, 20:80] = 0.1          # the sole, barely seen by the model
    fused = run(learned, box((100, 100), 20, 20, 80, 80))  # upper and sole, one region
    assert fused.probability[70:78, 22:78].min() == 1.0
    np.testing.assert_array_equal(fused.probability[78:80], learned[78:80])


@pytest.mark.parametrize(("min_support", "filled_columns"), [(0.0, (60, 78)), (0.2, (60, 70)),
                                                            (0.5, None)])
def test_min_support_leaves_pixels_the_learned_map_puts_below_it_unfilled(
    min_support: float, filled_columns: tuple[int, int] | None
) -> None:
    """A body the model is sure of on its left, faint (0.3) in the middle and nearly blind
    (0.05) on its right: only pixels at least ``min_support`` are filled."""
    learned = np.zeros((100, 100), np.float32)
    learned[20:80, 20:60] = 1.0
    learned[20:80, 60:70] = 0.3
    learned[20:80, 70:80] = 0.05
    # rule 6 off: at 0.5 the faint columns are a part the model left out (tested below)
    options = FusionOptions(min_backdrop_fit=0.9, min_backdrop_lightness=0.5, min_overlap=0.5,
                            edge_margin=2, min_support=min_support, part_min_inside=2.0)
    fused = run(learned, box((100, 100), 20, 20, 80, 80), options)

    expected = learned.copy()
    if filled_columns is not None:
        expected[22:78, filled_columns[0]:filled_columns[1]] = 1.0
    np.testing.assert_array_equal(fused.probability, expected)
    assert fused.decision == ("learned" if filled_columns is None else "filled")
    if min_support > 0:
        assert np.all(fused.probability[20:80, 70:80] == np.float32(0.05)), "below: unfilled"


def test_no_backdrop_product_changes_nothing() -> None:
    learned, _ = body_with_a_faint_part()
    fused = run(learned, np.zeros((100, 100), bool))
    np.testing.assert_array_equal(fused.probability, learned)
    assert fused.plain_backdrop is True and fused.agreement == 0.0 and fused.filled_share == 0
    assert fused.decision == "learned"
    empty = run(np.zeros((10, 10), np.float32), np.zeros((10, 10), bool))
    assert empty.agreement == 1.0, "nothing in either: they agree"
    assert empty.decision == "learned", "nothing for the backdrop model to hand over either"
    assert not empty.probability.any()


@pytest.mark.parametrize("seed", range(6))
def test_nothing_is_ever_removed(seed: int) -> None:
    rng = np.random.default_rng(seed)
    learned = cv2.GaussianBlur(rng.random((120, 160), dtype=np.float32), (0, 0), 4)
    learned = (learned - learned.min()) / (learned.max() - learned.min())
    blobs = cv2.GaussianBlur(rng.random((120, 160), dtype=np.float32), (0, 0), 6)
    product = blobs > np.quantile(blobs, 0.6)
    options = FusionOptions(min_backdrop_fit=0.9, min_backdrop_lightness=0.5,
                            min_overlap=float(rng.uniform(0.2, 0.8)), edge_margin=seed % 3,
                            min_support=float(rng.uniform(0.0, 0.4)))
    fused = run(learned.astype(np.float32), product, options)
    assert fused.decision in ("learned", "filled")
    assert np.all(fused.probability >= learned)
    changed = fused.probability != learned
    assert np.all(fused.probability[changed] == 1.0), "only ever raised, to opaque"
    assert not changed[~product].any(), "only inside the backdrop model's product"
    assert not changed[learned < options.min_support].any(), "never below min_support"
    second = cv2.GaussianBlur(rng.random((120, 160), dtype=np.float32), (0, 0), 4)
    looked = fuse(learned.astype(np.float32), view(product), options, lambda: second)
    assert np.all(looked.probability >= learned), "a second look never removes either"


# --- rule 4: a second look where the two models disagree ---------------------------------------


def shoe_with_a_sole(sole: float) -> tuple[F32, BoolMap]:
    """An upper the model is sure of (rows 20-70) over a sole it gives ``sole`` (rows 70-80);
    the backdrop model sees upper and sole as one region."""
    learned = np.zeros((100, 100), np.float32)
    learned[20:70, 20:80] = 1.0
    learned[70:80, 20:80] = sole
    return learned, box((100, 100), 20, 20, 80, 80)


class Look:
    """A second look that returns ``answer`` and counts its calls."""

    def __init__(self, answer: F32) -> None:
        self.answer, self.calls = answer, 0

    def __call__(self) -> F32:
        self.calls += 1
        return self.answer


def test_a_part_only_the_second_look_sees_is_filled() -> None:
    """The first look gives the sole nothing (so rule 2 alone refuses it); the mirrored look
    sees it: the mean of the two supports the fill, and the sole comes out opaque."""
    learned, product = shoe_with_a_sole(0.0)
    second, _ = shoe_with_a_sole(0.8)
    look = Look(second)
    alone = fuse(learned, view(product), OPTIONS)
    fused = fuse(learned, view(product), OPTIONS, look)

    assert look.calls == 1 and fused.second_look is True and alone.second_look is False
    assert alone.probability[70:80].max() == 0.0, "without the second look: refused"
    assert fused.probability[70:78, 22:78].min() == 1.0
    np.testing.assert_allclose(fused.probability[78:80, 20:80], 0.4), "outline: the mean"
    assert fused.decision == "filled"
    assert np.all(fused.probability >= learned)


def test_a_part_neither_look_sees_stays_out() -> None:
    """A floor reflection joined to the product by the backdrop model: both looks call it
    floor, so it is not filled (and the map elsewhere is unchanged)."""
    learned, product = shoe_with_a_sole(0.0)
    look = Look(learned.copy())
    fused = fuse(learned, view(product), OPTIONS, look)
    assert look.calls == 1
    assert fused.probability[70:80].max() == 0.0
    np.testing.assert_array_equal(fused.probability, learned)


def test_a_part_the_second_look_only_half_sees_stays_out() -> None:
    """A reflection the mirrored look gives 0.3 (a trace, not an object): not filled, even
    though the mean (0.15) would pass the support floor."""
    learned, product = shoe_with_a_sole(0.0)
    look = Look(shoe_with_a_sole(0.3)[0])
    fused = fuse(learned, view(product), OPTIONS, look)
    assert look.calls == 1 and fused.second_look is True
    np.testing.assert_array_equal(fused.probability, learned)


def test_no_second_look_when_the_fill_is_not_refused() -> None:
    """A faint part the first look supports is filled as before; nothing to look again at."""
    learned, product = body_with_a_faint_part()
    look = Look(np.zeros_like(learned))
    fused = fuse(learned, view(product), OPTIONS, look)
    assert look.calls == 0 and fused.second_look is False and fused.decision == "filled"


@pytest.mark.parametrize(("share", "looked"), [(0.02, True), (0.14, True), (0.15, False)])
def test_second_look_share_is_the_refused_share_of_the_regions_being_filled(
    share: float, looked: bool
) -> None:
    """The sole's refused rows are 8 of the 56 rows left inside the region's outline
    (edge margin 2): 14%."""
    learned, product = shoe_with_a_sole(0.0)
    options = FusionOptions(min_backdrop_fit=0.9, min_backdrop_lightness=0.5, min_overlap=0.5,
                            edge_margin=2, second_look_share=share)
    look = Look(shoe_with_a_sole(0.8)[0])
    fused = fuse(learned, view(product), options, look)
    assert (look.calls == 1) is looked and fused.second_look is looked


def test_the_second_look_is_not_asked_off_a_plain_backdrop_or_on_a_hand_over() -> None:
    learned, product = shoe_with_a_sole(0.0)
    look = Look(shoe_with_a_sole(0.8)[0])
    assert fuse(learned, view(product, fit=0.2), OPTIONS, look).decision == "learned"
    empty = np.zeros_like(learned)
    assert fuse(empty, view(product, contrast=DISTINCT), OPTIONS, look).decision == "backdrop"
    assert look.calls == 0


# --- rule 3: hand over to the backdrop model ----------------------------------------------------


def assert_handed_over(fused: Fused, product: BoolMap, agreement: float) -> None:
    assert fused.decision == "backdrop"
    assert fused.plain_backdrop is True
    assert fused.probability.dtype == np.float32
    np.testing.assert_array_equal(fused.probability, product.astype(np.float32))
    assert fused.agreement == pytest.approx(agreement)
    assert fused.filled_share == 0.0


@pytest.mark.parametrize("haze", [0.0, 0.3])
@pytest.mark.parametrize("contrast", [DISTINCT, FAINT])
def test_an_empty_learned_map_hands_over_to_the_backdrop_model(
    haze: float, contrast: float
) -> None:
    """The model found nothing firm (all 0, or a 0.3 haze): whatever its contrast, what the
    backdrop model sees on a plain backdrop is the product (rather than no cut-out at all)."""
    learned = np.full((100, 100), haze, np.float32)
    product = box((100, 100), 20, 30, 80, 70)
    fused = run(learned, product, contrast=contrast)
    assert_handed_over(fused, product, 0.0)
    np.testing.assert_array_equal(learned, np.full((100, 100), haze, np.float32))


def test_a_model_that_found_nothing_hands_over_where_the_frames_edge_shows_a_light_backdrop(
) -> None:
    """Rule 3 with the backdrop read at the frame's edge: the centre reads dark (a surface
    extrapolated under a product that fills the frame), the edge light. A model that found
    nothing hands over; one that found something keeps its map (rule 1's gate stays shut), and
    an edge as dark as the centre hands over nothing."""
    product = box((100, 100), 0, 0, 80, 100)
    lit_edge = replace(view(product, DISTINCT, lightness=0.05), edge_lightness=0.95)
    nothing = np.zeros((100, 100), np.float32)
    assert_handed_over(fuse(nothing, lit_edge, OPTIONS), product, 0.0)

    something = nothing.copy()
    something[10:40, 10:40] = 1.0
    kept = fuse(something, lit_edge, OPTIONS)
    assert kept.decision == "learned" and kept.plain_backdrop is False
    np.testing.assert_array_equal(kept.probability, something)

    dark_edge = replace(lit_edge, edge_lightness=0.3)
    assert fuse(nothing, dark_edge, OPTIONS).decision == "learned"


def test_a_learned_map_covering_a_tenth_of_a_clearly_visible_product_hands_over() -> None:
    """The model kept a strap (6 of 60 columns) of a dark bag it otherwise missed."""
    learned = np.zeros((100, 100), np.float32)
    learned[20:80, 20:26] = 1.0
    product = box((100, 100), 20, 20, 80, 80)
    fused = run(learned, product, contrast=DISTINCT)
    assert_handed_over(fused, product, 0.1)


def test_a_faint_missed_part_is_no_reason_to_overrule_the_model() -> None:
    """A sheet of paper a shade off the backdrop (contrast 0.1) under a small object the model
    is sure of: the learned map covers a tenth of the backdrop model's product, but what it
    misses is faint, so the learned map is kept (the paper is not added)."""
    learned = np.zeros((100, 100), np.float32)
    learned[20:80, 20:26] = 1.0
    product = box((100, 100), 20, 20, 80, 80)
    fused = run(learned, product, contrast=0.1)
    assert fused.decision == "learned", "a tenth is below min_overlap: the region is not filled"
    np.testing.assert_array_equal(fused.probability, learned)
    assert fused.agreement == pytest.approx(0.1)


def test_only_the_missed_parts_contrast_counts() -> None:
    """The part the model covers is dark (1.0), the part it misses is faint: no hand-over. The
    other way round (a faint covered part, a dark missed one): hand-over."""
    learned = np.zeros((100, 100), np.float32)
    learned[20:80, 20:26] = 1.0
    product = box((100, 100), 20, 20, 80, 80)
    covered_dark = np.where(product, np.float32(0.1), np.float32(0.0))
    covered_dark[20:80, 20:26] = 1.0
    assert run(learned, product, contrast=covered_dark).decision == "learned"
    missed_dark = np.where(product, np.float32(0.9), np.float32(0.0))
    missed_dark[20:80, 20:26] = 0.05
    assert_handed_over(run(learned, product, contrast=missed_dark), product, 0.1)


@pytest.mark.parametrize(
    ("firm_columns", "contrast", "decision"),
    [
        (36, DISTINCT, "filled"),    # covers exactly min_coverage (0.6): the model is kept
        (35, DISTINCT, "backdrop"),  # just below it
        (35, 0.3, "backdrop"),       # the missed part exactly distinct_contrast
        (35, 0.29, "filled"),        # just below it: kept (and filled: 35/60 >= min_overlap)
    ],
)
def test_rule_3_thresholds(firm_columns: int, contrast: float, decision: str) -> None:
    learned = np.zeros((100, 100), np.float32)
    learned[20:80, 20:20 + firm_columns] = 1.0
    product = box((100, 100), 20, 20, 80, 80)
    learned[20:80, 20 + firm_columns:80] = 0.1  # the rest, faintly seen: filled if kept
    fused = run(learned, product, contrast=contrast)
    assert fused.decision == decision
    if decision == "backdrop":
        np.testing.assert_array_equal(fused.probability, product.astype(np.float32))
    else:
        assert np.all(fused.probability >= learned)


def test_a_region_the_model_does_not_recognise_does_not_trigger_a_hand_over_when_faint() -> None:
    """The body (2400 of its 3600 pixels firm) and a faint table beside it: coverage 0.51 of
    the backdrop model's product, below min_coverage, but the missed part (the table and the
    body's faint right side) is faint: the fill of rule 2 applies, the table is not added."""
    learned, body = body_with_a_faint_part()
    table = box((100, 100), 85, 5, 97, 95)
    fused = run(learned, body | table, contrast=FAINT)
    assert fused.decision == "filled"
    assert not fused.probability[85:97].any()


# --- rule 6: hand over when the backdrop model outlines a part the model left out --------------


def shoe_and_sole(sole_rows: int = 18, fade: bool = False) -> tuple[F32, BoolMap, F32]:
    """An upper the model is sure of (rows 20 to 80 - ``sole_rows``) over a sole it gives 0
    (reads as floor); the backdrop model sees both as one region (rows 20-80, columns 20-80).
    The sole's contrast is even (0.2), or with ``fade`` falls from 0.3 to 0.02 away from the
    upper, as a floor reflection does."""
    learned = np.zeros((100, 100), np.float32)
    learned[20:80 - sole_rows, 20:80] = 1.0
    product = box((100, 100), 20, 20, 80, 80)
    contrast = np.where(product, np.float32(FAINT), np.float32(0.0))
    if fade:
        rows = np.linspace(0.3, 0.02, sole_rows, dtype=np.float32)
        contrast[80 - sole_rows:80, 20:80] = rows[:, None]
    return learned, product, contrast.astype(np.float32)


def test_an_even_part_the_model_left_out_hands_over_to_the_backdrop_model() -> None:
    """A near-white sole the model reads as floor: the backdrop model's product is the shoe."""
    learned, product, contrast = shoe_and_sole()
    fused = fuse(learned, view(product, contrast=contrast), OPTIONS)
    assert fused.added_part is True
    assert_handed_over(fused, product, 42 / 60)


def test_a_part_that_fades_with_distance_is_a_reflection_and_stays_out() -> None:
    learned, product, contrast = shoe_and_sole(fade=True)
    fused = fuse(learned, view(product, contrast=contrast), OPTIONS)
    assert fused.added_part is False and fused.decision == "learned"
    np.testing.assert_array_equal(fused.probability, learned)


@pytest.mark.parametrize(("fade", "filled"), [(True, False), (False, True)])
def test_a_faintly_supported_part_beyond_the_model_is_filled_only_if_it_does_not_fade(
    fade: bool, filled: bool
) -> None:
    """Rule 2's exception: the backdrop model joins a region under the body that the model
    supports faintly (0.1). Fading with distance from the body (a floor reflection) it is not
    filled; as distinct far from the body as near it (a part of the product) it is."""
    learned = np.zeros((100, 100), np.float32)
    learned[10:60, 20:80] = 1.0
    learned[60:90, 20:80] = 0.1
    product = box((100, 100), 10, 20, 90, 80)
    contrast = np.where(product, np.float32(DISTINCT), np.float32(0.0))
    if fade:
        contrast[60:90, 20:80] = np.linspace(0.5, 0.05, 30, dtype=np.float32)[:, None]
    fused = fuse(learned, view(product, contrast=contrast), OPTIONS)
    assert fused.decision == "filled", "the body's own edge band is still filled"
    assert bool(fused.probability[70:88, 25:75].min() == 1.0) is filled
    if not filled:
        np.testing.assert_array_equal(fused.probability[66:90], learned[66:90])


@pytest.mark.parametrize(("sole_rows", "handed_over"), [
    (8, False),   # 4 rows past the margin of 3 (+1): 0.07 of the product, edge-like
    (12, True),   # 0.13
    (30, True),   # 0.43
    (36, False),  # 0.53: more than the model saw, rather a setting than a part
])
def test_part_min_and_max_share(sole_rows: int, handed_over: bool) -> None:
    learned, product, contrast = shoe_and_sole(sole_rows)
    fused = fuse(learned, view(product, contrast=contrast), OPTIONS)
    assert fused.added_part is handed_over
    assert (fused.decision == "backdrop") is handed_over


@pytest.mark.parametrize(("evenness", "handed_over"), [(0.8, False), (0.3, True)])
def test_part_min_evenness(evenness: float, handed_over: bool) -> None:
    """The fading sole's far half measures about a third of its near half's contrast."""
    learned, product, contrast = shoe_and_sole(fade=True)
    options = FusionOptions(min_backdrop_fit=0.9, min_backdrop_lightness=0.5, min_overlap=0.5,
                            edge_margin=2, part_min_evenness=evenness)
    assert fuse(learned, view(product, contrast=contrast), options).added_part is handed_over


def test_a_learned_mask_reaching_outside_the_backdrop_product_is_not_handed_over() -> None:
    """The model also covers 10 columns the backdrop model left out (a pale side): less than
    part_min_inside of the learned mask lies inside, so the two disagree beyond a part."""
    learned, product, contrast = shoe_and_sole()
    learned[20:62, 80:90] = 1.0
    fused = fuse(learned, view(product, contrast=contrast), OPTIONS)
    assert fused.added_part is False and fused.decision != "backdrop"


def test_a_part_the_model_faintly_supports_is_filled_not_handed_over() -> None:
    """A faint (0.3) near-white part is rule 2's: filled with the learned edges."""
    learned, product, contrast = shoe_and_sole()
    learned[62:80, 20:80] = 0.3
    fused = fuse(learned, view(product, contrast=contrast), OPTIONS)
    assert fused.added_part is False and fused.decision == "filled"


@pytest.mark.parametrize(("second", "handed_over"), [(1.0, False), (0.9, True)])
def test_a_part_the_second_look_makes_object_is_filled_not_handed_over(
    second: float, handed_over: bool
) -> None:
    """Counted as seen where rule 4's map (the mean of the looks) reaches 0.5: a sole the
    mirrored look is sure of (1.0) is filled; at 0.9 the mean (0.45) lets rule 2 fill it, but
    the learned map has no outline for it, so the backdrop model's cut-out is used."""
    learned, product, contrast = shoe_and_sole()
    look = Look(np.where(product, np.float32(second), np.float32(0.0)).astype(np.float32))
    fused = fuse(learned, view(product, contrast=contrast), OPTIONS, look)
    assert look.calls == 1 and fused.second_look is True
    assert fused.added_part is handed_over
    assert fused.decision == ("backdrop" if handed_over else "filled")


def test_a_part_neither_look_sees_is_handed_over_after_the_second_look() -> None:
    learned, product, contrast = shoe_and_sole()
    look = Look(learned.copy())
    fused = fuse(learned, view(product, contrast=contrast), OPTIONS, look)
    assert look.calls == 1 and fused.second_look is True and fused.added_part is True
    assert fused.decision == "backdrop"


def test_a_region_the_model_does_not_recognise_is_no_part() -> None:
    """A separate table the model does not cover (rule 2 does not keep it): no hand-over,
    however even its contrast."""
    learned, product, _ = shoe_and_sole(sole_rows=0)
    table = box((100, 100), 84, 5, 97, 95)
    fused = run(learned, product | table)
    assert fused.added_part is False and fused.decision != "backdrop"


def test_rule_6_is_not_asked_off_a_plain_backdrop() -> None:
    learned, product, contrast = shoe_and_sole()
    fused = fuse(learned, view(product, contrast=contrast, fit=0.2), OPTIONS)
    assert fused.decision == "learned" and fused.added_part is False


# --- rule 5: trim a shadow the model joined to the product ------------------------------------


def box_on_its_shadow(darkening: float = 0.5, shadow_rows: int = 4
                      ) -> tuple[F32, BoolMap, F32]:
    """A 60x60 body (rows 20-80) the backdrop model sees whole, and under it a contact shadow
    (``shadow_rows`` rows, ``darkening`` darker than the backdrop) the learned model took for
    part of the product (0.9); the backdrop model left it out. Returns the learned map, the
    backdrop model's product and its shade map."""
    learned = np.zeros((100, 100), np.float32)
    learned[20:80, 20:80] = 1.0
    learned[80:80 + shadow_rows, 20:80] = 0.9
    shade = np.ones((100, 100), np.float32)
    shade[80:80 + shadow_rows, 15:85] = 1.0 - darkening
    return learned, box((100, 100), 20, 20, 80, 80), shade


def run_shaded(learned: F32, product: BoolMap, shade: F32 | None,
               options: FusionOptions = OPTIONS) -> Fused:
    backdrop = BackdropView(product=product, contrast=np.where(product, FAINT, 0.0).astype(
        np.float32), fit=PLAIN["fit"], noise=PLAIN["noise"], lightness=PLAIN["lightness"],
        shade=shade)
    return fuse(learned, backdrop, options)


def test_a_shadow_the_model_joined_to_the_product_is_trimmed() -> None:
    learned, product, shade = box_on_its_shadow()
    fused = run_shaded(learned, product, shade)
    assert fused.probability[81:84].max() == 0.0, "the shadow is clear"
    # The body as it was, and the row just outside the backdrop model's product (shadow_edge)
    # left to the learned edge.
    np.testing.assert_array_equal(fused.probability[:81], learned[:81])
    assert fused.trimmed_share == pytest.approx(3 * 60 / 10_000)
    np.testing.assert_array_equal(learned, box_on_its_shadow()[0])  # input unchanged
    # Without the shade map (or with the rule off) the shadow stays.
    assert run_shaded(learned, product, None).probability[80:84, 20:80].min() == np.float32(0.9)
    off = FusionOptions(min_backdrop_fit=0.9, edge_margin=2, shadow_band=0)
    untrimmed = run_shaded(learned, product, shade, off)
    assert untrimmed.probability[80:84, 20:80].min() == np.float32(0.9)
    assert untrimmed.trimmed_share == 0.0


@pytest.mark.parametrize(("darkening", "trimmed"), [(0.3, True), (0.29, False), (0.0, False),
                                                    (-0.2, False)])
def test_only_a_part_darker_than_the_backdrop_is_trimmed(darkening: float, trimmed: bool) -> None:
    """A pale part of the product the backdrop model missed (as light as the backdrop, or
    lighter) keeps the learned edge; shadow_darkening (0.3) is the least darkening trimmed."""
    learned, product, shade = box_on_its_shadow(darkening)
    fused = run_shaded(learned, product, shade)
    assert bool(fused.probability[81:84].max() == 0.0) is trimmed
    assert bool(fused.probability[81:84, 20:80].min() == np.float32(0.9)) is not trimmed


def test_a_dark_part_the_backdrop_model_calls_product_is_never_trimmed() -> None:
    learned, product, shade = box_on_its_shadow()
    shade[20:80, 20:80] = 0.2  # a dark product
    fused = run_shaded(learned, product | box((100, 100), 80, 20, 84, 80), shade)
    assert (fused.probability >= learned).all(), "rule 2 may fill it; nothing is taken away"
    assert fused.trimmed_share == 0.0


@pytest.mark.parametrize(("shadow_rows", "trimmed"), [(4, True), (7, False)])
def test_nothing_is_trimmed_when_the_two_models_disagree_on_the_object(
    shadow_rows: int, trimmed: bool
) -> None:
    """shadow_agreement (0.9): the learned mask and the backdrop model's kept regions must
    overlap that well; with 7 shadow rows their IoU is 3600/4020 = 0.896."""
    learned, product, shade = box_on_its_shadow(shadow_rows=shadow_rows)
    shade[80:80 + shadow_rows, 15:85] = 0.5
    fused = run_shaded(learned, product, shade)
    assert bool(fused.probability[81:80 + shadow_rows].max() == 0.0) is trimmed


def test_a_backdrop_model_that_saw_only_the_outline_trims_nothing() -> None:
    """A white mug whose shaded rim alone the backdrop model outlined: its "not product" inside
    the body is no evidence of a shadow, even where the body is darker than the backdrop."""
    learned = np.zeros((100, 100), np.float32)
    learned[20:80, 20:80] = 1.0
    rim = box((100, 100), 20, 20, 80, 24)
    shade = np.ones((100, 100), np.float32)
    shade[20:80, 20:40] = 0.5  # the shaded side of the body
    fused = run_shaded(learned, rim, shade)
    np.testing.assert_array_equal(fused.probability, learned)
    assert fused.trimmed_share == 0.0


@pytest.mark.parametrize(("edge", "first_cleared_row"), [(0, 80), (1, 81), (2, 82)])
def test_shadow_edge_leaves_the_pixels_next_to_the_backdrop_models_product(
    edge: int, first_cleared_row: int
) -> None:
    """The mixed edge pixel of a dark product is darker than the backdrop as well: the
    shadow_edge pixels just outside the backdrop model's product keep the learned value."""
    learned, product, shade = box_on_its_shadow()
    options = FusionOptions(min_backdrop_fit=0.9, edge_margin=2, shadow_edge=edge)
    fused = run_shaded(learned, product, shade, options)
    np.testing.assert_array_equal(fused.probability[:first_cleared_row],
                                  learned[:first_cleared_row])
    assert fused.probability[first_cleared_row:84].max() == 0.0


def test_a_shadow_far_from_both_outlines_is_left_alone() -> None:
    """shadow_band: only pixels that near the learned outline and the backdrop model's are
    trimmed (a disagreement farther in is not about a shadow under the edge)."""
    learned, product, shade = box_on_its_shadow(shadow_rows=4)
    narrow = FusionOptions(min_backdrop_fit=0.9, edge_margin=2, shadow_band=1)
    fused = run_shaded(learned, product, shade, narrow)
    # Within 1 px of the product's outline (row 80) and of the learned one (row 83): nothing in
    # the middle columns is both.
    assert fused.probability[80:84, 30:70].min() == np.float32(0.9)


# --- confidence --------------------------------------------------------------------------------


def disc(shape: tuple[int, int] = (200, 300), centre: tuple[int, int] = (150, 100),
         radius: float = 50, soft: float = 0.0) -> F32:
    """A disc of probability 1 with a linear ramp ``soft`` pixels wide on its outline."""
    yy, xx = np.mgrid[0:shape[0], 0:shape[1]].astype(np.float32)
    distance = np.hypot(xx - centre[0], yy - centre[1]) - radius
    if soft == 0:
        return (distance < 0).astype(np.float32)
    return np.clip(0.5 - distance / soft, 0, 1).astype(np.float32)


def test_a_clean_single_object_mid_frame_scores_high() -> None:
    score, factors = confidence(disc(radius=60, soft=1.0), None)
    assert score > 0.9
    assert set(factors) == {"certainty", "frame_contact", "fragments", "area"}
    assert factors["frame_contact"] == 1.0 and factors["fragments"] == 1.0
    assert factors["area"] == 1.0
    assert score == pytest.approx(np.prod(list(factors.values())), abs=1e-3)


def test_a_broad_band_of_middle_values_scores_lower() -> None:
    clean, _ = confidence(disc(), None)
    hesitant = disc(radius=40)
    ring = (disc(radius=48) > 0) & (hesitant == 0)
    hesitant[ring] = 0.5
    score, factors = confidence(hesitant, None)
    assert factors["certainty"] < 0.8
    assert score < clean - 0.2
    assert score == pytest.approx(factors["certainty"], abs=1e-3), "the only symptom"


def test_many_fragments_score_lower() -> None:
    pieces = np.zeros((200, 300), np.float32)
    for i in range(10):
        pieces[20 + (i // 5) * 90:60 + (i // 5) * 90, 15 + (i % 5) * 58:45 + (i % 5) * 58] = 1.0
    score, factors = confidence(pieces, None)
    assert factors["fragments"] == pytest.approx(0.1)
    assert score <= 0.1 + 1e-6
    # One main piece with a small part (a cap beside a bottle) is still a clean cut-out.
    main = disc()
    main[20:26, 20:26] = 1.0
    score_main, factors_main = confidence(main, None)
    assert factors_main["fragments"] > 0.99 and score_main > 0.9


def test_touching_the_frame_scores_lower_and_the_whole_frame_lowest() -> None:
    clean, _ = confidence(disc(), None)
    cut_by_the_bottom = disc(centre=(150, 180), radius=60)
    score_cut, factors_cut = confidence(cut_by_the_bottom, None)
    assert 0.0 < factors_cut["frame_contact"] < 1.0
    assert score_cut < clean
    everything = np.ones((200, 300), np.float32)
    everything[60:140, 90:210] = 0.0  # the "object" is the scene around a hole: area < 90%
    score_all, factors_all = confidence(everything, None)
    assert factors_all["frame_contact"] == 0.0 and score_all == 0.0


@pytest.mark.parametrize(("radius", "factor"), [(10.0, 0.52), (300.0, 0.0), (155.0, 0.52)])
def test_a_tiny_or_a_frame_filling_object_scores_lower(radius: float, factor: float) -> None:
    probability = disc(radius=radius)
    area = float(probability.mean())
    _, factors = confidence(probability, None)
    expected = area / 0.01 if area < 0.01 else min(1.0, (1 - area) / 0.1)
    assert factors["area"] == pytest.approx(expected, abs=1e-4)
    assert factors["area"] == pytest.approx(factor, abs=0.05)
    _, mid = confidence(disc(radius=50), None)
    assert mid["area"] == 1.0


def test_the_agreement_factor_is_present_only_when_given() -> None:
    probability = disc()
    without, factors = confidence(probability, None)
    assert "agreement" not in factors
    with_agreement, factors_with = confidence(probability, 0.81)
    assert factors_with["agreement"] == pytest.approx(0.9)
    assert with_agreement == pytest.approx(without * 0.9, abs=1e-3)
    _, clipped = confidence(probability, 1.7)
    assert clipped["agreement"] == 1.0
    _, none = confidence(probability, 0.0)
    assert none["agreement"] == 0.0


def test_an_empty_map_scores_zero() -> None:
    score, factors = confidence(np.zeros((50, 50), np.float32), None)
    assert score == 0.0 and factors["fragments"] == 0.0 and factors["area"] == 0.0
