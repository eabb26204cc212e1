"""``OnnxSaliencyModel`` and ``free_input_size`` on tiny ONNX graphs built with ``onnx.helper``.

The saliency test model computes ``[sigmoid](GAIN * (THRESHOLD - mean over channels))`` per
pixel, so its answer is known in closed form. The resize test model has the shape of an exported
U²-Net/IS-Net decoder step: a MaxPool halves the map, a ``Resize`` with absolute ``sizes`` (a
Concat of constants, as PyTorch exports them) brings it back, and a Concat joins it to a skip
tensor at full size, so a Resize left at the export size fails at any other size.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from plinth import metrics
from plinth.imaging.errors import SegmentationError
from plinth.imaging.segment.saliency import IMAGENET_MEAN_255, IMAGENET_STD_255, ModelContract
from plinth.models import onnx_runtime
from plinth.models.onnx_runtime import (
    OnnxSaliencyModel,
    RuntimeOptions,
    any_size_copy,
    free_input_size,
)

GAIN = 10.0
CPU = RuntimeOptions(threads=1, use_cuda=False)
# (rgb - 0) / 255: the test models see 0..1.
UNIT = ModelContract(input_side=32, mean=(0.0, 0.0, 0.0), std=(255.0, 255.0, 255.0))


def _save(model: onnx.ModelProto, path: Path) -> Path:
    model.ir_version = 8
    onnx.save(model, path)
    return path


def _model(nodes: list[onnx.NodeProto], inputs: list[onnx.ValueInfoProto],
           outputs: list[onnx.ValueInfoProto],
           initializer: list[onnx.TensorProto] | None = None) -> onnx.ModelProto:
    graph = helper.make_graph(nodes, "tiny", inputs, outputs, initializer=initializer or [])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def saliency_model(path: Path, *, input_shape: list[int | str], sigmoid: bool = True,
                   output_shape: list[int | str] | None = None, output_channels: int = 1,
                   elem_type: int = TensorProto.FLOAT, threshold: float = 0.5) -> Path:
    """[sigmoid](GAIN * (threshold - mean_c(x))), shaped 1x{output_channels}xHxW."""
    nodes = [
        helper.make_node("ReduceMean", ["image"], ["m"], axes=[1], keepdims=1),
        helper.make_node("Sub", ["threshold", "m"], ["d"]),
        helper.make_node("Mul", ["d", "gain"], ["z"]),
    ]
    last = "z"
    if output_channels > 1:
        nodes.append(helper.make_node("Concat", [last] * output_channels, ["zc"], axis=1))
        last = "zc"
    nodes.append(helper.make_node("Sigmoid" if sigmoid else "Identity", [last], ["saliency"]))
    if output_shape is None:
        output_shape = [1, output_channels, *input_shape[2:]]
    model = _model(
        nodes,
        [helper.make_tensor_value_info("image", elem_type, input_shape)],
        [helper.make_tensor_value_info("saliency", elem_type, output_shape)],
        [helper.make_tensor("threshold", elem_type, [], [threshold]),
         helper.make_tensor("gain", elem_type, [], [GAIN])],
    )
    onnx.checker.check_model(model)
    return _save(model, path)


def resize_model(side: int = 64) -> onnx.ModelProto:
    """Fixed ``1x3xSxS``: MaxPool /2, Resize to absolute ``sizes``, Concat with the input."""

    def constant(name: str, values: list[int]) -> onnx.NodeProto:
        tensor = numpy_helper.from_array(np.asarray(values, np.int64), f"{name}_value")
        return helper.make_node("Constant", [], [name], value=tensor)

    nodes = [
        helper.make_node("MaxPool", ["image"], ["pooled"], kernel_shape=[2, 2], strides=[2, 2],
                         name="pool"),
        constant("batch_channels", [1, 3]),
        constant("height_width", [side, side]),
        helper.make_node("Concat", ["batch_channels", "height_width"], ["sizes"], axis=0),
        helper.make_node("Resize", ["pooled", "", "", "sizes"], ["up"], mode="linear",
                         name="up"),
        helper.make_node("Concat", ["up", "image"], ["joined"], axis=1),  # the skip connection
        helper.make_node("ReduceMean", ["joined"], ["mean"], axes=[1], keepdims=1),
        helper.make_node("Sigmoid", ["mean"], ["saliency"]),
    ]
    model = _model(
        nodes,
        [helper.make_tensor_value_info("image", TensorProto.FLOAT, [1, 3, side, side])],
        [helper.make_tensor_value_info("saliency", TensorProto.FLOAT, [1, 1, side, side])],
    )
    onnx.checker.check_model(model)
    return model


def expected(batch: np.ndarray, threshold: float = 0.5, sigmoid: bool = True) -> np.ndarray:
    z = GAIN * (threshold - batch[0].mean(axis=0))
    return 1.0 / (1.0 + np.exp(-z)) if sigmoid else z


def random_batch(side: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).random((1, 3, side, side), dtype=np.float32)


# --- loading and running -----------------------------------------------------------------------


def test_loads_hashes_and_runs_a_model(tmp_path: Path) -> None:
    path = saliency_model(tmp_path / "tiny.onnx", input_shape=[1, 3, "height", "width"])
    model = OnnxSaliencyModel(path, UNIT, options=CPU)

    assert model.name == "tiny.onnx"
    assert model.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
    assert model.contract is UNIT
    assert model.fixed_size is None, "a model with free H/W has no fixed size"
    assert model.execution_provider == "CPUExecutionProvider"
    batch = random_batch(40)
    out = model.predict(batch)
    assert out.shape == (40, 40) and out.dtype == np.float32
    np.testing.assert_allclose(out, expected(batch), atol=1e-5)


def test_given_name_and_sha256_are_kept(tmp_path: Path) -> None:
    path = saliency_model(tmp_path / "m.onnx", input_shape=[1, 3, 32, 32])
    model = OnnxSaliencyModel(path, UNIT, name="isnet-tiny", sha256="f" * 64, options=CPU)
    assert (model.name, model.sha256) == ("isnet-tiny", "f" * 64)
    assert model.fixed_size == (32, 32), "the contract's side matches: the size stays fixed"


def test_logits_and_float16_models(tmp_path: Path) -> None:
    batch = random_batch(32, seed=3)
    logits = saliency_model(tmp_path / "logits.onnx", input_shape=[1, 3, 32, 32], sigmoid=False)
    np.testing.assert_allclose(OnnxSaliencyModel(logits, UNIT, options=CPU).predict(batch),
                               expected(batch, sigmoid=False), atol=1e-4)
    half = saliency_model(tmp_path / "half.onnx", input_shape=[1, 3, 32, 32],
                          elem_type=TensorProto.FLOAT16)
    out = OnnxSaliencyModel(half, UNIT, options=CPU).predict(batch)  # cast to float16 inside
    assert out.dtype == np.float32
    np.testing.assert_allclose(out, expected(batch), atol=5e-3)


@pytest.mark.parametrize(("axes", "shape"), [([1], [1, 32, 32]), ([0, 1], [32, 32])])
def test_hxw_and_1xhxw_outputs_are_accepted(
    tmp_path: Path, axes: list[int], shape: list[int]
) -> None:
    model = _model(
        [helper.make_node("ReduceMean", ["image"], ["m"], axes=axes, keepdims=0)],
        [helper.make_tensor_value_info("image", TensorProto.FLOAT, [1, 3, 32, 32])],
        [helper.make_tensor_value_info("m", TensorProto.FLOAT, shape)],
    )
    path = _save(model, tmp_path / "squeezed.onnx")
    batch = random_batch(32)
    out = OnnxSaliencyModel(path, UNIT, options=CPU).predict(batch)
    assert out.shape == (32, 32)
    np.testing.assert_allclose(out, batch[0].mean(axis=0), atol=1e-6)


def test_every_graph_optimisation_level_is_accepted_and_others_refused(tmp_path: Path) -> None:
    path = saliency_model(tmp_path / "m.onnx", input_shape=[1, 3, 32, 32])
    batch = random_batch(32)
    for level in ("all", "extended", "basic", "off"):
        model = OnnxSaliencyModel(path, UNIT, options=RuntimeOptions(
            threads=1, use_cuda=False, graph_optimisation=level))
        np.testing.assert_allclose(model.predict(batch), expected(batch), atol=1e-5)
    with pytest.raises(SegmentationError, match="unknown graph optimisation 'fast'"):
        OnnxSaliencyModel(path, UNIT, options=RuntimeOptions(graph_optimisation="fast"))


# --- errors ----------------------------------------------------------------------------------


def test_a_missing_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(SegmentationError, match=r"onnx model not found: .*nope\.onnx"):
        OnnxSaliencyModel(tmp_path / "nope.onnx", UNIT)
    with pytest.raises(SegmentationError, match="onnx model not found"):
        OnnxSaliencyModel(tmp_path, UNIT)  # a directory is no model file either


def test_a_file_that_is_not_a_model_is_a_clear_error(tmp_path: Path) -> None:
    junk = tmp_path / "junk.onnx"
    junk.write_bytes(b"this is not protobuf \xff\xfe")
    with pytest.raises(SegmentationError, match=r"cannot load onnx model .*junk\.onnx"):
        OnnxSaliencyModel(junk, UNIT)


def test_a_model_with_two_inputs_is_refused(tmp_path: Path) -> None:
    model = _model(
        [helper.make_node("Add", ["image", "extra"], ["out"])],
        [helper.make_tensor_value_info("image", TensorProto.FLOAT, [1, 3, 32, 32]),
         helper.make_tensor_value_info("extra", TensorProto.FLOAT, [1, 3, 32, 32])],
        [helper.make_tensor_value_info("out", TensorProto.FLOAT, [1, 3, 32, 32])],
    )
    path = _save(model, tmp_path / "two.onnx")
    with pytest.raises(SegmentationError, match=r"exactly one image input.*'image', 'extra'"):
        OnnxSaliencyModel(path, UNIT)


@pytest.mark.parametrize(
    ("shape", "message"),
    [
        ([1, 1, 32, 32], r"shape \[1, 1, 32, 32\]; expected 1x3xHxW"),
        ([1, 32, 32, 3], "expected 1x3xHxW"),  # channels last is not the contract
        ([3, 32, 32], "expected 1x3xHxW"),
        ([2, 3, 32, 32], "batch is 2"),
    ],
)
def test_models_with_a_wrong_input_shape_are_refused(
    tmp_path: Path, shape: list[int], message: str
) -> None:
    model = _model(
        [helper.make_node("ReduceMean", ["image"], ["out"], axes=[1], keepdims=1)],
        [helper.make_tensor_value_info("image", TensorProto.FLOAT, shape)],
        [helper.make_tensor_value_info("out", TensorProto.FLOAT, None)],
    )
    path = _save(model, tmp_path / "bad.onnx")
    with pytest.raises(SegmentationError, match=message):
        OnnxSaliencyModel(path, ModelContract(input_side=32))


def test_a_model_with_a_non_float_input_is_refused(tmp_path: Path) -> None:
    model = _model(
        [helper.make_node("Cast", ["image"], ["out"], to=TensorProto.FLOAT)],
        [helper.make_tensor_value_info("image", TensorProto.DOUBLE, [1, 3, 32, 32])],
        [helper.make_tensor_value_info("out", TensorProto.FLOAT, [1, 3, 32, 32])],
    )
    path = _save(model, tmp_path / "double.onnx")
    with pytest.raises(SegmentationError, match=r"input 'image' is tensor\(double\), not float"):
        OnnxSaliencyModel(path, ModelContract(input_side=32))


def test_a_model_with_a_multichannel_output_is_refused(tmp_path: Path) -> None:
    declared = saliency_model(tmp_path / "rgb.onnx", input_shape=[1, 3, 32, 32],
                              output_channels=3)
    with pytest.raises(SegmentationError, match=r"shape \[1, 3, 32, 32\]; expected one HxW"):
        OnnxSaliencyModel(declared, UNIT)
    # When the output's shape only shows at run time (the mean map tiled to
    # ceil(max(x)) * 3 channels, a count no shape inference can know), the answer is checked.
    def int64(name: str, values: list[int] | int) -> onnx.TensorProto:
        return numpy_helper.from_array(np.asarray(values, np.int64), name)

    model = _model(
        [helper.make_node("ReduceMean", ["image"], ["m"], axes=[1], keepdims=1),
         helper.make_node("ReduceMax", ["image"], ["top"], keepdims=0),
         helper.make_node("Ceil", ["top"], ["one"]),
         helper.make_node("Cast", ["one"], ["one_int"], to=TensorProto.INT64),
         helper.make_node("Mul", ["one_int", "three"], ["count"]),
         helper.make_node("Reshape", ["count", "flat"], ["channels"]),
         helper.make_node("Concat", ["unit", "channels", "unit_pair"], ["repeats"], axis=0),
         helper.make_node("Tile", ["m", "repeats"], ["saliency"])],
        [helper.make_tensor_value_info("image", TensorProto.FLOAT, [1, 3, 32, 32])],
        [helper.make_tensor_value_info("saliency", TensorProto.FLOAT, None)],
        [int64("three", 3), int64("flat", [1]), int64("unit", [1]), int64("unit_pair", [1, 1])],
    )
    loaded = OnnxSaliencyModel(_save(model, tmp_path / "late.onnx"), UNIT, options=CPU)
    with pytest.raises(SegmentationError, match=r"\(1, 3, 32, 32\); expected one HxW map"):
        loaded.predict(random_batch(32))


def test_a_run_that_fails_is_a_segmentation_error(tmp_path: Path) -> None:
    path = saliency_model(tmp_path / "fixed.onnx", input_shape=[1, 3, 32, 32])
    model = OnnxSaliencyModel(path, UNIT, options=CPU)
    with pytest.raises(SegmentationError, match=r"onnx model fixed\.onnx failed to run"):
        model.predict(random_batch(48))


# --- any inference size ------------------------------------------------------------------------


def test_the_export_graph_runs_only_at_its_own_size(tmp_path: Path) -> None:
    path = _save(resize_model(), tmp_path / "resize.onnx")
    original = OnnxSaliencyModel(path, ModelContract(input_side=64), options=CPU)
    assert original.fixed_size == (64, 64), "the contract asks for its own size: left as it is"
    assert original.predict(random_batch(64)).shape == (64, 64)
    with pytest.raises(SegmentationError, match="failed to run"):
        original.predict(random_batch(96))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["resize.onnx"], "no copy was needed"

    # Freeing only the input's H/W is not enough: the pinned Resize breaks the skip Concat.
    naive = resize_model()
    for value in (*naive.graph.input, *naive.graph.output):
        value.type.tensor_type.shape.dim[2].dim_param = "height"
        value.type.tensor_type.shape.dim[3].dim_param = "width"
    naive_path = _save(naive, tmp_path / "naive.onnx")
    naive_model = OnnxSaliencyModel(naive_path, ModelContract(input_side=96), options=CPU)
    with pytest.raises(SegmentationError, match="failed to run"):
        naive_model.predict(random_batch(96))


@pytest.mark.parametrize("side", [96, 128])
def test_a_fixed_graph_is_rewritten_to_run_at_the_contracts_size(
    tmp_path: Path, side: int
) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    original_path = _save(resize_model(), tmp_path / "a" / "resize.onnx")
    path = _save(resize_model(), tmp_path / "b" / "resize.onnx")
    original = OnnxSaliencyModel(original_path, ModelContract(input_side=64), options=CPU)
    rewritten = OnnxSaliencyModel(path, ModelContract(input_side=side), options=CPU)

    assert original.fixed_size == (64, 64)
    assert rewritten.fixed_size is None
    sha = hashlib.sha256(path.read_bytes()).hexdigest()
    assert rewritten.sha256 == sha, "the hash is the original file's, not the rewritten graph's"
    out = rewritten.predict(random_batch(side, seed=1))
    assert out.shape == (side, side)
    # At the export size the rewritten graph answers exactly as the original.
    small = random_batch(64, seed=2)
    np.testing.assert_allclose(rewritten.predict(small), original.predict(small), atol=1e-6)


def test_the_any_size_copy_is_kept_beside_the_original_and_reused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = _save(resize_model(), tmp_path / "resize.onnx")
    sha = hashlib.sha256(path.read_bytes()).hexdigest()
    OnnxSaliencyModel(path, ModelContract(input_side=96), options=CPU)
    copy = tmp_path / f"resize.{sha[:16]}.runtime.onnx"
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([path.name, copy.name])
    assert path.read_bytes() != copy.read_bytes()
    assert hashlib.sha256(path.read_bytes()).hexdigest() == sha, "the original is untouched"

    def no_rewrite(model: object) -> bool:
        raise AssertionError("the kept copy must be used, not rewritten again")

    monkeypatch.setattr(onnx_runtime, "free_input_size", no_rewrite)
    again = OnnxSaliencyModel(path, ModelContract(input_side=128), options=CPU)
    assert again.fixed_size is None and again.predict(random_batch(128)).shape == (128, 128)
    assert any_size_copy(path, sha) == copy


def isnet_like_model(side: int = 64) -> onnx.ModelProto:
    """Like the shipped IS-Net files: float32 input cast to float16, float16 weights, the map
    read (``saliency``, cast back to float32) plus a side output nobody reads."""
    rng = np.random.default_rng(3)
    weights = [numpy_helper.from_array(rng.normal(0, 0.5, (1, 3, 3, 3)).astype(np.float16), name)
               for name in ("w_main", "w_side")]
    nodes = [
        helper.make_node("Cast", ["image"], ["half"], to=TensorProto.FLOAT16),
        helper.make_node("Conv", ["half", "w_main"], ["main"], pads=[1, 1, 1, 1]),
        helper.make_node("Sigmoid", ["main"], ["main_s"]),
        helper.make_node("Cast", ["main_s"], ["saliency"], to=TensorProto.FLOAT),
        helper.make_node("Conv", ["half", "w_side"], ["side"], pads=[1, 1, 1, 1]),
        helper.make_node("Sigmoid", ["side"], ["side_s"]),
    ]
    model = _model(
        nodes,
        [helper.make_tensor_value_info("image", TensorProto.FLOAT, [1, 3, side, side])],
        [helper.make_tensor_value_info("saliency", TensorProto.FLOAT, [1, 1, side, side]),
         helper.make_tensor_value_info("side_s", TensorProto.FLOAT16, [1, 1, side, side])],
        weights,
    )
    onnx.checker.check_model(model)
    return model


def test_the_runtime_copy_computes_one_output_in_float32(tmp_path: Path) -> None:
    """At its own size the model still gets a runtime copy: only the output that is read, in
    float32 (no casts, no float16 weights), answering as the float16 original does."""
    (tmp_path / "a").mkdir()
    original_path = _save(isnet_like_model(), tmp_path / "a" / "net.onnx")
    path = _save(isnet_like_model(), tmp_path / "net.onnx")
    model = OnnxSaliencyModel(path, ModelContract(input_side=64), options=CPU)
    sha = hashlib.sha256(path.read_bytes()).hexdigest()
    copy = onnx.load(str(tmp_path / f"net.{sha[:16]}.runtime.onnx"))

    assert [o.name for o in copy.graph.output] == ["saliency"]
    assert sorted(n.op_type for n in copy.graph.node) == ["Cast", "Cast", "Conv", "Sigmoid"]
    assert [i.name for i in copy.graph.initializer] == ["w_main"]
    assert all(i.data_type == TensorProto.FLOAT for i in copy.graph.initializer)
    assert all(a.i == TensorProto.FLOAT for n in copy.graph.node for a in n.attribute
               if a.name == "to")
    np.testing.assert_array_equal(
        numpy_helper.to_array(copy.graph.initializer[0]),
        numpy_helper.to_array(isnet_like_model().graph.initializer[0]).astype(np.float32))
    # The float16 original, run as it is.
    import onnxruntime as ort

    session = ort.InferenceSession(str(original_path), providers=["CPUExecutionProvider"])
    batch = random_batch(64)
    reference = session.run(["saliency"], {"image": batch})[0][0, 0]
    np.testing.assert_allclose(model.predict(batch), reference, atol=2e-3)
    assert model.fixed_size is None and model.predict(random_batch(96)).shape == (96, 96)


def test_a_changed_original_gets_a_copy_of_its_own(tmp_path: Path) -> None:
    path = _save(resize_model(), tmp_path / "m.onnx")
    OnnxSaliencyModel(path, ModelContract(input_side=96), options=CPU)
    _save(resize_model(side=32), path)  # a different model under the same name
    model = OnnxSaliencyModel(path, ModelContract(input_side=96), options=CPU)
    copies = sorted(p.name for p in tmp_path.glob("m.*.runtime.onnx"))
    assert len(copies) == 2
    # The new copy is the 32 px export freed: at 32 it answers as that export does.
    out = model.predict(random_batch(32))
    assert out.shape == (32, 32)


def test_free_input_size_turns_sizes_into_scales_and_frees_height_and_width() -> None:
    model = resize_model()
    assert free_input_size(model) is True
    resize = next(node for node in model.graph.node if node.op_type == "Resize")
    assert len(resize.input) == 3, "the sizes input is gone"
    scales = {init.name: numpy_helper.to_array(init) for init in model.graph.initializer}
    np.testing.assert_allclose(scales[resize.input[2]], [1.0, 1.0, 2.0, 2.0])
    for value in (*model.graph.input, *model.graph.output):
        dims = value.type.tensor_type.shape.dim
        assert [d.dim_param for d in dims[2:]] == ["height", "width"]
        assert [d.dim_value for d in dims[2:]] == [0, 0]


def test_free_input_size_gives_up_on_an_unknown_shape_and_leaves_the_model_alone() -> None:
    """An op shape inference does not know hides the Resize's input size: no rewrite."""
    model = resize_model()
    pool = next(node for node in model.graph.node if node.op_type == "MaxPool")
    pool.op_type, pool.domain = "Mystery", "com.example"
    del pool.attribute[:]
    model.opset_import.append(helper.make_opsetid("com.example", 1))
    before = model.SerializeToString()
    assert free_input_size(model) is False
    assert model.SerializeToString() == before


def unfreeable_model(path: Path, height: int = 24, width: int = 40) -> Path:
    """Fixed ``height x width``, with a Resize whose ``sizes`` (a Max of constants) shape
    inference cannot follow: ``free_input_size`` must leave it fixed."""

    def constant(name: str) -> onnx.NodeProto:
        value = numpy_helper.from_array(np.asarray([1, 1, height, width], np.int64), name)
        return helper.make_node("Constant", [], [name], value=value)

    model = _model(
        [constant("a"), constant("b"),
         helper.make_node("Max", ["a", "b"], ["sizes"]),
         helper.make_node("ReduceMean", ["image"], ["m"], axes=[1], keepdims=1),
         helper.make_node("Resize", ["m", "", "", "sizes"], ["saliency"], mode="nearest",
                          name="opaque")],
        [helper.make_tensor_value_info("image", TensorProto.FLOAT, [1, 3, height, width])],
        [helper.make_tensor_value_info("saliency", TensorProto.FLOAT, ["n", "c", "h", "w"])],
    )
    return _save(model, path)


def test_a_graph_that_cannot_be_freed_keeps_its_fixed_size(tmp_path: Path) -> None:
    path = unfreeable_model(tmp_path / "opaque.onnx")
    assert free_input_size(onnx.load(path)) is False
    model = OnnxSaliencyModel(path, ModelContract(input_side=64), options=CPU)
    assert model.fixed_size == (40, 24), "(width, height) of the graph's own input"
    assert [p.name for p in tmp_path.iterdir()] == ["opaque.onnx"], "no copy written"
    batch = np.random.default_rng(4).random((1, 3, 24, 40), dtype=np.float32)
    np.testing.assert_allclose(model.predict(batch), batch[0].mean(axis=0), atol=1e-6)


def test_a_graph_pinned_by_a_reshape_keeps_its_fixed_size(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """``free_input_size`` only sees Resize nodes, so it frees this graph too; the freed copy is
    tried once at the wanted size, fails on the constant Reshape, and is deleted: the original
    is used at its own size, with a warning."""
    model = _model(
        [helper.make_node("ReduceMean", ["image"], ["m"], axes=[1], keepdims=1),
         helper.make_node("Reshape", ["m", "shape"], ["saliency"])],
        [helper.make_tensor_value_info("image", TensorProto.FLOAT, [1, 3, 64, 64])],
        [helper.make_tensor_value_info("saliency", TensorProto.FLOAT, [1, 1, 64, 64])],
        [numpy_helper.from_array(np.array([1, 1, 64, 64], np.int64), "shape")],
    )
    path = _save(model, tmp_path / "reshape.onnx")
    with caplog.at_level(logging.WARNING, logger="plinth.models.onnx_runtime"):
        loaded = OnnxSaliencyModel(path, ModelContract(input_side=96), options=CPU)
    assert loaded.fixed_size == (64, 64)
    batch = random_batch(64)
    out = loaded.predict(batch)
    assert out.shape == (64, 64)
    np.testing.assert_allclose(out, batch[0].mean(axis=0), atol=1e-6)
    assert list(tmp_path.glob("*.runtime.onnx")) == [], "the copy that cannot run is deleted"
    assert [p.name for p in tmp_path.iterdir()] == ["reshape.onnx"]
    assert "cannot run at 96x96" in caplog.text and "fixed size 64x64" in caplog.text
    # A second start tries (and deletes) the copy again, and again keeps the fixed size.
    again = OnnxSaliencyModel(path, ModelContract(input_side=96), options=CPU)
    assert again.fixed_size == (64, 64)
    assert list(tmp_path.glob("*.runtime.onnx")) == []


# --- which execution provider really runs (the GPU image's CPU fallback) -----------------------


@pytest.fixture
def recorded(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, str, str]]:
    """What the model reports to plinth.metrics (model, provider, cuda)."""
    calls: list[tuple[str, str, str]] = []
    monkeypatch.setattr(metrics, "record_execution_provider",
                        lambda *args: calls.append(args))
    return calls


def test_the_cpu_build_says_it_has_no_cuda(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, recorded: list[tuple[str, str, str]]
) -> None:
    """The default install is the CPU package: CUDA is wanted (the default) but not in it."""
    from importlib import metadata

    import onnxruntime

    with contextlib.suppress(metadata.PackageNotFoundError):
        pytest.skip(f"this venv holds the gpu group (onnxruntime-gpu "
                    f"{metadata.version('onnxruntime-gpu')}), not the default CPU build")
    assert "CUDAExecutionProvider" not in onnxruntime.get_available_providers(), (
        "the default environment must carry the CPU onnxruntime, not onnxruntime-gpu")
    path = saliency_model(tmp_path / "m.onnx", input_shape=[1, 3, 32, 32])
    with caplog.at_level(logging.INFO, logger="plinth.models.onnx_runtime"):
        model = OnnxSaliencyModel(path, UNIT, options=RuntimeOptions(threads=1, use_cuda=True))
    assert (model.execution_provider, model.cuda_status) == ("CPUExecutionProvider",
                                                             "not_in_build")
    assert "runs on CPUExecutionProvider; this onnxruntime build has no CUDAExecutionProvider" \
        in caplog.text
    assert recorded == [("m.onnx", "CPUExecutionProvider", "not_in_build")]


def test_cuda_turned_off_is_reported_as_off(
    tmp_path: Path, recorded: list[tuple[str, str, str]]
) -> None:
    path = saliency_model(tmp_path / "m.onnx", input_shape=[1, 3, 32, 32])
    model = OnnxSaliencyModel(path, UNIT, name="isnet-tiny", options=CPU)
    assert model.cuda_status == "off"
    assert recorded == [("isnet-tiny", "CPUExecutionProvider", "off")]


@pytest.mark.filterwarnings("ignore:Specified provider 'CUDAExecutionProvider'")
def test_a_cuda_build_that_cannot_start_cuda_is_a_loud_fallback(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture,
    recorded: list[tuple[str, str, str]],
) -> None:
    """onnxruntime-gpu lists CUDAExecutionProvider even where no GPU or CUDA library is, and its
    session then runs on the CPU with only onnxruntime's own log saying so. Here the CPU build is
    made to list CUDA as onnxruntime-gpu does: the session is asked for CUDA, cannot have it, and
    really runs on the CPU; the model must say so as a warning and as cuda="fallback"."""
    import onnxruntime

    monkeypatch.setattr(onnxruntime, "get_available_providers",
                        lambda: ["CUDAExecutionProvider", "CPUExecutionProvider"])
    asked: list[list[str]] = []
    real_session = onnxruntime.InferenceSession

    def session(*args: object, providers: list[str], **kwargs: object) -> object:
        asked.append(providers)
        return real_session(*args, providers=providers, **kwargs)

    monkeypatch.setattr(onnxruntime, "InferenceSession", session)
    path = saliency_model(tmp_path / "m.onnx", input_shape=[1, 3, 32, 32])
    with caplog.at_level(logging.INFO, logger="plinth.models.onnx_runtime"):
        model = OnnxSaliencyModel(path, UNIT, options=RuntimeOptions(threads=1, use_cuda=True))
    assert asked and all(p[0] == "CUDAExecutionProvider" for p in asked), asked
    assert (model.execution_provider, model.cuda_status) == ("CPUExecutionProvider", "fallback")
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert "runs on CPUExecutionProvider, NOT on CUDAExecutionProvider" in warnings[0].getMessage()
    assert recorded == [("m.onnx", "CPUExecutionProvider", "fallback")]
    batch = random_batch(32)
    np.testing.assert_allclose(model.predict(batch), expected(batch), atol=1e-5)


@pytest.mark.parametrize(
    ("use_cuda", "available", "in_use", "status"),
    [
        (True, ["CUDAExecutionProvider", "CPUExecutionProvider"], "CUDAExecutionProvider", "used"),
        (True, ["CUDAExecutionProvider", "CPUExecutionProvider"], "CPUExecutionProvider",
         "fallback"),
        (True, ["CPUExecutionProvider"], "CPUExecutionProvider", "not_in_build"),
        (False, ["CUDAExecutionProvider", "CPUExecutionProvider"], "CPUExecutionProvider", "off"),
    ],
)
def test_cuda_status(use_cuda: bool, available: list[str], in_use: str, status: str) -> None:
    options = RuntimeOptions(use_cuda=use_cuda)
    assert onnx_runtime.cuda_status(options, available, in_use) == status


def test_imagenet_constants_are_in_0_255_units() -> None:
    contract = ModelContract(mean=IMAGENET_MEAN_255, std=IMAGENET_STD_255, output="sigmoid")
    np.testing.assert_allclose(np.asarray(contract.mean) / 255, [0.485, 0.456, 0.406], atol=1e-6)
    np.testing.assert_allclose(np.asarray(contract.std) / 255, [0.229, 0.224, 0.225], atol=1e-6)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"std": (1.0, 0.0, 1.0)}, "positive stds"),
        ({"std": (1.0, -2.0, 1.0)}, "positive stds"),
        ({"mean": (1.0, 2.0)}, "3 means"),
        ({"std": (1.0, 1.0, 1.0, 1.0)}, "3 means"),
        ({"input_side": 7}, "input_side 7 is too small"),
    ],
)
def test_model_contract_validation(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        ModelContract(**kwargs)  # type: ignore[arg-type]


def test_model_contract_defaults_and_smallest_side() -> None:
    contract = ModelContract()
    assert (contract.input_side, contract.mean, contract.std, contract.output) == (
        1024, (128.0, 128.0, 128.0), (256.0, 256.0, 256.0), "clamp")
    assert ModelContract(input_side=8).input_side == 8
