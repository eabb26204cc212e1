"""Score a segmentation provider on synthetic studio photos with exact alpha.

    uv run python -m bench.quality.evaluate --n 200 --provider local [--start 100000]
    uv run python -m bench.quality.evaluate --n 150 --start 20000 --hard near_white

Prints, per product, per background and per hard case: mean IoU (alpha >= 128 against truth
>= 128), alpha MAE (0..1), boundary F-measure (boundary pixels matched within ``--tolerance``
pixels), the share of cases with IoU >= 0.95, and the same over all cases. Tune on low seeds and
report on a held-out range (``--start 100000``) so the figures are not fitted to the set.
"""

from __future__ import annotations

import argparse
import time
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from bench.quality.synth import HARD_CASES, Case, make_case
from plinth.imaging.errors import ImagingError
from plinth.imaging.segment.base import SegmentProvider


@dataclass(frozen=True)
class Score:
    iou: float
    mae: float
    boundary_f: float
    seconds: float


def score(predicted: np.ndarray, truth: np.ndarray, tolerance: int) -> tuple[float, float, float]:
    """IoU of the binarised masks, alpha MAE and boundary F-measure."""
    pred_bin = predicted >= 128
    true_bin = truth >= 128
    union = np.logical_or(pred_bin, true_bin).sum()
    iou = float(np.logical_and(pred_bin, true_bin).sum() / union) if union else 1.0
    mae = float(np.abs(predicted.astype(np.float32) - truth.astype(np.float32)).mean() / 255)
    return iou, mae, boundary_f_measure(pred_bin, true_bin, tolerance)


def boundary_f_measure(pred: np.ndarray, truth: np.ndarray, tolerance: int) -> float:
    pred_edge, true_edge = _boundary(pred), _boundary(truth)
    if not pred_edge.any() and not true_edge.any():
        return 1.0
    if not pred_edge.any() or not true_edge.any():
        return 0.0
    dist_to_true = cv2.distanceTransform((~true_edge).astype(np.uint8), cv2.DIST_L2, 3)
    dist_to_pred = cv2.distanceTransform((~pred_edge).astype(np.uint8), cv2.DIST_L2, 3)
    precision = float((dist_to_true[pred_edge] <= tolerance).mean())
    recall = float((dist_to_pred[true_edge] <= tolerance).mean())
    return 0.0 if precision + recall == 0 else 2 * precision * recall / (precision + recall)


def _boundary(mask: np.ndarray) -> np.ndarray:
    m = mask.astype(np.uint8)
    eroded = cv2.erode(m, np.ones((3, 3), np.uint8), borderType=cv2.BORDER_REPLICATE)
    return (m > 0) & (eroded == 0)


def make_provider(name: str, model: str | None) -> SegmentProvider:
    """A provider as the services build it (``auto``, ``learned``, ``onnx`` with ``--model``,
    ``local``); ``freepik`` is not run here."""
    from plinth.models.segmenters import SegmenterConfig, build_segmenter

    if name == "freepik":
        raise SystemExit("freepik is a paid API: this benchmark does not call it")
    config = SegmenterConfig(provider=name, **({"model": model} if model else {}))
    try:
        return build_segmenter(config)
    except ImagingError as exc:
        raise SystemExit(exc.message) from exc


def evaluate_case(provider: SegmentProvider, case: Case, tolerance: int) -> Score:
    started = time.perf_counter()
    try:
        mask = provider.segment(case.image).mask
    except ImagingError:
        mask = np.zeros_like(case.alpha)
    elapsed = time.perf_counter() - started
    iou, mae, bf = score(mask, case.alpha, tolerance)
    return Score(iou, mae, bf, elapsed)


def _row(name: str, scores: list[Score]) -> str:
    iou = np.array([s.iou for s in scores])
    return (f"{name:<16} {len(scores):>4} {iou.mean():>8.4f} "
            f"{np.mean([s.mae for s in scores]):>8.4f} "
            f"{np.mean([s.boundary_f for s in scores]):>8.4f} {np.mean(iou >= 0.95):>8.1%}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=200)
    parser.add_argument("--start", type=int, default=0, help="first seed")
    parser.add_argument("--provider", default="local", help="auto, learned, onnx or local")
    parser.add_argument("--model", help="installed model name, or an ONNX file for onnx")
    parser.add_argument("--tolerance", type=int, default=3, help="boundary match radius, px")
    parser.add_argument("--worst", type=Path, help="write the 10 worst cases here as PNGs")
    parser.add_argument("--hard", choices=HARD_CASES,
                        help="score only photos with this hard case: the first --n from --start")
    args = parser.parse_args()
    if args.n < 1:
        parser.error("--n must be at least 1")

    provider = make_provider(args.provider, args.model)
    groups: dict[str, dict[str, list[Score]]] = {
        "product": defaultdict(list),
        "background": defaultdict(list),
        "hard case": defaultdict(list),
    }
    everything: list[tuple[Score, Case]] = []
    for case in _cases(args.start, args.n, args.hard):
        result = evaluate_case(provider, case, args.tolerance)
        everything.append((result, case))
        groups["product"][case.product].append(result)
        groups["background"][case.background].append(result)
        for tag in case.hard:
            groups["hard case"][tag].append(result)

    header = f"{'':<16} {'n':>4} {'IoU':>8} {'MAE':>8} {'bound-F':>8} {'IoU>=.95':>8}"
    seeds = [c.seed for _, c in everything]
    print(f"provider={args.provider} seeds={seeds[0]}..{seeds[-1]}"
          f"{f' with {args.hard}' if args.hard else ''} boundary tolerance={args.tolerance}px")
    for title, table in groups.items():
        print(f"\nby {title}\n{header}")
        for name in sorted(table):
            print(_row(name, table[name]))
    scores = [s for s, _ in everything]
    print(f"\n{header}\n{_row('OVERALL', scores)}")
    print(f"mean time per case {np.mean([s.seconds for s in scores]) * 1000:.0f} ms")
    worst = sorted(everything, key=lambda sc: sc[0].iou)[:10]
    print("worst: " + ", ".join(f"{c.seed}:{c.product}/{c.background}={s.iou:.3f}"
                                for s, c in worst))
    if args.worst:
        _dump(args.worst, provider, [c for _, c in worst])


def _cases(start: int, n: int, hard: str | None) -> Iterator[Case]:
    """The ``n`` cases from seed ``start`` on (only those with the ``hard`` case, if given)."""
    seed, found = start, 0
    while found < n:
        case = make_case(seed)
        seed += 1
        if hard is None or hard in case.hard:
            found += 1
            yield case


def _dump(folder: Path, provider: SegmentProvider, cases: list[Case]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for case in cases:
        try:
            mask = provider.segment(case.image).mask
        except ImagingError:
            mask = np.zeros_like(case.alpha)
        diff = np.zeros((*mask.shape, 3), np.uint8)
        diff[..., 1] = case.alpha  # green: truth
        diff[..., 2] = mask  # red (BGR): prediction
        sheet = np.concatenate([case.image[..., ::-1], diff], axis=1)
        name = f"{case.seed}_{case.product}_{case.background}_{'-'.join(case.hard)}.png"
        cv2.imwrite(str(folder / name), sheet)


if __name__ == "__main__":
    main()
