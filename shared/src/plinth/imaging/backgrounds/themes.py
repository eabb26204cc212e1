"""Loading themes: packaged JSON files (``themes/<name>.json``) or any JSON the caller has."""

from __future__ import annotations

import json
import re
from functools import lru_cache
from importlib import resources
from pathlib import Path

from pydantic import ValidationError

from plinth.imaging.backgrounds.model import Theme
from plinth.imaging.errors import ThemeError

_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")


def _theme_dir() -> resources.abc.Traversable:
    return resources.files("plinth.imaging.backgrounds").joinpath("themes")


def list_themes() -> list[str]:
    """Names of the packaged themes, sorted (``default`` is always among them)."""
    return sorted(
        entry.name.removesuffix(".json")
        for entry in _theme_dir().iterdir()
        if entry.name.endswith(".json")
    )


@lru_cache(maxsize=64)
def load_theme(name: str) -> Theme:
    """Load and validate a packaged theme; ``ThemeError`` if unknown or invalid."""
    if not _NAME.match(name):
        raise ThemeError(f"theme name {name!r} is not valid (a-z, 0-9, '-', '_')")
    entry = _theme_dir().joinpath(f"{name}.json")
    if not entry.is_file():
        raise ThemeError(f"unknown theme {name!r}; available: {', '.join(list_themes())}")
    theme = parse_theme(entry.read_text(encoding="utf-8"), source=f"theme {name!r}")
    if theme.name != name:
        raise ThemeError(f"theme file {name}.json declares name {theme.name!r}")
    return theme


def load_theme_file(path: Path) -> Theme:
    """Load a theme from a JSON file outside the package (custom themes)."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ThemeError(f"cannot read theme file {path}: {exc}") from exc
    return parse_theme(text, source=str(path))


def parse_theme(text: str, *, source: str = "theme") -> Theme:
    """Validate theme JSON text; errors name the offending field, e.g. ``background.stops``."""
    try:
        raw = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ThemeError(f"{source} is not valid JSON: {exc}") from exc
    try:
        return Theme.model_validate(raw)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or '<root>'}: {err['msg']}"
            for err in exc.errors()
        )
        raise ThemeError(f"{source} is invalid: {problems}") from exc
