"""A second synthetic studio set: glass products and floor reflections, with exact alpha.

`synth.py`'s photos are what the ``local`` provider was tuned on. This generator composes its
own photos from the same product shapes, with the two cases it never makes:

- ``glass``: a translucent body (coverage x 0.25-0.55) over the backdrop, tinted, with an opaque
  rim and cap; the truth is that partial alpha. A cut-out must keep partial alpha there, never
  a hole (``glass_kept``: mean predicted alpha over the body / mean true alpha, reported).
- ``reflection``: the product mirrored under its base on a glossy floor, fading out; the truth
  excludes it (a reflection is floor, not product).

Every case has exactly one of the two, on a plain light backdrop; seeds are deterministic.

    uv run python -m bench.quality.studio_extra --n 60 --provider auto
"""

from __future__ import annotations

import argparse
import time
from dataclasses import dataclass

import cv2
import numpy as np

from bench.quality.shapes import ASPECT, BUILDERS
from bench.quality.synth import (
    BACKGROUNDS,
    PRODUCTS,
    _background,
    _contact_shadow,
    _coverage,
    _downsample,
    _shade,
)

KINDS = ("glass", "reflection")
GLASS_PRODUCTS = ("bottle", "jar", "mug", "can")


@dataclass(frozen=True)
class ExtraCase:
    seed: int
    kind: str
    product: str
    background: str
    image: np.ndarray
    alpha: np.ndarray
    body: np.ndarray
    """Where the glass body is (translucent truth), empty for reflections."""


def make_extra_case(seed: int) -> ExtraCase:
    rng = np.random.default_rng(10_000_019 + seed)
    kind = KINDS[seed % 2]
    pool = GLASS_PRODUCTS if kind == "glass" else PRODUCTS
    product = pool[(seed // 2) % len(pool)]
    background = BACKGROUNDS[(seed // 7) % 3]  # white, off_white, grey_sweep: glossy studio floors
    long_side = int(rng.integers(720, 1025))
    w, h = (long_side, int(long_side * 0.8)) if rng.random() < 0.5 else (int(long_side * 0.8),
                                                                          long_side)
    bg, _ = _background(background, h, w, rng)
    dark = rng.random() < 0.5
    body = tuple(float(c) for c in (rng.uniform(0.05, 0.4, 3) if dark else
                                    rng.uniform(0.3, 0.85, 3)))
    accent = tuple(float(c) for c in rng.uniform(0.05, 0.9, 3))
    fill = rng.uniform(0.45, 0.65) if kind == "reflection" else rng.uniform(0.5, 0.75)
    height = min(h * fill, w * fill / ASPECT[product])
    base = h * (rng.uniform(0.62, 0.7) if kind == "reflection" else rng.uniform(0.8, 0.9))
    cx = w / 2 + rng.uniform(-0.06, 0.06) * w
    parts = BUILDERS[product](cx, base, height, rng, body, accent)  # type: ignore[arg-type]
    coverages = [_downsample(_coverage(p, h, w)) for p in parts]
    bg = _contact_shadow(bg, parts, base, rng)

    image = bg.copy()
    truth = np.zeros((h, w), np.float32)
    glass_body = np.zeros((h, w), bool)
    opacity = rng.uniform(0.25, 0.55)
    for index, (part, a) in enumerate(zip(parts, coverages, strict=True)):
        colour = _shade(part, h, w, rng)
        # The first part is the body; the rest (caps, labels, handles) stay opaque.
        if kind == "glass" and index == 0:
            inner = cv2.erode((a > 0.99).astype(np.uint8), np.ones((9, 9), np.uint8)) > 0
            glass_body |= inner
            a = np.where(inner, a * opacity, a)
        image = a[..., None] * colour + (1 - a[..., None]) * image
        truth = np.maximum(truth, a)

    if kind == "reflection":
        image = _reflect(image, truth, base, rng)
    image = image + rng.normal(0, 0.004, image.shape).astype(np.float32)
    out = np.clip(image * 255 + 0.5, 0, 255).astype(np.uint8)
    alpha = np.clip(truth * 255 + 0.5, 0, 255).astype(np.uint8)
    return ExtraCase(seed, kind, product, background, out, alpha, glass_body)


def _reflect(image: np.ndarray, truth: np.ndarray, base: float,
             rng: np.random.Generator) -> np.ndarray:
    """Mirror what stands above ``base`` under it, fading with distance (a glossy floor)."""
    h = image.shape[0]
    row = round(base)
    span = min(row, h - row)
    if span <= 0:
        return image
    above = image[row - span:row][::-1]
    coverage = truth[row - span:row][::-1]
    fade = (rng.uniform(0.25, 0.45) * np.exp(-np.linspace(0, 1, span) * rng.uniform(2, 4))
            ).astype(np.float32)[:, None]
    weight = (coverage * fade)[..., None]
    below = image[row:row + span]
    out = image.copy()
    out[row:row + span] = weight * above + (1 - weight) * below
    return out


def main() -> None:
    from bench.quality.evaluate import make_provider, score

    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=60)
    parser.add_argument("--start", type=int, default=0)
    parser.add_argument("--provider", default="auto")
    args = parser.parse_args()
    if args.n < 1:
        parser.error("--n must be at least 1")
    provider = make_provider(args.provider, None)
    rows: dict[str, list[tuple[float, float, float, float]]] = {k: [] for k in KINDS}
    for seed in range(args.start, args.start + args.n):
        case = make_extra_case(seed)
        started = time.perf_counter()
        mask = provider.segment(case.image).mask
        elapsed = time.perf_counter() - started
        iou, mae, _ = score(mask, case.alpha, 3)
        kept = (float(mask[case.body].mean() / max(case.alpha[case.body].mean(), 1))
                if case.body.any() else float("nan"))
        rows[case.kind].append((iou, mae, kept, elapsed))
    print(f"provider={args.provider} seeds={args.start}..{args.start + args.n - 1}")
    print(f"{'':<12} {'n':>4} {'IoU':>7} {'MAE':>7} {'IoU>=.95':>9} {'glass kept':>10} {'s':>6}")
    for kind, values in rows.items():
        arr = np.array(values)
        kept = np.nanmean(arr[:, 2]) if kind == "glass" else float("nan")
        print(f"{kind:<12} {len(arr):>4} {arr[:, 0].mean():>7.4f} {arr[:, 1].mean():>7.4f} "
              f"{(arr[:, 0] >= 0.95).mean():>9.1%} {kept:>10.2f} {arr[:, 3].mean():>6.2f}")


if __name__ == "__main__":
    main()
