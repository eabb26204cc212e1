"""Composite: CPU seconds per 2000x2000 composite, all in, on one core (issue 18's 0.15 s target).

What the composite stage's pure function does for one job (``plinth.stages.composite_photos``):
decode the cutout PNG once, then per background variant decode its JPEG, place the cutout with
its shadow (prepared once per canvas size and shared by the variants) and encode the composite
JPEG. The per-variant figure is the call's process CPU divided by the number of variants, so
the once-per-job work (cutout decode, preparation) is spread over the variants as it is in the
stage.

One core: OpenCV is set to one thread and the process should be pinned (``taskset -c 0``);
Pillow and NumPy do not spawn threads here. Cases: two synthetic products
(``synthetic_products``) at two cutout sizes on three themes, each background rendered by the
theme's own renderer. Printed: p50 / min / max CPU-s per variant per case, and over all cases.

    taskset -c 0 uv run python bench/composite_bench.py [--repeats 9] [--variants 3]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

import cv2

sys.path.insert(0, os.path.dirname(__file__))

from synthetic_products import PRODUCTS

from plinth.imaging.backgrounds import load_theme, render_background
from plinth.imaging.decode import encode_jpeg, encode_png
from plinth.stages import composite_photos

CANVAS = (2000, 2000)
CASES = (
    ("bottle", 2000, "default"),
    ("box", 1600, "warm_paper"),
    ("bottle", 1400, "charcoal_spotlight"),
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=9, help="calls per case (p50 kept)")
    parser.add_argument("--variants", type=int, default=3, help="background variants per job")
    args = parser.parse_args()
    cv2.setNumThreads(1)
    cores = len(os.sched_getaffinity(0))
    print(f"usable cores {cores} (pin with taskset -c 0 for the one-core figure); "
          f"OpenCV threads {cv2.getNumThreads()}; load {os.getloadavg()[0]:.2f}")
    every: list[float] = []
    for product, side, theme_name in CASES:
        theme = load_theme(theme_name)
        cutout = encode_png(PRODUCTS[product](side))
        backgrounds = [encode_jpeg(render_background(theme, v, CANVAS))
                       for v in range(args.variants)]
        composite_photos(cutout, backgrounds, theme)  # warm-up
        per_variant = []
        for _ in range(args.repeats):
            start = time.process_time()
            composite_photos(cutout, backgrounds, theme)
            per_variant.append((time.process_time() - start) / args.variants)
        every += per_variant
        print(f"{product:6s} cutout {side}px ({len(cutout) // 1024} KiB PNG) on {theme_name:18s} "
              f"CPU-s per variant p50 {statistics.median(per_variant):.3f} "
              f"min {min(per_variant):.3f} max {max(per_variant):.3f}")
    print(f"all cases: CPU-s per 2000x2000 composite p50 {statistics.median(every):.3f} "
          f"(target 0.15), load {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
