"""Milliseconds per megapixel for the pure stages other than segmentation.

Stages and what "megapixels" counts:

* decode      - the supplier photo's pixels (JPEG q92 and PNG of a textured studio photo)
* background  - the rendered canvas (every packaged theme, variant 0)
* composite   - the canvas (cutout of the photo's size set on the canvas, shadows included)
* derivatives - the composite (nine files: resize + JPEG/WebP/AVIF encodes, thread pool)
* cutout png  - the cutout (the segment stage's PNG artefact)

Both wall time and process CPU time (all threads) are printed; the best of ``--repeats`` runs
is kept because the machine may be shared. Run:
``uv run python bench/stage_speed.py [--photo-mp 12] [--canvas 2000]``
"""

from __future__ import annotations

import argparse
import io
import os
import resource
import sys
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import numpy as np
from PIL import Image

sys.path.insert(0, os.path.dirname(__file__))

from synthetic_products import bottle

from plinth.imaging.backgrounds import list_themes, load_theme, render_background
from plinth.imaging.composite import composite
from plinth.imaging.decode import decode_image, encode_png
from plinth.imaging.derivatives import make_derivatives


def best_of(repeats: int, fn: Callable[[], object]) -> tuple[float, float]:
    """(wall ms, CPU ms) of the fastest run."""
    runs = []
    for _ in range(repeats):
        c0, w0 = time.process_time(), time.perf_counter()
        fn()
        runs.append(((time.perf_counter() - w0) * 1000, (time.process_time() - c0) * 1000))
    return min(runs)


def studio_photo(side: int) -> tuple[np.ndarray, np.ndarray]:
    """A product on an off-white sweep with grain: (RGB photo, RGBA cutout) of side x side."""
    cutout = bottle(side)
    alpha = cutout[..., 3:4].astype(np.float32) / 255
    y = np.linspace(0.93, 0.98, side, dtype=np.float32)[:, None, None]
    rng = np.random.default_rng(0)
    bg = (y + rng.normal(0, 0.01, (side, side, 1)).astype(np.float32)) * 255
    photo = cutout[..., :3] * alpha + bg * (1 - alpha)
    return np.clip(photo + 0.5, 0, 255).astype(np.uint8), cutout


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--photo-mp", type=float, default=12.0, help="supplier photo size, MP")
    parser.add_argument("--canvas", type=int, default=2000, help="composite canvas side, px")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    side = int((args.photo_mp * 1e6) ** 0.5)
    photo, cutout = studio_photo(side)
    photo_mp = side * side / 1e6
    canvas = (args.canvas, args.canvas)
    canvas_mp = args.canvas**2 / 1e6
    rows: list[tuple[str, float, float, float]] = []

    for fmt, params in (("JPEG", {"quality": 92}), ("PNG", {"compress_level": 6})):
        buf = io.BytesIO()
        Image.fromarray(photo).save(buf, fmt, **params)
        data = buf.getvalue()
        wall, cpu = best_of(args.repeats, lambda data=data: decode_image(data))
        rows.append((f"decode {fmt} {side}x{side}", photo_mp, wall, cpu))

    walls, cpus = [], []
    for name in list_themes():
        theme = load_theme(name)
        w, c = best_of(args.repeats, lambda theme=theme: render_background(theme, 0, canvas))
        walls.append(w)
        cpus.append(c)
    rows.append(
        (
            f"background (mean of {len(walls)} themes)",
            canvas_mp,
            float(np.mean(walls)),
            float(np.mean(cpus)),
        )
    )

    for name in ("default", "warm_paper"):
        theme = load_theme(name)
        bg = render_background(theme, 0, canvas)
        wall, cpu = best_of(args.repeats, lambda theme=theme, bg=bg: composite(cutout, bg, theme))
        rows.append((f"composite on {name} (cutout {side}px)", canvas_mp, wall, cpu))

    theme = load_theme("default")
    comp = composite(cutout, render_background(theme, 0, canvas), theme)
    with ThreadPoolExecutor(max_workers=os.cpu_count() or 2) as pool:
        wall, cpu = best_of(args.repeats, lambda: make_derivatives(comp, executor=pool))
    rows.append(("derivatives (9 files)", canvas_mp, wall, cpu))

    wall, cpu = best_of(args.repeats, lambda: encode_png(cutout))
    rows.append((f"cutout PNG encode {side}x{side}", photo_mp, wall, cpu))

    print(f"cores: {os.cpu_count()}   best of {args.repeats}\n")
    print("| stage | MP | wall ms | wall ms/MP | CPU ms | CPU ms/MP |")
    print("|---|---|---|---|---|---|")
    for label, mp, wall, cpu in rows:
        print(f"| {label} | {mp:.1f} | {wall:.0f} | {wall / mp:.1f} | {cpu:.0f} | {cpu / mp:.1f} |")
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"\npeak RSS of this process: {peak:.0f} MB")


if __name__ == "__main__":
    main()
