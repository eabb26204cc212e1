"""The segmentation provider port.

Every provider (local, freepik, onnx) takes a decoded sRGB image as an ``HxWx3 uint8`` array and
returns a :class:`Segmentation`. Providers that call a vendor do their HTTP inside ``segment``
(synchronously, so the CLI and the services can both call them; services run them in a thread).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt

RGB = npt.NDArray[np.uint8]
"""``HxWx3`` uint8 sRGB pixels."""

RGBA = npt.NDArray[np.uint8]
"""``HxWx4`` uint8 sRGB pixels with straight (not premultiplied) alpha."""

Mask = npt.NDArray[np.uint8]
"""``HxW`` uint8 alpha, 0 = background, 255 = product, soft values on edges."""


@dataclass(frozen=True)
class Segmentation:
    """What a provider returns: the cutout, its mask, and what it cost."""

    cutout: RGBA
    """RGBA cutout: colours decontaminated on the edges, alpha equal to ``mask``."""
    mask: Mask
    provider: str
    cost_usd: float = 0.0
    meta: dict[str, Any] = field(default_factory=dict)


class SegmentProvider(Protocol):
    """Anything that can cut a product out of its photo."""

    name: str

    def segment(self, rgb: RGB) -> Segmentation:
        """Cut the product out of ``rgb``; raise ``SegmentationError``/``ProviderError``."""
        ...
