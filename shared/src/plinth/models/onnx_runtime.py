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
        # A copy freed of its fixed size was made on an earlier start: load only that one.
        ready = _any_size_path(path, self.sha256)
        session = _session(ready if ready.is_file() else path, options)
        _check_input(session)
        _check_output(session)
        fixed = _fixed_size(session)
        if fixed is not None and fixed != wanted:
            any_size = any_size_copy(path, self.sha256)
            if any_size is not None:
                del session  # one model in memory at a time
                session = _session(any_size, options)
                if _runs_at(session, wanted):
                    fixed = None
                else:  # a size pinned elsewhere in the graph (a Reshape): keep the original
                    log.warning("model %s cannot run at %dx%d; it keeps its fixed size %dx%d",
                                self.name, *wanted, *fixed)
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
    """A copy of the model at ``path`` that runs at any input size, made once and kept beside
    it (named by the original's sha256, so a changed original is never matched with an old
    copy). ``None`` when the graph cannot be rewritten; the model then keeps its fixed size.
    Where the directory is read-only the copy goes to a temporary directory for this process."""
    target = _any_size_path(path, sha256)
    if target.is_file():
        return target
    model = _parse(path)
    if not free_input_size(model):
        return None
    data = model.SerializeToString()
    del model
    for directory in (path.parent, Path(tempfile.gettempdir())):
        candidate = directory / target.name
        try:
            with tempfile.NamedTemporaryFile(dir=directory, suffix=".part", delete=False) as tmp:
                tmp.write(data)
            os.chmod(tmp.name, 0o644)
            os.replace(tmp.name, candidate)
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
    return path.with_name(f"{path.stem}.{sha256[:16]}.any-size.onnx")


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
