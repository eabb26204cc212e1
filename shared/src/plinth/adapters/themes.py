"""The ``themes`` collection: one document per theme (``_id`` = its name) with all its versions.

Store access only, with operations both MongoDB and FerretDB 1.x have:

- a new theme is an insert: the unique ``_id`` refuses a second theme of that name;
- every later change (a new version, archive, restore) replaces the document conditionally on
  the version and status read before, so of two editors racing on one theme exactly one wins
  (the other gets :class:`ThemeChanged` and reloads);
- the packaged themes are seeded with inserts that skip names already stored, so any number of
  processes may seed at once, and an archived or edited packaged theme stays as it is.

Besides the store, two read-side caches for the pipeline: :class:`ThemeCatalogue` (which themes
a delivery may ask for, re-read at most every ``PLINTH_THEMES_CACHE_TTL_S``) and
:func:`load_job_theme` (a theme by name and version; versions never change, so kept for good).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from pydantic import Field
from pymongo import ASCENDING
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import DuplicateKeyError

from plinth.domain.job import utcnow
from plinth.domain.themes import ACTIVE, ThemeRecord, ThemeStatus, new_record
from plinth.imaging.backgrounds import Theme, list_themes, load_theme
from plinth.imaging.errors import ThemeError
from plinth.settings import PlinthSettings

if TYPE_CHECKING:
    from plinth.adapters.mongo import Database

log = logging.getLogger("plinth.themes")

Document = dict[str, Any]

COLLECTION = "themes"
SEED_ACTOR = "plinth (packaged theme)"
_HEAD = {"versions": 0}
"""Projection of a listing: everything but the version history."""


class ThemeSettings(PlinthSettings):
    themes_cache_ttl_s: float = Field(
        default=5.0, ge=0.0,
        description="how long ingest trusts its list of active themes before re-reading it",
    )  # fmt: skip


class ThemeExists(Exception):
    """A theme of that name is stored already (archived ones included)."""


class ThemeChanged(Exception):
    """The stored theme changed between the read and the write: reload and try again."""


class ThemeStore:
    def __init__(self, collection: AsyncCollection[Document]) -> None:
        self.collection = collection

    @classmethod
    def of(cls, db: Database) -> ThemeStore:
        """The store in a :class:`plinth.adapters.mongo.Database`."""
        return cls(db.db[COLLECTION])

    async def ensure_indexes(self) -> None:
        await self.collection.create_index(
            [("status", ASCENDING), ("_id", ASCENDING)], name="status_name"
        )

    async def ensure_ready(self, now: datetime | None = None) -> list[str]:
        """Indexes, then the packaged themes seeded; the names seeded by this call."""
        await self.ensure_indexes()
        return await self.seed_packaged(now)

    async def seed_packaged(self, now: datetime | None = None) -> list[str]:
        """Store every packaged theme that is not stored yet, as version 1; idempotent and safe
        to run from several processes at once (a lost insert race is a duplicate key)."""
        names = list_themes()
        stored = {
            doc["_id"]
            async for doc in self.collection.find({"_id": {"$in": names}}, projection={"_id": 1})
        }
        seeded: list[str] = []
        when = now or utcnow()
        for name in names:
            if name in stored:
                continue
            record = new_record(load_theme(name), actor=SEED_ACTOR, now=when, source="packaged")
            try:
                await self.collection.insert_one(record.to_document())
            except DuplicateKeyError:
                continue
            seeded.append(name)
        if seeded:
            log.info("seeded packaged themes: %s", ", ".join(seeded))
        return seeded

    async def list(self, *, include_archived: bool = False) -> list[ThemeRecord]:
        """The themes by name, without their version history."""
        flt: Document = {} if include_archived else {"status": ACTIVE}
        cursor = self.collection.find(flt, projection=_HEAD).sort("_id", ASCENDING)
        return [ThemeRecord.model_validate(doc) async for doc in cursor]

    async def get(self, name: str) -> ThemeRecord | None:
        doc = await self.collection.find_one({"_id": name})
        return ThemeRecord.model_validate(doc) if doc else None

    async def create(self, record: ThemeRecord) -> ThemeRecord:
        try:
            await self.collection.insert_one(record.to_document())
        except DuplicateKeyError as err:
            raise ThemeExists(f"a theme named {record.name!r} exists already") from err
        return record

    async def replace(self, record: ThemeRecord, seen: ThemeRecord) -> ThemeRecord:
        """Store ``record`` if the stored theme is still ``seen`` (same version and status)."""
        result = await self.collection.replace_one(
            {"_id": seen.name, "version": seen.version, "status": seen.status},
            record.to_document(),
        )
        if result.matched_count != 1:
            raise ThemeChanged(f"theme {seen.name!r} changed meanwhile; reload and try again")
        return record

    async def index(self) -> ThemeIndex:
        """Every theme's current version and status, in one read."""
        cursor = self.collection.find({}, projection={"_id": 1, "version": 1, "status": 1})
        versions: dict[str, int] = {}
        active: set[str] = set()
        async for doc in cursor:
            versions[doc["_id"]] = int(doc["version"])
            if doc.get("status", ACTIVE) == ACTIVE:
                active.add(doc["_id"])
        return ThemeIndex(versions=versions, active=frozenset(active))

    async def theme_at(self, name: str, version: int) -> Theme | None:
        record = await self.get(name)
        entry = record.at_version(version) if record else None
        return entry.validated() if entry else None


@dataclass(frozen=True)
class ThemeIndex:
    """Which themes exist, their current versions, and which of them are active."""

    versions: dict[str, int] = field(default_factory=dict)
    active: frozenset[str] = frozenset()

    @property
    def archived(self) -> frozenset[str]:
        return frozenset(self.versions) - self.active

    def status(self, name: str) -> ThemeStatus | None:
        if name not in self.versions:
            return None
        return "active" if name in self.active else "archived"

    @classmethod
    def packaged(cls) -> ThemeIndex:
        """The packaged themes as version 1 (before a store is seeded, or without one)."""
        names = list_themes()
        return cls(versions=dict.fromkeys(names, 1), active=frozenset(names))


class ThemeCatalogue:
    """The store's :class:`ThemeIndex`, re-read at most every ``ttl_s`` seconds.

    A caller asking for names the index does not know (``expect``: a theme made a moment ago)
    gets a re-read sooner, but at most every ``miss_reread_s``, so that deliveries naming
    unknown themes cannot make every request a read. Concurrent callers share one read. When a
    re-read fails the last index is served (and the read retried on the next call); with no
    index at all the failure propagates.
    """

    def __init__(
        self, store: ThemeStore, ttl_s: float, *, miss_reread_s: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:  # fmt: skip
        self.store = store
        self.ttl_s = ttl_s
        self.miss_reread_s = min(miss_reread_s, ttl_s)
        self.clock = clock
        self._index: ThemeIndex | None = None
        self._read_at = float("-inf")
        self._lock = asyncio.Lock()

    def _fresh(self, expect: Collection[str]) -> ThemeIndex | None:
        index = self._index
        if index is None:
            return None
        age = self.clock() - self._read_at
        if age >= self.ttl_s:
            return None
        if age >= self.miss_reread_s and any(name not in index.versions for name in expect):
            return None
        return index

    async def snapshot(self, expect: Collection[str] = ()) -> ThemeIndex:
        """The index; re-read when it is older than the TTL, or than ``miss_reread_s`` while
        it does not know a name of ``expect``."""
        if (index := self._fresh(expect)) is not None:
            return index
        async with self._lock:
            if (index := self._fresh(expect)) is not None:
                return index
            try:
                self._index = await self.store.index()
            except Exception:
                if self._index is None:
                    raise
                log.warning("cannot re-read the themes; serving the list read before",
                            exc_info=True)
                return self._index
            self._read_at = self.clock()
            return self._index

    def invalidate(self) -> None:
        self._read_at = float("-inf")


class UnknownThemeVersion(ThemeError):
    """The job names a theme (version) neither the store nor the package has: permanent, the
    stage workers fail the job with ``unknown_theme``."""

    code = "unknown_theme"


_VERSIONS: OrderedDict[tuple[str, str, int], Theme] = OrderedDict()
_VERSIONS_MAX = 256


async def load_job_theme(db: Database | None, name: str, version: int | None) -> Theme:
    """The theme a job renders with: ``name`` at ``version`` from the store (kept in the
    process for good once read: a version never changes).

    A job without a version (made before themes were stored) and a process without a store
    (``db`` None: the command line, unit tests) use the packaged theme of that name; a job
    without a version whose theme is not packaged uses the store's current version.
    :class:`UnknownThemeVersion` when neither has it.
    """
    if version is None or db is None:
        try:
            return load_theme(name)
        except ThemeError:
            if db is None:
                raise UnknownThemeVersion(f"theme {name!r} is not packaged") from None
        record = await ThemeStore.of(db).get(name)
        if record is None:
            raise UnknownThemeVersion(f"theme {name!r} is neither packaged nor stored")
        return record.current()
    key = (db.db.name, name, version)
    cached = _VERSIONS.get(key)
    if cached is not None:
        _VERSIONS.move_to_end(key)
        return cached
    theme = await ThemeStore.of(db).theme_at(name, version)
    if theme is None:
        raise UnknownThemeVersion(f"theme {name!r} has no version {version}")
    _VERSIONS[key] = theme
    while len(_VERSIONS) > _VERSIONS_MAX:
        _VERSIONS.popitem(last=False)
    return theme
