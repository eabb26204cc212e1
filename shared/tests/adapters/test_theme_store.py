"""The theme store on the local stack: seeding, versions, conditional changes, the catalogue's
cache and the pipeline's lookup by name and version."""

from __future__ import annotations

import asyncio

import pytest

from plinth.adapters.mongo import Database
from plinth.adapters.themes import (
    ThemeCatalogue,
    ThemeChanged,
    ThemeExists,
    ThemeStore,
    UnknownThemeVersion,
    load_job_theme,
)
from plinth.domain.job import utcnow
from plinth.domain.themes import ARCHIVED, new_record, revise, with_status
from plinth.imaging.backgrounds import Theme, list_themes, load_theme
from plinth.worker.errors import classify

pytestmark = [pytest.mark.stack, pytest.mark.asyncio(loop_scope="session")]


def custom(name: str, colour: str = "#336699") -> Theme:
    return Theme.model_validate({
        "name": name, "title": f"Custom {name}", "prompt": "a plain backdrop",
        "background": {"kind": "solid", "colour": colour}, "variants": 2,
    })  # fmt: skip


async def test_seeding_is_idempotent_and_safe_when_processes_race(own_db: Database) -> None:
    stores = [ThemeStore.of(own_db) for _ in range(4)]
    seeded = await asyncio.gather(*(store.ensure_ready() for store in stores))
    packaged = list_themes()
    assert sorted(name for names in seeded for name in names) == packaged, "each seeded once"
    assert await stores[0].seed_packaged() == []
    records = await stores[0].list()
    assert [r.name for r in records] == packaged
    default = await stores[0].get("default")
    assert default is not None
    assert (default.version, default.status, default.source) == (1, "active", "packaged")
    assert default.current() == load_theme("default")


async def test_an_archived_packaged_theme_stays_archived_after_a_restart(
    own_db: Database,
) -> None:
    store = ThemeStore.of(own_db)
    await store.ensure_ready()
    record = await store.get("warm_paper")
    assert record is not None
    await store.replace(with_status(record, ARCHIVED, actor="op", now=utcnow()), record)
    assert await store.ensure_ready() == []
    again = await store.get("warm_paper")
    assert again is not None and again.status == ARCHIVED
    assert "warm_paper" not in [r.name for r in await store.list()]
    assert "warm_paper" in [r.name for r in await store.list(include_archived=True)]
    index = await store.index()
    assert "warm_paper" in index.archived and "warm_paper" not in index.active
    assert index.status("warm_paper") == "archived" and index.status("nope") is None


async def test_versions_are_kept_and_concurrent_edits_have_one_winner(own_db: Database) -> None:
    store = ThemeStore.of(own_db)
    first = await store.create(new_record(custom("studio-a"), actor="alice", now=utcnow()))
    with pytest.raises(ThemeExists):
        await store.create(new_record(custom("studio-a"), actor="bob", now=utcnow()))

    seen = await store.get("studio-a")
    assert seen is not None and seen.version == 1
    mine = revise(seen, custom("studio-a", "#aa0000"), actor="alice", now=utcnow())
    theirs = revise(seen, custom("studio-a", "#00aa00"), actor="bob", now=utcnow())
    assert mine is not None and theirs is not None
    await store.replace(mine, seen)
    with pytest.raises(ThemeChanged):
        await store.replace(theirs, seen)

    stored = await store.get("studio-a")
    assert stored is not None
    assert stored.version == 2 and [v.version for v in stored.versions] == [1, 2]
    assert stored.updated_by == "alice"
    assert await store.theme_at("studio-a", 1) == first.current()
    v2 = await store.theme_at("studio-a", 2)
    assert v2 is not None and v2.background.colour == "#aa0000"  # type: ignore[union-attr]
    assert await store.theme_at("studio-a", 3) is None
    # A listing carries the current version without the history.
    (listed,) = [r for r in await store.list() if r.name == "studio-a"]
    assert listed.versions == [] and listed.version == 2


async def test_the_catalogue_rereads_only_after_its_ttl(own_db: Database) -> None:
    store = ThemeStore.of(own_db)
    await store.create(new_record(custom("ttl-one"), actor="t", now=utcnow()))
    now = [0.0]
    catalogue = ThemeCatalogue(store, ttl_s=5.0, clock=lambda: now[0])
    first = await catalogue.snapshot()
    assert first.active == {"ttl-one"} and first.versions == {"ttl-one": 1}

    await store.create(new_record(custom("ttl-two"), actor="t", now=utcnow()))
    now[0] = 4.9
    assert "ttl-two" not in (await catalogue.snapshot()).active, "served from the cache"
    now[0] = 5.0
    assert (await catalogue.snapshot()).active == {"ttl-one", "ttl-two"}


async def test_a_name_the_catalogue_does_not_know_rereads_sooner_but_not_per_request(
    own_db: Database,
) -> None:
    store = ThemeStore.of(own_db)
    reads = [0]
    original = store.index

    async def counted():  # type: ignore[no-untyped-def]
        reads[0] += 1
        return await original()

    store.index = counted  # type: ignore[method-assign]
    now = [0.0]
    catalogue = ThemeCatalogue(store, ttl_s=60.0, miss_reread_s=1.0, clock=lambda: now[0])
    await catalogue.snapshot()
    await store.create(new_record(custom("just-made"), actor="t", now=utcnow()))
    now[0] = 0.5
    assert "just-made" not in (await catalogue.snapshot(["just-made"])).active
    assert reads[0] == 1, "a miss re-reads at most every miss_reread_s"
    now[0] = 1.0
    assert "just-made" in (await catalogue.snapshot(["just-made"])).active
    assert reads[0] == 2
    now[0] = 2.5
    for _ in range(3):  # known names: served from the cache until the TTL
        await catalogue.snapshot(["just-made"])
    assert reads[0] == 2
    now[0] = 3.0
    await catalogue.snapshot(["never-made"])
    await catalogue.snapshot(["never-made"])
    assert reads[0] == 3, "an unknown name costs one read per miss_reread_s, not one per call"


async def test_the_catalogue_serves_its_last_index_when_the_store_fails(
    own_db: Database,
) -> None:
    class Failing(ThemeStore):
        fail = False

        async def index(self):  # type: ignore[no-untyped-def]
            if self.fail:
                raise ConnectionError("store down")
            return await super().index()

    store = Failing(own_db.db["themes"])
    await store.create(new_record(custom("kept"), actor="t", now=utcnow()))
    catalogue = ThemeCatalogue(store, ttl_s=0.0)
    assert "kept" in (await catalogue.snapshot()).active
    store.fail = True
    assert "kept" in (await catalogue.snapshot()).active
    with pytest.raises(ConnectionError):
        await ThemeCatalogue(store, ttl_s=0.0).snapshot()  # nothing read before


async def test_a_job_theme_is_loaded_by_name_and_version_and_kept(own_db: Database) -> None:
    store = ThemeStore.of(own_db)
    await store.ensure_ready()
    seen = await store.create(new_record(custom("versioned", "#101010"), actor="t", now=utcnow()))
    edited = revise(seen, custom("versioned", "#202020"), actor="t", now=utcnow())
    assert edited is not None
    await store.replace(edited, seen)

    v1 = await load_job_theme(own_db, "versioned", 1)
    v2 = await load_job_theme(own_db, "versioned", 2)
    assert v1.background.colour == "#101010"  # type: ignore[union-attr]
    assert v2.background.colour == "#202020"  # type: ignore[union-attr]

    # Versions never change: once read, a version is served without the store.
    await own_db.db["themes"].delete_one({"_id": "versioned"})
    assert await load_job_theme(own_db, "versioned", 2) == v2
    with pytest.raises(UnknownThemeVersion) as caught:
        await load_job_theme(own_db, "versioned", 3)
    assert classify(caught.value).permanent and classify(caught.value).code == "unknown_theme"


async def test_jobs_without_a_version_and_processes_without_a_store_use_packaged_themes(
    own_db: Database,
) -> None:
    store = ThemeStore.of(own_db)
    await store.ensure_ready()
    seen = await store.get("default")
    assert seen is not None
    edited = revise(seen, load_theme("default").model_copy(update={"variants": 1}),
                    actor="t", now=utcnow())  # fmt: skip
    assert edited is not None
    await store.replace(edited, seen)

    assert await load_job_theme(own_db, "default", None) == load_theme("default")
    assert await load_job_theme(None, "default", 2) == load_theme("default")
    assert (await load_job_theme(own_db, "default", 2)).variants == 1
    # A stored-only theme on a job without a version: the store's current one.
    await store.create(new_record(custom("only-stored"), actor="t", now=utcnow()))
    assert (await load_job_theme(own_db, "only-stored", None)).name == "only-stored"
    with pytest.raises(UnknownThemeVersion):
        await load_job_theme(None, "only-stored", 1)
    with pytest.raises(UnknownThemeVersion):
        await load_job_theme(own_db, "nowhere", None)
