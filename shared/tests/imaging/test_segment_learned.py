"""The ``learned`` segmenter, with a fake ``SaliencyModel`` whose answer the test chooses, and once
with a tiny ONNX model built here and loaded through ``OnnxSaliencyModel``.

The fake model returns a map made from the photo's known truth, so each test controls exactly
what "the network" said and checks what the segmenter makes of it: the batch it was fed, the
probability it reads, and the full-resolution alpha and colours of the cut-out.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt
import onnx
import pytest
from onnx import TensorProto, helper

from plinth.imaging.errors import SegmentationError
from plinth.imaging.segment.base import Segmentation
from plinth.imaging.segment.fusion import FusionOptions
from plinth.imaging.segment.learned import LearnedOptions, LearnedSegmenter, to_probability
from plinth.imaging.segment.saliency import ModelContract
from plinth.models.onnx_runtime import OnnxSaliencyModel, RuntimeOptions

F32 = npt.NDArray[np.float32]


class FakeModel:
    """A ``SaliencyModel`` answering ``answer(batch)``; it keeps every batch it was given."""

    name = "fake-net"
    sha256 = "5a" * 32
    execution_provider = "FakeExecutionProvider"

    def __init__(self, answer: F32 | Callable[[F32], F32], contract: ModelContract,
                 fixed_size: tuple[int, int] | None = None) -> None:
        self.answer = answer
        self.contract = contract
        self.fixed_size = fixed_size
        self.batches: list[F32] = []

    def predict(self, batch: F32) -> F32:
        self.batches.append(batch)
        if callable(self.answer):
            return self.answer(batch)
        return self.answer


def model_of(truth: npt.NDArray[np.floating], side: int, **contract: object) -> FakeModel:
    """A fake model that answers ``truth`` (0..1 coverage at photo size) seen at ``side``."""
    answer = cv2.resize(truth.astype(np.float32), (side, side), interpolation=cv2.INTER_AREA)
    return FakeModel(answer, ModelContract(input_side=side, **contract))  # type: ignore[arg-type]


def fused_and_alone(answer: F32, side: int, rgb: npt.NDArray[np.uint8]
                    ) -> tuple[Segmentation, Segmentation]:
    """The cut-out of ``rgb`` by a fake model answering ``answer`` (see :func:`model_of`), with
    the default fusion and without any."""
    model = model_of(answer, side)
    return (LearnedSegmenter(model).segment(rgb),
            LearnedSegmenter(model, LearnedOptions(fusion=None)).segment(rgb))


def disc_coverage(height: int, width: int, cx: float, cy: float, r: float,
                  supersample: int = 4) -> F32:
    """Anti-aliased coverage of a disc: the share of each pixel inside it."""
    s = supersample
    yy, xx = np.mgrid[0:height * s, 0:width * s].astype(np.float32)
    inside = ((xx + 0.5) / s - cx) ** 2 + ((yy + 0.5) / s - cy) ** 2 < r * r
    return np.asarray(cv2.resize(inside.astype(np.float32), (width, height),
                                 interpolation=cv2.INTER_AREA), np.float32)


def compose(coverage: F32, product: tuple[int, int, int] | npt.NDArray[np.uint8],
            backdrop: tuple[int, int, int] | npt.NDArray[np.uint8]) -> npt.NDArray[np.uint8]:
    """``coverage * product + (1 - coverage) * backdrop``, as a camera mixes an edge."""
    a = coverage[..., None]
    mixed = a * np.asarray(product, np.float32) + (1 - a) * np.asarray(backdrop, np.float32)
    return np.clip(mixed + 0.5, 0, 255).astype(np.uint8)


def partial_band_width(alpha: npt.NDArray[np.uint8], perimeter: float) -> float:
    """Mean width, in pixels, of the band of partly transparent pixels along an outline."""
    return float(((alpha > 0) & (alpha < 255)).sum() / perimeter)


def iou(a: npt.NDArray[np.bool_], b: npt.NDArray[np.bool_]) -> float:
    return float((a & b).sum() / (a | b).sum())


# --- the model's input and output ------------------------------------------------------------


def test_the_batch_follows_the_contract_in_0_255_units() -> None:
    contract = ModelContract(input_side=64, mean=(10.0, 20.0, 30.0), std=(2.0, 4.0, 8.0))
    model = FakeModel(np.zeros((64, 64), np.float32), contract)
    rgb = np.empty((150, 200, 3), np.uint8)
    rgb[...] = (110, 120, 130)
    LearnedSegmenter(model).probability(rgb)

    (batch,) = model.batches
    assert batch.shape == (1, 3, 64, 64) and batch.dtype == np.float32
    assert batch.flags.c_contiguous
    # (value - mean) / std per channel, R then G then B: 100/2, 100/4, 100/8.
    np.testing.assert_allclose(batch[0, :, 10, 10], [50.0, 25.0, 12.5])
    np.testing.assert_allclose(batch[0].reshape(3, -1).std(axis=1), 0.0, atol=1e-6)


def test_the_photo_is_resized_to_the_input_square_channels_first() -> None:
    """Aspect ratio not kept; x runs along the last axis, y along the one before."""
    contract = ModelContract(input_side=32, mean=(0.0, 0.0, 0.0), std=(1.0, 1.0, 1.0))
    model = FakeModel(np.zeros((32, 32), np.float32), contract)
    height, width = 60, 240
    rgb = np.zeros((height, width, 3), np.uint8)
    rgb[..., 0] = np.linspace(0, 255, width).astype(np.uint8)[None, :]  # red grows to the right
    rgb[..., 2] = np.linspace(0, 255, height).astype(np.uint8)[:, None]  # blue grows downwards
    LearnedSegmenter(model).probability(rgb)

    batch = model.batches[0][0]
    assert batch.shape == (3, 32, 32)
    assert np.all(np.diff(batch[0, 16]) > 0) and np.ptp(batch[0, :, 16]) < 1e-3
    assert np.all(np.diff(batch[2, :, 16]) > 0) and np.ptp(batch[2, 16]) < 1e-3
    assert np.all(batch[1] == 0)
    assert batch[0].max() > 240 and batch[2].max() > 240, "the whole frame, stretched"


@pytest.mark.parametrize(
    ("output", "raw", "expected"),
    [
        ("clamp", [-0.5, 0.0, 0.25, 1.0, 1.7], [0.0, 0.0, 0.25, 1.0, 1.0]),
        ("sigmoid", [-50.0, -1.0, 0.0, 2.0, 50.0],
         [0.0, 1 / (1 + np.e), 0.5, 1 / (1 + np.exp(-2)), 1.0]),
        ("minmax", [2.0, 3.0, 4.0, 6.0, 10.0], [0.0, 0.125, 0.25, 0.5, 1.0]),
        ("minmax", [0.4, 0.4, 0.4, 0.4, 0.4], [0.4] * 5),  # nothing to stretch: kept
        ("minmax", [3.0, 3.0, 3.0, 3.0, 3.0], [1.0] * 5),  # ... then clamped
    ],
)
def test_to_probability(output: str, raw: list[float], expected: list[float]) -> None:
    result = to_probability(np.asarray(raw, np.float32).reshape(1, 5), output)
    assert result.dtype == np.float32 and result.shape == (1, 5)
    np.testing.assert_allclose(result[0], expected, atol=1e-6)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
@pytest.mark.parametrize("output", ["clamp", "sigmoid", "minmax"])
def test_to_probability_refuses_nan_and_infinity(output: str, bad: float) -> None:
    raw = np.zeros((4, 4), np.float32)
    raw[2, 1] = bad
    with pytest.raises(SegmentationError, match="NaN or infinite"):
        to_probability(raw, output)


def test_probability_reads_the_output_as_the_contract_says() -> None:
    logits = np.linspace(-4, 4, 32 * 32, dtype=np.float32).reshape(32, 32)
    model = FakeModel(logits, ModelContract(input_side=32, output="sigmoid"))
    probability = LearnedSegmenter(model).probability(np.zeros((40, 40, 3), np.uint8))
    np.testing.assert_allclose(probability, 1 / (1 + np.exp(-logits)), atol=1e-6)


@pytest.mark.parametrize(
    ("side", "size"),
    [(1024, 1024), (768, 768), (100, 96), (1000, 992), (785, 800), (40, 32), (8, 32)],
)
def test_the_input_size_is_the_contracts_side_rounded_to_a_multiple_of_32(
    side: int, size: int
) -> None:
    model = FakeModel(lambda b: np.zeros(b.shape[2:], np.float32), ModelContract(input_side=side))
    segmenter = LearnedSegmenter(model)
    assert segmenter.input_size == (size, size)
    segmenter.probability(np.zeros((50, 70, 3), np.uint8))
    assert model.batches[0].shape == (1, 3, size, size)


def test_a_fixed_size_model_gets_its_own_size() -> None:
    model = FakeModel(lambda b: np.zeros(b.shape[2:], np.float32), ModelContract(input_side=1024),
                      fixed_size=(48, 32))
    segmenter = LearnedSegmenter(model)
    assert segmenter.input_size == (48, 32)
    segmenter.probability(np.zeros((50, 70, 3), np.uint8))
    assert model.batches[0].shape == (1, 3, 32, 48), "(width, height) -> 1x3xHxW"


# --- the cut-out ------------------------------------------------------------------------------


def studio_disc(height: int = 1500, width: int = 2000) -> tuple[npt.NDArray[np.uint8], F32, float]:
    """A dark disc with a sharp (anti-aliased) edge on a light, plain backdrop."""
    radius = 0.3 * height
    coverage = disc_coverage(height, width, width / 2, height / 2, radius, supersample=2)
    return compose(coverage, (40, 45, 50), (235, 235, 232)), coverage, 2 * np.pi * radius


def test_full_resolution_alpha_lands_on_the_photos_edge() -> None:
    """A model answering at 768 for a 2000x1500 photo: the alpha's edge is the photo's, a
    pixel or so wide, not the 2.6x-blurred edge a bilinear upscale of the map would give."""
    rgb, coverage, perimeter = studio_disc()
    model = model_of(coverage, 768)
    result = LearnedSegmenter(model).segment(rgb)

    alpha = result.mask
    assert alpha.shape == (1500, 2000) and alpha.dtype == np.uint8
    truth = coverage >= 0.5
    assert iou(alpha >= 128, truth) > 0.99
    band = partial_band_width(alpha, perimeter)
    upscaled = cv2.resize(model.answer, (2000, 1500), interpolation=cv2.INTER_LINEAR)
    plain = np.clip(upscaled * 255 + 0.5, 0, 255).astype(np.uint8)
    assert band <= 2.5, f"a {band:.1f} px band of partial alpha along a sharp edge"
    assert partial_band_width(plain, perimeter) > 2 * band
    # Away from the edge the alpha is exactly 0 or 255, and product pixels keep their colour.
    inside = cv2.distanceTransform(truth.astype(np.uint8), cv2.DIST_L2, 5)
    outside = cv2.distanceTransform((~truth).astype(np.uint8), cv2.DIST_L2, 5)
    far = np.maximum(inside, outside) >= 4
    assert np.all((alpha[far] == 0) | (alpha[far] == 255))
    opaque = alpha == 255
    np.testing.assert_array_equal(result.cutout[..., :3][opaque], rgb[opaque])


@pytest.mark.parametrize(("side", "max_band"), [(640, 2.0), (512, 6.0)])
def test_full_resolution_alpha_is_sharper_than_an_upscale_from_a_coarser_answer(
    side: int, max_band: float
) -> None:
    """The models answer at 640-1024 while the map is refined at a 768 working size: from an
    answer at 0.83 (640) or 2/3 (512) of the working size the refined edge band is still much
    narrower than a bilinear upscale's. (Documented limit, not tested: the guided filter's
    window is 3 working pixels, so from an answer at 1/2 of the working size or coarser its band
    is no narrower than the upscale's; no model runs that coarse.)"""
    rgb, coverage, perimeter = studio_disc()
    model = model_of(coverage, side)
    alpha = LearnedSegmenter(model).segment(rgb).mask

    assert iou(alpha >= 128, coverage >= 0.5) > 0.99
    upscaled = cv2.resize(model.answer, (2000, 1500), interpolation=cv2.INTER_LINEAR)
    plain = np.clip(upscaled * 255 + 0.5, 0, 255).astype(np.uint8)
    band = partial_band_width(alpha, perimeter)
    plain_band = partial_band_width(plain, perimeter)
    assert band <= max_band, f"a {band:.1f} px band of partial alpha along a sharp edge"
    assert band < 0.6 * plain_band, f"{band:.1f} px vs {plain_band:.1f} px upscaled"


def test_edges_carry_no_backdrop_colour_fringe() -> None:
    """A red product on a blue backdrop: partly transparent edge pixels of the cut-out are red,
    not the purple of the photo's mixed edge pixels; fully transparent pixels are black."""
    height, width = 360, 480
    red, blue = (200, 20, 25), (30, 60, 210)
    coverage = disc_coverage(height, width, 230.3, 170.7, 110.0)
    rgb = compose(coverage, red, blue)
    result = LearnedSegmenter(model_of(coverage, 320)).segment(rgb)

    alpha = result.mask
    cutout = result.cutout
    partial = (alpha > 0) & (alpha < 255)
    assert partial.sum() > 300, "an anti-aliased outline has partly transparent pixels"
    edge = cutout[partial][:, :3].astype(np.int32)
    photo_edge = rgb[partial].astype(np.int32)
    # The photo's own edge pixels are strongly blue-tinted...
    assert np.median(photo_edge[:, 2]) > 80
    # ...the cut-out's are the product's red.
    assert np.abs(edge - np.asarray(red)).max(axis=1).mean() < 20
    assert np.percentile(edge[:, 2], 95) < 70, "no blue fringe"
    clear = alpha == 0
    assert clear.sum() > 0.5 * height * width
    assert cutout[clear][:, :3].max() == 0, "fully transparent pixels are black"
    np.testing.assert_array_equal(cutout[..., 3], alpha)


def busy_backdrop(height: int, width: int, seed: int = 3) -> npt.NDArray[np.uint8]:
    """A colourful, textured scene: no plain studio backdrop for the backdrop model to fit."""
    rng = np.random.default_rng(seed)
    noise = rng.integers(0, 256, (height // 8, width // 8, 3), np.uint8)
    scene = cv2.resize(noise, (width, height), interpolation=cv2.INTER_CUBIC)
    speckle = rng.integers(-40, 40, (height, width, 3))
    return np.clip(scene.astype(np.int32) + speckle, 0, 255).astype(np.uint8)


def test_a_translucent_part_keeps_partial_alpha_on_a_busy_backdrop() -> None:
    """The model says 0.5 over a glass part: the cut-out keeps alpha near 128 there, never 0."""
    height, width = 400, 600
    rgb = busy_backdrop(height, width)
    answer = np.zeros((height, width), np.float32)
    answer[100:300, 120:300] = 1.0   # a solid part...
    answer[100:300, 300:480] = 0.5   # ...and a glass part beside it, over the busy scene
    rgb[100:300, 120:300] = (90, 60, 40)
    model = model_of(answer, 256)
    result = LearnedSegmenter(model).segment(rgb)

    alpha = result.mask.astype(np.int32)
    glass = alpha[115:285, 315:465]
    assert glass.min() > 0, "no holes in a translucent part"
    assert 100 <= np.median(glass) <= 156
    assert np.percentile(glass, 2) >= 80 and np.percentile(glass, 98) <= 176
    assert alpha[120:280, 140:280].min() == 255
    assert alpha[:60].max() == 0 and alpha[340:].max() == 0


def test_a_busy_light_backdrop_is_not_a_studio_backdrop() -> None:
    """The backdrop fit explains the whole border of a scene (its noise is huge): the gate
    reads the noise too, so the scene is not a plain backdrop."""
    height, width = 300, 400
    blotches = np.random.default_rng(0).integers(110, 256, (30, 40, 3), np.uint8)
    rgb = cv2.resize(blotches, (width, height), interpolation=cv2.INTER_CUBIC)
    answer = np.zeros((height, width), np.float32)
    answer[90:210, 130:270] = 1.0
    rgb[90:210, 130:270] = (60, 40, 30)
    result = LearnedSegmenter(model_of(answer, 128)).segment(rgb)
    fusion = result.meta["fusion"]
    assert fusion["plain_backdrop"] is False and fusion["decision"] == "learned"
    assert fusion["backdrop_noise"] > 0.08, "a scene's border: noise well above a studio's"
    assert "agreement" not in result.meta["confidence_factors"]


@pytest.mark.parametrize("value", [0.0, 0.3])  # nothing, or only a faint haze, anywhere
def test_no_product_found_is_an_error(value: float) -> None:
    """Where the backdrop model cannot hand over (fusion off, an empty plain backdrop, a busy
    scene), a model that finds nothing is an error."""
    model = FakeModel(np.full((64, 64), value, np.float32), ModelContract(input_side=64))
    disc, _, _ = studio_disc(300, 400)
    empty = np.full((300, 400, 3), 245, np.uint8)
    for rgb, options in ((disc, LearnedOptions(fusion=None)), (empty, LearnedOptions()),
                         (busy_backdrop(300, 400), LearnedOptions())):
        with pytest.raises(SegmentationError, match="no product found: the fake-net model"):
            LearnedSegmenter(model, options).segment(rgb)


@pytest.mark.parametrize(
    "bad",
    [np.zeros((32, 32), np.uint8), np.zeros((32, 32, 3), np.float32),
     np.zeros((32, 32, 4), np.uint8), np.zeros((3, 32, 3), np.uint8), "not an image"],
)
def test_bad_input_arrays_are_refused(bad: object) -> None:
    model = FakeModel(np.ones((32, 32), np.float32), ModelContract(input_side=32))
    with pytest.raises(SegmentationError, match="learned segmenter expects"):
        LearnedSegmenter(model).segment(bad)  # type: ignore[arg-type]
    assert model.batches == [], "refused before the model runs"


def test_meta_records_model_confidence_fusion_and_timings() -> None:
    rgb, coverage, _ = studio_disc(300, 400)
    model = model_of(coverage, 96)
    result = LearnedSegmenter(model).segment(rgb)

    assert result.provider == "learned" and result.cost_usd == 0.0
    np.testing.assert_array_equal(result.cutout[..., 3], result.mask)
    meta = result.meta
    assert meta["model"] == "fake-net"
    assert meta["model_sha256"] == "5a" * 32
    assert meta["execution_provider"] == "FakeExecutionProvider"
    assert meta["input_size"] == [96, 96]
    assert meta["product_share"] == pytest.approx(float((coverage >= 0.5).mean()), abs=0.01)
    assert 0.0 <= meta["confidence"] <= 1.0
    assert meta["confidence"] > 0.8, "one clean disc mid-frame"
    factors = meta["confidence_factors"]
    assert {"certainty", "frame_contact", "fragments", "area", "agreement"} <= set(factors)
    assert all(0.0 <= value <= 1.0 for value in factors.values())
    assert meta["confidence"] == pytest.approx(float(np.prod(list(factors.values()))), abs=2e-3)
    fusion = meta["fusion"]
    assert fusion["plain_backdrop"] is True
    assert fusion["decision"] in ("learned", "filled")
    assert fusion["backdrop_fit"] > 0.9 and 0.0 <= fusion["filled_share"] <= 1.0
    assert 0.0 <= fusion["backdrop_noise"] <= 0.08
    assert set(meta["timings_ms"]) == {"inference", "fusion", "refine", "decontaminate"}
    assert all(value >= 0 for value in meta["timings_ms"].values())


def test_without_fusion_there_is_no_agreement_factor() -> None:
    rgb, coverage, _ = studio_disc(300, 400)
    result = LearnedSegmenter(model_of(coverage, 96), LearnedOptions(fusion=None)).segment(rgb)
    assert result.meta["fusion"] == {"decision": "learned", "plain_backdrop": False}
    assert "agreement" not in result.meta["confidence_factors"]


def test_fusion_makes_a_faint_near_white_body_solid() -> None:
    """On a plain backdrop, the backdrop model sees the whole body; where the learned model left
    part of it faint (0.3) the fused cut-out is opaque, and without fusion it is not."""
    height, width = 300, 400
    rgb = np.empty((height, width, 3), np.uint8)
    rgb[...] = (250, 250, 250)
    rgb[80:220, 120:280] = (120, 140, 200)   # a clearly visible body...
    answer = np.zeros((height, width), np.float32)
    answer[80:220, 120:280] = 1.0
    answer[80:220, 220:280] = 0.3             # ...that the model only half believes in on the right
    fused, alone = fused_and_alone(answer, 128, rgb)

    assert fused.meta["fusion"]["plain_backdrop"] is True
    assert fused.meta["fusion"]["decision"] == "filled"
    assert fused.meta["fusion"]["filled_share"] > 0.05
    assert fused.mask[95:205, 230:265].min() == 255
    assert alone.mask[95:205, 230:265].max() < 128
    assert fused.mask[:60].max() == 0, "nothing added outside the body"


def test_a_part_the_model_sees_only_in_the_mirrored_photo_is_filled() -> None:
    """Fusion rule 4 end to end: a model that misses the left-hand part of a body (a white sole
    it reads as floor) but sees it when the photo is mirrored (its left is then on the right).
    The segmenter looks again at the mirrored photo and the part comes out opaque; the second
    batch it fed the model is the first one mirrored."""
    height, width = 300, 400
    rgb = np.empty((height, width, 3), np.uint8)
    rgb[...] = (250, 250, 250)
    rgb[80:220, 100:300] = (120, 140, 200)

    def answer(batch: F32) -> F32:
        side = batch.shape[-1]
        seen = np.zeros((side, side), np.float32)
        top, bottom = round(80 / height * side), round(220 / height * side)
        left, right = round(100 / width * side), round(300 / width * side)
        seen[top:bottom, left:right] = 1.0
        seen[:, : round(0.35 * side)] = 0.0  # blind to the left 35% of what it is shown
        return seen

    model = FakeModel(answer, ModelContract(input_side=128))
    fused = LearnedSegmenter(model).segment(rgb)
    assert fused.meta["fusion"]["second_look"] is True
    assert len(model.batches) == 2
    np.testing.assert_array_equal(model.batches[1], model.batches[0][..., ::-1])
    assert fused.mask[95:205, 110:135].min() == 255, "the left part, seen only mirrored"
    assert fused.mask[:60].max() == 0, "nothing added outside the body"
    alone = LearnedSegmenter(FakeModel(answer, ModelContract(input_side=128)),
                             LearnedOptions(fusion=None)).segment(rgb)
    assert alone.mask[95:205, 110:135].max() < 128


def test_a_contact_shadow_the_model_joined_to_the_product_is_trimmed() -> None:
    """Fusion rule 5 end to end: a body standing on a soft contact shadow (darker than the
    backdrop, of its colour, fading out) that the model takes for part of the product. The
    backdrop model grows the backdrop through the shadow, so the cut-out leaves it out; without
    fusion it is kept."""
    height, width = 300, 400
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    # An elliptical shadow centred on the body's base, darkest (55% of the light) at its centre.
    falloff = ((xx - 200) / 100) ** 2 + ((yy - 220) / 14) ** 2
    light = 1.0 - 0.45 * np.exp(-2.0 * falloff)
    rgb = np.clip(np.full((height, width, 3), 250.0) * light[..., None] + 0.5, 0, 255
                  ).astype(np.uint8)
    rgb[80:220, 120:280] = (120, 140, 200)
    answer = np.zeros((height, width), np.float32)
    answer[80:220, 120:280] = 1.0
    answer[220:228, 130:270] = 0.95  # the model joins the shadow's dark core to the base
    fused, alone = fused_and_alone(answer, 128, rgb)

    assert alone.mask[222:226, 150:250].min() >= 128, "the model alone keeps the shadow"
    assert fused.meta["fusion"]["trimmed_share"] > 0.003
    assert fused.mask[223:232, 140:260].max() < 128, "the shadow is left out"
    assert fused.mask[85:215, 125:275].min() >= 250, "the body is whole"
    body = np.zeros((height, width), bool)
    body[80:220, 120:280] = True
    assert iou(fused.mask >= 128, body) > iou(alone.mask >= 128, body)
    assert iou(fused.mask >= 128, body) > 0.98


def dark_box_on_white() -> tuple[npt.NDArray[np.uint8], npt.NDArray[np.bool_]]:
    """A 400x300 studio photo: a dark rectangle on a plain white backdrop."""
    rgb = np.empty((300, 400, 3), np.uint8)
    rgb[...] = (250, 250, 250)
    rgb[80:220, 120:280] = (40, 45, 50)
    truth = np.zeros((300, 400), bool)
    truth[80:220, 120:280] = True
    return rgb, truth


def test_a_product_the_model_missed_is_the_backdrop_models_cut_out() -> None:
    """Fusion rule 3: the model answers nothing for a dark product on a plain white backdrop;
    instead of "no product found", the cut-out is the backdrop model's, recorded as the learned
    provider's decision with its model and confidence."""
    rgb, truth = dark_box_on_white()
    model = FakeModel(np.zeros((64, 64), np.float32), ModelContract(input_side=64))
    result = LearnedSegmenter(model).segment(rgb)

    assert model.batches, "the model was asked"
    assert iou(result.mask >= 128, truth) > 0.95
    np.testing.assert_array_equal(result.cutout[..., 3], result.mask)
    opaque = result.mask == 255
    np.testing.assert_array_equal(result.cutout[..., :3][opaque], rgb[opaque])
    assert result.provider == "learned" and result.cost_usd == 0.0
    meta = result.meta
    assert meta["fusion"]["decision"] == "backdrop"
    assert meta["fusion"]["plain_backdrop"] is True
    assert meta["model"] == "fake-net" and meta["model_sha256"] == "5a" * 32
    assert meta["execution_provider"] == "FakeExecutionProvider"
    assert meta["input_size"] == [64, 64]
    factors = meta["confidence_factors"]
    assert {"certainty", "frame_contact", "fragments", "area", "agreement"} <= set(factors)
    assert all(0.0 <= value <= 1.0 for value in factors.values())
    assert 0.0 <= meta["confidence"] <= 1.0
    assert meta["confidence"] == pytest.approx(float(np.prod(list(factors.values()))), abs=2e-3)
    assert meta["timings_ms"]["total"] >= 0


def test_a_tenth_of_a_dark_product_is_handed_over_and_a_faint_sheet_is_not() -> None:
    """The model keeps only a strip of a dark product: the backdrop model's cut-out is used. A
    sheet of paper a shade off the backdrop around a small object the model is sure of is not a
    reason to overrule it: the cut-out stays the model's object alone."""
    rgb, truth = dark_box_on_white()
    strip = np.zeros((300, 400), np.float32)
    strip[80:220, 120:136] = 1.0  # a tenth of the rectangle
    handed = LearnedSegmenter(model_of(strip, 128)).segment(rgb)
    assert handed.meta["fusion"]["decision"] == "backdrop"
    assert iou(handed.mask >= 128, truth) > 0.95

    paper = np.empty((300, 400, 3), np.uint8)
    paper[...] = (250, 250, 250)
    paper[60:240, 80:320] = (238, 238, 236)   # the sheet, 5% darker than the backdrop
    paper[130:170, 180:220] = (40, 45, 50)    # a small dark object on it
    thing = np.zeros((300, 400), np.float32)
    thing[130:170, 180:220] = 1.0
    kept = LearnedSegmenter(model_of(thing, 128)).segment(paper)
    assert kept.meta["fusion"]["plain_backdrop"] is True
    assert kept.meta["fusion"]["decision"] in ("learned", "filled")
    assert iou(kept.mask >= 128, thing >= 0.5) > 0.9
    assert kept.mask[65:120, 85:315].max() == 0, "the sheet is not added"


@pytest.mark.parametrize(("distinct", "handed_over"), [(0.3, True), (0.4, False)])
def test_a_pale_product_the_model_mostly_missed_is_handed_over(distinct: float,
                                                               handed_over: bool) -> None:
    """A pale mauve-grey product on white (35% off the backdrop's light in linear light, clearly
    visible; a sheet of paper a shade off measures about 5%), of which the model saw a strip:
    at the default ``distinct_contrast`` the backdrop model's cut-out is used; at 0.4 (the
    earlier default) the strip alone was kept."""
    rgb = np.full((300, 400, 3), 250, np.uint8)
    rgb[80:220, 120:280] = (220, 206, 214)
    truth = np.zeros((300, 400), bool)
    truth[80:220, 120:280] = True
    strip = np.zeros((300, 400), np.float32)
    strip[80:220, 120:136] = 1.0
    result = LearnedSegmenter(model_of(strip, 128), LearnedOptions(
        fusion=FusionOptions(distinct_contrast=distinct))).segment(rgb)
    assert (result.meta["fusion"]["decision"] == "backdrop") is handed_over
    assert (iou(result.mask >= 128, truth) > 0.95) is handed_over


# --- with a real (tiny) ONNX model -------------------------------------------------------------


def tiny_onnx(path: Path) -> Path:
    """sigmoid(10 * (0.5 - mean_c(x))) with free H/W: with x = rgb / 255, dark is product."""
    graph = helper.make_graph(
        [helper.make_node("ReduceMean", ["image"], ["m"], axes=[1], keepdims=1),
         helper.make_node("Sub", ["half", "m"], ["d"]),
         helper.make_node("Mul", ["d", "gain"], ["z"]),
         helper.make_node("Sigmoid", ["z"], ["saliency"])],
        "tiny-saliency",
        [helper.make_tensor_value_info("image", TensorProto.FLOAT, [1, 3, "h", "w"])],
        [helper.make_tensor_value_info("saliency", TensorProto.FLOAT, [1, 1, "h", "w"])],
        initializer=[helper.make_tensor("half", TensorProto.FLOAT, [], [0.5]),
                     helper.make_tensor("gain", TensorProto.FLOAT, [], [10.0])],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, path)
    return path


def test_a_tiny_onnx_model_through_the_port(tmp_path: Path) -> None:
    path = tiny_onnx(tmp_path / "tiny.onnx")
    contract = ModelContract(input_side=96, mean=(0.0, 0.0, 0.0), std=(255.0, 255.0, 255.0))
    model = OnnxSaliencyModel(path, contract, options=RuntimeOptions(threads=1, use_cuda=False))
    rgb = np.empty((240, 320, 3), np.uint8)
    rgb[...] = (240, 238, 236)
    rgb[60:180, 100:220] = (30, 25, 20)
    result = LearnedSegmenter(model).segment(rgb)

    assert result.meta["model"] == "tiny.onnx"
    assert result.meta["model_sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
    assert result.meta["input_size"] == [96, 96]
    assert result.meta["execution_provider"] == "CPUExecutionProvider"
    mask = result.mask
    assert mask[70:170, 110:210].min() == 255
    assert mask[:50].max() == 0 and mask[:, :80].max() == 0
    assert iou(mask >= 128, np.pad(np.ones((120, 120), bool), ((60, 60), (100, 100)))) > 0.97


def test_a_product_filling_the_frame_above_a_strip_of_backdrop_is_handed_over() -> None:
    """An extreme crop: a dark product cut by the frame on three sides, a strip of light backdrop
    under it, and a model that sees no object (the frame is all product to it). The backdrop's
    lightness is read where the frame's edge shows it (the surface fitted on the strip,
    extrapolated up under the product, reads nearly black), so the photo counts as a studio
    photo and rule 3 hands over to the backdrop model instead of "no product found"."""
    height, width = 300, 400
    yy = np.mgrid[0:height, 0:width][0].astype(np.float32)
    shadowed = 246 - 60 * np.exp(-(yy - 225) / 12.0)  # the product's contact shadow on the strip
    rgb = np.clip(shadowed[..., None] + 0.5, 0, 255).astype(np.uint8).repeat(3, axis=2)
    rgb[:225] = (50, 80, 150)
    truth = np.zeros((height, width), bool)
    truth[:225] = True
    model = FakeModel(np.zeros((64, 64), np.float32), ModelContract(input_side=64))
    result = LearnedSegmenter(model).segment(rgb)

    fusion = result.meta["fusion"]
    assert fusion["plain_backdrop"] is True and fusion["decision"] == "backdrop"
    assert iou(result.mask >= 128, truth) > 0.95


def dark_object_in(batch: F32) -> F32:
    """What a fake model sees in a batch (default contract): its dark pixels."""
    rgb = batch[0] * 256.0 + 128.0
    return (rgb.mean(axis=0) < 128).astype(np.float32)


def touches(mask: F32, margin: int = 1) -> bool:
    return bool(mask[:margin].any() or mask[:, :margin].any() or mask[:, -margin:].any())


def test_a_product_the_model_misses_where_it_fills_the_frame_is_found_by_a_wider_look() -> None:
    """A model that sees no object in a frame-filling crop (as IS-Net does with a close-up) but
    sees it once the photo sits inside a margin of its backdrop. Without the wider look:
    "no product found"."""
    height, width = 300, 400
    rgb = np.full((height, width, 3), 245, np.uint8)
    rgb[:225] = (50, 80, 150)
    truth = np.zeros((height, width), bool)
    truth[:225] = True

    def answer(batch: F32) -> F32:
        seen = dark_object_in(batch)
        return np.zeros_like(seen) if touches(seen) else seen

    model = FakeModel(answer, ModelContract(input_side=96))
    result = LearnedSegmenter(model, LearnedOptions(fusion=None)).segment(rgb)
    assert result.meta["wider_look"] is True and len(model.batches) == 2
    framed = model.batches[1][0] * 256.0 + 128.0
    np.testing.assert_allclose(framed[:, :10].reshape(3, -1).mean(axis=1), 245.0, atol=0.01)
    assert iou(result.mask >= 128, truth) > 0.97
    with pytest.raises(SegmentationError, match="no product found"):
        LearnedSegmenter(FakeModel(answer, ModelContract(input_side=96)),
                         LearnedOptions(fusion=None, wider_look=None)).segment(rgb)


def test_a_part_the_first_look_missed_at_the_frame_is_added_by_the_wider_look() -> None:
    """A box cut by the frame at the top and left; the model is blind to the left quarter of its
    input while the box runs into the frame (it reads that part as backdrop), and sees it
    whole inside a margin. The backdrop model calls the added part product, so the wider look
    is kept (the gate is set shut here, so no fusion rule hands over instead). A photo whose
    product stands free gets no wider look at all."""
    height, width = 300, 400
    rgb = np.full((height, width, 3), 245, np.uint8)
    rgb[:220, :300] = (50, 80, 150)
    truth = np.zeros((height, width), bool)
    truth[:220, :300] = True

    def answer(batch: F32) -> F32:
        seen = dark_object_in(batch)
        if touches(seen):
            seen[:, : seen.shape[1] // 4] = 0.0
        return seen

    shut = LearnedOptions(fusion=FusionOptions(min_backdrop_fit=0.999))
    model = FakeModel(answer, ModelContract(input_side=96))
    result = LearnedSegmenter(model, shut).segment(rgb)
    assert result.meta["fusion"]["plain_backdrop"] is False
    assert result.meta["wider_look"] is True and len(model.batches) == 2
    assert iou(result.mask >= 128, truth) > 0.97
    first_only = LearnedSegmenter(FakeModel(answer, ModelContract(input_side=96)),
                                  LearnedOptions(fusion=shut.fusion, wider_look=None))
    assert iou(first_only.segment(rgb).mask >= 128, truth) < 0.8

    free = np.full((height, width, 3), 245, np.uint8)
    free[60:240, 100:300] = (50, 80, 150)
    model = FakeModel(answer, ModelContract(input_side=96))
    assert LearnedSegmenter(model, shut).segment(free).meta["wider_look"] is False
    assert len(model.batches) == 1


def test_a_floor_reflection_the_backdrop_model_joined_is_not_filled() -> None:
    """Rule 2's exception: a dark body on a glossy floor, its reflection under it fading into the
    backdrop. The backdrop model joins the reflection to the body; the model supports it only
    faintly (0.1). The fill stops at the body, while a faint part of the body itself (a pale
    cap the model half believes in) is still filled; with the exception off (rule 6's fade
    measure off) the reflection is filled too."""
    height, width = 480, 400
    rgb = np.empty((height, width, 3), np.float32)
    rgb[...] = 245.0
    rgb[60:300, 120:280] = (40.0, 45.0, 60.0)
    rgb[60:90, 120:280] = (200.0, 200.0, 205.0)    # a pale cap
    fade = 0.45 * np.exp(-np.linspace(0, 1, 100) * 3.0)[:, None, None]
    mirrored = rgb[200:300][::-1]
    rgb[300:400, 120:280] = fade * mirrored[:, 120:280] + (1 - fade) * 245.0
    rgb = np.clip(rgb + 0.5, 0, 255).astype(np.uint8)
    answer = np.zeros((height, width), np.float32)
    answer[90:300, 120:280] = 1.0
    answer[60:90, 120:280] = 0.3        # the cap, half believed
    answer[300:400, 120:280] = 0.1      # the reflection, a trace
    truth = np.zeros((height, width), bool)
    truth[60:300, 120:280] = True
    model = model_of(answer, 128)
    # Rule 7 would clear this mirror image as well: off, so that the fill's exception is seen.
    result = LearnedSegmenter(model, LearnedOptions(
        fusion=FusionOptions(reflection=None))).segment(rgb)
    unchecked = LearnedSegmenter(model, LearnedOptions(
        fusion=FusionOptions(part_min_evenness=0.0, reflection=None))).segment(rgb)

    assert result.meta["fusion"]["decision"] == "filled"
    assert result.mask[65:85, 130:270].min() >= 200, "the pale cap is filled"
    assert result.mask[310:390, 130:270].max() < 128, "the reflection is not"
    assert unchecked.mask[310:390, 130:270].min() == 255
    assert iou(result.mask >= 128, truth) > 0.97


def bottle_on_a_glossy_floor() -> tuple[npt.NDArray[np.uint8], npt.NDArray[np.bool_]]:
    """A shaded bottle with a label and a cap on a glossy white floor, mirrored under its base
    and fading; and its truth."""
    height, width = 480, 360
    rgb = np.full((height, width, 3), 242.0, np.float32)
    columns = np.linspace(-1, 1, 120, dtype=np.float32)
    shading = (0.6 + 0.4 * (1 - columns**2))[None, :, None]
    rgb[60:300, 120:240] = shading * np.array([70.0, 110.0, 90.0], np.float32)
    rgb[170:230, 120:240] = shading * np.array([200.0, 60.0, 50.0], np.float32)
    rgb[60:80, 150:210] = (30.0, 30.0, 35.0)
    strength = (0.4 * np.exp(-np.linspace(0, 1, 120) * 3.0))[:, None, None]
    rgb[300:420] = strength * rgb[180:300][::-1] + (1 - strength) * rgb[300:420]
    rgb = np.clip(rgb + 0.5, 0, 255).astype(np.uint8)
    truth = np.zeros((height, width), bool)
    truth[60:300, 120:240] = True
    truth[60:80, 120:150] = truth[60:80, 210:240] = False
    return rgb, truth


def test_a_floor_reflection_the_model_kept_is_cleared() -> None:
    """Fusion rule 7 end to end: the model keeps the bottle's reflection as object. The cut-out
    ends at the base; without fusion the reflection is kept."""
    rgb, truth = bottle_on_a_glossy_floor()
    answer = truth.astype(np.float32)
    answer[300:400, 120:240] = 1.0  # the model keeps most of the reflection
    result, alone = fused_and_alone(answer, 160, rgb)

    assert alone.mask[310:390, 130:230].min() >= 128, "the model alone keeps the reflection"
    assert result.meta["fusion"]["reflection_share"] > 0.03
    assert result.mask[306:400, 120:240].max() < 128, "the reflection is cleared"
    assert iou(result.mask >= 128, truth) > 0.97


def test_a_floor_reflection_is_cleared_from_a_hand_over() -> None:
    """The model saw only a strip of the bottle, so the backdrop model's cut-out is used
    (rule 3); that model joins the reflection to the bottle, and rule 7 clears it there too."""
    rgb, truth = bottle_on_a_glossy_floor()
    strip = np.zeros(truth.shape, np.float32)
    strip[100:280, 160:176] = 1.0
    model = model_of(strip, 160)
    result = LearnedSegmenter(model).segment(rgb)
    kept = LearnedSegmenter(model, LearnedOptions(
        fusion=FusionOptions(reflection=None))).segment(rgb)

    assert result.meta["fusion"]["decision"] == kept.meta["fusion"]["decision"] == "backdrop"
    assert kept.mask[310:390, 140:220].min() >= 128, "the backdrop model keeps the reflection"
    assert result.meta["fusion"]["reflection_share"] > 0.03
    assert result.mask[306:400, 120:240].max() < 128, "the reflection is cleared"
    drawn = truth.copy()
    drawn[60:80, 120:240] = True  # the body's colour beside the cap, which the backdrop model keeps
    assert iou(result.mask >= 128, drawn) > 0.97


def test_a_grey_seamless_backdrop_is_a_studio_backdrop() -> None:
    """A light-grey body on an 18% grey seamless paper (sRGB 118), which the model only half
    believes in on its right: the gate opens on a mid-grey backdrop and the body comes out
    solid; on a charcoal one (sRGB 70) it stays shut."""
    height, width = 300, 400
    answer = np.zeros((height, width), np.float32)
    answer[80:220, 120:280] = 1.0
    answer[80:220, 220:280] = 0.3
    results = {}
    for name, grey in (("grey", 118), ("charcoal", 70)):
        rgb = np.full((height, width, 3), grey, np.uint8)
        rgb[80:220, 120:280] = (200, 205, 210)
        results[name] = LearnedSegmenter(model_of(answer, 128)).segment(rgb)
    grey_fusion = results["grey"].meta["fusion"]
    assert grey_fusion["plain_backdrop"] is True and grey_fusion["decision"] == "filled"
    assert results["grey"].mask[95:205, 230:265].min() == 255
    assert results["charcoal"].meta["fusion"]["plain_backdrop"] is False
    assert results["charcoal"].mask[95:205, 230:265].max() < 128


GREEN, WHITE = np.array((50, 150, 60), np.float32), np.array((246, 246, 244), np.float32)


def green_glass_bottle() -> tuple[npt.NDArray[np.uint8], F32, npt.NDArray[np.float32]]:
    """A 480x600 photo of a green glass bottle on white: an opaque rim 8 px wide, the body
    inside it the green mixed 40/60 with white; its coverage and distance from the outline."""
    height, width = 600, 480
    body = np.zeros((height, width), np.uint8)
    cv2.rectangle(body, (150, 180), (330, 520), 1, -1)
    cv2.circle(body, (240, 180), 90, 1, -1)
    coverage = cv2.GaussianBlur(body.astype(np.float32), (3, 3), 0)
    distance = cv2.distanceTransform(body, cv2.DIST_L2, 3)
    opacity = np.where(distance > 8, 0.4, 1.0).astype(np.float32) * coverage
    return compose(opacity, GREEN.astype(np.uint8), WHITE.astype(np.uint8)), coverage, distance


def assert_glass(result: Segmentation, distance: npt.NDArray[np.float32]) -> None:
    """Alpha about 0.4 inside the body, its colour the glass's green, the rim opaque."""
    inside = distance > 14
    alpha = result.mask[inside].astype(np.float32) / 255
    assert np.median(alpha) == pytest.approx(0.4, abs=0.04)
    assert alpha.min() > 0.25, "no holes"
    colour = result.cutout[inside][:, :3].astype(np.float32)
    assert np.abs(np.median(colour, axis=0) - GREEN).max() < 12, "the glass's own colour"
    assert result.mask[(distance >= 1) & (distance <= 3)].min() >= 200, "the rim stays opaque"
    assert result.meta["translucent"]["opacity"] == pytest.approx(0.4, abs=0.04)
    assert result.meta["translucent"]["share"] > 0.7


def test_a_tinted_glass_bottle_on_white_keeps_its_opacity_and_its_own_colour() -> None:
    """The model calls a green glass body product at full strength. Against the white backdrop
    the body is its rim's green mixed 40/60 with white: the cut-out's alpha there is about 0.4,
    its colour the glass's green (so a new backdrop shows through, not the old white), and the
    rim stays opaque. With the translucency off the body is solid, as the model said."""
    rgb, coverage, distance = green_glass_bottle()
    model = model_of(coverage, 256)

    result = LearnedSegmenter(model).segment(rgb)
    solid = LearnedSegmenter(model, LearnedOptions(translucency=None)).segment(rgb)

    assert_glass(result, distance)
    assert solid.mask[distance > 14].min() == 255 and solid.meta["translucent"] is None


def test_a_glass_bottle_the_model_missed_is_handed_over_with_its_opacity() -> None:
    """Fusion rule 3 hands the photo to the backdrop model (the model saw nothing); its
    cut-out's glass body gets the same partial alpha and colour."""
    rgb, _, distance = green_glass_bottle()
    model = FakeModel(np.zeros((64, 64), np.float32), ModelContract(input_side=64))
    result = LearnedSegmenter(model).segment(rgb)
    assert result.meta["fusion"]["decision"] == "backdrop"
    assert_glass(result, distance)
    np.testing.assert_array_equal(result.cutout[..., 3], result.mask)


def test_an_opaque_product_has_no_translucent_part() -> None:
    rgb, coverage, _ = studio_disc(300, 400)
    model = model_of(coverage, 96)
    result = LearnedSegmenter(model).segment(rgb)
    assert result.meta["translucent"] is None
    opaque = LearnedSegmenter(model, LearnedOptions(translucency=None)).segment(rgb)
    np.testing.assert_array_equal(result.cutout, opaque.cutout)
