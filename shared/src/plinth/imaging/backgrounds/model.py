"""The theme data model: one JSON file per theme, validated here with clear errors.

Geometry is in fractions (of the canvas height/width, or of the placed product's height for
shadows) so one theme renders correctly at any canvas size.
"""

from __future__ import annotations

import colorsys
import re
import string
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator, model_validator

_HEX = re.compile(r"^#[0-9a-fA-F]{6}$")

Fraction = Annotated[float, Field(ge=0.0, le=1.0)]


HexColour = Annotated[str, AfterValidator(lambda v: _check_hex(v))]
"""An sRGB colour written ``#rrggbb``."""


ALT_TEXT_PLACEHOLDERS = ("sku", "title", "theme")
DEFAULT_ALT_TEXT_TEMPLATE = "{title} – {theme}"


def check_alt_text_template(template: str) -> str:
    """A ``str.format`` template using only :data:`ALT_TEXT_PLACEHOLDERS`, plainly named
    (no ``{0}``, ``{title.x}``, ``{sku!r}`` or ``{theme:>9}``); ``{{``/``}}`` are literal braces."""
    if not template.strip():
        raise ValueError("alt_text_template must not be blank")
    allowed = ", ".join("{" + p + "}" for p in ALT_TEXT_PLACEHOLDERS)
    try:
        parts = list(string.Formatter().parse(template))
    except ValueError as exc:
        raise ValueError(
            f"alt_text_template is not a valid template ({exc}); "
            "write literal braces as {{ and }}"
        ) from exc
    for _, field, spec, conversion in parts:
        if field is None:
            continue
        if field not in ALT_TEXT_PLACEHOLDERS:
            raise ValueError(
                f"alt_text_template has an unknown placeholder {{{field}}}; allowed: {allowed}"
            )
        if spec or conversion:
            raise ValueError(
                f"alt_text_template placeholder {{{field}}} must be plain (no ':' or '!'); "
                f"allowed: {allowed}"
            )
    return template


AltTextTemplate = Annotated[str, Field(max_length=512), AfterValidator(check_alt_text_template)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def parse_hex(colour: str) -> tuple[float, float, float]:
    """``#rrggbb`` -> sRGB floats in [0, 1]."""
    return tuple(int(colour[i : i + 2], 16) / 255.0 for i in (1, 3, 5))  # type: ignore[return-value]


def _check_hex(value: str) -> str:
    if not _HEX.match(value):
        raise ValueError(f"colour {value!r} must be '#rrggbb'")
    return value.lower()


class ColourStop(_Strict):
    at: Fraction
    colour: HexColour


class _Gradient(_Strict):
    stops: list[ColourStop] = Field(min_length=2)

    @field_validator("stops")
    @classmethod
    def _ordered(cls, stops: list[ColourStop]) -> list[ColourStop]:
        positions = [s.at for s in stops]
        if positions != sorted(positions):
            raise ValueError(f"gradient stops must be in increasing 'at' order, got {positions}")
        return stops


class SolidFill(_Strict):
    kind: Literal["solid"]
    colour: HexColour


class LinearGradient(_Gradient):
    kind: Literal["linear"]
    angle_deg: float = Field(90.0, description="0 = left to right, 90 = top to bottom")


class RadialGradient(_Gradient):
    kind: Literal["radial"]
    centre: tuple[Fraction, Fraction] = (0.5, 0.45)
    radius: float = Field(0.75, gt=0.0, le=3.0, description="fraction of the canvas diagonal/2")


class StudioSweep(_Strict):
    """A seamless paper sweep: a wall that curves softly into the floor.

    ``horizon`` is where the cove (the curve) is centred; ``floor_line`` is where products
    stand, below the horizon so they read as standing on the floor in front of the curve.
    """

    kind: Literal["sweep"]
    wall_top: HexColour
    wall_bottom: HexColour
    floor_far: HexColour
    floor_near: HexColour
    horizon: float = Field(0.6, ge=0.2, le=0.9)
    cove: float = Field(0.18, gt=0.0, le=0.5, description="height of the curved blend")
    floor_line: float = Field(0.84, ge=0.3, le=0.98)
    light_strength: float = Field(0.15, ge=0.0, le=1.0)
    light_centre: tuple[Fraction, Fraction] = (0.5, 0.55)
    light_radius: float = Field(0.55, gt=0.0, le=2.0)

    @model_validator(mode="after")
    def _floor_below_horizon(self) -> StudioSweep:
        if self.floor_line <= self.horizon:
            raise ValueError(
                f"floor_line ({self.floor_line}) must be below the horizon ({self.horizon})"
            )
        return self


Fill = Annotated[
    SolidFill | LinearGradient | RadialGradient | StudioSweep, Field(discriminator="kind")
]


class Vignette(_Strict):
    strength: float = Field(0.25, ge=0.0, le=1.0, description="darkening at the corners")
    radius: float = Field(0.5, ge=0.0, le=3.0, description="where darkening starts, of diag/2")
    softness: float = Field(0.6, gt=0.0, le=3.0, description="distance to full strength")


class Noise(_Strict):
    """Fine film-grain: hides gradient banding after JPEG/AVIF quantisation."""

    amount: float = Field(0.012, ge=0.0, le=0.1, description="std-dev in sRGB units of 1.0")
    scale: float = Field(2.0, ge=1.0, le=16.0, description="grain size in pixels")


class Shadow(_Strict):
    """Shadow parameters, in fractions of the placed product's height."""

    opacity: Fraction = 0.35
    blur: float = Field(0.05, ge=0.0, le=0.5)
    offset_x: float = Field(0.0, ge=-0.5, le=0.5)
    offset_y: float = Field(0.02, ge=-0.5, le=0.5)
    squash: float = Field(
        1.0, gt=0.0, le=1.0, description="vertical squash of the cast shadow; <1 lays it down"
    )
    contact_strength: Fraction = 0.55
    contact_height: float = Field(0.025, gt=0.0, le=0.2, description="ellipse half-height")


class Margins(_Strict):
    """Free space around the product, as fractions of the canvas side."""

    top: float = Field(0.1, ge=0.0, le=0.45)
    right: float = Field(0.1, ge=0.0, le=0.45)
    bottom: float = Field(0.1, ge=0.0, le=0.45)
    left: float = Field(0.1, ge=0.0, le=0.45)


class Variation(_Strict):
    """How far variants 1..N-1 drift from the authored colours (variant 0 is exact)."""

    hue_deg: float = Field(6.0, ge=0.0, le=60.0)
    lightness: float = Field(0.03, ge=0.0, le=0.2)
    light_shift: float = Field(0.06, ge=0.0, le=0.3)


class Theme(_Strict):
    name: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,63}$")
    title: str = Field(min_length=1, max_length=80)
    description: str = ""
    background: Fill
    vignette: Vignette | None = None
    noise: Noise | None = Noise()
    shadow: Shadow = Shadow()
    margins: Margins = Margins()
    placement: Literal["auto", "centre", "floor"] = Field(
        "auto", description="auto = stand on the floor line for sweeps, centre otherwise"
    )
    variants: int = Field(3, ge=1, le=12)
    variation: Variation = Variation()
    prompt: str = Field(min_length=1, description="prompt for the AI background option")
    review_threshold: float | None = Field(
        None, ge=0.0, le=1.0,
        description="hold a cut-out for review when its confidence is under this (0 never "
        "holds, 1 holds every job); None: the global PLINTH_REVIEW_THRESHOLD",
    )
    alt_text_template: AltTextTemplate = Field(
        DEFAULT_ALT_TEXT_TEMPLATE,
        description="alt text of the media published to Shopify; placeholders "
        "{sku}, {title} (the product's title in Shopify) and {theme} (this theme's title)",
    )

    @property
    def stands_on_floor(self) -> bool:
        if self.placement == "auto":
            return isinstance(self.background, StudioSweep)
        return self.placement == "floor"

    @property
    def floor_line(self) -> float | None:
        """Where a floor-standing product's base goes, as a fraction of the height."""
        if not self.stands_on_floor:
            return None
        if isinstance(self.background, StudioSweep):
            return self.background.floor_line
        return 1.0 - self.margins.bottom


def shift_colour(
    colour: tuple[float, float, float], hue_deg: float, lightness: float
) -> tuple[float, float, float]:
    """Rotate hue and shift lightness of an sRGB colour (used for variants)."""
    h, lum, s = colorsys.rgb_to_hls(*colour)
    h = (h + hue_deg / 360.0) % 1.0
    lum = min(1.0, max(0.0, lum + lightness))
    return colorsys.hls_to_rgb(h, lum, s)
