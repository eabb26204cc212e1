"""Segmentation (background removal) behind one port, and the registry of its providers.

``get_provider("local")`` is the weight-free backdrop model. Only pure providers live here: the
``learned`` provider (:mod:`.learned`) takes a loaded model through the
:class:`~.saliency.SaliencyModel` port, and ``freepik`` (Freepik's remove-background API) is an
HTTP client in :mod:`plinth.vendors.freepik.segmenter`; ``plinth.models.segmenters`` builds
those two and picks the default (``auto``). Providers are imported on first use, so importing
this package stays cheap.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from plinth.imaging.errors import SegmentationError
from plinth.imaging.segment.base import Segmentation, SegmentProvider

PROVIDERS = ("local",)

__all__ = ["PROVIDERS", "SegmentProvider", "Segmentation", "get_provider"]


def _local() -> Callable[..., SegmentProvider]:
    from plinth.imaging.segment.local import LocalSegmenter

    return LocalSegmenter


_FACTORIES: dict[str, Callable[[], Callable[..., SegmentProvider]]] = {
    "local": _local,
}


def get_provider(name: str, **config: Any) -> SegmentProvider:
    """Build the provider called ``name`` with ``config`` as its keyword arguments.

    ``local`` takes ``options``.
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
