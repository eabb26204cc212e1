"""The in-process background cache: hits, eviction by bytes, and theme versions in the key."""

from __future__ import annotations

from plinth.imaging.backgrounds import load_theme
from plinth.imaging.backgrounds.cache import ByteBoundedLRU, theme_version
from plinth.stages import BackgroundResult, procedural_background, render_backgrounds

CANVAS = (96, 64)


def counting_generator() -> tuple[list[tuple[str, int]], object]:
    calls: list[tuple[str, int]] = []

    def generator(theme, variant, size):  # type: ignore[no-untyped-def]
        calls.append((theme.name, variant))
        return procedural_background(theme, variant, size)

    return calls, generator


def new_cache(max_bytes: int = 10_000_000) -> ByteBoundedLRU[BackgroundResult]:
    return ByteBoundedLRU(max_bytes, sizeof=lambda item: len(item.jpeg))


def test_second_render_is_a_hit_with_the_same_bytes(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    theme = load_theme("warm_paper")
    cache = new_cache()
    rendered: list[int] = []
    import plinth.stages as stages

    real = stages._render_one

    def spy(theme, variant, canvas, generator):  # type: ignore[no-untyped-def]
        rendered.append(variant)
        return real(theme, variant, canvas, generator)

    monkeypatch.setattr(stages, "_render_one", spy)
    first = render_backgrounds(theme, 3, canvas=CANVAS, cache=cache)
    second = render_backgrounds(theme, 3, canvas=CANVAS, cache=cache)
    assert rendered == [0, 1, 2]
    assert [b.jpeg for b in first] == [b.jpeg for b in second]
    assert cache.stats.hits == 3 and cache.stats.misses == 3
    # The cached bytes are what an uncached render makes.
    uncached = render_backgrounds(theme, 3, canvas=CANVAS, cache=new_cache(0))
    assert [b.jpeg for b in uncached] == [b.jpeg for b in first]


def test_size_and_variant_are_part_of_the_key() -> None:
    theme = load_theme("warm_paper")
    cache = new_cache()
    render_backgrounds(theme, 1, canvas=CANVAS, cache=cache)
    render_backgrounds(theme, 2, canvas=(CANVAS[0] + 1, CANVAS[1]), cache=cache)
    assert len(cache) == 3 and cache.stats.hits == 0


def test_key_includes_the_theme_version() -> None:
    theme = load_theme("warm_paper")
    edited = theme.model_copy(update={"title": theme.title + " (edited)"})
    recoloured = theme.model_validate(
        {**theme.model_dump(), "vignette": {"strength": 0.9, "radius": 0.2, "softness": 0.5}}
    )
    assert theme_version(theme) != theme_version(edited) != theme_version(recoloured)
    assert theme_version(theme) == theme_version(load_theme("warm_paper"))
    cache = new_cache()
    original = render_backgrounds(theme, 1, canvas=CANVAS, cache=cache)
    changed = render_backgrounds(recoloured, 1, canvas=CANVAS, cache=cache)
    assert cache.stats.hits == 0 and len(cache) == 2
    assert original[0].jpeg != changed[0].jpeg  # the edited theme was rendered, not served stale


def test_eviction_keeps_the_byte_bound_and_drops_the_least_recently_used() -> None:
    cache: ByteBoundedLRU[bytes] = ByteBoundedLRU(10, sizeof=len)
    cache.put("a", b"aaaa")
    cache.put("b", b"bbbb")
    assert cache.get("a") == b"aaaa"  # a is now the most recently used
    cache.put("c", b"cccc")  # 12 bytes > 10: b goes
    assert "b" not in cache and "a" in cache and "c" in cache
    assert cache.size_bytes == 8 and cache.stats.evictions == 1
    cache.put("huge", b"x" * 11)  # bigger than the bound: not kept, nothing evicted for it
    assert "huge" not in cache and len(cache) == 2


def test_zero_bound_caches_nothing() -> None:
    theme = load_theme("warm_paper")
    cache = new_cache(0)
    render_backgrounds(theme, 2, canvas=CANVAS, cache=cache)
    render_backgrounds(theme, 2, canvas=CANVAS, cache=cache)
    assert len(cache) == 0 and cache.stats.hits == 0


def test_other_generators_are_not_cached() -> None:
    theme = load_theme("warm_paper")
    calls, generator = counting_generator()
    cache = new_cache()
    render_backgrounds(theme, 2, canvas=CANVAS, generator=generator, cache=cache)  # type: ignore[arg-type]
    render_backgrounds(theme, 2, canvas=CANVAS, generator=generator, cache=cache)  # type: ignore[arg-type]
    assert calls == [("warm_paper", 0), ("warm_paper", 1)] * 2 and len(cache) == 0
