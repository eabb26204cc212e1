"""Score segmentation providers on the real photos and on the synthetic studio set, in one run.

    uv run python bench/segment_real.py --providers local,learned,auto
    uv run python bench/segment_real.py --markdown \\
        --providers learned,learned:side=1024,learned:fusion=off,learned:model=isnet-small

A provider is a name (``local``, ``learned``, ``auto``, ``onnx``) with optional ``:key=value``
options, so configurations can be compared in one table: ``model=`` (an installed model or, for
``onnx``, a file), ``side=`` (inference side), ``fusion=on|off``, ``wider=on|off`` (the wider
look), ``glass=on|off`` (partial alpha for tinted glass), ``threads=``, ``opt=`` (graph
optimisation: all, extended, basic, off), ``openvino=on|off``. Options chain with ``:``
(``learned:model=isnet-small:side=640``). Each provider is loaded once, warmed up on one photo,
then every photo goes through every provider in turn.

Real photos (``--real DIR``, default ``../shared/realphotos`` next to the repository) are
``NAME.jpg|jpeg|png`` with ``NAME.mask.png``. A mask made only of 0/128/255 (the GrabCut
``gcx_*`` references) has a void band at 128: it is left out of IoU and MAE, and for the
boundary F-measure the void pixels take the prediction's own value (the edge may lie anywhere in
the band). Other masks (the neural ``nr_*`` references) are soft alpha: thresholded at 128 for
IoU and boundary F, compared as they are for MAE. The boundary tolerance grows with the photo:
``max(--tolerance, long side / 400)`` px. Synthetic cases (``--synth N --start SEED``, default
100 from the held-out seed 100000) have exact alpha and ``--tolerance`` px; ``--synth-backdrop
grey|pastel|dark`` re-lights them on a grey seamless, a coloured or a dark backdrop.

Per provider and set (real: also gcx / nr; synthetic: also each hard-case tag, ``plain`` for
none) the table gives n, errors (a provider error, e.g. "no product found", is scored as an
all-zero mask), mean IoU, the share with IoU >= 0.95, alpha MAE (0..1), boundary F, mean and p50
seconds per photo (wall time of ``segment()``), mean inference seconds (``meta["timings_ms"]``)
and the Pearson correlation of ``meta["confidence"]`` with IoU where the provider reports one.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import fnmatch
import os
import platform
import statistics
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # run as a script: make ``bench`` importable
    sys.path.insert(0, str(ROOT))

from bench.quality.evaluate import boundary_f_measure, score  # noqa: E402
from bench.quality.synth import RELIT_BACKDROPS, make_case  # noqa: E402
from bench.segment_speed import cpu_name  # noqa: E402
from plinth.imaging.errors import ImagingError  # noqa: E402
from plinth.imaging.segment.base import SegmentProvider  # noqa: E402

DEFAULT_REAL = ROOT.parent / "shared" / "realphotos"
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")
PROVIDER_NAMES = ("local", "learned", "auto", "onnx")
OPTION_KEYS = ("model", "side", "fusion", "wider", "glass", "threads", "opt", "openvino")
ON, OFF = ("on", "true", "yes", "1"), ("off", "false", "no", "0")


@dataclass(frozen=True)
class ProviderSpec:
    """One column of the comparison: a provider name and its options, as typed."""

    label: str
    name: str
    options: dict[str, str] = field(default_factory=dict)


@dataclass
class Loaded:
    spec: ProviderSpec
    provider: SegmentProvider
    description: str
    load_s: float


@dataclass(frozen=True)
class Photo:
    set: str
    name: str
    groups: tuple[str, ...]
    image: np.ndarray
    truth: np.ndarray
    tolerance: float


@dataclass(frozen=True)
class Result:
    set: str
    name: str
    groups: tuple[str, ...]
    provider: str
    iou: float
    mae: float
    boundary_f: float
    seconds: float
    inference_s: float | None
    confidence: float | None
    error: str | None
    decision: str = ""
    """The fusion's decision (learned, filled, backdrop; ``+second_look`` when fusion rule 4
    looked again, ``+wider_look`` when the learned provider kept its wider look,
    ``+translucent`` when it gave a glass body partial alpha) where the provider reports one."""


def parse_spec(text: str) -> ProviderSpec:
    name, *parts = text.strip().split(":")
    name = name.strip().lower()
    if name == "freepik":
        raise ValueError("freepik is a paid API: this benchmark does not call it")
    if name not in PROVIDER_NAMES:
        raise ValueError(f"unknown provider {name!r}; choose from {', '.join(PROVIDER_NAMES)}")
    options: dict[str, str] = {}
    for part in parts:
        key, sep, value = part.partition("=")
        key = key.strip().lower()
        if not sep or key not in OPTION_KEYS:
            raise ValueError(f"{text!r}: options are key=value with key in {OPTION_KEYS}")
        options[key] = value.strip()
    if name == "local" and options:
        raise ValueError(f"{text!r}: the local provider takes no options")
    for key in ("fusion", "wider", "glass", "openvino"):
        if key in options and options[key].lower() not in ON + OFF:
            raise ValueError(f"{text!r}: {key} is on or off")
    for key in ("side", "threads"):
        if key in options and not options[key].isdigit():
            raise ValueError(f"{text!r}: {key} is a whole number")
    return ProviderSpec(text.strip(), name, options)


def build(spec: ProviderSpec, threads: int) -> Loaded:
    """Load the provider ``spec`` names (once) and describe what was actually loaded."""
    from plinth.models.onnx_runtime import RuntimeOptions
    from plinth.models.registry import DEFAULT_MODEL
    from plinth.models.segmenters import SegmenterConfig, build_segmenter

    o = spec.options
    config = SegmenterConfig(
        provider=spec.name,
        model=o.get("model", DEFAULT_MODEL),
        input_side=int(o["side"]) if "side" in o else None,
        fusion=o.get("fusion", "on").lower() in ON,
        wider_look=o.get("wider", "on").lower() in ON,
        translucency=o.get("glass", "on").lower() in ON,
        runtime=RuntimeOptions(
            threads=int(o.get("threads", threads)),
            graph_optimisation=o.get("opt", "all"),
            use_openvino=o.get("openvino", "off").lower() in ON,
        ),
    )
    started = time.perf_counter()
    try:
        provider = build_segmenter(config)
    except ImagingError as exc:
        raise SystemExit(f"{spec.label}: {exc.message}") from exc
    load_s = time.perf_counter() - started
    return Loaded(spec, provider, describe(provider, config), load_s)


def describe(provider: Any, config: Any) -> str:
    model = getattr(provider, "model", None)
    if model is None:
        return str(provider.name)
    side = "x".join(str(s) for s in provider.input_size)
    fusion = "on" if provider.options.fusion is not None else "off"
    threads = config.runtime.threads or "ort default"
    return (f"{provider.name} {model.name} {side} fusion {fusion} threads {threads} "
            f"opt {config.runtime.graph_optimisation} {model.execution_provider}")


# --- photos -------------------------------------------------------------------------------------

def real_photos(folder: Path, only: list[str], base_tolerance: float) -> Iterator[Photo]:
    for path in sorted(folder.iterdir()):
        if path.suffix.lower() not in IMAGE_SUFFIXES or path.name.endswith(".mask.png"):
            continue
        name = path.stem
        mask_path = path.with_name(f"{name}.mask.png")
        if not mask_path.is_file():
            continue
        if only and not any(fnmatch.fnmatch(name, pattern) for pattern in only):
            continue
        bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
        truth = cv2.imread(str(mask_path), cv2.IMREAD_GRAYSCALE)
        if bgr is None or truth is None:
            raise SystemExit(f"cannot read {path} or its mask")
        if bgr.shape[:2] != truth.shape:
            raise SystemExit(f"{path.name} is {bgr.shape[:2]} but its mask is {truth.shape}")
        group = name.split("_", 1)[0] if "_" in name else "other"
        tolerance = max(base_tolerance, max(truth.shape) / 400)
        yield Photo("real", name, (group,), np.ascontiguousarray(bgr[..., ::-1]), truth,
                    tolerance)


def synthetic_photos(start: int, n: int, tolerance: float, backdrop: str | None = None
                     ) -> Iterator[Photo]:
    for seed in range(start, start + n):
        case = make_case(seed, backdrop)
        yield Photo("synthetic", f"{seed}:{case.product}/{case.background}",
                    case.hard or ("plain",), case.image, case.alpha, tolerance)


# --- scoring ------------------------------------------------------------------------------------

def score_photo(predicted: np.ndarray, photo: Photo) -> tuple[float, float, float]:
    """IoU, alpha MAE and boundary F; a 0/128/255 reference's 128 band is left out."""
    truth = photo.truth
    ternary = bool(((truth == 0) | (truth == 128) | (truth == 255)).all())
    void = truth == 128 if ternary else None
    if void is None or not void.any():
        return score(predicted, truth, photo.tolerance)
    valid = ~void
    pred_bin, true_bin = predicted >= 128, truth == 255
    union = int(((pred_bin | true_bin) & valid).sum())
    iou = float((pred_bin & true_bin & valid).sum() / union) if union else 1.0
    diff = np.abs(predicted.astype(np.float32) - truth.astype(np.float32))
    mae = float(diff[valid].mean() / 255)
    # In the band the edge may lie anywhere: give those pixels the prediction's value, so only a
    # predicted edge outside the band (or a band the prediction never crosses) costs anything.
    boundary_truth = np.where(void, pred_bin, true_bin)
    bf = boundary_f_measure(pred_bin, boundary_truth, photo.tolerance)
    return iou, mae, bf


def run_one(loaded: Loaded, photo: Photo) -> Result:
    error = None
    meta: dict[str, Any] = {}
    started = time.perf_counter()
    try:
        segmentation = loaded.provider.segment(photo.image)
        mask, meta = segmentation.mask, segmentation.meta
    except ImagingError as exc:
        mask, error = np.zeros_like(photo.truth), exc.message
    seconds = time.perf_counter() - started
    iou, mae, bf = score_photo(mask, photo)
    timings = meta.get("timings_ms") or {}
    inference = timings.get("inference")
    confidence = meta.get("confidence")
    return Result(photo.set, photo.name, photo.groups, loaded.spec.label, iou, mae, bf, seconds,
                  None if inference is None else float(inference) / 1000,
                  None if confidence is None else float(confidence), error,
                  _decision(meta))


def _decision(meta: dict[str, Any]) -> str:
    """The fusion's decision, with ``+second_look`` when rule 4 looked again,
    ``+wider_look`` when the wider look was kept and ``+translucent`` when a glass body got
    partial alpha."""
    fusion = meta.get("fusion") or {}
    decision = str(fusion.get("decision", ""))
    if fusion.get("second_look"):
        decision += "+second_look"
    if meta.get("wider_look"):
        decision += "+wider_look"
    return decision + "+translucent" if meta.get("translucent") else decision


def warm_up(loaded: Loaded) -> None:
    """First calls pay for the runtime's allocations and caches; keep them out of the times."""
    case = make_case(1)
    with contextlib.suppress(ImagingError):
        loaded.provider.segment(case.image)


# --- tables -------------------------------------------------------------------------------------

HEADER = ("provider", "group", "n", "err", "IoU", "IoU>=.95", "MAE", "bound-F", "mean s",
          "p50 s", "infer s", "r(conf,IoU)")


def summary_row(label: str, group: str, results: list[Result]) -> list[str]:
    iou = np.array([r.iou for r in results])
    seconds = [r.seconds for r in results]
    inference = [r.inference_s for r in results if r.inference_s is not None]
    return [
        label, group, str(len(results)), str(sum(r.error is not None for r in results)),
        f"{iou.mean():.4f}", f"{np.mean(iou >= 0.95):.1%}",
        f"{np.mean([r.mae for r in results]):.4f}",
        f"{np.mean([r.boundary_f for r in results]):.4f}",
        f"{np.mean(seconds):.3f}", f"{statistics.median(seconds):.3f}",
        f"{np.mean(inference):.3f}" if inference else "-",
        pearson(results),
    ]


def pearson(results: list[Result]) -> str:
    pairs = [(r.confidence, r.iou) for r in results if r.confidence is not None]
    if len(pairs) < 3:
        return "-"
    conf, iou = np.array(pairs, np.float64).T
    if conf.std() == 0 or iou.std() == 0:
        return "n/a (constant)"
    return f"{np.corrcoef(conf, iou)[0, 1]:+.3f} (n={len(pairs)})"


def set_table(results: list[Result], labels: list[str], group_order: list[str]) -> list[list[str]]:
    rows = []
    for group in ["all", *group_order]:
        for label in labels:
            chosen = [r for r in results if r.provider == label
                      and (group == "all" or group in r.groups)]
            if chosen:
                rows.append(summary_row(label, group, chosen))
    return rows


def render(header: tuple[str, ...] | list[str], rows: list[list[str]], markdown: bool,
           text_columns: int = 2) -> str:
    """A table as markdown or as aligned text (the first ``text_columns`` left-aligned)."""
    if markdown:
        lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        lines += ["| " + " | ".join(row) + " |" for row in rows]
        return "\n".join(lines)
    widths = [max(len(str(c)) for c in column) for column in zip(header, *rows, strict=True)]

    def line(cells: list[str] | tuple[str, ...]) -> str:
        return "  ".join(c.ljust(w) if i < text_columns else c.rjust(w)
                         for i, (c, w) in enumerate(zip(cells, widths, strict=True))).rstrip()
    return "\n".join([line(header), *(line(r) for r in rows)])


def per_image_rows(results: list[Result]) -> list[list[str]]:
    return [[r.set, r.name, ",".join(r.groups), r.provider, f"{r.iou:.4f}", f"{r.mae:.4f}",
             f"{r.boundary_f:.4f}", f"{r.seconds:.3f}",
             "-" if r.confidence is None else f"{r.confidence:.3f}", r.error or ""]
            for r in results]


def write_csv(path: Path, results: list[Result]) -> None:
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["set", "image", "groups", "provider", "iou", "mae", "boundary_f",
                         "seconds", "inference_s", "confidence", "error", "decision"])
        for r in results:
            writer.writerow([r.set, r.name, " ".join(r.groups), r.provider, f"{r.iou:.5f}",
                             f"{r.mae:.5f}", f"{r.boundary_f:.5f}", f"{r.seconds:.4f}",
                             "" if r.inference_s is None else f"{r.inference_s:.4f}",
                             "" if r.confidence is None else f"{r.confidence:.4f}",
                             r.error or "", r.decision])


# --- main ---------------------------------------------------------------------------------------

def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--providers", default="local,auto",
                        help="comma-separated providers with :key=value options "
                             "(default local,auto)")
    parser.add_argument("--real", default=str(DEFAULT_REAL),
                        help="folder of NAME.jpg + NAME.mask.png ('none' to skip)")
    parser.add_argument("--only", action="append", default=[], metavar="GLOB",
                        help="score only real photos whose name matches (repeatable)")
    parser.add_argument("--synth", type=int, default=100, metavar="N",
                        help="synthetic cases (0 to skip; default 100)")
    parser.add_argument("--start", type=int, default=100000, help="first synthetic seed")
    parser.add_argument("--synth-backdrop", choices=sorted(RELIT_BACKDROPS), default=None,
                        help="re-light the synthetic photos on this backdrop (default: the "
                             "light studio backdrops they are drawn on)")
    parser.add_argument("--tolerance", type=float, default=3.0,
                        help="boundary match radius in px (real photos: at least long side/400)")
    parser.add_argument("--threads", type=int, default=0,
                        help="onnxruntime threads unless a provider sets threads= (0: ort picks)")
    parser.add_argument("--per-image", action="store_true", help="a row per image and provider")
    parser.add_argument("--csv", type=Path, help="write a row per image and provider here")
    parser.add_argument("--markdown", action="store_true", help="markdown tables")
    args = parser.parse_args()
    try:
        specs = [parse_spec(s) for s in args.providers.split(",") if s.strip()]
    except ValueError as exc:
        parser.error(str(exc))
    labels = [s.label for s in specs]
    if len(set(labels)) != len(labels):
        parser.error("a provider is listed twice")
    if args.synth < 0:
        parser.error("--synth must be 0 or more")
    real_dir = None if args.real.lower() == "none" else Path(args.real)
    if real_dir is not None and not real_dir.is_dir():
        parser.error(f"--real {real_dir} is not a folder (use --real none to skip)")

    loaded = []
    for spec in specs:
        provider = build(spec, args.threads)
        warm_up(provider)
        loaded.append(provider)

    sources: list[tuple[str, Iterator[Photo]]] = []
    if real_dir is not None:
        sources.append(("real", real_photos(real_dir, args.only, args.tolerance)))
    if args.synth:
        sources.append(("synthetic", synthetic_photos(args.start, args.synth, args.tolerance,
                                                        args.synth_backdrop)))
    results: list[Result] = []
    counts: dict[str, int] = {}
    for set_name, photos in sources:
        for index, photo in enumerate(photos, 1):
            for provider in loaded:
                results.append(run_one(provider, photo))
            counts[set_name] = index
            if index % 10 == 0:
                print(f"  {set_name}: {index} photos", file=sys.stderr, flush=True)

    print_report(args, loaded, results, counts, real_dir)


def print_report(args: argparse.Namespace, loaded: list[Loaded], results: list[Result],
                 counts: dict[str, int], real_dir: Path | None) -> None:
    md = args.markdown
    bullet = "- " if md else ""
    print(f"{bullet}machine: {cpu_name()}, {os.cpu_count()} cores, "
          f"python {platform.python_version()}, onnxruntime {_ort_version()}")
    for item in loaded:
        print(f"{bullet}`{item.spec.label}`: {item.description} (loaded in {item.load_s:.1f} s)"
              if md else f"{item.spec.label}: {item.description} (loaded in {item.load_s:.1f} s)")
    if args.per_image:
        print()
        print(render(("set", "image", "tags", "provider", "IoU", "MAE", "bound-F", "s",
                      "conf", "error"), per_image_rows(results), md, text_columns=4))
    if "real" in counts:
        real = [r for r in results if r.set == "real"]
        groups = sorted({g for r in real for g in r.groups})
        print(f"\n{'### ' if md else ''}Real photos: {real_dir} ({counts['real']} photos; "
              f"boundary tolerance max({args.tolerance:g}, long side/400) px)\n")
        print(render(HEADER, set_table(real, [x.spec.label for x in loaded], groups), md))
    if "synthetic" in counts:
        synth = [r for r in results if r.set == "synthetic"]
        groups = [*sorted({g for r in synth for g in r.groups} - {"plain"}), "plain"]
        print(f"\n{'### ' if md else ''}Synthetic: seeds {args.start}.."
              f"{args.start + counts['synthetic'] - 1} ({counts['synthetic']} cases; "
              f"boundary tolerance {args.tolerance:g} px; groups are hard-case tags)\n")
        print(render(HEADER, set_table(synth, [x.spec.label for x in loaded], groups), md))
    errors = [r for r in results if r.error]
    if errors:
        print(f"\n{bullet}errors (scored as an all-zero mask): {len(errors)}")
        for r in errors:
            print(f"{bullet}{r.provider} {r.set} {r.name}: {r.error}")
    if args.csv:
        write_csv(args.csv, results)
        print(f"\n{bullet}per-image rows written to {args.csv}")


def _ort_version() -> str:
    try:
        import onnxruntime

        return f"{onnxruntime.__version__} {onnxruntime.get_available_providers()}"
    except ImportError:
        return "not installed"


if __name__ == "__main__":
    main()
