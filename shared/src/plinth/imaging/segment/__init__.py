"""Segmentation (background removal) behind one port, and the registry of its providers.

``get_provider("local")`` is the weight-free backdrop model; ``"freepik"`` calls Freepik's
remove-background API. The ``learned`` provider (:mod:`.learned`) takes a loaded model through
the :class:`~.saliency.SaliencyModel` port, so it is built by ``plinth.models.segmenters``, which
also picks the default (``auto``). Providers are imported on first use, so importing this
package stays cheap (no httpx).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from plinth.imaging.errors import SegmentationError
from plinth.imaging.segment.base import Segmentation, SegmentProvider

PROVIDERS = ("local", "freepik")

__all__ = ["PROVIDERS", "SegmentProvider", "Segmentation", "get_provider"]


def _local() -> Callable[..., SegmentProvider]:
    from plinth.imaging.segment.local import LocalSegmenter

    return LocalSegmenter


def _freepik() -> Callable[..., SegmentProvider]:
    from plinth.imaging.segment.freepik import FreepikSegmenter

    return FreepikSegmenter


_FACTORIES: dict[str, Callable[[], Callable[..., SegmentProvider]]] = {
    "local": _local,
    "freepik": _freepik,
}


def get_provider(name: str, **config: Any) -> SegmentProvider:
    """Build the provider called ``name`` with ``config`` as its keyword arguments.

    ``local`` takes ``options``; ``freepik`` takes ``api_key``, ``uploader``, ``unit_price_usd``
    and HTTP settings.
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
