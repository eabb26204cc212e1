"""Stored themes' rules: validation that names the field, versions, status, duplicates."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from plinth.domain.themes import (
    ACTIVE,
    ARCHIVED,
    InvalidTheme,
    ThemeConflict,
    duplicate_theme,
    new_record,
    revise,
    theme_json,
    validate_theme,
    with_status,
)
from plinth.imaging.backgrounds import load_theme

NOW = datetime(2026, 12, 5, 3, 0, tzinfo=UTC)


def test_an_invalid_theme_names_each_bad_field() -> None:
    raw = theme_json(load_theme("default"))
    raw["background"]["floor_line"] = 2.0
    raw["variants"] = 0
    with pytest.raises(InvalidTheme) as caught:
        validate_theme(raw)
    fields = {p["field"] for p in caught.value.problems}
    assert "theme.background.floor_line" in fields
    assert "theme.variants" in fields
    with pytest.raises(InvalidTheme) as caught:
        validate_theme(["not", "an", "object"])
    assert caught.value.problems == [{"field": "theme", "message": "must be a JSON object"}]


def test_an_edit_appends_a_version_and_an_unchanged_edit_makes_none() -> None:
    theme = load_theme("default")
    record = new_record(theme, actor="alice", now=NOW)
    assert (record.version, record.status, [v.version for v in record.versions]) == (1, ACTIVE, [1])
    assert revise(record, theme, actor="bob", now=NOW) is None
    edited = revise(record, theme.model_copy(update={"variants": 2}), actor="bob", now=NOW)
    assert edited is not None
    assert edited.version == 2 and edited.updated_by == "bob" and edited.created_by == "alice"
    assert edited.current().variants == 2
    old = edited.at_version(1)
    assert old is not None and old.validated() == theme
    assert record.version == 1, "the record read before is left as it was"


def test_an_edit_cannot_rename_a_theme() -> None:
    record = new_record(load_theme("default"), actor="a", now=NOW)
    with pytest.raises(ThemeConflict, match="duplicate"):
        revise(record, load_theme("warm_paper"), actor="a", now=NOW)


def test_archive_and_restore() -> None:
    record = new_record(load_theme("default"), actor="a", now=NOW)
    archived = with_status(record, ARCHIVED, actor="b", now=NOW)
    assert archived.status == ARCHIVED and archived.version == 1
    with pytest.raises(ThemeConflict):
        with_status(archived, ARCHIVED, actor="b", now=NOW)
    assert with_status(archived, ACTIVE, actor="b", now=NOW).status == ACTIVE


def test_a_duplicate_is_renamed_and_titled_and_validated() -> None:
    copy = duplicate_theme(load_theme("default"), "default-copy")
    assert copy.name == "default-copy" and copy.title == "Studio white sweep (copy)"
    assert copy.background == load_theme("default").background
    assert duplicate_theme(load_theme("default"), "x", title="Mine").title == "Mine"
    with pytest.raises(InvalidTheme) as caught:
        duplicate_theme(load_theme("default"), "Not A Name")
    assert caught.value.problems[0]["field"] == "name"
