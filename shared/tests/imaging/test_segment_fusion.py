"""``fuse`` (the learned map with the backdrop model's product) and ``confidence``, on hand-made
arrays whose right answer can be written down pixel by pixel."""

from __future__ import annotations

import cv2
import numpy as np
import numpy.typing as npt
import pytest

from plinth.imaging.segment.confidence import confidence
from plinth.imaging.segment.fusion import FusionOptions, fuse

F32 = npt.NDArray[np.float32]
BoolMap = npt.NDArray[np.bool_]

OPTIONS = FusionOptions(min_backdrop_fit=0.9, min_backdrop_lightness=0.5, min_overlap=0.5,
                        edge_margin=2)
PLAIN = {"backdrop_fit": 0.98, "backdrop_lightness": 0.95}


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


def run(learned: F32, product: BoolMap, options: FusionOptions = OPTIONS,
        backdrop_fit: float = PLAIN["backdrop_fit"],
        backdrop_lightness: float = PLAIN["backdrop_lightness"]):  # type: ignore[no-untyped-def]
    return fuse(learned, product, backdrop_fit, backdrop_lightness, options)


# --- fusion ----------------------------------------------------------------------------------


@pytest.mark.parametrize(("fit", "lightness"), [(0.85, 0.95), (0.2, 0.95), (0.98, 0.3)])
def test_the_gate_is_shut_on_a_poor_fit_or_a_dark_backdrop(fit: float, lightness: float) -> None:
    learned, product = body_with_a_faint_part()
    before = learned.copy()
    fused = run(learned, product, backdrop_fit=fit, backdrop_lightness=lightness)
    assert fused.plain_backdrop is False
    assert fused.agreement is None
    assert fused.filled_share == 0.0
    np.testing.assert_array_equal(fused.probability, before)
    np.testing.assert_array_equal(learned, before)  # the input is never modified


def test_the_gate_opens_at_its_thresholds() -> None:
    learned, product = body_with_a_faint_part()
    fused = run(learned, product, backdrop_fit=0.9, backdrop_lightness=0.5)
    assert fused.plain_backdrop is True and fused.filled_share > 0


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
    np.testing.assert_array_equal(fused.probability[83:], learned[83:])
    assert fused.probability[22:78, 22:78].min() == 1.0, "the body is still filled"


def test_a_region_only_faintly_covered_everywhere_is_not_filled() -> None:
    """min_overlap counts firm (>= 0.5) learned pixels: 0.3 over a whole region is not enough
    evidence that it is the product rather than, say, a sheet of paper."""
    learned = np.zeros((100, 100), np.float32)
    learned[20:80, 20:80] = 0.3
    fused = run(learned, box((100, 100), 20, 20, 80, 80))
    np.testing.assert_array_equal(fused.probability, learned)
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
    assert fused.probability[50, 79] == np.float32(0.3), "the outline is left either way"


def test_a_part_the_model_dropped_inside_a_kept_region_is_filled() -> None:
    """A white sole on a white backdrop: the model says 0 there, the backdrop model sees it as
    part of the shoe it is sure of; inside the outline it becomes opaque."""
    learned = np.zeros((100, 100), np.float32)
    learned[20:70, 20:80] = 1.0          # the shoe's upper
    fused = run(learned, box((100, 100), 20, 20, 80, 80))  # upper and sole, one region
    assert fused.probability[70:78, 22:78].min() == 1.0
    np.testing.assert_array_equal(fused.probability[78:80], learned[78:80])


def test_no_backdrop_product_changes_nothing() -> None:
    learned, _ = body_with_a_faint_part()
    fused = run(learned, np.zeros((100, 100), bool))
    np.testing.assert_array_equal(fused.probability, learned)
    assert fused.plain_backdrop is True and fused.agreement == 0.0 and fused.filled_share == 0
    empty = run(np.zeros((10, 10), np.float32), np.zeros((10, 10), bool))
    assert empty.agreement == 1.0, "nothing in either: they agree"


@pytest.mark.parametrize("seed", range(6))
def test_nothing_is_ever_removed(seed: int) -> None:
    rng = np.random.default_rng(seed)
    learned = cv2.GaussianBlur(rng.random((120, 160), dtype=np.float32), (0, 0), 4)
    learned = (learned - learned.min()) / (learned.max() - learned.min())
    blobs = cv2.GaussianBlur(rng.random((120, 160), dtype=np.float32), (0, 0), 6)
    product = blobs > np.quantile(blobs, 0.6)
    options = FusionOptions(min_backdrop_fit=0.9, min_backdrop_lightness=0.5,
                            min_overlap=float(rng.uniform(0.2, 0.8)), edge_margin=seed % 3)
    fused = run(learned.astype(np.float32), product, options)
    assert np.all(fused.probability >= learned)
    changed = fused.probability != learned
    assert np.all(fused.probability[changed] == 1.0), "only ever raised, to opaque"
    assert not changed[~product].any(), "only inside the backdrop model's product"


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
