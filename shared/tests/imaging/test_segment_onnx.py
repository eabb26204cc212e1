"""The onnx segment provider, with tiny models the tests build with the ``onnx`` package.

The main test model computes ``sigmoid(GAIN * (0.5 - mean over channels))`` per pixel, so its
saliency is known in closed form: dark pixels are "product", light ones "background".
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper

from plinth.imaging.errors import SegmentationError
from plinth.imaging.segment import get_provider
from plinth.imaging.segment.onnx import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    ModelInput,
    OnnxSegmenter,
    postprocess,
    preprocess,
)

GAIN = 10.0
ZERO, ONE = (0.0, 0.0, 0.0), (1.0, 1.0, 1.0)  # no normalisation: x stays in 0..1


def build_model(
    path: Path,
    *,
    input_shape: list[int | str],
    channels_last: bool = False,
    sigmoid: bool = True,
    output_channels: int = 1,
    elem_type: int = TensorProto.FLOAT,
) -> Path:
    """Saliency = [sigmoid](GAIN * (0.5 - mean_c(x))), shaped 1x{output_channels}xHxW."""
    channel_axis = 3 if channels_last else 1
    h, w = input_shape[1:3] if channels_last else input_shape[2:4]
    nodes = [
        helper.make_node("ReduceMean", ["image"], ["m"], axes=[channel_axis], keepdims=1),
        helper.make_node("Sub", ["half", "m"], ["d"]),
        helper.make_node("Mul", ["d", "gain"], ["z"]),
    ]
    last = "z"
    if channels_last:
        nodes.append(helper.make_node("Transpose", [last], ["zt"], perm=[0, 3, 1, 2]))
        last = "zt"
    if output_channels > 1:
        nodes.append(helper.make_node("Concat", [last] * output_channels, ["zc"], axis=1))
        last = "zc"
    nodes.append(helper.make_node("Sigmoid" if sigmoid else "Identity", [last], ["saliency"]))
    graph = helper.make_graph(
        nodes,
        "tiny-saliency",
        [helper.make_tensor_value_info("image", elem_type, input_shape)],
        [helper.make_tensor_value_info("saliency", elem_type, [1, output_channels, h, w])],
        initializer=[
            helper.make_tensor("half", elem_type, [], [0.5]),
            helper.make_tensor("gain", elem_type, [], [GAIN]),
        ],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, path)
    return path


def expected_saliency(rgb: np.ndarray) -> np.ndarray:
    """The model's map for an image already at its input size, min-max normalised."""
    x = rgb.astype(np.float32) / 255.0
    p = 1.0 / (1.0 + np.exp(-GAIN * (0.5 - x.mean(axis=2))))
    return (p - p.min()) / (p.max() - p.min())


def photo(height: int, width: int) -> np.ndarray:
    """A dark, noisy object on a light background with a horizontal red gradient."""
    rng = np.random.default_rng(7)
    rgb = np.full((height, width, 3), 235, np.uint8)
    rgb[..., 0] = np.linspace(215, 255, width).astype(np.uint8)[None, :]
    top, bottom, left, right = height // 4, 3 * height // 4, width // 3, 2 * width // 3
    rgb[top:bottom, left:right] = rng.integers(0, 20, (bottom - top, right - left, 3), np.uint8)
    return rgb


@pytest.fixture
def fixed_model(tmp_path: Path) -> Path:
    return build_model(tmp_path / "fixed.onnx", input_shape=[1, 3, 32, 32])


def test_mask_matches_the_models_closed_form(fixed_model: Path) -> None:
    rgb = photo(32, 32)
    result = OnnxSegmenter(fixed_model, mean=ZERO, std=ONE).segment(rgb)

    expected = np.clip(expected_saliency(rgb) * 255.0 + 0.5, 0, 255).astype(np.uint8)
    assert result.provider == "onnx" and result.cost_usd == 0.0
    assert result.mask.dtype == np.uint8 and result.mask.shape == (32, 32)
    assert np.abs(result.mask.astype(int) - expected).max() <= 1
    np.testing.assert_array_equal(result.cutout[..., 3], result.mask)
    assert result.meta["input_size"] == [32, 32]
    assert result.meta["execution_provider"] == "CPUExecutionProvider"


def test_probability_is_resized_back_to_full_size(fixed_model: Path) -> None:
    rgb = photo(96, 160)
    result = OnnxSegmenter(fixed_model, mean=ZERO, std=ONE).segment(rgb)
    assert result.mask.shape == (96, 160)
    # Deep inside the object the model is sure; far out in the background too.
    assert result.mask[40:56, 60:100].min() >= 250
    assert result.mask[:10, :30].max() <= 5
    # Opaque product pixels keep their colour; clear pixels carry none.
    opaque = result.mask == 255
    np.testing.assert_array_equal(result.cutout[..., :3][opaque], rgb[opaque])
    assert result.cutout[..., :3][result.mask == 0].max() == 0


def test_logits_output_gets_a_sigmoid(tmp_path: Path) -> None:
    logits = build_model(tmp_path / "logits.onnx", input_shape=[1, 3, 32, 32], sigmoid=False)
    rgb = photo(32, 32)
    result = OnnxSegmenter(logits, mean=ZERO, std=ONE).segment(rgb)
    expected = np.clip(expected_saliency(rgb) * 255.0 + 0.5, 0, 255).astype(np.uint8)
    assert np.abs(result.mask.astype(int) - expected).max() <= 1


def test_dynamic_model_uses_the_configured_input_size(tmp_path: Path) -> None:
    model = build_model(tmp_path / "dyn.onnx", input_shape=[1, 3, "height", "width"])
    segmenter = OnnxSegmenter(model, input_size=(48, 40), mean=ZERO, std=ONE)
    assert segmenter.input_size == (48, 40)
    result = segmenter.segment(photo(80, 96))
    assert result.mask.shape == (80, 96)
    assert OnnxSegmenter(model).input_size == (1024, 1024)


def test_channels_last_and_float16_models(tmp_path: Path) -> None:
    nhwc = build_model(tmp_path / "nhwc.onnx", input_shape=[1, 32, 32, 3], channels_last=True)
    half = build_model(
        tmp_path / "half.onnx", input_shape=[1, 3, 32, 32], elem_type=TensorProto.FLOAT16
    )
    rgb = photo(32, 32)
    expected = np.clip(expected_saliency(rgb) * 255.0 + 0.5, 0, 255).astype(np.uint8)
    for model, tolerance in ((nhwc, 1), (half, 3)):
        result = OnnxSegmenter(model, mean=ZERO, std=ONE).segment(rgb)
        assert np.abs(result.mask.astype(int) - expected).max() <= tolerance, model.name


def test_registry_builds_the_onnx_provider(fixed_model: Path) -> None:
    provider = get_provider("onnx", model_path=fixed_model)
    assert provider.name == "onnx"
    with pytest.raises(SegmentationError, match="bad configuration"):
        get_provider("onnx", model_path=fixed_model, colour="red")


def test_registry_knows_every_provider_and_refuses_others() -> None:
    assert get_provider("local").name == "local"
    assert get_provider("freepik", api_key="k").name == "freepik"
    with pytest.raises(SegmentationError, match="choose one of local, freepik, onnx"):
        get_provider("photoshop")


def test_missing_model_path_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(SegmentationError, match="onnx model not found"):
        OnnxSegmenter(tmp_path / "nope.onnx")


def test_a_file_that_is_not_a_model_is_a_clear_error(tmp_path: Path) -> None:
    junk = tmp_path / "junk.onnx"
    junk.write_bytes(b"this is not protobuf")
    with pytest.raises(SegmentationError, match="cannot load onnx model"):
        OnnxSegmenter(junk)


@pytest.mark.parametrize(
    ("shape", "message"),
    [
        ([1, 1, 32, 32], "channels"),
        ([2, 3, 32, 32], "batch"),
        ([3, 32, 32], "shape"),
    ],
)
def test_models_with_wrong_inputs_are_refused(
    tmp_path: Path, shape: list[int | str], message: str
) -> None:
    path = tmp_path / "bad.onnx"
    nodes = [helper.make_node("Identity", ["image"], ["out"])]
    graph = helper.make_graph(
        nodes,
        "bad",
        [helper.make_tensor_value_info("image", TensorProto.FLOAT, shape)],
        [helper.make_tensor_value_info("out", TensorProto.FLOAT, shape)],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, path)
    with pytest.raises(SegmentationError, match=message):
        OnnxSegmenter(path)


def test_model_with_a_multichannel_output_is_refused(tmp_path: Path) -> None:
    declared = build_model(tmp_path / "rgb.onnx", input_shape=[1, 3, 32, 32], output_channels=3)
    with pytest.raises(SegmentationError, match="expected one HxW map"):
        OnnxSegmenter(declared)
    # A model whose output shape only shows at run time is checked on the actual output.
    with pytest.raises(SegmentationError, match="expected one HxW map"):
        postprocess(np.zeros((1, 3, 4, 4), np.float32), "auto", True)


def test_fixed_model_refuses_another_input_size(fixed_model: Path) -> None:
    with pytest.raises(SegmentationError, match="fixed input size 32x32"):
        OnnxSegmenter(fixed_model, input_size=64)


def test_nothing_salient_is_an_error(fixed_model: Path) -> None:
    blank = np.full((32, 32, 3), 240, np.uint8)  # constant map: nothing stands out
    with pytest.raises(SegmentationError, match="no product found"):
        OnnxSegmenter(fixed_model, mean=ZERO, std=ONE).segment(blank)


def test_bad_input_array_is_refused(fixed_model: Path) -> None:
    with pytest.raises(SegmentationError):
        OnnxSegmenter(fixed_model).segment(np.zeros((32, 32), np.uint8))


def test_preprocess_normalises_with_imagenet_statistics() -> None:
    rgb = np.zeros((2, 2, 3), np.uint8)
    rgb[..., 0], rgb[..., 1], rgb[..., 2] = 255, 128, 0
    spec = ModelInput(name="x", channels_last=False, dtype=np.float32, size=(2, 2))
    mean, std = np.array(IMAGENET_MEAN, np.float32), np.array(IMAGENET_STD, np.float32)
    tensor = preprocess(rgb, (2, 2), mean, std, spec)
    assert tensor.shape == (1, 3, 2, 2) and tensor.dtype == np.float32
    expected = (np.array([1.0, 128 / 255, 0.0]) - IMAGENET_MEAN) / IMAGENET_STD
    np.testing.assert_allclose(tensor[0, :, 0, 0], expected, rtol=1e-5)


def test_postprocess_accepts_the_usual_output_shapes() -> None:
    base = np.linspace(0.2, 0.6, 12, dtype=np.float32).reshape(3, 4)
    for shaped in (base, base[None], base[None, None]):
        out = postprocess(shaped, "auto", True)
        assert out.shape == (3, 4)
        assert out.min() == 0.0 and out.max() == pytest.approx(1.0)
    raw = postprocess(base, "none", False)
    np.testing.assert_allclose(raw, base)
    with pytest.raises(SegmentationError, match="NaN"):
        postprocess(np.full((2, 2), np.nan, np.float32), "auto", True)
