"""An in-process LRU of rendered backgrounds, bounded in bytes.

Procedural backgrounds are deterministic per (theme, variant, size), and every job of a theme
asks for the same few, so a worker renders and encodes each once and then serves it from
memory. The key holds the theme's *version* (a hash of its whole validated definition), not
just its name: an edited theme file is a different key, never a stale hit.

The bound is ``PLINTH_BACKGROUND_CACHE_MB`` (default 64; ``0`` turns caching off). A 2000x2000
background JPEG is a few hundred KB, so the default holds every packaged theme's variants.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from typing import Generic, TypeVar

from plinth.imaging.backgrounds.model import Theme

V = TypeVar("V")


def theme_version(theme: Theme) -> str:
    """A short hash of the theme's full definition: changes whenever anything in it does."""
    return hashlib.sha256(theme.model_dump_json().encode()).hexdigest()[:16]


@dataclass
class CacheStats:
    hits: int = 0
    misses: int = 0
    evictions: int = 0


class ByteBoundedLRU(Generic[V]):
    """Least-recently-used mapping whose values' sizes (``sizeof``) sum to at most
    ``max_bytes``; thread-safe (the stage services render on worker threads).

    A value bigger than the whole bound is returned but not kept.
    """

    def __init__(self, max_bytes: int, sizeof: Callable[[V], int]) -> None:
        if max_bytes < 0:
            raise ValueError("max_bytes must be >= 0")
        self.max_bytes = max_bytes
        self._sizeof = sizeof
        self._items: OrderedDict[Hashable, tuple[V, int]] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()
        self.stats = CacheStats()

    def __len__(self) -> int:
        return len(self._items)

    def __contains__(self, key: Hashable) -> bool:
        return key in self._items

    @property
    def size_bytes(self) -> int:
        return self._bytes

    def get(self, key: Hashable) -> V | None:
        with self._lock:
            item = self._items.get(key)
            if item is None:
                self.stats.misses += 1
                return None
            self._items.move_to_end(key)
            self.stats.hits += 1
            return item[0]

    def put(self, key: Hashable, value: V) -> None:
        size = self._sizeof(value)
        with self._lock:
            old = self._items.pop(key, None)
            if old is not None:
                self._bytes -= old[1]
            if size > self.max_bytes:
                return
            self._items[key] = (value, size)
            self._bytes += size
            while self._bytes > self.max_bytes:
                _, (_, evicted) = self._items.popitem(last=False)
                self._bytes -= evicted
                self.stats.evictions += 1

    def get_or_make(self, key: Hashable, make: Callable[[], V]) -> V:
        """The cached value, else ``make()`` (outside the lock) stored and returned."""
        found = self.get(key)
        if found is not None:
            return found
        value = make()
        self.put(key, value)
        return value

    def clear(self) -> None:
        with self._lock:
            self._items.clear()
            self._bytes = 0
