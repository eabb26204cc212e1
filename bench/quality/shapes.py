"""Product silhouettes for the synthetic studio photos.

Each builder returns the parts of one product as polygons in image coordinates (float pixels),
with the shading model of each part. A part may carry hole polygons (a mug or bag handle), which
are cut out of its coverage and show the background.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import numpy as np

Shading = Literal["cylinder", "metal", "flat", "soft"]
Polygon = np.ndarray


@dataclass
class Part:
    """One uniformly coloured region of a product."""

    outline: Polygon
    colour: tuple[float, float, float]
    shading: Shading
    holes: list[Polygon] = field(default_factory=list)
    axis_x: float = 0.0
    """Centre line and half width used by cylinder shading."""
    half_width: float = 1.0
    flat_gain: float = 1.0
    """Brightness of a flat face (boxes show three faces at different brightness)."""


def _profile_outline(cx: float, ys: np.ndarray, half_widths: np.ndarray) -> Polygon:
    """A left-right symmetric outline from a half-width profile sampled top to bottom."""
    left = np.stack([cx - half_widths, ys], axis=1)
    right = np.stack([cx + half_widths, ys], axis=1)[::-1]
    return np.concatenate([left, right]).astype(np.float64)


def _ellipse(cx: float, cy: float, rx: float, ry: float, n: int = 96) -> Polygon:
    t = np.linspace(0, 2 * np.pi, n, endpoint=False)
    return np.stack([cx + rx * np.cos(t), cy + ry * np.sin(t)], axis=1)


def _smooth_step(t: np.ndarray) -> np.ndarray:
    t = np.clip(t, 0.0, 1.0)
    return t * t * (3 - 2 * t)


def bottle(cx: float, base: float, height: float, rng: np.random.Generator,
           body: tuple[float, float, float], accent: tuple[float, float, float]) -> list[Part]:
    """A bottle with shoulders, a thin neck and a cap; optionally a label."""
    width = height * rng.uniform(0.22, 0.34)
    neck = width * rng.uniform(0.16, 0.3)
    shoulder_top = rng.uniform(0.55, 0.7)
    neck_top = rng.uniform(0.88, 0.93)
    ys = np.linspace(0, 1, 240)
    t = _smooth_step((ys - shoulder_top) / (neck_top - 0.1 - shoulder_top))
    hw = (1 - t) * width / 2 + t * neck / 2
    radius = width * 0.08
    bottom = np.clip(ys * height / radius, 0, 1)
    hw = hw * (0.9 + 0.1 * np.sqrt(bottom))
    hw = hw[ys <= neck_top]
    ys_used = ys[ys <= neck_top]
    outline = _profile_outline(cx, base - ys_used * height, hw)
    parts = [Part(outline, body, "cylinder", axis_x=cx, half_width=width / 2)]
    cap_h = height * (1 - neck_top + 0.01)
    cap_w = neck * rng.uniform(1.05, 1.3) / 2
    cap_bottom = base - neck_top * height + 1.0
    cap = np.array([[cx - cap_w, cap_bottom], [cx - cap_w, cap_bottom - cap_h],
                    [cx + cap_w, cap_bottom - cap_h], [cx + cap_w, cap_bottom]])
    parts.append(Part(cap, accent, "cylinder", axis_x=cx, half_width=cap_w))
    if rng.random() < 0.7:
        top = base - height * rng.uniform(0.2, 0.3)
        bot = base - height * rng.uniform(0.06, 0.12)
        lw = width / 2 * 0.9 - 1
        label = np.array([[cx - lw, bot], [cx - lw, top], [cx + lw, top], [cx + lw, bot]])
        parts.append(Part(label, _contrast(body, rng), "cylinder", axis_x=cx, half_width=width / 2))
    return parts


def can(cx: float, base: float, height: float, rng: np.random.Generator,
        body: tuple[float, float, float], accent: tuple[float, float, float]) -> list[Part]:
    """A drinks can: straight body with bevelled ends, metallic shading."""
    width = height * rng.uniform(0.5, 0.62)
    ys = np.linspace(0, 1, 160)
    taper = 1 - 0.12 * _smooth_step((ys - 0.9) / 0.1) - 0.08 * _smooth_step((0.05 - ys) / 0.05)
    outline = _profile_outline(cx, base - ys * height, width / 2 * taper)
    parts = [Part(outline, body, "metal", axis_x=cx, half_width=width / 2)]
    band_top = base - height * 0.8
    band_bot = base - height * 0.25
    hw = width / 2 - 1
    band = np.array([[cx - hw, band_bot], [cx - hw, band_top], [cx + hw, band_top],
                     [cx + hw, band_bot]])
    parts.append(Part(band, accent, "metal", axis_x=cx, half_width=width / 2))
    return parts


def jar(cx: float, base: float, height: float, rng: np.random.Generator,
        body: tuple[float, float, float], accent: tuple[float, float, float]) -> list[Part]:
    """A wide jar with rounded corners and a lid."""
    width = height * rng.uniform(0.7, 1.0)
    lid_h = height * rng.uniform(0.15, 0.22)
    body_h = height - lid_h
    ys = np.linspace(0, 1, 160)
    corner = 0.12
    round_bottom = np.sqrt(np.clip(1 - ((corner - ys) / corner).clip(0) ** 2, 0, 1))
    round_top = np.sqrt(np.clip(1 - ((ys - 1 + corner) / corner).clip(0) ** 2, 0, 1))
    hw = width / 2 * (0.8 + 0.2 * np.minimum(round_bottom, round_top))
    outline = _profile_outline(cx, base - ys * body_h, hw)
    parts = [Part(outline, body, "cylinder", axis_x=cx, half_width=width / 2)]
    lid_w = width / 2 * 0.86
    lid_bot = base - body_h + 2
    lid = np.array([[cx - lid_w, lid_bot], [cx - lid_w, lid_bot - lid_h],
                    [cx + lid_w, lid_bot - lid_h], [cx + lid_w, lid_bot]])
    parts.append(Part(lid, accent, "cylinder", axis_x=cx, half_width=lid_w))
    return parts


def box(cx: float, base: float, height: float, rng: np.random.Generator,
        body: tuple[float, float, float], accent: tuple[float, float, float]) -> list[Part]:
    """A carton seen from three-quarters: front, side and top faces."""
    front_w = height * rng.uniform(0.5, 0.9)
    side_w = height * rng.uniform(0.15, 0.35)
    depth = height * rng.uniform(0.08, 0.15)
    x0 = cx - (front_w + side_w) / 2
    x1 = x0 + front_w
    top = base - height + depth
    front = np.array([[x0, base], [x0, top], [x1, top], [x1, base]])
    side = np.array([[x1, base], [x1, top], [x1 + side_w, top - depth],
                     [x1 + side_w, base - depth]])
    lid = np.array([[x0, top], [x0 + side_w, top - depth], [x1 + side_w, top - depth], [x1, top]])
    parts = [Part(front, body, "flat", flat_gain=1.0),
             Part(side, body, "flat", flat_gain=rng.uniform(0.62, 0.8)),
             Part(lid, body, "flat", flat_gain=rng.uniform(1.05, 1.15))]
    if rng.random() < 0.6:
        m = front_w * 0.18
        logo = np.array([[x0 + m, base - height * 0.3], [x0 + m, top + height * 0.2],
                         [x1 - m, top + height * 0.2], [x1 - m, base - height * 0.3]])
        parts.append(Part(logo, accent, "flat"))
    return parts


def shoe(cx: float, base: float, height: float, rng: np.random.Generator,
         body: tuple[float, float, float], accent: tuple[float, float, float]) -> list[Part]:
    """A sneaker in side profile: sole band and a curved upper with an opening."""
    length = height * rng.uniform(2.2, 2.8)
    x0 = cx - length / 2
    sole_h = height * rng.uniform(0.14, 0.22)
    t = np.linspace(0, 1, 120)
    # Upper: high at the heel (t=0), sloping down to the toe cap.
    collar = height * (1 - 0.15 * t)
    upper_top = base - sole_h - (collar - sole_h) * (1 - _smooth_step((t - 0.35) / 0.65) * 0.75)
    toe_round = np.sqrt(np.clip(1 - ((t - 0.85) / 0.15).clip(0) ** 2, 0, 1))
    upper_top = base - sole_h - (base - sole_h - upper_top) * (0.15 + 0.85 * toe_round)
    xs = x0 + t * length
    upper = np.concatenate([
        np.stack([xs, upper_top], axis=1),
        np.array([[x0 + length, base - sole_h + 1], [x0, base - sole_h + 1]]),
    ])
    heel_dip = np.array([[x0 + length * 0.12, base - height * 0.98],
                         [x0 + length * 0.3, base - height * 0.82],
                         [x0 + length * 0.3, base - height * 0.9]])
    sole = np.array([[x0 - 2, base - sole_h], [x0 + length + 3, base - sole_h],
                     [x0 + length, base - sole_h * 0.3], [x0 + length * 0.95, base],
                     [x0 + length * 0.05, base], [x0, base - sole_h * 0.3]])
    sole_colour = (0.93, 0.93, 0.92) if rng.random() < 0.6 else _contrast(body, rng)
    return [Part(upper, body, "soft"), Part(heel_dip, _contrast(body, rng), "soft"),
            Part(sole, sole_colour, "flat", flat_gain=0.97)]


def bag(cx: float, base: float, height: float, rng: np.random.Generator,
        body: tuple[float, float, float], accent: tuple[float, float, float]) -> list[Part]:
    """A tote: trapezoid body and a handle loop whose inside shows the background."""
    body_h = height * rng.uniform(0.55, 0.68)
    bw = height * rng.uniform(0.7, 1.0)
    top_w = bw * rng.uniform(0.8, 0.95)
    body_top = base - body_h
    outline = np.array([[cx - bw / 2, base], [cx - top_w / 2, body_top],
                        [cx + top_w / 2, body_top], [cx + bw / 2, base]])
    handle_ry = height - body_h + height * 0.03
    handle_rx = top_w * rng.uniform(0.25, 0.38)
    thick = height * rng.uniform(0.03, 0.05)
    outer = _ellipse(cx, body_top + 2, handle_rx, handle_ry)
    inner = _ellipse(cx, body_top + 2, handle_rx - thick, handle_ry - thick)
    return [Part(outer, _contrast(body, rng) if rng.random() < 0.5 else body, "soft",
                 holes=[inner]),
            Part(outline, body, "soft", axis_x=cx, half_width=bw / 2)]


def mug(cx: float, base: float, height: float, rng: np.random.Generator,
        body: tuple[float, float, float], accent: tuple[float, float, float]) -> list[Part]:
    """A mug: a cylinder body and a D-shaped handle with a hole."""
    width = height * rng.uniform(0.75, 0.9)
    side = 1 if rng.random() < 0.5 else -1
    hx = cx + side * width / 2
    ry = height * 0.3
    rx = width * rng.uniform(0.3, 0.4)
    thick = height * rng.uniform(0.07, 0.1)
    hcy = base - height * 0.52
    outer = _ellipse(hx, hcy, rx, ry)
    inner = _ellipse(hx, hcy, rx - thick, ry - thick)
    ys = np.linspace(0, 1, 80)
    hw = width / 2 * (0.93 + 0.07 * np.sqrt(np.clip(ys * 12, 0, 1)))
    body_outline = _profile_outline(cx, base - ys * height, hw)
    return [Part(outer, body, "cylinder", holes=[inner], axis_x=hx, half_width=rx),
            Part(body_outline, body, "cylinder", axis_x=cx, half_width=width / 2)]


def _contrast(colour: tuple[float, float, float], rng: np.random.Generator
              ) -> tuple[float, float, float]:
    """A second colour that stands apart from ``colour`` (labels, caps, soles)."""
    lum = sum(colour) / 3
    base = rng.uniform(0.05, 0.45, 3) if lum > 0.5 else rng.uniform(0.55, 0.95, 3)
    return (float(base[0]), float(base[1]), float(base[2]))


BUILDERS = {
    "bottle": bottle, "can": can, "box": box, "jar": jar, "shoe": shoe, "bag": bag, "mug": mug,
}
ASPECT = {"bottle": 0.3, "can": 0.6, "box": 1.0, "jar": 0.9, "shoe": 2.6, "bag": 0.9, "mug": 1.2}
"""Rough width/height of each product, to fit it in the frame."""
