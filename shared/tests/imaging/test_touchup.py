"""Touch-up of a mask (issue 20): brush strokes, GrabCut and learned re-cuts, the recomputed
cut-out, on the sample bottle photo with the local provider's mask as the truth to restore."""

from __future__ import annotations

from functools import cache
from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt
import pytest

from plinth.imaging.decode import decode_image, encode_png
from plinth.imaging.segment.local import LocalSegmenter
from plinth.imaging.segment.saliency import ModelContract
from plinth.imaging.touchup import (
    SeedPoint,
    Stroke,
    TouchUpError,
    TouchUpRequest,
    decode_mask,
    grabcut_recut,
    learned_recut,
    paint,
    recompose_cutout,
    touch_up_files,
    touched_mask,
)
from plinth.imaging.touchup.region import Box, feather_weights, marked_box, merge

ROOT = Path(__file__).resolve().parents[3]
BOTTLE = ROOT / "samples" / "bottle.jpg"
Mask = npt.NDArray[np.uint8]

# Where the bottle's cap sits in the 1600x1600 sample (measured on the local provider's mask).
CAP = Box(700, 165, 900, 275)


@cache
def bottle() -> tuple[npt.NDArray[np.uint8], Mask]:
    rgb = decode_image(BOTTLE.read_bytes()).rgb
    return rgb, LocalSegmenter().segment(rgb).mask


def iou(a: npt.NDArray[np.bool_], b: npt.NDArray[np.bool_]) -> float:
    return float((a & b).sum() / max((a | b).sum(), 1))


def without_cap(mask: Mask) -> Mask:
    """The bottle's mask as a bad cut-out would have it: the cap missing."""
    damaged = mask.copy()
    damaged[: CAP.y1 + 5, :] = 0
    return damaged


def test_the_truth_has_a_cap() -> None:
    _, truth = bottle()
    rows, cols = CAP.slices()
    assert (truth[rows, cols] >= 128).mean() > 0.6
    assert (without_cap(truth)[rows, cols] >= 128).mean() == 0


# --- strokes -----------------------------------------------------------------------------------

def test_an_add_stroke_paints_a_round_brush_along_its_polyline() -> None:
    mask = np.zeros((200, 300), np.uint8)
    out = paint(mask, [Stroke("add", 20, ((50.0, 100.0), (250.0, 100.0)))])
    assert mask.max() == 0  # the input is not changed
    assert out[100, 50:251].min() == 255  # along the line
    assert out[91, 150] == 255 and out[109, 150] == 255  # within the radius across it
    assert out[100 - 13, 150] == 0 and out[100 + 13, 150] == 0  # outside it
    assert out[100, 50 - 13] == 0 and out[100, 250 + 13] == 0  # round caps, not beyond
    assert out[100 - 9, 50 - 4] == 255  # the cap is round: a disc at the end point
    assert ((out > 0) & (out < 255)).any()  # anti-aliased rim


def test_strokes_apply_in_order_and_remove_clears() -> None:
    mask = np.full((100, 100), 255, np.uint8)
    out = paint(mask, [Stroke("remove", 30, ((50.0, 50.0),)),
                       Stroke("add", 10, ((50.0, 50.0),))])
    assert out[50, 50] == 255  # the later add wins at the centre
    assert out[50, 40] == 0  # the remove's ring is left
    assert out[50, 10] == 255  # untouched far away


def test_a_single_point_stroke_is_a_disc_of_the_brush_size() -> None:
    out = paint(np.zeros((100, 100), np.uint8), [Stroke("add", 40, ((50.0, 50.0),))])
    area = (out >= 128).sum()
    assert abs(area - np.pi * 20 * 20) < 0.05 * np.pi * 20 * 20


def test_painting_the_missing_cap_back_restores_the_mask() -> None:
    rgb, truth = bottle()
    damaged = without_cap(truth)
    strokes = [Stroke("add", 60, tuple((float(x), float(y)) for x in range(730, 880, 25)
                                       for y in (195, 245)))]
    restored = touched_mask(rgb, damaged, TouchUpRequest("paint", tuple(strokes)))
    rows, cols = CAP.slices()
    assert (restored[rows, cols] >= 128).mean() > (damaged[rows, cols] >= 128).mean() + 0.5
    far = np.ones(truth.shape, bool)
    far[: CAP.y1 + 60, :] = False
    assert np.array_equal(restored[far], damaged[far])  # nothing else moved


# --- regions -----------------------------------------------------------------------------------

def test_the_crop_grows_around_the_marks_and_stays_on_the_image() -> None:
    box = marked_box([Stroke("add", 10, ((100.0, 100.0), (140.0, 100.0)))], [], 1000, 800,
                     margin_share=0.5, min_margin=20, min_side=0)
    assert (box.x0, box.x1) == (95 - 25, 146 + 25)  # extent 50 (with the brush): margin 25
    edge = marked_box([], [SeedPoint(2, 3)], 1000, 800, margin_share=0.5, min_margin=20,
                      min_side=200)
    assert edge.x0 == 0 and edge.y0 == 0 and edge.width == 200 and edge.height == 200


def test_merge_feathers_only_towards_inner_edges() -> None:
    mask = np.zeros((100, 100), np.uint8)
    box = Box(0, 20, 60, 80)
    out = merge(mask, np.full((60, 60), 255, np.uint8), box, feather=10)
    assert out[50, 0] == 255  # the image's own edge: no feather
    assert out[50, 30] == 255  # inside
    assert 0 < out[50, 57] < 128  # towards the crop's inner edge: blended
    assert out[10, 30] == 0 and out[50, 70] == 0  # outside the crop: untouched
    weights = feather_weights(box, 100, 100, 10)
    assert weights.shape == (60, 60) and weights.max() == 1.0


# --- GrabCut -----------------------------------------------------------------------------------

def test_grabcut_snaps_a_rough_stroke_to_the_caps_edges() -> None:
    rgb, truth = bottle()
    damaged = without_cap(truth)
    rough = Stroke("add", 20, ((740.0, 220.0), (860.0, 220.0)))  # well inside the cap
    recut = grabcut_recut(rgb, damaged, [rough], [])
    rows, cols = CAP.slices()
    restored = iou(recut[rows, cols] >= 128, truth[rows, cols] >= 128)
    assert restored > 0.95, restored
    assert iou(damaged[rows, cols] >= 128, truth[rows, cols] >= 128) == 0
    painted = paint(damaged, [rough])  # the stroke alone covers a fifth of the cap
    assert iou(painted[rows, cols] >= 128, truth[rows, cols] >= 128) < 0.25
    # the backdrop beside the cap stays backdrop
    assert (recut[170:270, 600:680] >= 128).mean() < 0.02
    # far from the stroke nothing changed
    assert np.array_equal(recut[700:, :], damaged[700:, :])


def test_grabcut_from_one_click_recovers_most_of_the_cap() -> None:
    rgb, truth = bottle()
    recut = grabcut_recut(rgb, without_cap(truth), [], [SeedPoint(800, 220, True)])
    rows, cols = CAP.slices()
    assert iou(recut[rows, cols] >= 128, truth[rows, cols] >= 128) > 0.7


def test_grabcut_removes_what_a_remove_stroke_marks_and_keeps_the_rest() -> None:
    rgb, truth = bottle()
    fat = truth.copy()
    fat[600:700, 500:560] = 255  # a blob of backdrop wrongly in the mask, left of the body
    recut = grabcut_recut(rgb, fat, [Stroke("remove", 20, ((510.0, 650.0), (550.0, 650.0)))],
                          [])
    assert (recut[600:700, 500:545] >= 128).mean() < 0.05
    assert (recut[600:700, 620:700] >= 128).all()  # the body next to it stays


def test_grabcut_without_background_in_reach_says_so() -> None:
    rgb = np.full((300, 300, 3), 120, np.uint8)
    mask = np.full((300, 300), 255, np.uint8)
    with pytest.raises(TouchUpError, match="no background"):
        grabcut_recut(rgb, mask, [], [SeedPoint(150, 150, True)])


# --- learned re-cut ----------------------------------------------------------------------------

class ColourModel:
    """A stand-in salient-object model: what differs from the light backdrop is salient."""

    name = "colour-net"
    sha256 = "c0" * 32
    execution_provider = "FakeExecutionProvider"
    fixed_size = None
    contract = ModelContract(input_side=320)

    def __init__(self) -> None:
        self.inputs: list[tuple[int, ...]] = []

    def predict(self, batch: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
        self.inputs.append(batch.shape)
        rgb = batch[0].transpose(1, 2, 0) * 256.0 + 128.0
        distance = np.abs(rgb - np.array([240.0, 240.0, 238.0], np.float32)).max(axis=2)
        return np.clip((distance - 20.0) / 20.0, 0, 1).astype(np.float32)


def test_the_learned_recut_runs_the_model_on_the_crop_and_merges_it_there() -> None:
    rgb, truth = bottle()
    damaged = without_cap(truth)
    model = ColourModel()
    recut = learned_recut(rgb, damaged, [], [SeedPoint(800, 220, True)], model)
    assert model.inputs == [(1, 3, 320, 320)]
    rows, cols = CAP.slices()
    assert iou(recut[rows, cols] >= 128, truth[rows, cols] >= 128) > 0.85
    assert np.array_equal(recut[800:, :], damaged[800:, :])  # outside the crop: as it was


def test_a_negative_click_takes_out_only_the_region_it_is_on() -> None:
    rgb, truth = bottle()
    # The model sees cap and neck as one salient region: a negative click on it takes it out.
    recut = learned_recut(rgb, truth, [], [SeedPoint(800, 220, False)], ColourModel())
    rows, cols = CAP.slices()
    assert (recut[rows, cols] >= 128).mean() < 0.05
    assert np.array_equal(recut[900:, :], truth[900:, :])


def test_a_negative_click_on_what_only_the_old_mask_calls_product_removes_it() -> None:
    rgb, truth = bottle()
    fat = truth.copy()
    fat[600:700, 480:545] = 255  # backdrop wrongly in the mask, beside the body
    recut = learned_recut(rgb, fat, [], [SeedPoint(500, 650, False)], ColourModel())
    assert (recut[600:700, 480:540] >= 128).mean() < 0.05
    assert (recut[600:700, 600:1000] >= 128).all()  # the body the model also sees stays


def test_a_positive_click_adds_without_removing_what_the_model_misses() -> None:
    rgb, truth = bottle()
    damaged = without_cap(truth)
    damaged[60:100, 620:660] = 255  # in the crop: something the mask has and the model not
    assert truth[60:100, 620:660].max() == 0
    recut = learned_recut(rgb, damaged, [], [SeedPoint(800, 220, True)], ColourModel())
    assert (recut[60:100, 620:660] == 255).all()
    rows, cols = CAP.slices()
    assert (recut[rows, cols] >= 128).mean() > 0.6


def test_a_positive_click_on_nothing_salient_is_refused() -> None:
    rgb, truth = bottle()
    with pytest.raises(TouchUpError, match="no product"):
        learned_recut(rgb, truth, [], [SeedPoint(200, 200, True)], ColourModel())


def test_the_installed_model_restores_the_cap() -> None:
    from plinth.models.errors import ModelError
    from plinth.models.segmenters import SegmenterConfig, learned_segmenter

    try:
        segmenter = learned_segmenter(SegmenterConfig(provider="learned", model="isnet-small"))
    except ModelError as exc:
        pytest.skip(f"isnet-small is not installed: {exc.message}")
    rgb, truth = bottle()
    recut = learned_recut(rgb, without_cap(truth), [], [SeedPoint(800, 220, True)],
                          segmenter.model)
    rows, cols = CAP.slices()
    assert iou(recut[rows, cols] >= 128, truth[rows, cols] >= 128) > 0.95
    # the click added the cap and changed nothing else (the neck next to it is kept)
    assert abs(int((recut >= 128).sum()) - int((truth >= 128).sum())) < 0.01 * (truth >= 128).sum()


def test_the_learned_method_without_a_model_is_refused() -> None:
    rgb, truth = bottle()
    with pytest.raises(TouchUpError, match="learned model"):
        touched_mask(rgb, truth, TouchUpRequest("learned", points=(SeedPoint(800, 220),)))


# --- the cut-out -------------------------------------------------------------------------------

def test_the_cutout_has_the_mask_as_alpha_and_clean_edges() -> None:
    # A red disc on a green backdrop with an anti-aliased edge.
    height = width = 200
    yy, xx = np.mgrid[0:height * 4, 0:width * 4].astype(np.float32)
    inside = ((xx + 0.5) / 4 - 100) ** 2 + ((yy + 0.5) / 4 - 100) ** 2 < 60 ** 2
    coverage = cv2.resize(inside.astype(np.float32), (width, height),
                          interpolation=cv2.INTER_AREA)
    red, green = np.array([200, 30, 30], np.float32), np.array([30, 200, 30], np.float32)
    rgb = (coverage[..., None] * red + (1 - coverage[..., None]) * green + 0.5).astype(np.uint8)
    mask = np.clip(coverage * 255 + 0.5, 0, 255).astype(np.uint8)
    rgba = recompose_cutout(rgb, mask)
    assert np.array_equal(rgba[..., 3], mask)
    assert rgba[mask == 0, :3].max() == 0
    edge = (mask > 60) & (mask < 200)
    assert edge.sum() > 50
    raw_green = rgb[edge, 1].astype(float).mean()
    clean_green = rgba[edge, 1].astype(float).mean()
    assert clean_green < raw_green - 40  # the backdrop's green is unmixed from the rim
    assert np.array_equal(rgba[100, 100, :3], rgb[100, 100])  # the inside keeps its colour


# --- requests and bytes ------------------------------------------------------------------------

def test_requests_are_checked() -> None:
    with pytest.raises(TouchUpError, match="needs at least one stroke"):
        TouchUpRequest("paint", points=(SeedPoint(1, 1),))
    with pytest.raises(TouchUpError, match="stroke or point"):
        TouchUpRequest("grabcut")
    with pytest.raises(TouchUpError, match="size"):
        Stroke("add", 0, ((1.0, 1.0),))
    request = TouchUpRequest("grabcut", (Stroke("add", 5, ((1.0, 1.0), (100.0, 5.0))),))
    with pytest.raises(TouchUpError, match=r"strokes\[0\]\.points\[1\] \(100.0, 5.0\) is outside"):
        request.check_inside(100, 100)
    with pytest.raises(TouchUpError, match=r"points\[0\]"):
        TouchUpRequest("grabcut", points=(SeedPoint(float("nan"), 1),)).check_inside(10, 10)


def test_touch_up_files_round_trips_the_stored_bytes() -> None:
    _rgb, truth = bottle()
    request = TouchUpRequest("paint", (Stroke("remove", 80, ((800.0, 900.0),)),))
    done = touch_up_files(BOTTLE.read_bytes(), encode_png(truth), request)
    assert (done.width, done.height) == (1600, 1600)
    mask = decode_mask(done.mask_png)
    assert mask[900, 800] == 0 and mask[1100, 800] == 255
    assert done.cutout_png is not None
    cutout = cv2.imdecode(np.frombuffer(done.cutout_png, np.uint8), cv2.IMREAD_UNCHANGED)
    assert cutout.shape == (1600, 1600, 4)
    assert np.array_equal(cutout[..., 3], mask)
    preview = touch_up_files(BOTTLE.read_bytes(), encode_png(truth), request, with_cutout=False)
    assert preview.cutout_png is None and preview.mask_png == done.mask_png


def test_a_mask_of_another_size_is_refused() -> None:
    with pytest.raises(TouchUpError, match="the mask is 10x10"):
        touch_up_files(BOTTLE.read_bytes(), encode_png(np.zeros((10, 10), np.uint8)),
                       TouchUpRequest("paint", (Stroke("add", 5, ((1.0, 1.0),)),)))
