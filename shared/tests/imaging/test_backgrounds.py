"""Stage 3: theme files, validation errors and deterministic rendering."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from plinth.imaging.backgrounds import (
    StudioSweep,
    list_themes,
    load_theme,
    load_theme_file,
    parse_theme,
    render_background,
)
from plinth.imaging.errors import ThemeError

SIZE = (96, 72)


def theme_dict(**background: Any) -> dict[str, Any]:
    return {
        "name": "custom",
        "title": "Custom",
        "background": background or {"kind": "solid", "colour": "#336699"},
        "prompt": "a backdrop",
        "noise": None,
    }


def test_at_least_five_packaged_themes_including_default() -> None:
    names = list_themes()
    assert "default" in names and len(names) >= 5


@pytest.mark.parametrize("name", list_themes())
def test_every_packaged_theme_loads_and_renders_every_variant(name: str) -> None:
    theme = load_theme(name)
    assert theme.name == name and theme.prompt
    for variant in range(theme.variants):
        img = render_background(theme, variant, SIZE)
        assert img.shape == (72, 96, 3) and img.dtype == np.uint8


@pytest.mark.parametrize("name", list_themes())
def test_rendering_is_deterministic_per_theme_and_variant(name: str) -> None:
    theme = load_theme(name)
    first = render_background(theme, theme.variants - 1, SIZE)
    assert np.array_equal(first, render_background(theme, theme.variants - 1, SIZE))


def test_variants_differ_slightly() -> None:
    theme = load_theme("pastel_gradient")
    a = render_background(theme, 0, SIZE).astype(int)
    b = render_background(theme, 1, SIZE).astype(int)
    mean_diff = np.abs(a - b).mean()
    assert 0.5 < mean_diff < 25


def test_solid_theme_is_exact_and_grain_free() -> None:
    img = render_background(load_theme("marketplace_white"), 0, SIZE)
    assert img.min() == 255


def test_grain_is_present_when_configured() -> None:
    theme = parse_theme(json.dumps({**theme_dict(), "noise": {"amount": 0.02, "scale": 1.0}}))
    img = render_background(theme, 0, (64, 64)).astype(float)
    assert img[..., 0].std() > 1.0


def test_linear_gradient_runs_between_its_stops() -> None:
    theme = parse_theme(
        json.dumps(
            theme_dict(
                kind="linear",
                angle_deg=90,
                stops=[{"at": 0, "colour": "#000000"}, {"at": 1, "colour": "#ffffff"}],
            )
        )
    )
    img = render_background(theme, 0, (10, 100))
    column = img[:, 5, 0].astype(int)
    assert column[0] < 5 and column[-1] > 250
    assert np.all(np.diff(column) >= 0)  # top to bottom, monotone
    assert np.array_equal(img[:, 0], img[:, -1])  # vertical gradient: rows are flat


def test_radial_gradient_is_lightest_at_its_centre() -> None:
    img = render_background(load_theme("radial_glow"), 0, (100, 100)).astype(int).sum(axis=2)
    centre = img[45, 50]
    assert centre > img[0, 0] + 60 and centre > img[99, 99] + 60


def test_sweep_has_a_lit_floor_and_exposes_its_floor_line() -> None:
    theme = load_theme("cool_grey_studio")
    assert isinstance(theme.background, StudioSweep)
    assert theme.stands_on_floor and theme.floor_line == theme.background.floor_line
    img = render_background(theme, 0, (200, 200)).astype(int).sum(axis=2)
    assert img[180, 100] > img[10, 100] + 60  # floor brighter than the top of the wall
    assert img[120, 100] > img[120, 2]  # key light falls off towards the sides


def test_vignette_darkens_the_corners() -> None:
    base = theme_dict()
    plain = render_background(parse_theme(json.dumps(base)), 0, (80, 80)).astype(int)
    vig = render_background(
        parse_theme(json.dumps({**base, "vignette": {"strength": 0.5}})), 0, (80, 80)
    ).astype(int)
    assert abs(vig[40, 40] - plain[40, 40]).max() <= 1
    assert vig[0, 0].sum() < plain[0, 0].sum() - 30


# ------------------------------------------------------------------------------- errors


def test_unknown_theme_lists_the_available_ones() -> None:
    with pytest.raises(ThemeError, match="default"):
        load_theme("no_such_theme")


@pytest.mark.parametrize("name", ["../etc/passwd", "Default", "", "a/b"])
def test_theme_names_cannot_escape(name: str) -> None:
    with pytest.raises(ThemeError, match="not valid"):
        load_theme(name)


def test_variant_out_of_range() -> None:
    theme = load_theme("default")
    with pytest.raises(ThemeError, match="variant"):
        render_background(theme, theme.variants, SIZE)
    with pytest.raises(ThemeError, match="variant"):
        render_background(theme, -1, SIZE)


@pytest.mark.parametrize("size", [(0, 10), (10, 0), (20000, 10)])
def test_bad_size(size: tuple[int, int]) -> None:
    with pytest.raises(ThemeError, match="size"):
        render_background(load_theme("default"), 0, size)


def test_invalid_json() -> None:
    with pytest.raises(ThemeError, match="not valid JSON"):
        parse_theme("{nope")


@pytest.mark.parametrize(
    ("mutation", "field"),
    [
        ({"background": {"kind": "solid", "colour": "red"}}, "background.solid.colour"),
        ({"background": {"kind": "plaid"}}, "background"),
        ({"variants": 0}, "variants"),
        ({"surprise": 1}, "surprise"),
        ({"prompt": ""}, "prompt"),
        (
            {
                "background": {
                    "kind": "linear",
                    "stops": [{"at": 0.8, "colour": "#000000"}, {"at": 0.2, "colour": "#ffffff"}],
                }
            },
            "stops",
        ),
        (
            {
                "background": {
                    "kind": "sweep",
                    "wall_top": "#000000",
                    "wall_bottom": "#000000",
                    "floor_far": "#000000",
                    "floor_near": "#000000",
                    "horizon": 0.7,
                    "floor_line": 0.6,
                }
            },
            "floor_line",
        ),
    ],
)
def test_validation_errors_name_the_field(mutation: dict[str, Any], field: str) -> None:
    with pytest.raises(ThemeError, match=field.replace(".", r"\.")):
        parse_theme(json.dumps({**theme_dict(), **mutation}))


def test_theme_file_outside_the_package(tmp_path: Path) -> None:
    path = tmp_path / "mine.json"
    path.write_text(json.dumps(theme_dict()))
    assert load_theme_file(path).name == "custom"
    with pytest.raises(ThemeError, match="cannot read"):
        load_theme_file(tmp_path / "missing.json")
