"""Segmentation (background removal) behind one port, and the registry of its providers.

``get_provider("local")`` is the default, weight-free provider; ``"freepik"`` calls Freepik's
remove-background API; ``"onnx"`` runs a salient-object model from a local file. Providers are
imported on first use, so importing this package stays cheap (no onnxruntime, no httpx).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from plinth.imaging.errors import SegmentationError
from plinth.imaging.segment.base import Segmentation, SegmentProvider

PROVIDERS = ("local", "freepik", "onnx")
DEFAULT_PROVIDER = "local"

__all__ = ["DEFAULT_PROVIDER", "PROVIDERS", "SegmentProvider", "Segmentation", "get_provider"]


def _local() -> Callable[..., SegmentProvider]:
    from plinth.imaging.segment.local import LocalSegmenter

    return LocalSegmenter


def _freepik() -> Callable[..., SegmentProvider]:
    from plinth.imaging.segment.freepik import FreepikSegmenter

    return FreepikSegmenter


def _onnx() -> Callable[..., SegmentProvider]:
    from plinth.imaging.segment.onnx import OnnxSegmenter

    return OnnxSegmenter


_FACTORIES: dict[str, Callable[[], Callable[..., SegmentProvider]]] = {
    "local": _local,
    "freepik": _freepik,
    "onnx": _onnx,
}


def get_provider(name: str, **config: Any) -> SegmentProvider:
    """Build the provider called ``name`` with ``config`` as its keyword arguments.

    ``local`` takes ``options``; ``freepik`` takes ``api_key``, ``uploader``, ``unit_price_usd``
    and HTTP settings; ``onnx`` takes ``model_path`` and pre-processing settings.
    """
    factory = _FACTORIES.get(name.strip().lower())
    if factory is None:
        raise SegmentationError(
            f"unknown segment provider {name!r}; choose one of {', '.join(PROVIDERS)}"
        )
    provider_class = factory()
    try:
        return provider_class(**config)
    except TypeError as exc:
        # A misspelt or missing setting: say which provider and what it said.
        raise SegmentationError(f"bad configuration for segment provider {name!r}: {exc}") from exc
