"""``/api/themes``: the theme editor's API (list, read, create, edit, duplicate, archive, restore,
preview).

Themes live in the document store (:mod:`plinth.adapters.themes`), validated with the same
pydantic model as the packaged JSON files. An edit makes a new version (versions never change,
so a job renders with the version it recorded at ingest); archiving keeps every version but
stops deliveries from asking for the theme. Reads need the viewer role, changes the operator
role, and every change is audited.

A bad theme is a 422 whose ``extra.problems`` name each field (``theme.background.floor_line``).
The preview renders the posted theme with the real renderer (each background variant, then the
composite with the theme's layout and shadow) on a sample cut-out shipped with this package.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import re
import threading
from functools import lru_cache
from importlib import resources
from typing import Annotated, Any

from litestar import Controller, Request, get, post, put
from litestar.di import NamedDependency
from litestar.exceptions import ClientException, NotFoundException
from litestar.params import FromPath, JSONBody, QueryParameter

from plinth.adapters.themes import ThemeChanged, ThemeExists, ThemeStore
from plinth.domain.job import utcnow
from plinth.domain.themes import (
    ACTIVE,
    ARCHIVED,
    InvalidTheme,
    ThemeConflict,
    ThemeRecord,
    ThemeStatus,
    duplicate_theme,
    new_record,
    revise,
    validate_theme,
    with_status,
)
from plinth.imaging.backgrounds import Theme, render_background
from plinth.imaging.composite import DEFAULT_CANVAS, apply_composite, prepare_composite
from plinth.imaging.decode import decode_image, encode_jpeg
from plinth.imaging.types import RGBA
from plinth_dashboard_api import audit
from plinth_dashboard_api.auth import principal_of, require_operator, require_viewer
from plinth_dashboard_api.errors import ConflictException
from plinth_dashboard_api.resources import Resources

log = logging.getLogger("plinth.dashboard.themes")

_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")

PREVIEW_DEFAULT = 384
PREVIEW_MIN = 128
PREVIEW_MAX = 512
"""The preview's longest side in pixels: small, so that a live preview answers quickly."""
PREVIEW_QUALITY = 85
_PREVIEWS = threading.BoundedSemaphore(2)
"""Previews rendering at once (CPU work on threads); the rest wait their turn."""


class UnprocessableTheme(ClientException):
    """The theme (or the body around it) does not validate: 422, ``extra.problems`` lists
    ``{field, message}``."""

    status_code = 422


def _invalid(problems: list[dict[str, str]]) -> UnprocessableTheme:
    detail = "; ".join(f"{p['field']}: {p['message']}" for p in problems[:5])
    if len(problems) > 5:
        detail += f"; and {len(problems) - 5} more"
    return UnprocessableTheme(detail, extra={"problems": problems})


def _theme_of(data: dict[str, Any]) -> Theme:
    if "theme" not in data:
        raise _invalid([{"field": "theme", "message": "is required"}])
    try:
        return validate_theme(data["theme"])
    except InvalidTheme as err:
        raise _invalid(err.problems) from err


def _note_of(data: dict[str, Any]) -> str | None:
    note = data.get("note")
    if note is None:
        return None
    if not isinstance(note, str) or len(note) > 500:
        raise _invalid([{"field": "note", "message": "must be a string of at most 500 characters"}])
    return note or None


def _checked_name(name: str) -> str:
    if not _NAME.match(name):
        raise NotFoundException(f"no theme {name!r} (names are a-z, 0-9, '-', '_')")
    return name


async def _load(res: Resources, name: str) -> ThemeRecord:
    record = await ThemeStore.of(res.db).get(_checked_name(name))
    if record is None:
        raise NotFoundException(f"no theme {name!r}")
    return record


def summary(record: ThemeRecord) -> dict[str, Any]:
    return {
        "name": record.name,
        "version": record.version,
        "status": record.status,
        "source": record.source,
        "updated_at": record.updated_at,
        "updated_by": record.updated_by,
        "theme": record.theme,
    }


def detail(record: ThemeRecord) -> dict[str, Any]:
    return {
        "name": record.name,
        "status": record.status,
        "version": record.version,
        "source": record.source,
        "theme": record.theme,
        "created_at": record.created_at,
        "created_by": record.created_by,
        "updated_at": record.updated_at,
        "updated_by": record.updated_by,
        "versions": [
            {"version": v.version, "created_at": v.created_at, "created_by": v.created_by,
             "note": v.note}
            for v in record.versions
        ],
    }  # fmt: skip


@lru_cache(maxsize=1)
def sample_cutout() -> RGBA:
    """The preview's product: a bottle cut out of ``samples/bottle.jpg`` by the local segmenter
    (straight-alpha RGBA, cropped to the product)."""
    data = resources.files("plinth_dashboard_api").joinpath("data/sample_cutout.png").read_bytes()
    return decode_image(data).rgba()


def preview_canvas(size: int) -> tuple[int, int]:
    """The pipeline's canvas shape with its longest side ``size``."""
    width, height = DEFAULT_CANVAS
    scale = size / max(width, height)
    return max(1, round(width * scale)), max(1, round(height * scale))


def render_preview(theme: Theme, size: int) -> list[bytes]:
    """Every variant of ``theme`` as the pipeline makes it (background, then the sample cut-out
    set on it with the theme's placement and shadow), as JPEG."""
    canvas = preview_canvas(size)
    with _PREVIEWS:
        prepared = prepare_composite(sample_cutout(), canvas, theme)
        return [
            encode_jpeg(
                apply_composite(prepared, render_background(theme, variant, canvas)),
                quality=PREVIEW_QUALITY,
            )
            for variant in range(theme.variants)
        ]


class ThemesController(Controller):
    path = "/api/themes"
    tags = ("themes",)
    guards = (require_viewer,)

    @get("/", summary="The themes (active ones unless include_archived), by name")
    async def list_themes(
        self,
        res: NamedDependency[Resources],
        include_archived: Annotated[
            bool, QueryParameter(description="also list archived themes")
        ] = False,
    ) -> dict[str, Any]:
        records = await ThemeStore.of(res.db).list(include_archived=include_archived)
        return {"items": [summary(record) for record in records]}

    @get("/{name:str}", summary="One theme, its current version and its version history")
    async def get_theme(
        self, res: NamedDependency[Resources], name: FromPath[str]
    ) -> dict[str, Any]:
        return detail(await _load(res, name))

    @get("/{name:str}/versions/{version:int}", summary="One version of a theme")
    async def get_version(
        self, res: NamedDependency[Resources], name: FromPath[str], version: FromPath[int]
    ) -> dict[str, Any]:
        record = await _load(res, name)
        entry = record.at_version(version)
        if entry is None:
            raise NotFoundException(
                f"theme {name!r} has no version {version} (it has 1..{record.version})"
            )
        return {
            "name": record.name,
            "version": entry.version,
            "current": entry.version == record.version,
            "status": record.status,
            "created_at": entry.created_at,
            "created_by": entry.created_by,
            "note": entry.note,
            "theme": entry.theme,
        }

    @post("/", guards=[require_operator], status_code=201, summary="Create a theme (version 1)")
    async def create_theme(
        self, request: Request[Any, Any, Any], res: NamedDependency[Resources],
        data: JSONBody[dict[str, Any]],
    ) -> dict[str, Any]:  # fmt: skip
        theme = _theme_of(data)
        principal = principal_of(request)
        record = new_record(theme, actor=principal.name, now=utcnow(), note=_note_of(data))
        try:
            await ThemeStore.of(res.db).create(record)
        except ThemeExists as err:
            raise ConflictException(f"{err}; edit it, or choose another name") from err
        await audit.record(
            res.db, principal, "theme.create", details={"theme": record.name, "version": 1}
        )
        return detail(record)

    @put("/{name:str}", guards=[require_operator], summary="Edit a theme: a new version")
    async def update_theme(
        self, request: Request[Any, Any, Any], res: NamedDependency[Resources],
        name: FromPath[str], data: JSONBody[dict[str, Any]],
    ) -> dict[str, Any]:  # fmt: skip
        record = await _load(res, name)
        theme = _theme_of(data)
        principal = principal_of(request)
        try:
            revised = revise(record, theme, actor=principal.name, now=utcnow(),
                             note=_note_of(data))
        except ThemeConflict as err:
            raise _invalid([{"field": "theme.name", "message": str(err)}]) from err
        if revised is None:  # the same definition: nothing to version
            return detail(record)
        try:
            await ThemeStore.of(res.db).replace(revised, record)
        except ThemeChanged as err:
            raise ConflictException(str(err)) from err
        await audit.record(
            res.db, principal, "theme.update",
            details={"theme": name, "version": revised.version, "previous": record.version},
        )  # fmt: skip
        return detail(revised)

    @post(
        "/{name:str}/duplicate", guards=[require_operator], status_code=201,
        summary="A new theme (version 1) copied from this one's current version",
    )  # fmt: skip
    async def duplicate(
        self, request: Request[Any, Any, Any], res: NamedDependency[Resources],
        name: FromPath[str], data: JSONBody[dict[str, Any]],
    ) -> dict[str, Any]:  # fmt: skip
        source = await _load(res, name)
        new_name = data.get("name")
        title = data.get("title")
        if not isinstance(new_name, str) or not new_name:
            raise _invalid([{"field": "name", "message": "is required: the new theme's name"}])
        if title is not None and not isinstance(title, str):
            raise _invalid([{"field": "title", "message": "must be a string"}])
        try:
            theme = duplicate_theme(source.current(), new_name, title=title)
        except InvalidTheme as err:
            raise _invalid(err.problems) from err
        principal = principal_of(request)
        record = new_record(
            theme, actor=principal.name, now=utcnow(),
            note=f"duplicated from {source.name} v{source.version}",
        )  # fmt: skip
        try:
            await ThemeStore.of(res.db).create(record)
        except ThemeExists as err:
            raise ConflictException(f"{err}; choose another name") from err
        await audit.record(
            res.db, principal, "theme.duplicate",
            details={"theme": record.name, "version": 1, "from": source.name,
                     "from_version": source.version},
        )  # fmt: skip
        return detail(record)

    @post("/{name:str}/archive", guards=[require_operator], status_code=200,
          summary="Archive a theme: deliveries may no longer ask for it")  # fmt: skip
    async def archive(
        self, request: Request[Any, Any, Any], res: NamedDependency[Resources],
        name: FromPath[str],
    ) -> dict[str, Any]:  # fmt: skip
        return await self._set_status(request, res, name, ARCHIVED)

    @post("/{name:str}/restore", guards=[require_operator], status_code=200,
          summary="Restore an archived theme")  # fmt: skip
    async def restore(
        self, request: Request[Any, Any, Any], res: NamedDependency[Resources],
        name: FromPath[str],
    ) -> dict[str, Any]:  # fmt: skip
        return await self._set_status(request, res, name, ACTIVE)

    async def _set_status(
        self, request: Request[Any, Any, Any], res: Resources, name: str, status: ThemeStatus
    ) -> dict[str, Any]:
        record = await _load(res, name)
        principal = principal_of(request)
        try:
            changed = with_status(record, status, actor=principal.name, now=utcnow())
            await ThemeStore.of(res.db).replace(changed, record)
        except (ThemeConflict, ThemeChanged) as err:
            raise ConflictException(str(err)) from err
        action = "theme.archive" if status == ARCHIVED else "theme.restore"
        await audit.record(
            res.db, principal, action, details={"theme": name, "version": record.version}
        )
        return detail(changed)

    @post("/preview", status_code=200,
          summary="Render a theme's variants on a sample cut-out (nothing is stored)")  # fmt: skip
    async def preview(self, data: JSONBody[dict[str, Any]]) -> dict[str, Any]:
        theme = _theme_of(data)
        size = data.get("size", PREVIEW_DEFAULT)
        if (
            not isinstance(size, int) or isinstance(size, bool)
            or not PREVIEW_MIN <= size <= PREVIEW_MAX
        ):  # fmt: skip
            raise _invalid([{
                "field": "size",
                "message": f"must be a whole number of pixels, {PREVIEW_MIN} to {PREVIEW_MAX}",
            }])  # fmt: skip
        jpegs = await asyncio.to_thread(render_preview, theme, size)
        width, height = preview_canvas(size)
        return {
            "name": theme.name,
            "width": width,
            "height": height,
            "variants": [
                {"index": index,
                 "image": "data:image/jpeg;base64," + base64.b64encode(jpeg).decode("ascii")}
                for index, jpeg in enumerate(jpegs)
            ],
        }  # fmt: skip
