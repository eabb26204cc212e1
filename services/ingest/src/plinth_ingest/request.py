"""What a delivery asks for (SKU, image URL, optional hash, themes), validated field by field.

The same rules apply to a webhook body and to a batch CSV row; every problem is reported with the
field it belongs to, so 3JMS (or whoever prepared the CSV) knows exactly what to fix.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from pydantic import HttpUrl, TypeAdapter, ValidationError

from plinth.keys import InvalidKeyPart, validate_sha256, validate_sku, validate_theme

MAX_URL_LENGTH = 2048
MAX_REPORTED_THEMES = 5
"""Invalid or unknown themes named in a reply; the rest are counted."""
_HTTP_URL: TypeAdapter[HttpUrl] = TypeAdapter(HttpUrl)


@dataclass(frozen=True)
class FieldProblem:
    field: str
    message: str

    def as_dict(self) -> dict[str, str]:
        return {"field": self.field, "message": self.message}


class InvalidRequest(ValueError):
    def __init__(self, problems: list[FieldProblem]) -> None:
        super().__init__("; ".join(f"{p.field}: {p.message}" for p in problems))
        self.problems = problems


@dataclass(frozen=True)
class ImageRequest:
    sku: str
    image_url: str
    img_sha256: str | None
    themes: tuple[str, ...]


def requested_themes(data: Any, limit: int = 64) -> list[str]:
    """The theme names a decoded body (or CSV row) asks for, before any validation: at most
    ``limit`` of them, for a theme source to know what to look for."""
    if not isinstance(data, Mapping):
        return []
    names: list[str] = []
    for key in ("themes", "theme"):
        value = data.get(key)
        items = [value] if isinstance(value, str) else value if isinstance(value, list) else []
        names.extend(item.strip() for item in items[:limit] if isinstance(item, str))
    return list(dict.fromkeys(names))[:limit]


def parse_image_request(
    data: Any,
    *,
    known_themes: frozenset[str],
    max_themes: int,
    archived_themes: frozenset[str] = frozenset(),
) -> ImageRequest:
    """Validate a decoded JSON body (or CSV row); raise :class:`InvalidRequest` listing problems.

    ``known_themes`` are the themes a delivery may ask for (the active ones); ``archived_themes``
    are refused with a reason of their own."""
    if not isinstance(data, Mapping):
        raise InvalidRequest([FieldProblem("body", "must be a JSON object")])
    problems: list[FieldProblem] = []
    sku = _sku(data.get("sku"), problems)
    image_url = _image_url(data.get("image_url"), problems)
    sha = _sha256(data.get("img_sha256"), problems)
    themes = _themes(data, problems, known_themes, max_themes, archived_themes)
    if problems:
        raise InvalidRequest(problems)
    assert sku is not None and image_url is not None
    return ImageRequest(sku=sku, image_url=image_url, img_sha256=sha, themes=themes)


def _sku(value: Any, problems: list[FieldProblem]) -> str | None:
    if value is None:
        problems.append(FieldProblem("sku", "is required"))
        return None
    if not isinstance(value, str):
        problems.append(FieldProblem("sku", "must be a string"))
        return None
    try:
        return validate_sku(value)
    except InvalidKeyPart as exc:
        problems.append(FieldProblem("sku", str(exc)))
        return None


def _image_url(value: Any, problems: list[FieldProblem]) -> str | None:
    if value is None or value == "":
        problems.append(FieldProblem("image_url", "is required"))
        return None
    if not isinstance(value, str):
        problems.append(FieldProblem("image_url", "must be a string"))
        return None
    if len(value) > MAX_URL_LENGTH:
        problems.append(FieldProblem("image_url", f"is longer than {MAX_URL_LENGTH} characters"))
        return None
    # Only the shape is checked here; addresses are vetted at download time (DNS can change).
    parts = urlsplit(value.strip())
    if parts.scheme not in ("http", "https"):
        problems.append(
            FieldProblem("image_url", f"scheme {parts.scheme or '(none)'!r} is not http or https")
        )
        return None
    if not parts.hostname:
        problems.append(FieldProblem("image_url", "has no host"))
        return None
    try:
        # The same check the IngestRequested event applies, so a bad URL is a 422 here.
        _HTTP_URL.validate_python(value.strip())
    except ValidationError as exc:
        problems.append(FieldProblem("image_url", f"is not a valid URL: {exc.errors()[0]['msg']}"))
        return None
    return value.strip()


def _sha256(value: Any, problems: list[FieldProblem]) -> str | None:
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        problems.append(FieldProblem("img_sha256", "must be a string"))
        return None
    try:
        return validate_sha256(value.strip().lower())
    except InvalidKeyPart:
        problems.append(FieldProblem("img_sha256", "must be 64 hexadecimal characters"))
        return None


def _themes(
    data: Mapping[str, Any],
    problems: list[FieldProblem],
    known_themes: frozenset[str],
    max_themes: int,
    archived_themes: frozenset[str] = frozenset(),
) -> tuple[str, ...]:
    raw: list[Any] = []
    for name in ("themes", "theme"):
        value = data.get(name)
        if value is None or value == "":
            continue
        if isinstance(value, str):
            raw.append(value)
        elif isinstance(value, list):
            raw.extend(value)
        else:
            problems.append(FieldProblem(name, "must be a string or a list of strings"))
            return ()
    if not raw:
        problems.append(
            FieldProblem("themes", "give one or more themes ('themes': [...] or 'theme': '...')")
        )
        return ()
    themes: list[str] = []
    invalid: list[FieldProblem] = []
    unknown: dict[str, None] = {}  # an ordered set: a body can hold 40,000 names
    archived: dict[str, None] = {}
    for item in raw:
        if not isinstance(item, str):
            invalid.append(FieldProblem("themes", f"{item!r} is not a string"))
            continue
        try:
            theme = validate_theme(item.strip())
        except InvalidKeyPart as exc:
            invalid.append(FieldProblem("themes", str(exc)))
            continue
        if theme not in known_themes:
            (archived if theme in archived_themes else unknown)[theme] = None
            continue
        if theme not in themes:
            themes.append(theme)
    # A few problems say what to fix; thousands (one per item, each listing every theme) made a
    # 256 kB body answer megabytes and write them into the delivery history.
    problems.extend(invalid[:MAX_REPORTED_THEMES])
    if len(invalid) > MAX_REPORTED_THEMES:
        problems.append(
            FieldProblem("themes", f"and {len(invalid) - MAX_REPORTED_THEMES} more invalid themes")
        )
    if unknown:
        problems.append(
            FieldProblem(
                "themes",
                f"{_some_themes('unknown', unknown)}; "
                f"available: {', '.join(sorted(known_themes)) or 'none'}",
            )
        )
    if archived:
        problems.append(
            FieldProblem(
                "themes",
                f"{_some_themes('archived', archived)}: "
                "restore it in the dashboard's theme editor to use it",
            )
        )
    if len(themes) > max_themes:
        problems.append(FieldProblem("themes", f"at most {max_themes} themes per delivery"))
    return tuple(themes)


def _some_themes(kind: str, names: Collection[str]) -> str:
    """``kind`` theme(s) and their names, the first MAX_REPORTED_THEMES of them and how many
    more ("unknown themes 'a', 'b' and 3 more")."""
    shown = ", ".join(repr(name) for name in list(names)[:MAX_REPORTED_THEMES])
    more = len(names) - MAX_REPORTED_THEMES
    return (f"{kind} theme{'s' if len(names) > 1 else ''} {shown}"
            f"{f' and {more} more' if more > 0 else ''}")
