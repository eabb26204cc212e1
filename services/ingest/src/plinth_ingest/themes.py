"""Which themes a delivery may ask for: the packaged background themes."""

from __future__ import annotations

from functools import lru_cache


@lru_cache(maxsize=1)
def known_themes() -> frozenset[str]:
    from plinth.imaging.backgrounds import list_themes

    return frozenset(list_themes())
