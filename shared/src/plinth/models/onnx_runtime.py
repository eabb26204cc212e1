"""Load a salient-object ONNX model into onnxruntime: the adapter behind ``SaliencyModel``.

The image core (``plinth.imaging.segment.learned``) only sees :class:`OnnxSaliencyModel` through
the ``SaliencyModel`` port; file reading, hashing, graph surgery and the inference runtime stay
here.

**Any inference size.** Exported U²-Net/IS-Net graphs pin every upsampling (``Resize``) to the
pixel sizes of the export (1024 for IS-Net), so the shipped file only runs at 1024x1024.
:func:`free_input_size` rewrites each ``Resize`` from absolute ``sizes`` to the equivalent
``scales`` (its output size over its input size, found by ONNX shape inference) and frees the
input's height and width. The weights are untouched: at the export size the outputs are the same
(max difference 2e-5 on IS-Net), and 640-1024 become usable, which is the main speed lever on a
CPU (IS-Net fp16 on 2 threads: 1.3 s at 1024, 0.73 s at 768, 0.5 s at 640). Sides must be
multiples of 32 (the network halves the size five times). The rewritten copy is made once and
kept beside the original (:func:`any_size_copy`), so a worker's start-up only pays for it the
first time.

**Only what is read, in float32.** The same copy keeps only the first output (IS-Net also
exports 11 side and deep-supervision maps, each computed at full size: :func:`keep_first_output`)
and computes in float32 (:func:`float16_to_float32`: onnxruntime's CPU provider has no float16
convolution, so it wrapped every float16 node in casts). IS-Net medium at 768 on 2 cores: ~20%
less CPU per inference; answers within 1e-3 of the original, checked when the copy is made
(a copy that answers differently is discarded). The float32 copy is twice the file (176 MB).

**Which execution provider really runs.** A session asks for CUDA (``use_cuda``, when this
onnxruntime build has it: the ``onnxruntime-gpu`` package of the GPU image) or OpenVINO before
the CPU, and onnxruntime falls back to the CPU on its own when a provider cannot start (no GPU
visible, CUDA or cuDNN libraries missing), saying so only in its own log. The model therefore
logs, once loaded, the provider its session really uses and why (``cuda_status``), and records
it as the ``plinth_onnx_execution_provider`` gauge (:mod:`plinth.metrics`).
"""

from __future__ import annotations

import hashlib
import logging
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from plinth import metrics
from plinth.imaging.errors import SegmentationError
from plinth.imaging.segment.saliency import ModelContract

log = logging.getLogger(__name__)

SIDE_MULTIPLE = 32
CUDA = "CUDAExecutionProvider"
CPU = "CPUExecutionProvider"
_FLOATS: dict[str, type[np.floating[Any]]] = {
    "tensor(float)": np.float32,
    "tensor(float16)": np.float16,
}


@dataclass(frozen=True)
class RuntimeOptions:
    """How onnxruntime runs the model (documented settings, see ``plinth.settings``)."""

    threads: int = 0
    """Intra-op threads; 0 lets onnxruntime choose (one per core)."""
    use_cuda: bool = True
    """Use the CUDA execution provider when ``onnxruntime-gpu`` and a GPU are present."""
    use_openvino: bool = False
    """Use the OpenVINO execution provider when ``onnxruntime-openvino`` is installed."""
    graph_optimisation: str = "all"
    """``all``, ``extended``, ``basic`` or ``off`` (onnxruntime's graph optimisation level)."""
    memory_arena: bool = False
    """onnxruntime's CPU memory arena: keeps the largest activation buffers between calls. Off,
    a segment worker's peak RSS drops by ~150 MB (IS-Net at 768, 2000x2000 photos) at a cost
    within the noise of bench/segment_speed.py."""


class OnnxSaliencyModel:
    """One ONNX salient-object model loaded for inference (implements ``SaliencyModel``)."""

    def __init__(
        self,
        path: str | Path,
        contract: ModelContract,
        *,
        name: str | None = None,
        sha256: str | None = None,
        options: RuntimeOptions | None = None,
    ) -> None:
        """Load ``path``. ``sha256`` is the already verified hash (an installed model); without
        it the file is hashed here."""
        path = Path(path)
        if not path.is_file():
            raise SegmentationError(f"onnx model not found: {path}")
        self.name = name or path.name
        self.sha256 = sha256 or _file_sha256(path)
        self.contract = contract
        self.path = str(path)
        options = options or RuntimeOptions()
        wanted = (contract.input_side, contract.input_side)
        # The runtime copy (any size, one output, float32) was made on an earlier start: load
        # only that one.
        ready = _any_size_path(path, self.sha256)
        session = _session(ready if ready.is_file() else path, options)
        _check_input(session)
        _check_output(session)
        fixed = _fixed_size(session)
        wants_copy = (fixed is not None and fixed != wanted) or len(session.get_outputs()) > 1
        if wants_copy and not ready.is_file():
            check_size = fixed or wanted
            reference = _answer(session, check_size)
            any_size = any_size_copy(path, self.sha256)
            if any_size is not None:
                del session  # one model in memory at a time
                session = _session(any_size, options)
                difference = (_difference(reference, _answer(session, check_size))
                              if _runs_at(session, wanted) else None)
                if difference is not None and difference <= _COPY_TOLERANCE:
                    fixed = _fixed_size(session)
                elif difference is None:  # a size pinned elsewhere in the graph (a Reshape)
                    log.warning("model %s cannot run at %dx%d; it keeps its fixed size %s",
                                self.name, *wanted,
                                "x".join(map(str, fixed)) if fixed else "(none)")
                else:
                    log.warning("model %s: its runtime copy answers differently from the "
                                "original (by %.4f); the original is used", self.name, difference)
                if difference is None or difference > _COPY_TOLERANCE:
                    any_size.unlink(missing_ok=True)
                    session = _session(path, options)
        self._session = session
        self.execution_provider = str(session.get_providers()[0])
        # used, fallback (asked for and in this build, but the session runs elsewhere),
        # not_in_build (this onnxruntime has no CUDA provider: the CPU package) or off
        self.cuda_status = cuda_status(options, _providers(options)[1], self.execution_provider)
        _report_provider(self.name, self.execution_provider, self.cuda_status)
        self._input, self._dtype = _check_input(session)
        self._output = _check_output(session)
        self.fixed_size = fixed

    def predict(self, batch: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
        try:
            outputs = self._session.run([self._output], {self._input: batch.astype(self._dtype)})
        except Exception as exc:  # onnxruntime raises its own untyped errors
            raise SegmentationError(f"onnx model {self.name} failed to run: {exc}") from exc
        output = np.asarray(outputs[0], np.float32)
        if output.ndim < 2 or output.size != output.shape[-2] * output.shape[-1]:
            raise SegmentationError(
                f"onnx model output has shape {output.shape}; expected one HxW map")
        result: npt.NDArray[np.float32] = output.reshape(output.shape[-2:])
        return result


def any_size_copy(path: Path, sha256: str) -> Path | None:
    """The runtime copy of the model at ``path``: it runs at any input size, computes only the
    first output (the one read), in float32; made once and kept beside the original (named by
    the original's sha256, so a changed original is never matched with an old copy). ``None``
    when the graph cannot be rewritten; the model then keeps its fixed size. Where the
    directory is read-only the copy goes to a temporary directory for this process."""
    target = _any_size_path(path, sha256)
    if target.is_file():
        return target
    model = _parse(path)
    if not free_input_size(model):
        return None
    keep_first_output(model)
    float16_to_float32(model)
    data = model.SerializeToString()
    del model
    for directory in (path.parent, Path(tempfile.gettempdir())):
        candidate = directory / target.name
        try:
            with tempfile.NamedTemporaryFile(dir=directory, suffix=".part", delete=False) as tmp:
                tmp.write(data)
            os.chmod(tmp.name, 0o644)
            os.replace(tmp.name, candidate)
            # The copy of an earlier release (any size only) is not used any more.
            candidate.with_name(f"{path.stem}.{sha256[:16]}.any-size.onnx").unlink(
                missing_ok=True)
            return candidate
        except OSError as exc:
            log.info("cannot keep the any-size model in %s: %s", directory, exc)
    return None


def _runs_at(session: Any, size: tuple[int, int]) -> bool:
    """One inference on a blank image of ``size``: does the rewritten graph hold together?"""
    spec = session.get_inputs()[0]
    batch = np.zeros((1, 3, size[1], size[0]), _FLOATS.get(spec.type, np.float32))
    try:
        session.run(None, {spec.name: batch})
    except Exception:  # onnxruntime's own errors: a shape that does not fit somewhere
        return False
    return True


def _any_size_path(path: Path, sha256: str) -> Path:
    return path.with_name(f"{path.stem}.{sha256[:16]}.runtime.onnx")


_COPY_TOLERANCE = 0.01
"""Largest difference allowed between the runtime copy's answer and the original's, on the same
input at the original's size (float32 arithmetic instead of float16 moves IS-Net's 0..1 output by
~1e-4)."""


def _answer(session: Any, size: tuple[int, int]) -> npt.NDArray[np.float32]:
    """The first output for a fixed, photo-like input of ``size`` (smooth random colours)."""
    spec = session.get_inputs()[0]
    rng = np.random.default_rng(20261205)
    coarse = rng.random((1, 3, 8, 8)).astype(np.float32)
    batch = np.kron(coarse, np.ones((1, 1, -(-size[1] // 8), -(-size[0] // 8)), np.float32))
    batch = batch[:, :, :size[1], :size[0]] - 0.5
    output = session.run([session.get_outputs()[0].name],
                         {spec.name: batch.astype(_FLOATS.get(spec.type, np.float32))})[0]
    return np.asarray(output, np.float32)


def _difference(a: npt.NDArray[np.float32], b: npt.NDArray[np.float32]) -> float | None:
    return float(np.abs(a - b).max()) if a.shape == b.shape else None


def keep_first_output(model: Any) -> None:
    """Rewrite ``model`` in place to compute only its first output. IS-Net also exports five
    side outputs and six deep-supervision maps that nobody reads (~40% of its nodes: a full-size
    upsampling and sigmoid each); onnxruntime computes every declared output."""
    graph = model.graph
    if len(graph.output) <= 1:
        return
    del graph.output[1:]
    producer = {name: index for index, node in enumerate(graph.node) for name in node.output}
    needed: set[str] = set()
    nodes: set[int] = set()
    pending = [graph.output[0].name]
    while pending:  # the graph's nodes are not always in topological order: follow producers
        name = pending.pop()
        if name in needed:
            continue
        needed.add(name)
        index = producer.get(name)
        if index is not None and index not in nodes:
            nodes.add(index)
            pending.extend(i for i in graph.node[index].input if i)
    kept = [node for index, node in enumerate(graph.node) if index in nodes]
    del graph.node[:]
    graph.node.extend(kept)
    initializers = [i for i in graph.initializer if i.name in needed]
    del graph.initializer[:]
    graph.initializer.extend(initializers)


def float16_to_float32(model: Any) -> None:
    """Rewrite ``model`` in place to compute in float32: float16 weights, constants, casts and
    graph inputs/outputs become float32 (the weights exactly). onnxruntime's CPU provider has no
    float16 convolution: it wraps every float16 node in casts (IS-Net medium: 100 casts and
    layout reorders around them, ~12% of its time at 768 px on 2 cores)."""
    from onnx import TensorProto, numpy_helper

    float16, float32 = TensorProto.FLOAT16, TensorProto.FLOAT
    graph = model.graph
    for index, tensor in enumerate(graph.initializer):
        if tensor.data_type == float16:
            values = numpy_helper.to_array(tensor).astype(np.float32)
            graph.initializer[index].CopyFrom(numpy_helper.from_array(values, tensor.name))
    for node in graph.node:
        for attribute in node.attribute:
            if node.op_type == "Cast" and attribute.name == "to" and attribute.i == float16:
                attribute.i = float32
            elif attribute.name == "value" and attribute.t.data_type == float16:
                values = numpy_helper.to_array(attribute.t).astype(np.float32)
                attribute.t.CopyFrom(numpy_helper.from_array(values, attribute.t.name))
    for value in [*graph.input, *graph.output]:
        if value.type.tensor_type.elem_type == float16:
            value.type.tensor_type.elem_type = float32


def free_input_size(model: Any) -> bool:
    """Rewrite ``model`` in place: every ``Resize`` made relative, input and output H/W left
    free. ``False`` (and ``model`` untouched) when a size in the graph is unknown."""
    from onnx import numpy_helper, shape_inference

    try:
        inferred = shape_inference.infer_shapes(model, data_prop=True)
    except Exception as exc:  # shape inference fails on graphs it does not understand
        log.info("model keeps its fixed input size: shape inference failed (%s)", exc)
        return False
    shapes = {
        info.name: [d.dim_value for d in info.type.tensor_type.shape.dim]
        for info in [*inferred.graph.value_info, *inferred.graph.input, *inferred.graph.output]
    }
    del inferred
    rewrites = []
    for node in model.graph.node:
        if node.op_type != "Resize" or len(node.input) < 4 or not node.input[3]:
            continue
        source, target = shapes.get(node.input[0]), shapes.get(node.output[0])
        if not source or not target or len(source) != 4 or 0 in source or 0 in target:
            log.info("model keeps its fixed input size: %s has an unknown shape", node.name)
            return False
        rewrites.append((node, np.asarray(target, np.float32) / np.asarray(source, np.float32)))
    for node, scales in rewrites:
        scales_name = f"{node.name}__plinth_scales"
        model.graph.initializer.append(numpy_helper.from_array(scales, scales_name))
        node.input[2] = scales_name
        del node.input[3]
    for value in [*model.graph.input, *model.graph.output]:
        dims = value.type.tensor_type.shape.dim
        if len(dims) == 4:
            dims[2].dim_param, dims[3].dim_param = "height", "width"
    del model.graph.value_info[:]
    return True


def _file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _parse(path: Path) -> Any:
    import onnx

    try:
        return onnx.load(str(path))
    except Exception as exc:  # DecodeError and friends: all mean "not an ONNX model"
        raise SegmentationError(f"cannot load onnx model {path}: {exc}") from exc


def _fixed_size(session: Any) -> tuple[int, int] | None:
    shape = list(session.get_inputs()[0].shape)
    if len(shape) != 4:
        return None
    h, w = shape[2], shape[3]
    fixed = isinstance(h, int) and isinstance(w, int) and h > 0 and w > 0
    return (int(w), int(h)) if fixed else None


def cuda_status(options: RuntimeOptions, available: list[str], in_use: str) -> str:
    """Whether a session runs on CUDA, and if not, why (see ``OnnxSaliencyModel.cuda_status``)."""
    if not options.use_cuda:
        return "off"
    if CUDA not in available:
        return "not_in_build"
    return "used" if in_use == CUDA else "fallback"


def _report_provider(name: str, in_use: str, status: str) -> None:
    """Log the provider a loaded model's session really uses, and export it as a gauge."""
    import onnxruntime as ort

    build = f"onnxruntime {ort.__version__}, providers {ort.get_available_providers()}"
    if status == "fallback":
        log.warning("onnx model %s runs on %s, NOT on %s: this onnxruntime build has CUDA but "
                    "could not start it (no GPU visible to the process, or the CUDA 13 / cuDNN "
                    "9 libraries missing: onnxruntime's own error above says which) (%s)",
                    name, in_use, CUDA, build)
    elif status == "not_in_build":
        log.info("onnx model %s runs on %s; this onnxruntime build has no %s (the CPU "
                 "package; the gpu image carries onnxruntime-gpu) (%s)", name, in_use, CUDA, build)
    else:
        log.info("onnx model %s runs on %s (CUDA %s; %s)", name, in_use, status, build)
    metrics.record_execution_provider(name, in_use, status)


def _providers(options: RuntimeOptions) -> tuple[list[str], list[str]]:
    """The providers to ask a session for, best first, and all this onnxruntime build has."""
    import onnxruntime as ort  # imported here: only learned providers need it (~0.3 s to import)

    available = [str(p) for p in ort.get_available_providers()]
    providers = [CPU]
    if options.use_openvino and "OpenVINOExecutionProvider" in available:
        providers.insert(0, "OpenVINOExecutionProvider")
    if options.use_cuda and CUDA in available:
        providers.insert(0, CUDA)
    return providers, available


def _session(path: Path, options: RuntimeOptions) -> Any:
    import onnxruntime as ort

    providers = _providers(options)[0]
    levels = {
        "all": ort.GraphOptimizationLevel.ORT_ENABLE_ALL,
        "extended": ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED,
        "basic": ort.GraphOptimizationLevel.ORT_ENABLE_BASIC,
        "off": ort.GraphOptimizationLevel.ORT_DISABLE_ALL,
    }
    if options.graph_optimisation not in levels:
        raise SegmentationError(
            f"unknown graph optimisation {options.graph_optimisation!r}; "
            f"choose one of {', '.join(levels)}")
    session_options = ort.SessionOptions()
    session_options.intra_op_num_threads = max(0, options.threads)
    session_options.graph_optimization_level = levels[options.graph_optimisation]
    session_options.enable_cpu_mem_arena = options.memory_arena
    session_options.log_severity_level = 3  # its warnings about unused initialisers are noise
    try:
        return ort.InferenceSession(str(path), sess_options=session_options, providers=providers)
    except Exception as exc:  # InvalidProtobuf, Fail...: all mean "unusable file"
        raise SegmentationError(f"cannot load onnx model {path}: {exc}") from exc


def _check_input(session: Any) -> tuple[str, type[np.floating[Any]]]:
    inputs = session.get_inputs()
    if len(inputs) != 1:
        names = [i.name for i in inputs]
        raise SegmentationError(f"onnx model must take exactly one image input, it takes {names}")
    spec = inputs[0]
    if spec.type not in _FLOATS:
        raise SegmentationError(f"onnx model input {spec.name!r} is {spec.type}, not float")
    shape = list(spec.shape)
    if len(shape) != 4 or (isinstance(shape[1], int) and shape[1] != 3):
        raise SegmentationError(
            f"onnx model input {spec.name!r} has shape {shape}; expected 1x3xHxW")
    if isinstance(shape[0], int) and shape[0] != 1:
        raise SegmentationError(f"onnx model input batch is {shape[0]}; expected 1 or dynamic")
    return str(spec.name), _FLOATS[spec.type]


def _check_output(session: Any) -> str:
    outputs = session.get_outputs()
    if not outputs:
        raise SegmentationError("onnx model has no outputs")
    first = outputs[0]
    if first.type not in _FLOATS:
        raise SegmentationError(f"onnx model output {first.name!r} is {first.type}, not float")
    shape = list(first.shape)
    fixed_leading = [d for d in shape[:-2] if isinstance(d, int)]
    if len(shape) < 2 or len(shape) > 4 or any(d != 1 for d in fixed_leading):
        raise SegmentationError(
            f"onnx model output {first.name!r} has shape {shape}; expected one HxW map "
            "(1x1xHxW, 1xHxW or HxW)")
    return str(first.name)
