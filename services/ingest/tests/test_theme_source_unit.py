"""Which themes a delivery asks for and how unknown and archived ones are refused (no stack)."""

from __future__ import annotations

import pytest

from plinth.adapters.themes import ThemeIndex
from plinth_ingest.request import InvalidRequest, parse_image_request, requested_themes
from plinth_ingest.themes import FixedThemes, as_theme_source

URL = "https://images.example/a.jpg"


def test_the_requested_names_are_read_before_validation_and_bounded() -> None:
    assert requested_themes({"themes": [" a ", "b", 3, "a"], "theme": "c"}) == ["a", "b", "c"]
    assert requested_themes({"theme": "x"}) == ["x"]
    assert requested_themes(["not", "a", "mapping"]) == []
    assert len(requested_themes({"themes": [f"t{i}" for i in range(10_000)]})) == 64


def test_archived_and_unknown_themes_are_named_apart() -> None:
    with pytest.raises(InvalidRequest) as caught:
        parse_image_request(
            {"sku": "S", "image_url": URL, "themes": ["old", "nope", "default"]},
            known_themes=frozenset({"default"}), archived_themes=frozenset({"old"}),
            max_themes=5,
        )  # fmt: skip
    messages = [p.message for p in caught.value.problems]
    assert any(m.startswith("unknown theme 'nope'; available: default") for m in messages)
    assert any(m.startswith("archived theme 'old': restore it") for m in messages)


def test_with_every_theme_archived_nothing_is_accepted() -> None:
    with pytest.raises(InvalidRequest) as caught:
        parse_image_request({"sku": "S", "image_url": URL, "theme": "anything"},
                            known_themes=frozenset(), max_themes=5)  # fmt: skip
    assert "available: none" in str(caught.value)


async def test_a_fixed_set_of_names_is_a_source_without_versions() -> None:
    source = as_theme_source(frozenset({"default"}))
    assert isinstance(source, FixedThemes)
    index = await source.snapshot(["default"])
    assert index.active == {"default"} and index.versions == {} and index.archived == set()
    packaged = ThemeIndex.packaged()
    assert as_theme_source(FixedThemes(packaged)).index is packaged  # type: ignore[attr-defined]
