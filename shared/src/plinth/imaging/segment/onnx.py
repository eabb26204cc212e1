"""The ``onnx`` segmentation provider: a salient-object model (U²-Net, IS-Net, BiRefNet, ...).

The model file comes from configuration (nothing is downloaded). It must take one image tensor,
``NCHW`` (``1x3xHxW``) or ``NHWC`` (``1xHxWx3``), float32 or float16, with fixed or dynamic
``H``/``W``, and give, as its first output, one saliency map (``1x1xHxW``, ``1xHxW`` or ``HxW``).

Inference follows those models' reference code: resize the photo to the model's input size
(aspect ratio not kept, as U²-Net's and rembg's pre-processing do), scale to 0..1, normalise
with ``mean``/``std`` (ImageNet statistics by default, as U²-Net/IS-Net/BiRefNet were trained),
run, apply a sigmoid when the output is logits (values outside 0..1, as BiRefNet's are), min-max
normalise the map, and resize it back to full size. The cutout's edge colours are then freed of
the old background with the ``local`` provider's decontamination step.

Runs on onnxruntime's CPUExecutionProvider, or CUDAExecutionProvider first when available.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import cv2
import numpy as np
import numpy.typing as npt

from plinth.imaging.errors import SegmentationError
from plinth.imaging.segment.base import RGB, Segmentation
from plinth.imaging.segment.decontaminate import (
    clear_transparent,
    decontaminate_edges,
    neighbourhood_colours,
)

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
# Input side used when the model leaves H/W dynamic: IS-Net and BiRefNet were trained at 1024.
DEFAULT_DYNAMIC_SIDE = 1024
WORK_SIDE = 512  # resolution of the neighbourhood colours used for edge decontamination
MIN_PRODUCT_SHARE = 0.0005

Activation = Literal["auto", "sigmoid", "none"]
F32 = npt.NDArray[np.float32]


@dataclass(frozen=True)
class ModelInput:
    """What the session wants: tensor name, layout, element type and spatial size."""

    name: str
    channels_last: bool
    dtype: type[np.floating[Any]]
    size: tuple[int, int] | None
    """``(width, height)`` when fixed by the model, ``None`` when dynamic."""


class OnnxSegmenter:
    """Background removal with a salient-object ONNX model run by onnxruntime."""

    name = "onnx"

    def __init__(
        self,
        model_path: str | Path,
        *,
        mean: Sequence[float] = IMAGENET_MEAN,
        std: Sequence[float] = IMAGENET_STD,
        input_size: int | tuple[int, int] | None = None,
        activation: Activation = "auto",
        min_max_normalise: bool = True,
        use_cuda: bool = True,
        intra_op_threads: int = 0,
    ) -> None:
        """Load the model and check its inputs and outputs.

        ``input_size`` (a side or ``(width, height)``) is used when the model's spatial size is
        dynamic; with a fixed-size model it must match or be left out. ``intra_op_threads=0``
        lets onnxruntime choose.
        """
        if len(mean) != 3 or len(std) != 3 or min(std) <= 0:
            raise SegmentationError("onnx provider: mean and std need 3 values, std > 0")
        self._mean = np.asarray(mean, np.float32)
        self._std = np.asarray(std, np.float32)
        self._activation = activation
        self._min_max = min_max_normalise
        self._session, self.providers = _load_session(Path(model_path), use_cuda, intra_op_threads)
        self.model_path = str(model_path)
        self._input = _describe_input(self._session)
        self._output_name = _check_output(self._session)
        self.input_size = _resolve_size(self._input.size, input_size)

    def segment(self, rgb: RGB) -> Segmentation:
        _check_rgb(rgb)
        started = time.perf_counter()
        height, width = rgb.shape[:2]
        tensor = preprocess(rgb, self.input_size, self._mean, self._std, self._input)
        try:
            outputs = self._session.run([self._output_name], {self._input.name: tensor})
        except Exception as exc:  # onnxruntime raises its own untyped errors
            raise SegmentationError(f"onnx model {self.model_path} failed to run: {exc}") from exc
        inferred = time.perf_counter()
        saliency = postprocess(outputs[0], self._activation, self._min_max)

        probability = np.asarray(
            cv2.resize(saliency, (width, height), interpolation=cv2.INTER_LINEAR), np.float32
        )
        mask = np.clip(probability * 255.0 + 0.5, 0, 255).astype(np.uint8)
        product_share = float((mask >= 128).mean())
        if product_share < MIN_PRODUCT_SHARE:
            raise SegmentationError("no product found: the onnx model saw no salient object")

        rgba = np.empty((height, width, 4), np.uint8)
        rgba[..., :3] = rgb
        rgba[..., 3] = mask
        _decontaminate(rgba, rgb, probability)
        finished = time.perf_counter()
        return Segmentation(
            cutout=rgba,
            mask=mask,
            provider=self.name,
            cost_usd=0.0,
            meta={
                "model": Path(self.model_path).name,
                "execution_provider": self.providers[0],
                "input_size": list(self.input_size),
                "product_share": round(product_share, 4),
                "timings_ms": {
                    "inference": round((inferred - started) * 1000, 1),
                    "post": round((finished - inferred) * 1000, 1),
                },
            },
        )


def preprocess(
    rgb: RGB,
    size: tuple[int, int],
    mean: F32,
    std: F32,
    model_input: ModelInput,
) -> npt.NDArray[np.floating[Any]]:
    """Resize to ``size = (width, height)``, scale to 0..1, normalise, lay out for the model."""
    height, width = rgb.shape[:2]
    shrinking = size[0] * size[1] < width * height
    interpolation = cv2.INTER_AREA if shrinking else cv2.INTER_LINEAR
    resized = cv2.resize(rgb, size, interpolation=interpolation)
    normalised = (resized.astype(np.float32) * (1.0 / 255.0) - mean) / std
    batch = normalised[None] if model_input.channels_last else normalised.transpose(2, 0, 1)[None]
    return np.ascontiguousarray(batch, dtype=model_input.dtype)


def postprocess(output: Any, activation: Activation, min_max: bool) -> F32:
    """The model's first output as an ``HxW`` float32 probability map in 0..1."""
    array = np.asarray(output, dtype=np.float32)
    if array.ndim < 2 or array.size != array.shape[-2] * array.shape[-1]:
        raise SegmentationError(
            f"onnx model output has shape {array.shape}; expected one HxW map "
            "(1x1xHxW, 1xHxW or HxW)"
        )
    squeezed: F32 = array.reshape(array.shape[-2:])
    if not np.isfinite(squeezed).all():
        raise SegmentationError("onnx model output contains NaN or infinite values")
    looks_like_logits = float(squeezed.min()) < 0.0 or float(squeezed.max()) > 1.0
    if activation == "sigmoid" or (activation == "auto" and looks_like_logits):
        squeezed = (1.0 / (1.0 + np.exp(-squeezed))).astype(np.float32)
    if min_max:
        low, high = float(squeezed.min()), float(squeezed.max())
        # A constant map carries no ranking to stretch; keep it as it is.
        if high - low > 1e-6:
            squeezed = (squeezed - low) / (high - low)
    result: F32 = np.clip(squeezed, 0.0, 1.0).astype(np.float32)
    return result


def _load_session(path: Path, use_cuda: bool, threads: int) -> tuple[Any, list[str]]:
    import onnxruntime as ort  # imported here: only this provider needs it (~0.3 s to import)

    if not path.is_file():
        raise SegmentationError(f"onnx model not found: {path} (set the model path in settings)")
    available = ort.get_available_providers()
    providers = ["CPUExecutionProvider"]
    if use_cuda and "CUDAExecutionProvider" in available:
        providers.insert(0, "CUDAExecutionProvider")
    options = ort.SessionOptions()
    options.intra_op_num_threads = max(0, threads)
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    try:
        session = ort.InferenceSession(str(path), sess_options=options, providers=providers)
    except Exception as exc:  # InvalidProtobuf, Fail, NoSuchFile...: all mean "unusable file"
        raise SegmentationError(f"cannot load onnx model {path}: {exc}") from exc
    return session, list(session.get_providers())


def _describe_input(session: Any) -> ModelInput:
    inputs = session.get_inputs()
    if len(inputs) != 1:
        names = [i.name for i in inputs]
        raise SegmentationError(f"onnx model must take exactly one image input, it takes {names}")
    spec = inputs[0]
    dtypes: dict[str, type[np.floating[Any]]] = {
        "tensor(float)": np.float32,
        "tensor(float16)": np.float16,
    }
    if spec.type not in dtypes:
        raise SegmentationError(f"onnx model input {spec.name!r} is {spec.type}, not float")
    shape = list(spec.shape)
    if len(shape) != 4:
        raise SegmentationError(
            f"onnx model input {spec.name!r} has shape {shape}; expected 1x3xHxW or 1xHxWx3"
        )
    if isinstance(shape[0], int) and shape[0] != 1:
        raise SegmentationError(f"onnx model input batch is {shape[0]}; expected 1 or dynamic")
    channels_last = shape[3] == 3 and shape[1] != 3
    channels = shape[3] if channels_last else shape[1]
    if isinstance(channels, int) and channels != 3:
        raise SegmentationError(
            f"onnx model input {spec.name!r} has {channels} channels at the channel axis; "
            f"expected 3 (shape {shape})"
        )
    h, w = (shape[1], shape[2]) if channels_last else (shape[2], shape[3])
    fixed = isinstance(h, int) and isinstance(w, int) and h > 0 and w > 0
    return ModelInput(
        name=spec.name,
        channels_last=channels_last,
        dtype=dtypes[spec.type],
        size=(int(w), int(h)) if fixed else None,
    )


def _check_output(session: Any) -> str:
    outputs = session.get_outputs()
    if not outputs:
        raise SegmentationError("onnx model has no outputs")
    first = outputs[0]
    if first.type not in ("tensor(float)", "tensor(float16)"):
        raise SegmentationError(f"onnx model output {first.name!r} is {first.type}, not float")
    shape = list(first.shape)
    # Leading axes (batch, channel) of a declared shape must be 1 when they are known.
    fixed_leading = [d for d in shape[:-2] if isinstance(d, int)]
    if len(shape) < 2 or len(shape) > 4 or any(d != 1 for d in fixed_leading):
        raise SegmentationError(
            f"onnx model output {first.name!r} has shape {shape}; expected one HxW map "
            "(1x1xHxW, 1xHxW or HxW)"
        )
    name: str = first.name
    return name


def _resolve_size(
    fixed: tuple[int, int] | None, wanted: int | tuple[int, int] | None
) -> tuple[int, int]:
    wanted_size = (wanted, wanted) if isinstance(wanted, int) else wanted
    if wanted_size is not None and min(wanted_size) < 8:
        raise SegmentationError(f"onnx input_size {wanted_size} is too small")
    if fixed is not None:
        if wanted_size is not None and tuple(wanted_size) != fixed:
            raise SegmentationError(
                f"onnx model has a fixed input size {fixed[0]}x{fixed[1]}; "
                f"input_size {wanted_size[0]}x{wanted_size[1]} cannot be used"
            )
        return fixed
    if wanted_size is None:
        return (DEFAULT_DYNAMIC_SIDE, DEFAULT_DYNAMIC_SIDE)
    return (int(wanted_size[0]), int(wanted_size[1]))


def _decontaminate(rgba: npt.NDArray[np.uint8], rgb: RGB, probability: F32) -> None:
    height, width = rgb.shape[:2]
    scale = min(1.0, WORK_SIDE / max(height, width))
    work = (max(1, round(width * scale)), max(1, round(height * scale)))
    small = cv2.resize(rgb, work, interpolation=cv2.INTER_AREA) if scale < 1 else rgb
    small_probability = cv2.resize(probability, work, interpolation=cv2.INTER_AREA)
    inside, outside = neighbourhood_colours(
        small.astype(np.float32) / 255.0, small_probability >= 0.5
    )
    decontaminate_edges(rgba, inside, outside)
    clear_transparent(rgba)


def _check_rgb(rgb: Any) -> None:
    if not isinstance(rgb, np.ndarray) or rgb.dtype != np.uint8 or rgb.ndim != 3:
        raise SegmentationError("onnx segmenter expects an HxWx3 uint8 array")
    if rgb.shape[2] != 3 or min(rgb.shape[:2]) < 4:
        raise SegmentationError(f"onnx segmenter expects HxWx3 RGB pixels, got {rgb.shape}")
