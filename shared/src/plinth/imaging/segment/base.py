"""The segmentation provider port.

Every provider (local, freepik, onnx) takes a decoded sRGB image as an ``HxWx3 uint8`` array and
returns a :class:`Segmentation`. Providers that call a vendor do their HTTP inside ``segment``
(synchronously, so the CLI and the services can both call them; services run them in a thread).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

from plinth.imaging.types import RGB, RGBA, Mask

__all__ = ["RGB", "RGBA", "Mask", "SegmentProvider", "Segmentation"]


@dataclass(frozen=True)
class Segmentation:
    """What a provider returns: the cutout, its mask, and what it cost."""

    cutout: RGBA
    """RGBA cutout: colours decontaminated on the edges, black where fully transparent, alpha
    equal to ``mask``."""
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
