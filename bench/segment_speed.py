"""Speed and memory of segmentation: ``local`` by photo size, the learned model by its levers.

    uv run python bench/segment_speed.py [--parts local,learned]
    uv run python bench/segment_speed.py --parts local [--sizes 1 4 12 24] [--threads 1]
    uv run python bench/segment_speed.py --parts learned [--reps 7] [--markdown]
    uv run python bench/segment_speed.py --parts learned --models isnet-medium,isnet-small \
        --sides 640,768,896,1024 --lever-threads 1,2 --opts all,basic,off
    uv run python bench/segment_speed.py --parts learned --providers-openvino

Every measurement runs in its own subprocess, so the peak RSS (``ru_maxrss``: the peak of the
whole process, imports and photo included) belongs to that configuration alone.

``local``: each size with OpenMP/BLAS and OpenCV limited to ``--threads`` threads. The photo is
a synthetic studio shot from the quality benchmark, resized to the target megapixels. Prints wall
and CPU time (median of a few runs after a warm-up), wall ms per megapixel, the process's peak
RSS before segmenting (imports, the generated photo) and its peak RSS overall.

``learned``: ``segment()`` on a 2000x2000 photo (synthetic case ``--seed``, a jar on white,
upscaled; or ``--photo FILE`` resized to a long side of ``--photo-side``), one warm-up call then
``--reps`` timed calls: p50/p95 wall seconds, the p50 split into inference and the rest
(fusion, refinement, decontamination, from ``meta["timings_ms"]``), model load seconds, RSS after
loading and peak RSS. The first row is the default provider as a service builds it (``auto``,
``SegmenterConfig()`` defaults: isnet-medium at 768, onnxruntime's own thread count). Then the
lever table: model x inference side x threads x graph optimisation. ``threads`` limits the whole
process (onnxruntime intra-op threads, OpenCV and OpenMP), i.e. what one worker on that many
cores gets. With none of ``--models/--sides/--lever-threads/--opts`` the grid is a few-minute
default (isnet-medium at 640/768/1024 and isnet-small at 768 on 2 threads, opt all; isnet-medium
768 on 1 thread and with opt basic); any of them makes it the full product of the four lists
(unset lists: isnet-medium, 768, 2, all). ``--providers-openvino`` adds an OpenVINO twin of
every lever row when ``onnxruntime-openvino`` is importable, and says so when it is not.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
REPEATS = {1: 5, 4: 5, 12: 3, 24: 2}
THREAD_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS",
               "NUMEXPR_NUM_THREADS", "VECLIB_MAXIMUM_THREADS")
DEFAULT_GRID = (  # (model, side, threads, graph optimisation)
    ("isnet-medium", 640, 2, "all"),
    ("isnet-medium", 768, 2, "all"),
    ("isnet-medium", 1024, 2, "all"),
    ("isnet-small", 768, 2, "all"),
    ("isnet-medium", 768, 1, "all"),
    ("isnet-medium", 768, 2, "basic"),
)


def measure(megapixels: float, threads: int) -> dict[str, float]:
    """Runs inside the subprocess: build the photo, warm up, time, report."""
    import resource
    import statistics
    import time

    import cv2

    from bench.quality.synth import make_case
    from plinth.imaging.segment.local import LocalSegmenter

    cv2.setNumThreads(threads)
    case = make_case(4)
    h, w = case.image.shape[:2]
    scale = (megapixels * 1e6 / (h * w)) ** 0.5
    size = (round(w * scale), round(h * scale))
    photo = cv2.resize(case.image, size, interpolation=cv2.INTER_CUBIC)
    del case
    segmenter = LocalSegmenter()
    # Warm-up on a small copy: first-call costs (imports, allocator) are not per-photo work.
    segmenter.segment(cv2.resize(photo, (w // 2, h // 2), interpolation=cv2.INTER_AREA))
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    times, cpu_times = [], []
    for _ in range(REPEATS.get(round(megapixels), 2)):
        started, cpu_started = time.perf_counter(), time.process_time()
        result = segmenter.segment(photo)
        times.append(time.perf_counter() - started)
        cpu_times.append(time.process_time() - cpu_started)
        del result
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    seconds = statistics.median(times)
    return {
        "megapixels": photo.shape[0] * photo.shape[1] / 1e6,
        "width": photo.shape[1], "height": photo.shape[0],
        "ms": seconds * 1000, "ms_per_mp": seconds * 1000 / (photo.size / 3 / 1e6),
        "cpu_ms": statistics.median(cpu_times) * 1000,
        "rss_before_mb": rss_before, "peak_rss_mb": peak, "input_mb": photo.nbytes / 2**20,
    }


def measure_learned(config: dict[str, Any]) -> dict[str, Any]:
    """Runs inside the subprocess: photo, provider, one warm-up call, ``reps`` timed calls."""
    import resource
    import time

    import cv2
    import numpy as np

    from plinth.models.onnx_runtime import RuntimeOptions
    from plinth.models.segmenters import SegmenterConfig, build_segmenter

    def rss_mb() -> float:
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

    if config["threads"]:
        cv2.setNumThreads(config["threads"])
    photo = _learned_photo(config["photo"], config["photo_side"], config["seed"])
    rss_photo = rss_mb()
    if config["defaults"]:
        segmenter_config = SegmenterConfig()
    else:
        segmenter_config = SegmenterConfig(
            provider="learned", model=config["model"], input_side=config["side"],
            runtime=RuntimeOptions(threads=config["threads"],
                                   graph_optimisation=config["opt"].partition("+")[0],
                                   memory_arena=config["opt"].endswith("+arena"),
                                   use_openvino=config["openvino"]))
    started = time.perf_counter()
    segmenter = build_segmenter(segmenter_config)
    load_s = time.perf_counter() - started
    rss_loaded = rss_mb()
    result = segmenter.segment(photo)  # warm-up: arenas, kernels and caches are set up here
    times, cpu_times, timings = [], [], []
    for _ in range(config["reps"]):
        del result
        started, cpu_started = time.perf_counter(), time.process_time()
        result = segmenter.segment(photo)
        times.append(time.perf_counter() - started)
        cpu_times.append(time.process_time() - cpu_started)
        timings.append(result.meta.get("timings_ms", {}))
    meta = result.meta
    return {
        "provider": result.provider, "model": meta.get("model"),
        "execution_provider": meta.get("execution_provider"),
        "input_size": meta.get("input_size"), "photo": [photo.shape[1], photo.shape[0]],
        "load_s": load_s, "times": times, "cpu_times": cpu_times, "timings_ms": timings,
        "rss_photo_mb": rss_photo, "rss_loaded_mb": rss_loaded, "peak_rss_mb": rss_mb(),
        "cv2_threads": cv2.getNumThreads(), "numpy": np.__version__,
    }


def _learned_photo(path: str | None, side: int, seed: int) -> Any:
    import cv2
    import numpy as np

    from bench.quality.synth import make_case

    if path:
        bgr = cv2.imread(path, cv2.IMREAD_COLOR)
        if bgr is None:
            raise SystemExit(f"cannot read {path}")
        h, w = bgr.shape[:2]
        scale = side / max(h, w)
        size = (round(w * scale), round(h * scale))
        interpolation = cv2.INTER_AREA if scale < 1 else cv2.INTER_CUBIC
        return np.ascontiguousarray(cv2.resize(bgr, size, interpolation=interpolation)[..., ::-1])
    image = make_case(seed).image
    return cv2.resize(image, (side, side), interpolation=cv2.INTER_CUBIC)


def _child_env(threads: int) -> dict[str, str]:
    env = dict(os.environ)
    if threads > 0:
        for var in THREAD_VARS:
            env[var] = str(threads)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    return env


def run_child(megapixels: float, threads: int) -> dict[str, float]:
    out = subprocess.run(
        [sys.executable, str(Path(__file__).resolve()), "--child", str(megapixels),
         "--threads", str(threads)],
        env=_child_env(threads), cwd=ROOT, capture_output=True, text=True)
    if out.returncode != 0:
        raise SystemExit(f"{megapixels} MP run failed:\n{out.stderr}")
    return json.loads(out.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def run_learned_child(config: dict[str, Any]) -> dict[str, Any] | str:
    """The child's measurements, or the last line of its error output."""
    out = subprocess.run(
        [sys.executable, str(Path(__file__).resolve()), "--child-learned", json.dumps(config)],
        env=_child_env(config["threads"]), cwd=ROOT, capture_output=True, text=True)
    if out.returncode != 0:
        lines = out.stderr.strip().splitlines() or ["(no output)"]
        return f"failed: {lines[-1]}"
    return json.loads(out.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def run_local(args: argparse.Namespace) -> None:
    print(f"local segmenter, {args.threads} thread(s), CPU: {cpu_name()}")
    print(f"{'MP':>6} {'size':>11} {'wall ms':>8} {'CPU ms':>7} {'ms/MP':>7} "
          f"{'RSS before':>11} {'peak RSS':>9}")
    for mp in args.sizes:
        r = run_child(mp, args.threads)
        print(f"{r['megapixels']:>6.1f} {r['width']:>5}x{r['height']:<5} {r['ms']:>8.0f} "
              f"{r['cpu_ms']:>7.0f} {r['ms_per_mp']:>7.0f} {r['rss_before_mb']:>9.0f}MB "
              f"{r['peak_rss_mb']:>7.0f}MB")


def openvino_status() -> tuple[bool, str]:
    """Whether onnxruntime here offers the OpenVINO execution provider, and what was found."""
    from importlib import metadata

    try:
        import onnxruntime
    except ImportError:
        return False, "onnxruntime is not installed"
    try:
        version = metadata.version("onnxruntime-openvino")
    except metadata.PackageNotFoundError:
        version = None
    providers = onnxruntime.get_available_providers()
    if version is None or "OpenVINOExecutionProvider" not in providers:
        return False, (f"onnxruntime-openvino is not installed here (onnxruntime "
                       f"{onnxruntime.__version__}, providers {providers}); OpenVINO rows skipped")
    return True, f"onnxruntime-openvino {version}, providers {providers}"


def learned_grid(args: argparse.Namespace) -> list[tuple[str, int, int, str]]:
    chosen = [args.models, args.sides, args.lever_threads, args.opts]
    if all(c is None for c in chosen):
        return list(DEFAULT_GRID)
    models = args.models or ["isnet-medium"]
    sides = args.sides or [768]
    threads = args.lever_threads or [2]
    opts = args.opts or ["all"]
    return list(itertools.product(models, sides, threads, opts))


def run_learned(args: argparse.Namespace) -> None:
    import numpy as np

    from bench.segment_real import render

    base = {"photo": str(args.photo) if args.photo else None, "photo_side": args.photo_side,
            "seed": args.seed, "reps": args.reps}
    configs: list[tuple[str, dict[str, Any]]] = [(
        "auto (service defaults)",
        {**base, "defaults": True, "model": None, "side": None, "threads": 0, "opt": "all",
         "openvino": False})]
    openvino = False
    if args.providers_openvino:
        openvino, found = openvino_status()
        print(found)
    for model, side, threads, opt in learned_grid(args):
        for use_openvino in ([False, True] if openvino else [False]):
            label = f"{model} {side} t{threads} opt {opt}{' openvino' if use_openvino else ''}"
            configs.append((label, {**base, "defaults": False, "model": model, "side": side,
                                    "threads": threads, "opt": opt, "openvino": use_openvino}))
    photo = (f"{args.photo} resized to long side {args.photo_side}" if args.photo
             else f"synthetic case {args.seed} upscaled to {args.photo_side}x{args.photo_side}")
    print(f"learned segmenter on {photo}; {args.reps} timed calls after 1 warm-up, "
          f"each configuration in a fresh process; CPU: {cpu_name()}, {os.cpu_count()} cores; "
          f"load average at start {os.getloadavg()[0]:.2f} (1 min)")
    header = ("configuration", "provider / EP", "load s", "p50 s", "p95 s", "CPU p50 s",
              "infer p50 s",
              "rest p50 s", "fusion ms", "refine ms", "decont ms", "RSS loaded MB",
              "peak RSS MB")
    rows = []
    for label, config in configs:
        print(f"  running {label} ...", file=sys.stderr, flush=True)
        r = run_learned_child(config)
        if isinstance(r, str):
            rows.append([label, r, *["-"] * (len(header) - 2)])
            continue
        times = np.array(r["times"])
        timings = r["timings_ms"]

        def p50_ms(key: str, timings: list[dict[str, float]] = timings) -> str:
            values = [t[key] for t in timings if key in t]
            return f"{np.median(values):.0f}" if values else "-"

        inference = np.array([t.get("inference", np.nan) for t in timings]) / 1000
        has_inference = not np.isnan(inference).all()
        where = (r["provider"] if r["provider"] != "learned"
                 else f"{r['model']} {'x'.join(map(str, r['input_size']))} "
                      f"{str(r['execution_provider']).replace('ExecutionProvider', '')}")
        rows.append([
            label, where, f"{r['load_s']:.2f}",
            f"{np.percentile(times, 50):.3f}", f"{np.percentile(times, 95):.3f}",
            f"{np.median(r['cpu_times']):.3f}",
            f"{np.nanmedian(inference):.3f}" if has_inference else "-",
            f"{np.nanmedian(times - inference):.3f}" if has_inference else "-",
            p50_ms("fusion"), p50_ms("refine"), p50_ms("decontaminate"),
            f"{r['rss_loaded_mb']:.0f}", f"{r['peak_rss_mb']:.0f}",
        ])
    print()
    print(render(header, rows, args.markdown, text_columns=2))
    print(f"\nLoad average when done: {os.getloadavg()[0]:.2f} (1 min). CPU is the process's "
          "CPU time per call (all its threads), the figure to read when the machine is busy. "
          f"p95 is interpolated between the slowest of the {args.reps} calls. "
          "RSS is the whole process's peak (ru_maxrss): imports, the photo, the model and "
          "onnxruntime's arenas; 'RSS loaded' is that peak once the model is loaded, before "
          "the first call.")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--parts", default="local,learned",
                        help="what to measure: local, learned or both (default both)")
    local = parser.add_argument_group("local")
    local.add_argument("--sizes", type=float, nargs="+", default=[1, 4, 12, 24])
    local.add_argument("--threads", type=int, default=1)
    learned = parser.add_argument_group("learned")
    learned.add_argument("--reps", type=int, default=7, help="timed calls after the warm-up")
    learned.add_argument("--photo", type=Path, help="a photo instead of the synthetic case")
    learned.add_argument("--photo-side", type=int, default=2000,
                         help="side (long side for --photo) of the photo, px")
    learned.add_argument("--seed", type=int, default=3, help="synthetic case (3: square jar)")
    learned.add_argument("--models", type=_names, help="comma-separated installed models")
    learned.add_argument("--sides", type=_ints, help="comma-separated inference sides")
    learned.add_argument("--lever-threads", type=_ints, help="comma-separated thread counts")
    learned.add_argument("--opts", type=_names,
                         help="comma-separated graph optimisations: all, extended, basic, off; "
                         "+arena turns onnxruntime's memory arena on (all+arena)")
    learned.add_argument("--providers-openvino", action="store_true",
                         help="add OpenVINO rows when onnxruntime-openvino is importable")
    learned.add_argument("--markdown", action="store_true", help="the lever table as markdown")
    parser.add_argument("--child", type=float, help=argparse.SUPPRESS)
    parser.add_argument("--child-learned", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child is not None:
        print(json.dumps(measure(args.child, args.threads)))
        return
    if args.child_learned is not None:
        print(json.dumps(measure_learned(json.loads(args.child_learned))))
        return
    parts = {p.strip() for p in args.parts.split(",") if p.strip()}
    if not parts or parts - {"local", "learned"}:
        parser.error("--parts is local, learned or local,learned")
    if args.reps < 1:
        parser.error("--reps must be at least 1")
    levels = {"all", "extended", "basic", "off"}
    if args.opts and {o.partition("+")[0] for o in args.opts} - levels:
        parser.error("--opts are all, extended, basic or off, each optionally +arena "
                     "(onnxruntime's memory arena on)")
    if "local" in parts:
        run_local(args)
    if "learned" in parts:
        if "local" in parts:
            print()
        run_learned(args)


def _names(text: str) -> list[str]:
    return [t.strip() for t in text.split(",") if t.strip()]


def _ints(text: str) -> list[int]:
    try:
        return [int(t) for t in _names(text)]
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"{text!r}: comma-separated whole numbers") from exc


def cpu_name() -> str:
    """The CPU model, for the reports of the segmentation benchmarks."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "unknown"


if __name__ == "__main__":
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    main()
