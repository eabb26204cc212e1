"""Synthetic studio product photos with exact ground-truth alpha.

A case is fully determined by its seed. The product coverage is rasterised at ``SUPERSAMPLE``
times the output resolution and area-averaged, so the ground-truth alpha is the exact coverage of
each pixel and the photo is composited with that same alpha (anti-aliased, no halo in the truth).
Shadows darken the background only; they are never part of the truth.

Run ``python -m bench.quality.synth --out DIR --n 20`` to write a few cases as PNGs for a look.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from bench.quality.shapes import ASPECT, BUILDERS, Part

SUPERSAMPLE = 4
PRODUCTS = tuple(BUILDERS)
BACKGROUNDS = ("white", "off_white", "grey_sweep", "pale_paper", "light_texture")
HARD_CASES = ("near_white", "touching_frame", "contact_shadow", "cast_shadow", "vignette",
              "noise", "jpeg")


@dataclass(frozen=True)
class Case:
    seed: int
    image: np.ndarray
    """HxWx3 uint8 photo."""
    alpha: np.ndarray
    """HxW uint8 exact coverage of the product."""
    product: str
    background: str
    hard: tuple[str, ...]
    """Hard-case tags present in this photo (shadow kinds, touching_frame, near_white, ...)."""


RELIT_BACKDROPS: dict[str, tuple[tuple[float, float], bool]] = {
    "grey": ((0.42, 0.6), False),     # grey seamless paper (an 18% grey card reads 0.46)
    "pastel": ((0.55, 0.95), True),   # a coloured paper, each channel drawn on its own
    "dark": ((0.04, 0.18), False),    # a black or charcoal studio
}
"""Backdrops a photo can be re-lit on (``make_case(seed, backdrop=...)``): sRGB value range and
whether the channels differ. The backdrop keeps its kind's texture, sweep and shading, scaled
to the new colour; the product is drawn as for the light backdrop (a near-white product is one
a shade off the new backdrop)."""


def make_case(seed: int, backdrop: str | None = None) -> Case:
    """Render the photo for ``seed`` (deterministic); ``backdrop`` re-lights it on one of
    :data:`RELIT_BACKDROPS` (the same product and scene, drawn from the same random stream)."""
    rng = np.random.default_rng(seed)
    product = PRODUCTS[seed % len(PRODUCTS)]
    background = BACKGROUNDS[(seed // len(PRODUCTS)) % len(BACKGROUNDS)]
    long_side = int(rng.integers(720, 1101))
    aspect = rng.choice([1.0, 0.75, 4 / 3, 0.8])
    if aspect >= 1:
        w, h = long_side, int(long_side / aspect)
    else:
        h, w = long_side, int(long_side * aspect)
    hard: list[str] = []

    bg, bg_colour = _background(background, h, w, rng)
    if backdrop is not None:
        bg, bg_colour = _relit(bg, backdrop, np.random.default_rng((seed, 17)))
        background = f"{background}>{backdrop}"
    near_white = rng.random() < 0.2
    body = _product_colour(rng, bg_colour, near_white)
    if near_white:
        hard.append("near_white")
    accent = tuple(float(c) for c in rng.uniform(0.05, 0.95, 3))

    touching = rng.random() < 0.2
    fill = rng.uniform(0.5, 0.8)
    height = min(h * fill, w * fill / ASPECT[product])
    cx = w / 2 + rng.uniform(-0.08, 0.08) * w
    base = h * rng.uniform(0.78, 0.9)
    if touching:
        hard.append("touching_frame")
        where = rng.choice(["bottom", "side", "top"])
        if where == "bottom":
            base = h + height * rng.uniform(0.05, 0.25)
        elif where == "top":
            height = base + rng.uniform(0.05, 0.2) * h
        else:
            cx = w * 0.5 + (1 if rng.random() < 0.5 else -1) * (
                w * 0.5 - ASPECT[product] * height * rng.uniform(0.25, 0.45))
    parts = BUILDERS[product](cx, base, height, rng, body, accent)  # type: ignore[arg-type]

    coverages = [_coverage(p, h, w) for p in parts]
    union = np.zeros((h * SUPERSAMPLE, w * SUPERSAMPLE), np.uint8)
    for hi in coverages:
        np.maximum(union, hi, out=union)
    silhouette = _downsample(union)

    if rng.random() < 0.85:
        hard.append("contact_shadow")
        bg = _contact_shadow(bg, parts, base, rng)
    if rng.random() < 0.6:
        hard.append("cast_shadow")
        bg = _cast_shadow(bg, silhouette, base, rng)

    image = bg
    for part, hi in zip(parts, coverages, strict=True):
        a = _downsample(hi)[..., None]
        colour = _shade(part, h, w, rng)
        image = a * colour + (1 - a) * image

    if rng.random() < 0.3:
        hard.append("vignette")
        image = _vignette(image, rng)
    if rng.random() < 0.6:
        hard.append("noise")
        image = image + rng.normal(0, rng.uniform(0.003, 0.012), image.shape).astype(np.float32)
    out = np.clip(image * 255 + 0.5, 0, 255).astype(np.uint8)
    if rng.random() < 0.5:
        hard.append("jpeg")
        quality = int(rng.integers(70, 93))
        ok, buf = cv2.imencode(".jpg", out[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, quality])
        assert ok
        out = np.ascontiguousarray(cv2.imdecode(buf, cv2.IMREAD_COLOR)[..., ::-1])
    alpha = np.clip(silhouette * 255 + 0.5, 0, 255).astype(np.uint8)
    return Case(seed, out, alpha, product, background, tuple(hard))


def _relit(bg: np.ndarray, backdrop: str, rng: np.random.Generator
           ) -> tuple[np.ndarray, np.ndarray]:
    if backdrop not in RELIT_BACKDROPS:
        raise ValueError(f"unknown backdrop {backdrop!r}: one of {', '.join(RELIT_BACKDROPS)}")
    (low, high), coloured = RELIT_BACKDROPS[backdrop]
    colour = (rng.uniform(low, high, 3) if coloured
              else np.full(3, rng.uniform(low, high))).astype(np.float32)
    relit = bg / np.maximum(bg.mean(axis=(0, 1), keepdims=True), 1e-3) * colour
    return relit.astype(np.float32), colour


def _coverage(part: Part, h: int, w: int) -> np.ndarray:
    """Binary coverage of a part at the supersampled resolution (0/1 uint8)."""
    hi = np.zeros((h * SUPERSAMPLE, w * SUPERSAMPLE), np.uint8)
    # Pixel centres sit at +0.5 in output coordinates; shift=4 gives 1/16 sub-pixel precision.
    def scaled(poly: np.ndarray) -> np.ndarray:
        return np.round((poly * SUPERSAMPLE - 0.5) * 16).astype(np.int32)

    cv2.fillPoly(hi, [scaled(part.outline)], 1, lineType=cv2.LINE_8, shift=4)
    for hole in part.holes:
        cv2.fillPoly(hi, [scaled(hole)], 0, lineType=cv2.LINE_8, shift=4)
    return hi


def _downsample(hi: np.ndarray) -> np.ndarray:
    h, w = hi.shape[0] // SUPERSAMPLE, hi.shape[1] // SUPERSAMPLE
    return cv2.resize(hi.astype(np.float32), (w, h), interpolation=cv2.INTER_AREA)


def _product_colour(rng: np.random.Generator, bg: np.ndarray, near_white: bool
                    ) -> tuple[float, float, float]:
    if near_white:
        level = float(bg.mean()) - rng.uniform(0.02, 0.07)
        tint = rng.normal(0, 0.006, 3)
        c = np.clip(level + tint, 0, 1)
    else:
        kind = rng.random()
        if kind < 0.2:
            c = rng.uniform(0.02, 0.12, 3)  # black
        elif kind < 0.35:
            c = np.full(3, rng.uniform(0.3, 0.7)) + rng.normal(0, 0.01, 3)  # grey / metal
        else:
            hue = rng.uniform(0, 180)
            hsv = np.uint8([[[hue, rng.uniform(60, 230), rng.uniform(70, 240)]]])
            c = cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB)[0, 0] / 255.0
    return (float(c[0]), float(c[1]), float(c[2]))


def _background(kind: str, h: int, w: int, rng: np.random.Generator
                ) -> tuple[np.ndarray, np.ndarray]:
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    yn, xn = yy / h, xx / w
    if kind == "white":
        colour = np.full(3, rng.uniform(0.965, 1.0), np.float32)
        bg = np.broadcast_to(colour, (h, w, 3)).astype(np.float32)
    elif kind == "off_white":
        colour = (rng.uniform(0.9, 0.97) + rng.normal(0, 0.012, 3)).astype(np.float32)
        bg = np.broadcast_to(colour, (h, w, 3)).astype(np.float32)
        bg = bg * (1 + 0.02 * (xn[..., None] - 0.5))
    elif kind == "grey_sweep":
        top, bottom = rng.uniform(0.62, 0.82), rng.uniform(0.84, 0.95)
        horizon = rng.uniform(0.45, 0.7)
        t = 1 / (1 + np.exp(-(yn - horizon) / rng.uniform(0.06, 0.14)))
        lum = top + (bottom - top) * t
        colour = np.array([1.0, 1.0, 1.0 + rng.uniform(-0.02, 0.02)], np.float32)
        bg = lum[..., None] * colour
        colour = colour * (top + bottom) / 2
    elif kind == "pale_paper":
        colour = np.array([rng.uniform(0.9, 0.97), rng.uniform(0.86, 0.94),
                           rng.uniform(0.76, 0.88)], np.float32)
        blotch = cv2.GaussianBlur(rng.normal(0, 1, (h, w)).astype(np.float32), (0, 0), 40)
        blotch /= blotch.std() + 1e-6
        grain = cv2.GaussianBlur(rng.normal(0, 1, (h, w)).astype(np.float32), (0, 0), 0.8)
        grain /= grain.std() + 1e-6
        bg = colour * (1 + 0.015 * blotch + 0.008 * grain)[..., None]
    else:  # light_texture: woven / speckled light surface
        colour = np.full(3, rng.uniform(0.88, 0.96), np.float32) + rng.normal(0, 0.01, 3)
        period = rng.uniform(4, 9)
        weave = np.sin(xx / period * 2 * np.pi) * np.sin(yy / period * 2 * np.pi)
        speckle = cv2.GaussianBlur(rng.normal(0, 1, (h, w)).astype(np.float32), (0, 0), 1.5)
        speckle /= speckle.std() + 1e-6
        bg = colour * (1 + 0.012 * weave + 0.015 * speckle)[..., None]
        bg = bg.astype(np.float32)
    return np.clip(bg, 0, 1).astype(np.float32), np.asarray(colour, np.float32)


def _shade(part: Part, h: int, w: int, rng: np.random.Generator) -> np.ndarray:
    """Shaded colour of a part over the frame (only used where it is covered)."""
    colour = np.asarray(part.colour, np.float32)
    xs = np.arange(w, dtype=np.float32)
    if part.shading in ("cylinder", "metal"):
        u = np.clip((xs - part.axis_x) / max(part.half_width, 1.0), -1, 1)
        light = rng.uniform(-0.5, 0.3)
        diffuse = np.clip(np.sqrt(1 - u * u) * np.cos(light) + u * np.sin(light), 0, 1)
        gain = 0.55 + 0.5 * diffuse
        spec_w = 0.08 if part.shading == "metal" else 0.05
        spec = (0.6 if part.shading == "metal" else 0.25) * np.exp(
            -(((u - light * 0.8 + 0.3) / spec_w) ** 2))
        row = colour * gain[:, None] + spec[:, None]
        field = np.broadcast_to(row, (h, w, 3))
    elif part.shading == "flat":
        field = np.broadcast_to(colour * part.flat_gain, (h, w, 3))
    else:  # soft: fabric/leather, a gentle gradient plus weave
        yy = np.linspace(0, 1, h, dtype=np.float32)[:, None]
        gain = 0.8 + 0.25 * (1 - yy) + 0.05 * np.sin(xs[None, :] / 3.0)
        field = colour * gain[..., None]
    noise = rng.normal(0, 0.006, (h, w, 1)).astype(np.float32)
    return np.clip(field + noise, 0, 1).astype(np.float32)


def _contact_shadow(bg: np.ndarray, parts: list[Part], base: float, rng: np.random.Generator
                    ) -> np.ndarray:
    h, w = bg.shape[:2]
    xs = np.concatenate([p.outline[:, 0] for p in parts])
    x0, x1 = float(xs.min()), float(xs.max())
    mask = np.zeros((h, w), np.float32)
    cx, rx = (x0 + x1) / 2, (x1 - x0) / 2 * rng.uniform(0.9, 1.08)
    ry = max(2.0, (x1 - x0) * rng.uniform(0.02, 0.06))
    cv2.ellipse(mask, (round(cx), round(base)), (max(1, round(rx)), max(1, round(ry))),
                0, 0, 360, 1.0, -1, cv2.LINE_AA)
    mask = cv2.GaussianBlur(mask, (0, 0), rng.uniform(2, 2 + 0.01 * w))
    darkest = rng.uniform(0.15, 0.45)  # linear-light factor at the contact line
    return _darken(bg, 1 - (1 - darkest) * mask)


def _cast_shadow(bg: np.ndarray, silhouette: np.ndarray, base: float, rng: np.random.Generator
                 ) -> np.ndarray:
    """The silhouette thrown on the floor (or the back wall) and blurred."""
    h, w = bg.shape[:2]
    if rng.random() < 0.5:  # floor shadow: flattened and sheared sideways from the base line
        squash = rng.uniform(0.15, 0.4)
        shear = rng.uniform(-1.2, 1.2)
        m = np.float32([[1, -shear * squash, shear * squash * base],
                        [0, squash, base * (1 - squash)]])
        shadow = cv2.warpAffine(silhouette, m, (w, h))
    else:  # wall shadow: offset up-sideways, slightly enlarged
        dx, dy = rng.uniform(-0.08, 0.08) * w, rng.uniform(-0.04, 0.0) * h
        scale = rng.uniform(1.0, 1.08)
        m = np.float32([[scale, 0, dx + (1 - scale) * w / 2], [0, scale, dy + (1 - scale) * base]])
        shadow = cv2.warpAffine(silhouette, m, (w, h))
    shadow = cv2.GaussianBlur(shadow, (0, 0), rng.uniform(0.01, 0.04) * max(h, w))
    darkest = rng.uniform(0.45, 0.85)
    return _darken(bg, 1 - (1 - darkest) * shadow)


def _darken(bg: np.ndarray, factor: np.ndarray) -> np.ndarray:
    """Shadows scale light: multiply in linear light, not on sRGB values."""
    linear = np.power(bg, 2.2) * factor[..., None]
    return np.power(linear, 1 / 2.2).astype(np.float32)


def _vignette(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    h, w = image.shape[:2]
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    r2 = ((xx - w / 2) / (w / 2)) ** 2 + ((yy - h / 2) / (h / 2)) ** 2
    fall = 1 - rng.uniform(0.04, 0.14) * r2 / 2
    return image * fall[..., None]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--n", type=int, default=20)
    parser.add_argument("--start", type=int, default=0)
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    for seed in range(args.start, args.start + args.n):
        case = make_case(seed)
        name = f"{seed:05d}_{case.product}_{case.background}"
        cv2.imwrite(str(args.out / f"{name}.png"), case.image[..., ::-1])
        cv2.imwrite(str(args.out / f"{name}_alpha.png"), case.alpha)
        print(name, ",".join(case.hard))


if __name__ == "__main__":
    main()
