"""Stored themes: one record per theme with every version it had, and the rules for changing it.

Pure: no I/O. :mod:`plinth.adapters.themes` keeps the records in the document store. A theme's
definition is the same :class:`~plinth.imaging.backgrounds.model.Theme` the packaged JSON files
use; what the store adds (the version, who made it and when, active or archived) lives beside
it on :class:`ThemeRecord`, never inside the theme.

A version is immutable: an edit appends version ``N+1`` and makes it current, so a job that
recorded version ``N`` renders the same backgrounds whenever it is re-run.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from plinth.imaging.backgrounds.model import Theme

_FILL_KINDS = frozenset({"solid", "linear", "radial", "sweep"})

ThemeStatus = Literal["active", "archived"]
ACTIVE: ThemeStatus = "active"
ARCHIVED: ThemeStatus = "archived"

ThemeSource = Literal["packaged", "api"]


class InvalidTheme(ValueError):
    """A theme definition that does not validate; ``problems`` name each field (``theme.x.y``)."""

    def __init__(self, problems: list[dict[str, str]]) -> None:
        super().__init__("; ".join(f"{p['field']}: {p['message']}" for p in problems))
        self.problems = problems


class ThemeConflict(ValueError):
    """The change makes no sense for the record as it is (a 409)."""


def field_path(loc: tuple[int | str, ...], prefix: str | None = None) -> str:
    """A pydantic error location as the JSON path it names: ``background.floor_line``, not
    pydantic's ``background.sweep.floor_line`` (the tag of the fill's kind is no key of the
    document)."""
    parts = [str(part) for part in loc]
    if len(parts) > 1 and parts[0] == "background" and parts[1] in _FILL_KINDS:
        del parts[1]
    return ".".join([prefix, *parts] if prefix else parts)


def validate_theme(raw: Any, *, field: str = "theme") -> Theme:
    """``raw`` (decoded JSON) as a :class:`Theme`; :class:`InvalidTheme` names every bad field,
    prefixed with ``field`` (``theme.background.floor_line``)."""
    if not isinstance(raw, Mapping):
        raise InvalidTheme([{"field": field, "message": "must be a JSON object"}])
    try:
        return Theme.model_validate(raw)
    except ValidationError as exc:
        raise InvalidTheme(
            [
                {"field": field_path(err["loc"], field), "message": err["msg"]}
                for err in exc.errors()
            ]
        ) from exc


def theme_json(theme: Theme) -> dict[str, Any]:
    """The stored form of a theme: plain JSON, every field written out."""
    return theme.model_dump(mode="json")


class ThemeVersion(BaseModel):
    model_config = ConfigDict(extra="ignore")

    version: int = Field(ge=1)
    theme: dict[str, Any]
    created_at: datetime
    created_by: str
    note: str | None = None

    def validated(self) -> Theme:
        return Theme.model_validate(self.theme)


class ThemeRecord(BaseModel):
    """One stored theme (``name`` is stored as ``_id``) and all its versions, oldest first."""

    model_config = ConfigDict(extra="ignore", populate_by_name=True)

    name: str = Field(alias="_id")
    status: ThemeStatus = ACTIVE
    version: int = Field(ge=1, description="the current version")
    theme: dict[str, Any] = Field(description="the current version's definition")
    source: ThemeSource = "api"
    created_at: datetime
    created_by: str
    updated_at: datetime
    updated_by: str
    versions: list[ThemeVersion] = Field(default_factory=list)

    def current(self) -> Theme:
        return Theme.model_validate(self.theme)

    def at_version(self, version: int) -> ThemeVersion | None:
        for item in self.versions:
            if item.version == version:
                return item
        if version == self.version:  # a listing read without its history
            return ThemeVersion(
                version=self.version, theme=self.theme, created_at=self.updated_at,
                created_by=self.updated_by,
            )  # fmt: skip
        return None

    def to_document(self) -> dict[str, Any]:
        return self.model_dump(by_alias=True, mode="python")


def new_record(
    theme: Theme, *, actor: str, now: datetime, source: ThemeSource = "api",
    note: str | None = None,
) -> ThemeRecord:  # fmt: skip
    """Version 1 of a new theme, active."""
    first = ThemeVersion(
        version=1, theme=theme_json(theme), created_at=now, created_by=actor, note=note
    )
    return ThemeRecord(
        name=theme.name, status=ACTIVE, version=1, theme=first.theme, source=source,
        created_at=now, created_by=actor, updated_at=now, updated_by=actor, versions=[first],
    )  # fmt: skip


def revise(
    record: ThemeRecord, theme: Theme, *, actor: str, now: datetime, note: str | None = None
) -> ThemeRecord | None:
    """The record with ``theme`` as its new current version; None when ``theme`` is what the
    current version already is (nothing to version). The theme's name cannot change (duplicate
    it instead): :class:`ThemeConflict`."""
    if theme.name != record.name:
        raise ThemeConflict(
            f"theme.name {theme.name!r} differs from the theme being edited ({record.name!r}); "
            "duplicate the theme to give it another name"
        )
    definition = theme_json(theme)
    if definition == record.theme:
        return None
    version = max([record.version, *(v.version for v in record.versions)]) + 1
    entry = ThemeVersion(
        version=version, theme=definition, created_at=now, created_by=actor, note=note
    )
    return record.model_copy(
        update={
            "version": version, "theme": definition, "updated_at": now, "updated_by": actor,
            "versions": [*record.versions, entry],
        }
    )  # fmt: skip


def with_status(
    record: ThemeRecord, status: ThemeStatus, *, actor: str, now: datetime
) -> ThemeRecord:
    """The record archived or restored; :class:`ThemeConflict` if it already is."""
    if record.status == status:
        raise ThemeConflict(f"theme {record.name!r} is already {status}")
    return record.model_copy(update={"status": status, "updated_at": now, "updated_by": actor})


def duplicate_theme(theme: Theme, name: str, *, title: str | None = None) -> Theme:
    """A copy of ``theme`` called ``name`` (validated like any theme: :class:`InvalidTheme`
    names ``name`` or ``title`` when they do not fit)."""
    raw = theme_json(theme)
    raw["name"] = name
    raw["title"] = title if title is not None else _copy_title(theme.title)
    try:
        return Theme.model_validate(raw)
    except ValidationError as exc:
        raise InvalidTheme(
            [
                {"field": field_path(err["loc"]), "message": err["msg"]}
                for err in exc.errors()
            ]
        ) from exc


def _copy_title(title: str) -> str:
    suffix = " (copy)"
    return title[: 80 - len(suffix)] + suffix
