"""Speed and memory of the ``local`` segmenter on one core.

    uv run python bench/segment_speed.py [--sizes 1 4 12 24] [--threads 1]

Each size runs in its own subprocess (so peak RSS is that size's alone) with OpenMP/BLAS and
OpenCV limited to ``--threads`` threads. The photo is a synthetic studio shot from the quality
benchmark, resized to the target megapixels. Prints wall and CPU time (median of a few runs
after a warm-up), wall ms per megapixel, the process's peak RSS before segmenting (imports,
the generated photo) and its peak RSS overall (ru_maxrss).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
REPEATS = {1: 5, 4: 5, 12: 3, 24: 2}


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


def run_child(megapixels: float, threads: int) -> dict[str, float]:
    env = dict(os.environ)
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS",
                "NUMEXPR_NUM_THREADS", "VECLIB_MAXIMUM_THREADS"):
        env[var] = str(threads)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    out = subprocess.run(
        [sys.executable, str(Path(__file__).resolve()), "--child", str(megapixels),
         "--threads", str(threads)],
        env=env, cwd=ROOT, capture_output=True, text=True)
    if out.returncode != 0:
        raise SystemExit(f"{megapixels} MP run failed:\n{out.stderr}")
    return json.loads(out.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=float, nargs="+", default=[1, 4, 12, 24])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--child", type=float, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child is not None:
        print(json.dumps(measure(args.child, args.threads)))
        return
    print(f"local segmenter, {args.threads} thread(s), CPU: {_cpu_name()}")
    print(f"{'MP':>6} {'size':>11} {'wall ms':>8} {'CPU ms':>7} {'ms/MP':>7} "
          f"{'RSS before':>11} {'peak RSS':>9}")
    for mp in args.sizes:
        r = run_child(mp, args.threads)
        print(f"{r['megapixels']:>6.1f} {r['width']:>5}x{r['height']:<5} {r['ms']:>8.0f} "
              f"{r['cpu_ms']:>7.0f} {r['ms_per_mp']:>7.0f} {r['rss_before_mb']:>9.0f}MB "
              f"{r['peak_rss_mb']:>7.0f}MB")


def _cpu_name() -> str:
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
