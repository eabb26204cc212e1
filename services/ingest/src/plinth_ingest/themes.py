"""Which themes a delivery may ask for, and at which version its jobs render.

With a document store these are the store's active themes (:class:`plinth.adapters.themes.
ThemeCatalogue`: re-read at most every ``PLINTH_THEMES_CACHE_TTL_S``, so the hot path does not
read the store per request); a fixed set of names (unit tests) records no version.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from functools import lru_cache
from typing import Protocol

from plinth.adapters.themes import ThemeIndex


class ThemeSource(Protocol):
    async def snapshot(self, expect: Collection[str] = ()) -> ThemeIndex:
        """The themes; ``expect`` names the ones a request asks for (a source may re-read
        sooner when it does not know one: a theme made a moment ago)."""
        ...


@dataclass(frozen=True)
class FixedThemes:
    """A set of theme names, active, without versions."""

    index: ThemeIndex

    async def snapshot(self, expect: Collection[str] = ()) -> ThemeIndex:
        return self.index


def as_theme_source(themes: frozenset[str] | ThemeSource) -> ThemeSource:
    if isinstance(themes, frozenset):
        return FixedThemes(ThemeIndex(versions={}, active=themes))
    return themes


@lru_cache(maxsize=1)
def known_themes() -> frozenset[str]:
    """The packaged background themes' names."""
    from plinth.imaging.backgrounds import list_themes

    return frozenset(list_themes())
