"""Render a theme to pixels: deterministic per (theme, variant), vectorised float32.

Colour ramps are interpolated in sRGB (perceptual, what designers expect from CSS gradients);
light (spot, vignette) multiplies in linear light, as real light does. Grain is generated at low
resolution from a seeded generator and upsampled, so it costs little and never changes between
runs for the same (theme, variant).
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt

from plinth.imaging.backgrounds.model import (
    LinearGradient,
    RadialGradient,
    SolidFill,
    StudioSweep,
    Theme,
    parse_hex,
    shift_colour,
)
from plinth.imaging.errors import ThemeError
from plinth.imaging.types import RGB, FloatImage, as_float32

MAX_SIDE = 16384

_ColourFn = Callable[[str], tuple[float, float, float]]


def render_background(theme: Theme, variant: int, size: tuple[int, int]) -> RGB:
    """Render ``theme``'s ``variant`` at ``size = (width, height)`` as ``HxWx3`` uint8 sRGB."""
    width, height = size
    if not (1 <= width <= MAX_SIDE and 1 <= height <= MAX_SIDE):
        raise ThemeError(f"background size {width}x{height} is outside 1..{MAX_SIDE}")
    if not 0 <= variant < theme.variants:
        raise ThemeError(
            f"theme {theme.name!r} has {theme.variants} variants; variant {variant} does not exist"
        )
    rng = np.random.default_rng(_seed(theme.name, variant))
    hue, light, (dx, dy) = _variant_shift(theme, variant, rng)

    def colour(hex_: str) -> tuple[float, float, float]:
        return shift_colour(parse_hex(hex_), hue, light)

    bg = theme.background
    if isinstance(bg, SolidFill):
        srgb = np.empty((height, width, 3), np.float32)
        srgb[:] = np.asarray(colour(bg.colour), np.float32)
    elif isinstance(bg, LinearGradient):
        srgb = _linear(bg, width, height, colour)
    elif isinstance(bg, RadialGradient):
        srgb = _radial(bg, width, height, colour, (dx, dy))
    else:
        srgb = _sweep(bg, width, height, colour, (dx, dy))

    gain = _light_gain(theme, width, height, (dx, dy))
    if gain is not None:
        # Light multiplies linear values. sRGB is within ~1% of a 2.2 power law above the
        # darkest few levels, and for a power law "linear * g" is "encoded * g**(1/2.2)":
        # that turns two full-size curve conversions into one small power on the gain grid.
        srgb *= np.power(gain, np.float32(1 / 2.2))[..., None]
    srgb *= np.float32(255.0)
    if theme.noise is not None and theme.noise.amount > 0:
        srgb += _grain(rng, width, height, theme.noise.amount * 255.0, theme.noise.scale)
    srgb += np.float32(0.5)
    np.clip(srgb, 0, 255, out=srgb)
    out: RGB = srgb.astype(np.uint8)
    return out


def _seed(name: str, variant: int) -> int:
    """A stable seed (Python's ``hash`` is salted per process, so not that)."""
    digest = hashlib.sha256(f"{name}\x00{variant}".encode()).digest()
    return int.from_bytes(digest[:8], "little")


def _variant_shift(
    theme: Theme, variant: int, rng: np.random.Generator
) -> tuple[float, float, tuple[float, float]]:
    """Variant 0 is the theme as authored; others drift by small, seeded amounts."""
    draws = rng.uniform(-1.0, 1.0, size=4)
    if variant == 0:
        return 0.0, 0.0, (0.0, 0.0)
    v = theme.variation
    return (
        float(draws[0] * v.hue_deg),
        float(draws[1] * v.lightness),
        (float(draws[2] * v.light_shift), float(draws[3] * v.light_shift * 0.5)),
    )


def _ramp(
    t: npt.NDArray[np.floating[Any]], stops: list[tuple[float, tuple[float, float, float]]]
) -> FloatImage:
    """Piecewise-linear colour ramp over ``t`` (any shape, clamped to [0, 1]) -> ``+(3,)``.

    Large inputs go through a 4096-entry table: one gather instead of three ``np.interp``
    passes, with steps far below one 8-bit level for any real gradient.
    """
    positions = np.array([p for p, _ in stops], np.float32)
    values = np.array([c for _, c in stops], np.float32)
    if t.size <= _RAMP_STEPS:
        return np.stack([np.interp(t, positions, values[:, ch]) for ch in range(3)], -1).astype(
            np.float32
        )
    grid = np.linspace(0.0, 1.0, _RAMP_STEPS, dtype=np.float32)
    table = np.stack([np.interp(grid, positions, values[:, ch]) for ch in range(3)], -1)
    idx = np.clip(t, 0.0, 1.0) * np.float32(_RAMP_STEPS - 1) + np.float32(0.5)
    out: FloatImage = table.astype(np.float32)[idx.astype(np.intp)]
    return out


_RAMP_STEPS = 4096


def _linear(bg: LinearGradient, w: int, h: int, colour: _ColourFn) -> FloatImage:
    angle = math.radians(bg.angle_deg)
    ux, uy = math.cos(angle), math.sin(angle)
    xs = (np.arange(w, dtype=np.float32) + 0.5) / w - 0.5
    ys = (np.arange(h, dtype=np.float32) + 0.5) / h - 0.5
    # Project onto the gradient direction, normalised so t spans [0, 1] corner to corner.
    span = abs(ux) + abs(uy)
    t = (xs[None, :] * ux + ys[:, None] * uy) / span + 0.5
    stops = [(s.at, colour(s.colour)) for s in bg.stops]
    if abs(uy) < 1e-6 or abs(ux) < 1e-6:
        # Axis-aligned: ramp one row/column and broadcast (a 2000x2000 ramp in ~1 ms).
        line = t[:1, :] if abs(uy) < 1e-6 else t[:, :1]
        return np.ascontiguousarray(np.broadcast_to(_ramp(line, stops), (h, w, 3)))
    return _ramp(t, stops)


def _radial(
    bg: RadialGradient, w: int, h: int, colour: _ColourFn, shift: tuple[float, float]
) -> FloatImage:
    cx, cy = bg.centre[0] + shift[0], bg.centre[1] + shift[1]
    half_diag = math.hypot(w, h) / 2
    xs = (np.arange(w, dtype=np.float32) + 0.5 - cx * w) / (bg.radius * half_diag)
    ys = (np.arange(h, dtype=np.float32) + 0.5 - cy * h) / (bg.radius * half_diag)
    t = np.sqrt(xs[None, :] ** 2 + ys[:, None] ** 2)
    return _ramp(t, [(s.at, colour(s.colour)) for s in bg.stops])


def _sweep(
    bg: StudioSweep, w: int, h: int, colour: _ColourFn, shift: tuple[float, float]
) -> FloatImage:
    """Wall ramp above, floor ramp below, blended through a smooth cove at the horizon."""
    y = (np.arange(h, dtype=np.float32) + 0.5) / h
    wall_t = np.clip(y / bg.horizon, 0.0, 1.0)
    wall = _ramp(wall_t, [(0.0, colour(bg.wall_top)), (1.0, colour(bg.wall_bottom))])
    floor_t = np.clip((y - bg.horizon) / (1.0 - bg.horizon), 0.0, 1.0)
    floor = _ramp(floor_t, [(0.0, colour(bg.floor_far)), (1.0, colour(bg.floor_near))])
    # Smootherstep across the cove: continuous slope, so no visible seam at either edge.
    s = np.clip((y - (bg.horizon - bg.cove / 2)) / bg.cove, 0.0, 1.0)
    s = s * s * s * (s * (s * 6 - 15) + 10)
    column = wall * (1 - s[:, None]) + floor * s[:, None]
    return np.ascontiguousarray(np.broadcast_to(column[:, None, :], (h, w, 3)))


def _light_gain(theme: Theme, w: int, h: int, shift: tuple[float, float]) -> FloatImage | None:
    """Multiplicative light in linear space: sweep key-light pool times the vignette."""
    # Light varies slowly: compute it on a 1/8-scale grid and upsample (64x less work).
    full_w, full_h = w, h
    w, h = max(2, math.ceil(w / 8)), max(2, math.ceil(h / 8))
    gain: FloatImage | None = None
    half_diag = math.hypot(w, h) / 2
    bg = theme.background
    if isinstance(bg, StudioSweep) and bg.light_strength > 0:
        cx = (bg.light_centre[0] + shift[0]) * w
        cy = (bg.light_centre[1] + shift[1]) * h
        r2 = _radius2(w, h, cx, cy, bg.light_radius * half_diag)
        # Gaussian pool: 1 + strength at the centre falling to 1 - strength/2 far away,
        # i.e. the floor and wall darken gently away from the key light.
        pool = np.exp(-r2).astype(np.float32)
        gain = (1.0 - bg.light_strength / 2) + (1.5 * bg.light_strength) * pool
    if theme.vignette is not None and theme.vignette.strength > 0:
        vg = theme.vignette
        r = np.sqrt(_radius2(w, h, w / 2, h / 2, half_diag))
        fall = np.clip((r - vg.radius) / vg.softness, 0.0, 1.0)
        fall = fall * fall * (3 - 2 * fall)
        vig = (1.0 - vg.strength * fall).astype(np.float32)
        gain = vig if gain is None else gain * vig
    if gain is None:
        return None
    return as_float32(cv2.resize(gain, (full_w, full_h), interpolation=cv2.INTER_LINEAR))


def _radius2(w: int, h: int, cx: float, cy: float, radius: float) -> FloatImage:
    xs = (np.arange(w, dtype=np.float32) + 0.5 - cx) / radius
    ys = (np.arange(h, dtype=np.float32) + 0.5 - cy) / radius
    out: FloatImage = xs[None, :] ** 2 + ys[:, None] ** 2
    return out


def _grain(rng: np.random.Generator, w: int, h: int, amount: float, scale: float) -> FloatImage:
    """Monochrome grain: generated at ``1/scale`` resolution and upsampled (cheap, soft)."""
    gw, gh = max(1, round(w / scale)), max(1, round(h / scale))
    small = rng.standard_normal((gh, gw), dtype=np.float32) * np.float32(amount)
    grain = as_float32(cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR))
    out: FloatImage = grain[..., None]
    return out
